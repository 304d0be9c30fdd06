//! Group operations (create, add, remove, rekey, leave) and control processing, each
//! checked against the model's plan: the same error with nothing changed, or the same
//! events and the same control messages to the same members in the same order.

use std::rc::Rc;

use rand::rngs::ChaCha20Rng;
use rand::RngExt;
use ratchetkit::group::Outgoing;
use ratchetkit::{Error, Group, GroupEvent};

use super::channel_model::{ChannelMeta, Side};
use super::group_model::{ChannelCheck, Event, Plan, Roster, View};
use super::network::{Kind, Packet};
use super::party::Party;
use super::{Ghost, Sim, PARTIES};

type OpResult = Result<(Option<Group>, Vec<Outgoing>), Error>;

/// Removed members' old states kept per group.
const GHOSTS: usize = 3;

impl Sim {
    /// The model's plan for an operation of `p` in group `g`.
    fn plan(
        &mut self,
        p: usize,
        g: usize,
        f: impl FnOnce(Option<&View>, ChannelCheck, &[[u8; 32]], &mut u64) -> Result<Plan, Error>,
    ) -> Result<Plan, Error> {
        let keys = &self.keys;
        let model = &self.parties[p].model;
        let sides = &model.sides;
        let check = |q: usize| match sides.get(&q) {
            None => Err(Error::MissingChannel { member: keys[q] }),
            Some(side) if !side.established() => {
                Err(Error::ChannelNotEstablished { member: keys[q] })
            }
            Some(_) => Ok(()),
        };
        f(model.views[g].as_ref(), &check, keys, &mut self.generations)
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
            (Ok((group, outgoing)), Ok(plan)) => {
                if let Some(group) = group {
                    party.groups[g] = Some(group);
                }
                self.apply_plan(p, g, plan, None, &[], outgoing, &context);
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
        plan: Plan,
        received: Option<(usize, ChannelMeta)>,
        events: &[GroupEvent],
        outgoing: Vec<Outgoing>,
        context: &dyn std::fmt::Display,
    ) {
        if self.tracing() {
            eprintln!(
                "[{}] {context}: events {:?}, sends to {:?}, own {:?}, roster {:?}",
                self.stats.steps,
                plan.events,
                plan.sends.iter().map(|s| s.to).collect::<Vec<_>>(),
                plan.view.own,
                plan.view.roster
            );
        }
        let events: Vec<Event> = events.iter().map(|event| self.event(event)).collect();
        assert_eq!(events, plan.events, "{context}: events");
        let to: Vec<usize> = outgoing.iter().map(|out| self.index(&out.to)).collect();
        let planned: Vec<usize> = plan.sends.iter().map(|send| send.to).collect();
        assert_eq!(to, planned, "{context}: control sent to");
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
        for &q in &view.roster.members {
            assert_eq!(
                group.sender_epoch(&self.keys[q]),
                view.sender_epoch(q),
                "{context}: p{q}'s epoch held"
            );
        }
        party.model.views[g] = Some(view);
        let sent = !outgoing.is_empty();
        for (out, send) in outgoing.into_iter().zip(plan.sends) {
            let meta = self.parties[p]
                .model
                .sides
                .get_mut(&send.to)
                .expect("a side")
                .encrypted(&out.message, true)
                .unwrap_or_else(|error| panic!("{context}: to p{}: {error}", send.to));
            let mut control = send.control;
            control.group = g;
            control.from_stint = self.current_stint(g, p);
            control.to_stint = self.current_stint(g, send.to);
            self.stats.control_messages += 1;
            let packet = Packet {
                from: p,
                to: send.to,
                bytes: out.message.into(),
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

    /// Each owner creates its group once every channel is established.
    pub(super) fn try_create_groups(&mut self) {
        let established = (0..PARTIES).all(|a| {
            (0..PARTIES).all(|b| {
                a == b
                    || self.parties[a]
                        .model
                        .sides
                        .get(&b)
                        .is_some_and(Side::established)
            })
        });
        if !established {
            return;
        }
        for g in 0..self.groups.len() {
            if self.groups[g].latest.is_some() {
                continue;
            }
            let owner = self.groups[g].owner;
            let initial = self.groups[g].initial.clone();
            let roster = Rc::new(Roster {
                version: 1,
                members: std::iter::once(owner)
                    .chain(initial.iter().copied())
                    .collect(),
            });
            let plan = self.plan(owner, g, |_, check, _, generations| {
                View::plan_create(owner, &roster, check, generations)
            });
            if plan.is_ok() {
                self.groups[g].latest = Some(roster.clone());
                for &m in &roster.members {
                    self.groups[g].stints[m].insert(1, None);
                }
            }
            let cards: Vec<_> = initial
                .iter()
                .map(|&m| self.parties[m].identity.card().clone())
                .collect();
            let id = self.groups[g].id.clone();
            self.group_op(owner, g, "create", plan, |party, rng| {
                Group::create(rng, &party.identity, &id, &cards, &mut party.channels)
                    .map(|(group, outgoing)| (Some(group), outgoing))
            });
        }
    }

    /// The owner adds or removes someone, or a member rekeys or leaves.
    pub(super) fn act_membership(&mut self) {
        let g = self.rng.random_range(0..self.groups.len());
        let Some(latest) = self.groups[g].latest.clone() else {
            return;
        };
        let owner = self.groups[g].owner;
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
                let candidates = with_view(self, false);
                if let Some(p) = pick(self, candidates) {
                    self.acting(p);
                    self.op_leave(g, p);
                }
            }
        }
    }

    /// `x`'s app drops its state of group `g`, and what it kept to retry in it.
    pub(super) fn drop_group(&mut self, x: usize, g: usize) {
        let party = &mut self.parties[x];
        party.groups[g] = None;
        party.touch(g);
        party.model.views[g] = None;
        party.model.held[g].clear();
    }

    pub(super) fn op_add(&mut self, g: usize, x: usize) {
        let owner = self.groups[g].owner;
        let latest = self.groups[g].latest.clone().expect("created");
        // The app of a party that was removed may drop its dead group and join afresh.
        let dead = self.parties[x].model.views[g]
            .as_ref()
            .is_some_and(|view| !view.roster.contains(x));
        if dead && self.rng.random_bool(0.5) {
            self.drop_group(x, g);
            *self.stats.group_ops.entry("drop dead group").or_default() += 1;
        }
        let next = Rc::new(Roster {
            version: latest.version + 1,
            members: latest.members.iter().copied().chain([x]).collect(),
        });
        let plan = self.plan(owner, g, |view, check, keys, _| {
            view.expect("the owner's view")
                .plan_add(x, &next, keys, check)
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
                .map(|outgoing| (None, outgoing))
        });
    }

    pub(super) fn op_remove(&mut self, g: usize, x: usize) {
        let owner = self.groups[g].owner;
        let latest = self.groups[g].latest.clone().expect("created");
        let next = Rc::new(Roster {
            version: latest.version + 1,
            members: latest.members.iter().copied().filter(|&p| p != x).collect(),
        });
        let plan = self.plan(owner, g, |view, check, keys, generations| {
            view.expect("the owner's view")
                .plan_remove(x, &next, keys, check, generations)
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
                .map(|outgoing| (None, outgoing))
        });
    }

    pub(super) fn op_rekey(&mut self, g: usize, p: usize) {
        if self.parties[p].model.views[g].is_none() {
            return;
        }
        let plan = self.plan(p, g, |view, check, _, generations| {
            view.expect("a view").plan_rekey(check, generations)
        });
        self.group_op(p, g, "rekey", plan, |party, rng| {
            let Party {
                channels, groups, ..
            } = party;
            groups[g]
                .as_mut()
                .expect("a group")
                .rekey(rng, channels)
                .map(|outgoing| (None, outgoing))
        });
    }

    fn op_leave(&mut self, g: usize, p: usize) {
        if self.parties[p].model.views[g].is_none() {
            return;
        }
        let plan = self.plan(p, g, |view, check, _, _| {
            view.expect("a view").plan_leave(check)
        });
        self.group_op(p, g, "leave", plan, |party, rng| {
            let Party {
                channels, groups, ..
            } = party;
            groups[g]
                .as_mut()
                .expect("a group")
                .leave(rng, channels)
                .map(|outgoing| (None, outgoing))
        });
    }
}
