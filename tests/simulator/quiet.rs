//! Quiet points: everything in flight is delivered, then the groups must have converged
//! and everyone must be able to talk to everyone.

use ratchetkit::Group;

use super::actions::Fanout;
use super::network::{Kind, Packet};
use super::{Sim, PARTIES, QUIET_EVERY};

impl Sim {
    /// Delivers everything in flight (retrying control as the apps do), checks that the
    /// groups converged and that every party can still talk to every other, in its
    /// channels and in its groups.
    pub(super) fn quiet(&mut self) {
        self.stats.quiet_points += 1;
        self.next_quiet = self.stats.messages() + QUIET_EVERY;
        self.drain();
        while self.recover_lost_control() {
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
                for packet in self.send_group(p, g, Fanout::Everyone) {
                    if let Kind::Group { meta, .. } = &packet.kind {
                        if latest.contains(packet.to) {
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

    /// Delivers every message in flight, in order of due time. Control that keeps waiting
    /// for something that never comes must be between parties of which one is no longer
    /// (or no longer in the same membership) in the group, or wait for control its
    /// recipient lost for good (recovered from next).
    fn drain(&mut self) {
        let mut stalled = 0;
        while let Some((due, packet)) = self.net.pop_next() {
            self.now = self.now.max(due);
            if self.deliver(packet) {
                stalled += 1;
                if stalled > self.net.len() + 1 && self.net.all_retried() {
                    for packet in self.net.drain() {
                        self.check_stuck(&packet);
                    }
                }
            } else {
                stalled = 0;
            }
        }
    }

    fn check_stuck(&self, packet: &Packet) {
        let Kind::Control { control, .. } = &packet.kind else {
            panic!("only retried control can be stuck");
        };
        let g = control.group;
        let (from, to) = (packet.from, packet.to);
        let changed = self.current_stint(g, from) != control.from_stint
            || self.current_stint(g, to) != control.to_stint;
        assert!(
            changed
                || control.from_stint.is_none()
                || control.to_stint.is_none()
                || self.lost_control_explains(g, to),
            "group {g} control from p{from} to p{to} (roster version {}, key {:?}, roster {:?}) \
             can never be processed, though both are still in the group",
            control.version,
            control.key,
            control.roster.as_ref().map(|r| r.version)
        );
    }

    /// With nothing in flight, every member of a group holds the newest roster and every
    /// other member's current sender key; everyone else is out.
    fn check_converged(&self, g: usize) {
        let Some(latest) = &self.groups[g].latest else {
            return;
        };
        for p in 0..PARTIES {
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
            for &q in &latest.members {
                if q == p {
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
