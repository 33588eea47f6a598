//! Decode and encode errors.
//!
//! A decode error is a peer's violation of the standard: it names the normative statement it
//! breaks where the standard has one (for example `MQTT-3.3.2-2`), and the 5.0 reason code a
//! server would send in its DISCONNECT.

use crate::packet::{PacketType, ReasonCode};

/// A violation found while decoding. The connection it came from must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The remaining length exceeds the configured maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: usize, max: usize },
    /// The CONNECT names a protocol level we do not speak; a server answers CONNACK 0x01.
    #[error("unsupported protocol level {0}")]
    UnsupportedProtocolLevel(u8),
    /// Any other malformed packet.
    #[error("malformed {packet:?}: {what}")]
    Malformed { packet: Option<PacketType>, what: &'static str, statement: Option<&'static str> },
}

impl DecodeError {
    /// The normative statement this error breaks, such as `"MQTT-3.3.2-2"`.
    pub fn statement(&self) -> Option<&'static str> {
        match self {
            DecodeError::PacketTooLarge { .. } => None,
            DecodeError::UnsupportedProtocolLevel(_) => Some("MQTT-3.1.2-2"),
            DecodeError::Malformed { statement, .. } => *statement,
        }
    }

    /// The 5.0 reason code a server sends before closing for this error.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            DecodeError::PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            DecodeError::UnsupportedProtocolLevel(_) => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            DecodeError::Malformed { .. } => ReasonCode::MALFORMED_PACKET,
        }
    }
}

/// A packet that cannot be put on the wire for the chosen version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    #[error("packet of {0} bytes is larger than MQTT can carry")]
    TooLarge(usize),
    #[error("{0}")]
    Unrepresentable(&'static str),
}
