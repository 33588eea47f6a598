//! The configuration of one device client.

use std::time::Duration;

use bytes::Bytes;
use mqttsim_codec::{Protocol, Will};

use crate::options::MessageProperties;

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

/// What the client does with a message the 5.0 server said it cannot take: a QoS above the
/// CONNACK's Maximum QoS [MQTT-3.2.2-11], or RETAIN when Retain Available is 0 [MQTT-3.2.2-14].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LimitPolicy {
    /// The message goes at the server's Maximum QoS and without RETAIN, and
    /// [`crate::Event::Downgraded`] says so.
    #[default]
    Downgrade,
    /// The message is given up with [`crate::DropReason::Unsupported`] (0x9B QoS not supported
    /// or 0x9A Retain not supported).
    Refuse,
    /// The message goes at the server's Maximum QoS ([`crate::Event::Downgraded`] says so), but
    /// one with RETAIN when Retain Available is 0 is given up with
    /// [`crate::DropReason::Unsupported`] (0x9A): a retained message is a state kept for later
    /// subscribers, and sent without RETAIN it would mean something else.
    RefuseRetain,
}

/// Everything a [`crate::Client`] needs to know before its first connection.
///
/// [`ClientConfig::new`] gives sensible defaults for a device; the fields are public so a
/// scenario can override any of them. The 5.0 fields are ignored when `protocol` is 3.1.1.
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
    /// The Last Will and Testament, if any. In 5.0 its properties are the Will Properties:
    /// [`MessageProperties::will_properties`] builds them, Will Delay Interval included.
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
    /// A server exceeding it is a protocol error; in 5.0 it is sent as Receive Maximum and the
    /// client disconnects with 0x93 Receive Maximum exceeded. Zero is treated as one.
    pub max_inbound_qos2: u16,
    /// The largest number of SUBSCRIBE and UNSUBSCRIBE requests waiting for their acknowledgement.
    pub max_pending_requests: usize,
    /// The 5.0 Session Expiry Interval in seconds sent in CONNECT (0xFFFF_FFFF: never).
    pub session_expiry_interval: u32,
    /// 5.0: the largest packet the client accepts, sent as Maximum Packet Size; the driver
    /// decodes with it and a larger packet closes the connection with 0x95. `None` announces
    /// no limit (the driver's own cap still applies).
    pub maximum_packet_size: Option<u32>,
    /// 5.0: the Topic Alias Maximum sent in CONNECT, how many aliases the server may set up
    /// towards the client; 0 allows none.
    pub topic_alias_maximum: u16,
    /// 5.0: how many topic aliases the client sets up towards the server, at most the
    /// server's Topic Alias Maximum; 0 never uses one. The first topics published on a
    /// connection get them; later topics go by name.
    pub outbound_topic_aliases: u16,
    /// 5.0: Request Response Information in CONNECT.
    pub request_response_information: bool,
    /// 5.0: Request Problem Information in CONNECT (sent only when false). When false, a
    /// Reason String or User Property on an acknowledgement is a protocol error [MQTT-3.1.2-29].
    pub request_problem_information: bool,
    /// 5.0: User Properties of the CONNECT, in order.
    pub user_properties: Vec<(String, String)>,
    /// 5.0: the properties of every message given to [`crate::Client::publish`]
    /// ([`crate::Client::publish_with`] names its own); boxed, as most devices have none.
    pub message_properties: Option<Box<MessageProperties>>,
    /// 5.0: what a message beyond the server's Maximum QoS or Retain Available becomes.
    pub limit_policy: LimitPolicy,
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
            maximum_packet_size: None,
            topic_alias_maximum: 0,
            outbound_topic_aliases: 0,
            request_response_information: false,
            request_problem_information: true,
            user_properties: Vec::new(),
            message_properties: None,
            limit_policy: LimitPolicy::Downgrade,
        }
    }

    /// The same configuration speaking MQTT 5.0.
    pub fn v5(mut self) -> ClientConfig {
        self.protocol = Protocol::V5;
        self
    }

    /// The ping timeout in force: the configured one or one keep-alive period.
    pub fn effective_ping_timeout(&self) -> Duration {
        self.ping_timeout.unwrap_or(Duration::from_secs(u64::from(self.keep_alive)))
    }
}
