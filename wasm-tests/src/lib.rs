//! What the wasm32 tests share: seeded generators and fixed times, so that nothing in them
//! needs the host's randomness or clock. On `wasm32-unknown-unknown` std has neither:
//! reading the clock traps, and getrandom would need a JavaScript backend.

#![forbid(unsafe_code)]

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{Channel, Identity, PrekeyStore, Result};

/// The creation time of the identities made here (2023-11-14, seconds since the epoch).
pub const CREATED_AT: u64 = 1_700_000_000;

/// A generator seeded with `seed`: every run draws the same keys.
pub fn seeded(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An identity named `name`, created at [`CREATED_AT`].
///
/// # Errors
/// Those of [`Identity::generate_at`] (a name it refuses).
pub fn identity(rng: &mut ChaCha20Rng, name: &str) -> Result<Identity> {
    Identity::generate_at(rng, name, CREATED_AT)
}

/// A channel between `creator` and `joiner` (who has `prekeys`), started with `first`:
/// the creator's side, then the joiner's.
///
/// # Errors
/// Those of [`Channel::create`], [`Channel::encrypt`] and [`Channel::join`].
pub fn channel_pair(
    rng: &mut ChaCha20Rng,
    creator: &Identity,
    joiner: &Identity,
    prekeys: &mut PrekeyStore,
    first: &[u8],
) -> Result<(Channel, Channel)> {
    let bundle = prekeys.bundle(joiner, None)?;
    let mut to_joiner = Channel::create(rng, creator, &bundle)?;
    let message = to_joiner.encrypt(rng, first)?;
    let joined = Channel::join(joiner, prekeys, &message)?;
    Ok((to_joiner, joined.into_channel()))
}
