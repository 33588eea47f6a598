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
//!   within 1.5 × keepalive [MQTT-3.1.2-24] (5.0: [MQTT-3.1.2-22]) plus the network slack; a crash closes the socket,
//!   but its FIN may be lost on a bad link, so the same bound applies (without keepalive: the
//!   slack alone). The rule checks that the connection was closed by then (the Will itself is
//!   checked at the close). The window starts at the fault; in a packet-level trace it starts
//!   at the last control packet the device sent before the fault (a PINGREQ, say), which is
//!   when the broker last heard from it.
//! - A new connection with the same client id closes the old one first [MQTT-3.1.4-2] (5.0:
//!   [MQTT-3.1.4-3]).
//! - Its delivery to subscribers follows the QoS rules (see `delivery`); a retained Will is
//!   what later subscribers get (see `retained`).
//!
//! MQTT 5.0 (§3.1.2.5, §3.1.3.2.2, §3.14.2.1), for a Will with a Will Delay Interval or a
//! connection ended by a DISCONNECT with a reason code other than 0x00:
//! - After a connection ends without DISCONNECT 0x00 (0x04 "with Will message" and the error
//!   codes keep the Will), the Will is published when the delay has passed or the session ends,
//!   whichever comes first [MQTT-3.1.2-8]; the session's end is `sessions`' (its Session Expiry
//!   Interval, 0: at the close). Not later (beyond the slack), and not before: the intervals
//!   are whole seconds, which a broker may count on a one-second timer, so a Will up to 1 s
//!   early passes (`CheckOptions::early`); so does one published when a broker restart or a new
//!   Clean Start 1 connection ended the session first (a restart only if it began by the Will's
//!   publication: one after it explains nothing).
//! - Not at all if a new connection with Clean Start 0 comes before that moment: it continues
//!   the session [MQTT-3.1.3-9]. A new connection with Clean Start 1 ends the old session,
//!   which may publish the Will then, or the new connection may delete it: the standard reads
//!   both ways, and the rule accepts both. So it does for a broker restart while the Will
//!   waits, and for a new connection within the slack of the moment.

use super::cite;
use super::facts::{Ending, Facts, WillInfo};
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
            .any(|e| facts.devices.get(e.device.as_str()).is_some_and(|d| d.will.is_some()))
}

/// The published Will is the one the device registered: topic, QoS, retain flag.
fn registered(
    facts: &Facts<'_>,
    e: &Ending<'_>,
    info: &WillInfo,
    w: usize,
    lines: &[usize],
    findings: &mut Findings,
) {
    let a = &facts.accepts[w];
    let retain =
        matches!(facts.records[a.idx].event, Event::WillPublished { retain, .. } if retain);
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
            observed: format!("topic {} q{} retain={}", a.topic, a.qos, u8::from(retain)),
            trace: facts.quote(lines),
        });
    }
}

/// A 5.0 Will that waits for its Will Delay Interval or the session's end, or one a DISCONNECT
/// with a reason other than 0x00 kept: published then, unless the device came back first.
fn delayed(
    facts: &Facts<'_>,
    e: &Ending<'_>,
    info: &WillInfo,
    lines: &[usize],
    (slack_us, early_us): (u64, u64),
    findings: &mut Findings,
) {
    let secs = |us: u64| us as f64 / 1e6;
    let delay_end = e.t_us.saturating_add(u64::from(e.will_delay_s) * 1_000_000);
    let due = e.will_due_us();
    let why = match e.session_end_us {
        Some(s) if s == e.t_us => {
            "the close, which ended the session (Session Expiry Interval 0)".to_owned()
        }
        Some(s) if s < delay_end => "the session's end".to_owned(),
        _ => format!("the end of its Will Delay Interval of {}s", e.will_delay_s),
    };
    // The device's next connection, if any.
    let next = facts
        .spans
        .get(e.device.as_str())
        .and_then(|spans| spans.iter().find(|s| s.start_idx > e.idx));
    // A session that ended with the connection (a Session Expiry Interval of 0) cannot be
    // continued by the next connection: its Will is due at the close, whatever follows.
    let next = next.filter(|_| e.session_end_us != Some(e.t_us));
    let near = |t: u64| t.abs_diff(due) <= slack_us;
    let resumed = next.filter(|n| !n.clean && n.start_us < due && !near(n.start_us));
    // A broker restart after the close, by `t`: it may have ended the session, and a Will then.
    let restart_by =
        |t: u64| facts.broker_down.iter().any(|d| d.from_us >= e.t_us && d.from_us <= t);
    let restart = restart_by(due.saturating_add(slack_us));
    let either = restart
        || next.is_some_and(|n| near(n.start_us) || (n.clean && n.start_us < due + slack_us));
    let mut lines = lines.to_vec();
    lines.extend(next.map(|n| n.start_idx));
    let device = Some(e.device.to_string());
    let ended = match e.code {
        Some(c) if e.reason == "client-disconnect" => format!("with DISCONNECT 0x{c:02X}"),
        _ => format!("without DISCONNECT ({})", e.reason),
    };
    let violation = |expected: String, observed: String| Violation {
        guarantee: Guarantee::Wills,
        message: None,
        device: device.clone(),
        expected,
        observed,
        trace: facts.quote(&lines),
    };
    match e.will {
        Some(w) => {
            let tw = facts.accepts[w].t_us;
            if let Some(n) = resumed {
                findings.push(violation(
                    format!(
                        "no Will: the device connected again at {:.3}s (Clean Start 0), before \
                         {why} [MQTT-3.1.3-9]",
                        secs(n.start_us)
                    ),
                    format!("the Will was published at {:.3}s", secs(tw)),
                ));
            } else if tw.saturating_add(early_us) < due
                && !restart_by(tw)
                && !next.is_some_and(|n| n.clean && n.start_us.abs_diff(tw) <= slack_us)
            {
                findings.push(violation(
                    format!(
                        "the Will published at {why} ({:.3}s), the connection having ended {ended} \
                         at {:.3}s [MQTT-3.1.2-8]",
                        secs(due),
                        secs(e.t_us)
                    ),
                    format!("published early, at {:.3}s", secs(tw)),
                ));
            } else if tw > due.saturating_add(slack_us) && !either {
                findings.push(violation(
                    format!(
                        "the Will published at {why} ({:.3}s), the connection having ended {ended} \
                         at {:.3}s [MQTT-3.1.2-8]",
                        secs(due),
                        secs(e.t_us)
                    ),
                    format!("published late, at {:.3}s", secs(tw)),
                ));
            } else {
                registered(facts, e, info, w, &lines, findings);
            }
        }
        None => {
            if resumed.is_none() && !either && due.saturating_add(slack_us) <= facts.end_us {
                findings.push(violation(
                    format!(
                        "the Will published at {why} ({:.3}s), the connection having ended {ended} \
                         at {:.3}s [MQTT-3.1.2-8]",
                        secs(due),
                        secs(e.t_us)
                    ),
                    "no Will published".to_owned(),
                ));
            }
        }
    }
}

/// `slack_us`: the network delay allowed on top of protocol deadlines; `early_us`: how much
/// earlier than its moment a waiting 5.0 Will may go out.
pub(crate) fn check(facts: &Facts<'_>, slack_us: u64, early_us: u64) -> Findings {
    let mut findings = Findings::new(Guarantee::Wills);
    for e in &facts.endings {
        let info = facts.devices.get(e.device.as_str()).and_then(|d| d.will.as_ref());
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
        // A 5.0 DISCONNECT with a reason other than 0x00 keeps the Will [MQTT-3.1.2-8].
        if let Some(info) = info
            && e.will_waits()
        {
            delayed(facts, e, info, &lines, (slack_us, early_us), &mut findings);
            continue;
        }
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
            (Some(info), Some(w), false) => registered(facts, e, info, w, &lines, &mut findings),
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
    // A new connection takes the session over: the old one is closed first [MQTT-3.1.4-2]
    // (5.0: [MQTT-3.1.4-3]).
    for &(open, new) in &facts.double_connects {
        let device = facts.records[new].device.clone();
        let v5 = device.as_deref().is_some_and(|d| facts.is_v5(d));
        findings.push(Violation {
            guarantee: Guarantee::Wills,
            message: None,
            device,
            expected: format!(
                "the existing connection closed (and its Will published) before a new \
                 connection with the same client id is accepted [{}]",
                cite::takeover(v5)
            ),
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
