//! What the walk over the timeline tracks, and its steps shared by several actions: channel
//! messages sent and received, sender keys made and distributed, and the controls a group
//! operation must send.

use std::collections::{BTreeMap, VecDeque};

use prost::Message;

use super::Names;
use crate::vectors::channel_view::ChannelView;
use crate::vectors::group::format::{ControlVector, EventVector, GroupVectors, SenderKeyVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{chain_key_at, ed25519_public};
use crate::vectors::proto;
use crate::vectors::recompute::{check, check_channel_message, listed_channel_message};

/// A member's sender key as the independent check tracks it.
#[derive(Clone)]
pub(super) struct OwnKey {
    pub epoch: u32,
    pub chain_key: [u8; 32],
    pub seed: [u8; 32],
    pub iteration: u32,
}

/// A control a group operation must send: to whom, the roster it carries (index into
/// `rosters`), if any, and whether it carries the sender's key.
pub(super) type ExpectedControl = (usize, Option<usize>, bool);

/// Takes the next of a call's listed `draws`, which must be `listed` (`what` says what it
/// is).
pub(super) fn take_draw(draws: &mut VecDeque<String>, listed: &str, what: impl Fn() -> String) {
    assert_eq!(draws.pop_front().as_deref(), Some(listed), "{}", what());
}

/// What the walk over the timeline tracks.
pub(super) struct Walk<'a> {
    pub v: &'a GroupVectors,
    pub names: Names,
    /// The group's owner.
    pub owner: usize,
    pub group_id: Vec<u8>,
    pub channels: Vec<ChannelView>,
    /// Each member's roster (index into `rosters`).
    pub roster: Vec<Option<usize>>,
    /// Each member's own sender key.
    pub own: Vec<Option<OwnKey>>,
    /// (holder, sender, epoch) -> the iteration the holder's key starts at.
    pub held: BTreeMap<(usize, usize, u32), u32>,
    /// Channel messages and group messages sent so far.
    pub sent_channel_messages: usize,
    pub sent_group_messages: usize,
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

    pub fn roster_members(&self, roster: usize) -> Vec<usize> {
        self.v.rosters[roster]
            .members
            .iter()
            .map(|m| self.names.of(m))
            .collect()
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
    pub fn take_new_key(&mut self, member: usize, step: usize, draws: &mut VecDeque<String>) {
        let key = self
            .v
            .sender_keys
            .iter()
            .find(|k| k.step == step)
            .unwrap_or_else(|| panic!("step {step} makes a sender key"));
        assert_eq!(self.names.of(&key.member), member, "step {step}: whose key");
        let expected_epoch = self.own[member].as_ref().map_or(0, |own| own.epoch + 1);
        assert_eq!(
            key.epoch, expected_epoch,
            "step {step}: epochs count up from 0"
        );
        take_draw(draws, &key.chain_key, || {
            format!("step {step}: first draw is the chain key")
        });
        take_draw(draws, &key.signing_seed, || {
            format!("step {step}: second draw is the signing seed")
        });
        self.own[member] = Some(OwnKey {
            epoch: key.epoch,
            chain_key: array(&key.chain_key),
            seed: array(&key.signing_seed),
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

    fn signed_roster(&self, roster: usize) -> proto::SignedRoster {
        proto::SignedRoster::decode(bytes(&self.v.rosters[roster].signed_roster).as_slice())
            .unwrap()
    }

    /// Checks the channel message `index`, the next one `from` sends to `to`, and records
    /// it sent; a ratchet key draw is taken from `draws` when it starts a chain.
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
        check_channel_message(
            &format!("channel message {index} on channel {channel}"),
            &listed_channel_message!(m),
            listed,
            &position,
            m.content_type,
            &view.associated_data,
            prekey.as_ref(),
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
        self.channels[m.channel].receive(party, m.chain);
    }

    /// Checks the controls a group operation of `party` sent: recipients and parts as the
    /// protocol says (`expected`), bytes, and their channel messages.
    pub fn check_sent(
        &mut self,
        party: usize,
        sent: &[usize],
        expected: &[ExpectedControl],
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
        for (&index, &(to, roster, sender_key)) in sent.iter().zip(expected) {
            let c: &ControlVector = &v.controls[index];
            let what = format!("control {index}");
            assert_eq!(c.index, index, "{what}: index");
            assert_eq!(self.names.of(&c.sender), party, "{what}: sender");
            assert_eq!(self.names.of(&c.receiver), to, "{what}: receiver");
            assert_eq!(c.roster_version, roster_version, "{what}: roster_version");
            assert_eq!(
                c.roster,
                roster.map(|r| self.v.rosters[r].version),
                "{what}: roster"
            );
            assert!(!c.leave, "{what}: leave");
            let distribution = sender_key.then(|| self.distribution(party));
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
            let control = proto::GroupControl {
                version: 1,
                roster: roster.map(|r| self.signed_roster(r)),
                sender_key: c.sender_key.as_ref().map(|d| {
                    proto::SenderKeyDistribution::decode(bytes(&d.bytes).as_slice()).unwrap()
                }),
                leave: None,
                roster_version,
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
            self.send_channel_message(c.channel_message, party, to, draws);
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

    /// The events `party` must report on `control`, holding `old_roster` before.
    pub fn expected_events(
        &self,
        party: usize,
        control: &ControlVector,
        old_roster: Option<usize>,
    ) -> Vec<EventVector> {
        let mut events = Vec::new();
        if let (Some(version), Some(old)) = (control.roster, old_roster) {
            let old = self.roster_members(old);
            let new = self.roster_members(self.roster_of_version(version));
            let names =
                |list: Vec<usize>| list.into_iter().map(|m| self.names.0[m].clone()).collect();
            if new.contains(&party) {
                events.push(EventVector::RosterChanged {
                    version,
                    added: names(new.iter().copied().filter(|m| !old.contains(m)).collect()),
                    removed: names(old.iter().copied().filter(|m| !new.contains(m)).collect()),
                });
            } else {
                events.push(EventVector::Removed { version });
            }
        }
        if let Some(d) = &control.sender_key {
            events.push(EventVector::SenderKey {
                member: d.sender.clone(),
                epoch: d.epoch,
            });
        }
        events
    }
}
