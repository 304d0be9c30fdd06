//! Password-locked identities: an identity and its prekey store, encrypted under a key
//! that Argon2id derives from a password, for key files and backups.

use argon2::{Algorithm, Argon2, Block, Params, Version};
use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::{Identity, PrekeyStore};
use crate::crypto::aead::AeadKey;
use crate::error::{Error, Result};
use crate::wire::{self, state};

/// Prefix of the associated data of a locked identity (see [`Identity::lock`]).
pub const LOCKED_IDENTITY_CONTEXT: &[u8] = b"ratchetkit/v1/locked-identity";

/// Length of the random Argon2id salt of a locked identity: 16 bytes, the length RFC 9106
/// recommends. Fresh for every lock, so two locks of one identity under one password give
/// unrelated keys, and no precomputation serves more than one locked file.
pub const LOCK_SALT_LEN: usize = 16;

/// Default Argon2id memory: 64 MiB (65,536 KiB), RFC 9106's second recommended option
/// (section 4), meant for machines with little memory to spare. It is over three times
/// the OWASP minimum ([`MIN_LOCK_MEMORY_KIB`]).
pub const DEFAULT_LOCK_MEMORY_KIB: u32 = 65_536;

/// Default Argon2id passes: 3, with [`DEFAULT_LOCK_MEMORY_KIB`] RFC 9106's second
/// recommended option.
pub const DEFAULT_LOCK_ITERATIONS: u32 = 3;

/// Default Argon2id lanes: 4, as in RFC 9106's second recommended option. The lanes are
/// computed one after another here, so they cost no extra time; they are part of the
/// derivation, and a locked identity keeps the value it was made with.
pub const DEFAULT_LOCK_PARALLELISM: u32 = 4;

/// Least Argon2id memory [`Identity::lock`] accepts: 19 MiB (19,456 KiB), from the
/// cheapest configuration OWASP's Password Storage Cheat Sheet recommends (m = 19 MiB,
/// t = 2, p = 1). Anything cheaper makes a stolen file too easy to brute-force.
pub const MIN_LOCK_MEMORY_KIB: u32 = 19_456;

/// Fewest Argon2id passes [`Identity::lock`] accepts: 2, from the same OWASP
/// configuration as [`MIN_LOCK_MEMORY_KIB`].
pub const MIN_LOCK_ITERATIONS: u32 = 2;

/// Fewest Argon2id lanes [`Identity::lock`] accepts: 1, the least Argon2 allows.
pub const MIN_LOCK_PARALLELISM: u32 = 1;

/// Most Argon2id memory a locked identity may ask for: 1 GiB (1,048,576 KiB), sixteen
/// times the default. The parameters are read from the locked bytes, so without a cap a
/// hostile file could make unlock allocate up to 4 TiB; this one is checked before any
/// memory is allocated.
pub const MAX_LOCK_MEMORY_KIB: u32 = 1_048_576;

/// Most Argon2id passes a locked identity may ask for: 10, over three times the default.
/// With [`MAX_LOCK_MEMORY_KIB`] it bounds the worst unlock a hostile file can cause to
/// 10 GiB of memory passes (seconds, not hours).
pub const MAX_LOCK_ITERATIONS: u32 = 10;

/// Most Argon2id lanes a locked identity may ask for: 16. Lanes do not raise the work
/// (memory and passes do), but each one has fixed costs, and real configurations use 1
/// to 8.
pub const MAX_LOCK_PARALLELISM: u32 = 16;

/// Longest encoded `LockedIdentity`, in bytes: 4 MiB + 65 KiB: the parameters, salt and
/// nonce, and an encrypted identity of at most
/// [`MAX_IDENTITY_STATE_LEN`](crate::limits::MAX_IDENTITY_STATE_LEN) bytes with its prekey
/// store of at most [`MAX_PREKEY_STORE_STATE_LEN`](crate::limits::MAX_PREKEY_STORE_STATE_LEN).
/// Locked files come from disk or a backup; checked before decoding.
pub const MAX_LOCKED_IDENTITY_LEN: usize =
    super::MAX_IDENTITY_STATE_LEN + super::prekeys::MAX_PREKEY_STORE_STATE_LEN + 1024;

/// Length of the AES-256-GCM nonce of a locked identity.
const NONCE_LEN: usize = 12;

/// Argon2id cost parameters of a locked identity.
///
/// They are stored in the locked bytes and read back by [`Identity::unlock`], so raising
/// them later (by locking again) needs no change to the code that unlocks.
/// [`LockParams::new`] accepts each from its `MIN_LOCK_*` to its `MAX_LOCK_*` constant, as
/// does [`Identity::lock`]; unlock accepts any value up to the maximum, so
/// [`LockParams::of_locked`] may return parameters below the minimums (a file locked by a
/// version that allowed them).
///
/// ```
/// use ratchetkit::identity::{DEFAULT_LOCK_ITERATIONS, DEFAULT_LOCK_MEMORY_KIB, DEFAULT_LOCK_PARALLELISM};
/// use ratchetkit::{Error, LockParams};
/// let params = LockParams::default();
/// assert_eq!(params.memory_kib(), DEFAULT_LOCK_MEMORY_KIB); // 64 MiB
/// let stronger = LockParams::new(256 * 1024, DEFAULT_LOCK_ITERATIONS, DEFAULT_LOCK_PARALLELISM)?;
/// assert_eq!(stronger.memory_kib(), 256 * 1024);
/// assert!(matches!(
///     LockParams::new(1024, 1, 1),
///     Err(Error::WeakLockParams { parameter: "memory_kib", .. })
/// ));
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct LockParams {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Default for LockParams {
    /// RFC 9106's second recommended option: 64 MiB, 3 passes, 4 lanes.
    fn default() -> Self {
        Self {
            memory_kib: DEFAULT_LOCK_MEMORY_KIB,
            iterations: DEFAULT_LOCK_ITERATIONS,
            parallelism: DEFAULT_LOCK_PARALLELISM,
        }
    }
}

impl LockParams {
    /// Parameters to lock with: `memory_kib` KiB of memory (Argon2's `m`), `iterations`
    /// passes over it (`t`) and `parallelism` lanes (`p`).
    ///
    /// # Errors
    /// [`Error::WeakLockParams`] for a value under its minimum ([`MIN_LOCK_MEMORY_KIB`],
    /// [`MIN_LOCK_ITERATIONS`], [`MIN_LOCK_PARALLELISM`]): the password would be too cheap
    /// to guess; [`Error::LockParamsTooHigh`] for one over its maximum
    /// ([`MAX_LOCK_MEMORY_KIB`], [`MAX_LOCK_ITERATIONS`], [`MAX_LOCK_PARALLELISM`]):
    /// nothing could unlock the result.
    pub fn new(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        params.check_for_lock()?;
        Ok(params)
    }

    /// Memory, in KiB (Argon2's `m`).
    pub fn memory_kib(&self) -> u32 {
        self.memory_kib
    }

    /// Passes over the memory (Argon2's `t`).
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Lanes (Argon2's `p`).
    pub fn parallelism(&self) -> u32 {
        self.parallelism
    }

    /// The parameters a locked identity was made with, read without the password (to
    /// decide whether to lock it again with stronger ones).
    ///
    /// # Errors
    /// As [`Identity::unlock`] for malformed or hostile bytes.
    pub fn of_locked(locked: &[u8]) -> Result<Self> {
        Ok(Envelope::parse(locked)?.params)
    }

    fn each(&self) -> [(&'static str, u32, u32, u32); 3] {
        [
            (
                "memory_kib",
                self.memory_kib,
                MIN_LOCK_MEMORY_KIB,
                MAX_LOCK_MEMORY_KIB,
            ),
            (
                "iterations",
                self.iterations,
                MIN_LOCK_ITERATIONS,
                MAX_LOCK_ITERATIONS,
            ),
            (
                "parallelism",
                self.parallelism,
                MIN_LOCK_PARALLELISM,
                MAX_LOCK_PARALLELISM,
            ),
        ]
    }

    fn check_maximums(&self) -> Result<()> {
        for (parameter, found, _, maximum) in self.each() {
            if found > maximum {
                return Err(Error::LockParamsTooHigh {
                    parameter,
                    found,
                    maximum,
                });
            }
        }
        Ok(())
    }

    fn check_for_lock(&self) -> Result<()> {
        for (parameter, found, minimum, _) in self.each() {
            if found < minimum {
                return Err(Error::WeakLockParams { parameter, minimum });
            }
        }
        self.check_maximums()
    }

    /// Parameters read back from storage (such as the password parameters a
    /// `client::SqliteStore` keeps): as in unlock, only the maximums are checked, so that
    /// raising the minimums later locks no one out.
    #[cfg(all(feature = "sqlite", not(target_family = "wasm")))]
    pub(crate) fn stored(memory_kib: u32, iterations: u32, parallelism: u32) -> Result<Self> {
        let params = Self {
            memory_kib,
            iterations,
            parallelism,
        };
        params.check_maximums()?;
        Ok(params)
    }

    /// Argon2id(password, salt) with these parameters: the AES-256-GCM key (also a
    /// password-derived [`StorageKey`](crate::StorageKey)). Its working memory is wiped.
    pub(crate) fn derive_key(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        // Unlock checks only the maximums (minimums may rise in later versions without
        // locking anyone out), so Argon2's own rules (m >= 8p >= 8, t >= 1) are checked
        // here: a file that breaks them was not made by `lock`.
        let params = Params::new(self.memory_kib, self.iterations, self.parallelism, Some(32))
            .map_err(|_| Error::InvalidState {
                reason: "locked identity has Argon2id parameters Argon2 does not allow",
            })?;
        let mut memory = working_memory(params.block_count())?;
        let mut key = Zeroizing::new([0u8; 32]);
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password_into_with_memory(password, salt, key.as_mut_slice(), &mut *memory)
            .map_err(|_| Error::KeyDerivationFailed)?;
        Ok(key)
    }
}

/// Argon2id's working memory, `blocks` KiB, wiped when dropped (on error paths too).
///
/// argon2's own `hash_password_into` frees its memory without wiping it, and what is left
/// there gives the key away: the last block of each lane is all the final hash needs, so
/// whoever reads that freed memory opens the locked identity without the password.
/// Allocated at its full size at once, so it is never moved; a failed allocation is an
/// error, not an abort.
fn working_memory(blocks: usize) -> Result<Zeroizing<Vec<Block>>> {
    let mut memory = Zeroizing::new(Vec::new());
    memory
        .try_reserve_exact(blocks)
        .map_err(|_| Error::KeyDerivationFailed)?;
    memory.resize(blocks, Block::new());
    Ok(memory)
}

/// A parsed `LockedIdentity` whose framing has been checked.
struct Envelope {
    params: LockParams,
    salt: [u8; LOCK_SALT_LEN],
    nonce: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
}

impl Envelope {
    /// Everything that can be checked without the password, the parameter maximums first
    /// of all, so hostile bytes are refused before Argon2 allocates or runs.
    fn parse(locked: &[u8]) -> Result<Self> {
        let mut message: state::LockedIdentity = wire::decode(locked, "LockedIdentity")?;
        wire::check_version(message.version, "LockedIdentity")?;
        let params = LockParams {
            memory_kib: message.memory_kib,
            iterations: message.iterations,
            parallelism: message.parallelism,
        };
        params.check_maximums()?;
        Ok(Self {
            params,
            salt: wire::fixed(&message.salt, "locked identity salt")?,
            nonce: wire::fixed(&message.nonce, "locked identity nonce")?,
            ciphertext: core::mem::take(&mut message.ciphertext),
        })
    }

    /// Associated data: the context, then be32 of the version and each parameter, then the
    /// salt, so none of them can be changed or swapped without failing the tag.
    fn associated_data(params: &LockParams, salt: &[u8; LOCK_SALT_LEN]) -> Vec<u8> {
        let mut aad = LOCKED_IDENTITY_CONTEXT.to_vec();
        for field in [1, params.memory_kib, params.iterations, params.parallelism] {
            aad.extend_from_slice(&field.to_be_bytes());
        }
        aad.extend_from_slice(salt);
        aad
    }
}

impl Identity {
    /// Locks this identity and its prekey store with a password: every private key, for a
    /// key file or a backup that only the password opens.
    ///
    /// The key is Argon2id(password, a fresh random 16-byte salt, `params`), which
    /// encrypts both with AES-256-GCM under a random nonce; the parameters and salt are
    /// stored with the ciphertext and bound to it (docs/PROTOCOL.md, "Password-locked
    /// identities"). The password is not kept. Each call costs one Argon2id run: with
    /// [`LockParams::default`], 64 MiB and a fraction of a second.
    ///
    /// ```
    /// use ratchetkit::{Error, Identity, LockParams, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let prekeys = PrekeyStore::new(&mut rng);
    /// let locked = alice.lock(&mut rng, &prekeys, b"correct horse", &LockParams::default())?;
    ///
    /// let (again, again_prekeys) = Identity::unlock(&locked, b"correct horse")?;
    /// assert_eq!(again.card(), alice.card());
    /// assert_eq!(*again_prekeys.to_bytes(), *prekeys.to_bytes());
    /// assert_eq!(Identity::unlock(&locked, b"wrong").unwrap_err(), Error::WrongPassword);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::WeakLockParams`] or [`Error::LockParamsTooHigh`] for a parameter outside
    /// its `MIN_LOCK_*..=MAX_LOCK_*` range; [`Error::KeyDerivationFailed`] if the memory
    /// cannot be allocated.
    pub fn lock<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        prekeys: &PrekeyStore,
        password: &[u8],
        params: &LockParams,
    ) -> Result<Vec<u8>> {
        params.check_for_lock()?;
        let mut salt = [0u8; LOCK_SALT_LEN];
        rng.fill_bytes(&mut salt);
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let key = params.derive_key(password, &salt)?;
        // The serializations move into the payload, which wipes itself when dropped.
        let payload = state::LockedIdentityPayload {
            identity: core::mem::take(&mut *self.to_bytes()),
            prekeys: core::mem::take(&mut *prekeys.to_bytes()),
        };
        let plaintext = Zeroizing::new(payload.encode_to_vec());
        let ciphertext = AeadKey::new(key, nonce)
            .encrypt(&Envelope::associated_data(params, &salt), &plaintext)?;
        Ok(state::LockedIdentity {
            version: 1,
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
            salt: salt.to_vec(),
            nonce: nonce.to_vec(),
            ciphertext,
        }
        .encode_to_vec())
    }

    /// Opens bytes made by [`Identity::lock`] with the password they were locked with.
    ///
    /// The Argon2id parameters are read from `locked`; values over the `MAX_LOCK_*`
    /// constants are refused before any expensive work. Example: [`Identity::lock`].
    ///
    /// # Errors
    /// [`Error::WrongPassword`] for a wrong password or altered bytes (the two cannot be
    /// told apart); [`Error::Decode`], [`Error::UnsupportedVersion`],
    /// [`Error::InvalidLength`] or [`Error::InvalidState`] for bytes that are not a locked
    /// identity; [`Error::LockParamsTooHigh`] for hostile parameters;
    /// [`Error::KeyDerivationFailed`] if the memory cannot be allocated.
    pub fn unlock(locked: &[u8], password: &[u8]) -> Result<(Identity, PrekeyStore)> {
        let envelope = Envelope::parse(locked)?;
        let key = envelope.params.derive_key(password, &envelope.salt)?;
        let plaintext = Zeroizing::new(
            AeadKey::new(key, envelope.nonce)
                .decrypt(
                    &Envelope::associated_data(&envelope.params, &envelope.salt),
                    &envelope.ciphertext,
                )
                .map_err(|_| Error::WrongPassword)?,
        );
        let payload: state::LockedIdentityPayload =
            wire::decode_secret(&plaintext, "LockedIdentityPayload")?;
        Ok((
            Identity::from_bytes(&payload.identity)?,
            PrekeyStore::from_bytes(&payload.prekeys)?,
        ))
    }

    /// Locks the identity in `locked` again under `new_password`, with the same parameters
    /// and a fresh salt and nonce. The identity and prekeys are unchanged; the old bytes
    /// still open with the old password, so replace them. To raise the parameters,
    /// [`unlock`](Identity::unlock) and [`lock`](Identity::lock) instead.
    ///
    /// ```
    /// use ratchetkit::{Error, Identity, LockParams, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// # let alice = Identity::generate(&mut rng, "alice")?;
    /// # let prekeys = PrekeyStore::new(&mut rng);
    /// # let locked = alice.lock(&mut rng, &prekeys, b"old", &LockParams::default())?;
    /// let relocked = Identity::change_password(&mut rng, &locked, b"old", b"new")?;
    /// assert_eq!(Identity::unlock(&relocked, b"old").unwrap_err(), Error::WrongPassword);
    /// assert_eq!(Identity::unlock(&relocked, b"new")?.0.card(), alice.card());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Identity::unlock`] with `old_password`, and as [`Identity::lock`] if the stored
    /// parameters are below today's minimums.
    pub fn change_password<R: CryptoRng + ?Sized>(
        rng: &mut R,
        locked: &[u8],
        old_password: &[u8],
        new_password: &[u8],
    ) -> Result<Vec<u8>> {
        let params = LockParams::of_locked(locked)?;
        let (identity, prekeys) = Identity::unlock(locked, old_password)?;
        identity.lock(rng, &prekeys, new_password, &params)
    }
}
