//! Building, parsing and verifying `GroupMessage`s.

use ed25519_dalek::VerifyingKey;
use prost::Message;
use rand::CryptoRng;

use super::sender_key::SenderKey;
use super::{GROUP_MESSAGE_INFO, GROUP_SIGNATURE_CONTEXT, GROUP_VERSION};
use crate::crypto::chain::{KeyChain, MESSAGE_SALT_LEN};
use crate::crypto::padding::{self, Padding};
use crate::crypto::signature;
use crate::error::Result;
use crate::wire::{self, fixed, v1};

/// A received group message, parsed strictly but not yet authenticated.
pub(crate) struct IncomingGroupMessage {
    /// The header bytes exactly as carried: they are signed and authenticated as they are.
    pub(crate) header: Vec<u8>,
    pub(crate) group_id: Vec<u8>,
    pub(crate) sender: [u8; 32],
    pub(crate) epoch: u32,
    pub(crate) iteration: u32,
    /// The HKDF salt of the message's AES key and nonce.
    pub(crate) salt: [u8; MESSAGE_SALT_LEN],
    pub(crate) ciphertext: Vec<u8>,
    signature: Vec<u8>,
}

impl IncomingGroupMessage {
    /// Parses a `GroupMessage`: canonical protobuf, version 2, a canonical header with a
    /// 32-byte sender and a 16-byte salt.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        let message: v1::GroupMessage = wire::decode(bytes, "GroupMessage")?;
        wire::check_version_is(message.version, GROUP_VERSION, "GroupMessage")?;
        let header: v1::GroupHeader = wire::decode(&message.header, "GroupHeader")?;
        Ok(Self {
            sender: fixed(&header.sender, "sender")?,
            salt: fixed(&header.salt, "salt")?,
            group_id: header.group_id,
            epoch: header.epoch,
            iteration: header.iteration,
            header: message.header,
            ciphertext: message.ciphertext,
            signature: message.signature,
        })
    }

    /// The signature check of [`IncomingGroupMessage::verify`], to make in a batch.
    pub(crate) fn pending<'a>(&'a self, signing_key: &'a VerifyingKey) -> signature::Pending<'a> {
        signature::Pending::new(
            signing_key,
            GROUP_SIGNATURE_CONTEXT,
            &[&header_length(&self.header), &self.header, &self.ciphertext],
            &self.signature,
        )
    }

    /// Checks the sender's epoch signature (strict Ed25519).
    pub(crate) fn verify(&self, signing_key: &VerifyingKey) -> Result<()> {
        signature::verify(
            signing_key,
            GROUP_SIGNATURE_CONTEXT,
            &[&header_length(&self.header), &self.header, &self.ciphertext],
            &self.signature,
            super::GROUP_MESSAGE_SIGNED,
        )
    }
}

/// be32(len(header)): fixes where the header ends in the signed bytes.
fn header_length(header: &[u8]) -> [u8; 4] {
    // Headers are at most a few hundred bytes (the group id is at most 64).
    u32::try_from(header.len())
        .unwrap_or(u32::MAX)
        .to_be_bytes()
}

/// Pads, encrypts and signs the next message of `key` under a fresh salt, returning the
/// message and the chain after it. `key` itself is not changed, so a failure leaves the
/// sender as it was.
pub(crate) fn seal<R: CryptoRng + ?Sized>(
    rng: &mut R,
    key: &SenderKey,
    group_id: &[u8],
    sender: &[u8; 32],
    plaintext: &[u8],
    padding: Padding,
) -> Result<(Vec<u8>, KeyChain)> {
    let (iteration, message_key, chain) = key.chain.next()?;
    // The chain gives the same message key again after a rollback; the salt does not.
    let mut salt = [0u8; MESSAGE_SALT_LEN];
    rng.fill_bytes(&mut salt);
    let header = v1::GroupHeader {
        group_id: group_id.to_vec(),
        sender: sender.to_vec(),
        epoch: key.epoch,
        iteration,
        salt: salt.to_vec(),
    }
    .encode_to_vec();
    let mut buffer = padding::pad(plaintext, padding, TAG_LEN);
    message_key
        .aead_key(&salt, GROUP_MESSAGE_INFO)
        .encrypt_in_place(&header, &mut buffer)?;
    // Encrypted in place: the buffer holds only the ciphertext now.
    let ciphertext = core::mem::take(&mut *buffer);
    let signature = signature::sign(
        &key.signing,
        GROUP_SIGNATURE_CONTEXT,
        &[&header_length(&header), &header, &ciphertext],
    );
    let message = v1::GroupMessage {
        version: GROUP_VERSION,
        header,
        ciphertext,
        signature: signature.to_vec(),
    }
    .encode_to_vec();
    Ok((message, chain))
}

/// Length of an AES-GCM tag: the spare room the padded buffer keeps for it.
const TAG_LEN: usize = 16;
