//! Fixtures shared by the benches: established channels, and worlds of members with a
//! channel between every pair and, optionally, a group.
//!
//! Included by each bench with `mod common;`; not every bench uses every helper.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::group::Outgoing;
use ratchetkit::{Channel, Error, Group, Identity, PrekeyStore};

/// A fixed creation time, so that cards do not depend on the clock.
pub const CREATED_AT: u64 = 1_700_000_000;

/// A channel between Alice (the creator) and Bob (the joiner).
pub struct Pair {
    pub alice: Channel,
    pub bob: Channel,
}

/// Alice and Bob with a channel on which both have sent and received (each side has done
/// a DH ratchet step), so it is established in both directions.
pub fn established(rng: &mut ChaCha20Rng) -> Pair {
    let alice_id = Identity::generate_at(rng, "alice", CREATED_AT).unwrap();
    let bob_id = Identity::generate_at(rng, "bob", CREATED_AT).unwrap();
    let mut prekeys = PrekeyStore::new(rng);
    let ids = prekeys.generate_one_time_prekeys(rng, 1).unwrap();
    let bundle = prekeys.bundle(&bob_id, Some(ids[0])).unwrap();
    let mut alice = Channel::create(rng, &alice_id, &bundle).unwrap();
    let first = alice.encrypt(rng, b"hello").unwrap();
    let mut bob = Channel::join(&bob_id, &mut prekeys, &first)
        .unwrap()
        .into_channel();
    let reply = bob.encrypt(rng, b"hi").unwrap();
    alice.decrypt(&reply).unwrap();
    let again = alice.encrypt(rng, b"again").unwrap();
    bob.decrypt(&again).unwrap();
    Pair { alice, bob }
}

/// Control messages in flight: (from, to, channel message).
pub type Mailbox = VecDeque<(usize, usize, Vec<u8>)>;

/// The members' identities, which group operations only read (and `Identity` is not
/// `Clone`): shared by every copy of a world's [`State`].
pub struct People {
    pub identities: Vec<Identity>,
    pub keys: Vec<[u8; 32]>,
    pub index: HashMap<[u8; 32], usize>,
}

/// What group operations change: each member's channels (keyed by the peer's identity
/// key) and group. Benchmarks run on copies of it (with their own rng: `ChaCha20Rng` is
/// not `Clone`).
#[derive(Clone)]
pub struct State {
    pub channels: Vec<HashMap<[u8; 32], Channel>>,
    pub groups: Vec<Option<Group>>,
}

impl People {
    pub fn post(&self, mailbox: &mut Mailbox, from: usize, outgoing: Vec<Outgoing>) {
        for (to, message) in outgoing.into_iter().map(Outgoing::into_parts) {
            mailbox.push_back((from, self.index[&to], message));
        }
    }
}

/// `count` members with an established channel between every pair (both sides have sent
/// and received, so no group control rides a channel's first message and every member
/// pays the same ratchet steps as in a long-lived group), and no group yet.
pub fn world(rng: &mut ChaCha20Rng, count: usize) -> (People, State) {
    let identities: Vec<Identity> = (0..count)
        .map(|i| Identity::generate_at(rng, &format!("m{i}"), CREATED_AT).unwrap())
        .collect();
    let mut prekeys: Vec<PrekeyStore> = (0..count).map(|_| PrekeyStore::new(rng)).collect();
    let keys: Vec<[u8; 32]> = identities
        .iter()
        .map(|id| id.card().signing_key())
        .collect();
    let index = keys.iter().enumerate().map(|(i, key)| (*key, i)).collect();
    let mut channels = vec![HashMap::new(); count];
    for i in 0..count {
        for j in i + 1..count {
            let bundle = prekeys[j].bundle(&identities[j], None).unwrap();
            let mut created = Channel::create(rng, &identities[i], &bundle).unwrap();
            let hello = created.encrypt(rng, b"hello").unwrap();
            let mut joined = Channel::join(&identities[j], &mut prekeys[j], &hello)
                .unwrap()
                .into_channel();
            let reply = joined.encrypt(rng, b"hi").unwrap();
            created.decrypt(&reply).unwrap();
            channels[i].insert(keys[j], created);
            channels[j].insert(keys[i], joined);
        }
    }
    let people = People {
        identities,
        keys,
        index,
    };
    let state = State {
        channels,
        groups: vec![None; count],
    };
    (people, state)
}

impl State {
    /// Hands one control message to its recipient: `join` for a member without the
    /// group, `receive` otherwise. Returns what the recipient must send in turn.
    pub fn deliver(
        &mut self,
        rng: &mut ChaCha20Rng,
        people: &People,
        from: usize,
        to: usize,
        message: &[u8],
    ) -> Result<Vec<Outgoing>, Error> {
        let channels = &mut self.channels[to];
        match &mut self.groups[to] {
            Some(group) => Ok(group
                .receive(rng, channels, &people.keys[from], message)?
                .into_parts()
                .1),
            None => {
                let (group, received) = Group::join(
                    rng,
                    &people.identities[to],
                    channels,
                    &people.keys[from],
                    message,
                )?;
                self.groups[to] = Some(group);
                Ok(received.into_parts().1)
            }
        }
    }

    /// Delivers control until none is left, retrying what arrived before what it depends
    /// on, as an app would. Messages to `hold` are set aside, in order, and returned.
    pub fn flush(
        &mut self,
        rng: &mut ChaCha20Rng,
        people: &People,
        mailbox: &mut Mailbox,
        hold: Option<usize>,
    ) -> Held {
        let mut held = Vec::new();
        let mut stalled = 0;
        while let Some((from, to, message)) = mailbox.pop_front() {
            if Some(to) == hold {
                held.push((from, message));
                continue;
            }
            match self.deliver(rng, people, from, to, &message) {
                Ok(outgoing) => {
                    stalled = 0;
                    people.post(mailbox, to, outgoing);
                }
                Err(Error::NotGroupMember { .. } | Error::NotAGroupWelcome) => {
                    stalled += 1;
                    assert!(stalled <= mailbox.len() + 1, "control cannot make progress");
                    mailbox.push_back((from, to, message));
                }
                // A removed member has no use for what is still on its way to it.
                Err(_) if !self.groups[to].as_ref().is_some_and(Group::is_member) => {}
                Err(error) => panic!("control from m{from} to m{to} failed: {error:?}"),
            }
        }
        held
    }

    /// Member 0 creates the group with members `1..count`, and all control is delivered.
    pub fn create_group(&mut self, rng: &mut ChaCha20Rng, people: &People, count: usize) {
        let cards: Vec<_> = people.identities[1..count]
            .iter()
            .map(|id| id.card().clone())
            .collect();
        let (group, created) =
            Group::create(rng, &people.identities[0], &cards, &mut self.channels[0]).unwrap();
        self.groups[0] = Some(group);
        let mut mailbox = Mailbox::new();
        people.post(&mut mailbox, 0, created.into_parts().1);
        self.flush(rng, people, &mut mailbox, None);
    }

    /// The owner (member 0) removes `who`; returns the control to deliver.
    pub fn remove(&mut self, rng: &mut ChaCha20Rng, people: &People, who: usize) -> Mailbox {
        let owner = self.groups[0].as_mut().expect("the owner has the group");
        let outgoing = owner
            .remove_member(
                rng,
                &people.identities[0],
                &people.keys[who],
                &mut self.channels[0],
            )
            .unwrap()
            .into_parts()
            .1;
        let mut mailbox = Mailbox::new();
        people.post(&mut mailbox, 0, outgoing);
        mailbox
    }

    /// The owner (member 0) adds `who`; returns the control to deliver.
    pub fn add(&mut self, rng: &mut ChaCha20Rng, people: &People, who: usize) -> Mailbox {
        let owner = self.groups[0].as_mut().expect("the owner has the group");
        let outgoing = owner
            .add_member(
                rng,
                &people.identities[0],
                people.identities[who].card(),
                &mut self.channels[0],
            )
            .unwrap()
            .into_parts()
            .1;
        let mut mailbox = Mailbox::new();
        people.post(&mut mailbox, 0, outgoing);
        mailbox
    }
}

/// A group of `count` with all sender keys delivered: the owner (member 0) and members
/// `1..count`.
pub fn group_of(count: usize, seed: u64) -> (People, State) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let (people, mut state) = world(&mut rng, count);
    state.create_group(&mut rng, &people, count);
    (people, state)
}

/// A group of three with all sender keys delivered: the owner and members 1 and 2.
pub fn trio(seed: u64) -> State {
    group_of(3, seed).1
}

/// A world of `size + 1` members with every pairwise channel, in which member 0 owns a
/// group of the first `size`; member `size` is outside it, ready to be added.
pub fn membership_world(size: usize) -> (People, State) {
    let mut rng = ChaCha20Rng::seed_from_u64(size as u64);
    let (people, mut state) = world(&mut rng, size + 1);
    state.create_group(&mut rng, &people, size);
    (people, state)
}

/// A member's group and its channels (keyed by the peer's identity key).
pub type Member = (Group, HashMap<[u8; 32], Channel>);

/// Control set aside for one member: (from, channel message), in order.
pub type Held = Vec<(usize, Vec<u8>)>;

/// One remaining member's share of a removal, prepared: the owner has removed the last
/// member and every other member has processed everything, while what is addressed to
/// member `size - 2` (the last who remains, the busiest) is held. Returns that member's
/// group and channels before it processes anything, and the held control, in order.
pub fn prepared_removal(people: &People, state: &State, size: usize, seed: u64) -> (Member, Held) {
    let one = size - 2;
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut prepared = state.clone();
    let mut mailbox = prepared.remove(&mut rng, people, size - 1);
    let held = prepared.flush(&mut rng, people, &mut mailbox, Some(one));
    assert_eq!(held.len(), size - 2, "the roster and every other's new key");
    let mine = (
        prepared.groups[one].clone().unwrap(),
        prepared.channels[one].clone(),
    );
    (mine, held)
}

/// Walks the top-level fields of protobuf `bytes`, returning for each field number
/// `field` the encoded length of its occurrences (tag, length prefix and contents). Only
/// varint and length-delimited fields are expected.
pub fn protobuf_field_sizes(bytes: &[u8], field: u64) -> Vec<usize> {
    fn varint(bytes: &[u8], at: &mut usize) -> u64 {
        let mut value = 0u64;
        let mut shift = 0;
        loop {
            let byte = bytes[*at];
            *at += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return value;
            }
            shift += 7;
        }
    }
    let mut sizes = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let start = at;
        let tag = varint(bytes, &mut at);
        match tag & 7 {
            0 => {
                varint(bytes, &mut at);
            }
            2 => {
                let len = varint(bytes, &mut at) as usize;
                at += len;
            }
            other => panic!("unexpected wire type {other}"),
        }
        if tag >> 3 == field {
            sizes.push(at - start);
        }
    }
    sizes
}

pub mod compare;
