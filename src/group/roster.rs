//! The roster: who is in a group, signed by the group's owner.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::VerifyingKey;
use prost::Message;

use super::{MAX_GROUP_ID_LEN, MAX_GROUP_MEMBERS, MIN_GROUP_ID_LEN, ROSTER_SIGNATURE_CONTEXT};
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::identity::{Card, Identity};
use crate::wire::{self, v1};

/// A verified roster: the group id, its version, and the member cards, owner first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Roster {
    pub(crate) group_id: Vec<u8>,
    pub(crate) version: u64,
    /// The owner's card, also the first of `members`.
    pub(crate) owner: Card,
    /// The owner first.
    pub(crate) members: Vec<Card>,
    /// The members' `SignedCard` bytes as signed, parallel to `members`.
    member_bytes: Vec<Vec<u8>>,
    /// The members' identity keys, for lookups in O(log n).
    member_keys: BTreeSet<[u8; 32]>,
    /// The roster as signed, kept to be sent on unchanged.
    pub(crate) signed: v1::SignedRoster,
}

/// Checks a group id's length.
pub(crate) fn check_group_id(group_id: &[u8]) -> Result<()> {
    if (MIN_GROUP_ID_LEN..=MAX_GROUP_ID_LEN).contains(&group_id.len()) {
        Ok(())
    } else {
        Err(Error::InvalidGroupId {
            len: group_id.len(),
        })
    }
}

/// Checks a member list: 1..=MAX_GROUP_MEMBERS cards with distinct identity keys, which
/// it returns.
fn check_members(members: &[Card]) -> Result<BTreeSet<[u8; 32]>> {
    let distinct: BTreeSet<[u8; 32]> = members.iter().map(Card::signing_key).collect();
    if members.is_empty() || members.len() > MAX_GROUP_MEMBERS || distinct.len() != members.len() {
        return Err(Error::InvalidRoster {
            max: MAX_GROUP_MEMBERS,
        });
    }
    Ok(distinct)
}

impl Roster {
    /// Builds and signs a roster with `owner`'s identity key; `members` starts with the
    /// owner's card.
    pub(crate) fn sign(
        owner: &Identity,
        group_id: &[u8],
        version: u64,
        members: Vec<Card>,
    ) -> Result<Self> {
        check_group_id(group_id)?;
        let member_keys = check_members(&members)?;
        if members.first() != Some(owner.card()) {
            return Err(Error::NotGroupOwner);
        }
        let owner_card = owner.card().clone();
        let member_bytes: Vec<Vec<u8>> = members.iter().map(Card::to_bytes).collect();
        let roster = v1::Roster {
            group_id: group_id.to_vec(),
            version,
            members: member_bytes.clone(),
        }
        .encode_to_vec();
        let signature =
            signature::sign(owner.signing_key(), ROSTER_SIGNATURE_CONTEXT, &[&roster]).to_vec();
        Ok(Self {
            group_id: group_id.to_vec(),
            version,
            owner: owner_card,
            members,
            member_bytes,
            member_keys,
            signed: v1::SignedRoster { roster, signature },
        })
    }

    /// Parses and verifies a `SignedRoster`. With `owner`, the signature must be that
    /// owner's and the roster must list it first; without, the first member's signature is
    /// taken (only when joining, where the channel tells who the owner is).
    ///
    /// Cards also in `known` (byte for byte) are reused rather than verified again, so
    /// a change to a large roster costs one signature check per new member.
    pub(crate) fn parse(
        signed_bytes: &[u8],
        owner: Option<&VerifyingKey>,
        known: Option<&Roster>,
    ) -> Result<Self> {
        let signed: v1::SignedRoster = wire::decode(signed_bytes, "SignedRoster")?;
        Self::verify(signed, owner, known)
    }

    /// [`Roster::parse`] for an already decoded `SignedRoster`.
    pub(crate) fn verify(
        signed: v1::SignedRoster,
        owner: Option<&VerifyingKey>,
        known: Option<&Roster>,
    ) -> Result<Self> {
        let roster: v1::Roster = wire::decode(&signed.roster, "Roster")?;
        check_group_id(&roster.group_id)?;
        if roster.members.is_empty() || roster.members.len() > MAX_GROUP_MEMBERS {
            return Err(Error::InvalidRoster {
                max: MAX_GROUP_MEMBERS,
            });
        }
        let cache: BTreeMap<&[u8], &Card> = known
            .map(|known| {
                known
                    .member_bytes
                    .iter()
                    .map(Vec::as_slice)
                    .zip(&known.members)
                    .collect()
            })
            .unwrap_or_default();
        let card = |bytes: &[u8]| match cache.get(bytes) {
            Some(card) => Ok((*card).clone()),
            None => Card::from_bytes(bytes),
        };
        let check_signature = |owner: &VerifyingKey| {
            if signed.signature.len() != SIGNATURE_LEN {
                return Err(Error::BadSignature { what: "roster" });
            }
            signature::verify(
                owner,
                ROSTER_SIGNATURE_CONTEXT,
                &[&signed.roster],
                &signed.signature,
                "roster",
            )
        };
        let first_bytes = roster.members.first().map_or(&[][..], Vec::as_slice);
        let first = match owner {
            // The signature comes before any card: a forged update costs one check.
            Some(owner) => {
                check_signature(owner)?;
                let first = card(first_bytes)?;
                if first.verifying_key() != owner {
                    return Err(Error::NotGroupOwner);
                }
                first
            }
            None => {
                let first = card(first_bytes)?;
                check_signature(first.verifying_key())?;
                first
            }
        };
        let members = roster
            .members
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                if i == 0 {
                    Ok(first.clone())
                } else {
                    card(bytes)
                }
            })
            .collect::<Result<Vec<Card>>>()?;
        let member_keys = check_members(&members)?;
        Ok(Self {
            group_id: roster.group_id,
            version: roster.version,
            owner: first,
            members,
            member_bytes: roster.members,
            member_keys,
            signed,
        })
    }

    /// The card of the member with identity key `member`.
    pub(crate) fn member(&self, member: &[u8; 32]) -> Option<&Card> {
        self.members
            .iter()
            .find(|card| card.signing_key() == *member)
    }

    pub(crate) fn contains(&self, member: &[u8; 32]) -> bool {
        self.member_keys.contains(member)
    }

    /// The identity keys of the members.
    pub(crate) fn keys(&self) -> impl Iterator<Item = [u8; 32]> + '_ {
        self.members.iter().map(Card::signing_key)
    }
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
        let members = core::iter::once(owner)
            .chain(others.iter().copied())
            .map(|identity| identity.card().clone())
            .collect();
        Roster::sign(owner, &[1; 16], 1, members).expect("roster")
    }

    #[test]
    fn a_genuine_roster_verifies_with_and_without_a_known_owner() {
        let (owner, bob, _) = people();
        let signed = roster(&owner, &[&bob]).signed;
        let key = *owner.card().verifying_key();
        let known = Roster::verify(signed.clone(), None, None).expect("join");
        let again = Roster::verify(signed, Some(&key), Some(&known)).expect("update");
        assert_eq!(again, known);
        assert_eq!(again.owner, *owner.card());
    }

    #[test]
    fn unsigned_or_wrongly_signed_rosters_are_rejected() {
        let (owner, bob, mallory) = people();
        let key = *owner.card().verifying_key();
        let bad = Err(Error::BadSignature { what: "roster" });

        let mut unsigned = roster(&owner, &[&bob]).signed;
        unsigned.signature.clear();
        assert_eq!(Roster::verify(unsigned, Some(&key), None), bad);

        // Mallory signs a roster that still names the owner first.
        let mut forged = roster(&owner, &[&bob, &mallory]).signed;
        forged.signature = signature::sign(
            mallory.signing_key(),
            ROSTER_SIGNATURE_CONTEXT,
            &[&forged.roster],
        )
        .to_vec();
        assert_eq!(Roster::verify(forged, Some(&key), None), bad);

        // Mallory's own roster, properly signed by her, names her as owner.
        let hers = roster(&mallory, &[&bob]).signed;
        assert_eq!(Roster::verify(hers, Some(&key), None), bad);

        let mut altered = roster(&owner, &[&bob]).signed;
        if let Some(byte) = altered.roster.last_mut() {
            *byte ^= 1;
        }
        assert!(Roster::verify(altered, Some(&key), None).is_err());
    }

    #[test]
    fn member_lists_are_checked() {
        let (owner, bob, _) = people();
        let card = |identity: &Identity| identity.card().clone();
        let max = MAX_GROUP_MEMBERS;
        let repeated = vec![card(&owner), card(&bob), card(&bob)];
        assert_eq!(
            Roster::sign(&owner, &[1; 16], 1, repeated).err(),
            Some(Error::InvalidRoster { max })
        );
        let owner_not_first = vec![card(&bob), card(&owner)];
        assert_eq!(
            Roster::sign(&owner, &[1; 16], 1, owner_not_first).err(),
            Some(Error::NotGroupOwner)
        );
        assert_eq!(
            Roster::sign(&owner, &[1; 8], 1, vec![card(&owner)]).err(),
            Some(Error::InvalidGroupId { len: 8 })
        );
    }
}
