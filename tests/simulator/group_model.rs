//! The model of one member's view of a group: roster, own sender key, and what it holds of
//! the other members' sender keys, as docs/PROTOCOL.md section 6 and the README's group
//! sections specify them. For every group operation it plans the exact outcome (the error,
//! or the events and the control messages, to whom, in order), and for every group message
//! the exact result of decrypting it.
//!
//! Sender keys are named by the model: every key a member creates gets a fresh generation
//! number, so the model can tell a member's epoch 0 after it was added back from its
//! earlier epoch 0.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::rc::Rc;

use ratchetkit::{Error, MAX_GROUP_MESSAGE_GAP, MAX_GROUP_SKIPPED_KEYS, MAX_SENDER_EPOCHS};

use super::skipped::Skipped;

/// A sender key at a position: its epoch, the model's name for the key, the iteration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyMeta {
    pub epoch: u32,
    pub generation: u64,
    pub iteration: u32,
}

/// A roster version: parties, owner first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Roster {
    pub version: u64,
    pub members: Vec<usize>,
}

impl Roster {
    pub fn contains(&self, party: usize) -> bool {
        self.members.contains(&party)
    }

    pub fn owner(&self) -> usize {
        self.members[0]
    }

    fn others(&self, me: usize) -> Vec<usize> {
        self.members.iter().copied().filter(|&p| p != me).collect()
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
    /// The sender's roster version (`GroupControl.roster_version`).
    pub version: u64,
    /// The stints of sender and recipient in the owner's roster when it was sent.
    pub from_stint: Option<u64>,
    pub to_stint: Option<u64>,
    /// The recipient has processed it (since its last restart to a state from before):
    /// a refusal as a duplicate after that is a network duplicate, before it a loss.
    pub processed: Cell<bool>,
}

/// `GroupEvent`, with parties for cards and keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
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
}

/// Where control can go: `MissingChannel` / `ChannelNotEstablished` for a party the member
/// has no usable channel to.
pub type ChannelCheck<'a> = &'a dyn Fn(usize) -> Result<(), Error>;

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
            let same = held.generation == key.generation && held.first == key.iteration;
            return Err(if same {
                Error::Duplicate
            } else {
                Error::StaleSenderKey { epoch }
            });
        }
        if self.epochs.len() >= MAX_SENDER_EPOCHS && self.epochs.keys().all(|&kept| kept > epoch) {
            return Err(Error::StaleSenderKey { epoch });
        }
        Ok(())
    }

    fn install(&mut self, key: &KeyMeta) {
        self.epochs.insert(
            key.epoch,
            Epoch {
                generation: key.generation,
                first: key.iteration,
                index: key.iteration,
            },
        );
        while self.epochs.len() > MAX_SENDER_EPOCHS {
            self.epochs.pop_first();
        }
        let Chains {
            epochs, skipped, ..
        } = self;
        skipped.retain(|(epoch, _)| epochs.contains_key(epoch));
    }
}

/// One member's view of a group.
#[derive(Clone, Debug)]
pub struct View {
    pub me: usize,
    pub roster: Rc<Roster>,
    /// The roster version its current membership began at (the welcome it joined from, or
    /// the roster that added it back).
    pub stint: u64,
    pub own: Option<KeyMeta>,
    senders: BTreeMap<usize, Chains>,
}

fn new_key(epoch: u32, generations: &mut u64) -> KeyMeta {
    *generations += 1;
    KeyMeta {
        epoch,
        generation: *generations,
        iteration: 0,
    }
}

fn control(version: u64, roster: Option<&Rc<Roster>>, key: Option<KeyMeta>) -> ControlMeta {
    ControlMeta {
        group: usize::MAX,
        roster: roster.cloned(),
        key,
        leave: false,
        version,
        from_stint: None,
        to_stint: None,
        processed: Cell::new(false),
    }
}

impl View {
    fn fresh(me: usize, roster: &Rc<Roster>, own: KeyMeta) -> Self {
        Self {
            me,
            roster: roster.clone(),
            stint: roster.version,
            own: Some(own),
            senders: roster
                .others(me)
                .into_iter()
                .map(|p| (p, Chains::new(roster.version)))
                .collect(),
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

    /// Whether this view holds `party`'s epochs above `epoch` to the limit: an older epoch
    /// of it was rightly dropped.
    pub fn dropped_epoch(&self, party: usize, epoch: u32) -> bool {
        self.senders.get(&party).is_some_and(|chains| {
            chains.epochs.len() >= MAX_SENDER_EPOCHS && chains.epochs.keys().all(|&e| e > epoch)
        })
    }

    /// `Group::create` by `me`, the owner, with `roster` (version 1).
    pub fn plan_create(
        me: usize,
        roster: &Rc<Roster>,
        channel: ChannelCheck,
        generations: &mut u64,
    ) -> Result<Plan, Error> {
        let own = new_key(0, generations);
        let view = Self::fresh(me, roster, own);
        let sends = send_all(
            &roster.others(me),
            &control(roster.version, Some(roster), Some(own)),
            channel,
        )?;
        Ok(Plan {
            view,
            events: Vec::new(),
            sends,
        })
    }

    /// `Group::join` by `me` with control `c` from `from`.
    pub fn plan_join(
        me: usize,
        from: usize,
        c: &ControlMeta,
        keys: &[[u8; 32]],
        channel: ChannelCheck,
        generations: &mut u64,
    ) -> Result<Plan, Error> {
        let Some(roster) = &c.roster else {
            return Err(Error::NotAGroupWelcome);
        };
        // A welcome carries the owner's key: a bare roster update may have overtaken it.
        if roster.owner() != from || !roster.contains(me) || c.leave || c.key.is_none() {
            return Err(Error::NotAGroupWelcome);
        }
        let own = new_key(0, generations);
        let mut view = Self::fresh(me, roster, own);
        let mut events = Vec::new();
        if let Some(key) = &c.key {
            view.install_checked(from, c, key, keys)?;
            events.push(Event::SenderKey {
                sender: from,
                epoch: key.epoch,
            });
        }
        let sends = send_all(
            &roster.others(me),
            &control(roster.version, None, Some(own)),
            channel,
        )?;
        Ok(Plan {
            view,
            events,
            sends,
        })
    }

    /// Checks and installs `from`'s key carried by `c` (`check_install`, then `install`).
    fn install_checked(
        &mut self,
        from: usize,
        c: &ControlMeta,
        key: &KeyMeta,
        keys: &[[u8; 32]],
    ) -> Result<(), Error> {
        if c.version > self.roster.version {
            return Err(Error::RosterBehind {
                version: c.version,
                current: self.roster.version,
            });
        }
        let me = self.me;
        let in_roster = self.roster.contains(from) && from != me;
        let chains = self
            .senders
            .get_mut(&from)
            .filter(|_| in_roster)
            .ok_or(Error::NotGroupMember { member: keys[from] })?;
        chains.check(c.version, key)?;
        chains.install(key);
        Ok(())
    }

    /// `Group::receive` of control `c` from `from`.
    pub fn plan_receive(
        &self,
        from: usize,
        c: &ControlMeta,
        keys: &[[u8; 32]],
        channel: ChannelCheck,
        generations: &mut u64,
    ) -> Result<Plan, Error> {
        let me = self.me;
        let mut view = self.clone();
        let mut events = Vec::new();
        let mut sends = Vec::new();
        if let Some(roster) = &c.roster {
            let old = &self.roster;
            if roster.version <= old.version {
                return Err(Error::StaleRoster {
                    version: roster.version,
                    current: old.version,
                });
            }
            // A member sees every version in turn: one further ahead waits.
            if old.contains(me) && roster.version != old.version + 1 {
                return Err(Error::RosterBehind {
                    version: roster.version,
                    current: old.version,
                });
            }
            // Added back: only with the owner's key (the welcome), as for a join.
            if !old.contains(me)
                && roster.contains(me)
                && (c.key.is_none() || roster.owner() != from)
            {
                return Err(Error::NotAGroupWelcome);
            }
            let added: Vec<usize> = roster
                .members
                .iter()
                .copied()
                .filter(|&p| !old.contains(p))
                .collect();
            let removed: Vec<usize> = old
                .members
                .iter()
                .copied()
                .filter(|&p| !roster.contains(p))
                .collect();
            for p in &removed {
                view.senders.remove(p);
            }
            if !roster.contains(me) {
                view.own = None;
                events.push(Event::Removed {
                    version: roster.version,
                });
            } else {
                let readded = !old.contains(me);
                let others = roster.others(me);
                let own = if readded {
                    Some((new_key(0, generations), others.clone()))
                } else {
                    self.own.map(|own| {
                        if removed.is_empty() {
                            (own, added.clone())
                        } else {
                            (new_key(own.epoch + 1, generations), others.clone())
                        }
                    })
                };
                if let Some((own, recipients)) = &own {
                    sends = send_all(
                        recipients,
                        &control(roster.version, None, Some(*own)),
                        channel,
                    )?;
                }
                let fresh = if readded { &others } else { &added };
                for &p in fresh {
                    view.senders.insert(p, Chains::new(roster.version));
                }
                view.own = own.map(|(own, _)| own);
                if readded {
                    view.stint = roster.version;
                }
                events.push(Event::RosterChanged {
                    version: roster.version,
                    added,
                    removed,
                });
            }
            view.roster = roster.clone();
        }
        if let Some(key) = &c.key {
            view.install_checked(from, c, key, keys)?;
            events.push(Event::SenderKey {
                sender: from,
                epoch: key.epoch,
            });
        }
        if c.leave {
            if view.roster.owner() != me {
                return Err(Error::NotGroupOwner);
            }
            if !view.roster.contains(from) {
                return Err(Error::NotGroupMember { member: keys[from] });
            }
            events.push(Event::LeaveRequested { member: from });
        }
        Ok(Plan {
            view,
            events,
            sends,
        })
    }

    /// `Group::add_member` of `new` by the owner, giving roster `next`.
    pub fn plan_add(
        &self,
        new: usize,
        next: &Rc<Roster>,
        keys: &[[u8; 32]],
        channel: ChannelCheck,
    ) -> Result<Plan, Error> {
        let own = self.own.ok_or(Error::NoLongerMember)?;
        if self.roster.contains(new) {
            return Err(Error::AlreadyGroupMember { member: keys[new] });
        }
        let mut sends = send_all(
            &self.roster.others(self.me),
            &control(next.version, Some(next), None),
            channel,
        )?;
        sends.extend(send_all(
            &[new],
            &control(next.version, Some(next), Some(own)),
            channel,
        )?);
        let mut view = self.clone();
        view.roster = next.clone();
        view.senders.insert(new, Chains::new(next.version));
        Ok(Plan {
            view,
            events: Vec::new(),
            sends,
        })
    }

    /// `Group::remove_member` of `gone` by the owner, giving roster `next`.
    pub fn plan_remove(
        &self,
        gone: usize,
        next: &Rc<Roster>,
        keys: &[[u8; 32]],
        channel: ChannelCheck,
        generations: &mut u64,
    ) -> Result<Plan, Error> {
        let own = self.own.ok_or(Error::NoLongerMember)?;
        if gone == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.roster.contains(gone) {
            return Err(Error::NotGroupMember { member: keys[gone] });
        }
        let own = new_key(own.epoch + 1, generations);
        let mut sends = send_all(
            &next.others(self.me),
            &control(next.version, Some(next), Some(own)),
            channel,
        )?;
        match channel(gone) {
            Ok(()) => sends.push(Send {
                to: gone,
                control: control(next.version, Some(next), None),
            }),
            Err(Error::MissingChannel { .. } | Error::ChannelNotEstablished { .. }) => {}
            Err(error) => return Err(error),
        }
        let mut view = self.clone();
        view.roster = next.clone();
        view.own = Some(own);
        view.senders.remove(&gone);
        Ok(Plan {
            view,
            events: Vec::new(),
            sends,
        })
    }

    /// `Group::rekey`.
    pub fn plan_rekey(&self, channel: ChannelCheck, generations: &mut u64) -> Result<Plan, Error> {
        let own = match self.own {
            Some(own) if self.is_member() => own,
            _ => return Err(Error::NoLongerMember),
        };
        let own = new_key(own.epoch + 1, generations);
        let sends = send_all(
            &self.roster.others(self.me),
            &control(self.roster.version, None, Some(own)),
            channel,
        )?;
        let mut view = self.clone();
        view.own = Some(own);
        Ok(Plan {
            view,
            events: Vec::new(),
            sends,
        })
    }

    /// `Group::leave`.
    pub fn plan_leave(&self, channel: ChannelCheck) -> Result<Plan, Error> {
        let owner = self.roster.owner();
        if owner == self.me {
            return Err(Error::OwnerCannotLeave);
        }
        if !self.is_member() {
            return Err(Error::NoLongerMember);
        }
        let mut request = control(self.roster.version, None, None);
        request.leave = true;
        let sends = send_all(&[owner], &request, channel)?;
        let mut view = self.clone();
        view.own = None;
        Ok(Plan {
            view,
            events: Vec::new(),
            sends,
        })
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
            return Err(if self.roster.contains(m.sender) {
                Error::UnknownEpoch { epoch }
            } else {
                Error::NotGroupMember {
                    member: keys[m.sender],
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

fn send_all(
    recipients: &[usize],
    template: &ControlMeta,
    channel: ChannelCheck,
) -> Result<Vec<Send>, Error> {
    recipients
        .iter()
        .map(|&to| {
            channel(to)?;
            Ok(Send {
                to,
                control: template.clone(),
            })
        })
        .collect()
}
