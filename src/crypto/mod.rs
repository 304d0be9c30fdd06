//! The primitives the protocol is built from, each written once: HKDF and the KDF chain
//! step, AES-256-GCM sealing, X25519 agreement with the contributory check, and Ed25519
//! signatures with a domain-separation context.

pub(crate) mod aead;
pub(crate) mod agreement;
pub(crate) mod chain;
pub(crate) mod kdf;
pub(crate) mod kem;
pub(crate) mod padding;
pub(crate) mod signature;
pub(crate) mod skipped_keys;

use prost::bytes::{Buf, Bytes};
use zeroize::Zeroizing;

/// Bytes that hold secrets, as input to protobuf decoding.
///
/// prost copies each `bytes` field out of a plain `&[u8]` through a temporary `Bytes`
/// buffer that it frees without wiping: every key of a loaded state would be left in freed
/// memory. Here that temporary wipes itself when dropped.
pub(crate) struct SecretBuf<'a>(&'a [u8]);

impl<'a> SecretBuf<'a> {
    pub(crate) fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }
}

impl Buf for SecretBuf<'_> {
    fn remaining(&self) -> usize {
        self.0.len()
    }

    fn chunk(&self) -> &[u8] {
        self.0
    }

    fn advance(&mut self, count: usize) {
        self.0 = self.0.get(count..).unwrap_or_default();
    }

    fn copy_to_bytes(&mut self, len: usize) -> Bytes {
        let copy = Zeroizing::new(self.0.get(..len).unwrap_or(self.0).to_vec());
        self.advance(len);
        Bytes::from_owner(copy)
    }
}

#[cfg(test)]
mod tests {
    use zeroize::ZeroizeOnDrop;

    /// Compiles only for types that wipe themselves when dropped.
    fn wiped_on_drop<T: ZeroizeOnDrop>() {}

    /// Every secret the crate holds lives in one of these types (an identity, a channel, a
    /// group and a prekey store are built from them), so dropping any state wipes its keys.
    /// This fails to compile if one of them loses its `ZeroizeOnDrop`.
    #[test]
    fn every_secret_type_is_wiped_on_drop() {
        wiped_on_drop::<super::chain::RootKey>();
        wiped_on_drop::<super::chain::ChainKey>();
        wiped_on_drop::<super::chain::MessageKey>();
        wiped_on_drop::<super::aead::AeadKey>();
        wiped_on_drop::<crate::StorageKey>();
        wiped_on_drop::<crate::AppKey>();
        wiped_on_drop::<ed25519_dalek::SigningKey>();
        wiped_on_drop::<x25519_dalek::StaticSecret>();
    }
}
