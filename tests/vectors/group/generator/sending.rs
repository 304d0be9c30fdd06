//! What the model expects a group call to send: the rosters the owner signs, the members'
//! sender keys and their distributions, and the controls, checked against the library's
//! and listed with the channel messages that carry them.

use prost::Message as _;
use ratchetkit::group::Outgoing;
use ratchetkit::wire::v1;
use ratchetkit::GROUP_VERSION;

use super::{name, named, Generator, OwnKey, ALICE, GROUP_ID};
use crate::vectors::group::format::{
    ControlVector, DistributionVector, RosterVector, SenderKeyVector,
};
use crate::vectors::json::bytes;
use crate::vectors::primitives::{
    ed25519_public, ed25519_sign, CONTENT_GROUP_CONTROL, ROSTER_CONTEXT,
};

/// A control the model expects a group call to send: to whom, and whether it carries the
/// sender's roster and its sender key.
pub(super) struct Expected {
    pub to: usize,
    pub roster: bool,
    pub sender_key: bool,
}

impl Expected {
    /// The same control to each of `recipients`.
    pub fn to_each(recipients: &[usize], roster: bool, sender_key: bool) -> Vec<Self> {
        recipients
            .iter()
            .map(|&to| Self {
                to,
                roster,
                sender_key,
            })
            .collect()
    }
}

/// A `GroupControl` with the given parts.
pub(super) fn control(
    roster_version: u64,
    roster: Option<v1::SignedRoster>,
    sender_key: Option<v1::SenderKeyDistribution>,
) -> v1::GroupControl {
    v1::GroupControl {
        version: GROUP_VERSION,
        roster,
        sender_key,
        leave: None,
        roster_version,
    }
}

impl Generator {
    /// A roster of `members` at `version` for `group_id`, signed with `signer`'s identity key.
    pub(super) fn roster_signed_by(
        &self,
        group_id: &[u8],
        version: u64,
        members: &[usize],
        signer: usize,
    ) -> v1::SignedRoster {
        let roster = v1::Roster {
            group_id: group_id.to_vec(),
            version,
            members: members
                .iter()
                .map(|&m| self.members[m].identity.card().to_bytes())
                .collect(),
        }
        .encode_to_vec();
        let signature = ed25519_sign(
            &self.models[signer].seed,
            &[ROSTER_CONTEXT, &roster].concat(),
        );
        v1::SignedRoster {
            roster,
            signature: signature.to_vec(),
        }
    }

    /// Alice, the owner, signs a roster of `members` at `version`; lists it and returns its
    /// index.
    pub(super) fn sign_roster(&mut self, version: u64, members: &[usize]) -> usize {
        let signed = self.roster_signed_by(&GROUP_ID, version, members, ALICE);
        self.rosters.push(RosterVector {
            version,
            members: members.iter().map(|&m| name(m)).collect(),
            content: hex::encode(&signed.roster),
            signature_input: hex::encode([ROSTER_CONTEXT, &signed.roster].concat()),
            signature: hex::encode(&signed.signature),
            signed_roster: hex::encode(signed.encode_to_vec()),
        });
        self.rosters.len() - 1
    }

    pub(super) fn signed_roster(&self, roster: usize) -> v1::SignedRoster {
        v1::SignedRoster::decode(bytes(&self.rosters[roster].signed_roster).as_slice())
            .expect("SignedRoster")
    }

    /// The listed roster of `version` (the last, if signed again).
    pub(super) fn roster_of_version(&self, version: u64) -> usize {
        self.rosters
            .iter()
            .rposition(|r| r.version == version)
            .expect("a listed roster")
    }

    pub(super) fn roster_members(&self, roster: usize) -> Vec<usize> {
        self.rosters[roster]
            .members
            .iter()
            .map(|m| named(m))
            .collect()
    }

    /// The members of `party`'s roster but `party`, in roster order.
    pub(super) fn others(&self, party: usize) -> Vec<usize> {
        let roster = self.models[party].roster.expect("a roster");
        self.roster_members(roster)
            .into_iter()
            .filter(|&m| m != party)
            .collect()
    }

    /// The epoch of `party`'s next sender key.
    pub(super) fn next_epoch(&self, party: usize) -> u32 {
        self.models[party].own.as_ref().expect("a sender key").epoch + 1
    }

    /// A new sender key for `party` from two draws (chain key, then signing seed).
    fn new_sender_key(&mut self, party: usize, epoch: u32, chain_key: [u8; 32], seed: [u8; 32]) {
        self.models[party].own = Some(OwnKey {
            epoch,
            chain_key,
            iteration: 0,
            seed,
        });
        self.sender_keys.push(SenderKeyVector {
            member: name(party),
            epoch,
            step: self.timeline.len(),
            chain_key: hex::encode(chain_key),
            signing_seed: hex::encode(seed),
            signing_public: hex::encode(ed25519_public(&seed)),
        });
    }

    /// `party`'s sender key distribution at its current iteration.
    fn distribution(&self, party: usize) -> v1::SenderKeyDistribution {
        let own = self.models[party].own.as_ref().expect("a sender key");
        v1::SenderKeyDistribution {
            group_id: GROUP_ID.to_vec(),
            sender: self.key(party).to_vec(),
            epoch: own.epoch,
            iteration: own.iteration,
            chain_key: own.chain_key.to_vec(),
            signing_key: ed25519_public(&own.seed).to_vec(),
        }
    }

    /// Checks what a group call of `party` sent, `outgoing`, against what the model expects,
    /// each control under the party's roster, and lists it. `draws` are the call's draws: a
    /// new sender key for the epoch `new_key` first, if any, then the ratchet keys of the
    /// sending chains the controls start.
    pub(super) fn record_sent(
        &mut self,
        party: usize,
        outgoing: &[Outgoing],
        draws: &[[u8; 32]],
        new_key: Option<u32>,
        expected: &[Expected],
    ) -> Vec<usize> {
        let mut draws = draws.iter().copied();
        if let Some(epoch) = new_key {
            let chain_key = draws.next().expect("a chain key draw");
            let seed = draws.next().expect("a signing seed draw");
            self.new_sender_key(party, epoch, chain_key, seed);
        }
        assert_eq!(outgoing.len(), expected.len(), "how many controls are sent");
        let roster = self.models[party].roster.expect("a roster");
        let roster_version = self.rosters[roster].version;
        let mut sent = Vec::new();
        for (out, expected) in outgoing.iter().zip(expected) {
            let to = expected.to;
            assert_eq!(out.to, self.key(to), "control recipient");
            let control = control(
                roster_version,
                expected.roster.then(|| self.signed_roster(roster)),
                expected.sender_key.then(|| self.distribution(party)),
            );
            let secret = self
                .needs_new_chain(party, to)
                .then(|| draws.next().expect("a ratchet key draw"));
            let bytes = control.encode_to_vec();
            let control_index = self.controls.len();
            let message = self.list_channel_message(
                (party, to),
                CONTENT_GROUP_CONTROL,
                &bytes,
                secret,
                (&out.message, Some(control_index)),
            );
            let sender_key = control.sender_key.as_ref().map(|d| DistributionVector {
                sender: name(self.party(d.sender.as_slice().try_into().expect("32 bytes"))),
                epoch: d.epoch,
                iteration: d.iteration,
                chain_key: hex::encode(&d.chain_key),
                signing_public: hex::encode(&d.signing_key),
                bytes: hex::encode(d.encode_to_vec()),
            });
            self.controls.push(ControlVector {
                index: control_index,
                sender: name(party),
                receiver: name(to),
                roster_version: control.roster_version,
                roster: control.roster.as_ref().map(|signed| {
                    v1::Roster::decode(signed.roster.as_slice())
                        .expect("Roster")
                        .version
                }),
                sender_key,
                leave: control.leave.is_some(),
                bytes: hex::encode(&bytes),
                channel_message: message,
            });
            sent.push(control_index);
        }
        assert!(draws.next().is_none(), "every draw is accounted for");
        sent
    }
}
