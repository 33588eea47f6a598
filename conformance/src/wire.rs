//! The suite's path from packets to bytes and back: the project codec, with its errors turned
//! into failure reasons that name the statement the broker broke.

use bytes::BytesMut;
use mqttsim_codec::{DecodeError, Packet, PacketType, Protocol};

/// Why a packet could not be encoded or the broker's bytes did not decode.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WireError(pub String);

/// Encodes a packet the suite sends.
pub fn encode(packet: &Packet, protocol: Protocol, out: &mut BytesMut) -> Result<(), WireError> {
    mqttsim_codec::encode(packet, protocol, out).map_err(|e| WireError(e.to_string()))
}

/// Decodes one packet the broker sent; `Ok(None)` while more bytes are needed.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Protocol,
    max: usize,
) -> Result<Option<Packet>, WireError> {
    mqttsim_codec::decode(buf, protocol, max).map_err(|e| match protocol {
        Protocol::V311 | Protocol::V31 => match e.statement() {
            Some(statement) if !e.to_string().contains(statement) => {
                WireError(format!("{e} [{statement}]"))
            }
            _ => WireError(e.to_string()),
        },
        Protocol::V5 => {
            // The codec names 3.1.1 statements where a rule exists in both versions.
            let text = e.to_string();
            let text = match text.find(" [MQTT-") {
                Some(i) if text.ends_with(']') => text[..i].to_string(),
                _ => text,
            };
            match statement_v5(&e) {
                Some(statement) => WireError(format!("{text} [{statement}]")),
                None => WireError(text),
            }
        }
    })
}

/// The MQTT 5.0 statement a decode error of a packet from the broker shows it broke.
fn statement_v5(e: &DecodeError) -> Option<&'static str> {
    use DecodeError::*;
    Some(match e {
        InvalidFixedHeaderFlags { .. } => "MQTT-2.1.3-1",
        InvalidQoS => "MQTT-3.3.1-4",
        DupWithQoS0 => "MQTT-3.3.1-2",
        InvalidUtf8 { .. } => "MQTT-1.5.4-1",
        NullCharacter { .. } => "MQTT-1.5.4-2",
        ZeroPacketId { packet: PacketType::Publish } => "MQTT-2.2.1-4",
        InvalidTopicName { .. } => "MQTT-3.3.2-2",
        ConnAckReservedFlags(_) => "MQTT-3.2.2-1",
        SessionPresentOnFailure => "MQTT-3.2.2-6",
        InvalidReasonCode { packet, .. } => match packet {
            PacketType::ConnAck => "MQTT-3.2.2-8",
            PacketType::PubAck => "MQTT-3.4.2-1",
            PacketType::PubRec => "MQTT-3.5.2-1",
            PacketType::PubRel => "MQTT-3.6.2-1",
            PacketType::PubComp => "MQTT-3.7.2-1",
            PacketType::SubAck => "MQTT-3.9.3-2",
            PacketType::UnsubAck => "MQTT-3.11.3-2",
            PacketType::Disconnect => "MQTT-3.14.2-1",
            PacketType::Auth => "MQTT-3.15.2-1",
            _ => return None,
        },
        InvalidPropertyValue { id: 0x23, value: 0, .. } => "MQTT-3.3.2-8",
        _ => return e.statement().filter(|s| s.starts_with("MQTT-4.7")),
    })
}
