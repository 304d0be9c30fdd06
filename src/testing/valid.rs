//! Valid inputs: real channels and groups made from a seeded random number generator, and
//! genuine messages on them.

use std::collections::BTreeMap;

use proptest::collection::vec;
use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;

use super::Side;
use crate::{Channel, Decrypted, Error, Group, Identity, Joined, PrekeyStore, Received, Result};

/// The creation time of every identity made here, so that cards do not depend on the clock.
const CREATED_AT: u64 = 1_700_000_000;

/// Longest plaintext the strategies generate.
const MAX_PLAINTEXT: usize = 128;

fn seeded(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn identity(rng: &mut ChaCha20Rng, name: &str) -> Result<Identity> {
    Identity::generate_at(rng, name, CREATED_AT)
}

/// Alice's and Bob's identities and Bob's prekey store with one one-time prekey, and
/// Alice's channel created from Bob's bundle with that prekey.
fn start(rng: &mut ChaCha20Rng) -> Result<(Identity, Identity, PrekeyStore, Channel)> {
    let alice = identity(rng, "alice")?;
    let bob = identity(rng, "bob")?;
    let mut prekeys = PrekeyStore::new(rng);
    let one_time = prekeys.generate_one_time_prekeys(rng, 1)?.first().copied();
    let bundle = crate::PrekeyBundle::from_bytes(&prekeys.bundle(&bob, one_time)?.to_bytes())?;
    let channel = Channel::create(rng, &alice, &bundle)?;
    Ok((alice, bob, prekeys, channel))
}

/// Bob's side of a channel before he joins: his identity, his prekey store, and the first
/// message Alice sent him.
///
/// Made by [`first_message`]. A valid input for [`Channel::join`]: it joins, once.
///
/// ```
/// use ratchetkit::testing::FirstMessage;
/// let mut first = FirstMessage::new(1)?;
/// let joined = first.join(&first.message.clone())?;
/// assert_eq!(joined.plaintext(), first.plaintext);
/// // The one-time prekey is used up: the same message cannot start a second channel.
/// assert!(first.join(&first.message.clone()).is_err());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct FirstMessage {
    /// Bob, to whom the message is addressed.
    pub identity: Identity,
    /// Bob's prekey store, with the one-time prekey the message uses.
    pub prekeys: PrekeyStore,
    /// Alice's first `ChannelMessage`, with her prekey information.
    pub message: Vec<u8>,
    /// Its plaintext.
    pub plaintext: Vec<u8>,
}

impl FirstMessage {
    /// Alice creates a channel from Bob's bundle (with a one-time prekey) and encrypts
    /// `"hello bob"`; everything comes from a ChaCha20 generator seeded with `seed`.
    ///
    /// # Errors
    /// Whatever the crate's own calls return; none is expected.
    ///
    /// ```
    /// # use ratchetkit::testing::FirstMessage;
    /// let first = FirstMessage::new(7)?;
    /// assert_eq!(first.message, FirstMessage::new(7)?.message);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn new(seed: u64) -> Result<Self> {
        Self::with_plaintext(seed, b"hello bob")
    }

    fn with_plaintext(seed: u64, plaintext: &[u8]) -> Result<Self> {
        let mut rng = seeded(seed);
        let (_, bob, prekeys, mut channel) = start(&mut rng)?;
        let message = channel.encrypt(&mut rng, plaintext)?;
        Ok(Self {
            identity: bob,
            prekeys,
            message,
            plaintext: plaintext.to_vec(),
        })
    }

    /// [`Channel::join`] with Bob's identity and prekey store and `message` (this one's
    /// [`FirstMessage::message`], or a mutation of it).
    ///
    /// # Errors
    /// Those of [`Channel::join`]; the prekey store is then unchanged.
    ///
    /// ```
    /// # use ratchetkit::testing::FirstMessage;
    /// let mut first = FirstMessage::new(2)?;
    /// let before = first.prekeys.to_bytes();
    /// assert!(first.join(b"not a channel message").is_err());
    /// assert!(*first.prekeys.to_bytes() == *before);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn join(&mut self, message: &[u8]) -> Result<Joined> {
        Channel::join(&self.identity, &mut self.prekeys, message)
    }
}

/// Genuine first messages, with Bob's side ready to join them, from arbitrary seeds and
/// plaintexts.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::first_message;
///
/// proptest!(ProptestConfig::with_cases(4), |(mut first in first_message())| {
///     let message = first.message.clone();
///     prop_assert_eq!(first.join(&message)?.into_parts().1, first.plaintext);
/// });
/// ```
pub fn first_message() -> impl Strategy<Value = FirstMessage> {
    (any::<u64>(), vec(any::<u8>(), 0..=MAX_PLAINTEXT)).prop_filter_map(
        "the crate failed to make a first message",
        |(seed, plaintext)| FirstMessage::with_plaintext(seed, &plaintext).ok(),
    )
}

/// A real channel between Alice (its creator) and Bob, and the seeded generator that
/// both sides encrypt with.
///
/// ```
/// use ratchetkit::testing::{ChannelPair, Side};
/// let mut pair = ChannelPair::established(3)?;
/// let message = pair.send(Side::Alice, b"hi")?;
/// assert_eq!(pair.receive(Side::Bob, &message)?, b"hi");
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub struct ChannelPair {
    alice: Channel,
    bob: Channel,
    rng: ChaCha20Rng,
}

impl core::fmt::Debug for ChannelPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ChannelPair")
            .field("alice", &self.alice)
            .field("bob", &self.bob)
            .finish_non_exhaustive()
    }
}

impl ChannelPair {
    /// Alice creates the channel from Bob's bundle (with a one-time prekey), and Bob joins
    /// from her first message. Nobody has replied yet, so Alice still attaches her prekey
    /// information to what she sends. Everything comes from a ChaCha20 generator seeded
    /// with `seed`.
    ///
    /// # Errors
    /// Whatever the crate's own calls return; none is expected.
    ///
    /// ```
    /// # use ratchetkit::testing::{ChannelPair, Side};
    /// let mut pair = ChannelPair::joined(4)?;
    /// let reply = pair.send(Side::Bob, b"hi alice")?;
    /// assert_eq!(pair.receive(Side::Alice, &reply)?, b"hi alice");
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn joined(seed: u64) -> Result<Self> {
        let mut rng = seeded(seed);
        let (_, bob, mut prekeys, mut alice) = start(&mut rng)?;
        let first = alice.encrypt(&mut rng, b"hello bob")?;
        let bob = Channel::join(&bob, &mut prekeys, &first)?.into_channel();
        Ok(Self { alice, bob, rng })
    }

    /// [`ChannelPair::joined`], then a round trip: Bob replies, Alice answers. Both sides
    /// have done a ratchet step and Alice no longer attaches prekey information.
    ///
    /// # Errors
    /// Whatever the crate's own calls return; none is expected.
    ///
    /// ```
    /// # use ratchetkit::testing::{ChannelPair, Side};
    /// let pair = ChannelPair::established(5)?;
    /// assert_eq!(pair.channel(Side::Alice).skipped_keys(), 0);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn established(seed: u64) -> Result<Self> {
        let mut pair = Self::joined(seed)?;
        let reply = pair.send(Side::Bob, b"hi alice")?;
        pair.receive(Side::Alice, &reply)?;
        let answer = pair.send(Side::Alice, b"how are you?")?;
        pair.receive(Side::Bob, &answer)?;
        Ok(pair)
    }

    /// The side's channel: compare its `to_bytes()` before and after a rejected input.
    ///
    /// ```
    /// # use ratchetkit::testing::{ChannelPair, Side};
    /// let mut pair = ChannelPair::established(6)?;
    /// let before = pair.channel(Side::Bob).to_bytes();
    /// assert!(pair.receive(Side::Bob, b"garbage").is_err());
    /// assert!(*pair.channel(Side::Bob).to_bytes() == *before);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn channel(&self, side: Side) -> &Channel {
        match side {
            Side::Alice => &self.alice,
            Side::Bob => &self.bob,
        }
    }

    /// The side's channel, to use directly.
    ///
    /// ```
    /// # use ratchetkit::testing::{ChannelPair, Side};
    /// let mut pair = ChannelPair::established(7)?;
    /// let mut rng = rand::rng();
    /// let message = pair.channel_mut(Side::Bob).encrypt(&mut rng, b"hey")?;
    /// assert_eq!(pair.receive(Side::Alice, &message)?, b"hey");
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn channel_mut(&mut self, side: Side) -> &mut Channel {
        match side {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        }
    }

    /// Encrypts `plaintext` on `from`'s channel, with the pair's seeded generator.
    ///
    /// # Errors
    /// Those of [`Channel::encrypt`].
    ///
    /// ```
    /// # use ratchetkit::testing::{ChannelPair, Side};
    /// let mut pair = ChannelPair::established(8)?;
    /// let lost = pair.send(Side::Bob, b"lost")?;
    /// let late = pair.send(Side::Bob, b"late")?;
    /// assert_eq!(pair.receive(Side::Alice, &late)?, b"late");
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn send(&mut self, from: Side, plaintext: &[u8]) -> Result<Vec<u8>> {
        let channel = match from {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        };
        channel.encrypt(&mut self.rng, plaintext)
    }

    /// Decrypts `message` on `to`'s channel.
    ///
    /// # Errors
    /// Those of [`Channel::decrypt`]; the channel is then unchanged.
    ///
    /// ```
    /// # use ratchetkit::{testing::{ChannelPair, Side}, Error};
    /// let mut pair = ChannelPair::established(9)?;
    /// let message = pair.send(Side::Alice, b"once")?;
    /// assert_eq!(pair.receive(Side::Bob, &message)?, b"once");
    /// assert_eq!(pair.receive(Side::Bob, &message), Err(Error::Duplicate));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn receive(&mut self, to: Side, message: &[u8]) -> Result<Vec<u8>> {
        self.channel_mut(to).decrypt(message)
    }
}

/// Channel pairs from arbitrary seeds, half of them [joined](ChannelPair::joined) (Alice
/// still attaches prekey information), half [established](ChannelPair::established).
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::{channel_pair, Side};
///
/// proptest!(ProptestConfig::with_cases(4), |(mut pair in channel_pair())| {
///     let message = pair.send(Side::Bob, b"hello")?;
///     prop_assert_eq!(pair.receive(Side::Alice, &message)?, b"hello");
/// });
/// ```
pub fn channel_pair() -> impl Strategy<Value = ChannelPair> {
    (any::<u64>(), any::<bool>()).prop_filter_map(
        "the crate failed to make a channel pair",
        |(seed, established)| {
            if established {
                ChannelPair::established(seed)
            } else {
                ChannelPair::joined(seed)
            }
            .ok()
        },
    )
}

/// A genuine channel message on its way: the pair as it is before `to` receives it.
///
/// Made by [`channel_message`]. Given to `pair.receive(to, &message)` it decrypts to
/// `plaintext`; any other bytes must be rejected and leave the channel unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub struct ValidChannelMessage {
    /// The channels, before the message is received.
    pub pair: ChannelPair,
    /// The recipient.
    pub to: Side,
    /// The `ChannelMessage` bytes.
    pub message: Vec<u8>,
    /// What it decrypts to.
    pub plaintext: Vec<u8>,
}

/// Genuine channel messages: on a [`channel_pair`], a side sends a few messages that are
/// lost (0 to 2, so the message may make the receiver skip keys), then the message.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::channel_message;
///
/// proptest!(ProptestConfig::with_cases(4), |(mut valid in channel_message())| {
///     let decrypted = valid.pair.receive(valid.to, &valid.message)?;
///     prop_assert_eq!(decrypted, valid.plaintext);
/// });
/// ```
pub fn channel_message() -> impl Strategy<Value = ValidChannelMessage> {
    (
        channel_pair(),
        any::<Side>(),
        0..3usize,
        vec(any::<u8>(), 0..=MAX_PLAINTEXT),
    )
        .prop_filter_map(
            "the crate failed to encrypt",
            |(mut pair, from, lost, plaintext)| {
                for _ in 0..lost {
                    pair.send(from, b"lost").ok()?;
                }
                let message = pair.send(from, &plaintext).ok()?;
                Some(ValidChannelMessage {
                    pair,
                    to: from.peer(),
                    message,
                    plaintext,
                })
            },
        )
}

/// One member of a [`GroupPair`]: its group and its channel to the other.
#[derive(Debug)]
struct Member {
    key: [u8; 32],
    group: Group,
    channels: BTreeMap<[u8; 32], Channel>,
}

/// A real group of two: Alice owns it, Bob has joined, and each holds the other's sender
/// key. Their established channel carries the group's control.
///
/// ```
/// use ratchetkit::testing::{GroupPair, Side};
/// let mut pair = GroupPair::new(1)?;
/// let message = pair.send(Side::Alice, b"hello group")?;
/// assert_eq!(pair.decrypt(Side::Bob, &message)?.plaintext(), b"hello group");
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub struct GroupPair {
    alice: Member,
    bob: Member,
    rng: ChaCha20Rng,
}

impl core::fmt::Debug for GroupPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupPair")
            .field("alice", &self.alice)
            .field("bob", &self.bob)
            .finish_non_exhaustive()
    }
}

impl GroupPair {
    /// Alice and Bob establish a channel (Alice creates it, Bob joins and replies), Alice
    /// creates the group with Bob, Bob joins from her welcome, and Alice receives Bob's
    /// sender key. Everything comes from a ChaCha20 generator seeded with `seed`.
    ///
    /// # Errors
    /// Whatever the crate's own calls return; none is expected.
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let pair = GroupPair::new(2)?;
    /// assert_eq!(pair.group(Side::Bob).members().len(), 2);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn new(seed: u64) -> Result<Self> {
        let mut rng = seeded(seed);
        let (alice, bob, mut prekeys, mut to_bob) = start(&mut rng)?;
        let (a, b) = (alice.card().signing_key(), bob.card().signing_key());
        let hello = to_bob.encrypt(&mut rng, b"hello bob")?;
        let mut to_alice = Channel::join(&bob, &mut prekeys, &hello)?.into_channel();
        to_bob.decrypt(&to_alice.encrypt(&mut rng, b"hi alice")?)?;
        let mut alice_channels = BTreeMap::from([(b, to_bob)]);
        let mut bob_channels = BTreeMap::from([(a, to_alice)]);

        let (alice_group, welcome) =
            Group::create(&mut rng, &alice, &[bob.card().clone()], &mut alice_channels)?;
        let welcome = only_message(welcome.into_parts().1, b)?;
        let (bob_group, joined) = Group::join(&mut rng, &bob, &mut bob_channels, &a, &welcome)?;
        let mut pair = Self {
            alice: Member {
                key: a,
                group: alice_group,
                channels: alice_channels,
            },
            bob: Member {
                key: b,
                group: bob_group,
                channels: bob_channels,
            },
            rng,
        };
        let sender_key = only_message(joined.into_parts().1, a)?;
        pair.receive(Side::Alice, &sender_key)?;
        Ok(pair)
    }

    fn member(&self, side: Side) -> &Member {
        match side {
            Side::Alice => &self.alice,
            Side::Bob => &self.bob,
        }
    }

    fn member_mut(&mut self, side: Side) -> &mut Member {
        match side {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        }
    }

    /// The side's Ed25519 identity key, as group messages name their sender.
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let mut pair = GroupPair::new(3)?;
    /// let message = pair.send(Side::Bob, b"hi")?;
    /// assert_eq!(pair.decrypt(Side::Alice, &message)?.sender(), pair.key(Side::Bob));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn key(&self, side: Side) -> [u8; 32] {
        self.member(side).key
    }

    /// The side's group: compare its `to_bytes()` before and after a rejected input.
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let pair = GroupPair::new(4)?;
    /// assert_eq!(pair.group(Side::Alice).owner(), pair.group(Side::Bob).owner());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn group(&self, side: Side) -> &Group {
        &self.member(side).group
    }

    /// The side's channel to the other, which carries the group's control: a rejected
    /// control message must leave it unchanged too.
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let pair = GroupPair::new(5)?;
    /// let channel = pair.channel(Side::Bob).expect("Bob's channel to Alice");
    /// assert_eq!(channel.peer_signing_key(), pair.key(Side::Alice));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn channel(&self, side: Side) -> Option<&Channel> {
        self.member(side).channels.get(&self.key(side.peer()))
    }

    /// Encrypts `plaintext` as a group message from `from`.
    ///
    /// # Errors
    /// Those of [`Group::encrypt`].
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let mut pair = GroupPair::new(6)?;
    /// let message = pair.send(Side::Bob, b"to everyone")?;
    /// assert_eq!(pair.decrypt(Side::Alice, &message)?.plaintext(), b"to everyone");
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn send(&mut self, from: Side, plaintext: &[u8]) -> Result<Vec<u8>> {
        let member = match from {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        };
        member.group.encrypt(&mut self.rng, plaintext)
    }

    /// Decrypts a group message for `to`.
    ///
    /// # Errors
    /// Those of [`Group::decrypt`]; the group is then unchanged.
    ///
    /// ```
    /// # use ratchetkit::{testing::{GroupPair, Side}, Error};
    /// let mut pair = GroupPair::new(7)?;
    /// let message = pair.send(Side::Alice, b"once")?;
    /// pair.decrypt(Side::Bob, &message)?;
    /// assert_eq!(pair.decrypt(Side::Bob, &message), Err(Error::Duplicate));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn decrypt(&mut self, to: Side, message: &[u8]) -> Result<Decrypted> {
        self.member_mut(to).group.decrypt(message)
    }

    /// `from` moves to a new sender key epoch: the group control message (a channel
    /// message) that carries it to the other side.
    ///
    /// # Errors
    /// Those of [`Group::rekey`].
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let mut pair = GroupPair::new(8)?;
    /// let control = pair.rekey(Side::Bob)?;
    /// let message = pair.send(Side::Bob, b"new epoch")?;
    /// pair.receive(Side::Alice, &control)?;
    /// assert_eq!(pair.decrypt(Side::Alice, &message)?.epoch(), 1);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn rekey(&mut self, from: Side) -> Result<Vec<u8>> {
        let peer = self.key(from.peer());
        let rng = &mut self.rng;
        let member = match from {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        };
        let outgoing = member
            .group
            .rekey(rng, &mut member.channels)?
            .into_parts()
            .1;
        only_message(outgoing, peer)
    }

    /// Gives `to` a group control message from the other side, with [`Group::receive`].
    ///
    /// # Errors
    /// Those of [`Group::receive`]; the group and the channel are then unchanged.
    ///
    /// ```
    /// # use ratchetkit::testing::{GroupPair, Side};
    /// let mut pair = GroupPair::new(9)?;
    /// let control = pair.rekey(Side::Alice)?;
    /// let received = pair.receive(Side::Bob, &control)?;
    /// assert!(received.outgoing().is_empty());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn receive(&mut self, to: Side, message: &[u8]) -> Result<Received> {
        let from = self.key(to.peer());
        let rng = &mut self.rng;
        let member = match to {
            Side::Alice => &mut self.alice,
            Side::Bob => &mut self.bob,
        };
        member
            .group
            .receive(rng, &mut member.channels, &from, message)
    }
}

/// The message to `to` among the outgoing control of a group of two.
fn only_message(outgoing: Vec<crate::group::Outgoing>, to: [u8; 32]) -> Result<Vec<u8>> {
    outgoing
        .into_iter()
        .find(|outgoing| outgoing.to() == to)
        .map(|outgoing| outgoing.into_parts().1)
        .ok_or_else(|| Error::MissingChannel {
            member: crate::error::Party::from(to),
        })
}

/// Group pairs from arbitrary seeds.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::{group_pair, Side};
///
/// proptest!(ProptestConfig::with_cases(2), |(pair in group_pair())| {
///     prop_assert_eq!(pair.group(Side::Alice).roster_version(), 1);
/// });
/// ```
pub fn group_pair() -> impl Strategy<Value = GroupPair> {
    any::<u64>().prop_filter_map("the crate failed to make a group", |seed| {
        GroupPair::new(seed).ok()
    })
}

/// A genuine group message on its way: the groups as they are before `to` decrypts it.
///
/// Made by [`group_message`]. Given to `pair.decrypt(to, &message)` it decrypts to
/// `plaintext`; any other bytes must be rejected and leave the group unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub struct ValidGroupMessage {
    /// The group, before the message is decrypted.
    pub pair: GroupPair,
    /// The recipient.
    pub to: Side,
    /// The `GroupMessage` bytes.
    pub message: Vec<u8>,
    /// What it decrypts to.
    pub plaintext: Vec<u8>,
}

/// Genuine group messages: on a [`group_pair`], a side sends 0 to 2 messages that are
/// lost, then the message.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::group_message;
///
/// proptest!(ProptestConfig::with_cases(2), |(mut valid in group_message())| {
///     let decrypted = valid.pair.decrypt(valid.to, &valid.message)?;
///     prop_assert_eq!(decrypted.plaintext(), &valid.plaintext[..]);
/// });
/// ```
pub fn group_message() -> impl Strategy<Value = ValidGroupMessage> {
    (
        group_pair(),
        any::<Side>(),
        0..3usize,
        vec(any::<u8>(), 0..=MAX_PLAINTEXT),
    )
        .prop_filter_map(
            "the crate failed to encrypt",
            |(mut pair, from, lost, plaintext)| {
                for _ in 0..lost {
                    pair.send(from, b"lost").ok()?;
                }
                let message = pair.send(from, &plaintext).ok()?;
                Some(ValidGroupMessage {
                    pair,
                    to: from.peer(),
                    message,
                    plaintext,
                })
            },
        )
}

/// A genuine group control message on its way (a channel message carrying a new sender
/// key): the pair as it is before `to` receives it.
///
/// Made by [`group_control`]. Given to `pair.receive(to, &message)` it is accepted; any
/// other bytes must be rejected and leave both the group and the channel unchanged.
#[derive(Debug)]
#[non_exhaustive]
pub struct ValidGroupControl {
    /// The group, before the control is received.
    pub pair: GroupPair,
    /// The recipient.
    pub to: Side,
    /// The `ChannelMessage` bytes.
    pub message: Vec<u8>,
}

/// Genuine group control: on a [`group_pair`], a side rekeys.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::group_control;
///
/// proptest!(ProptestConfig::with_cases(2), |(mut valid in group_control())| {
///     prop_assert!(valid.pair.receive(valid.to, &valid.message).is_ok());
/// });
/// ```
pub fn group_control() -> impl Strategy<Value = ValidGroupControl> {
    (group_pair(), any::<Side>()).prop_filter_map(
        "the crate failed to rekey",
        |(mut pair, from)| {
            let message = pair.rekey(from).ok()?;
            Some(ValidGroupControl {
                pair,
                to: from.peer(),
                message,
            })
        },
    )
}
