//! Sans-IO MQTT broker core: packets and `now` in; packets, closes, events and deadlines out.
//!
//! The core never reads a clock, opens a socket, spawns a thread or draws a random number. A
//! driver feeds it decoded [`Packet`](mqttsim_codec::Packet)s and connection events through the
//! `handle_*` methods of [`Broker`], always with the current time as a [`std::time::Duration`]
//! since its epoch, and drains [`Broker::poll_output`], [`Broker::poll_event`] and
//! [`Broker::poll_timeout`]. Every collection whose order can reach an output is ordered
//! (`BTreeMap`, `IndexMap`, `VecDeque`), so the same inputs give the same outputs.
//!
//! ```
//! use std::time::Duration;
//! use mqttsim_broker::{Broker, BrokerConfig, MemoryStore, Output};
//! use mqttsim_codec::{Connect, Packet, Properties, Protocol, ReasonCode};
//!
//! let mut broker = Broker::new(BrokerConfig::default(), Box::new(MemoryStore::volatile()));
//! let now = Duration::ZERO;
//! let conn = broker.handle_connection_opened(now);
//! let connect = Connect {
//!     protocol: Protocol::V311,
//!     clean_start: true,
//!     keep_alive: 30,
//!     client_id: "sensor-1".into(),
//!     will: None,
//!     username: None,
//!     password: None,
//!     properties: Properties::new(),
//! };
//! broker.handle_packet(conn, now, Packet::Connect(connect));
//! match broker.poll_output() {
//!     Some(Output::Send { packet: Packet::ConnAck(ack), .. }) => {
//!         assert_eq!(ack.reason_code, ReasonCode::SUCCESS)
//!     }
//!     other => panic!("expected CONNACK, got {other:?}"),
//! }
//! // Silence for 1.5 × 30 s closes the connection.
//! assert_eq!(broker.poll_timeout(), Some(Duration::from_secs(45)));
//! broker.handle_timeout(Duration::from_secs(45));
//! assert!(matches!(broker.poll_output(), Some(Output::Close { .. })));
//! ```
//!
//! Modules:
//! - `broker`: the [`Broker`] state machine (CONNECT, PUBLISH flows, SUBSCRIBE, keepalive, Will).
//! - [`config`]: [`BrokerConfig`] limits and policies, and the [`PlantedBug`]s.
//! - [`acl`]: topic authorisation: the [`Authorizer`] trait, [`AllowAllTopics`] and [`AclFile`].
//! - [`auth`]: the [`Authenticator`] trait, [`AllowAll`] and [`PasswordFile`].
//! - [`event`]: [`ConnId`], [`Output`], [`Event`] and the reasons they carry.
//! - [`store`]: the [`Store`] trait, [`MemoryStore`], sessions and retained messages.
//! - `index`: the topic-level subscription tree used to route a PUBLISH.
//! - `small_map`: the compact ordered map the topic trees are made of.
//! - `tree`: the topic-level tree both are built on; every operation on it is a loop, so a topic
//!   of 65,536 levels cannot overflow the stack.
//!
//! Scope: MQTT 3.1.1. A 5.0 CONNECT is refused with CONNACK 0x84 (unsupported protocol
//! version) for now; the protocol is kept per connection and the packet model already carries
//! 5.0 reason codes and options, so 5.0 semantics are additions to this core, not a copy.
//!
//! Documented policies:
//! - **Offline queue.** Each session queues at most `max_queued_messages` messages (offline, or
//!   beyond the in-flight window). On overflow the arriving message is dropped
//!   ([`OverflowPolicy::DropNewest`], the default) or the oldest queued one is
//!   ([`OverflowPolicy::DropOldest`]); either way an [`Event::MessageDropped`] with
//!   [`DropReason::QueueFull`] is emitted.
//! - **QoS 0 while offline.** Dropped by default, with [`DropReason::QoS0Offline`] (the standard
//!   allows it); `queue_qos0_offline` queues them like QoS 1 and 2 messages instead.
//! - **Overlapping subscriptions.** A message matching several filters of one session is
//!   delivered once, at the highest QoS among the matches (allowed by 3.1.1 [MQTT-3.3.5-1],
//!   required by 5.0 for non-shared subscriptions), capped by the publish QoS.
//!   Retained messages are sent per filter subscribed [MQTT-3.3.1-6], so two overlapping
//!   filters in one SUBSCRIBE each get their copy.
//! - **Ordering.** Each session sends in the order messages were routed to it; QoS 0 messages
//!   queue behind waiting QoS 1 and 2 ones rather than overtaking them [MQTT-4.6.0-6].
//! - **In-flight window.** At most `max_inflight` (at least 1) outgoing QoS 1 and 2 messages per
//!   session are unacknowledged; unacknowledged ones are resent with DUP=1 only when a
//!   persistent session reconnects [MQTT-4.4.0-1], never on a live connection.
//! - **Client identifier generation.** A zero-length identifier with Clean Session = 1 gets
//!   `generated_id_prefix` followed by a counter, skipping any identifier that has a session or
//!   a connection; the counter is not stored, which is safe because clean sessions do not
//!   survive a restart.
//! - **Limits.** The filters of a SUBSCRIBE beyond `max_subscriptions_per_session` are refused
//!   in SUBACK (0x80) and the connection stays [MQTT-3.8.4-1] [MQTT-3.8.4-5]; exceeding
//!   `max_inbound_qos2` closes that connection with [`DisconnectReason::LimitExceeded`] (firing
//!   its Will). A session's queue is bounded by `max_queued_messages` and `max_queued_bytes`,
//!   all queues together by `max_queued_bytes_total` (an arriving message that finds the broker
//!   over it costs its session one message, by the overflow policy). A retained message for a
//!   new topic beyond `max_retained_messages`, or beyond `max_retained_bytes` in all, is
//!   forwarded but not retained. In-flight messages are bounded by `max_inflight` per session
//!   and are not counted in the queue bytes.
//! - **Topic authorisation.** The [`Authorizer`] is asked before a PUBLISH is routed (refused:
//!   acknowledged at its QoS, not delivered [MQTT-3.3.5-2], [`Event::PublishRefused`]), for each
//!   filter of a SUBSCRIBE (refused: 0x80), before each delivery (refused:
//!   [`DropReason::NotAuthorized`]), and for a Will topic at CONNECT (refused: CONNACK 0x05).
//! - **Stored payloads are the core's own.** The core keeps the `Bytes` it is given; a driver
//!   that decodes from a large read buffer gives it payloads copied out of that buffer, so a
//!   retained or queued message never keeps a read buffer alive (`mqttsim-net` does).
//! - **3.1.1 and `$share/`.** 3.1.1 has no shared subscriptions: `$share/g/t` is an ordinary
//!   filter, and one the codec's shared-filter rules reject (such as `$share/g`) gets 0x80.
//! - **Queues towards the driver.** Outputs and events accumulate until polled; a driver drains
//!   both after every `handle_*` call.
//! - **Crash.** Connections and Wills are not stored, and connection ids start again from 0.
//!   After a restart, persistent sessions and retained messages are what the [`Store`] kept,
//!   and clean sessions are gone.

pub mod acl;
pub mod auth;
mod broker;
pub mod config;
pub mod event;
mod index;
mod small_map;
pub mod store;
mod tree;

pub use acl::{AclFile, AclFileError, AllowAllTopics, Authorizer, Identity, Refusal};
pub use auth::{
    AllowAll, AuthDecision, Authenticator, PasswordFile, PasswordFileError, PasswordFileErrorKind,
};
pub use broker::Broker;
pub use config::{BrokerConfig, OverflowPolicy, PlantedBug, UnknownBug};
pub use event::{ConnId, DisconnectReason, DropReason, Event, Limit, Output};
pub use store::{
    Inflight, InflightState, MemoryStore, Message, MessageQueue, QueuedBytes, Session, Store,
    StoreState,
};
