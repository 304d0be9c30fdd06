//! Creating and joining groups, roster changes, leave, rekey, and processing control.
//!
//! Each operation works on copies of the group and of the channels it uses
//! ([`ChannelWork`]) and commits them together at the end, so a failure changes nothing.

use std::collections::BTreeMap;

use rand::CryptoRng;

use super::control::{control, ChannelWork, Channels, Outgoing};
use super::roster::Roster;
use super::sender_key::SenderKey;
use super::{Group, GroupEvent, Received};
use crate::error::{Error, Result};
use crate::identity::{Card, Identity};
use crate::wire::v1;

impl Group {
    /// Creates a group owned by `owner` with `members` (besides the owner), and welcomes
    /// them: each gets the signed roster and the owner's sender key over its channel.
    ///
    /// # Errors
    /// [`Error::InvalidGroupId`], [`Error::InvalidRoster`] (too many or repeated
    /// members), [`Error::MissingChannel`] / [`Error::ChannelNotEstablished`] for a member
    /// the app has no usable channel to.
    pub fn create<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        rng: &mut R,
        owner: &Identity,
        group_id: &[u8],
        members: &[Card],
        channels: &mut C,
    ) -> Result<(Group, Vec<Outgoing>)> {
        let cards = core::iter::once(owner.card()).chain(members).cloned();
        let roster = Roster::sign(owner, group_id, 1, cards.collect())?;
        let group = Group {
            me: owner.card().signing_key(),
            roster,
            own: Some(SenderKey::generate(rng, 0)),
            senders: BTreeMap::new(),
        };
        let welcome = control(
            Some(group.roster.signed.clone()),
            group.own_distribution(),
            None,
        );
        let mut work = ChannelWork::new(channels);
        for member in group.others() {
            work.send(rng, &member, &welcome)?;
        }
        Ok((group, work.commit()))
    }

    /// Joins a group from the owner's welcome, which arrived on the channel with `from`
    /// (the owner), and sends this member's new sender key to every other member.
    ///
    /// # Errors
    /// [`Error::NotAGroupWelcome`] for control that is not a welcome to `identity` from
    /// the group's owner; roster errors ([`Error::BadSignature`], [`Error::InvalidRoster`],
    /// card errors); channel errors, including [`Error::MissingChannel`] for a member the
    /// app has no channel to yet (start one and retry: nothing changed).
    pub fn join<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        rng: &mut R,
        identity: &Identity,
        channels: &mut C,
        from: &[u8; 32],
        welcome: &[u8],
    ) -> Result<(Group, Received)> {
        let me = identity.card().signing_key();
        let mut work = ChannelWork::new(channels);
        let welcome = work.receive(from, welcome)?;
        let signed = welcome.roster.ok_or(Error::NotAGroupWelcome)?;
        let roster = Roster::verify(signed, None, None)?;
        if roster.owner.signing_key() != *from || !roster.contains(&me) || welcome.leave {
            return Err(Error::NotAGroupWelcome);
        }
        let mut group = Group {
            me,
            roster,
            own: Some(SenderKey::generate(rng, 0)),
            senders: BTreeMap::new(),
        };
        let mut events = Vec::new();
        if let Some(distribution) = &welcome.sender_key {
            events.push(group.install(from, distribution)?);
        }
        let mine = control(None, group.own_distribution(), None);
        for member in group.others() {
            work.send(rng, &member, &mine)?;
        }
        let outgoing = work.commit();
        Ok((group, Received { events, outgoing }))
    }

    /// (Owner only.) Adds `member`: everyone gets the new roster, and the new member also
    /// gets the owner's sender key at its current iteration, so it can read nothing sent
    /// before. The other members send it their keys when they process the roster.
    ///
    /// # Errors
    /// [`Error::NotGroupOwner`] unless `owner` is this group's owner and this member;
    /// [`Error::AlreadyGroupMember`]; [`Error::InvalidRoster`] beyond
    /// [`MAX_GROUP_MEMBERS`](super::MAX_GROUP_MEMBERS); channel errors.
    pub fn add_member<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        owner: &Identity,
        member: &Card,
        channels: &mut C,
    ) -> Result<Vec<Outgoing>> {
        self.check_owner(owner)?;
        let key = member.signing_key();
        if self.roster.contains(&key) {
            return Err(Error::AlreadyGroupMember { member: key });
        }
        let mut members = self.roster.members.clone();
        members.push(member.clone());
        let roster = Roster::sign(owner, self.group_id(), self.next_version()?, members)?;

        let mut work = ChannelWork::new(channels);
        let update = control(Some(roster.signed.clone()), None, None);
        for other in self.others() {
            work.send(rng, &other, &update)?;
        }
        let welcome = control(Some(roster.signed.clone()), self.own_distribution(), None);
        work.send(rng, &key, &welcome)?;
        self.roster = roster;
        Ok(work.commit())
    }

    /// (Owner only.) Removes `member`: the owner moves to a new sender key epoch and
    /// sends it with the new roster to the remaining members, who do the same when they
    /// process it. The removed member gets the roster too if the app has a channel to it.
    ///
    /// # Errors
    /// [`Error::NotGroupOwner`]; [`Error::OwnerCannotLeave`] for the owner itself;
    /// [`Error::NotGroupMember`]; channel errors.
    pub fn remove_member<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        owner: &Identity,
        member: &[u8; 32],
        channels: &mut C,
    ) -> Result<Vec<Outgoing>> {
        let own = self.check_owner(owner)?;
        if *member == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.roster.contains(member) {
            return Err(Error::NotGroupMember { member: *member });
        }
        let members = self
            .roster
            .members
            .iter()
            .filter(|card| card.signing_key() != *member)
            .cloned()
            .collect();
        let roster = Roster::sign(owner, self.group_id(), self.next_version()?, members)?;
        let own = own.next_epoch(rng)?;

        let mut work = ChannelWork::new(channels);
        let update = control(
            Some(roster.signed.clone()),
            Some(own.distribution(self.group_id(), &self.me)),
            None,
        );
        for other in roster.keys().filter(|key| *key != self.me) {
            work.send(rng, &other, &update)?;
        }
        // Telling the removed member is a courtesy: it is out whether it hears or not.
        match work.send(
            rng,
            member,
            &control(Some(roster.signed.clone()), None, None),
        ) {
            Err(Error::MissingChannel { .. } | Error::ChannelNotEstablished { .. }) | Ok(()) => {}
            Err(error) => return Err(error),
        }
        self.roster = roster;
        self.own = Some(own);
        self.senders.remove(member);
        Ok(work.commit())
    }

    /// Leaves the group: asks the owner to remove this member and stops sending. The
    /// others stop reading from it, and it from them, once the owner's removal is through.
    ///
    /// # Errors
    /// [`Error::OwnerCannotLeave`]; [`Error::NoLongerMember`] if already out; channel
    /// errors for the channel to the owner.
    pub fn leave<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
    ) -> Result<Vec<Outgoing>> {
        let owner = self.roster.owner.signing_key();
        if owner == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.is_member() {
            return Err(Error::NoLongerMember);
        }
        let request = v1::LeaveRequest {
            group_id: self.group_id().to_vec(),
        };
        let mut work = ChannelWork::new(channels);
        work.send(rng, &owner, &control(None, None, Some(request)))?;
        self.own = None;
        Ok(work.commit())
    }

    /// Replaces this member's sender key with a new epoch (fresh chain and signing key)
    /// and sends it to every other member. Whoever stole the old one cannot read what
    /// this member sends from now on.
    ///
    /// # Errors
    /// [`Error::NoLongerMember`]; channel errors.
    pub fn rekey<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
    ) -> Result<Vec<Outgoing>> {
        if !self.is_member() {
            return Err(Error::NoLongerMember);
        }
        let own = self
            .own
            .as_ref()
            .ok_or(Error::NoLongerMember)?
            .next_epoch(rng)?;
        let mut work = ChannelWork::new(channels);
        let update = control(
            None,
            Some(own.distribution(self.group_id(), &self.me)),
            None,
        );
        for other in self.others() {
            work.send(rng, &other, &update)?;
        }
        self.own = Some(own);
        Ok(work.commit())
    }

    /// Processes group control that arrived on the channel with `from`: a roster update,
    /// a member's sender key, or a leave request. Deliver the returned
    /// [`Received::outgoing`] messages.
    ///
    /// # Errors
    /// On any error the group and the channels are unchanged. [`Error::NotGroupControl`]
    /// for application data; [`Error::WrongGroup`]; for rosters
    /// [`Error::BadSignature`] (unsigned or not by the owner), [`Error::NotGroupOwner`],
    /// [`Error::StaleRoster`]; for sender keys [`Error::NotGroupMember`] (keep it and retry
    /// after a pending roster update), [`Error::SenderMismatch`], [`Error::StaleSenderKey`],
    /// [`Error::Duplicate`]; channel errors for the channels used.
    pub fn receive<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
        from: &[u8; 32],
        message: &[u8],
    ) -> Result<Received> {
        let mut work = ChannelWork::new(channels);
        let control = work.receive(from, message)?;
        if control.group_id != self.roster.group_id {
            return Err(Error::WrongGroup);
        }
        let mut next = self.clone();
        let mut events = Vec::new();
        if let Some(signed) = control.roster {
            events.push(next.apply_roster(rng, &mut work, signed)?);
        }
        if let Some(distribution) = &control.sender_key {
            events.push(next.install(from, distribution)?);
        }
        if control.leave {
            if next.roster.owner.signing_key() != next.me {
                return Err(Error::NotGroupOwner);
            }
            if !next.roster.contains(from) {
                return Err(Error::NotGroupMember { member: *from });
            }
            events.push(GroupEvent::LeaveRequested { member: *from });
        }
        *self = next;
        let outgoing = work.commit();
        Ok(Received { events, outgoing })
    }

    /// Applies a roster update from the owner, sending this member's sender key where the
    /// change requires it.
    fn apply_roster<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        work: &mut ChannelWork<'_, C>,
        signed: v1::SignedRoster,
    ) -> Result<GroupEvent> {
        let owner = *self.roster.owner.verifying_key();
        let roster = Roster::verify(signed, Some(&owner), Some(&self.roster))?;
        if roster.group_id != self.roster.group_id {
            return Err(Error::WrongGroup);
        }
        if roster.version <= self.roster.version {
            return Err(Error::StaleRoster {
                version: roster.version,
                current: self.roster.version,
            });
        }
        let old = core::mem::replace(&mut self.roster, roster);
        let added: Vec<Card> = self
            .roster
            .members
            .iter()
            .filter(|card| !old.contains(&card.signing_key()))
            .cloned()
            .collect();
        let removed: Vec<Card> = old
            .members
            .iter()
            .filter(|card| !self.roster.contains(&card.signing_key()))
            .cloned()
            .collect();
        for card in &removed {
            self.senders.remove(&card.signing_key());
        }
        if !self.roster.contains(&self.me) {
            self.own = None;
            return Ok(GroupEvent::Removed {
                version: self.roster.version,
            });
        }
        let readded = !old.contains(&self.me);
        let own = match &self.own {
            // Others dropped this member's keys when it was removed: start afresh.
            _ if readded => Some(SenderKey::generate(rng, 0)),
            own => own.clone(),
        };
        if let Some(own) = own {
            // After a removal every remaining member moves to a new epoch the removed one
            // never sees; after an addition the new members get the current key.
            let (own, recipients) = if readded {
                (own, self.others())
            } else if removed.is_empty() {
                (own, added.iter().map(Card::signing_key).collect())
            } else {
                (own.next_epoch(rng)?, self.others())
            };
            let update = control(
                None,
                Some(own.distribution(self.group_id(), &self.me)),
                None,
            );
            for recipient in recipients {
                work.send(rng, &recipient, &update)?;
            }
            self.own = Some(own);
        }
        Ok(GroupEvent::RosterChanged {
            version: self.roster.version,
            added,
            removed,
        })
    }

    /// Installs `from`'s sender key.
    fn install(
        &mut self,
        from: &[u8; 32],
        distribution: &v1::SenderKeyDistribution,
    ) -> Result<GroupEvent> {
        if distribution.sender.as_slice() != from.as_slice() {
            return Err(Error::SenderMismatch);
        }
        if !self.roster.contains(from) || *from == self.me {
            return Err(Error::NotGroupMember { member: *from });
        }
        let mut chains = self.senders.get(from).cloned().unwrap_or_default();
        chains.install(distribution)?;
        self.senders.insert(*from, chains);
        Ok(GroupEvent::SenderKey {
            sender: *from,
            epoch: distribution.epoch,
        })
    }

    /// Checks that `owner` is this group's owner and this member, returning its sender key.
    fn check_owner(&self, owner: &Identity) -> Result<&SenderKey> {
        let key = owner.card().signing_key();
        if key != self.me || key != self.roster.owner.signing_key() {
            return Err(Error::NotGroupOwner);
        }
        self.own.as_ref().ok_or(Error::NoLongerMember)
    }

    fn next_version(&self) -> Result<u64> {
        self.roster
            .version
            .checked_add(1)
            .ok_or(Error::InvalidRoster {
                max: super::MAX_GROUP_MEMBERS,
            })
    }

    fn own_distribution(&self) -> Option<v1::SenderKeyDistribution> {
        self.own
            .as_ref()
            .map(|own| own.distribution(self.group_id(), &self.me))
    }
}
