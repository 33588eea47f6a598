//! Client ids and message ids as the checker's maps hold them: the text, with its rank among
//! every id the trace names, so that two ids compare by one integer comparison instead of by
//! their bytes.
//!
//! Ranks are given in the texts' order, so a [`Name`] sorts exactly as its text does: every map
//! keyed by names iterates in the order it did when keyed by `&str`, and every output built from
//! such an iteration is unchanged. A text the trace does not name (a device only the scenario
//! knows, say) still gets a rank between its neighbours' and is compared by its text where two
//! such ranks meet, so the order stays the texts' order whatever is looked up.

use std::borrow::Borrow;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;

use crate::trace::{Event, Record};

/// An interned id: its text and its rank (odd: a text of the table, 2 × its index + 1; even: a
/// text that falls between the table's, 2 × where it would go).
#[derive(Clone, Copy)]
pub(crate) struct Name<'r> {
    rank: u64,
    text: &'r str,
}

impl<'r> Name<'r> {
    /// The text, for as long as the trace lives.
    pub(crate) fn as_str(self) -> &'r str {
        self.text
    }

    /// The text as an owned string (a name's own copy is the `Copy` itself).
    pub(crate) fn to_owned(self) -> String {
        self.text.to_owned()
    }
}

impl PartialEq for Name<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Name<'_> {}

impl PartialOrd for Name<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Name<'_> {
    fn cmp(&self, other: &Self) -> Ordering {
        match self.rank.cmp(&other.rank) {
            // Equal odd ranks are the same text of the table.
            Ordering::Equal if self.rank % 2 == 1 => Ordering::Equal,
            Ordering::Equal => self.text.cmp(other.text),
            unequal => unequal,
        }
    }
}

impl PartialEq<str> for Name<'_> {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl PartialEq<&str> for Name<'_> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl PartialEq<String> for Name<'_> {
    fn eq(&self, other: &String) -> bool {
        self.text == other.as_str()
    }
}

impl Deref for Name<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        self.text
    }
}

/// Sound because a name orders, and is equal, exactly as its text is.
impl Borrow<str> for Name<'_> {
    fn borrow(&self) -> &str {
        self.text
    }
}

impl fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)
    }
}

impl fmt::Debug for Name<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.text, f)
    }
}

/// The ids a trace names, sorted, with each one's index.
#[derive(Debug, Default)]
pub(crate) struct Names<'r> {
    sorted: Vec<&'r str>,
    index: HashMap<&'r str, u32>,
}

impl<'r> Names<'r> {
    /// Every client id and message id in `records`.
    pub(crate) fn of_trace(records: &'r [Record]) -> Self {
        let mut index: HashMap<&'r str, u32> = HashMap::new();
        let mut add = |s: &'r str| {
            let next = index.len() as u32;
            index.entry(s).or_insert(next);
        };
        for r in records {
            if let Some(d) = r.device.as_deref() {
                add(d);
            }
            match &r.event {
                Event::AppPublish { msg, .. }
                | Event::PublishSent { msg, .. }
                | Event::Acked { msg, .. }
                | Event::Dropped { msg, .. } => add(msg),
                Event::Delivered { msg: Some(msg), .. }
                | Event::BrokerAccepted { msg: Some(msg), .. }
                | Event::BrokerDropped { msg: Some(msg), .. } => add(msg),
                Event::SessionLost { resent, released } => {
                    resent.iter().chain(released).for_each(|m| add(m));
                }
                Event::LinkFault { devices, .. } => devices.iter().for_each(|d| add(d)),
                _ => {}
            }
        }
        let mut sorted: Vec<&'r str> = index.into_keys().collect();
        sorted.sort_unstable();
        // At most one entry per record and field: far below u32::MAX for any trace in memory.
        let index = sorted.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect();
        Names { sorted, index }
    }

    /// The name of `text`.
    pub(crate) fn of(&self, text: &'r str) -> Name<'r> {
        match self.index.get(text) {
            Some(&i) => Name { rank: 2 * u64::from(i) + 1, text: self.sorted[i as usize] },
            None => {
                let at = self.sorted.partition_point(|s| *s < text);
                Name { rank: 2 * at as u64, text }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names order and compare exactly as their texts, for texts of the table and others.
    #[test]
    fn names_sort_as_their_texts() {
        let table = ["b", "d", "dd", "f"];
        let names = Names {
            sorted: table.to_vec(),
            index: table.iter().enumerate().map(|(i, &s)| (s, i as u32)).collect(),
        };
        let texts = ["", "a", "b", "c", "ca", "d", "da", "dd", "e", "f", "g", "ga"];
        for a in texts {
            for b in texts {
                let (na, nb) = (names.of(a), names.of(b));
                assert_eq!(na.cmp(&nb), a.cmp(b), "{a:?} vs {b:?}");
                assert_eq!(na == nb, a == b, "{a:?} == {b:?}");
            }
        }
    }
}
