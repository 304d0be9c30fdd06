//! Prekey upkeep through the client over simulated weeks: the directory never runs out of
//! one-time bundles, never hands out a stale one, and the device's prekeys stay bounded.

use std::convert::Infallible;

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::client::{Client, ClientError, MemoryStore};
use ratchetkit::identity::{ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_MAX_AGE_SECS};
use ratchetkit::{CardDirectory, InMemoryDirectory, StorageKey};

const DAY: u64 = 24 * 60 * 60;
const START: u64 = 1_700_000_000;

#[test]
fn eight_weeks_of_upkeep_keep_the_directory_stocked_and_fresh(
) -> Result<(), ClientError<Infallible>> {
    let mut rng = ChaCha20Rng::seed_from_u64(9);
    let mut directory = InMemoryDirectory::default();
    let key = StorageKey::generate(&mut rng);
    let mut bob = Client::create(&mut rng, MemoryStore::new(), key, "bob", START)?;
    bob.publish(&mut directory)?;
    let first = bob.upkeep(&mut rng, START, &mut directory)?;
    assert_eq!(first.added.len(), ONE_TIME_PREKEY_BATCH);
    let bob_list = bob.device_list().expect("first device").to_bytes();
    let fingerprint = bob.device_card().fingerprint();
    let (mut rotations, mut expired, mut joined) = (0, 0, 0);

    for day in 0..56u64 {
        let now = START + day * DAY;
        // Thirty bundles a day are fetched; one of them starts a channel, the others are
        // handed out and never used (apps that crashed, or attackers draining the pool).
        for fetch in 0..30 {
            let bundle = directory.find_bundle(&fingerprint)?.expect("a bundle");
            assert!(
                bundle.one_time_prekey_id().is_some(),
                "ran out on day {day}"
            );
            if fetch == 0 {
                let key = StorageKey::generate(&mut rng);
                let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", now)?;
                let account = alice.add_contact(&mut rng, &bob_list)?;
                alice.start_sessions(&mut rng, &[bundle])?;
                let sent = alice.encrypt_to(&mut rng, account, b"hello")?;
                // Never a stale bundle: every join works.
                assert_eq!(
                    bob.receive(&mut rng, sent[0].bytes())?.message(),
                    Some(&b"hello"[..])
                );
                joined += 1;
            }
        }
        let upkeep = bob.upkeep(&mut rng, now, &mut directory)?;
        rotations += usize::from(upkeep.rotated);
        expired += upkeep.expired.len();
        assert!(directory.one_time_prekey_count(&fingerprint)? > 0);
        // Bounded: what is published, plus what was handed out in the last 30 days.
        let bound = 2 * ONE_TIME_PREKEY_BATCH + 30 * (ONE_TIME_PREKEY_MAX_AGE_SECS / DAY) as usize;
        assert!(
            bob.one_time_prekeys() <= bound,
            "{} prekeys on day {day}",
            bob.one_time_prekeys()
        );
    }
    assert_eq!(joined, 56);
    assert!(rotations >= 7, "{rotations} rotations in 8 weeks");
    assert!(expired > 0, "handed-out prekeys never expired");
    Ok(())
}
