#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

/// The public face of a 32-byte name (`struct $name([u8; 32])`): `from_bytes`, `as_bytes`,
/// lowercase hex for `Display`, and `$name(hex)` for `Debug`. Fingerprints and state ids
/// are all such names, shown and stored the same way.
macro_rules! hex_name {
    ($name:ident, $from_bytes_doc:literal) => {
        impl $name {
            #[doc = $from_bytes_doc]
            pub fn from_bytes(bytes: [u8; 32]) -> Self {
                Self(bytes)
            }

            /// The 32 raw bytes.
            pub fn as_bytes(&self) -> &[u8; 32] {
                &self.0
            }
        }

        impl core::fmt::Display for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(&hex::encode(self.0))
            }
        }

        impl core::fmt::Debug for $name {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }
    };
}

pub mod channel;
mod crypto;
pub mod error;
pub mod group;
pub mod identity;
pub mod sealed;
mod storage;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod testing;
pub mod wire;

/// Every size and count limit of the protocol and of saved state, each defined (and
/// documented with its value and reason) beside the code it bounds. Inputs over a limit are
/// refused with [`Error::TooLarge`] or [`Error::TooMany`] before they are decoded.
pub mod limits {
    pub use crate::channel::{
        MAX_CHANNEL_MESSAGE_LEN, MAX_CHANNEL_STATE_LEN, MAX_ENDED_CHAINS, MAX_MESSAGE_GAP,
        MAX_PLAINTEXT_LEN, MAX_SKIPPED_KEYS,
    };
    pub use crate::group::{
        MAX_GROUP_CONTROL_LEN, MAX_GROUP_MEMBERS, MAX_GROUP_MESSAGE_GAP, MAX_GROUP_MESSAGE_LEN,
        MAX_GROUP_SKIPPED_KEYS, MAX_GROUP_STATE_LEN, MAX_OWNER_TRANSFERS, MAX_PENDING_CONTROLS,
        MAX_RESYNC_REPLIES, MAX_ROSTER_LEN, MAX_SENDER_EPOCHS,
    };
    pub use crate::identity::{
        MAX_BUNDLE_LEN, MAX_CARD_CHAIN_LEN, MAX_CARD_LEN, MAX_CARD_SIGNATURES,
        MAX_IDENTITY_NAME_LEN, MAX_IDENTITY_STATE_LEN, MAX_JOINS_PER_SIGNED_PREKEY,
        MAX_LOCKED_IDENTITY_LEN, MAX_LOCK_ITERATIONS, MAX_LOCK_MEMORY_KIB, MAX_LOCK_PARALLELISM,
        MAX_ONE_TIME_PREKEYS, MAX_PREKEY_STORE_STATE_LEN,
    };
    pub use crate::sealed::{
        MAX_SEALED_HEADER_LEN, MAX_SEALED_MESSAGE_LEN, MAX_SEALED_RECIPIENTS, MAX_STREAM_HEADER_LEN,
    };
    pub use crate::storage::MAX_SEALED_STATE_LEN;
    pub use crate::wire::{ENTRY_BUDGET_BASE, MIN_ENTRY_AVERAGE_LEN};
}

pub use channel::{
    Channel, ChannelId, Joined, JoinedControl, CHANNEL_ID_CONTEXT, MAX_ENDED_CHAINS,
    MAX_MESSAGE_GAP, MAX_SKIPPED_KEYS, MESSAGE_INFO, PQXDH_INFO, PREKEY_INFO_CONTEXT,
    PROTOCOL_VERSION, ROOT_INFO,
};
pub use crypto::chain::MESSAGE_SALT_LEN;
pub use crypto::kem::{KEM_CIPHERTEXT_LEN, KEM_PUBLIC_KEY_LEN, KEM_SEED_LEN};
pub use crypto::padding::{Padding, MIN_PADDED_LEN};
pub use error::{Error, Result};
pub use group::{
    Decrypted, Group, GroupEvent, Received, GROUP_ID_CONTEXT, GROUP_ID_LEN, GROUP_MESSAGE_INFO,
    GROUP_SALT_LEN, GROUP_SIGNATURE_CONTEXT, GROUP_VERSION, MAX_GROUP_MEMBERS,
    MAX_GROUP_MESSAGE_GAP, MAX_GROUP_SKIPPED_KEYS, MAX_OWNER_TRANSFERS, MAX_PENDING_CONTROLS,
    MAX_RESYNC_REPLIES, MAX_SENDER_EPOCHS, OWNER_TRANSFER_CONTEXT, ROSTER_SIGNATURE_CONTEXT,
};
pub use identity::{
    AppKey, AppPublicKey, Card, CardChainBreak, CardDirectory, CardPolicy, Fingerprint, Identity,
    InMemoryDirectory, PrekeyBundle, PrekeyStore, APP_SIGNATURE_CONTEXT, APP_SIGNER,
    CARD_SIGNATURE_CONTEXT, MAX_CARD_CHAIN_LEN, MAX_IDENTITY_NAME_LEN, MAX_ONE_TIME_PREKEYS,
    ONE_TIME_PREKEY_CONTEXT, PREVIOUS_SIGNER, ROTATION_SIGNATURE_CONTEXT, SELF_SIGNER,
    SIGNED_PREKEY_CONTEXT,
};
pub use identity::{
    LockParams, DEFAULT_LOCK_ITERATIONS, DEFAULT_LOCK_MEMORY_KIB, DEFAULT_LOCK_PARALLELISM,
    LOCKED_IDENTITY_CONTEXT, LOCK_SALT_LEN, MAX_LOCK_ITERATIONS, MAX_LOCK_MEMORY_KIB,
    MAX_LOCK_PARALLELISM, MIN_LOCK_ITERATIONS, MIN_LOCK_MEMORY_KIB, MIN_LOCK_PARALLELISM,
};
pub use sealed::{
    open, open_stream, seal, seal_stream, Opened, OpenedStream, MAX_SEALED_MESSAGE_LEN,
    MAX_SEALED_RECIPIENTS, MAX_STREAM_HEADER_LEN, SEALED_MESSAGE_CONTEXT, SEALED_SIGNATURE_CONTEXT,
    SEALED_STREAM_CONTEXT, SEALED_VERSION, SEALED_WRAP_INFO, STREAM_CHUNK_SIZE,
    STREAM_SIGNATURE_CONTEXT,
};
pub use storage::{
    GroupStateId, PrekeyStoreId, SealableState, StorageKey, PREKEY_STORE_ID_CONTEXT,
    SEALED_STATE_CONTEXT,
};
