//! The error the protocol document gives a rejected input, derived independently: from
//! `docs/PROTOCOL.md` sections 5 and 6 (a group message's checks in 6.1, a roster's in 6.2,
//! a control's parsing and processing in 6.3), the walk's state at that point of the
//! timeline and the primitives, without ratchetkit.

use std::collections::BTreeSet;

use prost::Message;

use super::walk::Walk;
use crate::vectors::group::format::{RejectedAction, RejectedVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    aes_gcm_open, chain_key_at, ed25519_verifies, group_id, group_signature_input, kdf_ck,
    owner_transfer_input, salted_message_aead, unpadded, GROUP_ID_LEN, GROUP_MESSAGE_INFO,
    GROUP_SALT_LEN, GROUP_VERSION, MESSAGE_SALT_LEN, ROSTER_CONTEXT,
};
use crate::vectors::proto;

/// `MAX_GROUP_MEMBERS`, `MAX_OWNER_TRANSFERS`, `MAX_SENDER_EPOCHS`, `MAX_GROUP_MESSAGE_GAP`
/// of the protocol's constants.
const MAX_GROUP_MEMBERS: usize = 1_000;
const MAX_OWNER_TRANSFERS: usize = 64;
const MAX_SENDER_EPOCHS: usize = 3;
const MAX_GROUP_MESSAGE_GAP: u32 = 2_000;

/// What the protocol does with an input: accept it, or refuse it with an error (and, for
/// `BadSignature`, what the signature is of).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Outcome {
    Accepted,
    Refused(&'static str, Option<&'static str>),
}

/// An Ed25519 public key as bytes; `None` when it is not 32 bytes.
fn key32(key: &[u8]) -> Option<[u8; 32]> {
    key.try_into().ok()
}

/// Strict Ed25519 verification by a key given as bytes.
fn verifies(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    key32(key).is_some_and(|key| ed25519_verifies(&key, message, signature))
}

fn refused<T>(error: &'static str) -> Result<T, Outcome> {
    Err(Outcome::Refused(error, None))
}

fn bad_signature<T>(of: &'static str) -> Result<T, Outcome> {
    Err(Outcome::Refused("BadSignature", Some(of)))
}

/// A canonical decoding: the bytes must be exactly the encoding of what they decode to.
fn decode<M: Message + Default>(input: &[u8]) -> Result<M, Outcome> {
    match M::decode(input) {
        Ok(message) if message.encode_to_vec() == input => Ok(message),
        _ => refused("Decode"),
    }
}

/// A verified roster (6.2): members by index into the identities.
#[derive(Clone)]
struct RosterView {
    group_id: Vec<u8>,
    version: u64,
    /// (member, added_at), in roster order.
    members: Vec<(usize, u64)>,
    owner: Vec<u8>,
    transfers: Vec<proto::OwnerTransfer>,
    /// The `SignedRoster` as received.
    signed: proto::SignedRoster,
}

impl RosterView {
    fn added_at(&self, member: usize) -> Option<u64> {
        self.members
            .iter()
            .find(|(m, _)| *m == member)
            .map(|(_, added_at)| *added_at)
    }

    fn contains(&self, member: usize) -> bool {
        self.added_at(member).is_some()
    }
}

impl Walk<'_> {
    fn key(&self, member: usize) -> Vec<u8> {
        bytes(&self.v.identities[member].signing_public)
    }

    /// The member whose `SignedCard` bytes are `card` (the files use only the identities'
    /// cards, which the recomputation checked).
    fn card_member(&self, card: &[u8]) -> usize {
        self.v
            .identities
            .iter()
            .position(|i| bytes(&i.card) == card)
            .expect("a roster of the vectors lists the identities' cards")
    }

    /// Verifies a roster as 6.2 says, against `held`.
    fn verify_roster(
        &self,
        signed: &proto::SignedRoster,
        held: Option<&RosterView>,
    ) -> Result<RosterView, Outcome> {
        let roster: proto::Roster = decode(&signed.roster)?;
        if roster.group_id.len() != GROUP_ID_LEN {
            return refused("InvalidGroupId");
        }
        if roster.founder.len() != 32 || roster.salt.len() != GROUP_SALT_LEN {
            return refused("InvalidLength");
        }
        if roster.members.is_empty() || roster.members.len() > MAX_GROUP_MEMBERS {
            return refused("InvalidRoster");
        }
        if roster.transfers.len() > MAX_OWNER_TRANSFERS {
            return refused("InvalidOwnerChain");
        }
        if group_id(&roster.founder, &roster.salt).as_slice() != roster.group_id {
            return refused("GroupIdMismatch");
        }
        let known = match held {
            Some(held) => {
                if held.group_id != roster.group_id {
                    return refused("WrongGroup");
                }
                // PROTOCOL.md 6.2, step 5: extends the held chain, or is an earlier
                // owner's roster from before the next held transfer.
                let extends = roster.transfers.starts_with(&held.transfers);
                let earlier = held.transfers.starts_with(&roster.transfers)
                    && held
                        .transfers
                        .get(roster.transfers.len())
                        .is_some_and(|next| roster.version < next.version);
                if !extends && !earlier {
                    return refused("InvalidOwnerChain");
                }
                held.transfers.len().min(roster.transfers.len())
            }
            None => 0,
        };
        let mut owner = roster.founder.clone();
        let mut previous_version = 1;
        for (i, transfer) in roster.transfers.iter().enumerate() {
            if transfer.version <= previous_version || transfer.version > roster.version {
                return refused("InvalidOwnerChain");
            }
            if key32(&transfer.new_owner).is_none() {
                return refused("InvalidPublicKey");
            }
            if i >= known {
                if transfer.signature.len() != 64 {
                    return refused("InvalidLength");
                }
                let input =
                    owner_transfer_input(&roster.group_id, transfer.version, &transfer.new_owner);
                if !verifies(&owner, &input, &transfer.signature) {
                    return bad_signature("owner transfer");
                }
            }
            owner.clone_from(&transfer.new_owner);
            previous_version = transfer.version;
        }
        let input = [ROSTER_CONTEXT, &signed.roster].concat();
        if !verifies(&owner, &input, &signed.signature) {
            return bad_signature("roster");
        }
        let mut members = Vec::new();
        for (i, member) in roster.members.iter().enumerate() {
            let index = self.card_member(&member.card);
            if i == 0 && self.key(index) != owner {
                return refused("NotGroupOwner");
            }
            if member.added_at == 0 || member.added_at > roster.version {
                return refused("InvalidRoster");
            }
            members.push((index, member.added_at));
        }
        let distinct: BTreeSet<usize> = members.iter().map(|(m, _)| *m).collect();
        if distinct.len() != members.len() {
            return refused("InvalidRoster");
        }
        Ok(RosterView {
            group_id: roster.group_id,
            version: roster.version,
            members,
            owner,
            transfers: roster.transfers,
            signed: signed.clone(),
        })
    }

    /// The roster `party` holds, verified from its listing.
    fn held_roster(&self, party: usize) -> RosterView {
        let roster = self.roster[party].expect("a roster");
        self.verify_roster(&self.signed_roster(roster), None)
            .unwrap_or_else(|outcome| panic!("roster {roster} verifies: {outcome:?}"))
    }

    /// Control from `from`, outside `party`'s roster: from a member it saw removed, or not.
    fn outsider(&self, party: usize, from: usize) -> &'static str {
        if self.removed_seen[party].contains(&from) {
            "RemovedGroupMember"
        } else {
            "NotGroupMember"
        }
    }

    /// Step 2 of 6.3's processing: a sender key from `from`, under `roster_version`, with
    /// `roster` the roster after step 1 and `removed` the members it removed.
    fn sender_key_refusal(
        &self,
        (party, from): (usize, usize),
        (roster, removed): (&RosterView, &[usize]),
        roster_version: u64,
        key: &proto::SenderKeyDistribution,
    ) -> Option<&'static str> {
        if key.sender != self.key(from) {
            return Some("SenderMismatch");
        }
        if roster_version > roster.version {
            return Some("RosterBehind");
        }
        if removed.contains(&from) {
            return Some("RemovedGroupMember");
        }
        if !roster.contains(from) {
            return Some(self.outsider(party, from));
        }
        if from == party {
            return Some("NotGroupMember");
        }
        let since = roster.added_at(from).max(roster.added_at(party))?;
        if roster_version < since {
            return Some("StaleSenderKey");
        }
        if key.chain_key.len() != 32 || key.signing_key.len() != 32 {
            return Some("InvalidLength");
        }
        if key.iteration == u32::MAX {
            return Some("StaleSenderKey");
        }
        let kept = self.kept_epochs(party, from);
        if let Some(&(epoch, first)) = kept.iter().find(|(epoch, _)| *epoch == key.epoch) {
            let signing_key = bytes(&self.sender_key(from, epoch).signing_public);
            let same = first == key.iteration && signing_key == key.signing_key;
            return Some(if same { "Duplicate" } else { "StaleSenderKey" });
        }
        if kept.len() >= MAX_SENDER_EPOCHS && kept.iter().all(|(epoch, _)| *epoch > key.epoch) {
            return Some("StaleSenderKey");
        }
        None
    }

    /// What `party` does with control `plaintext` from `from`, by `Group::join` (`joining`)
    /// or `Group::receive`: 6.3's parsing, then its processing part by part (6.4 for a join).
    fn control_outcome(
        &self,
        party: usize,
        from: usize,
        plaintext: &[u8],
        joining: bool,
    ) -> Result<(), Outcome> {
        let control: proto::GroupControl = decode(plaintext)?;
        if control.version != GROUP_VERSION {
            return refused("UnsupportedVersion");
        }
        let roster_group = match &control.roster {
            Some(signed) => Some(decode::<proto::Roster>(&signed.roster)?.group_id),
            None => None,
        };
        let offer = match &control.offer {
            Some(proto::OwnershipOffer {
                transfer: Some(transfer),
                ..
            }) => Some(transfer.clone()),
            Some(_) => return refused("Decode"),
            None => None,
        };
        let ids: Vec<Vec<u8>> = [
            roster_group,
            control.sender_key.as_ref().map(|k| k.group_id.clone()),
            control.leave.as_ref().map(|l| l.group_id.clone()),
            control.resync.as_ref().map(|r| r.group_id.clone()),
            control.offer.as_ref().map(|o| o.group_id.clone()),
        ]
        .into_iter()
        .flatten()
        .collect();
        let Some(group) = ids.first() else {
            return refused("Decode");
        };
        if ids.iter().any(|id| id != group) {
            return refused("Decode");
        }

        if joining {
            // 6.4, Join: a roster of the owner, from the owner, listing the joiner.
            let Some(signed) = &control.roster else {
                return refused("NotAGroupWelcome");
            };
            let roster = self.verify_roster(signed, None)?;
            if roster.owner != self.key(from) {
                return refused("RosterNotFromOwner");
            }
            if !roster.contains(party) || control.leave.is_some() {
                return refused("NotAGroupWelcome");
            }
            return Ok(());
        }
        if *group != self.group_id {
            return refused("WrongGroup");
        }
        let held = self.held_roster(party);
        let carries_more = control.sender_key.is_some()
            || control.leave.is_some()
            || control.resync.is_some()
            || control.offer.is_some();
        // 1. The roster.
        let mut roster = held.clone();
        let mut removed = Vec::new();
        let mut changed = false;
        if let Some(signed) = &control.roster {
            let new = self.verify_roster(signed, Some(&held))?;
            if new.owner != self.key(from) {
                return refused("RosterNotFromOwner");
            }
            if new.version <= held.version {
                let skipped =
                    carries_more && (new.version < held.version || new.signed == held.signed);
                if !skipped {
                    return refused("StaleRoster");
                }
            } else {
                removed = held
                    .members
                    .iter()
                    .filter(|(m, _)| {
                        new.added_at(*m)
                            .is_none_or(|added_at| added_at > held.version)
                    })
                    .map(|(m, _)| *m)
                    .collect();
                roster = new;
                changed = true;
            }
        }
        // 2. The sender key: skipped when it is old and another part applies.
        let others_apply = changed
            || control.leave.is_some()
            || control.resync.is_some()
            || control.offer.is_some();
        if let Some(key) = &control.sender_key {
            let refusal = self.sender_key_refusal(
                (party, from),
                (&roster, &removed),
                control.roster_version,
                key,
            );
            match refusal {
                Some("Duplicate" | "StaleSenderKey") if others_apply => {}
                Some(error) => return refused(error),
                None => {}
            }
        }
        // 3. Leave.
        if control.leave.is_some() {
            if roster.owner != self.key(party) {
                return refused("NotGroupOwner");
            }
            if !roster.contains(from) {
                return refused("NotGroupMember");
            }
        }
        // 4. Resync.
        if control.resync.is_some() && (changed || !held.contains(from) || from == party) {
            return refused("NotGroupMember");
        }
        // 5. Offer.
        if let Some(transfer) = &offer {
            if roster.owner != self.key(from) {
                return refused("NotGroupOwner");
            }
            let input =
                owner_transfer_input(&roster.group_id, transfer.version, &transfer.new_owner);
            if !verifies(&roster.owner, &input, &transfer.signature) {
                return bad_signature("owner transfer");
            }
            if transfer.new_owner != self.key(party) || !roster.contains(party) {
                return refused("NoOwnershipOffer");
            }
            if transfer.version != roster.version + 1 {
                return refused("StaleRoster");
            }
        }
        Ok(())
    }

    /// What `party` does with group message `input` (6.1).
    fn group_message_outcome(&self, party: usize, input: &[u8]) -> Result<(), Outcome> {
        let message: proto::GroupMessage = decode(input)?;
        if message.version != GROUP_VERSION {
            return refused("UnsupportedVersion");
        }
        let header: proto::GroupHeader = decode(&message.header)?;
        if header.sender.len() != 32 || header.salt.len() != MESSAGE_SALT_LEN {
            return refused("InvalidLength");
        }
        if header.group_id != self.group_id {
            return refused("WrongGroup");
        }
        if header.sender == self.key(party) {
            return refused("OwnGroupMessage");
        }
        let held = self.held_roster(party);
        let Some(sender) = (0..self.v.identities.len())
            .find(|&m| self.key(m) == header.sender && held.contains(m))
        else {
            // 6.1: from a member this one saw removed, signed with the key of an epoch it
            // kept of that member, the message is of the membership that ended.
            let removed = (0..self.v.identities.len())
                .find(|&m| self.key(m) == header.sender && self.removed_seen[party].contains(&m));
            let signed_as_removed = removed.is_some_and(|sender| {
                self.kept_epochs(party, sender)
                    .iter()
                    .any(|&(epoch, _)| epoch == header.epoch)
                    && verifies(
                        &bytes(&self.sender_key(sender, header.epoch).signing_public),
                        &group_signature_input(&message.header, &message.ciphertext),
                        &message.signature,
                    )
            });
            return refused(if signed_as_removed {
                "RemovedGroupMember"
            } else {
                "NotGroupMember"
            });
        };
        let kept = self.kept_epochs(party, sender);
        let Some(&(epoch, first)) = kept.iter().find(|(epoch, _)| *epoch == header.epoch) else {
            return refused("UnknownEpoch");
        };
        if message.signature.len() != 64 {
            return refused("InvalidLength");
        }
        let key = self.sender_key(sender, epoch);
        let signed = group_signature_input(&message.header, &message.ciphertext);
        if !verifies(&bytes(&key.signing_public), &signed, &message.signature) {
            return bad_signature("group message");
        }
        // The chain's position is past the last iteration read; the ones passed over
        // unread since the key's first are skipped keys.
        let read = self
            .decrypted
            .get(&(party, sender, epoch))
            .cloned()
            .unwrap_or_default();
        let position = read.last().map_or(first, |last| last + 1);
        let iteration = header.iteration;
        let skipped = (first..position).contains(&iteration) && !read.contains(&iteration);
        if !skipped {
            if iteration < first {
                return refused("SentBeforeKeyReceived");
            }
            if iteration < position {
                return refused("Duplicate");
            }
            if iteration - position > MAX_GROUP_MESSAGE_GAP {
                return refused("TooFarAhead");
            }
        }
        let (message_key, _) = kdf_ck(&chain_key_at(&array(&key.chain_key), iteration));
        let salt = header
            .salt
            .as_slice()
            .try_into()
            .expect("checked above: 16 bytes");
        let (aes_key, nonce) = salted_message_aead(&message_key, &salt, GROUP_MESSAGE_INFO);
        let Some(padded) = aes_gcm_open(&aes_key, &nonce, &message.header, &message.ciphertext)
        else {
            return refused("AuthenticationFailed");
        };
        if unpadded(&padded).is_none() {
            return refused("BadPadding");
        }
        Ok(())
    }

    /// What the rejected input `r` gets from `party`: for a channel message, first its
    /// channel (section 5: a replay, a tampered ciphertext), then the application or the
    /// group.
    pub(super) fn outcome(&self, r: &RejectedVector, party: usize, input: &[u8]) -> Outcome {
        let result = match r.action {
            RejectedAction::Decrypt => self.group_message_outcome(party, input),
            RejectedAction::Receive | RejectedAction::Join | RejectedAction::ChannelDecrypt => {
                let from = self.names.of(r.from.as_ref().expect("from"));
                self.channel_input_outcome(r, (party, from), input)
            }
        };
        match result {
            Ok(()) => Outcome::Accepted,
            Err(outcome) => outcome,
        }
    }

    fn channel_input_outcome(
        &self,
        r: &RejectedVector,
        (party, from): (usize, usize),
        input: &[u8],
    ) -> Result<(), Outcome> {
        let (content_type, plaintext) = match (&r.crafted, r.channel_message) {
            // Made up on the sender's open chain (checked by the caller): it decrypts.
            (Some(crafted), _) => (crafted.content_type, bytes(&crafted.plaintext)),
            (None, Some(base)) => {
                let listed = &self.v.channel_messages[base];
                if input == bytes(&listed.message) {
                    if self.received.contains(&base) {
                        // A message key is used once.
                        return refused("Duplicate");
                    }
                    (listed.content_type, bytes(&listed.plaintext))
                } else {
                    // Changed from the listed message: its own key must not open it.
                    let changed: proto::ChannelMessage = decode(input)?;
                    assert_eq!(
                        hex::encode(&changed.header),
                        listed.header,
                        "{}: only the ciphertext is changed",
                        r.description
                    );
                    let opened = aes_gcm_open(
                        &array(&listed.aes_key),
                        &array(&listed.nonce),
                        &bytes(&listed.aad),
                        &changed.ciphertext,
                    );
                    if opened.is_none() {
                        return refused("AuthenticationFailed");
                    }
                    panic!("{}: a changed message that still opens", r.description);
                }
            }
            (None, None) => panic!("{}: a channel message", r.description),
        };
        match (r.action, content_type) {
            (RejectedAction::ChannelDecrypt, 1) => refused("GroupControlMessage"),
            (RejectedAction::ChannelDecrypt, _) => Ok(()),
            (_, 0) => refused("NotGroupControl"),
            (action, _) => {
                self.control_outcome(party, from, &plaintext, action == RejectedAction::Join)
            }
        }
    }
}
