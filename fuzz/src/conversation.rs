//! The structure-aware driver: a two-party channel and a group of five parties (three in
//! it at first; the fifth has no channels, so control to her rides the first messages of
//! the channels the others start to her) run through operations the fuzzer picks: sends,
//! deliveries, membership changes, rekeys, lost control and resyncs, leaving, and
//! ownership transfers. The invariants are checked after every step:
//!
//! * nothing panics;
//! * every delivered message that was not delivered before decrypts to exactly what was
//!   sent, from whom it was sent, once (within the documented limits, which these short
//!   runs never reach; for groups, while sender and receiver stayed in the group and the
//!   receiver held the sender's epoch when the message was sent and still holds it);
//! * group control is refused only for what a reordering, a resync answer or (once
//!   control was lost or waited for a channel) views left apart explain;
//! * every rejected input (a tampered message, a second delivery) leaves the state byte
//!   for byte unchanged;
//! * a group message is never readable by a party that was not in the sender's roster when
//!   it was sent: removed members learn nothing sent after their removal, and new members
//!   nothing sent before the sender knew of them;
//! * saved state loads back to the same bytes, plain and sealed.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use arbitrary::Arbitrary;
use rand::rngs::ChaCha20Rng;
use ratchetkit::{group::MAX_SENDER_EPOCHS, Channel, Error, Group, GroupEvent, StorageKey};

use crate::world::{Member, World};
use crate::{pair, rng};

/// At most this many operations run per input: far below every limit of the protocol
/// (2,000 skipped keys, a gap of 2,000), so every genuine delivery must succeed.
pub const MAX_OPS: usize = 160;

/// One step of the conversation. Indices and parties are taken modulo what exists.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Op {
    /// Alice (or Bob) sends a channel message of `len` bytes.
    Send { from_bob: bool, len: u8 },
    /// An in-flight channel message arrives (any of them: the network reorders).
    Deliver { pick: u8 },
    /// A channel message that arrived arrives again.
    Duplicate { pick: u8 },
    /// A channel message arrives with one bit flipped.
    Tamper { pick: u8, bit: u16 },
    /// An in-flight channel message is lost.
    Drop { pick: u8 },
    /// A side saves its channel and loads it back, plainly or sealed.
    Reload { bob: bool, sealed: bool },
    /// A party sends a group message.
    GroupSend { who: u8, len: u8 },
    /// A group message arrives at a party (again, perhaps, or late).
    GroupDeliver { pick: u8, to: u8 },
    /// A group message arrives at a party with one bit flipped.
    GroupTamper { pick: u8, to: u8, bit: u16 },
    /// The owner adds a party that is not in the group.
    Add { who: u8 },
    /// The owner removes a member.
    Remove { who: u8 },
    /// A member moves to a new sender key.
    Rekey { who: u8 },
    /// A party saves its group and loads it back.
    GroupReload { who: u8 },
    /// The group control to party `to` after `skip` more to it is lost (a channel key
    /// evicted for good): from then on, members' views may differ.
    LoseControl { to: u8, skip: u8 },
    /// A member asks the others for what it missed.
    Resync { who: u8 },
    /// A member leaves, and the owner removes it.
    Leave { who: u8 },
    /// The owner offers the group to a member.
    Offer { who: u8 },
    /// A member takes over the group it was offered.
    Accept { who: u8 },
    /// A party starts a channel to Erin from her bundle and sends what waited for it.
    Connect { who: u8 },
}

struct Sent {
    from_bob: bool,
    plaintext: Vec<u8>,
    message: Vec<u8>,
}

struct GroupSent {
    sender: usize,
    epoch: u32,
    plaintext: Vec<u8>,
    message: Vec<u8>,
    /// The parties in the sender's roster (besides the sender) when it was sent, with
    /// their membership generation then, and whether they held the sender's epoch then.
    /// The sender's roster, not each party's own view: a party whose welcome still waits
    /// for a channel is a member to the sender, and one removed without knowing it yet is
    /// not.
    readers: Vec<(usize, u32, bool)>,
    sender_generation: u32,
    read_by: BTreeSet<usize>,
}

static CHANNELS: LazyLock<(Channel, Channel)> = LazyLock::new(|| {
    let pair = pair(false);
    (pair.alice, pair.bob)
});

static MEMBERS: LazyLock<Vec<Member>> = LazyLock::new(|| World::new().members);

/// The state of one run.
pub struct Conversation {
    rng: ChaCha20Rng,
    alice: Channel,
    bob: Channel,
    in_flight: Vec<Sent>,
    delivered: Vec<Sent>,
    world: World,
    /// Per party, how often it joined or left the group: a message is owed to a receiver
    /// only while neither it nor the sender changed membership since it was sent.
    generation: Vec<u32>,
    group_sent: Vec<GroupSent>,
    storage: StorageKey,
}

impl Conversation {
    /// The fixture state: an established channel, and the group of three.
    pub fn new() -> Self {
        let (alice, bob) = CHANNELS.clone();
        let world = World {
            rng: rng(4),
            members: MEMBERS.clone(),
            mailbox: Default::default(),
            control_log: Vec::new(),
            lose: None,
            apart: false,
            events: Vec::new(),
        };
        Self {
            rng: rng(5),
            alice,
            bob,
            in_flight: Vec::new(),
            delivered: Vec::new(),
            generation: vec![0; world.members.len()],
            world,
            group_sent: Vec::new(),
            storage: StorageKey::from_bytes([9; 32]),
        }
    }

    /// Runs the first [`MAX_OPS`] operations, panicking on the first broken invariant.
    pub fn run(ops: &[Op]) {
        let mut conversation = Self::new();
        for (step, op) in ops.iter().take(MAX_OPS).enumerate() {
            conversation.step(step, *op);
        }
    }

    fn step(&mut self, step: usize, op: Op) {
        match op {
            Op::Send { from_bob, len } => self.send(step, from_bob, len),
            Op::Deliver { pick } => self.deliver(pick),
            Op::Duplicate { pick } => self.duplicate(pick),
            Op::Tamper { pick, bit } => self.tamper(pick, bit),
            Op::Drop { pick } => {
                if !self.in_flight.is_empty() {
                    self.in_flight
                        .remove(usize::from(pick) % self.in_flight.len());
                }
            }
            Op::Reload { bob, sealed } => self.reload(bob, sealed),
            Op::GroupSend { who, len } => self.group_send(step, who, len),
            Op::GroupDeliver { pick, to } => self.group_deliver(pick, to),
            Op::GroupTamper { pick, to, bit } => self.group_tamper(pick, to, bit),
            Op::Add { who } => self.change(who, Change::Add),
            Op::Remove { who } => self.change(who, Change::Remove),
            Op::Rekey { who } => self.change(who, Change::Rekey),
            Op::GroupReload { who } => self.group_reload(who),
            Op::LoseControl { to, skip } => {
                let to = self.party(to);
                self.world.lose = Some((to, skip % 4));
            }
            Op::Resync { who } => self.change(who, Change::Resync),
            Op::Leave { who } => self.leave(who),
            Op::Offer { who } => self.change(who, Change::Offer),
            Op::Accept { who } => self.change(who, Change::Accept),
            Op::Connect { who } => {
                let who = self.party(who);
                if self.world.connect_to_erin(who) {
                    self.flush("connect");
                }
            }
        }
        self.world.events.clear();
    }

    fn channel(&mut self, bob: bool) -> &mut Channel {
        if bob {
            &mut self.bob
        } else {
            &mut self.alice
        }
    }

    fn send(&mut self, step: usize, from_bob: bool, len: u8) {
        let plaintext = plaintext(step, len);
        let mut rng = std::mem::replace(&mut self.rng, rng(0));
        let message = self
            .channel(from_bob)
            .encrypt(&mut rng, &plaintext)
            .expect("an established channel encrypts");
        self.rng = rng;
        self.in_flight.push(Sent {
            from_bob,
            plaintext,
            message,
        });
    }

    fn deliver(&mut self, pick: u8) {
        if self.in_flight.is_empty() {
            return;
        }
        let sent = self
            .in_flight
            .remove(usize::from(pick) % self.in_flight.len());
        let plaintext = self
            .channel(!sent.from_bob)
            .decrypt(&sent.message)
            .expect("a genuine message within the limits decrypts");
        assert_eq!(plaintext, sent.plaintext, "decrypted to what was sent");
        self.delivered.push(sent);
    }

    /// Gives `message` to the receiving side, which must refuse it without a change.
    fn reject(&mut self, to_bob: bool, message: &[u8]) {
        let channel = self.channel(to_bob);
        let before = channel.to_bytes();
        assert!(channel.decrypt(message).is_err(), "refused");
        assert_eq!(
            *channel.to_bytes(),
            *before,
            "a refused message changed nothing"
        );
    }

    fn duplicate(&mut self, pick: u8) {
        if self.delivered.is_empty() {
            return;
        }
        let sent = &self.delivered[usize::from(pick) % self.delivered.len()];
        let (to_bob, message) = (!sent.from_bob, sent.message.clone());
        self.reject(to_bob, &message);
    }

    fn tamper(&mut self, pick: u8, bit: u16) {
        let all = self.in_flight.len() + self.delivered.len();
        if all == 0 {
            return;
        }
        let pick = usize::from(pick) % all;
        let sent = self
            .in_flight
            .get(pick)
            .unwrap_or_else(|| &self.delivered[pick - self.in_flight.len()]);
        let (to_bob, message) = (!sent.from_bob, flip(&sent.message, bit));
        self.reject(to_bob, &message);
    }

    fn reload(&mut self, bob: bool, sealed: bool) {
        let mut rng = std::mem::replace(&mut self.rng, rng(0));
        let storage = self.storage.clone();
        let channel = self.channel(bob);
        let saved = channel.to_bytes();
        let loaded = if sealed {
            let sealed = storage.seal(&mut rng, channel).expect("seal");
            storage
                .open::<Channel>(&sealed, &channel.id())
                .expect("open what was sealed")
        } else {
            Channel::from_bytes(&saved).expect("load what was saved")
        };
        assert_eq!(*loaded.to_bytes(), *saved, "loads back to the same bytes");
        *channel = loaded;
        self.rng = rng;
    }

    fn party(&self, who: u8) -> usize {
        usize::from(who) % self.world.members.len()
    }

    fn group_send(&mut self, step: usize, who: u8, len: u8) {
        let sender = self.party(who);
        let is_member = self.world.is_member(sender);
        let keys: Vec<[u8; 32]> = self.world.members.iter().map(|member| member.key).collect();
        let Some(group) = self.world.members[sender].group.as_mut() else {
            return;
        };
        let plaintext = plaintext(step, len);
        let sent = group.encrypt(&mut self.rng, &plaintext);
        if !is_member {
            assert!(sent.is_err(), "a former member cannot send");
            return;
        }
        let message = sent.expect("a member encrypts");
        let epoch = group.epoch().expect("a member has an epoch");
        let sender_key = keys[sender];
        let in_roster: Vec<usize> = (0..keys.len())
            .filter(|&i| i != sender && group.member(&keys[i]).is_some())
            .collect();
        let readers = in_roster
            .into_iter()
            .map(|i| {
                let held = self.world.members[i]
                    .group
                    .as_ref()
                    .and_then(|group| group.sender_epoch(&sender_key))
                    == Some(epoch);
                (i, self.generation[i], held)
            })
            .collect();
        self.group_sent.push(GroupSent {
            sender,
            epoch,
            plaintext,
            message,
            readers,
            sender_generation: self.generation[sender],
            read_by: BTreeSet::new(),
        });
    }

    fn group_deliver(&mut self, pick: u8, to: u8) {
        if self.group_sent.is_empty() {
            return;
        }
        let to = self.party(to);
        let pick = usize::from(pick) % self.group_sent.len();
        let sent = &self.group_sent[pick];
        let sender_key = self.world.members[sent.sender].key;
        let Some(group) = self.world.members[to].group.as_mut() else {
            return;
        };
        let reader = sent.readers.iter().find(|(i, _, _)| *i == to);
        let owed = reader
            .is_some_and(|(_, generation, held)| *generation == self.generation[to] && *held)
            && sent.sender_generation == self.generation[sent.sender]
            && !sent.read_by.contains(&to)
            && group.is_member()
            && group.sender_epoch(&sender_key).is_some_and(|newest| {
                newest >= sent.epoch
                    && usize::try_from(newest - sent.epoch).is_ok_and(|gap| gap < MAX_SENDER_EPOCHS)
            });
        let before = group.to_bytes();
        match group.decrypt(&sent.message) {
            Ok(decrypted) => {
                assert!(
                    reader.is_some(),
                    "only members of the sender's roster at sending time read a message"
                );
                assert!(!sent.read_by.contains(&to), "a message is read once");
                assert_eq!(decrypted.plaintext(), sent.plaintext, "read what was sent");
                assert_eq!(decrypted.sender(), sender_key, "read from whom it was sent");
                self.group_sent[pick].read_by.insert(to);
            }
            Err(error) => {
                assert!(!owed, "party {to} must read message {pick}: {error:?}");
                assert_eq!(
                    *group.to_bytes(),
                    *before,
                    "a refused message changed nothing"
                );
            }
        }
    }

    fn group_tamper(&mut self, pick: u8, to: u8, bit: u16) {
        if self.group_sent.is_empty() {
            return;
        }
        let to = self.party(to);
        let sent = &self.group_sent[usize::from(pick) % self.group_sent.len()];
        let message = flip(&sent.message, bit);
        let Some(group) = self.world.members[to].group.as_mut() else {
            return;
        };
        let before = group.to_bytes();
        assert!(
            group.decrypt(&message).is_err(),
            "a tampered message is refused"
        );
        assert_eq!(
            *group.to_bytes(),
            *before,
            "a refused message changed nothing"
        );
    }

    /// Delivers all control in flight, panicking on a refusal nothing explains.
    fn flush(&mut self, what: &str) {
        if let Err(error) = self.world.flush() {
            panic!("control of {what}: {error}");
        }
    }

    fn change(&mut self, who: u8, change: Change) {
        let who = self.party(who);
        let world = &mut self.world;
        let Some(owner) = world.owner() else {
            return;
        };
        let target_key = world.members[who].key;
        let in_roster = world.members[owner]
            .group
            .as_ref()
            .is_some_and(|group| group.member(&target_key).is_some());
        let is_member = world.is_member(who);
        let actor = match change {
            Change::Add if !in_roster => owner,
            Change::Remove | Change::Offer if in_roster && who != owner => owner,
            Change::Rekey | Change::Resync | Change::Accept if is_member => who,
            _ => return,
        };
        let card = world.members[who].identity.card().clone();
        let member = &mut world.members[actor];
        let group = member.group.as_mut().expect("the actor is in the group");
        let result = match change {
            Change::Add => group.add_member(
                &mut world.rng,
                &member.identity,
                &card,
                &mut member.channels,
            ),
            Change::Remove => group.remove_member(
                &mut world.rng,
                &member.identity,
                &target_key,
                &mut member.channels,
            ),
            Change::Rekey => group.rekey(&mut world.rng, &mut member.channels),
            Change::Resync => group.resync(&mut world.rng, &mut member.channels),
            Change::Offer => group.offer_ownership(
                &mut world.rng,
                &member.identity,
                &target_key,
                &mut member.channels,
            ),
            Change::Accept => {
                group.accept_ownership(&mut world.rng, &member.identity, &mut member.channels)
            }
        };
        let received = match result {
            Ok(received) => received,
            // An offer that is out blocks the owner's changes until it is taken (for
            // good if it was lost); there may be no offer to take, or one overtaken.
            Err(Error::OwnershipTransferPending)
                if matches!(change, Change::Add | Change::Remove | Change::Offer) =>
            {
                return
            }
            Err(Error::NoOwnershipOffer) if matches!(change, Change::Accept) => return,
            Err(Error::StaleRoster { .. }) if matches!(change, Change::Accept) => return,
            Err(error) => panic!("{change:?} of {who} failed: {error:?}"),
        };
        let (events, outgoing) = received.into_parts();
        world.record(actor, events);
        world.post(actor, outgoing);
        self.flush(&format!("{change:?} of {who}"));
        if matches!(change, Change::Add | Change::Remove) {
            self.generation[who] += 1;
        }
    }

    /// A member (not the owner) leaves and the owner removes it, in one step: a member
    /// that left but is still in the roster could read what is sent, so a leave the
    /// owner could not follow with the removal (an offer out) is not made.
    fn leave(&mut self, who: u8) {
        let who = self.party(who);
        let world = &mut self.world;
        let Some(owner) = world.owner() else {
            return;
        };
        let key = world.members[who].key;
        if who == owner || !world.is_member(who) {
            return;
        }
        let owner_member = &world.members[owner];
        let (mut group, mut channels) = (
            owner_member.group.clone().expect("the owner's group"),
            owner_member.channels.clone(),
        );
        if group
            .remove_member(&mut rng(0), &owner_member.identity, &key, &mut channels)
            .is_err()
        {
            return;
        }
        let member = &mut world.members[who];
        let group = member.group.as_mut().expect("a member's group");
        let received = match group.leave(&mut world.rng, &mut member.channels) {
            Ok(received) => received,
            // A member that missed the roster of an ownership transfer to it.
            Err(Error::OwnerCannotLeave) if world.apart => return,
            Err(error) => panic!("leave of {who} failed: {error:?}"),
        };
        let (events, outgoing) = received.into_parts();
        world.record(who, events);
        world.post(who, outgoing);
        self.flush(&format!("leave of {who}"));
        let requested = self.world.events.iter().any(|(at, event)| {
            *at == owner && *event == GroupEvent::LeaveRequested { member: key }
        });
        assert!(
            requested || self.world.apart,
            "the owner heard the leave request"
        );
        let world = &mut self.world;
        let member = &mut world.members[owner];
        let group = member.group.as_mut().expect("the owner's group");
        let received = group
            .remove_member(&mut world.rng, &member.identity, &key, &mut member.channels)
            .unwrap_or_else(|error| panic!("removal of {who}, who left: {error:?}"));
        let (events, outgoing) = received.into_parts();
        world.record(owner, events);
        world.post(owner, outgoing);
        self.flush(&format!("removal of {who}, who left"));
        self.generation[who] += 1;
    }

    fn group_reload(&mut self, who: u8) {
        let who = self.party(who);
        let Some(group) = self.world.members[who].group.as_mut() else {
            return;
        };
        let saved = group.to_bytes();
        let loaded = Group::from_bytes(&saved).expect("load what was saved");
        assert_eq!(*loaded.to_bytes(), *saved, "loads back to the same bytes");
        *group = loaded;
    }
}

impl Default for Conversation {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Add,
    Remove,
    Rekey,
    Resync,
    Offer,
    Accept,
}

/// A plaintext that names its step, so that a mix-up cannot go unnoticed.
fn plaintext(step: usize, len: u8) -> Vec<u8> {
    let tag = format!("#{step}:");
    tag.bytes()
        .cycle()
        .take(usize::from(len).max(tag.len()))
        .collect()
}

/// `message` with one bit flipped.
fn flip(message: &[u8], bit: u16) -> Vec<u8> {
    let mut flipped = message.to_vec();
    if !flipped.is_empty() {
        let bit = usize::from(bit) % (flipped.len() * 8);
        flipped[bit / 8] ^= 1 << (bit % 8);
    }
    flipped
}

/// The bytes that `arbitrary` reads as `ops` (a list of operations, as the target takes
/// its input): for scripted seeds.
pub fn encode(ops: &[Op]) -> Vec<u8> {
    const VARIANTS: u64 = 19;
    let mut bytes = Vec::new();
    for op in ops {
        let (variant, fields): (u64, Vec<u8>) = match *op {
            Op::Send { from_bob, len } => (0, vec![u8::from(from_bob), len]),
            Op::Deliver { pick } => (1, vec![pick]),
            Op::Duplicate { pick } => (2, vec![pick]),
            Op::Tamper { pick, bit } => (3, [&[pick][..], &bit.to_le_bytes()].concat()),
            Op::Drop { pick } => (4, vec![pick]),
            Op::Reload { bob, sealed } => (5, vec![u8::from(bob), u8::from(sealed)]),
            Op::GroupSend { who, len } => (6, vec![who, len]),
            Op::GroupDeliver { pick, to } => (7, vec![pick, to]),
            Op::GroupTamper { pick, to, bit } => {
                (8, [&[pick, to][..], &bit.to_le_bytes()].concat())
            }
            Op::Add { who } => (9, vec![who]),
            Op::Remove { who } => (10, vec![who]),
            Op::Rekey { who } => (11, vec![who]),
            Op::GroupReload { who } => (12, vec![who]),
            Op::LoseControl { to, skip } => (13, vec![to, skip]),
            Op::Resync { who } => (14, vec![who]),
            Op::Leave { who } => (15, vec![who]),
            Op::Offer { who } => (16, vec![who]),
            Op::Accept { who } => (17, vec![who]),
            Op::Connect { who } => (18, vec![who]),
        };
        // `arbitrary` reads a list as "one more?" (a bool) before each element, and
        // picks the variant (u32 * VARIANTS) >> 32.
        let tag = u32::try_from((variant << 32).div_ceil(VARIANTS)).expect("a u32");
        bytes.push(1);
        bytes.extend_from_slice(&tag.to_le_bytes());
        bytes.extend(fields);
    }
    let decoded: Vec<Op> = arbitrary::Unstructured::new(&bytes)
        .arbitrary_take_rest_iter()
        .and_then(Iterator::collect)
        .expect("decodes");
    assert_eq!(
        format!("{decoded:?}"),
        format!("{ops:?}"),
        "encoded as read"
    );
    bytes
}
