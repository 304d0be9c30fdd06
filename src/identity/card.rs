//! Self-signed public identity cards and their fingerprints.

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use prost::Message;
use sha2::{Digest, Sha256};

use super::app_key::APP_SIGNER;
use super::rotation::PREVIOUS_SIGNER;
use crate::crypto::agreement::public_key;
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::wire::{self, fixed, v1};

/// Longest identity name a card may carry, in bytes of UTF-8: 256. Names are shown to
/// people and stored by directories; 256 bytes fits any real name or address and bounds
/// what a hostile card can make a directory store.
pub const MAX_IDENTITY_NAME_LEN: usize = 256;

/// Longest encoded `SignedCard`, in bytes: 8,192. A genuine card is a name of at most
/// [`MAX_IDENTITY_NAME_LEN`] bytes, two keys, a date and at most three signatures, under
/// 700 bytes; the limit leaves room for growth and is checked before a card is decoded, so a
/// hostile card in a first message, a bundle or a roster costs at most this much.
pub const MAX_CARD_LEN: usize = 8_192;

/// Most signature entries a card may list: 8. A card carries its self-signature and at most
/// an app signature and its previous card's signature; the entries are counted before
/// they are decoded, so a card padded with signers costs nothing more.
pub const MAX_CARD_SIGNATURES: usize = 8;

/// Signature context of a card: Ed25519 over `"ratchetkit/v1/card" || content`.
pub const CARD_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v1/card";

/// The signer name of a card's signature by its own identity key.
pub const SELF_SIGNER: &str = "self";

/// SHA-256 of a card's content bytes: the name by which a card is compared and looked up.
///
/// ```
/// # let mut rng = rand::rng();
/// let alice = ratchetkit::Identity::generate(&mut rng, "alice")?;
/// let fingerprint = alice.card().fingerprint();
/// assert_eq!(fingerprint.to_string().len(), 64); // lowercase hex
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of `content`, the serialized `CardContent`.
    pub(crate) fn of(content: &[u8]) -> Self {
        Self(Sha256::digest(content).into())
    }

    /// A fingerprint from its 32 raw bytes, for example to look a card up in a
    /// [`CardDirectory`](crate::CardDirectory).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The 32 raw bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl core::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl core::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Fingerprint({self})")
    }
}

/// A verified public identity card: a name, an Ed25519 signing key, an X25519 agreement
/// key and a creation time, signed by the identity itself; optionally the fingerprint of
/// the card it replaces with that card's signature ([`Identity::rotate`](crate::Identity::rotate)),
/// and an application's co-signature ([`Card::approve`]).
///
/// A `Card` only exists once its self-signature has verified: [`Card::from_bytes`] and
/// [`Card::from_base64`] reject anything else. Equality is equality of the signed bytes,
/// so a card and its approved copy differ; compare fingerprints to compare content.
///
/// ```
/// use ratchetkit::{Card, Identity};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let text = alice.card().to_base64();
/// let card = Card::from_base64(&text)?;
/// assert_eq!(card.identity(), "alice");
/// assert_eq!(card.fingerprint(), alice.card().fingerprint());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct Card {
    signed: v1::SignedCard,
    identity: String,
    signing_key: VerifyingKey,
    agreement_key: [u8; 32],
    created_at: u64,
    previous_fingerprint: Option<Fingerprint>,
    fingerprint: Fingerprint,
}

impl Card {
    /// Builds and self-signs the card of an identity that replaces no other card.
    pub(crate) fn sign(
        identity: &str,
        signing: &ed25519_dalek::SigningKey,
        agreement_key: [u8; 32],
        created_at: u64,
    ) -> Result<Self> {
        let content = encode_content(identity, signing, agreement_key, created_at, None)?;
        Self::assemble(content, signing, Vec::new())
    }

    /// Self-signs `content` with `signing`, appends the `others` signatures, and checks
    /// the result exactly as an import would.
    pub(crate) fn assemble(
        content: Vec<u8>,
        signing: &ed25519_dalek::SigningKey,
        others: Vec<v1::CardSignature>,
    ) -> Result<Self> {
        let self_signature = signature::sign(signing, CARD_SIGNATURE_CONTEXT, &[&content]);
        let mut signatures = vec![v1::CardSignature {
            signer: SELF_SIGNER.to_owned(),
            signature: self_signature.to_vec(),
        }];
        signatures.extend(others);
        Self::verify(v1::SignedCard {
            content,
            signatures,
        })
    }

    /// Imports a card from its `SignedCard` bytes, verifying the self-signature.
    ///
    /// A rotated card (one with a previous fingerprint) must carry a
    /// [`PREVIOUS_SIGNER`](crate::PREVIOUS_SIGNER) signature, and only such a card may;
    /// that signature is checked by [`Card::verify_chain`], an app's by
    /// [`Card::verify_app_signature`]: here only their length. Other signers are ignored.
    ///
    /// # Errors
    /// [`Error::Decode`] for bytes that are not a canonical `SignedCard`,
    /// [`Error::InvalidIdentityName`], [`Error::InvalidPublicKey`] or
    /// [`Error::InvalidLength`] for bad content, [`Error::MissingSelfSignature`],
    /// [`Error::DuplicateSignature`] or [`Error::BadSignature`] for bad signatures,
    /// [`Error::MissingPreviousSignature`] or [`Error::UnexpectedPreviousSignature`] for a
    /// rotation signature without its rotation or the other way round, and
    /// [`Error::InvalidLength`] for a previous or app signature that is not 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Self::verify(wire::decode(bytes, "SignedCard")?)
    }

    /// Imports a card from standard base64 (as made by [`Card::to_base64`]).
    ///
    /// # Errors
    /// [`Error::Base64`], then everything [`Card::from_bytes`] rejects.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Error::Base64)?;
        Self::from_bytes(&bytes)
    }

    fn verify(signed: v1::SignedCard) -> Result<Self> {
        let content: v1::CardContent = wire::decode(&signed.content, "CardContent")?;
        check_name(&content.identity)?;
        let signing_key = signature::verifying_key(&content.signing_key, "card signing key")?;
        let agreement_key = public_key(&content.agreement_key, "card agreement key")?;
        let previous_fingerprint = if content.previous_fingerprint.is_empty() {
            None
        } else {
            Some(Fingerprint(fixed::<32>(
                &content.previous_fingerprint,
                "previous fingerprint",
            )?))
        };

        for (i, entry) in signed.signatures.iter().enumerate() {
            let repeated = signed
                .signatures
                .iter()
                .take(i)
                .any(|earlier| earlier.signer == entry.signer);
            if repeated {
                return Err(Error::DuplicateSignature {
                    signer: entry.signer.clone(),
                });
            }
        }
        let by = |signer: &str| {
            signed
                .signatures
                .iter()
                .find(|entry| entry.signer == signer)
                .map(|entry| entry.signature.as_slice())
        };
        let self_signature = by(SELF_SIGNER).ok_or(Error::MissingSelfSignature)?;
        signature::verify(
            &signing_key,
            CARD_SIGNATURE_CONTEXT,
            &[&signed.content],
            self_signature,
            "card",
        )?;
        // The other signatures need a key the card does not hold (the replaced card's, an
        // app's): only their presence and length can be checked here.
        match (previous_fingerprint, by(PREVIOUS_SIGNER)) {
            (Some(_), None) => return Err(Error::MissingPreviousSignature),
            (None, Some(_)) => return Err(Error::UnexpectedPreviousSignature),
            (Some(_), Some(previous)) => {
                fixed::<SIGNATURE_LEN>(previous, "previous signature")?;
            }
            (None, None) => {}
        }
        if let Some(app) = by(APP_SIGNER) {
            fixed::<SIGNATURE_LEN>(app, "app signature")?;
        }

        Ok(Self {
            fingerprint: Fingerprint::of(&signed.content),
            identity: content.identity,
            signing_key,
            agreement_key,
            created_at: content.created_at,
            previous_fingerprint,
            signed,
        })
    }

    /// The `SignedCard` bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signed.encode_to_vec()
    }

    /// The `SignedCard` bytes in standard base64.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.to_bytes())
    }

    /// The identity's name.
    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// The Ed25519 public signing key.
    pub fn signing_key(&self) -> [u8; 32] {
        self.signing_key.to_bytes()
    }

    /// The X25519 public agreement key.
    pub fn agreement_key(&self) -> [u8; 32] {
        self.agreement_key
    }

    /// Creation time, seconds since the Unix epoch.
    pub fn created_at(&self) -> u64 {
        self.created_at
    }

    /// SHA-256 of the card's content.
    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    /// The fingerprint of the card this one replaces, if it is a key rotation (see
    /// [`Card::verify_chain`]).
    pub fn previous_fingerprint(&self) -> Option<Fingerprint> {
        self.previous_fingerprint
    }

    /// Whether the card carries an application's co-signature (see [`Card::approve`]). It
    /// says nothing about whose: check it with [`Card::verify_app_signature`].
    pub fn has_app_signature(&self) -> bool {
        self.signature_by(APP_SIGNER).is_some()
    }

    /// The first signer whose signature a channel's responder cannot keep: any but the
    /// self-signature and a rotated card's previous signature (which the card needs, and
    /// which the responder checks against the chain when it checks the rotation).
    pub(crate) fn other_signer(&self) -> Option<&str> {
        self.signed
            .signatures
            .iter()
            .map(|entry| entry.signer.as_str())
            .find(|&signer| signer != SELF_SIGNER && signer != PREVIOUS_SIGNER)
    }

    /// The signature by `signer`, if the card carries one.
    pub(crate) fn signature_by(&self, signer: &str) -> Option<&[u8]> {
        self.signed
            .signatures
            .iter()
            .find(|entry| entry.signer == signer)
            .map(|entry| entry.signature.as_slice())
    }

    /// The serialized `CardContent`, exactly as signed.
    pub(crate) fn content(&self) -> &[u8] {
        &self.signed.content
    }

    /// This card with `signature` by `signer` appended, checked as on import.
    pub(crate) fn with_signature(&self, signer: &str, signature: Vec<u8>) -> Result<Self> {
        let mut signed = self.signed.clone();
        signed.signatures.push(v1::CardSignature {
            signer: signer.to_owned(),
            signature,
        });
        Self::verify(signed)
    }

    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.signing_key
    }
}

// Equality is equality of the signed bytes, which is reflexive.
impl Eq for Card {}

impl core::fmt::Debug for Card {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Card")
            .field("identity", &self.identity)
            .field("fingerprint", &self.fingerprint)
            .field("created_at", &self.created_at)
            .finish_non_exhaustive()
    }
}

/// The serialized `CardContent` of an identity.
pub(crate) fn encode_content(
    identity: &str,
    signing: &ed25519_dalek::SigningKey,
    agreement_key: [u8; 32],
    created_at: u64,
    previous: Option<Fingerprint>,
) -> Result<Vec<u8>> {
    check_name(identity)?;
    Ok(v1::CardContent {
        identity: identity.to_owned(),
        signing_key: signing.verifying_key().to_bytes().to_vec(),
        agreement_key: agreement_key.to_vec(),
        created_at,
        previous_fingerprint: previous.map(|f| f.0.to_vec()).unwrap_or_default(),
    }
    .encode_to_vec())
}

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_IDENTITY_NAME_LEN {
        return Err(Error::InvalidIdentityName);
    }
    Ok(())
}
