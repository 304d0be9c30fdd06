//! Group control (sender keys, rosters, leave requests) and the channels it travels on.
//!
//! Control only ever travels as the plaintext of a one-to-one channel, marked as group
//! control in the channel message's authenticated header, so the app never sees it: the
//! group takes the channels from the app and hands back the channel messages to deliver.

use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;

use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::pending::Pending;
use super::GROUP_VERSION;
use crate::channel::Channel;
pub use crate::channel::JoinedControl;
use crate::error::{Error, Party, Result};
use crate::wire::{self, v1};

/// Where a group finds the app's channels to other members.
///
/// Implemented for maps from a member's Ed25519 identity key (as on its card, and as
/// [`Channel::peer_signing_key`] returns) to the channel with that member. A group checks
/// that the channel it gets is really with that member.
///
/// ```
/// use std::collections::HashMap;
/// use ratchetkit::{group::Channels, Channel};
/// let mut channels: HashMap<[u8; 32], Channel> = HashMap::new();
/// assert!(channels.channel(&[7; 32]).is_none());
/// ```
pub trait Channels {
    /// The channel to `member`, if the app has one.
    fn channel(&mut self, member: &[u8; 32]) -> Option<&mut Channel>;
}

impl<S: BuildHasher> Channels for HashMap<[u8; 32], Channel, S> {
    fn channel(&mut self, member: &[u8; 32]) -> Option<&mut Channel> {
        self.get_mut(member)
    }
}

impl Channels for BTreeMap<[u8; 32], Channel> {
    fn channel(&mut self, member: &[u8; 32]) -> Option<&mut Channel> {
        self.get_mut(member)
    }
}

/// A channel message that the app must deliver to group member `to`, who passes it to
/// [`Group::receive`](super::Group::receive) (or [`Group::join`](super::Group::join)).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outgoing {
    to: [u8; 32],
    message: Vec<u8>,
}

impl Outgoing {
    /// The recipient's Ed25519 identity key
    /// ([`Card::signing_key`](crate::Card::signing_key) of its card): the member to
    /// deliver [`message`](Self::message) to.
    pub fn to(&self) -> [u8; 32] {
        self.to
    }

    /// The `ChannelMessage` bytes to deliver.
    pub fn message(&self) -> &[u8] {
        &self.message
    }

    /// The recipient and the message bytes, owned.
    pub fn into_parts(self) -> ([u8; 32], Vec<u8>) {
        (self.to, self.message)
    }
}

/// The channels one group operation uses. They change on copies, which [`commit`] writes
/// back once the whole operation has succeeded: a failure leaves every channel as it was.
///
/// [`commit`]: ChannelWork::commit
pub(crate) struct ChannelWork<'a, C: ?Sized> {
    channels: &'a mut C,
    working: BTreeMap<[u8; 32], Channel>,
    outgoing: Vec<Outgoing>,
    /// Control for members the app has no channel to, to deliver once it has one.
    pub(crate) queued: BTreeMap<[u8; 32], Pending>,
}

impl<'a, C: Channels + ?Sized> ChannelWork<'a, C> {
    pub(crate) fn new(channels: &'a mut C) -> Self {
        Self {
            channels,
            working: BTreeMap::new(),
            outgoing: Vec::new(),
            queued: BTreeMap::new(),
        }
    }

    /// The channel to `member`, if the app has one that is really with `member`.
    fn channel(&mut self, member: &[u8; 32]) -> Option<&mut Channel> {
        if !self.working.contains_key(member) {
            let channel = self
                .channels
                .channel(member)
                .filter(|channel| channel.peer_signing_key() == *member)?;
            self.working.insert(*member, channel.clone());
        }
        self.working.get_mut(member)
    }

    /// Whether the app has a channel to `member`.
    pub(crate) fn has_channel(&mut self, member: &[u8; 32]) -> bool {
        self.channel(member).is_some()
    }

    /// Decrypts a control message from `from`.
    pub(crate) fn receive(&mut self, from: &[u8; 32], message: &[u8]) -> Result<Control> {
        let plaintext = self
            .channel(from)
            .ok_or_else(|| Error::MissingChannel {
                member: Party::from(*from),
            })?
            .decrypt_group_control(message)?;
        Control::parse(&plaintext)
    }

    /// Encrypts a control message, encoded by [`ControlParts::encode`], to `to`; without
    /// a channel to `to`, queues `otherwise` for it instead.
    pub(crate) fn send<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &[u8; 32],
        control: &[u8],
        otherwise: impl FnOnce() -> Pending,
    ) -> Result<()> {
        let Some(channel) = self.channel(to) else {
            self.queued.entry(*to).or_default().merge(otherwise());
            return Ok(());
        };
        let message = channel.encrypt_group_control(rng, control)?;
        self.outgoing.push(Outgoing { to: *to, message });
        Ok(())
    }

    /// Encrypts a control message to `to` if the app has a channel to it; a courtesy
    /// (such as telling a removed member) that is skipped without one.
    pub(crate) fn send_if_possible<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        to: &[u8; 32],
        control: &[u8],
    ) -> Result<()> {
        if let Some(channel) = self.channel(to) {
            let message = channel.encrypt_group_control(rng, control)?;
            self.outgoing.push(Outgoing { to: *to, message });
        }
        Ok(())
    }

    /// Writes the changed channels back and returns the messages to deliver.
    pub(crate) fn commit(self) -> (Vec<Outgoing>, BTreeMap<[u8; 32], Pending>) {
        for (member, channel) in self.working {
            if let Some(slot) = self.channels.channel(&member) {
                *slot = channel;
            }
        }
        (self.outgoing, self.queued)
    }
}

impl JoinedControl {
    pub(crate) fn parse(&self) -> Result<Control> {
        Control::parse(self.plaintext())
    }
}

/// A parsed `GroupControl`: its parts, all for `group_id`.
pub(crate) struct Control {
    pub(crate) group_id: Vec<u8>,
    pub(crate) roster: Option<v1::SignedRoster>,
    pub(crate) sender_key: Option<v1::SenderKeyDistribution>,
    pub(crate) leave: bool,
    pub(crate) roster_version: u64,
    pub(crate) resync: bool,
    pub(crate) offer: Option<v1::OwnerTransfer>,
}

impl Control {
    /// Parses a `GroupControl` strictly: canonical, version 2, at least one part, every
    /// part naming the same group.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self> {
        const WHAT: &str = "GroupControl";
        let control: v1::GroupControl = wire::decode_secret(bytes, WHAT)?;
        wire::check_version_is(control.version, GROUP_VERSION, WHAT)?;
        let roster_group = control
            .roster
            .as_ref()
            .map(|signed| wire::decode::<v1::Roster>(&signed.roster, "Roster"))
            .transpose()?
            .map(|roster| roster.group_id);
        let offer = control
            .offer
            .as_ref()
            .map(|offer| {
                offer
                    .transfer
                    .clone()
                    .map(|transfer| (offer.group_id.clone(), transfer))
                    .ok_or(Error::Decode { what: WHAT })
            })
            .transpose()?;
        let ids = [
            roster_group,
            control.sender_key.as_ref().map(|key| key.group_id.clone()),
            control.leave.as_ref().map(|leave| leave.group_id.clone()),
            control
                .resync
                .as_ref()
                .map(|resync| resync.group_id.clone()),
            offer.as_ref().map(|(group_id, _)| group_id.clone()),
        ];
        let mut ids = ids.into_iter().flatten();
        let group_id = ids.next().ok_or(Error::Decode { what: WHAT })?;
        if ids.any(|other| other != group_id) {
            return Err(Error::Decode { what: WHAT });
        }
        Ok(Self {
            group_id,
            roster: control.roster.clone(),
            sender_key: control.sender_key.clone(),
            leave: control.leave.is_some(),
            roster_version: control.roster_version,
            resync: control.resync.is_some(),
            offer: offer.map(|(_, transfer)| transfer),
        })
    }
}

/// The parts of a `GroupControl` to send under roster `roster_version`.
#[derive(Default)]
pub(crate) struct ControlParts {
    pub(crate) roster_version: u64,
    pub(crate) roster: Option<v1::SignedRoster>,
    pub(crate) sender_key: Option<v1::SenderKeyDistribution>,
    pub(crate) leave: bool,
    pub(crate) resync: bool,
    pub(crate) offer: Option<v1::OwnerTransfer>,
}

impl ControlParts {
    /// Encodes the control for `group_id`: once for all its recipients (a roster carries
    /// every member's card, about 200 bytes each), zeroized after, as it may hold a
    /// sender key.
    pub(crate) fn encode(self, group_id: &[u8]) -> Zeroizing<Vec<u8>> {
        let id = || group_id.to_vec();
        Zeroizing::new(
            v1::GroupControl {
                version: GROUP_VERSION,
                roster: self.roster,
                sender_key: self.sender_key,
                leave: self.leave.then(|| v1::LeaveRequest { group_id: id() }),
                roster_version: self.roster_version,
                resync: self.resync.then(|| v1::ResyncRequest { group_id: id() }),
                offer: self.offer.map(|transfer| v1::OwnershipOffer {
                    group_id: id(),
                    transfer: Some(transfer),
                }),
            }
            .encode_to_vec(),
        )
    }
}

/// The group a decrypted `GroupControl` belongs to.
pub(crate) fn control_group_id(plaintext: &[u8]) -> Result<Vec<u8>> {
    Control::parse(plaintext).map(|control| control.group_id)
}
