//! Prekey upkeep: the recommended schedule, and the store's methods that follow it (dating,
//! expiring, dropping and replenishing prekeys, and telling when to rotate).
//!
//! The schedule's constants are recommendations, not limits: the store enforces none of
//! them, and an app may choose other values (see `PrekeyStore`'s upkeep example). They are
//! re-exported from `ratchetkit::identity`, not from `ratchetkit::limits`.

use rand::CryptoRng;

use super::{PrekeyStore, MAX_JOINS_PER_SIGNED_PREKEY, MAX_ONE_TIME_PREKEYS};

/// How often to rotate the signed prekey: every 7 days (604,800 seconds), what
/// [`PrekeyStore::signed_prekey_rotation_due`] checks.
///
/// Every channel started without a one-time prekey rests on the signed prekey alone (its
/// ML-KEM key is the last-resort KEM prekey): whoever steals the store while it still
/// holds a signed prekey can recompute the start of every recorded channel that used it
/// without a one-time prekey, and read what was sent before the first reply. The store
/// keeps the previous signed prekey for one more period, so that a bundle fetched just
/// before a rotation still starts a channel: rotating every 7 days keeps that exposure to
/// the last 7 to 14 days, and gives a peer who fetched a bundle at least 7 days to use it.
/// It also bounds the record of joined channels each signed prekey keeps
/// ([`MAX_JOINS_PER_SIGNED_PREKEY`]). Republish the bundles after each rotation
/// ([`CardDirectory::replace_bundles`](crate::CardDirectory::replace_bundles)).
pub const SIGNED_PREKEY_ROTATION_SECS: u64 = 7 * 24 * 60 * 60;

/// How long an unused one-time prekey is kept: 30 days (2,592,000 seconds), the `max_age`
/// to give [`PrekeyStore::expire_one_time_prekeys`].
///
/// A one-time prekey is deleted when a channel joins with it. One that a directory handed
/// out but that no channel ever used stays, and gives forward secrecy only once deleted: a
/// first message that an attacker intercepted (so that it never arrived) can be read by
/// whoever later steals the store, for as long as its one-time prekey is kept. Such
/// prekeys also fill the pool, up to [`MAX_ONE_TIME_PREKEYS`] and
/// [`Error::PrekeyPoolFull`](crate::Error::PrekeyPoolFull). 30 days is far longer than a
/// peer takes between fetching a bundle and sending its first message, and covers a device
/// that was offline for weeks, as long as it reads the first messages waiting for it before
/// it expires prekeys. A first message whose one-time prekey expired fails to join with
/// [`Error::UnknownOneTimePrekey`](crate::Error::UnknownOneTimePrekey); its sender must
/// start again from a fresh bundle.
pub const ONE_TIME_PREKEY_MAX_AGE_SECS: u64 = 30 * 24 * 60 * 60;

/// Fewest one-time prekeys the directory should hold for an identity: 50. When it holds
/// fewer, make [`ONE_TIME_PREKEY_BATCH`] more and publish them
/// ([`PrekeyStore::replenish_one_time_prekeys_at`] does the first half).
///
/// Once a directory has none left it hands out the fallback bundle, which starts a channel
/// on the signed prekey alone (see [`SIGNED_PREKEY_ROTATION_SECS`] for what that costs). 50
/// covers 50 new channels between two upkeeps (daily, say): far more than a person starts
/// in a day, and a burst beyond only falls back.
pub const ONE_TIME_PREKEY_LOW_WATER: usize = 50;

/// How many one-time prekeys to make at a time: 100, about 11 KB in the store and 100
/// bundles (under 3 KB each, with a small card) to upload.
///
/// Together with [`ONE_TIME_PREKEY_LOW_WATER`] it keeps a directory between 50 and 150
/// prekeys deep, with one upload every 50 to 100 new channels rather than one per channel;
/// with [`ONE_TIME_PREKEY_MAX_AGE_SECS`] it bounds the store: upkeep adds at most a batch a
/// day, and nothing stays longer than 30 days, so even a directory drained every day by a
/// stranger keeps the store near 3,000 prekeys, under [`MAX_ONE_TIME_PREKEYS`].
pub const ONE_TIME_PREKEY_BATCH: usize = 100;

/// Upkeep: dropping one-time prekeys, and what the schedule asks for.
impl PrekeyStore {
    /// Drops the one-time prekeys `ids` (their secrets are wiped) and returns how many the
    /// store held. Ids it does not hold (used, dropped before, never made, a signed
    /// prekey's) are passed over: dropping is idempotent. Channels whose first message
    /// names a dropped prekey then fail to join with
    /// [`Error::UnknownOneTimePrekey`](crate::Error::UnknownOneTimePrekey); drop their
    /// bundles from the directory too
    /// ([`CardDirectory::remove_one_time_bundles`](crate::CardDirectory::remove_one_time_bundles)
    /// or [`replace_bundles`](crate::CardDirectory::replace_bundles)).
    ///
    /// ```
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let mut prekeys = PrekeyStore::new_at(&mut rng, 1_700_000_000);
    /// let ids = prekeys.generate_one_time_prekeys_at(&mut rng, 3, 1_700_000_000)?;
    /// assert_eq!(prekeys.remove_one_time_prekeys(&[ids[0], ids[2], ids[2], 999]), 2);
    /// assert_eq!(prekeys.one_time_prekey_ids(), vec![ids[1]]);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn remove_one_time_prekeys(&mut self, ids: &[u32]) -> usize {
        let mut removed = 0;
        for id in ids {
            if self.one_time.remove(id).is_some() {
                removed += 1;
            }
        }
        removed
    }

    /// Drops every one-time prekey made `max_age` seconds or more before `now` (seconds
    /// since the Unix epoch), wiping its secrets, and returns their ids, ascending. Give
    /// `max_age` [`ONE_TIME_PREKEY_MAX_AGE_SECS`] unless the app has reasons for another.
    ///
    /// A prekey of unknown age (made without a time, or loaded from a state saved before
    /// prekeys had times) is not dropped: it is given `now` as its time, so it is dropped
    /// `max_age` after the first expiry that saw it. A prekey made after `now` (the clock
    /// went back) is kept. Read the first messages waiting for the device before expiring,
    /// and then drop the expired prekeys' bundles from the directory
    /// ([`CardDirectory::remove_one_time_bundles`](crate::CardDirectory::remove_one_time_bundles)
    /// or [`replace_bundles`](crate::CardDirectory::replace_bundles)).
    ///
    /// ```
    /// use ratchetkit::identity::ONE_TIME_PREKEY_MAX_AGE_SECS;
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let day = 24 * 60 * 60;
    /// let start = 1_700_000_000;
    /// let mut prekeys = PrekeyStore::new_at(&mut rng, start);
    /// let old = prekeys.generate_one_time_prekeys_at(&mut rng, 2, start)?;
    /// let young = prekeys.generate_one_time_prekeys_at(&mut rng, 1, start + 20 * day)?;
    /// let now = start + 30 * day;
    /// assert_eq!(prekeys.expire_one_time_prekeys(now, ONE_TIME_PREKEY_MAX_AGE_SECS), old);
    /// assert_eq!(prekeys.one_time_prekey_ids(), young);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn expire_one_time_prekeys(&mut self, now: u64, max_age: u64) -> Vec<u32> {
        let mut expired = Vec::new();
        for (id, prekey) in &mut self.one_time {
            if prekey.created_at == 0 {
                prekey.created_at = now;
            } else if now
                .checked_sub(prekey.created_at)
                .is_some_and(|age| age >= max_age)
            {
                expired.push(*id);
            }
        }
        // Dropped in place (the boxes are freed, never moved out), so each secret is
        // wiped where it was made.
        self.remove_one_time_prekeys(&expired);
        expired
    }

    /// Whether the signed prekey should be rotated at `now` (seconds since the Unix epoch):
    /// it was made [`SIGNED_PREKEY_ROTATION_SECS`] or more before `now`, or at an unknown
    /// time (0: made without a time, or loaded from a state saved before prekeys had
    /// times), or it has started half of the [`MAX_JOINS_PER_SIGNED_PREKEY`] channels it
    /// may. A signed prekey made after `now` (the clock went back) is not due.
    ///
    /// ```
    /// use ratchetkit::identity::SIGNED_PREKEY_ROTATION_SECS;
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let start = 1_700_000_000;
    /// let prekeys = PrekeyStore::new_at(&mut rng, start);
    /// assert!(!prekeys.signed_prekey_rotation_due(start + SIGNED_PREKEY_ROTATION_SECS - 1));
    /// assert!(prekeys.signed_prekey_rotation_due(start + SIGNED_PREKEY_ROTATION_SECS));
    /// assert!(PrekeyStore::new(&mut rng).signed_prekey_rotation_due(start));
    /// ```
    pub fn signed_prekey_rotation_due(&self, now: u64) -> bool {
        let created_at = self.current.prekey.created_at;
        created_at == 0
            || now
                .checked_sub(created_at)
                .is_some_and(|age| age >= SIGNED_PREKEY_ROTATION_SECS)
            || self.current.joined.len() >= MAX_JOINS_PER_SIGNED_PREKEY / 2
    }

    /// Makes [`ONE_TIME_PREKEY_BATCH`] one-time prekeys at `now` (seconds since the Unix
    /// epoch) if `published`, how many the directory still holds for the identity
    /// ([`CardDirectory::one_time_prekey_count`](crate::CardDirectory::one_time_prekey_count)),
    /// is below [`ONE_TIME_PREKEY_LOW_WATER`], and returns their ids; none otherwise. It
    /// makes fewer if the pool has room for fewer (up to [`MAX_ONE_TIME_PREKEYS`]), and none
    /// when it is full: expiring frees room. Publish the new prekeys' bundles next.
    ///
    /// The directory's count decides rather than the store's: the store also holds the
    /// prekeys handed out to peers who have not written yet.
    ///
    /// ```
    /// use ratchetkit::identity::{ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_LOW_WATER};
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let now = 1_700_000_000;
    /// let mut prekeys = PrekeyStore::new_at(&mut rng, now);
    /// let made = prekeys.replenish_one_time_prekeys_at(&mut rng, 0, now);
    /// assert_eq!(made.len(), ONE_TIME_PREKEY_BATCH);
    /// let none = prekeys.replenish_one_time_prekeys_at(&mut rng, ONE_TIME_PREKEY_LOW_WATER, now);
    /// assert!(none.is_empty());
    /// ```
    pub fn replenish_one_time_prekeys_at<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        published: usize,
        now: u64,
    ) -> Vec<u32> {
        if published >= ONE_TIME_PREKEY_LOW_WATER {
            return Vec::new();
        }
        let room = MAX_ONE_TIME_PREKEYS.saturating_sub(self.one_time.len());
        // Within the room, so never PrekeyPoolFull.
        self.generate_one_time_prekeys_at(rng, ONE_TIME_PREKEY_BATCH.min(room), now)
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::identity::prekeys::JOINED_ID_LEN;
    use crate::Identity;
    use rand::SeedableRng;

    const DAY: u64 = 24 * 60 * 60;
    const START: u64 = 1_700_000_000;

    #[test]
    fn expiry_keeps_prekeys_from_the_future_and_max_age_zero_drops_the_rest() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(11);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        let past = store
            .generate_one_time_prekeys_at(&mut rng, 1, START)
            .unwrap();
        let future = store
            .generate_one_time_prekeys_at(&mut rng, 1, START + DAY)
            .unwrap();
        // The clock went back a little: nothing is old enough, the future one least.
        assert!(store.expire_one_time_prekeys(START - 1, 0).is_empty());
        assert_eq!(store.expire_one_time_prekeys(START, 0), past);
        assert_eq!(store.one_time_prekey_ids(), future);
        assert!(!store.signed_prekey_rotation_due(START - 1));
    }

    #[test]
    fn removing_prekeys_is_idempotent_and_ignores_signed_prekeys() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(12);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        let ids = store
            .generate_one_time_prekeys_at(&mut rng, 4, START)
            .unwrap();
        let signed = store.signed_prekey_id();
        assert_eq!(store.remove_one_time_prekeys(&[signed, ids[1], ids[1]]), 1);
        assert_eq!(store.remove_one_time_prekeys(&[ids[1]]), 0);
        assert_eq!(store.remove_one_time_prekeys(&[]), 0);
        assert_eq!(store.signed_prekey_id(), signed);
        assert_eq!(store.one_time_prekey_ids(), vec![ids[0], ids[2], ids[3]]);
        assert_eq!(
            store
                .bundle(
                    &Identity::generate_at(&mut rng, "bob", START).unwrap(),
                    Some(ids[1])
                )
                .err(),
            Some(Error::UnknownOneTimePrekey { id: ids[1] })
        );
    }

    #[test]
    fn rotation_is_due_after_a_week_or_half_the_joins() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(13);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        assert!(!store.signed_prekey_rotation_due(START + SIGNED_PREKEY_ROTATION_SECS - 1));
        assert!(store.signed_prekey_rotation_due(START + SIGNED_PREKEY_ROTATION_SECS));
        for n in 0..MAX_JOINS_PER_SIGNED_PREKEY / 2 {
            let mut id = [0u8; JOINED_ID_LEN];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            store.current.joined.insert(id);
        }
        assert!(store.signed_prekey_rotation_due(START));
        store.rotate_signed_prekey_at(&mut rng, START);
        assert!(!store.signed_prekey_rotation_due(START));
    }

    #[test]
    fn replenishing_stops_at_the_pool_limit() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(14);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        store
            .generate_one_time_prekeys_at(&mut rng, MAX_ONE_TIME_PREKEYS - 30, START)
            .unwrap();
        let made = store.replenish_one_time_prekeys_at(&mut rng, 0, START);
        assert_eq!(made.len(), 30);
        assert!(store
            .replenish_one_time_prekeys_at(&mut rng, 0, START)
            .is_empty());
        assert_eq!(store.one_time_prekey_count(), MAX_ONE_TIME_PREKEYS);
        assert!(PrekeyStore::from_bytes(&store.to_bytes()).is_ok());
        assert!(store
            .replenish_one_time_prekeys_at(&mut rng, ONE_TIME_PREKEY_LOW_WATER, START)
            .is_empty());
    }
}
