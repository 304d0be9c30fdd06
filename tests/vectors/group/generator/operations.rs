//! The group calls, each checked against the model and listed with its draws, the controls
//! it sends and the events it reports; and the group messages.

use std::collections::BTreeMap;

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_SALT_LEN, group::GROUP_VERSION, Channel, Group, GroupEvent, Identity, Received,
    Result,
};

use super::sending::{Expected, NewKey};
use super::{event, name, named, Generator};
use crate::vectors::group::format::{
    Action, EventVector, GroupIdVector, GroupMessageVector, TimelineEvent,
};
use crate::vectors::group::member::event_vectors;
use crate::vectors::json::bytes;
use crate::vectors::primitives::{
    aes_gcm_seal, ed25519_sign, group_id, group_id_input, group_signature_input, kdf_ck, padded,
    salted_message_aead, GROUP_MESSAGE_INFO, MESSAGE_SALT_LEN,
};
use crate::vectors::rng::RecordingRng;

impl Generator {
    /// The events a group call reported, named.
    fn events(&self, events: &[GroupEvent]) -> Vec<EventVector> {
        event_vectors(events, |key| name(self.party(key)))
    }

    /// Lists a group call: its draws, the controls it sent and the events it reported,
    /// which must be `expected_events`.
    fn push_call(
        &mut self,
        mut e: TimelineEvent,
        draws: &[Vec<u8>],
        sent: &[usize],
        (events, expected_events): (&[GroupEvent], Vec<EventVector>),
    ) {
        let events = self.events(events);
        assert_eq!(events, expected_events, "group events of {:?}", e.action);
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.to_vec();
        e.events = events;
        self.push_event(e);
    }

    /// The owner creates the group with `members` and welcomes them.
    pub(super) fn group_create(&mut self, owner: usize, members: &[usize]) -> Vec<usize> {
        let cards: Vec<_> = members
            .iter()
            .map(|&m| self.members[m].identity.card().clone())
            .collect();
        let member = &mut self.members[owner];
        let (group, received) = Group::create(
            &mut self.rng,
            &member.identity,
            &cards,
            &mut member.channels,
        )
        .expect("Group::create");
        let draws = self.rng.take_all();
        // The first draw is the salt the group id is made of.
        let salt = &draws[0];
        assert_eq!(
            salt.len(),
            GROUP_SALT_LEN,
            "Group::create draws the salt first"
        );
        let founder_key = self.key(owner);
        let id = group_id(&founder_key, salt);
        assert_eq!(group.group_id(), id, "the group id");
        assert_eq!(group.founder(), founder_key);
        self.group = Some(GroupIdVector {
            founder: name(owner),
            founder_key: hex::encode(founder_key),
            salt: hex::encode(salt),
            group_id_input: hex::encode(group_id_input(&founder_key, salt)),
            group_id: hex::encode(id),
        });
        self.members[owner].group = Some(group);
        let all: Vec<(usize, u64)> = std::iter::once(owner)
            .chain(members.iter().copied())
            .map(|m| (m, 1))
            .collect();
        self.models[owner].roster = Some(self.sign_roster(owner, 1, &all, Vec::new()));
        let expected = Expected::to_each(members, true, true);
        let sent = self.record_sent(
            owner,
            received.outgoing(),
            &draws[1..],
            Some(NewKey::Epoch(0)),
            &expected,
        );
        let mut e = event(owner, Action::GroupCreate);
        e.members = Some(members.iter().map(|&m| name(m)).collect());
        self.push_call(e, &draws, &sent, (received.events(), Vec::new()));
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
        let version = welcome.roster.expect("a welcome carries the roster");
        self.models[party].roster = Some(self.roster_of_version(version));
        let expected = Expected::to_each(&self.others(party), false, true);
        let sent = self.record_sent(
            party,
            received.outgoing(),
            &draws,
            Some(NewKey::Epoch(0)),
            &expected,
        );
        let epoch = welcome.sender_key.as_ref().expect("the owner's key").epoch;
        let expected_events = vec![
            EventVector::Joined { version },
            EventVector::SenderKey {
                member: name(owner),
                epoch,
            },
        ];
        let mut e = event(party, Action::GroupJoin);
        e.from = Some(name(owner));
        e.control = Some(control);
        self.push_call(e, &draws, &sent, (received.events(), expected_events));
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
            .unwrap_or_else(|error| {
                panic!("{} receives control {control}: {error:?}", name(party))
            });
        let draws = self.rng.take_all();
        self.channel_received(party, incoming.channel_message);

        // What the model expects, part by part.
        let mut expected_events = Vec::new();
        let mut new_key = None;
        let mut expected = Vec::new();
        let old = self.models[party].roster.expect("a roster");
        if let Some(version) = incoming.roster {
            let roster = self.roster_of_version(version);
            let old_version = self.rosters[old].version;
            if version > old_version {
                let (old_members, new_members) =
                    (self.roster_members(old), self.roster_members(roster));
                let removed: Vec<usize> = old_members
                    .iter()
                    .copied()
                    .filter(|m| !new_members.contains(m))
                    .collect();
                assert!(
                    new_members.iter().all(|m| old_members.contains(m)),
                    "the vectors do not add members"
                );
                self.models[party].roster = Some(roster);
                self.models[party].offer = None;
                let owner = self.roster_owner(roster);
                if owner != self.roster_owner(old) {
                    expected_events.push(EventVector::OwnerChanged {
                        version,
                        owner: name(owner),
                    });
                }
                if new_members.contains(&party) {
                    expected_events.push(EventVector::RosterChanged {
                        version,
                        added: Vec::new(),
                        removed: removed
                            .iter()
                            .filter(|&&m| m != party)
                            .map(|&m| name(m))
                            .collect(),
                    });
                }
                if !new_members.contains(&party) {
                    expected_events.push(EventVector::Removed { version });
                    self.models[party].own = None;
                } else if !removed.is_empty() {
                    // A removal: a new epoch, sent to the other remaining members.
                    new_key = Some(NewKey::Epoch(self.next_epoch(party)));
                    expected = Expected::to_each(&self.others(party), false, true);
                }
            } else {
                // The roster held, with more: skipped.
                assert_eq!(roster, old, "only the held roster comes again");
                assert!(
                    incoming.sender_key.is_some(),
                    "a roster alone must be newer"
                );
            }
        }
        if let Some(key) = &incoming.sender_key {
            expected_events.push(EventVector::SenderKey {
                member: key.sender.clone(),
                epoch: key.epoch,
            });
        }
        if incoming.leave {
            expected_events.push(EventVector::LeaveRequested { member: name(from) });
        }
        if incoming.resync {
            // The answer: the owner's roster and key, any other member's key.
            expected_events.push(EventVector::ResyncRequested { member: name(from) });
            let roster = self.models[party].roster.expect("a roster");
            expected.push(Expected {
                to: from,
                roster: self.roster_owner(roster) == party,
                sender_key: true,
                ..Expected::default()
            });
        }
        if let Some(transfer) = incoming.offer {
            expected_events.push(EventVector::OwnershipOffered {
                owner: name(from),
                version: self.owner_transfers[transfer].version,
            });
            self.models[party].offer = Some(transfer);
        }
        let sent = self.record_sent(party, received.outgoing(), &draws, new_key, &expected);
        let mut e = event(party, Action::GroupReceive);
        e.from = Some(name(from));
        e.control = Some(control);
        self.push_call(e, &draws, &sent, (received.events(), expected_events));
        sent
    }

    /// Control `control` never reaches its receiver.
    pub(super) fn lose(&mut self, control: usize) {
        let receiver = named(&self.controls[control].receiver);
        let mut e = event(receiver, Action::Lost);
        e.control = Some(control);
        self.push_event(e);
    }

    /// A group call of `party` that returns a [`Received`], on its group and channels.
    fn call(
        &mut self,
        party: usize,
        call: impl FnOnce(
            &mut Group,
            &mut RecordingRng,
            &Identity,
            &mut BTreeMap<[u8; 32], Channel>,
        ) -> Result<Received>,
    ) -> (Received, Vec<Vec<u8>>) {
        let member = &mut self.members[party];
        let group = member.group.as_mut().expect("a group");
        let received = call(group, &mut self.rng, &member.identity, &mut member.channels)
            .unwrap_or_else(|error| panic!("a group call of {}: {error:?}", name(party)));
        (received, self.rng.take_all())
    }

    /// The owner removes `removed`: the remaining members get the new roster and the owner's
    /// new epoch, the removed one the roster alone.
    pub(super) fn remove_member(&mut self, owner: usize, removed: usize) -> Vec<usize> {
        let removed_key = self.key(removed);
        let (received, draws) = self.call(owner, |group, rng, identity, channels| {
            group.remove_member(rng, identity, &removed_key, channels)
        });
        let old = self.models[owner].roster.expect("a roster");
        assert_eq!(self.roster_owner(old), owner, "only the owner removes");
        let remaining: Vec<(usize, u64)> = self
            .roster_entries(old)
            .into_iter()
            .filter(|&(m, _)| m != removed)
            .collect();
        let version = self.rosters[old].version + 1;
        let transfers = self.rosters[old].transfers.clone();
        self.models[owner].roster = Some(self.sign_roster(owner, version, &remaining, transfers));
        let mut expected = Expected::to_each(&self.others(owner), true, true);
        expected.extend(Expected::to_each(&[removed], true, false));
        let epoch = NewKey::Epoch(self.next_epoch(owner));
        let sent = self.record_sent(owner, received.outgoing(), &draws, Some(epoch), &expected);
        let mut e = event(owner, Action::RemoveMember);
        e.member = Some(name(removed));
        self.push_call(e, &draws, &sent, (received.events(), Vec::new()));
        sent
    }

    /// `party` moves to a new epoch.
    pub(super) fn rekey(&mut self, party: usize) -> Vec<usize> {
        let (received, draws) =
            self.call(party, |group, rng, _, channels| group.rekey(rng, channels));
        let expected = Expected::to_each(&self.others(party), false, true);
        let epoch = NewKey::Epoch(self.next_epoch(party));
        let sent = self.record_sent(party, received.outgoing(), &draws, Some(epoch), &expected);
        let e = event(party, Action::Rekey);
        self.push_call(e, &draws, &sent, (received.events(), Vec::new()));
        sent
    }

    /// `party` asks every other member for what it missed, with a new sender key whose
    /// epoch jumps ahead.
    pub(super) fn resync(&mut self, party: usize) -> Vec<usize> {
        let (received, draws) =
            self.call(party, |group, rng, _, channels| group.resync(rng, channels));
        let expected: Vec<Expected> = self
            .others(party)
            .into_iter()
            .map(|to| Expected {
                to,
                sender_key: true,
                resync: true,
                ..Expected::default()
            })
            .collect();
        let new_key = Some(NewKey::ResyncJump);
        let sent = self.record_sent(party, received.outgoing(), &draws, new_key, &expected);
        let e = event(party, Action::Resync);
        self.push_call(e, &draws, &sent, (received.events(), Vec::new()));
        sent
    }

    /// The owner offers the group to `new_owner`: a transfer for its roster version + 1.
    pub(super) fn offer_ownership(&mut self, owner: usize, new_owner: usize) -> Vec<usize> {
        let new_owner_key = self.key(new_owner);
        let (received, draws) = self.call(owner, |group, rng, identity, channels| {
            group.offer_ownership(rng, identity, &new_owner_key, channels)
        });
        let roster = self.models[owner].roster.expect("a roster");
        assert_eq!(self.roster_owner(roster), owner, "only the owner offers");
        let version = self.rosters[roster].version + 1;
        let transfer = self.sign_transfer(owner, version, new_owner);
        let expected = [Expected {
            to: new_owner,
            offer: Some(transfer),
            ..Expected::default()
        }];
        let sent = self.record_sent(owner, received.outgoing(), &draws, None, &expected);
        let mut e = event(owner, Action::OfferOwnership);
        e.member = Some(name(new_owner));
        self.push_call(e, &draws, &sent, (received.events(), Vec::new()));
        sent
    }

    /// `party` takes over the group it was offered: the next roster, signed by it, with
    /// itself first and the transfer appended, to every other member.
    pub(super) fn accept_ownership(&mut self, party: usize) -> Vec<usize> {
        let (received, draws) = self.call(party, |group, rng, identity, channels| {
            group.accept_ownership(rng, identity, channels)
        });
        let transfer = self.models[party].offer.take().expect("an offer");
        let old = self.models[party].roster.expect("a roster");
        let version = self.rosters[old].version + 1;
        assert_eq!(self.owner_transfers[transfer].version, version);
        let mut members = self.roster_entries(old);
        members.sort_by_key(|&(m, _)| m != party);
        let mut transfers = self.rosters[old].transfers.clone();
        transfers.push(transfer);
        self.models[party].roster = Some(self.sign_roster(party, version, &members, transfers));
        let expected = Expected::to_each(&self.others(party), true, false);
        let sent = self.record_sent(party, received.outgoing(), &draws, None, &expected);
        let events = vec![EventVector::OwnerChanged {
            version,
            owner: name(party),
        }];
        let e = event(party, Action::AcceptOwnership);
        self.push_call(e, &draws, &sent, (received.events(), events));
        sent
    }

    /// `party` leaves: it asks the owner to remove it, and stops sending.
    pub(super) fn leave(&mut self, party: usize) -> Vec<usize> {
        let (received, draws) =
            self.call(party, |group, rng, _, channels| group.leave(rng, channels));
        let roster = self.models[party].roster.expect("a roster");
        let expected = [Expected {
            to: self.roster_owner(roster),
            leave: true,
            ..Expected::default()
        }];
        let sent = self.record_sent(party, received.outgoing(), &draws, None, &expected);
        self.models[party].own = None;
        let e = event(party, Action::Leave);
        self.push_call(e, &draws, &sent, (received.events(), Vec::new()));
        sent
    }

    /// `party` sends a group message: the call draws the message's salt.
    pub(super) fn encrypt(&mut self, party: usize, plaintext: &str) -> usize {
        let bytes = self.members[party]
            .group()
            .encrypt(&mut self.rng, plaintext.as_bytes())
            .expect("Group::encrypt");
        let draws = self.rng.take_all();
        let [salt] = draws.as_slice() else {
            panic!(
                "Group::encrypt drew {} values, the vectors assume 1",
                draws.len()
            );
        };
        let salt: [u8; MESSAGE_SALT_LEN] = salt.as_slice().try_into().expect("a 16-byte salt");
        let sender = self.key(party);
        let group_id = self.group_id();
        let own = self.models[party].own.as_mut().expect("a sender key");
        let (chain_key, iteration, epoch, seed) =
            (own.chain_key, own.iteration, own.epoch, own.seed);
        let (message_key, next_chain_key) = kdf_ck(&chain_key);
        own.chain_key = next_chain_key;
        own.iteration += 1;
        let (aes_key, nonce) = salted_message_aead(&message_key, &salt, GROUP_MESSAGE_INFO);
        let header = v1::GroupHeader {
            group_id,
            sender: sender.to_vec(),
            epoch,
            iteration,
            salt: salt.to_vec(),
        }
        .encode_to_vec();
        let padded_plaintext = padded(plaintext.as_bytes());
        let ciphertext = aes_gcm_seal(&aes_key, &nonce, &header, &padded_plaintext);
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
            salt: hex::encode(salt),
            aes_key: hex::encode(aes_key),
            nonce: hex::encode(nonce),
            header: hex::encode(&header),
            plaintext: hex::encode(plaintext),
            plaintext_utf8: plaintext.into(),
            padded_plaintext: hex::encode(&padded_plaintext),
            ciphertext: hex::encode(&ciphertext),
            signature_input: hex::encode(&signature_input),
            signature: hex::encode(signature),
            message: hex::encode(&message),
        });
        let mut e = event(party, Action::Encrypt);
        e.group_message = Some(index);
        e.draws = vec![hex::encode(salt)];
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
        assert_eq!(decrypted.plaintext(), plaintext.as_bytes());
        assert_eq!(self.party(&decrypted.sender()), sender);
        assert_eq!(decrypted.epoch(), epoch);
        let mut e = event(party, Action::Decrypt);
        e.group_message = Some(index);
        self.push_event(e);
    }
}
