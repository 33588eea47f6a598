//! Scenario scripts: each `tests/scripts/*.txt` is run against a fresh broker, and the
//! transcript of everything the broker said is compared with its insta snapshot.
//!
//! A script is one command per line; lines starting with `#` are comments. Connections are named by the
//! script; `connect` opens a new transport under that name and sends CONNECT on it, `open` only
//! opens one, and `send-connect` sends a CONNECT on the name's current transport.
//!
//! ```text
//! config max_inflight=2 bugs=stale-retained   (only before the first connection)
//! c1 connect dev1 clean keepalive=10 will=status/dev1,offline,1,retain user=u pass=p v5
//! c2 open
//! c2 send-connect dev2 clean
//! c1 subscribe t/# 1 a/b 0
//! c1 unsubscribe t/#
//! c1 publish t/a hello qos=1 id=5 retain dup
//! c1 puback 5 | pubrec 5 | pubrel 5 | pubcomp 5
//! c1 pingreq | disconnect | lost | decode-error | raw-connect v5
//! advance 15s | advance 1500ms
//! crash                                         (durable store; `crash volatile` for a volatile one)
//! ```
//!
//! MQTT 5.0 additions (with `v5` on the connect line):
//!
//! ```text
//! c1 connect dev1 v5 expiry=60 recvmax=2 maxpacket=200 auth=SCRAM will=w,bye,1 willdelay=5 willexpiry=9
//! c1 publish t/a hi qos=1 expiry=30 alias=1 user=k:v ct=text/plain rt=reply/1 cd=abc pfi=1
//! c1 subscribe t/# 1+nl+rap+rh1 $share/g/t 0 subid=7
//! c1 disconnect 4 | disconnect expiry=30 | puback 5 rc=0x80 | pubrec 5 rc=0x80
//! config topic_alias_maximum=2 server_keep_alive=5 max_inbound_qos2=1 retain_available=false
//! shutdown
//! ```
//!
//! Transcript lines: `>` the command, `<` a packet sent, `x` a close, `=` an event.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use bytestring::ByteString;
use mqttsim_broker::{Broker, BrokerConfig, ConnId, Event, MemoryStore, Output, PlantedBug};
use mqttsim_codec::{
    Ack, Connect, DecodeError, Disconnect, Packet, Properties, Property, Protocol, Publish, QoS,
    ReasonCode, RetainHandling, Subscribe, SubscribeFilter, SubscriptionOptions, Unsubscribe, Will,
};

struct Runner {
    broker: Broker,
    now: Duration,
    /// Script names of connections, both ways.
    conns: BTreeMap<String, ConnId>,
    names: BTreeMap<ConnId, String>,
    transcript: String,
    next_packet_id: u16,
    durable: bool,
}

fn qos(text: &str) -> QoS {
    QoS::from_u8(text.parse().unwrap_or(9)).unwrap_or_else(|| panic!("bad QoS {text:?}"))
}

fn duration(text: &str) -> Duration {
    if let Some(ms) = text.strip_suffix("ms") {
        Duration::from_millis(ms.parse().expect("milliseconds"))
    } else if let Some(s) = text.strip_suffix('s') {
        Duration::from_secs(s.parse().expect("seconds"))
    } else {
        panic!("bad duration {text:?}, expected 15s or 1500ms")
    }
}

impl Runner {
    fn new(config: BrokerConfig, durable: bool) -> Runner {
        let store = if durable { MemoryStore::durable() } else { MemoryStore::volatile() };
        Runner {
            broker: Broker::new(config, Box::new(store)),
            now: Duration::ZERO,
            conns: BTreeMap::new(),
            names: BTreeMap::new(),
            transcript: String::new(),
            next_packet_id: 0,
            durable,
        }
    }

    fn name(&self, conn: ConnId) -> String {
        self.names.get(&conn).cloned().unwrap_or_else(|| conn.to_string())
    }

    fn conn(&self, name: &str) -> ConnId {
        *self.conns.get(name).unwrap_or_else(|| panic!("{name} never connected"))
    }

    fn packet_id(&mut self) -> u16 {
        self.next_packet_id += 1;
        self.next_packet_id
    }

    fn drain(&mut self) {
        while let Some(output) = self.broker.poll_output() {
            let line = match output {
                Output::Send { conn, packet } => format!("< {} {}", self.name(conn), show(&packet)),
                Output::Close { conn, reason } => format!("x {} {reason:?}", self.name(conn)),
            };
            writeln!(self.transcript, "{line}").unwrap();
        }
        while let Some(event) = self.broker.poll_event() {
            let line = self.show_event(event);
            writeln!(self.transcript, "= {line}").unwrap();
        }
    }

    fn show_event(&self, event: Event) -> String {
        // Connection ids are replaced by script names; the rest is the event's Debug form.
        let text = format!("{event:?}");
        match event {
            Event::ClientConnected { conn, .. }
            | Event::ConnectionRefused { conn, .. }
            | Event::ClientDisconnected { conn, .. }
            | Event::ConnectionClosed { conn, .. }
            | Event::ReasonCodeSent { conn, .. } => {
                text.replace(&format!("{conn:?}"), &self.name(conn))
            }
            _ => text,
        }
    }

    fn run_line(&mut self, line: &str) {
        let words: Vec<&str> = line.split_whitespace().collect();
        writeln!(self.transcript, "> {line}").unwrap();
        match words.as_slice() {
            ["advance", by] => {
                let target = self.now + duration(by);
                while let Some(deadline) = self.broker.poll_timeout().filter(|&d| d <= target) {
                    self.now = self.now.max(deadline);
                    writeln!(self.transcript, "  at {:?}", self.now).unwrap();
                    self.broker.handle_timeout(self.now);
                    self.drain();
                }
                self.now = target;
            }
            ["shutdown"] => self.broker.handle_shutdown(self.now),
            ["crash", rest @ ..] => {
                let config = self.broker.config().clone();
                let durable = rest != ["volatile"] && self.durable;
                let store = if durable {
                    std::mem::replace(
                        &mut self.broker,
                        Broker::new(config.clone(), Box::new(MemoryStore::volatile())),
                    )
                    .into_store()
                } else {
                    Box::new(MemoryStore::volatile())
                };
                self.broker = Broker::new(config, store.after_crash());
                self.conns.clear();
            }
            [name, "open"] => self.open(name),
            [name, "connect", args @ ..] => {
                self.open(name);
                self.send_connect(name, args);
            }
            [name, "send-connect", args @ ..] => self.send_connect(name, args),
            [name, command, args @ ..] => {
                let conn = self.conn(name);
                let packet = self.packet(command, args);
                match packet {
                    Some(packet) => self.broker.handle_packet(conn, self.now, packet),
                    None if *command == "lost" => {
                        self.broker.handle_connection_lost(conn, self.now)
                    }
                    None => {
                        let error = DecodeError::ReservedPacketType;
                        self.broker.handle_decode_error(conn, self.now, &error);
                    }
                }
            }
            _ => panic!("cannot read {line:?}"),
        }
        self.drain();
    }

    fn open(&mut self, name: &str) {
        let conn = self.broker.handle_connection_opened(self.now);
        self.conns.insert(name.to_owned(), conn);
        self.names.insert(conn, name.to_owned());
    }

    fn send_connect(&mut self, name: &str, args: &[&str]) {
        let conn = self.conn(name);
        let mut connect = Connect {
            protocol: Protocol::V311,
            clean_start: false,
            keep_alive: 0,
            client_id: String::new(),
            will: None,
            username: None,
            password: None,
            properties: Properties::new(),
        };
        let mut will_props = Vec::new();
        for arg in args {
            match arg.split_once('=') {
                None if *arg == "clean" => connect.clean_start = true,
                None if *arg == "v5" => connect.protocol = Protocol::V5,
                None if *arg == "\"\"" => connect.client_id = String::new(),
                None => connect.client_id = (*arg).to_owned(),
                Some(("keepalive", v)) => connect.keep_alive = v.parse().expect("keepalive"),
                Some(("user", v)) => connect.username = Some(v.to_owned()),
                Some(("pass", v)) => connect.password = Some(Bytes::copy_from_slice(v.as_bytes())),
                Some(("will", v)) => {
                    let parts: Vec<&str> = v.split(',').collect();
                    connect.will = Some(Will {
                        topic: ByteString::from(parts[0]),
                        payload: Bytes::copy_from_slice(parts[1].as_bytes()),
                        qos: qos(parts[2]),
                        retain: parts.get(3) == Some(&"retain"),
                        properties: Properties::new(),
                    });
                }
                Some(("expiry", v)) => connect
                    .properties
                    .push(Property::SessionExpiryInterval(v.parse().expect("expiry"))),
                Some(("recvmax", v)) => {
                    connect.properties.push(Property::ReceiveMaximum(v.parse().expect("recvmax")))
                }
                Some(("maxpacket", v)) => connect
                    .properties
                    .push(Property::MaximumPacketSize(v.parse().expect("maxpacket"))),
                Some(("auth", v)) => {
                    connect.properties.push(Property::AuthenticationMethod(v.to_owned()))
                }
                Some(("willdelay", v)) => {
                    will_props.push(Property::WillDelayInterval(v.parse().expect("willdelay")))
                }
                Some(("willexpiry", v)) => {
                    will_props.push(Property::MessageExpiryInterval(v.parse().expect("willexpiry")))
                }
                _ => panic!("unknown connect argument {arg:?}"),
            }
        }
        if let Some(will) = &mut connect.will {
            will.properties = Properties(will_props);
        }
        self.broker.handle_packet(conn, self.now, Packet::Connect(connect));
    }

    fn packet(&mut self, command: &str, args: &[&str]) -> Option<Packet> {
        let id = || {
            let first = args.first().filter(|v| !v.contains('='));
            first.map(|v| v.parse::<u16>().expect("packet id")).unwrap_or(1)
        };
        Some(match command {
            "subscribe" => {
                let mut properties = Properties::new();
                let mut words = Vec::new();
                for arg in args {
                    match arg.strip_prefix("subid=") {
                        Some(id) => properties
                            .push(Property::SubscriptionIdentifier(id.parse().expect("subid"))),
                        None => words.push(*arg),
                    }
                }
                let filters = words
                    .chunks(2)
                    .map(|pair| SubscribeFilter {
                        filter: pair[0].to_owned(),
                        options: subscription_options(pair[1]),
                    })
                    .collect();
                let packet_id = self.packet_id();
                Packet::Subscribe(Subscribe { packet_id, filters, properties })
            }
            "unsubscribe" => {
                let filters = args.iter().map(|f| (*f).to_owned()).collect();
                let packet_id = self.packet_id();
                Packet::Unsubscribe(Unsubscribe {
                    packet_id,
                    filters,
                    properties: Properties::new(),
                })
            }
            "publish" => {
                let mut publish = Publish {
                    dup: false,
                    qos: QoS::AtMostOnce,
                    retain: false,
                    topic: match args[0] {
                        "\"\"" => ByteString::new(),
                        topic => ByteString::from(topic),
                    },
                    packet_id: 0,
                    payload: match args.get(1) {
                        None | Some(&"\"\"") => Bytes::new(),
                        Some(text) => Bytes::copy_from_slice(text.as_bytes()),
                    },
                    properties: Properties::new(),
                };
                for arg in args.iter().skip(2) {
                    match arg.split_once('=') {
                        Some(("qos", v)) => publish.qos = qos(v),
                        Some(("id", v)) => publish.packet_id = v.parse().expect("packet id"),
                        Some(("expiry", v)) => publish
                            .properties
                            .push(Property::MessageExpiryInterval(v.parse().expect("expiry"))),
                        Some(("alias", v)) => {
                            publish.properties.push(Property::TopicAlias(v.parse().expect("alias")))
                        }
                        Some(("user", v)) => {
                            let (key, value) = v.split_once(':').expect("user=key:value");
                            publish
                                .properties
                                .push(Property::UserProperty(key.to_owned(), value.to_owned()))
                        }
                        Some(("ct", v)) => publish.properties.push(Property::ContentType(v.into())),
                        Some(("rt", v)) => {
                            publish.properties.push(Property::ResponseTopic(v.into()))
                        }
                        Some(("cd", v)) => publish
                            .properties
                            .push(Property::CorrelationData(Bytes::copy_from_slice(v.as_bytes()))),
                        Some(("pfi", v)) => publish
                            .properties
                            .push(Property::PayloadFormatIndicator(v.parse().expect("pfi"))),
                        None if *arg == "retain" => publish.retain = true,
                        None if *arg == "dup" => publish.dup = true,
                        _ => panic!("unknown publish argument {arg:?}"),
                    }
                }
                if publish.qos != QoS::AtMostOnce && publish.packet_id == 0 {
                    publish.packet_id = self.packet_id();
                }
                Packet::Publish(publish)
            }
            "puback" => Packet::PubAck(ack(id(), args)),
            "pubrec" => Packet::PubRec(ack(id(), args)),
            "pubrel" => Packet::PubRel(ack(id(), args)),
            "pubcomp" => Packet::PubComp(ack(id(), args)),
            "pingreq" => Packet::PingReq,
            "disconnect" => {
                let mut disconnect = Disconnect::default();
                for arg in args {
                    match arg.strip_prefix("expiry=") {
                        Some(v) => disconnect
                            .properties
                            .push(Property::SessionExpiryInterval(v.parse().expect("expiry"))),
                        None => disconnect.reason_code = ReasonCode(arg.parse().expect("code")),
                    }
                }
                Packet::Disconnect(disconnect)
            }
            "lost" | "decode-error" => return None,
            _ => panic!("unknown command {command:?}"),
        })
    }
}

/// A packet in one short line.
fn show(packet: &Packet) -> String {
    match packet {
        Packet::ConnAck(c) => {
            format!(
                "CONNACK session_present={} rc={:#04x}{}",
                u8::from(c.session_present),
                c.reason_code.0,
                show_props(&c.properties)
            )
        }
        Packet::Publish(p) => format!(
            "PUBLISH {} {:?} qos={} id={} retain={} dup={}{}",
            p.topic,
            String::from_utf8_lossy(&p.payload),
            p.qos.as_u8(),
            p.packet_id,
            u8::from(p.retain),
            u8::from(p.dup),
            show_props(&p.properties)
        ),
        Packet::PubAck(a) => format!("PUBACK {}{}", a.packet_id, show_ack(a)),
        Packet::PubRec(a) => format!("PUBREC {}{}", a.packet_id, show_ack(a)),
        Packet::PubRel(a) => format!("PUBREL {}{}", a.packet_id, show_ack(a)),
        Packet::PubComp(a) => format!("PUBCOMP {}{}", a.packet_id, show_ack(a)),
        Packet::SubAck(s) => {
            let codes: Vec<String> =
                s.reason_codes.iter().map(|c| format!("{:#04x}", c.0)).collect();
            format!("SUBACK {} [{}]{}", s.packet_id, codes.join(", "), show_props(&s.properties))
        }
        Packet::UnsubAck(u) if u.reason_codes.is_empty() => format!("UNSUBACK {}", u.packet_id),
        Packet::UnsubAck(u) => {
            let codes: Vec<String> =
                u.reason_codes.iter().map(|c| format!("{:#04x}", c.0)).collect();
            format!("UNSUBACK {} [{}]", u.packet_id, codes.join(", "))
        }
        Packet::Disconnect(d) => {
            format!("DISCONNECT rc={:#04x}{}", d.reason_code.0, show_props(&d.properties))
        }
        Packet::PingResp => "PINGRESP".to_owned(),
        other => format!("{other:?}"),
    }
}

/// 5.0 properties in a short form, or nothing when there are none (every 3.1.1 packet).
fn show_props(properties: &Properties) -> String {
    if properties.is_empty() {
        return String::new();
    }
    let shown: Vec<String> = properties
        .iter()
        .map(|p| match p {
            Property::UserProperty(k, v) => format!("user({k}={v})"),
            Property::CorrelationData(b) => {
                format!("CorrelationData({:?})", String::from_utf8_lossy(b))
            }
            other => format!("{other:?}"),
        })
        .collect();
    format!(" {{{}}}", shown.join(", "))
}

fn show_ack(ack: &Ack) -> String {
    let mut out = String::new();
    if ack.reason_code != ReasonCode::SUCCESS {
        out = format!(" rc={:#04x}", ack.reason_code.0);
    }
    out + &show_props(&ack.properties)
}

/// `1`, or `1+nl+rap+rh1`: a QoS and 5.0 subscription options.
fn subscription_options(text: &str) -> SubscriptionOptions {
    let mut parts = text.split('+');
    let mut options =
        SubscriptionOptions { qos: qos(parts.next().expect("a QoS")), ..Default::default() };
    for part in parts {
        match part {
            "nl" => options.no_local = true,
            "rap" => options.retain_as_published = true,
            "rh0" => options.retain_handling = RetainHandling::SendAtSubscribe,
            "rh1" => options.retain_handling = RetainHandling::SendIfNew,
            "rh2" => options.retain_handling = RetainHandling::DoNotSend,
            _ => panic!("unknown subscription option {part:?}"),
        }
    }
    options
}

/// An acknowledgement, with `rc=0x80` among `args` for a reason code.
fn ack(packet_id: u16, args: &[&str]) -> Ack {
    let mut ack = Ack::new(packet_id);
    for arg in args {
        if let Some(code) = arg.strip_prefix("rc=0x") {
            ack.reason_code = ReasonCode(u8::from_str_radix(code, 16).expect("hex code"));
        }
    }
    ack
}

fn config_of(line: &str) -> BrokerConfig {
    let mut config = BrokerConfig::default();
    for arg in line.split_whitespace().skip(1) {
        let (key, value) = arg.split_once('=').unwrap_or_else(|| panic!("bad config {arg:?}"));
        match key {
            "max_inflight" => config.max_inflight = value.parse().unwrap(),
            "max_queued_messages" => config.max_queued_messages = value.parse().unwrap(),
            "max_qos" => config.max_qos = qos(value),
            "queue_qos0_offline" => config.queue_qos0_offline = value.parse().unwrap(),
            "topic_alias_maximum" => config.topic_alias_maximum = value.parse().unwrap(),
            "server_keep_alive" => config.server_keep_alive = Some(value.parse().unwrap()),
            "max_inbound_qos2" => config.max_inbound_qos2 = value.parse().unwrap(),
            "max_retained_messages" => config.max_retained_messages = value.parse().unwrap(),
            "max_session_expiry_interval" => {
                config.max_session_expiry_interval = value.parse().unwrap()
            }
            "retain_available" => config.retain_available = value.parse().unwrap(),
            "bugs" => {
                config.bugs = value.split(',').map(|b| b.parse::<PlantedBug>().unwrap()).collect()
            }
            _ => panic!("unknown config key {key:?}"),
        }
    }
    config
}

fn run_script(text: &str) -> String {
    let lines: Vec<&str> =
        text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')).collect();
    let (config, body) = match lines.first() {
        Some(first) if first.starts_with("config") => (config_of(first), &lines[1..]),
        _ => (BrokerConfig::default(), &lines[..]),
    };
    let mut runner = Runner::new(config, true);
    for line in body {
        runner.run_line(line);
    }
    runner.transcript
}

#[test]
fn scripts() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scripts");
    let mut paths: Vec<_> = std::fs::read_dir(&dir)
        .expect("tests/scripts exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty());
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let transcript = run_script(&text);
        // Same script, same transcript: the core is deterministic.
        assert_eq!(run_script(&text), transcript, "{name} is not deterministic");
        insta::with_settings!({ snapshot_path => dir.join("snapshots"), prepend_module_to_snapshot => false, omit_expression => true }, {
            insta::assert_snapshot!(name, transcript);
        });
    }
}
