//! The public prekey bundle: what a directory hands to someone who wants to open a channel
//! to the bundle's owner, verified when parsed.

use prost::Message;

use super::prekeys::{ONE_TIME_PREKEY_CONTEXT, SIGNED_PREKEY_CONTEXT};
use super::Card;
use crate::crypto::agreement::public_key;
use crate::crypto::kem::KemPublicKey;
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::wire::{self, fixed, v1};

/// Longest encoded `PrekeyBundle`, in bytes: 16,384: a card of at most
/// [`MAX_CARD_LEN`](crate::limits::MAX_CARD_LEN) bytes, two X25519 and two ML-KEM-768 keys
/// (2,432 bytes) and two signatures. Bundles come from a directory that may be hostile; the
/// length is checked before decoding.
pub const MAX_BUNDLE_LEN: usize = 16_384;

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
    // Built by `PrekeyStore` (prekeys.rs), which signs the prekeys.
    pub(super) card: Card,
    pub(super) signed_prekey_id: u32,
    pub(super) signed_prekey: [u8; 32],
    pub(super) kem_prekey: KemPublicKey,
    pub(super) signature: [u8; SIGNATURE_LEN],
    pub(super) one_time: Option<OneTimePublic>,
}

/// A bundle's one-time prekey: its id, its X25519 and ML-KEM-768 public keys, and the
/// owner's signature over them.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct OneTimePublic {
    pub(crate) id: u32,
    pub(crate) key: [u8; 32],
    pub(crate) kem_key: KemPublicKey,
    pub(super) signature: [u8; SIGNATURE_LEN],
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
