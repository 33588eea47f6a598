//! Sans-IO MQTT device client core: one [`Client`] per simulated device.
//!
//! The client works at the packet level (the model of [`mqttsim_codec::packet`]); a driver moves
//! bytes, time and transport events in and out. It never reads a clock, never spawns, never draws
//! a random number and never reconnects by itself. Same inputs, same outputs.
//!
//! Modules:
//! - [`client`]: the state machine — `handle_*` and application calls in, `poll_*` out.
//! - [`config`]: [`ClientConfig`], [`QueuePolicy`], [`OfflineQos0`] and [`LimitPolicy`].
//! - [`options`]: what a publish, subscribe or disconnect may carry in 5.0
//!   ([`MessageProperties`], [`SubscribeRequest`], [`DisconnectOptions`]) and [`Subscription`].
//! - [`server`]: [`ServerLimits`], what a 5.0 server announced in its CONNACK.
//! - [`event`]: [`Output`], [`Event`], [`State`], [`MessageId`] and the close and drop reasons.
//! - [`error`]: typed errors for API misuse, server protocol violations and bad backoff settings.
//! - [`backoff`]: [`Backoff`], the reconnect delay schedule a driver consults, and
//!   [`advises_backoff`], the server reasons that ask for a longer one.
//!
//! # Policies
//!
//! - **Call order.** After any input, drain [`Client::poll_output`], then [`Client::poll_event`],
//!   then ask [`Client::poll_timeout`]. [`Output::Close`] means the client already considers
//!   itself [`State::Disconnected`]; packets handed in afterwards are ignored. Outputs still
//!   unpolled when the transport is lost, or when a new one comes up, are discarded.
//! - **Keep alive.** When nothing was sent for `keep_alive` seconds the client sends PINGREQ
//!   [MQTT-3.1.2-23]. If PINGRESP does not arrive within `ping_timeout` (default: one keep-alive
//!   period) it emits [`Event::KeepAliveTimeout`] and closes. Only PINGRESP answers a ping; a
//!   PINGRESP without a PINGREQ is a protocol error. A 5.0 Server Keep Alive replaces ours.
//! - **One core, both versions.** [`ClientConfig::protocol`] chooses; every 5.0 feature below is
//!   a field of the same configuration or an option of the same calls, ignored where 3.1.1 has
//!   no place for it. 3.1.1 behaves exactly as it did before 5.0 was added.
//! - **Assigned identifier (5.0).** With an empty client identifier, the server's Assigned Client
//!   Identifier is kept and sent in every later CONNECT, so a persistent session can be resumed.
//! - **CONNECT (5.0)** carries the Session Expiry Interval, Receive Maximum
//!   (`max_inbound_qos2`), Maximum Packet Size, Topic Alias Maximum, Request Response and
//!   Request Problem Information and User Properties of the configuration, and the Will's
//!   properties (Will Delay Interval included: [`MessageProperties::will_properties`]).
//! - **Server limits (5.0).** What CONNACK announces holds for that connection only
//!   ([`Client::limits`]): Receive Maximum is a send quota — at most that many QoS 1 and 2
//!   PUBLISHes await PUBACK, PUBCOMP or a failed PUBREC, also after a reconnect, when in-flight
//!   messages are resent as the quota allows, in order, before anything new. No packet larger
//!   than Maximum Packet Size is sent: such a message is dropped
//!   ([`DropReason::PacketTooLarge`]), a SUBSCRIBE or UNSUBSCRIBE given up and any other packet
//!   skipped ([`Event::PacketTooLarge`]); a DISCONNECT first sheds its Reason String and User
//!   Properties. A QoS above Maximum QoS or a RETAIN without Retain Available is downgraded
//!   ([`Event::Downgraded`]) or refused, per [`LimitPolicy`]. A SUBSCRIBE goes without its
//!   Subscription Identifier if the server has none.
//! - **Topic aliases (5.0).** Towards the server: the first `outbound_topic_aliases` topics
//!   published on a connection (at most the server's Topic Alias Maximum) get aliases 1, 2, ...
//!   and are sent by name once, then by alias; the others always by name. From the server:
//!   aliases up to our Topic Alias Maximum are resolved (the table copies the topic, not the
//!   packet); 0, above it (0x94) or never set up (0x82) is a protocol error. Both tables start
//!   empty on every connection.
//! - **Message properties (5.0).** A message carries the properties of
//!   [`Client::publish_with`], or the configuration's `message_properties` for
//!   [`Client::publish`]. Its Message Expiry Interval counts from the publish call: a message
//!   whose interval runs out while it waits is dropped ([`DropReason::Expired`]); each PUBLISH
//!   carries what is left, and a message once sent is never expired by the client (a resend
//!   carries at least one second) [MQTT-4.3.3-7].
//! - **Session expiry (5.0).** The interval in force is the CONNECT's, the CONNACK's if it
//!   replaced it, or the last DISCONNECT's ([`Client::session_expiry_interval`]); a DISCONNECT
//!   may not raise it from 0. [`Client::expects_session`] says whether the client expected the
//!   server to still hold its session; CONNACK's Session Present decides what happens.
//! - **Back-off advice (5.0).** 0x97 Quota exceeded, 0x89 Server busy and the other reasons of
//!   [`advises_backoff`], in a CONNACK, a DISCONNECT or (0x96, 0x97) a PUBACK or PUBREC, emit
//!   [`Event::BackOff`] and hold [`Client::backoff_advised`] until a connection is accepted: a
//!   driver then lets its reconnect delays keep growing instead of resetting them.
//! - **Connect timeout.** No CONNACK within `connect_timeout` of the transport coming up closes
//!   with [`CloseReason::ConnectTimeout`]. Any packet other than CONNACK first is a protocol error.
//! - **Outgoing QoS 1 and 2.** At most `max_inflight` messages (lowered by a 5.0 Receive
//!   Maximum) hold packet identifiers; the rest wait in publish order. Identifiers are never 0 and
//!   unique among in-flight PUBLISHes and pending SUBSCRIBE/UNSUBSCRIBEs; they are handed out in
//!   rising order, wrapping, skipping those in use. There is no resend while connected.
//! - **QoS 0** is sent at once when connected and nothing waits ahead of it; it never takes a
//!   window slot. While offline it is dropped ([`DropReason::Offline`]) or queued, per
//!   [`OfflineQos0`].
//! - **Waiting queue.** Messages published offline or behind a full window wait in order, at most
//!   `max_queued` of them; on overflow [`QueuePolicy`] drops the oldest or the newest, reported as
//!   [`Event::Dropped`]. On connect the queue drains in order through the window.
//! - **Session present.** After CONNACK with session present, unacknowledged PUBLISHes are resent
//!   with DUP=1 and PUBRELs for PUBREC'd messages, all in original order and with their original
//!   identifiers [MQTT-4.4.0-1]; inbound QoS 2 state is kept.
//! - **Session lost** (session present 0, which includes every clean session): messages still
//!   awaiting PUBACK or PUBREC are sent again as new PUBLISHes without DUP, because the application
//!   still wants them delivered; messages awaiting PUBCOMP count as complete, since the server took
//!   ownership when it sent PUBREC. [`Event::SessionLost`] lists both. Inbound QoS 2 state is
//!   forgotten, and the subscriptions the server had granted are requested again in one SUBSCRIBE
//!   before any request still pending.
//! - **Inbound QoS.** QoS 1 is answered with PUBACK. A QoS 2 message is handed to the application
//!   ([`Event::Received`]) when its PUBLISH first arrives; its identifier is then held until PUBREL,
//!   so a resent PUBLISH with that identifier is answered with PUBREC but not delivered again.
//!   PUBREL is answered with PUBCOMP, also for an unknown identifier (our earlier PUBCOMP may have
//!   been lost; 5.0 adds the reason Packet Identifier Not Found), whatever the PUBREL's own code.
//!   More than `max_inbound_qos2` held identifiers is a protocol error; 5.0 announces the limit as
//!   Receive Maximum and disconnects with 0x93 (QoS 1 is acknowledged at once, so only QoS 2
//!   identifiers are ever unacknowledged).
//! - **Requests.** SUBSCRIBE and UNSUBSCRIBE asked for offline are sent after connecting, in order;
//!   unacknowledged ones are sent again on every new connection. At most `max_pending_requests`
//!   wait at a time.
//! - **Reason codes (5.0).** PUBACK or PUBREC with a failure code ends the message with
//!   [`DropReason::Rejected`] and it is never sent again [MQTT-4.4.0-2]; a success code (0x10 No
//!   matching subscribers) completes it, [`Event::Acked`] carrying the code; PUBCOMP completes it
//!   whatever its code, as PUBREC already did. SUBACK and UNSUBACK codes are reported per filter;
//!   a refused filter is not kept as a subscription. A server DISCONNECT closes with its reason
//!   ([`CloseReason::ServerDisconnect`]); a Server Reference is kept in [`Client::limits`]. After
//!   Request Problem Information 0, a Reason String or User Property on an acknowledgement is a
//!   protocol error [MQTT-3.1.2-29].
//! - **DISCONNECT.** [`Client::disconnect_with`] sends a reason (0x04 asks for the Will), a new
//!   Session Expiry Interval, a Reason String and User Properties; in 3.1.1 a reason other than
//!   0x00 closes without DISCONNECT, which makes the server publish the Will there too.
//! - **Protocol errors.** Any server packet that does not fit (an acknowledgement for an unknown
//!   identifier or of the wrong kind, a second CONNACK, a SUBACK with the wrong count, a packet
//!   only clients send, ...) closes the connection with [`CloseReason::Protocol`]; 5.0 first sends
//!   DISCONNECT with Protocol Error. Nothing a server sends can make the client panic.
//! - **Memory.** Per client: the configuration, the in-flight window, the waiting queue (bounded by
//!   `max_queued`), the held inbound QoS 2 identifiers (bounded by `max_inbound_qos2`), the granted
//!   subscriptions and the pending requests (bounded), and in 5.0 the CONNACK's limits and the two
//!   alias tables (bounded by the two Topic Alias Maximums), boxed per connection. Empty queues
//!   allocate nothing; payloads are shared [`bytes::Bytes`]; a message's 5.0 properties are boxed
//!   beside it only when it has some; pending outputs are kept compact and become packets when
//!   polled. The `fleet` example (`cargo run --release -p mqttsim-client --example fleet`) measures
//!   about 1.8 KB of resident memory per connected 3.1.1 device with QoS 1 and 2 traffic.
//! - **Reconnection** is the driver's: it waits [`Backoff::next_delay`] and calls
//!   [`Client::handle_transport_up`]; the session the client keeps makes the reconnect seamless.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//! use mqttsim_client::{Client, ClientConfig, Event, Output, State};
//! use mqttsim_codec::{Ack, ConnAck, Packet, Properties, QoS, ReasonCode};
//!
//! let mut client = Client::new(ClientConfig::new("sensor-1"));
//! let now = Duration::ZERO;
//! // Published while offline: it waits for the connection.
//! let id = client.publish(now, "t/temp".into(), "21.5".into(), QoS::AtLeastOnce, false).unwrap();
//! client.handle_transport_up(now);
//! assert!(matches!(client.poll_output(), Some(Output::Send(Packet::Connect(_)))));
//! let connack = ConnAck {
//!     session_present: false,
//!     reason_code: ReasonCode::SUCCESS,
//!     properties: Properties::new(),
//! };
//! client.handle_packet(now, Packet::ConnAck(connack));
//! assert_eq!(client.state(), State::Connected);
//! let Some(Output::Send(Packet::Publish(publish))) = client.poll_output() else { panic!() };
//! client.handle_packet(now, Packet::PubAck(Ack::new(publish.packet_id)));
//! let events: Vec<Event> = std::iter::from_fn(|| client.poll_event()).collect();
//! let acked = Event::Acked {
//!     id,
//!     packet_id: publish.packet_id,
//!     qos: QoS::AtLeastOnce,
//!     reason: ReasonCode::SUCCESS,
//! };
//! assert!(events.contains(&acked));
//! // Keep alive is 60 s by default: the next deadline is the PINGREQ.
//! assert_eq!(client.poll_timeout(), Some(Duration::from_secs(60)));
//! ```

pub mod backoff;
pub mod client;
pub mod config;
pub mod error;
pub mod event;
pub mod options;
pub mod server;

pub use backoff::{Backoff, advises_backoff};
pub use client::Client;
pub use config::{ClientConfig, LimitPolicy, OfflineQos0, QueuePolicy};
pub use error::{BackoffError, DisconnectError, ProtocolViolation, PublishError, RequestError};
pub use event::{CloseReason, DropReason, Event, MessageId, Output, State};
pub use options::{DisconnectOptions, MessageProperties, SubscribeRequest, Subscription};
pub use server::ServerLimits;
