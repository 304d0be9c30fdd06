//! Prekey upkeep over simulated weeks, at the identity level: every day peers fetch the
//! owner's bundles and open channels, some first messages arrive days later and some never,
//! and the owner expires old one-time prekeys, replenishes them below the low-water mark,
//! rotates its signed prekey weekly and replaces the directory's bundles. The directory
//! never runs out of one-time bundles at a reasonable rate, no fetched bundle is stale, every
//! first message that arrives joins, and the store stays bounded.

mod common;

use std::collections::BTreeSet;

use rand::RngExt;
use ratchetkit::identity::{
    MAX_ONE_TIME_PREKEYS, MAX_PREKEY_STORE_STATE_LEN, ONE_TIME_PREKEY_BATCH,
    ONE_TIME_PREKEY_LOW_WATER, ONE_TIME_PREKEY_MAX_AGE_SECS, SIGNED_PREKEY_ROTATION_SECS,
};
use ratchetkit::{CardDirectory, Channel, Identity, InMemoryDirectory, PrekeyBundle, PrekeyStore};

use common::{identity, rng, TestRng, CREATED_AT};

const DAY: u64 = 24 * 60 * 60;

/// Days a first message may take to arrive: under a rotation period, so that the signed
/// prekey of any bundle fetched is still held (as the previous one at worst) when it does.
const MAX_DELAY_DAYS: u64 = SIGNED_PREKEY_ROTATION_SECS / DAY - 1;

/// The owner: its identity and its prekey store.
struct Owner {
    identity: Identity,
    store: PrekeyStore,
}

/// What one upkeep did.
struct Upkeep {
    expired: Vec<u32>,
    made: usize,
    rotated: bool,
}

impl Owner {
    /// An owner whose store was made by a version without prekey times: every time is
    /// unknown, and its bundles were published the old way.
    fn upgraded(rng: &mut TestRng, directory: &mut InMemoryDirectory) -> Self {
        let identity = identity(rng, "bob");
        let mut store = PrekeyStore::new(rng);
        store
            .generate_one_time_prekeys(rng, 20)
            .expect("one-time prekeys");
        directory.publish(identity.card().clone()).expect("card");
        directory
            .publish_prekeys(&identity, &store)
            .expect("bundles");
        Self { identity, store }
    }

    /// The daily upkeep, after the day's first messages were read, in the order the
    /// documentation gives; the store is then saved and, if `reload`, loaded, as an app
    /// does between runs.
    fn upkeep(
        &mut self,
        rng: &mut TestRng,
        directory: &mut InMemoryDirectory,
        now: u64,
        reload: bool,
    ) -> Upkeep {
        let expired = self
            .store
            .expire_one_time_prekeys(now, ONE_TIME_PREKEY_MAX_AGE_SECS);
        let removed = directory
            .remove_one_time_bundles(&self.identity, &expired)
            .expect("remove");
        assert!(removed <= expired.len());
        let fingerprint = self.identity.card().fingerprint();
        let published = directory
            .one_time_prekey_count(&fingerprint)
            .expect("count");
        let made = self
            .store
            .replenish_one_time_prekeys_at(rng, published, now)
            .len();
        let rotated = self.store.signed_prekey_rotation_due(now);
        if rotated {
            self.store.rotate_signed_prekey_at(rng, now);
        }
        directory
            .replace_bundles(&self.identity, &self.store)
            .expect("replace");
        let saved = self.store.to_bytes();
        assert!(saved.len() <= MAX_PREKEY_STORE_STATE_LEN);
        if reload {
            self.store = PrekeyStore::from_bytes(&saved).expect("reload");
        }
        Upkeep {
            expired,
            made,
            rotated,
        }
    }

    /// A bundle fetched the way a client that trusts the owner's key does, checked against
    /// the owner's store: its signed prekey is the current one, and its one-time prekey is
    /// held and not older than the maximum age.
    fn fetch(&self, directory: &mut InMemoryDirectory, now: u64) -> PrekeyBundle {
        let key = self.identity.card().signing_key();
        let card = directory
            .find_by_signing_key(&key)
            .expect("find")
            .expect("the owner's card");
        let card = directory.find_newest(&card).expect("newest");
        let bundle = directory
            .find_bundle(&card.fingerprint())
            .expect("find bundle")
            .expect("a bundle");
        let bundle = PrekeyBundle::from_bytes(&bundle.to_bytes()).expect("verifies");
        assert_eq!(bundle.signed_prekey_id(), self.store.signed_prekey_id());
        let id = bundle
            .one_time_prekey_id()
            .expect("the directory never runs out of one-time bundles");
        let created_at = self
            .store
            .one_time_prekey_created_at(id)
            .expect("the one-time prekey is held");
        // Expiry runs at each upkeep, the last one a day ago: at most the maximum age.
        assert!(now - created_at <= ONE_TIME_PREKEY_MAX_AGE_SECS);
        bundle
    }
}

/// A first message on its way to the owner.
struct InFlight {
    arrives_on: u64,
    message: Vec<u8>,
    one_time: u32,
    sender: usize,
}

#[test]
fn weeks_of_upkeep_keep_bundles_fresh_and_the_store_bounded() {
    const BUSY_DAYS: u64 = 42;
    const QUIET_DAYS: u64 = 35;
    let mut rng = rng(1);
    let mut directory = InMemoryDirectory::default();
    let mut owner = Owner::upgraded(&mut rng, &mut directory);
    let fingerprint = owner.identity.card().fingerprint();
    let peers: Vec<Identity> = (0..8)
        .map(|n| identity(&mut rng, &format!("peer {n}")))
        .collect();
    let mut in_flight: Vec<InFlight> = Vec::new();
    // One-time prekeys handed out whose first message was lost.
    let mut lost = BTreeSet::new();
    // The upgraded app's first upkeep: the unknown times make the signed prekey due at
    // once, and date the one-time prekeys.
    let first = owner.upkeep(&mut rng, &mut directory, CREATED_AT, true);
    assert!(first.rotated && first.expired.is_empty());
    assert_eq!(first.made, ONE_TIME_PREKEY_BATCH);
    let (mut joined, mut expired, mut rotations) = (0, 0, 1);

    for day in 0..BUSY_DAYS + QUIET_DAYS {
        let now = CREATED_AT + day * DAY;
        let busy = day < BUSY_DAYS;
        // Busy: up to the low-water mark of new channels a day, a tenth of the first
        // messages lost and the rest up to MAX_DELAY_DAYS late. Quiet: a channel every few
        // days, read the same day, while unused prekeys grow old in the directory.
        let fetches = if busy {
            rng.random_range(0..=ONE_TIME_PREKEY_LOW_WATER)
        } else {
            usize::from(rng.random_range(0..3u8) == 0)
        };
        for _ in 0..fetches {
            let bundle = owner.fetch(&mut directory, now);
            let sender = rng.random_range(0..peers.len());
            let mut channel = Channel::create(&mut rng, &peers[sender], &bundle).expect("create");
            let message = channel.encrypt(&mut rng, b"hello bob").expect("encrypt");
            let one_time = bundle.one_time_prekey_id().expect("one-time");
            if busy && rng.random_range(0..10u8) == 0 {
                lost.insert(one_time);
                continue;
            }
            let delay = if busy {
                rng.random_range(0..=MAX_DELAY_DAYS)
            } else {
                0
            };
            in_flight.push(InFlight {
                arrives_on: day + delay,
                message,
                one_time,
                sender,
            });
        }

        // The first messages that arrive today are read before the upkeep.
        let (arriving, later): (Vec<_>, Vec<_>) = in_flight
            .drain(..)
            .partition(|first| first.arrives_on == day);
        in_flight = later;
        for first in arriving {
            let result = Channel::join(&owner.identity, &mut owner.store, &first.message);
            let joined_channel = result.unwrap_or_else(|error| {
                panic!(
                    "day {day}: a first message on one-time prekey {} failed: {error}",
                    first.one_time
                )
            });
            assert_eq!(joined_channel.plaintext(), b"hello bob");
            assert_eq!(joined_channel.peer(), peers[first.sender].card());
            assert_eq!(owner.store.one_time_prekey_created_at(first.one_time), None);
            joined += 1;
        }

        let upkeep = owner.upkeep(&mut rng, &mut directory, now, true);
        for id in &upkeep.expired {
            assert!(
                !in_flight.iter().any(|first| first.one_time == *id),
                "day {day}: one-time prekey {id} expired with its first message on the way"
            );
            lost.remove(id);
        }
        expired += upkeep.expired.len();
        rotations += usize::from(upkeep.rotated);

        // The signed prekey is never older than a rotation period...
        assert!(now - owner.store.signed_prekey_created_at() < SIGNED_PREKEY_ROTATION_SECS);
        // ...the directory holds at least the low-water mark, and less than a batch more...
        let published = directory
            .one_time_prekey_count(&fingerprint)
            .expect("count");
        assert!(
            (ONE_TIME_PREKEY_LOW_WATER..ONE_TIME_PREKEY_LOW_WATER + ONE_TIME_PREKEY_BATCH)
                .contains(&published),
            "day {day}: {published} one-time bundles"
        );
        // ...and every one-time prekey the store holds is in the directory, on its way in a
        // first message, or handed out for a message that was lost (and not expired yet).
        assert_eq!(
            owner.store.one_time_prekey_count(),
            published + in_flight.len() + lost.len(),
            "day {day}"
        );
        let ids: BTreeSet<u32> = owner.store.one_time_prekey_ids().into_iter().collect();
        assert!(in_flight.iter().all(|first| ids.contains(&first.one_time)));
        assert!(lost.iter().all(|id| ids.contains(id)));
    }

    assert!(in_flight.is_empty());
    // Rotated at the first upkeep, then weekly.
    let days = BUSY_DAYS + QUIET_DAYS;
    assert_eq!(
        rotations as u64,
        1 + (days - 1) / (SIGNED_PREKEY_ROTATION_SECS / DAY)
    );
    assert!(joined > 500, "{joined} channels joined");
    // Lost first messages and the quiet weeks left prekeys to expire.
    assert!(expired > ONE_TIME_PREKEY_BATCH, "{expired} expired");
    assert!(owner.store.one_time_prekey_count() < 2 * ONE_TIME_PREKEY_BATCH);
}

/// A stranger who takes every one-time bundle every day and never writes makes the owner
/// replenish daily; expiry keeps the store near a batch a day for the maximum age.
#[test]
fn a_directory_drained_every_day_keeps_the_store_bounded() {
    let mut rng = rng(2);
    let mut directory = InMemoryDirectory::default();
    let bob = identity(&mut rng, "bob");
    directory.publish(bob.card().clone()).expect("card");
    let mut owner = Owner {
        identity: bob,
        store: PrekeyStore::new_at(&mut rng, CREATED_AT),
    };
    let fingerprint = owner.identity.card().fingerprint();
    let max_age_days = ONE_TIME_PREKEY_MAX_AGE_SECS / DAY;
    let bound = ONE_TIME_PREKEY_BATCH * (max_age_days as usize + 1);
    let mut largest = 0;
    for day in 0..2 * max_age_days {
        let now = CREATED_AT + day * DAY;
        // Saved every day, loaded once a week (loading 3,000 prekeys is the slow part).
        let upkeep = owner.upkeep(&mut rng, &mut directory, now, day % 7 == 6);
        assert_eq!(upkeep.made, ONE_TIME_PREKEY_BATCH, "day {day}");
        let expected_expired = if day >= max_age_days {
            ONE_TIME_PREKEY_BATCH
        } else {
            0
        };
        assert_eq!(upkeep.expired.len(), expected_expired, "day {day}");
        assert_eq!(
            directory.one_time_prekey_count(&fingerprint),
            Ok(ONE_TIME_PREKEY_BATCH)
        );
        let held = owner.store.one_time_prekey_count();
        assert!(held <= bound && bound <= MAX_ONE_TIME_PREKEYS);
        largest = largest.max(held);
        // The stranger drains the directory down to the fallback.
        let mut taken = 0;
        while let Some(bundle) = directory.find_bundle(&fingerprint).expect("bundle") {
            if bundle.one_time_prekey_id().is_none() {
                break;
            }
            taken += 1;
        }
        assert_eq!(taken, ONE_TIME_PREKEY_BATCH);
        assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(0));
    }
    assert_eq!(largest, ONE_TIME_PREKEY_BATCH * max_age_days as usize);
}

/// Republishing, the old way or by replacing, never brings back a one-time prekey handed
/// out before, and dropping handed-out prekeys from the store leaves the directory's
/// bundles as they were.
#[test]
fn handed_out_prekeys_stay_handed_out_through_republishing() {
    let mut rng = rng(3);
    let mut directory = InMemoryDirectory::default();
    let mut owner = Owner::upgraded(&mut rng, &mut directory);
    let fingerprint = owner.identity.card().fingerprint();
    let now = CREATED_AT;
    owner.upkeep(&mut rng, &mut directory, now, true);
    let handed_out: Vec<u32> = (0..10)
        .map(|_| {
            owner
                .fetch(&mut directory, now)
                .one_time_prekey_id()
                .expect("one-time")
        })
        .collect();
    let count = directory
        .one_time_prekey_count(&fingerprint)
        .expect("count");
    directory
        .publish_prekeys(&owner.identity, &owner.store)
        .expect("again");
    directory
        .replace_bundles(&owner.identity, &owner.store)
        .expect("replace");
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(count));
    owner.store.remove_one_time_prekeys(&handed_out);
    directory
        .replace_bundles(&owner.identity, &owner.store)
        .expect("replace");
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(count));
    let mut fetched = BTreeSet::new();
    for _ in 0..count {
        let id = owner.fetch(&mut directory, now).one_time_prekey_id();
        assert!(fetched.insert(id.expect("one-time")), "handed out twice");
    }
    assert!(handed_out.iter().all(|id| !fetched.contains(id)));
}
