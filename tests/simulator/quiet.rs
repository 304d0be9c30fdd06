//! Quiet points: everything in flight is delivered, members that missed something resync,
//! then the groups must have converged and everyone must be able to talk to everyone.

use ratchetkit::Group;

use super::actions::Fanout;
use super::group_model::ControlMeta;
use super::network::{Kind, Packet};
use super::{Sim, PARTIES, QUIET_EVERY};

/// Most rounds of resyncs a quiet point may take.
const MAX_RECOVERY_ROUNDS: usize = 8;

impl Sim {
    /// Delivers everything in flight (retrying control as the apps do), has every member
    /// that missed something resync, checks that the groups converged and that every party
    /// can still talk to every other, in its channels and in its groups.
    pub(super) fn quiet(&mut self) {
        self.stats.quiet_points += 1;
        self.next_quiet = self.stats.messages() + QUIET_EVERY;
        self.drain();
        let mut rounds = 0;
        while self.recover() {
            rounds += 1;
            assert!(
                rounds <= MAX_RECOVERY_ROUNDS,
                "the groups did not converge after {MAX_RECOVERY_ROUNDS} rounds of resyncs"
            );
            self.drain();
        }
        self.flush_held();
        for g in 0..self.groups.len() {
            self.check_converged(g);
        }
        // Every member says something, and everyone reads it at once.
        for g in 0..self.groups.len() {
            let Some(latest) = self.groups[g].latest.clone() else {
                continue;
            };
            for &p in &latest.members {
                if self.awaiting_roster(g, p) {
                    continue;
                }
                for packet in self.send_group(p, g, Fanout::Everyone) {
                    if let Kind::Group { meta, .. } = &packet.kind {
                        if latest.contains(packet.to) && !self.awaiting_roster(g, packet.to) {
                            let view = self.parties[packet.to].model.views[g]
                                .as_ref()
                                .expect("a member's view");
                            assert_eq!(
                                view.predict(meta, &self.keys),
                                Ok(()),
                                "after convergence p{} cannot read p{p} in group {g}",
                                packet.to
                            );
                        }
                    }
                    self.deliver(packet);
                }
            }
        }
        // Every channel, both ways.
        for a in 0..PARTIES {
            for b in 0..PARTIES {
                if a == b || !self.parties[b].model.sides.contains_key(&a) {
                    continue;
                }
                if self.parties[a].model.sides.contains_key(&b) {
                    let packet = self.send_app(a, b);
                    if let Kind::App { meta, .. } = &packet.kind {
                        let side = &self.parties[b].model.sides[&a];
                        assert_eq!(side.predict(meta), Ok(()), "p{b} cannot read p{a}");
                    }
                    self.deliver(packet);
                }
            }
        }
        self.drain();
        self.flush_held();
    }

    /// Delivers every message in flight, in order of due time, then the control kept
    /// from channels' first messages. Control that keeps waiting for something that never
    /// comes must be between parties of which one is no longer (or no longer in the same
    /// membership) in the group, or wait for something its recipient missed for good (it
    /// resyncs next).
    fn drain(&mut self) {
        let mut stalled = 0;
        while let Some((due, packet)) = self.net.pop_next() {
            self.now = self.now.max(due);
            if self.deliver(packet) {
                stalled += 1;
                if stalled > self.net.len() + 1 && self.net.all_retried() {
                    for packet in self.net.drain() {
                        self.drop_stuck(&packet);
                    }
                }
            } else {
                stalled = 0;
            }
        }
        self.flush_waiting();
    }

    fn drop_stuck(&mut self, packet: &Packet) {
        let Kind::Control { control, .. } = &packet.kind else {
            panic!("only retried control can be stuck");
        };
        self.check_stuck(packet.from, packet.to, control);
        if !control.processed.get() && self.still_relevant(packet.from, packet.to, control) {
            self.refused_for_good(
                control.group,
                packet.to,
                packet.from,
                control,
                &ratchetkit::Error::NotAGroupWelcome,
            );
        }
    }

    /// Whether sender and recipient of `control` are still in the memberships it was
    /// sent in: otherwise what it carries is moot.
    pub(super) fn still_relevant(&self, from: usize, to: usize, control: &ControlMeta) -> bool {
        let g = control.group;
        control.from_stint.is_some()
            && control.to_stint.is_some()
            && self.current_stint(g, from) == control.from_stint
            && self.current_stint(g, to) == control.to_stint
    }

    pub(super) fn check_stuck(&self, from: usize, to: usize, control: &ControlMeta) {
        let g = control.group;
        assert!(
            !self.still_relevant(from, to, control) || self.behind_explains(g, to),
            "group {g} control from p{from} to p{to} (roster version {}, key {:?}, roster {:?}, \
             resync {}, offer {:?}) can never be processed, though both are still in the group",
            control.version,
            control.key,
            control.roster.as_ref().map(|r| r.version),
            control.resync,
            control.offer,
        );
    }

    /// With nothing in flight, every member of a group holds the newest roster and every
    /// other member's current sender key, and no control waits for a channel; everyone
    /// else is out. A member that missed the roster that let it in waits for the owner's
    /// next one.
    fn check_converged(&mut self, g: usize) {
        let Some(latest) = self.groups[g].latest.clone() else {
            return;
        };
        for p in 0..PARTIES {
            if latest.contains(p) && self.awaiting_roster(g, p) {
                self.stats.awaiting_roster += 1;
                continue;
            }
            let party = &self.parties[p];
            let Some(group) = &party.groups[g] else {
                assert!(
                    !latest.contains(p),
                    "p{p} is in group {g} but never joined it"
                );
                continue;
            };
            let view = party.model.views[g].as_ref().expect("a view");
            assert_eq!(group.is_member(), view.is_member());
            if !latest.contains(p) {
                assert!(
                    !group.is_member(),
                    "p{p} was removed from group {g} but is a member"
                );
                continue;
            }
            assert!(group.is_member(), "p{p} in group {g} is not a member");
            assert_eq!(
                group.roster_version(),
                latest.version,
                "p{p}'s roster version in group {g}"
            );
            let members: Vec<usize> = group
                .members()
                .iter()
                .map(|card| self.index(&card.signing_key()))
                .collect();
            assert_eq!(members, latest.members, "p{p}'s roster of group {g}");
            assert!(
                group.pending_members().next().is_none(),
                "p{p} keeps control for a member of group {g} with all channels there"
            );
            for &q in &latest.members {
                if q == p || self.awaiting_roster(g, q) {
                    continue;
                }
                let current = self.parties[q].groups[g].as_ref().and_then(Group::epoch);
                assert_eq!(
                    group.sender_epoch(&self.keys[q]),
                    current,
                    "p{p} does not hold p{q}'s current sender key in group {g}"
                );
                assert_eq!(view.sender_epoch(q), current);
            }
        }
    }
}
