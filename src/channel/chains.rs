//! The sending chain, the receiving chain, and the record of receiving chains that ended.

use rand::CryptoRng;

use super::MAX_MESSAGE_GAP;
use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::{self, ChainKey, KeyChain, MessageKey, RootKey};
use crate::error::Result;

/// Which message a skipped key belongs to: the peer's ratchet key and the message number.
pub(crate) type MessageId = ([u8; 32], u32);

/// This side's current ratchet key pair and the chain of keys it sends with.
#[derive(Clone, Debug)]
pub(crate) struct SendingChain {
    pub(crate) ratchet: AgreementKeyPair,
    pub(crate) chain: KeyChain,
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
                chain: KeyChain::new(chain_key),
            },
        ))
    }

    /// The next message's number and key, and the chain after it.
    pub(crate) fn next(&self) -> Result<(u32, MessageKey, SendingChain)> {
        let (index, message_key, chain) = self.chain.next()?;
        Ok((
            index,
            message_key,
            SendingChain {
                ratchet: self.ratchet.clone(),
                chain,
            },
        ))
    }
}

/// The peer's current ratchet key and the chain of keys its messages use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ReceivingChain {
    pub(crate) ratchet_key: [u8; 32],
    pub(crate) chain: KeyChain,
}

/// Keys derived while moving a receiving chain forward, not yet committed.
pub(crate) struct Advance {
    /// The chain after the step.
    pub(crate) chain: ReceivingChain,
    /// Keys of the messages passed over, with their numbers.
    pub(crate) skipped: chain::PassedKeys,
}

impl ReceivingChain {
    pub(crate) fn new(ratchet_key: [u8; 32], chain_key: ChainKey) -> Self {
        Self {
            ratchet_key,
            chain: KeyChain::new(chain_key),
        }
    }

    fn with(&self, advance: chain::Advance) -> Advance {
        Advance {
            chain: ReceivingChain {
                ratchet_key: self.ratchet_key,
                chain: advance.chain,
            },
            skipped: advance.skipped,
        }
    }

    /// Derives the keys of messages `index..end` without touching `self`, at most
    /// [`MAX_MESSAGE_GAP`] of them.
    pub(crate) fn skip_to(&self, end: u32) -> Result<Advance> {
        Ok(self.with(self.chain.skip_to(end, MAX_MESSAGE_GAP)?))
    }

    /// Derives the key of message `number` (which must not be behind the chain), keeping
    /// the keys of the messages before it.
    pub(crate) fn advance_to(&self, number: u32) -> Result<(MessageKey, Advance)> {
        let (message_key, advance) = self.chain.advance_to(number, MAX_MESSAGE_GAP)?;
        Ok((message_key, self.with(advance)))
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
