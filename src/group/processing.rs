//! Processing control from other members: joining from a roster, roster updates, sender
//! keys, leave and resync requests, and ownership offers.
//!
//! Everything is worked out first (sends go to channel copies) and committed at the end,
//! so a rejected control changes neither the group nor any channel.

use rand::CryptoRng;

use super::control::{ChannelWork, Channels, Control, ControlParts, JoinedControl};
use super::pending::Pending;
use super::roster::{verify_transfer, Roster};
use super::sender_key::{CheckedKey, SenderChains, SenderKey};
use super::{Group, GroupEvent, Received, MAX_RESYNC_REPLIES};
use crate::error::{Error, Party, Result};
use crate::identity::{Card, Identity};
use crate::wire::v1;

/// A roster update worked out by [`Group::roster_change`], not yet committed.
struct RosterChange {
    roster: Roster,
    /// This member's sender key after the change.
    own: Option<SenderKey>,
    /// Members whose sender keys are dropped: removed, or removed and added back.
    removed: Vec<[u8; 32]>,
    /// Members who start afresh in this member's view, with the version they are seen
    /// from (all the others, if this member was itself added back).
    added: Vec<([u8; 32], u64)>,
    events: Vec<GroupEvent>,
}

/// Everything a control changes, worked out before anything is committed.
struct Changes {
    roster: Option<RosterChange>,
    /// Whether the control carried a roster from the owner, new or not.
    roster_seen: bool,
    key: Option<CheckedKey>,
    leave: bool,
    resync: bool,
    offer: Option<v1::OwnerTransfer>,
}

impl Group {
    /// Joins a group from the owner's control that arrived on the channel with `from`:
    /// any roster from the group's owner that lists this identity (the welcome, or a later
    /// update that overtook it), and sends this member's new sender key to every other
    /// member. A member the app has no channel to yet is reported as
    /// [`GroupEvent::ChannelNeeded`] and gets the key once there is one
    /// ([`Group::deliver_pending`]): nobody waits for the slowest member.
    ///
    /// # Errors
    /// [`Error::NotAGroupWelcome`] for control without a roster listing `identity`, or
    /// with a leave request; [`Error::RosterNotFromOwner`] for a roster that did not come
    /// from its owner; roster errors ([`Error::GroupIdMismatch`] for a look-alike group,
    /// [`Error::BadSignature`], [`Error::InvalidRoster`], card errors); channel errors,
    /// including [`Error::MissingChannel`] without a channel to `from`.
    pub fn join<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        rng: &mut R,
        identity: &Identity,
        channels: &mut C,
        from: &[u8; 32],
        welcome: &[u8],
    ) -> Result<(Group, Received)> {
        let mut work = ChannelWork::new(channels);
        let control = work.receive(from, welcome)?;
        Self::join_with(rng, identity, work, from, control)
    }

    /// [`Group::join`] for control that came in a channel's first message
    /// ([`Joined::group_control`](crate::Joined::group_control)), before any reply:
    /// put the joined channel with the others first, then join.
    ///
    /// # Errors
    /// As [`Group::join`].
    pub fn join_control<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        rng: &mut R,
        identity: &Identity,
        channels: &mut C,
        control: &JoinedControl,
    ) -> Result<(Group, Received)> {
        let work = ChannelWork::new(channels);
        Self::join_with(rng, identity, work, &control.from, control.parse()?)
    }

    fn join_with<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        rng: &mut R,
        identity: &Identity,
        mut work: ChannelWork<'_, C>,
        from: &[u8; 32],
        mut control: Control,
    ) -> Result<(Group, Received)> {
        let me = identity.card().signing_key();
        let signed = control.roster.take().ok_or(Error::NotAGroupWelcome)?;
        let roster = Roster::verify(signed, None)?;
        if roster.owner_key() != *from {
            return Err(Error::RosterNotFromOwner {
                from: Party::new(*from, roster.member(from)),
            });
        }
        if !roster.contains(&me) || control.leave {
            return Err(Error::NotAGroupWelcome);
        }
        let version = roster.version;
        let mut group = Group::new(me, roster, Some(SenderKey::generate(rng, 0)));
        group.senders = group.fresh_senders();
        let mut events = vec![GroupEvent::Joined { version }];
        // The rest of the welcome (the owner's key, an offer) as if it came next.
        let changes = group.work_out(rng, &mut work, control, from)?;
        let distribution = group.own_distribution();
        let mine = ControlParts {
            roster_version: version,
            sender_key: distribution,
            ..ControlParts::default()
        }
        .encode(group.group_id());
        let queued = group.queued_key(version);
        for member in group.others() {
            work.send(rng, &member, &mine, || queued.clone())?;
        }
        events.extend(group.commit_changes(from, changes));
        let received = group.finish(rng, work, events);
        Ok((group, received))
    }

    /// Processes group control that arrived on the channel with `from`: a roster update
    /// (only from the owner), a member's sender key, a leave request, a resync request or
    /// an ownership offer. Deliver the returned [`Received::outgoing`] messages.
    ///
    /// A roster no newer than the one held is skipped, and the rest of the control (the
    /// owner's key that came with it) still applies: whatever order the owner's controls
    /// arrive in, none is lost. A roster may skip versions: what changed is read from
    /// the versions that added each member.
    ///
    /// # Errors
    /// On any error the group and the channels are unchanged. [`Error::NotGroupControl`]
    /// for application data; [`Error::WrongGroup`]; for rosters
    /// [`Error::RosterNotFromOwner`] (relayed by someone else: drop it),
    /// [`Error::BadSignature`], [`Error::InvalidOwnerChain`], [`Error::StaleRoster`]
    /// (nothing new in it); for sender keys [`Error::RemovedGroupMember`] (from a member
    /// removed since: drop it), [`Error::NotGroupMember`],
    /// [`Error::RosterBehind`] (keep it and retry after the roster update, or
    /// [`Group::resync`]), [`Error::SenderMismatch`], [`Error::StaleSenderKey`],
    /// [`Error::Duplicate`]; [`Error::ResyncRateLimited`]; [`Error::NotGroupOwner`] for a
    /// leave request to, or an offer from, someone who is not the owner; channel errors.
    pub fn receive<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
        from: &[u8; 32],
        message: &[u8],
    ) -> Result<Received> {
        let mut work = ChannelWork::new(channels);
        let control = work
            .receive(from, message)
            .map_err(|error| self.named(error))?;
        self.receive_with(rng, work, from, control)
    }

    /// [`Group::receive`] for control that came in a channel's first message
    /// ([`Joined::group_control`](crate::Joined::group_control)).
    ///
    /// # Errors
    /// As [`Group::receive`].
    pub fn receive_control<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
        control: &JoinedControl,
    ) -> Result<Received> {
        let work = ChannelWork::new(channels);
        self.receive_with(rng, work, &control.from, control.parse()?)
    }

    fn receive_with<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        mut work: ChannelWork<'_, C>,
        from: &[u8; 32],
        control: Control,
    ) -> Result<Received> {
        if control.group_id != self.roster.group_id {
            return Err(Error::WrongGroup);
        }
        let changes = self.work_out(rng, &mut work, control, from)?;
        let events = self.commit_changes(from, changes);
        Ok(self.finish(rng, work, events))
    }

    /// Checks every part of `control` from `from` and works out what it changes, sending
    /// to channel copies; nothing in the group changes.
    fn work_out<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &self,
        rng: &mut R,
        work: &mut ChannelWork<'_, C>,
        mut control: Control,
        from: &[u8; 32],
    ) -> Result<Changes> {
        let carries_more = control.sender_key.is_some()
            || control.leave
            || control.resync
            || control.offer.is_some();
        let roster_seen = control.roster.is_some();
        let change = match control.roster.take() {
            Some(signed) => self.roster_change(rng, work, signed, from, carries_more)?,
            None => None,
        };
        let roster = change
            .as_ref()
            .map_or(&self.roster, |change| &change.roster);
        let key = control
            .sender_key
            .as_ref()
            .map(|distribution| self.check_install(change.as_ref(), from, &control, distribution));
        // A key already held (or superseded) is no reason to refuse the rest: the owner's
        // resync reply carries its roster with a key the member may well hold. Only a
        // control with nothing new in it is refused.
        let others_apply =
            change.is_some() || control.leave || control.resync || control.offer.is_some();
        let key = match key {
            Some(Err(Error::Duplicate | Error::StaleSenderKey { .. })) if others_apply => None,
            key => key.transpose()?,
        };
        if control.leave {
            if roster.owner_key() != self.me {
                return Err(Error::NotGroupOwner);
            }
            // Not `outsider`: a request's roster version is not checked against the
            // owner's, so nothing shows that its sender was not added back since.
            if !roster.contains(from) {
                return Err(Error::NotGroupMember {
                    member: self.party(from),
                });
            }
        }
        // The request carries the requester's new epoch, which it has moved to: a request
        // refused for the rate limit still installs it (unanswered), or the requester's
        // messages would be unreadable here until it rekeyed.
        let resync = control.resync
            && match self.answer_resync(rng, work, change.as_ref(), from) {
                Err(Error::ResyncRateLimited { .. }) if key.is_some() => false,
                answered => answered.map(|()| true)?,
            };
        let offer = control
            .offer
            .take()
            .map(|transfer| self.check_offer(roster, from, transfer))
            .transpose()?;
        Ok(Changes {
            roster: change,
            roster_seen,
            key,
            leave: control.leave,
            resync,
            offer,
        })
    }

    /// Applies what [`Group::work_out`] found, returning the events.
    fn commit_changes(&mut self, from: &[u8; 32], changes: Changes) -> Vec<GroupEvent> {
        let mut events = Vec::new();
        if changes.roster_seen {
            // A resync is through once the owner's roster has come: its answer.
            self.resyncing = false;
        }
        if let Some(change) = changes.roster {
            events.extend(change.events.iter().cloned());
            self.commit_roster(change);
        }
        if let Some(key) = changes.key {
            let epoch = key.epoch;
            if let Some(chains) = self.senders.get_mut(from) {
                chains.insert(key);
            }
            events.push(GroupEvent::SenderKey {
                sender: *from,
                epoch,
            });
        }
        if changes.leave {
            events.push(GroupEvent::LeaveRequested { member: *from });
        }
        if changes.resync {
            let replies = self.resync_replies.entry(*from).or_default();
            *replies = replies.saturating_add(1);
            events.push(GroupEvent::ResyncRequested { member: *from });
        }
        if let Some(transfer) = changes.offer {
            events.push(GroupEvent::OwnershipOffered {
                owner: *from,
                version: transfer.version,
            });
            self.offer_received = Some(transfer);
        }
        events
    }

    /// Works out a roster from `from`, sending this member's sender key where the change
    /// requires it. `None` when the roster is not newer than the one held and the control
    /// carries more: the rest still applies.
    fn roster_change<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &self,
        rng: &mut R,
        work: &mut ChannelWork<'_, C>,
        signed: v1::SignedRoster,
        from: &[u8; 32],
        carries_more: bool,
    ) -> Result<Option<RosterChange>> {
        let old = &self.roster;
        let roster = Roster::verify(signed, Some(old))?;
        // Only the owner hands out its rosters: a roster relayed by anyone else could
        // overtake, and so split, the owner's own control that carries it with a key.
        if roster.owner_key() != *from {
            return Err(Error::RosterNotFromOwner {
                from: Party::new(*from, old.member(from).or_else(|| roster.member(from))),
            });
        }
        if roster.version <= old.version {
            // Two rosters of one version are the owner signing twice: refused either way.
            if carries_more && (roster.version < old.version || roster.signed == old.signed) {
                return Ok(None);
            }
            return Err(Error::StaleRoster {
                version: roster.version,
                current: old.version,
            });
        }
        // What changed is read from the versions that added each member, so versions may
        // be skipped: a member whose `added_at` is above the version held was removed and
        // added back in between.
        let readded = |key: &[u8; 32]| {
            roster
                .added_at(key)
                .is_some_and(|added_at| added_at > old.version)
        };
        let removed: Vec<Card> = old
            .members
            .iter()
            .filter(|card| {
                let key = card.signing_key();
                !roster.contains(&key) || readded(&key)
            })
            .cloned()
            .collect();
        let added: Vec<Card> = roster
            .members
            .iter()
            .filter(|card| {
                let key = card.signing_key();
                !old.contains(&key) || readded(&key)
            })
            .cloned()
            .collect();
        let mut events = Vec::new();
        if roster.owner_key() != old.owner_key() {
            events.push(GroupEvent::OwnerChanged {
                version: roster.version,
                owner: roster.owner_key(),
            });
        }
        let removed_keys: Vec<[u8; 32]> = removed.iter().map(Card::signing_key).collect();
        if roster.contains(&self.me) {
            events.push(GroupEvent::RosterChanged {
                version: roster.version,
                added: added
                    .iter()
                    .filter(|card| card.signing_key() != self.me)
                    .cloned()
                    .collect(),
                removed: removed
                    .iter()
                    .filter(|card| card.signing_key() != self.me)
                    .cloned()
                    .collect(),
            });
        } else {
            events.push(GroupEvent::Removed {
                version: roster.version,
            });
            return Ok(Some(RosterChange {
                roster,
                own: None,
                removed: removed_keys,
                added: Vec::new(),
                events,
            }));
        }
        let mine = roster.added_at(&self.me).unwrap_or(roster.version);
        let since = |key: &[u8; 32]| mine.max(roster.added_at(key).unwrap_or(roster.version));
        let others: Vec<[u8; 32]> = roster.keys().filter(|key| *key != self.me).collect();
        let starting_over = !old.contains(&self.me) || readded(&self.me);
        if starting_over {
            events.push(GroupEvent::Joined {
                version: roster.version,
            });
        }
        let (own, recipients, added_keys) = if starting_over {
            // Added back, this member starts over with everyone: what it held of the
            // others dates from its earlier membership, and they dropped its keys.
            let added_keys = others.iter().map(|key| (*key, since(key))).collect();
            (
                Some(SenderKey::generate(rng, 0)),
                others.clone(),
                added_keys,
            )
        } else {
            let added_keys: Vec<([u8; 32], u64)> = added
                .iter()
                .map(Card::signing_key)
                .map(|key| (key, since(&key)))
                .collect();
            match &self.own {
                // After a removal every remaining member moves to a new epoch the removed
                // one never sees; after an addition the new members get the current key.
                Some(own) if !removed.is_empty() => {
                    (Some(own.next_epoch(rng)?), others.clone(), added_keys)
                }
                Some(own) => {
                    let recipients = added_keys.iter().map(|(key, _)| *key).collect();
                    (Some(own.clone()), recipients, added_keys)
                }
                None => (None, Vec::new(), added_keys),
            }
        };
        if let Some(own) = &own {
            let distribution = own.distribution(&roster.group_id, &self.me);
            // A member that asked for a resync and learns of members it did not know asks
            // them too: their keys went out before it knew them (or before the save it
            // was restored from), and its request never reached them.
            let encode = |resync| {
                ControlParts {
                    roster_version: roster.version,
                    sender_key: Some(distribution.clone()),
                    resync,
                    ..ControlParts::default()
                }
                .encode(&roster.group_id)
            };
            let (update, asking) = (encode(false), encode(true));
            for recipient in &recipients {
                let ask = self.resyncing
                    && !starting_over
                    && added_keys.iter().any(|(key, _)| key == recipient);
                let control = if ask { &asking } else { &update };
                let queued = Pending::control(control.clone());
                work.send(rng, recipient, control, || queued)?;
            }
        }
        Ok(Some(RosterChange {
            roster,
            own,
            removed: removed_keys,
            added: added_keys,
            events,
        }))
    }

    /// Checks `from`'s sender key, carried by `control`, against the roster (after
    /// `change`, if the same control carries one) and what is held, without installing it.
    fn check_install(
        &self,
        change: Option<&RosterChange>,
        from: &[u8; 32],
        control: &Control,
        distribution: &v1::SenderKeyDistribution,
    ) -> Result<CheckedKey> {
        if distribution.sender.as_slice() != from.as_slice() {
            return Err(Error::SenderMismatch);
        }
        let roster = change.map_or(&self.roster, |change| &change.roster);
        if control.roster_version > roster.version {
            return Err(Error::RosterBehind {
                version: control.roster_version,
                current: roster.version,
            });
        }
        let fresh;
        let held = match change.and_then(|change| change.added.iter().find(|(key, _)| key == from))
        {
            Some((_, since)) => {
                fresh = SenderChains::new(*since);
                Some(&fresh)
            }
            None => self.senders.get(from),
        };
        let removed = change.is_some_and(|change| change.removed.contains(from))
            && !change.is_some_and(|change| change.added.iter().any(|(key, _)| key == from));
        if removed {
            return Err(Error::RemovedGroupMember {
                member: self.party(from),
            });
        }
        if !roster.contains(from) {
            return Err(self.outsider(from));
        }
        let held = held
            .filter(|_| *from != self.me)
            .ok_or_else(|| Error::NotGroupMember {
                member: Party::new(
                    *from,
                    self.roster.member(from).or_else(|| roster.member(from)),
                ),
            })?;
        held.check(control.roster_version, distribution)
    }

    /// Answers a resync request from `from`: the owner with its roster and its key, any
    /// other member with its key, at most [`MAX_RESYNC_REPLIES`] times until this
    /// member's roster or epoch changes.
    fn answer_resync<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &self,
        rng: &mut R,
        work: &mut ChannelWork<'_, C>,
        change: Option<&RosterChange>,
        from: &[u8; 32],
    ) -> Result<()> {
        if change.is_some() {
            // Only the owner sends rosters, and it never asks for one with a roster.
            return Err(Error::NotGroupMember {
                member: self.party(from),
            });
        }
        // Not `outsider`: a request carries no key whose roster version would show that
        // its sender was added back since this member saw it removed.
        if !self.roster.contains(from) || *from == self.me {
            return Err(Error::NotGroupMember {
                member: self.party(from),
            });
        }
        if self.resync_replies.get(from).copied().unwrap_or(0) >= MAX_RESYNC_REPLIES {
            return Err(Error::ResyncRateLimited {
                member: self.party(from),
            });
        }
        let owner = self.roster.owner_key() == self.me;
        // An offer to the requester goes again: lost, it would freeze the roster for good.
        let offer = self
            .offered
            .clone()
            .filter(|offer| offer.new_owner.as_slice() == from.as_slice());
        let reply = ControlParts {
            roster_version: self.roster.version,
            roster: owner.then(|| self.roster.signed.clone()),
            sender_key: self.own_distribution(),
            offer,
            ..ControlParts::default()
        };
        if reply.roster.is_none() && reply.sender_key.is_none() {
            return Err(Error::NoLongerMember);
        }
        let reply = reply.encode(self.group_id());
        work.send(rng, from, &reply, Pending::default)
    }

    /// Checks an ownership offer from `from`: the owner of `roster`, offering this
    /// member the group at the next version.
    fn check_offer(
        &self,
        roster: &Roster,
        from: &[u8; 32],
        transfer: v1::OwnerTransfer,
    ) -> Result<v1::OwnerTransfer> {
        if roster.owner_key() != *from {
            return Err(Error::NotGroupOwner);
        }
        let new_owner = verify_transfer(roster.owner.verifying_key(), &roster.group_id, &transfer)?;
        if new_owner.to_bytes() != self.me || !roster.contains(&self.me) {
            return Err(Error::NoOwnershipOffer);
        }
        let next = roster.next_version();
        if transfer.version > next {
            // The roster the offer follows is still on its way: retry after it.
            return Err(Error::RosterBehind {
                version: transfer.version.saturating_sub(1),
                current: roster.version,
            });
        }
        if transfer.version < next {
            return Err(Error::StaleRoster {
                version: transfer.version,
                current: roster.version,
            });
        }
        Ok(transfer)
    }

    fn commit_roster(&mut self, change: RosterChange) {
        self.remember_removals(&change.removed, &change.roster);
        for removed in &change.removed {
            self.senders.remove(removed);
            self.pending.remove(removed);
        }
        for (added, since) in &change.added {
            self.senders.insert(*added, SenderChains::new(*since));
        }
        if !change.roster.contains(&self.me) {
            self.pending.clear();
        }
        self.resync_replies.clear();
        // A transfer of this owner's offer has gone through; an offer to this member is
        // void once the roster moved past it.
        if change.roster.owner_key() != self.me {
            self.offered = None;
        }
        self.offer_received = None;
        self.roster = change.roster;
        self.own = change.own;
    }
}
