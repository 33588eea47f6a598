//! An in-memory harness: a client, a fake clock, and compact descriptions of what came out.

use std::time::Duration;

use bytes::Bytes;
use mqttsim_client::{Client, ClientConfig, Event, Output, State};
use mqttsim_codec::{Ack, ConnAck, Packet, Properties, Publish, QoS, ReasonCode, SubAck, UnsubAck};

/// A client driven by a fake clock.
pub struct Harness {
    pub client: Client,
    pub now: Duration,
}

impl Harness {
    pub fn new(config: ClientConfig) -> Harness {
        Harness { client: Client::new(config), now: Duration::ZERO }
    }

    /// A 3.1.1 device with a persistent session and no keep alive, so timers stay quiet.
    pub fn device() -> ClientConfig {
        let mut config = ClientConfig::new("dev-1");
        config.keep_alive = 0;
        config
    }

    /// Transport up and CONNACK; returns what the CONNACK produced (CONNECT excluded).
    pub fn connect(&mut self, session_present: bool) -> Vec<String> {
        self.client.handle_transport_up(self.now);
        let connect = self.out();
        assert_eq!(connect.len(), 1, "transport up sends exactly CONNECT: {connect:?}");
        assert!(connect[0].starts_with("CONNECT"), "{connect:?}");
        self.recv(connack(session_present, ReasonCode::SUCCESS));
        assert_eq!(self.client.state(), State::Connected);
        self.out()
    }

    pub fn recv(&mut self, packet: Packet) {
        self.client.handle_packet(self.now, packet);
    }

    /// Moves the clock to `at` seconds and fires the timer if it is due.
    pub fn at(&mut self, at: f64) {
        self.now = Duration::from_secs_f64(at);
        if self.client.poll_timeout().is_some_and(|deadline| deadline <= self.now) {
            self.client.handle_timeout(self.now);
        }
    }

    pub fn publish(&mut self, topic: &str, qos: u8) -> u64 {
        let qos = QoS::from_u8(qos).unwrap();
        let payload = Bytes::from(topic.to_owned().into_bytes());
        self.client.publish(self.now, topic.into(), payload, qos, false).unwrap().0
    }

    /// Every output since the last call, described compactly.
    pub fn out(&mut self) -> Vec<String> {
        std::iter::from_fn(|| self.client.poll_output()).map(|o| describe(&o)).collect()
    }

    /// Every output since the last call, as it is.
    pub fn raw_out(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.client.poll_output()).collect()
    }

    /// Every event since the last call.
    pub fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    /// Drops events so a test can look at the next ones only.
    pub fn clear(&mut self) {
        self.out();
        self.events();
    }
}

/// One line per output: the packet type and the fields that matter to the client.
pub fn describe(output: &Output) -> String {
    let packet = match output {
        Output::Close => return "CLOSE".into(),
        Output::Send(packet) => packet,
    };
    match packet {
        Packet::Connect(c) => {
            format!("CONNECT id={} clean={} ka={}", c.client_id, c.clean_start as u8, c.keep_alive)
        }
        Packet::Publish(p) => {
            format!("PUBLISH q{} id={} dup={} {}", p.qos.as_u8(), p.packet_id, p.dup as u8, p.topic)
        }
        Packet::PubAck(a) => format!("PUBACK {}", a.packet_id),
        Packet::PubRec(a) => format!("PUBREC {}", a.packet_id),
        Packet::PubRel(a) => format!("PUBREL {}", a.packet_id),
        Packet::PubComp(a) if a.reason_code == ReasonCode::SUCCESS => {
            format!("PUBCOMP {}", a.packet_id)
        }
        Packet::PubComp(a) => format!("PUBCOMP {} {:?}", a.packet_id, a.reason_code),
        Packet::Subscribe(s) => {
            let filters: Vec<String> = s
                .filters
                .iter()
                .map(|f| format!("{}:{}", f.filter, f.options.qos.as_u8()))
                .collect();
            format!("SUBSCRIBE id={} {}", s.packet_id, filters.join(","))
        }
        Packet::Unsubscribe(u) => format!("UNSUBSCRIBE id={} {}", u.packet_id, u.filters.join(",")),
        Packet::PingReq => "PINGREQ".into(),
        Packet::Disconnect(d) => format!("DISCONNECT {:?}", d.reason_code),
        other => format!("{:?}", other.packet_type()),
    }
}

pub fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

pub fn connack(session_present: bool, reason_code: ReasonCode) -> Packet {
    Packet::ConnAck(ConnAck { session_present, reason_code, properties: Properties::new() })
}

pub fn publish(qos: u8, packet_id: u16, topic: &str, dup: bool) -> Packet {
    Packet::Publish(Publish {
        dup,
        qos: QoS::from_u8(qos).unwrap(),
        retain: false,
        topic: topic.into(),
        packet_id,
        payload: Bytes::from_static(b"x"),
        properties: Properties::new(),
    })
}

pub fn puback(id: u16) -> Packet {
    Packet::PubAck(Ack::new(id))
}

pub fn pubrec(id: u16) -> Packet {
    Packet::PubRec(Ack::new(id))
}

pub fn pubrel(id: u16) -> Packet {
    Packet::PubRel(Ack::new(id))
}

pub fn pubcomp(id: u16) -> Packet {
    Packet::PubComp(Ack::new(id))
}

pub fn suback(id: u16, codes: &[u8]) -> Packet {
    Packet::SubAck(SubAck {
        packet_id: id,
        reason_codes: codes.iter().map(|&c| ReasonCode(c)).collect(),
        properties: Properties::new(),
    })
}

pub fn unsuback(id: u16) -> Packet {
    Packet::UnsubAck(UnsubAck {
        packet_id: id,
        reason_codes: Vec::new(),
        properties: Properties::new(),
    })
}
