//! Message keys kept for messages that have not arrived yet.
//!
//! Channels key them by (ratchet key, message number), group senders by (epoch,
//! iteration); each bounds how many it keeps with its own documented limit.

use std::collections::BTreeMap;

use zeroize::Zeroize;

use super::chain::MessageKey;

/// Skipped message keys, looked up by message in O(log n) and evicted oldest first once
/// there are more than `MAX`.
///
/// Two indexes over the same entries: `by_message` for lookups, `by_age` (insertion
/// sequence numbers) for eviction. Sequence numbers are not serialized: the saved form is
/// the entries oldest first, which is all the order eviction needs.
///
/// The indexes hold only message ids and slot numbers, which are public; the keys live in
/// [`KeySlots`], which never lets one be copied into memory that is then freed unwiped.
/// A `BTreeMap` moves its values between nodes as it changes and frees nodes without
/// wiping them, which is why the keys are not its values.
#[derive(Clone, Debug)]
pub(crate) struct SkippedKeys<Id, const MAX: usize> {
    /// For each message: its sequence number and the slot of its key.
    by_message: BTreeMap<Id, (u64, usize)>,
    by_age: BTreeMap<u64, Id>,
    next_sequence: u64,
    slots: KeySlots,
}

impl<Id, const MAX: usize> Default for SkippedKeys<Id, MAX> {
    fn default() -> Self {
        Self {
            by_message: BTreeMap::new(),
            by_age: BTreeMap::new(),
            next_sequence: 0,
            slots: KeySlots::default(),
        }
    }
}

impl<Id: Ord + Copy, const MAX: usize> SkippedKeys<Id, MAX> {
    pub(crate) fn get(&self, id: &Id) -> Option<&MessageKey> {
        self.by_message
            .get(id)
            .and_then(|&(_, slot)| self.slots.get(slot))
    }

    pub(crate) fn remove(&mut self, id: &Id) {
        if let Some((sequence, slot)) = self.by_message.remove(id) {
            self.by_age.remove(&sequence);
            self.slots.wipe(slot);
        }
        self.release_if_empty();
    }

    /// Adds keys (newest last), evicting the oldest beyond `MAX`. A key already present is
    /// left where it is.
    pub(crate) fn extend(&mut self, keys: impl IntoIterator<Item = (Id, MessageKey)>) {
        for (id, key) in keys {
            if self.by_message.contains_key(&id) {
                continue;
            }
            // Evicting before inserting (rather than after, which keeps the same keys)
            // keeps the slots within `MAX`.
            while self.by_message.len() >= MAX {
                if !self.evict_oldest() {
                    break;
                }
            }
            if MAX == 0 {
                continue;
            }
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            let slot = self.slots.insert(key, MAX);
            self.by_message.insert(id, (sequence, slot));
            self.by_age.insert(sequence, id);
        }
    }

    /// Drops every key whose id fails `keep`.
    pub(crate) fn retain(&mut self, mut keep: impl FnMut(&Id) -> bool) {
        let Self {
            by_message,
            by_age,
            slots,
            ..
        } = self;
        by_message.retain(|id, &mut (_, slot)| {
            let kept = keep(id);
            if !kept {
                slots.wipe(slot);
            }
            kept
        });
        by_age.retain(|_, id| by_message.contains_key(id));
        self.release_if_empty();
    }

    pub(crate) fn len(&self) -> usize {
        self.by_message.len()
    }

    /// The entries, oldest first.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Id, &MessageKey)> {
        self.by_age.values().filter_map(|id| {
            let (id, &(_, slot)) = self.by_message.get_key_value(id)?;
            Some((id, self.slots.get(slot)?))
        })
    }

    /// Whether there was an entry to evict.
    fn evict_oldest(&mut self) -> bool {
        let Some((_, oldest)) = self.by_age.pop_first() else {
            return false;
        };
        if let Some((_, slot)) = self.by_message.remove(&oldest) {
            self.slots.wipe(slot);
        }
        true
    }

    /// A chain whose skipped keys have all arrived holds no memory for them.
    fn release_if_empty(&mut self) {
        if self.by_message.is_empty() {
            self.slots = KeySlots::default();
        }
    }
}

/// Fixed places for message keys: a key is written once into its slot, read there, and
/// wiped there when it is used or evicted; freed slots are reused.
///
/// The buffer never grows in place (a reallocation would leave the old copy in freed
/// memory): it grows by copying into a new buffer and dropping the old one, whose keys wipe
/// themselves before it is freed. Doubling keeps the cost of growth constant per key, and
/// the capacity stays within the `MAX` the caller gives, so a channel with a few skipped
/// keys holds a few slots, not thousands.
#[derive(Clone, Debug, Default)]
struct KeySlots {
    keys: Vec<MessageKey>,
    /// Slots whose key was used or evicted (and wiped), to be reused first.
    free: Vec<usize>,
}

impl KeySlots {
    /// Slots of the first buffer: one `MessageKey` is 32 bytes.
    const FIRST_CAPACITY: usize = 16;

    fn get(&self, slot: usize) -> Option<&MessageKey> {
        self.keys.get(slot)
    }

    /// Puts `key` in a free slot, or a new one (growing the buffer, within `max` slots when
    /// the caller keeps at most `max` keys), and returns the slot.
    fn insert(&mut self, key: MessageKey, max: usize) -> usize {
        if let Some(slot) = self.free.pop() {
            if let Some(place) = self.keys.get_mut(slot) {
                // The assignment drops the wiped key that was there.
                *place = key;
                return slot;
            }
        }
        if self.keys.len() == self.keys.capacity() {
            let grown = (self.keys.len() * 2)
                .clamp(Self::FIRST_CAPACITY, max.max(Self::FIRST_CAPACITY))
                .max(self.keys.len() + 1);
            let mut bigger = Vec::with_capacity(grown);
            bigger.extend(self.keys.iter().cloned());
            // Dropping the old buffer wipes each key in it before it is freed.
            self.keys = bigger;
        }
        self.keys.push(key);
        self.keys.len() - 1
    }

    /// Wipes the key in `slot` and frees the slot.
    fn wipe(&mut self, slot: usize) {
        if let Some(key) = self.keys.get_mut(slot) {
            key.zeroize();
            self.free.push(slot);
        }
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

    #[test]
    fn each_key_stays_with_its_message() {
        let mut skipped = SkippedKeys::<(u8, u32), MAX>::default();
        skipped.extend((0..MAX as u32).map(|n| ((1, n), key(n as u8))));
        for n in (0..MAX as u32).step_by(3) {
            skipped.remove(&(1, n));
        }
        // Reused slots, then eviction of the oldest, then growth.
        skipped.extend((MAX as u32..MAX as u32 + 60).map(|n| ((2, n), key(n as u8))));
        assert_eq!(skipped.len(), MAX);
        for (&(_, n), found) in skipped.iter() {
            assert_eq!(*found, key(n as u8));
        }
        let ids: Vec<_> = skipped.iter().map(|(id, _)| *id).collect();
        let mut sorted = ids.clone();
        sorted.sort_by_key(|&(chain, n)| (chain, n));
        assert_eq!(ids, sorted, "oldest first");
    }

    #[test]
    fn slots_stay_within_the_limit_and_wipe_what_they_free() {
        let mut skipped = SkippedKeys::<(u8, u32), MAX>::default();
        skipped.extend((0..3 * MAX as u32).map(|n| ((1, n), key(1 + n as u8 % 200))));
        assert!(skipped.slots.keys.capacity() <= MAX);
        skipped.remove(&(1, 2 * MAX as u32));
        let wiped = skipped.slots.free.last().copied();
        let wiped = wiped.and_then(|slot| skipped.slots.get(slot));
        assert_eq!(wiped, Some(&MessageKey::from_bytes([0; 32])));
        skipped.retain(|_| false);
        assert_eq!(skipped.slots.keys.capacity(), 0, "released once empty");
    }
}
