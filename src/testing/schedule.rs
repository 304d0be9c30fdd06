//! Conversation schedules: who sends, and what the network delivers, drops, duplicates
//! and reorders, as data that any implementation can be driven by.

use proptest::collection::{vec, SizeRange};
use proptest::prelude::*;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;

use super::Side;
use crate::{Channel, Error, Identity, PrekeyBundle, PrekeyStore, Result};

/// One step of a [`Schedule`].
///
/// Each side has a queue of messages in flight towards it, in the order they were sent.
/// `pick` numbers are taken modulo the length of the list they choose from, and a step
/// whose list is empty does nothing.
///
/// ```
/// use ratchetkit::testing::{ConversationStep, Side};
/// let step = ConversationStep::Send { from: Side::Alice, count: 2 };
/// assert_ne!(step, ConversationStep::DeliverAll { to: Side::Bob });
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConversationStep {
    /// `from` encrypts `count` messages, which join the queue towards the other side.
    /// Message `i` (counting every message sent by either side, from 0) has plaintext
    /// `"alice i"` or `"bob i"`. A side that cannot send yet (Bob before he has joined)
    /// does nothing.
    Send {
        /// The sender.
        from: Side,
        /// How many messages.
        count: u8,
    },
    /// Takes message `pick` out of the queue towards `to` and delivers it (any order:
    /// the network reorders).
    Deliver {
        /// The recipient.
        to: Side,
        /// Which message in flight.
        pick: usize,
    },
    /// Delivers to `to` again a message delivered to it before: message `pick` of those
    /// taken out of its queue so far, in the order they were.
    Duplicate {
        /// The recipient.
        to: Side,
        /// Which message delivered before.
        pick: usize,
    },
    /// Takes message `pick` out of the queue towards `to`, never to be delivered.
    Drop {
        /// The recipient it will never reach.
        to: Side,
        /// Which message in flight.
        pick: usize,
    },
    /// `side` saves its state and loads it back.
    Reload {
        /// The side.
        side: Side,
    },
    /// Delivers every message in the queue towards `to`, the newest first.
    DeliverAll {
        /// The recipient.
        to: Side,
    },
}

impl Arbitrary for ConversationStep {
    type Parameters = ();
    type Strategy = BoxedStrategy<Self>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        prop_oneof![
            6 => (any::<Side>(), 1..=5u8).prop_map(|(from, count)| Self::Send { from, count }),
            10 => (any::<Side>(), any::<usize>()).prop_map(|(to, pick)| Self::Deliver { to, pick }),
            2 => (any::<Side>(), any::<usize>()).prop_map(|(to, pick)| Self::Duplicate { to, pick }),
            2 => (any::<Side>(), any::<usize>()).prop_map(|(to, pick)| Self::Drop { to, pick }),
            2 => any::<Side>().prop_map(|side| Self::Reload { side }),
            1 => any::<Side>().prop_map(|to| Self::DeliverAll { to }),
        ]
        .boxed()
    }
}

/// A conversation between Alice, who creates a channel, and Bob, who joins it from the
/// first of her messages that reaches him: a list of [`ConversationStep`]s.
///
/// It is plain data, with nothing of this crate in it: drive your own implementation with
/// it through [`play`] and an [`Endpoint`], or your own driver, and compare with what
/// [`run_schedule`] reports for this crate.
///
/// ```
/// use ratchetkit::testing::{ConversationStep::*, Schedule, Side::*};
/// let schedule = Schedule {
///     steps: vec![Send { from: Alice, count: 3 }, Drop { to: Bob, pick: 0 }],
/// }
/// .then_deliver_everything();
/// assert_eq!(schedule.steps.len(), 4);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Schedule {
    /// The steps, in order.
    pub steps: Vec<ConversationStep>,
}

impl Schedule {
    /// The schedule followed by the delivery of everything still in flight, to Alice and
    /// then to Bob: then every message that was not dropped has been delivered.
    ///
    /// ```
    /// use ratchetkit::testing::{ConversationStep, Schedule, Side};
    /// let schedule = Schedule::default().then_deliver_everything();
    /// assert_eq!(schedule.steps, [
    ///     ConversationStep::DeliverAll { to: Side::Alice },
    ///     ConversationStep::DeliverAll { to: Side::Bob },
    /// ]);
    /// ```
    pub fn then_deliver_everything(mut self) -> Self {
        self.steps.extend([
            ConversationStep::DeliverAll { to: Side::Alice },
            ConversationStep::DeliverAll { to: Side::Bob },
        ]);
        self
    }
}

impl Arbitrary for Schedule {
    /// How many steps.
    type Parameters = SizeRange;
    type Strategy = BoxedStrategy<Self>;

    fn arbitrary_with(steps: SizeRange) -> Self::Strategy {
        vec(any::<ConversationStep>(), steps)
            .prop_map(|steps| Self { steps })
            .boxed()
    }
}

/// Schedules with a number of steps in `steps`. `any::<Schedule>()` has proptest's default
/// size range, 0 to 99 steps.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::{run_schedule, schedule};
///
/// proptest!(ProptestConfig::with_cases(4), |(seed: u64, schedule in schedule(1..50))| {
///     let transcript = run_schedule(seed, &schedule.then_deliver_everything())?;
///     for (i, sent) in transcript.messages.iter().enumerate() {
///         prop_assert_eq!(transcript.accepted(i), usize::from(!sent.dropped));
///     }
/// });
/// ```
pub fn schedule(steps: impl Into<SizeRange>) -> impl Strategy<Value = Schedule> {
    any_with::<Schedule>(steps.into())
}

/// One side of a conversation as [`play`] drives it: your implementation's, or this
/// crate's ([`ChannelEndpoint`]).
///
/// ```
/// use ratchetkit::testing::{ChannelEndpoint, Endpoint};
/// let (mut alice, mut bob) = ChannelEndpoint::pair(1)?;
/// assert!(alice.can_send() && !bob.can_send());
/// let first = alice.encrypt(b"hi bob")?;
/// assert_eq!(bob.receive(&first)?, b"hi bob");
/// assert!(bob.can_send());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub trait Endpoint {
    /// What a failed call returns; the transcript keeps its `Debug` text.
    type Error: core::fmt::Debug;

    /// Whether the side can send: always for the creator, once it has joined for the
    /// joiner.
    fn can_send(&self) -> bool;

    /// Encrypts a message to the other side.
    ///
    /// # Errors
    /// Any failure; [`play`] stops with it.
    fn encrypt(&mut self, plaintext: &[u8]) -> core::result::Result<Vec<u8>, Self::Error>;

    /// Receives a message from the other side: the joiner joins with the first one it can.
    ///
    /// # Errors
    /// A rejected message, which must leave the side as it was.
    fn receive(&mut self, message: &[u8]) -> core::result::Result<Vec<u8>, Self::Error>;

    /// Saves the side's state and loads it back.
    ///
    /// # Errors
    /// Any failure; [`play`] stops with it.
    fn reload(&mut self) -> core::result::Result<(), Self::Error>;
}

/// A side of a conversation on this crate's [`Channel`]: the creator holds its channel from
/// the start, the joiner its identity and prekeys until a message lets it join.
///
/// ```
/// use ratchetkit::testing::{ChannelEndpoint, Endpoint};
/// let (mut alice, mut bob) = ChannelEndpoint::pair(2)?;
/// bob.receive(&alice.encrypt(b"hi")?)?;
/// bob.reload()?;
/// assert_eq!(alice.receive(&bob.encrypt(b"hello")?)?, b"hello");
/// assert!(alice.channel().is_some() && bob.channel().is_some());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Debug)]
pub struct ChannelEndpoint {
    state: EndpointState,
    rng: ChaCha20Rng,
}

#[derive(Debug)]
// One per endpoint, and rarely moved: the size difference does not matter.
#[allow(clippy::large_enum_variant)]
enum EndpointState {
    /// The joiner before it has joined: its identity and prekey store.
    Waiting(Identity, PrekeyStore),
    Open(Channel),
}

impl ChannelEndpoint {
    /// The creator's side: a channel from `identity` to the owner of `bundle`, encrypting
    /// with a ChaCha20 generator seeded with `seed`.
    ///
    /// # Errors
    /// Those of [`Channel::create`].
    ///
    /// ```
    /// use ratchetkit::{testing::ChannelEndpoint, Identity, PrekeyStore};
    /// let mut rng = rand::rng();
    /// let (alice, bob) = (Identity::generate(&mut rng, "alice")?, Identity::generate(&mut rng, "bob")?);
    /// let prekeys = PrekeyStore::new(&mut rng);
    /// let alice = ChannelEndpoint::creator(1, &alice, &prekeys.bundle(&bob, None)?)?;
    /// let bob = ChannelEndpoint::joiner(2, bob, prekeys);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn creator(seed: u64, identity: &Identity, bundle: &PrekeyBundle) -> Result<Self> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let channel = Channel::create(&mut rng, identity, bundle)?;
        Ok(Self {
            state: EndpointState::Open(channel),
            rng,
        })
    }

    /// The joiner's side: `identity` with `prekeys`, which joins with the first message it
    /// receives that starts a channel, and encrypts with a ChaCha20 generator seeded with
    /// `seed`.
    ///
    /// ```
    /// use ratchetkit::{testing::{ChannelEndpoint, Endpoint}, Identity, PrekeyStore};
    /// let mut rng = rand::rng();
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let bob = ChannelEndpoint::joiner(2, bob, PrekeyStore::new(&mut rng));
    /// assert!(!bob.can_send() && bob.channel().is_none());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn joiner(seed: u64, identity: Identity, prekeys: PrekeyStore) -> Self {
        Self {
            state: EndpointState::Waiting(identity, prekeys),
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// Alice, the creator, and Bob, the joiner, from a ChaCha20 generator seeded with
    /// `seed`: Alice's channel is created from Bob's bundle with a one-time prekey.
    ///
    /// # Errors
    /// Whatever the crate's own calls return; none is expected.
    ///
    /// ```
    /// use ratchetkit::testing::{ChannelEndpoint, Endpoint};
    /// let (mut alice, mut bob) = ChannelEndpoint::pair(3)?;
    /// assert_eq!(bob.receive(&alice.encrypt(b"hi")?)?, b"hi");
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn pair(seed: u64) -> Result<(Self, Self)> {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let alice = Identity::generate_at(&mut rng, "alice", 1_700_000_000)?;
        let bob = Identity::generate_at(&mut rng, "bob", 1_700_000_000)?;
        let mut prekeys = PrekeyStore::new(&mut rng);
        let one_time = prekeys
            .generate_one_time_prekeys(&mut rng, 1)?
            .first()
            .copied();
        let bundle = PrekeyBundle::from_bytes(&prekeys.bundle(&bob, one_time)?.to_bytes())?;
        let alice = Self::creator(seed.wrapping_add(1), &alice, &bundle)?;
        let bob = Self::joiner(seed.wrapping_add(2), bob, prekeys);
        Ok((alice, bob))
    }

    /// The channel, once there is one.
    ///
    /// ```
    /// use ratchetkit::testing::{ChannelEndpoint, Endpoint};
    /// let (alice, bob) = ChannelEndpoint::pair(4)?;
    /// assert!(alice.channel().is_some() && bob.channel().is_none());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn channel(&self) -> Option<&Channel> {
        match &self.state {
            EndpointState::Open(channel) => Some(channel),
            EndpointState::Waiting(..) => None,
        }
    }
}

/// Saves `bytes`' owner and loads it back, insisting on the same bytes again.
fn reloaded<T>(
    bytes: &[u8],
    load: impl Fn(&[u8]) -> Result<T>,
    save: impl Fn(&T) -> zeroize::Zeroizing<Vec<u8>>,
) -> Result<T> {
    let loaded = load(bytes)?;
    if *save(&loaded) == *bytes {
        Ok(loaded)
    } else {
        Err(Error::InvalidState {
            reason: "a reloaded state serializes differently",
        })
    }
}

impl Endpoint for ChannelEndpoint {
    type Error = Error;

    fn can_send(&self) -> bool {
        self.channel().is_some()
    }

    fn encrypt(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        match &mut self.state {
            EndpointState::Open(channel) => channel.encrypt(&mut self.rng, plaintext),
            // `play` never asks: the joiner cannot send before it has joined.
            EndpointState::Waiting(..) => Err(Error::NotAPrekeyMessage),
        }
    }

    fn receive(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        match &mut self.state {
            EndpointState::Open(channel) => channel.decrypt(message),
            EndpointState::Waiting(identity, prekeys) => {
                let (channel, plaintext, _, _) =
                    Channel::join(identity, prekeys, message)?.into_parts();
                self.state = EndpointState::Open(channel);
                Ok(plaintext)
            }
        }
    }

    fn reload(&mut self) -> Result<()> {
        match &mut self.state {
            EndpointState::Open(channel) => {
                *channel = reloaded(&channel.to_bytes(), Channel::from_bytes, Channel::to_bytes)?;
            }
            EndpointState::Waiting(identity, prekeys) => {
                let new_identity = reloaded(
                    &identity.to_bytes(),
                    Identity::from_bytes,
                    Identity::to_bytes,
                )?;
                let new_prekeys = reloaded(
                    &prekeys.to_bytes(),
                    PrekeyStore::from_bytes,
                    PrekeyStore::to_bytes,
                )?;
                *identity = new_identity;
                *prekeys = new_prekeys;
            }
        }
        Ok(())
    }
}

/// A message sent while a schedule was played.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SentMessage {
    /// The sender.
    pub from: Side,
    /// The plaintext: `"alice i"` or `"bob i"` for message `i`.
    pub plaintext: Vec<u8>,
    /// What the sender's [`Endpoint::encrypt`] returned.
    pub bytes: Vec<u8>,
    /// Whether the network dropped it (it was never delivered).
    pub dropped: bool,
}

/// What a delivery did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The recipient accepted the message.
    Accepted {
        /// What it decrypted to.
        plaintext: Vec<u8>,
    },
    /// The recipient rejected it.
    Rejected {
        /// The `Debug` text of the error.
        error: String,
    },
}

/// One delivery while a schedule was played.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// The index of the step that made it.
    pub step: usize,
    /// The recipient.
    pub to: Side,
    /// The index of the message in [`Transcript::messages`].
    pub message: usize,
    /// Whether this was a [`ConversationStep::Duplicate`] of an earlier delivery.
    pub again: bool,
    /// What the recipient did.
    pub outcome: Outcome,
}

/// Everything that happened while a schedule was played.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Transcript {
    /// Every message sent, in order.
    pub messages: Vec<SentMessage>,
    /// Every delivery, in order.
    pub deliveries: Vec<Delivery>,
}

impl Transcript {
    /// How many deliveries of message `message` were accepted: at most one in a correct
    /// implementation, and one for every message not dropped once everything was
    /// delivered ([`Schedule::then_deliver_everything`]).
    ///
    /// ```
    /// use ratchetkit::testing::{run_schedule, ConversationStep::*, Schedule, Side::*};
    /// let schedule = Schedule {
    ///     steps: vec![Send { from: Alice, count: 1 }, Deliver { to: Bob, pick: 0 }, Duplicate { to: Bob, pick: 0 }],
    /// };
    /// let transcript = run_schedule(1, &schedule)?;
    /// assert_eq!(transcript.deliveries.len(), 2);
    /// assert_eq!(transcript.accepted(0), 1);
    /// # Ok::<(), ratchetkit::testing::ScheduleError>(())
    /// ```
    pub fn accepted(&self, message: usize) -> usize {
        self.deliveries
            .iter()
            .filter(|delivery| {
                delivery.message == message && matches!(delivery.outcome, Outcome::Accepted { .. })
            })
            .count()
    }
}

/// A side failed to encrypt or reload while a schedule was played (or, with no step,
/// [`run_schedule`] failed to set up the channel).
///
/// ```
/// use ratchetkit::testing::{ScheduleError, Side};
/// let error = ScheduleError { step: Some(3), side: Side::Bob, error: "ChainExhausted".into() };
/// assert_eq!(error.to_string(), "step 3: bob failed: ChainExhausted");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleError {
    /// The step, or `None` for the set-up.
    pub step: Option<usize>,
    /// The side that failed.
    pub side: Side,
    /// The `Debug` text of its error.
    pub error: String,
}

impl core::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.step {
            Some(step) => write!(f, "step {step}: ")?,
            None => f.write_str("set-up: ")?,
        }
        write!(f, "{} failed: {}", self.side.name(), self.error)
    }
}

impl std::error::Error for ScheduleError {}

/// The messages in flight towards one side and those delivered to it.
#[derive(Default)]
struct Queue {
    in_flight: Vec<usize>,
    delivered: Vec<usize>,
}

/// Plays `schedule` with `alice` (the creator) and `bob` (the joiner), and reports what
/// each delivery did. Rejections are recorded, not errors: a schedule plays to its end
/// unless a side fails to encrypt or reload.
///
/// # Errors
/// [`ScheduleError`] when a side fails to encrypt or reload.
///
/// ```
/// use ratchetkit::testing::{play, ChannelEndpoint, ConversationStep::*, Outcome, Schedule, Side::*};
/// let (mut alice, mut bob) = ChannelEndpoint::pair(5)?;
/// let schedule = Schedule {
///     steps: vec![
///         Send { from: Alice, count: 2 },
///         Deliver { to: Bob, pick: 1 },      // the second message first
///         Send { from: Bob, count: 1 },
///         DeliverAll { to: Alice },
///         DeliverAll { to: Bob },
///     ],
/// };
/// let transcript = play(&schedule, &mut alice, &mut bob)?;
/// assert_eq!(transcript.messages.len(), 3);
/// assert!(transcript
///     .deliveries
///     .iter()
///     .all(|delivery| matches!(delivery.outcome, Outcome::Accepted { .. })));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn play<A: Endpoint, B: Endpoint>(
    schedule: &Schedule,
    alice: &mut A,
    bob: &mut B,
) -> core::result::Result<Transcript, ScheduleError> {
    let mut player = Player {
        alice,
        bob,
        transcript: Transcript::default(),
        queues: [Queue::default(), Queue::default()],
    };
    for (step, action) in schedule.steps.iter().enumerate() {
        player.step(step, *action)?;
    }
    Ok(player.transcript)
}

struct Player<'a, A, B> {
    alice: &'a mut A,
    bob: &'a mut B,
    transcript: Transcript,
    /// The queues towards Alice and towards Bob.
    queues: [Queue; 2],
}

fn failure(step: usize, side: Side, error: &impl core::fmt::Debug) -> ScheduleError {
    ScheduleError {
        step: Some(step),
        side,
        error: format!("{error:?}"),
    }
}

impl<A: Endpoint, B: Endpoint> Player<'_, A, B> {
    fn queue(&mut self, side: Side) -> &mut Queue {
        let [to_alice, to_bob] = &mut self.queues;
        match side {
            Side::Alice => to_alice,
            Side::Bob => to_bob,
        }
    }

    fn step(
        &mut self,
        step: usize,
        action: ConversationStep,
    ) -> core::result::Result<(), ScheduleError> {
        match action {
            ConversationStep::Send { from, count } => {
                for _ in 0..count {
                    self.send(step, from)?;
                }
            }
            ConversationStep::Deliver { to, pick } => {
                let queue = self.queue(to);
                if let Some(at) = pick.checked_rem(queue.in_flight.len()) {
                    let message = queue.in_flight.remove(at);
                    queue.delivered.push(message);
                    self.deliver(step, to, message, false);
                }
            }
            ConversationStep::Duplicate { to, pick } => {
                let queue = self.queue(to);
                let again = pick
                    .checked_rem(queue.delivered.len())
                    .and_then(|at| queue.delivered.get(at).copied());
                if let Some(message) = again {
                    self.deliver(step, to, message, true);
                }
            }
            ConversationStep::Drop { to, pick } => {
                let queue = self.queue(to);
                if let Some(at) = pick.checked_rem(queue.in_flight.len()) {
                    let message = queue.in_flight.remove(at);
                    if let Some(sent) = self.transcript.messages.get_mut(message) {
                        sent.dropped = true;
                    }
                }
            }
            ConversationStep::Reload { side } => {
                match side {
                    Side::Alice => self.alice.reload().map_err(|e| failure(step, side, &e)),
                    Side::Bob => self.bob.reload().map_err(|e| failure(step, side, &e)),
                }?;
            }
            ConversationStep::DeliverAll { to } => {
                while let Some(message) = self.queue(to).in_flight.pop() {
                    self.queue(to).delivered.push(message);
                    self.deliver(step, to, message, false);
                }
            }
        }
        Ok(())
    }

    fn send(&mut self, step: usize, from: Side) -> core::result::Result<(), ScheduleError> {
        let number = self.transcript.messages.len();
        let plaintext = format!("{} {number}", from.name()).into_bytes();
        let bytes = match from {
            Side::Alice if self.alice.can_send() => self
                .alice
                .encrypt(&plaintext)
                .map_err(|e| failure(step, from, &e)),
            Side::Bob if self.bob.can_send() => self
                .bob
                .encrypt(&plaintext)
                .map_err(|e| failure(step, from, &e)),
            _ => return Ok(()),
        }?;
        self.transcript.messages.push(SentMessage {
            from,
            plaintext,
            bytes,
            dropped: false,
        });
        self.queue(from.peer()).in_flight.push(number);
        Ok(())
    }

    fn deliver(&mut self, step: usize, to: Side, message: usize, again: bool) {
        let Some(sent) = self.transcript.messages.get(message) else {
            return;
        };
        let result = match to {
            Side::Alice => self
                .alice
                .receive(&sent.bytes)
                .map_err(|e| format!("{e:?}")),
            Side::Bob => self.bob.receive(&sent.bytes).map_err(|e| format!("{e:?}")),
        };
        let outcome = match result {
            Ok(plaintext) => Outcome::Accepted { plaintext },
            Err(error) => Outcome::Rejected { error },
        };
        self.transcript.deliveries.push(Delivery {
            step,
            to,
            message,
            again,
            outcome,
        });
    }
}

/// Plays `schedule` on this crate's channels ([`ChannelEndpoint::pair`] with `seed`).
///
/// # Errors
/// [`ScheduleError`] if a side fails to encrypt or reload (never expected).
///
/// ```
/// use ratchetkit::testing::{run_schedule, ConversationStep::*, Outcome, Schedule, Side::*};
/// let schedule = Schedule {
///     steps: vec![Send { from: Bob, count: 1 }, Send { from: Alice, count: 1 }, Deliver { to: Bob, pick: 0 }],
/// };
/// let transcript = run_schedule(6, &schedule)?;
/// // Bob could not send before he joined: only Alice's message exists.
/// assert_eq!(transcript.messages.len(), 1);
/// assert_eq!(transcript.deliveries[0].outcome, Outcome::Accepted { plaintext: b"alice 0".to_vec() });
/// # Ok::<(), ratchetkit::testing::ScheduleError>(())
/// ```
pub fn run_schedule(
    seed: u64,
    schedule: &Schedule,
) -> core::result::Result<Transcript, ScheduleError> {
    let (mut alice, mut bob) = ChannelEndpoint::pair(seed).map_err(|error| ScheduleError {
        step: None,
        side: Side::Alice,
        error: format!("{error:?}"),
    })?;
    play(schedule, &mut alice, &mut bob)
}
