//! A proptest over schedules with an adversarial member, Mallory, against the group
//! protocol (version 2).
//!
//! Mallory holds channels to everyone and runs her own client: she reads every control
//! sent to her (`mallory::peek`), can send any control of her choosing on her channels
//! (`mallory::encrypt_control`), and as the network she redelivers any control message she
//! saw, to anyone, claiming to be its sender or herself, reorders everything, and
//! withholds her own. The honest members (Alice, the owner, Bob, Carol, and Dave, outside
//! at first) add, remove, rekey, resync and send. After each step:
//!
//! - nobody reads a message sent while they were not in its sender's roster (as the
//!   sender saw it): a removed member reads nothing sent under the epochs its sender moved
//!   to on processing the removal, and Mallory cannot read it with any key sent to her;
//! - a rejected input leaves the recipient's group and channels byte for byte as they were;
//! - only the owner's control changes a roster;
//! - nothing panics.
//!
//! At the end (all control delivered, Mallory's own possibly withheld), every honest
//! member reads every honest member's message sent during its membership whose epoch is
//! still kept, and after a resync and full delivery every honest member reads every other.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::group::Outgoing;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::MAX_SENDER_EPOCHS, Channel, Error, Group, Identity, PrekeyStore, Received,
};

mod common;

use common::groups::open_group_message;
use common::mallory;

// ---------------------------------------------------------------------------------------
// The world

const ALICE: usize = 0;
const MALLORY: usize = 4;
const PEOPLE: usize = 5;
const NAMES: [&str; PEOPLE] = ["alice", "bob", "carol", "dave", "mallory"];
const CREATED_AT: u64 = 1_700_000_000;

struct Person {
    identity: Identity,
    key: [u8; 32],
    prekeys: PrekeyStore,
    channels: BTreeMap<[u8; 32], Channel>,
    group: Option<Group>,
}

impl Person {
    fn snapshot(&self) -> Vec<Vec<u8>> {
        let mut all: Vec<Vec<u8>> = self.group.iter().map(|g| g.to_bytes().to_vec()).collect();
        all.extend(self.channels.values().map(|c| c.to_bytes().to_vec()));
        all
    }

    fn is_member(&self) -> bool {
        self.group.as_ref().is_some_and(Group::is_member)
    }
}

/// A channel message with group control on its way; `honest` unless Mallory made it.
#[derive(Clone, Debug)]
struct Msg {
    from: usize,
    to: usize,
    bytes: Vec<u8>,
    honest: bool,
    retries: u32,
}

/// A group message and who may read it.
struct Sent {
    from: usize,
    bytes: Vec<u8>,
    text: Vec<u8>,
    epoch: u32,
    /// The sender's roster as it sent: who it may reach, with the version that (last)
    /// added each.
    roster: BTreeMap<usize, u64>,
    read_by: BTreeSet<usize>,
    /// The sender's epochs used after this one, counted at the end.
    later_epochs: BTreeSet<u32>,
}

struct World {
    rng: ChaCha20Rng,
    people: Vec<Person>,
    /// In flight: the network delivers them in any order, Mallory's own only if she likes.
    pool: Vec<Msg>,
    /// Every control message ever sent, for Mallory to replay.
    seen: Vec<Msg>,
    /// What Mallory's client read in control sent to her.
    tapped: Vec<v1::GroupControl>,
    sent: Vec<Sent>,
    /// Each sender's epochs in the order it moved to them.
    epochs: Vec<Vec<u32>>,
}

/// The roster a group holds: each member's card bytes with the version that added it.
fn roster_entries(group: &Group) -> Vec<v1::RosterMember> {
    #[derive(Clone, PartialEq, prost::Message)]
    struct RosterOnly {
        #[prost(bytes = "vec", tag = "3")]
        roster: Vec<u8>,
    }
    let state = RosterOnly::decode(group.to_bytes().as_slice()).expect("a group state");
    let signed = v1::SignedRoster::decode(state.roster.as_slice()).expect("a signed roster");
    v1::Roster::decode(signed.roster.as_slice())
        .expect("a roster")
        .members
}

/// Whether the sender key `key` opens the group message `message`.
fn opens(key: &v1::SenderKeyDistribution, message: &[u8]) -> bool {
    let Ok(parsed) = v1::GroupMessage::decode(message) else {
        return false;
    };
    let Ok(header) = v1::GroupHeader::decode(parsed.header.as_slice()) else {
        return false;
    };
    if header.sender != key.sender || header.epoch != key.epoch {
        return false;
    }
    mallory::message_key(&key.chain_key, key.iteration, header.iteration)
        .is_some_and(|mk| open_group_message(&mk, message).is_some())
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let people = NAMES
            .iter()
            .map(|name| {
                let identity = Identity::generate_at(&mut rng, name, CREATED_AT).expect("identity");
                Person {
                    key: identity.card().signing_key(),
                    prekeys: PrekeyStore::new(&mut rng),
                    identity,
                    channels: BTreeMap::new(),
                    group: None,
                }
            })
            .collect();
        let mut world = Self {
            rng,
            people,
            pool: Vec::new(),
            seen: Vec::new(),
            tapped: Vec::new(),
            sent: Vec::new(),
            epochs: vec![Vec::new(); PEOPLE],
        };
        for i in 0..PEOPLE {
            for j in i + 1..PEOPLE {
                world.connect(i, j);
            }
        }
        world
    }

    fn connect(&mut self, i: usize, j: usize) {
        let bundle = self.people[j]
            .prekeys
            .bundle(&self.people[j].identity, None)
            .expect("bundle");
        let mut created =
            Channel::create(&mut self.rng, &self.people[i].identity, &bundle).expect("create");
        let hello = created.encrypt(&mut self.rng, b"hello").expect("encrypt");
        let person = &mut self.people[j];
        let mut joined = Channel::join(&person.identity, &mut person.prekeys, &hello)
            .expect("join")
            .into_channel();
        let reply = joined.encrypt(&mut self.rng, b"hi").expect("encrypt");
        created.decrypt(&reply).expect("reply");
        let (ki, kj) = (self.people[i].key, self.people[j].key);
        self.people[i].channels.insert(kj, created);
        self.people[j].channels.insert(ki, joined);
    }

    fn index(&self, key: &[u8; 32]) -> usize {
        self.people
            .iter()
            .position(|p| p.key == *key)
            .expect("a known person")
    }

    /// The roster of `who`'s group: person index -> the version that added it.
    fn roster_of(&self, who: usize) -> BTreeMap<usize, u64> {
        let Some(group) = &self.people[who].group else {
            return BTreeMap::new();
        };
        roster_entries(group)
            .into_iter()
            .map(|member| {
                let i = self
                    .people
                    .iter()
                    .position(|p| p.identity.card().to_bytes() == member.card)
                    .expect("a known card");
                (i, member.added_at)
            })
            .collect()
    }

    fn note_epoch(&mut self, who: usize) {
        if let Some(epoch) = self.people[who].group.as_ref().and_then(Group::epoch) {
            if self.epochs[who].last() != Some(&epoch) {
                self.epochs[who].push(epoch);
            }
        }
    }

    fn post(&mut self, from: usize, received: Received) {
        for (to, message) in received
            .into_parts()
            .1
            .into_iter()
            .map(Outgoing::into_parts)
        {
            let to = self.index(&to);
            let msg = Msg {
                from,
                to,
                bytes: message,
                honest: from != MALLORY,
                retries: 0,
            };
            self.seen.push(msg.clone());
            self.pool.push(msg);
        }
        self.note_epoch(from);
    }

    /// `who` does an operation on its group; on error it must be unchanged.
    fn op(
        &mut self,
        who: usize,
        f: impl FnOnce(
            &mut Group,
            &mut ChaCha20Rng,
            &Identity,
            &mut BTreeMap<[u8; 32], Channel>,
        ) -> Result<Received, Error>,
    ) -> Result<(), Error> {
        let before = self.people[who].snapshot();
        let person = &mut self.people[who];
        let Some(group) = person.group.as_mut() else {
            return Err(Error::NoLongerMember);
        };
        match f(group, &mut self.rng, &person.identity, &mut person.channels) {
            Ok(received) => {
                self.post(who, received);
                Ok(())
            }
            Err(error) => {
                assert!(
                    self.people[who].snapshot() == before,
                    "a refused operation ({error:?}) changed {who}"
                );
                Err(error)
            }
        }
    }

    /// Delivers a control message, as `from`'s, to `to`: `receive`, or `join` without a
    /// group. Mallory's client reads what is sent to her first. A refused control must
    /// leave the recipient unchanged, and only the owner's control may change a roster.
    fn deliver(&mut self, from: usize, to: usize, bytes: &[u8]) -> Result<(), Error> {
        let from_key = self.people[from].key;
        if to == MALLORY {
            if let Some(channel) = self.people[to].channels.get(&from_key) {
                if let Some(plaintext) = mallory::peek(channel, bytes) {
                    if let Ok(control) = v1::GroupControl::decode(plaintext.as_slice()) {
                        self.tapped.push(control);
                    }
                }
            }
        }
        let before = self.people[to].snapshot();
        let roster_before = self.roster_of(to);
        let person = &mut self.people[to];
        let result = match &mut person.group {
            Some(group) => group.receive(&mut self.rng, &mut person.channels, &from_key, bytes),
            None => Group::join(
                &mut self.rng,
                &person.identity,
                &mut person.channels,
                &from_key,
                bytes,
            )
            .map(|(group, received)| {
                person.group = Some(group);
                received
            }),
        };
        match result {
            Ok(received) => {
                if from != ALICE {
                    assert_eq!(
                        self.roster_of(to),
                        roster_before,
                        "control from {from} changed {to}'s roster"
                    );
                }
                self.post(to, received);
                Ok(())
            }
            Err(error) => {
                assert!(
                    self.people[to].snapshot() == before,
                    "a rejected control ({error:?}) from {from} changed {to}"
                );
                Err(error)
            }
        }
    }

    /// Delivers `pool[i]`. Control that came before what it depends on goes back to the
    /// pool, as an app keeps it; anything else refused is dropped.
    fn deliver_pooled(&mut self, i: usize) -> bool {
        let mut msg = self.pool.remove(i);
        match self.deliver(msg.from, msg.to, &msg.bytes) {
            Ok(()) => true,
            Err(
                Error::RosterBehind { .. } | Error::NotGroupMember { .. } | Error::NotAGroupWelcome,
            ) if msg.retries < 64 => {
                msg.retries += 1;
                self.pool.push(msg);
                false
            }
            Err(error) => {
                let expected = matches!(
                    error,
                    Error::Duplicate
                        | Error::StaleSenderKey { .. }
                        | Error::StaleRoster { .. }
                        | Error::NotGroupMember { .. }
                        | Error::RemovedGroupMember { .. }
                        | Error::RosterBehind { .. }
                        | Error::NotAGroupWelcome
                        | Error::ResyncRateLimited { .. }
                        | Error::NoLongerMember
                );
                // Honest control between honest members fails only for these reasons.
                assert!(
                    expected
                        || !msg.honest
                        || !self.people[msg.to].is_member()
                        || msg.to == MALLORY,
                    "honest control from {} to {} failed: {error:?}",
                    msg.from,
                    msg.to
                );
                false
            }
        }
    }

    /// Delivers everything in flight (Mallory's own unless `withhold`), retrying until
    /// nothing makes progress.
    fn deliver_all(&mut self, withhold: bool) {
        if withhold {
            self.pool.retain(|m| m.honest);
        }
        let mut stalled = 0;
        while !self.pool.is_empty() && stalled <= self.pool.len() {
            if self.deliver_pooled(0) {
                stalled = 0;
            } else {
                stalled += 1;
            }
            if withhold {
                self.pool.retain(|m| m.honest);
            }
        }
        self.pool.clear();
        self.read_what_they_can();
    }

    fn send(&mut self, from: usize) {
        let roster = self.roster_of(from);
        let n = self.sent.len();
        let text = format!("message {n} from {}", NAMES[from]).into_bytes();
        let Some(group) = self.people[from].group.as_mut() else {
            return;
        };
        let Some(epoch) = group.epoch() else {
            return;
        };
        if !group.is_member() {
            return;
        }
        let bytes = group
            .encrypt(&mut self.rng, &text)
            .expect("a member encrypts");
        self.sent.push(Sent {
            from,
            bytes,
            text,
            epoch,
            roster,
            read_by: BTreeSet::new(),
            later_epochs: BTreeSet::new(),
        });
    }

    /// Every possible reader tries every message it has not read; nobody outside the
    /// sender's roster (as it sent) reads one, with a group or with a key sent to Mallory.
    fn read_what_they_can(&mut self) {
        for m in 0..self.sent.len() {
            for (reader, name) in NAMES.iter().enumerate() {
                if reader == self.sent[m].from || self.sent[m].read_by.contains(&reader) {
                    continue;
                }
                let may_read = self.sent[m].roster.contains_key(&reader);
                let Some(group) = self.people[reader].group.as_mut() else {
                    continue;
                };
                let before = (!may_read).then(|| group.to_bytes());
                match group.decrypt(&self.sent[m].bytes) {
                    Ok(decrypted) => {
                        assert!(
                            may_read,
                            "{name} read message {m} of {}, sent while not in its roster",
                            NAMES[self.sent[m].from]
                        );
                        assert_eq!(decrypted.plaintext(), self.sent[m].text);
                        assert_eq!(decrypted.sender(), self.people[self.sent[m].from].key);
                        self.sent[m].read_by.insert(reader);
                    }
                    Err(_) => {
                        if let Some(before) = before {
                            assert!(
                                *group.to_bytes() == *before,
                                "a failed decrypt changed the group"
                            );
                        }
                    }
                }
            }
            if !self.sent[m].roster.contains_key(&MALLORY) {
                for control in &self.tapped {
                    if let Some(key) = &control.sender_key {
                        assert!(
                            !opens(key, &self.sent[m].bytes),
                            "Mallory read message {m} of {} with a key sent to her",
                            NAMES[self.sent[m].from]
                        );
                    }
                }
            }
        }
    }

    /// Mallory's client sends `control` to `to` on her channel; `to` takes it at once.
    fn relay(&mut self, control: &v1::GroupControl, to: usize) {
        let to_key = self.people[to].key;
        let Some(channel) = self.people[MALLORY].channels.get_mut(&to_key) else {
            return;
        };
        let bytes = mallory::encrypt_control(&mut self.rng, channel, &control.encode_to_vec());
        let _ = self.deliver(MALLORY, to, &bytes);
    }
}

// ---------------------------------------------------------------------------------------
// Schedules

#[derive(Clone, Debug)]
enum Step {
    /// Alice adds this person (if not in her roster).
    Add(u8),
    /// Alice removes this person (if in her roster).
    Remove(u8),
    /// This member rekeys.
    Rekey(u8),
    /// This member resyncs.
    Resync(u8),
    /// This member sends a group message.
    Send(u8),
    /// The network delivers this message in flight: any order.
    Deliver(u16),
    /// Mallory redelivers a control message she saw to anyone, as from its sender or
    /// from herself.
    Replay { seen: u16, to: u8, as_sender: bool },
    /// Mallory sends a control her client read, the roster she holds, or a bare resync or
    /// leave request of her own, to anyone.
    Relay { control: u16, to: u8 },
    /// Mallory drops a control of her own that is still in flight.
    Withhold(u16),
}

fn step() -> impl Strategy<Value = Step> {
    let person = 0..PEOPLE as u8;
    prop_oneof![
        2 => person.clone().prop_map(Step::Add),
        2 => person.clone().prop_map(Step::Remove),
        1 => person.clone().prop_map(Step::Rekey),
        1 => person.clone().prop_map(Step::Resync),
        4 => person.clone().prop_map(Step::Send),
        8 => any::<u16>().prop_map(Step::Deliver),
        2 => (any::<u16>(), person.clone(), any::<bool>())
            .prop_map(|(seen, to, as_sender)| Step::Replay { seen, to, as_sender }),
        3 => (any::<u16>(), person).prop_map(|(control, to)| Step::Relay { control, to }),
        1 => any::<u16>().prop_map(Step::Withhold),
    ]
}

fn run(seed: u64, steps: &[Step], withhold_at_end: bool) {
    let mut w = World::new(seed);
    // Alice founds the group with Bob, Carol and Mallory; Dave is outside.
    let cards: Vec<_> = [1, 2, MALLORY]
        .iter()
        .map(|&i| w.people[i].identity.card().clone())
        .collect();
    let alice = &mut w.people[ALICE];
    let (group, received) =
        Group::create(&mut w.rng, &alice.identity, &cards, &mut alice.channels).expect("create");
    alice.group = Some(group);
    w.post(ALICE, received);
    w.deliver_all(false);

    for step in steps {
        match *step {
            Step::Add(who) => {
                let who = usize::from(who);
                if who != ALICE && !w.roster_of(ALICE).contains_key(&who) {
                    let card = w.people[who].identity.card().clone();
                    w.op(ALICE, |g, rng, me, ch| g.add_member(rng, me, &card, ch))
                        .expect("the owner adds");
                }
            }
            Step::Remove(who) => {
                let who = usize::from(who);
                if who != ALICE && w.roster_of(ALICE).contains_key(&who) {
                    let key = w.people[who].key;
                    w.op(ALICE, |g, rng, me, ch| g.remove_member(rng, me, &key, ch))
                        .expect("the owner removes");
                }
            }
            Step::Rekey(who) => {
                let who = usize::from(who);
                if w.people[who].is_member() {
                    w.op(who, |g, rng, _, ch| g.rekey(rng, ch)).expect("rekey");
                }
            }
            Step::Resync(who) => {
                let who = usize::from(who);
                if w.people[who].is_member() {
                    w.op(who, |g, rng, _, ch| g.resync(rng, ch))
                        .expect("resync");
                }
            }
            Step::Send(who) => w.send(usize::from(who)),
            Step::Deliver(i) => {
                if !w.pool.is_empty() {
                    let i = usize::from(i) % w.pool.len();
                    w.deliver_pooled(i);
                }
            }
            Step::Replay {
                seen,
                to,
                as_sender,
            } => {
                if !w.seen.is_empty() {
                    let msg = w.seen[usize::from(seen) % w.seen.len()].clone();
                    let to = usize::from(to);
                    let from = if as_sender { msg.from } else { MALLORY };
                    if from != to {
                        let _ = w.deliver(from, to, &msg.bytes);
                    }
                }
            }
            Step::Relay { control, to } => {
                let to = usize::from(to);
                // What her client read, and a roster-only control with the roster she holds.
                let mut controls = w.tapped.clone();
                if let Some(group) = &w.people[MALLORY].group {
                    #[derive(Clone, PartialEq, prost::Message)]
                    struct RosterOnly {
                        #[prost(bytes = "vec", tag = "3")]
                        roster: Vec<u8>,
                    }
                    let state = RosterOnly::decode(group.to_bytes().as_slice()).expect("state");
                    let mut held = v1::GroupControl::default();
                    held.version = ratchetkit::group::GROUP_VERSION;
                    held.roster =
                        Some(v1::SignedRoster::decode(state.roster.as_slice()).expect("roster"));
                    held.roster_version = group.roster_version();
                    controls.push(held);
                    // Requests of her own, with nothing else in them.
                    let id = group.group_id().to_vec();
                    let mut ask = v1::GroupControl::default();
                    ask.version = ratchetkit::group::GROUP_VERSION;
                    ask.roster_version = group.roster_version();
                    let mut leave = ask.clone();
                    ask.resync = Some(v1::ResyncRequest {
                        group_id: id.clone(),
                    });
                    leave.leave = Some(v1::LeaveRequest { group_id: id });
                    controls.push(ask);
                    controls.push(leave);
                }
                if to != MALLORY && !controls.is_empty() {
                    let control = controls[usize::from(control) % controls.len()].clone();
                    w.relay(&control, to);
                }
            }
            Step::Withhold(i) => {
                let hers: Vec<usize> = (0..w.pool.len()).filter(|&i| !w.pool[i].honest).collect();
                if !hers.is_empty() {
                    w.pool.remove(hers[usize::from(i) % hers.len()]);
                }
            }
        }
        w.read_what_they_can();
    }

    // Everything still in flight arrives (Mallory's own, if she likes).
    w.deliver_all(withhold_at_end);
    let honest: Vec<usize> = (0..MALLORY).filter(|&i| w.people[i].is_member()).collect();
    let final_rosters: Vec<BTreeMap<usize, u64>> = (0..PEOPLE).map(|i| w.roster_of(i)).collect();
    for m in 0..w.sent.len() {
        let from = w.sent[m].from;
        let epoch = w.sent[m].epoch;
        let later: BTreeSet<u32> = w.epochs[from]
            .iter()
            .skip_while(|&&e| e != epoch)
            .skip(1)
            .copied()
            .collect();
        w.sent[m].later_epochs = later;
    }
    for sent in &w.sent {
        // An honest sender still in the group in the same membership, an honest reader in
        // its roster then and now in the same membership, an epoch still kept.
        let same = |who: usize| {
            final_rosters[ALICE].contains_key(&who)
                && final_rosters[ALICE].get(&who) == sent.roster.get(&who)
        };
        if sent.from == MALLORY
            || !honest.contains(&sent.from)
            || !same(sent.from)
            || sent.later_epochs.len() >= MAX_SENDER_EPOCHS
        {
            continue;
        }
        for &reader in &honest {
            if reader != sent.from && same(reader) {
                assert!(
                    sent.read_by.contains(&reader),
                    "{} never read a message of {} (epoch {}) sent during its membership",
                    NAMES[reader],
                    NAMES[sent.from],
                    sent.epoch
                );
            }
        }
    }

    // Every honest member resyncs; then everyone reads everyone.
    for &who in &honest {
        w.op(who, |g, rng, _, ch| g.resync(rng, ch))
            .expect("resync");
    }
    w.deliver_all(withhold_at_end);
    let first = w.sent.len();
    for &who in &honest {
        w.send(who);
    }
    w.read_what_they_can();
    for sent in &w.sent[first..] {
        for &reader in &honest {
            if reader != sent.from {
                assert!(
                    sent.read_by.contains(&reader),
                    "after the resync {} cannot read {}",
                    NAMES[reader],
                    NAMES[sent.from]
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn an_adversarial_member_never_reads_outside_its_membership_nor_stops_the_honest_members(
        seed in any::<u64>(),
        steps in proptest::collection::vec(step(), 1..40),
        withhold_at_end in any::<bool>(),
    ) {
        run(seed, &steps, withhold_at_end);
    }
}
