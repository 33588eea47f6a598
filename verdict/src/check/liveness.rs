//! Liveness: once the faults stop, the system recovers within the quiet period.
//!
//! The faults stop at the last fault record (a fault that never ends keeps them going to the
//! end, except a crash, or a power loss or disconnect without an end, which remove that device
//! for good). From then on:
//! - every device that has started and was not removed is never offline at the broker for
//!   longer than the quiet period;
//! - every QoS 1 and 2 message an application published completes at its publisher (PUBACK,
//!   PUBCOMP) or is dropped by its documented queue, within the quiet period, unless the
//!   publisher lost its state (power loss, crash, reboot) afterwards.
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
        for &(start, end, idx) in &intervals {
            if end <= cursor {
                continue;
            }
            if start > cursor && start - cursor > quiet_us {
                gap = Some((cursor, Some((start, idx))));
                break;
            }
            cursor = cursor.max(end);
        }
        if gap.is_none() && facts.end_us > cursor && facts.end_us - cursor > quiet_us {
            gap = Some((cursor, None));
        }
        if let Some((offline_from, back)) = gap {
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
                observed: match back {
                    Some((at, _)) => format!(
                        "offline from {:.3}s to {:.3}s",
                        offline_from as f64 / 1e6,
                        at as f64 / 1e6
                    ),
                    None => format!(
                        "offline from {:.3}s to the end of the run",
                        offline_from as f64 / 1e6
                    ),
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
        if published.max(quiet_from).saturating_add(quiet_us) > facts.end_us
            || removed(m.publisher)
            || facts.lost_state_between(m.publisher, published, facts.end_us)
        {
            continue;
        }
        let lines: Vec<usize> = std::iter::once(m.idx)
            .chain(facts.first_accept(&super::facts::Key::App(id)).map(|a| a.idx))
            .collect();
        findings.push(Violation {
            guarantee: Guarantee::Liveness,
            message: Some(facts.message_ref(&super::facts::Key::App(id))),
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
