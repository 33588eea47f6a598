//! Decode and encode errors.
//!
//! A decode error is a peer's violation of the standard: it names the normative statement it
//! breaks where the standard has one (for example `MQTT-3.3.2-2`), and the 5.0 reason code a
//! server would send in its DISCONNECT. Statement identifiers use the 3.1.1 numbering where the
//! rule exists in 3.1.1 and the 5.0 numbering for rules only 5.0 has.

use crate::packet::{PacketType, ReasonCode};
use crate::topic::TopicError;

/// A violation found while decoding. The connection it came from must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The packet (fixed header included) exceeds the configured maximum packet size.
    #[error("packet of {size} bytes exceeds the maximum packet size of {max} bytes")]
    PacketTooLarge { size: usize, max: usize },
    /// The CONNECT names a protocol level we do not speak; a server answers CONNACK 0x01.
    #[error("unsupported protocol level {0} [MQTT-3.1.2-2]")]
    UnsupportedProtocolLevel(u8),
    /// The CONNECT protocol name is not "MQTT"; a server closes without a CONNACK.
    #[error("protocol name is not \"MQTT\" [MQTT-3.1.2-1]")]
    InvalidProtocolName,
    /// The packet type nibble is 0, which is reserved.
    #[error("reserved packet type 0")]
    ReservedPacketType,
    /// AUTH (packet type 15) is reserved in MQTT 3.1.1.
    #[error("AUTH is not an MQTT 3.1.1 packet (type 15 is reserved)")]
    AuthInV311,
    /// The reserved flag bits of the fixed header do not have their required values.
    #[error("invalid fixed header flags {flags:#06b} for {packet:?} [MQTT-2.2.2-1]")]
    InvalidFixedHeaderFlags { packet: PacketType, flags: u8 },
    /// A PUBLISH with both QoS bits set.
    #[error("PUBLISH with QoS 3 [MQTT-3.3.1-4]")]
    InvalidQoS,
    /// A PUBLISH with the DUP flag set and QoS 0.
    #[error("PUBLISH with DUP set and QoS 0 [MQTT-3.3.1-2]")]
    DupWithQoS0,
    /// The remaining length field has a continuation bit on its fourth byte.
    #[error("remaining length is longer than 4 bytes")]
    MalformedRemainingLength,
    /// A variable byte integer inside the packet is longer than 4 bytes.
    #[error("malformed variable byte integer in {packet:?}")]
    MalformedVariableByteInteger { packet: PacketType },
    /// A 5.0 variable byte integer (the remaining length or one inside the packet) written with
    /// more bytes than its value needs.
    #[error("variable byte integer in {packet:?} is not in its shortest form [MQTT-1.5.5-1]")]
    NonMinimalVariableByteInteger { packet: PacketType },
    /// A 5.0 Response Topic (of a PUBLISH or a Will) holding `+` or `#`.
    #[error("Response Topic with a wildcard in {packet:?} [MQTT-3.3.2-14]")]
    WildcardInResponseTopic { packet: PacketType },
    /// The remaining length ends before the content it should hold (a field, or a declared
    /// string, binary or property length, runs past it).
    #[error("{packet:?} ends before its content is complete")]
    UnexpectedEnd { packet: PacketType },
    /// The remaining length is longer than the content of the packet.
    #[error("{packet:?} has {count} unexpected bytes after its content")]
    TrailingBytes { packet: PacketType, count: usize },
    /// A UTF-8 encoded string is not well-formed UTF-8.
    #[error("ill-formed UTF-8 string in {packet:?} [MQTT-1.5.3-1]")]
    InvalidUtf8 { packet: PacketType },
    /// A UTF-8 encoded string contains U+0000.
    #[error("string containing U+0000 in {packet:?} [MQTT-1.5.3-2]")]
    NullCharacter { packet: PacketType },
    /// A packet identifier is 0 where a non-zero one is required.
    #[error("packet identifier 0 in {packet:?} [MQTT-2.3.1-1]")]
    ZeroPacketId { packet: PacketType },
    /// An invalid topic name in PUBLISH or in the Will.
    #[error("invalid topic name in {packet:?}: {error}")]
    InvalidTopicName { packet: PacketType, error: TopicError },
    /// An invalid topic filter in SUBSCRIBE or UNSUBSCRIBE.
    #[error("invalid topic filter in {packet:?}: {error}")]
    InvalidTopicFilter { packet: PacketType, error: TopicError },
    /// A SUBSCRIBE, UNSUBSCRIBE, SUBACK or (5.0) UNSUBACK without any entry.
    #[error("{packet:?} has an empty payload")]
    EmptyPayload { packet: PacketType },
    /// Reserved bits of a SUBSCRIBE options byte are set, or its QoS is 3.
    #[error("reserved bits or QoS 3 in subscription options {options:#010b}")]
    InvalidSubscriptionOptions { options: u8 },
    /// Retain handling 3 in a 5.0 subscription options byte.
    #[error("retain handling 3 in subscription options")]
    InvalidRetainHandling,
    /// A 5.0 shared subscription with No Local set.
    #[error("No Local set on a shared subscription [MQTT-3.8.3-4]")]
    NoLocalOnSharedSubscription,
    /// The reserved bit 0 of the CONNECT flags is set.
    #[error("reserved CONNECT flag is set [MQTT-3.1.2-3]")]
    ConnectReservedFlag,
    /// Will QoS is not 0 while the Will flag is 0.
    #[error("Will QoS without a Will [MQTT-3.1.2-13]")]
    WillQoSWithoutWill,
    /// Will Retain is set while the Will flag is 0.
    #[error("Will Retain without a Will [MQTT-3.1.2-15]")]
    WillRetainWithoutWill,
    /// Will QoS is 3.
    #[error("Will QoS 3 [MQTT-3.1.2-14]")]
    InvalidWillQoS,
    /// A 3.1.1 CONNECT with the password flag and without the user name flag.
    #[error("password without user name [MQTT-3.1.2-22]")]
    PasswordWithoutUsername,
    /// Reserved bits 7-1 of the CONNACK acknowledge flags are set. 3.1.1 states the rule
    /// without a number; the statement is 5.0's `MQTT-3.2.2-1`.
    #[error("reserved CONNACK flags {0:#010b} [MQTT-3.2.2-1]")]
    ConnAckReservedFlags(u8),
    /// A CONNACK with a failure code and Session Present set.
    #[error("CONNACK with a failure code and Session Present set [MQTT-3.2.2-4]")]
    SessionPresentOnFailure,
    /// A reason or return code that the standard does not allow in this packet.
    #[error("reason code {code:#04x} is not allowed in {packet:?}")]
    InvalidReasonCode { packet: PacketType, code: u8 },
    /// A property identifier the standard does not define.
    #[error("unknown property identifier {id:#04x} in {packet:?}")]
    UnknownProperty { packet: PacketType, id: u8 },
    /// A property that is not allowed in this packet (or in the Will properties).
    #[error("property {id:#04x} is not allowed in {packet:?}")]
    PropertyNotAllowed { packet: PacketType, id: u8 },
    /// A property that may appear only once appears again.
    #[error("property {id:#04x} appears more than once in {packet:?}")]
    DuplicateProperty { packet: PacketType, id: u8 },
    /// A property value outside its allowed range (receive maximum 0, maximum QoS 2, ...).
    #[error("invalid value {value} for property {id:#04x} in {packet:?}")]
    InvalidPropertyValue { packet: PacketType, id: u8, value: u32 },
    /// A 5.0 PUBLISH with an empty topic name and no topic alias.
    #[error("PUBLISH with an empty topic name and no topic alias")]
    EmptyTopicWithoutAlias,
}

impl DecodeError {
    /// The normative statement this error breaks, such as `"MQTT-3.3.2-2"`.
    pub fn statement(&self) -> Option<&'static str> {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => None,
            UnsupportedProtocolLevel(_) => Some("MQTT-3.1.2-2"),
            InvalidProtocolName => Some("MQTT-3.1.2-1"),
            ReservedPacketType | AuthInV311 => None,
            InvalidFixedHeaderFlags { .. } => Some("MQTT-2.2.2-1"),
            InvalidQoS => Some("MQTT-3.3.1-4"),
            DupWithQoS0 => Some("MQTT-3.3.1-2"),
            MalformedRemainingLength | MalformedVariableByteInteger { .. } => None,
            NonMinimalVariableByteInteger { .. } => Some("MQTT-1.5.5-1"),
            WildcardInResponseTopic { .. } => Some("MQTT-3.3.2-14"),
            UnexpectedEnd { .. } | TrailingBytes { .. } => None,
            InvalidUtf8 { .. } => Some("MQTT-1.5.3-1"),
            NullCharacter { .. } => Some("MQTT-1.5.3-2"),
            ZeroPacketId { .. } => Some("MQTT-2.3.1-1"),
            InvalidTopicName { error, .. } | InvalidTopicFilter { error, .. } => {
                Some(error.statement())
            }
            EmptyPayload { packet: PacketType::Subscribe } => Some("MQTT-3.8.3-3"),
            EmptyPayload { packet: PacketType::Unsubscribe } => Some("MQTT-3.10.3-2"),
            EmptyPayload { .. } => None,
            InvalidSubscriptionOptions { .. } => Some("MQTT-3.8.3-4"),
            InvalidRetainHandling => None,
            NoLocalOnSharedSubscription => Some("MQTT-3.8.3-4"),
            ConnectReservedFlag => Some("MQTT-3.1.2-3"),
            WillQoSWithoutWill => Some("MQTT-3.1.2-13"),
            WillRetainWithoutWill => Some("MQTT-3.1.2-15"),
            InvalidWillQoS => Some("MQTT-3.1.2-14"),
            PasswordWithoutUsername => Some("MQTT-3.1.2-22"),
            ConnAckReservedFlags(_) => Some("MQTT-3.2.2-1"),
            SessionPresentOnFailure => Some("MQTT-3.2.2-4"),
            InvalidReasonCode { packet, .. } => reason_code_statement(*packet),
            UnknownProperty { .. } | PropertyNotAllowed { .. } => None,
            DuplicateProperty { .. } | InvalidPropertyValue { .. } => None,
            EmptyTopicWithoutAlias => None,
        }
    }

    /// The 5.0 reason code a server sends before closing for this error.
    pub fn reason_code(&self) -> ReasonCode {
        use DecodeError::*;
        match self {
            PacketTooLarge { .. } => ReasonCode::PACKET_TOO_LARGE,
            UnsupportedProtocolLevel(_) | InvalidProtocolName => {
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
            }
            InvalidTopicName { .. } => ReasonCode::TOPIC_NAME_INVALID,
            InvalidTopicFilter { .. } => ReasonCode::TOPIC_FILTER_INVALID,
            ZeroPacketId { .. }
            | EmptyPayload { .. }
            | InvalidRetainHandling
            | NoLocalOnSharedSubscription
            | SessionPresentOnFailure
            | DuplicateProperty { .. }
            | InvalidPropertyValue { .. }
            | EmptyTopicWithoutAlias => ReasonCode::PROTOCOL_ERROR,
            _ => ReasonCode::MALFORMED_PACKET,
        }
    }
}

/// The statement that restricts the reason or return codes of a packet.
fn reason_code_statement(packet: PacketType) -> Option<&'static str> {
    match packet {
        PacketType::SubAck => Some("MQTT-3.9.3-2"),
        PacketType::PubAck => Some("MQTT-3.4.2-1"),
        PacketType::PubRec => Some("MQTT-3.5.2-1"),
        PacketType::PubRel => Some("MQTT-3.6.2-1"),
        PacketType::PubComp => Some("MQTT-3.7.2-1"),
        PacketType::UnsubAck => Some("MQTT-3.11.3-2"),
        PacketType::Disconnect => Some("MQTT-3.14.2-1"),
        PacketType::Auth => Some("MQTT-3.15.2-1"),
        _ => None,
    }
}

/// A packet that cannot be put on the wire for the chosen version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// The remaining length would exceed 268,435,455 bytes.
    #[error("packet of {0} bytes is larger than MQTT can carry")]
    TooLarge(usize),
    /// A string or binary field is longer than 65,535 bytes.
    #[error("field of {0} bytes is longer than 65,535 bytes")]
    FieldTooLong(usize),
    /// A variable byte integer value (such as a subscription identifier) above 268,435,455.
    #[error("value {0} does not fit a variable byte integer")]
    VariableByteIntegerTooLarge(u32),
    /// The packet has no representation in the chosen version.
    #[error("{0}")]
    Unrepresentable(&'static str),
}
