//! A sorted map that stays a small vector until it grows, for topic trees with many tiny nodes.

use std::borrow::Borrow;
use std::collections::BTreeMap;

/// Entries at which a [`SmallMap`] turns into a `BTreeMap`.
const LARGE: usize = 16;

/// An ordered map: a sorted `Vec` while small (one allocation sized to its entries), a
/// `BTreeMap` once it holds [`LARGE`] entries. Most nodes of a topic tree hold one entry, where
/// a `BTreeMap` would allocate a node for eleven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SmallMap<K, V> {
    Small(Vec<(K, V)>),
    Large(BTreeMap<K, V>),
}

/// Makes room for one more entry: one at a time while tiny (most nodes never hold more than
/// one), then doubling.
fn grow<T>(entries: &mut Vec<T>) {
    if entries.len() == entries.capacity() {
        let extra = if entries.len() < 4 { 1 } else { entries.len() };
        entries.reserve_exact(extra);
    }
}

impl<K, V> Default for SmallMap<K, V> {
    fn default() -> SmallMap<K, V> {
        SmallMap::Small(Vec::new())
    }
}

impl<K: Ord, V> SmallMap<K, V> {
    fn position<Q: Ord + ?Sized>(entries: &[(K, V)], key: &Q) -> Result<usize, usize>
    where
        K: Borrow<Q>,
    {
        entries.binary_search_by(|(k, _)| k.borrow().cmp(key))
    }

    pub(crate) fn is_empty(&self) -> bool {
        match self {
            SmallMap::Small(entries) => entries.is_empty(),
            SmallMap::Large(map) => map.is_empty(),
        }
    }

    pub(crate) fn get<Q: Ord + ?Sized>(&self, key: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
    {
        match self {
            SmallMap::Small(entries) => Self::position(entries, key).ok().map(|i| &entries[i].1),
            SmallMap::Large(map) => map.get(key),
        }
    }

    pub(crate) fn get_mut<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
    {
        match self {
            SmallMap::Small(entries) => {
                Self::position(entries, key).ok().map(|i| &mut entries[i].1)
            }
            SmallMap::Large(map) => map.get_mut(key),
        }
    }

    /// The value of `key`, inserted with `make` first if absent; the key is built only then.
    pub(crate) fn get_or_insert_with<Q: Ord + ?Sized>(
        &mut self,
        key: &Q,
        make: impl FnOnce() -> (K, V),
    ) -> &mut V
    where
        K: Borrow<Q>,
    {
        if let SmallMap::Small(entries) = self
            && entries.len() >= LARGE
            && Self::position(entries, key).is_err()
        {
            let map = std::mem::take(entries).into_iter().collect();
            *self = SmallMap::Large(map);
        }
        match self {
            SmallMap::Small(entries) => {
                let index = match Self::position(entries, key) {
                    Ok(index) => index,
                    Err(index) => {
                        grow(entries);
                        entries.insert(index, make());
                        index
                    }
                };
                &mut entries[index].1
            }
            SmallMap::Large(map) => {
                if !map.contains_key(key) {
                    let (k, v) = make();
                    return map.entry(k).or_insert(v);
                }
                map.get_mut(key).expect("the key is present")
            }
        }
    }

    /// Inserts or replaces, returning the previous value.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if let Some(slot) = self.get_mut(key.borrow()) {
            return Some(std::mem::replace(slot, value));
        }
        match self {
            SmallMap::Small(entries) if entries.len() < LARGE => {
                let index = Self::position(entries, &key).expect_err("the key is absent");
                grow(entries);
                entries.insert(index, (key, value));
            }
            SmallMap::Small(entries) => {
                let mut map: BTreeMap<K, V> = std::mem::take(entries).into_iter().collect();
                map.insert(key, value);
                *self = SmallMap::Large(map);
            }
            SmallMap::Large(map) => {
                map.insert(key, value);
            }
        }
        None
    }

    pub(crate) fn remove<Q: Ord + ?Sized>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
    {
        match self {
            SmallMap::Small(entries) => {
                let index = Self::position(entries, key).ok()?;
                let (_, value) = entries.remove(index);
                if entries.is_empty() {
                    *entries = Vec::new();
                }
                Some(value)
            }
            SmallMap::Large(map) => map.remove(key),
        }
    }

    /// The number of entries.
    pub(crate) fn len(&self) -> usize {
        match self {
            SmallMap::Small(entries) => entries.len(),
            SmallMap::Large(map) => map.len(),
        }
    }

    /// Empties the map, giving back its values in key order.
    pub(crate) fn take_values(&mut self) -> Vec<V> {
        match std::mem::take(self) {
            SmallMap::Small(entries) => entries.into_iter().map(|(_, v)| v).collect(),
            SmallMap::Large(map) => map.into_values().collect(),
        }
    }

    /// The entries in key order.
    pub(crate) fn iter(&self) -> Iter<'_, K, V> {
        match self {
            SmallMap::Small(entries) => Iter::Small(entries.iter()),
            SmallMap::Large(map) => Iter::Large(map.iter()),
        }
    }
}

/// The entries of a [`SmallMap`] in key order.
#[derive(Debug)]
pub(crate) enum Iter<'a, K, V> {
    Small(std::slice::Iter<'a, (K, V)>),
    Large(std::collections::btree_map::Iter<'a, K, V>),
}

impl<'a, K, V> Iterator for Iter<'a, K, V> {
    type Item = (&'a K, &'a V);

    fn next(&mut self) -> Option<(&'a K, &'a V)> {
        match self {
            Iter::Small(entries) => entries.next().map(|(k, v)| (k, v)),
            Iter::Large(entries) => entries.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_btreemap_across_the_switch() {
        let mut small: SmallMap<u32, u32> = SmallMap::default();
        let mut reference = BTreeMap::new();
        // A fixed pseudo-random walk of inserts, lookups and removals.
        let mut x: u32 = 12345;
        for step in 0..5_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let key = (x >> 16) % 40;
            match step % 4 {
                0 => assert_eq!(small.insert(key, step), reference.insert(key, step)),
                1 => assert_eq!(small.remove(&key), reference.remove(&key)),
                2 => {
                    *small.get_or_insert_with(&key, || (key, 0)) += 1;
                    *reference.entry(key).or_insert(0) += 1;
                }
                _ => assert_eq!(small.get(&key), reference.get(&key)),
            }
            assert_eq!(small.is_empty(), reference.is_empty());
            let got: Vec<_> = small.iter().map(|(k, v)| (*k, *v)).collect();
            let expected: Vec<_> = reference.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(got, expected, "step {step}");
        }
    }
}
