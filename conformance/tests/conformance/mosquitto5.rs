//! Each MQTT 5.0 deviation of Mosquitto 2.0 that the suite reports (and one of its 3.1.1 ones),
//! confirmed by a minimal probe of its own: hand-written packet bytes over a plain socket, none
//! of the suite's code. If Mosquitto changes, the probe fails and names the expectation line to
//! revisit.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::brokers::{Kind, Running, start_or_skip};

/// A 5.0 CONNECT: clean start unless `resume`, keep alive, the raw CONNECT properties, a
/// client id.
fn connect(client_id: &str, keep_alive: u16, resume: bool, props: &[u8]) -> Vec<u8> {
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, if resume { 0x00 } else { 0x02 }];
    body.extend(keep_alive.to_be_bytes());
    body.push(props.len() as u8);
    body.extend(props);
    body.extend((client_id.len() as u16).to_be_bytes());
    body.extend(client_id.as_bytes());
    packet(0x10, &body)
}

/// A packet with a one-byte remaining length (every probe's packets are short).
fn packet(first: u8, body: &[u8]) -> Vec<u8> {
    assert!(body.len() < 128, "probe packets are short");
    let mut out = vec![first, body.len() as u8];
    out.extend(body);
    out
}

fn string(s: &str) -> Vec<u8> {
    let mut out = (s.len() as u16).to_be_bytes().to_vec();
    out.extend(s.as_bytes());
    out
}

/// A PUBLISH: first byte, topic, packet id for QoS 1 and 2, raw properties, payload.
fn publish(first: u8, topic: &str, id: Option<u16>, props: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut body = string(topic);
    if let Some(id) = id {
        body.extend(id.to_be_bytes());
    }
    body.push(props.len() as u8);
    body.extend(props);
    body.extend(payload);
    packet(first, &body)
}

/// A SUBSCRIBE of one filter with this options byte.
fn subscribe(filter: &str, options: u8) -> Vec<u8> {
    let mut body = vec![0, 1, 0];
    body.extend(string(filter));
    body.push(options);
    packet(0x82, &body)
}

struct Probe {
    stream: TcpStream,
}

impl Probe {
    /// Connects with `connect` bytes and requires a CONNACK with reason code 0.
    fn open(broker: &Running, connect: &[u8]) -> Probe {
        let stream = TcpStream::connect(("127.0.0.1", broker.port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        let mut probe = Probe { stream };
        probe.send(connect);
        let ack = probe.read_packet().expect("a CONNACK");
        assert_eq!((ack[0], ack[3]), (0x20, 0x00), "CONNACK {ack:02X?}");
        probe
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// One whole packet, or `None` on a close or after the read timeout.
    fn read_packet(&mut self) -> Option<Vec<u8>> {
        let mut head = [0u8; 1];
        self.stream.read_exact(&mut head).ok()?;
        let (mut len, mut shift, mut out) = (0usize, 0, vec![head[0]]);
        loop {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b).ok()?;
            out.push(b[0]);
            len |= usize::from(b[0] & 0x7F) << shift;
            shift += 7;
            if b[0] & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).ok()?;
        out.extend(body);
        Some(out)
    }

    /// Sends PINGREQ and requires PINGRESP: the connection is still open and working.
    fn still_open(&mut self) {
        self.send(&[0xC0, 0x00]);
        loop {
            let p = self.read_packet().expect("the connection is still open");
            if p == [0xD0, 0x00] {
                return;
            }
        }
    }
}

fn mosquitto() -> Option<Running> {
    start_or_skip(Kind::Mosquitto)
}

/// `v5-pingreq-bad-flags`: PINGREQ with flags 0100 gets PINGRESP.
#[test]
fn mosquitto5_answers_a_pingreq_with_reserved_flags() {
    let Some(broker) = mosquitto() else { return };
    let mut p = Probe::open(&broker, &connect("probe5a", 60, false, &[]));
    p.send(&[0xC4, 0x00]);
    assert_eq!(p.read_packet(), Some(vec![0xD0, 0x00]));
}

/// `v5-non-minimal-remaining-length`: a remaining length of 0 written as 80 00 is accepted.
#[test]
fn mosquitto5_accepts_a_remaining_length_not_in_its_fewest_bytes() {
    let Some(broker) = mosquitto() else { return };
    let mut p = Probe::open(&broker, &connect("probe5b", 60, false, &[]));
    p.send(&[0xC0, 0x80, 0x00]);
    assert_eq!(p.read_packet(), Some(vec![0xD0, 0x00]));
}

/// `v5-shared-no-local`, `v5-shared-invalid-names`: No Local on a shared subscription, an empty
/// ShareName and a ShareName without a filter are all granted (SUBACK reason code 0x00).
#[test]
fn mosquitto5_grants_invalid_shared_subscriptions() {
    let Some(broker) = mosquitto() else { return };
    for (filter, options) in
        [("$share/g/probe5/t", 0x04), ("$share//probe5/t", 0x00), ("$share/g", 0x00)]
    {
        let mut p = Probe::open(&broker, &connect("probe5c", 60, false, &[]));
        p.send(&subscribe(filter, options));
        assert_eq!(p.read_packet(), Some(vec![0x90, 0x04, 0x00, 0x01, 0x00, 0x00]), "{filter}");
    }
}

/// `v5-subscription-identifier-from-client`, `v5-response-topic-wildcard`: a client PUBLISH with
/// a Subscription Identifier, or with a Response Topic holding '#', leaves the connection open.
#[test]
fn mosquitto5_accepts_publish_properties_a_client_must_not_send() {
    let Some(broker) = mosquitto() else { return };
    let mut response = vec![0x08];
    response.extend(string("probe5/r/#"));
    for props in [vec![0x0B, 0x05], response] {
        let mut p = Probe::open(&broker, &connect("probe5d", 60, false, &[]));
        p.send(&publish(0x30, "probe5/t", None, &props, b"x"));
        p.still_open();
    }
}

/// `v5-broker-receive-maximum`: 21 unacknowledged QoS 2 PUBLISH packets to a broker that
/// announces Receive Maximum 20 all get PUBREC, and the connection stays open.
#[test]
fn mosquitto5_takes_more_qos2_messages_than_its_receive_maximum() {
    let Some(broker) = mosquitto() else { return };
    let mut p = Probe::open(&broker, &connect("probe5e", 60, false, &[]));
    for id in 1..=21u16 {
        p.send(&publish(0x34, "probe5/t", Some(id), &[], b"x"));
    }
    for id in 1..=21u16 {
        let rec = p.read_packet().expect("PUBREC");
        assert_eq!((rec[0], u16::from_be_bytes([rec[2], rec[3]])), (0x50, id), "{rec:02X?}");
    }
    p.still_open();
}

/// `v5-no-expiry-once-sent`: a QoS 2 message sent to a subscriber, not acknowledged, is not sent
/// again on reconnect once its Message Expiry Interval has passed.
#[test]
fn mosquitto5_expires_a_qos2_message_it_already_sent() {
    let Some(broker) = mosquitto() else { return };
    let session = [0x11, 0, 0, 0, 60];
    let mut sub = Probe::open(&broker, &connect("probe5f", 60, false, &session));
    sub.send(&subscribe("probe5/x", 0x02));
    assert_eq!(sub.read_packet().map(|a| a[0]), Some(0x90));
    let mut publisher = Probe::open(&broker, &connect("probe5g", 60, false, &[]));
    publisher.send(&publish(0x34, "probe5/x", Some(1), &[0x02, 0, 0, 0, 1], b"short"));
    assert_eq!(publisher.read_packet().map(|a| a[0]), Some(0x50));
    publisher.send(&[0x62, 0x02, 0x00, 0x01]);
    assert_eq!(publisher.read_packet().map(|a| a[0]), Some(0x70));
    let first = sub.read_packet().expect("the QoS 2 PUBLISH");
    assert_eq!(first[0] & 0xF6, 0x34, "{first:02X?}");
    drop(sub);
    // The point of the probe: the message's expiry of 1 s passes while the subscriber is away.
    std::thread::sleep(Duration::from_millis(2200));
    let mut sub = Probe::open(&broker, &connect("probe5f", 60, true, &session));
    sub.stream.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
    assert_eq!(
        sub.read_packet(),
        None,
        "Mosquitto now re-sends the expired in-flight QoS 2 message"
    );
}

/// `v5-keepalive-enforced`: of three silent clients with keep alive 1 s started a second apart,
/// at least one is still connected 2.5 s after its CONNECT.
#[test]
fn mosquitto5_closes_a_silent_client_late() {
    let Some(broker) = mosquitto() else { return };
    let handles: Vec<_> = (0..3u64)
        .map(|i| {
            let port = broker.port;
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_secs(i));
                let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
                let started = Instant::now();
                stream.write_all(&connect(&format!("probe5k{i}"), 1, false, &[])).unwrap();
                stream.set_read_timeout(Some(Duration::from_secs(6))).unwrap();
                let mut buf = [0u8; 64];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => return started.elapsed(),
                        Ok(_) => {}
                    }
                }
            })
        })
        .collect();
    let closed: Vec<Duration> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(
        closed.iter().any(|d| *d > Duration::from_millis(2500)),
        "every silent client was closed within 2.5 s: {closed:?}"
    );
}

/// `v5-will-takeover-session-ends`: a connection with Session Expiry Interval 0 and a Will with
/// Will Delay Interval 60 s is taken over; its session ended with it, yet no Will comes.
#[test]
fn mosquitto5_drops_a_delayed_will_on_takeover_of_a_session_that_ends() {
    let Some(broker) = mosquitto() else { return };
    let mut watcher = Probe::open(&broker, &connect("probe5w", 60, false, &[]));
    watcher.send(&subscribe("probe5/will", 0x00));
    assert_eq!(watcher.read_packet().map(|a| a[0]), Some(0x90));
    // CONNECT: Clean Start 1, Will flag, Will QoS 0; no Session Expiry Interval (0).
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0x06, 0, 60, 0];
    body.extend(string("probe5v"));
    body.extend([5, 0x18, 0, 0, 0, 60]);
    body.extend(string("probe5/will"));
    body.extend(string("gone"));
    let _old = Probe::open(&broker, &packet(0x10, &body));
    let _new = Probe::open(&broker, &connect("probe5v", 60, true, &[]));
    watcher.stream.set_read_timeout(Some(Duration::from_millis(2000))).unwrap();
    assert_eq!(
        watcher.read_packet(),
        None,
        "Mosquitto now publishes the Will when a takeover ends its session"
    );
}

/// A 3.1.1 CONNECT, keep alive 60 s, with CleanSession as `clean` and, when given, a QoS 0
/// Will `(topic, payload)`.
fn connect311(client_id: &str, clean: bool, will: Option<(&str, &[u8])>) -> Vec<u8> {
    let flags = u8::from(clean) << 1 | if will.is_some() { 0x04 } else { 0 };
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 4, flags, 0, 60];
    body.extend(string(client_id));
    if let Some((topic, payload)) = will {
        body.extend(string(topic));
        body.extend((payload.len() as u16).to_be_bytes());
        body.extend(payload);
    }
    packet(0x10, &body)
}

/// `will-on-takeover-persistent` (3.1.1): a takeover of a clean session publishes the first
/// connection's Will, a takeover of a persistent one (CleanSession 0 on both) does not.
#[test]
fn mosquitto_drops_the_will_when_a_takeover_resumes_a_persistent_session() {
    let Some(broker) = mosquitto() else { return };
    let mut watcher = Probe::open(&broker, &connect311("probe4w", true, None));
    watcher.send(&packet(0x82, &[[0u8, 1].as_slice(), &string("probe4/will/#"), &[0]].concat()));
    assert_eq!(watcher.read_packet().map(|a| a[0]), Some(0x90));
    for (clean, topic, published) in
        [(true, "probe4/will/clean", true), (false, "probe4/will/persistent", false)]
    {
        let mut first = Probe::open(&broker, &connect311("probe4a", clean, Some((topic, b"gone"))));
        let _second = Probe::open(&broker, &connect311("probe4a", clean, None));
        assert_eq!(first.read_packet(), None, "the takeover closes the first connection");
        watcher.stream.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
        let will = watcher.read_packet();
        assert_eq!(
            will.as_ref().is_some_and(|p| p[0] & 0xF0 == 0x30),
            published,
            "CleanSession {clean}: Will {will:02X?}; revisit will-on-takeover-persistent in \
             expected/mosquitto-2.0.txt"
        );
    }
    // The persistent session ends with a clean connection.
    drop(Probe::open(&broker, &connect311("probe4a", true, None)));
}
