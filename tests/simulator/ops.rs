//! Group operations (create, add, remove, rekey, leave, resync, ownership offer and
//! acceptance, delivering what waited for a channel) and the checks of their outcome
//! against the model's plan: the same error with nothing changed, or the same events and
//! the same control messages to the same members in the same order.

use std::rc::Rc;

use rand::rngs::ChaCha20Rng;
use rand::RngExt;
use ratchetkit::group::Outgoing;
use ratchetkit::{Error, Group, GroupEvent, Received};

use super::channel_model::ChannelMeta;
use super::group_model::{set_epoch, Ctx, Event, Plan, Roster, View};
use super::network::{Kind, Packet};
use super::party::Party;
use super::{Ghost, Sim, PARTIES};

type OpResult = Result<(Option<Group>, Received), Error>;

/// Removed members' old states kept per group.
const GHOSTS: usize = 3;

impl Sim {
    /// The model's plan for something `p` does in group `g`.
    pub(super) fn plan<T>(
        &mut self,
        p: usize,
        g: usize,
        f: impl FnOnce(Option<&View>, &mut Ctx) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let model = &self.parties[p].model;
        let sides = &model.sides;
        let channel = |q: usize| sides.contains_key(&q);
        let mut ctx = Ctx {
            keys: &self.keys,
            channel: &channel,
            generations: &mut self.generations,
        };
        f(model.views[g].as_ref(), &mut ctx)
    }

    /// Runs `op` for `p` in group `g` and checks it against `plan`. True if it succeeded.
    fn group_op(
        &mut self,
        p: usize,
        g: usize,
        what: &'static str,
        plan: Result<Plan, Error>,
        op: impl FnOnce(&mut Party, &mut ChaCha20Rng) -> OpResult,
    ) -> bool {
        *self.stats.group_ops.entry(what).or_default() += 1;
        let context = format!("p{p} {what} in group {g}");
        let party = &mut self.parties[p];
        party.touch(g);
        let before = plan.is_err().then(|| party.group_bytes(g));
        match (op(party, &mut self.rng), plan) {
            (Ok((group, received)), Ok(plan)) => {
                if let Some(group) = group {
                    party.groups[g] = Some(group);
                }
                self.apply_plan(
                    p,
                    g,
                    plan,
                    None,
                    received.events(),
                    received.outgoing().to_vec(),
                    &context,
                );
                true
            }
            (Err(error), Err(expected)) => {
                assert_eq!(error, expected, "{context}");
                assert!(
                    before.as_ref() == Some(&party.group_bytes(g)),
                    "{context} failed ({error:?}) but the state changed"
                );
                false
            }
            (result, expected) => panic!(
                "{context}: {:?}; the model expected {:?}",
                result.map(|_| ()),
                expected.map(|_| ())
            ),
        }
    }

    fn event(&self, event: &GroupEvent) -> Event {
        let parties = |cards: &[ratchetkit::Card]| {
            cards
                .iter()
                .map(|card| self.index(&card.signing_key()))
                .collect()
        };
        match event {
            GroupEvent::Joined { version } => Event::Joined { version: *version },
            GroupEvent::ChannelNeeded {
                member,
                name,
                fingerprint,
            } => {
                let q = self.index(member);
                let card = self.parties[q].identity.card();
                assert_eq!(name, card.identity(), "ChannelNeeded: name");
                assert!(
                    *fingerprint == card.fingerprint(),
                    "ChannelNeeded: fingerprint"
                );
                Event::ChannelNeeded { member: q }
            }
            GroupEvent::ResyncRequested { member } => Event::ResyncRequested {
                member: self.index(member),
            },
            GroupEvent::OwnershipOffered { owner, version } => Event::OwnershipOffered {
                owner: self.index(owner),
                version: *version,
            },
            GroupEvent::OwnerChanged { version, owner } => Event::OwnerChanged {
                version: *version,
                owner: self.index(owner),
            },
            GroupEvent::RosterChanged {
                version,
                added,
                removed,
            } => Event::RosterChanged {
                version: *version,
                added: parties(added),
                removed: parties(removed),
            },
            GroupEvent::Removed { version } => Event::Removed { version: *version },
            GroupEvent::SenderKey { sender, epoch } => Event::SenderKey {
                sender: self.index(sender),
                epoch: *epoch,
            },
            GroupEvent::LeaveRequested { member } => Event::LeaveRequested {
                member: self.index(member),
            },
            other => panic!("unknown event {other:?}"),
        }
    }

    /// A group operation of `p` (or its processing of control from `received`) succeeded:
    /// checks it did what the plan says, commits the plan, and sends the control.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_plan(
        &mut self,
        p: usize,
        g: usize,
        mut plan: Plan,
        received: Option<(usize, ChannelMeta)>,
        events: &[GroupEvent],
        outgoing: Vec<Outgoing>,
        context: &dyn std::fmt::Display,
    ) {
        if plan.random_epoch {
            // A resync's epoch is drawn at random above the current one.
            let own = plan.view.own.expect("a resync's key");
            let epoch = self.parties[p].groups[g]
                .as_ref()
                .and_then(Group::epoch)
                .expect("an epoch after resync");
            assert!(
                epoch >= own.epoch && epoch - own.epoch <= u32::from(u16::MAX),
                "{context}: epoch {epoch} after resync, from {}",
                own.epoch - 1
            );
            plan.view.set_epoch(own.generation, epoch);
            for send in &mut plan.sends {
                set_epoch(&mut send.control, own.generation, epoch);
            }
        }
        if self.tracing() {
            eprintln!(
                "[{}] {context}: events {:?}, sends to {:?}, own {:?}, roster {:?}, pending {:?}",
                self.stats.steps,
                plan.events,
                plan.sends.iter().map(|s| s.to).collect::<Vec<_>>(),
                plan.view.own,
                plan.view.roster,
                plan.view.pending_members(),
            );
        }
        let events: Vec<Event> = events.iter().map(|event| self.event(event)).collect();
        assert_eq!(events, plan.events, "{context}: events");
        let to: Vec<usize> = outgoing.iter().map(|out| self.index(&out.to())).collect();
        let planned: Vec<usize> = plan.sends.iter().map(|send| send.to).collect();
        assert_eq!(to, planned, "{context}: control sent to");
        for (to, control) in &plan.dropped {
            if let Some(key) = &control.key {
                self.lost_keys.insert((g, *to, p, key.generation));
            }
        }
        let party = &mut self.parties[p];
        if let Some((from, meta)) = received {
            party
                .model
                .sides
                .get_mut(&from)
                .expect("a side")
                .decrypted(&meta);
        }
        let group = party.groups[g].as_ref().expect("a group");
        let view = plan.view;
        assert_eq!(
            group.epoch(),
            view.own.map(|key| key.epoch),
            "{context}: own epoch"
        );
        assert_eq!(group.roster_version(), view.roster.version, "{context}");
        assert_eq!(group.is_member(), view.is_member(), "{context}: member");
        let owner = self.keys[view.roster.owner()];
        assert!(
            group.owner().signing_key() == owner,
            "{context}: the group's owner"
        );
        for &q in &view.roster.members {
            assert_eq!(
                group.sender_epoch(&self.keys[q]),
                view.sender_epoch(q),
                "{context}: p{q}'s epoch held"
            );
        }
        let mut pending: Vec<usize> = group
            .pending_members()
            .map(|key| self.keys.iter().position(|k| k == key).expect("a party"))
            .collect();
        pending.sort_unstable();
        assert_eq!(
            pending,
            view.pending_members(),
            "{context}: pending members"
        );
        party.model.views[g] = Some(view);
        let sent = !outgoing.is_empty();
        for (out, send) in outgoing.into_iter().zip(plan.sends) {
            let meta = self.parties[p]
                .model
                .sides
                .get_mut(&send.to)
                .expect("a side")
                .encrypted(out.message(), true)
                .unwrap_or_else(|error| panic!("{context}: to p{}: {error}", send.to));
            let mut control = send.control;
            control.group = g;
            control.from_stint = self.current_stint(g, p);
            control.to_stint = self.current_stint(g, send.to);
            self.stats.control_messages += 1;
            let packet = Packet {
                from: p,
                to: send.to,
                bytes: out.message().into(),
                tampered: false,
                retries: 0,
                kind: Kind::Control {
                    meta,
                    control: Rc::new(control),
                },
            };
            self.net.post(&mut self.rng, self.now, packet, true);
        }
        if sent {
            self.output(p);
        }
    }

    /// The founders create their groups at the very start, before any channel is
    /// established (and a founder with no channel to a member yet gets `ChannelNeeded`:
    /// the welcome waits in the group until the channel is joined).
    pub(super) fn create_groups(&mut self) {
        for g in 0..self.groups.len() {
            let owner = self.groups[g].founder;
            let initial = self.groups[g].initial.clone();
            let roster = Rc::new(Roster::founding(owner, &initial));
            let plan = self.plan(owner, g, |_, ctx| View::plan_create(owner, &roster, ctx));
            let cards: Vec<_> = initial
                .iter()
                .map(|&m| self.parties[m].identity.card().clone())
                .collect();
            let created = self.group_op(owner, g, "create", plan, |party, rng| {
                Group::create(rng, &party.identity, &cards, &mut party.channels)
                    .map(|(group, received)| (Some(group), received))
            });
            assert!(created, "group {g} could not be created");
            self.groups[g].latest = Some(roster.clone());
            for &m in &roster.members {
                self.groups[g].stints[m].insert(1, None);
            }
            let group = self.parties[owner].groups[g].as_ref().expect("created");
            assert_eq!(group.founder(), self.keys[owner]);
            self.groups[g].id = group.group_id().to_vec();
        }
    }

    /// The group's owner now: the owner of its newest roster.
    pub(super) fn owner(&self, g: usize) -> usize {
        self.groups[g].latest.as_ref().expect("created").owner()
    }

    /// The owner adds or removes someone or offers the group to a member, or a member
    /// rekeys, resyncs or leaves.
    pub(super) fn act_membership(&mut self) {
        let g = self.rng.random_range(0..self.groups.len());
        let Some(latest) = self.groups[g].latest.clone() else {
            return;
        };
        let owner = latest.owner();
        let pick = |sim: &mut Sim, from: Vec<usize>| {
            (!from.is_empty()).then(|| from[sim.rng.random_range(0..from.len())])
        };
        // Parties that can act in the group, and now and then one that cannot (it must be
        // refused).
        let with_view = |sim: &mut Sim, owner_too: bool| -> Vec<usize> {
            let any = sim.rng.random_bool(0.1);
            (0..PARTIES)
                .filter(|&p| owner_too || p != owner)
                .filter(|&p| {
                    sim.parties[p].model.views[g]
                        .as_ref()
                        .is_some_and(|view| any || view.is_member())
                })
                .collect()
        };
        if self.transfer_done(g) {
            self.groups[g].transfer = None;
        }
        let roll = self.rng.random_range(0..100);
        if roll < 6 {
            let candidates = with_view(self, true);
            if let Some(p) = pick(self, candidates) {
                self.acting(p);
                self.op_resync(g, p, "resync");
            }
            return;
        }
        if roll < 7 {
            self.try_offer(g);
            return;
        }
        // Groups tend to a few members: adding is likelier when they are small.
        let (add, remove, rekey) = match latest.members.len() {
            0..=2 => (60, 65, 90),
            3 | 4 => (30, 50, 85),
            _ => (0, 35, 80),
        };
        match self.rng.random_range(0..100) {
            roll if roll < add => {
                let back = self.groups[g]
                    .last_removed
                    .filter(|&x| !latest.contains(x))
                    .filter(|_| self.rng.random_bool(0.5));
                let outside = (0..PARTIES).filter(|&p| !latest.contains(p)).collect();
                if let Some(x) = back.or_else(|| pick(self, outside)) {
                    self.acting(owner);
                    self.op_add(g, x);
                }
            }
            roll if roll < remove => {
                if let Some(x) = pick(self, latest.members[1..].to_vec()) {
                    self.acting(owner);
                    self.op_remove(g, x);
                }
            }
            roll if roll < rekey => {
                let candidates = with_view(self, true);
                if let Some(p) = pick(self, candidates) {
                    self.acting(p);
                    self.op_rekey(g, p);
                }
            }
            _ => {
                // A leave request must reach the owner it is meant for: none while the
                // group changes hands (docs: the old owner cannot remove anyone once it
                // offered the group, nor after).
                if self.groups[g].transfer.is_some() {
                    return;
                }
                let candidates = with_view(self, false);
                if let Some(p) = pick(self, candidates) {
                    self.acting(p);
                    self.op_leave(g, p);
                }
            }
        }
    }

    /// Whether the transfer of `g` under way (if any) is through: accepted, and every
    /// member holds the new owner's roster.
    fn transfer_done(&self, g: usize) -> bool {
        let Some((_, to)) = self.groups[g].transfer else {
            return true;
        };
        let latest = self.groups[g].latest.as_ref().expect("created");
        latest.owner() == to
            && latest.members.iter().all(|&p| {
                self.parties[p].model.views[g]
                    .as_ref()
                    .is_none_or(|view| view.roster.transfers.len() >= latest.transfers.len())
            })
    }

    /// The owner offers the group to a member (who accepts as soon as the offer arrives;
    /// then the old owner leaves). Not while a leave request is on its way to the owner:
    /// it would reach an owner that can no longer remove anyone.
    fn try_offer(&mut self, g: usize) {
        if self.groups[g].transfer.is_some() {
            return;
        }
        let latest = self.groups[g].latest.clone().expect("created");
        let leave_in_flight = self.net.any(|packet| match &packet.kind {
            Kind::Control { control, .. } => control.group == g && control.leave,
            _ => false,
        }) || self.parties.iter().any(|party| {
            party.model.views[g]
                .as_ref()
                .is_some_and(View::leave_pending)
                || party
                    .model
                    .waiting
                    .iter()
                    .any(|w| w.control.group == g && w.control.leave)
        }) || self
            .lost_control
            .iter()
            .any(|(_, _, control)| control.group == g && control.leave);
        if leave_in_flight {
            return;
        }
        let candidates: Vec<usize> = latest.members[1..]
            .iter()
            .copied()
            .filter(|&p| {
                self.parties[p].model.views[g]
                    .as_ref()
                    .is_some_and(View::is_member)
            })
            .collect();
        if candidates.is_empty() {
            return;
        }
        let n = candidates[self.rng.random_range(0..candidates.len())];
        let owner = latest.owner();
        self.acting(owner);
        let plan = self.plan(owner, g, |view, ctx| {
            view.expect("the owner's view").plan_offer(n, ctx)
        });
        let key = self.keys[n];
        let offered = self.group_op(owner, g, "offer ownership", plan, |party, rng| {
            let Party {
                identity,
                channels,
                groups,
                ..
            } = party;
            groups[g]
                .as_mut()
                .expect("the owner's group")
                .offer_ownership(rng, identity, &key, channels)
                .map(|received| (None, received))
        });
        if offered {
            self.groups[g].transfer = Some((owner, n));
        }
    }

    /// `n` accepts the group offered to it.
    pub(super) fn op_accept(&mut self, g: usize, n: usize) {
        let plan = self.plan(n, g, |view, ctx| view.expect("a view").plan_accept(ctx));
        let next = plan.as_ref().ok().map(|(_, next)| next.clone());
        let plan = plan.map(|(plan, _)| plan);
        if let Some(next) = &next {
            let latest = self.groups[g].latest.as_ref().expect("created");
            assert_eq!(
                next.version,
                latest.version + 1,
                "p{n} accepts group {g} from an old roster"
            );
            assert_eq!(next.members.len(), latest.members.len());
        }
        let accepted = self.group_op(n, g, "accept ownership", plan, |party, rng| {
            let Party {
                identity,
                channels,
                groups,
                ..
            } = party;
            groups[g]
                .as_mut()
                .expect("a group")
                .accept_ownership(rng, identity, channels)
                .map(|received| (None, received))
        });
        if accepted {
            self.groups[g].latest = next;
            self.stats.transfers += 1;
        }
    }

    /// `x`'s app drops its state of group `g`, and what it kept to retry in it.
    pub(super) fn drop_group(&mut self, x: usize, g: usize) {
        let party = &mut self.parties[x];
        party.groups[g] = None;
        party.touch(g);
        party.model.views[g] = None;
        party.model.held[g].clear();
        party.model.waiting.retain(|w| w.control.group != g);
    }

    pub(super) fn op_add(&mut self, g: usize, x: usize) {
        let owner = self.owner(g);
        let latest = self.groups[g].latest.clone().expect("created");
        // The app of a party that was removed may drop its dead group and join afresh.
        let dead = self.parties[x].model.views[g]
            .as_ref()
            .is_some_and(|view| !view.roster.contains(x));
        if dead && self.rng.random_bool(0.5) {
            self.drop_group(x, g);
            *self.stats.group_ops.entry("drop dead group").or_default() += 1;
        }
        let next = Rc::new(latest.with_added(x));
        let plan = self.plan(owner, g, |view, ctx| {
            view.expect("the owner's view").plan_add(x, &next, ctx)
        });
        if plan.is_ok() {
            self.groups[g].latest = Some(next.clone());
            self.groups[g].stints[x].insert(next.version, None);
        }
        let card = self.parties[x].identity.card().clone();
        self.group_op(owner, g, "add", plan, |party, rng| {
            let Party {
                identity,
                channels,
                groups,
                ..
            } = party;
            groups[g]
                .as_mut()
                .expect("the owner's group")
                .add_member(rng, identity, &card, channels)
                .map(|received| (None, received))
        });
    }

    pub(super) fn op_remove(&mut self, g: usize, x: usize) {
        let owner = self.owner(g);
        let latest = self.groups[g].latest.clone().expect("created");
        let next = Rc::new(latest.without(x));
        let plan = self.plan(owner, g, |view, ctx| {
            view.expect("the owner's view").plan_remove(x, &next, ctx)
        });
        if plan.is_ok() {
            let global = &mut self.groups[g];
            global.latest = Some(next.clone());
            global.last_removed = Some(x);
            if let Some((_, end)) = global.stints[x].iter_mut().next_back() {
                *end = Some(next.version);
            }
            let party = &mut self.parties[x];
            if let (Some(group), Some(view)) = (&party.groups[g], &party.model.views[g]) {
                global.ghosts.push(Ghost {
                    party: x,
                    group: group.clone(),
                    view: view.clone(),
                    removed_at: next.version,
                    cache: None,
                });
                if global.ghosts.len() > GHOSTS {
                    global.ghosts.remove(0);
                }
            }
            party.model.held[g].clear();
        }
        let key = self.keys[x];
        self.group_op(owner, g, "remove", plan, |party, rng| {
            let Party {
                identity,
                channels,
                groups,
                ..
            } = party;
            groups[g]
                .as_mut()
                .expect("the owner's group")
                .remove_member(rng, identity, &key, channels)
                .map(|received| (None, received))
        });
    }

    pub(super) fn op_rekey(&mut self, g: usize, p: usize) {
        if self.parties[p].model.views[g].is_none() {
            return;
        }
        let plan = self.plan(p, g, |view, ctx| view.expect("a view").plan_rekey(ctx));
        self.group_op(p, g, "rekey", plan, |party, rng| {
            let Party {
                channels, groups, ..
            } = party;
            groups[g]
                .as_mut()
                .expect("a group")
                .rekey(rng, channels)
                .map(|received| (None, received))
        });
    }

    pub(super) fn op_leave(&mut self, g: usize, p: usize) -> bool {
        if self.parties[p].model.views[g].is_none() {
            return false;
        }
        let plan = self.plan(p, g, |view, ctx| view.expect("a view").plan_leave(ctx));
        self.group_op(p, g, "leave", plan, |party, rng| {
            let Party {
                channels, groups, ..
            } = party;
            groups[g]
                .as_mut()
                .expect("a group")
                .leave(rng, channels)
                .map(|received| (None, received))
        })
    }

    /// `p` asks the others for what it may have missed. True if it could.
    pub(super) fn op_resync(&mut self, g: usize, p: usize, what: &'static str) -> bool {
        if self.parties[p].model.views[g].is_none() {
            return false;
        }
        let plan = self.plan(p, g, |view, ctx| view.expect("a view").plan_resync(ctx));
        self.group_op(p, g, what, plan, |party, rng| {
            let Party {
                channels, groups, ..
            } = party;
            groups[g]
                .as_mut()
                .expect("a group")
                .resync(rng, channels)
                .map(|received| (None, received))
        })
    }

    /// `p`'s app has a new channel: every group sends what waited for it.
    pub(super) fn channel_joined(&mut self, p: usize) {
        for g in 0..self.groups.len() {
            let waiting = self.parties[p].model.views[g]
                .as_ref()
                .is_some_and(|view| !view.pending_members().is_empty());
            if !waiting || self.parties[p].groups[g].is_none() {
                continue;
            }
            let plan = self.plan(p, g, |view, ctx| {
                Ok(view.expect("a view").plan_deliver_pending(ctx))
            });
            self.group_op(p, g, "deliver pending", plan, |party, rng| {
                let Party {
                    channels, groups, ..
                } = party;
                let group = groups[g].as_mut().expect("a group");
                Ok((None, group.deliver_pending(rng, channels)))
            });
        }
    }
}
