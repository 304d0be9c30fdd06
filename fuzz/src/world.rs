//! Members with established channels between every pair, and a group among them: the
//! state the group targets fuzz.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::rngs::ChaCha20Rng;
use ratchetkit::group::Outgoing;
use ratchetkit::{Channel, Error, Group, Identity, PrekeyStore};

use crate::{identity, rng};

/// The group id of the fixture group.
pub const GROUP_ID: [u8; 16] = *b"ratchetkit-fuzz!";

/// Alice, the owner.
pub const ALICE: usize = 0;
/// Bob, a member.
pub const BOB: usize = 1;
/// Carol, a member.
pub const CAROL: usize = 2;
/// Dave: channels with everyone, outside the group.
pub const DAVE: usize = 3;

/// One party: identity, channels to every other party, and its group if it has one.
#[derive(Clone)]
pub struct Member {
    /// Shared: an identity is not `Clone`, and members are cloned per fuzz run.
    pub identity: Arc<Identity>,
    pub key: [u8; 32],
    pub channels: HashMap<[u8; 32], Channel>,
    pub group: Option<Group>,
}

/// Control in flight: (from, to, channel message).
pub type Mailbox = VecDeque<(usize, usize, Vec<u8>)>;

/// Four parties with channels between every pair; Alice owns a group of Alice, Bob and
/// Carol.
pub struct World {
    pub rng: ChaCha20Rng,
    pub members: Vec<Member>,
    pub mailbox: Mailbox,
    /// The plaintext of every control message delivered, as (to, from, plaintext): seeds
    /// for the control target. Filled only under `--cfg fuzzing`, where the channel can
    /// decrypt control for us.
    pub control_log: Vec<(usize, usize, Vec<u8>)>,
}

impl World {
    /// The fixture: channels established, the group created and its control delivered.
    pub fn new() -> Self {
        let mut rng = rng(3);
        let names = ["alice", "bob", "carol", "dave"];
        let mut prekeys = Vec::new();
        let members = names
            .iter()
            .map(|name| {
                let identity = Arc::new(identity(&mut rng, name));
                prekeys.push(PrekeyStore::new(&mut rng));
                Member {
                    key: identity.card().signing_key(),
                    identity,
                    channels: HashMap::new(),
                    group: None,
                }
            })
            .collect();
        let mut world = Self {
            rng,
            members,
            mailbox: VecDeque::new(),
            control_log: Vec::new(),
        };
        for i in 0..names.len() {
            for j in i + 1..names.len() {
                world.connect(i, j, &mut prekeys[j]);
            }
        }
        let cards = [BOB, CAROL].map(|i| world.members[i].identity.card().clone());
        let owner = &mut world.members[ALICE];
        let (group, outgoing) = Group::create(
            &mut world.rng,
            &owner.identity,
            &GROUP_ID,
            &cards,
            &mut owner.channels,
        )
        .expect("create group");
        owner.group = Some(group);
        world.post(ALICE, outgoing);
        world.flush().expect("control of a new group");
        world
    }

    fn connect(&mut self, i: usize, j: usize, prekeys: &mut PrekeyStore) {
        let bundle = prekeys
            .bundle(&self.members[j].identity, None)
            .expect("bundle");
        let mut created =
            Channel::create(&mut self.rng, &self.members[i].identity, &bundle).expect("create");
        let hello = created.encrypt(&mut self.rng, b"hello").expect("encrypt");
        let mut joined = Channel::join(&self.members[j].identity, prekeys, &hello)
            .expect("join")
            .channel;
        let reply = joined.encrypt(&mut self.rng, b"hi").expect("encrypt");
        created.decrypt(&reply).expect("reply");
        let (key_i, key_j) = (self.members[i].key, self.members[j].key);
        self.members[i].channels.insert(key_j, created);
        self.members[j].channels.insert(key_i, joined);
    }

    /// The index of the member with signing key `key`.
    pub fn index(&self, key: &[u8; 32]) -> usize {
        self.members
            .iter()
            .position(|member| member.key == *key)
            .expect("a known member")
    }

    /// Queues what `from` must send.
    pub fn post(&mut self, from: usize, outgoing: Vec<Outgoing>) {
        for Outgoing { to, message } in outgoing {
            let to = self.index(&to);
            self.mailbox.push_back((from, to, message));
        }
    }

    /// Delivers one control message (`join` for a party without the group).
    pub fn deliver(&mut self, from: usize, to: usize, message: &[u8]) -> Result<(), Error> {
        let from_key = self.members[from].key;
        let member = &mut self.members[to];
        let outgoing = match &mut member.group {
            Some(group) => {
                group
                    .receive(&mut self.rng, &mut member.channels, &from_key, message)?
                    .outgoing
            }
            None => {
                let (group, received) = Group::join(
                    &mut self.rng,
                    &member.identity,
                    &mut member.channels,
                    &from_key,
                    message,
                )?;
                member.group = Some(group);
                received.outgoing
            }
        };
        self.post(to, outgoing);
        Ok(())
    }

    /// Delivers control until none is left, retrying what arrived before what it depends
    /// on, as an app would. Control to a party that is not (or no longer) in the group, and
    /// keys refused as stale, are dropped.
    ///
    /// # Errors
    /// The first error that is not one of those.
    pub fn flush(&mut self) -> Result<(), String> {
        let mut stalled = 0;
        while let Some((from, to, message)) = self.mailbox.pop_front() {
            self.log_control(from, to, &message);
            match self.deliver(from, to, &message) {
                Ok(()) => stalled = 0,
                Err(
                    Error::NotGroupMember { .. }
                    | Error::NotAGroupWelcome
                    | Error::RosterBehind { .. },
                ) if stalled <= self.mailbox.len() => {
                    stalled += 1;
                    self.mailbox.push_back((from, to, message));
                }
                Err(_) if !self.is_member(to) => {}
                Err(Error::StaleSenderKey { .. }) => {}
                Err(error) => return Err(format!("control from {from} to {to}: {error:?}")),
            }
        }
        Ok(())
    }

    #[cfg(fuzzing)]
    fn log_control(&mut self, from: usize, to: usize, message: &[u8]) {
        let from_key = self.members[from].key;
        if let Some(channel) = self.members[to].channels.get(&from_key) {
            if let Ok(plaintext) = channel.clone().fuzzing_decrypt_group_control(message) {
                let entry = (to, from, plaintext.to_vec());
                if !self.control_log.contains(&entry) {
                    self.control_log.push(entry);
                }
            }
        }
    }

    #[cfg(not(fuzzing))]
    fn log_control(&mut self, _from: usize, _to: usize, _message: &[u8]) {}

    /// Whether party `i` is currently in the group.
    pub fn is_member(&self, i: usize) -> bool {
        self.members[i].group.as_ref().is_some_and(Group::is_member)
    }
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}
