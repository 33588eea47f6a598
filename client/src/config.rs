//! The configuration of one device client.

use std::time::Duration;

use bytes::Bytes;
use mqttsim_codec::{Protocol, Will};

/// What happens to a new message when the offline queue already holds `max_queued` messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum QueuePolicy {
    /// The oldest waiting message is dropped to make room for the new one.
    #[default]
    DropOldest,
    /// The new message is dropped; the waiting ones keep their place.
    DropNewest,
}

/// What happens to a QoS 0 message published while the client is not connected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OfflineQos0 {
    /// It is dropped at once with [`crate::DropReason::Offline`]; QoS 0 promises nothing.
    #[default]
    Drop,
    /// It waits in the offline queue like a QoS 1 or 2 message and is sent after connecting.
    Queue,
}

/// Everything a [`crate::Client`] needs to know before its first connection.
///
/// [`ClientConfig::new`] gives sensible defaults for a device; the fields are public so a
/// scenario can override any of them.
#[derive(Debug, Clone, PartialEq)]
pub struct ClientConfig {
    /// The protocol version spoken; the CONNECT carries it.
    pub protocol: Protocol,
    /// The client identifier; may be empty when the server assigns one.
    pub client_id: String,
    /// Clean Session (3.1.1) or Clean Start (5.0).
    pub clean_session: bool,
    /// Keep alive in seconds; 0 turns the mechanism off.
    pub keep_alive: u16,
    /// How long to wait for PINGRESP after a PINGREQ; `None` waits one keep-alive period.
    pub ping_timeout: Option<Duration>,
    /// The Last Will and Testament, if any.
    pub will: Option<Will>,
    /// The user name carried in CONNECT.
    pub username: Option<String>,
    /// The password carried in CONNECT.
    pub password: Option<Bytes>,
    /// The largest number of QoS 1 and 2 messages in flight (sent, not yet fully acknowledged).
    /// Zero is treated as one. A 5.0 server's Receive Maximum can lower it for a connection.
    pub max_inflight: u16,
    /// The largest number of messages waiting to be sent (offline, or behind a full window).
    pub max_queued: usize,
    /// Which message goes when the waiting queue is full.
    pub queue_policy: QueuePolicy,
    /// What a QoS 0 publish does while the client is not connected.
    pub offline_qos0: OfflineQos0,
    /// How long to wait for CONNACK after the transport came up.
    pub connect_timeout: Duration,
    /// The largest number of inbound QoS 2 packet identifiers held between PUBREC and PUBREL.
    /// A server exceeding it is a protocol error; in 5.0 it is sent as Receive Maximum. Zero is
    /// treated as one.
    pub max_inbound_qos2: u16,
    /// The largest number of SUBSCRIBE and UNSUBSCRIBE requests waiting for their acknowledgement.
    pub max_pending_requests: usize,
    /// The 5.0 Session Expiry Interval in seconds sent in CONNECT; ignored for 3.1.1.
    pub session_expiry_interval: u32,
}

impl ClientConfig {
    /// A 3.1.1 configuration with a 60 s keep alive, a persistent session and modest limits.
    pub fn new(client_id: impl Into<String>) -> ClientConfig {
        ClientConfig {
            protocol: Protocol::V311,
            client_id: client_id.into(),
            clean_session: false,
            keep_alive: 60,
            ping_timeout: None,
            will: None,
            username: None,
            password: None,
            max_inflight: 16,
            max_queued: 100,
            queue_policy: QueuePolicy::DropOldest,
            offline_qos0: OfflineQos0::Drop,
            connect_timeout: Duration::from_secs(10),
            max_inbound_qos2: 64,
            max_pending_requests: 16,
            session_expiry_interval: 0,
        }
    }

    /// The ping timeout in force: the configured one or one keep-alive period.
    pub fn effective_ping_timeout(&self) -> Duration {
        self.ping_timeout.unwrap_or(Duration::from_secs(u64::from(self.keep_alive)))
    }
}
