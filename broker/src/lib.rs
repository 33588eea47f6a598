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
//! - `properties`: MQTT 5.0 properties as the broker reads and writes them.
//! - `shared`: MQTT 5.0 shared subscription groups and the choice of a member.
//! - `timers`: keyed deadlines (session expiry, delayed Wills).
//! - `tree`: the topic-level tree both are built on; every operation on it is a loop, so a topic
//!   of 65,536 levels cannot overflow the stack.
//!
//! Scope: MQTT 3.1.1 and 5.0 on one broker, the protocol kept per connection. A 5.0 feature is
//! a branch in the same flow (CONNECT, PUBLISH, SUBSCRIBE, close), never a second copy of it;
//! a 3.1.1 connection behaves exactly as before 5.0 existed, and a message crosses between the
//! versions (a 3.1.1 subscriber gets a 5.0 message without its properties).
//!
//! MQTT 5.0 policies:
//! - **CONNACK** announces only what differs from a client's defaults: Receive Maximum
//!   (`max_inbound_qos2`), Maximum Packet Size (`max_packet_size`), Topic Alias Maximum,
//!   Maximum QoS and Retain Available when limited, the availability flags when off, a cut
//!   Session Expiry Interval, Server Keep Alive, Assigned Client Identifier, and Response
//!   Information only when asked and configured. No extended authentication method is
//!   supported: a CONNECT with one gets 0x8C.
//! - **Session expiry.** A session outlives its connection by its Session Expiry Interval
//!   (0 when absent; 3.1.1 persistent sessions never expire), then an [`Event::SessionExpired`]
//!   and it is gone. Times are on the driver's clock. Across a durable restart (a driver keeps
//!   one clock, as the simulator does) an offline session expires when it would have anyway;
//!   one that was connected when the broker stopped counts as disconnected at the restart, so
//!   no session is discarded before its interval has run while it was reachable.
//! - **Message expiry.** A message that expired before it could be sent is dropped
//!   ([`DropReason::Expired`]), retained ones included; a forwarded Message Expiry Interval is
//!   the time left, rounded up to a whole second. Once sent, a message is resent on reconnect
//!   even if it expired since (delivery had started).
//! - **Topic aliases.** Inbound aliases up to `topic_alias_maximum` are honoured per
//!   connection; the broker never sends aliases (it may not need to, and a subscriber's
//!   Topic Alias Maximum is then irrelevant). An alias above the maximum gets DISCONNECT 0x94,
//!   an unknown one 0x82.
//! - **Flow control.** Towards a client, at most min(`max_inflight`, its Receive Maximum) QoS 1
//!   and 2 PUBLISH packets are unacknowledged; after a reconnect the resent ones queue behind
//!   that window too. A client with more QoS 2 PUBLISH packets awaiting PUBREL than the
//!   broker's Receive Maximum gets DISCONNECT 0x93. A PUBLISH larger than the client's Maximum
//!   Packet Size is dropped as if sent ([`DropReason::PacketTooLarge`]); Reason Strings go
//!   only where they fit and where Request Problem Information allows.
//! - **Shared subscriptions** (`$share/{group}/{filter}`, 5.0 only): each message goes to one
//!   member, the next online member in turn (round-robin in joining order), or, when no member
//!   is online, the next member in turn, whose session queues it. No retained messages are sent
//!   to a shared subscription. Redistribution: when a member's connection ends and its session
//!   lives on, its queued messages of the group go to an online member (its in-flight ones wait
//!   for its return, to be resent as the standard asks); when its session ends, its queued and
//!   its QoS 1 in-flight messages of the group go to the other members, and a QoS 2 message in
//!   flight goes to no one ([`DropReason::SharedSessionEnded`], [MQTT-4.8.2-5]); when it
//!   unsubscribes, its queued messages of the group go to the others and those in flight are
//!   completed. A message moved keeps at most its QoS, capped by the new member's.
//! - **Wills.** A Will waits for its Will Delay Interval after the connection ends, and is
//!   dropped if the client connects again first; it is published at the latest when the
//!   session ends. DISCONNECT 0x04 (or any code but 0x00) publishes it. Its properties travel
//!   with it, but not the delay. Delayed Wills, like connections, are not stored.
//! - **Reason codes** sent to 5.0 clients are also [`Event::ReasonCodeSent`] events, for logs:
//!   PUBACK and PUBREC 0x10 (no subscription matched), 0x87 (refused by
//!   [`Authorizer`]) and 0x97 (a new retained topic beyond
//!   `max_retained_messages`); SUBACK codes per filter (0x87, 0x97 beyond
//!   `max_subscriptions_per_session`, 0x9E, 0xA1, 0xA2); UNSUBACK 0x11; DISCONNECT 0x8E
//!   (taken over), 0x8D (keepalive), 0x93, 0x94, 0x95, 0x81 and 0x82 (with a Reason String
//!   naming the statement), 0x8B ([`Broker::handle_shutdown`]).
//!
//! Documented policies (both versions):
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
mod properties;
mod shared;
mod small_map;
pub mod store;
mod timers;
mod tree;

pub use acl::{AclFile, AclFileError, AllowAllTopics, Authorizer, Identity, Refusal};
pub use auth::{
    AllowAll, AuthDecision, Authenticator, PasswordFile, PasswordFileError, PasswordFileErrorKind,
};
pub use broker::Broker;
pub use config::{BrokerConfig, OverflowPolicy, PlantedBug, UnknownBug};
pub use event::{ConnId, DisconnectReason, DropReason, Event, Limit, Output};
pub use store::{
    Inflight, InflightState, MemoryStore, Message, MessageQueue, NEVER_EXPIRES, QueuedBytes,
    Session, Store, StoreState, SubscriptionExtras,
};
