//! Sessions at the broker: when each one ends, and what may follow its end.
//!
//! This is the one place that decides when a session ends (the rules read the result from
//! [`Facts::epochs`]: `end_us`, `end_kind`, `end_cause`; and from [`Facts::endings`]:
//! `session_end_us`):
//! - MQTT 3.1.1: a clean session ends with its connection; a persistent one never expires.
//! - MQTT 5.0: a session ends when its connection has closed and the Session Expiry Interval in
//!   force has run out [MQTT-4.1.0-2]: 0 ends it at the close, 0xFFFFFFFF never. The interval in
//!   force is the one CONNACK left (the `connected` record's `session_expiry`), replaced by the
//!   one a DISCONNECT carried (`disconnect_sent`); without either, the scenario's.
//! - Either version: a connection with Clean Start (Clean Session) 1 ends the session before
//!   it [MQTT-3.1.2-4], as does Session Present 0, and a volatile broker restart.
//!
//! A 5.0 session that expires while its device is away ends at its expiry; the checker is sure
//! of it once the tolerance has passed too (a broker's clock and ours may differ that much), so
//! a message accepted within the tolerance after the expiry is still owed to it (and exempt as
//! `session-expired` when it comes to nothing), and a device that comes back within the
//! tolerance may find its session resumed or gone.
//!
//! The rules of the `sessions` guarantee:
//! - a connection after its session ended gets Session Present 0 [MQTT-3.2.2-3]: not after the
//!   expiry [MQTT-4.1.0-2], not after a 3.1.1 clean session [MQTT-3.1.2-6];
//! - a message owed to an ended session is never delivered to the next one: the old session's
//!   state is gone [MQTT-4.1.0-2] (Clean Start: [MQTT-3.1.2-4]; 3.1.1: [MQTT-3.1.2-6]), and a
//!   broker that answered Session Present 0 said it held none [MQTT-3.2.2-3].

use std::collections::{BTreeMap, BTreeSet};

use super::facts::{EndKind, Epoch, Facts, Key, Live, SessionEnd, end_epoch};
use super::name::Name;
use super::routes::Routes;
use super::verdict::{Findings, Guarantee, Violation};

/// The Session Expiry Interval that never expires.
pub(crate) const NEVER: u32 = u32::MAX;

/// What a 5.0 device's connection left in force for its session.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Terms {
    /// From CONNACK: the Session Expiry Interval and the Will Delay Interval, in seconds.
    expiry_s: Option<u32>,
    will_delay_s: Option<u32>,
    /// The DISCONNECT sent on the current connection: its reason code and interval.
    disconnect: Option<(u8, Option<u32>)>,
}

impl Terms {
    /// A `connected` record.
    pub(crate) fn connected(&mut self, expiry_s: Option<u32>, will_delay_s: Option<u32>) {
        if expiry_s.is_some() {
            self.expiry_s = expiry_s;
            self.will_delay_s = will_delay_s;
        }
    }

    /// A `disconnect_sent` record.
    pub(crate) fn disconnecting(&mut self, code: u8, expiry_s: Option<u32>) {
        self.disconnect = Some((code, expiry_s));
    }
}

/// What a 5.0 connection's close leaves for the Will rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Closing {
    pub code: Option<u8>,
    pub will_delay_s: u32,
    pub session_end_us: Option<u64>,
}

/// A broker-side connection accepted.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Connect {
    pub idx: usize,
    pub t: u64,
    pub clean: bool,
    pub present: bool,
}

/// The moment a session ends after its connection closed at `close_us` with `expiry_s` in
/// force; `None`: never.
pub(crate) fn end_after_close(close_us: u64, expiry_s: u32) -> Option<u64> {
    (expiry_s != NEVER).then(|| close_us.saturating_add(u64::from(expiry_s) * 1_000_000))
}

/// A 5.0 connection closed at the broker (record `idx` at `t`): its session ends now (interval
/// 0) or is set to expire. `default` is the scenario's (Session Expiry, Will Delay).
#[allow(clippy::too_many_arguments)]
pub(crate) fn on_close<'r>(
    epochs: &mut [Epoch],
    routes: &mut Routes,
    expiring: &mut BTreeSet<(u64, Name<'r>)>,
    device: Name<'r>,
    l: &mut Live<'r>,
    (t, idx): (u64, usize),
    default: (u32, u32),
    tolerance_us: u64,
) -> Closing {
    let terms = l.terms;
    let expiry = terms.disconnect.and_then(|(_, e)| e).or(terms.expiry_s).unwrap_or(default.0);
    let will_delay_s =
        if terms.expiry_s.is_some() { terms.will_delay_s.unwrap_or(0) } else { default.1 };
    let code = terms.disconnect.map(|(c, _)| c);
    let session_end_us = end_after_close(t, expiry);
    if expiry == 0 {
        let cause = "its Session Expiry Interval was 0: the session ended with its connection";
        end_epoch(epochs, routes, &device, l, SessionEnd { t, idx, cause, kind: EndKind::Expired });
    } else if let Some(at) = session_end_us
        && l.epoch.is_some()
    {
        let due = at.saturating_add(tolerance_us);
        l.expires_at = Some((at, due, idx));
        expiring.insert((due, device));
    }
    Closing { code, will_delay_s, session_end_us }
}

/// Ends the offline sessions whose expiry is past doubt before `t`.
pub(crate) fn expire<'r>(
    f: &mut Facts<'r>,
    live: &mut BTreeMap<Name<'r>, Live<'r>>,
    routes: &mut Routes,
    expiring: &mut BTreeSet<(u64, Name<'r>)>,
    t: u64,
    _idx: usize,
) {
    while let Some(&(due, device)) = expiring.first() {
        if due >= t {
            break;
        }
        expiring.pop_first();
        let Some(l) = live.get_mut(&device) else { continue };
        let Some((at, _, close_idx)) = l.expires_at.filter(|e| e.1 == due) else { continue };
        l.expires_at = None;
        let cause = "its Session Expiry Interval, counted from its connection's close, ran out";
        let end = SessionEnd { t: at, idx: close_idx, cause, kind: EndKind::Expired };
        end_epoch(&mut f.epochs, routes, &device, l, end);
    }
}

/// A connection accepted at the broker: a session waiting to expire is resumed, or ends (at
/// its expiry, when that has passed); a connection after an ended session is judged.
pub(crate) fn on_connect<'r>(
    epochs: &mut [Epoch],
    routes: &mut Routes,
    expiring: &mut BTreeSet<(u64, Name<'r>)>,
    device: Name<'r>,
    l: &mut Live<'r>,
    c: Connect,
    (ended_resumes, checks): (&mut Vec<(usize, usize)>, &mut u64),
) {
    l.terms.disconnect = None;
    if let Some((at, due, close_idx)) = l.expires_at.take() {
        expiring.remove(&(due, device));
        *checks += 1;
        if (c.clean || !c.present) && c.t >= at {
            let cause = "its Session Expiry Interval, counted from its connection's close, ran out";
            let end = SessionEnd { t: at, idx: close_idx, cause, kind: EndKind::Expired };
            end_epoch(epochs, routes, &device, l, end);
        }
        return;
    }
    if l.epoch.is_none()
        && let Some(e) = l.ended
    {
        *checks += 1;
        let ended = matches!(epochs[e].end_kind, Some(EndKind::Expired | EndKind::Clean));
        if c.present && !c.clean && ended {
            ended_resumes.push((c.idx, e));
        }
    }
}

/// Whether the run gave the `sessions` rules anything to judge.
pub(crate) fn exercised(facts: &Facts<'_>) -> bool {
    facts.session_checks > 0
}

/// The statement an ended session rests on.
fn statement(kind: EndKind, v5: bool) -> &'static str {
    match kind {
        EndKind::Expired => "MQTT-4.1.0-2",
        EndKind::Clean if v5 => "MQTT-3.1.2-4",
        EndKind::Clean => "MQTT-3.1.2-6",
        EndKind::NoSession | EndKind::BrokerLost => "MQTT-3.2.2-3",
    }
}

pub(crate) fn check(facts: &Facts<'_>) -> Findings {
    let mut findings = Findings::new(Guarantee::Sessions);
    let at = |us: u64| us as f64 / 1e6;
    for &(idx, e) in &facts.ended_resumes {
        let epoch = &facts.epochs[e];
        let device = facts.records[idx].device.clone();
        let v5 = device.as_deref().and_then(|d| facts.devices.get(d)).is_some_and(|d| d.v5);
        let kind = epoch.end_kind.unwrap_or(EndKind::Expired);
        let mut lines = vec![idx];
        lines.extend(epoch.end_idx);
        findings.push(Violation {
            guarantee: Guarantee::Sessions,
            message: None,
            device,
            expected: format!(
                "Session Present 0: the session ended at {:.3}s ({}) [{}, MQTT-3.2.2-3]",
                at(epoch.end_us.unwrap_or_default()),
                epoch.end_cause.unwrap_or("it ended"),
                statement(kind, v5)
            ),
            observed: format!(
                "CONNACK with Session Present 1 at {:.3}s: the ended session was resumed",
                at(facts.records[idx].t_us)
            ),
            trace: facts.quote(&lines),
        });
    }
    // A message owed only to an ended session, delivered to the next one.
    let mut seen: BTreeSet<(Name<'_>, Name<'_>)> = BTreeSet::new();
    for d in &facts.deliveries {
        let (Some(Key::App(id)), Some(now)) = (d.key, d.epoch) else { continue };
        if d.on_subscribe || facts.messages.get(&id).is_none_or(|m| m.empty) {
            continue;
        }
        let Some(owes) = facts.owed.get(&(Key::App(id), d.sub)) else { continue };
        if owes.iter().any(|o| o.epoch == now) || seen.contains(&(id, d.sub)) {
            continue;
        }
        if facts
            .accepts_of
            .get(&Key::App(id))
            .into_iter()
            .flatten()
            .any(|&a| facts.accepts[a].implied)
        {
            continue;
        }
        let Some(old) = owes.iter().rev().find(|o| o.epoch < now) else { continue };
        let epoch = &facts.epochs[old.epoch];
        let Some(kind) = epoch.end_kind.filter(|k| *k != EndKind::BrokerLost) else { continue };
        seen.insert((id, d.sub));
        let v5 = facts.devices.get(d.sub.as_str()).is_some_and(|i| i.v5);
        let accept = &facts.accepts[old.accept];
        let mut lines = vec![accept.idx, d.idx];
        lines.extend(epoch.end_idx);
        findings.push(Violation {
            guarantee: Guarantee::Sessions,
            message: Some(facts.message_ref(&Key::App(id))),
            device: Some(d.sub.to_owned()),
            expected: format!(
                "not delivered to a later session: it was owed to the session that ended at \
                 {:.3}s ({}) [{}]",
                at(epoch.end_us.unwrap_or_default()),
                epoch.end_cause.unwrap_or("it ended"),
                statement(kind, v5)
            ),
            observed: format!("delivered at {:.3}s to the next session", at(d.t_us)),
            trace: facts.quote(&lines),
        });
    }
    findings
}
