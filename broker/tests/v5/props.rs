//! Random interleavings of 3.1.1 and 5.0 clients on one core: whatever happens, no panic, no
//! client ever has more unacknowledged QoS 1 and 2 PUBLISH packets than its Receive Maximum, no
//! packet is larger than its Maximum Packet Size, no message is sent after it expired, and a
//! session is resumed exactly when its Session Expiry Interval has not passed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use mqttsim_broker::{BrokerConfig, ConnId, MemoryStore};
use mqttsim_codec::{Ack, Connect, Packet, Property, Protocol, QoS, SubscriptionOptions};
use proptest::prelude::*;

use crate::harness::{Harness, connect, connect5, publish5};

const CLIENTS: [&str; 4] = ["c0", "c1", "c2", "c3"];
const FILTERS: [&str; 5] = ["t/a", "t/+", "#", "$share/g/t/#", "$share/h/t/a"];
const TOPICS: [&str; 3] = ["t/a", "t/b", "u"];

#[derive(Debug, Clone)]
enum Op {
    Connect {
        client: usize,
        v5: bool,
        clean: bool,
        expiry: u32,
        receive_max: u16,
        max_packet: Option<u32>,
    },
    Subscribe {
        client: usize,
        filter: usize,
        qos: u8,
        no_local: bool,
        rap: bool,
    },
    Publish {
        client: usize,
        topic: usize,
        qos: u8,
        retain: bool,
        size: usize,
        expiry: Option<u32>,
    },
    Ack {
        client: usize,
    },
    Lose {
        client: usize,
    },
    Disconnect {
        client: usize,
    },
    Advance {
        secs: u64,
    },
    Crash,
}

fn op() -> impl Strategy<Value = Op> {
    let client = 0..CLIENTS.len();
    prop_oneof![
        3 => (client.clone(), any::<bool>(), any::<bool>(), prop_oneof![Just(0u32), Just(5), Just(60)],
              1u16..4, prop_oneof![Just(None), (30u32..200).prop_map(Some)])
            .prop_map(|(client, v5, clean, expiry, receive_max, max_packet)| Op::Connect {
                client, v5, clean, expiry, receive_max, max_packet
            }),
        2 => (client.clone(), 0..FILTERS.len(), 0u8..3, any::<bool>(), any::<bool>())
            .prop_map(|(client, filter, qos, no_local, rap)| Op::Subscribe { client, filter, qos, no_local, rap }),
        5 => (client.clone(), 0..TOPICS.len(), 0u8..3, any::<bool>(), 0usize..120,
              prop_oneof![Just(None), (0u32..20).prop_map(Some)])
            .prop_map(|(client, topic, qos, retain, size, expiry)| Op::Publish { client, topic, qos, retain, size, expiry }),
        3 => client.clone().prop_map(|client| Op::Ack { client }),
        1 => client.clone().prop_map(|client| Op::Lose { client }),
        1 => client.clone().prop_map(|client| Op::Disconnect { client }),
        2 => (0u64..30).prop_map(|secs| Op::Advance { secs }),
        1 => Just(Op::Crash),
    ]
}

/// What the test knows of one live connection.
#[derive(Debug)]
struct Live {
    conn: ConnId,
    v5: bool,
    receive_max: u16,
    max_packet: Option<u32>,
    /// Packet identifiers of PUBLISH packets received and not yet fully acknowledged.
    unacked: BTreeSet<u16>,
    /// PUBLISH packets received since the last Ack.
    to_ack: Vec<(u16, QoS)>,
    pubrels: Vec<u16>,
    /// Our own QoS 2 publishes awaiting PUBREC.
    pubrecs: Vec<u16>,
}

/// The session the model expects the broker to hold for a client.
#[derive(Debug, Clone, Copy)]
enum Expect {
    Connected { expiry: u32 },
    Offline { until: Option<Duration> },
}

struct World {
    h: Harness,
    live: BTreeMap<usize, Live>,
    sessions: BTreeMap<usize, Expect>,
    next_id: u16,
}

impl World {
    fn end(&mut self, client: usize) {
        if let Some(Expect::Connected { expiry }) = self.sessions.get(&client).copied() {
            let until = match expiry {
                0 => None,
                u32::MAX => Some(Duration::MAX),
                e => Some(self.h.now + Duration::from_secs(u64::from(e))),
            };
            match until {
                None => self.sessions.remove(&client),
                Some(_) => self.sessions.insert(client, Expect::Offline { until }),
            };
        }
        self.live.remove(&client);
    }

    fn id(&mut self) -> u16 {
        self.next_id = self.next_id % 60_000 + 1;
        self.next_id
    }

    /// Reads what every live connection was sent and checks the limits.
    fn check(&mut self) -> Result<(), TestCaseError> {
        let now = self.h.now;
        let clients: Vec<usize> = self.live.keys().copied().collect();
        for client in clients {
            let conn = self.live[&client].conn;
            if self.h.closed(conn).is_some() {
                self.end(client);
                continue;
            }
            let packets = self.h.take(conn);
            let live = self.live.get_mut(&client).expect("live");
            let protocol = if live.v5 { Protocol::V5 } else { Protocol::V311 };
            for packet in packets {
                if let Some(max) = live.max_packet {
                    let len = mqttsim_codec::encoded_len(&packet, protocol).expect("encodes");
                    prop_assert!(len <= max as usize, "{len} bytes to a client allowing {max}");
                }
                match packet {
                    Packet::Publish(p) => {
                        if p.qos != QoS::AtMostOnce {
                            live.unacked.insert(p.packet_id);
                            live.to_ack.push((p.packet_id, p.qos));
                        }
                        if live.v5 {
                            prop_assert!(
                                live.unacked.len() <= usize::from(live.receive_max),
                                "{} unacknowledged, Receive Maximum {}",
                                live.unacked.len(),
                                live.receive_max
                            );
                        }
                        // The payload says when it was published and for how long it lives.
                        let text = String::from_utf8_lossy(&p.payload).to_string();
                        let mut parts = text.split(':');
                        let at: u64 = parts.next().unwrap().parse().unwrap();
                        let lifetime: Option<u64> = parts.next().unwrap().parse().ok();
                        if let (Some(lifetime), false) = (lifetime, p.dup) {
                            prop_assert!(
                                now.as_millis() < u128::from(at + lifetime * 1000),
                                "sent at {now:?} after expiring (published at {at} ms for {lifetime} s)"
                            );
                            if live.v5 {
                                let left = p.properties.iter().find_map(|q| match q {
                                    Property::MessageExpiryInterval(v) => Some(u64::from(*v)),
                                    _ => None,
                                });
                                prop_assert!(left.is_some_and(|l| l >= 1 && l <= lifetime));
                            }
                        }
                    }
                    Packet::PubRel(a) => live.pubrels.push(a.packet_id),
                    Packet::PubRec(a) => live.pubrecs.push(a.packet_id),
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn apply(&mut self, op: Op) -> Result<(), TestCaseError> {
        match op {
            Op::Connect { client, v5, clean, expiry, receive_max, max_packet } => {
                let id = CLIENTS[client];
                let packet: Connect = if v5 {
                    let mut props = vec![
                        Property::SessionExpiryInterval(expiry),
                        Property::ReceiveMaximum(receive_max),
                    ];
                    props.extend(max_packet.map(Property::MaximumPacketSize));
                    connect5(id, clean, props)
                } else {
                    connect(id, clean)
                };
                // A takeover ends the old connection first.
                if self.live.contains_key(&client) {
                    self.end(client);
                }
                let now = self.h.now;
                let expected_present = !clean
                    && match self.sessions.get(&client) {
                        Some(Expect::Offline { until: Some(until) }) => now < *until,
                        _ => false,
                    };
                let (conn, connack) = self.h.connect_with(packet);
                let connack = connack.expect("a CONNACK");
                prop_assert_eq!(connack.session_present, expected_present, "{} at {:?}", id, now);
                let expiry = match (v5, clean) {
                    (true, _) => expiry,
                    (false, true) => 0,
                    (false, false) => u32::MAX,
                };
                self.sessions.insert(client, Expect::Connected { expiry });
                let receive_max = if v5 { receive_max } else { u16::MAX };
                let max_packet = if v5 { max_packet } else { None };
                self.live.insert(
                    client,
                    Live {
                        conn,
                        v5,
                        receive_max,
                        max_packet,
                        unacked: BTreeSet::new(),
                        to_ack: Vec::new(),
                        pubrels: Vec::new(),
                        pubrecs: Vec::new(),
                    },
                );
            }
            Op::Subscribe { client, filter, qos, no_local, rap } => {
                let Some(live) = self.live.get(&client) else { return Ok(()) };
                let filter = FILTERS[filter];
                let shared = filter.starts_with("$share/");
                let options = SubscriptionOptions {
                    qos: QoS::from_u8(qos).unwrap(),
                    no_local: no_local && !shared && live.v5,
                    retain_as_published: rap && live.v5,
                    ..Default::default()
                };
                let conn = live.conn;
                let packet_id = self.id();
                let subscribe = mqttsim_codec::Subscribe {
                    packet_id,
                    filters: vec![mqttsim_codec::SubscribeFilter {
                        filter: filter.to_owned(),
                        options,
                    }],
                    properties: Default::default(),
                };
                self.h.send(conn, Packet::Subscribe(subscribe));
            }
            Op::Publish { client, topic, qos, retain, size, expiry } => {
                let Some(live) = self.live.get(&client) else { return Ok(()) };
                let (conn, v5) = (live.conn, live.v5);
                let qos = QoS::from_u8(qos).unwrap();
                let packet_id = if qos == QoS::AtMostOnce { 0 } else { self.id() };
                let expiry = expiry.filter(|_| v5);
                let lifetime = expiry.map_or("-".to_owned(), |e| e.to_string());
                let payload =
                    format!("{}:{}:{}", self.h.now.as_millis(), lifetime, "x".repeat(size));
                let props = expiry.map(Property::MessageExpiryInterval).into_iter().collect();
                let mut publish = publish5(TOPICS[topic], &payload, qos, packet_id, props);
                publish.retain = retain;
                self.h.send(conn, Packet::Publish(publish));
            }
            Op::Ack { client } => {
                let Some(live) = self.live.get_mut(&client) else { return Ok(()) };
                let conn = live.conn;
                let mut packets = Vec::new();
                for (id, qos) in live.to_ack.drain(..) {
                    match qos {
                        QoS::AtLeastOnce => {
                            live.unacked.remove(&id);
                            packets.push(Packet::PubAck(Ack::new(id)));
                        }
                        _ => packets.push(Packet::PubRec(Ack::new(id))),
                    }
                }
                for id in live.pubrels.drain(..) {
                    live.unacked.remove(&id);
                    packets.push(Packet::PubComp(Ack::new(id)));
                }
                for id in live.pubrecs.drain(..) {
                    packets.push(Packet::PubRel(Ack::new(id)));
                }
                for packet in packets {
                    self.h.send(conn, packet);
                }
            }
            Op::Lose { client } => {
                if let Some(live) = self.live.get(&client) {
                    let conn = live.conn;
                    self.h.lose(conn);
                    self.end(client);
                }
            }
            Op::Disconnect { client } => {
                if let Some(live) = self.live.get(&client) {
                    let conn = live.conn;
                    self.h.send(conn, Packet::Disconnect(Default::default()));
                    self.end(client);
                }
            }
            Op::Advance { secs } => {
                self.h.advance(Duration::from_secs(secs));
            }
            Op::Crash => {
                let clients: Vec<usize> = self.live.keys().copied().collect();
                for client in clients {
                    self.end(client);
                }
                let h = std::mem::take(&mut self.h);
                self.h = h.crash();
            }
        }
        self.check()
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn random_interleavings_of_3_1_1_and_5_0_clients_keep_every_limit(ops in proptest::collection::vec(op(), 1..60)) {
        let config = BrokerConfig { max_inflight: 6, max_queued_messages: 20, ..BrokerConfig::default() };
        let mut world = World {
            h: Harness::with_store(config, Box::new(MemoryStore::durable())),
            live: BTreeMap::new(),
            sessions: BTreeMap::new(),
            next_id: 0,
        };
        for op in ops {
            world.apply(op)?;
        }
    }
}
