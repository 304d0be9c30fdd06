//! Recovering from group control lost for good.
//!
//! Control travels in channel messages, and a channel message whose key was dropped with
//! the oldest skipped keys (beyond `MAX_SKIPPED_KEYS`, which the limit bursts reach) can
//! never be decrypted. The protocol cannot send it again, so the apps recover with the
//! group operations there are (docs/PROTOCOL.md 6.5), at the next quiet point, as an app
//! would once it sees its control waiting for good: a member that missed an update from
//! the owner (or any control) drops its group, and the owner removes it and adds it back,
//! so that it joins afresh (a member that missed its own removal just drops the group);
//! when the owner missed a member's sender key, that member rekeys; when it missed a
//! leave request, it removes the member.

use std::collections::BTreeSet;

use super::Sim;

impl Sim {
    /// Whether control that can never be processed by `to` in group `g` is explained by
    /// control `to` lost for good in that group: it waits for what the lost control
    /// carried, and the recovery follows.
    pub(super) fn lost_control_explains(&self, g: usize, to: usize) -> bool {
        self.lost_control
            .iter()
            .any(|(_, lost_to, control)| control.group == g && *lost_to == to)
    }

    /// Whether `reader` lost the control carrying `sender`'s key `generation` in `g`.
    pub(super) fn lost_key(&self, g: usize, reader: usize, sender: usize, generation: u64) -> bool {
        self.lost_keys.contains(&(g, reader, sender, generation))
    }

    /// Recovers from the control lost since the last quiet point. True if anything was
    /// done (new control is then in flight).
    pub(super) fn recover_lost_control(&mut self) -> bool {
        let mut rejoin = BTreeSet::new();
        let mut rekey = BTreeSet::new();
        let mut remove = BTreeSet::new();
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
            // A member that missed a roster (its own removal included) is stuck in the
            // membership it holds, whatever the owner has done since (having asked to
            // leave, it holds no sender key but still waits for the next roster).
            let missed_roster = control.roster.as_ref().is_some_and(|roster| {
                self.parties[to].model.views[g]
                    .as_ref()
                    .is_some_and(|view| {
                        view.roster.contains(to) && view.roster.version < roster.version
                    })
            });
            if missed_roster {
                rejoin.insert((g, to));
                continue;
            }
            // Other control lost in a membership that has ended since needs nothing.
            if control.from_stint.is_none()
                || control.to_stint.is_none()
                || self.current_stint(g, from) != control.from_stint
                || self.current_stint(g, to) != control.to_stint
            {
                continue;
            }
            if to != self.groups[g].owner {
                rejoin.insert((g, to));
            } else if control.leave {
                remove.insert((g, from));
            } else if let Some(key) = &control.key {
                self.lost_keys.insert((g, to, from, key.generation));
                rekey.insert((g, from));
            }
        }
        let acted = !(rejoin.is_empty() && rekey.is_empty() && remove.is_empty());
        for &(g, x) in &rejoin {
            self.rejoin(g, x);
        }
        for (g, p) in rekey {
            if self.in_latest(g, p) && !rejoin.contains(&(g, p)) {
                self.acting(p);
                *self.stats.group_ops.entry("recovery: rekey").or_default() += 1;
                self.op_rekey(g, p);
            }
        }
        for (g, p) in remove {
            if self.in_latest(g, p) {
                let owner = self.groups[g].owner;
                self.acting(owner);
                *self.stats.group_ops.entry("recovery: remove").or_default() += 1;
                self.op_remove(g, p);
            }
        }
        acted
    }

    /// `x`'s app drops its group `g` (and the saves that hold it), and if `x` is still in
    /// the group, the owner removes it and adds it back: it joins afresh from the welcome.
    fn rejoin(&mut self, g: usize, x: usize) {
        let back = self.in_latest(g, x);
        if self.tracing() {
            eprintln!(
                "[{}] group {g}: p{x} drops its group{}",
                self.stats.steps,
                if back { " to be added back" } else { "" }
            );
        }
        self.drop_group(x, g);
        let party = &mut self.parties[x];
        party.saves.clear();
        party.inputs.clear();
        if !back {
            *self.stats.group_ops.entry("recovery: drop").or_default() += 1;
            return;
        }
        *self.stats.group_ops.entry("recovery: rejoin").or_default() += 1;
        let owner = self.groups[g].owner;
        self.acting(owner);
        self.op_remove(g, x);
        assert!(
            !self.in_latest(g, x),
            "the owner of group {g} could not remove p{x} to add it back"
        );
        self.op_add(g, x);
        assert!(
            self.in_latest(g, x),
            "the owner of group {g} could not add p{x} back"
        );
    }
}
