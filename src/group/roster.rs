//! The roster: who is in a group and since which version, signed by the group's owner,
//! with the group id bound to its founder and every change of owner since.

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use prost::Message;
use rand::CryptoRng;
use sha2::{Digest, Sha256};

use super::{
    GROUP_ID_CONTEXT, GROUP_ID_LEN, GROUP_SALT_LEN, MAX_GROUP_MEMBERS, MAX_OWNER_TRANSFERS,
    OWNER_TRANSFER_CONTEXT, ROSTER_SIGNATURE_CONTEXT,
};
use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::identity::{Card, Identity};
use crate::wire::{self, fixed, v1};

/// A verified roster: the group id, its version, and the members, owner first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Roster {
    pub(crate) group_id: Vec<u8>,
    pub(crate) version: u64,
    /// The owner's card, also the first of `members`.
    pub(crate) owner: Card,
    /// The owner first.
    pub(crate) members: Vec<Card>,
    /// The version that (last) added each member, parallel to `members`.
    pub(crate) added_at: Vec<u64>,
    /// The members' `SignedCard` bytes as signed, parallel to `members`.
    member_bytes: Vec<Vec<u8>>,
    /// Each member's identity key and index, for lookups in O(log n).
    member_keys: BTreeMap<[u8; 32], usize>,
    /// The founder's key and salt, which the group id is derived from.
    pub(crate) founder: [u8; 32],
    pub(crate) salt: [u8; GROUP_SALT_LEN],
    /// Every change of owner, oldest first.
    pub(crate) transfers: Vec<v1::OwnerTransfer>,
    /// The roster as signed, kept to be sent on unchanged.
    pub(crate) signed: v1::SignedRoster,
}

/// The group id of `founder`'s group with `salt`: SHA-256 of the context, the key and the
/// salt, so that nobody else can make a roster under it.
pub(crate) fn group_id(founder: &[u8; 32], salt: &[u8; GROUP_SALT_LEN]) -> Vec<u8> {
    let mut hash = Sha256::new();
    hash.update(GROUP_ID_CONTEXT);
    hash.update(founder);
    hash.update(salt);
    hash.finalize().to_vec()
}

/// The bytes a previous owner signs to hand the group over at `version`.
fn transfer_parts(group_id: &[u8], version: u64, new_owner: &[u8]) -> [Vec<u8>; 3] {
    [
        group_id.to_vec(),
        version.to_be_bytes().to_vec(),
        new_owner.to_vec(),
    ]
}

/// `owner`'s signed transfer of the group `group_id` to `new_owner` at `version`.
pub(crate) fn sign_transfer(
    owner: &Identity,
    group_id: &[u8],
    version: u64,
    new_owner: &[u8; 32],
) -> v1::OwnerTransfer {
    let parts = transfer_parts(group_id, version, new_owner);
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    v1::OwnerTransfer {
        version,
        new_owner: new_owner.to_vec(),
        signature: signature::sign(owner.signing_key(), OWNER_TRANSFER_CONTEXT, &parts).to_vec(),
    }
}

/// Checks a transfer signed by `previous` for `group_id`, returning the new owner's key.
pub(crate) fn verify_transfer(
    previous: &VerifyingKey,
    group_id: &[u8],
    transfer: &v1::OwnerTransfer,
) -> Result<VerifyingKey> {
    let new_owner = signature::verifying_key(&transfer.new_owner, "new owner")?;
    let parts = transfer_parts(group_id, transfer.version, &transfer.new_owner);
    let parts: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
    signature::verify(
        previous,
        OWNER_TRANSFER_CONTEXT,
        &parts,
        &transfer.signature,
        "owner transfer",
    )?;
    Ok(new_owner)
}

/// Checks a member list: 1..=MAX_GROUP_MEMBERS cards with distinct identity keys, which
/// it returns with their indices.
fn check_members(members: &[Card]) -> Result<BTreeMap<[u8; 32], usize>> {
    let distinct: BTreeMap<[u8; 32], usize> = members
        .iter()
        .enumerate()
        .map(|(i, card)| (card.signing_key(), i))
        .collect();
    if members.is_empty() || members.len() > MAX_GROUP_MEMBERS || distinct.len() != members.len() {
        return Err(Error::InvalidRoster {
            max: MAX_GROUP_MEMBERS,
        });
    }
    Ok(distinct)
}

/// What stays the same across a group's rosters, and the chain of owners.
pub(crate) struct Lineage {
    pub(crate) founder: [u8; 32],
    pub(crate) salt: [u8; GROUP_SALT_LEN],
    pub(crate) transfers: Vec<v1::OwnerTransfer>,
}

impl Roster {
    /// The first roster of a new group founded by `owner`, with a random salt.
    pub(crate) fn found<R: CryptoRng + ?Sized>(
        rng: &mut R,
        owner: &Identity,
        members: &[Card],
    ) -> Result<Self> {
        let mut salt = [0u8; GROUP_SALT_LEN];
        rng.fill_bytes(&mut salt);
        let lineage = Lineage {
            founder: owner.card().signing_key(),
            salt,
            transfers: Vec::new(),
        };
        let cards = core::iter::once(owner.card()).chain(members);
        Self::sign(
            owner,
            lineage,
            1,
            cards.map(|card| (card.clone(), 1)).collect(),
        )
    }

    /// The lineage of this roster, for the next one.
    pub(crate) fn lineage(&self) -> Lineage {
        Lineage {
            founder: self.founder,
            salt: self.salt,
            transfers: self.transfers.clone(),
        }
    }

    /// The members with the versions that added them.
    pub(crate) fn entries(&self) -> Vec<(Card, u64)> {
        self.members
            .iter()
            .cloned()
            .zip(self.added_at.iter().copied())
            .collect()
    }

    /// Builds and signs a roster with `owner`'s identity key; `members` starts with the
    /// owner's card.
    pub(crate) fn sign(
        owner: &Identity,
        lineage: Lineage,
        version: u64,
        members: Vec<(Card, u64)>,
    ) -> Result<Self> {
        let (cards, added_at): (Vec<Card>, Vec<u64>) = members.into_iter().unzip();
        let member_keys = check_members(&cards)?;
        // The owner's card as the roster holds it (an app-approved one, say), as
        // `Roster::verify` reads it: only its key must be the signer's.
        let owner_card = match cards.first() {
            Some(card) if card.signing_key() == owner.card().signing_key() => card.clone(),
            _ => return Err(Error::NotGroupOwner),
        };
        let group_id = group_id(&lineage.founder, &lineage.salt);
        let member_bytes: Vec<Vec<u8>> = cards.iter().map(Card::to_bytes).collect();
        let roster = v1::Roster {
            group_id: group_id.clone(),
            version,
            members: member_bytes
                .iter()
                .zip(&added_at)
                .map(|(card, added_at)| v1::RosterMember {
                    card: card.clone(),
                    added_at: *added_at,
                })
                .collect(),
            founder: lineage.founder.to_vec(),
            salt: lineage.salt.to_vec(),
            transfers: lineage.transfers.clone(),
        }
        .encode_to_vec();
        let signature =
            signature::sign(owner.signing_key(), ROSTER_SIGNATURE_CONTEXT, &[&roster]).to_vec();
        // A roster its members would refuse is never sent: too many long cards.
        let signed = v1::SignedRoster { roster, signature };
        if signed.encoded_len() > super::MAX_ROSTER_LEN {
            return Err(Error::TooLarge {
                what: "SignedRoster",
                limit: super::MAX_ROSTER_LEN,
            });
        }
        Ok(Self {
            group_id,
            version,
            owner: owner_card,
            members: cards,
            added_at,
            member_bytes,
            member_keys,
            founder: lineage.founder,
            salt: lineage.salt,
            transfers: lineage.transfers,
            signed,
        })
    }

    /// Parses and verifies a `SignedRoster` (see [`Roster::verify`]).
    pub(crate) fn parse(signed_bytes: &[u8], held: Option<&Roster>) -> Result<Self> {
        let signed: v1::SignedRoster = wire::decode(signed_bytes, "SignedRoster")?;
        Self::verify(signed, held)
    }

    /// Verifies a `SignedRoster` in the order of PROTOCOL.md 6.2: its shape, the group
    /// id against the founder and salt, the chain of owners from the founder, the owner's
    /// signature, and only then the cards.
    ///
    /// With `held`, the roster must be of the same group and extend the held chain of
    /// owners (the transfers held are not verified again), and cards held byte for byte
    /// are reused rather than verified again, so a change to a large roster costs one
    /// signature check per new member.
    pub(crate) fn verify(signed: v1::SignedRoster, held: Option<&Roster>) -> Result<Self> {
        let roster: v1::Roster = wire::decode(&signed.roster, "Roster")?;
        if roster.group_id.len() != GROUP_ID_LEN {
            return Err(Error::InvalidGroupId {
                len: roster.group_id.len(),
            });
        }
        let founder: [u8; 32] = fixed(&roster.founder, "founder")?;
        let salt: [u8; GROUP_SALT_LEN] = fixed(&roster.salt, "group salt")?;
        if roster.members.is_empty() || roster.members.len() > MAX_GROUP_MEMBERS {
            return Err(Error::InvalidRoster {
                max: MAX_GROUP_MEMBERS,
            });
        }
        if roster.transfers.len() > MAX_OWNER_TRANSFERS {
            return Err(Error::InvalidOwnerChain);
        }
        // The id is a hash of the founder's key: a look-alike group under someone else's
        // id would need a chain of owners from that founder, signed by the founder.
        if group_id(&founder, &salt) != roster.group_id {
            return Err(Error::GroupIdMismatch);
        }
        if let Some(held) = held {
            if held.group_id != roster.group_id {
                return Err(Error::WrongGroup);
            }
        }
        let owner_key = owner_chain(&roster, &founder, held)?;
        if signed.signature.len() != signature::SIGNATURE_LEN {
            return Err(Error::BadSignature { what: "roster" });
        }
        signature::verify(
            &owner_key,
            ROSTER_SIGNATURE_CONTEXT,
            &[&signed.roster],
            &signed.signature,
            "roster",
        )?;

        let cache: BTreeMap<&[u8], &Card> = held
            .map(|held| {
                held.member_bytes
                    .iter()
                    .map(Vec::as_slice)
                    .zip(&held.members)
                    .collect()
            })
            .unwrap_or_default();
        let card = |bytes: &[u8]| match cache.get(bytes) {
            Some(card) => Ok((*card).clone()),
            None => Card::from_bytes(bytes),
        };
        let mut members = Vec::with_capacity(roster.members.len());
        let mut added_at = Vec::with_capacity(roster.members.len());
        let mut member_bytes = Vec::with_capacity(roster.members.len());
        for (i, member) in roster.members.into_iter().enumerate() {
            let parsed = card(&member.card)?;
            if i == 0 && *parsed.verifying_key() != owner_key {
                return Err(Error::NotGroupOwner);
            }
            if member.added_at == 0 || member.added_at > roster.version {
                return Err(Error::InvalidRoster {
                    max: MAX_GROUP_MEMBERS,
                });
            }
            members.push(parsed);
            added_at.push(member.added_at);
            member_bytes.push(member.card);
        }
        let member_keys = check_members(&members)?;
        let owner = members.first().cloned().ok_or(Error::InvalidRoster {
            max: MAX_GROUP_MEMBERS,
        })?;
        Ok(Self {
            group_id: roster.group_id,
            version: roster.version,
            owner,
            members,
            added_at,
            member_bytes,
            member_keys,
            founder,
            salt,
            transfers: roster.transfers,
            signed,
        })
    }

    /// The card of the member with identity key `member`.
    pub(crate) fn member(&self, member: &[u8; 32]) -> Option<&Card> {
        self.member_keys
            .get(member)
            .and_then(|&i| self.members.get(i))
    }

    /// The version that (last) added `member`, if it is in the roster.
    pub(crate) fn added_at(&self, member: &[u8; 32]) -> Option<u64> {
        self.member_keys
            .get(member)
            .and_then(|&i| self.added_at.get(i).copied())
    }

    pub(crate) fn contains(&self, member: &[u8; 32]) -> bool {
        self.member_keys.contains_key(member)
    }

    /// The version after this one (`u64::MAX` stays: no roster gets there).
    pub(crate) fn next_version(&self) -> u64 {
        self.version.saturating_add(1)
    }

    /// The owner's identity key.
    pub(crate) fn owner_key(&self) -> [u8; 32] {
        self.owner.signing_key()
    }

    /// The identity keys of the members.
    pub(crate) fn keys(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        self.members.iter().map(Card::signing_key)
    }
}

/// Walks the chain of owners from `founder` and returns the current owner's key: each
/// transfer is signed by the owner before it, for a version above the previous transfer's
/// and not above the roster's. A chain that extends `held`'s only checks what is new.
fn owner_chain(
    roster: &v1::Roster,
    founder: &[u8; 32],
    held: Option<&Roster>,
) -> Result<VerifyingKey> {
    let mut owner = signature::verifying_key(founder, "founder")?;
    let mut previous_version = 1;
    let known = match held {
        Some(held) => {
            if roster
                .transfers
                .iter()
                .zip(&held.transfers)
                .any(|(a, b)| a != b)
            {
                return Err(Error::InvalidOwnerChain);
            }
            // A shorter chain is an earlier owner's roster: genuine only from before the
            // next transfer held (a late update of the previous owner, which the receiver
            // skips as old); any later one is a former owner's look-alike.
            if let Some(next) = held.transfers.get(roster.transfers.len()) {
                if roster.version >= next.version {
                    return Err(Error::InvalidOwnerChain);
                }
            }
            held.transfers.len().min(roster.transfers.len())
        }
        None => 0,
    };
    for (i, transfer) in roster.transfers.iter().enumerate() {
        if transfer.version <= previous_version || transfer.version > roster.version {
            return Err(Error::InvalidOwnerChain);
        }
        owner = if i < known {
            signature::verifying_key(&transfer.new_owner, "new owner")?
        } else {
            verify_transfer(&owner, &roster.group_id, transfer)?
        };
        previous_version = transfer.version;
    }
    Ok(owner)
}

#[cfg(test)]
mod tests {
    use rand::rngs::ChaCha20Rng;
    use rand::SeedableRng;

    use super::*;

    fn people() -> (Identity, Identity, Identity) {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let mut identity = |name| Identity::generate_at(&mut rng, name, 0).expect("identity");
        (identity("owner"), identity("bob"), identity("mallory"))
    }

    fn roster(owner: &Identity, others: &[&Identity]) -> Roster {
        let mut rng = ChaCha20Rng::seed_from_u64(9);
        let members: Vec<Card> = others.iter().map(|i| i.card().clone()).collect();
        Roster::found(&mut rng, owner, &members).expect("roster")
    }

    #[test]
    fn a_genuine_roster_verifies_with_and_without_a_held_one() {
        let (owner, bob, _) = people();
        let signed = roster(&owner, &[&bob]).signed;
        let known = Roster::verify(signed.clone(), None).expect("join");
        let again = Roster::verify(signed, Some(&known)).expect("update");
        assert_eq!(again, known);
        assert_eq!(again.owner, *owner.card());
        assert_eq!(again.added_at(&bob.card().signing_key()), Some(1));
    }

    #[test]
    fn unsigned_or_wrongly_signed_rosters_are_rejected() {
        let (owner, bob, mallory) = people();
        let bad = Err(Error::BadSignature { what: "roster" });

        let mut unsigned = roster(&owner, &[&bob]).signed;
        unsigned.signature.clear();
        assert_eq!(Roster::verify(unsigned, None), bad);

        // Mallory signs a roster that still names the owner first.
        let mut forged = roster(&owner, &[&bob, &mallory]).signed;
        forged.signature = signature::sign(
            mallory.signing_key(),
            ROSTER_SIGNATURE_CONTEXT,
            &[&forged.roster],
        )
        .to_vec();
        assert_eq!(Roster::verify(forged, None), bad);

        let mut altered = roster(&owner, &[&bob]).signed;
        if let Some(byte) = altered.roster.last_mut() {
            *byte ^= 1;
        }
        assert!(Roster::verify(altered, None).is_err());
    }

    #[test]
    fn a_look_alike_group_id_is_refused() {
        let (owner, bob, mallory) = people();
        let genuine = roster(&owner, &[&bob]);
        // Mallory's own roster, under the owner's group id but with herself as founder.
        let hers = roster(&mallory, &[&bob, &owner]);
        let mut decoded: v1::Roster = wire::decode(&hers.signed.roster, "Roster").expect("roster");
        decoded.group_id = genuine.group_id.clone();
        let bytes = decoded.encode_to_vec();
        let signature =
            signature::sign(mallory.signing_key(), ROSTER_SIGNATURE_CONTEXT, &[&bytes]).to_vec();
        let squatted = v1::SignedRoster {
            roster: bytes,
            signature,
        };
        assert_eq!(Roster::verify(squatted, None), Err(Error::GroupIdMismatch));
    }

    #[test]
    fn an_owner_whose_roster_card_is_app_approved_can_sign() {
        let (owner, bob, _) = people();
        let mut rng = ChaCha20Rng::seed_from_u64(11);
        let app = crate::identity::AppKey::generate(&mut rng);
        let approved = bob.card().approve(&app).expect("approved card");
        assert_ne!(approved, *bob.card());
        let founded =
            Roster::found(&mut rng, &owner, core::slice::from_ref(&approved)).expect("roster");
        // Bob, as listed (with the app's signature), takes the group over: only the key
        // must be the signer's, and the roster keeps the card it lists.
        let mut lineage = founded.lineage();
        lineage.transfers.push(sign_transfer(
            &owner,
            &founded.group_id,
            2,
            &bob.card().signing_key(),
        ));
        let members = vec![(approved.clone(), 1), (owner.card().clone(), 1)];
        let taken = Roster::sign(&bob, lineage, 2, members).expect("signed by bob");
        assert_eq!(taken.owner, approved);
        let verified = Roster::verify(taken.signed.clone(), Some(&founded)).expect("verifies");
        assert_eq!(verified.owner, approved);
    }

    #[test]
    fn member_lists_are_checked() {
        let (owner, bob, _) = people();
        let card = |identity: &Identity| (identity.card().clone(), 1);
        let lineage = || Lineage {
            founder: owner.card().signing_key(),
            salt: [1; GROUP_SALT_LEN],
            transfers: Vec::new(),
        };
        let max = MAX_GROUP_MEMBERS;
        let repeated = vec![card(&owner), card(&bob), card(&bob)];
        assert_eq!(
            Roster::sign(&owner, lineage(), 1, repeated).err(),
            Some(Error::InvalidRoster { max })
        );
        let owner_not_first = vec![card(&bob), card(&owner)];
        assert_eq!(
            Roster::sign(&owner, lineage(), 1, owner_not_first).err(),
            Some(Error::NotGroupOwner)
        );
    }
}
