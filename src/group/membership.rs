//! What a member does on its own: creating a group, roster changes by the owner, leave,
//! rekey, resync, ownership transfer, and delivering what waited for a channel.
//!
//! Each operation works on copies of the channels it uses ([`ChannelWork`]) and changes
//! the group only once nothing can fail any more, so a failure changes nothing.

use std::collections::BTreeMap;

use rand::CryptoRng;

use super::control::{ChannelWork, Channels, ControlParts};
use super::pending::Pending;
use super::roster::{sign_transfer, Roster};
use super::sender_key::{SenderChains, SenderKey};
use super::{Group, GroupEvent, Received};
use crate::error::{Error, Party, Result};
use crate::identity::{Card, Identity};
use crate::wire::v1;

impl Group {
    /// Creates a group owned by `owner` with `members` (besides the owner), under a new
    /// group id bound to the owner's identity key, and welcomes them: each gets the signed
    /// roster and the owner's sender key over its channel. A member the app has no channel
    /// to yet is reported as [`GroupEvent::ChannelNeeded`], and its welcome waits in the
    /// group until [`Group::deliver_pending`] finds a channel.
    ///
    /// # Errors
    /// [`Error::InvalidRoster`] (too many or repeated members); channel errors
    /// ([`Error::ChainExhausted`], [`Error::NonContributoryKey`]) for a channel that can
    /// no longer send.
    pub fn create<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        rng: &mut R,
        owner: &Identity,
        members: &[Card],
        channels: &mut C,
    ) -> Result<(Group, Received)> {
        let roster = Roster::found(rng, owner, members)?;
        let me = owner.card().signing_key();
        let mut group = Group::new(me, roster, Some(SenderKey::generate(rng, 0)));
        group.senders = group.fresh_senders();
        let mut work = ChannelWork::new(channels);
        let welcome = group.welcome().encode(group.group_id());
        let queued = group.queued_welcome();
        for member in group.others() {
            work.send(rng, &member, &welcome, || queued.clone())?;
        }
        let received = group.finish(rng, work, Vec::new());
        Ok((group, received))
    }

    /// (Owner only.) Adds `member`: everyone gets the new roster, and the new member also
    /// gets the owner's sender key at its current iteration, so it can read nothing sent
    /// before. The other members send it their keys when they process the roster.
    ///
    /// # Errors
    /// [`Error::NotGroupOwner`] unless `owner` is this group's owner and this member;
    /// [`Error::OwnershipTransferPending`] once the owner offered the group to another
    /// member; [`Error::AlreadyGroupMember`]; [`Error::InvalidRoster`] beyond
    /// [`MAX_GROUP_MEMBERS`](super::MAX_GROUP_MEMBERS); channel errors.
    pub fn add_member<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        owner: &Identity,
        member: &Card,
        channels: &mut C,
    ) -> Result<Received> {
        self.check_owner(owner)?;
        let key = member.signing_key();
        if self.roster.contains(&key) {
            return Err(Error::AlreadyGroupMember {
                member: Party::new(key, Some(member)),
            });
        }
        let version = self.next_version()?;
        let mut members = self.roster.entries();
        members.push((member.clone(), version));
        let roster = Roster::sign(owner, self.roster.lineage(), version, members)?;

        let mut work = ChannelWork::new(channels);
        let update = ControlParts {
            roster_version: version,
            roster: Some(roster.signed.clone()),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        for other in self.others() {
            work.send(rng, &other, &update, Pending::roster)?;
        }
        let welcome = ControlParts {
            roster_version: version,
            roster: Some(roster.signed.clone()),
            sender_key: self.own_distribution(),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        let queued = self.queued_key(version);
        work.send(rng, &key, &welcome, || queued.with_roster())?;
        self.remember_removals(&[], &roster);
        self.roster = roster;
        self.resync_replies.clear();
        self.senders.insert(key, SenderChains::new(version));
        Ok(self.finish(rng, work, Vec::new()))
    }

    /// (Owner only.) Removes `member`: the owner moves to a new sender key epoch and
    /// sends it with the new roster to the remaining members, who do the same when they
    /// process it. The removed member gets the roster too if the app has a channel to it.
    ///
    /// # Errors
    /// [`Error::NotGroupOwner`]; [`Error::OwnershipTransferPending`];
    /// [`Error::OwnerCannotLeave`] for the owner itself (transfer the group first);
    /// [`Error::NotGroupMember`]; channel errors.
    pub fn remove_member<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        owner: &Identity,
        member: &[u8; 32],
        channels: &mut C,
    ) -> Result<Received> {
        let own = self.check_owner(owner)?;
        if *member == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.roster.contains(member) {
            return Err(Error::NotGroupMember {
                member: self.party(member),
            });
        }
        let members = self
            .roster
            .entries()
            .into_iter()
            .filter(|(card, _)| card.signing_key() != *member)
            .collect();
        let version = self.next_version()?;
        let roster = Roster::sign(owner, self.roster.lineage(), version, members)?;
        let own = own.next_epoch(rng)?;

        let mut work = ChannelWork::new(channels);
        let distribution = own.distribution(self.group_id(), &self.me);
        let update = ControlParts {
            roster_version: version,
            roster: Some(roster.signed.clone()),
            sender_key: Some(distribution.clone()),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        let queued = Pending::key(self.group_id(), version, distribution).with_roster();
        for other in roster.keys().filter(|key| *key != self.me) {
            work.send(rng, &other, &update, || queued.clone())?;
        }
        // Telling the removed member is a courtesy: it is out whether it hears or not.
        let courtesy = ControlParts {
            roster_version: version,
            roster: Some(roster.signed.clone()),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        work.send_if_possible(rng, member, &courtesy)?;
        self.remember_removals(&[*member], &roster);
        self.roster = roster;
        self.own = Some(own);
        self.resync_replies.clear();
        self.senders.remove(member);
        self.pending.remove(member);
        Ok(self.finish(rng, work, Vec::new()))
    }

    /// Leaves the group: asks the owner to remove this member and stops sending. The
    /// others stop reading from it, and it from them, once the owner's removal is through.
    /// Until then, calling it again asks again (the request may have been lost).
    ///
    /// # Errors
    /// [`Error::OwnerCannotLeave`] (transfer the group with [`Group::offer_ownership`]
    /// first); [`Error::NoLongerMember`] if already out; channel errors.
    pub fn leave<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
    ) -> Result<Received> {
        let owner = self.roster.owner_key();
        if owner == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        // Leaving again (the request may have been lost) asks again, until removed.
        if !self.roster.contains(&self.me) {
            return Err(Error::NoLongerMember);
        }
        let mut work = ChannelWork::new(channels);
        let request = ControlParts {
            roster_version: self.roster.version,
            leave: true,
            ..ControlParts::default()
        }
        .encode(self.group_id());
        let queued = Pending::control(request.clone());
        work.send(rng, &owner, &request, || queued)?;
        self.own = None;
        Ok(self.finish(rng, work, Vec::new()))
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
    ) -> Result<Received> {
        if !self.is_member() {
            return Err(Error::NoLongerMember);
        }
        let own = self
            .own
            .as_ref()
            .ok_or(Error::NoLongerMember)?
            .next_epoch(rng)?;
        let mut work = ChannelWork::new(channels);
        let distribution = own.distribution(self.group_id(), &self.me);
        let update = ControlParts {
            roster_version: self.roster.version,
            sender_key: Some(distribution.clone()),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        let queued = Pending::key(self.group_id(), self.roster.version, distribution);
        for other in self.others() {
            work.send(rng, &other, &update, || queued.clone())?;
        }
        self.own = Some(own);
        self.resync_replies.clear();
        Ok(self.finish(rng, work, Vec::new()))
    }

    /// Asks for whatever this member may have missed: a roster update, a welcome, a
    /// sender key (lost with a channel key evicted for good, or in a restart from an
    /// older save). The owner answers with its roster and its sender key, every other
    /// member with its current sender key, each at most
    /// [`MAX_RESYNC_REPLIES`](super::MAX_RESYNC_REPLIES) times until its roster or its
    /// epoch changes. Give the answers to [`Group::receive`]; from then on this member
    /// reads everything sent, and messages from the gap still decrypt while their keys
    /// are held. Nobody is removed, and nothing this member holds is dropped.
    ///
    /// The request also starts a new sender key epoch, sent with it, numbered past any
    /// this member may have given out before a restart from an older save: call this
    /// after loading a save that may be older than the last one, before sending, and no
    /// message key is used twice.
    ///
    /// # Errors
    /// [`Error::NoLongerMember`] once removed or left; [`Error::ChainExhausted`] when the
    /// epoch numbers are used up; channel errors.
    pub fn resync<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
    ) -> Result<Received> {
        if !self.is_member() {
            return Err(Error::NoLongerMember);
        }
        let own = self
            .own
            .as_ref()
            .ok_or(Error::NoLongerMember)?
            .resync_epoch(rng)?;
        let mut work = ChannelWork::new(channels);
        let request = ControlParts {
            roster_version: self.roster.version,
            sender_key: Some(own.distribution(self.group_id(), &self.me)),
            resync: true,
            ..ControlParts::default()
        }
        .encode(self.group_id());
        let queued = Pending::control(request.clone());
        for other in self.others() {
            work.send(rng, &other, &request, || queued.clone())?;
        }
        self.own = Some(own);
        self.resync_replies.clear();
        // The owner's answer (its roster) ends a member's resync; the owner gets none.
        self.resyncing = self.roster.owner_key() != self.me;
        Ok(self.finish(rng, work, Vec::new()))
    }

    /// (Owner only.) Offers the group to `new_owner`, a member: this owner signs the
    /// transfer for the next roster version and sends it to `new_owner`, who takes the
    /// group over with [`Group::accept_ownership`] (a roster signed by it and carrying
    /// this transfer). The offer cannot be withdrawn: until the new owner's roster
    /// arrives, this owner makes no roster change ([`Error::OwnershipTransferPending`]),
    /// so that no two rosters of the same version can exist. Calling this again for the
    /// same member sends the same offer again (say after it was lost), and a resync
    /// request from that member is answered with it too. Once the new owner's roster has
    /// arrived, this member is an ordinary member and may [`Group::leave`].
    ///
    /// # Errors
    /// [`Error::NotGroupOwner`]; [`Error::OwnershipTransferPending`] for an offer to
    /// another member while one is out;
    /// [`Error::NotGroupMember`] for someone outside the roster, and
    /// [`Error::AlreadyGroupMember`] for the owner itself; channel errors.
    pub fn offer_ownership<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        owner: &Identity,
        new_owner: &[u8; 32],
        channels: &mut C,
    ) -> Result<Received> {
        let transfer = match &self.offered {
            // The same offer again, say after it was lost: it is the one already signed.
            Some(offered) if offered.new_owner.as_slice() == new_owner.as_slice() => {
                let key = owner.card().signing_key();
                if key != self.me || key != self.roster.owner_key() {
                    return Err(Error::NotGroupOwner);
                }
                offered.clone()
            }
            _ => {
                self.check_owner(owner)?;
                if self.roster.transfers.len() >= super::MAX_OWNER_TRANSFERS {
                    return Err(Error::InvalidOwnerChain);
                }
                if *new_owner == self.me {
                    return Err(Error::AlreadyGroupMember {
                        member: self.party(new_owner),
                    });
                }
                if !self.roster.contains(new_owner) {
                    return Err(Error::NotGroupMember {
                        member: self.party(new_owner),
                    });
                }
                sign_transfer(owner, self.group_id(), self.next_version()?, new_owner)
            }
        };
        let mut work = ChannelWork::new(channels);
        let offer = ControlParts {
            roster_version: self.roster.version,
            offer: Some(transfer.clone()),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        let queued = Pending::control(offer.clone());
        work.send(rng, new_owner, &offer, || queued)?;
        self.offered = Some(transfer);
        Ok(self.finish(rng, work, Vec::new()))
    }

    /// Takes over the group that its owner offered to this member
    /// ([`GroupEvent::OwnershipOffered`]): signs the next roster, which lists this member
    /// first and carries the previous owner's transfer, and sends it to everyone. The
    /// previous owner stays a member until it leaves or is removed.
    ///
    /// # Errors
    /// [`Error::NoOwnershipOffer`] without a pending offer (or for another identity);
    /// [`Error::StaleRoster`] if the roster moved on since the offer (the offer is then
    /// void); channel errors.
    pub fn accept_ownership<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        identity: &Identity,
        channels: &mut C,
    ) -> Result<Received> {
        let transfer = self
            .offer_received
            .clone()
            .filter(|_| identity.card().signing_key() == self.me && self.is_member())
            .ok_or(Error::NoOwnershipOffer)?;
        let version = self.next_version()?;
        if transfer.version != version {
            return Err(Error::StaleRoster {
                version: transfer.version,
                current: self.roster.version,
            });
        }
        let mut members = self.roster.entries();
        members.sort_by_key(|(card, _)| card.signing_key() != self.me);
        let mut lineage = self.roster.lineage();
        lineage.transfers.push(transfer);
        let roster = Roster::sign(identity, lineage, version, members)?;

        let mut work = ChannelWork::new(channels);
        let update = ControlParts {
            roster_version: version,
            roster: Some(roster.signed.clone()),
            ..ControlParts::default()
        }
        .encode(self.group_id());
        for other in roster.keys().filter(|key| *key != self.me) {
            work.send(rng, &other, &update, Pending::roster)?;
        }
        let event = GroupEvent::OwnerChanged {
            version,
            owner: self.me,
        };
        self.roster = roster;
        self.resync_replies.clear();
        self.offer_received = None;
        Ok(self.finish(rng, work, vec![event]))
    }

    /// Checks that `owner` is this group's owner and this member, with no transfer
    /// offered, returning its sender key.
    fn check_owner(&self, owner: &Identity) -> Result<&SenderKey> {
        let key = owner.card().signing_key();
        if key != self.me || key != self.roster.owner_key() {
            return Err(Error::NotGroupOwner);
        }
        if self.offered.is_some() {
            return Err(Error::OwnershipTransferPending);
        }
        self.own.as_ref().ok_or(Error::NoLongerMember)
    }

    pub(crate) fn next_version(&self) -> Result<u64> {
        self.roster
            .version
            .checked_add(1)
            .ok_or(Error::InvalidRoster {
                max: super::MAX_GROUP_MEMBERS,
            })
    }

    pub(crate) fn own_distribution(&self) -> Option<v1::SenderKeyDistribution> {
        self.own
            .as_ref()
            .map(|own| own.distribution(self.group_id(), &self.me))
    }

    /// The owner's welcome: the roster and its sender key.
    pub(crate) fn welcome(&self) -> ControlParts {
        ControlParts {
            roster_version: self.roster.version,
            roster: Some(self.roster.signed.clone()),
            sender_key: self.own_distribution(),
            ..ControlParts::default()
        }
    }

    /// An entry, with no sender key yet, for every other member, seen from the version
    /// that added the later of the two.
    pub(crate) fn fresh_senders(&self) -> BTreeMap<[u8; 32], SenderChains> {
        let mine = self
            .roster
            .added_at(&self.me)
            .unwrap_or(self.roster.version);
        self.roster
            .keys()
            .filter(|key| *key != self.me)
            .map(|key| {
                let theirs = self.roster.added_at(&key).unwrap_or(self.roster.version);
                (key, SenderChains::new(mine.max(theirs)))
            })
            .collect()
    }
}
