//! `mqtt-sim broker` against hostile and extreme peers, over real loopback TCP: each test is
//! named after the defect it guards against, and fails on the broker before the fix.
//!
//! Memory is read from `/proc/<pid>/status` (VmHWM, the peak resident set); CPU from
//! `/proc/<pid>/stat`. Synchronisation is on the broker's log lines and on acknowledgements.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use common::{Broker, WAIT, binary};
use mqttsim_codec::{
    Connect, Packet, Properties, Protocol, Publish, QoS, Subscribe, SubscribeFilter,
    SubscriptionOptions, Unsubscribe, decode, encode,
};

/// A hand-driven MQTT 3.1.1 client on a blocking socket.
struct Raw {
    stream: TcpStream,
    inbound: BytesMut,
}

impl Raw {
    fn connect(port: u16, client_id: &str, keep_alive: u16) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the broker");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        let mut raw = Raw { stream, inbound: BytesMut::new() };
        raw.send(&Packet::Connect(Connect {
            protocol: Protocol::V311,
            clean_start: true,
            keep_alive,
            client_id: client_id.into(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        }));
        assert!(matches!(raw.recv(), Some(Packet::ConnAck(_))), "CONNACK for {client_id}");
        raw
    }

    fn send(&mut self, packet: &Packet) {
        let mut out = BytesMut::new();
        encode(packet, Protocol::V311, &mut out).unwrap();
        self.stream.write_all(&out).expect("write to the broker");
    }

    /// The next packet, or `None` when the broker closed the connection.
    fn recv(&mut self) -> Option<Packet> {
        loop {
            if let Some(packet) = decode(&mut self.inbound, Protocol::V311, 1 << 24).unwrap() {
                return Some(packet);
            }
            let mut chunk = [0u8; 65_536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.inbound.extend_from_slice(&chunk[..n]),
            }
        }
    }

    fn subscribe(&mut self, filter: &str, qos: QoS) {
        self.send(&Packet::Subscribe(Subscribe {
            packet_id: 1,
            filters: vec![SubscribeFilter {
                filter: filter.into(),
                options: SubscriptionOptions { qos, ..Default::default() },
            }],
            properties: Properties::new(),
        }));
        assert!(matches!(self.recv(), Some(Packet::SubAck(_))), "SUBACK");
    }

    fn publish(&mut self, topic: &str, payload: Bytes, qos: QoS, retain: bool, packet_id: u16) {
        self.send(&Packet::Publish(publish(topic, payload, qos, retain, packet_id)));
    }

    /// Publishes QoS 1 and waits for the PUBACK: the broker has read everything sent before.
    fn sync(&mut self, topic: &str) {
        self.publish(topic, Bytes::from_static(b"sync"), QoS::AtLeastOnce, false, 9);
        loop {
            match self.recv() {
                Some(Packet::PubAck(_)) => return,
                Some(_) => {}
                None => panic!("the broker closed the connection before PUBACK"),
            }
        }
    }
}

fn publish(topic: &str, payload: Bytes, qos: QoS, retain: bool, packet_id: u16) -> Publish {
    Publish {
        dup: false,
        qos,
        retain,
        topic: topic.into(),
        packet_id,
        payload,
        properties: Properties::new(),
    }
}

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read status");
    let line = status.lines().find(|l| l.starts_with(field)).expect("field in status");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number")
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read fds").count()
}

/// User plus system CPU time of a process, in clock ticks.
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read stat");
    let after = &stat[stat.rfind(')').expect("comm ends") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn wait_exit(broker: &mut Broker) -> Option<i32> {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = broker.child.try_wait().expect("poll broker") {
            return status.code();
        }
        assert!(Instant::now() < deadline, "broker still running");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn signal(broker: &Broker, name: &str) {
    let pid = broker.pid().to_string();
    assert!(Command::new("kill").args([name, &pid]).status().unwrap().success());
}

/// A topic of 65,535 `/` characters has 65,536 levels. UNSUBSCRIBE of such a filter, the end
/// of a clean session holding it, clearing a retained message on it and shutting down with one
/// aborted the process (recursive tree removal and drop).
#[test]
fn deep_topic_trees_do_not_crash_the_broker() {
    let mut broker = Broker::start();
    let deepest = "/".repeat(65_535);
    let mut client = Raw::connect(broker.port, "deep", 0);
    client.subscribe(&deepest, QoS::AtLeastOnce);
    client.publish(&deepest, Bytes::from_static(b"kept"), QoS::AtMostOnce, true, 0);
    assert!(matches!(client.recv(), Some(Packet::Publish(_))), "the message comes back");
    client.send(&Packet::Unsubscribe(Unsubscribe {
        packet_id: 2,
        filters: vec![deepest.clone()],
        properties: Properties::new(),
    }));
    assert!(matches!(client.recv(), Some(Packet::UnsubAck(_))), "UNSUBACK, no crash");
    client.subscribe(&deepest, QoS::AtMostOnce);
    assert!(matches!(client.recv(), Some(Packet::Publish(_))), "the retained message");
    // Clear it, retain it again, and end the clean session holding the deep subscription.
    client.publish(&deepest, Bytes::new(), QoS::AtMostOnce, true, 0);
    client.publish(&deepest, Bytes::from_static(b"again"), QoS::AtMostOnce, true, 0);
    client.sync("sync");
    drop(client);
    broker.wait_for(|l| l.contains("disconnect") && l.contains("\"deep\""));
    // Shut down with a deep retained message.
    signal(&broker, "-TERM");
    broker.wait_for(|l| l.contains("stopped after"));
    assert_eq!(wait_exit(&mut broker), Some(0));
}

/// SIGTERM killed the process without the orderly shutdown SIGINT gets.
#[test]
fn sigterm_stops_the_broker_like_sigint() {
    let mut broker = Broker::start();
    let _client = Raw::connect(broker.port, "term", 0);
    broker.wait_for_connect("term");
    signal(&broker, "-TERM");
    broker.wait_for(|l| l.contains("received SIGTERM"));
    broker.wait_for(|l| l.contains("stopped after 1 connections"));
    assert_eq!(wait_exit(&mut broker), Some(0), "SIGTERM is a clean shutdown");
}

/// After a keepalive expiry, the connection of a peer that never reads stayed ESTABLISHED with
/// its buffers for ever: the write never finished. Now a write with no progress for the write
/// timeout ends it, and the socket is closed.
#[test]
fn a_peer_that_never_reads_is_closed_after_the_write_timeout() {
    let mut broker = Broker::start_with(&["--write-timeout", "1s"]);
    let pid = broker.pid();
    let before = open_descriptors(pid);
    // Keepalive 1 s: silent after its SUBSCRIBE, it expires at 1.5 s; it never reads.
    let mut stalled = Raw::connect(broker.port, "stalled", 1);
    stalled.subscribe("flood", QoS::AtMostOnce);
    let mut publisher = Raw::connect(broker.port, "flooder", 0);
    let payload = Bytes::from(vec![b'x'; 256 * 1024]);
    // 16 MiB: far more than the loopback socket buffers hold.
    for _ in 0..64 {
        publisher.publish("flood", payload.clone(), QoS::AtMostOnce, false, 0);
    }
    publisher.sync("sync");
    broker.wait_for(|l| l.contains("disconnect") && l.contains("\"stalled\""));
    drop(publisher);
    broker.wait_for(|l| l.contains("disconnect") && l.contains("\"flooder\""));
    // Both sockets are gone, the stalled one included, though it never read a byte.
    wait_until("the stalled socket's close", || open_descriptors(pid) == before);
    drop(stalled);
}

/// One subscriber that never reads held 1.1 GiB with 1,500 QoS 0 messages of 512 KiB; the bound
/// was outbox packets × maximum packet size per connection. Now N never-reading subscribers
/// under a flood keep the broker's peak RSS under the byte budget plus a constant.
#[test]
fn never_reading_subscribers_keep_rss_within_the_byte_budget() {
    const BUDGET_MIB: u64 = 32;
    let budget = format!("{BUDGET_MIB}MiB");
    let mut broker = Broker::start_with(&[
        "--max-buffered-bytes",
        &budget,
        "--max-outbox-bytes",
        "8MiB",
        "--max-packet-size",
        "1MiB",
    ]);
    let pid = broker.pid();
    let baseline = status_kib(pid, "VmRSS");
    let mut subscribers: Vec<Raw> = (0..8)
        .map(|i| {
            let mut s = Raw::connect(broker.port, &format!("sleeper-{i}"), 0);
            s.subscribe("flood/#", QoS::AtMostOnce);
            s
        })
        .collect();
    let mut publisher = Raw::connect(broker.port, "flooder", 0);
    let payload = Bytes::from(vec![b'x'; 512 * 1024]);
    // 600 × 512 KiB = 300 MiB through the broker, to 8 subscribers that never read.
    for _ in 0..600 {
        publisher.publish("flood/a", payload.clone(), QoS::AtMostOnce, false, 0);
    }
    publisher.sync("sync");
    let peak = status_kib(pid, "VmHWM");
    // The documented constant: the process at rest plus read buffers and allocator slack.
    let constant_mib = 48;
    let limit = baseline + (BUDGET_MIB + constant_mib) * 1024;
    assert!(
        peak < limit,
        "peak RSS {} MiB over the budget {BUDGET_MIB} MiB + {constant_mib} MiB + {} MiB at rest",
        peak / 1024,
        baseline / 1024
    );
    broker.wait_for(|l| l.contains("are being dropped"));
    subscribers.clear();
    drop(publisher);
}

/// 1,000 unauthenticated clients loaded 971 MB in 2 s: each declared a large CONNECT and sent
/// most of it. Now the bytes of connections without CONNACK are budgeted in all.
#[test]
fn connections_without_connack_cannot_load_the_broker() {
    let mut broker = Broker::start_with(&["--max-connecting-bytes", "4MiB"]);
    let pid = broker.pid();
    let baseline = status_kib(pid, "VmRSS");
    // A CONNECT fixed header declaring 1,000,000 bytes, then 900,000 of them.
    let mut header = vec![0x10];
    let mut remaining = 1_000_000usize;
    loop {
        let byte = (remaining % 128) as u8;
        remaining /= 128;
        header.push(if remaining > 0 { byte | 0x80 } else { byte });
        if remaining == 0 {
            break;
        }
    }
    let body = vec![0u8; 900_000];
    let mut held = Vec::new();
    for _ in 0..150 {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", broker.port)) else { break };
        stream.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let _ = stream.write_all(&header).and_then(|_| stream.write_all(&body));
        held.push(stream);
    }
    broker.wait_for(|l| l.contains("overloaded"));
    let peak = status_kib(pid, "VmHWM");
    assert!(
        peak < baseline + 48 * 1024,
        "peak RSS {} MiB with 150 half-sent CONNECTs (135 MB sent)",
        peak / 1024
    );
    drop(held);
}

/// 500 retained messages of 10 bytes, each right after a large PUBLISH, held 349 MB: each
/// payload was a slice of a big read buffer. Stored payloads are now copied out of it.
#[test]
fn retained_messages_do_not_pin_read_buffers() {
    let broker = Broker::start();
    let pid = broker.pid();
    let baseline = status_kib(pid, "VmRSS");
    let mut client = Raw::connect(broker.port, "pinner", 0);
    let big = Bytes::from(vec![b'x'; 900_000]);
    for i in 0..200 {
        // One write holds both, so both land in one read buffer.
        let mut out = BytesMut::new();
        let nobody =
            Packet::Publish(publish("nobody/listens", big.clone(), QoS::AtMostOnce, false, 0));
        let small = Packet::Publish(publish(
            &format!("r/{i}"),
            Bytes::from_static(b"0123456789"),
            QoS::AtMostOnce,
            true,
            0,
        ));
        encode(&nobody, Protocol::V311, &mut out).unwrap();
        encode(&small, Protocol::V311, &mut out).unwrap();
        client.stream.write_all(&out).unwrap();
    }
    client.sync("sync");
    let rss = status_kib(pid, "VmRSS");
    assert!(
        rss < baseline + 40 * 1024,
        "RSS {} MiB holding 200 retained messages of 10 bytes (at rest {} MiB)",
        rss / 1024,
        baseline / 1024
    );
}

/// With a 1,024-descriptor limit, accept failed with EMFILE in a tight loop at 100 % CPU. Now
/// the accept loop logs once, backs off, and recovers when descriptors are free again.
#[test]
fn accept_backs_off_at_the_descriptor_limit_and_recovers() {
    let script = format!("ulimit -n 48 && exec \"{}\" broker --listen 127.0.0.1:0", binary());
    let mut broker = Broker::start_command(Command::new("sh").args(["-c", &script]));
    let pid = broker.pid();
    // More connections than descriptors: the kernel completes them; accept runs out.
    let mut held = Vec::new();
    for _ in 0..80 {
        if let Ok(stream) = TcpStream::connect(("127.0.0.1", broker.port)) {
            held.push(stream);
        }
    }
    broker.wait_for(|l| l.contains("accept") && l.contains("failing") && l.contains("descriptors"));
    // A busy loop burns a whole core; backing off burns next to nothing. Measured over 1 s.
    let ticks_per_second = 100;
    let before = cpu_ticks(pid);
    std::thread::sleep(Duration::from_secs(1));
    let used = cpu_ticks(pid) - before;
    assert!(
        used * 100 < ticks_per_second * 30,
        "{used} ticks of CPU in 1 s while out of descriptors"
    );
    assert_eq!(broker.seen.iter().filter(|l| l.contains("failing")).count(), 0, "logged once");
    // Free the descriptors: the broker accepts again and serves a client.
    held.clear();
    broker.wait_for(|l| l.contains("accept") && l.contains("working again"));
    let _client = Raw::connect(broker.port, "after-emfile", 0);
    broker.wait_for_connect("after-emfile");
    drop(broker);
    let _ = WAIT;
}
