//! The primitives the protocol is built from, each written once: HKDF and the KDF chain
//! step, AES-256-GCM sealing, X25519 agreement with the contributory check, and Ed25519
//! signatures with a domain-separation context.

pub(crate) mod aead;
pub(crate) mod agreement;
pub(crate) mod chain;
pub(crate) mod kdf;
pub(crate) mod signature;
pub(crate) mod skipped_keys;
