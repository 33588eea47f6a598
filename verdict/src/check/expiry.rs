//! MQTT 5.0 message expiry (§3.3.2.3.3): a message is never delivered after its Message
//! Expiry Interval has passed, unless its delivery to that subscriber had started
//! [MQTT-3.3.2-5]; a forwarded PUBLISH carries the interval received less the time the message
//! waited at the broker [MQTT-3.3.2-6]; a retained message expires too, after which it is no
//! longer sent to new subscriptions.
//!
//! The interval runs from the broker's acceptance. What the broker received is bounded by what
//! the trace shows: the application published the message with interval E (its `app_publish`),
//! and each PUBLISH of it carries what is left, at least one second, so the accepted PUBLISH
//! carried between E less the whole seconds from the publish call to the acceptance, and E. A
//! broker counts whole seconds and may round either way, so a second of slack is allowed on
//! both sides. That gives each acceptance a [`Window`]: before its start the message has
//! expired at no broker, from its end on at every broker.
//!
//! The rules, each judged so that every legal interleaving passes:
//! - a forwarded copy (RETAIN=0, or not answering a subscription) arriving on a connection of
//!   the subscriber's session is a violation only if no connection of that session was open
//!   between the acceptance and the window's end: otherwise the broker may have started its
//!   delivery in time, and this copy be a resend, which the standard allows [MQTT-3.3.2-5];
//! - a copy sent with RETAIN=1 on a subscription (the retained message) is a violation when
//!   every subscription it can answer was made after the window's end [MQTT-3.3.2-5];
//! - a copy to a 5.0 subscriber carries a Message Expiry Interval of at most E less the whole
//!   seconds it must have waited at the broker: from the acceptance to the start of the
//!   connection it arrived on (a resend, DUP=1: the first connection of the session open after
//!   the acceptance), or to the subscription it answers (a retained copy) [MQTT-3.3.2-6];
//! - an owed QoS 1 or 2 pair never delivered is `expired` (an allowed loss) rather than `lost`
//!   when the trace's evidence that the broker had its chance came only after the window's
//!   start, or when there is none and the window started before the end of the run and of the
//!   session (see `delivery`). A drop the broker reports as `expired` is taken as such only
//!   from the window's start on. The would-be pairs of a message the broker never accepted
//!   are `expired` too when its publisher dropped it as expired, or still held it after its
//!   interval ran out.
//!
//! A Will's Message Expiry Interval (MQTT 5.0 Will properties) runs from its publication, which
//! the broker reports: its copies are judged the same way.

use mqttsim_codec::topic;

use super::due::Evidence;
use super::facts::{Accept, AppMessage, Delivery, Facts, Key};
use super::verdict::{Findings, Guarantee, LossReason, Violation};
use crate::trace::Event;

const SECOND: u64 = 1_000_000;

/// When an acceptance of a message with a Message Expiry Interval expires at the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Window {
    /// The interval the message was published with, in seconds: the most the broker can have
    /// received.
    pub interval: u32,
    /// The earliest and the latest moment of the acceptance (one moment when the broker
    /// reported it; from the publish to the acknowledgement when the acknowledgement implied
    /// it).
    pub accepted_lo_us: u64,
    pub accepted_hi_us: u64,
    /// Before this, the message has expired at no broker.
    pub lo_us: u64,
    /// From this on, it has expired at every broker.
    pub hi_us: u64,
}

impl Window {
    /// The window of a message published at `published_us` with `interval` seconds, accepted
    /// between `accepted_lo_us` and `accepted_hi_us`.
    pub(crate) fn new(
        interval: u32,
        published_us: u64,
        accepted_lo_us: u64,
        accepted_hi_us: u64,
    ) -> Window {
        // The accepted PUBLISH left no later than the acceptance, carrying at least what was
        // left then, and at least one second.
        let waited = accepted_hi_us.saturating_sub(published_us) / SECOND;
        let least = u64::from(interval).saturating_sub(waited).max(1) * SECOND;
        Window {
            interval,
            accepted_lo_us,
            accepted_hi_us,
            lo_us: accepted_lo_us.saturating_add(least).saturating_sub(SECOND),
            hi_us: accepted_hi_us
                .saturating_add(u64::from(interval) * SECOND)
                .saturating_add(SECOND),
        }
    }
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

/// The findings of the expiry rules, and how many copies and pairs they judged.
pub(crate) struct ExpiryFindings {
    pub findings: Findings,
    pub judged: u64,
}

/// The acceptance a copy is a copy of, for the expiry rules: of those that can be it, the one
/// that expires last (the most lenient reading).
fn acceptance<'f, 'r>(facts: &'f Facts<'r>, d: &Delivery<'r>) -> Option<&'f Accept<'r>> {
    let key = d.key.as_ref()?;
    facts
        .accepts_of
        .get(key)?
        .iter()
        .map(|&a| &facts.accepts[a])
        .filter(|a| a.expiry.is_some_and(|w| w.accepted_lo_us <= d.t_us))
        .max_by_key(|a| a.expiry.map(|w| w.hi_us))
}

/// The subscriptions of the copy's session made before it that a RETAIN=1 copy can answer
/// (their snapshot holds the message on its topic), as their times.
fn answered_subscriptions(facts: &Facts<'_>, d: &Delivery<'_>) -> Vec<(u64, usize)> {
    facts
        .subscribes
        .iter()
        .filter(|s| s.sub == d.sub && s.idx < d.idx && topic::matches(s.filter, d.topic))
        .filter(|s| s.epoch.is_none() || d.epoch.is_none() || s.epoch == d.epoch)
        .filter(|s| s.snapshot.iter().any(|(t, k)| *t == d.topic && k.is_some() && *k == d.key))
        .map(|s| (s.t_us, s.idx))
        .collect()
}

pub(crate) fn check(facts: &Facts<'_>) -> ExpiryFindings {
    let mut findings = Findings::new(Guarantee::MessageExpiry);
    let mut judged = 0;
    for d in &facts.deliveries {
        let Some(a) = acceptance(facts, d) else { continue };
        let Some(w) = a.expiry else { continue };
        let Some(key) = d.key.as_ref() else { continue };
        judged += 1;
        let spans = facts.spans.get(&d.sub).map_or(&[][..], Vec::as_slice);
        let own = |i: usize| spans.get(i).filter(|s| d.epoch.is_some() && s.epoch == d.epoch);
        // The earliest the broker can have started sending this copy, and the record that
        // shows it.
        let start = if d.on_subscribe {
            answered_subscriptions(facts, d).into_iter().min()
        } else {
            // Connections of the session open at some moment after the acceptance.
            let open_after =
                |i: &usize| own(*i).is_some_and(|s| s.end_us.is_none_or(|e| e > w.accepted_lo_us));
            let first = (0..spans.len()).find(open_after);
            let this = d.span.filter(open_after);
            let from = if d.dup { first } else { this.or(first) };
            from.map(|i| (spans[i].start_us.max(w.accepted_lo_us), spans[i].start_idx))
        };
        let Some((start_us, start_idx)) = start else { continue };
        let message = Some(facts.message_ref(key));
        let lines = || facts.quote(&[a.idx, start_idx, d.idx]);
        // [MQTT-3.3.2-5]: delivery must have started before the expiry. A copy on a connection
        // that began after it may still be the resend of one sent on an earlier connection
        // open in time.
        let started_in_time = if d.on_subscribe {
            start_us < w.hi_us
        } else {
            (0..spans.len()).any(|i| {
                own(i).is_some_and(|s| {
                    s.start_us < w.hi_us && s.end_us.is_none_or(|e| e > w.accepted_lo_us)
                })
            })
        };
        if !started_in_time {
            let (what, since) = if d.on_subscribe {
                (
                    "the retained message, sent with RETAIN=1 on a subscription made",
                    format!("at {:.3}s", secs(start_us)),
                )
            } else {
                (
                    "a copy on a connection that began",
                    format!(
                        "at {:.3}s, the session having had no connection from the acceptance \
                         until then",
                        secs(start_us)
                    ),
                )
            };
            findings.push(Violation {
                guarantee: Guarantee::MessageExpiry,
                message: message.clone(),
                device: Some(d.sub.to_owned()),
                expected: format!(
                    "no copy after its Message Expiry Interval of {}s ran out (accepted at \
                     {:.3}s, expired by {:.3}s): a copy whose delivery has not started is \
                     discarded [MQTT-3.3.2-5]",
                    w.interval,
                    secs(w.accepted_lo_us),
                    secs(w.hi_us)
                ),
                observed: format!("{what} {since}, received at {:.3}s", secs(d.t_us)),
                trace: lines(),
            });
            continue;
        }
        // [MQTT-3.3.2-6]: the interval forwarded is what was received, less the time waited.
        if !facts.devices.get(d.sub.as_str()).is_some_and(|i| i.v5) {
            continue;
        }
        let waited = start_us.saturating_sub(w.accepted_hi_us) / SECOND;
        let most = u64::from(w.interval).saturating_sub(waited).max(1);
        let observed = match d.expiry {
            None => Some("it carried no Message Expiry Interval".to_owned()),
            Some(left) if u64::from(left) > most => Some(format!("it carried {left}s")),
            Some(_) => None,
        };
        if let Some(observed) = observed {
            let since =
                if d.on_subscribe { "the subscription it answers" } else { "its connection" };
            findings.push(Violation {
                guarantee: Guarantee::MessageExpiry,
                message,
                device: Some(d.sub.to_owned()),
                expected: format!(
                    "a Message Expiry Interval of at most {most}s: at most {}s received, less \
                     the {waited}s at least it waited at the broker (from its acceptance at \
                     {:.3}s to {since} at {:.3}s) [MQTT-3.3.2-6]",
                    w.interval,
                    secs(w.accepted_hi_us),
                    secs(start_us)
                ),
                observed: format!("{observed}, received at {:.3}s", secs(d.t_us)),
                trace: lines(),
            });
        }
    }
    ExpiryFindings { findings, judged }
}

/// When evidence shows the broker had its chance to deliver a pair.
fn moment(facts: &Facts<'_>, evidence: Evidence, settle_us: u64) -> u64 {
    match evidence {
        Evidence::Overtaken(d) | Evidence::Served(d) => facts.deliveries[d].t_us,
        Evidence::RoundTrip(idx) => facts.records[idx].t_us,
        Evidence::Settled(from) => from.saturating_add(settle_us),
    }
}

/// The reason of an owed QoS 1 or 2 pair never delivered, when its message expired before the
/// trace shows the broker had its chance (`evidence`, if any) and before its session ended
/// (`session_end`); `None` when the message has no expiry or was due before it.
pub(crate) fn undelivered(
    facts: &Facts<'_>,
    accept: &Accept<'_>,
    evidence: Option<Evidence>,
    session_end: Option<u64>,
    settle_us: u64,
) -> Option<(LossReason, String)> {
    let w = accept.expiry?;
    let due_at = evidence.map(|e| moment(facts, e, settle_us));
    if due_at.is_some_and(|t| t < w.lo_us)
        || session_end.is_some_and(|t| t < w.lo_us)
        || w.lo_us > facts.end_us
    {
        return None;
    }
    let chance = match due_at {
        Some(t) => format!("; the first sign the broker could deliver it came at {:.3}s", secs(t)),
        None => String::new(),
    };
    let detail = format!(
        "its Message Expiry Interval of {}s, from its acceptance at {:.3}s, ran out by {:.3}s{chance}",
        w.interval,
        secs(w.accepted_lo_us),
        secs(w.hi_us.min(facts.end_us.max(w.lo_us)))
    );
    Some((LossReason::Expired, detail))
}

/// The reason of the would-be pairs of a message the broker never accepted, when its Message
/// Expiry Interval ran out at its publisher: it dropped it as expired (`dropped`, its drop
/// reason), or still held it when the interval had run out before the end.
pub(crate) fn at_publisher(
    facts: &Facts<'_>,
    m: &AppMessage<'_>,
    dropped: Option<&str>,
) -> Option<(LossReason, String)> {
    let interval = m.expiry?;
    let published = facts.records[m.idx].t_us;
    let ran_out = published.saturating_add(u64::from(interval) * SECOND);
    let detail = match dropped {
        Some("expired") => format!(
            "its Message Expiry Interval of {interval}s ran out at its publisher, which dropped \
             it (expired)"
        ),
        Some(_) => return None,
        None if ran_out <= facts.end_us => format!(
            "its Message Expiry Interval of {interval}s ran out at {:.3}s while its publisher \
             still held it",
            secs(ran_out)
        ),
        None => return None,
    };
    Some((LossReason::Expired, detail))
}

/// Whether a `broker_dropped` record says the message expired.
pub(crate) fn is_expiry_drop(facts: &Facts<'_>, drop: usize) -> bool {
    matches!(&facts.records[drop].event, Event::BrokerDropped { reason, .. } if reason == "expired")
}

/// The reason of a pair whose copy the broker reported dropping as expired: `expired` if the
/// message can have expired by then, else `None` (the drop is judged like a silence).
pub(crate) fn dropped(
    facts: &Facts<'_>,
    accept: &Accept<'_>,
    drop: usize,
) -> Option<(LossReason, String)> {
    let w = accept.expiry?;
    let at = facts.records[drop].t_us;
    (at >= w.lo_us).then(|| {
        let detail = format!(
            "the broker discarded its copy as expired at {:.3}s (trace line {}): its Message \
             Expiry Interval of {}s from its acceptance at {:.3}s",
            secs(at),
            drop + 1,
            w.interval,
            secs(w.accepted_lo_us)
        );
        (LossReason::Expired, detail)
    })
}

/// Whether the retained message `key` of a subscription made at `subscribed_us` may have
/// expired by then, or before `due_us` (when the trace shows the broker had its chance): then
/// the subscription is not owed it.
pub(crate) fn retained_may_have_expired(
    facts: &Facts<'_>,
    key: &Key<'_>,
    subscribed_us: u64,
    due_us: u64,
) -> bool {
    facts
        .accepts_of
        .get(key)
        .into_iter()
        .flatten()
        .any(|&a| facts.accepts[a].expiry.is_some_and(|w| w.lo_us <= subscribed_us.max(due_us)))
}

/// When the evidence came, for `retained`.
pub(crate) fn evidence_moment(facts: &Facts<'_>, evidence: Evidence, settle_us: u64) -> u64 {
    moment(facts, evidence, settle_us)
}
