//! Self-signed public identity cards and their fingerprints.

use base64::Engine as _;
use ed25519_dalek::VerifyingKey;
use prost::Message;
use sha2::{Digest, Sha256};

use crate::crypto::agreement::public_key;
use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::wire::{self, fixed, v1};

/// Longest identity name a card may carry, in bytes of UTF-8: 256. Names are shown to
/// people and stored by directories; 256 bytes fits any real name or address and bounds
/// what a hostile card can make a directory store.
pub const MAX_IDENTITY_NAME_LEN: usize = 256;

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
/// key and a creation time, signed by the identity itself.
///
/// A `Card` only exists once its self-signature has verified: [`Card::from_bytes`] and
/// [`Card::from_base64`] reject anything else.
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
    fingerprint: Fingerprint,
}

impl Card {
    /// Builds and self-signs the card of an identity.
    pub(crate) fn sign(
        identity: &str,
        signing: &ed25519_dalek::SigningKey,
        agreement_key: [u8; 32],
        created_at: u64,
    ) -> Result<Self> {
        check_name(identity)?;
        let content = v1::CardContent {
            identity: identity.to_owned(),
            signing_key: signing.verifying_key().to_bytes().to_vec(),
            agreement_key: agreement_key.to_vec(),
            created_at,
            previous_fingerprint: Vec::new(),
        }
        .encode_to_vec();
        let self_signature = signature::sign(signing, CARD_SIGNATURE_CONTEXT, &[&content]);
        Self::verify(v1::SignedCard {
            content,
            signatures: vec![v1::CardSignature {
                signer: SELF_SIGNER.to_owned(),
                signature: self_signature.to_vec(),
            }],
        })
    }

    /// Imports a card from its `SignedCard` bytes, verifying the self-signature.
    ///
    /// # Errors
    /// [`Error::Decode`] for bytes that are not a canonical `SignedCard`,
    /// [`Error::InvalidIdentityName`], [`Error::InvalidPublicKey`] or
    /// [`Error::InvalidLength`] for bad content, [`Error::MissingSelfSignature`],
    /// [`Error::DuplicateSignature`] or [`Error::BadSignature`] for bad signatures.
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
        if !content.previous_fingerprint.is_empty() {
            fixed::<32>(&content.previous_fingerprint, "previous fingerprint")?;
        }

        let mut self_signature = None;
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
            if entry.signer == SELF_SIGNER {
                self_signature = Some(&entry.signature);
            }
        }
        let self_signature = self_signature.ok_or(Error::MissingSelfSignature)?;
        signature::verify(
            &signing_key,
            CARD_SIGNATURE_CONTEXT,
            &[&signed.content],
            self_signature,
            "card",
        )?;

        Ok(Self {
            fingerprint: Fingerprint::of(&signed.content),
            identity: content.identity,
            signing_key,
            agreement_key,
            created_at: content.created_at,
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

    /// The first signer other than "self", if the card carries such a signature.
    pub(crate) fn other_signer(&self) -> Option<&str> {
        self.signed
            .signatures
            .iter()
            .map(|entry| entry.signer.as_str())
            .find(|&signer| signer != SELF_SIGNER)
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

fn check_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > MAX_IDENTITY_NAME_LEN {
        return Err(Error::InvalidIdentityName);
    }
    Ok(())
}
