//! The model of one side of a channel: the Double Ratchet's bookkeeping as docs/PROTOCOL.md
//! section 5 specifies it, without any cryptography.
//!
//! Chains are named by the model: a side's sending chains are numbered 0, 1, 2, ... in the
//! order it starts them, and a message is (chain, number, previous chain length). The model
//! checks every header the code writes against these numbers, and predicts the outcome of
//! every delivery: the plaintext, or the exact documented error.

use std::collections::VecDeque;

use ratchetkit::{
    channel::MAX_ENDED_CHAINS, channel::MAX_MESSAGE_GAP, channel::MAX_SKIPPED_KEYS,
    channel::MESSAGE_SALT_LEN, Error, Padding,
};

use super::skipped::Skipped;

/// Where a channel message sits among its sender's chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelMeta {
    /// The sender's sending chain, numbered by the model.
    pub chain: u32,
    /// The message number in that chain (N).
    pub number: u32,
    /// The length of the sender's previous sending chain (PN).
    pub previous: u32,
}

#[derive(Clone, Debug)]
pub struct Side {
    pub initiator: bool,
    /// (Initiator) prekey information is attached until a reply has decrypted.
    pub pending_prekey: bool,
    /// The current sending chain; `None` when the next message starts a new one.
    sending: Option<u32>,
    next_chain: u32,
    /// Messages sent on the current sending chain.
    sent: u32,
    /// PN for the messages of the next sending chain.
    previous: u32,
    /// The ratchet key the headers of the current sending chain carry.
    sending_key: Option<Vec<u8>>,
    /// The peer's current chain and the number of the next message whose key is not
    /// derived yet.
    receiving: Option<(u32, u32)>,
    /// Ended receiving chains (chain, length), oldest first.
    ended: VecDeque<(u32, u32)>,
    /// The newest chain of the peer's this side has stepped to.
    newest: Option<u32>,
    skipped: Skipped<(u32, u32)>,
}

impl Side {
    /// The creator's side, right after `Channel::create`.
    pub fn initiator() -> Self {
        Self {
            initiator: true,
            pending_prekey: true,
            sending: Some(0),
            next_chain: 1,
            sent: 0,
            previous: 0,
            sending_key: None,
            receiving: None,
            ended: VecDeque::new(),
            newest: None,
            skipped: Skipped::default(),
        }
    }

    /// The joiner's side after `Channel::join` with `first`.
    pub fn joined(first: &ChannelMeta) -> Self {
        let mut skipped = Skipped::default();
        skipped.extend(
            (0..first.number).map(|n| (first.chain, n)),
            MAX_SKIPPED_KEYS,
        );
        Self {
            initiator: false,
            pending_prekey: false,
            sending: None,
            next_chain: 0,
            sent: 0,
            previous: 0,
            sending_key: None,
            receiving: Some((first.chain, first.number + 1)),
            ended: VecDeque::new(),
            newest: Some(first.chain),
            skipped,
        }
    }

    /// Whether group control may be sent on this side (`ChannelNotEstablished` otherwise).
    pub fn established(&self) -> bool {
        !(self.initiator && self.pending_prekey)
    }

    pub fn skipped_keys(&self) -> usize {
        self.skipped.len()
    }

    /// Accounts for a message this side encrypted, checking what the code wrote in it.
    pub fn encrypted(&mut self, message: &[u8], control: bool) -> Result<ChannelMeta, String> {
        let parsed = super::decode_channel_message(message)?;
        let header = super::decode_header(&parsed.header)?;
        let new_chain = self.sending.is_none();
        let chain = match self.sending {
            Some(chain) => chain,
            None => {
                let chain = self.next_chain;
                self.next_chain += 1;
                self.sending = Some(chain);
                self.sent = 0;
                chain
            }
        };
        let meta = ChannelMeta {
            chain,
            number: self.sent,
            previous: self.previous,
        };
        self.sent += 1;
        let expected_type = u32::from(control);
        if header.message_number != meta.number
            || header.previous_chain_length != meta.previous
            || header.content_type != expected_type
        {
            return Err(format!(
                "header (N {}, PN {}, type {}) differs from the model's (N {}, PN {}, type {expected_type})",
                header.message_number,
                header.previous_chain_length,
                header.content_type,
                meta.number,
                meta.previous
            ));
        }
        // Version 2: a 16-byte salt in every header, and the plaintext padded (the apps keep
        // the default, Padmé) before the 16-byte tag.
        if header.salt.len() != MESSAGE_SALT_LEN {
            return Err(format!("a {}-byte message salt", header.salt.len()));
        }
        let padded = parsed.ciphertext.len().saturating_sub(16);
        if padded == 0 || Padding::Padme.padded_len(padded - 1) != padded {
            return Err(format!(
                "{padded} bytes of padded plaintext: not a Padmé size"
            ));
        }
        let attaches = self.initiator && self.pending_prekey;
        if parsed.prekey.is_some() != attaches {
            return Err(format!(
                "prekey information attached: {}, expected {attaches}",
                parsed.prekey.is_some()
            ));
        }
        match (&self.sending_key, new_chain) {
            (Some(key), false) if *key != header.ratchet_key => {
                return Err("the ratchet key changed within a sending chain".into())
            }
            (Some(key), true) if *key == header.ratchet_key => {
                return Err("a new sending chain kept the old ratchet key".into())
            }
            _ => {}
        }
        self.sending_key = Some(header.ratchet_key);
        Ok(meta)
    }

    /// What decrypting a genuine message `m` of the peer's gives: the plaintext (`Ok`) or
    /// the documented error.
    pub fn predict(&self, m: &ChannelMeta) -> Result<(), Error> {
        let too_far = |gap: u32| Error::TooFarAhead {
            gap: u64::from(gap),
            max: MAX_MESSAGE_GAP,
        };
        if self.skipped.contains(&(m.chain, m.number)) {
            return Ok(());
        }
        if let Some((chain, index)) = self.receiving {
            if chain == m.chain {
                if m.number < index {
                    return Err(Error::Duplicate);
                }
                let gap = m.number - index;
                return if gap > MAX_MESSAGE_GAP {
                    Err(too_far(gap))
                } else {
                    Ok(())
                };
            }
        }
        if let Some(&(_, length)) = self.ended.iter().find(|(chain, _)| *chain == m.chain) {
            return Err(if m.number < length {
                Error::Duplicate
            } else {
                Error::AuthenticationFailed
            });
        }
        // A ratchet key this side does not recognize: a DH ratchet step, which needs a
        // ratchet secret (it has sent since its last step).
        if self.sending.is_none() {
            return Err(Error::AuthenticationFailed);
        }
        if let Some((_, index)) = self.receiving {
            let gap = m.previous.saturating_sub(index);
            if gap > MAX_MESSAGE_GAP {
                return Err(too_far(gap));
            }
        }
        if m.number > MAX_MESSAGE_GAP {
            return Err(too_far(m.number));
        }
        if self.newest.is_some_and(|newest| m.chain <= newest) {
            // A chain this side has forgotten (ended longer ago than MAX_ENDED_CHAINS): the
            // step gives other keys, and the message does not authenticate.
            return Err(Error::AuthenticationFailed);
        }
        assert_eq!(
            m.chain,
            self.newest.map_or(0, |newest| newest + 1),
            "the peer skipped a chain: the model is wrong"
        );
        Ok(())
    }

    /// What `Channel::join` with `m` gives (as the first message of a channel).
    pub fn predict_join(m: &ChannelMeta) -> Result<(), Error> {
        if m.number > MAX_MESSAGE_GAP {
            return Err(Error::TooFarAhead {
                gap: u64::from(m.number),
                max: MAX_MESSAGE_GAP,
            });
        }
        Ok(())
    }

    /// Applies a decryption that [`Side::predict`] said succeeds.
    pub fn decrypted(&mut self, m: &ChannelMeta) {
        self.pending_prekey = false;
        if self.skipped.remove(&(m.chain, m.number)) {
            return;
        }
        if let Some((chain, index)) = self.receiving {
            if chain == m.chain {
                self.skipped
                    .extend((index..m.number).map(|n| (chain, n)), MAX_SKIPPED_KEYS);
                self.receiving = Some((chain, m.number + 1));
                return;
            }
        }
        // A new chain of the peer's: close the current one, step.
        if let Some((chain, index)) = self.receiving {
            self.skipped
                .extend((index..m.previous).map(|n| (chain, n)), MAX_SKIPPED_KEYS);
            self.ended.push_back((chain, index.max(m.previous)));
            while self.ended.len() > MAX_ENDED_CHAINS {
                self.ended.pop_front();
            }
        }
        self.skipped
            .extend((0..m.number).map(|n| (m.chain, n)), MAX_SKIPPED_KEYS);
        self.receiving = Some((m.chain, m.number + 1));
        self.newest = Some(m.chain);
        if self.sending.is_some() {
            self.previous = self.sent;
        }
        self.sending = None;
    }
}
