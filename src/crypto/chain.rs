//! Symmetric key chains: the root key step (KDF_RK) and the chain key step (KDF_CK).
//!
//! Channels and group sender keys share `ChainKey` and `MessageKey`; only the HKDF info
//! string that turns a message key into an AES key and nonce differs between them.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::aead::AeadKey;
use super::kdf::{hkdf_sha256, hmac_sha256_bytes};
use crate::error::{Error, Result};

/// HKDF info of the root key step.
pub const ROOT_INFO: &[u8] = b"ratchetkit/v1/root";

/// Declares a 32-byte secret: zeroized on drop, compared in constant time, never printed.
macro_rules! secret_key {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub(crate) struct $name([u8; 32]);

        impl $name {
            pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            pub(crate) fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl PartialEq for $name {
            fn eq(&self, other: &Self) -> bool {
                self.0.ct_eq(&other.0).into()
            }
        }

        impl Eq for $name {}

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($name), "(..)"))
            }
        }
    };
}

secret_key!(
    /// The Double Ratchet root key.
    RootKey
);
secret_key!(
    /// A sending or receiving chain key.
    ChainKey
);
secret_key!(
    /// The key of one message: used once, then dropped.
    MessageKey
);

impl RootKey {
    /// KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output, info = "ratchetkit/v1/root"),
    /// 64 bytes: the new root key, then the new chain key.
    pub(crate) fn step(&self, dh_output: &[u8; 32]) -> (RootKey, ChainKey) {
        let okm = hkdf_sha256::<64>(&self.0, dh_output, ROOT_INFO);
        let (root, chain) = okm.split_at(32);
        (RootKey(copy32(root)), ChainKey(copy32(chain)))
    }
}

impl ChainKey {
    /// KDF_CK: message key = HMAC-SHA256(ck, 0x01), next chain key = HMAC-SHA256(ck, 0x02).
    pub(crate) fn step(&self) -> (MessageKey, ChainKey) {
        let [message, next] = hmac_sha256_bytes(&self.0, [0x01, 0x02]);
        (MessageKey(*message), ChainKey(*next))
    }
}

/// Length of the random salt each channel and group message carries in its header: 16
/// bytes.
///
/// Message keys come from a deterministic chain, so a sender that restores an older save
/// (after a crash, or because someone put an old state file back) derives the same message
/// key again for its next message. The salt makes the AES key and nonce fresh all the
/// same: two encryptions under one message key share a (key, nonce) only if their salts
/// collide, a chance of 2^-128 per pair.
pub const MESSAGE_SALT_LEN: usize = 16;

impl MessageKey {
    /// okm = HKDF-SHA256(salt = the message's random salt, ikm = message key, info, 44
    /// bytes); AES-256 key = okm[0..32], nonce = okm[32..44].
    pub(crate) fn aead_key(&self, salt: &[u8; MESSAGE_SALT_LEN], info: &[u8]) -> AeadKey {
        AeadKey::from_okm(&hkdf_sha256::<44>(salt, &self.0, info))
    }
}

/// A KDF chain at a position: the chain key that yields the key of message `index`.
///
/// Channel chains and group sender chains move forward the same way; only the limits
/// differ, so those are passed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KeyChain {
    pub(crate) key: ChainKey,
    /// Number of the next message whose key has not been derived yet.
    pub(crate) index: u32,
}

/// Keys derived while moving a chain forward, not yet committed.
pub(crate) struct Advance {
    /// The chain after the step.
    pub(crate) chain: KeyChain,
    /// Keys of the messages passed over, with their numbers.
    pub(crate) skipped: PassedKeys,
}

/// The keys of messages a chain passed over, with their numbers, until they are copied
/// into the skipped keys.
///
/// One allocation of the exact size, never grown, and only lent out: moving a key out of a
/// `Vec` (by `into_iter` or `drain`) leaves its bytes in the buffer, which is then freed
/// unwiped, and growing one leaves the old buffer so. Dropped, each key wipes itself in
/// place before the buffer is freed.
#[derive(Default)]
pub(crate) struct PassedKeys(Vec<(u32, MessageKey)>);

impl PassedKeys {
    /// The keys, by message number, in the order derived.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &MessageKey)> {
        self.0.iter().map(|(number, key)| (*number, key))
    }
}

impl KeyChain {
    /// A chain at message 0.
    pub(crate) fn new(key: ChainKey) -> Self {
        Self { key, index: 0 }
    }

    /// A chain loaded from saved state, where a key of the wrong length means corruption.
    pub(crate) fn from_saved(key: &[u8], index: u32) -> Result<Self> {
        Ok(Self {
            key: ChainKey(crate::wire::state_fixed(key, "chain key must be 32 bytes")?),
            index,
        })
    }

    /// The next message's number and key, and the chain after it, for a sender. The chain
    /// refuses to wrap: message number `u32::MAX` is never used, so receivers can count one
    /// past the last message without overflow.
    pub(crate) fn next(&self) -> Result<(u32, MessageKey, KeyChain)> {
        let index = self.index;
        let after = index
            .checked_add(1)
            .filter(|&next| next < u32::MAX)
            .ok_or(Error::ChainExhausted)?;
        let (message_key, key) = self.key.step();
        Ok((index, message_key, KeyChain { key, index: after }))
    }

    /// Derives the keys of messages `index..end` without touching `self`, refusing to skip
    /// more than `max_gap`. Asking for fewer messages than already derived derives nothing.
    pub(crate) fn skip_to(&self, end: u32, max_gap: u32) -> Result<Advance> {
        let gap = u64::from(end.saturating_sub(self.index));
        if gap > u64::from(max_gap) {
            return Err(Error::TooFarAhead { gap, max: max_gap });
        }
        let mut chain = self.clone();
        // `gap` is at most `max_gap`, so this is the exact size, reserved once.
        let mut skipped = Vec::with_capacity(usize::try_from(gap).unwrap_or(0));
        while chain.index < end {
            let (message_key, next) = chain.key.step();
            skipped.push((chain.index, message_key));
            chain.key = next;
            chain.index += 1;
        }
        Ok(Advance {
            chain,
            skipped: PassedKeys(skipped),
        })
    }

    /// Derives the key of message `number` (which must not be behind the chain), keeping
    /// the keys of the messages before it.
    pub(crate) fn advance_to(&self, number: u32, max_gap: u32) -> Result<(MessageKey, Advance)> {
        let mut advance = self.skip_to(number, max_gap)?;
        let (message_key, next) = advance.chain.key.step();
        advance.chain.key = next;
        // No honest sender uses u32::MAX (see `next`).
        advance.chain.index = number.checked_add(1).ok_or(Error::AuthenticationFailed)?;
        Ok((message_key, advance))
    }
}

/// Copies a 32-byte slice out of a fixed-size HKDF output (the split points are constants,
/// so the lengths always match; a mismatch would give zeros, never a panic).
fn copy32(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    if let Some(src) = bytes.get(..32) {
        out.copy_from_slice(src);
    }
    out
}
