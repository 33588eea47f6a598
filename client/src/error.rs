//! Typed errors: the application's misuse of the API, and the server's protocol violations.

use mqttsim_codec::PacketType;
use mqttsim_codec::topic::TopicError;

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
    /// A PUBLISH without a topic name; this client allows no topic aliases.
    #[error("PUBLISH without a topic name")]
    EmptyTopic,
    /// PINGRESP without an outstanding PINGREQ.
    #[error("PINGRESP without a PINGREQ")]
    UnsolicitedPingResp,
    /// More inbound QoS 2 messages awaiting PUBREL than `max_inbound_qos2`.
    #[error("more than {0} inbound QoS 2 messages await PUBREL")]
    TooManyInboundQos2(u16),
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
