//! Receiving for groups: group messages, and group control on a session's channel or on
//! the first message of a channel it starts.

use rand::CryptoRng;

use super::envelope::{Carried, Envelope};
use super::events::{Event, Received};
use super::groups::{GroupId, GroupWork, SessionChannels};
use super::receive::{delete_removed, unrecognized, Update};
use super::sessions::{Adopted, Session, Slot};
use super::store::Changes;
use super::{Client, ClientResult, Store};
use crate::channel::JoinedControl;
use crate::error::Error;
use crate::group::Group;
use crate::identity::{Card, PrekeyStore};

/// Where a group control came from.
enum Control {
    /// A channel the client held authenticated it, for this group.
    OnChannel(Vec<u8>),
    /// It started a channel, which the client joined.
    Joined(JoinedControl),
}

impl<S: Store> Client<S> {
    /// Decrypts a group message on a copy of its group, saves the group, and reports it.
    pub(super) fn receive_group_message<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        group: GroupId,
        envelope: &Envelope,
    ) -> ClientResult<Received, S> {
        let mut updated = self.load_group(group)?;
        let decrypted = updated.decrypt(&envelope.payload)?;
        let device = envelope.sender;
        let account = self.account_of(device);
        let verified = account
            .is_some_and(|account| Some(account) == self.account_id() || self.is_verified(account));
        let events = vec![Event::GroupMessage {
            group,
            account,
            device,
            verified,
            plaintext: decrypted.into_plaintext(),
        }];
        let mut changes = Changes::new();
        let receipt = self.keep_received(rng, &events, &mut changes)?;
        self.put_group(rng, group, &updated, &mut changes)?;
        self.save(&changes)?;
        self.take_receipt(receipt);
        self.groups.insert(group, updated);
        self.trim_caches();
        Ok(Received::new(events, receipt))
    }

    /// Receives group control from a known sender: on the channel held with it that
    /// authenticates it, or on the channel its first message starts; joins the group or
    /// updates it, and saves the group with every session it used.
    pub(super) fn receive_control<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        envelope: &Envelope,
        card: &Card,
        update: Option<Update>,
        mut events: Vec<Event>,
    ) -> ClientResult<Received, S> {
        let (session, slot, control, before_join) =
            self.control_channel(envelope, card, &mut events)?;
        let worked = self.work_out_control(rng, envelope, session, slot, control);
        let saved = worked.and_then(|work| self.save_control(rng, work, update.as_ref(), events));
        match saved {
            Ok(received) => {
                if let Some(update) = update {
                    self.commit_update(update, received.events());
                }
                Ok(received)
            }
            Err(error) => {
                if let Some(before) = before_join {
                    self.prekeys = before;
                }
                Err(error)
            }
        }
    }

    /// The session and channel that carried the control: one held with the sender that
    /// authenticates it, or a new one its first message starts (the prekeys it used are
    /// taken, and returned as they were before).
    #[allow(clippy::type_complexity)]
    fn control_channel(
        &mut self,
        envelope: &Envelope,
        card: &Card,
        events: &mut Vec<Event>,
    ) -> ClientResult<(Session, Slot, Control, Option<PrekeyStore>), S> {
        let held = self.session(envelope.sender)?.cloned();
        let mut first_error = None;
        if let Some(session) = &held {
            for (slot, channel) in session.channels() {
                match channel.clone().decrypt(&envelope.payload) {
                    Err(Error::GroupControlMessage { group_id }) => {
                        let mut session = session.clone();
                        // The channel is where it was until the control decrypts for good.
                        let slot = match session.received_on(slot) {
                            true => {
                                events.push(Event::ChannelReplaced {
                                    device: envelope.sender,
                                });
                                Slot::Current
                            }
                            false => slot,
                        };
                        return Ok((session, slot, Control::OnChannel(group_id), None));
                    }
                    Err(error) if unrecognized(&error) => {
                        first_error.get_or_insert(error);
                    }
                    Err(error) => return Err(error.into()),
                    Ok(_) => return Err(Error::NotGroupControl.into()),
                }
            }
        }
        let first =
            matches!(&envelope.carried, Carried::Channel(peek) if peek.creator_key.is_some());
        if !first {
            return Err(first_error.unwrap_or(Error::AuthenticationFailed).into());
        }
        let (channel, _, before, control) = self.join(&envelope.payload, card)?;
        let Some(control) = control else {
            self.prekeys = before;
            return Err(Error::NotGroupControl.into());
        };
        let (session, slot) = match held {
            Some(mut session) => match session.adopt(channel) {
                Adopted::Current => {
                    events.push(Event::ChannelReplaced {
                        device: envelope.sender,
                    });
                    (session, Slot::Current)
                }
                Adopted::Archived => (session, Slot::Archived(0)),
            },
            None => (Session::new(channel), Slot::Current),
        };
        Ok((session, slot, Control::Joined(control), Some(before)))
    }

    fn work_out_control<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        envelope: &Envelope,
        session: Session,
        slot: Slot,
        control: Control,
    ) -> ClientResult<GroupWork, S> {
        let from = envelope.sender;
        let group_id = match &control {
            Control::OnChannel(group_id) => group_id.clone(),
            Control::Joined(joined) => joined.group_id()?,
        };
        let id = GroupId::from_bytes(crate::wire::fixed(&group_id, "group id")?);
        let mut channels = SessionChannels::with_sender(from, session, slot);
        let (group, received) = match (self.find_group(id)?, control) {
            (Some(mut group), Control::OnChannel(_)) => {
                let received =
                    group.receive(rng, &mut channels, from.as_bytes(), &envelope.payload)?;
                (group, received)
            }
            (Some(mut group), Control::Joined(joined)) => {
                let received = group.receive_control(rng, &mut channels, &joined)?;
                (group, received)
            }
            (None, Control::OnChannel(_)) => Group::join(
                rng,
                &self.device,
                &mut channels,
                from.as_bytes(),
                &envelope.payload,
            )?,
            (None, Control::Joined(joined)) => {
                Group::join_control(rng, &self.device, &mut channels, &joined)?
            }
        };
        let mut work = GroupWork {
            group,
            channels,
            received,
        };
        self.deliver_waiting(rng, &mut work)?;
        Ok(work)
    }

    /// Saves the group, the sessions it used, the prekeys a join took and a device list
    /// the envelope carried, in one batch.
    fn save_control<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        work: GroupWork,
        update: Option<&Update>,
        mut events: Vec<Event>,
    ) -> ClientResult<Received, S> {
        let (outgoing, group_events, sessions, group, id) = self.seal_group_work(work)?;
        events.extend(group_events);
        let mut changes = Changes::new();
        let outgoing = self.keep_unsent(rng, outgoing, &mut changes)?;
        self.put_group(rng, id, &group, &mut changes)?;
        for (device, session) in &sessions {
            self.put_session(rng, *device, session, &mut changes)?;
        }
        // The prekeys are saved whether or not a join took one: cheaper to reason about
        // than to track, and a control that starts a channel is rare.
        self.put_prekeys(rng, &mut changes)?;
        self.put_update(rng, update, &mut changes)?;
        delete_removed(&events, &mut changes);
        self.save(&changes)?;
        self.take_unsent_numbers(&outgoing);
        self.sessions.extend(sessions);
        self.groups.insert(id, group);
        self.trim_caches();
        Ok(Received::with_outgoing(events, outgoing))
    }
}
