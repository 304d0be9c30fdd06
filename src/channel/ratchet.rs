//! The Double Ratchet (Signal specification, sections 3 and 5, no header encryption).
//!
//! One deviation in *when*, not *what*: a side that receives a new ratchet key does the
//! receiving half of the DH ratchet step at once, but generates its next ratchet key pair
//! only when it next sends. The keys and messages are exactly those of the specification
//! (nobody can tell when a key pair was generated), decryption needs no randomness, and the
//! old ratchet secret is dropped as early as the specification drops it.
//!
//! Decryption computes on copies (`Advance`, a new root key) and commits only after the
//! AEAD tag has verified, so a rejected message never changes the state.

use std::collections::VecDeque;

use rand::CryptoRng;

use super::chains::{chain_id, Advance, EndedChain, MessageId, ReceivingChain, SendingChain};
use super::handshake::HandshakeKeys;
use super::message::{self, Content, Incoming};
use super::{MAX_ENDED_CHAINS, MAX_SKIPPED_KEYS, MESSAGE_INFO};
use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::{KeyChain, MessageKey, RootKey, MESSAGE_SALT_LEN};
use crate::crypto::padding::{self, Padding};
use crate::crypto::skipped_keys::SkippedKeys;
use crate::error::{Error, Result};
use crate::wire::v1;

/// Prekey information to attach to a message, with its hash for the associated data.
pub(crate) struct Attached<'a> {
    pub(crate) prekey: &'a v1::PrekeyInfo,
    pub(crate) hash: &'a [u8; 32],
}

/// Length of the AES-256-GCM tag after each ciphertext: 16 bytes.
const AEAD_TAG_LEN: usize = 16;

/// Decrypts a message's ciphertext and strips its padding; a failure of either leaves the
/// caller to drop everything it derived.
pub(crate) fn open(
    key: &MessageKey,
    salt: &[u8; MESSAGE_SALT_LEN],
    aad: &[u8],
    ciphertext: Vec<u8>,
) -> Result<Vec<u8>> {
    padding::unpad(
        key.aead_key(salt, MESSAGE_INFO)
            .decrypt_owned(aad, ciphertext)?,
    )
}

/// A channel's skipped message keys, by (peer ratchet key, message number).
pub(crate) type ChannelSkippedKeys = SkippedKeys<MessageId, MAX_SKIPPED_KEYS>;

/// Keeps the keys an advance passed over and returns the chain after it.
fn keep_skipped(skipped: &mut ChannelSkippedKeys, advance: Advance) -> ReceivingChain {
    let ratchet_key = advance.chain.ratchet_key;
    // Copies, not moves: the passed keys wipe themselves where they are when dropped.
    skipped.extend(
        advance
            .skipped
            .iter()
            .map(|(number, key)| ((ratchet_key, number), key.clone())),
    );
    advance.chain
}

/// The ratchet state of one side of a channel.
#[derive(Clone, Debug)]
pub(crate) struct DoubleRatchet {
    pub(crate) root_key: RootKey,
    /// Absent between receiving a new ratchet key and sending the next message.
    pub(crate) sending: Option<SendingChain>,
    /// The number of messages in this side's previous sending chain (PN).
    pub(crate) previous_chain_length: u32,
    /// Absent until the first message from the peer.
    pub(crate) receiving: Option<ReceivingChain>,
    /// Ended receiving chains, oldest first, at most [`MAX_ENDED_CHAINS`].
    pub(crate) ended: VecDeque<EndedChain>,
    pub(crate) skipped: ChannelSkippedKeys,
}

/// The first receiving chain of a ratchet step, derived but not committed.
pub(crate) struct NewChain {
    pub(crate) root_key: RootKey,
    pub(crate) message_key: MessageKey,
    pub(crate) advance: Advance,
}

impl DoubleRatchet {
    /// The creator's ratchet: its first sending chain is the start's, under its ephemeral
    /// key EK_A as the ratchet key (no DH ratchet step of its own: the start's DH3 already
    /// mixed EK_A with the responder's signed prekey).
    pub(crate) fn initiator(keys: HandshakeKeys, ephemeral: AgreementKeyPair) -> Self {
        Self {
            root_key: keys.root_key,
            sending: Some(SendingChain {
                ratchet: ephemeral,
                chain: KeyChain::new(keys.chain_key),
            }),
            previous_chain_length: 0,
            receiving: None,
            ended: VecDeque::new(),
            skipped: SkippedKeys::default(),
        }
    }

    /// The responder's first receiving chain: the start's chain key under the creator's
    /// ratchet key EK_A, moved forward to the incoming message; derived, not committed.
    pub(crate) fn first_chain(keys: HandshakeKeys, incoming: &Incoming) -> Result<NewChain> {
        let (message_key, advance) = ReceivingChain::new(incoming.ratchet_key, keys.chain_key)
            .advance_to(incoming.number)?;
        Ok(NewChain {
            root_key: keys.root_key,
            message_key,
            advance,
        })
    }

    /// The responder's ratchet once the first message has been authenticated with `chain`.
    pub(crate) fn responder(chain: NewChain) -> Self {
        let mut skipped = SkippedKeys::default();
        let receiving = keep_skipped(&mut skipped, chain.advance);
        Self {
            root_key: chain.root_key,
            sending: None,
            previous_chain_length: 0,
            receiving: Some(receiving),
            ended: VecDeque::new(),
            skipped,
        }
    }

    /// The receiving half of a DH ratchet step: (RK, CKr) = KDF_RK(RK, DH(DHs, DHr)), then
    /// the new chain moved forward to the incoming message.
    pub(crate) fn receive_new_chain(
        root_key: &RootKey,
        our_ratchet: &AgreementKeyPair,
        incoming: &Incoming,
    ) -> Result<NewChain> {
        let dh = our_ratchet.agree(&incoming.ratchet_key)?;
        let (root_key, chain_key) = root_key.step(&dh);
        let (message_key, advance) =
            ReceivingChain::new(incoming.ratchet_key, chain_key).advance_to(incoming.number)?;
        Ok(NewChain {
            root_key,
            message_key,
            advance,
        })
    }

    /// Encrypts one message, starting a new sending chain first if a ratchet step is due.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        associated_data: &[u8],
        plaintext: &[u8],
        padding: Padding,
        content: Content,
        prekey: Option<Attached<'_>>,
    ) -> Result<Vec<u8>> {
        let (root_key, sending) = match (&self.sending, &self.receiving) {
            (Some(sending), _) => (None, sending.clone()),
            (None, Some(receiving)) => {
                let (root, chain) =
                    SendingChain::start(rng, &self.root_key, &receiving.ratchet_key)?;
                (Some(root), chain)
            }
            (None, None) => {
                return Err(Error::InvalidState {
                    reason: "a ratchet has neither a sending nor a receiving chain",
                })
            }
        };
        let (number, message_key, next) = sending.next()?;
        let mut salt = [0u8; MESSAGE_SALT_LEN];
        rng.fill_bytes(&mut salt);
        let header = message::header(
            next.ratchet.public(),
            self.previous_chain_length,
            number,
            content,
            &salt,
        );
        let mut buffer = padding::pad(plaintext, padding, AEAD_TAG_LEN);
        message_key.aead_key(&salt, MESSAGE_INFO).encrypt_in_place(
            &message::associated_data(
                associated_data,
                prekey.as_ref().map(|attached| attached.hash),
                &header,
            ),
            &mut buffer,
        )?;
        // Ciphertext now: nothing secret is left in the buffer that is moved out.
        let ciphertext = core::mem::take(&mut *buffer);

        if let Some(root_key) = root_key {
            self.root_key = root_key;
        }
        self.sending = Some(next);
        Ok(message::encode(
            header,
            ciphertext,
            prekey.map(|attached| attached.prekey.clone()),
        ))
    }

    /// Decrypts one message, taking its ciphertext (decrypted in place); on any error
    /// `self` is unchanged.
    pub(crate) fn decrypt(
        &mut self,
        associated_data: &[u8],
        incoming: &mut Incoming,
    ) -> Result<Vec<u8>> {
        let aad = message::associated_data(
            associated_data,
            incoming.prekey_hash.as_ref(),
            &incoming.header,
        );
        let ciphertext = core::mem::take(&mut incoming.ciphertext);
        let salt = incoming.salt;
        // Only one of the paths below opens the message.
        let open = |key: &MessageKey| open(key, &salt, &aad, ciphertext);
        let id = (incoming.ratchet_key, incoming.number);

        if let Some(key) = self.skipped.get(&id) {
            let plaintext = open(key)?;
            self.skipped.remove(&id);
            return Ok(plaintext);
        }

        if let Some(chain) = self
            .receiving
            .as_ref()
            .filter(|chain| chain.ratchet_key == incoming.ratchet_key)
        {
            if incoming.number < chain.chain.index {
                return Err(Error::Duplicate);
            }
            let (message_key, advance) = chain.advance_to(incoming.number)?;
            let plaintext = open(&message_key)?;
            self.receiving = Some(keep_skipped(&mut self.skipped, advance));
            return Ok(plaintext);
        }

        let incoming_chain = chain_id(&incoming.ratchet_key);
        if let Some(ended) = self.ended.iter().find(|ended| ended.id == incoming_chain) {
            // Keys below `length` were derived: this one was used or evicted. Above it, the
            // peer never sent such a message, so it cannot be authentic.
            return Err(if incoming.number < ended.length {
                Error::Duplicate
            } else {
                Error::AuthenticationFailed
            });
        }

        // A new ratchet key. Without a ratchet secret (we have not sent since our last
        // step) an honest peer cannot have made one.
        let sending = self.sending.as_ref().ok_or(Error::AuthenticationFailed)?;
        let closing = self
            .receiving
            .as_ref()
            .map(|chain| chain.skip_to(incoming.previous_chain_length))
            .transpose()?;
        let new_chain = Self::receive_new_chain(&self.root_key, &sending.ratchet, incoming)?;
        let plaintext = open(&new_chain.message_key)?;

        self.previous_chain_length = sending.chain.index;
        self.sending = None;
        if let Some(closing) = closing {
            let ended = keep_skipped(&mut self.skipped, closing);
            self.ended.push_back(EndedChain {
                id: chain_id(&ended.ratchet_key),
                length: ended.chain.index,
            });
            while self.ended.len() > MAX_ENDED_CHAINS {
                self.ended.pop_front();
            }
        }
        self.receiving = Some(keep_skipped(&mut self.skipped, new_chain.advance));
        self.root_key = new_chain.root_key;
        Ok(plaintext)
    }
}
