//! The model of a bounded store of skipped message keys: which messages still have a key,
//! the oldest dropped first once there are more than the limit (`MAX_SKIPPED_KEYS` per
//! channel, `MAX_GROUP_SKIPPED_KEYS` per group sender).

use std::collections::BTreeMap;

#[derive(Clone, Debug)]
pub struct Skipped<Id> {
    by_id: BTreeMap<Id, u64>,
    by_age: BTreeMap<u64, Id>,
    next: u64,
}

impl<Id> Default for Skipped<Id> {
    fn default() -> Self {
        Self {
            by_id: BTreeMap::new(),
            by_age: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<Id: Ord + Copy> Skipped<Id> {
    pub fn contains(&self, id: &Id) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn remove(&mut self, id: &Id) -> bool {
        match self.by_id.remove(id) {
            Some(age) => {
                self.by_age.remove(&age);
                true
            }
            None => false,
        }
    }

    /// Keeps the keys of `ids` (newest last), then drops the oldest beyond `max`.
    pub fn extend(&mut self, ids: impl IntoIterator<Item = Id>, max: usize) {
        for id in ids {
            if self.by_id.contains_key(&id) {
                continue;
            }
            self.by_id.insert(id, self.next);
            self.by_age.insert(self.next, id);
            self.next += 1;
        }
        while self.by_id.len() > max {
            let (_, oldest) = self.by_age.pop_first().expect("entries");
            self.by_id.remove(&oldest);
        }
    }

    pub fn retain(&mut self, keep: impl Fn(&Id) -> bool) {
        self.by_id.retain(|id, _| keep(id));
        let by_id = &self.by_id;
        self.by_age.retain(|_, id| by_id.contains_key(id));
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }
}
