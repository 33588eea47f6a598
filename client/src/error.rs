//! Typed errors: the application's misuse of the API, and the server's protocol violations.

use mqttsim_codec::topic::TopicError;
use mqttsim_codec::{PacketType, ReasonCode};

/// Why [`crate::Client::publish`] refused a message. A refused message gets no
/// [`crate::MessageId`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The topic name is not a valid MQTT topic name.
    #[error("invalid topic name: {0}")]
    InvalidTopic(#[from] TopicError),
    /// The topic and payload together are larger than an MQTT packet can carry.
    #[error("message of {0} bytes is larger than an MQTT packet can carry")]
    TooLarge(usize),
    /// The Response Topic is not a valid topic name [MQTT-3.3.2-14].
    #[error("invalid response topic: {0} [MQTT-3.3.2-14]")]
    InvalidResponseTopic(TopicError),
    /// A string property holds U+0000 [MQTT-1.5.4-2] or a field is longer than 65,535 bytes.
    #[error("invalid {field}: longer than 65,535 bytes or holding U+0000")]
    InvalidProperty { field: &'static str },
}

/// Why [`crate::Client::subscribe`] or [`crate::Client::unsubscribe`] refused a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// A SUBSCRIBE or UNSUBSCRIBE must carry at least one filter [MQTT-3.8.3-3, MQTT-3.10.3-2].
    #[error("a request needs at least one topic filter")]
    NoFilters,
    /// One of the filters is not a valid MQTT topic filter.
    #[error("invalid topic filter {filter:?}: {error}")]
    InvalidFilter { filter: String, error: TopicError },
    /// `max_pending_requests` requests already wait for their acknowledgement.
    #[error("{0} requests already wait for their acknowledgement")]
    TooManyPending(usize),
    /// No Local on a shared subscription is a protocol error [MQTT-3.8.3-4].
    #[error("No Local on the shared subscription {0:?} [MQTT-3.8.3-4]")]
    NoLocalOnShared(String),
    /// A Subscription Identifier runs from 1 to 268,435,455.
    #[error("subscription identifier {0} is outside 1..=268435455")]
    InvalidSubscriptionIdentifier(u32),
    /// A User Property holds U+0000 [MQTT-1.5.4-2] or is longer than 65,535 bytes.
    #[error("invalid user property: longer than 65,535 bytes or holding U+0000")]
    InvalidProperty,
}

/// Why [`crate::Client::disconnect_with`] refused to disconnect; the connection stays up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectError {
    /// Not a DISCONNECT reason code a client may send [MQTT-3.14.2-1].
    #[error("{0:?} is not a DISCONNECT reason code a client sends [MQTT-3.14.2-1]")]
    InvalidReasonCode(ReasonCode),
    /// CONNECT sent Session Expiry Interval 0, so DISCONNECT may not set another (5.0 §3.14.2.2.2).
    #[error("the CONNECT's Session Expiry Interval was 0: DISCONNECT cannot set another")]
    SessionExpiryFromZero,
    /// A string holds U+0000 [MQTT-1.5.4-2] or is longer than 65,535 bytes.
    #[error("invalid reason string or user property: longer than 65,535 bytes or holding U+0000")]
    InvalidString,
}

/// A server packet that breaks the protocol; the client closes the connection for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtocolViolation {
    /// The first packet from the server must be CONNACK [MQTT-3.2.0-1].
    #[error("{0:?} received before CONNACK [MQTT-3.2.0-1]")]
    BeforeConnAck(PacketType),
    /// CONNACK arrived on a connection that already had one.
    #[error("second CONNACK on one connection")]
    SecondConnAck,
    /// A server never sends this packet type to a client (or not in this protocol version).
    #[error("{0:?} is never sent by a server to a client")]
    ClientOnlyPacket(PacketType),
    /// CONNACK said a session is present although the client asked for a clean one [MQTT-3.2.2-1].
    #[error("session present in CONNACK although a clean session was requested [MQTT-3.2.2-1]")]
    SessionPresentOnCleanSession,
    /// An acknowledgement for a packet identifier that has no matching request in flight.
    #[error("{packet:?} for packet identifier {packet_id} which is not in flight")]
    UnknownPacketId { packet: PacketType, packet_id: u16 },
    /// An acknowledgement that does not fit the message's QoS or stage (e.g. PUBACK for QoS 2).
    #[error("{packet:?} for packet identifier {packet_id} does not fit its QoS {qos} flow")]
    WrongAck { packet: PacketType, packet_id: u16, qos: u8 },
    /// A SUBACK must carry one return code per filter of its SUBSCRIBE [MQTT-3.9.3-1].
    #[error("SUBACK carries {got} codes for {expected} filters [MQTT-3.9.3-1]")]
    SubAckCount { expected: usize, got: usize },
    /// A 5.0 UNSUBACK must carry one reason code per filter of its UNSUBSCRIBE.
    #[error("UNSUBACK carries {got} codes for {expected} filters")]
    UnsubAckCount { expected: usize, got: usize },
    /// A QoS 1 or 2 PUBLISH carried packet identifier 0 [MQTT-2.3.1-1].
    #[error("QoS {0} PUBLISH with packet identifier 0 [MQTT-2.3.1-1]")]
    ZeroPacketId(u8),
    /// A PUBLISH without a topic name and without a topic alias.
    #[error("PUBLISH without a topic name")]
    EmptyTopic,
    /// A Topic Alias of 0 or above the Topic Alias Maximum the client sent
    /// [MQTT-3.1.2-26, MQTT-3.1.2-27, MQTT-3.3.2-8]; 5.0 disconnects with 0x94.
    #[error("topic alias {alias} is 0 or above our Topic Alias Maximum {maximum} [MQTT-3.1.2-26]")]
    TopicAliasInvalid { alias: u16, maximum: u16 },
    /// A PUBLISH with an empty topic name and a Topic Alias that no earlier PUBLISH on this
    /// connection set up (5.0 §3.3.2.3.4).
    #[error("topic alias {0} was never set up on this connection")]
    UnknownTopicAlias(u16),
    /// A Reason String or User Property on a packet other than PUBLISH, CONNACK or DISCONNECT
    /// although the client sent Request Problem Information 0 [MQTT-3.1.2-29].
    #[error(
        "{0:?} carries a reason string or user property after Request Problem Information 0 [MQTT-3.1.2-29]"
    )]
    ProblemInformationNotRequested(PacketType),
    /// A server DISCONNECT carrying a Session Expiry Interval [MQTT-3.14.2-2].
    #[error("server DISCONNECT with a Session Expiry Interval [MQTT-3.14.2-2]")]
    SessionExpiryInServerDisconnect,
    /// PINGRESP without an outstanding PINGREQ.
    #[error("PINGRESP without a PINGREQ")]
    UnsolicitedPingResp,
    /// More inbound QoS 2 messages awaiting PUBREL than `max_inbound_qos2`, which 5.0 sent as
    /// Receive Maximum [MQTT-3.3.4-9]; 5.0 disconnects with 0x93.
    #[error("more than {0} inbound QoS 2 messages await PUBREL (Receive Maximum exceeded)")]
    TooManyInboundQos2(u16),
}

impl ProtocolViolation {
    /// The reason code a 5.0 client's DISCONNECT gives for the violation.
    pub fn reason_code(&self) -> ReasonCode {
        match self {
            ProtocolViolation::TopicAliasInvalid { .. } => ReasonCode::TOPIC_ALIAS_INVALID,
            ProtocolViolation::TooManyInboundQos2(_) => ReasonCode::RECEIVE_MAXIMUM_EXCEEDED,
            _ => ReasonCode::PROTOCOL_ERROR,
        }
    }
}

/// A [`crate::Backoff`] built with parameters that cannot describe a backoff.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BackoffError {
    /// The multiplier must be a finite number of at least 1.
    #[error("multiplier {0} must be finite and at least 1")]
    Multiplier(f64),
    /// The jitter must be a fraction in [0, 1].
    #[error("jitter {0} must lie in [0, 1]")]
    Jitter(f64),
    /// The initial delay must not exceed the maximum.
    #[error("initial delay exceeds the maximum delay")]
    InitialAboveMax,
}
