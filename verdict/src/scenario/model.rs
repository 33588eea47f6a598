//! The scenario model: plain serde types, one per section of the YAML file.
//!
//! Every struct rejects unknown fields. Values are checked for syntax while they are read (a
//! duration, a rate, a template, a QoS) and for meaning afterwards by
//! `validate`, so a [`Scenario`] returned by
//! [`parse_scenario`](super::parse_scenario) is consistent.

use std::borrow::Cow;
use std::fmt;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

use super::template::Template;
use mqttsim_codec::Protocol;

use super::units::{Bound, EventRate, ProtocolVersion, Qos, Ratio, TimeSpan};

/// A complete scenario: the world, the fleet, the faults and what must hold.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// A short name, used in reports.
    pub name: String,
    /// What the scenario shows, in prose.
    #[serde(default)]
    pub description: String,
    /// The seed every random choice of the run derives from.
    pub seed: u64,
    /// How long the simulated run lasts.
    pub duration: TimeSpan,
    /// The MQTT version every device speaks: "3.1.1" or "5.0".
    pub protocol: ProtocolVersion,
    /// The reference broker's settings.
    #[serde(default)]
    pub broker: BrokerSpec,
    /// The sites (fields, buildings) and their uplinks to the broker.
    pub sites: Vec<Site>,
    /// The device groups.
    pub devices: Vec<DeviceGroup>,
    /// Faults on the timeline, and random fault mixes.
    #[serde(default)]
    pub faults: Vec<FaultSpec>,
    /// The properties the checker must verify.
    #[serde(default)]
    pub expect: Expectations,
}

/// Whether broker state survives a broker restart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum StateMode {
    /// Sessions, in-flight messages and retained messages are lost on restart.
    Volatile,
    /// Sessions, in-flight messages and retained messages survive a restart.
    #[default]
    Durable,
}

/// A bug planted in the reference broker, so that the checker can prove it catches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum BrokerBug {
    /// The broker forgets unacknowledged outgoing messages when a persistent session reconnects.
    ForgetInflightOnReconnect,
    /// The broker delivers a QoS 2 message again when the client retransmits it with DUP set.
    DuplicateQos2OnDup,
    /// The broker publishes the Will even after a normal DISCONNECT.
    WillAfterDisconnect,
    /// The broker does not publish the Will when a client's keepalive expires.
    NoWillOnKeepaliveTimeout,
    /// The broker keeps serving a retained message after it was cleared or replaced.
    StaleRetained,
    /// The broker does not publish the Will when a new connection takes the session over.
    NoWillOnTakeover,
    /// The broker resends unacknowledged messages on session resumption with DUP=0.
    DupFlagNotSet,
    /// The broker clears a retained message on a zero-byte retained PUBLISH but does not
    /// forward that PUBLISH to the current subscribers.
    RetainedDeleteNotForwarded,
    /// The broker sends the retained messages matching a new subscription twice.
    RetainedDuplicated,
    /// The broker takes a QoS 2 PUBLISH with DUP=1 that it never saw for a duplicate: it
    /// acknowledges it and never forwards it.
    Qos2DupFlagDrop,
    /// When a shared-subscription member's session ends, the broker drops the group's messages
    /// it held (queued and QoS 1 in flight) instead of sending them to another member.
    SharedSubRedispatchLoss,
    /// The broker keeps a shared-subscription member whose session ended in its group and
    /// goes on routing messages to it, which are lost.
    SharedSubStaleMember,
    /// The broker ignores No Local: a device gets its own messages back.
    NoLocalIgnored,
    /// MQTT 5.0: the broker waits for the whole Will Delay Interval even when the session ends
    /// first, and never publishes the Will at the session's end.
    NoWillAtSessionEnd,
    /// MQTT 5.0: the broker publishes the Will as soon as the connection ends, ignoring its Will
    /// Delay Interval.
    WillDelayIgnored,
    /// MQTT 5.0: a session takeover deletes a delayed Will without publishing it, even when the
    /// session ends with the old connection.
    NoWillOnDelayedTakeover,
    /// MQTT 5.0: the broker keeps sessions whose Session Expiry Interval ran out, and resumes
    /// them with their subscriptions and queue.
    SessionExpiryIgnored,
    /// MQTT 5.0: the broker delivers a queued message after its Message Expiry Interval has
    /// passed, instead of discarding it [MQTT-3.3.2-5].
    ExpiryIgnoredQueued,
    /// MQTT 5.0: the broker keeps a retained message after its Message Expiry Interval has
    /// passed, and sends it to new subscriptions [MQTT-3.3.2-5].
    RetainedExpiryIgnored,
    /// MQTT 5.0: the broker forwards the Message Expiry Interval it received, not reduced by
    /// the time the message waited [MQTT-3.3.2-6].
    ExpiryNotDecremented,
    /// MQTT 5.0: the broker sends retained messages on every subscription, whatever its Retain
    /// Handling [MQTT-3.3.1-10, MQTT-3.3.1-11].
    RetainHandlingIgnored,
    /// MQTT 5.0: the broker ignores a client's Receive Maximum and sends as many unacknowledged
    /// QoS 1 and 2 messages as its own in-flight window allows.
    ReceiveMaximumExceeded,
    /// MQTT 5.0: each time a client resumes its session, one slot of its send quota is never
    /// given back, until nothing at QoS 1 or 2 is sent to it any more.
    FlowQuotaLeak,
    /// MQTT 5.0: the broker forwards the publisher's Topic Alias to subscribers.
    TopicAliasLeak,
    /// MQTT 5.0: the broker forwards messages without their User Properties.
    UserPropertiesDropped,
    /// MQTT 5.0: the broker publishes the Will with its Will Delay Interval, a property PUBLISH
    /// does not allow, so strict subscribers reject it as malformed (aedes#1098).
    WillPropertyLeak,
    /// MQTT 5.0: the broker sends a subscriber a message larger than the Maximum Packet Size
    /// the subscriber announced, instead of discarding it [MQTT-3.1.2-24, MQTT-3.1.2-25].
    MaximumPacketSizeIgnored,
    /// MQTT 5.0: the broker ignores Retain As Published and forwards every message with
    /// RETAIN=0 [MQTT-3.3.1-13].
    RetainAsPublishedIgnored,
    /// MQTT 5.0: the broker supports QoS only up to `maximum_qos` but its CONNACK does not say
    /// so; it disconnects a client publishing above it with 0x9B [MQTT-3.2.2-9].
    MaximumQosNotAnnounced,
}

/// The reference broker's settings.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerSpec {
    /// Whether state survives a restart (`volatile` or `durable`).
    pub state: StateMode,
    /// The most unacknowledged QoS 1 and 2 messages in flight to one client.
    pub max_inflight: u32,
    /// The most messages queued for one session while its client is away.
    pub max_queued: u32,
    /// How the broker enforces keepalive.
    pub keepalive: KeepaliveSpec,
    /// Bugs to plant, by name, for checker self-tests.
    pub bugs: Vec<BrokerBug>,
    /// MQTT 5.0 only: the Receive Maximum the broker announces in CONNACK, how many QoS 2
    /// messages a client may have unacknowledged towards it (default 1000).
    pub receive_maximum: Option<u16>,
    /// MQTT 5.0 only: the Maximum Packet Size the broker announces in CONNACK, in bytes
    /// (default 1 MiB); a 5.0 client drops a larger message instead of sending it.
    pub max_packet_size: Option<u32>,
    /// MQTT 5.0 only: the Topic Alias Maximum the broker announces in CONNACK (default 10); 0
    /// refuses topic aliases from clients.
    pub topic_alias_maximum: Option<u16>,
    /// MQTT 5.0 only: the highest QoS the broker supports, announced in CONNACK as Maximum QoS
    /// when below 2 (default 2). 5.0 devices publish above it at it; every subscription is
    /// granted at most it.
    pub maximum_qos: Option<Qos>,
    /// MQTT 5.0 only: whether the broker supports retained messages (default true); false is
    /// announced in CONNACK as Retain Available 0. 5.0 devices then give their retained
    /// messages up (`unsupported 0x9A`) instead of sending them, and the broker refuses a 5.0
    /// CONNECT whose Will has Will Retain 1 [MQTT-3.2.2-13, MQTT-3.2.2-14]; 3.1.1 devices know
    /// nothing of it and their retained messages and Wills are retained.
    pub retain_available: Option<bool>,
    /// Live mode only (`mqtt-sim run --broker`): the shell command, run with `sh -c`, that
    /// restarts the broker under test at each `broker-restart` fault; `state` declares what the
    /// broker keeps across it. `--broker-restart` replaces it; the simulation ignores it.
    pub restart_command: Option<String>,
}

impl Default for BrokerSpec {
    fn default() -> Self {
        BrokerSpec {
            state: StateMode::Durable,
            max_inflight: 20,
            max_queued: 1000,
            keepalive: KeepaliveSpec::default(),
            bugs: Vec::new(),
            receive_maximum: None,
            max_packet_size: None,
            topic_alias_maximum: None,
            maximum_qos: None,
            retain_available: None,
            restart_command: None,
        }
    }
}

/// How the broker enforces keepalive.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KeepaliveSpec {
    /// The broker drops a client silent for this many keepalive periods (the standard says 1.5).
    pub grace: f64,
    /// An MQTT 5.0 Server Keep Alive that replaces the client's value, if set.
    pub server_override: Option<TimeSpan>,
}

impl Default for KeepaliveSpec {
    fn default() -> Self {
        KeepaliveSpec { grace: 1.5, server_override: None }
    }
}

/// A site: a place where devices live, with its uplink to the broker.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    /// The site's name, used by templates (`{site}`) and fault targets.
    pub name: String,
    /// The site's uplink to the broker.
    #[serde(default)]
    pub link: LinkSpec,
}

/// A link model. On a device group, each field set overrides the site's; fields left out are
/// inherited from the site.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkSpec {
    /// One-way latency: a duration (`40ms`) or a distribution.
    pub latency: Option<Latency>,
    /// Extra uniform random delay, between zero and this value, added to each packet.
    pub jitter: Option<TimeSpan>,
    /// The probability that a packet is lost (`2%`).
    pub loss: Option<Ratio>,
    /// How TCP retransmits lost segments.
    pub retransmission: Option<Retransmission>,
    /// A link that keeps going down and coming back.
    pub flapping: Option<Flapping>,
}

impl LinkSpec {
    /// This link with every field that `over` sets replaced by `over`'s value.
    pub fn overridden_by(&self, over: &LinkSpec) -> LinkSpec {
        LinkSpec {
            latency: over.latency.or(self.latency),
            jitter: over.jitter.or(self.jitter),
            loss: over.loss.or(self.loss),
            retransmission: over.retransmission.or(self.retransmission),
            flapping: over.flapping.or(self.flapping),
        }
    }
}

/// A one-way latency: fixed, or drawn per packet from a distribution.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always this value.
    Fixed(TimeSpan),
    /// Uniform between `min` and `max`.
    Uniform {
        /// The smallest latency.
        min: TimeSpan,
        /// The largest latency.
        max: TimeSpan,
    },
    /// Normal, truncated at zero.
    Normal {
        /// The mean.
        mean: TimeSpan,
        /// The standard deviation.
        stddev: TimeSpan,
    },
    /// Log-normal (long-tailed): `median` scaled by `exp(sigma · z)`.
    Lognormal {
        /// The median latency.
        median: TimeSpan,
        /// The standard deviation of the logarithm.
        sigma: f64,
    },
    /// Pareto (heavy-tailed): at least `scale`, tail index `shape`.
    Pareto {
        /// The minimum latency.
        scale: TimeSpan,
        /// The tail index; smaller is heavier.
        shape: f64,
    },
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum LatencyDist {
    /// Always this value.
    Fixed(TimeSpan),
    /// Uniform between `min` and `max`.
    Uniform {
        /// The smallest latency.
        min: TimeSpan,
        /// The largest latency.
        max: TimeSpan,
    },
    /// Normal, truncated at zero.
    Normal {
        /// The mean.
        mean: TimeSpan,
        /// The standard deviation.
        stddev: TimeSpan,
    },
    /// Log-normal (long-tailed).
    Lognormal {
        /// The median latency.
        median: TimeSpan,
        /// The standard deviation of the logarithm.
        sigma: f64,
    },
    /// Pareto (heavy-tailed).
    Pareto {
        /// The minimum latency.
        scale: TimeSpan,
        /// The tail index; smaller is heavier.
        shape: f64,
    },
}

impl From<LatencyDist> for Latency {
    fn from(d: LatencyDist) -> Latency {
        match d {
            LatencyDist::Fixed(v) => Latency::Fixed(v),
            LatencyDist::Uniform { min, max } => Latency::Uniform { min, max },
            LatencyDist::Normal { mean, stddev } => Latency::Normal { mean, stddev },
            LatencyDist::Lognormal { median, sigma } => Latency::Lognormal { median, sigma },
            LatencyDist::Pareto { scale, shape } => Latency::Pareto { scale, shape },
        }
    }
}

impl<'de> Deserialize<'de> for Latency {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Latency;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a latency: a duration such as `40ms`, or one of `fixed`, `uniform`, \
                     `normal`, `lognormal`, `pareto` with its parameters",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Latency, E> {
                TimeSpan::parse(v).map(Latency::Fixed).map_err(E::custom)
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Latency, E> {
                TimeSpan::deserialize(de::value::U64Deserializer::new(v)).map(Latency::Fixed)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Latency, A::Error> {
                LatencyDist::deserialize(de::value::MapAccessDeserializer::new(map)).map(Into::into)
            }
        }
        deserializer.deserialize_any(V)
    }
}

impl JsonSchema for Latency {
    fn schema_name() -> Cow<'static, str> {
        "Latency".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let fixed = generator.subschema_for::<TimeSpan>();
        let dist = generator.subschema_for::<LatencyDist>();
        json_schema!({
            "description": "A one-way latency: a duration, or a distribution given as `{ uniform: { min, max } }`, `{ normal: { mean, stddev } }`, `{ lognormal: { median, sigma } }`, `{ pareto: { scale, shape } }` or `{ fixed: 40ms }`.",
            "oneOf": [fixed, dist]
        })
    }
}

/// TCP-like retransmission of lost segments.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Retransmission {
    /// The first retransmission timeout.
    pub initial_rto: TimeSpan,
    /// The factor the timeout grows by after each retransmission.
    #[serde(default = "default_backoff")]
    pub backoff: f64,
    /// The largest retransmission timeout.
    #[serde(default = "default_max_rto")]
    pub max_rto: TimeSpan,
    /// Retransmissions of one segment before the connection is reset.
    pub max_retransmissions: u32,
}

fn default_backoff() -> f64 {
    2.0
}

fn default_max_rto() -> TimeSpan {
    TimeSpan::from_secs(60)
}

/// A link that goes down and comes back, with exponentially distributed durations.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Flapping {
    /// The mean time the link stays down.
    pub mean_down: TimeSpan,
    /// The mean time the link stays up.
    pub mean_up: TimeSpan,
}

/// A group of identical devices.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeviceGroup {
    /// The group's name, used by templates (`{group}`) and fault targets.
    pub group: String,
    /// The site the devices live at.
    pub site: String,
    /// How many devices the group has.
    pub count: u32,
    /// The client id template, such as `soil-{i:03}`.
    pub client_id: Template,
    /// The MQTT version the group's devices speak, when it is not the scenario's (a mixed
    /// fleet).
    pub protocol: Option<ProtocolVersion>,
    /// Whether the devices start a clean session (MQTT 5.0: Clean Start).
    #[serde(default = "yes")]
    pub clean_session: bool,
    /// The keepalive the devices ask for; `0s` disables it.
    #[serde(default = "default_keepalive")]
    pub keepalive: TimeSpan,
    /// MQTT 5.0 only: how long the broker keeps the session after the connection closes.
    pub session_expiry: Option<TimeSpan>,
    /// The user name and password sent in CONNECT.
    pub credentials: Option<Credentials>,
    /// The Last Will registered in CONNECT.
    pub will: Option<WillSpec>,
    /// How devices reconnect after losing their connection.
    #[serde(default)]
    pub reconnect: ReconnectSpec,
    /// When devices first connect.
    #[serde(default)]
    pub start: StartSpec,
    /// Changes to the site's link for this group.
    #[serde(default)]
    pub link: LinkSpec,
    /// The queue of outgoing messages kept while offline.
    #[serde(default)]
    pub queue: QueueSpec,
    /// What the devices publish.
    #[serde(default)]
    pub publish: Vec<PublishSpec>,
    /// What the devices subscribe to.
    #[serde(default)]
    pub subscribe: Vec<SubscribeSpec>,
    /// MQTT 5.0 only: the Receive Maximum the devices announce, how many unacknowledged QoS 1
    /// and 2 messages the broker may send them at once (default 64).
    pub receive_maximum: Option<u16>,
    /// MQTT 5.0 only: the Maximum Packet Size the devices announce, in bytes (default 1 MiB);
    /// the broker drops a message that would be larger instead of sending it.
    pub maximum_packet_size: Option<u32>,
    /// MQTT 5.0 only: the Topic Alias Maximum the devices announce, how many topic aliases the
    /// broker may use towards them (default 0: none).
    pub topic_alias_maximum: Option<u16>,
    /// MQTT 5.0 only: how many topic aliases the devices use towards the broker (at most the
    /// broker's Topic Alias Maximum): the first topics each connection publishes get one.
    pub topic_aliases: Option<u16>,
    /// MQTT 5.0 only: the devices answer requests: every message they receive on this filter
    /// that carries a Response Topic is answered there, with its Correlation Data.
    pub respond: Option<RespondSpec>,
    /// The index of the first device's random streams (the others follow), instead of its
    /// position in the fleet. `mqtt-sim shrink` writes it so that a device keeps the randomness
    /// it had in the run being shrunk when devices before it are removed.
    pub streams_from: Option<u32>,
}

fn yes() -> bool {
    true
}

fn default_keepalive() -> TimeSpan {
    TimeSpan::from_secs(60)
}

impl DeviceGroup {
    /// The MQTT version the group's devices speak in `scenario`.
    pub fn protocol_in(&self, scenario: &Scenario) -> Protocol {
        self.protocol.unwrap_or(scenario.protocol).get()
    }

    /// The client id of device `i` of this group.
    pub fn client_id(&self, i: usize) -> String {
        self.client_id.expand(i, &self.group, &self.site)
    }

    /// The index of the random streams of device `i`, given the group's first device's position
    /// in the fleet.
    pub fn stream(&self, first_position: u64, i: usize) -> u64 {
        self.streams_from.map_or(first_position, u64::from) + i as u64
    }

    /// Expands any of this group's templates for device `i`.
    pub fn expand(&self, template: &Template, i: usize) -> String {
        template.expand(i, &self.group, &self.site)
    }
}

/// A user name and an optional password.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: Option<String>,
}

/// A Last Will.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WillSpec {
    /// The Will topic template.
    pub topic: Template,
    /// The Will payload, as text.
    #[serde(default)]
    pub payload: String,
    /// The Will QoS.
    #[serde(default)]
    pub qos: Qos,
    /// Whether the Will is retained.
    #[serde(default)]
    pub retain: bool,
    /// MQTT 5.0 only: the Will Delay Interval.
    pub delay: Option<TimeSpan>,
    /// MQTT 5.0 only: the Message Expiry Interval the Will is published with (whole seconds).
    pub expiry: Option<TimeSpan>,
    /// MQTT 5.0 only: User Properties of the Will, in order (names may repeat).
    #[serde(default)]
    pub user_properties: Vec<UserPropertySpec>,
    /// MQTT 5.0 only: the Will's Content Type.
    pub content_type: Option<String>,
    /// MQTT 5.0 only: the Will's Payload Format Indicator: `utf8` (the payload is text) or
    /// `bytes`.
    pub payload_format: Option<PayloadFormat>,
    /// MQTT 5.0 only: the Will's Response Topic (a template).
    pub response_topic: Option<Template>,
    /// MQTT 5.0 only: the Will's Correlation Data, as text (a template).
    pub correlation_data: Option<Template>,
}

/// Exponential reconnect backoff.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReconnectSpec {
    /// The first delay.
    pub initial: TimeSpan,
    /// The largest delay.
    pub max: TimeSpan,
    /// The factor the delay grows by after each failed attempt.
    pub multiplier: f64,
    /// Random spread of each delay, as a fraction of it (`20%` means ±20%).
    pub jitter: Ratio,
}

impl Default for ReconnectSpec {
    fn default() -> Self {
        ReconnectSpec {
            initial: TimeSpan::from_secs(1),
            max: TimeSpan::from_secs(60),
            multiplier: 2.0,
            jitter: Ratio::default(),
        }
    }
}

/// When the devices of a group first connect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StartSpec {
    /// When the first device starts.
    pub at: TimeSpan,
    /// Devices start spread evenly over this window after `at`.
    pub stagger: TimeSpan,
}

/// What to drop when the offline queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum QueuePolicy {
    /// Drop the oldest queued message to make room.
    #[default]
    DropOldest,
    /// Drop the new message.
    DropNewest,
}

/// The bounded queue of outgoing messages a device keeps while offline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct QueueSpec {
    /// The most messages kept; 0 keeps none.
    pub capacity: u32,
    /// What to drop when the queue is full.
    pub policy: QueuePolicy,
}

impl Default for QueueSpec {
    fn default() -> Self {
        QueueSpec { capacity: 100, policy: QueuePolicy::DropOldest }
    }
}

/// A stream of messages a device publishes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct PublishSpec {
    /// The topic template.
    pub topic: Template,
    /// The QoS of every message.
    #[serde(default)]
    pub qos: Qos,
    /// Whether the messages are retained.
    #[serde(default)]
    pub retain: bool,
    /// The payload size in bytes.
    #[serde(default = "default_payload_size")]
    pub payload_size: u32,
    /// The period: one message (or one burst) every this long.
    pub every: TimeSpan,
    /// Send bursts of messages instead of single ones.
    pub burst: Option<Burst>,
    /// MQTT 5.0 only: the Message Expiry Interval of every message (whole seconds).
    pub expiry: Option<TimeSpan>,
    /// MQTT 5.0 only: User Properties of every message, in order (names may repeat).
    #[serde(default)]
    pub user_properties: Vec<UserPropertySpec>,
    /// MQTT 5.0 only: the Content Type of every message (a MIME type, say).
    pub content_type: Option<String>,
    /// MQTT 5.0 only: the Payload Format Indicator: `utf8` (the payloads are text) or `bytes`.
    pub payload_format: Option<PayloadFormat>,
    /// MQTT 5.0 only: every message is a request: it carries this Response Topic and, as its
    /// Correlation Data, its own message id.
    pub request: Option<RequestSpec>,
}

/// One User Property of a published message.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPropertySpec {
    /// The name (a template).
    pub key: Template,
    /// The value (a template).
    pub value: Template,
}

/// The Payload Format Indicator of published messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum PayloadFormat {
    /// Payload Format Indicator 0: unspecified bytes.
    Bytes,
    /// Payload Format Indicator 1: UTF-8 text.
    Utf8,
}

impl PayloadFormat {
    /// The indicator's value on the wire.
    pub fn indicator(self) -> u8 {
        match self {
            PayloadFormat::Bytes => 0,
            PayloadFormat::Utf8 => 1,
        }
    }
}

/// The request side of a request/response pattern.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// The Response Topic template: where the answer is wanted. The group must subscribe to a
    /// filter that matches it.
    pub response_topic: Template,
}

/// The responding side of a request/response pattern.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RespondSpec {
    /// The filter the requests come on (a template); the devices subscribe to it.
    pub to: Template,
    /// The QoS of the subscription and of each response.
    #[serde(default)]
    pub qos: Qos,
    /// The size of each response's payload in bytes.
    #[serde(default = "default_payload_size")]
    pub payload_size: u32,
}

fn default_payload_size() -> u32 {
    32
}

/// A burst of messages sent at each period.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    /// Messages per burst.
    pub size: u32,
    /// Time between two messages of a burst.
    pub spacing: TimeSpan,
}

/// A subscription.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeSpec {
    /// The topic filter template; wildcards `+` and `#` are allowed.
    pub filter: Template,
    /// The maximum QoS requested.
    #[serde(default)]
    pub qos: Qos,
    /// MQTT 5.0 only: No Local, the broker must not send the device its own messages on this
    /// subscription [MQTT-3.8.3-3]; not allowed on a shared subscription [MQTT-3.8.3-4].
    #[serde(default)]
    pub no_local: bool,
    /// MQTT 5.0 only: which retained messages the broker sends when the subscription is made.
    pub retain_handling: Option<RetainHandling>,
    /// MQTT 5.0 only: Retain As Published, forwarded messages keep the RETAIN flag they were
    /// published with [MQTT-3.3.1-13]; without it they arrive with RETAIN=0 [MQTT-3.3.1-12].
    #[serde(default)]
    pub retain_as_published: bool,
    /// When the device subscribes: once, or again on every connection.
    #[serde(default)]
    pub resubscribe: Resubscribe,
}

impl SubscribeSpec {
    /// Whether the filter is an MQTT 5.0 shared subscription, `$share/{name}/{filter}`.
    pub fn is_shared(&self) -> bool {
        self.filter.as_str().starts_with("$share/")
    }
}

/// MQTT 5.0 Retain Handling: which retained messages a subscription gets when it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RetainHandling {
    /// Every matching retained message, on every SUBSCRIBE (Retain Handling 0).
    #[default]
    Send,
    /// The matching retained messages only if the subscription did not exist yet (1).
    SendIfNew,
    /// No retained message (2).
    Never,
}

impl RetainHandling {
    /// The value on the wire: 0, 1 or 2.
    pub fn as_u8(self) -> u8 {
        match self {
            RetainHandling::Send => 0,
            RetainHandling::SendIfNew => 1,
            RetainHandling::Never => 2,
        }
    }
}

/// When a device sends its SUBSCRIBE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Resubscribe {
    /// When it starts; the client subscribes again by itself only when the broker did not keep
    /// its session.
    #[default]
    Once,
    /// On every connection, as applications that subscribe in their on-connect callback do:
    /// a session the broker kept gets the same subscription again.
    OnConnect,
}

/// The kinds of fault.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    /// Every packet on the target's link is dropped for `for` (same effect as `partition`).
    Blackout,
    /// The target is cut off from the broker for `for` (same effect as `blackout`).
    Partition,
    /// The target's loss rate becomes `loss` for `for`.
    LossBurst,
    /// The target's link flaps (`mean_down`, `mean_up`) for `for`.
    Flapping,
    /// The device loses power: it goes silent, no packet leaves; it comes back after `for` if set.
    PowerLoss,
    /// The device process crashes: its socket closes without DISCONNECT; it stays down.
    Crash,
    /// The device sends DISCONNECT and closes; it reconnects after `for` if set.
    Disconnect,
    /// The device crashes and comes back after `for`.
    Reboot,
    /// The broker crashes and restarts after `for`.
    BrokerRestart,
}

impl FaultKind {
    /// The kebab-case name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Blackout => "blackout",
            FaultKind::Partition => "partition",
            FaultKind::LossBurst => "loss-burst",
            FaultKind::Flapping => "flapping",
            FaultKind::PowerLoss => "power-loss",
            FaultKind::Crash => "crash",
            FaultKind::Disconnect => "disconnect",
            FaultKind::Reboot => "reboot",
            FaultKind::BrokerRestart => "broker-restart",
        }
    }
}

/// Which way a blackout or partition cuts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Both ways.
    #[default]
    Both,
    /// Only packets towards the broker are dropped.
    ToBroker,
    /// Only packets from the broker are dropped.
    FromBroker,
}

/// One fault on the timeline, or a random mix of faults.
///
/// Exactly one of `kind` and `random` is set. Which other fields apply depends on the kind; the
/// validator rejects the others. Use [`FaultSpec::action`] for a typed view.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FaultSpec {
    /// What happens.
    pub kind: Option<FaultKind>,
    /// A random mix of faults drawn from the seed, instead of `kind`.
    pub random: Option<RandomFaults>,
    /// Who is affected; not used by `broker-restart`.
    pub target: Option<Target>,
    /// Which way a `blackout` or `partition` cuts.
    pub direction: Option<Direction>,
    /// When the fault starts (for `random`: when the window opens). Defaults to `0s`.
    pub at: Option<TimeSpan>,
    /// How long each fault lasts.
    #[serde(rename = "for")]
    pub lasts: Option<TimeSpan>,
    /// Repeat the fault with this period.
    pub every: Option<TimeSpan>,
    /// When repetitions (or the random window) stop; defaults to the end of the scenario.
    pub until: Option<TimeSpan>,
    /// The loss rate during a `loss-burst`.
    pub loss: Option<Ratio>,
    /// The mean down time of a `flapping` link.
    pub mean_down: Option<TimeSpan>,
    /// The mean up time of a `flapping` link.
    pub mean_up: Option<TimeSpan>,
    /// For `broker-restart`: override the broker's `state` for this restart.
    pub state: Option<StateMode>,
    /// For `disconnect`: the DISCONNECT's reason (`normal` by default; `with-will` asks the
    /// broker to publish the Will).
    pub reason: Option<DisconnectReason>,
}

/// Why a device sends DISCONNECT (a `disconnect` fault's `reason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DisconnectReason {
    /// 0x00 Normal disconnection: the broker discards the Will [MQTT-3.14.4-3].
    #[default]
    Normal,
    /// 0x04 Disconnect with Will Message: the broker publishes the Will as if the connection
    /// had dropped (after its Will Delay Interval). MQTT 3.1.1 has no reason codes: a 3.1.1
    /// device closes its connection without DISCONNECT instead, with the same effect.
    WithWill,
}

impl DisconnectReason {
    /// The kebab-case name used in scenario files.
    pub fn name(self) -> &'static str {
        match self {
            DisconnectReason::Normal => "normal",
            DisconnectReason::WithWill => "with-will",
        }
    }
}

/// A random mix of faults.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RandomFaults {
    /// The kinds drawn from, uniformly.
    pub kinds: Vec<FaultKind>,
    /// How often faults happen (`4/h`); exclusive with `mean_interval`.
    pub rate: Option<EventRate>,
    /// The mean time between faults; exclusive with `rate`.
    pub mean_interval: Option<TimeSpan>,
}

impl RandomFaults {
    /// The mean time between two faults.
    pub fn mean_interval(&self) -> std::time::Duration {
        match (self.rate, self.mean_interval) {
            (Some(rate), _) => rate.mean_interval(),
            (None, Some(interval)) => interval.get(),
            (None, None) => {
                unreachable!("validated: a random fault mix has a rate or a mean_interval")
            }
        }
    }
}

/// Who a fault affects: one device, a group (or part of it), or a site (or part of it).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// One device, by client id.
    pub device: Option<String>,
    /// A device group, by name.
    pub group: Option<String>,
    /// A site, by name.
    pub site: Option<String>,
    /// Only this many devices of the group or site, drawn from the seed.
    pub count: Option<u32>,
    /// Only this fraction of the group or site, drawn from the seed.
    pub fraction: Option<Ratio>,
}

/// A typed view of a validated [`FaultSpec`].
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction<'a> {
    /// `blackout` or `partition`.
    Cut {
        /// Who is cut off.
        target: &'a Target,
        /// Which way.
        direction: Direction,
    },
    /// `loss-burst`.
    LossBurst {
        /// Who is affected.
        target: &'a Target,
        /// The loss rate during the burst.
        loss: Ratio,
    },
    /// `flapping`.
    Flapping {
        /// Who is affected.
        target: &'a Target,
        /// The flapping parameters.
        flapping: Flapping,
    },
    /// `power-loss`, `crash`, `disconnect` or `reboot`.
    Device {
        /// Which.
        kind: FaultKind,
        /// Who.
        target: &'a Target,
    },
    /// `broker-restart`.
    BrokerRestart {
        /// Whether state survives this restart.
        state: Option<StateMode>,
    },
    /// A random mix.
    Random {
        /// The mix.
        random: &'a RandomFaults,
        /// Who the faults are drawn among.
        target: Option<&'a Target>,
    },
}

impl FaultSpec {
    /// The typed view of this fault. Call it only on a validated scenario.
    pub fn action(&self) -> FaultAction<'_> {
        const VALIDATED: &str = "validated: this fault kind has the fields it needs";
        if let Some(random) = &self.random {
            return FaultAction::Random { random, target: self.target.as_ref() };
        }
        let kind = self.kind.expect("validated: a fault has `kind` or `random`");
        match kind {
            FaultKind::BrokerRestart => FaultAction::BrokerRestart { state: self.state },
            FaultKind::Blackout | FaultKind::Partition => FaultAction::Cut {
                target: self.target.as_ref().expect(VALIDATED),
                direction: self.direction.unwrap_or_default(),
            },
            FaultKind::LossBurst => FaultAction::LossBurst {
                target: self.target.as_ref().expect(VALIDATED),
                loss: self.loss.expect(VALIDATED),
            },
            FaultKind::Flapping => FaultAction::Flapping {
                target: self.target.as_ref().expect(VALIDATED),
                flapping: Flapping {
                    mean_down: self.mean_down.expect(VALIDATED),
                    mean_up: self.mean_up.expect(VALIDATED),
                },
            },
            FaultKind::PowerLoss | FaultKind::Crash | FaultKind::Disconnect | FaultKind::Reboot => {
                FaultAction::Device { kind, target: self.target.as_ref().expect(VALIDATED) }
            }
        }
    }

    /// The start times of every occurrence of a timeline fault (not of a random mix), given the
    /// scenario's duration.
    pub fn occurrences(&self, scenario_duration: TimeSpan) -> Vec<TimeSpan> {
        let start = self.at.unwrap_or_default().get();
        let Some(every) = self.every else {
            return vec![TimeSpan(start)];
        };
        let until = self.until.unwrap_or(scenario_duration).get();
        let mut out = Vec::new();
        let mut t = start;
        while t < until && !every.get().is_zero() {
            out.push(TimeSpan(t));
            t += every.get();
        }
        out
    }
}

/// What the checker must verify after the run. Every property is optional; unset means "not
/// checked".
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expectations {
    /// The most times one QoS 0 message may be delivered to one subscriber beyond the first.
    pub qos0_max_duplicates: Option<u32>,
    /// Every QoS 1 message is delivered at least once to every matching subscriber.
    pub qos1_at_least_once: Option<bool>,
    /// Every QoS 2 message is delivered exactly once to every matching subscriber.
    pub qos2_exactly_once: Option<bool>,
    /// Messages from one publisher on one topic arrive in order.
    pub ordering: Option<bool>,
    /// Wills are published exactly when the standard says they must be.
    pub wills: Option<bool>,
    /// Retained messages match the last retained publish on each topic.
    pub retained: Option<bool>,
    /// Every device is connected again within a quiet period after the last fault ends.
    pub liveness: Option<Liveness>,
    /// Bounds on the fraction of messages lost, per QoS.
    pub expected_loss: Option<ExpectedLoss>,
    /// MQTT 5.0 shared subscriptions: each message owed to a group reaches one member (QoS 1
    /// and 2 at least one, QoS 2 and 0 at most one), never two without a redistribution.
    pub shared_subscriptions: Option<bool>,
    /// The standard's recommendation (a SHOULD without a statement id): a QoS 1 message of a
    /// member whose session ended goes to another member of the group.
    pub shared_redistribution: Option<bool>,
    /// MQTT 5.0 No Local: a device never gets its own messages on a No Local subscription.
    pub no_local: Option<bool>,
    /// Sessions end and resume as the standard says: no session resumed after it ended (by
    /// its Session Expiry Interval, or a clean session), and no message of an ended session
    /// delivered to the next one.
    pub sessions: Option<bool>,
    /// MQTT 5.0: no message is delivered after its Message Expiry Interval, and the interval
    /// forwarded is reduced by the time the message waited at the broker.
    pub message_expiry: Option<bool>,
    /// MQTT 5.0: the broker never has more unacknowledged QoS 1 and 2 messages towards a
    /// device than the device's Receive Maximum.
    pub receive_maximum: Option<bool>,
    /// MQTT 5.0: the broker never sends a device a packet larger than its Maximum Packet Size.
    pub maximum_packet_size: Option<bool>,
    /// MQTT 5.0: topic aliases resolve to the right topic both ways, and the broker uses none a
    /// device did not allow.
    pub topic_aliases: Option<bool>,
    /// MQTT 5.0: User Properties, Content Type, Payload Format Indicator, Response Topic and
    /// Correlation Data reach every subscriber unchanged and in order.
    pub message_properties: Option<bool>,
    /// MQTT 5.0: every request delivered to a responder is answered on its Response Topic with
    /// its Correlation Data, and the answer reaches the requester.
    pub request_response: Option<bool>,
    /// MQTT 5.0: a forwarded message arrives with RETAIN=0 on a subscription without Retain
    /// As Published, and with the RETAIN flag it was published with on one that has it.
    pub retain_as_published: Option<bool>,
    /// MQTT 5.0: a broker that supports QoS only up to some level announces it as Maximum QoS
    /// in CONNACK, and no device publishes above the Maximum QoS it was told.
    pub maximum_qos: Option<bool>,
}

/// The liveness property.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Liveness {
    /// The time after the last fault by which every device must be connected and delivering.
    pub quiet_period: TimeSpan,
}

/// Bounds on the fraction of (message, subscriber) pairs not delivered, per effective QoS (the
/// lower of the publish QoS and the granted QoS). Every undelivered pair counts, whatever its
/// reason, except the reasons listed in `excluding`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpectedLoss {
    /// For pairs at effective QoS 0.
    pub qos0: Option<Bound>,
    /// For pairs at effective QoS 1.
    pub qos1: Option<Bound>,
    /// For pairs at effective QoS 2.
    pub qos2: Option<Bound>,
    /// Reasons for not delivering that the bounds leave out (neither counted as undelivered
    /// nor as pairs); `lost` cannot be left out.
    #[serde(default)]
    pub excluding: Vec<LossReason>,
}

/// Why a (message, subscriber) pair was not delivered. Each reason belongs to one of three
/// classes ([`LossReason::class`]): an *allowed loss* (gone, for a reason the standard
/// allows), *exempt* (the guarantee did not, or not yet, cover the pair) or *lost* (a
/// violation at QoS 1 and 2).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize, Serialize, JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum LossReason {
    /// At QoS 0, with no other cause in the trace: sent at most once, gone with a connection
    /// or on the link (allowed loss).
    AtMostOnce,
    /// The broker dropped the copy from the subscriber's full queue (allowed loss).
    BrokerQueueFull,
    /// The broker dropped a QoS 0 copy for an offline session, as its policy says (allowed
    /// loss).
    BrokerQos0Offline,
    /// The publisher gave the message up before the broker took it: its queue was full, it was
    /// offline with a policy that drops, or the broker refused it (allowed loss).
    PublisherDropped,
    /// The publisher lost the message with its memory (power loss, crash, reboot) before the
    /// broker took it (allowed loss).
    PublisherLostState,
    /// The subscriber's session ended before delivery: a clean session whose connection ended,
    /// a session the broker no longer had, a volatile broker restart (exempt).
    SessionEnded,
    /// The subscriber's session still held it at the end, with the subscriber not connected
    /// (exempt: it was not back before the end).
    SubscriberAway,
    /// Still in flight when the run ended: the trace shows no chance to deliver it since it
    /// was accepted (exempt).
    InFlightAtEnd,
    /// None of the above: the trace shows the broker had its chance (a violation at QoS 1
    /// and 2).
    Lost,
    /// MQTT 5.0: the subscriber's session expired before delivery: its connection closed and
    /// its Session Expiry Interval ran out (0: at the close) before it came back (exempt).
    SessionExpired,
    /// MQTT 5.0: its Message Expiry Interval ran out before the trace shows the broker had its
    /// chance to deliver it (allowed loss) [MQTT-3.3.2-5].
    Expired,
    /// MQTT 5.0: the broker dropped the copy because it would have exceeded the subscriber's
    /// Maximum Packet Size, as the standard requires [MQTT-3.1.2-25] (allowed loss).
    TooLargeForSubscriber,
}

/// The three classes of [`LossReason`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LossClass {
    /// Gone, for a reason the standard allows.
    AllowedLoss,
    /// The guarantee did not (or not yet) cover the pair.
    Exempt,
    /// Gone with nothing that allows it: a violation at QoS 1 and 2.
    Lost,
}

impl LossReason {
    /// Every reason, in report order.
    pub const ALL: [LossReason; 12] = [
        LossReason::Lost,
        LossReason::AtMostOnce,
        LossReason::BrokerQueueFull,
        LossReason::BrokerQos0Offline,
        LossReason::PublisherDropped,
        LossReason::PublisherLostState,
        LossReason::Expired,
        LossReason::SessionEnded,
        LossReason::SubscriberAway,
        LossReason::InFlightAtEnd,
        LossReason::SessionExpired,
        LossReason::TooLargeForSubscriber,
    ];

    /// The kebab-case name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            LossReason::AtMostOnce => "at-most-once",
            LossReason::BrokerQueueFull => "broker-queue-full",
            LossReason::BrokerQos0Offline => "broker-qos0-offline",
            LossReason::PublisherDropped => "publisher-dropped",
            LossReason::PublisherLostState => "publisher-lost-state",
            LossReason::SessionEnded => "session-ended",
            LossReason::SubscriberAway => "subscriber-away",
            LossReason::InFlightAtEnd => "in-flight-at-end",
            LossReason::Lost => "lost",
            LossReason::SessionExpired => "session-expired",
            LossReason::Expired => "expired",
            LossReason::TooLargeForSubscriber => "too-large-for-subscriber",
        }
    }

    /// The name with its class, `in-flight-at-end (exempt)`; `lost` alone.
    pub fn labelled(self) -> String {
        match self.class() {
            LossClass::Lost => self.name().to_owned(),
            class => format!("{} ({})", self.name(), class.name()),
        }
    }

    /// Whether the pair is an allowed loss, exempt, or lost.
    pub fn class(self) -> LossClass {
        match self {
            LossReason::AtMostOnce
            | LossReason::BrokerQueueFull
            | LossReason::BrokerQos0Offline
            | LossReason::PublisherDropped
            | LossReason::PublisherLostState
            | LossReason::Expired
            | LossReason::TooLargeForSubscriber => LossClass::AllowedLoss,
            LossReason::SessionEnded
            | LossReason::SubscriberAway
            | LossReason::InFlightAtEnd
            | LossReason::SessionExpired => LossClass::Exempt,
            LossReason::Lost => LossClass::Lost,
        }
    }
}

impl std::fmt::Display for LossReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl LossClass {
    /// The name used in reports: `allowed loss`, `exempt`, `lost`.
    pub fn name(self) -> &'static str {
        match self {
            LossClass::AllowedLoss => "allowed loss",
            LossClass::Exempt => "exempt",
            LossClass::Lost => "lost",
        }
    }
}

impl Scenario {
    /// The number of devices in every group together.
    pub fn device_count(&self) -> u64 {
        self.devices.iter().map(|g| u64::from(g.count)).sum()
    }

    /// The site with this name.
    pub fn site(&self, name: &str) -> Option<&Site> {
        self.sites.iter().find(|s| s.name == name)
    }

    /// The group with this name.
    pub fn group(&self, name: &str) -> Option<&DeviceGroup> {
        self.devices.iter().find(|g| g.group == name)
    }

    /// The link a group's devices see: the site's link overridden by the group's.
    pub fn effective_link(&self, group: &DeviceGroup) -> LinkSpec {
        match self.site(&group.site) {
            Some(site) => site.link.overridden_by(&group.link),
            None => group.link.clone(),
        }
    }

    /// Whether broker state survives a given fault's restart.
    pub fn restart_state(&self, fault: &FaultSpec) -> StateMode {
        fault.state.unwrap_or(self.broker.state)
    }
}
