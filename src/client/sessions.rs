//! Sessions: the channels with one peer device, the current one and a bounded archive of
//! older ones, and the rule that makes two devices that start channels to each other at
//! the same time settle on the same one.

use std::collections::VecDeque;

use prost::Message;
use zeroize::Zeroizing;

use crate::channel::Channel;
use crate::error::{Error, Result};
use crate::wire::{self, state};

/// Most archived channels a session keeps with one peer device: 8. A channel is archived
/// when another replaces it (a simultaneous start, or a peer that started over); its
/// messages still in flight are tried on it. Eight cover every replacement a working peer
/// causes within a round trip, at about 400 bytes each; libsignal keeps 40, for peers that
/// reinstall often and devices offline for long. The oldest is dropped beyond it.
pub const MAX_ARCHIVED_CHANNELS: usize = 8;

/// The format of a saved session: 1.
const SESSION_STATE_VERSION: u32 = 1;

/// What [`Session::adopt`] did with a channel a peer started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Adopted {
    /// It is the session's current channel now.
    Current,
    /// The current channel stays; the new one is archived (it lost the tie-break).
    Archived,
}

/// The channels with one peer device.
#[derive(Clone)]
pub(crate) struct Session {
    current: Channel,
    /// Newest first.
    archived: VecDeque<Channel>,
}

/// A channel of the session that decrypted a message: where to put the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Slot {
    Current,
    Archived(usize),
}

impl Session {
    pub(crate) fn new(current: Channel) -> Self {
        Self {
            current,
            archived: VecDeque::new(),
        }
    }

    /// The channel messages are sent on.
    pub(crate) fn current(&self) -> &Channel {
        &self.current
    }

    pub(crate) fn current_mut(&mut self) -> &mut Channel {
        &mut self.current
    }

    /// Every channel, the current first: the order they are tried in on a message.
    pub(crate) fn channels(&self) -> impl Iterator<Item = (Slot, &Channel)> {
        core::iter::once((Slot::Current, &self.current)).chain(
            self.archived
                .iter()
                .enumerate()
                .map(|(index, channel)| (Slot::Archived(index), channel)),
        )
    }

    /// The channel in `slot`.
    pub(crate) fn channel(&self, slot: Slot) -> Option<&Channel> {
        match slot {
            Slot::Current => Some(&self.current),
            Slot::Archived(index) => self.archived.get(index),
        }
    }

    /// The channel in `slot`, to change in place.
    pub(crate) fn channel_mut(&mut self, slot: Slot) -> Option<&mut Channel> {
        match slot {
            Slot::Current => Some(&mut self.current),
            Slot::Archived(index) => self.archived.get_mut(index),
        }
    }

    /// Puts back a channel that decrypted, in its slot.
    pub(crate) fn replace(&mut self, slot: Slot, channel: Channel) {
        match slot {
            Slot::Current => self.current = channel,
            Slot::Archived(index) => {
                if let Some(archived) = self.archived.get_mut(index) {
                    *archived = channel;
                }
            }
        }
    }

    /// Takes a channel the peer started (joined from its first message), by the rule both
    /// sides apply:
    ///
    /// - when the current channel is one this side created, both devices started a channel
    ///   at once (or the peer's first message crossed this side's): the channel with the
    ///   smaller id stays current on both sides, and the other is archived. Ids are the
    ///   same on both sides, so both choose the same channel whatever the order of arrival.
    /// - when the current channel is one the peer started, the peer started again (it lost
    ///   its state): the new channel becomes current.
    pub(crate) fn adopt(&mut self, joined: Channel) -> Adopted {
        let keep_current =
            self.current.is_creator() && self.current.id().as_bytes() < joined.id().as_bytes();
        if keep_current {
            self.archive(joined);
            Adopted::Archived
        } else {
            let previous = core::mem::replace(&mut self.current, joined);
            self.archive(previous);
            Adopted::Current
        }
    }

    /// A message from the peer decrypted on the channel in `slot`. If that is an archived
    /// channel the peer created, while the current one is a channel this side created that
    /// the peer never answered, and the archived channel's id is the smaller, then the peer
    /// applied the simultaneous-start rule ([`Session::adopt`]) to the two and kept its
    /// own: it becomes current again, so both sides send on one channel. Returns whether
    /// the current channel changed.
    pub(crate) fn received_on(&mut self, slot: Slot) -> bool {
        let Slot::Archived(index) = slot else {
            return false;
        };
        let Some(archived) = self.archived.get(index) else {
            return false;
        };
        let peer_kept_it = !archived.is_creator()
            && self.current.is_creator()
            && self.current.awaiting_reply()
            && archived.id().as_bytes() < self.current.id().as_bytes();
        if !peer_kept_it {
            return false;
        }
        let Some(kept) = self.archived.remove(index) else {
            return false;
        };
        let previous = core::mem::replace(&mut self.current, kept);
        self.archive(previous);
        true
    }

    /// Replaces the current channel with one this side just created (for a peer whose
    /// device list changed, or when the app starts over).
    pub(crate) fn restart(&mut self, created: Channel) {
        let previous = core::mem::replace(&mut self.current, created);
        self.archive(previous);
    }

    fn archive(&mut self, channel: Channel) {
        self.archived.push_front(channel);
        self.archived.truncate(MAX_ARCHIVED_CHANNELS);
    }

    /// The saved session: a `ClientSessionState`.
    pub(crate) fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let saved = state::ClientSessionState {
            version: SESSION_STATE_VERSION,
            current: self.current.to_bytes().to_vec(),
            archived: self
                .archived
                .iter()
                .map(|channel| channel.to_bytes().to_vec())
                .collect(),
        };
        // The generated state types wipe their fields when dropped.
        Zeroizing::new(saved.encode_to_vec())
    }

    /// Loads a saved session.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::ClientSessionState = wire::decode_secret(bytes, "ClientSessionState")?;
        load(&saved)
    }
}

fn load(saved: &state::ClientSessionState) -> Result<Session> {
    wire::check_version_is(saved.version, SESSION_STATE_VERSION, "ClientSessionState")?;
    if saved.archived.len() > MAX_ARCHIVED_CHANNELS {
        return Err(Error::TooMany {
            what: "ClientSessionState.archived",
            limit: MAX_ARCHIVED_CHANNELS,
        });
    }
    Ok(Session {
        current: Channel::from_bytes(&saved.current)?,
        archived: saved
            .archived
            .iter()
            .map(|bytes| Channel::from_bytes(bytes))
            .collect::<Result<_>>()?,
    })
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("current", &self.current)
            .field("archived", &self.archived.len())
            .finish()
    }
}
