//! What the walk over the timeline tracks, and its steps shared by several actions: channel
//! messages sent and received, sender keys made and distributed, and the controls a group
//! operation must send.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use prost::Message;

use super::Names;
use crate::vectors::channel_view::ChannelView;
use crate::vectors::group::format::{ControlVector, EventVector, GroupVectors, SenderKeyVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{chain_key_at, ed25519_public, GROUP_VERSION};
use crate::vectors::proto;
use crate::vectors::recompute::{
    check, check_channel_message, listed_channel_message, Expected, Pad,
};

/// A member's sender key as the independent check tracks it.
#[derive(Clone)]
pub(super) struct OwnKey {
    pub epoch: u32,
    pub chain_key: [u8; 32],
    pub seed: [u8; 32],
    pub iteration: u32,
}

/// How the epoch of a new sender key follows from the member's current one (6.4).
#[derive(Clone, Copy)]
pub(super) enum NextEpoch {
    /// 0 (create, join), else the current epoch + 1.
    Next,
    /// A resync's: the current epoch + 1 + be16(the new public signing key[0..2]).
    ResyncJump,
}

/// A control a group operation must send: to whom, and its parts (the roster is an index
/// into `rosters`, the offer into `owner_transfers`; the sender key is the sender's own).
#[derive(Clone, Copy, Default)]
pub(super) struct Parts {
    pub to: usize,
    pub roster: Option<usize>,
    pub sender_key: bool,
    pub leave: bool,
    pub resync: bool,
    pub offer: Option<usize>,
}

impl Parts {
    /// A control with the sender's own key, to `to`.
    pub fn key_to(to: usize) -> Self {
        Self {
            to,
            sender_key: true,
            ..Self::default()
        }
    }
}

/// Takes the next of a call's listed `draws`, which must be `listed` (`what` says what it
/// is).
pub(super) fn take_draw(draws: &mut VecDeque<String>, listed: &str, what: impl Fn() -> String) {
    assert_eq!(draws.pop_front().as_deref(), Some(listed), "{}", what());
}

/// What the walk over the timeline tracks.
pub(super) struct Walk<'a> {
    pub v: &'a GroupVectors,
    pub names: Names,
    pub group_id: Vec<u8>,
    pub channels: Vec<ChannelView>,
    /// Each member's roster (index into `rosters`).
    pub roster: Vec<Option<usize>>,
    /// The members each member saw removed (6.1, 6.3: `RemovedGroupMember`); nobody is
    /// added back in these vectors.
    pub removed_seen: Vec<BTreeSet<usize>>,
    /// Each member's own sender key.
    pub own: Vec<Option<OwnKey>>,
    /// The ownership offer each member holds (index into `owner_transfers`).
    pub offer: Vec<Option<usize>>,
    /// (holder, sender, epoch) -> the iteration the holder's key starts at.
    pub held: BTreeMap<(usize, usize, u32), u32>,
    /// (reader, sender, epoch) -> the iterations decrypted.
    pub decrypted: BTreeMap<(usize, usize, u32), BTreeSet<u32>>,
    /// Channel messages and group messages sent so far, and owner transfers signed.
    pub sent_channel_messages: usize,
    pub sent_group_messages: usize,
    pub signed_transfers: usize,
    /// The channel messages received, and those lost, so far.
    pub received: BTreeSet<usize>,
    pub lost: BTreeSet<usize>,
    /// For each (sender, epoch), how many group messages were sent.
    pub iterations: BTreeMap<(usize, u32), u32>,
}

impl Walk<'_> {
    pub fn channel_between(&self, a: usize, b: usize) -> usize {
        self.v
            .channels
            .iter()
            .position(|c| {
                let pair = (self.names.of(&c.initiator), self.names.of(&c.responder));
                pair == (a, b) || pair == (b, a)
            })
            .expect("a channel between them")
    }

    /// `party` now holds `roster`: whom the roster it held before listed and this one
    /// does not, it saw removed.
    pub fn hold_roster(&mut self, party: usize, roster: usize) {
        let new = self.roster_members(roster);
        if let Some(old) = self.roster[party] {
            let gone: Vec<usize> = self
                .roster_members(old)
                .into_iter()
                .filter(|m| !new.contains(m))
                .collect();
            self.removed_seen[party].extend(gone);
        }
        self.removed_seen[party].retain(|m| !new.contains(m));
        self.roster[party] = Some(roster);
    }

    /// The members of `roster`, with the versions that added them, in roster order.
    pub fn roster_entries(&self, roster: usize) -> Vec<(usize, u64)> {
        self.v.rosters[roster]
            .members
            .iter()
            .map(|m| (self.names.of(&m.member), m.added_at))
            .collect()
    }

    pub fn roster_members(&self, roster: usize) -> Vec<usize> {
        self.roster_entries(roster)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }

    /// The owner of `roster`: the founder, or the last transfer's new owner.
    pub fn roster_owner(&self, roster: usize) -> usize {
        match self.v.rosters[roster].transfers.last() {
            Some(&t) => self.names.of(&self.v.owner_transfers[t].new_owner),
            None => self.names.of(&self.v.group.founder),
        }
    }

    /// The members of `roster` but `party`, in roster order.
    pub fn others(&self, party: usize, roster: usize) -> Vec<usize> {
        self.roster_members(roster)
            .into_iter()
            .filter(|&m| m != party)
            .collect()
    }

    pub fn roster_of_version(&self, version: u64) -> usize {
        self.v
            .rosters
            .iter()
            .position(|r| r.version == version)
            .expect("a listed roster")
    }

    /// The sender key `member` made for `epoch`.
    pub fn sender_key(&self, member: usize, epoch: u32) -> &SenderKeyVector {
        self.v
            .sender_keys
            .iter()
            .find(|k| self.names.of(&k.member) == member && k.epoch == epoch)
            .unwrap_or_else(|| {
                panic!(
                    "no sender key of {} for epoch {epoch}",
                    self.names.0[member]
                )
            })
    }

    /// A sender key made at `step` becomes `member`'s own; its two draws come first.
    pub fn take_new_key(
        &mut self,
        member: usize,
        step: usize,
        next: NextEpoch,
        draws: &mut VecDeque<String>,
    ) {
        let key = self
            .v
            .sender_keys
            .iter()
            .find(|k| k.step == step)
            .unwrap_or_else(|| panic!("step {step} makes a sender key"));
        assert_eq!(self.names.of(&key.member), member, "step {step}: whose key");
        let seed = array::<32>(&key.signing_seed);
        let expected_epoch = match (next, &self.own[member]) {
            (NextEpoch::Next, None) => 0,
            (NextEpoch::Next, Some(own)) => own.epoch + 1,
            (NextEpoch::ResyncJump, own) => {
                let public = ed25519_public(&seed);
                let jump = u32::from(u16::from_be_bytes([public[0], public[1]]));
                own.as_ref().expect("a member resyncs").epoch + 1 + jump
            }
        };
        assert_eq!(key.epoch, expected_epoch, "step {step}: the new epoch");
        take_draw(draws, &key.chain_key, || {
            format!("step {step}: first draw is the chain key")
        });
        take_draw(draws, &key.signing_seed, || {
            format!("step {step}: second draw is the signing seed")
        });
        self.own[member] = Some(OwnKey {
            epoch: key.epoch,
            chain_key: array(&key.chain_key),
            seed,
            iteration: 0,
        });
    }

    /// `member`'s distribution of its current sender key.
    fn distribution(&self, member: usize) -> proto::SenderKeyDistribution {
        let own = self.own[member].as_ref().expect("a sender key");
        proto::SenderKeyDistribution {
            group_id: self.group_id.clone(),
            sender: bytes(&self.v.identities[member].signing_public),
            epoch: own.epoch,
            iteration: own.iteration,
            chain_key: chain_key_at(&own.chain_key, own.iteration).to_vec(),
            signing_key: ed25519_public(&own.seed).to_vec(),
        }
    }

    pub fn signed_roster(&self, roster: usize) -> proto::SignedRoster {
        proto::SignedRoster::decode(bytes(&self.v.rosters[roster].signed_roster).as_slice())
            .unwrap()
    }

    pub fn transfer(&self, transfer: usize) -> proto::OwnerTransfer {
        proto::OwnerTransfer::decode(bytes(&self.v.owner_transfers[transfer].bytes).as_slice())
            .unwrap()
    }

    /// Checks the channel message `index`, the next one `from` sends to `to`, and records
    /// it sent; its draws are taken from `draws`: the ratchet key when it starts a chain,
    /// then its salt.
    pub fn send_channel_message(
        &mut self,
        index: usize,
        from: usize,
        to: usize,
        draws: &mut VecDeque<String>,
    ) {
        let v = self.v;
        let m = &v.channel_messages[index];
        assert_eq!(m.index, Some(index), "channel message {index}: index");
        assert_eq!(
            index, self.sent_channel_messages,
            "channel messages are listed in sending order"
        );
        self.sent_channel_messages += 1;
        let channel = self.channel_between(from, to);
        assert_eq!(m.channel, channel, "channel message {index}: channel");
        assert_eq!(
            (m.sender.as_str(), m.receiver.as_str()),
            (self.names.0[from].as_str(), self.names.0[to].as_str())
        );
        let view = &mut self.channels[channel];
        let prekey = view.prekey(from);
        let position = view.send(from);
        assert_eq!(m.chain, position.chain, "channel message {index}: chain");
        let listed = &v.channels[channel].chains[position.chain];
        if position.starts_chain {
            take_draw(draws, &listed.ratchet_secret, || {
                format!("channel message {index}: a new chain draws its ratchet key")
            });
        }
        take_draw(draws, &m.salt, || {
            format!("channel message {index}: then its salt")
        });
        // Every member pads with the default setting.
        check_channel_message(
            &format!("channel message {index} on channel {channel}"),
            &listed_channel_message!(m),
            listed,
            &Expected {
                position: &position,
                content_type: m.content_type,
                prekey: prekey.as_ref(),
                padding: Pad::Padme,
            },
            &view.associated_data,
        );
    }

    pub fn receive_channel_message(&mut self, index: usize, party: usize) {
        let m = &self.v.channel_messages[index];
        assert!(
            index < self.sent_channel_messages,
            "channel message {index} received before it was sent"
        );
        assert_eq!(
            self.names.of(&m.receiver),
            party,
            "channel message {index}: receiver"
        );
        assert!(
            !self.lost.contains(&index),
            "channel message {index} was lost"
        );
        assert!(
            self.received.insert(index),
            "channel message {index} is received once"
        );
        self.channels[m.channel].receive(party, m.chain);
    }

    /// Checks the controls a group operation of `party` sent: recipients and parts as the
    /// protocol says (`expected`), bytes, and their channel messages.
    pub fn check_sent(
        &mut self,
        party: usize,
        sent: &[usize],
        expected: &[Parts],
        draws: &mut VecDeque<String>,
    ) {
        assert_eq!(
            sent.len(),
            expected.len(),
            "{} sends {} controls",
            self.names.0[party],
            expected.len()
        );
        let v = self.v;
        let roster_version = v.rosters[self.roster[party].expect("a roster")].version;
        for (&index, parts) in sent.iter().zip(expected) {
            let c: &ControlVector = &v.controls[index];
            let what = format!("control {index}");
            assert_eq!(c.index, index, "{what}: index");
            assert_eq!(self.names.of(&c.sender), party, "{what}: sender");
            assert_eq!(self.names.of(&c.receiver), parts.to, "{what}: receiver");
            assert_eq!(c.roster_version, roster_version, "{what}: roster_version");
            assert_eq!(
                c.roster,
                parts.roster.map(|r| self.v.rosters[r].version),
                "{what}: roster"
            );
            assert_eq!(
                (c.leave, c.resync, c.offer),
                (parts.leave, parts.resync, parts.offer),
                "{what}: leave, resync, offer"
            );
            let distribution = parts.sender_key.then(|| self.distribution(party));
            match (&c.sender_key, &distribution) {
                (None, None) => {}
                (Some(listed), Some(d)) => {
                    assert_eq!(self.names.of(&listed.sender), party);
                    assert_eq!(
                        (listed.epoch, listed.iteration),
                        (d.epoch, d.iteration),
                        "{what}: epoch, iteration"
                    );
                    let own = self.own[party].as_ref().unwrap();
                    let chain_key = chain_key_at(&own.chain_key, own.iteration);
                    check!(
                        listed.chain_key,
                        chain_key,
                        "{what}: the chain key at the iteration"
                    );
                    check!(
                        listed.signing_public,
                        ed25519_public(&own.seed),
                        "{what}: signing_public"
                    );
                    check!(
                        listed.bytes,
                        d.encode_to_vec(),
                        "{what}: distribution bytes"
                    );
                }
                _ => panic!("{what}: sender_key"),
            }
            let group_id = || self.group_id.clone();
            let control = proto::GroupControl {
                version: GROUP_VERSION,
                roster: parts.roster.map(|r| self.signed_roster(r)),
                sender_key: distribution,
                leave: parts.leave.then(|| proto::LeaveRequest {
                    group_id: group_id(),
                }),
                roster_version,
                resync: parts.resync.then(|| proto::ResyncRequest {
                    group_id: group_id(),
                }),
                offer: parts.offer.map(|t| proto::OwnershipOffer {
                    group_id: group_id(),
                    transfer: Some(self.transfer(t)),
                }),
            }
            .encode_to_vec();
            check!(c.bytes, control, "{what}: bytes");
            let m = &v.channel_messages[c.channel_message];
            assert_eq!(
                m.control,
                Some(index),
                "{what}: its channel message names it"
            );
            assert_eq!(m.content_type, 1, "{what}: group control is content type 1");
            check!(
                m.plaintext,
                control,
                "{what}: the channel message's plaintext"
            );
            self.send_channel_message(c.channel_message, party, parts.to, draws);
        }
    }

    /// `party` takes in the sender key a control carries.
    pub fn install(&mut self, party: usize, control: &ControlVector) {
        if let Some(d) = &control.sender_key {
            let sender = self.names.of(&d.sender);
            assert_eq!(
                self.names.of(&control.sender),
                sender,
                "a member sends only its own key"
            );
            let previous = self.held.insert((party, sender, d.epoch), d.iteration);
            assert!(previous.is_none(), "an epoch is installed once");
        }
    }

    /// The epochs of `sender` that `holder` keeps: the newest `MAX_SENDER_EPOCHS` (3)
    /// installed, with the iteration each started at.
    pub fn kept_epochs(&self, holder: usize, sender: usize) -> Vec<(u32, u32)> {
        let mut epochs: Vec<(u32, u32)> = self
            .held
            .iter()
            .filter(|((h, s, _), _)| (*h, *s) == (holder, sender))
            .map(|((_, _, epoch), first)| (*epoch, *first))
            .collect();
        let excess = epochs.len().saturating_sub(3);
        epochs.drain(..excess);
        epochs
    }

    /// The events `party` must report on `control`, holding `old_roster` before (none
    /// for a join).
    pub fn expected_events(
        &self,
        party: usize,
        control: &ControlVector,
        old_roster: Option<usize>,
    ) -> Vec<EventVector> {
        let name = |m: usize| self.names.0[m].clone();
        let mut events = Vec::new();
        match (control.roster, old_roster) {
            (Some(version), None) => events.push(EventVector::Joined { version }),
            (Some(version), Some(old)) if version > self.v.rosters[old].version => {
                let roster = self.roster_of_version(version);
                let (old_members, new) = (self.roster_members(old), self.roster_members(roster));
                let owner = self.roster_owner(roster);
                if owner != self.roster_owner(old) {
                    events.push(EventVector::OwnerChanged {
                        version,
                        owner: name(owner),
                    });
                }
                let others = |list: &[usize], not_in: &[usize]| -> Vec<String> {
                    list.iter()
                        .filter(|m| !not_in.contains(m) && **m != party)
                        .map(|&m| name(m))
                        .collect()
                };
                // A removed member hears only of its removal.
                if new.contains(&party) {
                    events.push(EventVector::RosterChanged {
                        version,
                        added: others(&new, &old_members),
                        removed: others(&old_members, &new),
                    });
                } else {
                    events.push(EventVector::Removed { version });
                }
            }
            _ => {}
        }
        if let Some(d) = &control.sender_key {
            events.push(EventVector::SenderKey {
                member: d.sender.clone(),
                epoch: d.epoch,
            });
        }
        let from = control.sender.clone();
        if control.leave {
            events.push(EventVector::LeaveRequested {
                member: from.clone(),
            });
        }
        if control.resync {
            events.push(EventVector::ResyncRequested {
                member: from.clone(),
            });
        }
        if let Some(t) = control.offer {
            events.push(EventVector::OwnershipOffered {
                owner: from,
                version: self.v.owner_transfers[t].version,
            });
        }
        events
    }
}
