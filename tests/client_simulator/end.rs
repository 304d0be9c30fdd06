//! The end of a run: the checks after each drain, the final rounds over a network that
//! loses nothing, and the final check of every device.

use std::collections::BTreeSet;

use super::world::{must, Kind, World, ACCOUNTS};

impl World {
    /// After a drain: every envelope the network took arrived, once, at the device it was
    /// for (unless that device knew its sender was removed); a lost one never did.
    pub fn check_all_delivered(&mut self) {
        assert!(self.net.is_empty());
        self.drop_pending();
        for (index, envelope) in self.envelopes.iter().enumerate() {
            let (from, to) = (&self.devices[envelope.from], &self.devices[envelope.to]);
            let received = to.received.contains(&envelope.message);
            let what = format!(
                "{:?} envelope {index} (message {} from {} to {}), {} genuine copies sent",
                envelope.kind, envelope.message, from.name, to.name, envelope.genuine,
            );
            match envelope.kind {
                Kind::Message => {
                    let arrived = envelope.genuine > 0 && !envelope.unlisted;
                    assert_eq!(
                        (envelope.delivered, received),
                        (arrived, arrived),
                        "{what}: delivered, received"
                    );
                }
                // Control is never lost: it arrives unless its sender was removed from its
                // account, or it no longer matters (moot) and was refused for good.
                Kind::Control => {
                    assert!(envelope.genuine > 0, "{what}: lost");
                    if !envelope.unlisted && !self.moot(envelope) && !self.dropped.contains(&index)
                    {
                        assert!(envelope.delivered, "{what}: not taken");
                    }
                }
                // A group message not lost arrives, once, unless moot; a lost one never.
                Kind::GroupMessage => {
                    assert_eq!(envelope.delivered, received, "{what}: delivered, received");
                    if envelope.genuine == 0 {
                        assert!(!envelope.delivered, "{what}: lost, yet delivered");
                    } else if !self.moot(envelope) {
                        assert!(envelope.delivered, "{what}: not received");
                    }
                }
                Kind::Forged => assert!(!envelope.delivered, "{what}: decrypted"),
            }
        }
        self.stats.lost = self
            .envelopes
            .iter()
            .filter(|envelope| envelope.genuine == 0)
            .count() as u64;
    }

    /// A final round: every device sends to every other account, over a network that
    /// loses nothing; in the first round, after fetching every account's newest list, so
    /// every message goes to every current device of the account it is for.
    pub fn settle(&mut self, round: u32) {
        self.net.reliable = true;
        let active = self.listed();
        if round == 1 {
            for &device in &active {
                for account in 0..ACCOUNTS.len() {
                    self.refresh(device, account);
                }
            }
        }
        self.settle_group(round);
        for &device in &active {
            let own = self.devices[device].account;
            for account in (0..ACCOUNTS.len()).filter(|account| *account != own) {
                let current: BTreeSet<usize> = self.accounts[account]
                    .lists
                    .last()
                    .into_iter()
                    .chain(self.accounts[own].lists.last())
                    .flatten()
                    .copied()
                    .filter(|peer| *peer != device)
                    .collect();
                assert_eq!(
                    self.recipients(device, account),
                    current,
                    "{} to {} after fetching every list",
                    self.devices[device].name,
                    ACCOUNTS[account]
                );
                self.send(device, account);
            }
        }
    }

    /// At the end: every two devices on one channel, and every client restarted once more
    /// showing all the model says it holds.
    pub fn check_final(&mut self) {
        let active = self.listed();
        for &a in &active {
            for &b in active.iter().filter(|b| **b > a) {
                let (id_a, id_b) = (self.device_ids[a], self.device_ids[b]);
                let on_a = must(self.devices[a].client().current_channel(id_b), || {
                    "current channel".into()
                });
                let on_b = must(self.devices[b].client().current_channel(id_a), || {
                    "current channel".into()
                });
                let (name_a, name_b) = (&self.devices[a].name, &self.devices[b].name);
                assert!(on_a.is_some(), "{name_a} has no channel with {name_b}");
                assert_eq!(
                    on_a, on_b,
                    "{name_a} and {name_b} did not settle on one channel"
                );
            }
        }
        for device in active {
            self.restart(device, true);
        }
        self.check_group_final();
    }
}
