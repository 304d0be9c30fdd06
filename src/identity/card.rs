//! Self-signed public identity cards and their fingerprints.

use std::collections::BTreeSet;

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

/// Signature context of a card's self-signature: Ed25519 over
/// `"ratchetkit/v2/card-self" || content`.
///
/// Version 2 of the card contexts: in version 1 the self-signature's context,
/// `ratchetkit/v1/card`, was a prefix of the app's and the rotation's, so only the content's
/// encoding kept a self-signature from also reading as one of theirs. Every context of the
/// protocol is now prefix-free (`tests/contexts.rs` checks it). `CardContent` has no
/// version field, so a card signed under version 1 fails with
/// [`Error::BadSignature`](crate::Error::BadSignature).
pub const CARD_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/card-self";

/// The bidirectional formatting characters a name may not hold: the embeddings and
/// overrides U+202A..=U+202E, the isolates U+2066..=U+2069, the marks U+200E, U+200F and
/// U+061C. They reorder the text shown after them, so a name holding one could show
/// another name, or move the fingerprint printed beside it.
const BIDI_FORMATTING: [char; 12] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}',
];

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
}

hex_name!(
    Fingerprint,
    "A fingerprint from its 32 raw bytes, for example to look a card up in a \
     [`CardDirectory`](crate::CardDirectory)."
);

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
    /// The work is linear in the length of `bytes`, which is checked first.
    ///
    /// A rotated card (one with a previous fingerprint) must carry a
    /// [`PREVIOUS_SIGNER`](crate::identity::PREVIOUS_SIGNER) signature, and only such a card may;
    /// that signature is checked by [`Card::verify_chain`], an app's by
    /// [`Card::verify_app_signature`]: here only their length. Other signers are ignored.
    ///
    /// # Errors
    /// [`Error::TooLarge`] for more than [`MAX_CARD_LEN`] bytes and [`Error::TooMany`] for
    /// more than [`MAX_CARD_SIGNATURES`] signature entries, before anything else;
    /// [`Error::Decode`] for bytes that are not a canonical `SignedCard`,
    /// [`Error::InvalidIdentityName`], [`Error::InvalidPublicKey`] or
    /// [`Error::InvalidLength`] for bad content, [`Error::MissingSelfSignature`],
    /// [`Error::DuplicateSignature`] or [`Error::BadSignature`] for bad signatures,
    /// [`Error::MissingPreviousSignature`] or [`Error::UnexpectedPreviousSignature`] for a
    /// rotation signature without its rotation or the other way round, and
    /// [`Error::InvalidLength`] for a previous or app signature that is not 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_CARD_LEN {
            return Err(card_too_large());
        }
        Self::verify(wire::decode(bytes, "SignedCard")?)
    }

    /// Imports a card from standard base64 (as made by [`Card::to_base64`]).
    ///
    /// # Errors
    /// [`Error::TooLarge`] for text longer than the base64 of [`MAX_CARD_LEN`] bytes,
    /// [`Error::Base64`], then everything [`Card::from_bytes`] rejects.
    pub fn from_base64(text: &str) -> Result<Self> {
        let text = text.trim();
        // Checked before decoding, so that a huge text costs no allocation.
        if text.len() > MAX_CARD_LEN.div_ceil(3) * 4 {
            return Err(card_too_large());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|_| Error::Base64)?;
        Self::from_bytes(&bytes)
    }

    /// Checks a card as [`Card::from_bytes`] documents. Cards made here (by
    /// [`Card::assemble`] and [`Card::with_signature`]) come through too, so the limits
    /// hold for them without a length check of their own.
    fn verify(signed: v1::SignedCard) -> Result<Self> {
        if signed.signatures.len() > MAX_CARD_SIGNATURES {
            return Err(Error::TooMany {
                what: "SignedCard.signatures",
                limit: MAX_CARD_SIGNATURES,
            });
        }
        if signed.encoded_len() > MAX_CARD_LEN {
            return Err(card_too_large());
        }
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

        if let Some(signer) = repeated_signer(&signed.signatures) {
            return Err(Error::DuplicateSignature {
                signer: signer.to_owned(),
            });
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
    ///
    /// # Errors
    /// Those of import: [`Error::DuplicateSignature`] if `signer` already signed, and
    /// [`Error::TooMany`] or [`Error::TooLarge`] rather than a card no import would accept.
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

/// The error of a card over [`MAX_CARD_LEN`] bytes.
fn card_too_large() -> Error {
    Error::TooLarge {
        what: "SignedCard",
        limit: MAX_CARD_LEN,
    }
}

/// The first signer named by an entry after an earlier one, in one pass over a set of the
/// signers seen: the list is chosen by whoever sent the card, before any signature is
/// checked, so comparing each entry with every earlier one would cost its square.
fn repeated_signer(signatures: &[v1::CardSignature]) -> Option<&str> {
    let mut seen = BTreeSet::new();
    signatures
        .iter()
        .map(|entry| entry.signer.as_str())
        .find(|&signer| !seen.insert(signer))
}

/// Checks an identity name: 1..=[`MAX_IDENTITY_NAME_LEN`] bytes, without a control
/// character (Unicode category Cc: C0 controls, DEL, C1 controls) or a bidirectional
/// formatting character ([`BIDI_FORMATTING`]) or a line or paragraph separator (U+2028,
/// U+2029). Names are printed beside fingerprints; a
/// terminal obeys controls (an escape sequence can hide or rewrite what follows) and
/// bidirectional formatting reorders it, either of which lets a card pass for another.
pub(crate) fn check_name(name: &str) -> Result<()> {
    // U+2028 and U+2029 are not Cc but break lines in many viewers, like a newline.
    let refused = |c: char| {
        c.is_control() || BIDI_FORMATTING.contains(&c) || matches!(c, '\u{2028}' | '\u{2029}')
    };
    if name.is_empty() || name.len() > MAX_IDENTITY_NAME_LEN || name.chars().any(refused) {
        return Err(Error::InvalidIdentityName);
    }
    Ok(())
}
