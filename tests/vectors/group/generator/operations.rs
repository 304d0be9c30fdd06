//! The group calls, each checked against the model and listed with its draws, the controls
//! it sends and the events it reports; and the group messages.

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{Group, GroupEvent, GROUP_VERSION};

use super::sending::Expected;
use super::{event, name, named, Generator, GROUP_ID};
use crate::vectors::group::format::{Action, EventVector, GroupMessageVector, TimelineEvent};
use crate::vectors::group::member::event_vectors;
use crate::vectors::json::bytes;
use crate::vectors::primitives::{
    aes_gcm_seal, ed25519_sign, group_signature_input, kdf_ck, message_aead, GROUP_MESSAGE_INFO,
};

impl Generator {
    /// The events a group call reported, named.
    fn events(&self, events: &[GroupEvent]) -> Vec<EventVector> {
        event_vectors(events, |key| name(self.party(key)))
    }

    /// Lists a group call of `party`: its draws and the controls it sent.
    fn push_call(&mut self, mut e: TimelineEvent, draws: &[[u8; 32]], sent: &[usize]) {
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.to_vec();
        self.push_event(e);
    }

    /// The owner creates the group with `members` and welcomes them.
    pub(super) fn group_create(&mut self, owner: usize, members: &[usize]) -> Vec<usize> {
        let cards: Vec<_> = members
            .iter()
            .map(|&m| self.members[m].identity.card().clone())
            .collect();
        let member = &mut self.members[owner];
        let (group, outgoing) = Group::create(
            &mut self.rng,
            &member.identity,
            &GROUP_ID,
            &cards,
            &mut member.channels,
        )
        .expect("Group::create");
        member.group = Some(group);
        let draws = self.rng.take_all();
        let all: Vec<usize> = std::iter::once(owner)
            .chain(members.iter().copied())
            .collect();
        self.models[owner].roster = Some(self.sign_roster(1, &all));
        let expected = Expected::to_each(members, true, true);
        let sent = self.record_sent(owner, &outgoing, &draws, Some(0), &expected);
        let mut e = event(owner, Action::GroupCreate);
        e.members = Some(members.iter().map(|&m| name(m)).collect());
        self.push_call(e, &draws, &sent);
        sent
    }

    /// `party` joins from the owner's welcome `control`.
    pub(super) fn group_join(&mut self, party: usize, control: usize) -> Vec<usize> {
        let welcome = self.controls[control].clone();
        let owner = named(&welcome.sender);
        let message = bytes(&self.channel_messages[welcome.channel_message].message);
        let owner_key = self.key(owner);
        let member = &mut self.members[party];
        let (group, received) = Group::join(
            &mut self.rng,
            &member.identity,
            &mut member.channels,
            &owner_key,
            &message,
        )
        .expect("Group::join");
        member.group = Some(group);
        let draws = self.rng.take_all();
        self.channel_received(party, welcome.channel_message);
        let roster_version = welcome.roster.expect("a welcome carries the roster");
        self.models[party].roster = Some(self.roster_of_version(roster_version));
        let expected = Expected::to_each(&self.others(party), false, true);
        let sent = self.record_sent(party, &received.outgoing, &draws, Some(0), &expected);
        let events = self.events(&received.events);
        let epoch = welcome.sender_key.as_ref().expect("the owner's key").epoch;
        assert_eq!(
            events,
            vec![EventVector::SenderKey {
                member: name(owner),
                epoch
            }]
        );
        let mut e = event(party, Action::GroupJoin);
        e.from = Some(name(owner));
        e.control = Some(control);
        e.events = events;
        self.push_call(e, &draws, &sent);
        sent
    }

    /// `party` receives `control`.
    pub(super) fn group_receive(&mut self, party: usize, control: usize) -> Vec<usize> {
        let incoming = self.controls[control].clone();
        let from = named(&incoming.sender);
        assert_eq!(incoming.receiver, name(party));
        let message = bytes(&self.channel_messages[incoming.channel_message].message);
        let from_key = self.key(from);
        let member = &mut self.members[party];
        let received = member
            .group
            .as_mut()
            .expect("a group")
            .receive(&mut self.rng, &mut member.channels, &from_key, &message)
            .expect("Group::receive");
        let draws = self.rng.take_all();
        self.channel_received(party, incoming.channel_message);

        // What the model expects.
        let mut expected_events = Vec::new();
        let mut new_key = None;
        let mut expected = Vec::new();
        if let Some(version) = incoming.roster {
            let roster = self.roster_of_version(version);
            let old = self.roster_members(self.models[party].roster.expect("a roster"));
            let new = self.roster_members(roster);
            let removed: Vec<usize> = old.iter().copied().filter(|m| !new.contains(m)).collect();
            let added: Vec<usize> = new.iter().copied().filter(|m| !old.contains(m)).collect();
            assert!(added.is_empty(), "the vectors do not add members");
            self.models[party].roster = Some(roster);
            if new.contains(&party) {
                expected_events.push(EventVector::RosterChanged {
                    version,
                    added: Vec::new(),
                    removed: removed.iter().map(|&m| name(m)).collect(),
                });
                if !removed.is_empty() {
                    // A removal: a new epoch, sent to the other remaining members.
                    new_key = Some(self.next_epoch(party));
                    expected = Expected::to_each(&self.others(party), false, true);
                }
            } else {
                expected_events.push(EventVector::Removed { version });
                self.models[party].own = None;
            }
        }
        if let Some(key) = &incoming.sender_key {
            expected_events.push(EventVector::SenderKey {
                member: key.sender.clone(),
                epoch: key.epoch,
            });
        }
        assert!(!incoming.leave, "the vectors have no leave requests");
        let sent = self.record_sent(party, &received.outgoing, &draws, new_key, &expected);
        let events = self.events(&received.events);
        assert_eq!(events, expected_events, "group events");
        let mut e = event(party, Action::GroupReceive);
        e.from = Some(name(from));
        e.control = Some(control);
        e.events = events;
        self.push_call(e, &draws, &sent);
        sent
    }

    /// The owner removes `removed`: the remaining members get the new roster and the owner's
    /// new epoch, the removed one the roster alone.
    pub(super) fn remove_member(&mut self, owner: usize, removed: usize) -> Vec<usize> {
        let removed_key = self.key(removed);
        let member = &mut self.members[owner];
        let outgoing = member
            .group
            .as_mut()
            .expect("a group")
            .remove_member(
                &mut self.rng,
                &member.identity,
                &removed_key,
                &mut member.channels,
            )
            .expect("Group::remove_member");
        let draws = self.rng.take_all();
        let old = self.models[owner].roster.expect("a roster");
        let remaining: Vec<usize> = self
            .roster_members(old)
            .into_iter()
            .filter(|&m| m != removed)
            .collect();
        let version = self.rosters[old].version + 1;
        self.models[owner].roster = Some(self.sign_roster(version, &remaining));
        let mut expected = Expected::to_each(&self.others(owner), true, true);
        expected.extend(Expected::to_each(&[removed], true, false));
        let epoch = self.next_epoch(owner);
        let sent = self.record_sent(owner, &outgoing, &draws, Some(epoch), &expected);
        let mut e = event(owner, Action::RemoveMember);
        e.member = Some(name(removed));
        self.push_call(e, &draws, &sent);
        sent
    }

    /// `party` moves to a new epoch.
    pub(super) fn rekey(&mut self, party: usize) -> Vec<usize> {
        let member = &mut self.members[party];
        let outgoing = member
            .group
            .as_mut()
            .expect("a group")
            .rekey(&mut self.rng, &mut member.channels)
            .expect("Group::rekey");
        let draws = self.rng.take_all();
        let expected = Expected::to_each(&self.others(party), false, true);
        let epoch = self.next_epoch(party);
        let sent = self.record_sent(party, &outgoing, &draws, Some(epoch), &expected);
        self.push_call(event(party, Action::Rekey), &draws, &sent);
        sent
    }

    /// `party` sends a group message.
    pub(super) fn encrypt(&mut self, party: usize, plaintext: &str) -> usize {
        let bytes = self.members[party]
            .group()
            .encrypt(plaintext.as_bytes())
            .expect("Group::encrypt");
        let sender = self.key(party);
        let own = self.models[party].own.as_mut().expect("a sender key");
        let (chain_key, iteration, epoch, seed) =
            (own.chain_key, own.iteration, own.epoch, own.seed);
        let (message_key, next_chain_key) = kdf_ck(&chain_key);
        own.chain_key = next_chain_key;
        own.iteration += 1;
        let (aes_key, nonce) = message_aead(&message_key, GROUP_MESSAGE_INFO);
        let header = v1::GroupHeader {
            group_id: GROUP_ID.to_vec(),
            sender: sender.to_vec(),
            epoch,
            iteration,
        }
        .encode_to_vec();
        let ciphertext = aes_gcm_seal(&aes_key, &nonce, &header, plaintext.as_bytes());
        let signature_input = group_signature_input(&header, &ciphertext);
        let signature = ed25519_sign(&seed, &signature_input);
        let message = v1::GroupMessage {
            version: GROUP_VERSION,
            header: header.clone(),
            ciphertext: ciphertext.clone(),
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        assert_eq!(hex::encode(&message), hex::encode(&bytes), "group message");
        let index = self.group_messages.len();
        self.group_messages.push(GroupMessageVector {
            index,
            sender: name(party),
            epoch,
            iteration,
            chain_key: hex::encode(chain_key),
            message_key: hex::encode(message_key),
            next_chain_key: hex::encode(next_chain_key),
            aes_key: hex::encode(aes_key),
            nonce: hex::encode(nonce),
            header: hex::encode(&header),
            plaintext: hex::encode(plaintext),
            plaintext_utf8: plaintext.into(),
            ciphertext: hex::encode(&ciphertext),
            signature_input: hex::encode(&signature_input),
            signature: hex::encode(signature),
            message: hex::encode(&message),
        });
        let mut e = event(party, Action::Encrypt);
        e.group_message = Some(index);
        self.push_event(e);
        index
    }

    /// `party` decrypts group message `index`.
    pub(super) fn decrypt(&mut self, party: usize, index: usize) {
        let message = &self.group_messages[index];
        let (bytes, plaintext, epoch) = (
            bytes(&message.message),
            message.plaintext_utf8.clone(),
            message.epoch,
        );
        let sender = named(&message.sender);
        let decrypted = self.members[party]
            .group()
            .decrypt(&bytes)
            .unwrap_or_else(|error| {
                panic!("{} decrypts group message {index}: {error:?}", name(party))
            });
        assert_eq!(decrypted.plaintext, plaintext.as_bytes());
        assert_eq!(self.party(&decrypted.sender), sender);
        assert_eq!(decrypted.epoch, epoch);
        let mut e = event(party, Action::Decrypt);
        e.group_message = Some(index);
        self.push_event(e);
    }
}
