//! Message keys kept for messages that have not arrived yet.
//!
//! Channels key them by (ratchet key, message number), group senders by (epoch,
//! iteration); each bounds how many it keeps with its own documented limit.

use std::collections::BTreeMap;

use super::chain::MessageKey;

/// Skipped message keys, looked up by message in O(log n) and evicted oldest first once
/// there are more than `MAX`.
///
/// Two indexes over the same entries: `by_message` for lookups, `by_age` (insertion
/// sequence numbers) for eviction. Sequence numbers are not serialized: the saved form is
/// the entries oldest first, which is all the order eviction needs.
#[derive(Clone, Debug)]
pub(crate) struct SkippedKeys<Id, const MAX: usize> {
    by_message: BTreeMap<Id, (u64, MessageKey)>,
    by_age: BTreeMap<u64, Id>,
    next_sequence: u64,
}

impl<Id, const MAX: usize> Default for SkippedKeys<Id, MAX> {
    fn default() -> Self {
        Self {
            by_message: BTreeMap::new(),
            by_age: BTreeMap::new(),
            next_sequence: 0,
        }
    }
}

impl<Id: Ord + Copy, const MAX: usize> SkippedKeys<Id, MAX> {
    pub(crate) fn get(&self, id: &Id) -> Option<&MessageKey> {
        self.by_message.get(id).map(|(_, key)| key)
    }

    pub(crate) fn remove(&mut self, id: &Id) {
        if let Some((sequence, _)) = self.by_message.remove(id) {
            self.by_age.remove(&sequence);
        }
    }

    /// Adds keys (newest last), evicting the oldest beyond `MAX`. A key already present is
    /// left where it is.
    pub(crate) fn extend(&mut self, keys: impl IntoIterator<Item = (Id, MessageKey)>) {
        for (id, key) in keys {
            if self.by_message.contains_key(&id) {
                continue;
            }
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.by_message.insert(id, (sequence, key));
            self.by_age.insert(sequence, id);
        }
        while self.by_message.len() > MAX {
            match self.by_age.pop_first() {
                Some((_, oldest)) => {
                    self.by_message.remove(&oldest);
                }
                None => break,
            }
        }
    }

    /// Drops every key whose id fails `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Id) -> bool) {
        self.by_message.retain(|id, _| keep(id));
        let by_message = &self.by_message;
        self.by_age.retain(|_, id| by_message.contains_key(id));
    }

    pub(crate) fn len(&self) -> usize {
        self.by_message.len()
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Id, &MessageKey)> {
        self.by_age.values().filter_map(|id| {
            self.by_message
                .get_key_value(id)
                .map(|(id, (_, key))| (id, key))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 100;

    fn key(byte: u8) -> MessageKey {
        MessageKey::from_bytes([byte; 32])
    }

    #[test]
    fn evicts_oldest_first() {
        let mut skipped = SkippedKeys::<(u8, u32), MAX>::default();
        let total = MAX as u32 + 10;
        skipped.extend((0..total).map(|n| ((1, n), key(n as u8))));
        assert_eq!(skipped.len(), MAX);
        assert!(skipped.get(&(1, 9)).is_none());
        assert!(skipped.get(&(1, 10)).is_some());
        let first = skipped.iter().next().map(|(id, _)| *id);
        assert_eq!(first, Some((1, 10)));
    }

    #[test]
    fn remove_forgets_both_indexes() {
        let mut skipped = SkippedKeys::<(u8, u32), MAX>::default();
        skipped.extend([((2, 0), key(0)), ((2, 1), key(1))]);
        skipped.remove(&(2, 0));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped.iter().count(), 1);
        assert!(skipped.get(&(2, 1)).is_some());
    }

    #[test]
    fn retain_keeps_order_and_both_indexes() {
        let mut skipped = SkippedKeys::<(u8, u32), MAX>::default();
        skipped.extend([((1, 0), key(0)), ((2, 0), key(1)), ((1, 1), key(2))]);
        skipped.retain(|(chain, _)| *chain == 1);
        let ids: Vec<_> = skipped.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [(1, 0), (1, 1)]);
        // Eviction still sees only the kept entries.
        skipped.extend((2..MAX as u32 + 1).map(|n| ((1, n), key(3))));
        assert_eq!(skipped.len(), MAX);
        assert!(skipped.get(&(1, 0)).is_none());
    }
}
