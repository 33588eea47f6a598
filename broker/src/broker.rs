//! The broker state machine: `handle_*` calls in, `poll_*` calls out.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytestring::ByteString;
use indexmap::IndexMap;
use mqttsim_codec::topic::{self, SharedFilter, TopicError};
use mqttsim_codec::{
    Ack, ConnAck, Connect, DecodeError, Disconnect, Packet, PacketType, Properties, Property,
    Protocol, Publish, QoS, ReasonCode, RetainHandling, SubAck, Subscribe, SubscriptionOptions,
    UnsubAck, Unsubscribe, Will,
};

use crate::acl::{self, Identity, Refusal};
use crate::config::{BrokerConfig, OverflowPolicy, PlantedBug};
use crate::event::{ConnId, DisconnectReason, DropReason, Event, Limit, Output};
use crate::index::SubscriptionIndex;
use crate::properties::{self as props, ClientLimits};
use crate::shared::SharedGroups;
use crate::store::{
    Inflight, InflightState, Message, NEVER_EXPIRES, QueuedBytes, Session, Store,
    SubscriptionExtras,
};
use crate::timers::Deadlines;

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
    /// The user name of the CONNECT, for authorization.
    username: Option<String>,
    /// What only a 5.0 connection has (boxed, so a 3.1.1 connection stays small).
    v5: Option<Box<V5Conn>>,
}

/// The state of a 5.0 connection beyond what every connection has.
#[derive(Debug, Default)]
struct V5Conn {
    /// What the client declared in CONNECT.
    limits: ClientLimits,
    /// The Session Expiry Interval of the CONNECT: a DISCONNECT may not raise it from 0.
    connect_expiry: u32,
    /// Inbound topic aliases of this connection [MQTT-3.3.2-7].
    aliases: BTreeMap<u16, ByteString>,
    /// Packet identifiers of the session's in-flight PUBLISH packets not yet resent on this
    /// connection, because the client's Receive Maximum left no room for them yet.
    resend: VecDeque<u16>,
}

impl Conn {
    fn v5(&self) -> bool {
        self.protocol == Some(Protocol::V5)
    }

    /// What the client declared: the defaults for 3.1.1.
    fn limits(&self) -> ClientLimits {
        self.v5.as_ref().map(|v| v.limits).unwrap_or_default()
    }

    /// The most QoS 1 and 2 PUBLISH packets it may have unacknowledged: the configured window,
    /// and for 5.0 the client's Receive Maximum [MQTT-3.3.4-9].
    fn window(&self, configured: u16) -> usize {
        let configured = usize::from(configured.max(1));
        match &self.v5 {
            Some(v5) => configured.min(usize::from(v5.limits.receive_maximum)),
            None => configured,
        }
    }
}

/// The connection that owns an online session, and whether it speaks 5.0.
#[derive(Debug, Clone, Copy)]
struct Online {
    conn: ConnId,
    v5: bool,
}

/// How a connection is being closed.
struct Closing {
    reason: DisconnectReason,
    fire_will: bool,
    /// Whether the driver must be told to close the transport (not when it is already gone).
    tell_driver: bool,
    /// The DISCONNECT reason code a 5.0 client is sent first, after a successful CONNACK
    /// [MQTT-3.14.0-1]; `None` sends none.
    code: Option<ReasonCode>,
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
    /// 5.0 shared subscription groups (their filters are not in `index`).
    shared: SharedGroups,
    conns: BTreeMap<ConnId, Conn>,
    /// Client identifier to the connection that owns its session.
    online: BTreeMap<ByteString, Online>,
    /// 5.0 connections that declared a Maximum Packet Size, whose packets must be measured.
    limited: BTreeSet<ConnId>,
    /// One entry per connection with a deadline, so the next one is found without a scan.
    deadlines: BTreeSet<(Duration, ConnId)>,
    /// When each offline session with a finite Session Expiry Interval expires.
    session_expiry: Deadlines<ByteString>,
    /// Wills waiting for their Will Delay Interval, by client identifier, and their deadlines.
    pending_wills: BTreeMap<ByteString, Will>,
    will_deadlines: Deadlines<ByteString>,
    /// The protocol of closed connections whose [`Output::Close`] is still queued, so the
    /// driver can encode what precedes it (such as a refusing CONNACK).
    closing: BTreeMap<ConnId, Protocol>,
    outputs: VecDeque<Output>,
    events: VecDeque<Event>,
    next_conn: u64,
    next_generated_id: u64,
    /// Sessions for which routing must look at the session's own filters (5.0 options).
    extended: BTreeSet<ByteString>,
    /// The latest `now` a `handle_*` call gave.
    now: Duration,
    /// Sessions of a restarted broker that were connected when it stopped: they count as
    /// disconnected at the restart, that is at the first `now` the new core is given.
    awaiting_clock: Vec<ByteString>,
    /// The bytes queued in all sessions (`max_queued_bytes_total`).
    queued_bytes: QueuedBytes,
    /// Planted bug [`PlantedBug::FlowQuotaLeak`]: the send-quota slots each session leaked.
    leaked_quota: BTreeMap<ByteString, usize>,
}

impl Broker {
    /// A broker over `store`. Sessions with Clean Session = 1 in it ended with their
    /// connections and are discarded; the subscription index is rebuilt from the rest. An
    /// offline session's Session Expiry Interval runs on from when its connection ended (the
    /// driver keeps one clock across the restart); a session whose connection was open when the
    /// store was last used counts as disconnected at the restart, so none is discarded early.
    pub fn new(config: BrokerConfig, mut store: Box<dyn Store>) -> Broker {
        let state = store.state_mut();
        state.sessions.retain(|_, session| !session.clean);
        let mut awaiting_clock = Vec::new();
        let mut index = SubscriptionIndex::default();
        let mut shared = SharedGroups::default();
        let mut session_expiry = Deadlines::default();
        let mut extended = BTreeSet::new();
        let queued_bytes = QueuedBytes::default();
        for session in state.sessions.values_mut() {
            session.queue.attach(&queued_bytes);
        }
        for (client_id, session) in &state.sessions {
            if session.extended() {
                extended.insert(client_id.clone());
            }
            match session.disconnected_at {
                Some(_) => session_expiry.set(client_id, session.expires_at()),
                None => awaiting_clock.push(client_id.clone()),
            }
            for (filter, options) in &session.subscriptions {
                let qos = options.qos;
                match shared_filter(filter, session.is_shared(filter)) {
                    Some(inner) => shared.join(filter, inner, client_id, qos),
                    None => index.insert(filter, client_id, qos),
                }
            }
        }
        Broker {
            config,
            store,
            index,
            shared,
            conns: BTreeMap::new(),
            online: BTreeMap::new(),
            limited: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            session_expiry,
            pending_wills: BTreeMap::new(),
            will_deadlines: Deadlines::default(),
            closing: BTreeMap::new(),
            outputs: VecDeque::new(),
            events: VecDeque::new(),
            next_conn: 0,
            next_generated_id: 0,
            extended,
            now: Duration::ZERO,
            awaiting_clock,
            queued_bytes,
            leaked_quota: BTreeMap::new(),
        }
    }

    /// The in-flight window towards a 5.0 client: `max_inflight` and its Receive Maximum
    /// [MQTT-3.3.4-9], less what planted bugs make of it.
    fn v5_window(&self, client_id: &ByteString, receive_maximum: u16) -> usize {
        let configured = usize::from(self.config.max_inflight.max(1));
        let window = if self.config.has_bug(PlantedBug::ReceiveMaximumExceeded) {
            configured
        } else {
            configured.min(usize::from(receive_maximum))
        };
        window.saturating_sub(self.leaked_quota.get(client_id).copied().unwrap_or(0))
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

    /// Moves the broker's clock (it never goes back). The first call after a restart starts the
    /// expiry of the sessions that were connected when the broker stopped.
    fn enter(&mut self, now: Duration) {
        self.now = self.now.max(now);
        if !self.awaiting_clock.is_empty() {
            for client_id in std::mem::take(&mut self.awaiting_clock) {
                let sessions = &mut self.store.state_mut().sessions;
                let Some(session) = sessions.get_mut(&client_id) else { continue };
                if session.disconnected_at.is_none() && !self.online.contains_key(&client_id) {
                    session.disconnected_at = Some(self.now);
                    let expires_at = session.expires_at();
                    self.session_expiry.set(&client_id, expires_at);
                }
            }
        }
    }

    /// A transport was accepted; it must send CONNECT within `connect_timeout`.
    pub fn handle_connection_opened(&mut self, now: Duration) -> ConnId {
        self.enter(now);
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let c = Conn {
            state: ConnState::AwaitingConnect,
            protocol: None,
            silence_limit: None,
            deadline: None,
            will: None,
            username: None,
            v5: None,
        };
        self.conns.insert(conn, c);
        self.set_deadline(conn, Some(now.saturating_add(self.config.connect_timeout)));
        conn
    }

    /// A packet decoded from the connection's bytes.
    pub fn handle_packet(&mut self, conn: ConnId, now: Duration, packet: Packet) {
        self.enter(now);
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
        let v5 = c.v5();
        // Any control packet resets the keepalive timer [MQTT-3.1.2-24].
        let deadline = c.silence_limit.map(|limit| now.saturating_add(limit));
        self.set_deadline(conn, deadline);
        match packet {
            Packet::Connect(_) => self.violation(conn, "MQTT-3.1.0-2", "second CONNECT"),
            Packet::Publish(publish) => self.on_publish(conn, &client_id, publish),
            Packet::PubAck(ack) => {
                self.on_ack(&client_id, ack.packet_id, InflightState::AwaitingPubAck)
            }
            // A 5.0 PUBREC of 0x80 or above ends the flow [MQTT-4.4.0-2].
            Packet::PubRec(ack) if v5 && ack.reason_code.is_error() => {
                self.on_ack(&client_id, ack.packet_id, InflightState::AwaitingPubRec)
            }
            Packet::PubRec(ack) => self.on_pubrec(conn, &client_id, ack.packet_id),
            Packet::PubRel(ack) => {
                // PUBCOMP even for an unknown identifier [MQTT-3.6.4-1]; 5.0 says 0x92.
                let known = match self.store.state_mut().sessions.get_mut(&client_id) {
                    Some(session) => session.inbound_qos2.remove(&ack.packet_id),
                    None => false,
                };
                let mut pubcomp = Ack::new(ack.packet_id);
                if v5 && !known {
                    pubcomp.reason_code = ReasonCode::PACKET_IDENTIFIER_NOT_FOUND;
                    self.reason_sent(conn, &client_id, PacketType::PubComp, pubcomp.reason_code);
                }
                self.send(conn, Packet::PubComp(pubcomp));
            }
            Packet::PubComp(ack) => {
                self.on_ack(&client_id, ack.packet_id, InflightState::AwaitingPubComp)
            }
            Packet::Subscribe(subscribe) => self.on_subscribe(conn, &client_id, subscribe),
            Packet::Unsubscribe(unsubscribe) => self.on_unsubscribe(conn, &client_id, unsubscribe),
            // PINGREQ is answered with PINGRESP [MQTT-3.12.4-1].
            Packet::PingReq => self.send(conn, Packet::PingResp),
            Packet::Disconnect(disconnect) => self.on_disconnect(conn, &client_id, disconnect),
            Packet::Auth(_) if v5 => {
                // No Authentication Method was accepted, so AUTH is a Protocol Error.
                let detail = "AUTH without an Authentication Method in CONNECT";
                self.violation(conn, "MQTT-4.12.0-7", detail)
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
    /// UnsupportedProtocolLevel before CONNECT, send CONNACK 0x01 first [MQTT-3.1.2-2]. A 5.0
    /// client is sent DISCONNECT with the error's reason code (0x81, 0x82, 0x95, ...) first.
    pub fn handle_decode_error(&mut self, conn: ConnId, now: Duration, error: &DecodeError) {
        self.enter(now);
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
        let code = Some(error.reason_code());
        self.close(conn, Closing { reason, fire_will: true, tell_driver: true, code });
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
        self.enter(now);
        self.close(conn, Closing { reason, fire_will: true, tell_driver: false, code: None });
    }

    /// The broker is shutting down: every connection is closed (5.0 clients are sent
    /// DISCONNECT 0x8B first) and their Wills are published as for any close the client did
    /// not ask for. Sessions stay in the store.
    pub fn handle_shutdown(&mut self, now: Duration) {
        self.enter(now);
        let conns: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in conns {
            let reason = DisconnectReason::ServerShuttingDown;
            let code = Some(ReasonCode::SERVER_SHUTTING_DOWN);
            self.close(conn, Closing { reason, fire_will: true, tell_driver: true, code });
        }
    }

    /// Does the work due at or before `now`: closes every connection whose deadline passed
    /// (keepalive expiry [MQTT-3.1.2-24], firing the Will, or a CONNECT that never came),
    /// publishes delayed Wills, and discards expired sessions.
    pub fn handle_timeout(&mut self, now: Duration) {
        self.enter(now);
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
                let reason = DisconnectReason::KeepAliveTimeout;
                let code = Some(ReasonCode::KEEP_ALIVE_TIMEOUT);
                Closing { reason, fire_will, tell_driver: true, code }
            } else {
                let reason = DisconnectReason::ConnectTimeout;
                Closing { reason, fire_will: false, tell_driver: true, code: None }
            };
            // `close` removes the deadline, so the loop makes progress.
            self.deadlines.remove(&(deadline, conn));
            self.close(conn, closing);
        }
        // The Will Delay Interval passed without a new connection [MQTT-3.1.2-8].
        while let Some(client_id) = self.will_deadlines.pop_due(now) {
            if let Some(will) = self.pending_wills.remove(&client_id) {
                self.publish_will(client_id, will);
            }
        }
        // The Session Expiry Interval passed [MQTT-4.1.0-2].
        while let Some(client_id) = self.session_expiry.pop_due(now) {
            if self.online.contains_key(&client_id)
                || self.config.has_bug(PlantedBug::SessionExpiryIgnored)
            {
                continue;
            }
            self.events.push_back(Event::SessionExpired { client_id: client_id.clone() });
            self.discard_session(&client_id);
            // A Will still waiting is published when its session ends [MQTT-3.1.2-8].
            if self.config.has_bug(PlantedBug::NoWillAtSessionEnd) {
                continue;
            }
            self.will_deadlines.set(&client_id, None);
            if let Some(will) = self.pending_wills.remove(&client_id) {
                self.publish_will(client_id, will);
            }
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
        let conns = self.deadlines.first().map(|&(deadline, _)| deadline);
        // A restarted core wants the time at once, to start its sessions' expiry.
        let restarted = (!self.awaiting_clock.is_empty()).then_some(self.now);
        [conns, self.will_deadlines.first(), self.session_expiry.first(), restarted]
            .into_iter()
            .flatten()
            .min()
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

    /// Queues a packet for a connection. A 5.0 client's Maximum Packet Size is honoured
    /// [MQTT-3.1.2-24]: Reason String and User Properties are left out when they would make the
    /// packet too large [MQTT-3.2.2-19] [MQTT-3.2.2-20] [MQTT-3.4.2-2] [MQTT-3.4.2-3], and a
    /// packet still too large is not sent.
    fn send(&mut self, conn: ConnId, mut packet: Packet) {
        let limited = !self.limited.is_empty() && self.limited.contains(&conn);
        let limits = limited.then(|| self.conns.get(&conn).map(Conn::limits)).flatten();
        if let Some(max) = limits.and_then(|l| l.maximum_packet_size) {
            let fits = |p: &Packet| {
                mqttsim_codec::encoded_len(p, Protocol::V5).is_ok_and(|n| n <= max as usize)
            };
            if !fits(&packet) {
                if let Some(properties) = diagnostics_of(&mut packet) {
                    props::strip_diagnostics(properties);
                }
                if !fits(&packet) {
                    return;
                }
            }
        }
        self.outputs.push_back(Output::Send { conn, packet });
    }

    /// Records that a 5.0 packet with a reason code went to `conn`, for logs.
    fn reason_sent(
        &mut self,
        conn: ConnId,
        client_id: &ByteString,
        packet: PacketType,
        reason_code: ReasonCode,
    ) {
        let client_id = client_id.clone();
        self.events.push_back(Event::ReasonCodeSent { conn, client_id, packet, reason_code });
    }

    /// A Reason String for a 5.0 packet other than PUBLISH, CONNACK and DISCONNECT, if the
    /// client did not turn Problem Information off [MQTT-3.1.2-29].
    fn problem_information(&self, conn: ConnId, text: &str) -> Properties {
        let allowed = self.conns.get(&conn).is_some_and(|c| c.limits().problem_information);
        let mut properties = Properties::new();
        if allowed {
            properties.push(Property::ReasonString(text.to_owned()));
        }
        properties
    }

    /// Closes for a Protocol Error (DISCONNECT 0x82 over 5.0), firing the Will.
    fn violation(&mut self, conn: ConnId, statement: &'static str, detail: &str) {
        self.violation_with(conn, statement, detail, ReasonCode::PROTOCOL_ERROR);
    }

    /// Closes for a client's violation, sending a 5.0 client DISCONNECT with `code`.
    fn violation_with(
        &mut self,
        conn: ConnId,
        statement: &'static str,
        detail: &str,
        code: ReasonCode,
    ) {
        let reason = DisconnectReason::violation(statement, detail);
        self.close(conn, Closing { reason, fire_will: true, tell_driver: true, code: Some(code) });
    }

    /// Answers CONNECT with a failure code and closes [MQTT-3.2.2-4] [MQTT-3.2.2-5].
    fn refuse(&mut self, conn: ConnId, client_id: ByteString, reason_code: ReasonCode) {
        let connack =
            ConnAck { session_present: false, reason_code, properties: Properties::new() };
        self.send(conn, Packet::ConnAck(connack));
        if self.conns.get(&conn).is_some_and(Conn::v5) {
            self.reason_sent(conn, &client_id, PacketType::ConnAck, reason_code);
        }
        self.events.push_back(Event::ConnectionRefused { conn, client_id, reason_code });
        let reason = DisconnectReason::ConnectRefused(reason_code);
        self.close(conn, Closing { reason, fire_will: false, tell_driver: true, code: None });
    }

    fn close(&mut self, conn: ConnId, closing: Closing) {
        let Some(c) = self.conns.remove(&conn) else { return };
        self.limited.remove(&conn);
        if let Some(deadline) = c.deadline {
            self.deadlines.remove(&(deadline, conn));
        }
        let Closing { reason, fire_will, tell_driver, code } = closing;
        if tell_driver {
            // A server DISCONNECT only follows a successful CONNACK [MQTT-3.14.0-1].
            if let (true, Some(code), ConnState::Connected { client_id }) = (c.v5(), code, &c.state)
            {
                self.send_disconnect(conn, &c, client_id, code, &reason);
            }
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
        let now = self.now;
        let session = self.store.state_mut().sessions.get_mut(&client_id);
        let (clean, expiry, expires_at, shared_queued) = match session {
            Some(session) => {
                session.disconnected_at = Some(now);
                let shared_queued = session.queue.iter().any(|m| m.group.is_some());
                (session.clean, session.expiry_interval, session.expires_at(), shared_queued)
            }
            None => (true, 0, None, false),
        };
        if clean {
            // A clean session lasts as long as its connection [MQTT-3.1.2-6].
            self.discard_session(&client_id);
        } else {
            // It outlives the connection by its Session Expiry Interval [MQTT-3.1.2-23].
            if expires_at.is_some() {
                self.session_expiry.set(&client_id, expires_at);
            }
            // Shared-subscription messages still queued go to members that are online.
            if shared_queued {
                self.redistribute(&client_id);
            }
        }
        // The Will is published when the connection ends without DISCONNECT [MQTT-3.1.2-8],
        // after its Will Delay Interval unless a new connection comes first, and at the
        // latest when the session ends.
        let Some(will) = c.will.filter(|_| fire_will) else { return };
        let delay =
            if c.protocol == Some(Protocol::V5) { props::will_delay(&will.properties) } else { 0 };
        let at_session_end = !self.config.has_bug(PlantedBug::NoWillAtSessionEnd);
        if delay == 0
            || (clean && at_session_end)
            || self.config.has_bug(PlantedBug::WillDelayIgnored)
        {
            self.publish_will(client_id, will);
        } else {
            let wait = if at_session_end { delay.min(expiry) } else { delay };
            let wait = Duration::from_secs(u64::from(wait));
            self.will_deadlines.set(&client_id, Some(now.saturating_add(wait)));
            self.pending_wills.insert(client_id, will);
        }
    }

    /// Sends a 5.0 client DISCONNECT with `code` and the reason's detail as Reason String.
    fn send_disconnect(
        &mut self,
        conn: ConnId,
        c: &Conn,
        client_id: &ByteString,
        code: ReasonCode,
        reason: &DisconnectReason,
    ) {
        let mut properties = Properties::new();
        if let DisconnectReason::ProtocolViolation { statement, detail } = reason {
            let text = match statement {
                Some(statement) => format!("{detail} [{statement}]"),
                None => detail.clone(),
            };
            properties.push(Property::ReasonString(text));
        }
        let mut packet = Packet::Disconnect(Disconnect { reason_code: code, properties });
        if let Some(max) = c.limits().maximum_packet_size
            && mqttsim_codec::encoded_len(&packet, Protocol::V5).is_ok_and(|n| n > max as usize)
            && let Some(properties) = diagnostics_of(&mut packet)
        {
            // [MQTT-3.14.2-3]
            props::strip_diagnostics(properties);
        }
        self.outputs.push_back(Output::Send { conn, packet });
        self.reason_sent(conn, client_id, PacketType::Disconnect, code);
    }

    fn publish_will(&mut self, client_id: ByteString, will: Will) {
        self.events.push_back(Event::WillPublished {
            client_id: client_id.clone(),
            topic: will.topic.clone(),
            qos: will.qos,
            retain: will.retain,
        });
        let expires_at = self.expiry_of(&will.properties);
        // Will properties travel with the Will, but not the delay [MQTT-3.1.3-10].
        let properties =
            if will.properties.is_empty() || self.config.has_bug(PlantedBug::WillPropertyLeak) {
                will.properties
            } else {
                props::will_message(will.properties)
            };
        let message = Message {
            topic: will.topic,
            payload: will.payload,
            qos: will.qos,
            retain: will.retain,
            properties,
            expires_at,
            group: None,
        };
        self.publish(message, Some(&client_id));
    }

    fn expiry_of(&self, properties: &Properties) -> Option<Duration> {
        let secs = props::message_expiry(properties)?;
        Some(self.now.saturating_add(Duration::from_secs(u64::from(secs))))
    }

    fn discard_session(&mut self, client_id: &ByteString) {
        self.session_expiry.set(client_id, None);
        let Some(session) = self.store.state_mut().sessions.remove(client_id) else { return };
        self.extended.remove(client_id);
        let stale = self.config.has_bug(PlantedBug::SharedSubStaleMember);
        for filter in session.subscriptions.keys() {
            match shared_filter(filter, session.is_shared(filter)) {
                Some(_) if stale => {}
                Some(inner) => self.shared.leave(filter, inner, client_id),
                None => {
                    self.index.remove(filter, client_id);
                }
            }
        }
        self.redistribute_messages(client_id, session);
    }

    /// A member's connection ended but its session lives on: its queued shared-subscription
    /// messages go to another member of their group that is online, if there is one (in-flight
    /// ones wait for the member's return, as [MQTT-4.4.0-1] asks).
    fn redistribute(&mut self, client_id: &ByteString) {
        let Some(session) = self.store.state_mut().sessions.get_mut(client_id) else { return };
        let online = &self.online;
        let shared = &self.shared;
        let is_online = |c: &ByteString| online.contains_key(c);
        let moving = session.queue.take_where(|m| {
            m.group.as_ref().is_some_and(|g| shared.has_online_member(g, is_online, client_id))
        });
        for message in moving {
            let group = message.group.as_deref().cloned().expect("only shared messages move");
            self.deliver_to_group(&group, message, Some(client_id));
        }
    }

    /// A session ended: its shared-subscription messages, queued and QoS 1 in flight, go to
    /// other members of their groups; a QoS 2 message in flight goes to no one else
    /// [MQTT-4.8.2-5]. Other messages end with the session.
    fn redistribute_messages(&mut self, client_id: &ByteString, session: Session) {
        let mut moving = Vec::new();
        let lose = self.config.has_bug(PlantedBug::SharedSubRedispatchLoss);
        for (_, inflight) in session.inflight {
            let Some(_) = &inflight.message.group else { continue };
            match inflight.state {
                InflightState::AwaitingPubAck if lose => {}
                InflightState::AwaitingPubAck => moving.push(inflight.message),
                InflightState::AwaitingPubRec => {
                    let message = inflight.message;
                    self.events.push_back(Event::MessageDropped {
                        client_id: client_id.clone(),
                        topic: message.topic,
                        payload: message.payload,
                        reason: DropReason::SharedSessionEnded,
                    });
                }
                // Received by the member already: only the PUBCOMP was missing.
                InflightState::AwaitingPubComp => {}
            }
        }
        let mut queue = session.queue;
        moving.extend(queue.take_where(|m| m.group.is_some()));
        if lose {
            moving.retain(|m| m.qos != QoS::AtLeastOnce);
        }
        for message in moving {
            let group = message.group.as_deref().cloned().expect("only shared messages move");
            self.deliver_to_group(&group, message, Some(client_id));
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
        let v5 = connect.protocol == Protocol::V5;
        let connect_protocol = connect.protocol;
        if connect.protocol == Protocol::V31 && connect.client_id.is_empty() {
            // 3.1 has no generated identifiers: 1 to 23 characters are required (Mosquitto
            // accepts longer ones, and so do we).
            self.refuse(conn, ByteString::new(), ReasonCode::CLIENT_IDENTIFIER_NOT_VALID);
            return;
        }
        if !v5 && connect.password.is_some() && connect.username.is_none() {
            self.violation(conn, "MQTT-3.1.2-22", "password without user name");
            return;
        }
        if let Some(will) = &connect.will
            && let Err(error) = topic::validate_name(&will.topic)
        {
            let reason = DisconnectReason::violation(error.statement(), "invalid Will topic");
            self.close(conn, Closing { reason, fire_will: false, tell_driver: true, code: None });
            return;
        }
        if v5 && let Some(refusal) = self.v5_connect_refusal(&connect) {
            self.refuse(conn, ByteString::from(connect.client_id), refusal);
            return;
        }
        let assigned = connect.client_id.is_empty();
        let client_id = if connect.client_id.is_empty() {
            if !connect.clean_start && !v5 {
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
        // Session takeover: the existing connection is closed [MQTT-3.1.4-2], with 0x8E over
        // 5.0 [MQTT-3.1.4-3].
        if let Some(&Online { conn: old, .. }) = self.online.get(&client_id) {
            let delayed = self.conns.get(&old).and_then(|c| c.will.as_ref()).is_some_and(|w| {
                self.conns.get(&old).is_some_and(Conn::v5) && props::will_delay(&w.properties) > 0
            });
            let dropped = self.config.has_bug(PlantedBug::NoWillOnTakeover)
                || (delayed && self.config.has_bug(PlantedBug::NoWillOnDelayedTakeover));
            let fire_will = !dropped;
            let reason = DisconnectReason::TakenOver;
            let code = Some(ReasonCode::SESSION_TAKEN_OVER);
            self.close(old, Closing { reason, fire_will, tell_driver: true, code });
        }
        // A new connection before the Will Delay Interval passed: no Will [MQTT-3.1.3-9].
        self.will_deadlines.set(&client_id, None);
        self.pending_wills.remove(&client_id);
        let clean = connect.clean_start;
        if clean {
            // [MQTT-3.1.2-6]
            self.discard_session(&client_id);
        }
        // 3.1.1: Clean Session 1 lives as long as the connection, 0 for ever. 5.0: the
        // Session Expiry Interval, 0 when absent, capped by the configuration.
        let requested = match connect.protocol {
            Protocol::V311 | Protocol::V31 if clean => 0,
            Protocol::V311 | Protocol::V31 => NEVER_EXPIRES,
            Protocol::V5 => connect.properties.session_expiry_interval().unwrap_or(0),
        };
        let expiry = requested.min(self.config.max_session_expiry_interval);
        let ends_with_connection = expiry == 0;
        let sessions = &mut self.store.state_mut().sessions;
        // Session present only when a stored session is resumed [MQTT-3.2.2-1..3].
        let session_present = sessions.contains_key(&client_id);
        let session =
            sessions.entry(client_id.clone()).or_insert_with(|| Session::new(ends_with_connection));
        session.clean = ends_with_connection;
        session.expiry_interval = expiry;
        session.disconnected_at = None;
        session.username = connect.username.as_deref().map(ByteString::from);
        self.session_expiry.set(&client_id, None);
        self.online.insert(client_id.clone(), Online { conn, v5 });
        let server_keep_alive = self.config.server_keep_alive.filter(|_| v5);
        let keep_alive = server_keep_alive.unwrap_or(connect.keep_alive);
        let c = self.conns.get_mut(&conn).expect("the connection is still open");
        c.state = ConnState::Connected { client_id: client_id.clone() };
        c.will = connect.will;
        c.username = connect.username;
        if v5 {
            let limits = ClientLimits::of(&connect.properties);
            if limits.maximum_packet_size.is_some() {
                self.limited.insert(conn);
            }
            let v5 = V5Conn { limits, connect_expiry: requested, ..V5Conn::default() };
            c.v5 = Some(Box::new(v5));
        }
        let limits = c.limits();
        c.silence_limit = (keep_alive > 0).then(|| {
            let grace = u64::from(self.config.keepalive_grace_permille);
            Duration::from_millis(u64::from(keep_alive) * grace)
        });
        let deadline = c.silence_limit.map(|limit| now.saturating_add(limit));
        self.set_deadline(conn, deadline);
        let properties = if v5 {
            let assigned = assigned.then_some(&client_id);
            self.connack_properties(requested, expiry, assigned, &limits)
        } else {
            Properties::new()
        };
        // 3.1's CONNACK has no session present flag (the byte is reserved).
        let session_present = session_present && connect_protocol != Protocol::V31;
        let connack = ConnAck { session_present, reason_code: ReasonCode::SUCCESS, properties };
        self.send(conn, Packet::ConnAck(connack));
        if v5 {
            self.reason_sent(conn, &client_id, PacketType::ConnAck, ReasonCode::SUCCESS);
        }
        self.events.push_back(Event::ClientConnected {
            conn,
            client_id: client_id.clone(),
            clean_session: clean,
            session_present,
        });
        if session_present {
            if v5 && self.config.has_bug(PlantedBug::FlowQuotaLeak) {
                // The quota slot charged for the resumption is never given back.
                *self.leaked_quota.entry(client_id.clone()).or_default() += 1;
            }
            self.resend_inflight(conn, &client_id);
        }
        self.flush(&client_id);
    }

    /// Why a 5.0 CONNECT is refused before its identifier and credentials are looked at.
    fn v5_connect_refusal(&self, connect: &Connect) -> Option<ReasonCode> {
        if props::authentication_method(&connect.properties).is_some() {
            // No extended authentication method is supported [MQTT-4.12.0-1].
            return Some(ReasonCode::BAD_AUTHENTICATION_METHOD);
        }
        let will = connect.will.as_ref()?;
        if will.qos > self.config.max_qos {
            // [MQTT-3.2.2-12]
            return Some(ReasonCode::QOS_NOT_SUPPORTED);
        }
        if will.retain && !self.config.retain_available {
            // [MQTT-3.2.2-13]
            return Some(ReasonCode::RETAIN_NOT_SUPPORTED);
        }
        None
    }

    /// What a successful 5.0 CONNACK announces: only values that differ from the defaults a
    /// client assumes when a property is absent.
    fn connack_properties(
        &self,
        requested_expiry: u32,
        granted_expiry: u32,
        assigned: Option<&ByteString>,
        limits: &ClientLimits,
    ) -> Properties {
        let config = &self.config;
        let mut p = Properties::new();
        if granted_expiry != requested_expiry {
            p.push(Property::SessionExpiryInterval(granted_expiry));
        }
        let receive_maximum = u16::try_from(config.max_inbound_qos2.max(1)).unwrap_or(u16::MAX);
        if receive_maximum < u16::MAX {
            p.push(Property::ReceiveMaximum(receive_maximum));
        }
        if config.max_qos < QoS::ExactlyOnce && !config.has_bug(PlantedBug::MaximumQosNotAnnounced)
        {
            // [MQTT-3.2.2-9]
            p.push(Property::MaximumQoS(config.max_qos.as_u8()));
        }
        if !config.retain_available {
            p.push(Property::RetainAvailable(0));
        }
        p.push(Property::MaximumPacketSize(config.max_packet_size.max(1)));
        if let Some(id) = assigned {
            // [MQTT-3.1.3-7] [MQTT-3.2.2-16]
            p.push(Property::AssignedClientIdentifier(id.to_string()));
        }
        if config.topic_alias_maximum > 0 {
            p.push(Property::TopicAliasMaximum(config.topic_alias_maximum));
        }
        if !config.wildcard_subscriptions {
            p.push(Property::WildcardSubscriptionAvailable(0));
        }
        if !config.subscription_identifiers {
            p.push(Property::SubscriptionIdentifierAvailable(0));
        }
        if !config.shared_subscriptions {
            p.push(Property::SharedSubscriptionAvailable(0));
        }
        if let Some(keep_alive) = config.server_keep_alive {
            p.push(Property::ServerKeepAlive(keep_alive));
        }
        // Only to a client that asked [MQTT-3.1.2-28].
        if limits.response_information
            && let Some(info) = &config.response_information
        {
            p.push(Property::ResponseInformation(info.clone()));
        }
        p
    }

    /// Resends unacknowledged PUBLISH packets with DUP=1, and PUBREL for those awaiting
    /// PUBCOMP, in their original order [MQTT-4.4.0-1]; PUBLISH packets beyond the client's
    /// Receive Maximum wait for room [MQTT-3.3.4-9].
    fn resend_inflight(&mut self, conn: ConnId, client_id: &ByteString) {
        let forget_qos1 = self.config.has_bug(PlantedBug::ForgetInflightOnReconnect);
        let dup = !self.config.has_bug(PlantedBug::DupFlagNotSet);
        let now = self.now;
        let clock = (!self.config.has_bug(PlantedBug::ExpiryNotDecremented)).then_some(now);
        let c = self.conns.get(&conn).expect("the connection is open");
        let window = match &c.v5 {
            Some(v5) => self.v5_window(client_id, v5.limits.receive_maximum),
            None => c.window(self.config.max_inflight),
        };
        let c = self.conns.get_mut(&conn).expect("the connection is open");
        let ignore_size = self.config.has_bug(PlantedBug::MaximumPacketSizeIgnored);
        let max_size = c.limits().maximum_packet_size.filter(|_| !ignore_size);
        let v5 = c.v5();
        let session =
            self.store.state_mut().sessions.get_mut(client_id).expect("a resumed session exists");
        if forget_qos1 {
            session.inflight.retain(|_, f| f.state != InflightState::AwaitingPubAck);
        }
        let mut too_large = Vec::new();
        let mut sent = 0;
        for (&packet_id, inflight) in &session.inflight {
            let packet = match inflight.state {
                InflightState::AwaitingPubAck | InflightState::AwaitingPubRec => {
                    if sent >= window {
                        // Only a 5.0 Receive Maximum makes the window smaller than the
                        // in-flight set.
                        if let Some(v5) = &mut c.v5 {
                            v5.resend.push_back(packet_id);
                        }
                        continue;
                    }
                    let packet = Packet::Publish(publish_packet(
                        &inflight.message,
                        packet_id,
                        dup,
                        clock,
                        v5,
                    ));
                    if !fits(&packet, max_size) {
                        too_large.push(packet_id);
                        continue;
                    }
                    packet
                }
                InflightState::AwaitingPubComp => Packet::PubRel(Ack::new(packet_id)),
            };
            sent += 1;
            self.outputs.push_back(Output::Send { conn, packet });
        }
        // Too large for this connection: dropped as if delivered [MQTT-3.1.2-25].
        for packet_id in too_large {
            let inflight = session.inflight.shift_remove(&packet_id).expect("in flight");
            self.events.push_back(Event::MessageDropped {
                client_id: client_id.clone(),
                topic: inflight.message.topic,
                payload: inflight.message.payload,
                reason: DropReason::PacketTooLarge,
            });
        }
    }

    fn on_publish(&mut self, conn: ConnId, client_id: &ByteString, mut publish: Publish) {
        let v5 = self.conns.get(&conn).is_some_and(Conn::v5);
        if v5 {
            // Topic aliases are resolved first: a PUBLISH may carry only the alias.
            let problem = self
                .resolve_alias(conn, &mut publish)
                .err()
                .or_else(|| self.v5_publish_violation(&publish));
            if let Some((statement, detail, code)) = problem {
                self.violation_with(conn, statement, detail, code);
                return;
            }
        }
        if let Err(error) = topic::validate_name(&publish.topic) {
            let code = if v5 { ReasonCode::TOPIC_NAME_INVALID } else { ReasonCode::PROTOCOL_ERROR };
            self.violation_with(conn, error.statement(), "invalid PUBLISH topic name", code);
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
                    let message = self.message_of(publish);
                    self.publish(message, Some(client_id));
                }
                return;
            }
            if publish.dup && self.config.has_bug(PlantedBug::Qos2DupFlagDrop) {
                // Planted: DUP=1 taken for "already seen"; acknowledged, never forwarded.
                self.send(conn, Packet::PubRec(Ack::new(packet_id)));
                return;
            }
            if session.inbound_qos2.len() >= cap {
                // Over 5.0 the cap is the Receive Maximum the CONNACK announced.
                let reason = DisconnectReason::LimitExceeded(Limit::InboundQos2);
                let code = Some(ReasonCode::RECEIVE_MAXIMUM_EXCEEDED);
                self.close(conn, Closing { reason, fire_will: true, tell_driver: true, code });
                return;
            }
        }
        if let Some(code) = self.publish_refusal(conn, &publish) {
            if code == ReasonCode::NOT_AUTHORIZED {
                self.events.push_back(Event::PublishRefused {
                    client_id: client_id.clone(),
                    topic: publish.topic.clone(),
                    packet_id,
                    qos: publish.qos,
                });
            }
            // 5.0: the acknowledgement says why and the message goes nowhere. 3.1.1 has no way
            // to say it: the message is acknowledged at its QoS and not delivered
            // [MQTT-3.3.5-2].
            if publish.qos != QoS::AtMostOnce {
                let ack = if v5 {
                    let properties = self.problem_information(conn, refusal_text(code));
                    Ack { packet_id, reason_code: code, properties }
                } else {
                    Ack::new(packet_id)
                };
                let (packet, kind) = match publish.qos {
                    QoS::AtLeastOnce => (Packet::PubAck(ack), PacketType::PubAck),
                    _ => (Packet::PubRec(ack), PacketType::PubRec),
                };
                if v5 {
                    self.reason_sent(conn, client_id, kind, code);
                } else if publish.qos == QoS::ExactlyOnce {
                    self.inbound_qos2(client_id).insert(packet_id);
                }
                self.send(conn, packet);
            }
            return;
        }
        if publish.qos == QoS::ExactlyOnce {
            self.inbound_qos2(client_id).insert(packet_id);
        }
        self.events.push_back(Event::MessageAccepted {
            client_id: client_id.clone(),
            topic: publish.topic.clone(),
            packet_id,
            qos: publish.qos,
            retain: publish.retain,
            payload: publish.payload.clone(),
        });
        let qos = publish.qos;
        let ack_at = self.outputs.len();
        let message = self.message_of(publish);
        let routed = self.publish(message, Some(client_id));
        // 0x10 when no subscription matched (5.0 only); the acknowledgement goes before
        // anything the message caused.
        let code = if v5 && routed == 0 {
            ReasonCode::NO_MATCHING_SUBSCRIBERS
        } else {
            ReasonCode::SUCCESS
        };
        let ack = Ack { packet_id, reason_code: code, properties: Properties::new() };
        let (packet, kind) = match qos {
            QoS::AtMostOnce => return,
            // [MQTT-4.3.2-2]
            QoS::AtLeastOnce => (Packet::PubAck(ack), PacketType::PubAck),
            QoS::ExactlyOnce => (Packet::PubRec(ack), PacketType::PubRec),
        };
        if code != ReasonCode::SUCCESS {
            self.reason_sent(conn, client_id, kind, code);
        }
        self.outputs.insert(ack_at, Output::Send { conn, packet });
    }

    /// Applies a 5.0 PUBLISH's Topic Alias: sets the mapping, or fills in an empty topic
    /// from it [MQTT-3.3.2-12].
    fn resolve_alias(
        &mut self,
        conn: ConnId,
        publish: &mut Publish,
    ) -> Result<(), (&'static str, &'static str, ReasonCode)> {
        let Some(alias) = publish.properties.topic_alias() else { return Ok(()) };
        if alias > self.config.topic_alias_maximum {
            let detail = "topic alias above the Topic Alias Maximum";
            return Err(("MQTT-3.3.2-9", detail, ReasonCode::TOPIC_ALIAS_INVALID));
        }
        let c = self.conns.get_mut(&conn).and_then(|c| c.v5.as_mut()).expect("a 5.0 connection");
        if publish.topic.is_empty() {
            match c.aliases.get(&alias) {
                Some(topic) => publish.topic = topic.clone(),
                None => {
                    let detail = "topic alias that was never set on this connection";
                    return Err(("MQTT-3.3.2-12", detail, ReasonCode::PROTOCOL_ERROR));
                }
            }
        } else {
            // A copy of the topic alone: a slice would keep the whole packet's buffer alive as
            // long as the alias lives.
            c.aliases.insert(alias, ByteString::from(&*publish.topic));
        }
        Ok(())
    }

    fn inbound_qos2(&mut self, client_id: &ByteString) -> &mut BTreeSet<u16> {
        let sessions = &mut self.store.state_mut().sessions;
        &mut sessions.get_mut(client_id).expect("a connected client has a session").inbound_qos2
    }

    /// The highest QoS a PUBLISH may have: `max_qos`, or with the planted bug at most 1 (and
    /// never announced).
    fn supported_qos(&self) -> QoS {
        if self.config.has_bug(PlantedBug::MaximumQosNotAnnounced) {
            self.config.max_qos.min(QoS::AtLeastOnce)
        } else {
            self.config.max_qos
        }
    }

    /// What a 5.0 PUBLISH may not carry or ask for, as (statement, detail, DISCONNECT code).
    fn v5_publish_violation(
        &self,
        publish: &Publish,
    ) -> Option<(&'static str, &'static str, ReasonCode)> {
        if props::has_subscription_identifier(&publish.properties) {
            let detail = "PUBLISH from a client with a Subscription Identifier";
            return Some(("MQTT-3.3.4-6", detail, ReasonCode::PROTOCOL_ERROR));
        }
        if publish.qos > self.supported_qos() {
            let detail = "PUBLISH above the Maximum QoS";
            return Some(("MQTT-3.2.2-11", detail, ReasonCode::QOS_NOT_SUPPORTED));
        }
        if publish.retain && !self.config.retain_available {
            let detail = "PUBLISH with RETAIN=1 while Retain Available is 0";
            return Some(("MQTT-3.2.2-14", detail, ReasonCode::RETAIN_NOT_SUPPORTED));
        }
        None
    }

    /// Why an otherwise valid PUBLISH is not accepted: not authorized (0x87), or a new
    /// retained topic beyond `max_retained_messages` over 5.0 (0x97 quota exceeded; 3.1.1
    /// forwards it without retaining it).
    fn publish_refusal(&self, conn: ConnId, publish: &Publish) -> Option<ReasonCode> {
        let c = self.conns.get(&conn)?;
        let ConnState::Connected { client_id } = &c.state else { return None };
        if !self.may(client_id, |authorizer, who| authorizer.may_publish(who, &publish.topic)) {
            return Some(ReasonCode::NOT_AUTHORIZED);
        }
        let retained = &self.store.state().retained;
        if c.v5()
            && publish.qos != QoS::AtMostOnce
            && publish.retain
            && !publish.payload.is_empty()
            && retained.len() >= self.config.max_retained_messages
            && retained.get(&publish.topic).is_none()
        {
            return Some(ReasonCode::QUOTA_EXCEEDED);
        }
        None
    }

    fn message_of(&self, publish: Publish) -> Message {
        let expires_at = self.expiry_of(&publish.properties);
        let mut properties = if self.config.has_bug(PlantedBug::TopicAliasLeak) {
            publish.properties
        } else {
            props::forwarded(publish.properties)
        };
        if self.config.has_bug(PlantedBug::UserPropertiesDropped) {
            properties.0.retain(|p| !matches!(p, Property::UserProperty(..)));
        }
        Message {
            topic: publish.topic,
            payload: publish.payload,
            qos: publish.qos,
            retain: publish.retain,
            properties,
            expires_at,
            group: None,
        }
    }

    /// Retains (if asked) and routes a message to every matching session and to one member of
    /// every matching shared group. Returns the number of subscriptions it was routed to.
    fn publish(&mut self, message: Message, publisher: Option<&ByteString>) -> usize {
        if message.retain {
            self.retain(&message);
            if message.payload.is_empty()
                && self.config.has_bug(PlantedBug::RetainedDeleteNotForwarded)
            {
                return 0;
            }
        }
        let mut routed = 0;
        for (client_id, subscription_qos) in self.index.matches(&message.topic) {
            let copy = if self.extended.contains(&client_id) {
                match self.extended_copy(&client_id, &message, publisher) {
                    Some(copy) => copy,
                    None => continue,
                }
            } else {
                // Delivered at min(publish QoS, subscription QoS) [MQTT-3.8.4-6], with RETAIN=0
                // [MQTT-3.3.1-9].
                Message { qos: message.qos.min(subscription_qos), retain: false, ..message.clone() }
            };
            routed += 1;
            self.deliver(&client_id, copy);
        }
        for group in self.shared.matching(&message.topic) {
            routed += 1;
            self.deliver_to_group(&group, message.clone(), None);
        }
        routed
    }

    /// The copy of a message for a session whose subscriptions use 5.0 options: No Local
    /// [MQTT-3.8.3-3], Retain As Published [MQTT-3.3.1-12] [MQTT-3.3.1-13], and the
    /// Subscription Identifiers of every matching subscription [MQTT-3.3.4-3]
    /// [MQTT-3.3.4-4]; `None` when no subscription is left to match.
    fn extended_copy(
        &self,
        client_id: &ByteString,
        message: &Message,
        publisher: Option<&ByteString>,
    ) -> Option<Message> {
        let session = self.session(client_id)?;
        let own = publisher == Some(client_id);
        let mut qos = None;
        let mut retain = false;
        let mut identifiers = Vec::new();
        for (filter, options) in &session.subscriptions {
            let extras = session.extras.get(filter).copied().unwrap_or_default();
            let no_local = options.no_local && !self.config.has_bug(PlantedBug::NoLocalIgnored);
            if extras.shared || (own && no_local) || !topic::matches(filter, &message.topic) {
                continue;
            }
            qos = qos.max(Some(options.qos));
            retain |= options.retain_as_published && message.retain && !self.rap_ignored();
            identifiers.extend(extras.identifier);
        }
        let qos = qos?;
        let mut properties = message.properties.clone();
        properties.0.extend(identifiers.into_iter().map(Property::SubscriptionIdentifier));
        Some(Message { qos: message.qos.min(qos), retain, properties, ..message.clone() })
    }

    /// With the planted bug, Retain As Published is ignored.
    fn rap_ignored(&self) -> bool {
        self.config.has_bug(PlantedBug::RetainAsPublishedIgnored)
    }

    /// Sends a message to one member of a shared group (never `exclude`), with that member's
    /// granted QoS [MQTT-4.8.2-3] and Subscription Identifier. Returns whether a member took it.
    fn deliver_to_group(
        &mut self,
        group: &ByteString,
        mut message: Message,
        exclude: Option<&ByteString>,
    ) -> bool {
        let online = &self.online;
        // With the planted bug, a member whose session is gone counts as online.
        let stale = self.config.has_bug(PlantedBug::SharedSubStaleMember);
        let sessions = &self.store.state().sessions;
        let is_online = |client: &ByteString| {
            online.contains_key(client) || (stale && !sessions.contains_key(client))
        };
        let exclude = exclude.map(|e| e.as_ref());
        let Some((member, qos)) = self.shared.pick(group, is_online, exclude) else {
            return false;
        };
        let session = self.session(&member);
        let identifier = session.and_then(|s| s.extras.get(group)).and_then(|e| e.identifier);
        let as_published =
            session.and_then(|s| s.subscriptions.get(group)).is_some_and(|o| o.retain_as_published);
        message.properties.0.retain(|p| !matches!(p, Property::SubscriptionIdentifier(_)));
        message.properties.0.extend(identifier.map(Property::SubscriptionIdentifier));
        message.qos = message.qos.min(qos);
        message.retain &= as_published && !self.rap_ignored();
        message.group = Some(Box::new(group.clone()));
        self.deliver(&member, message);
        true
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
        if self.config.has_bug(PlantedBug::RetainedExpiryIgnored) {
            retained.insert(Message { expires_at: None, ..message.clone() });
        } else {
            retained.insert(message.clone());
        }
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
    /// In-flight messages still to be resent on this connection go first. Expired messages
    /// are dropped [MQTT-3.3.2-5], and so are PUBLISH packets larger than a 5.0 client's
    /// Maximum Packet Size, as if sent [MQTT-3.1.2-25].
    fn flush(&mut self, client_id: &ByteString) {
        let Some(&Online { conn, v5 }) = self.online.get(client_id) else { return };
        let now = self.now;
        let clock = (!self.config.has_bug(PlantedBug::ExpiryNotDecremented)).then_some(now);
        let drop_expired = !self.config.has_bug(PlantedBug::ExpiryIgnoredQueued);
        let configured = usize::from(self.config.max_inflight.max(1));
        // A 3.1.1 connection needs nothing from its `Conn`: no lookup on the hot path.
        let receive_maximum = match v5 {
            true => self
                .conns
                .get(&conn)
                .and_then(|c| c.v5.as_deref())
                .map(|c| c.limits.receive_maximum),
            false => None,
        };
        let window = match receive_maximum {
            Some(rm) => self.v5_window(client_id, rm),
            None => configured,
        };
        let mut c5 = match v5 {
            true => self.conns.get_mut(&conn).and_then(|c| c.v5.as_deref_mut()),
            false => None,
        };
        let max_size = c5
            .as_ref()
            .and_then(|c| c.limits.maximum_packet_size)
            .filter(|_| !self.config.has_bug(PlantedBug::MaximumPacketSizeIgnored));
        let Some(session) = self.store.state_mut().sessions.get_mut(client_id) else { return };
        if let Some(resend) = c5.as_mut().map(|c| &mut c.resend) {
            while let Some(&packet_id) = resend.front() {
                // Identifiers acknowledged meanwhile may still be listed: the count errs low.
                if session.inflight.len().saturating_sub(resend.len()) >= window {
                    return;
                }
                resend.pop_front();
                let Some(inflight) = session.inflight.get(&packet_id) else { continue };
                let message = &inflight.message;
                let packet = Packet::Publish(publish_packet(message, packet_id, true, clock, v5));
                self.outputs.push_back(Output::Send { conn, packet });
            }
        }
        while let Some(front) = session.queue.front() {
            if front.qos != QoS::AtMostOnce && session.inflight.len() >= window {
                break;
            }
            let message = session.queue.pop_front().expect("front exists");
            let dropped = if drop_expired && message.expired(now) {
                Some(DropReason::Expired)
            } else if max_size.is_some()
                && !fits(
                    &Packet::Publish(publish_packet(&message, 1, false, clock, true)),
                    max_size,
                )
            {
                Some(DropReason::PacketTooLarge)
            } else {
                None
            };
            if let Some(reason) = dropped {
                self.events.push_back(Event::MessageDropped {
                    client_id: client_id.clone(),
                    topic: message.topic,
                    payload: message.payload,
                    reason,
                });
                continue;
            }
            let packet_id = match message.qos {
                QoS::AtMostOnce => 0,
                _ => session.allocate_packet_id(),
            };
            let packet = Packet::Publish(publish_packet(&message, packet_id, false, clock, v5));
            self.outputs.push_back(Output::Send { conn, packet });
            let state = match message.qos {
                QoS::AtMostOnce => continue,
                QoS::AtLeastOnce => InflightState::AwaitingPubAck,
                QoS::ExactlyOnce => InflightState::AwaitingPubRec,
            };
            session.inflight.insert(packet_id, Inflight { message, state });
        }
    }

    /// PUBACK or PUBCOMP (or a 5.0 PUBREC with an error code): the flow of that identifier
    /// ends if it was in the expected state.
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

    fn on_disconnect(&mut self, conn: ConnId, client_id: &ByteString, disconnect: Disconnect) {
        let c = self.conns.get(&conn).expect("connected");
        // The Will is discarded on DISCONNECT [MQTT-3.14.4-3] [MQTT-3.1.2-10]; in 5.0 only on
        // reason 0x00: 0x04 and the error codes keep it.
        let mut fire_will = self.config.has_bug(PlantedBug::WillAfterDisconnect);
        if c.v5() {
            fire_will |= disconnect.reason_code != ReasonCode::NORMAL_DISCONNECTION;
            if let Some(expiry) = disconnect.properties.session_expiry_interval() {
                if c.v5.as_ref().is_some_and(|v| v.connect_expiry == 0) && expiry != 0 {
                    // A Protocol Error (MQTT 5.0 §3.14.2.2.2, without a statement id).
                    let reason = DisconnectReason::ProtocolViolation {
                        statement: None,
                        detail: "DISCONNECT sets a Session Expiry Interval after CONNECT set 0"
                            .to_owned(),
                    };
                    let code = Some(ReasonCode::PROTOCOL_ERROR);
                    self.close(conn, Closing { reason, fire_will: true, tell_driver: true, code });
                    return;
                }
                let granted = expiry.min(self.config.max_session_expiry_interval);
                if let Some(session) = self.store.state_mut().sessions.get_mut(client_id) {
                    session.expiry_interval = granted;
                    session.clean = granted == 0;
                }
            }
        }
        let reason = DisconnectReason::ClientDisconnect;
        self.close(conn, Closing { reason, fire_will, tell_driver: true, code: None });
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
        let c = self.conns.get(&conn).expect("connected");
        let v5 = c.v5();
        let protocol = c.protocol.unwrap_or(Protocol::V311);
        let identifier =
            if v5 { props::subscription_identifier(&subscribe.properties) } else { None };
        let mut reason_codes = Vec::with_capacity(subscribe.filters.len());
        let mut retained = Vec::new();
        let mut failures = Vec::new();
        for entry in subscribe.filters {
            let shared = if v5 {
                match SharedFilter::parse(&entry.filter) {
                    Some(Ok(parsed)) => Some(parsed.filter.len()),
                    _ => None,
                }
            } else {
                None
            };
            let exists = self
                .session(client_id)
                .is_some_and(|s| s.subscriptions.contains_key(entry.filter.as_str()));
            // Invalid, not authorized, or over the subscription limit; then what 5.0 clients
            // may ask of features the broker does not offer.
            let refusal = match self.subscription_refusal(client_id, &entry.filter) {
                Some(refusal) => Some(acl::refusal_code(protocol, refusal)),
                None if v5 => {
                    self.v5_subscribe_refusal(&entry.filter, shared.is_some(), identifier)
                }
                None => None,
            };
            if let Some(code) = refusal {
                // A failure for this filter only; the connection stays [MQTT-3.8.4-5].
                reason_codes.push(code);
                if v5 {
                    failures.push(code);
                }
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
            let extras = SubscriptionExtras { identifier, shared: shared.is_some() };
            // An identical filter replaces the old subscription [MQTT-3.8.4-3].
            if exists {
                self.remove_subscription(client_id, &filter);
            }
            let state = self.store.state_mut();
            let session = state.sessions.get_mut(client_id).expect("connected");
            session.subscriptions.insert(filter.clone(), options);
            if extras != SubscriptionExtras::default() {
                session.extras.insert(filter.clone(), extras);
            }
            if session.extended() {
                self.extended.insert(client_id.clone());
            }
            match shared_filter(&filter, extras.shared) {
                // No retained messages on a shared subscription (MQTT 5.0 §4.8.2).
                Some(inner) => self.shared.join(&filter, inner, client_id, granted),
                None => {
                    self.index.insert(&filter, client_id, granted);
                    // Retained messages go to the new (or replaced) subscription
                    // [MQTT-3.3.1-6], as Retain Handling says [MQTT-3.3.1-9..11].
                    let send = match options.retain_handling {
                        _ if self.config.has_bug(PlantedBug::RetainHandlingIgnored) => true,
                        RetainHandling::SendAtSubscribe => true,
                        RetainHandling::SendIfNew => !exists,
                        RetainHandling::DoNotSend => false,
                    };
                    let now = self.now;
                    for message in state.retained.matching(&filter).into_iter().filter(|_| send) {
                        if message.expired(now) {
                            continue;
                        }
                        let qos = message.qos.min(granted);
                        let mut properties = message.properties.clone();
                        properties.0.extend(identifier.map(Property::SubscriptionIdentifier));
                        // Sent with RETAIN=1 [MQTT-3.3.1-8].
                        retained.push(Message { qos, retain: true, properties, ..message.clone() });
                    }
                }
            }
            self.events.push_back(Event::Subscribed {
                client_id: client_id.clone(),
                filter: entry.filter,
                granted: Some(granted),
            });
        }
        let properties = match failures.first() {
            Some(&code) => self.problem_information(conn, refusal_text(code)),
            None => Properties::new(),
        };
        for code in failures {
            self.reason_sent(conn, client_id, PacketType::SubAck, code);
        }
        let suback = SubAck { packet_id: subscribe.packet_id, reason_codes, properties };
        // [MQTT-3.8.4-1] [MQTT-3.8.4-2]
        self.send(conn, Packet::SubAck(suback));
        let copies = if self.config.has_bug(PlantedBug::RetainedDuplicated) { 2 } else { 1 };
        for message in retained {
            for _ in 1..copies {
                self.deliver(client_id, message.clone());
            }
            self.deliver(client_id, message);
        }
    }

    /// Why a 5.0 subscription is refused, as its SUBACK code.
    fn v5_subscribe_refusal(
        &self,
        filter: &str,
        shared: bool,
        identifier: Option<u32>,
    ) -> Option<ReasonCode> {
        let config = &self.config;
        if shared && !config.shared_subscriptions {
            return Some(ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED);
        }
        if topic::has_wildcards(filter) && !config.wildcard_subscriptions {
            return Some(ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED);
        }
        if identifier.is_some() && !config.subscription_identifiers {
            return Some(ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED);
        }
        None
    }

    /// Removes a subscription of a session from the index or its shared group; queued
    /// messages of a shared group it leaves go to the other members.
    fn remove_subscription(&mut self, client_id: &ByteString, filter: &str) -> bool {
        let state = self.store.state_mut();
        let Some(session) = state.sessions.get_mut(client_id) else { return false };
        if session.subscriptions.remove(filter).is_none() {
            return false;
        }
        let old = session.extras.remove(filter).unwrap_or_default();
        if !session.extended() {
            self.extended.remove(client_id);
        }
        match shared_filter(filter, old.shared) {
            Some(inner) => {
                self.shared.leave(filter, inner, client_id);
                // The member's queued messages of this group go to the others; those in
                // flight are completed [MQTT-3.10.4-3].
                let session = self.store.state_mut().sessions.get_mut(client_id).expect("there");
                let moving =
                    session.queue.take_where(|m| m.group.as_deref().is_some_and(|g| g == filter));
                for message in moving {
                    let group = ByteString::from(filter);
                    self.deliver_to_group(&group, message, Some(client_id));
                }
            }
            None => {
                self.index.remove(filter, client_id);
            }
        }
        true
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
        let v5 = self.conns.get(&conn).is_some_and(Conn::v5);
        let mut reason_codes = Vec::new();
        for filter in unsubscribe.filters {
            // Messages already queued or in flight for the filter are still delivered
            // [MQTT-3.10.4-3] (a shared group's queued ones go to its other members).
            let existed = self.remove_subscription(client_id, &filter);
            if v5 {
                // [MQTT-3.11.3-1] [MQTT-3.11.3-2]
                let code = if existed {
                    ReasonCode::SUCCESS
                } else {
                    self.reason_sent(
                        conn,
                        client_id,
                        PacketType::UnsubAck,
                        ReasonCode::NO_SUBSCRIPTION_EXISTED,
                    );
                    ReasonCode::NO_SUBSCRIPTION_EXISTED
                };
                reason_codes.push(code);
            }
            self.events.push_back(Event::Unsubscribed { client_id: client_id.clone(), filter });
        }
        // UNSUBACK even when nothing matched [MQTT-3.10.4-4] [MQTT-3.10.4-5].
        let unsuback = UnsubAck {
            packet_id: unsubscribe.packet_id,
            reason_codes,
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

/// The inner filter of a subscription that is a 5.0 shared one.
fn shared_filter(filter: &str, shared: bool) -> Option<&str> {
    if !shared {
        return None;
    }
    match SharedFilter::parse(filter) {
        Some(Ok(parsed)) => Some(parsed.filter),
        _ => None,
    }
}

/// The Reason String of a refusal code.
fn refusal_text(code: ReasonCode) -> &'static str {
    match code {
        ReasonCode::NOT_AUTHORIZED => "not authorized",
        ReasonCode::QUOTA_EXCEEDED => "quota exceeded",
        ReasonCode::TOPIC_FILTER_INVALID => "topic filter invalid",
        ReasonCode::SHARED_SUBSCRIPTIONS_NOT_SUPPORTED => "shared subscriptions not supported",
        ReasonCode::SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED => {
            "subscription identifiers not supported"
        }
        ReasonCode::WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED => "wildcard subscriptions not supported",
        _ => "refused",
    }
}

/// The properties of a packet that may carry a Reason String or User Properties.
fn diagnostics_of(packet: &mut Packet) -> Option<&mut Properties> {
    match packet {
        Packet::ConnAck(p) => Some(&mut p.properties),
        Packet::PubAck(p) | Packet::PubRec(p) | Packet::PubRel(p) | Packet::PubComp(p) => {
            Some(&mut p.properties)
        }
        Packet::SubAck(p) => Some(&mut p.properties),
        Packet::UnsubAck(p) => Some(&mut p.properties),
        Packet::Disconnect(p) => Some(&mut p.properties),
        Packet::Auth(p) => Some(&mut p.properties),
        _ => None,
    }
}

/// Whether a packet fits a client's Maximum Packet Size.
fn fits(packet: &Packet, max: Option<u32>) -> bool {
    match max {
        None => true,
        Some(max) => {
            mqttsim_codec::encoded_len(packet, Protocol::V5).is_ok_and(|n| n <= max as usize)
        }
    }
}

/// The PUBLISH for a message; a Message Expiry Interval carries the time left at `now`
/// [MQTT-3.3.2-6] (`None`: the interval as received, the planted bug
/// `ExpiryNotDecremented`). A 3.1.1 connection gets no properties at all.
fn publish_packet(
    message: &Message,
    packet_id: u16,
    dup: bool,
    now: Option<Duration>,
    v5: bool,
) -> Publish {
    let properties = match (message.expires_at, now) {
        _ if !v5 => Properties::new(),
        (Some(at), Some(now)) => {
            props::with_expiry(&message.properties, props::remaining_secs(at, now).max(1))
        }
        _ => message.properties.clone(),
    };
    Publish {
        dup,
        qos: message.qos,
        retain: message.retain,
        topic: message.topic.clone(),
        packet_id,
        payload: message.payload.clone(),
        properties,
    }
}
