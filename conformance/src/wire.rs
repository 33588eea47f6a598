//! The suite's path from packets to bytes and back: the project codec, with its errors turned
//! into failure reasons that name the statement the broker broke.

use bytes::BytesMut;
use mqttsim_codec::{Packet, Protocol};

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
    mqttsim_codec::decode(buf, protocol, max).map_err(|e| match e.statement() {
        Some(statement) if !e.to_string().contains(statement) => {
            WireError(format!("{e} [{statement}]"))
        }
        _ => WireError(e.to_string()),
    })
}
