//! ratchetkit's sides of the channels of `channel-v2.json`, as the generator drives them and
//! the replay rebuilds them: the identities, bob's prekey store, each channel's two sides,
//! and the rejected inputs.

use ratchetkit::{Channel, Identity, PrekeyStore};

use super::format::RejectedAction;
use crate::vectors::json::error_name;

/// One of the three identities.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    /// The creator of channel 0, "A".
    Alice,
    /// The responder of both channels, "B": the prekey store's owner.
    Bob,
    /// The creator of channel 1.
    Carol,
}

impl Party {
    /// The identities, in the file's order.
    pub const ALL: [Party; 3] = [Party::Alice, Party::Bob, Party::Carol];

    /// The party's name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Party::Alice => "alice",
            Party::Bob => "bob",
            Party::Carol => "carol",
        }
    }

    /// The party named `name` in the file.
    pub fn named(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|party| party.name() == name)
            .unwrap_or_else(|| panic!("{name} is not one of the identities"))
    }

    /// Its position in the file's `identities`.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// One channel: its creator's side from `Channel::create`, and bob's once he has joined.
pub struct ChannelSides {
    pub creator: Party,
    pub created: Channel,
    pub joined: Option<Channel>,
}

/// Every identity, bob's prekey store, and the channels.
pub struct Sides {
    /// By [`Party::index`].
    pub identities: Vec<Identity>,
    pub bob_prekeys: PrekeyStore,
    pub channels: Vec<ChannelSides>,
}

impl Sides {
    pub fn identity(&self, party: Party) -> &Identity {
        &self.identities[party.index()]
    }

    /// `party`'s side of `channel`, if it has one yet.
    pub fn channel(&mut self, channel: usize, party: Party) -> Option<&mut Channel> {
        let sides = &mut self.channels[channel];
        if party == sides.creator {
            Some(&mut sides.created)
        } else {
            assert_eq!(party, Party::Bob, "bob is the responder of every channel");
            sides.joined.as_mut()
        }
    }

    /// Bob starts his side of `channel` from `message`, which must name the creator's card
    /// as the peer; returns its plaintext.
    pub fn join(&mut self, channel: usize, message: &[u8]) -> Result<Vec<u8>, ratchetkit::Error> {
        let sides = &self.channels[channel];
        assert!(sides.joined.is_none(), "bob joins a channel once");
        let creator = sides.creator;
        let bob = &self.identities[Party::Bob.index()];
        let joined = Channel::join(bob, &mut self.bob_prekeys, message)?;
        assert_eq!(
            joined.peer().to_bytes(),
            self.identity(creator).card().to_bytes(),
            "the joined channel's peer is its creator"
        );
        assert_eq!(
            joined.channel().id(),
            self.channels[channel].created.id(),
            "both sides have the same channel id"
        );
        let (joined, plaintext, _, _) = joined.into_parts();
        self.channels[channel].joined = Some(joined);
        Ok(plaintext)
    }

    /// Every saved state: bob's prekey store, then each side of each channel.
    fn saved(&self) -> Vec<Vec<u8>> {
        let mut saved = vec![self.bob_prekeys.to_bytes().to_vec()];
        for sides in &self.channels {
            saved.push(sides.created.to_bytes().to_vec());
            saved.extend(sides.joined.iter().map(|c| c.to_bytes().to_vec()));
        }
        saved
    }

    /// Gives a rejected input to `party` (`what` describes it): it must be refused with the
    /// error `expected`, and leave every channel and bob's prekey store byte for byte
    /// unchanged.
    pub fn refuse(
        &mut self,
        (party, channel): (Party, usize),
        action: RejectedAction,
        input: &[u8],
        expected: &str,
        what: &str,
    ) {
        let before = self.saved();
        let result = match action {
            RejectedAction::Join => {
                assert_eq!(party, Party::Bob, "{what}: only bob joins");
                let bob = &self.identities[Party::Bob.index()];
                Channel::join(bob, &mut self.bob_prekeys, input).map(drop)
            }
            RejectedAction::Decrypt => self
                .channel(channel, party)
                .expect("a side decrypts once it has the channel")
                .decrypt(input)
                .map(drop),
        };
        let error = result.expect_err(what);
        assert_eq!(error_name(&error), expected, "{what}: {error:?}");
        assert!(
            before == self.saved(),
            "{what}: the rejected input changed the state"
        );
    }
}
