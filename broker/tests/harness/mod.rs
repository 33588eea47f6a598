//! An in-memory harness: one broker, a fake clock, and an inbox per connection.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_broker::{
    Broker, BrokerConfig, ConnId, DisconnectReason, Event, MemoryStore, Output, Store,
};
use mqttsim_codec::{
    Ack, ConnAck, Connect, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS,
    ReasonCode, SubAck, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe, Will,
};

/// Owns a broker and everything it has said so far.
#[derive(Debug)]
pub struct Harness {
    pub broker: Broker,
    pub now: Duration,
    inboxes: BTreeMap<ConnId, VecDeque<Packet>>,
    closed: BTreeMap<ConnId, DisconnectReason>,
    events: Vec<Event>,
    /// The protocol the broker reported for a connection when its last packet was drained,
    /// which is what a driver encodes with.
    encoded_with: BTreeMap<ConnId, Option<Protocol>>,
    next_packet_id: u16,
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new(BrokerConfig::default())
    }
}

impl Harness {
    pub fn new(config: BrokerConfig) -> Harness {
        Harness::with_store(config, Box::new(MemoryStore::volatile()))
    }

    pub fn with_store(config: BrokerConfig, store: Box<dyn Store>) -> Harness {
        Harness {
            broker: Broker::new(config, store),
            now: Duration::ZERO,
            inboxes: BTreeMap::new(),
            closed: BTreeMap::new(),
            events: Vec::new(),
            encoded_with: BTreeMap::new(),
            next_packet_id: 0,
        }
    }

    /// Crashes the broker: connections vanish, the store goes through `after_crash`.
    pub fn crash(self) -> Harness {
        let config = self.broker.config().clone();
        let store = self.broker.into_store().after_crash();
        let mut next = Harness::with_store(config, store);
        next.now = self.now;
        next
    }

    /// Drains outputs into inboxes and events into the log.
    fn pump(&mut self) {
        while let Some(output) = self.broker.poll_output() {
            match output {
                Output::Send { conn, packet } => {
                    assert!(!self.closed.contains_key(&conn), "{conn} got {packet:?} after Close");
                    self.encoded_with.insert(conn, self.broker.protocol(conn));
                    self.inboxes.entry(conn).or_default().push_back(packet);
                }
                Output::Close { conn, reason } => {
                    assert!(self.closed.insert(conn, reason).is_none(), "{conn} closed twice");
                }
            }
        }
        while let Some(event) = self.broker.poll_event() {
            self.events.push(event);
        }
    }

    pub fn open(&mut self) -> ConnId {
        let conn = self.broker.handle_connection_opened(self.now);
        self.pump();
        conn
    }

    pub fn send(&mut self, conn: ConnId, packet: Packet) {
        self.broker.handle_packet(conn, self.now, packet);
        self.pump();
    }

    pub fn decode_error(&mut self, conn: ConnId, error: &mqttsim_codec::DecodeError) {
        self.broker.handle_decode_error(conn, self.now, error);
        self.pump();
    }

    pub fn lose(&mut self, conn: ConnId) {
        self.broker.handle_connection_lost(conn, self.now);
        self.pump();
    }

    /// Advances the fake clock by `by`, firing every deadline on the way in order.
    pub fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        while let Some(deadline) = self.broker.poll_timeout().filter(|&d| d <= target) {
            self.now = self.now.max(deadline);
            self.broker.handle_timeout(self.now);
            self.pump();
        }
        self.now = target;
    }

    /// Opens a connection and sends `connect`; returns the CONNACK, if one came.
    pub fn connect_with(&mut self, connect: Connect) -> (ConnId, Option<ConnAck>) {
        let conn = self.open();
        self.send(conn, Packet::Connect(connect));
        let inbox = self.inboxes.entry(conn).or_default();
        let position = inbox.iter().position(|p| matches!(p, Packet::ConnAck(_)));
        match position.and_then(|i| inbox.remove(i)) {
            Some(Packet::ConnAck(connack)) => (conn, Some(connack)),
            _ => (conn, None),
        }
    }

    /// Connects a client that must be accepted.
    pub fn connect(&mut self, client_id: &str, clean: bool) -> ConnId {
        let (conn, connack) = self.connect_with(connect(client_id, clean));
        assert_eq!(connack.map(|c| c.reason_code), Some(ReasonCode::SUCCESS), "{client_id}");
        conn
    }

    /// Subscribes one filter and returns the SUBACK code.
    pub fn subscribe(&mut self, conn: ConnId, filter: &str, qos: QoS) -> ReasonCode {
        self.subscribe_many(conn, &[(filter, qos)])[0]
    }

    /// Subscribes several filters in one SUBSCRIBE and returns the SUBACK codes.
    pub fn subscribe_many(&mut self, conn: ConnId, filters: &[(&str, QoS)]) -> Vec<ReasonCode> {
        let packet_id = self.packet_id();
        let filters = filters
            .iter()
            .map(|&(filter, qos)| SubscribeFilter {
                filter: filter.to_owned(),
                options: SubscriptionOptions { qos, ..Default::default() },
            })
            .collect();
        let subscribe = Subscribe { packet_id, filters, properties: Properties::new() };
        self.send(conn, Packet::Subscribe(subscribe));
        let inbox = self.inboxes.entry(conn).or_default();
        // The SUBACK comes before any retained message it triggers.
        match inbox.pop_front() {
            Some(Packet::SubAck(suback)) => {
                assert_eq!(suback.packet_id, packet_id, "SUBACK echoes the id [MQTT-3.8.4-2]");
                suback.reason_codes
            }
            other => panic!("no SUBACK for {conn}: {other:?}"),
        }
    }

    pub fn unsubscribe(&mut self, conn: ConnId, filter: &str) {
        let packet_id = self.packet_id();
        let filters = vec![filter.to_owned()];
        let unsubscribe = Unsubscribe { packet_id, filters, properties: Properties::new() };
        self.send(conn, Packet::Unsubscribe(unsubscribe));
    }

    /// Publishes with a fresh packet identifier for QoS 1 and 2; returns the identifier.
    pub fn publish(
        &mut self,
        conn: ConnId,
        topic: &str,
        payload: &str,
        qos: QoS,
        retain: bool,
    ) -> u16 {
        let packet_id = if qos == QoS::AtMostOnce { 0 } else { self.packet_id() };
        self.send(conn, Packet::Publish(publish(topic, payload, qos, retain, packet_id)));
        packet_id
    }

    fn packet_id(&mut self) -> u16 {
        self.next_packet_id = self.next_packet_id % 60_000 + 1;
        self.next_packet_id
    }

    /// Takes everything sent to `conn` so far.
    pub fn take(&mut self, conn: ConnId) -> Vec<Packet> {
        self.inboxes.get_mut(&conn).map(|inbox| inbox.drain(..).collect()).unwrap_or_default()
    }

    /// Takes what was sent to `conn`, asserting it is all PUBLISH packets.
    pub fn publishes(&mut self, conn: ConnId) -> Vec<Publish> {
        self.take(conn)
            .into_iter()
            .map(|p| match p {
                Packet::Publish(publish) => publish,
                other => panic!("{conn} expected only PUBLISH, got {other:?}"),
            })
            .collect()
    }

    /// Takes the PUBLISH payloads sent to `conn`, acknowledging each QoS 1 and 2 flow fully,
    /// until nothing more arrives.
    pub fn receive(&mut self, conn: ConnId) -> Vec<String> {
        let mut payloads = Vec::new();
        loop {
            let packets = self.take(conn);
            if packets.is_empty() {
                return payloads;
            }
            for packet in packets {
                match packet {
                    Packet::Publish(p) => {
                        payloads.push(String::from_utf8(p.payload.to_vec()).unwrap());
                        let id = p.packet_id;
                        match p.qos {
                            QoS::AtMostOnce => {}
                            QoS::AtLeastOnce => self.send(conn, Packet::PubAck(Ack::new(id))),
                            QoS::ExactlyOnce => self.send(conn, Packet::PubRec(Ack::new(id))),
                        }
                    }
                    Packet::PubRel(ack) => {
                        self.send(conn, Packet::PubComp(Ack::new(ack.packet_id)))
                    }
                    other => panic!("{conn} got unexpected {other:?}"),
                }
            }
        }
    }

    /// The protocol a driver would have encoded the last packet to `conn` with.
    pub fn encoded_with(&self, conn: ConnId) -> Option<Protocol> {
        self.encoded_with.get(&conn).copied().flatten()
    }

    pub fn closed(&self, conn: ConnId) -> Option<&DisconnectReason> {
        self.closed.get(&conn)
    }

    pub fn take_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.events)
    }

    /// The client identifiers whose Will was published so far (and forgets all events).
    pub fn wills(&mut self) -> Vec<String> {
        self.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::WillPublished { client_id, .. } => Some(client_id.to_string()),
                _ => None,
            })
            .collect()
    }
}

pub fn connect(client_id: &str, clean: bool) -> Connect {
    Connect {
        protocol: Protocol::V311,
        clean_start: clean,
        keep_alive: 0,
        client_id: client_id.to_owned(),
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    }
}

pub fn will(topic: &str, payload: &str, qos: QoS, retain: bool) -> Will {
    Will {
        topic: ByteString::from(topic),
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        qos,
        retain,
        properties: Properties::new(),
    }
}

pub fn publish(topic: &str, payload: &str, qos: QoS, retain: bool, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: ByteString::from(topic),
        packet_id,
        payload: Bytes::copy_from_slice(payload.as_bytes()),
        properties: Properties::new(),
    }
}

pub fn payloads(publishes: &[Publish]) -> Vec<&str> {
    publishes.iter().map(|p| std::str::from_utf8(&p.payload).unwrap()).collect()
}

pub const Q0: QoS = QoS::AtMostOnce;
pub const Q1: QoS = QoS::AtLeastOnce;
pub const Q2: QoS = QoS::ExactlyOnce;

pub fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

// MQTT 5.0 helpers.

/// A 5.0 CONNECT with these properties.
pub fn connect5(client_id: &str, clean: bool, properties: Vec<Property>) -> Connect {
    Connect {
        protocol: Protocol::V5,
        properties: Properties(properties),
        ..connect(client_id, clean)
    }
}

/// Subscription options of a QoS.
pub fn opts(qos: QoS) -> SubscriptionOptions {
    SubscriptionOptions { qos, ..Default::default() }
}

/// A PUBLISH with 5.0 properties.
pub fn publish5(
    topic: &str,
    payload: &str,
    qos: QoS,
    packet_id: u16,
    properties: Vec<Property>,
) -> Publish {
    Publish { properties: Properties(properties), ..publish(topic, payload, qos, false, packet_id) }
}

impl Harness {
    /// Connects a 5.0 client that must be accepted; returns the connection and CONNACK.
    pub fn connect5(&mut self, connect: Connect) -> (ConnId, ConnAck) {
        let client_id = connect.client_id.clone();
        let (conn, connack) = self.connect_with(connect);
        let connack = connack.unwrap_or_else(|| panic!("{client_id}: no CONNACK"));
        assert_eq!(connack.reason_code, ReasonCode::SUCCESS, "{client_id}");
        (conn, connack)
    }

    /// A plain 5.0 client: Clean Start, no properties.
    pub fn client5(&mut self, client_id: &str) -> ConnId {
        self.connect5(connect5(client_id, true, Vec::new())).0
    }

    /// Sends one SUBSCRIBE with 5.0 options and properties; returns its SUBACK.
    pub fn subscribe5(
        &mut self,
        conn: ConnId,
        filters: &[(&str, SubscriptionOptions)],
        properties: Vec<Property>,
    ) -> SubAck {
        let packet_id = self.packet_id();
        let filters = filters
            .iter()
            .map(|&(filter, options)| SubscribeFilter { filter: filter.to_owned(), options })
            .collect();
        let subscribe = Subscribe { packet_id, filters, properties: Properties(properties) };
        self.send(conn, Packet::Subscribe(subscribe));
        let inbox = self.inboxes.entry(conn).or_default();
        match inbox.pop_front() {
            Some(Packet::SubAck(suback)) => suback,
            other => panic!("no SUBACK for {conn}: {other:?}"),
        }
    }

    /// Shuts the broker down.
    pub fn shutdown(&mut self) {
        self.broker.handle_shutdown(self.now);
        self.pump();
    }

    /// The DISCONNECT the broker sent to `conn` (taking everything sent to it).
    pub fn disconnect_sent(&mut self, conn: ConnId) -> Option<Disconnect> {
        self.take(conn).into_iter().find_map(|p| match p {
            Packet::Disconnect(d) => Some(d),
            _ => None,
        })
    }
}

/// An authorizer that refuses topics and filters under `secret`.
#[derive(Debug)]
pub struct NoSecrets;

impl mqttsim_broker::Authorizer for NoSecrets {
    fn may_publish(&self, _: mqttsim_broker::Identity<'_>, topic: &str) -> bool {
        !topic.starts_with("secret")
    }
    fn may_subscribe(&self, _: mqttsim_broker::Identity<'_>, filter: &str) -> bool {
        !filter.starts_with("secret")
    }
    fn may_receive(&self, _: mqttsim_broker::Identity<'_>, _: &str) -> bool {
        true
    }
}

impl Harness {
    /// The messages dropped so far, with why and their payload (and forgets all events).
    pub fn drops(&mut self) -> Vec<(mqttsim_broker::DropReason, Bytes)> {
        self.take_events()
            .into_iter()
            .filter_map(|e| match e {
                Event::MessageDropped { reason, payload, .. } => Some((reason, payload)),
                _ => None,
            })
            .collect()
    }
}
