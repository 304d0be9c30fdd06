//! Recovering from group control lost for good, by resync only.
//!
//! Control travels in channel messages, and a channel message whose key was dropped with
//! the oldest skipped keys (beyond `MAX_SKIPPED_KEYS`, which the limit bursts reach) can
//! never be decrypted. Control can also be refused for good for a documented reason that
//! loses what it carried (a sender key in a control whose roster the receiver cannot take,
//! as the previous owner's roster after a change of owner; a resync request beyond
//! `MAX_RESYNC_REPLIES`; control given up after the app's retries). A member that may
//! have missed something this way resyncs at the next quiet point (docs/PROTOCOL.md 6.5):
//! the answers bring it the current roster and every member's current sender key. Nobody
//! is removed to recover.
//!
//! A member that lost its welcome (or the roster that added it back) holds no group, or one
//! it is out of, so it cannot resync (`NoLongerMember`): it waits for the owner's next
//! roster, which lets it in whatever versions it skips. A member whose leave request was
//! lost (or refused for good) asks again (`leave` sends the request again until the roster
//! that removes it comes), and the owner removes it then; not while its request would go
//! to an owner that can remove nobody (a former owner its roster still names, or an owner
//! that offered the group): it asks once that is over.

use super::Sim;

impl Sim {
    /// Whether control that can never be processed by `to` in group `g` is explained by
    /// something `to` missed for good in that group (or will miss: a lost control not yet
    /// recovered from).
    pub(super) fn behind_explains(&self, g: usize, to: usize) -> bool {
        self.behind.contains(&(g, to))
            || self
                .lost_control
                .iter()
                .any(|(_, lost_to, control)| control.group == g && *lost_to == to)
    }

    /// Whether `reader` missed the control carrying `sender`'s key `generation` in `g`.
    pub(super) fn lost_key(&self, g: usize, reader: usize, sender: usize, generation: u64) -> bool {
        self.lost_keys.contains(&(g, reader, sender, generation))
    }

    /// Whether `p` is in `g` but cannot resync, having missed the roster that let it in:
    /// it waits for the owner's next roster.
    pub(super) fn awaiting_roster(&self, g: usize, p: usize) -> bool {
        self.behind.contains(&(g, p))
            && !self.parties[p].model.views[g]
                .as_ref()
                .is_some_and(|view| view.is_member())
    }

    /// Recovers from what was missed since the last quiet point: every member that may
    /// have missed something resyncs. True if anything was done (new control is then in
    /// flight).
    pub(super) fn recover(&mut self) -> bool {
        for (from, to, control) in std::mem::take(&mut self.lost_control) {
            let g = control.group;
            self.stats.control_lost += 1;
            if self.tracing() {
                eprintln!(
                    "[{}] group {g}: p{to} lost control from p{from}: {control:?}; now \
                     stints p{from} {:?}, p{to} {:?}",
                    self.stats.steps,
                    self.current_stint(g, from),
                    self.current_stint(g, to)
                );
            }
            if let Some(key) = &control.key {
                self.lost_keys.insert((g, to, from, key.generation));
            }
            if control.leave {
                self.lost_leaves.insert((g, from));
            }
            if control.offer.is_some() {
                self.stats.offers_lost += 1;
            }
            self.behind.insert((g, to));
        }
        let mut acted = false;
        for (g, p) in std::mem::take(&mut self.behind) {
            let member = self.parties[p].model.views[g]
                .as_ref()
                .is_some_and(|view| view.is_member());
            if member {
                if self.tracing() {
                    eprintln!("[{}] group {g}: p{p} resyncs", self.stats.steps);
                }
                let resynced = self.op_resync(g, p, "resync: recovery");
                assert!(resynced, "p{p} could not resync in group {g}");
                self.stats.recoveries_by_resync += 1;
                acted = true;
            } else if self.in_latest(g, p) {
                // No group, or one it is out of: it waits for the owner's next roster.
                self.behind.insert((g, p));
            }
        }
        for (g, x) in std::mem::take(&mut self.lost_leaves) {
            let Some(view) = self.parties[x].model.views[g].as_ref() else {
                continue;
            };
            let left = view.roster.contains(x) && view.own.is_none();
            if !left || !self.in_latest(g, x) {
                continue;
            }
            let owner = self.owner(g);
            let can_remove = view.roster.owner() == owner
                && self.parties[owner].model.views[g]
                    .as_ref()
                    .is_some_and(|owners| owners.offered.is_none());
            if !can_remove {
                self.lost_leaves.insert((g, x));
                continue;
            }
            // It asks again; the owner removes it when the request arrives.
            self.stats.lost_leaves += 1;
            if self.tracing() {
                eprintln!("[{}] group {g}: p{x} asks again to leave", self.stats.steps);
            }
            let asked = self.op_leave(g, x);
            assert!(asked, "p{x} could not ask again to leave group {g}");
            acted = true;
        }
        acted
    }
}
