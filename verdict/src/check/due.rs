//! When a pair was *due*: the trace's evidence that the broker had its chance to deliver a
//! message to a subscriber whose session held it, so that its absence is a loss rather than a
//! message still in flight.
//!
//! For a message accepted at A and owed to a subscriber's session, any of these is evidence,
//! checked in this order:
//! 1. **Overtaken**: a message of the same publisher and topic, accepted after it, reached the
//!    subscriber at the same QoS in the same session. The broker sends them in order
//!    [MQTT-4.6.0-6] and resends unacknowledged ones first [MQTT-4.6.0-1], so the earlier one
//!    is overdue.
//! 2. **Served**: a message accepted more than the tolerance after both A and the start of the
//!    connection that carried it reached the subscriber at QoS 1 or 2 in the same session: the
//!    broker was serving the session with newer messages.
//! 3. **Round trip**: on a connection of the session, the subscriber sent a request more than
//!    the tolerance after both A and the connection's start, and got the broker's answer on
//!    that connection (its own publish acknowledged; at the packet level also PINGREQ and
//!    PINGRESP, SUBSCRIBE and SUBACK), with nothing reaching it from the tolerance before the
//!    request until the answer: the connection worked both ways and had nothing left to send.
//! 4. **Settled**: its last connection stayed open, undisturbed (no fault on the device or its
//!    link, the broker up), for `settle` after the later of A and the connection's start, and
//!    to the end of the run.
//!
//! The tolerance (10 s by default) is the time the checker allows a broker to hold a message
//! back behind newer ones of other publishers, or behind an answer; it is documented in
//! scenarios/README.md.

use std::collections::BTreeMap;

use super::facts::{Facts, Key};
use super::name::Name;

/// Why a pair was due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Evidence {
    /// A later message of the same stream arrived: the delivery's index.
    Overtaken(usize),
    /// A message accepted well after arrived: the delivery's index.
    Served(usize),
    /// A round trip on an idle connection: the answer's record.
    RoundTrip(usize),
    /// Connected and undisturbed for the settle time from this moment.
    Settled(u64),
}

impl Evidence {
    /// The evidence in words.
    pub(crate) fn describe(self, facts: &Facts<'_>, tolerance_us: u64, settle_us: u64) -> String {
        let at = |idx: usize| facts.records[idx].t_us as f64 / 1e6;
        let what = |d: usize| {
            let d = &facts.deliveries[d];
            match &d.key {
                Some(Key::App(id)) => (*id).to_owned(),
                Some(Key::Will(a)) => format!("the Will of {}", facts.accepts[*a].publisher),
                None => "a message".to_owned(),
            }
        };
        match self {
            Evidence::Overtaken(d) => format!(
                "{} (same publisher and topic, accepted later) reached it at {:.3}s in the same \
                 session [MQTT-4.6.0-6]",
                what(d),
                at(facts.deliveries[d].idx)
            ),
            Evidence::Served(d) => format!(
                "{} (accepted more than {}s later) reached it at {:.3}s in the same session",
                what(d),
                tolerance_us as f64 / 1e6,
                at(facts.deliveries[d].idx)
            ),
            Evidence::RoundTrip(idx) => format!(
                "its connection answered a request at {:.3}s, more than {}s later, with nothing \
                 left to send",
                at(idx),
                tolerance_us as f64 / 1e6
            ),
            Evidence::Settled(from) => format!(
                "it stayed connected, undisturbed, from {:.3}s to the end ({}s or more)",
                from as f64 / 1e6,
                settle_us / 1_000_000
            ),
        }
    }

    /// The trace record that shows it, if it is one.
    pub(crate) fn record(self, facts: &Facts<'_>) -> Option<usize> {
        match self {
            Evidence::Overtaken(d) | Evidence::Served(d) => Some(facts.deliveries[d].idx),
            Evidence::RoundTrip(idx) => Some(idx),
            Evidence::Settled(_) => None,
        }
    }
}

/// The stream a message belongs to, for the overtaking rule.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream<'r> {
    pub publisher: Name<'r>,
    pub topic: &'r str,
    /// The effective QoS of the pair.
    pub qos: u8,
    /// The message's rank: the index of its first acceptance.
    pub rank: usize,
}

/// (subscriber, publisher, topic, QoS, session).
type StreamKey<'r> = (Name<'r>, Name<'r>, &'r str, u8, usize);

/// The evidence, indexed once per verdict.
pub(crate) struct Due<'f, 'r> {
    facts: &'f Facts<'r>,
    tolerance_us: u64,
    settle_us: u64,
    /// (subscriber, publisher, topic, QoS, session) → the delivered messages' ranks in order,
    /// each with the earliest delivery of a message ranked at least as high.
    overtaking: BTreeMap<StreamKey<'r>, Vec<(usize, usize)>>,
    /// (subscriber, session) → the latest acceptance time a copy proves served, with the copy.
    served: BTreeMap<(Name<'r>, usize), (u64, usize)>,
    /// Each subscriber's copy times, in order.
    copies_at: BTreeMap<Name<'r>, Vec<u64>>,
}

impl<'f, 'r> Due<'f, 'r> {
    pub(crate) fn new(facts: &'f Facts<'r>, tolerance_us: u64, settle_us: u64) -> Due<'f, 'r> {
        let mut overtaking: BTreeMap<_, Vec<(usize, usize)>> = BTreeMap::new();
        let mut served: BTreeMap<(Name<'r>, usize), (u64, usize)> = BTreeMap::new();
        let mut copies_at: BTreeMap<Name<'r>, Vec<u64>> = BTreeMap::new();
        for (i, d) in facts.deliveries.iter().enumerate() {
            copies_at.entry(d.sub).or_default().push(d.t_us);
            let (Some(key), Some(epoch)) = (&d.key, d.epoch) else { continue };
            if d.on_subscribe || d.qos == 0 {
                continue;
            }
            let Some(&first) = facts.accepts_of.get(key).and_then(|a| a.first()) else {
                continue;
            };
            let accept = &facts.accepts[first];
            overtaking
                .entry((d.sub, accept.publisher, accept.topic, d.qos, epoch))
                .or_default()
                .push((first, i));
            let span_start = d
                .span
                .and_then(|s| facts.spans.get(&d.sub).and_then(|spans| spans.get(s)))
                .map_or(u64::MAX, |s| s.start_us);
            if let Some(from) = accept.t_us.checked_sub(tolerance_us)
                && from >= span_start
            {
                let slot = served.entry((d.sub, epoch)).or_insert((from, i));
                if from > slot.0 {
                    *slot = (from, i);
                }
            }
        }
        for ranks in overtaking.values_mut() {
            ranks.sort_unstable();
            // From the highest rank down, the earliest delivery so far.
            let mut earliest = usize::MAX;
            for slot in ranks.iter_mut().rev() {
                earliest = earliest.min(slot.1);
                slot.1 = earliest;
            }
        }
        Due { facts, tolerance_us, settle_us, overtaking, served, copies_at }
    }

    /// The tolerance the evidence was gathered with.
    pub(crate) fn tolerance_us(&self) -> u64 {
        self.tolerance_us
    }

    /// The evidence that `sub`'s session `epoch` was due to receive a message accepted at
    /// `after_us` (of `stream`, when it belongs to one), if the trace has any.
    pub(crate) fn evidence(
        &self,
        sub: Name<'r>,
        epoch: usize,
        after_us: u64,
        stream: Option<Stream<'r>>,
    ) -> Option<Evidence> {
        let f = self.facts;
        if let Some(s) = stream
            && let Some(ranks) = self.overtaking.get(&(sub, s.publisher, s.topic, s.qos, epoch))
        {
            let later = ranks.partition_point(|&(rank, _)| rank <= s.rank);
            if let Some(&(_, d)) = ranks.get(later) {
                return Some(Evidence::Overtaken(d));
            }
        }
        if let Some(&(from, d)) = self.served.get(&(sub, epoch))
            && from >= after_us
        {
            return Some(Evidence::Served(d));
        }
        let tol = self.tolerance_us;
        let copies = self.copies_at.get(&sub).map_or(&[][..], Vec::as_slice);
        let spans = f.spans.get(&sub).map_or(&[][..], Vec::as_slice);
        for trip in f.round_trips.get(&sub).into_iter().flatten() {
            if trip.epoch != Some(epoch) {
                continue;
            }
            let Some(span) = trip.span.and_then(|s| spans.get(s)) else { continue };
            if trip.sent_us < after_us.max(span.start_us).saturating_add(tol) {
                continue;
            }
            // Nothing reached it from `tol` before the request until the answer.
            let quiet_from = trip.sent_us - tol;
            let first_after = copies.partition_point(|&t| t < quiet_from);
            if copies.get(first_after).is_none_or(|&t| t > trip.answered_us) {
                return Some(Evidence::RoundTrip(trip.idx));
            }
        }
        let last = spans.last()?;
        if last.epoch == Some(epoch) && f.settled_after(sub, after_us, self.settle_us) {
            return Some(Evidence::Settled(after_us.max(last.start_us)));
        }
        None
    }
}
