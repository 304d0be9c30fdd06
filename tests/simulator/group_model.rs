//! The model of one member's view of a group (group protocol version 2): roster, own
//! sender key, what it holds of the other members' sender keys, the control waiting for a
//! channel, the resync replies it gave and the ownership offers, as docs/PROTOCOL.md
//! section 6 and `src/group` specify them. For every group operation and every control
//! message it plans the exact outcome (the error, or the events and the control messages,
//! to whom, in order), and for every group message the exact result of decrypting it.
//!
//! Sender keys are named by the model: every key a member creates gets a fresh generation
//! number, so the model can tell a member's epoch 0 after it was added back from its
//! earlier epoch 0.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use ratchetkit::{
    group::MAX_GROUP_MESSAGE_GAP, group::MAX_GROUP_SKIPPED_KEYS, group::MAX_OWNER_TRANSFERS,
    group::MAX_PENDING_CONTROLS, group::MAX_REMOVED_MEMBERS, group::MAX_RESYNC_REPLIES,
    group::MAX_SENDER_EPOCHS, Error,
};

use super::skipped::Skipped;

/// A sender key at a position: its epoch, the model's name for the key, the iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyMeta {
    pub epoch: u32,
    pub generation: u64,
    pub iteration: u32,
}

/// A roster version: parties, owner first, the version that (last) added each, and its
/// chain of owners (the version of each transfer).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    pub version: u64,
    pub members: Vec<usize>,
    /// Parallel to `members`.
    pub added_at: Vec<u64>,
    /// Changes of owner since the founder: the roster version of each, in order.
    pub transfers: Vec<u64>,
}

impl Roster {
    /// Version 1: the founder and the initial members.
    pub fn founding(owner: usize, initial: &[usize]) -> Self {
        let members: Vec<usize> = std::iter::once(owner)
            .chain(initial.iter().copied())
            .collect();
        Self {
            version: 1,
            added_at: vec![1; members.len()],
            members,
            transfers: Vec::new(),
        }
    }

    pub fn contains(&self, party: usize) -> bool {
        self.members.contains(&party)
    }

    pub fn owner(&self) -> usize {
        self.members[0]
    }

    pub fn added_at(&self, party: usize) -> Option<u64> {
        self.members
            .iter()
            .position(|&p| p == party)
            .map(|i| self.added_at[i])
    }

    pub fn others(&self, me: usize) -> Vec<usize> {
        self.members.iter().copied().filter(|&p| p != me).collect()
    }

    /// The next version, with `party` added at the end.
    pub fn with_added(&self, party: usize) -> Self {
        let version = self.version + 1;
        let mut next = self.clone();
        next.version = version;
        next.members.push(party);
        next.added_at.push(version);
        next
    }

    /// The next version, without `party`.
    pub fn without(&self, party: usize) -> Self {
        let (members, added_at) = self
            .members
            .iter()
            .zip(&self.added_at)
            .filter(|(p, _)| **p != party)
            .map(|(p, a)| (*p, *a))
            .unzip();
        Self {
            version: self.version + 1,
            members,
            added_at,
            transfers: self.transfers.clone(),
        }
    }

    /// The next version, signed by `new_owner`: itself first, the others in order, the
    /// chain of owners one longer (`Group::accept_ownership`).
    pub fn transferred(&self, new_owner: usize) -> Self {
        let mut entries: Vec<(usize, u64)> = self
            .members
            .iter()
            .copied()
            .zip(self.added_at.iter().copied())
            .collect();
        entries.sort_by_key(|(p, _)| *p != new_owner);
        let (members, added_at) = entries.into_iter().unzip();
        let version = self.version + 1;
        let mut transfers = self.transfers.clone();
        transfers.push(version);
        Self {
            version,
            members,
            added_at,
            transfers,
        }
    }
}

/// A group message as sent.
#[derive(Clone, Copy, Debug)]
pub struct GroupMsgMeta {
    pub sender: usize,
    pub key: KeyMeta,
    /// The sender's roster version when it sent.
    pub version: u64,
    /// The sender's membership (its view's stint) when it sent.
    pub sender_stint: u64,
}

/// A group control message as sent: what it carries.
#[derive(Clone, Debug)]
pub struct ControlMeta {
    pub group: usize,
    pub roster: Option<Rc<Roster>>,
    pub key: Option<KeyMeta>,
    pub leave: bool,
    pub resync: bool,
    /// An ownership offer: (the transfer's roster version, the new owner).
    pub offer: Option<(u64, usize)>,
    /// The sender's roster version (`GroupControl.roster_version`).
    pub version: u64,
    /// The stints of sender and recipient in the owner's roster when it was sent.
    pub from_stint: Option<u64>,
    pub to_stint: Option<u64>,
    /// The recipient's channel has taken it (since its last restart to a state from
    /// before): a refusal as a duplicate after that is a network duplicate, before it a
    /// loss.
    pub processed: Cell<bool>,
}

/// `GroupEvent`, with parties for cards and keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    Joined {
        version: u64,
    },
    ChannelNeeded {
        member: usize,
    },
    ResyncRequested {
        member: usize,
    },
    OwnershipOffered {
        owner: usize,
        version: u64,
    },
    OwnerChanged {
        version: u64,
        owner: usize,
    },
    RosterChanged {
        version: u64,
        added: Vec<usize>,
        removed: Vec<usize>,
    },
    Removed {
        version: u64,
    },
    SenderKey {
        sender: usize,
        epoch: u32,
    },
    LeaveRequested {
        member: usize,
    },
}

/// A control message an operation sends.
#[derive(Clone, Debug)]
pub struct Send {
    pub to: usize,
    pub control: ControlMeta,
}

/// What an operation does when it succeeds: the view after it, its events, its messages.
#[derive(Debug)]
pub struct Plan {
    pub view: View,
    pub events: Vec<Event>,
    pub sends: Vec<Send>,
    /// Controls that a full queue for a member without a channel dropped: (to, control).
    pub dropped: Vec<(usize, ControlMeta)>,
    /// The new own key's epoch is drawn at random (a resync): the group says which.
    pub random_epoch: bool,
}

/// What planning needs besides the view: the parties' identity keys (control waiting for
/// a channel is kept, and sent, in the order of their bytes), whether the member has a
/// channel to a party, and the generation counter.
pub struct Ctx<'a> {
    pub keys: &'a [[u8; 32]],
    pub channel: &'a dyn Fn(usize) -> bool,
    pub generations: &'a mut u64,
}

impl Ctx<'_> {
    fn new_key(&mut self, epoch: u32) -> KeyMeta {
        *self.generations += 1;
        KeyMeta {
            epoch,
            generation: *self.generations,
            iteration: 0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Epoch {
    generation: u64,
    first: u32,
    index: u32,
}

/// What a member holds of another member's sender keys.
#[derive(Clone, Debug)]
struct Chains {
    since: u64,
    epochs: BTreeMap<u32, Epoch>,
    skipped: Skipped<(u32, u32)>,
}

impl Chains {
    fn new(since: u64) -> Self {
        Self {
            since,
            epochs: BTreeMap::new(),
            skipped: Skipped::default(),
        }
    }

    /// `SenderChains::check` of a distribution sent under roster `version`.
    fn check(&self, version: u64, key: &KeyMeta) -> Result<(), Error> {
        let epoch = key.epoch;
        if version < self.since {
            return Err(Error::StaleSenderKey { epoch });
        }
        if let Some(held) = self.epochs.get(&epoch) {
            // Another signing key for a held epoch is stale; the same key is a duplicate
            // unless it starts earlier (a later copy, such as a resync answer, overtook
            // it): then it reaches back to the messages in between.
            if held.generation != key.generation {
                return Err(Error::StaleSenderKey { epoch });
            }
            if key.iteration >= held.first {
                return Err(Error::Duplicate);
            }
            let gap = held.first - key.iteration;
            if gap > MAX_GROUP_MESSAGE_GAP {
                return Err(Error::TooFarAhead {
                    gap: u64::from(gap),
                    max: MAX_GROUP_MESSAGE_GAP,
                });
            }
            return Ok(());
        }
        if self.epochs.len() >= MAX_SENDER_EPOCHS && self.epochs.keys().all(|&kept| kept > epoch) {
            return Err(Error::StaleSenderKey { epoch });
        }
        Ok(())
    }

    fn install(&mut self, key: &KeyMeta) {
        match self.epochs.get_mut(&key.epoch) {
            Some(held) => {
                // An earlier start of a held epoch: the keys in between are skipped keys.
                let earlier = (key.iteration..held.first).map(|n| (key.epoch, n));
                held.first = key.iteration;
                self.skipped.extend(earlier, MAX_GROUP_SKIPPED_KEYS);
            }
            None => {
                self.epochs.insert(
                    key.epoch,
                    Epoch {
                        generation: key.generation,
                        first: key.iteration,
                        index: key.iteration,
                    },
                );
            }
        }
        while self.epochs.len() > MAX_SENDER_EPOCHS {
            self.epochs.pop_first();
        }
        let Chains {
            epochs, skipped, ..
        } = self;
        skipped.retain(|(epoch, _)| epochs.contains_key(epoch));
    }
}

/// Control waiting for a channel to one member (`control::Pending`).
#[derive(Clone, Debug, Default)]
struct Pending {
    /// (Owner only.) The member needs the current roster.
    roster: bool,
    controls: Vec<ControlMeta>,
}

impl Pending {
    fn roster() -> Self {
        Self {
            roster: true,
            controls: Vec::new(),
        }
    }

    fn control(control: ControlMeta) -> Self {
        Self {
            roster: false,
            controls: vec![control],
        }
    }

    fn key(version: u64, key: KeyMeta) -> Self {
        Self::control(control(version, None, Some(key)))
    }

    fn with_roster(mut self) -> Self {
        self.roster = true;
        self
    }

    /// Appends `later`, keeping the newest `MAX_PENDING_CONTROLS`; returns those dropped.
    fn merge(&mut self, later: Pending) -> Vec<ControlMeta> {
        self.roster |= later.roster;
        self.controls.extend(later.controls);
        let excess = self.controls.len().saturating_sub(MAX_PENDING_CONTROLS);
        self.controls.drain(..excess).collect()
    }

    /// The controls to send: the first carries `roster`, if any, when it is a bare sender
    /// key; otherwise (a request first, or nothing waiting) the roster goes first as a
    /// control of its own, under `version`.
    fn messages(&self, roster: Option<&Rc<Roster>>, version: u64) -> Vec<ControlMeta> {
        let mut messages = self.controls.clone();
        if let Some(roster) = roster {
            let bare_key = |c: &&mut ControlMeta| {
                c.key.is_some() && !c.leave && !c.resync && c.offer.is_none()
            };
            match messages.first_mut().filter(bare_key) {
                Some(first) => first.roster = Some(roster.clone()),
                None => messages.insert(0, control(version, Some(roster), None)),
            }
        }
        messages
    }
}

/// The sends of one operation, and what it queues for members without a channel
/// (`ChannelWork`).
#[derive(Default)]
struct Work {
    sends: Vec<Send>,
    queued: BTreeMap<usize, Pending>,
}

impl Work {
    fn send(&mut self, ctx: &Ctx, to: usize, control: &ControlMeta, otherwise: Pending) {
        if (ctx.channel)(to) {
            self.sends.push(Send {
                to,
                control: control.clone(),
            });
        } else {
            let dropped = self.queued.entry(to).or_default().merge(otherwise);
            assert!(dropped.is_empty(), "one operation queued too much");
        }
    }
}

/// A roster update worked out, not yet committed (`processing::RosterChange`).
struct Change {
    roster: Rc<Roster>,
    own: Option<KeyMeta>,
    removed: Vec<usize>,
    added: Vec<(usize, u64)>,
    starting_over: bool,
    events: Vec<Event>,
}

/// Everything a control changes (`processing::Changes`).
struct Changes {
    /// The control carried a roster from the owner, new or not.
    roster_seen: bool,
    roster: Option<Change>,
    key: Option<KeyMeta>,
    leave: bool,
    resync: bool,
    offer: Option<u64>,
}

/// One member's view of a group.
#[derive(Clone, Debug)]
pub struct View {
    pub me: usize,
    pub roster: Rc<Roster>,
    /// The roster version its current membership began at (the version that added it).
    pub stint: u64,
    pub own: Option<KeyMeta>,
    senders: BTreeMap<usize, Chains>,
    /// Control waiting for a channel, by member.
    pending: BTreeMap<usize, Pending>,
    /// Resync replies given to each member since the roster or the own epoch changed.
    replies: BTreeMap<usize, u32>,
    /// (Owner only.) It offered the group to another member: (version, new owner).
    pub offered: Option<(u64, usize)>,
    /// It asked for a resync and the owner's roster has not come since.
    resyncing: bool,
    /// The version of a transfer offered to this member.
    offer_received: Option<u64>,
    /// `Group`'s removed members: those it saw removed and not added back, oldest first,
    /// with the (epoch, key generation) pairs it held of each.
    removed: Vec<(usize, Vec<(u32, u64)>)>,
}

pub fn control(version: u64, roster: Option<&Rc<Roster>>, key: Option<KeyMeta>) -> ControlMeta {
    ControlMeta {
        group: usize::MAX,
        roster: roster.cloned(),
        key,
        leave: false,
        resync: false,
        offer: None,
        version,
        from_stint: None,
        to_stint: None,
        processed: Cell::new(false),
    }
}

impl View {
    fn fresh(me: usize, roster: &Rc<Roster>, own: KeyMeta) -> Self {
        let mine = roster.added_at(me).unwrap_or(roster.version);
        Self {
            me,
            roster: roster.clone(),
            stint: mine,
            own: Some(own),
            senders: roster
                .others(me)
                .into_iter()
                .map(|p| {
                    let theirs = roster.added_at(p).unwrap_or(roster.version);
                    (p, Chains::new(mine.max(theirs)))
                })
                .collect(),
            pending: BTreeMap::new(),
            replies: BTreeMap::new(),
            offered: None,
            resyncing: false,
            offer_received: None,
            removed: Vec::new(),
        }
    }

    /// `Group::remember_removals`: call before the removed members' chains are dropped.
    fn remember_removals(&mut self, removed: &[usize], roster: &Roster) {
        // The library orders one change's removals by key; with a handful of parties the
        // oldest are never dropped here, so the order within a change does not matter.
        let newly: Vec<(usize, Vec<(u32, u64)>)> = removed
            .iter()
            .filter(|&&p| !roster.contains(p))
            .map(|&p| {
                let epochs = self.senders.get(&p).map_or_else(Vec::new, |chains| {
                    chains
                        .epochs
                        .iter()
                        .map(|(epoch, held)| (*epoch, held.generation))
                        .collect()
                });
                (p, epochs)
            })
            .collect();
        self.removed
            .retain(|(p, _)| !newly.iter().any(|(q, _)| q == p) && !roster.contains(*p));
        self.removed.extend(newly);
        let excess = self.removed.len().saturating_sub(MAX_REMOVED_MEMBERS);
        self.removed.drain(..excess);
    }

    /// `Group::outsider`: the refusal of control from `from`, outside the roster.
    fn outsider(&self, from: usize, keys: &[[u8; 32]]) -> Error {
        if self.removed.iter().any(|(p, _)| *p == from) {
            Error::RemovedGroupMember {
                member: keys[from].into(),
            }
        } else {
            Error::NotGroupMember {
                member: keys[from].into(),
            }
        }
    }

    /// `Group::is_member`.
    pub fn is_member(&self) -> bool {
        self.own.is_some() && self.roster.contains(self.me)
    }

    /// `Group::sender_epoch`.
    pub fn sender_epoch(&self, party: usize) -> Option<u32> {
        self.senders
            .get(&party)
            .and_then(|chains| chains.epochs.keys().next_back().copied())
    }

    /// `Group::skipped_keys`.
    pub fn skipped_keys(&self, party: usize) -> usize {
        self.senders
            .get(&party)
            .map_or(0, |chains| chains.skipped.len())
    }

    /// `Group::pending_members`, as parties.
    pub fn pending_members(&self) -> Vec<usize> {
        self.pending.keys().copied().collect()
    }

    /// Whether a leave request waits here for a channel.
    pub fn leave_pending(&self) -> bool {
        self.pending
            .values()
            .any(|pending| pending.controls.iter().any(|c| c.leave))
    }

    /// Whether this view holds `party`'s epochs above `epoch` to the limit: an older epoch
    /// of it was rightly dropped.
    pub fn dropped_epoch(&self, party: usize, epoch: u32) -> bool {
        self.senders.get(&party).is_some_and(|chains| {
            chains.epochs.len() >= MAX_SENDER_EPOCHS && chains.epochs.keys().all(|&e| e > epoch)
        })
    }

    /// The own key of generation `generation` has epoch `epoch` (drawn by the group),
    /// also in the control waiting for a channel.
    pub fn set_epoch(&mut self, generation: u64, epoch: u32) {
        if let Some(own) = &mut self.own {
            if own.generation == generation {
                own.epoch = epoch;
            }
        }
        for pending in self.pending.values_mut() {
            for control in &mut pending.controls {
                set_epoch(control, generation, epoch);
            }
        }
    }

    /// `Group::create` by `me`, the owner, with `roster` (version 1).
    pub fn plan_create(me: usize, roster: &Rc<Roster>, ctx: &mut Ctx) -> Result<Plan, Error> {
        let own = ctx.new_key(0);
        let view = Self::fresh(me, roster, own);
        let mut work = Work::default();
        let welcome = control(roster.version, Some(roster), Some(own));
        for m in roster.others(me) {
            let queued = Pending::key(roster.version, own).with_roster();
            work.send(ctx, m, &welcome, queued);
        }
        Ok(view.finish(work, Vec::new(), ctx))
    }

    /// `Group::join` (or `join_control`) by `me` with control `c` from `from`.
    pub fn plan_join(
        me: usize,
        from: usize,
        c: &ControlMeta,
        ctx: &mut Ctx,
    ) -> Result<Plan, Error> {
        let Some(roster) = &c.roster else {
            return Err(Error::NotAGroupWelcome);
        };
        if roster.owner() != from {
            return Err(Error::RosterNotFromOwner {
                from: ctx.keys[from].into(),
            });
        }
        if !roster.contains(me) || c.leave {
            return Err(Error::NotAGroupWelcome);
        }
        let own = ctx.new_key(0);
        let mut view = Self::fresh(me, roster, own);
        let mut events = vec![Event::Joined {
            version: roster.version,
        }];
        let mut rest = c.clone();
        rest.roster = None;
        let mut work = Work::default();
        let changes = view.work_out(&rest, from, &mut work, ctx)?;
        let mine = control(roster.version, None, Some(own));
        for m in roster.others(me) {
            work.send(ctx, m, &mine, Pending::key(roster.version, own));
        }
        events.extend(view.commit_changes(from, changes));
        Ok(view.finish(work, events, ctx))
    }

    /// `Group::receive` of control `c` from `from`.
    pub fn plan_receive(&self, from: usize, c: &ControlMeta, ctx: &mut Ctx) -> Result<Plan, Error> {
        let mut work = Work::default();
        let changes = self.work_out(c, from, &mut work, ctx)?;
        let mut view = self.clone();
        let events = view.commit_changes(from, changes);
        Ok(view.finish(work, events, ctx))
    }

    /// Checks every part of `c` from `from` and works out what it changes
    /// (`Group::work_out`).
    fn work_out(
        &self,
        c: &ControlMeta,
        from: usize,
        work: &mut Work,
        ctx: &mut Ctx,
    ) -> Result<Changes, Error> {
        let carries_more = c.key.is_some() || c.leave || c.resync || c.offer.is_some();
        let change = match &c.roster {
            Some(roster) => self.roster_change(roster, from, carries_more, work, ctx)?,
            None => None,
        };
        let roster = change
            .as_ref()
            .map_or(&self.roster, |change| &change.roster)
            .clone();
        // A key already held (or superseded) does not refuse the rest of the control:
        // only a control with nothing new in it is refused.
        let others_apply = change.is_some() || c.leave || c.resync || c.offer.is_some();
        let key = match c
            .key
            .as_ref()
            .map(|key| self.check_install(change.as_ref(), from, c, key, ctx.keys))
        {
            Some(Err(Error::Duplicate | Error::StaleSenderKey { .. })) if others_apply => None,
            key => key.transpose()?,
        };
        if c.leave {
            if roster.owner() != self.me {
                return Err(Error::NotGroupOwner);
            }
            if !roster.contains(from) {
                return Err(Error::NotGroupMember {
                    member: ctx.keys[from].into(),
                });
            }
        }
        // A request refused for the rate limit still installs the requester's new key,
        // unanswered.
        let resync = c.resync
            && match self.answer_resync(change.as_ref(), from, work, ctx) {
                Err(Error::ResyncRateLimited { .. }) if key.is_some() => false,
                answered => answered.map(|()| true)?,
            };
        let offer = match c.offer {
            Some((version, new_owner)) => {
                if roster.owner() != from {
                    return Err(Error::NotGroupOwner);
                }
                if new_owner != self.me || !roster.contains(self.me) {
                    return Err(Error::NoOwnershipOffer);
                }
                // An offer that overtook the roster it follows waits for it (`RosterBehind`);
                // one below the next version is void.
                let next = roster.version + 1;
                if version > next {
                    return Err(Error::RosterBehind {
                        version: version - 1,
                        current: roster.version,
                    });
                }
                if version < next {
                    return Err(Error::StaleRoster {
                        version,
                        current: roster.version,
                    });
                }
                Some(version)
            }
            None => None,
        };
        Ok(Changes {
            roster_seen: c.roster.is_some(),
            roster: change,
            key,
            leave: c.leave,
            resync,
            offer,
        })
    }

    /// A roster from `from` (`Group::roster_change`): `None` when it is not newer than
    /// the one held and the control carries more.
    fn roster_change(
        &self,
        roster: &Rc<Roster>,
        from: usize,
        carries_more: bool,
        work: &mut Work,
        ctx: &mut Ctx,
    ) -> Result<Option<Change>, Error> {
        let me = self.me;
        let old = &self.roster;
        // `Roster::verify` with the roster held (`owner_chain`): one chain of owners must
        // be a prefix of the other. A shorter chain is an earlier owner's roster, genuine
        // only from before the next transfer held (then it is older than the roster held,
        // and skipped below when the control carries more); at or above that version it is
        // a former owner's look-alike.
        if roster
            .transfers
            .iter()
            .zip(&old.transfers)
            .any(|(a, b)| a != b)
        {
            return Err(Error::InvalidOwnerChain);
        }
        if let Some(&next) = old.transfers.get(roster.transfers.len()) {
            if roster.version >= next {
                return Err(Error::InvalidOwnerChain);
            }
        }
        if roster.owner() != from {
            return Err(Error::RosterNotFromOwner {
                from: ctx.keys[from].into(),
            });
        }
        if roster.version <= old.version {
            if carries_more && (roster.version < old.version || **roster == **old) {
                return Ok(None);
            }
            return Err(Error::StaleRoster {
                version: roster.version,
                current: old.version,
            });
        }
        let readded = |p: usize| roster.added_at(p).is_some_and(|a| a > old.version);
        let removed: Vec<usize> = old
            .members
            .iter()
            .copied()
            .filter(|&p| !roster.contains(p) || readded(p))
            .collect();
        let added: Vec<usize> = roster
            .members
            .iter()
            .copied()
            .filter(|&p| !old.contains(p) || readded(p))
            .collect();
        let mut events = Vec::new();
        if roster.owner() != old.owner() {
            events.push(Event::OwnerChanged {
                version: roster.version,
                owner: roster.owner(),
            });
        }
        if !roster.contains(me) {
            // A removed member hears only of its removal.
            events.push(Event::Removed {
                version: roster.version,
            });
            return Ok(Some(Change {
                roster: roster.clone(),
                own: None,
                removed,
                added: Vec::new(),
                starting_over: false,
                events,
            }));
        }
        let mine = roster.added_at(me).unwrap_or(roster.version);
        let since = |p: usize| mine.max(roster.added_at(p).unwrap_or(roster.version));
        events.push(Event::RosterChanged {
            version: roster.version,
            added: added.iter().copied().filter(|&p| p != me).collect(),
            removed: removed.iter().copied().filter(|&p| p != me).collect(),
        });
        let others = roster.others(me);
        let starting_over = !old.contains(me) || readded(me);
        if starting_over {
            events.push(Event::Joined {
                version: roster.version,
            });
        }
        let (own, recipients, added) = if starting_over {
            let added = others.iter().map(|&p| (p, since(p))).collect();
            (Some(ctx.new_key(0)), others.clone(), added)
        } else {
            let added: Vec<(usize, u64)> = added.iter().map(|&p| (p, since(p))).collect();
            match self.own {
                Some(own) if !removed.is_empty() => {
                    (Some(ctx.new_key(own.epoch + 1)), others.clone(), added)
                }
                Some(own) => {
                    let recipients = added.iter().map(|(p, _)| *p).collect();
                    (Some(own), recipients, added)
                }
                None => (None, Vec::new(), added),
            }
        };
        if let Some(own) = own {
            // A member that asked for a resync asks the members it learns of too.
            let update = control(roster.version, None, Some(own));
            let mut asking = update.clone();
            asking.resync = true;
            for &recipient in &recipients {
                let ask =
                    self.resyncing && !starting_over && added.iter().any(|(p, _)| *p == recipient);
                let control = if ask { &asking } else { &update };
                work.send(ctx, recipient, control, Pending::control(control.clone()));
            }
        }
        Ok(Some(Change {
            roster: roster.clone(),
            own,
            removed,
            added,
            starting_over,
            events,
        }))
    }

    /// `Group::check_install` of `from`'s key carried by `c`.
    fn check_install(
        &self,
        change: Option<&Change>,
        from: usize,
        c: &ControlMeta,
        key: &KeyMeta,
        keys: &[[u8; 32]],
    ) -> Result<KeyMeta, Error> {
        let roster = change.map_or(&self.roster, |change| &change.roster);
        if c.version > roster.version {
            return Err(Error::RosterBehind {
                version: c.version,
                current: roster.version,
            });
        }
        let fresh;
        let held = match change.and_then(|change| change.added.iter().find(|(p, _)| *p == from)) {
            Some((_, since)) => {
                fresh = Chains::new(*since);
                Some(&fresh)
            }
            None => self.senders.get(&from),
        };
        let removed = change.is_some_and(|change| {
            change.removed.contains(&from) && !change.added.iter().any(|(p, _)| *p == from)
        });
        if removed {
            return Err(Error::RemovedGroupMember {
                member: keys[from].into(),
            });
        }
        if !roster.contains(from) {
            return Err(self.outsider(from, keys));
        }
        let held = held
            .filter(|_| from != self.me)
            .ok_or(Error::NotGroupMember {
                member: keys[from].into(),
            })?;
        held.check(c.version, key)?;
        Ok(*key)
    }

    /// `Group::answer_resync`: the reply to `from`'s request.
    fn answer_resync(
        &self,
        change: Option<&Change>,
        from: usize,
        work: &mut Work,
        ctx: &Ctx,
    ) -> Result<(), Error> {
        let not_member = Error::NotGroupMember {
            member: ctx.keys[from].into(),
        };
        if change.is_some() || !self.roster.contains(from) || from == self.me {
            return Err(not_member);
        }
        if self.replies.get(&from).copied().unwrap_or(0) >= MAX_RESYNC_REPLIES {
            return Err(Error::ResyncRateLimited {
                member: ctx.keys[from].into(),
            });
        }
        let owner = self.roster.owner() == self.me;
        if !owner && self.own.is_none() {
            return Err(Error::NoLongerMember);
        }
        let mut reply = control(self.roster.version, owner.then_some(&self.roster), self.own);
        // An offer to the requester goes again.
        reply.offer = self.offered.filter(|(_, to)| *to == from);
        work.send(ctx, from, &reply, Pending::default());
        Ok(())
    }

    /// `Group::commit_changes`: applies what `work_out` found, returning the events.
    fn commit_changes(&mut self, from: usize, changes: Changes) -> Vec<Event> {
        let mut events = Vec::new();
        if changes.roster_seen {
            // A resync is through once the owner's roster has come: its answer.
            self.resyncing = false;
        }
        if let Some(change) = changes.roster {
            events.extend(change.events.iter().cloned());
            self.remember_removals(&change.removed, &change.roster);
            for removed in &change.removed {
                self.senders.remove(removed);
                self.pending.remove(removed);
            }
            for (added, since) in &change.added {
                self.senders.insert(*added, Chains::new(*since));
            }
            if !change.roster.contains(self.me) {
                self.pending.clear();
            }
            self.replies.clear();
            if change.roster.owner() != self.me {
                self.offered = None;
            }
            self.offer_received = None;
            if change.starting_over {
                self.stint = change.roster.added_at(self.me).expect("added back");
            }
            self.roster = change.roster;
            self.own = change.own;
        }
        if let Some(key) = changes.key {
            if let Some(chains) = self.senders.get_mut(&from) {
                chains.install(&key);
            }
            events.push(Event::SenderKey {
                sender: from,
                epoch: key.epoch,
            });
        }
        if changes.leave {
            events.push(Event::LeaveRequested { member: from });
        }
        if changes.resync {
            *self.replies.entry(from).or_default() += 1;
            events.push(Event::ResyncRequested { member: from });
        }
        if let Some(version) = changes.offer {
            events.push(Event::OwnershipOffered {
                owner: from,
                version,
            });
            self.offer_received = Some(version);
        }
        events
    }

    /// `Group::finish`: sends what waited for a channel the member now has, keeps what
    /// still waits, and reports the members newly waiting for a channel.
    fn finish(mut self, mut work: Work, mut events: Vec<Event>, ctx: &Ctx) -> Plan {
        let owner = self.roster.owner() == self.me;
        let mut members: Vec<usize> = self.pending.keys().copied().collect();
        members.sort_by_key(|&m| ctx.keys[m]);
        for m in members {
            if !self.roster.contains(m) {
                self.pending.remove(&m);
                continue;
            }
            if !(ctx.channel)(m) {
                continue;
            }
            let pending = self.pending.remove(&m).expect("pending");
            let roster = (pending.roster && owner).then_some(&self.roster);
            for control in pending.messages(roster, self.roster.version) {
                work.sends.push(Send { to: m, control });
            }
        }
        let mut queued: Vec<(usize, Pending)> = work.queued.into_iter().collect();
        queued.sort_by_key(|(m, _)| ctx.keys[*m]);
        let mut dropped = Vec::new();
        for (m, pending) in queued {
            if !self.roster.contains(m) || (!pending.roster && pending.controls.is_empty()) {
                continue;
            }
            if !self.pending.contains_key(&m) {
                events.push(Event::ChannelNeeded { member: m });
            }
            let lost = self.pending.entry(m).or_default().merge(pending);
            dropped.extend(lost.into_iter().map(|c| (m, c)));
        }
        Plan {
            view: self,
            events,
            sends: work.sends,
            dropped,
            random_epoch: false,
        }
    }

    /// `Group::check_owner`: the own key of the owner, with no transfer offered.
    fn check_owner(&self) -> Result<KeyMeta, Error> {
        if self.roster.owner() != self.me {
            return Err(Error::NotGroupOwner);
        }
        if self.offered.is_some() {
            return Err(Error::OwnershipTransferPending);
        }
        self.own.ok_or(Error::NoLongerMember)
    }

    /// `Group::add_member` of `new` by the owner, giving roster `next`.
    pub fn plan_add(&self, new: usize, next: &Rc<Roster>, ctx: &mut Ctx) -> Result<Plan, Error> {
        let own = self.check_owner()?;
        if self.roster.contains(new) {
            return Err(Error::AlreadyGroupMember {
                member: ctx.keys[new].into(),
            });
        }
        let mut work = Work::default();
        let update = control(next.version, Some(next), None);
        for m in self.roster.others(self.me) {
            work.send(ctx, m, &update, Pending::roster());
        }
        let welcome = control(next.version, Some(next), Some(own));
        let queued = Pending::key(next.version, own).with_roster();
        work.send(ctx, new, &welcome, queued);
        let mut view = self.clone();
        view.remember_removals(&[], next);
        view.roster = next.clone();
        view.replies.clear();
        view.senders.insert(new, Chains::new(next.version));
        Ok(view.finish(work, Vec::new(), ctx))
    }

    /// `Group::remove_member` of `gone` by the owner, giving roster `next`.
    pub fn plan_remove(
        &self,
        gone: usize,
        next: &Rc<Roster>,
        ctx: &mut Ctx,
    ) -> Result<Plan, Error> {
        let own = self.check_owner()?;
        if gone == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.roster.contains(gone) {
            return Err(Error::NotGroupMember {
                member: ctx.keys[gone].into(),
            });
        }
        let own = ctx.new_key(own.epoch + 1);
        let mut work = Work::default();
        let update = control(next.version, Some(next), Some(own));
        for m in next.others(self.me) {
            let queued = Pending::key(next.version, own).with_roster();
            work.send(ctx, m, &update, queued);
        }
        if (ctx.channel)(gone) {
            work.sends.push(Send {
                to: gone,
                control: control(next.version, Some(next), None),
            });
        }
        let mut view = self.clone();
        view.remember_removals(&[gone], next);
        view.roster = next.clone();
        view.own = Some(own);
        view.replies.clear();
        view.senders.remove(&gone);
        view.pending.remove(&gone);
        Ok(view.finish(work, Vec::new(), ctx))
    }

    /// `Group::rekey`.
    pub fn plan_rekey(&self, ctx: &mut Ctx) -> Result<Plan, Error> {
        let own = match self.own {
            Some(own) if self.is_member() => own,
            _ => return Err(Error::NoLongerMember),
        };
        let own = ctx.new_key(own.epoch + 1);
        let mut work = Work::default();
        let update = control(self.roster.version, None, Some(own));
        for m in self.roster.others(self.me) {
            work.send(ctx, m, &update, Pending::key(self.roster.version, own));
        }
        let mut view = self.clone();
        view.own = Some(own);
        view.replies.clear();
        Ok(view.finish(work, Vec::new(), ctx))
    }

    /// `Group::leave`: also again, after leaving, until the roster that removes it comes
    /// (the request may have been lost).
    pub fn plan_leave(&self, ctx: &mut Ctx) -> Result<Plan, Error> {
        let owner = self.roster.owner();
        if owner == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.roster.contains(self.me) {
            return Err(Error::NoLongerMember);
        }
        let mut request = control(self.roster.version, None, None);
        request.leave = true;
        let mut work = Work::default();
        work.send(ctx, owner, &request, Pending::control(request.clone()));
        let mut view = self.clone();
        view.own = None;
        Ok(view.finish(work, Vec::new(), ctx))
    }

    /// `Group::resync`: a new epoch (its number drawn at random above the current one),
    /// sent with the request to every other member.
    pub fn plan_resync(&self, ctx: &mut Ctx) -> Result<Plan, Error> {
        let own = match self.own {
            Some(own) if self.is_member() => own,
            _ => return Err(Error::NoLongerMember),
        };
        let own = ctx.new_key(own.epoch + 1);
        let mut request = control(self.roster.version, None, Some(own));
        request.resync = true;
        let mut work = Work::default();
        for m in self.roster.others(self.me) {
            work.send(ctx, m, &request, Pending::control(request.clone()));
        }
        let mut view = self.clone();
        view.own = Some(own);
        view.replies.clear();
        view.resyncing = self.roster.owner() != self.me;
        let mut plan = view.finish(work, Vec::new(), ctx);
        plan.random_epoch = true;
        Ok(plan)
    }

    /// `Group::offer_ownership` to `new_owner`.
    /// The same offer again (after it was lost) sends the transfer already signed.
    pub fn plan_offer(&self, new_owner: usize, ctx: &mut Ctx) -> Result<Plan, Error> {
        let transfer = match self.offered {
            Some((version, to)) if to == new_owner => {
                if self.roster.owner() != self.me {
                    return Err(Error::NotGroupOwner);
                }
                version
            }
            _ => {
                self.check_owner()?;
                if self.roster.transfers.len() >= MAX_OWNER_TRANSFERS {
                    return Err(Error::InvalidOwnerChain);
                }
                if new_owner == self.me {
                    return Err(Error::AlreadyGroupMember {
                        member: ctx.keys[new_owner].into(),
                    });
                }
                if !self.roster.contains(new_owner) {
                    return Err(Error::NotGroupMember {
                        member: ctx.keys[new_owner].into(),
                    });
                }
                self.roster.version + 1
            }
        };
        let mut offer = control(self.roster.version, None, None);
        offer.offer = Some((transfer, new_owner));
        let mut work = Work::default();
        work.send(ctx, new_owner, &offer, Pending::control(offer.clone()));
        let mut view = self.clone();
        view.offered = Some((transfer, new_owner));
        Ok(view.finish(work, Vec::new(), ctx))
    }

    /// `Group::accept_ownership`: roster `next` (see [`Roster::transferred`]).
    pub fn plan_accept(&self, ctx: &mut Ctx) -> Result<(Plan, Rc<Roster>), Error> {
        let transfer = self
            .offer_received
            .filter(|_| self.is_member())
            .ok_or(Error::NoOwnershipOffer)?;
        let version = self.roster.version + 1;
        if transfer != version {
            return Err(Error::StaleRoster {
                version: transfer,
                current: self.roster.version,
            });
        }
        let next = Rc::new(self.roster.transferred(self.me));
        let mut work = Work::default();
        let update = control(version, Some(&next), None);
        for m in next.others(self.me) {
            work.send(ctx, m, &update, Pending::roster());
        }
        let events = vec![Event::OwnerChanged {
            version,
            owner: self.me,
        }];
        let mut view = self.clone();
        view.roster = next.clone();
        view.replies.clear();
        view.offer_received = None;
        Ok((view.finish(work, events, ctx), next))
    }

    /// `Group::deliver_pending`.
    pub fn plan_deliver_pending(&self, ctx: &mut Ctx) -> Plan {
        self.clone().finish(Work::default(), Vec::new(), ctx)
    }

    /// `Group::encrypt`: the key position of the message, if it can send.
    pub fn plan_encrypt(&self) -> Result<KeyMeta, Error> {
        self.own.ok_or(Error::NoLongerMember)
    }

    pub fn encrypted(&mut self) {
        if let Some(own) = &mut self.own {
            own.iteration += 1;
        }
    }

    /// What `Group::decrypt` of a genuine message `m` gives.
    pub fn predict(&self, m: &GroupMsgMeta, keys: &[[u8; 32]]) -> Result<(), Error> {
        let epoch = m.key.epoch;
        if m.sender == self.me {
            return Err(Error::OwnGroupMessage);
        }
        let Some(chains) = self.senders.get(&m.sender) else {
            if self.roster.contains(m.sender) {
                return Err(Error::UnknownEpoch { epoch });
            }
            // `Group::unknown_sender`: signed under an epoch key held of it when removed.
            let signed_as_removed = self
                .removed
                .iter()
                .filter(|(p, _)| *p == m.sender)
                .flat_map(|(_, epochs)| epochs)
                .any(|&(e, generation)| e == epoch && generation == m.key.generation);
            return Err(if signed_as_removed {
                Error::RemovedGroupMember {
                    member: keys[m.sender].into(),
                }
            } else {
                Error::NotGroupMember {
                    member: keys[m.sender].into(),
                }
            });
        };
        let Some(held) = chains.epochs.get(&epoch) else {
            return Err(Error::UnknownEpoch { epoch });
        };
        if held.generation != m.key.generation {
            // The same epoch number of another key: the signature does not verify.
            return Err(Error::BadSignature {
                what: "group message",
            });
        }
        let iteration = m.key.iteration;
        if chains.skipped.contains(&(epoch, iteration)) {
            return Ok(());
        }
        if iteration < held.first {
            return Err(Error::SentBeforeKeyReceived {
                iteration,
                first: held.first,
            });
        }
        if iteration < held.index {
            return Err(Error::Duplicate);
        }
        let gap = iteration - held.index;
        if gap > MAX_GROUP_MESSAGE_GAP {
            return Err(Error::TooFarAhead {
                gap: u64::from(gap),
                max: MAX_GROUP_MESSAGE_GAP,
            });
        }
        Ok(())
    }

    /// Applies a decryption [`View::predict`] said succeeds.
    pub fn decrypted(&mut self, m: &GroupMsgMeta) {
        let (epoch, iteration) = (m.key.epoch, m.key.iteration);
        let chains = self.senders.get_mut(&m.sender).expect("predicted");
        if chains.skipped.remove(&(epoch, iteration)) {
            return;
        }
        let held = chains.epochs.get_mut(&epoch).expect("predicted");
        chains.skipped.extend(
            (held.index..iteration).map(|n| (epoch, n)),
            MAX_GROUP_SKIPPED_KEYS,
        );
        held.index = iteration + 1;
    }
}

/// The key of generation `generation` in `control` has epoch `epoch`.
pub fn set_epoch(control: &mut ControlMeta, generation: u64, epoch: u32) {
    if let Some(key) = &mut control.key {
        if key.generation == generation {
            key.epoch = epoch;
        }
    }
}
