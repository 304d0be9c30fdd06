//! What client calls return: envelopes to send, and events to show.

use super::devices::{AccountId, DeviceId};
use super::groups::GroupId;
use super::inbox::Receipt;
use crate::group::GroupEvent;

/// One envelope to send, to one device.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Outgoing {
    recipient: DeviceId,
    bytes: Vec<u8>,
    /// Its id among the kept envelopes of group control, if it is one.
    unsent: Option<[u8; 16]>,
}

impl Outgoing {
    pub(crate) fn new(recipient: DeviceId, bytes: Vec<u8>) -> Self {
        Self {
            recipient,
            bytes,
            unsent: None,
        }
    }

    pub(crate) fn unsent(recipient: DeviceId, bytes: Vec<u8>, id: [u8; 16]) -> Self {
        Self {
            recipient,
            bytes,
            unsent: Some(id),
        }
    }

    /// Whether the client keeps this envelope until it is marked sent
    /// ([`Client::mark_sent`](super::Client::mark_sent)): group control is kept, as nothing
    /// could make it again; messages are not (encrypt them again).
    pub fn is_kept(&self) -> bool {
        self.unsent.is_some()
    }

    pub(crate) fn unsent_id(&self) -> Option<[u8; 16]> {
        self.unsent
    }

    /// The device to deliver it to.
    pub fn recipient(&self) -> DeviceId {
        self.recipient
    }

    /// The envelope's bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The envelope's bytes, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

impl core::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Outgoing")
            .field("recipient", &self.recipient)
            .field("len", &self.bytes.len())
            .field("kept", &self.unsent.is_some())
            .finish()
    }
}

/// Something that happened when an envelope was received.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A message, from device `device` of account `account` (this device's own account
    /// for a copy of what another of its devices sent).
    Message {
        /// The sender's account.
        account: AccountId,
        /// The device that sent it.
        device: DeviceId,
        /// Whether the app marked the account verified ([`Client::mark_verified`]); always
        /// `true` for the client's own account.
        ///
        /// [`Client::mark_verified`]: super::Client::mark_verified
        verified: bool,
        /// The message.
        plaintext: Vec<u8>,
    },
    /// A first message came from an account that was no contact: it is one now, not
    /// verified. Show its safety number to the user before trusting it.
    NewContact {
        /// The new contact.
        account: AccountId,
    },
    /// A contact's (or this account's) device list changed: messages now go to its new
    /// devices, and no longer to removed ones.
    DevicesChanged {
        /// The account.
        account: AccountId,
        /// Devices on the new list only.
        added: Vec<DeviceId>,
        /// Devices on the old list only; their sessions are deleted.
        removed: Vec<DeviceId>,
    },
    /// A group message, from member device `device`.
    GroupMessage {
        /// The group.
        group: GroupId,
        /// The sender's account, if this client holds a device list with the device (see
        /// [`Client::account_of`](super::Client::account_of)).
        account: Option<AccountId>,
        /// The device that sent it.
        device: DeviceId,
        /// Whether the sender's account is marked verified (or is this account).
        verified: bool,
        /// The message.
        plaintext: Vec<u8>,
    },
    /// Something happened to a group, as the group protocol reports it
    /// ([`GroupEvent`]). Member keys are the devices' ids. For
    /// [`GroupEvent::ChannelNeeded`], start a session with that device
    /// ([`Client::start_sessions`](super::Client::start_sessions), after
    /// [`Client::add_contact`](super::Client::add_contact) with its account's device list
    /// if it is no contact's device) and call
    /// [`Client::deliver_group_pending`](super::Client::deliver_group_pending).
    Group {
        /// The group.
        group: GroupId,
        /// What happened.
        event: GroupEvent,
    },
    /// The peer device started a new channel, which replaced the one this device sent on
    /// (the peer lost its state, or both started at once and its channel won). The old
    /// one is archived, so messages in flight on it still decrypt.
    ChannelReplaced {
        /// The peer device.
        device: DeviceId,
    },
}

impl core::fmt::Debug for Event {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Event::Message {
                account,
                device,
                verified,
                plaintext,
            } => f
                .debug_struct("Message")
                .field("account", account)
                .field("device", device)
                .field("verified", verified)
                .field("plaintext_len", &plaintext.len())
                .finish(),
            Event::NewContact { account } => f
                .debug_struct("NewContact")
                .field("account", account)
                .finish(),
            Event::DevicesChanged {
                account,
                added,
                removed,
            } => f
                .debug_struct("DevicesChanged")
                .field("account", account)
                .field("added", added)
                .field("removed", removed)
                .finish(),
            Event::GroupMessage {
                group,
                account,
                device,
                verified,
                plaintext,
            } => f
                .debug_struct("GroupMessage")
                .field("group", group)
                .field("account", account)
                .field("device", device)
                .field("verified", verified)
                .field("plaintext_len", &plaintext.len())
                .finish(),
            Event::Group { group, event } => f
                .debug_struct("Group")
                .field("group", group)
                .field("event", event)
                .finish(),
            Event::ChannelReplaced { device } => f
                .debug_struct("ChannelReplaced")
                .field("device", device)
                .finish(),
        }
    }
}

/// What [`Client::receive`](super::Client::receive) returns: the events, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    events: Vec<Event>,
    outgoing: Vec<Outgoing>,
    receipt: Option<Receipt>,
}

impl Received {
    pub(crate) fn new(events: Vec<Event>, receipt: Option<Receipt>) -> Self {
        Self {
            events,
            outgoing: Vec::new(),
            receipt,
        }
    }

    pub(crate) fn with_outgoing(events: Vec<Event>, outgoing: Vec<Outgoing>) -> Self {
        Self {
            events,
            outgoing,
            receipt: None,
        }
    }

    /// The receipt of the message received, which the client keeps until the app
    /// acknowledges it ([`Client::acknowledge`](super::Client::acknowledge)) once it stored
    /// the message: a crash before that loses nothing, as
    /// [`Client::unacknowledged`](super::Client::unacknowledged) hands it back.
    pub fn receipt(&self) -> Option<Receipt> {
        self.receipt
    }

    /// The events, in the order they happened.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// The events, owned.
    pub fn into_events(self) -> Vec<Event> {
        self.events
    }

    /// The plaintext of the message (or group message) received, if the envelope held
    /// one.
    pub fn message(&self) -> Option<&[u8]> {
        self.events.iter().find_map(|event| match event {
            Event::Message { plaintext, .. } | Event::GroupMessage { plaintext, .. } => {
                Some(plaintext.as_slice())
            }
            _ => None,
        })
    }

    /// The envelopes a received group control made this device send (its sender key to
    /// the other members, answers to a resync): send them as any others.
    pub fn outgoing(&self) -> &[Outgoing] {
        &self.outgoing
    }
}
