//! Signed and one-time prekeys, each an X25519 key and an ML-KEM-768 key under one id: the
//! owner's private store. Its upkeep schedule is in `prekeys/upkeep.rs`, the public bundle
//! in `bundle.rs`.

use std::collections::{BTreeMap, BTreeSet};

use rand::CryptoRng;
use zeroize::Zeroizing;

use super::bundle::{OneTimePublic, PrekeyBundle};
use super::Identity;
use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::kem::{KemKeyPair, KEM_SEED_LEN};
use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::storage::PrekeyStoreId;
use crate::wire::{self, state, state_fixed, SavedState};

mod upkeep;

pub use upkeep::{
    ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_LOW_WATER, ONE_TIME_PREKEY_MAX_AGE_SECS,
    SIGNED_PREKEY_ROTATION_SECS,
};

/// Signature context of a signed prekey: Ed25519 over
/// `"ratchetkit/v2/signed-prekey" || be32(id) || X25519 key || ML-KEM-768 key`.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v2/signed-prekey";

/// Signature context of a one-time prekey: Ed25519 over
/// `"ratchetkit/v2/one-time-prekey" || be32(id) || X25519 key || ML-KEM-768 key`. X3DH
/// leaves one-time X25519 prekeys unsigned; an ML-KEM key must be signed (nothing else
/// ties it to its owner), and one signature covers both keys of the pair.
pub const ONE_TIME_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v2/one-time-prekey";

/// Most channels a signed prekey may start, with or without one-time prekeys: 10,000.
///
/// The store remembers each of them (16 bytes of its channel id, 160 KB at most per
/// signed prekey) for as long as it holds the signed prekey, to refuse a replay of their
/// first messages ([`Error::ReplayedFirstMessage`]) and a second channel under the same
/// id (a creator reusing its ephemeral key with another one-time prekey). When a signed
/// prekey has started this many, further joins with it fail with
/// [`Error::SignedPrekeyExhausted`] until it is rotated: a bound on the state, and on what
/// a hostile contact opening channel after channel can make the store keep.
pub const MAX_JOINS_PER_SIGNED_PREKEY: usize = 10_000;

/// Length of what the store keeps of a joined channel's id: 16 bytes. Channel ids are
/// SHA-256 outputs over both identities and a fresh ephemeral key, so 128 bits keep them
/// apart (a collision by chance is a 2^-128 event per pair, and making one on purpose
/// means a second preimage of 128 bits).
const JOINED_ID_LEN: usize = 16;

/// Most one-time prekeys a store holds: 10,000. A directory hands out one per new channel,
/// so a few hundred usually suffice; the bound keeps a saved store (about 115 bytes a
/// prekey: an X25519 secret, an ML-KEM seed and a creation time) near a megabyte and stops
/// a caller from growing it without end.
pub const MAX_ONE_TIME_PREKEYS: usize = 10_000;

/// Longest saved `PrekeyStoreState`, in bytes: 4 MiB. A full store holds
/// [`MAX_ONE_TIME_PREKEYS`] one-time prekeys of about 115 bytes each (1.2 MB) and two
/// signed prekeys with [`MAX_JOINS_PER_SIGNED_PREKEY`] joined channels each (320 KB);
/// checked before a saved store is decoded.
pub const MAX_PREKEY_STORE_STATE_LEN: usize = 4 * 1024 * 1024;

/// One prekey: an X25519 key pair and an ML-KEM-768 key pair (kept as its 64-byte seed)
/// under one id, and when it was made.
struct Prekey {
    id: u32,
    pair: AgreementKeyPair,
    kem: KemKeyPair,
    /// Seconds since the Unix epoch, as the caller gave it; 0 if unknown.
    created_at: u64,
}

impl Prekey {
    fn generate<R: CryptoRng + ?Sized>(rng: &mut R, id: u32, created_at: u64) -> Self {
        Self {
            id,
            pair: AgreementKeyPair::generate(rng),
            kem: KemKeyPair::generate(rng),
            created_at,
        }
    }

    fn to_state(&self, joined: &[u8]) -> state::PrekeyState {
        state::PrekeyState {
            id: self.id,
            secret: self.pair.secret_bytes().to_vec(),
            kem_seed: self.kem.seed().to_vec(),
            joined_channels: joined.to_vec(),
            created_at: self.created_at,
        }
    }

    fn from_state(saved: &state::PrekeyState) -> Result<Self> {
        Ok(Self {
            id: saved.id,
            pair: AgreementKeyPair::from_secret_bytes(state_fixed(
                &saved.secret,
                "prekey secret must be 32 bytes",
            )?),
            kem: KemKeyPair::from_seed(state_fixed::<KEM_SEED_LEN>(
                &saved.kem_seed,
                "ML-KEM seed must be 64 bytes",
            )?),
            // Any time is a valid one: it is the caller's clock, which may go back.
            created_at: saved.created_at,
        })
    }
}

/// A signed prekey with the channels it started.
struct SignedPrekey {
    prekey: Prekey,
    /// The first [`JOINED_ID_LEN`] bytes of each such channel's id.
    joined: BTreeSet<[u8; JOINED_ID_LEN]>,
}

impl SignedPrekey {
    fn new(prekey: Prekey) -> Self {
        Self {
            prekey,
            joined: BTreeSet::new(),
        }
    }

    fn to_state(&self) -> state::PrekeyState {
        self.prekey
            .to_state(&self.joined.iter().flatten().copied().collect::<Vec<u8>>())
    }

    fn from_state(saved: &state::PrekeyState) -> Result<Self> {
        let prekey = Prekey::from_state(saved)?;
        if !saved.joined_channels.len().is_multiple_of(JOINED_ID_LEN)
            || saved.joined_channels.len() / JOINED_ID_LEN > MAX_JOINS_PER_SIGNED_PREKEY
        {
            return Err(Error::InvalidState {
                reason: "joined channels must be at most MAX_JOINS_PER_SIGNED_PREKEY 16-byte ids",
            });
        }
        let mut joined = BTreeSet::new();
        for id in saved.joined_channels.chunks_exact(JOINED_ID_LEN) {
            let id: [u8; JOINED_ID_LEN] = state_fixed(id, "joined channel ids are 16 bytes")?;
            // Ascending and distinct, as written: anything else is not a saved store.
            if joined.last().is_some_and(|last| *last >= id) {
                return Err(Error::InvalidState {
                    reason: "joined channel ids must ascend",
                });
            }
            joined.insert(id);
        }
        Ok(Self { prekey, joined })
    }
}

/// The first bytes of a channel id, as the replay guard keeps them.
fn joined_id(channel: &crate::ChannelId) -> [u8; JOINED_ID_LEN] {
    let mut id = [0u8; JOINED_ID_LEN];
    for (out, byte) in id.iter_mut().zip(channel.as_bytes()) {
        *out = *byte;
    }
    id
}

/// The private side of an identity's prekeys: the current signed prekey, the one before it
/// (kept until it has been replaced twice, so channels started from a slightly old bundle
/// still join), and a pool of one-time prekeys, each usable for one channel. Each prekey
/// carries the time it was made, as the caller gave it (the crate reads no clock), for the
/// upkeep below.
///
/// ```
/// use ratchetkit::{Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let mut prekeys = PrekeyStore::new(&mut rng);
/// let ids = prekeys.generate_one_time_prekeys(&mut rng, 3)?;
/// // Publish one bundle per one-time prekey, plus one without for when they run out.
/// let bundle = prekeys.bundle(&bob, Some(ids[0]))?;
/// assert_eq!(bundle.one_time_prekey_id(), Some(ids[0]));
/// let fallback = prekeys.bundle(&bob, None)?;
/// assert_eq!(fallback.card(), bob.card());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// **Upkeep.** Once a day or so (and after reading the first messages waiting for the
/// device, so that none finds its prekeys expired), an app drops one-time prekeys nobody used
/// within [`ONE_TIME_PREKEY_MAX_AGE_SECS`], makes more when the directory runs low, rotates
/// the signed prekey every [`SIGNED_PREKEY_ROTATION_SECS`], and replaces what the
/// directory holds with bundles of what the store now holds:
///
/// ```
/// use ratchetkit::identity::{ONE_TIME_PREKEY_MAX_AGE_SECS, SIGNED_PREKEY_ROTATION_SECS};
/// use ratchetkit::{CardDirectory, Identity, InMemoryDirectory, PrekeyStore};
/// # let mut rng = rand::rng();
/// let start = 1_700_000_000; // the host's clock, in seconds since the Unix epoch
/// let bob = Identity::generate_at(&mut rng, "bob", start)?;
/// let mut prekeys = PrekeyStore::new_at(&mut rng, start);
/// let mut directory = InMemoryDirectory::default();
/// directory.publish(bob.card().clone())?;
///
/// let upkeep = |prekeys: &mut PrekeyStore, directory: &mut InMemoryDirectory, now| {
///     let expired = prekeys.expire_one_time_prekeys(now, ONE_TIME_PREKEY_MAX_AGE_SECS);
///     directory.remove_one_time_bundles(&bob, &expired)?;
///     let published = directory.one_time_prekey_count(&bob.card().fingerprint())?;
///     prekeys.replenish_one_time_prekeys_at(&mut rand::rng(), published, now);
///     if prekeys.signed_prekey_rotation_due(now) {
///         prekeys.rotate_signed_prekey_at(&mut rand::rng(), now);
///     }
///     directory.replace_bundles(&bob, prekeys)
/// };
/// upkeep(&mut prekeys, &mut directory, start)?;
/// assert_eq!(directory.one_time_prekey_count(&bob.card().fingerprint())?, 100);
/// let first = prekeys.signed_prekey_id();
///
/// // A week later the signed prekey is rotated, and the directory hands out only bundles
/// // of the new one.
/// upkeep(&mut prekeys, &mut directory, start + SIGNED_PREKEY_ROTATION_SECS)?;
/// assert_ne!(prekeys.signed_prekey_id(), first);
/// let bundle = directory.find_bundles("bob")?.remove(0);
/// assert_eq!(bundle.signed_prekey_id(), prekeys.signed_prekey_id());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub struct PrekeyStore {
    /// Fixed at creation from the first signed prekey, so rotations keep it.
    id: PrekeyStoreId,
    current: SignedPrekey,
    previous: Option<SignedPrekey>,
    /// Boxed, so that the map's node moves (when keys are added or consumed) move only a
    /// pointer: each secret stays where it was made until it is dropped and wiped, and no
    /// unwiped copy is left in freed memory.
    one_time: BTreeMap<u32, Box<Prekey>>,
    next_id: u32,
}

/// The private keys a first message names, found in a [`PrekeyStore`].
pub(crate) struct FoundPrekeys<'a> {
    pub(crate) signed: &'a AgreementKeyPair,
    pub(crate) one_time: Option<&'a AgreementKeyPair>,
    /// The one-time prekey's ML-KEM key pair if one was named, else the signed prekey's.
    pub(crate) kem: &'a KemKeyPair,
}

impl PrekeyStore {
    /// A store with a fresh signed prekey and no one-time prekeys, made at an unknown time
    /// (recorded as 0): [`PrekeyStore::signed_prekey_rotation_due`] then holds at once.
    /// Prefer [`PrekeyStore::new_at`] with the host's clock.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::new_at(rng, 0)
    }

    /// A store with a fresh signed prekey made at `now` (seconds since the Unix epoch, from
    /// the host's clock) and no one-time prekeys. It takes the same bytes from `rng` as
    /// [`PrekeyStore::new`].
    ///
    /// ```
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let prekeys = PrekeyStore::new_at(&mut rng, 1_700_000_000);
    /// assert_eq!(prekeys.signed_prekey_created_at(), 1_700_000_000);
    /// assert_eq!(prekeys.previous_signed_prekey_id(), None);
    /// ```
    pub fn new_at<R: CryptoRng + ?Sized>(rng: &mut R, now: u64) -> Self {
        // The id comes from the first signed prekey rather than from fresh randomness, so
        // a store takes the same bytes from `rng` as before it had an id.
        let prekey = Prekey::generate(rng, 0, now);
        let mut store = Self {
            id: PrekeyStoreId::derive(&prekey.pair.public()),
            current: SignedPrekey::new(prekey),
            previous: None,
            one_time: BTreeMap::new(),
            next_id: 1,
        };
        store.current.prekey.id = store.take_id();
        store
    }

    /// The next free prekey id. Ids are shared between signed and one-time prekeys and wrap
    /// around after 2^32; ids still in use are skipped.
    fn take_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            let in_use = id == self.current.prekey.id
                || self.previous.as_ref().is_some_and(|p| p.prekey.id == id)
                || self.one_time.contains_key(&id);
            if !in_use {
                return id;
            }
        }
    }

    /// [`PrekeyStore::rotate_signed_prekey_at`] at an unknown time (recorded as 0), so
    /// [`PrekeyStore::signed_prekey_rotation_due`] holds at once.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        self.rotate_signed_prekey_at(rng, 0);
    }

    /// Replaces the signed prekey (its X25519 and ML-KEM keys) with a fresh one made at
    /// `now` (seconds since the Unix epoch); the current one becomes the previous, and the
    /// previous one is dropped with its record of joined channels. Rotate every
    /// [`SIGNED_PREKEY_ROTATION_SECS`] (see [`PrekeyStore::signed_prekey_rotation_due`]) and
    /// replace the published bundles
    /// ([`CardDirectory::replace_bundles`](crate::CardDirectory::replace_bundles)).
    ///
    /// ```
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let mut prekeys = PrekeyStore::new_at(&mut rng, 1_700_000_000);
    /// let first = prekeys.signed_prekey_id();
    /// prekeys.rotate_signed_prekey_at(&mut rng, 1_700_604_800);
    /// assert_eq!(prekeys.signed_prekey_created_at(), 1_700_604_800);
    /// assert_eq!(prekeys.previous_signed_prekey_id(), Some(first));
    /// assert_eq!(prekeys.previous_signed_prekey_created_at(), Some(1_700_000_000));
    /// ```
    pub fn rotate_signed_prekey_at<R: CryptoRng + ?Sized>(&mut self, rng: &mut R, now: u64) {
        let id = self.take_id();
        let fresh = SignedPrekey::new(Prekey::generate(rng, id, now));
        self.previous = Some(core::mem::replace(&mut self.current, fresh));
    }

    /// [`PrekeyStore::generate_one_time_prekeys_at`] at an unknown time (recorded as 0):
    /// [`PrekeyStore::expire_one_time_prekeys`] counts their age from the first time it
    /// sees them.
    ///
    /// # Errors
    /// [`Error::PrekeyPoolFull`] if the pool would exceed [`MAX_ONE_TIME_PREKEYS`]; nothing
    /// is added then.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
    ) -> Result<Vec<u32>> {
        self.generate_one_time_prekeys_at(rng, count, 0)
    }

    /// Adds `count` fresh one-time prekeys (each an X25519 and an ML-KEM-768 key pair) made
    /// at `now` (seconds since the Unix epoch) and returns their ids, ascending (until ids
    /// wrap around after 2^32).
    ///
    /// ```
    /// use ratchetkit::PrekeyStore;
    /// # let mut rng = rand::rng();
    /// let mut prekeys = PrekeyStore::new_at(&mut rng, 1_700_000_000);
    /// let ids = prekeys.generate_one_time_prekeys_at(&mut rng, 2, 1_700_000_100)?;
    /// assert_eq!(prekeys.one_time_prekey_count(), 2);
    /// assert_eq!(prekeys.one_time_prekey_created_at(ids[1]), Some(1_700_000_100));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::PrekeyPoolFull`] if the pool would exceed [`MAX_ONE_TIME_PREKEYS`]; nothing
    /// is added then.
    pub fn generate_one_time_prekeys_at<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
        now: u64,
    ) -> Result<Vec<u32>> {
        if self.one_time.len().saturating_add(count) > MAX_ONE_TIME_PREKEYS {
            return Err(Error::PrekeyPoolFull {
                max: MAX_ONE_TIME_PREKEYS,
            });
        }
        let mut ids = Vec::with_capacity(count);
        for _ in 0..count {
            let id = self.take_id();
            self.one_time
                .insert(id, Box::new(Prekey::generate(rng, id, now)));
            ids.push(id);
        }
        Ok(ids)
    }

    /// The store's id, which its sealed state is bound to (see [`PrekeyStoreId`]).
    pub fn id(&self) -> PrekeyStoreId {
        self.id
    }

    /// The id of the current signed prekey.
    pub fn signed_prekey_id(&self) -> u32 {
        self.current.prekey.id
    }

    /// When the current signed prekey was made (seconds since the Unix epoch), 0 if
    /// unknown: made by [`PrekeyStore::new`] or [`PrekeyStore::rotate_signed_prekey`], or
    /// loaded from a state saved before prekeys had times.
    pub fn signed_prekey_created_at(&self) -> u64 {
        self.current.prekey.created_at
    }

    /// The id of the previous signed prekey, which the store keeps until the next rotation
    /// so that channels started from bundles fetched before the last one still join; `None`
    /// before the first rotation.
    pub fn previous_signed_prekey_id(&self) -> Option<u32> {
        self.previous.as_ref().map(|previous| previous.prekey.id)
    }

    /// When the previous signed prekey was made (0 if unknown); `None` before the first
    /// rotation.
    pub fn previous_signed_prekey_created_at(&self) -> Option<u64> {
        self.previous
            .as_ref()
            .map(|previous| previous.prekey.created_at)
    }

    /// The ids of the unused one-time prekeys, ascending.
    pub fn one_time_prekey_ids(&self) -> Vec<u32> {
        self.one_time.keys().copied().collect()
    }

    /// How many unused one-time prekeys the store holds (at most [`MAX_ONE_TIME_PREKEYS`]):
    /// those not used by a channel yet, published or not, handed out or not.
    pub fn one_time_prekey_count(&self) -> usize {
        self.one_time.len()
    }

    /// When the one-time prekey `id` was made (0 if unknown), or `None` if the store does
    /// not hold it (used, removed, expired, or never made).
    pub fn one_time_prekey_created_at(&self, id: u32) -> Option<u64> {
        self.one_time.get(&id).map(|prekey| prekey.created_at)
    }

    /// How many channels the current signed prekey has started (at most
    /// [`MAX_JOINS_PER_SIGNED_PREKEY`]): rotate it well before the limit.
    pub fn signed_prekey_joins(&self) -> usize {
        self.current.joined.len()
    }

    /// The public bundle of `identity` with the current signed prekey and, if given, the
    /// one-time prekey `one_time`, each signed by `identity`.
    ///
    /// # Errors
    /// [`Error::UnknownOneTimePrekey`] if `one_time` is not in the pool.
    pub fn bundle(&self, identity: &Identity, one_time: Option<u32>) -> Result<PrekeyBundle> {
        let one_time = one_time
            .map(|id| self.one_time_public(identity, id))
            .transpose()?;
        let current = &self.current.prekey;
        let signed_prekey = current.pair.public();
        let kem_prekey = current.kem.public();
        let signature = signature::sign(
            identity.signing_key(),
            SIGNED_PREKEY_CONTEXT,
            &[
                &current.id.to_be_bytes(),
                &signed_prekey,
                kem_prekey.as_bytes(),
            ],
        );
        Ok(PrekeyBundle {
            card: identity.card().clone(),
            signed_prekey_id: current.id,
            signed_prekey,
            kem_prekey,
            signature,
            one_time,
        })
    }

    /// The public half of the one-time prekey `id`, signed by `identity`.
    fn one_time_public(&self, identity: &Identity, id: u32) -> Result<OneTimePublic> {
        let prekey = self
            .one_time
            .get(&id)
            .ok_or(Error::UnknownOneTimePrekey { id })?;
        let key = prekey.pair.public();
        let kem_key = prekey.kem.public();
        let signature = signature::sign(
            identity.signing_key(),
            ONE_TIME_PREKEY_CONTEXT,
            &[&id.to_be_bytes(), &key, kem_key.as_bytes()],
        );
        Ok(OneTimePublic {
            id,
            key,
            kem_key,
            signature,
        })
    }

    /// `fallback` (a bundle of this store's current signed prekey, without a one-time
    /// prekey) with the one-time prekey `id`: [`PrekeyStore::bundle`] without signing the
    /// signed prekey again, for a directory that makes thousands at once.
    pub(crate) fn one_time_bundle(
        &self,
        identity: &Identity,
        fallback: &PrekeyBundle,
        id: u32,
    ) -> Result<PrekeyBundle> {
        Ok(PrekeyBundle {
            one_time: Some(self.one_time_public(identity, id)?),
            ..fallback.clone()
        })
    }

    /// The id and X25519 public key of each unused one-time prekey, by ascending id.
    pub(crate) fn one_time_public_keys(&self) -> impl Iterator<Item = (u32, [u8; 32])> + '_ {
        self.one_time
            .iter()
            .map(|(id, prekey)| (*id, prekey.pair.public()))
    }

    fn signed(&self, id: u32) -> Result<&SignedPrekey> {
        [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|signed| signed.prekey.id == id)
            .ok_or(Error::UnknownSignedPrekey { id })
    }

    /// The private keys a first message names: the signed prekey `signed_id` and, if
    /// `one_time_id` is given, that one-time prekey.
    pub(crate) fn find(
        &self,
        signed_id: u32,
        one_time_id: Option<u32>,
    ) -> Result<FoundPrekeys<'_>> {
        let signed = &self.signed(signed_id)?.prekey;
        Ok(match one_time_id {
            Some(id) => {
                let one_time = self
                    .one_time
                    .get(&id)
                    .ok_or(Error::UnknownOneTimePrekey { id })?;
                FoundPrekeys {
                    signed: &signed.pair,
                    one_time: Some(&one_time.pair),
                    kem: &one_time.kem,
                }
            }
            None => FoundPrekeys {
                signed: &signed.pair,
                one_time: None,
                kem: &signed.kem,
            },
        })
    }

    /// Refuses a join that would start `channel` again (with either signed prekey held,
    /// with or without a one-time prekey), or that the signed prekey `signed_id` may no
    /// longer make.
    pub(crate) fn check_join(&self, signed_id: u32, channel: &crate::ChannelId) -> Result<()> {
        let signed = self.signed(signed_id)?;
        let id = joined_id(channel);
        let joined_before = [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .any(|held| held.joined.contains(&id));
        if joined_before {
            return Err(Error::ReplayedFirstMessage);
        }
        if signed.joined.len() >= MAX_JOINS_PER_SIGNED_PREKEY {
            return Err(Error::SignedPrekeyExhausted);
        }
        Ok(())
    }

    /// Records a channel joined once its first message authenticated (after
    /// [`PrekeyStore::check_join`] allowed it): the signed prekey remembers it, and the
    /// one-time prekey it used, if any, is consumed.
    pub(crate) fn record_join(
        &mut self,
        signed_id: u32,
        one_time_id: Option<u32>,
        channel: &crate::ChannelId,
    ) {
        if let Some(id) = one_time_id {
            self.one_time.remove(&id);
        }
        let signed = [Some(&mut self.current), self.previous.as_mut()]
            .into_iter()
            .flatten()
            .find(|signed| signed.prekey.id == signed_id);
        if let Some(signed) = signed {
            signed.joined.insert(joined_id(channel));
        }
    }

    /// Serializes the store, private keys included. Store the bytes sealed.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        wire::encode_state(state::PrekeyStoreState {
            version: PREKEY_STORE_STATE_VERSION,
            current_signed_prekey: Some(self.current.to_state()),
            previous_signed_prekey: self.previous.as_ref().map(SignedPrekey::to_state),
            one_time_prekeys: self
                .one_time
                .values()
                .map(|prekey| prekey.to_state(&[]))
                .collect(),
            next_id: self.next_id,
            id: self.id.as_bytes().to_vec(),
            checksum: Vec::new(),
        })
    }

    /// Loads a store saved by [`PrekeyStore::to_bytes`].
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::UnsupportedVersion`] or [`Error::InvalidState`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::PrekeyStoreState = wire::decode_state(bytes)?;
        let current = saved
            .current_signed_prekey
            .as_ref()
            .ok_or(Error::InvalidState {
                reason: "no current signed prekey",
            })
            .and_then(SignedPrekey::from_state)?;
        let previous = saved
            .previous_signed_prekey
            .as_ref()
            .map(SignedPrekey::from_state)
            .transpose()?;
        // Ids are shared by signed and one-time prekeys, and a store never gives one twice.
        let signed_ids = [
            Some(current.prekey.id),
            previous.as_ref().map(|p| p.prekey.id),
        ];
        if previous
            .as_ref()
            .is_some_and(|p| p.prekey.id == current.prekey.id)
        {
            return Err(Error::InvalidState {
                reason: "the previous signed prekey has the current one's id",
            });
        }
        if saved.one_time_prekeys.len() > MAX_ONE_TIME_PREKEYS {
            return Err(Error::InvalidState {
                reason: "more one-time prekeys than MAX_ONE_TIME_PREKEYS",
            });
        }
        let mut one_time = BTreeMap::new();
        for saved_prekey in &saved.one_time_prekeys {
            if !saved_prekey.joined_channels.is_empty() {
                return Err(Error::InvalidState {
                    reason: "a one-time prekey has no joined channels",
                });
            }
            // Strictly ascending, as written: no id twice, and one order for one store.
            if one_time
                .last_key_value()
                .is_some_and(|(last, _)| *last >= saved_prekey.id)
            {
                return Err(Error::InvalidState {
                    reason: "one-time prekey ids must ascend",
                });
            }
            if signed_ids.contains(&Some(saved_prekey.id)) {
                return Err(Error::InvalidState {
                    reason: "a one-time prekey has a signed prekey's id",
                });
            }
            let prekey = Prekey::from_state(saved_prekey)?;
            one_time.insert(prekey.id, Box::new(prekey));
        }
        Ok(Self {
            id: PrekeyStoreId::from_bytes(state_fixed(
                &saved.id,
                "prekey store id must be 32 bytes",
            )?),
            current,
            previous,
            one_time,
            next_id: saved.next_id,
        })
    }
}

/// The `PrekeyStoreState` format this crate writes and reads: 3. Version 1 had no store
/// id, version 2 no ML-KEM keys (and channels cannot start without them), so older states
/// are refused with `UnsupportedVersion`.
const PREKEY_STORE_STATE_VERSION: u32 = 3;

impl SavedState for state::PrekeyStoreState {
    const WHAT: &'static str = "PrekeyStoreState";
    const VERSION: u32 = PREKEY_STORE_STATE_VERSION;
    fn version(&self) -> u32 {
        self.version
    }
    fn checksum_mut(&mut self) -> &mut Vec<u8> {
        &mut self.checksum
    }
}

impl core::fmt::Debug for PrekeyStore {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrekeyStore")
            .field("signed_prekey_id", &self.current.prekey.id)
            .field("one_time_prekeys", &self.one_time.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Channel;
    use rand::SeedableRng;

    /// A first message to the owner of `bundle`.
    fn first_message(
        rng: &mut rand::rngs::ChaCha20Rng,
        alice: &Identity,
        bundle: &PrekeyBundle,
    ) -> Vec<u8> {
        let mut channel = Channel::create(rng, alice, bundle).unwrap();
        channel.encrypt(rng, b"hi").unwrap()
    }

    /// A hostile contact can open channel after channel from a bundle; the store remembers
    /// at most MAX_JOINS_PER_SIGNED_PREKEY of them per signed prekey, then refuses joins
    /// with it until it is rotated, and stays loadable.
    #[test]
    fn a_signed_prekey_that_started_the_most_channels_refuses_more_until_rotated() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(7);
        let alice = Identity::generate(&mut rng, "alice").unwrap();
        let bob = Identity::generate(&mut rng, "bob").unwrap();
        let mut store = PrekeyStore::new(&mut rng);
        for n in 0..MAX_JOINS_PER_SIGNED_PREKEY {
            let mut id = [0u8; JOINED_ID_LEN];
            id[..8].copy_from_slice(&(n as u64).to_be_bytes());
            store.current.joined.insert(id);
        }
        let saved = store.to_bytes();
        assert!(saved.len() <= MAX_PREKEY_STORE_STATE_LEN);
        let mut store = PrekeyStore::from_bytes(&saved).unwrap();
        assert_eq!(store.signed_prekey_joins(), MAX_JOINS_PER_SIGNED_PREKEY);

        let bundle = store.bundle(&bob, None).unwrap();
        let first = first_message(&mut rng, &alice, &bundle);
        assert_eq!(
            Channel::join(&bob, &mut store, &first).err(),
            Some(Error::SignedPrekeyExhausted)
        );
        assert_eq!(*store.to_bytes(), *saved);

        // With a one-time prekey too: the signed prekey's limit counts every channel.
        let ids = store.generate_one_time_prekeys(&mut rng, 1).unwrap();
        let with_one_time = store.bundle(&bob, Some(ids[0])).unwrap();
        let first = first_message(&mut rng, &alice, &with_one_time);
        assert_eq!(
            Channel::join(&bob, &mut store, &first).err(),
            Some(Error::SignedPrekeyExhausted)
        );

        // After a rotation the new signed prekey starts channels again; messages made
        // from the old bundle are still refused while it is held.
        store.rotate_signed_prekey(&mut rng);
        let old = first_message(&mut rng, &alice, &bundle);
        assert_eq!(
            Channel::join(&bob, &mut store, &old).err(),
            Some(Error::SignedPrekeyExhausted)
        );
        let fresh = store.bundle(&bob, None).unwrap();
        let first = first_message(&mut rng, &alice, &fresh);
        assert!(Channel::join(&bob, &mut store, &first).is_ok());
        assert_eq!(store.signed_prekey_joins(), 1);
    }

    const DAY: u64 = 24 * 60 * 60;
    const START: u64 = 1_700_000_000;

    /// The decoded state of `store`, to edit.
    fn saved(store: &PrekeyStore) -> state::PrekeyStoreState {
        wire::decode_state(&store.to_bytes()).unwrap()
    }

    fn load(saved: state::PrekeyStoreState) -> Result<PrekeyStore> {
        PrekeyStore::from_bytes(&wire::encode_state(saved))
    }

    #[test]
    fn times_are_kept_through_rotations_and_saving() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(9);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        let first = store.signed_prekey_id();
        let ids = store
            .generate_one_time_prekeys_at(&mut rng, 2, START + 5)
            .unwrap();
        store.rotate_signed_prekey_at(&mut rng, START + 7 * DAY);
        let store = PrekeyStore::from_bytes(&store.to_bytes()).unwrap();
        assert_eq!(store.signed_prekey_created_at(), START + 7 * DAY);
        assert_eq!(store.previous_signed_prekey_id(), Some(first));
        assert_eq!(store.previous_signed_prekey_created_at(), Some(START));
        assert_eq!(store.one_time_prekey_count(), 2);
        for id in &ids {
            assert_eq!(store.one_time_prekey_created_at(*id), Some(START + 5));
        }
        assert_eq!(store.one_time_prekey_created_at(first), None);
        // The times are the only change: the same draws without them give the same keys.
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(9);
        let untimed = PrekeyStore::new(&mut rng);
        assert_eq!(untimed.id(), store.id());
        assert_eq!(untimed.signed_prekey_created_at(), 0);
    }

    /// A state saved before prekeys had times is, byte for byte, one whose times are all
    /// 0: it loads, saves to the same bytes, and reads as "unknown".
    #[test]
    fn a_state_without_times_loads_with_every_time_unknown() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(10);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        store
            .generate_one_time_prekeys_at(&mut rng, 3, START)
            .unwrap();
        store.rotate_signed_prekey_at(&mut rng, START + DAY);
        let mut old = saved(&store);
        for prekey in old
            .current_signed_prekey
            .iter_mut()
            .chain(old.previous_signed_prekey.iter_mut())
            .chain(old.one_time_prekeys.iter_mut())
        {
            prekey.created_at = 0;
        }
        let old_bytes = wire::encode_state(old);
        // No field 5 anywhere: what a store saved before the field existed looks like.
        let mut loaded = PrekeyStore::from_bytes(&old_bytes).unwrap();
        assert_eq!(*loaded.to_bytes(), *old_bytes);
        assert_eq!(loaded.signed_prekey_created_at(), 0);
        assert_eq!(loaded.previous_signed_prekey_created_at(), Some(0));
        let ids = loaded.one_time_prekey_ids();
        assert!(ids
            .iter()
            .all(|id| loaded.one_time_prekey_created_at(*id) == Some(0)));

        // Unknown signed prekey age: due at once. Unknown one-time prekey age: dated by the
        // first expiry, which drops none, and expired one maximum age later.
        let now = START + 100 * DAY;
        assert!(loaded.signed_prekey_rotation_due(now));
        assert!(loaded
            .expire_one_time_prekeys(now, ONE_TIME_PREKEY_MAX_AGE_SECS)
            .is_empty());
        assert_eq!(loaded.one_time_prekey_created_at(ids[0]), Some(now));
        let loaded = PrekeyStore::from_bytes(&loaded.to_bytes()).unwrap();
        let mut loaded = loaded;
        assert!(loaded
            .expire_one_time_prekeys(
                now + ONE_TIME_PREKEY_MAX_AGE_SECS - 1,
                ONE_TIME_PREKEY_MAX_AGE_SECS
            )
            .is_empty());
        assert_eq!(
            loaded.expire_one_time_prekeys(
                now + ONE_TIME_PREKEY_MAX_AGE_SECS,
                ONE_TIME_PREKEY_MAX_AGE_SECS
            ),
            ids
        );
        assert_eq!(loaded.one_time_prekey_count(), 0);
    }

    #[test]
    fn saved_prekey_ids_must_ascend_and_not_repeat_signed_ones() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(15);
        let mut store = PrekeyStore::new_at(&mut rng, START);
        store
            .generate_one_time_prekeys_at(&mut rng, 3, START)
            .unwrap();
        store.rotate_signed_prekey_at(&mut rng, START + DAY);
        assert!(load(saved(&store)).is_ok());
        let invalid = |edit: &dyn Fn(&mut state::PrekeyStoreState)| {
            let mut state = saved(&store);
            edit(&mut state);
            assert!(matches!(load(state), Err(Error::InvalidState { .. })));
        };
        invalid(&|state| state.one_time_prekeys.swap(0, 1));
        invalid(&|state| {
            let first = state.one_time_prekeys[0].clone();
            state.one_time_prekeys.insert(0, first);
        });
        invalid(&|state| {
            let current = state.current_signed_prekey.as_ref().unwrap().id;
            state.one_time_prekeys[2].id = current;
        });
        invalid(&|state| {
            let previous = state.previous_signed_prekey.as_ref().unwrap().id;
            state.one_time_prekeys[0].id = previous;
            state.one_time_prekeys.sort_by_key(|prekey| prekey.id);
        });
        invalid(&|state| {
            let current = state.current_signed_prekey.as_ref().unwrap().id;
            state.previous_signed_prekey.as_mut().unwrap().id = current;
        });
    }

    #[test]
    fn saved_joined_channels_must_be_whole_ascending_ids() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(8);
        let prekey = Prekey::generate(&mut rng, 1, 0);
        for joined in [
            vec![0u8; 15],
            [[2u8; 16], [1u8; 16]].concat(),
            vec![1u8; 32],
        ] {
            let saved = prekey.to_state(&joined);
            assert!(matches!(
                SignedPrekey::from_state(&saved),
                Err(Error::InvalidState { .. })
            ));
        }
        let ascending = [[1u8; 16], [2u8; 16]].concat();
        let loaded = SignedPrekey::from_state(&prekey.to_state(&ascending)).unwrap();
        assert_eq!(loaded.joined.len(), 2);
    }
}
