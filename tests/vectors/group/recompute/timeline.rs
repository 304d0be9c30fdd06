//! The walk over the timeline: each event checked from the protocol document alone, with
//! the rejected inputs at their points, and the group messages recomputed.

use std::collections::VecDeque;

use prost::Message;

use super::rejected::check_rejected;
use super::walk::{take_draw, NextEpoch, OwnKey, Parts, Walk};
use crate::vectors::group::format::{Action, EventVector, GroupMessageVector, TimelineEvent};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    aes_gcm_open, aes_gcm_seal, chain_key_at, ed25519_sign, group_signature_input, kdf_ck, padded,
    salted_message_aead, unpadded, GROUP_MESSAGE_INFO, GROUP_VERSION, MESSAGE_SALT_LEN,
};
use crate::vectors::proto;
use crate::vectors::recompute::{check, listed_keys, ListedKeys};

/// What the walk found the file to cover.
pub(super) struct Coverage {
    pub rejected_checked: usize,
    /// Rejected inputs whose error was derived independently (all of them, in this file).
    pub errors_derived: usize,
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
            errors_derived: 0,
            signatures_checked: 0,
            out_of_order: false,
            old_epoch_read_late: false,
        };
        for (step, e) in v.timeline.iter().enumerate() {
            assert_eq!(e.step, step, "timeline step numbers");
            let party = self.names.of(&e.party);
            let mut draws: VecDeque<String> = e.draws.iter().cloned().collect();
            if !matches!(
                e.action,
                Action::GroupJoin
                    | Action::GroupReceive
                    | Action::AcceptOwnership
                    | Action::GroupCreate
                    | Action::RemoveMember
                    | Action::Rekey
                    | Action::Resync
                    | Action::OfferOwnership
                    | Action::Leave
            ) {
                assert!(e.sent.is_empty(), "step {step}: sends nothing");
            }
            if !matches!(
                e.action,
                Action::GroupJoin | Action::GroupReceive | Action::AcceptOwnership
            ) {
                assert!(e.events.is_empty(), "step {step}: reports nothing");
            }
            match e.action {
                Action::ChannelCreate => {
                    let channel = e.channel.expect("channel");
                    let c = &v.channels[channel];
                    assert_eq!(self.names.of(&c.initiator), party);
                    take_draw(&mut draws, &c.ephemeral_secret, || {
                        "create draws the ephemeral key EK_A".into()
                    });
                    take_draw(&mut draws, &c.kem_randomness, || {
                        "then the ML-KEM encapsulation's randomness".into()
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
                    assert_eq!(m.content_type, 0, "application data");
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
                    self.take_new_key(party, step, NextEpoch::Next, &mut draws);
                    let roster = self.roster[party].expect("a roster");
                    let expected: Vec<_> = self
                        .others(party, roster)
                        .into_iter()
                        .map(Parts::key_to)
                        .collect();
                    self.check_sent(party, &e.sent, &expected, &mut draws);
                }
                Action::Resync => {
                    // A new epoch that jumps ahead, sent with the request to every other
                    // member.
                    self.take_new_key(party, step, NextEpoch::ResyncJump, &mut draws);
                    let roster = self.roster[party].expect("a roster");
                    let expected: Vec<_> = self
                        .others(party, roster)
                        .into_iter()
                        .map(|to| Parts {
                            resync: true,
                            ..Parts::key_to(to)
                        })
                        .collect();
                    self.check_sent(party, &e.sent, &expected, &mut draws);
                }
                Action::OfferOwnership => self.offer_ownership(e, &mut draws),
                Action::AcceptOwnership => self.accept_ownership(step, e, &mut draws),
                Action::Leave => {
                    let roster = self.roster[party].expect("a roster");
                    let owner = self.roster_owner(roster);
                    assert_ne!(owner, party, "the owner cannot leave");
                    let expected = [Parts {
                        to: owner,
                        leave: true,
                        ..Parts::default()
                    }];
                    self.check_sent(party, &e.sent, &expected, &mut draws);
                    self.own[party] = None;
                }
                Action::Lost => {
                    let control = &v.controls[e.control.expect("control")];
                    assert_eq!(
                        self.names.of(&control.receiver),
                        party,
                        "step {step}: lost to its receiver"
                    );
                    let message = control.channel_message;
                    assert!(message < self.sent_channel_messages, "lost once sent");
                    assert!(
                        !self.received.contains(&message) && self.lost.insert(message),
                        "step {step}: lost, never received"
                    );
                }
                Action::Encrypt => self.encrypt(party, e, &mut draws),
                Action::Decrypt => self.decrypt(step, e, &mut coverage),
            }
            assert!(draws.is_empty(), "step {step}: draws left over: {draws:?}");
            for r in v.rejected.iter().filter(|r| r.after_step == step) {
                let checked = check_rejected(self, r);
                coverage.signatures_checked += usize::from(checked.signature);
                coverage.errors_derived += usize::from(checked.error_derived);
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
        assert_eq!(
            party,
            self.names.of(&self.v.group.founder),
            "the founder creates the group"
        );
        take_draw(draws, &self.v.group.salt, || {
            format!("step {step}: the first draw is the group's salt")
        });
        let roster = self.roster_of_version(1);
        let entries: Vec<(usize, u64)> = std::iter::once(party)
            .chain(members.iter().copied())
            .map(|m| (m, 1))
            .collect();
        assert_eq!(
            self.roster_entries(roster),
            entries,
            "roster 1: the owner, then the members, all added at 1"
        );
        assert!(self.v.rosters[roster].transfers.is_empty());
        self.hold_roster(party, roster);
        self.take_new_key(party, step, NextEpoch::Next, draws);
        let expected: Vec<_> = members
            .iter()
            .map(|&m| Parts {
                roster: Some(roster),
                ..Parts::key_to(m)
            })
            .collect();
        self.check_sent(party, &e.sent, &expected, draws);
    }

    /// `Group::join` or `Group::receive` of a control: every part as 6.3 says.
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
        let events = self.expected_events(party, control, old_roster);
        let mut new_epoch = false;
        match (control.roster, old_roster) {
            (Some(version), None) => {
                let roster = self.roster_of_version(version);
                assert!(
                    self.roster_members(roster).contains(&party) && !control.leave,
                    "step {step}: a welcome lists the joiner"
                );
                assert_eq!(self.roster_owner(roster), from, "a roster from its owner");
                self.hold_roster(party, roster);
                new_epoch = true;
            }
            (None, None) => panic!("step {step}: a welcome carries the roster"),
            (Some(version), Some(old)) => {
                let roster = self.roster_of_version(version);
                assert_eq!(self.roster_owner(roster), from, "a roster from its owner");
                if version > v.rosters[old].version {
                    let old_version = v.rosters[old].version;
                    let (old_members, new) =
                        (self.roster_members(old), self.roster_members(roster));
                    assert!(
                        self.roster_entries(roster)
                            .iter()
                            .all(|(m, added_at)| !old_members.contains(m)
                                || *added_at <= old_version),
                        "step {step}: nobody is added back in these vectors"
                    );
                    assert!(
                        new.iter().all(|m| old_members.contains(m)),
                        "step {step}: nobody is added in these vectors"
                    );
                    self.hold_roster(party, roster);
                    self.offer[party] = None;
                    if !new.contains(&party) {
                        self.own[party] = None;
                    } else if old_members.iter().any(|m| !new.contains(m)) {
                        // A removal: a new epoch for the remaining members.
                        new_epoch = true;
                    }
                } else {
                    // Not newer: skipped, with another part to apply.
                    assert_eq!(roster, old, "step {step}: the held roster again");
                    assert!(
                        control.sender_key.is_some() || control.resync || control.leave,
                        "step {step}: a roster alone must be newer"
                    );
                }
            }
            (None, Some(_)) => {}
        }
        let roster = self.roster[party].expect("a roster");
        let mut expected = Vec::new();
        if new_epoch {
            self.take_new_key(party, step, NextEpoch::Next, draws);
            expected = self
                .others(party, roster)
                .into_iter()
                .map(Parts::key_to)
                .collect();
        }
        self.install(party, control);
        let members = self.roster_members(roster);
        if control.leave {
            assert_eq!(
                self.roster_owner(roster),
                party,
                "a leave goes to the owner"
            );
            assert!(members.contains(&from), "from a member");
        }
        if control.resync {
            // The answer: the owner's roster and key, another member's key.
            assert!(from != party && members.contains(&from), "from a member");
            let owner = self.roster_owner(roster) == party;
            expected.push(Parts {
                to: from,
                roster: owner.then_some(roster),
                sender_key: self.own[party].is_some(),
                ..Parts::default()
            });
        }
        if let Some(t) = control.offer {
            let transfer = &v.owner_transfers[t];
            assert_eq!(self.roster_owner(roster), from, "an offer from the owner");
            assert_eq!(self.names.of(&transfer.previous_owner), from);
            assert_eq!(self.names.of(&transfer.new_owner), party, "an offer to me");
            assert_eq!(
                transfer.version,
                v.rosters[roster].version + 1,
                "for the next version"
            );
            self.offer[party] = Some(t);
        }
        assert_eq!(e.events, events, "step {step}: events");
        self.check_sent(party, &e.sent, &expected, draws);
    }

    fn remove_member(&mut self, step: usize, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let party = self.names.of(&e.party);
        let removed = self.names.of(e.member.as_ref().expect("member"));
        let old = self.roster[party].expect("a roster");
        assert_eq!(self.roster_owner(old), party, "only the owner removes");
        let roster = self.roster_of_version(self.v.rosters[old].version + 1);
        let remaining: Vec<(usize, u64)> = self
            .roster_entries(old)
            .into_iter()
            .filter(|&(m, _)| m != removed)
            .collect();
        assert_eq!(
            self.roster_entries(roster),
            remaining,
            "the new roster drops the member, keeping the order and added_at"
        );
        assert_eq!(
            self.v.rosters[roster].transfers, self.v.rosters[old].transfers,
            "the chain of owners stays"
        );
        self.hold_roster(party, roster);
        self.take_new_key(party, step, NextEpoch::Next, draws);
        let mut expected: Vec<_> = self
            .others(party, roster)
            .into_iter()
            .map(|m| Parts {
                roster: Some(roster),
                ..Parts::key_to(m)
            })
            .collect();
        expected.push(Parts {
            to: removed,
            roster: Some(roster),
            ..Parts::default()
        });
        self.check_sent(party, &e.sent, &expected, draws);
    }

    /// The owner signs a transfer to `member` for its roster version + 1 and offers it.
    fn offer_ownership(&mut self, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let party = self.names.of(&e.party);
        let member = self.names.of(e.member.as_ref().expect("member"));
        let roster = self.roster[party].expect("a roster");
        assert_eq!(self.roster_owner(roster), party, "only the owner offers");
        assert!(member != party && self.roster_members(roster).contains(&member));
        let t = self.signed_transfers;
        self.signed_transfers += 1;
        let transfer = &self.v.owner_transfers[t];
        assert_eq!(
            (
                transfer.version,
                self.names.of(&transfer.previous_owner),
                self.names.of(&transfer.new_owner)
            ),
            (self.v.rosters[roster].version + 1, party, member),
            "owner transfer {t}"
        );
        let expected = [Parts {
            to: member,
            offer: Some(t),
            ..Parts::default()
        }];
        self.check_sent(party, &e.sent, &expected, draws);
    }

    /// The member offered the group signs the next roster: itself first, the others in
    /// their order, the transfer appended.
    fn accept_ownership(&mut self, step: usize, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let party = self.names.of(&e.party);
        let t = self.offer[party].take().expect("an offer");
        let old = self.roster[party].expect("a roster");
        let version = self.v.rosters[old].version + 1;
        assert_eq!(self.v.owner_transfers[t].version, version);
        let roster = self.roster_of_version(version);
        let mut entries = self.roster_entries(old);
        entries.sort_by_key(|&(m, _)| m != party);
        assert_eq!(
            self.roster_entries(roster),
            entries,
            "step {step}: the new owner first, added_at kept"
        );
        let mut transfers = self.v.rosters[old].transfers.clone();
        transfers.push(t);
        assert_eq!(self.v.rosters[roster].transfers, transfers);
        self.hold_roster(party, roster);
        let events = vec![EventVector::OwnerChanged {
            version,
            owner: e.party.clone(),
        }];
        assert_eq!(e.events, events, "step {step}: events");
        let expected: Vec<_> = self
            .others(party, roster)
            .into_iter()
            .map(|to| Parts {
                to,
                roster: Some(roster),
                ..Parts::default()
            })
            .collect();
        self.check_sent(party, &e.sent, &expected, draws);
    }

    fn encrypt(&mut self, party: usize, e: &TimelineEvent, draws: &mut VecDeque<String>) {
        let v = self.v;
        let index = e.group_message.expect("group_message");
        assert_eq!(
            index, self.sent_group_messages,
            "group messages are listed in sending order"
        );
        self.sent_group_messages += 1;
        // Every group message draws its salt, and nothing else.
        take_draw(draws, &v.group_messages[index].salt, || {
            format!("group message {index} draws its salt")
        });
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
        let first = self
            .kept_epochs(party, sender)
            .into_iter()
            .find(|(epoch, _)| *epoch == m.epoch)
            .map(|(_, first)| first);
        let read = self.decrypted.get(&(party, sender, m.epoch));
        assert!(
            !read.is_some_and(|read| read.contains(&m.iteration)),
            "step {step}: a message is read once"
        );
        assert!(
            first.is_some_and(|first| first <= m.iteration),
            "step {step}: {} keeps {}'s key of epoch {} from before iteration {}",
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
        let padded = aes_gcm_open(&key, &nonce, &bytes(&m.header), &bytes(&m.ciphertext))
            .expect("the message opens");
        assert_eq!(unpadded(&padded), Some(bytes(&m.plaintext)));
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
        coverage.old_epoch_read_late |= self
            .held
            .range((party, sender, m.epoch + 1)..=(party, sender, u32::MAX))
            .next()
            .is_some();
        self.decrypted
            .entry((party, sender, m.epoch))
            .or_default()
            .insert(m.iteration);
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
    let salt = array::<MESSAGE_SALT_LEN>(&m.salt);
    let (aes_key, nonce) = check_group_message_keys(
        &what,
        &listed_keys!(m),
        &own.chain_key,
        own.iteration,
        &salt,
    );
    let header = proto::GroupHeader {
        group_id: group_id.to_vec(),
        sender: sender_key.to_vec(),
        epoch: own.epoch,
        iteration: own.iteration,
        salt: salt.to_vec(),
    }
    .encode_to_vec();
    check!(m.header, header, "{what}: header");
    let plaintext = bytes(&m.plaintext);
    assert_eq!(
        m.plaintext_utf8.as_bytes(),
        plaintext,
        "{what}: plaintext_utf8"
    );
    let padded_plaintext = padded(&plaintext);
    check!(
        m.padded_plaintext,
        padded_plaintext,
        "{what}: padded_plaintext"
    );
    let ciphertext = aes_gcm_seal(&aes_key, &nonce, &header, &padded_plaintext);
    check!(m.ciphertext, ciphertext, "{what}: ciphertext");
    let input = group_signature_input(&header, &ciphertext);
    check!(m.signature_input, input, "{what}: signature_input");
    let signature = ed25519_sign(&own.seed, &input);
    check!(m.signature, signature, "{what}: signature");
    let message = proto::GroupMessage {
        version: GROUP_VERSION,
        header,
        ciphertext,
        signature: signature.to_vec(),
    }
    .encode_to_vec();
    check!(m.message, message, "{what}: message");
}

/// The keys of a group message `steps` KDF_CK steps into the chain that starts at
/// `chain_key`, its AES key and nonce derived with the message's `salt`; returns the AES key
/// and nonce.
fn check_group_message_keys(
    what: &str,
    listed: &ListedKeys,
    chain_key: &[u8; 32],
    steps: u32,
    salt: &[u8; MESSAGE_SALT_LEN],
) -> ([u8; 32], [u8; 12]) {
    let chain_key = chain_key_at(chain_key, steps);
    check!(listed.chain_key, chain_key, "{what}: chain_key");
    let (message_key, next_chain_key) = kdf_ck(&chain_key);
    check!(listed.message_key, message_key, "{what}: message_key");
    check!(
        listed.next_chain_key,
        next_chain_key,
        "{what}: next_chain_key"
    );
    let (aes_key, nonce) = salted_message_aead(&message_key, salt, GROUP_MESSAGE_INFO);
    check!(listed.aes_key, aes_key, "{what}: aes_key");
    check!(listed.nonce, nonce, "{what}: nonce");
    (aes_key, nonce)
}
