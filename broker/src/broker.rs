//! The broker state machine: `handle_*` calls in, `poll_*` calls out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytestring::ByteString;
use indexmap::IndexMap;
use mqttsim_codec::topic::{self, TopicError};
use mqttsim_codec::{
    Ack, ConnAck, Connect, DecodeError, Packet, Properties, Protocol, Publish, QoS, ReasonCode,
    SubAck, Subscribe, SubscriptionOptions, UnsubAck, Unsubscribe, Will,
};

use crate::acl::{self, Identity, Refusal};
use crate::config::{BrokerConfig, OverflowPolicy, PlantedBug};
use crate::event::{ConnId, DisconnectReason, DropReason, Event, Limit, Output};
use crate::index::SubscriptionIndex;
use crate::store::{Inflight, InflightState, Message, QueuedBytes, Session, Store};

/// Where a connection is in its life.
#[derive(Debug)]
enum ConnState {
    /// Opened; no CONNECT accepted yet.
    AwaitingConnect,
    /// CONNACK 0 sent; the connection owns the session of `client_id`.
    Connected { client_id: ByteString },
}

#[derive(Debug)]
struct Conn {
    state: ConnState,
    protocol: Option<Protocol>,
    /// The keepalive times the configured grace (1.5 by default), or `None` when it is off.
    silence_limit: Option<Duration>,
    /// This connection's entry in [`Broker::deadlines`].
    deadline: Option<Duration>,
    will: Option<Will>,
}

/// How a connection is being closed.
struct Closing {
    reason: DisconnectReason,
    fire_will: bool,
    /// Whether the driver must be told to close the transport (not when it is already gone).
    tell_driver: bool,
}

/// A sans-IO MQTT broker.
///
/// Call order, for a driver: feed every input through a `handle_*` method with the current time,
/// then drain [`Broker::poll_output`] (sending packets and closing transports in that order) and
/// [`Broker::poll_event`], and arm a timer for [`Broker::poll_timeout`], calling
/// [`Broker::handle_timeout`] when it fires.
#[derive(Debug)]
pub struct Broker {
    config: BrokerConfig,
    store: Box<dyn Store>,
    index: SubscriptionIndex,
    conns: BTreeMap<ConnId, Conn>,
    /// Client identifier to the connection that owns its session.
    online: BTreeMap<ByteString, ConnId>,
    /// One entry per connection with a deadline, so the next one is found without a scan.
    deadlines: BTreeSet<(Duration, ConnId)>,
    /// The protocol of closed connections whose [`Output::Close`] is still queued, so the
    /// driver can encode what precedes it (such as a refusing CONNACK).
    closing: BTreeMap<ConnId, Protocol>,
    outputs: VecDeque<Output>,
    events: VecDeque<Event>,
    next_conn: u64,
    next_generated_id: u64,
    /// The bytes queued in all sessions (`max_queued_bytes_total`).
    queued_bytes: QueuedBytes,
}

impl Broker {
    /// A broker over `store`. Sessions with Clean Session = 1 in it ended with their
    /// connections and are discarded; the subscription index is rebuilt from the rest.
    pub fn new(config: BrokerConfig, mut store: Box<dyn Store>) -> Broker {
        let state = store.state_mut();
        state.sessions.retain(|_, session| !session.clean);
        let mut index = SubscriptionIndex::default();
        let queued_bytes = QueuedBytes::default();
        for session in state.sessions.values_mut() {
            session.queue.attach(&queued_bytes);
        }
        for (client_id, session) in &state.sessions {
            for (filter, options) in &session.subscriptions {
                index.insert(filter, client_id, options.qos);
            }
        }
        Broker {
            config,
            store,
            index,
            conns: BTreeMap::new(),
            online: BTreeMap::new(),
            deadlines: BTreeSet::new(),
            closing: BTreeMap::new(),
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            next_conn: 0,
            next_generated_id: 0,
            queued_bytes,
        }
    }

    /// The configuration the broker runs with.
    pub fn config(&self) -> &BrokerConfig {
        &self.config
    }

    /// The store, for inspection (sessions, retained messages).
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// The session of a client identifier, if one exists.
    pub fn session(&self, client_id: &str) -> Option<&Session> {
        self.store.state().sessions.get(client_id)
    }

    /// The number of open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Gives the store back, for a crash and restart; the connections are dropped.
    pub fn into_store(self) -> Box<dyn Store> {
        self.store
    }

    /// The protocol a connection speaks, once its CONNECT has been read.
    ///
    /// A closed connection keeps answering until its [`Output::Close`] has been polled, so the
    /// packets queued before it (a refusing CONNACK) can be encoded. It is `None` for unknown
    /// connections and before CONNECT; a driver encodes packets for such a connection (the
    /// CONNACK 0x01 of an unsupported protocol level) as 3.1.1.
    pub fn protocol(&self, conn: ConnId) -> Option<Protocol> {
        match self.conns.get(&conn) {
            Some(c) => c.protocol,
            None => self.closing.get(&conn).copied(),
        }
    }

    /// A transport was accepted; it must send CONNECT within `connect_timeout`.
    pub fn handle_connection_opened(&mut self, now: Duration) -> ConnId {
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let state = ConnState::AwaitingConnect;
        let c = Conn { state, protocol: None, silence_limit: None, deadline: None, will: None };
        self.conns.insert(conn, c);
        self.set_deadline(conn, Some(now.saturating_add(self.config.connect_timeout)));
        conn
    }

    /// A packet decoded from the connection's bytes.
    pub fn handle_packet(&mut self, conn: ConnId, now: Duration, packet: Packet) {
        let Some(c) = self.conns.get(&conn) else { return };
        let client_id = match &c.state {
            ConnState::AwaitingConnect => {
                match packet {
                    Packet::Connect(connect) => self.on_connect(conn, now, connect),
                    _ => self.violation(conn, "MQTT-3.1.0-1", "first packet is not CONNECT"),
                }
                return;
            }
            ConnState::Connected { client_id } => client_id.clone(),
        };
        // Any control packet resets the keepalive timer [MQTT-3.1.2-24].
        let deadline = c.silence_limit.map(|limit| now.saturating_add(limit));
        self.set_deadline(conn, deadline);
        match packet {
            Packet::Connect(_) => self.violation(conn, "MQTT-3.1.0-2", "second CONNECT"),
            Packet::Publish(publish) => self.on_publish(conn, &client_id, publish),
            Packet::PubAck(ack) => {
                self.on_ack(&client_id, ack.packet_id, InflightState::AwaitingPubAck)
            }
            Packet::PubRec(ack) => self.on_pubrec(conn, &client_id, ack.packet_id),
            Packet::PubRel(ack) => {
                // PUBCOMP even for an unknown identifier [MQTT-3.6.4-1].
                if let Some(session) = self.store.state_mut().sessions.get_mut(&client_id) {
                    session.inbound_qos2.remove(&ack.packet_id);
                }
                self.send(conn, Packet::PubComp(Ack::new(ack.packet_id)));
            }
            Packet::PubComp(ack) => {
                self.on_ack(&client_id, ack.packet_id, InflightState::AwaitingPubComp)
            }
            Packet::Subscribe(subscribe) => self.on_subscribe(conn, &client_id, subscribe),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(conn, &client_id, unsubscribe),
            // PINGREQ is answered with PINGRESP [MQTT-3.12.4-1].
            Packet::PingReq => self.send(conn, Packet::PingResp),
            Packet::Disconnect(_) => {
                // The Will is discarded on DISCONNECT [MQTT-3.14.4-3] [MQTT-3.1.2-10].
                let fire_will = self.config.has_bug(PlantedBug::WillAfterDisconnect);
                let reason = DisconnectReason::ClientDisconnect;
                self.close(conn, Closing { reason, fire_will, tell_driver: true });
            }
            Packet::ConnAck(_)
            | Packet::SubAck(_)
            | Packet::UnsubAck(_)
            | Packet::PingResp
            | Packet::Auth(_) => {
                self.violation(conn, "MQTT-4.8.0-1", "a client sent a packet only servers send")
            }
        }
    }

    /// The driver could not decode the peer's bytes: close (firing the Will); for
    /// UnsupportedProtocolLevel before CONNECT, send CONNACK 0x01 first [MQTT-3.1.2-2].
    pub fn handle_decode_error(&mut self, conn: ConnId, now: Duration, error: &DecodeError) {
        let _ = now;
        let Some(c) = self.conns.get(&conn) else { return };
        if let (ConnState::AwaitingConnect, DecodeError::UnsupportedProtocolLevel(_)) =
            (&c.state, error)
        {
            self.refuse(conn, ByteString::new(), ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
            return;
        }
        let reason = DisconnectReason::ProtocolViolation {
            statement: error.statement(),
            detail: error.to_string(),
        };
        self.close(conn, Closing { reason, fire_will: true, tell_driver: true });
    }

    /// The transport ended (EOF or I/O error) without our asking. The Will fires; no
    /// [`Output::Close`] follows since the transport is already gone.
    pub fn handle_connection_lost(&mut self, conn: ConnId, now: Duration) {
        self.handle_connection_dropped(conn, now, DisconnectReason::ConnectionLost);
    }

    /// The driver closed the transport itself, for `reason` (a slow consumer, a write that
    /// timed out, a buffer budget spent). As for a lost connection, the Will fires and no
    /// [`Output::Close`] follows.
    pub fn handle_connection_dropped(
        &mut self,
        conn: ConnId,
        now: Duration,
        reason: DisconnectReason,
    ) {
        let _ = now;
        self.close(conn, Closing { reason, fire_will: true, tell_driver: false });
    }

    /// Closes every connection whose deadline is at or before `now`: keepalive expiry
    /// [MQTT-3.1.2-24] (firing the Will) or a CONNECT that never came.
    pub fn handle_timeout(&mut self, now: Duration) {
        while let Some(&(deadline, conn)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            let connected = self
                .conns
                .get(&conn)
                .is_some_and(|c| matches!(c.state, ConnState::Connected { .. }));
            let closing = if connected {
                let fire_will = !self.config.has_bug(PlantedBug::NoWillOnKeepaliveTimeout);
                Closing { reason: DisconnectReason::KeepAliveTimeout, fire_will, tell_driver: true }
            } else {
                let reason = DisconnectReason::ConnectTimeout;
                Closing { reason, fire_will: false, tell_driver: true }
            };
            // `close` removes the deadline, so the loop makes progress.
            self.deadlines.remove(&(deadline, conn));
            self.close(conn, closing);
        }
    }

    /// The next packet to send or transport to close.
    pub fn poll_output(&mut self) -> Option<Output> {
        let output = self.outputs.pop_front()?;
        if let Output::Close { conn, .. } = &output {
            self.closing.remove(conn);
        }
        Some(output)
    }

    /// The next event, for logs and traces.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// The earliest time at which [`Broker::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Duration> {
        self.deadlines.first().map(|&(deadline, _)| deadline)
    }

    fn set_deadline(&mut self, conn: ConnId, deadline: Option<Duration>) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        if let Some(old) = c.deadline {
            self.deadlines.remove(&(old, conn));
        }
        c.deadline = deadline;
        if let Some(new) = deadline {
            self.deadlines.insert((new, conn));
        }
    }

    fn send(&mut self, conn: ConnId, packet: Packet) {
        self.outputs.push_back(Output::Send { conn, packet });
    }

    fn violation(&mut self, conn: ConnId, statement: &'static str, detail: &str) {
        let reason = DisconnectReason::violation(statement, detail);
        self.close(conn, Closing { reason, fire_will: true, tell_driver: true });
    }

    /// Answers CONNECT with a failure code and closes [MQTT-3.2.2-4] [MQTT-3.2.2-5].
    fn refuse(&mut self, conn: ConnId, client_id: ByteString, reason_code: ReasonCode) {
        let connack =
            ConnAck { session_present: false, reason_code, properties: Properties::new() };
        self.send(conn, Packet::ConnAck(connack));
        self.events.push_back(Event::ConnectionRefused { conn, client_id, reason_code });
        let reason = DisconnectReason::ConnectRefused(reason_code);
        self.close(conn, Closing { reason, fire_will: false, tell_driver: true });
    }

    fn close(&mut self, conn: ConnId, closing: Closing) {
        let Some(c) = self.conns.remove(&conn) else { return };
        if let Some(deadline) = c.deadline {
            self.deadlines.remove(&(deadline, conn));
        }
        let Closing { reason, fire_will, tell_driver } = closing;
        if tell_driver {
            self.outputs.push_back(Output::Close { conn, reason: reason.clone() });
            if let Some(protocol) = c.protocol {
                self.closing.insert(conn, protocol);
            }
        }
        let client_id = match c.state {
            ConnState::AwaitingConnect => {
                if !matches!(reason, DisconnectReason::ConnectRefused(_)) {
                    self.events.push_back(Event::ConnectionClosed { conn, reason });
                }
                return;
            }
            ConnState::Connected { client_id } => client_id,
        };
        self.online.remove(&client_id);
        self.events.push_back(Event::ClientDisconnected {
            conn,
            client_id: client_id.clone(),
            reason,
        });
        // A clean session lasts as long as its connection [MQTT-3.1.2-6].
        if self.store.state().sessions.get(&client_id).is_some_and(|s| s.clean) {
            self.discard_session(&client_id);
        }
        // The Will is published when the connection ends without DISCONNECT [MQTT-3.1.2-8].
        if let (true, Some(will)) = (fire_will, c.will) {
            self.events.push_back(Event::WillPublished {
                client_id,
                topic: will.topic.clone(),
                qos: will.qos,
                retain: will.retain,
            });
            self.publish(Message {
                topic: will.topic,
                payload: will.payload,
                qos: will.qos,
                retain: will.retain,
                properties: will.properties,
            });
        }
    }

    fn discard_session(&mut self, client_id: &ByteString) {
        if let Some(session) = self.store.state_mut().sessions.remove(client_id) {
            for filter in session.subscriptions.keys() {
                self.index.remove(filter, client_id);
            }
        }
    }

    fn generate_client_id(&mut self) -> ByteString {
        loop {
            let id = format!("{}{}", self.config.generated_id_prefix, self.next_generated_id);
            self.next_generated_id += 1;
            if !self.store.state().sessions.contains_key(id.as_str())
                && !self.online.contains_key(id.as_str())
            {
                return ByteString::from(id);
            }
        }
    }

    /// Asks the authorizer about a session's client, unless it allows everything.
    fn may(
        &self,
        client_id: &ByteString,
        ask: impl FnOnce(&dyn acl::Authorizer, Identity<'_>) -> bool,
    ) -> bool {
        let authorizer = &*self.config.authorizer;
        if !authorizer.restricts() {
            return true;
        }
        let username = self.store.state().sessions.get(client_id).and_then(|s| s.username.clone());
        ask(authorizer, Identity { client_id, username: username.as_deref() })
    }

    /// Why a filter of a SUBSCRIBE is refused, if it is: invalid, over the subscription limit
    /// (a filter the session already holds is a replacement and always fits), or not
    /// authorized.
    fn subscription_refusal(&self, client_id: &ByteString, filter: &str) -> Option<Refusal> {
        if validate_filter(filter).is_err() {
            return Some(Refusal::InvalidFilter);
        }
        let session = self.store.state().sessions.get(client_id).expect("connected");
        if !session.subscriptions.contains_key(filter)
            && session.subscriptions.len() >= self.config.max_subscriptions_per_session
        {
            return Some(Refusal::Quota);
        }
        if !self.may(client_id, |authorizer, who| authorizer.may_subscribe(who, filter)) {
            return Some(Refusal::NotAuthorized);
        }
        None
    }

    fn on_connect(&mut self, conn: ConnId, now: Duration, connect: Connect) {
        let c = self.conns.get_mut(&conn).expect("on_connect is called for a known connection");
        c.protocol = Some(connect.protocol);
        let connect_protocol = connect.protocol;
        if connect.protocol == Protocol::V31 && connect.client_id.is_empty() {
            // 3.1 has no generated identifiers: 1 to 23 characters are required (Mosquitto
            // accepts longer ones, and so do we).
            self.refuse(conn, ByteString::new(), ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            return;
        }
        // MQTT 3.1 is 3.1.1 on the wire but for the CONNECT header.
        if connect.protocol != Protocol::V311 && connect.protocol != Protocol::V31 {
            // MQTT 5.0 semantics are not implemented yet: refuse politely, in 5.0.
            let client_id = ByteString::from(connect.client_id);
            self.refuse(conn, client_id, ReasonCode::UNSUPPORTED_PROTOCOL_VERSION);
            return;
        }
        if connect.password.is_some() && connect.username.is_none() {
            self.violation(conn, "MQTT-3.1.2-22", "password without user name");
            return;
        }
        if let Some(will) = &connect.will
            && let Err(error) = topic::validate_name(&will.topic)
        {
            let reason = DisconnectReason::violation(error.statement(), "invalid Will topic");
            self.close(conn, Closing { reason, fire_will: false, tell_driver: true });
            return;
        }
        let client_id = if connect.client_id.is_empty() {
            if !connect.clean_start {
                // [MQTT-3.1.3-8]
                self.refuse(conn, ByteString::new(), ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
                return;
            }
            // A unique identifier for a zero-length one [MQTT-3.1.3-6].
            self.generate_client_id()
        } else {
            ByteString::from(connect.client_id)
        };
        let decision = self.config.authenticator.authenticate(
            &client_id,
            connect.username.as_deref(),
            connect.password.as_deref(),
        );
        if let Some(reason_code) = decision.refusal() {
            self.refuse(conn, client_id, reason_code);
            return;
        }
        // A Will the client could not publish itself is refused with the CONNECT, as Mosquitto
        // does.
        let who = Identity { client_id: &client_id, username: connect.username.as_deref() };
        if let Some(will) = &connect.will
            && !self.config.authorizer.may_publish(who, &will.topic)
        {
            self.refuse(conn, client_id, ReasonCode::NOT_AUTHORIZED);
            return;
        }
        // Session takeover: the existing connection is closed [MQTT-3.1.4-2].
        if let Some(&old) = self.online.get(&client_id) {
            let fire_will = !self.config.has_bug(PlantedBug::NoWillOnTakeover);
            let reason = DisconnectReason::TakenOver;
            self.close(old, Closing { reason, fire_will, tell_driver: true });
        }
        let clean = connect.clean_start;
        if clean {
            // [MQTT-3.1.2-6]
            self.discard_session(&client_id);
        }
        let sessions = &mut self.store.state_mut().sessions;
        // Session present only when a stored session is resumed [MQTT-3.2.2-1..3].
        let session_present = sessions.contains_key(&client_id);
        let session = sessions.entry(client_id.clone()).or_insert_with(|| Session::new(clean));
        session.clean = clean;
        session.username = connect.username.as_deref().map(ByteString::from);
        self.online.insert(client_id.clone(), conn);
        let c = self.conns.get_mut(&conn).expect("the connection is still open");
        c.state = ConnState::Connected { client_id: client_id.clone() };
        c.will = connect.will;
        c.silence_limit = (connect.keep_alive > 0).then(|| {
            let grace = u64::from(self.config.keepalive_grace_permille);
            Duration::from_millis(u64::from(connect.keep_alive) * grace)
        });
        let deadline = c.silence_limit.map(|limit| now.saturating_add(limit));
        self.set_deadline(conn, deadline);
        let connack = ConnAck {
            // 3.1's CONNACK has no session present flag (the byte is reserved).
            session_present: session_present && connect_protocol != Protocol::V31,
            reason_code: ReasonCode::SUCCESS,
            properties: Properties::new(),
        };
        self.send(conn, Packet::ConnAck(connack));
        self.events.push_back(Event::ClientConnected {
            conn,
            client_id: client_id.clone(),
            clean_session: clean,
            session_present,
        });
        if session_present {
            self.resend_inflight(conn, &client_id);
        }
        self.flush(&client_id);
    }

    /// Resends unacknowledged PUBLISH packets with DUP=1, and PUBREL for those awaiting
    /// PUBCOMP, in their original order [MQTT-4.4.0-1].
    fn resend_inflight(&mut self, conn: ConnId, client_id: &ByteString) {
        let forget_qos1 = self.config.has_bug(PlantedBug::ForgetInflightOnReconnect);
        let session =
            self.store.state_mut().sessions.get_mut(client_id).expect("a resumed session exists");
        if forget_qos1 {
            session.inflight.retain(|_, f| f.state != InflightState::AwaitingPubAck);
        }
        for (&packet_id, inflight) in &session.inflight {
            let packet = match inflight.state {
                InflightState::AwaitingPubAck | InflightState::AwaitingPubRec => {
                    Packet::Publish(publish_packet(&inflight.message, packet_id, true))
                }
                InflightState::AwaitingPubComp => Packet::PubRel(Ack::new(packet_id)),
            };
            self.outputs.push_back(Output::Send { conn, packet });
        }
    }

    fn on_publish(&mut self, conn: ConnId, client_id: &ByteString, publish: Publish) {
        if let Err(error) = topic::validate_name(&publish.topic) {
            self.violation(conn, error.statement(), "invalid PUBLISH topic name");
            return;
        }
        if publish.qos != QoS::AtMostOnce && publish.packet_id == 0 {
            self.violation(conn, "MQTT-2.3.1-1", "QoS 1 or 2 PUBLISH with packet identifier 0");
            return;
        }
        let packet_id = publish.packet_id;
        if publish.qos == QoS::ExactlyOnce {
            let cap = self.config.max_inbound_qos2;
            let session = self
                .store
                .state_mut()
                .sessions
                .get_mut(client_id)
                .expect("a connected client has a session");
            if session.inbound_qos2.contains(&packet_id) {
                // Already accepted and awaiting PUBREL: acknowledge again, do not forward again
                // [MQTT-4.3.3-2].
                self.send(conn, Packet::PubRec(Ack::new(packet_id)));
                if publish.dup && self.config.has_bug(PlantedBug::DuplicateQos2OnDup) {
                    self.publish(message_of(publish));
                }
                return;
            }
            if session.inbound_qos2.len() >= cap {
                let reason = DisconnectReason::LimitExceeded(Limit::InboundQos2);
                self.close(conn, Closing { reason, fire_will: true, tell_driver: true });
                return;
            }
            session.inbound_qos2.insert(packet_id);
        }
        if !self.may(client_id, |authorizer, who| authorizer.may_publish(who, &publish.topic)) {
            // Acknowledged at its QoS and not delivered [MQTT-3.3.5-2].
            self.events.push_back(Event::PublishRefused {
                client_id: client_id.clone(),
                topic: publish.topic.clone(),
                packet_id,
                qos: publish.qos,
            });
            match publish.qos {
                QoS::AtMostOnce => {}
                QoS::AtLeastOnce => self.send(conn, Packet::PubAck(Ack::new(packet_id))),
                QoS::ExactlyOnce => self.send(conn, Packet::PubRec(Ack::new(packet_id))),
            }
            return;
        }
        self.events.push_back(Event::MessageAccepted {
            client_id: client_id.clone(),
            topic: publish.topic.clone(),
            packet_id,
            qos: publish.qos,
            retain: publish.retain,
            payload: publish.payload.clone(),
        });
        match publish.qos {
            QoS::AtMostOnce => {}
            // [MQTT-4.3.2-2]
            QoS::AtLeastOnce => self.send(conn, Packet::PubAck(Ack::new(packet_id))),
            QoS::ExactlyOnce => self.send(conn, Packet::PubRec(Ack::new(packet_id))),
        }
        self.publish(message_of(publish));
    }

    /// Retains (if asked) and routes a message to every matching session.
    fn publish(&mut self, message: Message) {
        if message.retain {
            self.retain(&message);
        }
        for (client_id, subscription_qos) in self.index.matches(&message.topic) {
            // Delivered at min(publish QoS, subscription QoS) [MQTT-3.8.4-6], with RETAIN=0
            // [MQTT-3.3.1-9].
            let copy = Message {
                qos: message.qos.min(subscription_qos),
                retain: false,
                ..message.clone()
            };
            self.deliver(&client_id, copy);
        }
    }

    fn retain(&mut self, message: &Message) {
        let stale = self.config.has_bug(PlantedBug::StaleRetained);
        let max = self.config.max_retained_messages;
        let retained = &mut self.store.state_mut().retained;
        if message.payload.is_empty() {
            // An empty retained message clears the topic and is not stored
            // [MQTT-3.3.1-10] [MQTT-3.3.1-11].
            retained.remove(&message.topic);
            return;
        }
        let existing = retained.get(&message.topic).map(Message::size);
        if (stale && existing.is_some()) || (existing.is_none() && retained.len() >= max) {
            return;
        }
        let bytes = retained.bytes() - existing.unwrap_or(0) + message.size();
        if bytes > self.config.max_retained_bytes {
            // Forwarded, not retained; the older message of the topic is not left stale.
            retained.remove(&message.topic);
            return;
        }
        // A newer retained message replaces the older one [MQTT-3.3.1-5].
        retained.insert(message.clone());
    }

    /// Queues a message for a session and sends what its in-flight window allows.
    fn deliver(&mut self, client_id: &ByteString, message: Message) {
        if !self.may(client_id, |authorizer, who| authorizer.may_receive(who, &message.topic)) {
            self.events.push_back(Event::MessageDropped {
                client_id: client_id.clone(),
                topic: message.topic,
                payload: message.payload,
                reason: DropReason::NotAuthorized,
            });
            return;
        }
        let online = self.online.contains_key(client_id);
        let max_queued = self.config.max_queued_messages;
        let max_bytes = self.config.max_queued_bytes;
        let max_total = self.config.max_queued_bytes_total;
        let Some(session) = self.store.state_mut().sessions.get_mut(client_id) else { return };
        if !online && message.qos == QoS::AtMostOnce && !self.config.queue_qos0_offline {
            self.events.push_back(Event::MessageDropped {
                client_id: client_id.clone(),
                topic: message.topic,
                payload: message.payload,
                reason: DropReason::QoS0Offline,
            });
            return;
        }
        session.queue.attach(&self.queued_bytes);
        session.queue.push_back(message);
        self.flush(client_id);
        let session = self.store.state_mut().sessions.get_mut(client_id).expect("still there");
        // Over the broker-wide total, an arrival costs its session at most one message.
        let mut total_drops = 1;
        loop {
            let over_session =
                session.queue.len() > max_queued || session.queue.bytes() > max_bytes;
            let over_total = total_drops > 0 && self.queued_bytes.get() > max_total;
            if !(over_session || over_total) || session.queue.is_empty() {
                break;
            }
            if !over_session {
                total_drops -= 1;
            }
            let dropped = match self.config.overflow {
                OverflowPolicy::DropNewest => session.queue.pop_back(),
                OverflowPolicy::DropOldest => session.queue.pop_front(),
            };
            let dropped = dropped.expect("the queue is longer than its limit");
            self.events.push_back(Event::MessageDropped {
                client_id: client_id.clone(),
                topic: dropped.topic,
                payload: dropped.payload,
                reason: DropReason::QueueFull,
            });
        }
    }

    /// Sends queued messages of an online session, in order, while the in-flight window has
    /// room; QoS 0 messages need no room but keep their place in the order [MQTT-4.6.0-6].
    fn flush(&mut self, client_id: &ByteString) {
        let Some(&conn) = self.online.get(client_id) else { return };
        let window = usize::from(self.config.max_inflight.max(1));
        let Some(session) = self.store.state_mut().sessions.get_mut(client_id) else { return };
        while let Some(front) = session.queue.front() {
            if front.qos != QoS::AtMostOnce && session.inflight.len() >= window {
                break;
            }
            let message = session.queue.pop_front().expect("front exists");
            let packet_id = match message.qos {
                QoS::AtMostOnce => 0,
                _ => session.allocate_packet_id(),
            };
            let packet = Packet::Publish(publish_packet(&message, packet_id, false));
            self.outputs.push_back(Output::Send { conn, packet });
            let state = match message.qos {
                QoS::AtMostOnce => continue,
                QoS::AtLeastOnce => InflightState::AwaitingPubAck,
                QoS::ExactlyOnce => InflightState::AwaitingPubRec,
            };
            session.inflight.insert(packet_id, Inflight { message, state });
        }
    }

    /// PUBACK or PUBCOMP: the flow of that identifier ends if it was in the expected state.
    fn on_ack(&mut self, client_id: &ByteString, packet_id: u16, expected: InflightState) {
        let Some(session) = self.store.state_mut().sessions.get_mut(client_id) else { return };
        if session.inflight.get(&packet_id).is_some_and(|f| f.state == expected) {
            session.inflight.shift_remove(&packet_id);
            if session.inflight.is_empty() && session.queue.is_empty() {
                // An idle session gives its buffers back: most of 100,000 sessions are idle.
                session.inflight = IndexMap::new();
                session.queue.shrink();
            }
            self.flush(client_id);
        }
    }

    fn on_pubrec(&mut self, conn: ConnId, client_id: &ByteString, packet_id: u16) {
        let Some(session) = self.store.state_mut().sessions.get_mut(client_id) else { return };
        let Some(inflight) = session.inflight.get_mut(&packet_id) else { return };
        match inflight.state {
            InflightState::AwaitingPubRec | InflightState::AwaitingPubComp => {
                inflight.state = InflightState::AwaitingPubComp;
                self.send(conn, Packet::PubRel(Ack::new(packet_id)));
            }
            InflightState::AwaitingPubAck => {}
        }
    }

    fn on_subscribe(&mut self, conn: ConnId, client_id: &ByteString, subscribe: Subscribe) {
        if subscribe.filters.is_empty() {
            self.violation(conn, "MQTT-3.8.3-3", "SUBSCRIBE without topic filters");
            return;
        }
        if subscribe.packet_id == 0 {
            self.violation(conn, "MQTT-2.3.1-1", "SUBSCRIBE with packet identifier 0");
            return;
        }
        let protocol = self.conns.get(&conn).and_then(|c| c.protocol).unwrap_or(Protocol::V311);
        let mut reason_codes = Vec::with_capacity(subscribe.filters.len());
        let mut retained = Vec::new();
        for entry in subscribe.filters {
            if let Some(refusal) = self.subscription_refusal(client_id, &entry.filter) {
                // A failure for this filter only; the connection stays [MQTT-3.8.4-5].
                reason_codes.push(acl::refusal_code(protocol, refusal));
                self.events.push_back(Event::Subscribed {
                    client_id: client_id.clone(),
                    filter: entry.filter,
                    granted: None,
                });
                continue;
            }
            // The server may grant a lower QoS than asked; it is reported [MQTT-3.8.4-5].
            let granted = entry.options.qos.min(self.config.max_qos);
            reason_codes.push(ReasonCode(granted.as_u8()));
            let filter = ByteString::from(entry.filter.as_str());
            let options = SubscriptionOptions { qos: granted, ..entry.options };
            let state = self.store.state_mut();
            // An identical filter replaces the old subscription [MQTT-3.8.4-3].
            let session = state.sessions.get_mut(client_id).expect("connected");
            session.subscriptions.insert(filter.clone(), options);
            self.index.insert(&filter, client_id, granted);
            // Retained messages go to the new (or replaced) subscription [MQTT-3.3.1-6].
            for message in state.retained.matching(&filter) {
                let qos = message.qos.min(granted);
                // Sent with RETAIN=1 [MQTT-3.3.1-8].
                retained.push(Message { qos, retain: true, ..message.clone() });
            }
            self.events.push_back(Event::Subscribed {
                client_id: client_id.clone(),
                filter: entry.filter,
                granted: Some(granted),
            });
        }
        let suback =
            SubAck { packet_id: subscribe.packet_id, reason_codes, properties: Properties::new() };
        // [MQTT-3.8.4-1] [MQTT-3.8.4-2]
        self.send(conn, Packet::SubAck(suback));
        for message in retained {
            self.deliver(client_id, message);
        }
    }

    fn on_unsubscribe(&mut self, conn: ConnId, client_id: &ByteString, unsubscribe: Unsubscribe) {
        if unsubscribe.filters.is_empty() {
            self.violation(conn, "MQTT-3.10.3-2", "UNSUBSCRIBE without topic filters");
            return;
        }
        if unsubscribe.packet_id == 0 {
            self.violation(conn, "MQTT-2.3.1-1", "UNSUBSCRIBE with packet identifier 0");
            return;
        }
        let session = self.store.state_mut().sessions.get_mut(client_id).expect("connected");
        for filter in unsubscribe.filters {
            // Messages already queued or in flight for the filter are still delivered
            // [MQTT-3.10.4-3].
            if session.subscriptions.remove(filter.as_str()).is_some() {
                self.index.remove(&filter, client_id);
            }
            self.events.push_back(Event::Unsubscribed { client_id: client_id.clone(), filter });
        }
        // UNSUBACK even when nothing matched [MQTT-3.10.4-4] [MQTT-3.10.4-5].
        let unsuback = UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes: Vec::new(),
            properties: Properties::new(),
        };
        self.send(conn, Packet::UnsubAck(unsuback));
    }
}

/// A 3.1.1 topic filter check. 3.1.1 has no shared subscriptions, so a `$share/...` filter is
/// an ordinary one; the codec's shared-filter rules are applied anyway and an ill-formed one is
/// refused with 0x80, which keeps 3.1.1 and 5.0 sessions in one index.
fn validate_filter(filter: &str) -> Result<(), TopicError> {
    topic::validate_filter(filter)
}

fn message_of(publish: Publish) -> Message {
    Message {
        topic: publish.topic,
        payload: publish.payload,
        qos: publish.qos,
        retain: publish.retain,
        properties: publish.properties,
    }
}

fn publish_packet(message: &Message, packet_id: u16, dup: bool) -> Publish {
    Publish {
        dup,
        qos: message.qos,
        retain: message.retain,
        topic: message.topic.clone(),
        packet_id,
        payload: message.payload.clone(),
        properties: message.properties.clone(),
    }
}
