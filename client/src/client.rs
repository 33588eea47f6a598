//! The client state machine: one device's MQTT connection, session and queues.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_codec::topic::{SharedFilter, validate_filter, validate_name};
use mqttsim_codec::{
    Ack, ConnAck, Connect, DecodeError, Disconnect, Packet, PacketType, Properties, Property,
    Protocol, Publish, QoS, ReasonCode, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions,
    UnsubAck, Unsubscribe, encoded_len,
};

use crate::backoff::advises_backoff;
use crate::config::{ClientConfig, LimitPolicy, OfflineQos0, QueuePolicy};
use crate::error::{DisconnectError, ProtocolViolation, PublishError, RequestError};
use crate::event::{CloseReason, DropReason, Event, MessageId, Output, State};
use crate::options::{DisconnectOptions, MessageProperties, SubscribeRequest, Subscription};
use crate::server::ServerLimits;

/// The largest remaining length an MQTT packet can declare.
const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// The largest Subscription Identifier (a variable byte integer).
const MAX_SUBSCRIPTION_IDENTIFIER: u32 = 268_435_455;

/// A 5.0 Message Expiry Interval and when the application published the message.
#[derive(Debug, Clone, Copy)]
struct Expiry {
    published: Duration,
    interval: u32,
}

impl Expiry {
    /// What is left of the interval at `now`, in whole seconds; `None` once it has run out.
    fn remaining(self, now: Duration) -> Option<u32> {
        let waited = now.saturating_sub(self.published).as_secs();
        let left = u64::from(self.interval).checked_sub(waited)?;
        u32::try_from(left).ok().filter(|&left| left > 0)
    }
}

/// One application message, as given to [`Client::publish`].
#[derive(Debug, Clone)]
struct Message {
    id: MessageId,
    topic: ByteString,
    payload: Bytes,
    qos: QoS,
    retain: bool,
    /// 5.0 only; boxed so that a message without properties stays small.
    extra: Option<Box<Extra>>,
}

/// The 5.0 parts of a message.
#[derive(Debug, Clone)]
struct Extra {
    /// Properties other than the Message Expiry Interval and the Topic Alias, which are worked
    /// out at each send.
    properties: Properties,
    expiry: Option<Expiry>,
}

impl Message {
    fn expiry(&self) -> Option<Expiry> {
        self.extra.as_ref().and_then(|extra| extra.expiry)
    }
}

/// Where an outgoing QoS 1 or 2 message stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// PUBLISH sent; PUBACK (QoS 1) or PUBREC (QoS 2) awaited.
    Sent,
    /// QoS 2 only: PUBREL sent, PUBCOMP awaited.
    Released,
}

/// A QoS 1 or 2 message that holds a packet identifier.
#[derive(Debug, Clone)]
struct InFlight {
    message: Message,
    packet_id: u16,
    stage: Stage,
    /// A PUBLISH of it went to the server's current session, so the next one carries DUP.
    sent: bool,
    /// Its PUBLISH went out on this connection and counts against the server's Receive
    /// Maximum until PUBACK, PUBCOMP or a failed PUBREC [MQTT-4.9.0-2].
    quota: bool,
}

impl InFlight {
    /// Waiting, after a reconnect, for quota to send its PUBLISH again.
    fn held(&self) -> bool {
        self.stage == Stage::Sent && !self.quota
    }
}

/// A SUBSCRIBE or UNSUBSCRIBE the application asked for.
#[derive(Debug, Clone)]
enum RequestKind {
    Subscribe(SubscribeRequest),
    Unsubscribe(Vec<String>),
}

/// A request not yet acknowledged; `packet_id` is set while it is on the current connection.
#[derive(Debug, Clone)]
struct Request {
    packet_id: Option<u16>,
    kind: RequestKind,
}

/// An output not yet polled. It is about half the size of an [`Output`]: a CONNECT is built from
/// the configuration only when polled, and acknowledgements carry just their identifier.
/// PUBLISH, SUBSCRIBE and UNSUBSCRIBE were measured against the server's Maximum Packet Size
/// when they were queued; the others are measured when polled.
#[derive(Debug, Clone)]
enum Pending {
    Connect,
    Publish(Publish),
    PubAck(u16),
    PubRec(u16),
    PubRel(u16),
    PubComp(u16, ReasonCode),
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    PingReq,
    Disconnect(Disconnect),
    Close,
}

/// What a 5.0 connection holds beyond 3.1.1: the server's CONNACK and the topic aliases.
#[derive(Debug, Default)]
struct V5Link {
    limits: ServerLimits,
    /// Topic aliases the client set up towards the server.
    outbound_aliases: BTreeMap<ByteString, u16>,
    /// Topic aliases the server set up, with copies of their topics (not of their packets).
    inbound_aliases: BTreeMap<u16, ByteString>,
}

/// The limits of a connection without a 5.0 CONNACK.
static NO_LIMITS: ServerLimits = ServerLimits::NONE;

/// A sans-IO MQTT client for one device.
///
/// Inputs are the `handle_*` methods and the application calls [`Client::publish`],
/// [`Client::subscribe`], [`Client::unsubscribe`] and [`Client::disconnect`] (and their 5.0
/// `_with` forms), each given `now`, the time since the driver's epoch. After any input the
/// driver drains [`Client::poll_output`] (packets to write, or a close), then
/// [`Client::poll_event`], and asks [`Client::poll_timeout`] when to call
/// [`Client::handle_timeout`]. The client never reads a clock, never reconnects by itself (see
/// [`crate::Backoff`]) and never panics on server input.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    state: State,
    /// Outputs not yet polled, kept compact; see [`Pending`].
    outputs: VecDeque<Pending>,
    events: VecDeque<Event>,
    /// The next [`MessageId`] to hand out.
    next_message_id: u64,
    /// The last packet identifier handed out; the next one follows it.
    last_packet_id: u16,
    /// QoS 1 and 2 messages sent and not complete, in the order they were first sent.
    inflight: VecDeque<InFlight>,
    /// Messages waiting for the connection or for room in the window, in publish order.
    waiting: VecDeque<Message>,
    /// Inbound QoS 2 packet identifiers between PUBREC and PUBREL, sorted.
    inbound_qos2: Vec<u16>,
    /// Subscriptions the server acknowledged, in the order first granted.
    subscriptions: Vec<Subscription>,
    /// Requests not yet acknowledged, in the order asked.
    requests: VecDeque<Request>,
    /// The identifier a 5.0 server assigned when ours was empty, used on later connections.
    assigned_client_id: Option<String>,
    /// The 5.0 Session Expiry Interval in force: the CONNECT's, the CONNACK's, or the last
    /// DISCONNECT's.
    session_expiry: u32,
    /// The reason the server last gave to back off, until a connection is accepted.
    backoff_advised: Option<ReasonCode>,
    /// When the last accepted connection ended, with the Session Expiry Interval then in force.
    ended: Option<(Duration, u32)>,
    /// Whether this connection's CONNECT expected the server to hold a session for us.
    expects_session: bool,
    /// The 5.0 state of this connection (none for 3.1.1, or before CONNACK); boxed so that a
    /// 3.1.1 client stays small.
    link: Option<Box<V5Link>>,
    /// The Session Expiry Interval this connection's CONNECT carried (5.0).
    connect_expiry: u32,
    /// How many in-flight PUBLISHes count against the server's Receive Maximum.
    quota_used: usize,
    /// How many in-flight messages wait for quota to be sent again after a reconnect.
    held: usize,
    /// The keep alive in force on this connection, in seconds.
    keep_alive: u16,
    /// When the last packet was sent.
    last_sent: Duration,
    /// When the outstanding PINGREQ was sent.
    ping_sent_at: Option<Duration>,
    /// When CONNACK must have arrived.
    connect_deadline: Option<Duration>,
}

impl Client {
    /// A disconnected client; nothing happens until [`Client::handle_transport_up`].
    pub fn new(config: ClientConfig) -> Client {
        let keep_alive = config.keep_alive;
        let session_expiry = config.session_expiry_interval;
        Client {
            config,
            state: State::Disconnected,
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            next_message_id: 1,
            last_packet_id: 0,
            inflight: VecDeque::new(),
            waiting: VecDeque::new(),
            inbound_qos2: Vec::new(),
            subscriptions: Vec::new(),
            requests: VecDeque::new(),
            assigned_client_id: None,
            session_expiry,
            backoff_advised: None,
            ended: None,
            expects_session: false,
            link: None,
            connect_expiry: session_expiry,
            quota_used: 0,
            held: 0,
            keep_alive,
            last_sent: Duration::ZERO,
            ping_sent_at: None,
            connect_deadline: None,
        }
    }

    // ----- getters -----

    /// The configuration the client was built with.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The connection state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The number of QoS 1 and 2 messages holding a packet identifier.
    pub fn inflight_len(&self) -> usize {
        self.inflight.len()
    }

    /// The packet identifiers of the messages in flight, in the order they were first sent.
    pub fn inflight_packet_ids(&self) -> impl Iterator<Item = u16> + '_ {
        self.inflight.iter().map(|f| f.packet_id)
    }

    /// The number of messages waiting to be sent.
    pub fn queued_len(&self) -> usize {
        self.waiting.len()
    }

    /// The number of inbound QoS 2 messages awaiting PUBREL.
    pub fn inbound_qos2_len(&self) -> usize {
        self.inbound_qos2.len()
    }

    /// The subscriptions the server granted, as asked for, in the order first granted.
    pub fn subscriptions(&self) -> &[Subscription] {
        &self.subscriptions
    }

    /// The most QoS 1 and 2 PUBLISHes this connection may have unacknowledged: `max_inflight`,
    /// lowered by a 5.0 server's Receive Maximum.
    pub fn window(&self) -> usize {
        usize::from(self.config.max_inflight.max(1).min(self.limits().receive_maximum.max(1)))
    }

    /// How many PUBLISHes sent on this connection count against the server's Receive Maximum.
    pub fn quota_used(&self) -> usize {
        self.quota_used
    }

    /// What the 5.0 server announced in the CONNACK of this (or the last) connection.
    pub fn limits(&self) -> &ServerLimits {
        self.link.as_deref().map_or(&NO_LIMITS, |link| &link.limits)
    }

    /// The 5.0 Session Expiry Interval in force: the one CONNECT sent, unless CONNACK replaced
    /// it or a DISCONNECT changed it.
    pub fn session_expiry_interval(&self) -> u32 {
        self.session_expiry
    }

    /// The reason the server gave to back off (a CONNACK, DISCONNECT, PUBACK or PUBREC code
    /// for which [`advises_backoff`] holds), until a later CONNACK accepts a connection. A
    /// driver keeps its reconnect delays growing while it is set.
    pub fn backoff_advised(&self) -> Option<ReasonCode> {
        self.backoff_advised
    }

    /// Whether, when this connection's CONNECT went out, the client expected the server to
    /// still hold its session: Clean Start 0, a connection accepted before, and (5.0) the
    /// Session Expiry Interval in force when it ended not yet run out (3.1.1 sessions never
    /// expire). Session Present 0 despite it means the server lost a session it should have
    /// kept (or another client took the identifier); Session Present 1 without it is legitimate,
    /// as a server ends a session only once it notices the connection is gone.
    ///
    /// The client never discards its own state by this reckoning: CONNACK's Session Present
    /// decides whether messages are resent with DUP or start over [MQTT-3.2.2-5].
    pub fn expects_session(&self) -> bool {
        self.expects_session
    }

    /// The largest packet the driver should accept from the server: the Maximum Packet Size
    /// this 5.0 client announces; `None` when it announces none (the driver's cap applies).
    pub fn max_incoming_packet_size(&self) -> Option<usize> {
        match self.config.protocol {
            Protocol::V311 | Protocol::V31 => None,
            Protocol::V5 => self.config.maximum_packet_size.map(|max| max.max(1) as usize),
        }
    }

    // ----- outputs -----

    /// The next thing the driver must do, in order.
    ///
    /// A packet larger than the 5.0 server's Maximum Packet Size is never returned: a
    /// DISCONNECT first loses its Reason String and User Properties [MQTT-3.14.2-3,
    /// MQTT-3.14.2-4]; anything else is skipped and reported as [`Event::PacketTooLarge`].
    pub fn poll_output(&mut self) -> Option<Output> {
        let ack =
            |packet_id, reason_code| Ack { packet_id, reason_code, properties: Properties::new() };
        loop {
            let packet = match self.outputs.pop_front()? {
                Pending::Close => return Some(Output::Close),
                Pending::Connect => Packet::Connect(self.build_connect()),
                // Measured when queued.
                Pending::Publish(publish) => return Some(Output::Send(Packet::Publish(publish))),
                Pending::Subscribe(subscribe) => {
                    return Some(Output::Send(Packet::Subscribe(subscribe)));
                }
                Pending::Unsubscribe(unsubscribe) => {
                    return Some(Output::Send(Packet::Unsubscribe(unsubscribe)));
                }
                Pending::PubAck(id) => Packet::PubAck(ack(id, ReasonCode::SUCCESS)),
                Pending::PubRec(id) => Packet::PubRec(ack(id, ReasonCode::SUCCESS)),
                Pending::PubRel(id) => Packet::PubRel(ack(id, ReasonCode::SUCCESS)),
                Pending::PubComp(id, code) => Packet::PubComp(ack(id, code)),
                Pending::PingReq => Packet::PingReq,
                Pending::Disconnect(disconnect) => Packet::Disconnect(disconnect),
            };
            if let Some(packet) = self.fit(packet) {
                return Some(Output::Send(packet));
            }
        }
    }

    /// The next event, in order.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Client::handle_timeout`] must next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.state {
            State::Disconnected => None,
            State::Connecting => self.connect_deadline,
            State::Connected if self.keep_alive == 0 => None,
            State::Connected => Some(match self.ping_sent_at {
                Some(sent) => sent.saturating_add(self.ping_timeout()),
                None => self.last_sent.saturating_add(self.keep_alive_period()),
            }),
        }
    }

    // ----- inputs from the driver -----

    /// The transport is up: sends CONNECT and starts the connect timeout.
    ///
    /// A transport that was still up in the client's view is taken as lost first, and outputs
    /// not yet polled are discarded: they belonged to the old transport. Everything the server
    /// announced for the old connection (limits, topic aliases) is forgotten [MQTT-3.3.2-7].
    pub fn handle_transport_up(&mut self, now: Duration) {
        if self.state != State::Disconnected {
            self.close(now, CloseReason::TransportLost, false);
        }
        self.expects_session = !self.config.clean_session
            && self.ended.is_some_and(|(ended, expiry)| {
                self.config.protocol == Protocol::V311
                    || expiry == u32::MAX
                    || now < ended.saturating_add(Duration::from_secs(u64::from(expiry)))
            });
        self.outputs.clear();
        self.state = State::Connecting;
        self.link = None;
        self.connect_expiry = self.config.session_expiry_interval;
        self.session_expiry = self.connect_expiry;
        self.keep_alive = self.config.keep_alive;
        self.ping_sent_at = None;
        self.connect_deadline = Some(now.saturating_add(self.config.connect_timeout));
        self.send(now, Pending::Connect);
    }

    /// A packet arrived from the server. A packet that breaks the protocol closes the connection.
    pub fn handle_packet(&mut self, now: Duration, packet: Packet) {
        if self.state == State::Disconnected {
            // Bytes still in the driver's buffer after we asked it to close: not ours to judge.
            return;
        }
        if let Err(violation) = self.on_packet(now, packet) {
            let code = violation.reason_code();
            self.fail(now, CloseReason::Protocol(violation), code);
        }
    }

    /// The driver could not decode the server's bytes: the connection is closed.
    pub fn handle_decode_error(&mut self, now: Duration, error: &DecodeError) {
        if self.state == State::Disconnected {
            return;
        }
        self.fail(now, CloseReason::Decode(error.clone()), error.reason_code());
    }

    /// The transport went away without the client asking.
    pub fn handle_transport_down(&mut self, now: Duration) {
        if self.state != State::Disconnected {
            self.close(now, CloseReason::TransportLost, false);
        }
    }

    /// Time has reached [`Client::poll_timeout`]: the connect timeout, a PINGREQ or a keep-alive
    /// timeout. Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Duration) {
        match self.state {
            State::Disconnected => {}
            State::Connecting => {
                if self.connect_deadline.is_some_and(|deadline| now >= deadline) {
                    self.close(now, CloseReason::ConnectTimeout, true);
                }
            }
            State::Connected if self.keep_alive == 0 => {}
            State::Connected => match self.ping_sent_at {
                Some(sent) if now >= sent.saturating_add(self.ping_timeout()) => {
                    self.events.push_back(Event::KeepAliveTimeout);
                    self.close(now, CloseReason::KeepAliveTimeout, true);
                }
                Some(_) => {}
                None if now >= self.last_sent.saturating_add(self.keep_alive_period()) => {
                    self.send(now, Pending::PingReq);
                    self.ping_sent_at = Some(now);
                }
                None => {}
            },
        }
    }

    // ----- inputs from the application -----

    /// Publishes a message, now if the connection and the window allow, otherwise later. A 5.0
    /// client gives it the configuration's `message_properties`.
    ///
    /// Every accepted message gets a [`MessageId`]; a message that is then given up is reported
    /// by [`Event::Dropped`] with that id.
    pub fn publish(
        &mut self,
        now: Duration,
        topic: ByteString,
        payload: Bytes,
        qos: QoS,
        retain: bool,
    ) -> Result<MessageId, PublishError> {
        if self.config.protocol == Protocol::V5
            && let Some(properties) = self.config.message_properties.clone()
        {
            return self.publish_with(now, topic, payload, qos, retain, &properties);
        }
        self.accept(now, topic, payload, qos, retain, &MessageProperties::default())
    }

    /// Publishes a message with its own 5.0 properties (ignored by a 3.1.1 client).
    pub fn publish_with(
        &mut self,
        now: Duration,
        topic: ByteString,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: &MessageProperties,
    ) -> Result<MessageId, PublishError> {
        properties.validate()?;
        if self.config.protocol == Protocol::V311 {
            return self.accept(now, topic, payload, qos, retain, &MessageProperties::default());
        }
        self.accept(now, topic, payload, qos, retain, properties)
    }

    /// Subscribes to `filters` with default options, now if connected, otherwise after
    /// connecting.
    pub fn subscribe(
        &mut self,
        now: Duration,
        filters: Vec<(String, QoS)>,
    ) -> Result<(), RequestError> {
        let filters = filters
            .into_iter()
            .map(|(filter, qos)| (filter, SubscriptionOptions { qos, ..Default::default() }))
            .collect();
        self.subscribe_with(now, SubscribeRequest::new(filters))
    }

    /// Subscribes with 5.0 options (No Local, Retain As Published, Retain Handling), a
    /// Subscription Identifier and User Properties. A 3.1.1 client sends the QoS only.
    ///
    /// If the server said Subscription Identifier Available 0, the SUBSCRIBE goes without one.
    pub fn subscribe_with(
        &mut self,
        now: Duration,
        request: SubscribeRequest,
    ) -> Result<(), RequestError> {
        self.check_request(request.filters.iter().map(|(filter, _)| filter.as_str()))?;
        if self.config.protocol == Protocol::V5 {
            for (filter, options) in &request.filters {
                if options.no_local && SharedFilter::parse(filter).is_some() {
                    return Err(RequestError::NoLocalOnShared(filter.clone()));
                }
            }
            if let Some(id) = request.identifier
                && !(1..=MAX_SUBSCRIPTION_IDENTIFIER).contains(&id)
            {
                return Err(RequestError::InvalidSubscriptionIdentifier(id));
            }
            check_user_properties(&request.user_properties)?;
        }
        self.requests.push_back(Request { packet_id: None, kind: RequestKind::Subscribe(request) });
        self.flush(now);
        Ok(())
    }

    /// Unsubscribes from `filters`, now if connected, otherwise after connecting.
    pub fn unsubscribe(&mut self, now: Duration, filters: Vec<String>) -> Result<(), RequestError> {
        self.check_request(filters.iter().map(String::as_str))?;
        self.requests
            .push_back(Request { packet_id: None, kind: RequestKind::Unsubscribe(filters) });
        self.flush(now);
        Ok(())
    }

    /// Ends the connection gracefully: DISCONNECT, then close. The session state is kept.
    pub fn disconnect(&mut self, now: Duration) {
        // The default options (0x00, nothing else) are always valid.
        let _ = self.disconnect_with(now, DisconnectOptions::default());
    }

    /// Ends the connection with a reason: 0x04 asks the server to publish the Will, an error
    /// code says what went wrong, and a 5.0 Session Expiry Interval replaces the one in force.
    /// Refused options leave the connection up. The session state is kept either way.
    ///
    /// 3.1.1 has no reason codes: a reason other than 0x00 closes without DISCONNECT, which
    /// makes a 3.1.1 server publish the Will, as 5.0's reasons other than 0x00 do.
    pub fn disconnect_with(
        &mut self,
        now: Duration,
        options: DisconnectOptions,
    ) -> Result<(), DisconnectError> {
        if self.state == State::Disconnected {
            return Ok(());
        }
        match self.config.protocol {
            Protocol::V311 | Protocol::V31 => {
                options.validate(u32::MAX)?;
                if options.reason_code == ReasonCode::NORMAL_DISCONNECTION {
                    self.send(now, Pending::Disconnect(Disconnect::default()));
                }
            }
            Protocol::V5 => {
                options.validate(self.connect_expiry)?;
                if let Some(expiry) = options.session_expiry_interval {
                    self.session_expiry = expiry;
                }
                let disconnect = Disconnect {
                    reason_code: options.reason_code,
                    properties: options.to_properties(),
                };
                self.send(now, Pending::Disconnect(disconnect));
            }
        }
        self.close(now, CloseReason::ClientDisconnect, true);
        Ok(())
    }

    // ----- internals -----

    fn keep_alive_period(&self) -> Duration {
        Duration::from_secs(u64::from(self.keep_alive))
    }

    fn ping_timeout(&self) -> Duration {
        self.config.ping_timeout.unwrap_or_else(|| Duration::from_secs(u64::from(self.keep_alive)))
    }

    fn v5(&self) -> bool {
        self.config.protocol == Protocol::V5
    }

    fn send(&mut self, now: Duration, pending: Pending) {
        self.outputs.push_back(pending);
        self.last_sent = now;
    }

    /// The size of `packet` on the wire if it is larger than the server's Maximum Packet Size.
    fn too_large(&self, packet: &Packet) -> Option<(usize, u32)> {
        let max = self.limits().maximum_packet_size?;
        let size = encoded_len(packet, self.config.protocol).unwrap_or(usize::MAX);
        (size > max as usize).then_some((size, max))
    }

    /// `packet` as it may be sent under the server's Maximum Packet Size, or `None` (reported).
    fn fit(&mut self, mut packet: Packet) -> Option<Packet> {
        while let Some((size, max)) = self.too_large(&packet) {
            if let Packet::Disconnect(disconnect) = &mut packet {
                let properties = &mut disconnect.properties.0;
                let before = properties.len();
                properties.retain(|p| !matches!(p, Property::ReasonString(_)));
                if properties.len() == before {
                    properties.retain(|p| !matches!(p, Property::UserProperty(..)));
                }
                if properties.len() < before {
                    continue;
                }
            }
            self.events.push_back(Event::PacketTooLarge {
                packet: packet.packet_type(),
                size,
                max,
            });
            return None;
        }
        Some(packet)
    }

    /// Notes a 5.0 server's reason to back off, if it is one. (3.1.1's return code 3 would be
    /// one too, but 3.1.1 behaviour stays as it was: its driver backs off on refusals anyway.)
    fn advise(&mut self, code: ReasonCode) {
        if self.v5() && advises_backoff(code) {
            self.backoff_advised = Some(code);
            self.events.push_back(Event::BackOff { reason: code });
        }
    }

    /// Closes on our side of the connection for a failure; 5.0 says why in a DISCONNECT first.
    fn fail(&mut self, now: Duration, reason: CloseReason, code: ReasonCode) {
        if self.v5() {
            let disconnect = Disconnect { reason_code: code, properties: Properties::new() };
            self.send(now, Pending::Disconnect(disconnect));
        }
        self.close(now, reason, true);
    }

    /// Ends the connection: the session (in-flight messages, inbound QoS 2 state, requests)
    /// is kept for the next one. When the transport is already gone, outputs not yet polled are
    /// discarded, as there is nowhere to write them.
    fn close(&mut self, now: Duration, reason: CloseReason, close_transport: bool) {
        if self.state == State::Connected {
            self.ended = Some((now, self.session_expiry));
        }
        if close_transport {
            self.outputs.push_back(Pending::Close);
        } else {
            self.outputs.clear();
        }
        self.state = State::Disconnected;
        self.connect_deadline = None;
        self.ping_sent_at = None;
        for request in &mut self.requests {
            request.packet_id = None;
        }
        for flight in &mut self.inflight {
            flight.quota = false;
        }
        self.quota_used = 0;
        self.held = 0;
        self.events.push_back(Event::Closed { reason });
    }

    fn check_request<'a>(
        &self,
        mut filters: impl ExactSizeIterator<Item = &'a str>,
    ) -> Result<(), RequestError> {
        if filters.len() == 0 {
            return Err(RequestError::NoFilters);
        }
        if self.requests.len() >= self.config.max_pending_requests {
            return Err(RequestError::TooManyPending(self.requests.len()));
        }
        filters.try_for_each(|filter| {
            validate_filter(filter)
                .map_err(|error| RequestError::InvalidFilter { filter: filter.to_owned(), error })
        })
    }

    fn build_connect(&self) -> Connect {
        let mut properties = Properties::new();
        if self.v5() {
            let config = &self.config;
            if config.session_expiry_interval != 0 {
                properties.push(Property::SessionExpiryInterval(config.session_expiry_interval));
            }
            let receive_maximum = config.max_inbound_qos2.max(1);
            if receive_maximum != u16::MAX {
                properties.push(Property::ReceiveMaximum(receive_maximum));
            }
            if let Some(max) = config.maximum_packet_size {
                properties.push(Property::MaximumPacketSize(max.max(1)));
            }
            if config.topic_alias_maximum > 0 {
                properties.push(Property::TopicAliasMaximum(config.topic_alias_maximum));
            }
            if config.request_response_information {
                properties.push(Property::RequestResponseInformation(1));
            }
            if !config.request_problem_information {
                properties.push(Property::RequestProblemInformation(0));
            }
            for (key, value) in &config.user_properties {
                properties.push(Property::UserProperty(key.clone(), value.clone()));
            }
        }
        Connect {
            protocol: self.config.protocol,
            clean_start: self.config.clean_session,
            keep_alive: self.config.keep_alive,
            client_id: match (&self.assigned_client_id, self.config.client_id.is_empty()) {
                (Some(assigned), true) => assigned.clone(),
                _ => self.config.client_id.clone(),
            },
            will: self.config.will.clone(),
            username: self.config.username.clone(),
            password: self.config.password.clone(),
            properties,
        }
    }

    fn packet_id_in_use(&self, id: u16) -> bool {
        self.inflight.iter().any(|f| f.packet_id == id)
            || self.requests.iter().any(|r| r.packet_id == Some(id))
    }

    /// The next free packet identifier after the last one handed out; never 0.
    fn allocate_packet_id(&mut self) -> Option<u16> {
        for _ in 0..u16::MAX {
            self.last_packet_id = self.last_packet_id.checked_add(1).unwrap_or(1);
            if !self.packet_id_in_use(self.last_packet_id) {
                return Some(self.last_packet_id);
            }
        }
        None
    }

    /// Takes a message the application published: checks it, numbers it, sends or queues it.
    fn accept(
        &mut self,
        now: Duration,
        topic: ByteString,
        payload: Bytes,
        qos: QoS,
        retain: bool,
        properties: &MessageProperties,
    ) -> Result<MessageId, PublishError> {
        validate_name(&topic)?;
        let mut size = topic.len() + payload.len() + 4;
        if self.v5() {
            size += properties_len(properties);
        }
        if size > MAX_REMAINING_LENGTH {
            return Err(PublishError::TooLarge(size));
        }
        let id = MessageId(self.next_message_id);
        self.next_message_id += 1;
        if self.state != State::Connected
            && qos == QoS::AtMostOnce
            && self.config.offline_qos0 == OfflineQos0::Drop
        {
            self.events.push_back(Event::Dropped { id, reason: DropReason::Offline });
            return Ok(id);
        }
        let extra = (self.v5() && !properties.is_empty()).then(|| {
            Box::new(Extra {
                properties: properties.to_properties(),
                expiry: properties
                    .message_expiry_interval
                    .map(|interval| Expiry { published: now, interval }),
            })
        });
        let message = Message { id, topic, payload, qos, retain, extra };
        // The common case sends at once without passing through the queue, which then never
        // allocates for a device that is not held back.
        let message = if self.state == State::Connected && self.waiting.is_empty() && self.held == 0
        {
            match self.send_message(now, message) {
                Ok(()) => return Ok(id),
                Err(message) => message,
            }
        } else {
            message
        };
        self.waiting.push_back(message);
        while self.waiting.len() > self.config.max_queued {
            let dropped = match self.config.queue_policy {
                QueuePolicy::DropOldest => self.waiting.pop_front(),
                QueuePolicy::DropNewest => self.waiting.pop_back(),
            };
            if let Some(message) = dropped {
                self.events
                    .push_back(Event::Dropped { id: message.id, reason: DropReason::QueueFull });
            }
        }
        Ok(id)
    }

    /// The QoS and RETAIN `message` may go with under the server's Maximum QoS and Retain
    /// Available [MQTT-3.2.2-11, MQTT-3.2.2-14], or the reason it is refused.
    fn allowed(&self, message: &Message) -> Result<(QoS, bool), ReasonCode> {
        let limits = self.limits();
        let qos = message.qos.min(limits.maximum_qos);
        let retain = message.retain && limits.retain_available;
        let policy = self.config.limit_policy;
        if policy == LimitPolicy::Refuse && qos < message.qos {
            return Err(ReasonCode::QOS_NOT_SUPPORTED);
        }
        if policy != LimitPolicy::Downgrade && retain != message.retain {
            return Err(ReasonCode::RETAIN_NOT_SUPPORTED);
        }
        Ok((qos, retain))
    }

    /// Builds the PUBLISH of `message` for this connection: what is left of its Message Expiry
    /// Interval and a topic alias if the configuration and the server allow one
    /// [MQTT-3.2.2-17, MQTT-3.2.2-18, MQTT-3.3.2-8]. Gives the size instead if the server's
    /// Maximum Packet Size forbids it [MQTT-3.2.2-15]; a new alias is kept only when sent.
    fn publish_packet(
        &mut self,
        now: Duration,
        message: &Message,
        packet_id: u16,
        dup: bool,
    ) -> Result<Publish, (usize, u32)> {
        let mut properties =
            message.extra.as_ref().map_or_else(Properties::new, |extra| extra.properties.clone());
        if let Some(expiry) = message.expiry() {
            // Once sent, a message is not expired by its sender [MQTT-4.3.3-7]: a resend
            // carries at least one second.
            let left = expiry.remaining(now).unwrap_or(1);
            properties.0.insert(0, Property::MessageExpiryInterval(left));
        }
        let mut topic = message.topic.clone();
        let mut new_alias = None;
        let wanted = self.config.outbound_topic_aliases;
        if let Some(link) = self.link.as_deref()
            && wanted > 0
        {
            let aliases = wanted.min(link.limits.topic_alias_maximum);
            if let Some(&alias) = link.outbound_aliases.get(&topic) {
                properties.push(Property::TopicAlias(alias));
                topic = ByteString::new();
            } else if link.outbound_aliases.len() < usize::from(aliases) {
                let alias = link.outbound_aliases.len() as u16 + 1;
                properties.push(Property::TopicAlias(alias));
                new_alias = Some(alias);
            }
        }
        let packet = Packet::Publish(Publish {
            dup,
            qos: message.qos,
            retain: message.retain,
            topic,
            packet_id,
            payload: message.payload.clone(),
            properties,
        });
        if let Some(too_large) = self.too_large(&packet) {
            return Err(too_large);
        }
        if let (Some(alias), Some(link)) = (new_alias, self.link.as_deref_mut()) {
            link.outbound_aliases.insert(message.topic.clone(), alias);
        }
        let Packet::Publish(publish) = packet else { unreachable!("built as a PUBLISH above") };
        Ok(publish)
    }

    /// Queues the PUBLISH and says so.
    fn send_publish(&mut self, now: Duration, publish: Publish, id: MessageId) {
        let event = Event::Published {
            id,
            packet_id: publish.packet_id,
            qos: publish.qos,
            dup: publish.dup,
        };
        self.send(now, Pending::Publish(publish));
        self.events.push_back(event);
    }

    /// Sends what may go now: unsent requests, in-flight messages held back by the quota after
    /// a reconnect, then waiting messages through the window.
    fn flush(&mut self, now: Duration) {
        if self.state != State::Connected {
            return;
        }
        self.flush_requests(now);
        while self.held > 0 && self.quota_used < self.window() {
            let Some(index) = self.inflight.iter().position(InFlight::held) else {
                debug_assert!(false, "{} messages counted as held, none found", self.held);
                self.held = 0;
                break;
            };
            self.held -= 1;
            self.resend(now, index);
        }
        if self.held > 0 {
            return;
        }
        while let Some(message) = self.waiting.pop_front() {
            if let Err(message) = self.send_message(now, message) {
                self.waiting.push_front(message);
                return;
            }
        }
    }

    fn flush_requests(&mut self, now: Duration) {
        let mut index = 0;
        while index < self.requests.len() {
            if self.requests[index].packet_id.is_some() {
                index += 1;
                continue;
            }
            let Some(packet_id) = self.allocate_packet_id() else { return };
            let packet = match &self.requests[index].kind {
                RequestKind::Subscribe(request) => {
                    Packet::Subscribe(self.subscribe_packet(packet_id, request))
                }
                RequestKind::Unsubscribe(filters) => Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters: filters.clone(),
                    properties: Properties::new(),
                }),
            };
            if let Some((size, max)) = self.too_large(&packet) {
                self.requests.remove(index);
                let packet = packet.packet_type();
                self.events.push_back(Event::PacketTooLarge { packet, size, max });
                continue;
            }
            self.requests[index].packet_id = Some(packet_id);
            let pending = match packet {
                Packet::Subscribe(subscribe) => Pending::Subscribe(subscribe),
                Packet::Unsubscribe(unsubscribe) => Pending::Unsubscribe(unsubscribe),
                _ => unreachable!("requests are SUBSCRIBE or UNSUBSCRIBE"),
            };
            self.send(now, pending);
            index += 1;
        }
    }

    fn subscribe_packet(&self, packet_id: u16, request: &SubscribeRequest) -> Subscribe {
        let mut properties = Properties::new();
        if self.v5() {
            if let Some(id) = request.identifier
                && self.limits().subscription_identifier_available
            {
                properties.push(Property::SubscriptionIdentifier(id));
            }
            for (key, value) in &request.user_properties {
                properties.push(Property::UserProperty(key.clone(), value.clone()));
            }
        }
        Subscribe {
            packet_id,
            filters: request
                .filters
                .iter()
                .map(|(filter, options)| SubscribeFilter {
                    filter: filter.clone(),
                    options: *options,
                })
                .collect(),
            properties,
        }
    }

    /// Sends `message` if the window (and a free packet identifier) allows, or gives it back.
    /// A message whose expiry ran out, or that the server cannot take, is dropped instead.
    fn send_message(&mut self, now: Duration, mut message: Message) -> Result<(), Message> {
        let id = message.id;
        if message.expiry().is_some_and(|expiry| expiry.remaining(now).is_none()) {
            self.events.push_back(Event::Dropped { id, reason: DropReason::Expired });
            return Ok(());
        }
        let (qos, retain) = match self.allowed(&message) {
            Ok(allowed) => allowed,
            Err(code) => {
                self.events.push_back(Event::Dropped { id, reason: DropReason::Unsupported(code) });
                return Ok(());
            }
        };
        let packet_id = if qos == QoS::AtMostOnce {
            0
        } else {
            let window = self.window();
            if self.inflight.len() >= usize::from(self.config.max_inflight.max(1))
                || self.quota_used >= window
            {
                return Err(message);
            }
            match self.allocate_packet_id() {
                Some(packet_id) => packet_id,
                None => return Err(message),
            }
        };
        if (qos, retain) != (message.qos, message.retain) {
            (message.qos, message.retain) = (qos, retain);
            self.events.push_back(Event::Downgraded { id, qos, retain });
        }
        match self.publish_packet(now, &message, packet_id, false) {
            Ok(publish) => self.send_publish(now, publish, id),
            Err((size, max)) => {
                let reason = DropReason::PacketTooLarge { size, max };
                self.events.push_back(Event::Dropped { id, reason });
                return Ok(());
            }
        }
        if qos != QoS::AtMostOnce {
            self.quota_used += 1;
            let flight =
                InFlight { message, packet_id, stage: Stage::Sent, sent: true, quota: true };
            self.inflight.push_back(flight);
        }
        Ok(())
    }

    /// Sends the PUBLISH of in-flight message `index` again (with DUP if its session saw it),
    /// within the server's limits. Returns false when the message left the in-flight list:
    /// dropped as too large or unsupported, or downgraded to QoS 0 and sent as such.
    fn resend(&mut self, now: Duration, index: usize) -> bool {
        let mut message = self.inflight[index].message.clone();
        let (packet_id, dup) = (self.inflight[index].packet_id, self.inflight[index].sent);
        let id = message.id;
        let (qos, retain) = match self.allowed(&message) {
            Ok(allowed) => allowed,
            Err(code) => {
                self.inflight.remove(index);
                self.events.push_back(Event::Dropped { id, reason: DropReason::Unsupported(code) });
                return false;
            }
        };
        if (qos, retain) != (message.qos, message.retain) {
            (message.qos, message.retain) = (qos, retain);
            let flight = &mut self.inflight[index].message;
            (flight.qos, flight.retain) = (qos, retain);
            self.events.push_back(Event::Downgraded { id, qos, retain });
        }
        let at_most_once = qos == QoS::AtMostOnce;
        let (packet_id, dup) = if at_most_once { (0, false) } else { (packet_id, dup) };
        match self.publish_packet(now, &message, packet_id, dup) {
            Ok(publish) => self.send_publish(now, publish, id),
            Err((size, max)) => {
                self.inflight.remove(index);
                let reason = DropReason::PacketTooLarge { size, max };
                self.events.push_back(Event::Dropped { id, reason });
                return false;
            }
        }
        if at_most_once {
            self.inflight.remove(index);
            return false;
        }
        let flight = &mut self.inflight[index];
        flight.sent = true;
        flight.quota = true;
        self.quota_used += 1;
        true
    }

    /// Sends the PUBLISHes of the in-flight messages from the first one, as far as the quota
    /// allows; the rest are held until acknowledgements free it [MQTT-4.9.0-2]. PUBRELs for
    /// released messages go at once (they are not PUBLISHes [MQTT-3.3.4-8]).
    fn resend_inflight(&mut self, now: Duration) {
        let mut index = 0;
        while index < self.inflight.len() {
            if self.inflight[index].stage == Stage::Released {
                let packet_id = self.inflight[index].packet_id;
                self.send(now, Pending::PubRel(packet_id));
                index += 1;
            } else if self.held > 0 || self.quota_used >= self.window() {
                self.held += 1;
                index += 1;
            } else if self.resend(now, index) {
                index += 1;
            }
        }
    }

    fn on_packet(&mut self, now: Duration, packet: Packet) -> Result<(), ProtocolViolation> {
        if self.state == State::Connecting {
            return match packet {
                Packet::ConnAck(connack) => self.on_connack(now, connack),
                other => Err(ProtocolViolation::BeforeConnAck(other.packet_type())),
            };
        }
        if self.v5() && !self.config.request_problem_information {
            check_problem_information(&packet)?;
        }
        match packet {
            Packet::ConnAck(_) => Err(ProtocolViolation::SecondConnAck),
            Packet::Publish(publish) => self.on_publish(now, publish),
            Packet::PubAck(ack) => self.on_ack(now, PacketType::PubAck, ack),
            Packet::PubRec(ack) => self.on_ack(now, PacketType::PubRec, ack),
            Packet::PubComp(ack) => self.on_ack(now, PacketType::PubComp, ack),
            Packet::PubRel(ack) => {
                self.on_pubrel(now, ack);
                Ok(())
            }
            Packet::SubAck(suback) => self.on_suback(now, suback),
            Packet::UnsubAck(unsuback) => self.on_unsuback(now, unsuback),
            Packet::PingResp => match self.ping_sent_at.take() {
                Some(_) => Ok(()),
                None => Err(ProtocolViolation::UnsolicitedPingResp),
            },
            Packet::Disconnect(disconnect) if self.v5() => {
                // After a DISCONNECT nothing more is said on the connection, not even why it
                // broke the protocol.
                if disconnect.properties.session_expiry_interval().is_some() {
                    let violation = ProtocolViolation::SessionExpiryInServerDisconnect;
                    self.close(now, CloseReason::Protocol(violation), true);
                    return Ok(());
                }
                if let Some(Property::ServerReference(server)) = disconnect.properties.get(0x1C)
                    && let Some(link) = self.link.as_deref_mut()
                {
                    link.limits.server_reference = Some(server.clone());
                }
                self.advise(disconnect.reason_code);
                self.close(now, CloseReason::ServerDisconnect(disconnect.reason_code), true);
                Ok(())
            }
            other => Err(ProtocolViolation::ClientOnlyPacket(other.packet_type())),
        }
    }

    fn on_connack(&mut self, now: Duration, connack: ConnAck) -> Result<(), ProtocolViolation> {
        if connack.reason_code.is_error()
            || (self.config.protocol == Protocol::V311
                && connack.reason_code != ReasonCode::SUCCESS)
        {
            if self.v5() {
                let limits = ServerLimits::from_connack(&connack.properties);
                self.link = Some(Box::new(V5Link { limits, ..V5Link::default() }));
            }
            self.events.push_back(Event::ConnectionRefused(connack.reason_code));
            self.advise(connack.reason_code);
            self.close(now, CloseReason::Refused(connack.reason_code), true);
            return Ok(());
        }
        if self.config.clean_session && connack.session_present {
            return Err(ProtocolViolation::SessionPresentOnCleanSession);
        }
        self.state = State::Connected;
        self.connect_deadline = None;
        self.backoff_advised = None;
        if self.v5() {
            let limits = ServerLimits::from_connack(&connack.properties);
            if let Some(seconds) = limits.server_keep_alive {
                self.keep_alive = seconds;
            }
            if let Some(expiry) = limits.session_expiry_interval {
                self.session_expiry = expiry;
            }
            if self.config.client_id.is_empty()
                && let Some(id) = &limits.assigned_client_identifier
            {
                self.assigned_client_id = Some(id.clone());
            }
            self.link = Some(Box::new(V5Link { limits, ..V5Link::default() }));
        }
        self.events.push_back(Event::Connected { session_present: connack.session_present });
        if connack.session_present {
            self.resume_session(now);
        } else {
            self.restart_session(now);
        }
        self.flush(now);
        Ok(())
    }

    /// The server kept the session: resend unacknowledged PUBLISHes with DUP and PUBRELs for
    /// those already PUBREC'd, in their original order [MQTT-4.4.0-1], within the quota.
    fn resume_session(&mut self, now: Duration) {
        self.resend_inflight(now);
    }

    /// The server has no session for us: in-flight messages start over without DUP (PUBREC'd
    /// ones are complete), inbound QoS 2 state is forgotten and granted subscriptions are
    /// requested again.
    fn restart_session(&mut self, now: Duration) {
        self.inbound_qos2.clear();
        if !self.inflight.is_empty() {
            let mut resent = Vec::new();
            let mut released = Vec::new();
            self.inflight.retain_mut(|flight| {
                if flight.stage == Stage::Released {
                    released.push(flight.message.id);
                    false
                } else {
                    resent.push(flight.message.id);
                    flight.sent = false;
                    true
                }
            });
            self.events.push_back(Event::SessionLost { resent, released });
            self.resend_inflight(now);
        }
        if !self.subscriptions.is_empty() {
            // One SUBSCRIBE per Subscription Identifier (a SUBSCRIBE carries at most one), in
            // the order the subscriptions were first granted.
            let mut groups: Vec<SubscribeRequest> = Vec::new();
            for subscription in &self.subscriptions {
                let entry = (subscription.filter.clone(), subscription.options);
                match groups.iter_mut().find(|g| g.identifier == subscription.identifier) {
                    Some(group) => group.filters.push(entry),
                    None => groups.push(SubscribeRequest {
                        filters: vec![entry],
                        identifier: subscription.identifier,
                        user_properties: Vec::new(),
                    }),
                }
            }
            for group in groups.into_iter().rev() {
                let request = Request { packet_id: None, kind: RequestKind::Subscribe(group) };
                self.requests.push_front(request);
            }
        }
    }

    fn on_publish(&mut self, now: Duration, mut publish: Publish) -> Result<(), ProtocolViolation> {
        if publish.qos != QoS::AtMostOnce && publish.packet_id == 0 {
            return Err(ProtocolViolation::ZeroPacketId(publish.qos.as_u8()));
        }
        if self.v5()
            && let Some(alias) = publish.properties.topic_alias()
        {
            self.resolve_alias(&mut publish, alias)?;
        }
        if publish.topic.is_empty() {
            return Err(ProtocolViolation::EmptyTopic);
        }
        let packet_id = publish.packet_id;
        match publish.qos {
            QoS::AtMostOnce => self.events.push_back(Event::Received(publish)),
            QoS::AtLeastOnce => {
                self.events.push_back(Event::Received(publish));
                self.send(now, Pending::PubAck(packet_id));
            }
            QoS::ExactlyOnce => {
                if let Err(position) = self.inbound_qos2.binary_search(&packet_id) {
                    let limit = self.config.max_inbound_qos2.max(1);
                    if self.inbound_qos2.len() >= usize::from(limit) {
                        return Err(ProtocolViolation::TooManyInboundQos2(limit));
                    }
                    self.inbound_qos2.insert(position, packet_id);
                    self.events.push_back(Event::Received(publish));
                }
                self.send(now, Pending::PubRec(packet_id));
            }
        }
        Ok(())
    }

    /// A PUBLISH with a Topic Alias: a topic name sets the alias up (the table keeps a copy of
    /// the name, not the packet), an empty one uses it [MQTT-3.3.2-10].
    fn resolve_alias(
        &mut self,
        publish: &mut Publish,
        alias: u16,
    ) -> Result<(), ProtocolViolation> {
        let maximum = self.config.topic_alias_maximum;
        if alias == 0 || alias > maximum {
            return Err(ProtocolViolation::TopicAliasInvalid { alias, maximum });
        }
        let Some(link) = self.link.as_deref_mut() else {
            return Err(ProtocolViolation::UnknownTopicAlias(alias));
        };
        if publish.topic.is_empty() {
            match link.inbound_aliases.get(&alias) {
                Some(topic) => publish.topic = topic.clone(),
                None => return Err(ProtocolViolation::UnknownTopicAlias(alias)),
            }
        } else {
            link.inbound_aliases.insert(alias, ByteString::from(&*publish.topic));
        }
        Ok(())
    }

    fn on_pubrel(&mut self, now: Duration, ack: Ack) {
        let mut code = ReasonCode::SUCCESS;
        match self.inbound_qos2.binary_search(&ack.packet_id) {
            Ok(position) => {
                self.inbound_qos2.remove(position);
            }
            // Our PUBCOMP may have been lost with a connection: answer again. 5.0 says why.
            Err(_) if self.v5() => {
                code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
            }
            Err(_) => {}
        }
        self.send(now, Pending::PubComp(ack.packet_id, code));
    }

    /// PUBACK, PUBREC or PUBCOMP for an outgoing message.
    fn on_ack(
        &mut self,
        now: Duration,
        packet: PacketType,
        ack: Ack,
    ) -> Result<(), ProtocolViolation> {
        let packet_id = ack.packet_id;
        let Some(index) = self.inflight.iter().position(|f| f.packet_id == packet_id) else {
            return Err(ProtocolViolation::UnknownPacketId { packet, packet_id });
        };
        let flight = &mut self.inflight[index];
        let (id, qos, was_held) = (flight.message.id, flight.message.qos, flight.held());
        let complete = match (packet, qos, flight.stage) {
            (PacketType::PubAck, QoS::AtLeastOnce, Stage::Sent)
            | (PacketType::PubComp, QoS::ExactlyOnce, Stage::Released) => true,
            (PacketType::PubRec, QoS::ExactlyOnce, Stage::Sent) if ack.reason_code.is_error() => {
                true
            }
            (PacketType::PubRec, QoS::ExactlyOnce, _) => {
                // A repeated PUBREC is answered with PUBREL again.
                flight.stage = Stage::Released;
                self.send(now, Pending::PubRel(packet_id));
                false
            }
            _ => return Err(ProtocolViolation::WrongAck { packet, packet_id, qos: qos.as_u8() }),
        };
        if was_held {
            // Acknowledged before it was sent again on this connection: no longer waiting.
            self.held = self.held.saturating_sub(1);
        }
        if packet != PacketType::PubComp {
            self.advise_on_ack(ack.reason_code);
        }
        if complete {
            if self.inflight.remove(index).is_some_and(|flight| flight.quota) {
                self.quota_used = self.quota_used.saturating_sub(1);
            }
            // A PUBCOMP completes the message whatever its code: the server owned it since PUBREC.
            let event = if ack.reason_code.is_error() && packet != PacketType::PubComp {
                Event::Dropped { id, reason: DropReason::Rejected(ack.reason_code) }
            } else {
                Event::Acked { id, packet_id, qos, reason: ack.reason_code }
            };
            self.events.push_back(event);
            self.flush(now);
        }
        Ok(())
    }

    /// 0x96 Message rate too high and 0x97 Quota exceeded on a PUBACK or PUBREC.
    fn advise_on_ack(&mut self, code: ReasonCode) {
        if matches!(code, ReasonCode::MESSAGE_RATE_TOO_HIGH | ReasonCode::QUOTA_EXCEEDED) {
            self.advise(code);
        }
    }

    fn find_request(&self, packet: PacketType, packet_id: u16) -> Result<usize, ProtocolViolation> {
        self.requests
            .iter()
            .position(|r| {
                r.packet_id == Some(packet_id)
                    && matches!(
                        (&r.kind, packet),
                        (RequestKind::Subscribe(_), PacketType::SubAck)
                            | (RequestKind::Unsubscribe(_), PacketType::UnsubAck)
                    )
            })
            .ok_or(ProtocolViolation::UnknownPacketId { packet, packet_id })
    }

    fn on_suback(&mut self, now: Duration, suback: SubAck) -> Result<(), ProtocolViolation> {
        let index = self.find_request(PacketType::SubAck, suback.packet_id)?;
        let RequestKind::Subscribe(request) = &self.requests[index].kind else {
            return Err(ProtocolViolation::UnknownPacketId {
                packet: PacketType::SubAck,
                packet_id: suback.packet_id,
            });
        };
        if request.filters.len() != suback.reason_codes.len() {
            return Err(ProtocolViolation::SubAckCount {
                expected: request.filters.len(),
                got: suback.reason_codes.len(),
            });
        }
        let Some(Request { kind: RequestKind::Subscribe(request), .. }) =
            self.requests.remove(index)
        else {
            return Ok(());
        };
        let identifier = request.identifier;
        for ((filter, options), code) in request.filters.into_iter().zip(&suback.reason_codes) {
            if code.is_error() {
                continue;
            }
            match self.subscriptions.iter_mut().find(|known| known.filter == filter) {
                Some(known) => (known.options, known.identifier) = (options, identifier),
                None => self.subscriptions.push(Subscription { filter, options, identifier }),
            }
        }
        self.events.push_back(Event::Subscribed {
            packet_id: suback.packet_id,
            granted: suback.reason_codes,
        });
        self.flush(now);
        Ok(())
    }

    fn on_unsuback(&mut self, now: Duration, unsuback: UnsubAck) -> Result<(), ProtocolViolation> {
        let index = self.find_request(PacketType::UnsubAck, unsuback.packet_id)?;
        let RequestKind::Unsubscribe(filters) = &self.requests[index].kind else {
            return Err(ProtocolViolation::UnknownPacketId {
                packet: PacketType::UnsubAck,
                packet_id: unsuback.packet_id,
            });
        };
        if self.v5() && filters.len() != unsuback.reason_codes.len() {
            return Err(ProtocolViolation::UnsubAckCount {
                expected: filters.len(),
                got: unsuback.reason_codes.len(),
            });
        }
        let Some(Request { kind: RequestKind::Unsubscribe(filters), .. }) =
            self.requests.remove(index)
        else {
            return Ok(());
        };
        self.subscriptions.retain(|known| !filters.contains(&known.filter));
        self.events.push_back(Event::Unsubscribed {
            packet_id: unsuback.packet_id,
            codes: unsuback.reason_codes,
        });
        self.flush(now);
        Ok(())
    }
}

/// A bound on the bytes 5.0 properties add to a PUBLISH: the listed ones, the property length,
/// a Message Expiry Interval and a Topic Alias.
fn properties_len(properties: &MessageProperties) -> usize {
    let string = |s: &Option<String>| s.as_ref().map_or(0, |s| 3 + s.len());
    let user: usize = properties.user_properties.iter().map(|(k, v)| 5 + k.len() + v.len()).sum();
    4 + 5
        + 3
        + 2 * usize::from(properties.payload_utf8)
        + string(&properties.content_type)
        + string(&properties.response_topic)
        + properties.correlation_data.as_ref().map_or(0, |d| 3 + d.len())
        + user
}

/// After Request Problem Information 0, only PUBLISH, CONNACK and DISCONNECT may carry a
/// Reason String or User Properties [MQTT-3.1.2-29].
fn check_problem_information(packet: &Packet) -> Result<(), ProtocolViolation> {
    let properties = match packet {
        Packet::PubAck(ack) | Packet::PubRec(ack) | Packet::PubRel(ack) | Packet::PubComp(ack) => {
            &ack.properties
        }
        Packet::SubAck(suback) => &suback.properties,
        Packet::UnsubAck(unsuback) => &unsuback.properties,
        _ => return Ok(()),
    };
    if properties
        .iter()
        .any(|p| matches!(p, Property::ReasonString(_) | Property::UserProperty(..)))
    {
        return Err(ProtocolViolation::ProblemInformationNotRequested(packet.packet_type()));
    }
    Ok(())
}

fn check_user_properties(properties: &[(String, String)]) -> Result<(), RequestError> {
    let bad = |s: &String| s.len() > 65_535 || s.contains('\0');
    if properties.iter().any(|(key, value)| bad(key) || bad(value)) {
        return Err(RequestError::InvalidProperty);
    }
    Ok(())
}
