//! What the model expects a group call to send: the owner transfers and rosters owners
//! sign, the members' sender keys and their distributions, and the controls, checked
//! against the library's and listed with the channel messages that carry them.

use prost::Message as _;
use ratchetkit::group::Outgoing;
use ratchetkit::group::GROUP_VERSION;
use ratchetkit::wire::v1;

use super::{name, named, Generator, OwnKey};
use crate::vectors::group::format::{
    ControlVector, DistributionVector, RosterMemberVector, RosterVector, SenderKeyVector,
    TransferVector,
};
use crate::vectors::json::bytes;
use crate::vectors::primitives::{
    ed25519_public, ed25519_sign, owner_transfer_input, CONTENT_GROUP_CONTROL, MESSAGE_SALT_LEN,
    ROSTER_CONTEXT,
};

/// The next of a call's draws, which must be `N` bytes (`what` says what it is).
fn next_draw<'a, const N: usize>(
    draws: &mut impl Iterator<Item = &'a Vec<u8>>,
    what: &str,
) -> [u8; N] {
    let draw = draws.next().unwrap_or_else(|| panic!("a {what} draw"));
    draw.as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("a {N}-byte {what} draw, not {}", draw.len()))
}

/// A control the model expects a group call to send: to whom, and which parts it carries
/// (the roster is the sender's, the sender key its own, the offer a listed transfer).
#[derive(Default)]
pub(super) struct Expected {
    pub to: usize,
    pub roster: bool,
    pub sender_key: bool,
    pub leave: bool,
    pub resync: bool,
    pub offer: Option<usize>,
}

impl Expected {
    /// The same control, with the roster and the sender key or not, to each of
    /// `recipients`.
    pub fn to_each(recipients: &[usize], roster: bool, sender_key: bool) -> Vec<Self> {
        recipients
            .iter()
            .map(|&to| Self {
                to,
                roster,
                sender_key,
                ..Self::default()
            })
            .collect()
    }
}

/// The epoch of a sender key a group call makes.
#[derive(Clone, Copy)]
pub(super) enum NewKey {
    /// This epoch.
    Epoch(u32),
    /// A resync's: the current epoch + 1 + the first two bytes (big-endian) of the new
    /// public signing key.
    ResyncJump,
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
        resync: None,
        offer: None,
    }
}

/// What a roster's group id is made of, and the chain of owners it carries: for rosters of
/// the group, and for the made-up ones of rejected inputs.
#[derive(Clone)]
pub(super) struct Lineage {
    pub group_id: Vec<u8>,
    pub founder: Vec<u8>,
    pub salt: Vec<u8>,
    pub transfers: Vec<v1::OwnerTransfer>,
}

impl Generator {
    /// The group's id.
    pub(super) fn group_id(&self) -> Vec<u8> {
        bytes(&self.group.as_ref().expect("the group").group_id)
    }

    /// The lineage of listed roster `roster`.
    pub(super) fn lineage(&self, roster: usize) -> Lineage {
        let group = self.group.as_ref().expect("the group");
        Lineage {
            group_id: bytes(&group.group_id),
            founder: bytes(&group.founder_key),
            salt: bytes(&group.salt),
            transfers: self.rosters[roster]
                .transfers
                .iter()
                .map(|&t| self.transfer(t))
                .collect(),
        }
    }

    /// A roster of `members` (with the versions that added them) at `version`, of
    /// `lineage`, signed with `signer`'s identity key.
    pub(super) fn roster_signed_by(
        &self,
        lineage: &Lineage,
        version: u64,
        members: &[(usize, u64)],
        signer: usize,
    ) -> v1::SignedRoster {
        let roster = v1::Roster {
            group_id: lineage.group_id.clone(),
            version,
            members: members
                .iter()
                .map(|&(m, added_at)| v1::RosterMember {
                    card: self.members[m].identity.card().to_bytes(),
                    added_at,
                })
                .collect(),
            founder: lineage.founder.clone(),
            salt: lineage.salt.clone(),
            transfers: lineage.transfers.clone(),
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

    /// `signer`, the owner, signs a roster of the group: `members` at `version`, carrying
    /// the listed owner `transfers`; lists it and returns its index.
    pub(super) fn sign_roster(
        &mut self,
        signer: usize,
        version: u64,
        members: &[(usize, u64)],
        transfers: Vec<usize>,
    ) -> usize {
        let group = self.group.as_ref().expect("the group");
        let lineage = Lineage {
            group_id: bytes(&group.group_id),
            founder: bytes(&group.founder_key),
            salt: bytes(&group.salt),
            transfers: transfers.iter().map(|&t| self.transfer(t)).collect(),
        };
        assert_eq!(members[0].0, signer, "the owner is the first member");
        let signed = self.roster_signed_by(&lineage, version, members, signer);
        self.rosters.push(RosterVector {
            version,
            owner: name(signer),
            members: members
                .iter()
                .map(|&(m, added_at)| RosterMemberVector {
                    member: name(m),
                    added_at,
                })
                .collect(),
            transfers,
            content: hex::encode(&signed.roster),
            signature_input: hex::encode([ROSTER_CONTEXT, &signed.roster].concat()),
            signature: hex::encode(&signed.signature),
            signed_roster: hex::encode(signed.encode_to_vec()),
        });
        self.rosters.len() - 1
    }

    /// An owner transfer of `group_id` to `new_owner` at `version`, signed by `signer`.
    pub(super) fn transfer_signed_by(
        &self,
        group_id: &[u8],
        version: u64,
        new_owner: usize,
        signer: usize,
    ) -> v1::OwnerTransfer {
        let new_owner = self.key(new_owner);
        let input = owner_transfer_input(group_id, version, &new_owner);
        v1::OwnerTransfer {
            version,
            new_owner: new_owner.to_vec(),
            signature: ed25519_sign(&self.models[signer].seed, &input).to_vec(),
        }
    }

    /// `owner` hands the group to `new_owner` from roster `version` on; lists the transfer
    /// and returns its index.
    pub(super) fn sign_transfer(&mut self, owner: usize, version: u64, new_owner: usize) -> usize {
        let group_id = self.group_id();
        let transfer = self.transfer_signed_by(&group_id, version, new_owner, owner);
        let index = self.owner_transfers.len();
        self.owner_transfers.push(TransferVector {
            index,
            version,
            previous_owner: name(owner),
            new_owner: name(new_owner),
            signature_input: hex::encode(owner_transfer_input(
                &group_id,
                version,
                &transfer.new_owner,
            )),
            signature: hex::encode(&transfer.signature),
            bytes: hex::encode(transfer.encode_to_vec()),
        });
        index
    }

    /// Listed owner transfer `index`.
    pub(super) fn transfer(&self, index: usize) -> v1::OwnerTransfer {
        v1::OwnerTransfer::decode(bytes(&self.owner_transfers[index].bytes).as_slice())
            .expect("OwnerTransfer")
    }

    pub(super) fn signed_roster(&self, roster: usize) -> v1::SignedRoster {
        v1::SignedRoster::decode(bytes(&self.rosters[roster].signed_roster).as_slice())
            .expect("SignedRoster")
    }

    /// The listed roster of `version`.
    pub(super) fn roster_of_version(&self, version: u64) -> usize {
        self.rosters
            .iter()
            .position(|r| r.version == version)
            .expect("a listed roster")
    }

    /// The members of listed roster `roster`, with the versions that added them, in
    /// roster order.
    pub(super) fn roster_entries(&self, roster: usize) -> Vec<(usize, u64)> {
        self.rosters[roster]
            .members
            .iter()
            .map(|m| (named(&m.member), m.added_at))
            .collect()
    }

    pub(super) fn roster_members(&self, roster: usize) -> Vec<usize> {
        self.roster_entries(roster)
            .into_iter()
            .map(|(m, _)| m)
            .collect()
    }

    /// The owner of listed roster `roster`.
    pub(super) fn roster_owner(&self, roster: usize) -> usize {
        named(&self.rosters[roster].owner)
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
            group_id: self.group_id(),
            sender: self.key(party).to_vec(),
            epoch: own.epoch,
            iteration: own.iteration,
            chain_key: own.chain_key.to_vec(),
            signing_key: ed25519_public(&own.seed).to_vec(),
        }
    }

    /// The control `party` sends as `expected`, under its roster.
    fn expected_control(&self, party: usize, expected: &Expected) -> v1::GroupControl {
        let roster = self.models[party].roster.expect("a roster");
        let group_id = self.group_id();
        v1::GroupControl {
            roster: expected.roster.then(|| self.signed_roster(roster)),
            sender_key: expected.sender_key.then(|| self.distribution(party)),
            leave: expected.leave.then(|| v1::LeaveRequest {
                group_id: group_id.clone(),
            }),
            resync: expected.resync.then(|| v1::ResyncRequest {
                group_id: group_id.clone(),
            }),
            offer: expected.offer.map(|t| v1::OwnershipOffer {
                group_id: group_id.clone(),
                transfer: Some(self.transfer(t)),
            }),
            ..control(self.rosters[roster].version, None, None)
        }
    }

    /// Checks what a group call of `party` sent, `outgoing`, against what the model expects,
    /// each control under the party's roster, and lists it. `draws` are the call's draws
    /// (after the salt, for `Group::create`): a new sender key (`new_key`) first, if any,
    /// then for each control's channel message, in order, the ratchet key of the sending
    /// chain it starts (if it starts one) and its salt.
    pub(super) fn record_sent(
        &mut self,
        party: usize,
        outgoing: &[Outgoing],
        draws: &[Vec<u8>],
        new_key: Option<NewKey>,
        expected: &[Expected],
    ) -> Vec<usize> {
        let mut draws = draws.iter();
        if let Some(new_key) = new_key {
            let chain_key = next_draw(&mut draws, "chain key");
            let seed = next_draw(&mut draws, "signing seed");
            let epoch = match new_key {
                NewKey::Epoch(epoch) => epoch,
                NewKey::ResyncJump => {
                    let public = ed25519_public(&seed);
                    let jump = u32::from(u16::from_be_bytes([public[0], public[1]]));
                    self.next_epoch(party) + jump
                }
            };
            self.new_sender_key(party, epoch, chain_key, seed);
        }
        assert_eq!(outgoing.len(), expected.len(), "how many controls are sent");
        let mut sent = Vec::new();
        for (out, expected) in outgoing.iter().zip(expected) {
            let to = expected.to;
            assert_eq!(out.to(), self.key(to), "control recipient");
            let control = self.expected_control(party, expected);
            let secret = self
                .needs_new_chain(party, to)
                .then(|| next_draw(&mut draws, "ratchet key"));
            let salt = next_draw::<MESSAGE_SALT_LEN>(&mut draws, "salt");
            let bytes = control.encode_to_vec();
            let control_index = self.controls.len();
            let message = self.list_channel_message(
                (party, to),
                (CONTENT_GROUP_CONTROL, &bytes),
                (secret, salt),
                (out.message(), Some(control_index)),
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
                resync: control.resync.is_some(),
                offer: expected.offer,
                bytes: hex::encode(&bytes),
                channel_message: message,
            });
            sent.push(control_index);
        }
        assert!(draws.next().is_none(), "every draw is accounted for");
        sent
    }
}
