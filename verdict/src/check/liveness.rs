//! Liveness: once the faults stop, the system recovers within the quiet period.
//!
//! The faults stop at the last fault record (a fault that never ends keeps them going to the
//! end, except a crash, or a power loss or disconnect without an end, which remove that device
//! for good). A link's flapping never stops, so it does not hold the faults back; but while a
//! device's link is down the device cannot reach the broker, so only undisturbed time counts
//! against it. From then on:
//! - every device that has started and was not removed is never offline at the broker through
//!   an undisturbed stretch longer than the quiet period;
//! - every QoS 1 and 2 message an application published completes at its publisher (PUBACK,
//!   PUBCOMP) or is dropped by its documented queue, unless the publisher lost its state
//!   (power loss, crash, reboot) afterwards or never had an undisturbed stretch longer than the
//!   quiet period after the publication (and after the faults).
//!
//! That queued messages drain towards subscribers is the delivery rules' business: a message
//! owed to a settled subscriber and never delivered is a violation there.

use super::facts::Facts;
use super::verdict::{Findings, Guarantee, Violation};
use crate::trace::Phase;

pub(crate) fn check(facts: &Facts<'_>, quiet_us: u64) -> Findings {
    let mut findings = Findings::new(Guarantee::Liveness);
    let quiet_from = facts.faults_over_us;
    let removed = |device: &str| {
        facts
            .device_faults
            .get(device)
            .and_then(|f| f.last())
            .is_some_and(|f| f.phase == Phase::Start)
    };
    for (device, &first) in &facts.first_attempt {
        if removed(device) {
            continue;
        }
        let from = quiet_from.max(first);
        let mut intervals: Vec<(u64, u64, usize)> = facts
            .spans
            .get(device)
            .into_iter()
            .flatten()
            .map(|s| (s.start_us, s.end_us.unwrap_or(facts.end_us), s.start_idx))
            .collect();
        intervals.sort_unstable();
        let mut cursor = from;
        let mut gap = None;
        // An offline time counts when the device's link was up through more than the quiet
        // period of it (regression: device-management seeds 125 and 315, a flap of 216 s).
        let undisturbed = |from: u64, until: u64| {
            (until - from > quiet_us)
                .then(|| facts.undisturbed_stretch(*device, from, until, quiet_us))
                .flatten()
        };
        for &(start, end, idx) in &intervals {
            if end <= cursor {
                continue;
            }
            if start > cursor
                && let Some(up) = undisturbed(cursor, start)
            {
                gap = Some((cursor, Some((start, idx)), up));
                break;
            }
            cursor = cursor.max(end);
        }
        if gap.is_none()
            && facts.end_us > cursor
            && let Some(up) = undisturbed(cursor, facts.end_us)
        {
            gap = Some((cursor, None, up));
        }
        if let Some((offline_from, back, up)) = gap {
            // The connection end that left the device offline.
            let mut lines: Vec<usize> = facts
                .spans
                .get(device)
                .into_iter()
                .flatten()
                .filter(|s| s.end_us.is_some_and(|end| end <= offline_from))
                .filter_map(|s| s.end_idx)
                .next_back()
                .into_iter()
                .collect();
            lines.extend(back.map(|(_, idx)| idx));
            findings.push(Violation {
                guarantee: Guarantee::Liveness,
                message: None,
                device: Some(device.to_string()),
                expected: format!(
                    "connected again within {}s once the faults stopped ({:.3}s)",
                    quiet_us / 1_000_000,
                    quiet_from as f64 / 1e6
                ),
                observed: {
                    let offline = match back {
                        Some((at, _)) => format!(
                            "offline from {:.3}s to {:.3}s",
                            offline_from as f64 / 1e6,
                            at as f64 / 1e6
                        ),
                        None => format!(
                            "offline from {:.3}s to the end of the run",
                            offline_from as f64 / 1e6
                        ),
                    };
                    if up == (offline_from, back.map_or(facts.end_us, |(at, _)| at)) {
                        offline
                    } else {
                        format!(
                            "{offline}, its link undisturbed from {:.3}s to {:.3}s",
                            up.0 as f64 / 1e6,
                            up.1 as f64 / 1e6
                        )
                    }
                },
                trace: facts.quote(&lines),
            });
        }
    }
    for (id, m) in &facts.messages {
        if m.qos == 0 || facts.completed.contains(id) || facts.device_drops.contains_key(id) {
            continue;
        }
        let published = facts.records[m.idx].t_us;
        let after = published.max(quiet_from);
        if after.saturating_add(quiet_us) > facts.end_us
            // (At least the quiet period: with nothing disturbed, the rule as it always was.)
            || facts
                .undisturbed_stretch(m.publisher, after, facts.end_us, quiet_us.saturating_sub(1))
                .is_none()
            || removed(&m.publisher)
            || facts.lost_state_between(m.publisher, published, facts.end_us)
        {
            continue;
        }
        let lines: Vec<usize> = std::iter::once(m.idx)
            .chain(facts.first_accept(&super::facts::Key::App(*id)).map(|a| a.idx))
            .collect();
        findings.push(Violation {
            guarantee: Guarantee::Liveness,
            message: Some(facts.message_ref(&super::facts::Key::App(*id))),
            device: Some(m.publisher.to_string()),
            expected: format!(
                "completed at the publisher (PUBACK / PUBCOMP) or dropped by its queue within \
                 {}s once the faults stopped",
                quiet_us / 1_000_000
            ),
            observed: "still unacknowledged at the end of the run".to_owned(),
            trace: facts.quote(&lines),
        });
    }
    findings
}
