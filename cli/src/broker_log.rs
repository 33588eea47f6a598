//! The log of `mqtt-sim broker`: one line per connect, per close whatever its cause, per
//! subscription and Will, and rate-limited lines for dropped messages, as Mosquitto users know.
//!
//! Lines say what went on the wire: a refused CONNECT logs the CONNACK code its client's
//! protocol carries (0x04 for a 3.1.1 bad password, not the 5.0 reason 0x86).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use bytestring::ByteString;
use mqttsim_broker::{DisconnectReason, DropReason, Event, Limit};
use mqttsim_codec::{PacketType, ReasonCode};
use mqttsim_net::DriverEvent;
use mqttsim_net::tcp::Sinks;

/// After the first line about drops to a client, at most one more per this interval.
const DROP_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The logger's memory: drops per client and reason since their last line.
#[derive(Debug, Default)]
pub struct Logger {
    drops: BTreeMap<(String, &'static str), DropLog>,
}

#[derive(Debug)]
struct DropLog {
    last_line: Duration,
    unlogged: u64,
}

impl Logger {
    /// The sinks of a logger printing to stdout.
    pub fn sinks() -> Sinks {
        let logger = Rc::new(RefCell::new(Logger::default()));
        let for_driver = logger.clone();
        Sinks {
            core: Some(Box::new(move |now, event| {
                if let Some(line) = logger.borrow_mut().core(now, event) {
                    print_line(now, &line);
                }
            })),
            driver: Some(Box::new(move |now, event| {
                if let Some(line) = for_driver.borrow_mut().driver(now, event) {
                    print_line(now, &line);
                }
            })),
        }
    }

    /// The line for a core event, if it gets one.
    pub fn core(&mut self, now: Duration, event: &Event) -> Option<String> {
        Some(match event {
            Event::ClientConnected { conn, client_id, clean_session, session_present } => format!(
                "connect    {conn} client_id={client_id:?} clean_session={clean_session} \
                 session_present={session_present}"
            ),
            Event::Subscribed { client_id, filter, granted } => {
                let granted = match granted {
                    Some(qos) => format!("qos={}", qos.as_u8()),
                    None => "refused (0x80)".to_owned(),
                };
                format!("subscribe  client_id={client_id:?} filter={filter:?} {granted}")
            }
            Event::Unsubscribed { client_id, filter } => {
                format!("unsubscribe client_id={client_id:?} filter={filter:?}")
            }
            Event::WillPublished { client_id, topic, qos, retain } => format!(
                "will       client_id={client_id:?} topic={topic:?} qos={} retain={retain}",
                qos.as_u8()
            ),
            Event::PublishRefused { client_id, topic, qos, .. } => format!(
                "denied     client_id={client_id:?} publish topic={topic:?} qos={} \
                 (not authorized; acknowledged, not delivered)",
                qos.as_u8()
            ),
            Event::ReasonCodeSent { conn, client_id, packet, reason_code } => format!(
                "sent       {conn} client_id={client_id:?} {} reason=0x{:02X} ({})",
                packet_name(*packet),
                reason_code.0,
                reason_name(*reason_code, *packet)
            ),
            Event::SessionExpired { client_id } => {
                format!("expired    client_id={client_id:?} (Session Expiry Interval)")
            }
            Event::MessageDropped { client_id, reason, .. } => {
                let why = match reason {
                    DropReason::QueueFull => "queue full",
                    DropReason::QoS0Offline => "client offline (QoS 0)",
                    DropReason::NotAuthorized => "not authorized to receive",
                    DropReason::Expired => "message expired",
                    DropReason::PacketTooLarge => "larger than the client's Maximum Packet Size",
                    DropReason::SharedSessionEnded => "shared subscriber's session ended (QoS 2)",
                };
                return self.dropped(now, client_id, why);
            }
            // The driver logs the close of every socket, with its cause, and the CONNACK code
            // as sent; these would be second lines.
            Event::ClientDisconnected { .. }
            | Event::ConnectionClosed { .. }
            | Event::ConnectionRefused { .. }
            | Event::MessageAccepted { .. } => return None,
        })
    }

    /// The line for a driver event, if it gets one.
    pub fn driver(&mut self, now: Duration, event: &DriverEvent) -> Option<String> {
        Some(match event {
            DriverEvent::Opened { conn, peer } => match peer {
                Some(peer) => format!("new        {conn} from {peer}"),
                None => format!("new        {conn}"),
            },
            DriverEvent::Rejected { peer } => format!(
                "reject     connection from {}: --max-connections reached",
                peer.map_or("?".to_owned(), |p| p.to_string())
            ),
            DriverEvent::Closed { conn, peer, client_id, reason } => {
                let id = client_id.as_ref().map_or("<none>".to_owned(), |c| format!("{c:?}"));
                let from = peer.map_or(String::new(), |p| format!(" from {p}"));
                if let Some(client_id) = client_id {
                    self.forget(client_id);
                }
                format!("disconnect {conn} client_id={id}{from} reason={}", describe(reason))
            }
            DriverEvent::Refused { conn, client_id, wire_code } => {
                let id = client_id.as_ref().map_or("<none>".to_owned(), |c| format!("{c:?}"));
                format!("refuse     {conn} client_id={id} connack=0x{wire_code:02X}")
            }
            DriverEvent::Qos0Dropped { client_id, .. } => {
                let id = client_id.clone().unwrap_or_else(|| ByteString::from_static("<none>"));
                return self.dropped(now, &id, "outbox full (QoS 0)");
            }
            DriverEvent::AuthDelayed { peer, delay } => format!(
                "delay      CONNECT from {peer} held {:.1} s after failed logins",
                delay.as_secs_f64()
            ),
            DriverEvent::AcceptFailing { error, descriptors } => {
                let hint = if *descriptors {
                    " (out of file descriptors: raise `ulimit -n` or lower --max-connections)"
                } else {
                    ""
                };
                format!("accept     failing: {error}{hint}; backing off until it works again")
            }
            DriverEvent::AcceptResumed { failures, paused } => format!(
                "accept     working again after {failures} failed attempts in {:.1} s",
                paused.as_secs_f64()
            ),
            DriverEvent::TlsFailed { peer, error } => {
                format!("tls        handshake from {peer} failed: {error}")
            }
            DriverEvent::WebSocketFailed { peer, error } => {
                format!("websocket  handshake from {peer} failed: {error}")
            }
            _ => return None,
        })
    }

    /// A line for the first drop to a client for a reason, then at most one per interval with
    /// the count since the last line.
    fn dropped(&mut self, now: Duration, client_id: &str, why: &'static str) -> Option<String> {
        let key = (client_id.to_owned(), why);
        match self.drops.get_mut(&key) {
            None => {
                self.drops.insert(key, DropLog { last_line: now, unlogged: 0 });
                Some(format!(
                    "drop       outgoing messages to {client_id:?} are being dropped: {why}"
                ))
            }
            Some(log) if now.saturating_sub(log.last_line) >= DROP_LOG_INTERVAL => {
                let count = log.unlogged + 1;
                let over = now.saturating_sub(log.last_line).as_secs_f64();
                log.last_line = now;
                log.unlogged = 0;
                Some(format!(
                    "drop       outgoing messages to {client_id:?} are being dropped: {why} \
                     ({count} in the last {over:.0} s)"
                ))
            }
            Some(log) => {
                log.unlogged += 1;
                None
            }
        }
    }

    fn forget(&mut self, client_id: &str) {
        self.drops.retain(|(id, _), _| id != client_id);
    }
}

/// The name of a packet that carries a reason code.
fn packet_name(packet: PacketType) -> &'static str {
    match packet {
        PacketType::ConnAck => "CONNACK",
        PacketType::Disconnect => "DISCONNECT",
        PacketType::PubAck => "PUBACK",
        PacketType::PubRec => "PUBREC",
        PacketType::PubComp => "PUBCOMP",
        PacketType::SubAck => "SUBACK",
        PacketType::UnsubAck => "UNSUBACK",
        _ => "packet",
    }
}

/// The standard's name of a reason code as the broker sends it.
fn reason_name(code: ReasonCode, packet: PacketType) -> &'static str {
    match code.0 {
        0x00 if packet == PacketType::Disconnect => "normal disconnection",
        0x00 => "success",
        0x04 => "disconnect with Will message",
        0x10 => "no matching subscribers",
        0x11 => "no subscription existed",
        0x80 => "unspecified error",
        0x81 => "malformed packet",
        0x82 => "protocol error",
        0x83 => "implementation specific error",
        0x84 => "unsupported protocol version",
        0x85 => "client identifier not valid",
        0x86 => "bad user name or password",
        0x87 => "not authorized",
        0x8B => "server shutting down",
        0x8C => "bad authentication method",
        0x8D => "keep alive timeout",
        0x8E => "session taken over",
        0x8F => "topic filter invalid",
        0x90 => "topic name invalid",
        0x92 => "packet identifier not found",
        0x93 => "receive maximum exceeded",
        0x94 => "topic alias invalid",
        0x95 => "packet too large",
        0x97 => "quota exceeded",
        0x9A => "retain not supported",
        0x9B => "QoS not supported",
        0x9E => "shared subscriptions not supported",
        0xA1 => "subscription identifiers not supported",
        0xA2 => "wildcard subscriptions not supported",
        _ => "other",
    }
}

fn print_line(now: Duration, line: &str) {
    println!("{:10.3}s {line}", now.as_secs_f64());
}

/// The cause of a close in words.
pub fn describe(reason: &DisconnectReason) -> String {
    match reason {
        DisconnectReason::ClientDisconnect => "client sent DISCONNECT".into(),
        DisconnectReason::KeepAliveTimeout => "keepalive timeout".into(),
        DisconnectReason::ConnectTimeout => "no CONNECT in time".into(),
        DisconnectReason::ConnectionLost => "connection lost".into(),
        DisconnectReason::ProtocolViolation { statement: Some(s), detail } => {
            format!("protocol violation [{s}]: {detail}")
        }
        DisconnectReason::ProtocolViolation { statement: None, detail } => {
            format!("protocol violation: {detail}")
        }
        DisconnectReason::TakenOver => "taken over by a new connection".into(),
        DisconnectReason::ConnectRefused(_) => "CONNECT refused".into(),
        DisconnectReason::LimitExceeded(Limit::InboundQos2) => {
            "limit exceeded: QoS 2 messages awaiting PUBREL".into()
        }
        DisconnectReason::LimitExceeded(Limit::Subscriptions) => {
            "limit exceeded: subscriptions".into()
        }
        DisconnectReason::ServerShuttingDown => "server shutting down".into(),
        DisconnectReason::SlowConsumer => "slow consumer: outbox full".into(),
        DisconnectReason::WriteTimeout => "write timeout: the client stopped reading".into(),
        DisconnectReason::Overloaded => {
            "overloaded: too many bytes buffered by connections without CONNACK".into()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_lines_are_rate_limited_per_client() {
        let mut logger = Logger::default();
        let at = Duration::from_secs;
        let drop = |reason| Event::MessageDropped {
            client_id: "slow".into(),
            topic: "t".into(),
            payload: Default::default(),
            reason,
        };
        let mut lines = Vec::new();
        for s in [0, 1, 2, 9, 10, 11, 25] {
            lines.extend(logger.core(at(s), &drop(DropReason::QueueFull)));
        }
        assert_eq!(
            lines,
            [
                "drop       outgoing messages to \"slow\" are being dropped: queue full",
                "drop       outgoing messages to \"slow\" are being dropped: queue full (4 in the last 10 s)",
                "drop       outgoing messages to \"slow\" are being dropped: queue full (2 in the last 15 s)",
            ]
        );
    }
}
