//! Saving and loading a group as a `GroupState` protobuf.

use std::collections::{BTreeMap, BTreeSet};

use ed25519_dalek::{SigningKey, VerifyingKey};
use prost::Message;
use zeroize::Zeroizing;

use super::control::Control;
use super::pending::Pending;
use super::roster::Roster;
use super::sender_key::{GroupSkippedKeys, SenderChain, SenderChains, SenderKey};
use super::{
    Group, RemovedMember, GROUP_VERSION, MAX_GROUP_SKIPPED_KEYS, MAX_PENDING_CONTROLS,
    MAX_REMOVED_MEMBERS, MAX_RESYNC_REPLIES, MAX_SENDER_EPOCHS,
};
use crate::crypto::chain::{KeyChain, MessageKey};
use crate::crypto::padding::Padding;
use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::wire::{self, state, state_fixed, v1};

fn invalid(reason: &'static str) -> Error {
    Error::InvalidState { reason }
}

impl Group {
    /// Serializes the group as a `GroupState` protobuf (version 2).
    ///
    /// The bytes hold the group's secrets: seal them with a
    /// [`StorageKey`](crate::StorageKey). The encoding is deterministic, so equal groups
    /// give equal bytes (and a rejected message leaves them byte for byte the same).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let own = self.own.as_ref().map(|own| state::GroupSenderKeyState {
            epoch: own.epoch,
            chain_key: own.chain.key.as_bytes().to_vec(),
            iteration: own.chain.index,
            signing_secret: own.signing.to_bytes().to_vec(),
        });
        let senders = self
            .senders
            .iter()
            .map(|(sender, chains)| state::GroupSenderState {
                sender: sender.to_vec(),
                since: chains.since,
                chains: chains
                    .epochs
                    .iter()
                    .map(|(epoch, held)| state::GroupSenderChainState {
                        epoch: *epoch,
                        chain_key: held.chain.key.as_bytes().to_vec(),
                        iteration: held.chain.index,
                        first_iteration: held.first,
                        signing_key: held.signing_key.to_bytes().to_vec(),
                    })
                    .collect(),
                skipped_keys: chains
                    .skipped
                    .iter()
                    .map(|((epoch, iteration), key)| state::GroupSkippedKeyState {
                        epoch: *epoch,
                        iteration: *iteration,
                        message_key: key.as_bytes().to_vec(),
                    })
                    .collect(),
            })
            .collect();
        let pending = self
            .pending
            .iter()
            .map(|(member, pending)| state::GroupPendingState {
                member: member.to_vec(),
                roster: pending.roster,
                controls: pending.controls.iter().map(|c| c.to_vec()).collect(),
            })
            .collect();
        let resync_replies = self
            .resync_replies
            .iter()
            .map(|(member, replies)| state::GroupResyncState {
                member: member.to_vec(),
                replies: *replies,
            })
            .collect();
        let transfer = |t: &Option<v1::OwnerTransfer>| {
            t.as_ref().map(Message::encode_to_vec).unwrap_or_default()
        };
        wire::encode_state(state::GroupState {
            version: GROUP_VERSION,
            me: self.me.to_vec(),
            roster: self.roster.signed.encode_to_vec(),
            own,
            senders,
            pending,
            resync_replies,
            offered: transfer(&self.offered),
            offer_received: transfer(&self.offer_received),
            resyncing: self.resyncing,
            padding: self.padding.to_wire(),
            removed: self
                .removed
                .iter()
                .map(|removed| state::GroupRemovedState {
                    member: removed.key.to_vec(),
                    epochs: removed
                        .epochs
                        .iter()
                        .map(|(epoch, key)| state::GroupRemovedEpochState {
                            epoch: *epoch,
                            signing_key: key.to_bytes().to_vec(),
                        })
                        .collect(),
                })
                .collect(),
            checksum: Vec::new(),
        })
    }

    /// Loads a group saved by [`Group::to_bytes`], checking every length and invariant
    /// and verifying the roster and its cards again.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::UnsupportedVersion`] or [`Error::InvalidState`] for
    /// anything that is not a valid saved group.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::GroupState = wire::decode_state(bytes)?;
        let me: [u8; 32] = state_fixed(&saved.me, "member key must be 32 bytes")?;
        let roster = Roster::parse(&saved.roster, None).map_err(|_| invalid("invalid roster"))?;
        let own = saved
            .own
            .as_ref()
            .map(|own| -> Result<SenderKey> {
                if own.iteration == u32::MAX {
                    return Err(invalid("sender key iteration out of range"));
                }
                Ok(SenderKey {
                    epoch: own.epoch,
                    chain: KeyChain::from_saved(&own.chain_key, own.iteration)?,
                    signing: SigningKey::from_bytes(&Zeroizing::new(state_fixed(
                        &own.signing_secret,
                        "signing secret must be 32 bytes",
                    )?)),
                })
            })
            .transpose()?;
        if own.is_some() && !roster.contains(&me) {
            return Err(invalid("a member with a sender key must be in the roster"));
        }

        let mut senders = BTreeMap::new();
        let mut previous: Option<[u8; 32]> = None;
        for entry in &saved.senders {
            let sender: [u8; 32] = state_fixed(&entry.sender, "sender must be 32 bytes")?;
            // Ascending order keeps the encoding canonical.
            if previous.is_some_and(|previous| previous >= sender) {
                return Err(invalid("senders must be in ascending order"));
            }
            previous = Some(sender);
            if sender == me || !roster.contains(&sender) || entry.since > roster.version {
                return Err(invalid("sender keys are kept only for other members"));
            }
            senders.insert(sender, load_sender(entry)?);
        }
        // A member keeps an entry for every other member while it is in the group.
        let everyone = roster.keys().filter(|key| *key != me).count();
        if roster.contains(&me) && senders.len() != everyone {
            return Err(invalid("a member holds an entry for every other member"));
        }
        let mut group = Group::new(me, roster, own);
        group.senders = senders;
        group.pending = load_pending(&group, &saved.pending)?;
        group.resync_replies = load_replies(&group, &saved.resync_replies)?;
        group.offered = load_transfer(&saved.offered)?;
        group.offer_received = load_transfer(&saved.offer_received)?;
        group.resyncing = saved.resyncing;
        // Absent (0) in a group saved before padding could be chosen: Padmé, the default.
        group.padding = Padding::from_wire(saved.padding)?;
        group.removed = load_removed(&group, &saved.removed)?;
        if group.offered.is_some() && group.roster.owner_key() != me {
            return Err(invalid("only the owner has an offer out"));
        }
        Ok(group)
    }
}

/// The removed members, in their saved order: outside the roster, each once, at most
/// [`MAX_REMOVED_MEMBERS`], each with at most [`MAX_SENDER_EPOCHS`] epochs in ascending
/// order (the pre-scan has already bounded both counts).
fn load_removed(group: &Group, saved: &[state::GroupRemovedState]) -> Result<Vec<RemovedMember>> {
    if saved.len() > MAX_REMOVED_MEMBERS {
        return Err(invalid("at most MAX_REMOVED_MEMBERS removed members"));
    }
    let mut seen = BTreeSet::new();
    let mut removed = Vec::with_capacity(saved.len());
    for entry in saved {
        let key: [u8; 32] = state_fixed(&entry.member, "removed member must be 32 bytes")?;
        if group.roster.contains(&key) || !seen.insert(key) {
            return Err(invalid("removed members are outside the roster, each once"));
        }
        if entry.epochs.len() > MAX_SENDER_EPOCHS {
            return Err(invalid(
                "at most MAX_SENDER_EPOCHS epochs of a removed member",
            ));
        }
        let mut epochs: Vec<(u32, VerifyingKey)> = Vec::with_capacity(entry.epochs.len());
        for saved in &entry.epochs {
            if epochs.last().is_some_and(|(last, _)| *last >= saved.epoch) {
                return Err(invalid("a removed member's epochs must ascend"));
            }
            let signing_key = signature::verifying_key(&saved.signing_key, "removed signing key")
                .map_err(|_| invalid("invalid removed member signing key"))?;
            epochs.push((saved.epoch, signing_key));
        }
        removed.push(RemovedMember { key, epochs });
    }
    Ok(removed)
}

/// Checks that `keys` ascend strictly (the canonical order) and name other members.
fn check_members<'a>(group: &Group, keys: impl Iterator<Item = &'a [u8]>) -> Result<Vec<[u8; 32]>> {
    let mut previous: Option<[u8; 32]> = None;
    let mut members = Vec::new();
    for key in keys {
        let member: [u8; 32] = state_fixed(key, "member must be 32 bytes")?;
        if previous.is_some_and(|previous| previous >= member) {
            return Err(invalid("members must be in ascending order"));
        }
        if member == group.me || !group.roster.contains(&member) {
            return Err(invalid("pending control and replies are for other members"));
        }
        previous = Some(member);
        members.push(member);
    }
    Ok(members)
}

fn load_pending(
    group: &Group,
    saved: &[state::GroupPendingState],
) -> Result<BTreeMap<[u8; 32], Pending>> {
    let members = check_members(group, saved.iter().map(|p| p.member.as_slice()))?;
    let mut pending = BTreeMap::new();
    for (member, saved) in members.into_iter().zip(saved) {
        if saved.controls.len() > MAX_PENDING_CONTROLS
            || (saved.controls.is_empty() && !saved.roster)
        {
            return Err(invalid(
                "at most MAX_PENDING_CONTROLS pending controls, and some",
            ));
        }
        for control in &saved.controls {
            let parsed = Control::parse(control).map_err(|_| invalid("invalid pending control"))?;
            if parsed.group_id != group.roster.group_id || parsed.roster.is_some() {
                return Err(invalid("invalid pending control"));
            }
        }
        pending.insert(
            member,
            Pending {
                roster: saved.roster,
                controls: saved
                    .controls
                    .iter()
                    .map(|c| Zeroizing::new(c.clone()))
                    .collect(),
            },
        );
    }
    Ok(pending)
}

fn load_replies(
    group: &Group,
    saved: &[state::GroupResyncState],
) -> Result<BTreeMap<[u8; 32], u32>> {
    let members = check_members(group, saved.iter().map(|r| r.member.as_slice()))?;
    members
        .into_iter()
        .zip(saved)
        .map(|(member, saved)| {
            if saved.replies == 0 || saved.replies > MAX_RESYNC_REPLIES {
                return Err(invalid("resync replies must be 1..=MAX_RESYNC_REPLIES"));
            }
            Ok((member, saved.replies))
        })
        .collect()
}

fn load_transfer(bytes: &[u8]) -> Result<Option<v1::OwnerTransfer>> {
    if bytes.is_empty() {
        return Ok(None);
    }
    wire::decode(bytes, "OwnerTransfer")
        .map(Some)
        .map_err(|_| invalid("invalid ownership transfer"))
}

fn load_sender(entry: &state::GroupSenderState) -> Result<SenderChains> {
    if entry.chains.len() > MAX_SENDER_EPOCHS {
        return Err(invalid("a sender has at most MAX_SENDER_EPOCHS chains"));
    }
    let mut epochs = BTreeMap::new();
    for chain in &entry.chains {
        if epochs
            .keys()
            .next_back()
            .is_some_and(|&last| last >= chain.epoch)
        {
            return Err(invalid("sender chains must be in ascending epoch order"));
        }
        if chain.first_iteration > chain.iteration {
            return Err(invalid("a chain cannot start after its position"));
        }
        let signing_key = signature::verifying_key(&chain.signing_key, "sender signing key")
            .map_err(|_| invalid("invalid sender signing key"))?;
        epochs.insert(
            chain.epoch,
            SenderChain {
                chain: KeyChain::from_saved(&chain.chain_key, chain.iteration)?,
                first: chain.first_iteration,
                signing_key,
            },
        );
    }
    if entry.skipped_keys.len() > MAX_GROUP_SKIPPED_KEYS {
        return Err(invalid("more skipped keys than MAX_GROUP_SKIPPED_KEYS"));
    }
    let mut skipped = GroupSkippedKeys::default();
    for key in &entry.skipped_keys {
        let id = (key.epoch, key.iteration);
        let in_chain = epochs.get(&key.epoch).is_some_and(|held: &SenderChain| {
            (held.first..held.chain.index).contains(&key.iteration)
        });
        if !in_chain || skipped.get(&id).is_some() {
            return Err(invalid(
                "a skipped key is listed twice or outside its chain",
            ));
        }
        let message_key = MessageKey::from_bytes(state_fixed(
            &key.message_key,
            "message key must be 32 bytes",
        )?);
        skipped.extend([(id, message_key)]);
    }
    Ok(SenderChains {
        since: entry.since,
        epochs,
        skipped,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::{Channel, Identity, Padding};

    /// A group of one, just created.
    fn group_of_one() -> Group {
        let mut rng = rand::rng();
        let alice = Identity::generate(&mut rng, "alice").unwrap();
        let mut channels = BTreeMap::<[u8; 32], Channel>::new();
        Group::create(&mut rng, &alice, &[], &mut channels)
            .unwrap()
            .0
    }

    /// `group` saved, with its `GroupState` changed by `edit`.
    fn saved_as(group: &Group, edit: impl FnOnce(&mut state::GroupState)) -> Vec<u8> {
        let mut saved: state::GroupState = wire::decode_state(&group.to_bytes()).unwrap();
        edit(&mut saved);
        wire::encode_state(saved).to_vec()
    }

    fn saved_with_padding(padding: u32) -> Vec<u8> {
        saved_as(&group_of_one(), |saved| saved.padding = padding)
    }

    fn removed_entry(member: [u8; 32], epochs: &[(u32, [u8; 32])]) -> state::GroupRemovedState {
        state::GroupRemovedState {
            member: member.to_vec(),
            epochs: epochs
                .iter()
                .map(|(epoch, key)| state::GroupRemovedEpochState {
                    epoch: *epoch,
                    signing_key: key.to_vec(),
                })
                .collect(),
        }
    }

    fn signing_public(seed: u8) -> [u8; 32] {
        SigningKey::from_bytes(&[seed; 32])
            .verifying_key()
            .to_bytes()
    }

    #[test]
    fn the_removed_list_loads_back_and_refuses_what_a_group_never_saves() {
        let (k1, k2) = (signing_public(1), signing_public(2));
        let good = vec![
            removed_entry([7; 32], &[(0, k1), (4, k2)]),
            removed_entry([8; 32], &[]),
        ];
        let bytes = saved_as(&group_of_one(), |saved| saved.removed = good);
        let loaded = Group::from_bytes(&bytes).unwrap();
        assert_eq!(loaded.removed.len(), 2);
        assert_eq!(*loaded.to_bytes(), *bytes, "saves back to the same bytes");

        let group = group_of_one();
        let me = group.me;
        let refused = [
            (
                vec![removed_entry([7; 32], &[]), removed_entry([7; 32], &[])],
                "twice",
            ),
            (vec![removed_entry(me, &[])], "in the roster"),
            (
                vec![removed_entry([7; 32], &[(4, k1), (0, k2)])],
                "epochs descending",
            ),
            (
                vec![removed_entry([7; 32], &[(4, k1), (4, k2)])],
                "an epoch twice",
            ),
            (
                vec![removed_entry([7; 32], &[(0, [0; 32])])],
                "a weak signing key",
            ),
            (
                vec![state::GroupRemovedState {
                    member: vec![7; 31],
                    epochs: Vec::new(),
                }],
                "a short member key",
            ),
            (
                vec![removed_entry(
                    [7; 32],
                    &[(0, k1), (1, k1), (2, k1), (3, k1)],
                )],
                "more epochs than MAX_SENDER_EPOCHS",
            ),
            (
                (0..=MAX_REMOVED_MEMBERS)
                    .map(|i| {
                        let mut key = [9; 32];
                        key[..8].copy_from_slice(&(i as u64).to_be_bytes());
                        removed_entry(key, &[])
                    })
                    .collect(),
                "more than MAX_REMOVED_MEMBERS",
            ),
        ];
        for (removed, what) in refused {
            let bytes = saved_as(&group, |saved| saved.removed = removed);
            let result = Group::from_bytes(&bytes).map(drop);
            assert!(
                matches!(
                    result,
                    Err(Error::InvalidState { .. } | Error::TooMany { .. })
                ),
                "{what}: {result:?}"
            );
        }
    }

    #[test]
    fn the_removed_list_keeps_the_newest_and_forgets_members_added_back() {
        let mut group = group_of_one();
        let roster = group.roster.clone();
        let key = |i: usize| {
            let mut key = [9; 32];
            key[..8].copy_from_slice(&(i as u64).to_be_bytes());
            key
        };
        for i in 0..MAX_REMOVED_MEMBERS + 5 {
            group.remember_removals(&[key(i)], &roster);
        }
        assert_eq!(group.removed.len(), MAX_REMOVED_MEMBERS);
        assert_eq!(
            group.removed[0].key,
            key(5),
            "the five oldest are forgotten"
        );
        let bytes = group.to_bytes();
        assert_eq!(*Group::from_bytes(&bytes).unwrap().to_bytes(), *bytes);
        // A member in the roster is never remembered, and leaves the list when added back.
        group.remember_removals(&[group.me], &roster);
        assert!(group.removed.iter().all(|removed| removed.key != group.me));
    }

    #[test]
    fn padding_loads_from_its_wire_value_and_refuses_unknown_ones() {
        let padme = Group::from_bytes(&saved_with_padding(0)).unwrap();
        assert_eq!(padme.padding(), Padding::Padme);
        let minimal = Group::from_bytes(&saved_with_padding(1)).unwrap();
        assert_eq!(minimal.padding(), Padding::Minimal);
        assert_eq!(
            Group::from_bytes(&saved_with_padding(2)).map(drop),
            Err(Error::InvalidState {
                reason: "unknown padding"
            })
        );
    }
}
