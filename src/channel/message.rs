//! Parsing and building `ChannelMessage`s.

use prost::Message;

use crate::crypto::agreement::public_key;
use crate::error::{Error, Result};
use crate::wire::{self, v1};

/// Version of the `ChannelMessage` format this crate writes and reads.
pub const PROTOCOL_VERSION: u32 = 1;

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
    pub(crate) ciphertext: Vec<u8>,
    pub(crate) prekey: Option<v1::PrekeyInfo>,
}

impl Incoming {
    /// Parses a `ChannelMessage` strictly: canonical protobuf, version 1, a canonical
    /// header with a 32-byte ratchet key and a known content type.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        let message: v1::ChannelMessage = wire::decode(bytes, "ChannelMessage")?;
        wire::check_version(message.version, "ChannelMessage")?;
        let header: v1::RatchetHeader = wire::decode(&message.header, "RatchetHeader")?;
        Ok(Self {
            ratchet_key: public_key(&header.ratchet_key, "ratchet key")?,
            previous_chain_length: header.previous_chain_length,
            number: header.message_number,
            content: Content::from_wire(header.content_type)?,
            header: message.header,
            ciphertext: message.ciphertext,
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
) -> Vec<u8> {
    v1::RatchetHeader {
        ratchet_key: ratchet_key.to_vec(),
        previous_chain_length,
        message_number: number,
        content_type: content.wire(),
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

/// The associated data of one message: the channel's AD followed by the header bytes.
pub(crate) fn associated_data(channel_ad: &[u8], header: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(channel_ad.len() + header.len());
    aad.extend_from_slice(channel_ad);
    aad.extend_from_slice(header);
    aad
}
