//! ratchetkit's two sides of the channel of `channel-v1.json`, as the generator drives them
//! and the replay rebuilds them: bob joining, each side's channel, and the rejected inputs.

use ratchetkit::{Channel, Identity, PrekeyStore};

use super::format::RejectedAction;
use crate::vectors::json::error_name;

/// One side of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The channel's creator, the initiator "A".
    Alice,
    /// The responder "B".
    Bob,
}

impl Party {
    /// The party's name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Party::Alice => "alice",
            Party::Bob => "bob",
        }
    }

    /// The party named `name` in the file.
    pub fn named(name: &str) -> Self {
        match name {
            "alice" => Party::Alice,
            "bob" => Party::Bob,
            other => panic!("{other} is not a side of the channel"),
        }
    }

    pub fn other(self) -> Self {
        match self {
            Party::Alice => Party::Bob,
            Party::Bob => Party::Alice,
        }
    }
}

/// Both sides: alice's channel from `Channel::create`, bob's from `Channel::join` once he has
/// joined.
pub struct Sides {
    pub alice: Identity,
    pub bob: Identity,
    pub bob_prekeys: PrekeyStore,
    pub alice_channel: Channel,
    pub bob_channel: Option<Channel>,
}

impl Sides {
    /// `party`'s channel, if it has one yet.
    pub fn channel(&mut self, party: Party) -> Option<&mut Channel> {
        match party {
            Party::Alice => Some(&mut self.alice_channel),
            Party::Bob => self.bob_channel.as_mut(),
        }
    }

    /// Bob starts his side from alice's `message`, which must name alice's card as the peer;
    /// returns its plaintext.
    pub fn join(&mut self, message: &[u8]) -> Result<Vec<u8>, ratchetkit::Error> {
        assert!(self.bob_channel.is_none(), "bob joins once");
        let joined = Channel::join(&self.bob, &mut self.bob_prekeys, message)?;
        assert_eq!(
            joined.peer.to_bytes(),
            self.alice.card().to_bytes(),
            "the joined channel's peer is alice"
        );
        self.bob_channel = Some(joined.channel);
        Ok(joined.plaintext)
    }

    /// Gives a rejected input to `party` (`what` describes it): it must be refused with the
    /// error `expected`, and leave the channel (for a join, bob's prekey store) byte for byte
    /// unchanged.
    pub fn refuse(
        &mut self,
        party: Party,
        action: RejectedAction,
        input: &[u8],
        expected: &str,
        what: &str,
    ) {
        let (result, unchanged) = match action {
            RejectedAction::Join => {
                assert_eq!(party, Party::Bob, "{what}: only bob joins");
                let before = self.bob_prekeys.to_bytes();
                let result = Channel::join(&self.bob, &mut self.bob_prekeys, input).map(drop);
                (result, *before == *self.bob_prekeys.to_bytes())
            }
            RejectedAction::Decrypt => {
                let channel = self.channel(party).expect("bob has joined");
                let before = channel.to_bytes();
                let result = channel.decrypt(input).map(drop);
                (result, *before == *channel.to_bytes())
            }
        };
        let error = result.expect_err(what);
        assert_eq!(error_name(&error), expected, "{what}: {error:?}");
        assert!(unchanged, "{what}: the rejected input changed the state");
    }
}
