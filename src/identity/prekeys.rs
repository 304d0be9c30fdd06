//! Signed and one-time prekeys, each an X25519 key and an ML-KEM-768 key under one id:
//! the owner's private store and the public bundle.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::{Card, Identity};
use crate::crypto::agreement::{public_key, AgreementKeyPair};
use crate::crypto::kem::{KemKeyPair, KemPublicKey, KEM_SEED_LEN};
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::storage::PrekeyStoreId;
use crate::wire::{self, fixed, state, state_fixed, v1, SavedState};

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
/// so a few hundred usually suffice; the bound keeps a saved store (about 110 bytes a
/// prekey: an X25519 secret and an ML-KEM seed) near a megabyte and stops a caller from
/// growing it without end.
pub const MAX_ONE_TIME_PREKEYS: usize = 10_000;

/// Longest encoded `PrekeyBundle`, in bytes: 16,384: a card of at most
/// [`MAX_CARD_LEN`](crate::limits::MAX_CARD_LEN) bytes, two X25519 and two ML-KEM-768 keys
/// (2,432 bytes) and two signatures. Bundles come from a directory that may be hostile; the
/// length is checked before decoding.
pub const MAX_BUNDLE_LEN: usize = 16_384;

/// Longest saved `PrekeyStoreState`, in bytes: 4 MiB. A full store holds
/// [`MAX_ONE_TIME_PREKEYS`] one-time prekeys of about 110 bytes each (1.1 MB) and two
/// signed prekeys with [`MAX_JOINS_PER_SIGNED_PREKEY`] joined channels each (320 KB);
/// checked before a saved store is decoded.
pub const MAX_PREKEY_STORE_STATE_LEN: usize = 4 * 1024 * 1024;

/// One prekey: an X25519 key pair and an ML-KEM-768 key pair (kept as its 64-byte seed)
/// under one id.
struct Prekey {
    id: u32,
    pair: AgreementKeyPair,
    kem: KemKeyPair,
}

impl Prekey {
    fn generate<R: CryptoRng + ?Sized>(rng: &mut R, id: u32) -> Self {
        Self {
            id,
            pair: AgreementKeyPair::generate(rng),
            kem: KemKeyPair::generate(rng),
        }
    }

    fn to_state(&self, joined: &[u8]) -> state::PrekeyState {
        state::PrekeyState {
            id: self.id,
            secret: self.pair.secret_bytes().to_vec(),
            kem_seed: self.kem.seed().to_vec(),
            joined_channels: joined.to_vec(),
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
/// still join), and a pool of one-time prekeys, each usable for one channel.
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
    /// A store with a fresh signed prekey and no one-time prekeys.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        // The id comes from the first signed prekey rather than from fresh randomness, so
        // a store takes the same bytes from `rng` as before it had an id.
        let prekey = Prekey::generate(rng, 0);
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

    /// Replaces the signed prekey (its X25519 and ML-KEM keys) with a fresh one; the
    /// current one becomes the previous, and the previous one is dropped with its record of
    /// joined channels. Rotate regularly (say weekly) and republish bundles.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        let id = self.take_id();
        let fresh = SignedPrekey::new(Prekey::generate(rng, id));
        self.previous = Some(core::mem::replace(&mut self.current, fresh));
    }

    /// Adds `count` fresh one-time prekeys (each an X25519 and an ML-KEM-768 key pair)
    /// and returns their ids.
    ///
    /// # Errors
    /// [`Error::PrekeyPoolFull`] if the pool would exceed [`MAX_ONE_TIME_PREKEYS`]; nothing
    /// is added then.
    pub fn generate_one_time_prekeys<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
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
                .insert(id, Box::new(Prekey::generate(rng, id)));
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

    /// The ids of the unused one-time prekeys, ascending.
    pub fn one_time_prekey_ids(&self) -> Vec<u32> {
        self.one_time.keys().copied().collect()
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
        let one_time = match one_time {
            Some(id) => {
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
                Some(OneTimePublic {
                    id,
                    key,
                    kem_key,
                    signature,
                })
            }
            None => None,
        };
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
            let prekey = Prekey::from_state(saved_prekey)?;
            if one_time.insert(prekey.id, Box::new(prekey)).is_some() {
                return Err(Error::InvalidState {
                    reason: "one-time prekey ids repeat",
                });
            }
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

/// A verified prekey bundle: what a directory hands to someone who wants to open a channel
/// to the bundle's owner. It exists only with a valid card and signed-prekey signature.
///
/// ```
/// use ratchetkit::{Identity, PrekeyBundle, PrekeyStore};
/// # let mut rng = rand::rng();
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let prekeys = PrekeyStore::new(&mut rng);
/// let published = prekeys.bundle(&bob, None)?.to_bytes();
/// // ... the directory stores and later serves the bytes ...
/// let bundle = PrekeyBundle::from_bytes(&published)?;
/// assert_eq!(bundle.card().identity(), "bob");
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PrekeyBundle {
    card: Card,
    signed_prekey_id: u32,
    signed_prekey: [u8; 32],
    kem_prekey: KemPublicKey,
    signature: [u8; SIGNATURE_LEN],
    one_time: Option<OneTimePublic>,
}

/// A bundle's one-time prekey: its id, its X25519 and ML-KEM-768 public keys, and the
/// owner's signature over them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OneTimePublic {
    pub(crate) id: u32,
    pub(crate) key: [u8; 32],
    pub(crate) kem_key: KemPublicKey,
    signature: [u8; SIGNATURE_LEN],
}

impl PrekeyBundle {
    /// Parses and verifies a bundle: its card's self-signature, and the signatures of its
    /// signed prekey and one-time prekey by the card's key, each strictly.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::InvalidLength`], [`Error::InvalidPublicKey`] for an
    /// ML-KEM key that is not one, [`Error::MissingKemPrekey`] for a bundle without the
    /// ML-KEM prekey (made by a version 1 implementation, or stripped on the way: never
    /// used without it), [`Error::IncompleteOneTimePrekey`], every card error of
    /// [`Card::from_bytes`], and [`Error::BadSignature`] for prekeys the card's owner did
    /// not sign.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bundle: v1::PrekeyBundle = wire::decode(bytes, "PrekeyBundle")?;
        if bundle.kem_prekey.is_empty() {
            return Err(Error::MissingKemPrekey);
        }
        let card = Card::from_bytes(&bundle.card)?;
        let signed_prekey = public_key(&bundle.signed_prekey, "signed prekey")?;
        let kem_prekey = KemPublicKey::from_bytes(&bundle.kem_prekey, "ML-KEM prekey")?;
        let signature =
            fixed::<SIGNATURE_LEN>(&bundle.signed_prekey_signature, "signed prekey signature")?;
        let one_time = match bundle.one_time_prekey_id {
            Some(id) => {
                if bundle.one_time_prekey.is_empty()
                    || bundle.one_time_kem_prekey.is_empty()
                    || bundle.one_time_prekey_signature.is_empty()
                {
                    return Err(Error::IncompleteOneTimePrekey);
                }
                Some(OneTimePublic {
                    id,
                    key: public_key(&bundle.one_time_prekey, "one-time prekey")?,
                    kem_key: KemPublicKey::from_bytes(
                        &bundle.one_time_kem_prekey,
                        "one-time ML-KEM prekey",
                    )?,
                    signature: fixed::<SIGNATURE_LEN>(
                        &bundle.one_time_prekey_signature,
                        "one-time prekey signature",
                    )?,
                })
            }
            None => {
                if !bundle.one_time_prekey.is_empty()
                    || !bundle.one_time_kem_prekey.is_empty()
                    || !bundle.one_time_prekey_signature.is_empty()
                {
                    return Err(Error::IncompleteOneTimePrekey);
                }
                None
            }
        };

        // Each signature strictly, like every other: a batch would also take signatures
        // off by a small-order point (which only the card's holder can make), and then
        // this crate and a strict implementation would disagree about such a bundle.
        signature::verify(
            card.verifying_key(),
            SIGNED_PREKEY_CONTEXT,
            &[
                &bundle.signed_prekey_id.to_be_bytes(),
                &signed_prekey,
                kem_prekey.as_bytes(),
            ],
            &signature,
            "signed prekey",
        )?;
        if let Some(one_time) = &one_time {
            signature::verify(
                card.verifying_key(),
                ONE_TIME_PREKEY_CONTEXT,
                &[
                    &one_time.id.to_be_bytes(),
                    &one_time.key,
                    one_time.kem_key.as_bytes(),
                ],
                &one_time.signature,
                "one-time prekey",
            )?;
        }

        Ok(Self {
            card,
            signed_prekey_id: bundle.signed_prekey_id,
            signed_prekey,
            kem_prekey,
            signature,
            one_time,
        })
    }

    /// The `PrekeyBundle` protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let one_time = self.one_time.as_ref();
        v1::PrekeyBundle {
            card: self.card.to_bytes(),
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey: self.signed_prekey.to_vec(),
            signed_prekey_signature: self.signature.to_vec(),
            one_time_prekey_id: one_time.map(|one_time| one_time.id),
            one_time_prekey: one_time
                .map(|one_time| one_time.key.to_vec())
                .unwrap_or_default(),
            kem_prekey: self.kem_prekey.as_bytes().to_vec(),
            one_time_kem_prekey: one_time
                .map(|one_time| one_time.kem_key.as_bytes().to_vec())
                .unwrap_or_default(),
            one_time_prekey_signature: one_time
                .map(|one_time| one_time.signature.to_vec())
                .unwrap_or_default(),
        }
        .encode_to_vec()
    }

    /// The same bundle carrying `card`, another copy of its card (same content, so the
    /// same fingerprint and key) with other signatures: a directory serves bundles with
    /// the card as published, app signature included.
    ///
    /// ```
    /// use ratchetkit::{AppKey, Identity, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let approved = bob.card().approve(&AppKey::generate(&mut rng))?;
    /// let bundle = PrekeyStore::new(&mut rng).bundle(&bob, None)?.with_card(&approved)?;
    /// assert_eq!(bundle.card(), &approved);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CardMismatch`] if `card` has another fingerprint.
    pub fn with_card(&self, card: &Card) -> Result<Self> {
        if card.fingerprint() != self.card.fingerprint() {
            return Err(Error::CardMismatch);
        }
        Ok(Self {
            card: card.clone(),
            ..self.clone()
        })
    }

    /// The bundle owner's verified card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The signed prekey's id.
    pub fn signed_prekey_id(&self) -> u32 {
        self.signed_prekey_id
    }

    /// The one-time prekey's id, if the bundle has one.
    pub fn one_time_prekey_id(&self) -> Option<u32> {
        self.one_time.as_ref().map(|one_time| one_time.id)
    }

    /// The bundle without its one-time prekey, as a directory serves it once the
    /// one-time prekeys it was given have run out: the signed prekeys stay.
    ///
    /// ```
    /// use ratchetkit::{Identity, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let mut prekeys = PrekeyStore::new(&mut rng);
    /// let ids = prekeys.generate_one_time_prekeys(&mut rng, 1)?;
    /// let bundle = prekeys.bundle(&bob, Some(ids[0]))?;
    /// assert_eq!(bundle.without_one_time_prekey(), prekeys.bundle(&bob, None)?);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn without_one_time_prekey(&self) -> Self {
        Self {
            one_time: None,
            ..self.clone()
        }
    }

    pub(crate) fn signed_prekey(&self) -> &[u8; 32] {
        &self.signed_prekey
    }

    /// The signed prekey's ML-KEM-768 key: the last-resort KEM prekey.
    pub(crate) fn kem_prekey(&self) -> &KemPublicKey {
        &self.kem_prekey
    }

    pub(crate) fn one_time_prekey(&self) -> Option<&OneTimePublic> {
        self.one_time.as_ref()
    }
}

impl core::fmt::Debug for PrekeyBundle {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrekeyBundle")
            .field("card", &self.card)
            .field("signed_prekey_id", &self.signed_prekey_id)
            .field("one_time_prekey_id", &self.one_time_prekey_id())
            .finish()
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

    #[test]
    fn saved_joined_channels_must_be_whole_ascending_ids() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(8);
        let prekey = Prekey::generate(&mut rng, 1);
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
