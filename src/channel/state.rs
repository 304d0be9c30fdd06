//! Saving and loading a channel as a `ChannelState` protobuf.

use std::collections::VecDeque;

use prost::Message;
use zeroize::Zeroizing;

use super::chains::{EndedChain, ReceivingChain, SendingChain};
use super::ratchet::{ChannelSkippedKeys, DoubleRatchet};
use super::{Channel, ChannelId, PendingPrekey, Role, MAX_ENDED_CHAINS, MAX_SKIPPED_KEYS};
use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::{KeyChain, MessageKey, RootKey};
use crate::crypto::padding::Padding;
use crate::error::{Error, Result};
use crate::wire::{self, state, state_fixed, v1, SavedState};

/// The `ChannelState` format this crate writes and reads: 3. Version 1 had no channel id
/// (which cannot be recomputed from it), and version 2 channels run protocol version 1,
/// which this crate no longer speaks, so older states are refused with
/// `UnsupportedVersion`.
pub(crate) const CHANNEL_STATE_VERSION: u32 = 3;

impl SavedState for state::ChannelState {
    const WHAT: &'static str = "ChannelState";
    const VERSION: u32 = CHANNEL_STATE_VERSION;
    fn version(&self) -> u32 {
        self.version
    }
    fn checksum_mut(&mut self) -> &mut Vec<u8> {
        &mut self.checksum
    }
}

impl Channel {
    /// Serializes the channel as a `ChannelState` protobuf (version 3).
    ///
    /// The bytes hold the channel's secrets: seal them with a
    /// [`StorageKey`](crate::StorageKey) before they leave memory. The encoding is
    /// deterministic, so equal channels give equal bytes.
    ///
    /// ```
    /// # use ratchetkit::{Channel, Identity, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// # let alice = Identity::generate(&mut rng, "alice")?;
    /// # let bob = Identity::generate(&mut rng, "bob")?;
    /// # let bundle = PrekeyStore::new(&mut rng).bundle(&bob, None)?;
    /// let channel = Channel::create(&mut rng, &alice, &bundle)?;
    /// let saved = channel.to_bytes();
    /// let restored = Channel::from_bytes(&saved)?;
    /// assert_eq!(*restored.to_bytes(), *saved);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let ratchet = &self.ratchet;
        let pending_prekey = match &self.role {
            Role::Initiator {
                pending: Some(pending),
            } => pending.info.encode_to_vec(),
            _ => Vec::new(),
        };
        let saved = state::ChannelState {
            version: CHANNEL_STATE_VERSION,
            associated_data: self.associated_data.to_vec(),
            initiator: matches!(self.role, Role::Initiator { .. }),
            root_key: ratchet.root_key.as_bytes().to_vec(),
            sending: ratchet
                .sending
                .as_ref()
                .map(|chain| state::SendingChainState {
                    ratchet_secret: chain.ratchet.secret_bytes().to_vec(),
                    chain_key: chain.chain.key.as_bytes().to_vec(),
                    index: chain.chain.index,
                }),
            previous_chain_length: ratchet.previous_chain_length,
            receiving: ratchet
                .receiving
                .as_ref()
                .map(|chain| state::ReceivingChainState {
                    ratchet_key: chain.ratchet_key.to_vec(),
                    chain_key: chain.chain.key.as_bytes().to_vec(),
                    index: chain.chain.index,
                }),
            ended_chains: ratchet
                .ended
                .iter()
                .map(|ended| state::EndedChainState {
                    chain_id: ended.id.to_vec(),
                    length: ended.length,
                })
                .collect(),
            skipped_keys: ratchet
                .skipped
                .iter()
                .map(|((ratchet_key, index), key)| state::SkippedKeyState {
                    ratchet_key: ratchet_key.to_vec(),
                    index: *index,
                    message_key: key.as_bytes().to_vec(),
                })
                .collect(),
            pending_prekey,
            channel_id: self.id.as_bytes().to_vec(),
            padding: self.padding.to_wire(),
            checksum: Vec::new(),
        };
        wire::encode_state(saved)
    }

    /// Loads a channel saved by [`Channel::to_bytes`], checking every length and invariant.
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::UnsupportedVersion`] or [`Error::InvalidState`] for
    /// anything that is not a valid saved channel.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::ChannelState = wire::decode_state(bytes)?;

        let associated_data =
            state_fixed(&saved.associated_data, "associated data must be 128 bytes")?;
        let id = ChannelId::from_bytes(state_fixed(
            &saved.channel_id,
            "channel id must be 32 bytes",
        )?);
        let role = if saved.initiator {
            let pending = if saved.pending_prekey.is_empty() {
                None
            } else {
                Some(PendingPrekey::new(
                    wire::decode::<v1::PrekeyInfo>(&saved.pending_prekey, "PrekeyInfo").map_err(
                        |_| Error::InvalidState {
                            reason: "pending prekey information is malformed",
                        },
                    )?,
                ))
            };
            Role::Initiator { pending }
        } else {
            if !saved.pending_prekey.is_empty() {
                return Err(Error::InvalidState {
                    reason: "a responder has no pending prekey information",
                });
            }
            Role::Responder
        };
        let padding = Padding::from_wire(saved.padding)?;

        let sending = saved
            .sending
            .as_ref()
            .map(|chain| -> Result<SendingChain> {
                Ok(SendingChain {
                    ratchet: AgreementKeyPair::from_secret_bytes(state_fixed(
                        &chain.ratchet_secret,
                        "ratchet secret must be 32 bytes",
                    )?),
                    chain: KeyChain::from_saved(&chain.chain_key, chain.index)?,
                })
            })
            .transpose()?;
        let receiving = saved
            .receiving
            .as_ref()
            .map(|chain| -> Result<ReceivingChain> {
                Ok(ReceivingChain {
                    ratchet_key: state_fixed(&chain.ratchet_key, "ratchet key must be 32 bytes")?,
                    chain: KeyChain::from_saved(&chain.chain_key, chain.index)?,
                })
            })
            .transpose()?;
        if sending.is_none() && receiving.is_none() {
            return Err(Error::InvalidState {
                reason: "a ratchet needs a sending or a receiving chain",
            });
        }

        if saved.ended_chains.len() > MAX_ENDED_CHAINS {
            return Err(Error::InvalidState {
                reason: "more ended chains than MAX_ENDED_CHAINS",
            });
        }
        let ended = saved
            .ended_chains
            .iter()
            .map(|ended| -> Result<EndedChain> {
                Ok(EndedChain {
                    id: state_fixed(&ended.chain_id, "ended chain ids must be 8 bytes")?,
                    length: ended.length,
                })
            })
            .collect::<Result<VecDeque<_>>>()?;

        if saved.skipped_keys.len() > MAX_SKIPPED_KEYS {
            return Err(Error::InvalidState {
                reason: "more skipped keys than MAX_SKIPPED_KEYS",
            });
        }
        let mut skipped = ChannelSkippedKeys::default();
        for entry in &saved.skipped_keys {
            let ratchet_key = state_fixed(&entry.ratchet_key, "ratchet key must be 32 bytes")?;
            if skipped.get(&(ratchet_key, entry.index)).is_some() {
                return Err(Error::InvalidState {
                    reason: "a skipped key is listed twice",
                });
            }
            let key = MessageKey::from_bytes(state_fixed(
                &entry.message_key,
                "message key must be 32 bytes",
            )?);
            skipped.extend([((ratchet_key, entry.index), key)]);
        }

        Ok(Self {
            id,
            associated_data,
            role,
            padding,
            ratchet: DoubleRatchet {
                root_key: RootKey::from_bytes(state_fixed(
                    &saved.root_key,
                    "root key must be 32 bytes",
                )?),
                sending,
                previous_chain_length: saved.previous_chain_length,
                receiving,
                ended,
                skipped,
            },
        })
    }
}
