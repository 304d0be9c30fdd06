//! Signed and one-time prekeys: the owner's private store and the public bundle.

use std::collections::BTreeMap;

use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::{Card, Identity};
use crate::crypto::agreement::{public_key, AgreementKeyPair};
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::storage::PrekeyStoreId;
use crate::wire::{self, fixed, state, state_fixed, v1, SavedState};

/// Signature context of a signed prekey: Ed25519 over
/// `"ratchetkit/v1/signed-prekey" || be32(id) || spk_public`.
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v1/signed-prekey";

/// Most one-time prekeys a store holds: 10,000. A directory hands out one per new channel,
/// so a few hundred usually suffice; the bound keeps a saved store (about 40 bytes a key)
/// under half a megabyte and stops a caller from growing it without end.
pub const MAX_ONE_TIME_PREKEYS: usize = 10_000;

/// Longest encoded `PrekeyBundle`, in bytes: 16,384: a card of at most
/// [`MAX_CARD_LEN`](crate::limits::MAX_CARD_LEN) bytes and three keys with a signature. Bundles come
/// from a directory that may be hostile; the length is checked before decoding.
pub const MAX_BUNDLE_LEN: usize = 16_384;

/// Longest saved `PrekeyStoreState`, in bytes: 4 MiB. A full store holds
/// [`MAX_ONE_TIME_PREKEYS`] one-time prekeys of about 80 bytes each (800 KB) and a few
/// signed prekeys; checked before a saved store is decoded.
pub const MAX_PREKEY_STORE_STATE_LEN: usize = 4 * 1024 * 1024;

/// One X25519 prekey with its id.
#[derive(Clone)]
struct Prekey {
    id: u32,
    pair: AgreementKeyPair,
}

impl Prekey {
    fn to_state(&self) -> state::PrekeyState {
        state::PrekeyState {
            id: self.id,
            secret: self.pair.secret_bytes().to_vec(),
        }
    }

    fn from_state(saved: &state::PrekeyState) -> Result<Self> {
        Ok(Self {
            id: saved.id,
            pair: AgreementKeyPair::from_secret_bytes(state_fixed(
                &saved.secret,
                "prekey secret must be 32 bytes",
            )?),
        })
    }
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
    current: Prekey,
    previous: Option<Prekey>,
    /// Boxed, so that the map's node moves (when keys are added or consumed) move only a
    /// pointer: each secret stays where it was made until it is dropped and wiped, and no
    /// unwiped copy is left in freed memory.
    one_time: BTreeMap<u32, Box<AgreementKeyPair>>,
    next_id: u32,
}

impl PrekeyStore {
    /// A store with a fresh signed prekey and no one-time prekeys.
    pub fn new<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        // The id comes from the first signed prekey rather than from fresh randomness, so
        // a store takes the same bytes from `rng` as before it had an id.
        let pair = AgreementKeyPair::generate(rng);
        let mut store = Self {
            id: PrekeyStoreId::derive(&pair.public()),
            current: Prekey { id: 0, pair },
            previous: None,
            one_time: BTreeMap::new(),
            next_id: 1,
        };
        store.current.id = store.take_id();
        store
    }

    /// The next free prekey id. Ids are shared between signed and one-time prekeys and wrap
    /// around after 2^32; ids still in use are skipped.
    fn take_id(&mut self) -> u32 {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            let in_use = id == self.current.id
                || self.previous.as_ref().is_some_and(|p| p.id == id)
                || self.one_time.contains_key(&id);
            if !in_use {
                return id;
            }
        }
    }

    /// Replaces the signed prekey with a fresh one; the current one becomes the previous,
    /// and the previous one is dropped. Rotate regularly (say weekly) and republish bundles.
    pub fn rotate_signed_prekey<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) {
        let id = self.take_id();
        let fresh = Prekey {
            id,
            pair: AgreementKeyPair::generate(rng),
        };
        self.previous = Some(core::mem::replace(&mut self.current, fresh));
    }

    /// Adds `count` fresh one-time prekeys and returns their ids.
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
                .insert(id, Box::new(AgreementKeyPair::generate(rng)));
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
        self.current.id
    }

    /// The ids of the unused one-time prekeys, ascending.
    pub fn one_time_prekey_ids(&self) -> Vec<u32> {
        self.one_time.keys().copied().collect()
    }

    /// The public bundle of `identity` with the current signed prekey and, if given, the
    /// one-time prekey `one_time`.
    ///
    /// # Errors
    /// [`Error::UnknownOneTimePrekey`] if `one_time` is not in the pool.
    pub fn bundle(&self, identity: &Identity, one_time: Option<u32>) -> Result<PrekeyBundle> {
        let one_time = match one_time {
            Some(id) => {
                let pair = self
                    .one_time
                    .get(&id)
                    .ok_or(Error::UnknownOneTimePrekey { id })?;
                Some((id, pair.public()))
            }
            None => None,
        };
        let signed_prekey = self.current.pair.public();
        let signature = signature::sign(
            identity.signing_key(),
            SIGNED_PREKEY_CONTEXT,
            &[&self.current.id.to_be_bytes(), &signed_prekey],
        );
        Ok(PrekeyBundle {
            card: identity.card().clone(),
            signed_prekey_id: self.current.id,
            signed_prekey,
            signature,
            one_time,
        })
    }

    pub(crate) fn signed_prekey(&self, id: u32) -> Result<&AgreementKeyPair> {
        [Some(&self.current), self.previous.as_ref()]
            .into_iter()
            .flatten()
            .find(|prekey| prekey.id == id)
            .map(|prekey| &prekey.pair)
            .ok_or(Error::UnknownSignedPrekey { id })
    }

    pub(crate) fn one_time_prekey(&self, id: u32) -> Result<&AgreementKeyPair> {
        self.one_time
            .get(&id)
            .map(|pair| &**pair)
            .ok_or(Error::UnknownOneTimePrekey { id })
    }

    /// Removes a one-time prekey after it started a channel.
    pub(crate) fn consume_one_time_prekey(&mut self, id: u32) {
        self.one_time.remove(&id);
    }

    /// Serializes the store, private keys included. Store the bytes sealed.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        wire::encode_state(state::PrekeyStoreState {
            version: PREKEY_STORE_STATE_VERSION,
            current_signed_prekey: Some(self.current.to_state()),
            previous_signed_prekey: self.previous.as_ref().map(Prekey::to_state),
            one_time_prekeys: self
                .one_time
                .iter()
                .map(|(&id, pair)| state::PrekeyState {
                    id,
                    secret: pair.secret_bytes().to_vec(),
                })
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
            .and_then(Prekey::from_state)?;
        let previous = saved
            .previous_signed_prekey
            .as_ref()
            .map(Prekey::from_state)
            .transpose()?;
        if saved.one_time_prekeys.len() > MAX_ONE_TIME_PREKEYS {
            return Err(Error::InvalidState {
                reason: "more one-time prekeys than MAX_ONE_TIME_PREKEYS",
            });
        }
        let mut one_time = BTreeMap::new();
        for saved_prekey in &saved.one_time_prekeys {
            let prekey = Prekey::from_state(saved_prekey)?;
            if one_time.insert(prekey.id, Box::new(prekey.pair)).is_some() {
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

/// The `PrekeyStoreState` format this crate writes and reads: 2. Version 1 had no store
/// id, and the first signed prekey it came from may be gone, so version 1 states are
/// refused with `UnsupportedVersion`.
const PREKEY_STORE_STATE_VERSION: u32 = 2;

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
            .field("signed_prekey_id", &self.current.id)
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
    signature: [u8; SIGNATURE_LEN],
    one_time: Option<(u32, [u8; 32])>,
}

impl PrekeyBundle {
    /// Parses and verifies a bundle: its card's self-signature and the signed prekey's
    /// signature by the card's key.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::InvalidLength`], [`Error::IncompleteOneTimePrekey`],
    /// every card error of [`Card::from_bytes`], and [`Error::BadSignature`] for a signed
    /// prekey the card's owner did not sign.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bundle: v1::PrekeyBundle = wire::decode(bytes, "PrekeyBundle")?;
        let card = Card::from_bytes(&bundle.card)?;
        let signed_prekey = public_key(&bundle.signed_prekey, "signed prekey")?;
        let signature =
            fixed::<SIGNATURE_LEN>(&bundle.signed_prekey_signature, "signed prekey signature")?;
        signature::verify(
            card.verifying_key(),
            SIGNED_PREKEY_CONTEXT,
            &[&bundle.signed_prekey_id.to_be_bytes(), &signed_prekey],
            &signature,
            "signed prekey",
        )?;
        let one_time = match (bundle.one_time_prekey_id, bundle.one_time_prekey.is_empty()) {
            (Some(id), false) => {
                Some((id, public_key(&bundle.one_time_prekey, "one-time prekey")?))
            }
            (None, true) => None,
            _ => return Err(Error::IncompleteOneTimePrekey),
        };
        Ok(Self {
            card,
            signed_prekey_id: bundle.signed_prekey_id,
            signed_prekey,
            signature,
            one_time,
        })
    }

    /// The `PrekeyBundle` protobuf bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        v1::PrekeyBundle {
            card: self.card.to_bytes(),
            signed_prekey_id: self.signed_prekey_id,
            signed_prekey: self.signed_prekey.to_vec(),
            signed_prekey_signature: self.signature.to_vec(),
            one_time_prekey_id: self.one_time.map(|(id, _)| id),
            one_time_prekey: self
                .one_time
                .map(|(_, key)| key.to_vec())
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
        self.one_time.map(|(id, _)| id)
    }

    pub(crate) fn signed_prekey(&self) -> &[u8; 32] {
        &self.signed_prekey
    }

    pub(crate) fn one_time_prekey(&self) -> Option<(u32, [u8; 32])> {
        self.one_time
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
