//! The walk over the timeline: each event checked from the protocol document alone, with
//! the rejected inputs at their points, and the group messages recomputed.

use std::collections::VecDeque;

use prost::Message;

use super::rejected::check_rejected;
use super::walk::{take_draw, OwnKey, Walk};
use crate::vectors::group::format::{Action, GroupMessageVector, TimelineEvent};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    aes_gcm_open, aes_gcm_seal, ed25519_sign, group_signature_input, GROUP_MESSAGE_INFO,
};
use crate::vectors::proto;
use crate::vectors::recompute::{check, check_message_keys, listed_keys};

/// What the walk found the file to cover.
pub(super) struct Coverage {
    pub rejected_checked: usize,
    /// Rejected group messages whose signature rule was checked.
    pub signatures_checked: usize,
    /// A group message read after a later one of its chain.
    pub out_of_order: bool,
    /// A message of an old epoch read after the sender's next epoch was installed.
    pub old_epoch_read_late: bool,
}

impl Walk<'_> {
    /// Walks the whole timeline.
    pub(super) fn timeline(&mut self) -> Coverage {
        let v = self.v;
        let mut coverage = Coverage {
            rejected_checked: 0,
            signatures_checked: 0,
            out_of_order: false,
            old_epoch_read_late: false,
        };
        for (step, e) in v.timeline.iter().enumerate() {
            assert_eq!(e.step, step, "timeline step numbers");
            let party = self.names.of(&e.party);
            let mut draws: VecDeque<String> = e.draws.iter().cloned().collect();
            match e.action {
                Action::ChannelCreate => {
                    let channel = e.channel.expect("channel");
                    let c = &v.channels[channel];
                    assert_eq!(self.names.of(&c.initiator), party);
                    take_draw(&mut draws, &c.ephemeral_secret, || {
                        "create draws the ephemeral key".into()
                    });
                    take_draw(&mut draws, &c.chains[0].ratchet_secret, || {
                        "then the first ratchet key".into()
                    });
                    self.channels[channel].create();
                }
                Action::ChannelSend => {
                    let index = e.channel_message.expect("channel_message");
                    let m = &v.channel_messages[index];
                    assert_eq!(m.content_type, 0, "application data");
                    assert_eq!(m.control, None);
                    let to = self.names.of(&m.receiver);
                    self.send_channel_message(index, party, to, &mut draws);
                }
                Action::ChannelJoin | Action::ChannelReceive => {
                    let index = e.channel_message.expect("channel_message");
                    let m = &v.channel_messages[index];
                    assert_eq!(
                        e.action == Action::ChannelJoin,
                        self.channels[m.channel].joins(party),
                        "step {step}: the responder joins from its first message"
                    );
                    self.receive_channel_message(index, party);
                }
                Action::GroupCreate => self.group_create(step, e, &mut draws),
                Action::GroupJoin | Action::GroupReceive => self.group_receive(step, e, &mut draws),
                Action::RemoveMember => self.remove_member(step, e, &mut draws),
                Action::Rekey => {
                    self.take_new_key(party, step, &mut draws);
                    let roster = self.roster[party].expect("a roster");
                    let expected: Vec<_> = self
                        .others(party, roster)
                        .into_iter()
                        .map(|m| (m, None, true))
                        .collect();
                    self.check_sent(party, &e.sent, &expected, &mut draws);
                }
                Action::Encrypt => self.encrypt(party, e),
                Action::Decrypt => self.decrypt(step, e, &mut coverage),
            }
            assert!(draws.is_empty(), "step {step}: draws left over: {draws:?}");
            for r in v.rejected.iter().filter(|r| r.after_step == step) {
                coverage.signatures_checked += usize::from(check_rejected(self, r));
                coverage.rejected_checked += 1;
            }
        }
        coverage
    }

    fn group_create(&mut self, step: usize, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let party = self.names.of(&e.party);
        let members: Vec<usize> = e
            .members
            .as_ref()
            .expect("members")
            .iter()
            .map(|m| self.names.of(m))
            .collect();
        assert_eq!(party, self.owner, "the owner creates the group");
        let roster = self.roster_of_version(1);
        assert_eq!(
            self.roster_members(roster),
            [vec![party], members.clone()].concat(),
            "roster 1: the owner, then the members"
        );
        self.roster[party] = Some(roster);
        self.take_new_key(party, step, draws);
        let expected: Vec<_> = members.iter().map(|&m| (m, Some(roster), true)).collect();
        self.check_sent(party, &e.sent, &expected, draws);
    }

    /// `Group::join` or `Group::receive` of a control.
    fn group_receive(&mut self, step: usize, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let party = self.names.of(&e.party);
        let v = self.v;
        let control = &v.controls[e.control.expect("control")];
        let from = self.names.of(e.from.as_ref().expect("from"));
        assert_eq!(self.names.of(&control.sender), from);
        assert_eq!(self.names.of(&control.receiver), party);
        self.receive_channel_message(control.channel_message, party);
        let old_roster = self.roster[party];
        assert_eq!(
            e.action == Action::GroupJoin,
            old_roster.is_none(),
            "step {step}: join without a group"
        );
        let mut expected = Vec::new();
        let mut new_epoch = e.action == Action::GroupJoin;
        if let Some(version) = control.roster {
            let roster = self.roster_of_version(version);
            self.roster[party] = Some(roster);
            if let Some(old) = old_roster {
                assert!(version > v.rosters[old].version, "a newer roster");
                let old = self.roster_members(old);
                let new = self.roster_members(roster);
                if !new.contains(&party) {
                    self.own[party] = None;
                } else if old.iter().any(|m| !new.contains(m)) {
                    // A removal: a new epoch for the remaining members.
                    new_epoch = true;
                }
            }
        } else {
            assert!(old_roster.is_some(), "a welcome carries the roster");
        }
        if new_epoch {
            self.take_new_key(party, step, draws);
            let roster = self.roster[party].unwrap();
            expected = self
                .others(party, roster)
                .into_iter()
                .map(|m| (m, None, true))
                .collect();
        }
        self.install(party, control);
        let events = self.expected_events(party, control, old_roster);
        assert_eq!(e.events, events, "step {step}: events");
        self.check_sent(party, &e.sent, &expected, draws);
    }

    fn remove_member(&mut self, step: usize, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let party = self.names.of(&e.party);
        assert_eq!(party, self.owner, "only the owner removes");
        let removed = self.names.of(e.member.as_ref().expect("member"));
        let old = self.roster[party].expect("a roster");
        let roster = self.roster_of_version(self.v.rosters[old].version + 1);
        let remaining: Vec<usize> = self
            .roster_members(old)
            .into_iter()
            .filter(|&m| m != removed)
            .collect();
        assert_eq!(
            self.roster_members(roster),
            remaining,
            "the new roster drops the member, keeping the order"
        );
        self.roster[party] = Some(roster);
        self.take_new_key(party, step, draws);
        let mut expected: Vec<_> = self
            .others(party, roster)
            .into_iter()
            .map(|m| (m, Some(roster), true))
            .collect();
        expected.push((removed, Some(roster), false));
        self.check_sent(party, &e.sent, &expected, draws);
    }

    fn encrypt(&mut self, party: usize, e: &TimelineEvent) {
        let v = self.v;
        let index = e.group_message.expect("group_message");
        assert_eq!(
            index, self.sent_group_messages,
            "group messages are listed in sending order"
        );
        self.sent_group_messages += 1;
        let own = self.own[party]
            .clone()
            .expect("a member with a sender key sends");
        check_group_message(
            &v.group_messages[index],
            &self.names.0[party],
            &own,
            &self.group_id,
            &bytes(&v.identities[party].signing_public),
        );
        let iterations = self.iterations.entry((party, own.epoch)).or_default();
        assert_eq!(*iterations, own.iteration);
        *iterations += 1;
        self.own[party].as_mut().unwrap().iteration += 1;
    }

    fn decrypt(&mut self, step: usize, e: &TimelineEvent, coverage: &mut Coverage) {
        let v = self.v;
        let party = self.names.of(&e.party);
        let index = e.group_message.expect("group_message");
        assert!(index < self.sent_group_messages, "decrypted before sent");
        let m = &v.group_messages[index];
        let sender = self.names.of(&m.sender);
        assert_ne!(sender, party, "members do not decrypt their own messages");
        let first = self.held.get(&(party, sender, m.epoch)).copied();
        assert!(
            first.is_some_and(|first| first <= m.iteration),
            "step {step}: {} holds {}'s key of epoch {} from before iteration {}",
            e.party,
            m.sender,
            m.epoch,
            m.iteration
        );
        let roster = self.roster_members(self.roster[party].unwrap());
        assert!(
            roster.contains(&sender),
            "step {step}: the sender is in the reader's roster"
        );
        let (key, nonce) = (array::<32>(&m.aes_key), array::<12>(&m.nonce));
        assert_eq!(
            aes_gcm_open(&key, &nonce, &bytes(&m.header), &bytes(&m.ciphertext)),
            Some(bytes(&m.plaintext))
        );
        // Coverage: a message read after a later one of its chain, and one of an old epoch
        // read after the sender's next epoch was installed.
        coverage.out_of_order |= v.timeline[..step].iter().any(|earlier| {
            earlier.action == Action::Decrypt
                && earlier.party == e.party
                && earlier.group_message.is_some_and(|g| {
                    let g = &v.group_messages[g];
                    g.sender == m.sender && g.epoch == m.epoch && g.iteration > m.iteration
                })
        });
        coverage.old_epoch_read_late |= self.held.contains_key(&(party, sender, m.epoch + 1));
    }
}

/// Recomputes a group message from its sender's key.
fn check_group_message(
    m: &GroupMessageVector,
    sender: &str,
    own: &OwnKey,
    group_id: &[u8],
    sender_key: &[u8],
) {
    let what = format!("group message {}", m.index);
    assert_eq!(m.sender, sender, "{what}: sender");
    assert_eq!(
        (m.epoch, m.iteration),
        (own.epoch, own.iteration),
        "{what}: epoch and iteration"
    );
    let (aes_key, nonce) = check_message_keys(
        &what,
        &listed_keys!(m),
        &own.chain_key,
        own.iteration,
        GROUP_MESSAGE_INFO,
    );
    let header = proto::GroupHeader {
        group_id: group_id.to_vec(),
        sender: sender_key.to_vec(),
        epoch: own.epoch,
        iteration: own.iteration,
    }
    .encode_to_vec();
    check!(m.header, header, "{what}: header");
    let plaintext = bytes(&m.plaintext);
    assert_eq!(
        m.plaintext_utf8.as_bytes(),
        plaintext,
        "{what}: plaintext_utf8"
    );
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &header, &plaintext);
    check!(m.ciphertext, ciphertext, "{what}: ciphertext");
    let input = group_signature_input(&header, &ciphertext);
    check!(m.signature_input, input, "{what}: signature_input");
    let signature = ed25519_sign(&own.seed, &input);
    check!(m.signature, signature, "{what}: signature");
    let message = proto::GroupMessage {
        version: 1,
        header,
        ciphertext,
        signature: signature.to_vec(),
    }
    .encode_to_vec();
    check!(m.message, message, "{what}: message");
}
