//! The trace of a run: one typed record per event, written as JSON Lines and as aligned text.
//!
//! A record carries the simulated time in whole microseconds, the site and the device (client
//! id) it concerns, its direction and a tagged [`Event`]. The JSON form is what a checker reads
//! back (`serde_json::from_str::<Record>`); the text form (`trace.txt`) is for people.
//!
//! Application messages are named by the message id their payload starts with,
//! `"<client_id>#<n>"` (n counts from 1 per device, across reboots), so a delivery can be
//! matched to its publish.
//!
//! Two levels of detail ([`Level`]): the default records what the applications, connections,
//! the broker and the faults did; the packet level adds one record per control packet a device
//! sent or received ([`Event::PacketSent`], [`Event::PacketReceived`]: PINGREQ and PINGRESP,
//! acknowledgements, SUBSCRIBE, ...), for timing questions the default cannot answer. A sink
//! asks for it with [`TraceSink::level`] (wrap it in [`Packets`]); packet records reach only the
//! sinks that asked, so default traces stay as they are.

use std::fmt::{self, Write as _};
use std::io::{self, Write};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// One line of the trace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// Simulated time since the start of the run, in microseconds.
    pub t_us: u64,
    /// The site of the device, when the event concerns one device.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub site: Option<String>,
    /// The client id the event concerns, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    /// Where the event happens or which way it goes.
    pub dir: Dir,
    /// What happened.
    #[serde(flatten)]
    pub event: Event,
}

/// Where an event happens, or which way a packet goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Dir {
    /// The device's application (publish calls, acknowledgements, drops).
    App,
    /// A packet from the device to the broker.
    Up,
    /// A packet from the broker to the device.
    Down,
    /// The device's connection (attempts, connected, closed).
    Conn,
    /// Inside the broker.
    Broker,
    /// The device's link.
    Link,
    /// A fault being applied or ending.
    Fault,
}

impl Dir {
    fn label(self) -> &'static str {
        match self {
            Dir::App => "app",
            Dir::Up => "->b",
            Dir::Down => "<-b",
            Dir::Conn => "conn",
            Dir::Broker => "brk",
            Dir::Link => "link",
            Dir::Fault => "fault",
        }
    }
}

/// Whether a fault is starting or ending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The fault starts.
    Start,
    /// The fault ends (the device is back, the link recovers, the broker is up again).
    End,
}

/// MQTT 5.0: what a device's CONNECT announced and what the broker's CONNACK answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The device's Receive Maximum: unacknowledged QoS 1 and 2 PUBLISH packets it accepts.
    pub receive_maximum: u16,
    /// The device's Maximum Packet Size, if it announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_packet_size: Option<u32>,
    /// The device's Topic Alias Maximum (0: the broker may use no alias).
    pub topic_alias_maximum: u16,
    /// The broker's Receive Maximum (65,535 when CONNACK has none).
    pub server_receive_maximum: u16,
    /// The broker's Maximum Packet Size, if it announced one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_maximum_packet_size: Option<u32>,
    /// The broker's Topic Alias Maximum.
    pub server_topic_alias_maximum: u16,
    /// The broker's Maximum QoS, if its CONNACK announced one (0 or 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_maximum_qos: Option<u8>,
    /// The broker's Retain Available (1 when CONNACK has none).
    #[serde(default = "available", skip_serializing_if = "is_available")]
    pub server_retain_available: bool,
}

/// A CONNACK without Retain Available means retained messages are available.
fn available() -> bool {
    true
}

fn is_available(available: &bool) -> bool {
    *available
}

/// MQTT 5.0 properties of an application message as a device published or received it (the
/// ones the checker judges; Message Expiry and Subscription Identifiers are not here).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageProps {
    /// Payload Format Indicator.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_format: Option<u8>,
    /// Content Type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    /// Response Topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_topic: Option<String>,
    /// Correlation Data, as text (invalid UTF-8 replaced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<String>,
    /// User Properties, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub user: Vec<(String, String)>,
    /// The Topic Alias the PUBLISH carried (a delivery only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alias: Option<u16>,
}

impl MessageProps {
    /// The properties of a PUBLISH the checker judges, or `None` when it has none of them.
    pub fn of(properties: &mqttsim_codec::Properties) -> Option<Box<MessageProps>> {
        use mqttsim_codec::Property as P;
        let mut out = MessageProps::default();
        for p in properties.iter() {
            match p {
                P::PayloadFormatIndicator(v) => out.payload_format = Some(*v),
                P::ContentType(v) => out.content_type = Some(v.clone()),
                P::ResponseTopic(v) => out.response_topic = Some(v.clone()),
                P::CorrelationData(v) => {
                    out.correlation = Some(String::from_utf8_lossy(v).into_owned());
                }
                P::UserProperty(k, v) => out.user.push((k.clone(), v.clone())),
                P::TopicAlias(v) => out.alias = Some(*v),
                _ => {}
            }
        }
        (out != MessageProps::default()).then(|| Box::new(out))
    }

    /// The same properties without the Topic Alias (which belongs to one connection).
    pub fn without_alias(&self) -> MessageProps {
        MessageProps { alias: None, ..self.clone() }
    }
}

impl fmt::Display for MessageProps {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts: Vec<String> = Vec::new();
        if let Some(v) = self.payload_format {
            parts.push(format!("format={v}"));
        }
        if let Some(v) = &self.content_type {
            parts.push(format!("content_type={v:?}"));
        }
        if let Some(v) = &self.response_topic {
            parts.push(format!("response_topic={v}"));
        }
        if let Some(v) = &self.correlation {
            parts.push(format!("correlation={v:?}"));
        }
        if !self.user.is_empty() {
            let user: Vec<String> = self.user.iter().map(|(k, v)| format!("{k:?}:{v:?}")).collect();
            parts.push(format!("user=[{}]", user.join(",")));
        }
        if let Some(v) = self.alias {
            parts.push(format!("alias={v}"));
        }
        write!(f, "{{{}}}", parts.join(" "))
    }
}

/// Everything that can happen in a run. Field `ev` names the variant in JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ev", rename_all = "snake_case")]
pub enum Event {
    // ----- the device's connection -----
    /// The device starts a connection attempt (its `attempt`-th, from 1).
    ConnectAttempt { attempt: u32 },
    /// The TCP connection could not be made: `refused` (nobody listening) or `handshake-lost`.
    TcpFailed { error: String },
    /// CONNACK accepted the connection. On a 5.0 connection, `session_expiry` is the Session
    /// Expiry Interval in force, in seconds: the client's, or the one CONNACK imposed; and
    /// `will_delay` the Will Delay Interval of its Will, in seconds, when it has one; `limits`
    /// what the device's CONNECT announced and what the CONNACK answered.
    Connected {
        session_present: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_expiry: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        will_delay: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limits: Option<Limits>,
    },
    /// CONNACK refused the connection with this reason code.
    Refused { code: u8 },
    /// The device's connection ended, for this reason (`transport-lost`, `keepalive-timeout`,
    /// `client-disconnect`, `connect-timeout`, `refused`, `protocol`, `decode`, ...). For MQTT
    /// 5.0, `code` is the reason code of the DISCONNECT the device sent (a protocol or decode
    /// error) or received (a server DISCONNECT).
    Closed {
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        code: Option<u8>,
    },
    /// The broker did not keep the session while messages were in flight: `resent` are sent
    /// again as new messages, `released` count as delivered (PUBREC had arrived).
    SessionLost { resent: Vec<String>, released: Vec<String> },
    /// SUBACK arrived with these return codes.
    Suback { codes: Vec<u8> },
    /// A 5.0 device sent DISCONNECT with this reason code (0x00 normal, 0x04 with the Will
    /// message, ...) and, if it set one, a new Session Expiry Interval in seconds. 3.1.1
    /// devices record none (a 3.1.1 DISCONNECT has no reason: `Closed` says it all).
    DisconnectSent {
        reason: u8,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session_expiry: Option<u32>,
    },

    // ----- application messages -----
    /// The application published message `msg` with a payload of `size` bytes (the scenario's
    /// `payload_size`, or the message id's length if that is longer). On a 5.0 connection,
    /// `expiry` is the Message Expiry Interval it was published with, in seconds: every
    /// PUBLISH of it carries what is left of that interval, counted from this record.
    AppPublish {
        msg: String,
        topic: String,
        qos: u8,
        retain: bool,
        size: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expiry: Option<u32>,
        /// MQTT 5.0: the message's properties, when it has any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        props: Option<Box<MessageProps>>,
    },
    /// A PUBLISH of message `msg` was put on the wire (a resend has `dup` set or follows a lost
    /// session).
    PublishSent { msg: String, pid: u16, qos: u8, dup: bool },
    /// A subscriber received a message. `msg` is the id read from the payload; messages not
    /// published by a device (Wills) have none and carry their `payload` text instead.
    /// `expiry` is the Message Expiry Interval the PUBLISH carried (5.0), absent when none.
    Delivered {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
        topic: String,
        qos: u8,
        pid: u16,
        dup: bool,
        retain: bool,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expiry: Option<u32>,
        /// MQTT 5.0: the properties the PUBLISH carried, when it carried any of those
        /// [`MessageProps`] holds.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        props: Option<Box<MessageProps>>,
    },
    /// The publisher's message `msg` is complete (PUBACK for QoS 1, PUBCOMP for QoS 2).
    Acked { msg: String, pid: u16, qos: u8 },
    /// The device gave message `msg` up (`queue-full`, `offline`, `rejected`).
    Dropped { msg: String, reason: String },

    // ----- the broker -----
    /// The broker accepted a CONNECT.
    BrokerConnected { conn: u64, clean_session: bool, session_present: bool },
    /// The broker refused a CONNECT with this CONNACK code.
    BrokerRefused { conn: u64, code: u8 },
    /// A connected client's connection ended at the broker, for this reason.
    BrokerDisconnected { conn: u64, reason: String },
    /// A connection that never completed CONNECT ended.
    BrokerConnectionClosed { conn: u64, reason: String },
    /// The broker took responsibility for a PUBLISH from the device. `msg` is the id read from
    /// the payload the broker accepted (absent in traces made before it was recorded, and for
    /// payloads without one).
    BrokerAccepted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
        topic: String,
        pid: u16,
        qos: u8,
        retain: bool,
    },
    /// The broker published the device's Will.
    WillPublished { topic: String, qos: u8, retain: bool },
    /// The broker dropped a message meant for the device (`queue-full`, `qos0-offline`); `msg`
    /// is the id read from the dropped payload, absent for Wills.
    BrokerDropped {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        msg: Option<String>,
        topic: String,
        reason: String,
    },
    /// The broker made (or refused, `granted` absent) a subscription.
    BrokerSubscribed {
        filter: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        granted: Option<u8>,
    },
    /// The broker removed a subscription.
    BrokerUnsubscribed { filter: String },
    /// The broker process crashed (`phase: start`) or came back (`phase: end`); `state` is
    /// whether its store survives (`durable`) or not (`volatile`).
    BrokerRestart { phase: Phase, state: String },

    // ----- packet level (only in traces that ask for it, see [`Level`]) -----
    /// The device wrote a control packet to its connection. `pid` for packets with a packet
    /// identifier; `qos`, `dup` and `retain` for PUBLISH.
    PacketSent {
        packet: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qos: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dup: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retain: Option<bool>,
        /// MQTT 5.0: the packet's size in bytes, fixed header included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u32>,
    },
    /// The device read a control packet from its connection (same fields as `PacketSent`).
    PacketReceived {
        packet: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pid: Option<u16>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        qos: Option<u8>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dup: Option<bool>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retain: Option<bool>,
        /// MQTT 5.0: the packet's size in bytes, fixed header included.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        size: Option<u32>,
    },

    // ----- links and faults -----
    /// The device's link reset its connection (a sender exhausted its retransmissions).
    LinkReset,
    /// The device's connection handshake was lost on the link.
    HandshakeLost,
    /// A fault on one device (`power-loss`, `crash`, `reboot`, `disconnect`) starts or ends.
    DeviceFault { kind: String, phase: Phase },
    /// A fault on the links of several devices (`blackout`, `partition`, `loss-burst`,
    /// `flapping`) starts or ends. `target` describes who, `devices` lists them.
    LinkFault {
        kind: String,
        phase: Phase,
        target: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direction: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        loss_pct: Option<String>,
        devices: Vec<String>,
    },
}

impl Event {
    /// The direction column of this event.
    pub fn dir(&self) -> Dir {
        match self {
            Event::ConnectAttempt { .. }
            | Event::TcpFailed { .. }
            | Event::Connected { .. }
            | Event::Refused { .. }
            | Event::Closed { .. }
            | Event::SessionLost { .. } => Dir::Conn,
            Event::Suback { .. } | Event::Delivered { .. } => Dir::Down,
            Event::DisconnectSent { .. } => Dir::Up,
            Event::AppPublish { .. } | Event::Acked { .. } | Event::Dropped { .. } => Dir::App,
            Event::PublishSent { .. } => Dir::Up,
            Event::BrokerConnected { .. }
            | Event::BrokerRefused { .. }
            | Event::BrokerDisconnected { .. }
            | Event::BrokerConnectionClosed { .. }
            | Event::BrokerAccepted { .. }
            | Event::WillPublished { .. }
            | Event::BrokerDropped { .. }
            | Event::BrokerSubscribed { .. }
            | Event::BrokerUnsubscribed { .. }
            | Event::BrokerRestart { .. } => Dir::Broker,
            Event::PacketSent { .. } => Dir::Up,
            Event::PacketReceived { .. } => Dir::Down,
            Event::LinkReset | Event::HandshakeLost => Dir::Link,
            Event::DeviceFault { .. } | Event::LinkFault { .. } => Dir::Fault,
        }
    }
}

impl Event {
    /// The event as the text trace shows it, without time, site and device.
    pub fn summary(&self) -> String {
        Summary(self).to_string()
    }

    /// Whether this is a packet-level record (see [`Level`]).
    pub fn is_packet_level(&self) -> bool {
        matches!(self, Event::PacketSent { .. } | Event::PacketReceived { .. })
    }

    /// A packet-level record of `packet`, sent by the device (`sent`) or received by it.
    pub fn packet(packet: &mqttsim_codec::Packet, sent: bool) -> Event {
        Event::packet_sized(packet, sent, None)
    }

    /// A packet-level record of `packet` and its size in bytes (recorded for MQTT 5.0).
    pub fn packet_sized(packet: &mqttsim_codec::Packet, sent: bool, size: Option<u32>) -> Event {
        use mqttsim_codec::Packet as P;
        let (name, pid) = match packet {
            P::Connect(_) => ("CONNECT", None),
            P::ConnAck(_) => ("CONNACK", None),
            P::Publish(p) => ("PUBLISH", (p.packet_id != 0).then_some(p.packet_id)),
            P::PubAck(a) => ("PUBACK", Some(a.packet_id)),
            P::PubRec(a) => ("PUBREC", Some(a.packet_id)),
            P::PubRel(a) => ("PUBREL", Some(a.packet_id)),
            P::PubComp(a) => ("PUBCOMP", Some(a.packet_id)),
            P::Subscribe(s) => ("SUBSCRIBE", Some(s.packet_id)),
            P::SubAck(s) => ("SUBACK", Some(s.packet_id)),
            P::Unsubscribe(u) => ("UNSUBSCRIBE", Some(u.packet_id)),
            P::UnsubAck(u) => ("UNSUBACK", Some(u.packet_id)),
            P::PingReq => ("PINGREQ", None),
            P::PingResp => ("PINGRESP", None),
            P::Disconnect(_) => ("DISCONNECT", None),
            P::Auth(_) => ("AUTH", None),
        };
        let publish = match packet {
            P::Publish(p) => Some(p),
            _ => None,
        };
        let packet = name.to_owned();
        let qos = publish.map(|p| p.qos.as_u8());
        let dup = publish.map(|p| p.dup);
        let retain = publish.map(|p| p.retain);
        if sent {
            Event::PacketSent { packet, pid, qos, dup, retain, size }
        } else {
            Event::PacketReceived { packet, pid, qos, dup, retain, size }
        }
    }
}

impl Record {
    /// A record at simulated time `at`.
    pub fn new(at: Duration, site: Option<&str>, device: Option<&str>, event: Event) -> Record {
        Record {
            t_us: u64::try_from(at.as_micros()).unwrap_or(u64::MAX),
            site: site.map(str::to_owned),
            device: device.map(str::to_owned),
            dir: event.dir(),
            event,
        }
    }

    /// The one-line JSON form (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a trace record always serialises to JSON")
    }

    /// The aligned text form (no trailing newline): time, site, device, direction, summary.
    pub fn to_text(&self) -> String {
        let mut line = String::with_capacity(120);
        let secs = self.t_us / 1_000_000;
        let micros = self.t_us % 1_000_000;
        let _ = write!(
            line,
            "{secs:>6}.{micros:06}  {site:<12} {device:<24} {dir:<5} ",
            site = self.site.as_deref().unwrap_or("-"),
            device = self.device.as_deref().unwrap_or("-"),
            dir = self.dir.label(),
        );
        let _ = write!(line, "{}", Summary(&self.event));
        line
    }
}

fn bit(b: bool) -> u8 {
    u8::from(b)
}

/// The packet-like summary of an event in the text trace.
struct Summary<'a>(&'a Event);

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Event::ConnectAttempt { attempt } => write!(f, "CONNECT attempt={attempt}"),
            Event::TcpFailed { error } => write!(f, "TCP failed: {error}"),
            Event::Connected { session_present, session_expiry, will_delay, limits } => {
                write!(f, "CONNACK ok session_present={}", bit(*session_present))?;
                if let Some(e) = session_expiry {
                    write!(f, " session_expiry={e}s")?;
                }
                if let Some(d) = will_delay {
                    write!(f, " will_delay={d}s")?;
                }
                if let Some(l) = limits {
                    let size = |s: Option<u32>| s.map_or("-".to_owned(), |s| s.to_string());
                    write!(
                        f,
                        " device: rm={} mps={} tam={} broker: rm={} mps={} tam={}",
                        l.receive_maximum,
                        size(l.maximum_packet_size),
                        l.topic_alias_maximum,
                        l.server_receive_maximum,
                        size(l.server_maximum_packet_size),
                        l.server_topic_alias_maximum
                    )?;
                    if let Some(q) = l.server_maximum_qos {
                        write!(f, " max_qos={q}")?;
                    }
                    if !l.server_retain_available {
                        f.write_str(" retain=0")?;
                    }
                }
                Ok(())
            }
            Event::DisconnectSent { reason, session_expiry } => {
                write!(f, "DISCONNECT reason=0x{reason:02X}")?;
                match session_expiry {
                    Some(e) => write!(f, " session_expiry={e}s"),
                    None => Ok(()),
                }
            }
            Event::Refused { code } => write!(f, "CONNACK refused code=0x{code:02X}"),
            Event::Closed { reason, code } => {
                write!(f, "closed: {reason}")?;
                if let Some(code) = code {
                    write!(f, " (reason code 0x{code:02X})")?;
                }
                Ok(())
            }
            Event::SessionLost { resent, released } => write!(
                f,
                "session lost resent=[{}] released=[{}]",
                resent.join(","),
                released.join(",")
            ),
            Event::Suback { codes } => {
                let codes: Vec<String> = codes.iter().map(|c| format!("0x{c:02X}")).collect();
                write!(f, "SUBACK [{}]", codes.join(","))
            }
            Event::AppPublish { msg, topic, qos, retain, size, expiry, props } => {
                write!(
                    f,
                    "publish q{qos} retain={} size={size} topic={topic} id={msg}",
                    bit(*retain)
                )?;
                if let Some(e) = expiry {
                    write!(f, " expiry={e}s")?;
                }
                if let Some(props) = props {
                    write!(f, " props={props}")?;
                }
                Ok(())
            }
            Event::PublishSent { msg, pid, qos, dup } => {
                write!(f, "PUBLISH q{qos} pid={pid} dup={} id={msg}", bit(*dup))
            }
            Event::Delivered { msg, topic, qos, pid, dup, retain, payload, expiry, props } => {
                write!(
                    f,
                    "PUBLISH q{qos} pid={pid} dup={} retain={} topic={topic}",
                    bit(*dup),
                    bit(*retain)
                )?;
                if let Some(msg) = msg {
                    write!(f, " id={msg}")?;
                }
                if let Some(payload) = payload {
                    write!(f, " payload={payload:?}")?;
                }
                if let Some(expiry) = expiry {
                    write!(f, " expiry={expiry}s")?;
                }
                if let Some(props) = props {
                    write!(f, " props={props}")?;
                }
                Ok(())
            }
            Event::Acked { msg, pid, qos } => write!(f, "acked q{qos} pid={pid} id={msg}"),
            Event::Dropped { msg, reason } => write!(f, "dropped ({reason}) id={msg}"),
            Event::BrokerConnected { conn, clean_session, session_present } => write!(
                f,
                "client connected conn={conn} clean={} session_present={}",
                bit(*clean_session),
                bit(*session_present)
            ),
            Event::BrokerRefused { conn, code } => {
                write!(f, "connect refused conn={conn} code=0x{code:02X}")
            }
            Event::BrokerDisconnected { conn, reason } => {
                write!(f, "client disconnected conn={conn}: {reason}")
            }
            Event::BrokerConnectionClosed { conn, reason } => {
                write!(f, "connection closed conn={conn}: {reason}")
            }
            Event::BrokerAccepted { msg, topic, pid, qos, retain } => {
                write!(f, "accepted q{qos} pid={pid} retain={} topic={topic}", bit(*retain))?;
                if let Some(msg) = msg {
                    write!(f, " id={msg}")?;
                }
                Ok(())
            }
            Event::WillPublished { topic, qos, retain } => {
                write!(f, "WILL published q{qos} retain={} topic={topic}", bit(*retain))
            }
            Event::BrokerDropped { msg, topic, reason } => {
                write!(f, "message dropped ({reason}) topic={topic}")?;
                if let Some(msg) = msg {
                    write!(f, " id={msg}")?;
                }
                Ok(())
            }
            Event::BrokerSubscribed { filter, granted } => match granted {
                Some(q) => write!(f, "subscribed q{q} filter={filter}"),
                None => write!(f, "subscription refused filter={filter}"),
            },
            Event::BrokerUnsubscribed { filter } => write!(f, "unsubscribed filter={filter}"),
            Event::BrokerRestart { phase: Phase::Start, state } => {
                write!(f, "BROKER CRASH (state {state})")
            }
            Event::BrokerRestart { phase: Phase::End, state } => {
                write!(f, "BROKER RESTARTED (state {state})")
            }
            Event::PacketSent { packet, pid, qos, dup, retain, size }
            | Event::PacketReceived { packet, pid, qos, dup, retain, size } => {
                f.write_str(packet)?;
                if let Some(q) = qos {
                    write!(f, " q{q}")?;
                }
                if let Some(pid) = pid {
                    write!(f, " pid={pid}")?;
                }
                if let Some(dup) = dup {
                    write!(f, " dup={}", bit(*dup))?;
                }
                if let Some(retain) = retain {
                    write!(f, " retain={}", bit(*retain))?;
                }
                if let Some(size) = size {
                    write!(f, " size={size}")?;
                }
                Ok(())
            }
            Event::LinkReset => f.write_str("connection reset by the link"),
            Event::HandshakeLost => f.write_str("handshake lost on the link"),
            Event::DeviceFault { kind, phase: Phase::Start } => write!(f, "{kind} begins"),
            Event::DeviceFault { kind, phase: Phase::End } => write!(f, "{kind} ends"),
            Event::LinkFault { kind, phase, target, direction, loss_pct, devices } => {
                let phase = match phase {
                    Phase::Start => "begins",
                    Phase::End => "ends",
                };
                write!(f, "{kind} {phase} target={target} devices={}", devices.len())?;
                if let Some(direction) = direction {
                    write!(f, " direction={direction}")?;
                }
                if let Some(loss) = loss_pct {
                    write!(f, " loss={loss}%")?;
                }
                Ok(())
            }
        }
    }
}

/// How much a trace records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Applications, connections, the broker's events, links and faults (the default).
    #[default]
    Events,
    /// All of that, and every control packet a device sent or received.
    Packets,
}

/// Receives the trace, record by record, in time order.
pub trait TraceSink {
    /// Takes one record.
    ///
    /// # Errors
    ///
    /// Returns the writer's error; the run stops with it.
    fn record(&mut self, record: &Record) -> io::Result<()>;

    /// The detail this sink wants; packet-level records reach only sinks that want them.
    fn level(&self) -> Level {
        Level::Events
    }

    /// Flushes buffered output at the end of the run.
    ///
    /// # Errors
    ///
    /// Returns the writer's error.
    fn finish(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<T: TraceSink + ?Sized> TraceSink for &mut T {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        (**self).record(record)
    }

    fn level(&self) -> Level {
        (**self).level()
    }

    fn finish(&mut self) -> io::Result<()> {
        (**self).finish()
    }
}

/// A sink that wants the packet-level trace: `Packets(JsonLines(file))`.
#[derive(Debug)]
pub struct Packets<S>(pub S);

impl<S: TraceSink> TraceSink for Packets<S> {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        self.0.record(record)
    }

    fn level(&self) -> Level {
        Level::Packets
    }

    fn finish(&mut self) -> io::Result<()> {
        self.0.finish()
    }
}

/// Writes JSON Lines.
#[derive(Debug)]
pub struct JsonLines<W: Write>(pub W);

impl<W: Write> TraceSink for JsonLines<W> {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        serde_json::to_writer(&mut self.0, record).map_err(io::Error::other)?;
        self.0.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Writes the aligned text form.
#[derive(Debug)]
pub struct Text<W: Write>(pub W);

impl<W: Write> TraceSink for Text<W> {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        self.0.write_all(record.to_text().as_bytes())?;
        self.0.write_all(b"\n")
    }

    fn finish(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Keeps every record in memory (for tests).
#[derive(Debug, Default)]
pub struct Collect(pub Vec<Record>);

impl TraceSink for Collect {
    fn record(&mut self, record: &Record) -> io::Result<()> {
        self.0.push(record.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_text_is_aligned() {
        let record = Record::new(
            Duration::from_micros(12_345_678),
            Some("field"),
            Some("soil-1"),
            Event::PublishSent { msg: "soil-1#4".into(), pid: 7, qos: 1, dup: false },
        );
        let json = record.to_json();
        assert_eq!(
            json,
            r#"{"t_us":12345678,"site":"field","device":"soil-1","dir":"up","ev":"publish_sent","msg":"soil-1#4","pid":7,"qos":1,"dup":false}"#
        );
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
        assert_eq!(
            record.to_text(),
            "    12.345678  field        soil-1                   ->b   PUBLISH q1 pid=7 dup=0 id=soil-1#4"
        );
    }
}
