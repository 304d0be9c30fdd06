//! [proptest](mod@proptest) strategies for interop and fuzzing suites: arbitrary wire messages, valid
//! and mutated inputs, and conversation schedules.
//!
//! **Available with the crate feature `proptest` only:**
//!
//! ```toml
//! [dev-dependencies]
//! ratchetkit = { version = "0.1", features = ["proptest"] }
//! proptest = "1"
//! ```
//!
//! - **Arbitrary wire messages.** Every message of [`wire::v1`](crate::wire::v1)
//!   implements [`Arbitrary`]: `any::<v1::ChannelMessage>()`
//!   gives structurally valid protobuf values with arbitrary contents, biased towards what
//!   passes the first checks (version 1, 32-byte keys, nested messages that are themselves
//!   well-formed). [`WireMessage`] is any one of them.
//! - **Valid inputs**, made by this crate from a seeded ChaCha20 generator:
//!   [`ChannelPair`] and [`channel_message`] (a real channel and a genuine message on it),
//!   [`FirstMessage`] (a message that starts a channel), [`GroupPair`],
//!   [`group_message`] and [`group_control`].
//! - **Mutations** of valid bytes, [`Mutation`]: bit flips, truncation, extension, field
//!   replacement, insertion and removal, re-encodings of the same values (duplicated,
//!   reordered and padded fields), inside nested messages too. A mutated message must be
//!   rejected, and must leave the receiver's state byte for byte as it was.
//! - **Conversation schedules**, [`Schedule`]: who sends, and what the network delivers,
//!   drops, duplicates and reorders, and when a side saves and reloads its state. They are
//!   plain data: [`play`] drives any implementation through an [`Endpoint`], and
//!   [`run_schedule`] reports what this crate did with each delivery.
//! - **Store conformance**, [`store_conformance`]: the checks every
//!   [`client::Store`](crate::client::Store) implementation must pass.
//!
//! ```
//! use proptest::prelude::*;
//! use ratchetkit::testing::{channel_message, mutation};
//!
//! proptest!(ProptestConfig::with_cases(8), |(mut valid in channel_message(), mutation in mutation())| {
//!     let mutated = mutation.apply(&valid.message);
//!     let before = valid.pair.channel(valid.to).to_bytes();
//!     prop_assert!(valid.pair.receive(valid.to, &mutated).is_err());
//!     prop_assert!(*valid.pair.channel(valid.to).to_bytes() == *before);
//!     // The genuine message still decrypts.
//!     prop_assert_eq!(valid.pair.receive(valid.to, &valid.message)?, valid.plaintext);
//! });
//! ```
//!
//! The values hold real keys and are made with a deterministic generator: they are for
//! tests only. `SenderKeyDistribution` and `GroupControl` print as `{ .. }` in failure
//! reports, as they do everywhere (they carry secret keys); print their fields yourself.

mod arbitrary;
mod mutation;
mod schedule;
mod store_conformance;
mod valid;

use proptest::prelude::*;

pub use arbitrary::{wire_message, WireMessage};
pub use mutation::{mutation, FieldValue, Mutation};
pub use schedule::{
    play, run_schedule, schedule, ChannelEndpoint, ConversationStep, Delivery, Endpoint, Outcome,
    Schedule, ScheduleError, SentMessage, Transcript,
};
pub use store_conformance::{store_conformance, StoreConformanceError};
pub use valid::{
    channel_message, channel_pair, first_message, group_control, group_message, group_pair,
    ChannelPair, FirstMessage, GroupPair, ValidChannelMessage, ValidGroupControl,
    ValidGroupMessage,
};

/// One side of a two-party conversation: Alice creates the channel (and owns the group),
/// Bob joins it.
///
/// ```
/// use ratchetkit::testing::Side;
/// assert_eq!(Side::Alice.peer(), Side::Bob);
/// assert_eq!(Side::Bob.name(), "bob");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Side {
    /// The creator of the channel, and the owner of the group.
    Alice,
    /// The one who joins.
    Bob,
}

impl Side {
    /// The other side.
    ///
    /// ```
    /// # use ratchetkit::testing::Side;
    /// assert_eq!(Side::Bob.peer(), Side::Alice);
    /// ```
    pub fn peer(self) -> Self {
        match self {
            Self::Alice => Self::Bob,
            Self::Bob => Self::Alice,
        }
    }

    /// `"alice"` or `"bob"`, as in the plaintexts of a [`Schedule`].
    ///
    /// ```
    /// # use ratchetkit::testing::Side;
    /// assert_eq!(Side::Alice.name(), "alice");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Alice => "alice",
            Self::Bob => "bob",
        }
    }
}

impl Arbitrary for Side {
    type Parameters = ();
    type Strategy = BoxedStrategy<Self>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        any::<bool>()
            .prop_map(|alice| if alice { Self::Alice } else { Self::Bob })
            .boxed()
    }
}
