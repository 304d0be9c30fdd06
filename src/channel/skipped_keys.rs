//! Message keys kept for messages that have not arrived yet.

use std::collections::BTreeMap;

use super::MAX_SKIPPED_KEYS;
use crate::crypto::chain::MessageKey;

/// Which message a skipped key belongs to: the peer's ratchet key and the message number.
pub(crate) type MessageId = ([u8; 32], u32);

/// Skipped message keys, looked up by message in O(log n) and evicted oldest first once
/// there are more than [`MAX_SKIPPED_KEYS`].
///
/// Two indexes over the same entries: `by_message` for lookups, `by_age` (insertion
/// sequence numbers) for eviction. Sequence numbers are not serialized: the saved form is
/// the entries oldest first, which is all the order eviction needs.
#[derive(Clone, Debug, Default)]
pub(crate) struct SkippedKeys {
    by_message: BTreeMap<MessageId, (u64, MessageKey)>,
    by_age: BTreeMap<u64, MessageId>,
    next_sequence: u64,
}

impl SkippedKeys {
    pub(crate) fn get(&self, id: &MessageId) -> Option<&MessageKey> {
        self.by_message.get(id).map(|(_, key)| key)
    }

    pub(crate) fn remove(&mut self, id: &MessageId) {
        if let Some((sequence, _)) = self.by_message.remove(id) {
            self.by_age.remove(&sequence);
        }
    }

    /// Adds keys (newest last), evicting the oldest beyond the limit. A key already present
    /// is left where it is.
    pub(crate) fn extend(
        &mut self,
        ratchet_key: [u8; 32],
        keys: impl IntoIterator<Item = (u32, MessageKey)>,
    ) {
        for (number, key) in keys {
            let id = (ratchet_key, number);
            if self.by_message.contains_key(&id) {
                continue;
            }
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.by_message.insert(id, (sequence, key));
            self.by_age.insert(sequence, id);
        }
        while self.by_message.len() > MAX_SKIPPED_KEYS {
            match self.by_age.pop_first() {
                Some((_, oldest)) => {
                    self.by_message.remove(&oldest);
                }
                None => break,
            }
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.by_message.len()
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&MessageId, &MessageKey)> {
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

    fn key(byte: u8) -> MessageKey {
        MessageKey::from_bytes([byte; 32])
    }

    #[test]
    fn evicts_oldest_first() {
        let mut skipped = SkippedKeys::default();
        let total = MAX_SKIPPED_KEYS as u32 + 10;
        skipped.extend([1; 32], (0..total).map(|n| (n, key(n as u8))));
        assert_eq!(skipped.len(), MAX_SKIPPED_KEYS);
        assert!(skipped.get(&([1; 32], 9)).is_none());
        assert!(skipped.get(&([1; 32], 10)).is_some());
        let first = skipped.iter().next().map(|(id, _)| *id);
        assert_eq!(first, Some(([1; 32], 10)));
    }

    #[test]
    fn remove_forgets_both_indexes() {
        let mut skipped = SkippedKeys::default();
        skipped.extend([2; 32], [(0, key(0)), (1, key(1))]);
        skipped.remove(&([2; 32], 0));
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped.iter().count(), 1);
        assert!(skipped.get(&([2; 32], 1)).is_some());
    }
}
