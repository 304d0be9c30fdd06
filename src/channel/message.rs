//! Parsing and building `ChannelMessage`s.

use prost::Message;
use sha2::{Digest, Sha256};

use crate::crypto::agreement::public_key;
use crate::crypto::chain::MESSAGE_SALT_LEN;
use crate::error::{Error, Result};
use crate::wire::{self, fixed, v1};

/// Version of the `ChannelMessage` format this crate writes and reads: 2 (the hybrid
/// start, authenticated prekey information, message salts and padding).
pub const PROTOCOL_VERSION: u32 = 2;

/// Hash context of the prekey information a message carries: its associated data holds
/// SHA-256 of this context and the `PrekeyInfo` bytes, so the information is authenticated
/// with the message.
pub const PREKEY_INFO_CONTEXT: &[u8] = b"ratchetkit/v2/prekey-info";

/// SHA-256 of [`PREKEY_INFO_CONTEXT`] || the (canonical) `PrekeyInfo` encoding.
pub(crate) fn prekey_info_hash(prekey: &v1::PrekeyInfo) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(PREKEY_INFO_CONTEXT);
    hash.update(prekey.encode_to_vec());
    hash.finalize().into()
}

/// What a channel message's plaintext is, as its authenticated header says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Content {
    /// Bytes for the application: what [`Channel::encrypt`](super::Channel::encrypt) took.
    Application,
    /// A `GroupControl` message: sender keys and rosters, read only by a group.
    GroupControl,
}

impl Content {
    fn wire(self) -> u32 {
        match self {
            Content::Application => 0,
            Content::GroupControl => 1,
        }
    }

    fn from_wire(value: u32) -> Result<Self> {
        match value {
            0 => Ok(Content::Application),
            1 => Ok(Content::GroupControl),
            _ => Err(Error::Decode {
                what: "RatchetHeader",
            }),
        }
    }
}

/// A received channel message, parsed but not yet authenticated.
pub(crate) struct Incoming {
    /// The header bytes exactly as carried: they are authenticated as they are.
    pub(crate) header: Vec<u8>,
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) previous_chain_length: u32,
    pub(crate) number: u32,
    pub(crate) content: Content,
    pub(crate) salt: [u8; MESSAGE_SALT_LEN],
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) prekey: Option<v1::PrekeyInfo>,
    /// [`prekey_info_hash`] of `prekey`, part of the associated data.
    pub(crate) prekey_hash: Option<[u8; 32]>,
}

impl Incoming {
    /// Parses a `ChannelMessage` strictly: canonical protobuf, version 2, a canonical
    /// header with a 32-byte ratchet key, a 16-byte salt and a known content type.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        let message: v1::ChannelMessage = wire::decode(bytes, "ChannelMessage")?;
        wire::check_version_is(message.version, PROTOCOL_VERSION, "ChannelMessage")?;
        let header: v1::RatchetHeader = wire::decode(&message.header, "RatchetHeader")?;
        Ok(Self {
            ratchet_key: public_key(&header.ratchet_key, "ratchet key")?,
            previous_chain_length: header.previous_chain_length,
            number: header.message_number,
            content: Content::from_wire(header.content_type)?,
            salt: fixed(&header.salt, "message salt")?,
            header: message.header,
            ciphertext: message.ciphertext,
            prekey_hash: message.prekey.as_ref().map(prekey_info_hash),
            prekey: message.prekey,
        })
    }
}

/// Serializes a header.
pub(crate) fn header(
    ratchet_key: [u8; 32],
    previous_chain_length: u32,
    number: u32,
    content: Content,
    salt: &[u8; MESSAGE_SALT_LEN],
) -> Vec<u8> {
    v1::RatchetHeader {
        ratchet_key: ratchet_key.to_vec(),
        previous_chain_length,
        message_number: number,
        content_type: content.wire(),
        salt: salt.to_vec(),
    }
    .encode_to_vec()
}

/// Serializes a whole message.
pub(crate) fn encode(
    header: Vec<u8>,
    ciphertext: Vec<u8>,
    prekey: Option<v1::PrekeyInfo>,
) -> Vec<u8> {
    v1::ChannelMessage {
        version: PROTOCOL_VERSION,
        header,
        ciphertext,
        prekey,
    }
    .encode_to_vec()
}

/// The associated data of one message: the channel's AD, then 0x00 for a message without
/// prekey information or 0x01 and its [`prekey_info_hash`], then the header bytes. The
/// flag puts the header at a fixed place either way, so nothing can be moved between the
/// hash and the header.
pub(crate) fn associated_data(
    channel_ad: &[u8],
    prekey_hash: Option<&[u8; 32]>,
    header: &[u8],
) -> Vec<u8> {
    let mut aad = Vec::with_capacity(channel_ad.len() + 33 + header.len());
    aad.extend_from_slice(channel_ad);
    match prekey_hash {
        Some(hash) => {
            aad.push(0x01);
            aad.extend_from_slice(hash);
        }
        None => aad.push(0x00),
    }
    aad.extend_from_slice(header);
    aad
}
