//! Receiving: routing an envelope to the channel it belongs to (or joining the channel it
//! starts), learning device lists, and reporting what happened.

use rand::CryptoRng;

use super::devices::{AccountId, DeviceId, DeviceList};
use super::envelope::{Carried, Envelope};
use super::error::ClientError;
use super::events::{Event, Received};
use super::inbox::Receipt;
use super::records::PeerRecord;
use super::sessions::{Adopted, Session};
use super::store::{Changes, RecordKey, RecordKind};
use super::{Client, ClientResult, Store};
use crate::channel::{Channel, JoinedControl};
use crate::error::Error;
use crate::identity::{Card, PrekeyStore};

/// Who sent an envelope, as the device lists say.
pub(super) struct Sender {
    account: AccountId,
    card: Card,
    verified: bool,
}

impl<S: Store> Client<S> {
    /// Receives an envelope from another device: decrypts it on the channel it belongs to
    /// (the current one with its sender, or an archived one), or joins the channel it
    /// starts, and returns what happened. Everything it changed (the channel, the prekeys a
    /// join used, a contact's device list) is saved before it returns.
    ///
    /// An envelope that fails changes nothing: drop it, or keep it and retry when the
    /// error says so ([`Error::is_retryable`], [`ClientError::UnknownDevice`]).
    ///
    /// # Errors
    /// Those of parsing ([`peek`](super::peek)); [`ClientError::NotForThisDevice`];
    /// [`ClientError::SenderMismatch`] for an envelope whose sender is not the device that
    /// made its first message; [`ClientError::UnknownDevice`] for a sender on no device
    /// list held; those of [`Channel::decrypt`] (from the current channel, when no channel
    /// decrypts) and [`Channel::join`]; [`Error::GroupControlMessage`] for group control,
    /// which groups read; a store failure.
    pub fn receive<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        envelope: &[u8],
    ) -> ClientResult<Received, S> {
        let envelope = Envelope::parse(envelope)?;
        if envelope.recipient != self.device_id() {
            return Err(ClientError::NotForThisDevice {
                recipient: envelope.recipient,
            });
        }
        let peek = match &envelope.carried {
            Carried::Channel(peek) => peek.clone(),
            Carried::Group { group, sender } => {
                if *sender != envelope.sender {
                    return Err(ClientError::SenderMismatch);
                }
                return self.receive_group_message(rng, *group, &envelope);
            }
        };
        if peek
            .creator_key
            .is_some_and(|creator| creator != *envelope.sender.as_bytes())
        {
            return Err(ClientError::SenderMismatch);
        }
        let mut events = Vec::new();
        let update = match &envelope.sender_devices {
            Some(list) => self.envelope_list(list, envelope.sender, &mut events)?,
            None => None,
        };
        let sender = self.sender(envelope.sender, update.as_ref())?;
        if peek.group_control {
            return self.receive_control(rng, &envelope, &sender.card, update, events);
        }
        let held = self.session(envelope.sender)?.cloned();
        let decrypted = match held
            .as_ref()
            .map(|session| decrypt_on(session, &envelope.payload))
        {
            Some(Ok(decrypted)) => Some(decrypted),
            // A first message no channel recognizes may start a new one.
            Some(Err(error)) if peek.creator_key.is_none() || !unrecognized(&error) => {
                return Err(error.into())
            }
            _ => None,
        };
        let (session, plaintext, before_join) = match decrypted {
            Some((session, promoted, plaintext)) => {
                if promoted {
                    events.push(Event::ChannelReplaced {
                        device: envelope.sender,
                    });
                }
                (session, plaintext, None)
            }
            None => {
                let (channel, plaintext, before, control) =
                    self.join(&envelope.payload, &sender.card)?;
                if control.is_some() {
                    // The header said application data; a channel never mixes them up.
                    self.prekeys = before;
                    return Err(Error::NotGroupControl.into());
                }
                let session = match held {
                    Some(mut session) => {
                        if session.adopt(channel) == Adopted::Current {
                            events.push(Event::ChannelReplaced {
                                device: envelope.sender,
                            });
                        }
                        session
                    }
                    None => Session::new(channel),
                };
                (session, plaintext, Some(before))
            }
        };
        let joined = before_join.is_some();
        events.push(Event::Message {
            account: sender.account,
            device: envelope.sender,
            verified: sender.verified,
            plaintext,
        });
        let saved = self.save_received(
            rng,
            envelope.sender,
            &session,
            joined,
            update.as_ref(),
            &events,
        );
        let receipt = match saved {
            Ok(receipt) => receipt,
            Err(error) => {
                if let Some(before) = before_join {
                    self.prekeys = before;
                }
                return Err(error);
            }
        };
        self.take_receipt(receipt);
        self.sessions.insert(envelope.sender, session);
        if let Some(update) = update {
            self.commit_update(update, &events);
        }
        self.trim_caches();
        Ok(Received::new(events, receipt))
    }

    /// Joins the channel a first message starts, with the group control it carried if it
    /// was control, and returns the prekeys as they were before, to put back if the store
    /// fails; on error the prekeys are unchanged.
    pub(super) fn join(
        &mut self,
        payload: &[u8],
        card: &Card,
    ) -> ClientResult<(Channel, Vec<u8>, PrekeyStore, Option<JoinedControl>), S> {
        let mut trial = PrekeyStore::from_bytes(&self.prekeys.to_bytes())?;
        let joined = Channel::join(&self.device, &mut trial, payload)?;
        if joined.peer() != card {
            return Err(ClientError::SenderMismatch);
        }
        let (channel, plaintext, _, control) = joined.into_parts();
        let before = core::mem::replace(&mut self.prekeys, trial);
        Ok((channel, plaintext, before, control))
    }

    fn save_received<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        device: DeviceId,
        session: &Session,
        joined: bool,
        update: Option<&Update>,
        events: &[Event],
    ) -> ClientResult<Option<Receipt>, S> {
        let mut changes = Changes::new();
        let receipt = self.keep_received(rng, events, &mut changes)?;
        self.put_session(rng, device, session, &mut changes)?;
        if joined {
            self.put_prekeys(rng, &mut changes)?;
        }
        self.put_update(rng, update, &mut changes)?;
        delete_removed(events, &mut changes);
        self.save(&changes)?;
        Ok(receipt)
    }

    /// Adds a device-list update to a batch.
    pub(super) fn put_update<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        update: Option<&Update>,
        changes: &mut Changes,
    ) -> ClientResult<(), S> {
        match update {
            Some(Update::Peer(peer)) => self.put_peer(rng, peer, changes),
            Some(Update::Own(list)) => {
                let previous = self.device_list.replace(list.clone());
                let put = self.put_device(rng, changes);
                self.device_list = previous;
                put
            }
            None => Ok(()),
        }
    }

    /// What a device list carried by a first message changes: a new contact, a newer list
    /// of a contact or of this account, or nothing (the list held is as new, or newer: the
    /// message was in flight while the list changed).
    fn envelope_list(
        &self,
        bytes: &[u8],
        sender: DeviceId,
        events: &mut Vec<Event>,
    ) -> ClientResult<Option<Update>, S> {
        // The list held already, byte for byte: nothing to learn, and nothing to verify
        // again before the message authenticates.
        let held = self
            .account_of(sender)
            .and_then(|account| match self.device_list.as_ref() {
                Some(own) if own.account_id() == account => Some(own.to_bytes()),
                _ => self.peers.get(&account).map(|peer| peer.devices.to_bytes()),
            });
        if held.as_deref() == Some(bytes) {
            return Ok(None);
        }
        let list = DeviceList::from_bytes(bytes)?;
        if list.device(&sender).is_none() {
            return Err(ClientError::SenderMismatch);
        }
        if Some(list.account_id()) == self.account_id() {
            let newer = self
                .device_list
                .as_ref()
                .is_some_and(|held| list.version() > held.version());
            if !newer || !list.contains(self.device.card()) {
                return Ok(None);
            }
            if let Some(held) = &self.device_list {
                events.push(changed(held, &list));
            }
            return Ok(Some(Update::Own(list)));
        }
        match self.contact_update(list, events) {
            Ok(update) => Ok(update.map(Update::Peer)),
            Err(ClientError::Protocol(Error::StaleDeviceList { .. })) => Ok(None),
            Err(error) => Err(error),
        }
    }

    /// The contact record a device list gives: new, updated, or `None` when the list is
    /// the one held.
    pub(super) fn contact_update(
        &self,
        list: DeviceList,
        events: &mut Vec<Event>,
    ) -> ClientResult<Option<PeerRecord>, S> {
        let account = list.account_id();
        if Some(account) == self.account_id() {
            return Err(Error::InvalidDeviceList {
                reason: "the list is this device's own account's: use accept_device_list",
            }
            .into());
        }
        // A device consents to one account: one that consented to two is refused rather
        // than shown as either.
        let claimed = list.devices().iter().any(|card| {
            let device = DeviceId::of(card);
            self.peer_devices
                .get(&device)
                .is_some_and(|holder| *holder != account)
                || self
                    .own_devices()
                    .iter()
                    .any(|own| DeviceId::of(own) == device)
        });
        if claimed {
            return Err(Error::InvalidDeviceList {
                reason: "a device on it is on another account's list",
            }
            .into());
        }
        let Some(held) = self.peers.get(&account) else {
            events.push(Event::NewContact { account });
            return Ok(Some(PeerRecord {
                devices: list,
                verified: false,
            }));
        };
        if list.version() > held.devices.version() {
            events.push(changed(&held.devices, &list));
            return Ok(Some(PeerRecord {
                devices: list,
                verified: held.verified,
            }));
        }
        if list == held.devices {
            return Ok(None);
        }
        Err(Error::StaleDeviceList {
            found: list.version(),
            current: held.devices.version(),
        }
        .into())
    }

    /// Which account `device` belongs to, with the card its list holds.
    pub(super) fn sender(
        &self,
        device: DeviceId,
        update: Option<&Update>,
    ) -> ClientResult<Sender, S> {
        let own = self.account_id();
        let listed = match update {
            Some(Update::Peer(peer)) => peer
                .devices
                .device(&device)
                .map(|card| (peer.devices.account_id(), card)),
            Some(Update::Own(list)) => list.device(&device).map(|card| (list.account_id(), card)),
            None => None,
        };
        let listed = listed.or_else(|| {
            let card = self.listed_card(device)?;
            let account = match self.peer_devices.get(&device) {
                Some(account) => *account,
                None => own?,
            };
            Some((account, card))
        });
        let (account, card) = listed.ok_or(ClientError::UnknownDevice { device })?;
        let verified = Some(account) == own || self.is_verified(account);
        Ok(Sender {
            account,
            card: card.clone(),
            verified,
        })
    }

    /// Keeps a saved device-list update in memory.
    pub(super) fn commit_update(&mut self, update: Update, events: &[Event]) {
        match update {
            Update::Peer(peer) => self.commit_peer(peer, events),
            Update::Own(list) => {
                self.forget_removed(events);
                self.device_list = Some(list);
            }
        }
    }

    /// Keeps a saved contact record in memory, forgetting removed devices.
    pub(super) fn commit_peer(&mut self, peer: PeerRecord, events: &[Event]) {
        self.forget_removed(events);
        for card in peer.devices.devices() {
            self.peer_devices
                .insert(super::DeviceId::of(card), peer.devices.account_id());
        }
        self.peers.insert(peer.devices.account_id(), peer);
    }

    pub(super) fn forget_removed(&mut self, events: &[Event]) {
        for device in removed(events) {
            self.sessions.remove(device);
            self.peer_devices.remove(device);
        }
    }

    /// Deletes the saved sessions of devices the events say were removed.
    pub(super) fn delete_sessions_of_removed(&self, events: &[Event], changes: &mut Changes) {
        delete_removed(events, changes);
    }
}

/// A device list to keep once the envelope that carried it is saved.
pub(super) enum Update {
    Peer(PeerRecord),
    Own(DeviceList),
}

/// Whether a channel's error says only that the message is not one of its own (rather than,
/// say, one it already decrypted).
pub(super) fn unrecognized(error: &Error) -> bool {
    // `TooFarAhead` comes before authentication: a message of another channel, under a
    // ratchet key new to this one, can look thousands of keys ahead.
    matches!(
        error,
        Error::AuthenticationFailed | Error::PrekeyInfoMismatch | Error::TooFarAhead { .. }
    )
}

/// Tries each channel of the session, the current first, each on a copy: the session with
/// the channel that decrypted (made current again if the peer kept it:
/// [`Session::received_on`]), whether the current channel changed, and the plaintext; or
/// the error of the first channel that recognized the message (a duplicate on an archived
/// channel), else the current one's.
fn decrypt_on(session: &Session, payload: &[u8]) -> Result<(Session, bool, Vec<u8>), Error> {
    let mut first_error = None;
    for (slot, channel) in session.channels() {
        let mut trial = channel.clone();
        match trial.decrypt(payload) {
            Ok(plaintext) => {
                let mut updated = session.clone();
                updated.replace(slot, trial);
                let promoted = updated.received_on(slot);
                return Ok((updated, promoted, plaintext));
            }
            Err(error) if !unrecognized(&error) => return Err(error),
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    Err(first_error.unwrap_or(Error::AuthenticationFailed))
}

pub(super) fn changed(held: &DeviceList, list: &DeviceList) -> Event {
    let ids = |list: &DeviceList| list.devices().iter().map(DeviceId::of).collect::<Vec<_>>();
    let (old, new) = (ids(held), ids(list));
    Event::DevicesChanged {
        account: list.account_id(),
        added: new.iter().filter(|id| !old.contains(id)).copied().collect(),
        removed: old.iter().filter(|id| !new.contains(id)).copied().collect(),
    }
}

fn removed(events: &[Event]) -> impl Iterator<Item = &DeviceId> {
    events.iter().flat_map(|event| match event {
        Event::DevicesChanged { removed, .. } => removed.as_slice(),
        _ => &[],
    })
}

pub(super) fn delete_removed(events: &[Event], changes: &mut Changes) {
    for device in removed(events) {
        changes.delete(RecordKey::new(RecordKind::Session, device.as_bytes()));
    }
}
