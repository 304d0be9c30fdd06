//! Saving and loading a group as a `GroupState` protobuf.

use std::collections::BTreeMap;

use ed25519_dalek::SigningKey;
use prost::Message;
use zeroize::Zeroizing;

use super::control::Control;
use super::pending::Pending;
use super::roster::Roster;
use super::sender_key::{GroupSkippedKeys, SenderChain, SenderChains, SenderKey};
use super::{
    Group, GROUP_VERSION, MAX_GROUP_SKIPPED_KEYS, MAX_PENDING_CONTROLS, MAX_RESYNC_REPLIES,
    MAX_SENDER_EPOCHS,
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
        if group.offered.is_some() && group.roster.owner_key() != me {
            return Err(invalid("only the owner has an offer out"));
        }
        Ok(group)
    }
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

    fn saved_with_padding(padding: u32) -> Vec<u8> {
        let mut rng = rand::rng();
        let alice = Identity::generate(&mut rng, "alice").unwrap();
        let mut channels = BTreeMap::<[u8; 32], Channel>::new();
        let (group, _) = Group::create(&mut rng, &alice, &[], &mut channels).unwrap();
        let mut saved: state::GroupState = wire::decode_state(&group.to_bytes()).unwrap();
        saved.padding = padding;
        wire::encode_state(saved).to_vec()
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
