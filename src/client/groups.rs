//! Groups through the client: the group protocol (section 6) over the client's sessions,
//! with accounts as members.
//!
//! A group's roster lists devices, as the group protocol does: each device of a member
//! account is a member with a sender key of its own. The client adds and removes accounts
//! (all their devices at once), keeps the roster in step with device lists
//! ([`Client::sync_group_devices`]), sends group control over its sessions, and saves the
//! group with every session a change used in one batch.

use std::collections::{BTreeMap, BTreeSet};

use rand::CryptoRng;

use super::devices::{AccountId, DeviceId};
use super::envelope::Envelope;
use super::error::ClientError;
use super::events::{Event, Outgoing};
use super::sessions::{Session, Slot};
use super::store::{Changes, RecordKey, RecordKind};
use super::{records, Client, ClientResult, Store};
use crate::channel::Channel;
use crate::group::{Channels, Group, GroupEvent, Received as GroupReceived};
use crate::identity::Card;

/// A group's id: 32 bytes, a hash of its founder's identity key and a salt (section 6).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupId([u8; 32]);

hex_name!(GroupId, "A group id from its 32 raw bytes.");

impl GroupId {
    pub(crate) fn of(group: &Group) -> crate::error::Result<Self> {
        crate::wire::fixed(group.group_id(), "group id").map(Self)
    }
}

/// The sessions a group operation may send on, each with the channel that stands for its
/// device (the current one, or the archived one a control arrived on), and which of them
/// the group took: only those can have changed.
pub(super) struct SessionChannels {
    sessions: BTreeMap<[u8; 32], (Session, Slot)>,
    taken: BTreeSet<[u8; 32]>,
}

impl SessionChannels {
    fn new() -> Self {
        Self {
            sessions: BTreeMap::new(),
            taken: BTreeSet::new(),
        }
    }

    /// The sender's session only, with the channel in `slot` standing for it, taken
    /// already (a control changed it); the sessions of the members the group waits on are
    /// added later ([`Client::deliver_waiting`]).
    pub(super) fn with_sender(from: DeviceId, session: Session, slot: Slot) -> Self {
        let mut channels = Self::new();
        channels.insert(from, session, slot);
        channels.taken.insert(*from.as_bytes());
        channels
    }

    fn insert(&mut self, device: DeviceId, session: Session, slot: Slot) {
        self.sessions.insert(*device.as_bytes(), (session, slot));
    }

    /// The sessions the group took a channel from.
    fn into_taken(self) -> Vec<(DeviceId, Session)> {
        let taken = self.taken;
        self.sessions
            .into_iter()
            .filter(|(device, _)| taken.contains(device))
            .map(|(device, (session, _))| (DeviceId::from_bytes(device), session))
            .collect()
    }

    fn awaiting_reply(&self, device: &[u8; 32]) -> bool {
        self.sessions
            .get(device)
            .and_then(|(session, slot)| session.channel(*slot))
            .is_some_and(Channel::awaiting_reply)
    }
}

impl Channels for SessionChannels {
    fn channel(&mut self, member: &[u8; 32]) -> Option<&mut Channel> {
        let (session, slot) = self.sessions.get_mut(member)?;
        self.taken.insert(*member);
        session.channel_mut(*slot)
    }
}

/// A group change worked out on copies, to save and then keep.
pub(super) struct GroupWork {
    pub(super) group: Group,
    pub(super) channels: SessionChannels,
    pub(super) received: GroupReceived,
}

impl<S: Store> Client<S> {
    /// Creates a group of this account and `members` (contacts), owned by this device:
    /// every device of each member account, and this account's other devices, is a member
    /// with a sender key of its own. Returns the group's id and the welcome envelopes,
    /// saved before it returns.
    ///
    /// # Errors
    /// [`ClientError::UnknownAccount`] for an account that is no contact;
    /// [`ClientError::MissingSessions`] for member devices without a session (start them
    /// first; nothing changed); those of [`Group::create`]; a store failure.
    pub fn create_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        members: &[AccountId],
    ) -> ClientResult<(GroupId, Vec<Outgoing>), S> {
        let mut cards: Vec<Card> = Vec::new();
        for account in members.iter().copied().chain(self.account_id()) {
            for device in self.devices_of(account)? {
                if let Some(card) = self.listed_card(device) {
                    if !cards.contains(card) {
                        cards.push(card.clone());
                    }
                }
            }
        }
        let mut channels = self.channels_for(cards.iter().map(DeviceId::of), true)?;
        let (group, received) = Group::create(rng, &self.device, &cards, &mut channels)?;
        let id = GroupId::of(&group)?;
        let (outgoing, _) = self.save_group_work(
            rng,
            GroupWork {
                group,
                channels,
                received,
            },
        )?;
        Ok((id, outgoing))
    }

    /// (Owner only.) Adds every device of `account` (a contact, or this account) that the
    /// group lacks. The other members send their keys to the new devices when the roster
    /// reaches them; control for a member without a session waits in the group.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; [`ClientError::UnknownAccount`];
    /// [`ClientError::MissingSessions`] for added devices without a session (start them
    /// first; nothing changed); those of [`Group::add_member`]; a store failure.
    pub fn add_to_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
        account: AccountId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        let mut devices = self.devices_of_account(account)?;
        devices.retain(|device| work.group.member(device.as_bytes()).is_none());
        self.add_devices(rng, &mut work, &devices)?;
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// (Owner only.) Removes every device of `account` from the group: the remaining
    /// members move to new sender keys.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; [`ClientError::UnknownAccount`]; those of
    /// [`Group::remove_member`]; a store failure.
    pub fn remove_from_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
        account: AccountId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        let mut devices = self.devices_of_account(account)?;
        devices.retain(|device| work.group.member(device.as_bytes()).is_some());
        for device in devices {
            let received = work.group.remove_member(
                rng,
                &self.device,
                device.as_bytes(),
                &mut work.channels,
            )?;
            work.received.append(received);
        }
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// (Owner only.) Removes one member device: the one that asked to leave
    /// ([`GroupEvent::LeaveRequested`] names a device, not an account), or one the owner
    /// no longer trusts.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; those of [`Group::remove_member`] (for a device that
    /// is no member, [`Error::NotGroupMember`](crate::Error::NotGroupMember)); a store
    /// failure.
    pub fn remove_group_device<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
        device: DeviceId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        work.received =
            work.group
                .remove_member(rng, &self.device, device.as_bytes(), &mut work.channels)?;
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// The member devices the group holds control for until there is a session with them
    /// (what [`GroupEvent::ChannelNeeded`] reported, also after a restart): start sessions
    /// with them and call [`Client::deliver_group_pending`].
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; a store failure.
    pub fn group_waiting(&mut self, group: GroupId) -> ClientResult<Vec<DeviceId>, S> {
        Ok(self
            .load_group(group)?
            .pending_members()
            .map(|member| DeviceId::from_bytes(*member))
            .collect())
    }

    /// (Owner only.) Brings the roster in step with the device lists this client holds:
    /// removes the devices that are on no device list any more, and adds the devices an
    /// account in the group has linked since, of those there is a session with (start
    /// sessions with the others, [`Client::missing_sessions`], and sync again). Call it
    /// when [`Event::DevicesChanged`] comes for an account in a group this device owns.
    ///
    /// An account all of whose devices in the group left its list at once has no device
    /// left to be known by: add it again with [`Client::add_to_group`].
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; those of [`Group::add_member`] and
    /// [`Group::remove_member`]; a store failure.
    pub fn sync_group_devices<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        let me = self.device_id();
        let roster: Vec<DeviceId> = work.group.members().iter().map(DeviceId::of).collect();
        // The owner's own account is in the group through this device, whatever the rest.
        let mut accounts: BTreeSet<AccountId> = self.account_id().into_iter().collect();
        for device in &roster {
            if *device == me || self.listed_card(*device).is_none() {
                continue;
            }
            if let Some(account) = self.account_of(*device) {
                accounts.insert(account);
            }
        }
        for device in roster.iter().filter(|device| **device != me) {
            if self.listed_card(*device).is_none() {
                let received = work.group.remove_member(
                    rng,
                    &self.device,
                    device.as_bytes(),
                    &mut work.channels,
                )?;
                work.received.append(received);
            }
        }
        let mut added = Vec::new();
        for account in accounts {
            for device in self.devices_of_account(account)? {
                let new =
                    work.group.member(device.as_bytes()).is_none() && !added.contains(&device);
                if new && self.session(device)?.is_some() {
                    added.push(device);
                }
            }
        }
        self.add_devices(rng, &mut work, &added)?;
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// Starts a new sender key epoch for this device in the group.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; those of [`Group::rekey`]; a store failure.
    pub fn rekey_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        work.received = work.group.rekey(rng, &mut work.channels)?;
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// Asks the owner and the members for what this device missed (the roster, their
    /// sender keys), as [`Group::resync`] does.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; those of [`Group::resync`]; a store failure.
    pub fn resync_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        work.received = work.group.resync(rng, &mut work.channels)?;
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// Asks the owner to remove this device from the group, as [`Group::leave`] does.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; those of [`Group::leave`]; a store failure.
    pub fn leave_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        work.received = work.group.leave(rng, &mut work.channels)?;
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// Sends what waited in the group for a session ([`GroupEvent::ChannelNeeded`]) to
    /// every device there is a session with now: call it after
    /// [`Client::start_sessions`] for the devices the events named.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; a store failure.
    pub fn deliver_group_pending<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut work = self.group_work(group)?;
        work.received = work.group.deliver_pending(rng, &mut work.channels);
        Ok(self.save_group_work(rng, work)?.0)
    }

    /// Encrypts `plaintext` once for the group and returns one envelope per other member
    /// device, all with the same group message. The group is saved before it returns.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; those of [`Group::encrypt`]; a store failure.
    pub fn encrypt_group<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
        plaintext: &[u8],
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut updated = self.load_group(group)?;
        let message = updated.encrypt(rng, plaintext)?;
        let mut changes = Changes::new();
        self.put_group(rng, group, &updated, &mut changes)?;
        self.save(&changes)?;
        let me = self.device_id();
        let outgoing = updated
            .members()
            .iter()
            .map(DeviceId::of)
            .filter(|device| *device != me)
            .map(|device| Outgoing::new(device, Envelope::seal_group(me, device, message.clone())))
            .collect();
        self.groups.insert(group, updated);
        self.trim_caches();
        Ok(outgoing)
    }

    /// The member devices of the group, this one included, in roster order.
    ///
    /// # Errors
    /// [`ClientError::UnknownGroup`]; a store failure.
    pub fn group_members(&mut self, group: GroupId) -> ClientResult<Vec<DeviceId>, S> {
        Ok(self
            .load_group(group)?
            .members()
            .iter()
            .map(DeviceId::of)
            .collect())
    }

    /// The accounts of the group's member devices that this client knows (its own
    /// included), each once.
    ///
    /// # Errors
    /// As [`Client::group_members`].
    pub fn group_accounts(&mut self, group: GroupId) -> ClientResult<Vec<AccountId>, S> {
        let mut accounts = Vec::new();
        for device in self.group_members(group)? {
            if let Some(account) = self.account_of(device) {
                if !accounts.contains(&account) {
                    accounts.push(account);
                }
            }
        }
        Ok(accounts)
    }

    /// The devices on `account`'s list (this one left out, for this account): the devices
    /// a group change for that account is about.
    fn devices_of_account(&self, account: AccountId) -> ClientResult<Vec<DeviceId>, S> {
        let list = match self.device_list.as_ref() {
            Some(own) if own.account_id() == account => own,
            _ => {
                &self
                    .peers
                    .get(&account)
                    .ok_or(ClientError::UnknownAccount { account })?
                    .devices
            }
        };
        let me = self.device_id();
        Ok(list
            .devices()
            .iter()
            .map(DeviceId::of)
            .filter(|device| *device != me)
            .collect())
    }

    /// The account `device` is on the list of, as far as this client knows.
    pub fn account_of(&self, device: DeviceId) -> Option<AccountId> {
        if let Some(account) = self.peer_devices.get(&device) {
            return Some(*account);
        }
        let own = self.device_list.as_ref()?;
        own.device(&device).map(|_| own.account_id())
    }

    fn add_devices<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        work: &mut GroupWork,
        devices: &[DeviceId],
    ) -> ClientResult<(), S> {
        let missing = self.without_session(devices.iter().copied())?;
        if !missing.is_empty() {
            return Err(ClientError::MissingSessions { devices: missing });
        }
        for device in devices {
            let card = self
                .listed_card(*device)
                .cloned()
                .ok_or(ClientError::UnknownDevice { device: *device })?;
            if let Some(session) = self.session(*device)?.cloned() {
                work.channels.insert(*device, session, Slot::Current);
            }
            let received = work
                .group
                .add_member(rng, &self.device, &card, &mut work.channels)?;
            work.received.append(received);
        }
        Ok(())
    }

    fn without_session(
        &mut self,
        devices: impl Iterator<Item = DeviceId>,
    ) -> ClientResult<Vec<DeviceId>, S> {
        let me = self.device_id();
        let mut missing = Vec::new();
        for device in devices.filter(|device| *device != me) {
            if self.session(device)?.is_none() {
                missing.push(device);
            }
        }
        Ok(missing)
    }

    /// The current channels of the sessions with `devices`; with `all_needed`, an error
    /// names the devices without one.
    fn channels_for(
        &mut self,
        devices: impl Iterator<Item = DeviceId> + Clone,
        all_needed: bool,
    ) -> ClientResult<SessionChannels, S> {
        if all_needed {
            let missing = self.without_session(devices.clone())?;
            if !missing.is_empty() {
                return Err(ClientError::MissingSessions { devices: missing });
            }
        }
        let mut channels = SessionChannels::new();
        for device in devices {
            if let Some(session) = self.session(device)?.cloned() {
                channels.insert(device, session, Slot::Current);
            }
        }
        Ok(channels)
    }

    /// A copy of the group with the sessions of its members, to change. A member without
    /// a session (one whose device left its list, say) is no obstacle: control for it
    /// waits in the group.
    fn group_work(&mut self, group: GroupId) -> ClientResult<GroupWork, S> {
        let copy = self.load_group(group)?;
        let members: Vec<DeviceId> = copy.members().iter().map(DeviceId::of).collect();
        let me = self.device_id();
        let channels = self.channels_for(
            members.into_iter().filter(move |device| *device != me),
            false,
        )?;
        Ok(GroupWork {
            group: copy,
            channels,
            received: GroupReceived::default(),
        })
    }

    /// Adds the sessions with the members the group waits on a channel for, and lets it
    /// send what waited.
    pub(super) fn deliver_waiting<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        work: &mut GroupWork,
    ) -> ClientResult<(), S> {
        let waiting: Vec<DeviceId> = work
            .group
            .pending_members()
            .map(|member| DeviceId::from_bytes(*member))
            .collect();
        let mut any = false;
        for device in waiting {
            if work.channels.sessions.contains_key(device.as_bytes()) {
                continue;
            }
            if let Some(session) = self.session(device)?.cloned() {
                work.channels.insert(device, session, Slot::Current);
                any = true;
            }
        }
        if any {
            let delivered = work.group.deliver_pending(rng, &mut work.channels);
            work.received.append(delivered);
        }
        // A member asked for earlier and delivered to now needs nothing any more.
        let still: BTreeSet<[u8; 32]> = work.group.pending_members().copied().collect();
        let (events, outgoing) = core::mem::take(&mut work.received).into_parts();
        let events = events
            .into_iter()
            .filter(|event| match event {
                GroupEvent::ChannelNeeded { member, .. } => still.contains(member),
                _ => true,
            })
            .collect();
        work.received = GroupReceived::from_parts(events, outgoing);
        Ok(())
    }

    /// Saves the group and every session it took in one batch, keeps them, and returns
    /// the envelopes to send and the events to report.
    pub(super) fn save_group_work<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        work: GroupWork,
    ) -> ClientResult<(Vec<Outgoing>, Vec<Event>), S> {
        let mut changes = Changes::new();
        let (envelopes, events, sessions, group, id) = self.seal_group_work(work)?;
        let envelopes = self.keep_unsent(rng, envelopes, &mut changes)?;
        self.put_group(rng, id, &group, &mut changes)?;
        for (device, session) in &sessions {
            self.put_session(rng, *device, session, &mut changes)?;
        }
        self.save(&changes)?;
        self.take_unsent_numbers(&envelopes);
        self.sessions.extend(sessions);
        self.groups.insert(id, group);
        self.trim_caches();
        Ok((envelopes, events))
    }

    /// The envelopes and events of a group change, with what to save.
    #[allow(clippy::type_complexity)]
    pub(super) fn seal_group_work(
        &self,
        work: GroupWork,
    ) -> ClientResult<
        (
            Vec<Outgoing>,
            Vec<Event>,
            Vec<(DeviceId, Session)>,
            Group,
            GroupId,
        ),
        S,
    > {
        let id = GroupId::of(&work.group)?;
        let me = self.device_id();
        let own_list = self.device_list.as_ref().map(|list| list.to_bytes());
        let (events, outgoing) = work.received.into_parts();
        let mut envelopes = Vec::with_capacity(outgoing.len());
        for message in outgoing {
            let to = message.to();
            // Control on a channel's first messages carries the device list, as any first
            // message does.
            let list = match work.channels.awaiting_reply(&to) {
                true => Some(own_list.clone().ok_or(ClientError::NotLinked)?),
                false => None,
            };
            let device = DeviceId::from_bytes(to);
            let (_, bytes) = message.into_parts();
            envelopes.push(Outgoing::new(
                device,
                Envelope::seal_channel(me, device, bytes, list),
            ));
        }
        let events = events
            .into_iter()
            .map(|event| Event::Group { group: id, event })
            .collect();
        Ok((
            envelopes,
            events,
            work.channels.into_taken(),
            work.group,
            id,
        ))
    }

    /// A copy of the group, read from the store the first time.
    pub(super) fn load_group(&mut self, group: GroupId) -> ClientResult<Group, S> {
        self.find_group(group)?
            .ok_or(ClientError::UnknownGroup { group })
    }

    /// A copy of the group if this device has it.
    pub(super) fn find_group(&mut self, group: GroupId) -> ClientResult<Option<Group>, S> {
        if let Some(held) = self.groups.get(&group) {
            return Ok(Some(held.clone()));
        }
        let key = RecordKey::new(RecordKind::Group, group.as_bytes());
        let Some(sealed) = self.store.load(&key).map_err(ClientError::Store)? else {
            return Ok(None);
        };
        let bytes = records::open(&self.key, RecordKind::Group, group.as_bytes(), &sealed)?;
        let loaded = Group::from_bytes(&bytes)?;
        if loaded.group_id() != group.as_bytes() || loaded.me() != *self.device_id().as_bytes() {
            return Err(crate::error::Error::SealedStateRejected.into());
        }
        self.groups.insert(group, loaded.clone());
        Ok(Some(loaded))
    }

    pub(super) fn put_group<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        id: GroupId,
        group: &Group,
        changes: &mut Changes,
    ) -> ClientResult<(), S> {
        records::put(
            &self.key,
            rng,
            changes,
            RecordKind::Group,
            id.as_bytes(),
            &group.to_bytes(),
        )
    }
}
