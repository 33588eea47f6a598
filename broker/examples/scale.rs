//! Drives one broker core with many clients and prints how long each phase took.
//!
//! `cargo run --release -p mqttsim-broker --example scale -- 100000`
//!
//! Phases: every client connects (keepalive 60 s, persistent session) and subscribes to its
//! own command topic; ten monitors subscribe to `dev/+/status`; every client publishes a QoS 1
//! status (routed through the topic tree to the monitors); a backend publishes a QoS 1 command
//! to every client, which acknowledges it; finally every keepalive expires at once.

use std::time::{Duration, Instant};

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_broker::{Broker, BrokerConfig, ConnId, MemoryStore, Output};
use mqttsim_codec::{
    Ack, Connect, Packet, Properties, Protocol, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions,
};

fn connect(broker: &mut Broker, now: Duration, client_id: String, clean: bool) -> ConnId {
    let conn = broker.handle_connection_opened(now);
    let connect = Connect {
        protocol: Protocol::V311,
        clean_start: clean,
        keep_alive: 60,
        client_id,
        will: None,
        username: None,
        password: None,
        properties: Properties::new(),
    };
    broker.handle_packet(conn, now, Packet::Connect(connect));
    conn
}

fn subscribe(broker: &mut Broker, now: Duration, conn: ConnId, filter: String, qos: QoS) {
    let options = SubscriptionOptions { qos, ..Default::default() };
    let filters = vec![SubscribeFilter { filter, options }];
    let subscribe = Subscribe { packet_id: 1, filters, properties: Properties::new() };
    broker.handle_packet(conn, now, Packet::Subscribe(subscribe));
}

fn publish(topic: String, packet_id: u16) -> Packet {
    Packet::Publish(Publish {
        dup: false,
        qos: QoS::AtLeastOnce,
        retain: false,
        topic: ByteString::from(topic),
        packet_id,
        payload: Bytes::from_static(b"{\"t\":21.5}"),
        properties: Properties::new(),
    })
}

/// Drains outputs and events; returns (packets sent, PUBLISH packets with their receiver).
fn drain(broker: &mut Broker) -> (usize, Vec<(ConnId, u16)>) {
    let mut sent = 0;
    let mut publishes = Vec::new();
    while let Some(output) = broker.poll_output() {
        if let Output::Send { conn, packet } = output {
            sent += 1;
            if let Packet::Publish(p) = packet {
                publishes.push((conn, p.packet_id));
            }
        }
    }
    while broker.poll_event().is_some() {}
    (sent, publishes)
}

fn rss_mib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? / 1024)
}

fn phase(name: &str, count: usize, start: Instant) {
    let took = start.elapsed();
    let rate = count as f64 / took.as_secs_f64();
    println!("{name:<34} {count:>9} in {took:>10.2?}  ({rate:>12.0}/s)");
}

fn main() {
    let clients: usize = std::env::args().nth(1).map_or(100_000, |n| n.parse().expect("a count"));
    let mut broker = Broker::new(BrokerConfig::default(), Box::new(MemoryStore::volatile()));
    let now = Duration::ZERO;

    let start = Instant::now();
    let conns: Vec<ConnId> = (0..clients)
        .map(|i| {
            let conn = connect(&mut broker, now, format!("dev-{i}"), false);
            subscribe(&mut broker, now, conn, format!("dev/{i}/cmd"), QoS::AtLeastOnce);
            drain(&mut broker);
            conn
        })
        .collect();
    phase("connect + subscribe", clients, start);
    if let Some(mib) = rss_mib() {
        println!("resident memory after connecting: {mib} MiB");
    }

    let monitors: Vec<ConnId> = (0..10)
        .map(|i| {
            let conn = connect(&mut broker, now, format!("monitor-{i}"), true);
            subscribe(&mut broker, now, conn, "dev/+/status".to_owned(), QoS::AtMostOnce);
            conn
        })
        .collect();
    drain(&mut broker);

    let start = Instant::now();
    let mut delivered = 0;
    for (i, &conn) in conns.iter().enumerate() {
        broker.handle_packet(conn, now, publish(format!("dev/{i}/status"), 1));
        delivered += drain(&mut broker).1.len();
    }
    phase("status publish (wildcard fan-in)", clients, start);
    assert_eq!(delivered, clients * monitors.len(), "every status reaches every monitor");

    let backend = connect(&mut broker, now, "backend".to_owned(), true);
    drain(&mut broker);
    let start = Instant::now();
    for i in 0..clients {
        let packet_id = (i % 65_535) as u16 + 1;
        broker.handle_packet(backend, now, publish(format!("dev/{i}/cmd"), packet_id));
        for (conn, id) in drain(&mut broker).1 {
            broker.handle_packet(conn, now, Packet::PubAck(Ack::new(id)));
        }
    }
    drain(&mut broker);
    phase("command publish + PUBACK", clients, start);

    let start = Instant::now();
    let mut polls = 0;
    for _ in 0..clients {
        polls += usize::from(broker.poll_timeout().is_some());
    }
    phase("poll_timeout", polls, start);

    if let Some(mib) = rss_mib() {
        println!("resident memory with {} connections: {mib} MiB", broker.connection_count());
    }

    let start = Instant::now();
    broker.handle_timeout(Duration::from_secs(90));
    let (sent, _) = drain(&mut broker);
    phase("keepalive expiry of all", clients, start);
    assert_eq!(broker.connection_count(), 0, "every keepalive expired ({sent} packets sent)");
}
