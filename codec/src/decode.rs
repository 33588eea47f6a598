//! Incremental decoding: bytes in, packets out. "Need more bytes" is `Ok(None)`.
//!
//! The fixed header is checked as soon as it is in the buffer (type, reserved flags, remaining
//! length against the maximum packet size); the body is decoded only once it is complete, from
//! a frozen slice of the buffer, so PUBLISH topics and payloads are shared rather than copied.

use bytes::{Buf, BytesMut};

use crate::error::DecodeError;
use crate::packet::{
    Ack, Auth, ConnAck, Connect, Disconnect, Packet, PacketType, Properties, Protocol, Publish,
    QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions,
    UnsubAck, Unsubscribe, Will,
};
use crate::property::{self, Context};
use crate::topic::{self, SharedFilter};
use crate::wire::Reader;

/// Decodes one packet from the front of `buf`, removing its bytes.
///
/// `protocol` is the version negotiated on the connection; a CONNECT carries its own version and
/// ignores it. Returns `Ok(None)` while `buf` holds only part of a packet, leaving `buf`
/// untouched. A packet larger than `max_packet_size` (fixed header included) is an error as soon
/// as the fixed header is read, so a peer cannot make the caller buffer more than
/// `max_packet_size` bytes.
pub fn decode(
    buf: &mut BytesMut,
    protocol: Protocol,
    max_packet_size: usize,
) -> Result<Option<Packet>, DecodeError> {
    let Some(&first) = buf.first() else {
        return Ok(None);
    };
    let packet = check_first_byte(first, protocol)?;
    let Some((header_len, remaining)) = remaining_length(&buf[1..], packet, protocol)? else {
        return Ok(None);
    };
    let size = 1 + header_len + remaining;
    if size > max_packet_size {
        return Err(DecodeError::PacketTooLarge { size, max: max_packet_size });
    }
    if buf.len() < size {
        return Ok(None);
    }
    let mut body = buf.split_to(size).freeze();
    body.advance(1 + header_len);
    let mut r = Reader::new(body, packet);
    let r = &mut r;
    match packet {
        // The payload is the rest of the body, so a PUBLISH has no trailing bytes to check.
        PacketType::Publish => publish(r, first, protocol),
        PacketType::Connect => done(Packet::Connect(connect(r)?), r),
        PacketType::ConnAck => done(Packet::ConnAck(connack(r, protocol)?), r),
        PacketType::PubAck => done(Packet::PubAck(ack(r, protocol)?), r),
        PacketType::PubRec => done(Packet::PubRec(ack(r, protocol)?), r),
        PacketType::PubRel => done(Packet::PubRel(ack(r, protocol)?), r),
        PacketType::PubComp => done(Packet::PubComp(ack(r, protocol)?), r),
        PacketType::Subscribe => done(Packet::Subscribe(subscribe(r, protocol)?), r),
        PacketType::SubAck => done(Packet::SubAck(suback(r, protocol)?), r),
        PacketType::Unsubscribe => done(Packet::Unsubscribe(unsubscribe(r, protocol)?), r),
        PacketType::UnsubAck => done(Packet::UnsubAck(unsuback(r, protocol)?), r),
        PacketType::PingReq => done(Packet::PingReq, r),
        PacketType::PingResp => done(Packet::PingResp, r),
        PacketType::Disconnect => done(Packet::Disconnect(disconnect(r, protocol)?), r),
        PacketType::Auth => done(Packet::Auth(auth(r)?), r),
    }
}

/// The decoded packet, once the body holds nothing after it.
fn done(packet: Packet, r: &Reader) -> Result<Option<Packet>, DecodeError> {
    r.finish()?;
    Ok(Some(packet))
}

/// Checks the packet type and the reserved flag bits of the first byte [MQTT-2.2.2-1].
fn check_first_byte(first: u8, protocol: Protocol) -> Result<PacketType, DecodeError> {
    let Some(packet) = PacketType::from_nibble(first >> 4) else {
        return Err(DecodeError::ReservedPacketType);
    };
    let flags = first & 0x0F;
    match packet {
        PacketType::Publish => {
            let qos = (flags >> 1) & 0b11;
            if qos == 3 {
                return Err(DecodeError::InvalidQoS);
            }
            if qos == 0 && flags & 0b1000 != 0 {
                return Err(DecodeError::DupWithQoS0);
            }
        }
        PacketType::PubRel | PacketType::Subscribe | PacketType::Unsubscribe => {
            if flags != 0b0010 {
                return Err(DecodeError::InvalidFixedHeaderFlags { packet, flags });
            }
        }
        PacketType::Auth if protocol != Protocol::V5 => return Err(DecodeError::AuthInV311),
        _ => {
            if flags != 0 {
                return Err(DecodeError::InvalidFixedHeaderFlags { packet, flags });
            }
        }
    }
    Ok(packet)
}

/// Reads the remaining length: `(bytes it takes, value)`, or `None` while incomplete.
/// The remaining length and the bytes it took. MQTT 5.0 requires its shortest form
/// [MQTT-1.5.5-1]; 3.1.1 does not say so, and such lengths are taken there.
fn remaining_length(
    bytes: &[u8],
    packet: PacketType,
    protocol: Protocol,
) -> Result<Option<(usize, usize)>, DecodeError> {
    let mut value = 0usize;
    for (i, &byte) in bytes.iter().take(4).enumerate() {
        value |= usize::from(byte & 0x7F) << (7 * i);
        if byte & 0x80 == 0 {
            if i > 0 && byte == 0 && protocol == Protocol::V5 {
                return Err(DecodeError::NonMinimalVariableByteInteger { packet });
            }
            return Ok(Some((i + 1, value)));
        }
    }
    if bytes.len() >= 4 {
        return Err(DecodeError::MalformedRemainingLength);
    }
    Ok(None)
}

fn properties(r: &mut Reader, protocol: Protocol) -> Result<Properties, DecodeError> {
    match protocol {
        Protocol::V31 | Protocol::V311 => Ok(Properties::new()),
        Protocol::V5 => property::decode(r, Context::Packet(r.packet())),
    }
}

fn connect(r: &mut Reader) -> Result<Connect, DecodeError> {
    let name = r.binary()?;
    let level = r.u8()?;
    // MQTT 3.1 names itself "MQIsdp" at level 3; 3.1.1 and 5.0 say "MQTT" at 4 and 5.
    let protocol = match (&name[..], level) {
        (b"MQTT", 4 | 5) | (b"MQIsdp", 3) => Protocol::from_level(level).expect("a known level"),
        (b"MQTT" | b"MQIsdp", _) => return Err(DecodeError::UnsupportedProtocolLevel(level)),
        _ => return Err(DecodeError::InvalidProtocolName),
    };
    let flags = r.u8()?;
    if flags & 0x01 != 0 {
        return Err(DecodeError::ConnectReservedFlag);
    }
    let clean_start = flags & 0x02 != 0;
    let will_flag = flags & 0x04 != 0;
    let will_qos = (flags >> 3) & 0b11;
    let will_retain = flags & 0x20 != 0;
    let has_password = flags & 0x40 != 0;
    let has_username = flags & 0x80 != 0;
    if !will_flag && will_qos != 0 {
        return Err(DecodeError::WillQoSWithoutWill);
    }
    if !will_flag && will_retain {
        return Err(DecodeError::WillRetainWithoutWill);
    }
    let Some(will_qos) = QoS::from_u8(will_qos) else {
        return Err(DecodeError::InvalidWillQoS);
    };
    if protocol != Protocol::V5 && has_password && !has_username {
        return Err(DecodeError::PasswordWithoutUsername);
    }
    let keep_alive = r.u16()?;
    let properties = properties(r, protocol)?;
    let client_id = r.string()?;
    let will = if will_flag {
        let properties = match protocol {
            Protocol::V31 | Protocol::V311 => Properties::new(),
            Protocol::V5 => property::decode(r, Context::Will)?,
        };
        let topic = r.byte_string()?;
        topic::validate_name(&topic)
            .map_err(|error| DecodeError::InvalidTopicName { packet: r.packet(), error })?;
        let payload = r.binary()?;
        Some(Will { topic, payload, qos: will_qos, retain: will_retain, properties })
    } else {
        None
    };
    let username = if has_username { Some(r.string()?) } else { None };
    let password = if has_password { Some(r.binary()?) } else { None };
    Ok(Connect {
        protocol,
        clean_start,
        keep_alive,
        client_id,
        will,
        username,
        password,
        properties,
    })
}

/// The CONNACK reason codes of MQTT 5.0 (§3.2.2.2).
const CONNACK_CODES: &[u8] = &[
    0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
    0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F,
];

fn connack(r: &mut Reader, protocol: Protocol) -> Result<ConnAck, DecodeError> {
    let flags = r.u8()?;
    if flags & 0xFE != 0 {
        return Err(DecodeError::ConnAckReservedFlags(flags));
    }
    let session_present = flags & 0x01 != 0;
    let code = r.u8()?;
    let invalid = DecodeError::InvalidReasonCode { packet: PacketType::ConnAck, code };
    let reason_code = match protocol {
        Protocol::V31 | Protocol::V311 => ReasonCode::from_v311_connack(code).ok_or(invalid)?,
        Protocol::V5 if CONNACK_CODES.contains(&code) => ReasonCode(code),
        Protocol::V5 => return Err(invalid),
    };
    if session_present && reason_code != ReasonCode::SUCCESS {
        return Err(DecodeError::SessionPresentOnFailure);
    }
    let properties = properties(r, protocol)?;
    Ok(ConnAck { session_present, reason_code, properties })
}

/// PUBLISH, built directly as the decoder's result: it is the hot path.
#[inline]
fn publish(r: &mut Reader, first: u8, protocol: Protocol) -> Result<Option<Packet>, DecodeError> {
    let dup = first & 0b1000 != 0;
    let retain = first & 0b0001 != 0;
    // check_first_byte has rejected QoS 3.
    let qos = QoS::from_u8((first >> 1) & 0b11).unwrap_or_default();
    let (topic, wildcard) = r.topic()?;
    let packet_id = if qos == QoS::AtMostOnce { 0 } else { r.packet_id()? };
    let properties = properties(r, protocol)?;
    if topic.is_empty() && protocol == Protocol::V5 {
        if properties.topic_alias().is_none() {
            return Err(DecodeError::EmptyTopicWithoutAlias);
        }
    } else if topic.is_empty() || wildcard {
        // The reader has rejected U+0000 already; the topic module names the broken rule.
        if let Err(error) = topic::validate_name(&topic) {
            return Err(DecodeError::InvalidTopicName { packet: PacketType::Publish, error });
        }
    }
    let payload = r.rest();
    Ok(Some(Packet::Publish(Publish { dup, qos, retain, topic, packet_id, payload, properties })))
}

/// The reason codes MQTT 5.0 allows in each acknowledgement packet.
fn allowed_reason_codes(packet: PacketType) -> &'static [u8] {
    match packet {
        PacketType::PubAck | PacketType::PubRec => {
            &[0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
        }
        PacketType::PubRel | PacketType::PubComp => &[0x00, 0x92],
        PacketType::SubAck => {
            &[0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
        }
        PacketType::UnsubAck => &[0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91],
        PacketType::Disconnect => &[
            0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90, 0x93,
            0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1,
            0xA2,
        ],
        PacketType::Auth => &[0x00, 0x18, 0x19],
        _ => &[],
    }
}

fn reason_code(r: &mut Reader) -> Result<ReasonCode, DecodeError> {
    let code = r.u8()?;
    if allowed_reason_codes(r.packet()).contains(&code) {
        Ok(ReasonCode(code))
    } else {
        Err(DecodeError::InvalidReasonCode { packet: r.packet(), code })
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP. In 5.0 the reason code and the properties may be
/// omitted when they are success and none.
fn ack(r: &mut Reader, protocol: Protocol) -> Result<Ack, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut ack = Ack::new(packet_id);
    if protocol == Protocol::V5 && !r.is_empty() {
        ack.reason_code = reason_code(r)?;
        if !r.is_empty() {
            ack.properties = property::decode(r, Context::Packet(r.packet()))?;
        }
    }
    Ok(ack)
}

fn subscribe(r: &mut Reader, protocol: Protocol) -> Result<Subscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = properties(r, protocol)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        topic::validate_filter(&filter).map_err(|error| DecodeError::InvalidTopicFilter {
            packet: PacketType::Subscribe,
            error,
        })?;
        let byte = r.u8()?;
        let options = subscription_options(byte, protocol)?;
        if options.no_local && matches!(SharedFilter::parse(&filter), Some(Ok(_))) {
            return Err(DecodeError::NoLocalOnSharedSubscription);
        }
        filters.push(SubscribeFilter { filter, options });
    }
    if filters.is_empty() {
        return Err(DecodeError::EmptyPayload { packet: PacketType::Subscribe });
    }
    Ok(Subscribe { packet_id, filters, properties })
}

fn subscription_options(byte: u8, protocol: Protocol) -> Result<SubscriptionOptions, DecodeError> {
    let reserved = match protocol {
        Protocol::V31 | Protocol::V311 => 0b1111_1100,
        Protocol::V5 => 0b1100_0000,
    };
    let invalid = DecodeError::InvalidSubscriptionOptions { options: byte };
    if byte & reserved != 0 {
        return Err(invalid);
    }
    let qos = QoS::from_u8(byte & 0b11).ok_or(invalid)?;
    let retain_handling = match (byte >> 4) & 0b11 {
        0 => RetainHandling::SendAtSubscribe,
        1 => RetainHandling::SendIfNew,
        2 => RetainHandling::DoNotSend,
        _ => return Err(DecodeError::InvalidRetainHandling),
    };
    Ok(SubscriptionOptions {
        qos,
        no_local: byte & 0b0100 != 0,
        retain_as_published: byte & 0b1000 != 0,
        retain_handling,
    })
}

fn suback(r: &mut Reader, protocol: Protocol) -> Result<SubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = properties(r, protocol)?;
    let mut reason_codes = Vec::with_capacity(r.remaining());
    while !r.is_empty() {
        let code = r.u8()?;
        let valid = match protocol {
            Protocol::V31 | Protocol::V311 => matches!(code, 0x00 | 0x01 | 0x02 | 0x80),
            Protocol::V5 => allowed_reason_codes(PacketType::SubAck).contains(&code),
        };
        if !valid {
            return Err(DecodeError::InvalidReasonCode { packet: PacketType::SubAck, code });
        }
        reason_codes.push(ReasonCode(code));
    }
    if reason_codes.is_empty() {
        return Err(DecodeError::EmptyPayload { packet: PacketType::SubAck });
    }
    Ok(SubAck { packet_id, reason_codes, properties })
}

fn unsubscribe(r: &mut Reader, protocol: Protocol) -> Result<Unsubscribe, DecodeError> {
    let packet_id = r.packet_id()?;
    let properties = properties(r, protocol)?;
    let mut filters = Vec::new();
    while !r.is_empty() {
        let filter = r.string()?;
        topic::validate_filter(&filter).map_err(|error| DecodeError::InvalidTopicFilter {
            packet: PacketType::Unsubscribe,
            error,
        })?;
        filters.push(filter);
    }
    if filters.is_empty() {
        return Err(DecodeError::EmptyPayload { packet: PacketType::Unsubscribe });
    }
    Ok(Unsubscribe { packet_id, filters, properties })
}

fn unsuback(r: &mut Reader, protocol: Protocol) -> Result<UnsubAck, DecodeError> {
    let packet_id = r.packet_id()?;
    let mut unsuback =
        UnsubAck { packet_id, reason_codes: Vec::new(), properties: Properties::new() };
    if protocol != Protocol::V5 {
        return Ok(unsuback);
    }
    unsuback.properties = property::decode(r, Context::Packet(PacketType::UnsubAck))?;
    while !r.is_empty() {
        unsuback.reason_codes.push(reason_code(r)?);
    }
    if unsuback.reason_codes.is_empty() {
        return Err(DecodeError::EmptyPayload { packet: PacketType::UnsubAck });
    }
    Ok(unsuback)
}

fn disconnect(r: &mut Reader, protocol: Protocol) -> Result<Disconnect, DecodeError> {
    let mut disconnect = Disconnect::default();
    if protocol == Protocol::V5 && !r.is_empty() {
        disconnect.reason_code = reason_code(r)?;
        if !r.is_empty() {
            disconnect.properties = property::decode(r, Context::Packet(PacketType::Disconnect))?;
        }
    }
    Ok(disconnect)
}

fn auth(r: &mut Reader) -> Result<Auth, DecodeError> {
    let mut auth = Auth::default();
    if !r.is_empty() {
        auth.reason_code = reason_code(r)?;
        if !r.is_empty() {
            auth.properties = property::decode(r, Context::Packet(PacketType::Auth))?;
        }
    }
    Ok(auth)
}
