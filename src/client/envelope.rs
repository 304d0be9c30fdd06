//! Envelopes: what one device sends another, with what routes it, readable without
//! decrypting ([`peek`]).

use prost::Message;

use super::devices::{DeviceId, MAX_DEVICE_LIST_LEN};
use super::groups::GroupId;
use crate::channel::{self, MAX_CHANNEL_MESSAGE_LEN};
use crate::error::{Error, Result};
use crate::group::MAX_GROUP_MESSAGE_LEN;
use crate::wire::{self, v1};

/// The envelope format this crate writes and reads: 2 (the protocol's version; there was
/// no envelope in version 1).
pub const ENVELOPE_VERSION: u32 = 2;

/// Longest encoded `Envelope`, in bytes: a payload of at most [`MAX_CHANNEL_MESSAGE_LEN`]
/// or [`MAX_GROUP_MESSAGE_LEN`] (the larger), a device list of at most
/// [`MAX_DEVICE_LIST_LEN`], and 1 KiB for the two device keys and the framing. Checked
/// before decoding.
pub const MAX_ENVELOPE_LEN: usize =
    super::larger(MAX_CHANNEL_MESSAGE_LEN, MAX_GROUP_MESSAGE_LEN) + MAX_DEVICE_LIST_LEN + 1024;

/// The `kind` of an envelope whose payload is a `ChannelMessage`.
const KIND_CHANNEL: u32 = 1;

/// The `kind` of an envelope whose payload is a `GroupMessage`.
const KIND_GROUP: u32 = 2;

/// What an envelope carries, as far as can be told without decrypting.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeKind {
    /// A channel message that carries prekey information: it may start a channel (or be
    /// one of the first messages of a channel the recipient already joined).
    FirstMessage,
    /// A message on an established channel.
    ChannelMessage,
    /// Group control (sender keys, rosters) on a channel, for a group.
    GroupControl,
    /// A group message, for the group [`Peeked::group`] names.
    GroupMessage,
}

/// The routing information of an envelope, read by [`peek`] without decrypting.
///
/// None of it is authenticated until the envelope is received: it says where to route
/// bytes, never whom to believe.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peeked {
    /// What the envelope carries.
    pub kind: EnvelopeKind,
    /// The device that (says it) sent it.
    pub sender: DeviceId,
    /// The device it is for.
    pub recipient: DeviceId,
    /// The group a group message is for; `None` for the other kinds (group control names
    /// its group only inside the encrypted channel message).
    pub group: Option<GroupId>,
}

/// An envelope, parsed and checked, not yet decrypted.
pub(crate) struct Envelope {
    pub(crate) sender: DeviceId,
    pub(crate) recipient: DeviceId,
    pub(crate) payload: Vec<u8>,
    /// The sender's `SignedDeviceList`, on first messages only.
    pub(crate) sender_devices: Option<Vec<u8>>,
    pub(crate) carried: Carried,
}

/// What an envelope's payload is, with its routing information.
pub(crate) enum Carried {
    Channel(channel::ChannelPeek),
    Group {
        group: GroupId,
        /// The group message's sender, as its header says.
        sender: DeviceId,
    },
}

impl Envelope {
    /// Wraps a `ChannelMessage` for `recipient`.
    pub(crate) fn seal_channel(
        sender: DeviceId,
        recipient: DeviceId,
        payload: Vec<u8>,
        sender_devices: Option<Vec<u8>>,
    ) -> Vec<u8> {
        v1::Envelope {
            version: ENVELOPE_VERSION,
            kind: KIND_CHANNEL,
            sender: sender.as_bytes().to_vec(),
            recipient: recipient.as_bytes().to_vec(),
            payload,
            sender_devices: sender_devices.unwrap_or_default(),
        }
        .encode_to_vec()
    }

    /// Wraps a `GroupMessage` for `recipient`.
    pub(crate) fn seal_group(sender: DeviceId, recipient: DeviceId, payload: Vec<u8>) -> Vec<u8> {
        v1::Envelope {
            version: ENVELOPE_VERSION,
            kind: KIND_GROUP,
            sender: sender.as_bytes().to_vec(),
            recipient: recipient.as_bytes().to_vec(),
            payload,
            sender_devices: Vec::new(),
        }
        .encode_to_vec()
    }

    /// Parses an envelope strictly: its size before anything else, canonical encoding,
    /// version, kind, the two device keys, and its payload as a channel or group message;
    /// a device list exactly on channel messages that carry prekey information.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_ENVELOPE_LEN {
            return Err(Error::TooLarge {
                what: "Envelope",
                limit: MAX_ENVELOPE_LEN,
            });
        }
        let envelope: v1::Envelope = wire::decode(bytes, "Envelope")?;
        wire::check_version_is(envelope.version, ENVELOPE_VERSION, "Envelope")?;
        let sender = DeviceId::from_bytes(wire::fixed(&envelope.sender, "envelope sender")?);
        let recipient =
            DeviceId::from_bytes(wire::fixed(&envelope.recipient, "envelope recipient")?);
        let (carried, carries_list) = match envelope.kind {
            KIND_CHANNEL => {
                let peek = channel::peek(&envelope.payload)?;
                let first = peek.creator_key.is_some();
                (Carried::Channel(peek), first)
            }
            KIND_GROUP => {
                let (group, from) = crate::group::peek_message(&envelope.payload)?;
                let carried = Carried::Group {
                    group: GroupId::from_bytes(group),
                    sender: DeviceId::from_bytes(from),
                };
                (carried, false)
            }
            _ => {
                return Err(Error::Decode {
                    what: "Envelope.kind",
                })
            }
        };
        let sender_devices = match (carries_list, envelope.sender_devices) {
            (true, list) if !list.is_empty() => Some(list),
            (false, list) if list.is_empty() => None,
            _ => {
                return Err(Error::Decode {
                    what: "Envelope.sender_devices",
                })
            }
        };
        Ok(Self {
            sender,
            recipient,
            payload: envelope.payload,
            sender_devices,
            carried,
        })
    }

    pub(crate) fn kind(&self) -> EnvelopeKind {
        match &self.carried {
            Carried::Group { .. } => EnvelopeKind::GroupMessage,
            Carried::Channel(peek) if peek.group_control => EnvelopeKind::GroupControl,
            Carried::Channel(peek) if peek.creator_key.is_some() => EnvelopeKind::FirstMessage,
            Carried::Channel(_) => EnvelopeKind::ChannelMessage,
        }
    }
}

/// Reads where an envelope goes and what it carries, without decrypting it and without
/// any state: for an app or a server to route bytes (to a device's queue, to the client,
/// to a handler of group traffic) before giving them to [`Client::receive`].
///
/// Nothing it returns is authenticated; [`Client::receive`] checks it all.
///
/// [`Client::receive`]: super::Client::receive
///
/// ```
/// use ratchetkit::client::{peek, Client, EnvelopeKind, MemoryStore};
/// use ratchetkit::StorageKey;
/// # let mut rng = rand::rng();
/// let key = StorageKey::generate(&mut rng);
/// let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", 0)?;
/// let key = StorageKey::generate(&mut rng);
/// let mut bob = Client::create(&mut rng, MemoryStore::new(), key, "bob", 0)?;
/// let bob_account = alice.add_contact(&mut rng, &bob.device_list().expect("first device").to_bytes())?;
/// let bundles = bob.bundles(&mut rng, 1, 0)?;
/// alice.start_sessions(&mut rng, &bundles)?;
/// let sent = alice.encrypt_to(&mut rng, bob_account, b"hi")?;
///
/// let peeked = peek(sent[0].bytes())?;
/// assert_eq!(peeked.kind, EnvelopeKind::FirstMessage);
/// assert_eq!(peeked.recipient, bob.device_id());
/// assert_eq!(peeked.sender, alice.device_id());
/// # Ok::<(), ratchetkit::client::ClientError<std::convert::Infallible>>(())
/// ```
///
/// # Errors
/// Those of parsing: [`Error::TooLarge`] over [`MAX_ENVELOPE_LEN`], [`Error::Decode`],
/// [`Error::UnsupportedVersion`], [`Error::InvalidLength`], and card errors for the card a
/// first message carries.
pub fn peek(envelope: &[u8]) -> Result<Peeked> {
    let parsed = Envelope::parse(envelope)?;
    Ok(Peeked {
        kind: parsed.kind(),
        sender: parsed.sender,
        recipient: parsed.recipient,
        group: match parsed.carried {
            Carried::Group { group, .. } => Some(group),
            Carried::Channel(_) => None,
        },
    })
}
