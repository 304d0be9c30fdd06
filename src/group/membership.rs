//! Creating and joining groups, roster changes, leave, rekey, and processing control.
//!
//! Each operation works on copies of the group and of the channels it uses
//! ([`ChannelWork`]) and commits them together at the end, so a failure changes nothing.

use std::collections::BTreeMap;

use rand::CryptoRng;

use super::control::{control, ChannelWork, Channels, Control, Outgoing};
use super::roster::Roster;
use super::sender_key::{SenderChain, SenderChains, SenderKey};
use super::{Group, GroupEvent, Received};
use crate::error::{Error, Result};
use crate::identity::{Card, Identity};
use crate::wire::v1;

/// A roster update worked out by [`Group::roster_change`], not yet committed.
struct RosterChange {
    roster: Roster,
    /// This member's sender key after the change.
    own: Option<SenderKey>,
    /// Members whose sender keys are to be dropped.
    removed: Vec<[u8; 32]>,
    /// Members who join this member's view (all the others, if it was added back).
    added: Vec<[u8; 32]>,
    event: GroupEvent,
}

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
        let me = owner.card().signing_key();
        let group = Group {
            senders: others_since(&roster, &me),
            me,
            roster,
            own: Some(SenderKey::generate(rng, 0)),
        };
        let welcome = control(
            group.roster.version,
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
        let mut welcome = work.receive(from, welcome)?;
        let signed = welcome.roster.take().ok_or(Error::NotAGroupWelcome)?;
        let roster = Roster::verify(signed, None, None)?;
        // A welcome carries the owner's sender key. A roster update without one may have
        // overtaken the welcome (the owner sends both to a new member): joining from it
        // would leave this member without the owner's key and refusing it as stale later.
        let from_owner = roster.owner.signing_key() == *from;
        if !from_owner || !roster.contains(&me) || welcome.leave || welcome.sender_key.is_none() {
            return Err(Error::NotAGroupWelcome);
        }
        let mut group = Group {
            senders: others_since(&roster, &me),
            me,
            roster,
            own: Some(SenderKey::generate(rng, 0)),
        };
        let mut events = Vec::new();
        if let Some(distribution) = &welcome.sender_key {
            let (epoch, chain) = group.check_install(None, from, &welcome, distribution)?;
            group.install(from, epoch, chain);
            events.push(GroupEvent::SenderKey {
                sender: *from,
                epoch,
            });
        }
        let mine = control(group.roster.version, None, group.own_distribution(), None);
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
        let version = roster.version;
        let update = control(version, Some(roster.signed.clone()), None, None);
        for other in self.others() {
            work.send(rng, &other, &update)?;
        }
        let welcome = control(
            version,
            Some(roster.signed.clone()),
            self.own_distribution(),
            None,
        );
        work.send(rng, &key, &welcome)?;
        self.roster = roster;
        self.senders.insert(key, SenderChains::new(version));
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
            roster.version,
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
            &control(roster.version, Some(roster.signed.clone()), None, None),
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
        let request = control(self.roster.version, None, None, Some(request));
        work.send(rng, &owner, &request)?;
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
            self.roster.version,
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
    /// [`Error::StaleRoster`], [`Error::RosterBehind`] and [`Error::NotAGroupWelcome`]
    /// (keep it and retry after the control before it); for sender keys [`Error::NotGroupMember`] and
    /// [`Error::RosterBehind`] (keep it and retry after a pending roster update),
    /// [`Error::SenderMismatch`], [`Error::StaleSenderKey`] (from before the sender or this
    /// member was last added: drop it), [`Error::Duplicate`]; channel errors for the
    /// channels used.
    pub fn receive<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
        from: &[u8; 32],
        message: &[u8],
    ) -> Result<Received> {
        let mut work = ChannelWork::new(channels);
        let mut control = work.receive(from, message)?;
        if control.group_id != self.roster.group_id {
            return Err(Error::WrongGroup);
        }
        // Work out every change first (sends go to channel copies), then commit: copying
        // the whole group instead would cost O(members) per control message.
        let carries_key = control.sender_key.is_some();
        let change = control
            .roster
            .take()
            .map(|signed| self.roster_change(rng, &mut work, signed, from, carries_key))
            .transpose()?;
        let roster = change
            .as_ref()
            .map_or(&self.roster, |change| &change.roster);
        let installed = control
            .sender_key
            .as_ref()
            .map(|distribution| self.check_install(change.as_ref(), from, &control, distribution))
            .transpose()?;
        if control.leave {
            if roster.owner.signing_key() != self.me {
                return Err(Error::NotGroupOwner);
            }
            if !roster.contains(from) {
                return Err(Error::NotGroupMember { member: *from });
            }
        }

        let mut events = Vec::new();
        if let Some(change) = change {
            events.push(change.event.clone());
            self.commit_roster(change);
        }
        if let Some((epoch, chain)) = installed {
            self.install(from, epoch, chain);
            events.push(GroupEvent::SenderKey {
                sender: *from,
                epoch,
            });
        }
        if control.leave {
            events.push(GroupEvent::LeaveRequested { member: *from });
        }
        let outgoing = work.commit();
        Ok(Received { events, outgoing })
    }

    /// Works out a roster update from the owner, sending this member's sender key where
    /// the change requires it (to channel copies: nothing is committed here).
    fn roster_change<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &self,
        rng: &mut R,
        work: &mut ChannelWork<'_, C>,
        signed: v1::SignedRoster,
        from: &[u8; 32],
        carries_key: bool,
    ) -> Result<RosterChange> {
        let old = &self.roster;
        let roster = Roster::verify(signed, Some(old.owner.verifying_key()), Some(old))?;
        if roster.group_id != old.group_id {
            return Err(Error::WrongGroup);
        }
        if roster.version <= old.version {
            return Err(Error::StaleRoster {
                version: roster.version,
                current: old.version,
            });
        }
        // What changed is worked out against the roster held, so a member must see every
        // version: had it jumped from N - 1 to N + 1 it would miss a removal and add-back
        // in between (and neither rekey nor drop the old keys), or an addition. Channels
        // may reorder, so a later update waits (`RosterBehind`) until the one before it
        // arrives. A member outside the roster it holds saw nothing since its removal and
        // starts over from whichever roster adds it back.
        if old.contains(&self.me) && roster.version != old.version.saturating_add(1) {
            return Err(Error::RosterBehind {
                version: roster.version,
                current: old.version,
            });
        }
        // Added back, this member needs the owner's key, which comes with the roster only
        // in the owner's welcome (or a removal): a bare update (a later addition of someone
        // else) that overtook the welcome would leave it without the owner's key, and the
        // welcome, arriving next, would be stale. Wait for the welcome, as `join` does.
        let added_back = !old.contains(&self.me) && roster.contains(&self.me);
        if added_back && (!carries_key || roster.owner.signing_key() != *from) {
            return Err(Error::NotAGroupWelcome);
        }
        let changed = |from: &Roster, to: &Roster| -> Vec<Card> {
            from.members
                .iter()
                .filter(|card| !to.contains(&card.signing_key()))
                .cloned()
                .collect()
        };
        let added = changed(&roster, old);
        let removed = changed(old, &roster);
        let removed_keys = removed.iter().map(Card::signing_key).collect();
        if !roster.contains(&self.me) {
            return Ok(RosterChange {
                event: GroupEvent::Removed {
                    version: roster.version,
                },
                roster,
                own: None,
                removed: removed_keys,
                added: Vec::new(),
            });
        }
        let others = || {
            roster
                .keys()
                .filter(|key| *key != self.me)
                .collect::<Vec<_>>()
        };
        let readded = !old.contains(&self.me);
        // Added back, this member starts over with everyone: what it held of the others
        // dates from its earlier membership.
        let added_keys = if readded {
            others()
        } else {
            added.iter().map(Card::signing_key).collect()
        };
        let own = if readded {
            // Others dropped this member's keys when it was removed: start afresh.
            Some((SenderKey::generate(rng, 0), others()))
        } else {
            // After a removal every remaining member moves to a new epoch the removed one
            // never sees; after an addition the new members get the current key.
            self.own
                .as_ref()
                .map(|own| -> Result<(SenderKey, Vec<[u8; 32]>)> {
                    Ok(if removed.is_empty() {
                        (own.clone(), added.iter().map(Card::signing_key).collect())
                    } else {
                        (own.next_epoch(rng)?, others())
                    })
                })
                .transpose()?
        };
        if let Some((own, recipients)) = &own {
            let update = control(
                roster.version,
                None,
                Some(own.distribution(&roster.group_id, &self.me)),
                None,
            );
            for recipient in recipients {
                work.send(rng, recipient, &update)?;
            }
        }
        Ok(RosterChange {
            event: GroupEvent::RosterChanged {
                version: roster.version,
                added,
                removed,
            },
            roster,
            own: own.map(|(own, _)| own),
            removed: removed_keys,
            added: added_keys,
        })
    }

    /// Checks `from`'s sender key, carried by `control`, against the roster (after
    /// `change`, if the same control carries one) and what is held, without installing it.
    fn check_install(
        &self,
        change: Option<&RosterChange>,
        from: &[u8; 32],
        control: &Control,
        distribution: &v1::SenderKeyDistribution,
    ) -> Result<(u32, SenderChain)> {
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
        let held = match change {
            Some(change) if change.added.contains(from) => {
                fresh = SenderChains::new(roster.version);
                Some(&fresh)
            }
            _ => self.senders.get(from),
        };
        let held = held
            .filter(|_| roster.contains(from) && *from != self.me)
            .ok_or(Error::NotGroupMember { member: *from })?;
        let chain = held.check(control.roster_version, distribution)?;
        Ok((distribution.epoch, chain))
    }

    fn install(&mut self, from: &[u8; 32], epoch: u32, chain: SenderChain) {
        if let Some(chains) = self.senders.get_mut(from) {
            chains.insert(epoch, chain);
        }
    }

    fn commit_roster(&mut self, change: RosterChange) {
        for removed in &change.removed {
            self.senders.remove(removed);
        }
        for added in &change.added {
            self.senders
                .insert(*added, SenderChains::new(change.roster.version));
        }
        self.roster = change.roster;
        self.own = change.own;
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

/// An entry, with no sender key yet, for every member but `me`, seen from `roster`'s version.
fn others_since(roster: &Roster, me: &[u8; 32]) -> BTreeMap<[u8; 32], SenderChains> {
    roster
        .keys()
        .filter(|key| key != me)
        .map(|key| (key, SenderChains::new(roster.version)))
        .collect()
}
