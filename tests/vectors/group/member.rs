//! A member's ratchetkit state in `group-v2.json` (identity, prekey store, channels, group),
//! as the generator drives it and the replay rebuilds it: the rejected inputs given to it,
//! and the events it reports, named as the file names them.

use std::collections::BTreeMap;

use rand::CryptoRng;
use ratchetkit::{Channel, Error, Group, GroupEvent, Identity, PrekeyStore};

use super::format::{EventVector, RejectedAction};
use crate::vectors::json::error_name;

pub struct Member {
    pub identity: Identity,
    /// The identity's Ed25519 public key, which names the member on the wire.
    pub key: [u8; 32],
    /// Only the channels' responders have one.
    pub prekeys: Option<PrekeyStore>,
    /// The member's channels, by peer key.
    pub channels: BTreeMap<[u8; 32], Channel>,
    pub group: Option<Group>,
}

impl Member {
    pub fn new(identity: Identity) -> Self {
        Self {
            key: identity.card().signing_key(),
            identity,
            prekeys: None,
            channels: BTreeMap::new(),
            group: None,
        }
    }

    pub fn group(&mut self) -> &mut Group {
        self.group.as_mut().expect("a group")
    }

    /// The member's channel with the member whose key is `peer`.
    pub fn channel(&mut self, peer: &[u8; 32]) -> &mut Channel {
        self.channels.get_mut(peer).expect("a channel")
    }

    /// Everything a rejected input must leave unchanged.
    fn state(&self) -> Vec<Vec<u8>> {
        let mut state: Vec<Vec<u8>> = self
            .channels
            .values()
            .map(|channel| channel.to_bytes().to_vec())
            .collect();
        state.push(
            self.group
                .as_ref()
                .map(|g| g.to_bytes().to_vec())
                .unwrap_or_default(),
        );
        state.push(
            self.prekeys
                .as_ref()
                .map(|p| p.to_bytes().to_vec())
                .unwrap_or_default(),
        );
        state
    }

    /// Gives a rejected input (`what` describes it) by `action`, from the member whose key is
    /// `from` for every action but `decrypt`: it must be refused with the error `expected`
    /// (for `BadSignature`, of what `signature_of` says), and leave the member's group,
    /// channels and prekey store byte for byte unchanged. `rng` is for the calls that take
    /// one; the caller checks that nothing was drawn.
    pub fn refuse(
        &mut self,
        rng: &mut impl CryptoRng,
        action: RejectedAction,
        from: Option<[u8; 32]>,
        input: &[u8],
        (expected, signature_of): (&str, Option<&str>),
        what: &str,
    ) {
        let before = self.state();
        let from = || from.expect("from");
        let result = match action {
            RejectedAction::Decrypt => self.group().decrypt(input).map(drop),
            RejectedAction::Receive => {
                let group = self.group.as_mut().expect("a group");
                group
                    .receive(rng, &mut self.channels, &from(), input)
                    .map(drop)
            }
            RejectedAction::Join => {
                assert!(self.group.is_none(), "{what}: joins only without a group");
                Group::join(rng, &self.identity, &mut self.channels, &from(), input).map(drop)
            }
            RejectedAction::ChannelDecrypt => self.channel(&from()).decrypt(input).map(drop),
        };
        let error = result.expect_err(what);
        assert_eq!(error_name(&error), expected, "{what}: {error:?}");
        let bad_signature = match error {
            Error::BadSignature { what } => Some(what),
            _ => None,
        };
        assert_eq!(
            bad_signature, signature_of,
            "{what}: what the bad signature is of"
        );
        assert!(
            self.state() == before,
            "{what}: the rejected input changed the state"
        );
    }
}

/// The events a group call reported, as the file lists them; `name` names a member by key.
pub fn event_vectors(
    events: &[GroupEvent],
    name: impl Fn(&[u8; 32]) -> String,
) -> Vec<EventVector> {
    let names = |cards: &[ratchetkit::Card]| -> Vec<String> {
        cards.iter().map(|card| name(&card.signing_key())).collect()
    };
    events
        .iter()
        .map(|event| match event {
            GroupEvent::Joined { version } => EventVector::Joined { version: *version },
            GroupEvent::OwnerChanged { version, owner } => EventVector::OwnerChanged {
                version: *version,
                owner: name(owner),
            },
            GroupEvent::RosterChanged {
                version,
                added,
                removed,
            } => EventVector::RosterChanged {
                version: *version,
                added: names(added),
                removed: names(removed),
            },
            GroupEvent::Removed { version } => EventVector::Removed { version: *version },
            GroupEvent::SenderKey { sender, epoch } => EventVector::SenderKey {
                member: name(sender),
                epoch: *epoch,
            },
            GroupEvent::LeaveRequested { member } => EventVector::LeaveRequested {
                member: name(member),
            },
            GroupEvent::ResyncRequested { member } => EventVector::ResyncRequested {
                member: name(member),
            },
            GroupEvent::OwnershipOffered { owner, version } => EventVector::OwnershipOffered {
                owner: name(owner),
                version: *version,
            },
            other => panic!("an event the vectors do not model: {other:?}"),
        })
        .collect()
}
