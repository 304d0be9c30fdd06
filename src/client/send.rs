//! Sending: starting sessions from bundles, and encrypting to every device of an account.

use std::collections::HashMap;

use rand::CryptoRng;

use super::devices::{AccountId, DeviceId};
use super::envelope::Envelope;
use super::error::ClientError;
use super::events::Outgoing;
use super::sessions::Session;
use super::{Changes, Client, ClientResult, Store};
use crate::channel::Channel;
use crate::error::Error;
use crate::identity::{Card, PrekeyBundle};

impl<S: Store> Client<S> {
    /// The devices a message to `account` goes to: each device on the account's device
    /// list, and this account's other devices (which get a copy), this one left out.
    ///
    /// # Errors
    /// [`ClientError::UnknownAccount`] for an account that is no contact (nor this one).
    pub fn devices_of(&self, account: AccountId) -> ClientResult<Vec<DeviceId>, S> {
        let own = self.own_devices();
        let theirs: &[Card] = if Some(account) == self.account_id() {
            &[]
        } else {
            self.peers
                .get(&account)
                .map(|peer| peer.devices.devices())
                .ok_or(ClientError::UnknownAccount { account })?
        };
        let me = self.device_id();
        Ok(theirs
            .iter()
            .chain(own)
            .map(DeviceId::of)
            .filter(|device| *device != me)
            .collect())
    }

    /// The devices of [`Client::devices_of`]`(account)` without a channel yet: fetch a
    /// bundle for each and give them to [`Client::start_sessions`].
    ///
    /// # Errors
    /// Those of [`Client::devices_of`]; a store failure.
    pub fn missing_sessions(&mut self, account: AccountId) -> ClientResult<Vec<DeviceId>, S> {
        let mut missing = Vec::new();
        for device in self.devices_of(account)? {
            if self.session(device)?.is_none() {
                missing.push(device);
            }
        }
        Ok(missing)
    }

    /// Starts a channel with the device of each bundle (a device of a contact, or of this
    /// account), replacing any channel held with it (the old one is archived). Saved
    /// before it returns; nothing is sent until [`Client::encrypt_to`].
    ///
    /// # Errors
    /// [`ClientError::UnknownDevice`] for a bundle of a device on no device list held;
    /// [`Error::CardMismatch`] for a bundle whose card is not the one the device list
    /// holds; those of [`Channel::create`]; a store failure.
    pub fn start_sessions<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        bundles: &[PrekeyBundle],
    ) -> ClientResult<(), S> {
        let mut started: HashMap<DeviceId, Session> = HashMap::new();
        for bundle in bundles {
            let device = DeviceId::of(bundle.card());
            let listed = self
                .listed_card(device)
                .ok_or(ClientError::UnknownDevice { device })?;
            if listed != bundle.card() {
                return Err(Error::CardMismatch.into());
            }
            let channel = Channel::create(rng, &self.device, bundle)?;
            let session = match started.remove(&device) {
                Some(session) => Some(session),
                None => self.session(device)?.cloned(),
            };
            let session = match session {
                Some(mut session) => {
                    session.restart(channel);
                    session
                }
                None => Session::new(channel),
            };
            started.insert(device, session);
        }
        self.save_sessions(rng, started)
    }

    /// Encrypts `plaintext` for every device of `account` and every other device of this
    /// account, and returns one envelope per device. Every channel it advanced is saved
    /// before it returns: send the envelopes once it has.
    ///
    /// # Errors
    /// [`ClientError::UnknownAccount`] for an account that is no contact;
    /// [`ClientError::MissingSessions`] when some of the devices have no channel (nothing
    /// is encrypted then); those of [`Channel::encrypt`]; a store failure.
    pub fn encrypt_to<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        account: AccountId,
        plaintext: &[u8],
    ) -> ClientResult<Vec<Outgoing>, S> {
        let devices = self.devices_of(account)?;
        let missing = self.missing_sessions(account)?;
        if !missing.is_empty() {
            return Err(ClientError::MissingSessions { devices: missing });
        }
        let me = self.device_id();
        let own_list = self.device_list.as_ref().map(|list| list.to_bytes());
        let mut advanced = HashMap::new();
        let mut outgoing = Vec::with_capacity(devices.len());
        for device in devices {
            let mut session =
                self.session(device)?
                    .cloned()
                    .ok_or(ClientError::MissingSessions {
                        devices: vec![device],
                    })?;
            let channel = session.current_mut();
            let bytes = channel.encrypt(rng, plaintext)?;
            // A message that can start the channel carries the device list that names
            // this device, so the peer can tell whose device it is.
            let list = match channel.awaiting_reply() {
                true => Some(own_list.clone().ok_or(ClientError::NotLinked)?),
                false => None,
            };
            outgoing.push(Outgoing::new(
                device,
                Envelope::seal_channel(me, device, bytes, list),
            ));
            advanced.insert(device, session);
        }
        self.save_sessions(rng, advanced)?;
        Ok(outgoing)
    }

    /// Saves sessions in one batch, then keeps them.
    pub(super) fn save_sessions<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        sessions: HashMap<DeviceId, Session>,
    ) -> ClientResult<(), S> {
        let mut changes = Changes::new();
        for (device, session) in &sessions {
            self.put_session(rng, *device, session, &mut changes)?;
        }
        self.save(&changes)?;
        self.sessions.extend(sessions);
        self.trim_caches();
        Ok(())
    }

    /// The card a device list held by this client gives for `device`.
    pub(super) fn listed_card(&self, device: DeviceId) -> Option<&Card> {
        if let Some(card) = self
            .device_list
            .as_ref()
            .and_then(|list| list.device(&device))
        {
            return Some(card);
        }
        let account = self.peer_devices.get(&device)?;
        self.peers.get(account)?.devices.device(&device)
    }
}
