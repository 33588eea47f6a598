//! What the client gives back: outputs for the driver, events for the trace, its state.

use mqttsim_codec::{DecodeError, Packet, PacketType, Publish, QoS, ReasonCode};

use crate::error::ProtocolViolation;

/// A client-local identifier of one application message, increasing from 1 with each accepted
/// [`crate::Client::publish`] and independent of MQTT packet identifiers, so that one message can
/// be followed across resends and reconnections.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub u64);

/// The connection state of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// No transport, or a transport the client has asked the driver to close.
    Disconnected,
    /// CONNECT was sent; CONNACK is awaited.
    Connecting,
    /// CONNACK accepted the connection.
    Connected,
}

/// Something the driver must do.
///
/// The packet is not boxed: outputs are drained at once, and a box per packet would be an
/// allocation per packet for every device.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Encode this packet and write it to the transport.
    Send(Packet),
    /// Close the transport after writing everything sent before this output.
    Close,
}

/// Why a connection ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CloseReason {
    /// The application called [`crate::Client::disconnect`].
    ClientDisconnect,
    /// The transport went away without the client asking.
    TransportLost,
    /// No CONNACK arrived within `connect_timeout`.
    ConnectTimeout,
    /// No PINGRESP arrived within the ping timeout.
    KeepAliveTimeout,
    /// CONNACK refused the connection with this reason.
    Refused(ReasonCode),
    /// A 5.0 server sent DISCONNECT with this reason.
    ServerDisconnect(ReasonCode),
    /// The driver could not decode the server's bytes.
    Decode(DecodeError),
    /// The server broke the protocol.
    Protocol(ProtocolViolation),
}

/// Why a message was given up without being delivered to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The waiting queue was full (see [`crate::QueuePolicy`]).
    QueueFull,
    /// A QoS 0 message was published while offline and [`crate::OfflineQos0::Drop`] is set.
    Offline,
    /// A 5.0 server answered PUBACK or PUBREC with this failure reason.
    Rejected(ReasonCode),
    /// Its PUBLISH would be larger than the 5.0 server's Maximum Packet Size [MQTT-3.2.2-15].
    PacketTooLarge { size: usize, max: u32 },
    /// Its 5.0 Message Expiry Interval ran out before it could be sent.
    Expired,
    /// The 5.0 server does not support its QoS (0x9B) or RETAIN (0x9A) and
    /// [`crate::LimitPolicy::Refuse`] is set (for RETAIN also
    /// [`crate::LimitPolicy::RefuseRetain`]).
    Unsupported(ReasonCode),
}

/// Something that happened, for the application, the simulator's trace and the checker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// CONNACK accepted the connection.
    Connected { session_present: bool },
    /// CONNACK refused the connection; a [`Event::Closed`] follows.
    ConnectionRefused(ReasonCode),
    /// The server did not keep the session the client expected (or a clean session was asked
    /// for) while messages were in flight. `resent` are sent again as new PUBLISHes without DUP;
    /// `released` had been PUBREC'd, so the server owned them, and are complete without PUBCOMP.
    SessionLost { resent: Vec<MessageId>, released: Vec<MessageId> },
    /// A PUBLISH of message `id` was put on the wire (first send or a resend).
    Published { id: MessageId, packet_id: u16, qos: QoS, dup: bool },
    /// An application message arrived. QoS 2 messages are handed over once, when their PUBLISH
    /// first arrives; a resent PUBLISH with the same packet identifier before PUBREL is not.
    Received(Publish),
    /// Message `id` is complete: PUBACK (QoS 1) or PUBCOMP (QoS 2) arrived. `reason` is its
    /// code (always success in 3.1.1; in 5.0 for example 0x10 No matching subscribers).
    Acked { id: MessageId, packet_id: u16, qos: QoS, reason: ReasonCode },
    /// SUBACK arrived with one code per filter.
    Subscribed { packet_id: u16, granted: Vec<ReasonCode> },
    /// UNSUBACK arrived; 5.0 gives one code per filter (0x11 No subscription existed, ...),
    /// 3.1.1 none.
    Unsubscribed { packet_id: u16, codes: Vec<ReasonCode> },
    /// Message `id` goes at a lower QoS or without RETAIN than asked for, because the 5.0
    /// server's CONNACK said so ([`crate::LimitPolicy::Downgrade`]).
    Downgraded { id: MessageId, qos: QoS, retain: bool },
    /// A packet other than a message's PUBLISH was not sent because it is larger than the 5.0
    /// server's Maximum Packet Size [MQTT-3.2.2-15]; a SUBSCRIBE or UNSUBSCRIBE so refused is
    /// given up. (A message's PUBLISH is reported as [`DropReason::PacketTooLarge`].)
    PacketTooLarge { packet: PacketType, size: usize, max: u32 },
    /// The server told the client to slow down (5.0 0x97 Quota exceeded, 0x89 Server busy,
    /// ...; see [`crate::backoff::advises_backoff`]): reconnect delays should keep growing.
    /// [`crate::Client::backoff_advised`] holds the reason until a connection is accepted.
    BackOff { reason: ReasonCode },
    /// Message `id` was given up.
    Dropped { id: MessageId, reason: DropReason },
    /// No PINGRESP arrived in time; a [`Event::Closed`] follows.
    KeepAliveTimeout,
    /// The connection ended; the client is [`State::Disconnected`].
    Closed { reason: CloseReason },
}

impl From<ProtocolViolation> for CloseReason {
    fn from(violation: ProtocolViolation) -> CloseReason {
        CloseReason::Protocol(violation)
    }
}
