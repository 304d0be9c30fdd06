//! Sealed messages held in memory: `SealedMessage { header, ciphertext }`.

use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::recipients::{self, ContentKey};
use super::signer;
use crate::crypto::aead::AeadKey;
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::identity::{Card, Fingerprint, Identity};
use crate::wire::{self, v1};

/// Signature context of a sealed message: Ed25519 by the sender's identity key over
/// `"ratchetkit/v1/sealed-signature" || plaintext`.
pub const SEALED_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v1/sealed-signature";

/// Prefix of the associated data of a sealed message's content: the associated data is
/// `"ratchetkit/v1/sealed-message" || header`, the `SealedHeader` bytes as carried.
pub const SEALED_MESSAGE_CONTEXT: &[u8] = b"ratchetkit/v1/sealed-message";

/// Largest sealed message, in bytes: 16 MiB (16,777,216), which also bounds the plaintext
/// [`seal`] takes. Opening holds about four copies of the message at once (the input, its
/// decoding and canonical re-encoding, the plaintext), so this keeps [`open`] of a hostile
/// input within tens of megabytes; larger data goes through
/// [`seal_stream`](crate::seal_stream), in constant memory.
pub const MAX_SEALED_MESSAGE_LEN: usize = 16 * 1024 * 1024;

/// A sealed message that [`open`] decrypted and verified.
///
/// ```
/// use ratchetkit::{open, seal, Identity};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let sealed = seal(&mut rng, &alice, &[bob.card().clone()], b"for bob")?;
/// let opened = open(&bob, &[alice.card().clone()], &sealed)?;
/// assert_eq!(opened.plaintext(), b"for bob");
/// assert_eq!(opened.sender(), alice.card().fingerprint());
/// let plaintext: Vec<u8> = opened.into_plaintext();
/// # let _ = plaintext;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    plaintext: Vec<u8>,
    sender: Fingerprint,
}

impl Opened {
    /// The plaintext, signed by [`sender`](Self::sender).
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// The fingerprint of the sender card (among those given to [`open`]) whose key signed
    /// the plaintext.
    pub fn sender(&self) -> Fingerprint {
        self.sender
    }

    /// The plaintext, owned.
    pub fn into_plaintext(self) -> Vec<u8> {
        self.plaintext
    }
}

impl core::fmt::Debug for Opened {
    // The plaintext is the app's data: only its length is shown.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Opened")
            .field("plaintext_len", &self.plaintext.len())
            .field("sender", &self.sender)
            .finish()
    }
}

fn too_large() -> Error {
    Error::SealedTooLarge {
        what: "sealed message",
        max: MAX_SEALED_MESSAGE_LEN as u64,
    }
}

/// The content key, used once, with the all-zero nonce.
fn content_cipher(content_key: &ContentKey) -> AeadKey {
    AeadKey::new(content_key.clone(), [0; 12])
}

fn associated_data(header: &[u8]) -> Vec<u8> {
    [SEALED_MESSAGE_CONTEXT, header].concat()
}

/// Signs `plaintext` with `sender`'s identity key, then encrypts it and the signature for
/// every card in `recipients` (1..=[`MAX_SEALED_RECIPIENTS`](crate::sealed::MAX_SEALED_RECIPIENTS),
/// each once; include the sender's own card to read the message on its other devices).
///
/// The result is a `SealedMessage` protobuf. It shows anyone who sees it the fingerprints
/// of its recipients, not who sent it.
///
/// ```
/// use ratchetkit::{open, seal, Identity};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let carol = Identity::generate(&mut rng, "carol")?;
///
/// let recipients = [bob.card().clone(), carol.card().clone(), alice.card().clone()];
/// let sealed = seal(&mut rng, &alice, &recipients, b"minutes of the meeting")?;
///
/// let opened = open(&carol, &[alice.card().clone()], &sealed)?;
/// assert_eq!(opened.plaintext(), b"minutes of the meeting");
/// assert_eq!(opened.sender(), alice.card().fingerprint());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// # Errors
/// [`Error::NoRecipients`], [`Error::TooManyRecipients`], [`Error::DuplicateRecipient`]
/// for a bad recipient list, [`Error::NonContributoryKey`] for a card whose agreement key is
/// a low-order point, and [`Error::SealedTooLarge`] if the message would exceed
/// [`MAX_SEALED_MESSAGE_LEN`].
pub fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    sender: &Identity,
    recipients: &[Card],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    if plaintext.len() > MAX_SEALED_MESSAGE_LEN {
        return Err(too_large());
    }
    let (content_key, header) = recipients::seal_header(rng, recipients, Vec::new())?;
    let signature = signature::sign(sender.signing_key(), SEALED_SIGNATURE_CONTEXT, &[plaintext]);
    let mut content = Zeroizing::new(Vec::with_capacity(plaintext.len() + SIGNATURE_LEN));
    content.extend_from_slice(plaintext);
    content.extend_from_slice(&signature);
    let ciphertext = content_cipher(&content_key).encrypt(&associated_data(&header), &content)?;
    let sealed = v1::SealedMessage { header, ciphertext }.encode_to_vec();
    if sealed.len() > MAX_SEALED_MESSAGE_LEN {
        return Err(too_large());
    }
    Ok(sealed)
}

/// Opens a message sealed by [`seal`] as `recipient`, and verifies that one of `senders`
/// signed it.
///
/// `senders` are the cards the message may come from, tried in order: usually the one
/// card of the expected sender, or that sender's cards before and after a rotation.
/// [`Opened::sender`] says which one signed.
///
/// ```
/// use ratchetkit::{open, seal, Error, Identity};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// # let mallory = Identity::generate(&mut rng, "mallory")?;
/// let sealed = seal(&mut rng, &alice, &[bob.card().clone()], b"for bob")?;
///
/// assert_eq!(open(&bob, &[alice.card().clone()], &sealed)?.plaintext(), b"for bob");
/// // Not for Mallory, and not from Mallory.
/// assert_eq!(open(&mallory, &[alice.card().clone()], &sealed), Err(Error::NotARecipient));
/// assert_eq!(open(&bob, &[mallory.card().clone()], &sealed), Err(Error::NotFromSender));
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// # Errors
/// In the order checked: [`Error::SealedTooLarge`] for input over
/// [`MAX_SEALED_MESSAGE_LEN`]; [`Error::TooLarge`] for a header over
/// [`MAX_SEALED_HEADER_LEN`](crate::limits::MAX_SEALED_HEADER_LEN) and [`Error::TooMany`] for
/// more than [`MAX_SEALED_RECIPIENTS`](crate::limits::MAX_SEALED_RECIPIENTS) entries, both
/// before anything is decoded; [`Error::Decode`], [`Error::UnsupportedVersion`],
/// [`Error::InvalidLength`], [`Error::InvalidPublicKey`] or [`Error::NoRecipients`] for
/// malformed input; [`Error::NotARecipient`] if
/// `recipient`'s card is not listed ([`Error::DuplicateRecipient`] if it is listed twice);
/// [`Error::NonContributoryKey`] or [`Error::Tampered`] if the message does not decrypt;
/// [`Error::NotFromSender`] if no card in `senders` verifies the signature.
pub fn open(recipient: &Identity, senders: &[Card], sealed: &[u8]) -> Result<Opened> {
    if sealed.len() > MAX_SEALED_MESSAGE_LEN {
        return Err(too_large());
    }
    let message: v1::SealedMessage = wire::decode(sealed, "SealedMessage")?;
    let header = recipients::parse_header(&message.header)?;
    if !header.nonce_prefix.is_empty() {
        return Err(Error::Decode {
            what: "SealedHeader",
        });
    }
    let content_key = recipients::open_header(recipient, &header)?;
    let mut plaintext = content_cipher(&content_key)
        .decrypt(&associated_data(&message.header), &message.ciphertext)
        .map_err(|_| Error::Tampered)?;
    let signature_start = plaintext
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(Error::Tampered)?;
    let signature = plaintext.split_off(signature_start);
    let sender = signer(senders, SEALED_SIGNATURE_CONTEXT, &plaintext, &signature)?;
    Ok(Opened { plaintext, sender })
}
