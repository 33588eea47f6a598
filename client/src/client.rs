//! The client state machine: one device's MQTT connection, session and queues.

use std::collections::VecDeque;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_codec::topic::{validate_filter, validate_name};
use mqttsim_codec::{
    Ack, ConnAck, Connect, DecodeError, Disconnect, Packet, PacketType, Properties, Property,
    Protocol, Publish, QoS, ReasonCode, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions,
    UnsubAck, Unsubscribe,
};

use crate::config::{ClientConfig, OfflineQos0, QueuePolicy};
use crate::error::{ProtocolViolation, PublishError, RequestError};
use crate::event::{CloseReason, DropReason, Event, MessageId, Output, State};

/// The largest remaining length an MQTT packet can declare.
const MAX_REMAINING_LENGTH: usize = 268_435_455;

/// One application message, as given to [`Client::publish`].
#[derive(Debug, Clone)]
struct Message {
    id: MessageId,
    topic: ByteString,
    payload: Bytes,
    qos: QoS,
    retain: bool,
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
}

/// A SUBSCRIBE or UNSUBSCRIBE the application asked for.
#[derive(Debug, Clone)]
enum RequestKind {
    Subscribe(Vec<(String, QoS)>),
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
    Disconnect(ReasonCode),
    Close,
}

/// A sans-IO MQTT client for one device.
///
/// Inputs are the `handle_*` methods and the application calls [`Client::publish`],
/// [`Client::subscribe`], [`Client::unsubscribe`] and [`Client::disconnect`], each given `now`,
/// the time since the driver's epoch. After any input the driver drains
/// [`Client::poll_output`] (packets to write, or a close), then [`Client::poll_event`], and asks
/// [`Client::poll_timeout`] when to call [`Client::handle_timeout`]. The client never reads a
/// clock, never reconnects by itself (see [`crate::Backoff`]) and never panics on server input.
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
    subscriptions: Vec<(String, QoS)>,
    /// Requests not yet acknowledged, in the order asked.
    requests: VecDeque<Request>,
    /// The identifier a 5.0 server assigned when ours was empty, used on later connections.
    assigned_client_id: Option<String>,
    /// The 5.0 server's Receive Maximum on this connection (65,535 when absent).
    server_receive_maximum: u16,
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
            server_receive_maximum: u16::MAX,
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

    /// The subscriptions the server granted, with the QoS asked for, in the order first granted.
    pub fn subscriptions(&self) -> &[(String, QoS)] {
        &self.subscriptions
    }

    /// The most QoS 1 and 2 messages this connection may have in flight.
    pub fn window(&self) -> usize {
        usize::from(self.config.max_inflight.max(1).min(self.server_receive_maximum.max(1)))
    }

    // ----- outputs -----

    /// The next thing the driver must do, in order.
    pub fn poll_output(&mut self) -> Option<Output> {
        let ack =
            |packet_id, reason_code| Ack { packet_id, reason_code, properties: Properties::new() };
        Some(match self.outputs.pop_front()? {
            Pending::Connect => Output::Send(Packet::Connect(self.build_connect())),
            Pending::Publish(publish) => Output::Send(Packet::Publish(publish)),
            Pending::PubAck(id) => Output::Send(Packet::PubAck(ack(id, ReasonCode::SUCCESS))),
            Pending::PubRec(id) => Output::Send(Packet::PubRec(ack(id, ReasonCode::SUCCESS))),
            Pending::PubRel(id) => Output::Send(Packet::PubRel(ack(id, ReasonCode::SUCCESS))),
            Pending::PubComp(id, code) => Output::Send(Packet::PubComp(ack(id, code))),
            Pending::Subscribe(subscribe) => Output::Send(Packet::Subscribe(subscribe)),
            Pending::Unsubscribe(unsubscribe) => Output::Send(Packet::Unsubscribe(unsubscribe)),
            Pending::PingReq => Output::Send(Packet::PingReq),
            Pending::Disconnect(reason_code) => Output::Send(Packet::Disconnect(Disconnect {
                reason_code,
                properties: Properties::new(),
            })),
            Pending::Close => Output::Close,
        })
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
    /// not yet polled are discarded: they belonged to the old transport.
    pub fn handle_transport_up(&mut self, now: Duration) {
        if self.state != State::Disconnected {
            self.close(CloseReason::TransportLost, false);
        }
        self.outputs.clear();
        self.state = State::Connecting;
        self.server_receive_maximum = u16::MAX;
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
            self.fail(now, CloseReason::Protocol(violation), ReasonCode::PROTOCOL_ERROR);
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
    pub fn handle_transport_down(&mut self, _now: Duration) {
        if self.state != State::Disconnected {
            self.close(CloseReason::TransportLost, false);
        }
    }

    /// Time has reached [`Client::poll_timeout`]: the connect timeout, a PINGREQ or a keep-alive
    /// timeout. Early or repeated calls are harmless.
    pub fn handle_timeout(&mut self, now: Duration) {
        match self.state {
            State::Disconnected => {}
            State::Connecting => {
                if self.connect_deadline.is_some_and(|deadline| now >= deadline) {
                    self.close(CloseReason::ConnectTimeout, true);
                }
            }
            State::Connected if self.keep_alive == 0 => {}
            State::Connected => match self.ping_sent_at {
                Some(sent) if now >= sent.saturating_add(self.ping_timeout()) => {
                    self.events.push_back(Event::KeepAliveTimeout);
                    self.close(CloseReason::KeepAliveTimeout, true);
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

    /// Publishes a message, now if the connection and the window allow, otherwise later.
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
        validate_name(&topic)?;
        let size = topic.len() + payload.len() + 4;
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
        let message = Message { id, topic, payload, qos, retain };
        // The common case sends at once without passing through the queue, which then never
        // allocates for a device that is not held back.
        let message = if self.state == State::Connected && self.waiting.is_empty() {
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

    /// Subscribes to `filters`, now if connected, otherwise after connecting.
    pub fn subscribe(
        &mut self,
        now: Duration,
        filters: Vec<(String, QoS)>,
    ) -> Result<(), RequestError> {
        self.check_request(filters.iter().map(|(filter, _)| filter.as_str()))?;
        self.requests.push_back(Request { packet_id: None, kind: RequestKind::Subscribe(filters) });
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
        if self.state == State::Disconnected {
            return;
        }
        self.send(now, Pending::Disconnect(ReasonCode::NORMAL_DISCONNECTION));
        self.close(CloseReason::ClientDisconnect, true);
    }

    // ----- internals -----

    fn keep_alive_period(&self) -> Duration {
        Duration::from_secs(u64::from(self.keep_alive))
    }

    fn ping_timeout(&self) -> Duration {
        self.config.ping_timeout.unwrap_or_else(|| Duration::from_secs(u64::from(self.keep_alive)))
    }

    fn send(&mut self, now: Duration, pending: Pending) {
        self.outputs.push_back(pending);
        self.last_sent = now;
    }

    /// Closes on our side of the connection for a failure; 5.0 says why in a DISCONNECT first.
    fn fail(&mut self, now: Duration, reason: CloseReason, code: ReasonCode) {
        if self.config.protocol == Protocol::V5 {
            self.send(now, Pending::Disconnect(code));
        }
        self.close(reason, true);
    }

    /// Ends the connection: the session (in-flight messages, inbound QoS 2 state, requests)
    /// is kept for the next one. When the transport is already gone, outputs not yet polled are
    /// discarded, as there is nowhere to write them.
    fn close(&mut self, reason: CloseReason, close_transport: bool) {
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
        if self.config.protocol == Protocol::V5 {
            if self.config.session_expiry_interval != 0 {
                properties
                    .push(Property::SessionExpiryInterval(self.config.session_expiry_interval));
            }
            let receive_maximum = self.config.max_inbound_qos2.max(1);
            if receive_maximum != u16::MAX {
                properties.push(Property::ReceiveMaximum(receive_maximum));
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

    fn publish_packet(message: &Message, packet_id: u16, dup: bool) -> Pending {
        Pending::Publish(Publish {
            dup,
            qos: message.qos,
            retain: message.retain,
            topic: message.topic.clone(),
            packet_id,
            payload: message.payload.clone(),
            properties: Properties::new(),
        })
    }

    fn send_publish(&mut self, now: Duration, message: &Message, packet_id: u16, dup: bool) {
        self.send(now, Self::publish_packet(message, packet_id, dup));
        self.events.push_back(Event::Published {
            id: message.id,
            packet_id,
            qos: message.qos,
            dup,
        });
    }

    /// Sends what may go now: unsent requests, then waiting messages through the window.
    fn flush(&mut self, now: Duration) {
        if self.state != State::Connected {
            return;
        }
        for index in 0..self.requests.len() {
            if self.requests[index].packet_id.is_some() {
                continue;
            }
            let Some(packet_id) = self.allocate_packet_id() else { return };
            self.requests[index].packet_id = Some(packet_id);
            let packet = match &self.requests[index].kind {
                RequestKind::Subscribe(filters) => Pending::Subscribe(Subscribe {
                    packet_id,
                    filters: filters
                        .iter()
                        .map(|(filter, qos)| SubscribeFilter {
                            filter: filter.clone(),
                            options: SubscriptionOptions { qos: *qos, ..Default::default() },
                        })
                        .collect(),
                    properties: Properties::new(),
                }),
                RequestKind::Unsubscribe(filters) => Pending::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters: filters.clone(),
                    properties: Properties::new(),
                }),
            };
            self.send(now, packet);
        }
        while let Some(message) = self.waiting.pop_front() {
            if let Err(message) = self.send_message(now, message) {
                self.waiting.push_front(message);
                return;
            }
        }
    }

    /// Sends `message` if the window (and a free packet identifier) allows, or gives it back.
    fn send_message(&mut self, now: Duration, message: Message) -> Result<(), Message> {
        if message.qos == QoS::AtMostOnce {
            self.send_publish(now, &message, 0, false);
            return Ok(());
        }
        if self.inflight.len() >= self.window() {
            return Err(message);
        }
        let Some(packet_id) = self.allocate_packet_id() else { return Err(message) };
        self.send_publish(now, &message, packet_id, false);
        self.inflight.push_back(InFlight { message, packet_id, stage: Stage::Sent });
        Ok(())
    }

    fn on_packet(&mut self, now: Duration, packet: Packet) -> Result<(), ProtocolViolation> {
        if self.state == State::Connecting {
            return match packet {
                Packet::ConnAck(connack) => self.on_connack(now, connack),
                other => Err(ProtocolViolation::BeforeConnAck(other.packet_type())),
            };
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
            Packet::Disconnect(disconnect) if self.config.protocol == Protocol::V5 => {
                self.close(CloseReason::ServerDisconnect(disconnect.reason_code), true);
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
            self.events.push_back(Event::ConnectionRefused(connack.reason_code));
            self.close(CloseReason::Refused(connack.reason_code), true);
            return Ok(());
        }
        if self.config.clean_session && connack.session_present {
            return Err(ProtocolViolation::SessionPresentOnCleanSession);
        }
        self.state = State::Connected;
        self.connect_deadline = None;
        if self.config.protocol == Protocol::V5 {
            if let Some(maximum) = connack.properties.receive_maximum() {
                self.server_receive_maximum = maximum.max(1);
            }
            for property in connack.properties.iter() {
                match property {
                    Property::ServerKeepAlive(seconds) => self.keep_alive = *seconds,
                    Property::AssignedClientIdentifier(id) if self.config.client_id.is_empty() => {
                        self.assigned_client_id = Some(id.clone());
                    }
                    _ => {}
                }
            }
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
    /// those already PUBREC'd, in their original order [MQTT-4.4.0-1].
    fn resume_session(&mut self, now: Duration) {
        for index in 0..self.inflight.len() {
            let InFlight { packet_id, stage, .. } = self.inflight[index];
            if stage == Stage::Released {
                self.send(now, Pending::PubRel(packet_id));
            } else {
                let message = self.inflight[index].message.clone();
                self.send_publish(now, &message, packet_id, true);
            }
        }
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
                    flight.stage = Stage::Sent;
                    true
                }
            });
            self.events.push_back(Event::SessionLost { resent, released });
            for index in 0..self.inflight.len() {
                let packet_id = self.inflight[index].packet_id;
                let message = self.inflight[index].message.clone();
                self.send_publish(now, &message, packet_id, false);
            }
        }
        if !self.subscriptions.is_empty() {
            let filters = self.subscriptions.clone();
            self.requests
                .push_front(Request { packet_id: None, kind: RequestKind::Subscribe(filters) });
        }
    }

    fn on_publish(&mut self, now: Duration, publish: Publish) -> Result<(), ProtocolViolation> {
        if publish.qos != QoS::AtMostOnce && publish.packet_id == 0 {
            return Err(ProtocolViolation::ZeroPacketId(publish.qos.as_u8()));
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

    fn on_pubrel(&mut self, now: Duration, ack: Ack) {
        let mut code = ReasonCode::SUCCESS;
        match self.inbound_qos2.binary_search(&ack.packet_id) {
            Ok(position) => {
                self.inbound_qos2.remove(position);
            }
            // Our PUBCOMP may have been lost with a connection: answer again. 5.0 says why.
            Err(_) if self.config.protocol == Protocol::V5 => {
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
        let (id, qos) = (flight.message.id, flight.message.qos);
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
        if complete {
            self.inflight.remove(index);
            // A PUBCOMP completes the message whatever its code: the server owned it since PUBREC.
            let event = if ack.reason_code.is_error() && packet != PacketType::PubComp {
                Event::Dropped { id, reason: DropReason::Rejected(ack.reason_code) }
            } else {
                Event::Acked { id, packet_id, qos }
            };
            self.events.push_back(event);
            self.flush(now);
        }
        Ok(())
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
        let RequestKind::Subscribe(filters) = &self.requests[index].kind else {
            return Err(ProtocolViolation::UnknownPacketId {
                packet: PacketType::SubAck,
                packet_id: suback.packet_id,
            });
        };
        if filters.len() != suback.reason_codes.len() {
            return Err(ProtocolViolation::SubAckCount {
                expected: filters.len(),
                got: suback.reason_codes.len(),
            });
        }
        let Some(Request { kind: RequestKind::Subscribe(filters), .. }) =
            self.requests.remove(index)
        else {
            return Ok(());
        };
        for ((filter, qos), code) in filters.into_iter().zip(&suback.reason_codes) {
            if code.is_error() {
                continue;
            }
            match self.subscriptions.iter_mut().find(|(known, _)| *known == filter) {
                Some(entry) => entry.1 = qos,
                None => self.subscriptions.push((filter, qos)),
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
        if self.config.protocol == Protocol::V5 && filters.len() != unsuback.reason_codes.len() {
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
        self.subscriptions.retain(|(known, _)| !filters.contains(known));
        self.events.push_back(Event::Unsubscribed { packet_id: unsuback.packet_id });
        self.flush(now);
        Ok(())
    }
}
