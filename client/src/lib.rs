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
//! - **Assigned identifier (5.0).** With an empty client identifier, the server's Assigned Client
//!   Identifier is kept and sent in every later CONNECT, so a persistent session can be resumed.
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
//!   been lost; 5.0 adds the reason Packet Identifier Not Found). More than `max_inbound_qos2`
//!   held identifiers is a protocol error; 5.0 announces the limit as Receive Maximum.
//! - **Requests.** SUBSCRIBE and UNSUBSCRIBE asked for offline are sent after connecting, in order;
//!   unacknowledged ones are sent again on every new connection. At most `max_pending_requests`
//!   wait at a time.
//! - **Acknowledgement codes (5.0).** PUBACK or PUBREC with a failure code ends the message with
//!   [`DropReason::Rejected`]; PUBCOMP completes it whatever its code, as PUBREC already did.
//! - **Protocol errors.** Any server packet that does not fit (an acknowledgement for an unknown
//!   identifier or of the wrong kind, a second CONNACK, a SUBACK with the wrong count, a packet
//!   only clients send, ...) closes the connection with [`CloseReason::Protocol`]; 5.0 first sends
//!   DISCONNECT with Protocol Error. Nothing a server sends can make the client panic.
//! - **Memory.** Per client: the configuration, the in-flight window, the waiting queue (bounded by
//!   `max_queued`), the held inbound QoS 2 identifiers (bounded by `max_inbound_qos2`), the granted
//!   subscriptions and the pending requests (bounded). Empty queues allocate nothing; payloads are
//!   shared [`bytes::Bytes`]; pending outputs are kept compact and become packets when polled.
//!   The `fleet` example (`cargo run --release -p mqttsim-client --example fleet`) measures about
//!   1.7 KB of resident memory per connected device with QoS 1 and 2 traffic.
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
