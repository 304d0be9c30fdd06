//! The primitives the protocol is built from, each written once: HKDF and the KDF chain
//! step, AES-256-GCM sealing, X25519 agreement with the contributory check, and Ed25519
//! signatures with a domain-separation context.

pub(crate) mod aead;
pub(crate) mod agreement;
pub(crate) mod chain;
pub(crate) mod kdf;
pub(crate) mod signature;
pub(crate) mod skipped_keys;

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
