//! The recipient entries shared by sealed messages and streams: a fresh random content key,
//! wrapped for every recipient card under one ephemeral X25519 key.

use std::collections::BTreeSet;

use prost::Message;
use rand::CryptoRng;
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

use crate::crypto::aead::AeadKey;
use crate::crypto::agreement::{public_key, AgreementKeyPair};
use crate::crypto::kdf::hkdf_sha256;
use crate::error::{Error, Result};
use crate::identity::{Card, Fingerprint, Identity};
use crate::wire::{self, fixed, v1};

/// Most recipient cards one sealed message or stream may list: 1,000. It bounds the work of
/// sealing (one X25519 agreement per recipient, about 50 ms for 1,000) and the header a
/// reader must parse (86 bytes per recipient, about 86 KB at the limit); larger audiences
/// are groups, or several sealed messages.
pub const MAX_SEALED_RECIPIENTS: usize = 1_000;

/// Longest encoded `SealedHeader`, in bytes: 128 KiB: [`MAX_SEALED_RECIPIENTS`] entries of
/// about 110 bytes each. The same bound as a stream's header
/// ([`MAX_STREAM_HEADER_LEN`](crate::sealed::MAX_STREAM_HEADER_LEN)); checked before decoding.
pub const MAX_SEALED_HEADER_LEN: usize = 131_072;

/// Version of the `SealedHeader` format: 1.
pub const SEALED_VERSION: u32 = 1;

/// HKDF info prefix of a recipient's wrapping key: the info is
/// `"ratchetkit/v1/sealed-wrap" || fingerprint`, the recipient card's 32-byte fingerprint.
pub const SEALED_WRAP_INFO: &[u8] = b"ratchetkit/v1/sealed-wrap";

/// A wrapped content key: 32 bytes of ciphertext and a 16-byte tag.
const WRAPPED_KEY_LEN: usize = 48;

/// The random key that encrypts one sealed message or stream.
pub(crate) type ContentKey = Zeroizing<[u8; 32]>;

/// The AES-256-GCM key and nonce that wrap the content key for one recipient.
fn wrapping_key(
    shared: &[u8; 32],
    ephemeral: &[u8; 32],
    recipient_key: &[u8; 32],
    fingerprint: &Fingerprint,
) -> AeadKey {
    let salt = [ephemeral.as_slice(), recipient_key.as_slice()].concat();
    let info = [SEALED_WRAP_INFO, fingerprint.as_bytes().as_slice()].concat();
    AeadKey::from_okm(&hkdf_sha256::<44>(&salt, shared, &info))
}

/// The checks on the cards a sender gives: 1..=[`MAX_SEALED_RECIPIENTS`], each once.
fn check_recipients(recipients: &[Card]) -> Result<()> {
    if recipients.is_empty() {
        return Err(Error::NoRecipients);
    }
    if recipients.len() > MAX_SEALED_RECIPIENTS {
        return Err(Error::TooManyRecipients {
            max: MAX_SEALED_RECIPIENTS,
        });
    }
    let mut seen = BTreeSet::new();
    for card in recipients {
        if !seen.insert(card.fingerprint()) {
            return Err(Error::DuplicateRecipient {
                fingerprint: card.fingerprint(),
            });
        }
    }
    Ok(())
}

/// Draws a content key and returns it with the serialized `SealedHeader` that wraps it for
/// every recipient.
pub(crate) fn seal_header<R: CryptoRng + ?Sized>(
    rng: &mut R,
    recipients: &[Card],
    nonce_prefix: Vec<u8>,
) -> Result<(ContentKey, Vec<u8>)> {
    check_recipients(recipients)?;
    let mut content_key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(content_key.as_mut_slice());
    // One ephemeral key for all recipients: each wrap still gets its own key, since the
    // agreement differs per recipient and the KDF binds the recipient's key and
    // fingerprint; sealing for N recipients then costs one key generation, not N.
    let ephemeral = AgreementKeyPair::generate(rng);
    let ephemeral_key = ephemeral.public();
    let entries = recipients
        .iter()
        .map(|card| {
            let recipient_key = card.agreement_key();
            let shared = ephemeral.agree(&recipient_key)?;
            let wrapped_key =
                wrapping_key(&shared, &ephemeral_key, &recipient_key, &card.fingerprint())
                    .encrypt(&[], content_key.as_slice())?;
            Ok(v1::SealedRecipient {
                fingerprint: card.fingerprint().as_bytes().to_vec(),
                wrapped_key,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let header = v1::SealedHeader {
        version: SEALED_VERSION,
        ephemeral_key: ephemeral_key.to_vec(),
        recipients: entries,
        nonce_prefix,
    };
    Ok((content_key, header.encode_to_vec()))
}

/// Decodes a `SealedHeader` and checks what every reader checks, recipient or not.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<v1::SealedHeader> {
    let header: v1::SealedHeader = wire::decode(bytes, "SealedHeader")?;
    wire::check_version(header.version, "SealedHeader")?;
    public_key(&header.ephemeral_key, "ephemeral key")?;
    // The pre-scan of `wire::decode` already refused more than MAX_SEALED_RECIPIENTS
    // entries, before any was decoded.
    if header.recipients.is_empty() {
        return Err(Error::NoRecipients);
    }
    for entry in &header.recipients {
        fixed::<32>(&entry.fingerprint, "recipient fingerprint")?;
        fixed::<WRAPPED_KEY_LEN>(&entry.wrapped_key, "wrapped key")?;
    }
    Ok(header)
}

/// Finds `recipient`'s entry in a parsed header and unwraps the content key.
pub(crate) fn open_header(recipient: &Identity, header: &v1::SealedHeader) -> Result<ContentKey> {
    let card = recipient.card();
    let own = card.fingerprint();
    // Every entry gets the same work, a constant-time comparison and a conditional
    // assignment, wherever this recipient's entry is (or whether there is one).
    let mut position = 0u32;
    let mut matches = 0u32;
    for (index, entry) in (0u32..).zip(&header.recipients) {
        let is_own = entry.fingerprint.as_slice().ct_eq(own.as_bytes());
        position.conditional_assign(&index, is_own);
        matches += u32::from(is_own.unwrap_u8());
    }
    let entry = match matches {
        0 => return Err(Error::NotARecipient),
        1 => usize::try_from(position)
            .ok()
            .and_then(|position| header.recipients.get(position))
            .ok_or(Error::NotARecipient)?,
        _ => return Err(Error::DuplicateRecipient { fingerprint: own }),
    };
    let ephemeral_key = public_key(&header.ephemeral_key, "ephemeral key")?;
    let shared = recipient.agreement().agree(&ephemeral_key)?;
    let unwrapped = Zeroizing::new(
        wrapping_key(&shared, &ephemeral_key, &card.agreement_key(), &own)
            .decrypt(&[], &entry.wrapped_key)
            .map_err(|_| Error::Tampered)?,
    );
    let mut content_key = Zeroizing::new([0u8; 32]);
    if unwrapped.len() != content_key.len() {
        return Err(Error::Tampered);
    }
    content_key.copy_from_slice(&unwrapped);
    Ok(content_key)
}
