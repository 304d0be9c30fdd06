//! Symmetric key chains: the root key step (KDF_RK) and the chain key step (KDF_CK).
//!
//! Channels and group sender keys share `ChainKey` and `MessageKey`; only the HKDF info
//! string that turns a message key into an AES key and nonce differs between them.

use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::aead::AeadKey;
use super::kdf::{hkdf_sha256, hmac_sha256_bytes, ZERO_SALT};

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

impl MessageKey {
    /// okm = HKDF-SHA256(salt = 32 zero bytes, ikm = message key, info, 44 bytes);
    /// AES-256 key = okm[0..32], nonce = okm[32..44].
    pub(crate) fn aead_key(&self, info: &[u8]) -> AeadKey {
        let okm = hkdf_sha256::<44>(&ZERO_SALT, &self.0, info);
        let (key, nonce) = okm.split_at(32);
        let mut nonce_bytes = [0u8; 12];
        nonce_bytes.copy_from_slice(nonce);
        AeadKey::new(Zeroizing::new(copy32(key)), nonce_bytes)
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
