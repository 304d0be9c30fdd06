//! The sending chain, the receiving chain, and the record of receiving chains that ended.

use rand::CryptoRng;

use super::MAX_MESSAGE_GAP;
use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::{ChainKey, MessageKey, RootKey};
use crate::error::{Error, Result};

/// This side's current ratchet key pair and the chain of keys it sends with.
#[derive(Clone, Debug)]
pub(crate) struct SendingChain {
    pub(crate) ratchet: AgreementKeyPair,
    pub(crate) chain_key: ChainKey,
    pub(crate) index: u32,
}

impl SendingChain {
    /// A DH ratchet step on the sending side: a fresh ratchet key pair, and
    /// (RK, CKs) = KDF_RK(RK, DH(DHs, DHr)).
    pub(crate) fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        root: &RootKey,
        peer_ratchet_key: &[u8; 32],
    ) -> Result<(RootKey, Self)> {
        let ratchet = AgreementKeyPair::generate(rng);
        let dh = ratchet.agree(peer_ratchet_key)?;
        let (root, chain_key) = root.step(&dh);
        Ok((
            root,
            Self {
                ratchet,
                chain_key,
                index: 0,
            },
        ))
    }

    /// The next message's number and key, and the chain after it. The chain refuses to
    /// wrap: message number `u32::MAX` is never used, so receivers can count past the last.
    pub(crate) fn next(&self) -> Result<(u32, MessageKey, SendingChain)> {
        let index = self.index;
        let after = index
            .checked_add(1)
            .filter(|&next| next < u32::MAX)
            .ok_or(Error::ChainExhausted)?;
        let (message_key, chain_key) = self.chain_key.step();
        Ok((
            index,
            message_key,
            SendingChain {
                ratchet: self.ratchet.clone(),
                chain_key,
                index: after,
            },
        ))
    }
}

/// The peer's current ratchet key and the chain of keys its messages use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReceivingChain {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) chain_key: ChainKey,
    /// Number of the next message whose key has not been derived yet.
    pub(crate) index: u32,
}

/// Keys derived while moving a receiving chain forward, not yet committed.
pub(crate) struct Advance {
    /// The chain after the step.
    pub(crate) chain: ReceivingChain,
    /// Keys of the messages passed over, with their numbers.
    pub(crate) skipped: Vec<(u32, MessageKey)>,
}

impl ReceivingChain {
    pub(crate) fn new(ratchet_key: [u8; 32], chain_key: ChainKey) -> Self {
        Self {
            ratchet_key,
            chain_key,
            index: 0,
        }
    }

    /// Derives the keys of messages `index..end` without touching `self`. Asking for fewer
    /// messages than already derived derives nothing.
    pub(crate) fn skip_to(&self, end: u32) -> Result<Advance> {
        let gap = u64::from(end.saturating_sub(self.index));
        if gap > u64::from(MAX_MESSAGE_GAP) {
            return Err(Error::TooFarAhead {
                gap,
                max: MAX_MESSAGE_GAP,
            });
        }
        let mut chain = self.clone();
        let mut skipped = Vec::new();
        while chain.index < end {
            let (message_key, next) = chain.chain_key.step();
            skipped.push((chain.index, message_key));
            chain.chain_key = next;
            chain.index += 1;
        }
        Ok(Advance { chain, skipped })
    }

    /// Derives the key of message `number` (which must not be behind the chain), keeping
    /// the keys of the messages before it.
    pub(crate) fn advance_to(&self, number: u32) -> Result<(MessageKey, Advance)> {
        let mut advance = self.skip_to(number)?;
        let (message_key, next) = advance.chain.chain_key.step();
        advance.chain.chain_key = next;
        // No honest sender uses u32::MAX (see SendingChain::next).
        advance.chain.index = number.checked_add(1).ok_or(Error::AuthenticationFailed)?;
        Ok((message_key, advance))
    }
}

/// Length of a chain id: the first 8 bytes of the chain's ratchet public key.
///
/// Chains that are only recognized, never used for a key (ended chains, the chain a
/// responder joined on), are kept by id: honest ratchet keys are random points, so 8 bytes
/// tell a handful of chains apart, and a forged key that matches an id is rejected either
/// way. It saves 24 bytes of state per chain.
pub(crate) const CHAIN_ID_LEN: usize = 8;

/// The id of the chain of a ratchet key.
pub(crate) type ChainId = [u8; CHAIN_ID_LEN];

pub(crate) fn chain_id(ratchet_key: &[u8; 32]) -> ChainId {
    let mut id = [0u8; CHAIN_ID_LEN];
    for (out, byte) in id.iter_mut().zip(ratchet_key) {
        *out = *byte;
    }
    id
}

/// A receiving chain the peer has moved on from: its id and how many of its messages had
/// keys derived, so that replays on it are told apart from forgeries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct EndedChain {
    pub(crate) id: ChainId,
    pub(crate) length: u32,
}
