//! Sender keys: this member's own sending chain, and the chains it holds of the others.
//!
//! A sender key is an epoch number, a KDF chain (the channel's KDF_CK) and an Ed25519
//! signing key pair for that epoch. Other members receive the chain key and the public
//! signing key, so they can read the sender's messages but cannot forge them.

use std::collections::BTreeMap;

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::message::IncomingGroupMessage;
use super::{GROUP_MESSAGE_INFO, MAX_GROUP_MESSAGE_GAP, MAX_GROUP_SKIPPED_KEYS, MAX_SENDER_EPOCHS};
use crate::crypto::chain::{ChainKey, KeyChain, PassedKeys};
use crate::crypto::padding;
use crate::crypto::signature;
use crate::crypto::skipped_keys::SkippedKeys;
use crate::error::{Error, Result};
use crate::wire::{fixed, v1};

/// This member's sender key for its current epoch.
#[derive(Clone, Debug)]
pub(crate) struct SenderKey {
    pub(crate) epoch: u32,
    pub(crate) chain: KeyChain,
    pub(crate) signing: SigningKey,
}

impl SenderKey {
    /// A fresh sender key: random chain key, fresh signing key pair, iteration 0.
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R, epoch: u32) -> Self {
        let mut chain_key = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(chain_key.as_mut());
        Self {
            epoch,
            chain: KeyChain::new(ChainKey::from_bytes(*chain_key)),
            signing: SigningKey::generate(rng),
        }
    }

    /// The sender key of the next epoch: nothing of this one carries over, so whoever
    /// holds this one learns nothing of the next.
    pub(crate) fn next_epoch<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Self> {
        let epoch = self.epoch.checked_add(1).ok_or(Error::ChainExhausted)?;
        Ok(Self::generate(rng, epoch))
    }

    /// The sender key a resync starts: a fresh epoch numbered `epoch + 1 + jump`, where
    /// `jump` is the first two bytes (big-endian) of its public signing key. A member
    /// restored from an older save may have given out the next epoch numbers already,
    /// with other keys; the random jump keeps its new epoch from colliding with them, so
    /// that no message key of its is ever used twice.
    pub(crate) fn resync_epoch<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Self> {
        let mut key = Self::generate(rng, 0);
        let public = key.signing.verifying_key().to_bytes();
        let jump = u32::from(u16::from_be_bytes([public[0], public[1]]));
        key.epoch = self
            .epoch
            .checked_add(1)
            .and_then(|next| next.checked_add(jump))
            .ok_or(Error::ChainExhausted)?;
        Ok(key)
    }

    /// The distribution of this key at its current iteration: a receiver can read what is
    /// sent from now on, nothing before.
    pub(crate) fn distribution(&self, group_id: &[u8], me: &[u8; 32]) -> v1::SenderKeyDistribution {
        v1::SenderKeyDistribution {
            group_id: group_id.to_vec(),
            sender: me.to_vec(),
            epoch: self.epoch,
            iteration: self.chain.index,
            chain_key: self.chain.key.as_bytes().to_vec(),
            signing_key: self.signing.verifying_key().to_bytes().to_vec(),
        }
    }
}

/// Another member's chain for one epoch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SenderChain {
    pub(crate) chain: KeyChain,
    /// The iteration the distribution started at: earlier messages cannot be read here.
    pub(crate) first: u32,
    pub(crate) signing_key: VerifyingKey,
}

/// A sender's skipped message keys, by (epoch, iteration).
pub(crate) type GroupSkippedKeys = SkippedKeys<(u32, u32), MAX_GROUP_SKIPPED_KEYS>;

/// What this member holds of one other member's sender keys: its newest
/// [`MAX_SENDER_EPOCHS`] epochs and their skipped message keys, and since which roster
/// version the member is in the group as this member sees it.
#[derive(Clone, Debug)]
pub(crate) struct SenderChains {
    /// Sender keys sent under an older roster belong to an earlier membership: refused.
    pub(crate) since: u64,
    /// Only inserted into, never removed from (see [`newest_epochs`]).
    pub(crate) epochs: BTreeMap<u32, SenderChain>,
    pub(crate) skipped: GroupSkippedKeys,
}

/// The newest [`MAX_SENDER_EPOCHS`] chains of `epochs`, in a new map.
///
/// Not `pop_first`: removing from a `BTreeMap` shifts the values after it within their
/// node, and the old copy of the last one (a chain key, which gives every later message
/// key) stays in the node's spare room until the node is freed, unwiped. A map filled in
/// ascending order only appends, and dropping the old one wipes each chain where it is.
fn newest_epochs(epochs: &BTreeMap<u32, SenderChain>) -> BTreeMap<u32, SenderChain> {
    let older = epochs.len().saturating_sub(MAX_SENDER_EPOCHS);
    let mut newest = BTreeMap::new();
    for (epoch, chain) in epochs.iter().skip(older) {
        newest.insert(*epoch, chain.clone());
    }
    newest
}

/// A sender key checked by [`SenderChains::check`], to [`insert`](SenderChains::insert):
/// the chain to hold, and the keys of earlier messages it reaches back to.
pub(crate) struct CheckedKey {
    pub(crate) epoch: u32,
    chain: SenderChain,
    earlier: PassedKeys,
}

/// A decryption worked out on copies, applied by [`SenderChains::commit`].
pub(crate) struct Opened {
    pub(crate) plaintext: Vec<u8>,
    epoch: u32,
    iteration: u32,
    /// The chain after the message, with the keys it passed over; `None` when the key came
    /// from the skipped keys.
    advance: Option<(KeyChain, PassedKeys)>,
}

impl SenderChains {
    /// A member seen in the group from roster version `since`, no sender key yet.
    pub(crate) fn new(since: u64) -> Self {
        Self {
            since,
            epochs: BTreeMap::new(),
            skipped: GroupSkippedKeys::default(),
        }
    }

    /// Checks a distribution from this sender, sent under roster `roster_version`, against
    /// what is held, returning the chain to [`insert`](SenderChains::insert).
    ///
    /// A distribution from before the sender's current membership, or for an epoch older
    /// than every epoch kept, is [`Error::StaleSenderKey`]. One for an epoch already held
    /// with the same signing key is a [`Error::Duplicate`], unless it starts earlier than
    /// the held one: a later copy (say a resync answer) overtook it, and it gives the keys
    /// of the messages in between (at most [`MAX_GROUP_MESSAGE_GAP`], else
    /// [`Error::TooFarAhead`]). Another signing key for a held epoch is stale (epochs never
    /// change once given).
    pub(crate) fn check(
        &self,
        roster_version: u64,
        distribution: &v1::SenderKeyDistribution,
    ) -> Result<CheckedKey> {
        let epoch = distribution.epoch;
        if roster_version < self.since {
            return Err(Error::StaleSenderKey { epoch });
        }
        let chain = SenderChain {
            chain: KeyChain {
                key: ChainKey::from_bytes(fixed(&distribution.chain_key, "chain key")?),
                index: distribution.iteration,
            },
            first: distribution.iteration,
            signing_key: signature::verifying_key(&distribution.signing_key, "sender signing key")?,
        };
        if distribution.iteration == u32::MAX {
            return Err(Error::StaleSenderKey { epoch });
        }
        if let Some(existing) = self.epochs.get(&epoch) {
            // The held chain may have moved on; compare what the distribution fixed.
            if existing.signing_key != chain.signing_key {
                return Err(Error::StaleSenderKey { epoch });
            }
            if chain.first >= existing.first {
                return Err(Error::Duplicate);
            }
            let earlier = chain
                .chain
                .skip_to(existing.first, MAX_GROUP_MESSAGE_GAP)?
                .skipped;
            return Ok(CheckedKey {
                epoch,
                chain: SenderChain {
                    first: chain.first,
                    ..existing.clone()
                },
                earlier,
            });
        }
        let full = self.epochs.len() >= MAX_SENDER_EPOCHS;
        if full && self.epochs.keys().all(|&kept| kept > epoch) {
            return Err(Error::StaleSenderKey { epoch });
        }
        Ok(CheckedKey {
            epoch,
            chain,
            earlier: PassedKeys::default(),
        })
    }

    /// Installs a key checked by [`SenderChains::check`], dropping the oldest epoch (and
    /// its skipped keys) beyond [`MAX_SENDER_EPOCHS`].
    pub(crate) fn insert(&mut self, key: CheckedKey) {
        let CheckedKey {
            epoch,
            chain,
            earlier,
        } = key;
        self.epochs.insert(epoch, chain);
        // Copies, not moves: the passed keys wipe themselves where they are when dropped.
        self.skipped.extend(
            earlier
                .iter()
                .map(|(iteration, key)| ((epoch, iteration), key.clone())),
        );
        if self.epochs.len() > MAX_SENDER_EPOCHS {
            self.epochs = newest_epochs(&self.epochs);
        }
        let epochs = &self.epochs;
        self.skipped.retain(|(epoch, _)| epochs.contains_key(epoch));
    }

    /// The chain of `epoch` that `open` would use, with its signing key.
    ///
    /// # Errors
    /// [`Error::UnknownEpoch`] when that epoch is not held.
    pub(crate) fn held(&self, epoch: u32) -> Result<&SenderChain> {
        self.epochs.get(&epoch).ok_or(Error::UnknownEpoch { epoch })
    }

    /// Decrypts a message from this sender whose signature by [`SenderChains::held`]'s
    /// signing key has been verified, and strips its padding, without changing anything:
    /// [`SenderChains::commit`] applies the result.
    pub(crate) fn open_verified(&self, message: &IncomingGroupMessage) -> Result<Opened> {
        let epoch = message.epoch;
        let iteration = message.iteration;
        let held = self.held(epoch)?;
        let (message_key, advance) = if let Some(key) = self.skipped.get(&(epoch, iteration)) {
            (key.clone(), None)
        } else if iteration < held.first {
            return Err(Error::SentBeforeKeyReceived {
                iteration,
                first: held.first,
            });
        } else if iteration < held.chain.index {
            return Err(Error::Duplicate);
        } else {
            let (key, advance) = held.chain.advance_to(iteration, MAX_GROUP_MESSAGE_GAP)?;
            (key, Some((advance.chain, advance.skipped)))
        };
        let padded = message_key
            .aead_key(&message.salt, GROUP_MESSAGE_INFO)
            .decrypt(&message.header, &message.ciphertext)?;
        // After the AEAD: only bytes the sender authenticated are looked at.
        let plaintext = padding::unpad(padded)?;
        Ok(Opened {
            plaintext,
            epoch,
            iteration,
            advance,
        })
    }

    /// Applies a decryption worked out by [`SenderChains::open_verified`] on this same state.
    pub(crate) fn commit(&mut self, opened: &mut Opened) {
        let epoch = opened.epoch;
        match opened.advance.take() {
            None => self.skipped.remove(&(epoch, opened.iteration)),
            Some((chain, skipped)) => {
                if let Some(held) = self.epochs.get_mut(&epoch) {
                    held.chain = chain;
                }
                self.skipped.extend(
                    skipped
                        .iter()
                        .map(|(iteration, key)| ((epoch, iteration), key.clone())),
                );
            }
        }
    }

    /// The newest epoch held.
    pub(crate) fn newest_epoch(&self) -> Option<u32> {
        self.epochs.keys().next_back().copied()
    }
}
