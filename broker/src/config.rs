//! Broker configuration, including the planted bugs used to test the checker.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use mqttsim_codec::QoS;

use crate::acl::{AllowAllTopics, Authorizer};
use crate::auth::{AllowAll, Authenticator};

/// What the broker does when a session's message queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OverflowPolicy {
    /// The arriving message is dropped; the queue keeps the older messages.
    #[default]
    DropNewest,
    /// The oldest queued message is dropped to make room for the arriving one.
    DropOldest,
}

/// The broker's limits and policies. `BrokerConfig::default()` is a conforming 3.1.1 broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// The highest QoS granted to a subscription; SUBACK grants min(requested, `max_qos`).
    pub max_qos: QoS,
    /// Outgoing QoS 1 and 2 messages a session may have unacknowledged at once; messages beyond
    /// this window wait in the session queue, in order.
    pub max_inflight: u16,
    /// Messages a session may hold queued (offline, or waiting for the in-flight window).
    pub max_queued_messages: usize,
    /// Bytes (topic and payload) a session may hold queued; beyond it messages are dropped as
    /// for `max_queued_messages`.
    pub max_queued_bytes: usize,
    /// Bytes queued in all sessions together; an arriving message that finds the broker over
    /// it costs its session one message, dropped by `overflow`.
    pub max_queued_bytes_total: usize,
    /// Which message is dropped when the queue is full.
    pub overflow: OverflowPolicy,
    /// Whether QoS 0 messages are queued for an offline persistent session (the standard allows
    /// either); when false they are dropped with [`crate::DropReason::QoS0Offline`].
    pub queue_qos0_offline: bool,
    /// Subscriptions one session may hold; the filters of a SUBSCRIBE beyond it are refused in
    /// SUBACK (0x80) and the connection stays open.
    pub max_subscriptions_per_session: usize,
    /// Inbound QoS 2 packet identifiers one session may hold awaiting PUBREL; a PUBLISH
    /// exceeding it closes the connection.
    pub max_inbound_qos2: usize,
    /// Retained topics the broker keeps; a retained message for a new topic beyond this is
    /// forwarded but not retained.
    pub max_retained_messages: usize,
    /// Bytes (topic and payload) of all retained messages; a retained message that would exceed
    /// it is forwarded but not retained (and the topic's older one is cleared, never left stale).
    pub max_retained_bytes: usize,
    /// How long a new connection may stay silent before its CONNECT arrives.
    pub connect_timeout: Duration,
    /// A client silent for this many thousandths of its keepalive is disconnected; the
    /// standard's one and a half times is 1500 [MQTT-3.1.2-24].
    pub keepalive_grace_permille: u32,
    /// The prefix of client identifiers the broker assigns to clients that send an empty one.
    pub generated_id_prefix: String,
    /// Decides whether a CONNECT's credentials are accepted.
    pub authenticator: Arc<dyn Authenticator>,
    /// Decides which topics a client may publish to, subscribe to and receive.
    pub authorizer: Arc<dyn Authorizer>,
    /// Deliberate misbehaviours; empty by default.
    pub bugs: BTreeSet<PlantedBug>,

    // MQTT 5.0 only: what CONNACK announces and the broker enforces.
    /// The Maximum Packet Size announced to 5.0 clients; the driver should refuse larger
    /// packets (its own `max_packet_size`), and a 5.0 client that sends one gets DISCONNECT 0x95.
    pub max_packet_size: u32,
    /// Topic aliases a 5.0 client may use towards the broker (Topic Alias Maximum); 0 refuses
    /// them all. The broker never sends topic aliases itself.
    pub topic_alias_maximum: u16,
    /// A keepalive imposed on 5.0 clients instead of theirs (Server Keep Alive), if any.
    pub server_keep_alive: Option<u16>,
    /// The longest Session Expiry Interval granted, in seconds; a longer request is cut to it
    /// and CONNACK says so. `u32::MAX` grants any.
    pub max_session_expiry_interval: u32,
    /// Whether retained messages are supported (Retain Available). Without, a 5.0 PUBLISH or
    /// Will with RETAIN=1 is refused with 0x9A.
    pub retain_available: bool,
    /// Whether wildcard filters are allowed (Wildcard Subscription Available); refused with
    /// SUBACK 0xA2 otherwise.
    pub wildcard_subscriptions: bool,
    /// Whether Subscription Identifiers are supported; a SUBSCRIBE carrying one is refused with
    /// SUBACK 0xA1 otherwise.
    pub subscription_identifiers: bool,
    /// Whether shared subscriptions are supported; refused with SUBACK 0x9E otherwise.
    pub shared_subscriptions: bool,
    /// The Response Information sent to a 5.0 client that asks for it (Request Response
    /// Information = 1); `None` sends none, as the standard allows.
    pub response_information: Option<String>,
}

impl Default for BrokerConfig {
    fn default() -> BrokerConfig {
        BrokerConfig {
            max_qos: QoS::ExactlyOnce,
            max_inflight: 32,
            max_queued_messages: 1000,
            max_queued_bytes: 16 << 20,
            max_queued_bytes_total: 512 << 20,
            overflow: OverflowPolicy::DropNewest,
            queue_qos0_offline: false,
            max_subscriptions_per_session: 1000,
            max_inbound_qos2: 1000,
            max_retained_messages: 1_000_000,
            max_retained_bytes: 256 << 20,
            connect_timeout: Duration::from_secs(10),
            keepalive_grace_permille: 1500,
            generated_id_prefix: "mqttsim-".to_owned(),
            authenticator: Arc::new(AllowAll),
            authorizer: Arc::new(AllowAllTopics),
            bugs: BTreeSet::new(),
            max_packet_size: 1 << 20,
            topic_alias_maximum: 10,
            server_keep_alive: None,
            max_session_expiry_interval: u32::MAX,
            retain_available: true,
            wildcard_subscriptions: true,
            subscription_identifiers: true,
            shared_subscriptions: true,
            response_information: None,
        }
    }
}

impl BrokerConfig {
    /// Whether a planted bug is switched on.
    pub fn has_bug(&self, bug: PlantedBug) -> bool {
        self.bugs.contains(&bug)
    }
}

/// A deliberate misbehaviour, modelled on real broker bugs, that a checker should catch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum PlantedBug {
    /// In-flight QoS 1 messages are forgotten when a persistent session reconnects, instead of
    /// being resent with DUP=1 [MQTT-4.4.0-1].
    ForgetInflightOnReconnect,
    /// A QoS 2 PUBLISH resent with DUP=1 before PUBREL is forwarded again [MQTT-4.3.3-2].
    DuplicateQos2OnDup,
    /// The Will is published after a graceful DISCONNECT [MQTT-3.14.4-3].
    WillAfterDisconnect,
    /// The Will is not published when the keepalive expires [MQTT-3.1.2-8].
    NoWillOnKeepaliveTimeout,
    /// A retained message is not replaced by a newer one on the same topic [MQTT-3.3.1-5].
    StaleRetained,
    /// The Will is not published when a session takeover closes the old connection
    /// [MQTT-3.1.2-8].
    NoWillOnTakeover,
    /// Unacknowledged PUBLISH packets resent on session resumption carry DUP=0 instead of
    /// DUP=1 [MQTT-3.3.1-1] (aedes#601).
    DupFlagNotSet,
    /// A zero-byte RETAIN=1 PUBLISH clears the retained message but is not forwarded to the
    /// current subscribers [MQTT-3.3.1-10] (emqx#1207, vernemq#156).
    RetainedDeleteNotForwarded,
    /// The retained messages matching a new subscription are sent twice [MQTT-3.3.1-6]
    /// (rumqtt PR#683).
    RetainedDuplicated,
    /// A QoS 2 PUBLISH with DUP=1 whose packet identifier the broker has not seen is taken
    /// for a duplicate: acknowledged with PUBREC, but never forwarded [MQTT-4.3.3-2]
    /// (emqx#18441).
    Qos2DupFlagDrop,
    /// When a shared-subscription member's session ends, the group's messages it held (queued,
    /// and QoS 1 in flight) are dropped instead of going to another member, which MQTT 5.0
    /// §4.8.2 recommends (a SHOULD without a statement id) (emqx PR#9094, emqx#12257).
    SharedSubRedispatchLoss,
    /// A shared-subscription member whose session ended stays in its group and counts as
    /// online, so messages go on being routed to it and are lost (emqx#5063).
    SharedSubStaleMember,
    /// No Local is ignored: a client gets its own messages on a No Local subscription
    /// [MQTT-3.8.3-3].
    NoLocalIgnored,
    /// MQTT 5.0: a delayed Will waits for its whole Will Delay Interval even when the session
    /// ends first (Session Expiry Interval 0 or shorter than the delay), and is not published at
    /// the session's end [MQTT-3.1.2-8] (mosquitto#1401, mosquitto#3505).
    NoWillAtSessionEnd,
    /// MQTT 5.0: the Will is published as soon as the connection ends, ignoring its Will Delay
    /// Interval [MQTT-3.1.2-8, MQTT-3.1.3-9] (vernemq#1298).
    WillDelayIgnored,
    /// MQTT 5.0: a takeover deletes the old connection's Will when it has a Will Delay
    /// Interval, even when the session ends with that connection (Session Expiry Interval 0)
    /// [MQTT-3.1.2-8] (emqx#18565).
    NoWillOnDelayedTakeover,
    /// MQTT 5.0: a session whose Session Expiry Interval ran out is kept, and a later
    /// connection resumes it with its subscriptions and queue [MQTT-4.1.0-2, MQTT-3.2.2-3].
    SessionExpiryIgnored,
    /// MQTT 5.0: a queued message whose Message Expiry Interval has passed is delivered
    /// instead of discarded [MQTT-3.3.2-5] (mosquitto#2609).
    ExpiryIgnoredQueued,
    /// MQTT 5.0: a retained message is kept without its Message Expiry Interval, so new
    /// subscriptions get it after it expired [MQTT-3.3.2-5] (nanomq#525).
    RetainedExpiryIgnored,
    /// MQTT 5.0: a forwarded PUBLISH carries the Message Expiry Interval as received, not
    /// reduced by the time the message waited [MQTT-3.3.2-6].
    ExpiryNotDecremented,
    /// MQTT 5.0: retained messages are sent on every subscription, whatever its Retain Handling
    /// [MQTT-3.3.1-10] [MQTT-3.3.1-11].
    RetainHandlingIgnored,
    /// A 5.0 client's Receive Maximum is ignored: it gets as many unacknowledged QoS 1 and 2
    /// PUBLISH packets as `max_inflight` allows [MQTT-3.3.4-9].
    ReceiveMaximumExceeded,
    /// Each resumption of a 5.0 session leaks one slot of its send quota, never given back, until
    /// nothing at QoS 1 or 2 reaches the client any more [MQTT-4.9.0-1] (mosquitto#898,
    /// mosquitto#1332).
    FlowQuotaLeak,
    /// The publisher's Topic Alias is forwarded to subscribers on other connections
    /// [MQTT-3.3.2-11, MQTT-3.1.2-27] (MQTTnet#2199, LabOverWire#130).
    TopicAliasLeak,
    /// Messages are forwarded without their User Properties [MQTT-3.3.2-17].
    UserPropertiesDropped,
    /// MQTT 5.0: the Will is published with its Will Delay Interval, a property a PUBLISH may
    /// not carry (MQTT 5.0 §2.2.2.2, §3.3.2.3), so strict subscribers reject it as a Malformed
    /// Packet (aedes#1098).
    WillPropertyLeak,
    /// MQTT 5.0: a PUBLISH larger than a 5.0 client's Maximum Packet Size is sent to it anyway,
    /// instead of being discarded [MQTT-3.1.2-24, MQTT-3.1.2-25].
    MaximumPacketSizeIgnored,
    /// Retain As Published is ignored: a message published with RETAIN=1 is forwarded with
    /// RETAIN=0 on a subscription that has the option [MQTT-3.3.1-13] (emqx#11671: a bridge
    /// that lost the option lost every retained flag it republished).
    RetainAsPublishedIgnored,
    /// The CONNACK leaves out the Maximum QoS although `max_qos` is below 2; a 5.0 client
    /// publishing above it is disconnected with 0x9B [MQTT-3.2.2-9].
    MaximumQosNotAnnounced,
}

impl PlantedBug {
    /// Every planted bug, in order.
    pub const ALL: [PlantedBug; 29] = [
        PlantedBug::ForgetInflightOnReconnect,
        PlantedBug::DuplicateQos2OnDup,
        PlantedBug::WillAfterDisconnect,
        PlantedBug::NoWillOnKeepaliveTimeout,
        PlantedBug::StaleRetained,
        PlantedBug::NoWillOnTakeover,
        PlantedBug::DupFlagNotSet,
        PlantedBug::RetainedDeleteNotForwarded,
        PlantedBug::RetainedDuplicated,
        PlantedBug::Qos2DupFlagDrop,
        PlantedBug::SharedSubRedispatchLoss,
        PlantedBug::SharedSubStaleMember,
        PlantedBug::NoLocalIgnored,
        PlantedBug::NoWillAtSessionEnd,
        PlantedBug::WillDelayIgnored,
        PlantedBug::NoWillOnDelayedTakeover,
        PlantedBug::SessionExpiryIgnored,
        PlantedBug::ExpiryIgnoredQueued,
        PlantedBug::RetainedExpiryIgnored,
        PlantedBug::ExpiryNotDecremented,
        PlantedBug::RetainHandlingIgnored,
        PlantedBug::ReceiveMaximumExceeded,
        PlantedBug::FlowQuotaLeak,
        PlantedBug::TopicAliasLeak,
        PlantedBug::UserPropertiesDropped,
        PlantedBug::WillPropertyLeak,
        PlantedBug::MaximumPacketSizeIgnored,
        PlantedBug::RetainAsPublishedIgnored,
        PlantedBug::MaximumQosNotAnnounced,
    ];

    /// The kebab-case name used in scenarios and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PlantedBug::ForgetInflightOnReconnect => "forget-inflight-on-reconnect",
            PlantedBug::DuplicateQos2OnDup => "duplicate-qos2-on-dup",
            PlantedBug::WillAfterDisconnect => "will-after-disconnect",
            PlantedBug::NoWillOnKeepaliveTimeout => "no-will-on-keepalive-timeout",
            PlantedBug::StaleRetained => "stale-retained",
            PlantedBug::NoWillOnTakeover => "no-will-on-takeover",
            PlantedBug::DupFlagNotSet => "dup-flag-not-set",
            PlantedBug::RetainedDeleteNotForwarded => "retained-delete-not-forwarded",
            PlantedBug::RetainedDuplicated => "retained-duplicated",
            PlantedBug::Qos2DupFlagDrop => "qos2-dup-flag-drop",
            PlantedBug::SharedSubRedispatchLoss => "shared-sub-redispatch-loss",
            PlantedBug::SharedSubStaleMember => "shared-sub-stale-member",
            PlantedBug::NoLocalIgnored => "no-local-ignored",
            PlantedBug::NoWillAtSessionEnd => "no-will-at-session-end",
            PlantedBug::WillDelayIgnored => "will-delay-ignored",
            PlantedBug::NoWillOnDelayedTakeover => "no-will-on-delayed-takeover",
            PlantedBug::SessionExpiryIgnored => "session-expiry-ignored",
            PlantedBug::ExpiryIgnoredQueued => "expiry-ignored-queued",
            PlantedBug::RetainedExpiryIgnored => "retained-expiry-ignored",
            PlantedBug::ExpiryNotDecremented => "expiry-not-decremented",
            PlantedBug::RetainHandlingIgnored => "retain-handling-ignored",
            PlantedBug::ReceiveMaximumExceeded => "receive-maximum-exceeded",
            PlantedBug::FlowQuotaLeak => "flow-quota-leak",
            PlantedBug::TopicAliasLeak => "topic-alias-leak",
            PlantedBug::UserPropertiesDropped => "user-properties-dropped",
            PlantedBug::WillPropertyLeak => "will-property-leak",
            PlantedBug::MaximumPacketSizeIgnored => "maximum-packet-size-ignored",
            PlantedBug::RetainAsPublishedIgnored => "retain-as-published-ignored",
            PlantedBug::MaximumQosNotAnnounced => "maximum-qos-not-announced",
        }
    }
}

impl fmt::Display for PlantedBug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A planted bug name that is not known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown planted bug {0:?}; known bugs: {known}", known = known_bugs())]
pub struct UnknownBug(pub String);

fn known_bugs() -> String {
    PlantedBug::ALL.iter().map(|b| b.name()).collect::<Vec<_>>().join(", ")
}

impl FromStr for PlantedBug {
    type Err = UnknownBug;

    fn from_str(s: &str) -> Result<PlantedBug, UnknownBug> {
        PlantedBug::ALL.into_iter().find(|b| b.name() == s).ok_or_else(|| UnknownBug(s.to_owned()))
    }
}
