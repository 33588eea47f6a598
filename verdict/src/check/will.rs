//! Last Wills (MQTT 3.1.1 §3.1.2.5, §3.14.4).
//!
//! - A Will is published when the network connection closes without DISCONNECT
//!   [MQTT-3.1.2-8]: a keepalive expiry, a lost connection, a protocol violation, a limit, and
//!   a session takeover (the server closes the old connection [MQTT-3.1.4-2], which did not
//!   send DISCONNECT).
//! - It is never published after DISCONNECT [MQTT-3.14.4-3], nor without a connection ending.
//! - It carries the topic, QoS and retain flag the device registered.
//! - It goes out when the broker can know: a silent device (power loss, reboot, a blackout,
//!   partition or flap of its link towards the broker lasting the whole window) is detected
//!   within 1.5 × keepalive [MQTT-3.1.2-24] plus the network slack; a crash closes the socket,
//!   but its FIN may be lost on a bad link, so the same bound applies (without keepalive: the
//!   slack alone). The rule checks that the connection was closed by then (the Will itself is
//!   checked at the close). The window starts at the fault; in a packet-level trace it starts
//!   at the last control packet the device sent before the fault (a PINGREQ, say), which is
//!   when the broker last heard from it.
//! - A new connection with the same client id closes the old one first [MQTT-3.1.4-2].
//! - Its delivery to subscribers follows the QoS rules (see `delivery`); a retained Will is
//!   what later subscribers get (see `retained`).

use super::facts::Facts;
use super::verdict::{Findings, Guarantee, Violation};
use crate::trace::{Event, Phase};

/// The moment a device fell silent, and why.
struct FaultAt<'a> {
    t_us: u64,
    kind: &'a str,
    idx: usize,
}

/// Whether the run gave the Will rules anything to judge: a Will published, or a connection of
/// a device with a Will that ended.
pub(crate) fn exercised(facts: &Facts<'_>) -> bool {
    facts.accepts.iter().any(|a| matches!(a.key, Some(super::facts::Key::Will(_))))
        || facts
            .endings
            .iter()
            .any(|e| facts.devices.get(e.device).is_some_and(|d| d.will.is_some()))
}

pub(crate) fn check(facts: &Facts<'_>, slack_us: u64) -> Findings {
    let mut findings = Findings::new(Guarantee::Wills);
    for e in &facts.endings {
        let info = facts.devices.get(e.device).and_then(|d| d.will.as_ref());
        let mut lines = vec![e.idx];
        if let Some(w) = e.will {
            lines.push(facts.accepts[w].idx);
        }
        if let Some(span) = facts
            .spans
            .get(&e.device)
            .and_then(|spans| spans.iter().find(|s| s.end_idx == Some(e.idx)))
        {
            lines.push(span.start_idx);
        }
        let graceful = e.reason == "client-disconnect";
        match (info, e.will, graceful) {
            (Some(_), Some(_), true) | (None, Some(_), _) => findings.push(Violation {
                guarantee: Guarantee::Wills,
                message: None,
                device: Some(e.device.to_string()),
                expected: if graceful {
                    "no Will after a DISCONNECT [MQTT-3.14.4-3]".to_owned()
                } else {
                    "no Will: the device registered none".to_owned()
                },
                observed: format!(
                    "the Will was published when the connection ended ({})",
                    e.reason
                ),
                trace: facts.quote(&lines),
            }),
            (Some(_), None, false) => findings.push(Violation {
                guarantee: Guarantee::Wills,
                message: None,
                device: Some(e.device.to_string()),
                expected: format!(
                    "the Will published when the connection ended without DISCONNECT ({}) \
                     [MQTT-3.1.2-8]",
                    e.reason
                ),
                observed: "no Will published".to_owned(),
                trace: facts.quote(&lines),
            }),
            (Some(info), Some(w), false) => {
                let a = &facts.accepts[w];
                let retained = facts.records[a.idx].event.clone();
                let retain =
                    matches!(retained, crate::trace::Event::WillPublished { retain, .. } if retain);
                if a.topic != info.topic || a.qos != info.qos || retain != info.retain {
                    findings.push(Violation {
                        guarantee: Guarantee::Wills,
                        message: None,
                        device: Some(e.device.to_string()),
                        expected: format!(
                            "the registered Will: topic {} q{} retain={}",
                            info.topic,
                            info.qos,
                            u8::from(info.retain)
                        ),
                        observed: format!(
                            "topic {} q{} retain={}",
                            a.topic,
                            a.qos,
                            u8::from(retain)
                        ),
                        trace: facts.quote(&lines),
                    });
                }
            }
            (_, None, _) => {}
        }
    }
    for &idx in &facts.stray_wills {
        findings.push(Violation {
            guarantee: Guarantee::Wills,
            message: None,
            device: facts.records[idx].device.clone(),
            expected: "a Will only when a connection ends without DISCONNECT".to_owned(),
            observed: "a Will published with no connection ending at that moment".to_owned(),
            trace: facts.quote(&[idx]),
        });
    }
    // A new connection takes the session over: the old one is closed first [MQTT-3.1.4-2].
    for &(open, new) in &facts.double_connects {
        findings.push(Violation {
            guarantee: Guarantee::Wills,
            message: None,
            device: facts.records[new].device.clone(),
            expected: "the existing connection closed (and its Will published) before a new \
                       connection with the same client id is accepted [MQTT-3.1.4-2]"
                .to_owned(),
            observed: "a second connection accepted while the first was still open".to_owned(),
            trace: facts.quote(&[open, new]),
        });
    }
    // Timeliness: a silent or crashed device's connection is closed (and its Will published)
    // within 1.5 × keepalive plus the slack. Silent: a power loss, a reboot, or a blackout or
    // partition towards the broker that lasts the whole window.
    let kept_cuts = |device: &str, window: u64| -> Vec<(u64, &str, usize)> {
        facts
            .cuts
            .get(device)
            .into_iter()
            .flatten()
            .filter(|c| c.until_us >= c.from_us.saturating_add(window).saturating_add(slack_us))
            .map(|c| {
                let kind = match &facts.records[c.idx].event {
                    Event::LinkFault { kind, .. } => kind.as_str(),
                    _ => "blackout",
                };
                (c.from_us, kind, c.idx)
            })
            .collect()
    };
    for (device, info) in &facts.devices {
        if info.will.is_none() {
            continue;
        }
        let silent_window = info.keepalive_us.saturating_mul(3) / 2;
        let mut silences: Vec<(u64, &str, usize)> = facts
            .device_faults
            .get(device.as_str())
            .into_iter()
            .flatten()
            .filter(|f| f.phase == Phase::Start)
            .filter_map(|f| match f.kind {
                "power-loss" | "reboot" if info.keepalive_us > 0 => Some((f.t_us, f.kind, f.idx)),
                "crash" => Some((f.t_us, "crash", f.idx)),
                _ => None,
            })
            .collect();
        if info.keepalive_us > 0 {
            silences.extend(kept_cuts(device, silent_window));
        }
        for (t_us, kind, idx) in silences {
            // A crash closes the socket, but its FIN can be lost on a bad link like any other
            // segment: the broker may have to wait for the keepalive then, too.
            let window = if kind == "crash" && info.keepalive_us == 0 { 0 } else { silent_window };
            let fault = FaultAt { t_us, kind, idx };
            let Some(span) = facts.spans.get(device.as_str()).and_then(|spans| {
                spans.iter().find(|s| {
                    s.start_us <= fault.t_us && s.end_us.is_none_or(|end| end > fault.t_us)
                })
            }) else {
                continue;
            };
            // In a packet-level trace, the broker last heard from the device at its last packet
            // before the fault (on this connection).
            let heard = facts
                .packets_up
                .get(device.as_str())
                .and_then(|ups| {
                    let before = ups.partition_point(|&t| t <= fault.t_us);
                    before.checked_sub(1).map(|i| ups[i])
                })
                .filter(|&t| t >= span.start_us)
                .unwrap_or(fault.t_us);
            let deadline = heard.saturating_add(window).saturating_add(slack_us);
            if deadline > facts.end_us {
                continue;
            }
            if span.end_us.is_none_or(|end| end > deadline) {
                let mut lines = vec![span.start_idx, fault.idx];
                lines.extend(span.end_idx);
                findings.push(Violation {
                    guarantee: Guarantee::Wills,
                    message: None,
                    device: Some(device.to_string()),
                    expected: format!(
                        "the connection closed and the Will published by {:.3}s ({} at {:.3}s{}, \
                         1.5 × keepalive + {}s slack)",
                        deadline as f64 / 1e6,
                        fault.kind,
                        fault.t_us as f64 / 1e6,
                        if heard < fault.t_us {
                            format!(", its last packet sent at {:.3}s", heard as f64 / 1e6)
                        } else {
                            String::new()
                        },
                        slack_us / 1_000_000
                    ),
                    observed: match span.end_us {
                        Some(end) => format!("closed at {:.3}s", end as f64 / 1e6),
                        None => "still open at the end of the run".to_owned(),
                    },
                    trace: facts.quote(&lines),
                });
            }
        }
    }
    findings
}
