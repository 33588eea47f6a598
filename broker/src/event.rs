//! What the core gives back: outputs for the driver and events for logs and traces.

use std::fmt;

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_codec::{Packet, PacketType, QoS, ReasonCode};

/// An opaque connection handle, assigned by [`crate::Broker::handle_connection_opened`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "conn#{}", self.0)
    }
}

/// Work for the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Encode `packet` for the connection's protocol and send it.
    Send { conn: ConnId, packet: Packet },
    /// Close the transport, after sending what was queued before. The core has already
    /// forgotten the connection.
    Close { conn: ConnId, reason: DisconnectReason },
}

/// A per-session or per-connection limit of [`crate::BrokerConfig`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `max_subscriptions_per_session`.
    Subscriptions,
    /// `max_inbound_qos2` (over 5.0 the broker's Receive Maximum: DISCONNECT 0x93).
    InboundQos2,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The client sent DISCONNECT.
    ClientDisconnect,
    /// Nothing arrived for 1.5 times the keepalive [MQTT-3.1.2-24].
    KeepAliveTimeout,
    /// No CONNECT arrived within `connect_timeout`.
    ConnectTimeout,
    /// The transport ended without either side asking.
    ConnectionLost,
    /// The peer broke the standard; `statement` names the rule where there is one.
    ProtocolViolation { statement: Option<&'static str>, detail: String },
    /// Another connection with the same client identifier took the session over
    /// [MQTT-3.1.4-2].
    TakenOver,
    /// A CONNACK with this non-success code was sent [MQTT-3.2.2-5].
    ConnectRefused(ReasonCode),
    /// The session exceeded a configured limit.
    LimitExceeded(Limit),
    /// The broker is shutting down ([`crate::Broker::handle_shutdown`]; DISCONNECT 0x8B over
    /// 5.0).
    ServerShuttingDown,
    /// The driver closed it: the peer did not read what was sent to it fast enough (its
    /// outbox went over its byte limit, or the broker's total buffer budget was spent).
    SlowConsumer,
    /// The driver closed it: a write made no progress for the configured write timeout.
    WriteTimeout,
    /// The driver closed it: connections without CONNACK may buffer only so many bytes in all.
    Overloaded,
}

impl DisconnectReason {
    pub(crate) fn violation(statement: &'static str, detail: &str) -> DisconnectReason {
        DisconnectReason::ProtocolViolation { statement: Some(statement), detail: detail.into() }
    }
}

/// Why a message was not delivered to a subscriber.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The session queue was full (`max_queued_messages`, see `overflow`).
    QueueFull,
    /// A QoS 0 message for an offline session (`queue_qos0_offline` is off).
    QoS0Offline,
    /// Its 5.0 Message Expiry Interval passed before it could be sent [MQTT-3.3.2-5].
    Expired,
    /// The PUBLISH would be larger than the client's 5.0 Maximum Packet Size: it is dropped as
    /// if it had been sent [MQTT-3.1.2-25].
    PacketTooLarge,
    /// A QoS 2 message in flight to a shared-subscription member whose session ended: it goes
    /// to no other member [MQTT-4.8.2-5].
    SharedSessionEnded,
    /// The [`crate::Authorizer`] does not let the subscriber receive messages on this topic.
    NotAuthorized,
}

/// Something that happened, for logs and the simulator's trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A CONNECT was accepted with CONNACK 0.
    ClientConnected {
        conn: ConnId,
        client_id: ByteString,
        clean_session: bool,
        session_present: bool,
    },
    /// A CONNECT was refused with a CONNACK carrying `reason_code`.
    ConnectionRefused { conn: ConnId, client_id: ByteString, reason_code: ReasonCode },
    /// A connected client's connection ended.
    ClientDisconnected { conn: ConnId, client_id: ByteString, reason: DisconnectReason },
    /// A connection that never completed CONNECT ended.
    ConnectionClosed { conn: ConnId, reason: DisconnectReason },
    /// The broker took responsibility for a message: on receipt for QoS 0, when sending PUBACK
    /// for QoS 1 and PUBREC for QoS 2.
    MessageAccepted {
        client_id: ByteString,
        topic: ByteString,
        packet_id: u16,
        qos: QoS,
        retain: bool,
        /// The message's payload (shared, not copied), so that a trace can name the message.
        payload: Bytes,
    },
    /// A PUBLISH the [`crate::Authorizer`] refused: acknowledged at its QoS and not delivered
    /// [MQTT-3.3.5-2].
    PublishRefused { client_id: ByteString, topic: ByteString, packet_id: u16, qos: QoS },
    /// A Will was published.
    WillPublished { client_id: ByteString, topic: ByteString, qos: QoS, retain: bool },
    /// A message for `client_id` was dropped.
    MessageDropped {
        client_id: ByteString,
        topic: ByteString,
        /// The dropped message's payload (shared, not copied).
        payload: Bytes,
        reason: DropReason,
    },
    /// A subscription was made or replaced; `granted` is `None` when it was refused (0x80).
    Subscribed { client_id: ByteString, filter: String, granted: Option<QoS> },
    /// A subscription was removed (or did not exist).
    Unsubscribed { client_id: ByteString, filter: String },
    /// A 5.0 packet with a reason code went to a client: every CONNACK and server DISCONNECT,
    /// and PUBACK, PUBREC, SUBACK and UNSUBACK codes other than success (one event per code).
    /// 3.1.1 connections have their own events (refusals, SUBACK grants) instead.
    ReasonCodeSent {
        conn: ConnId,
        /// Empty before the CONNECT was accepted.
        client_id: ByteString,
        packet: PacketType,
        reason_code: ReasonCode,
    },
    /// An offline session's Session Expiry Interval passed and it was discarded
    /// [MQTT-4.1.0-2].
    SessionExpired { client_id: ByteString },
}
