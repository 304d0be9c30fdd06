#![doc = include_str!("../README.md")]
// The guide's and the interop notes' examples are doctests too; they are read on GitHub,
// so they are part of the crate docs only when rustdoc collects tests.
#![cfg_attr(doctest, doc = include_str!("../docs/GUIDE.md"))]
#![cfg_attr(doctest, doc = include_str!("../docs/INTEROP.md"))]
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
pub mod client;
mod crypto;
pub mod error;
pub mod group;
#[cfg(all(feature = "http", not(target_family = "wasm")))]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
pub mod identity;
pub mod sealed;
pub mod storage;
#[cfg(feature = "proptest")]
#[cfg_attr(docsrs, doc(cfg(feature = "proptest")))]
pub mod testing;
#[cfg(feature = "token")]
#[cfg_attr(docsrs, doc(cfg(feature = "token")))]
pub mod token;
pub mod wire;

/// The index of every size and count limit of the protocol and of saved state.
///
/// Each limit is defined (and documented with its value and reason) in the module it
/// bounds, and reached there (for example [`channel::MAX_SKIPPED_KEYS`]); this module
/// re-exports them all so that one page lists them. Inputs over a limit are refused with
/// [`Error::TooLarge`] or [`Error::TooMany`] before they are decoded.
pub mod limits {
    pub use crate::channel::{
        MAX_CHANNEL_MESSAGE_LEN, MAX_CHANNEL_STATE_LEN, MAX_ENDED_CHAINS, MAX_MESSAGE_GAP,
        MAX_PLAINTEXT_LEN, MAX_SKIPPED_KEYS,
    };
    pub use crate::client::{
        MAX_ARCHIVED_CHANNELS, MAX_CACHED_GROUPS, MAX_CACHED_SESSIONS, MAX_DEVICES,
        MAX_DEVICE_LINK_LEN, MAX_DEVICE_LIST_LEN, MAX_ENVELOPE_LEN, MAX_RECORD_ID_LEN,
        MAX_RECORD_LEN,
    };
    pub use crate::group::{
        MAX_GROUP_CONTROL_LEN, MAX_GROUP_MEMBERS, MAX_GROUP_MESSAGE_GAP, MAX_GROUP_MESSAGE_LEN,
        MAX_GROUP_SKIPPED_KEYS, MAX_GROUP_STATE_LEN, MAX_OWNER_TRANSFERS, MAX_PENDING_CONTROLS,
        MAX_REMOVED_MEMBERS, MAX_RESYNC_REPLIES, MAX_ROSTER_LEN, MAX_SENDER_EPOCHS,
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

// The types a user names are at the root; constants stay in their modules (see `limits`).
pub use channel::{Channel, ChannelId, Joined, JoinedControl};
pub use crypto::padding::Padding;
pub use error::{Error, Party, Result};
pub use group::{Decrypted, Group, GroupEvent, Received};
pub use identity::SafetyNumber;
pub use identity::{
    AppKey, AppPublicKey, Card, CardChainBreak, CardDirectory, CardPolicy, Fingerprint, Identity,
    InMemoryDirectory, LockParams, PrekeyBundle, PrekeyStore,
};
pub use sealed::{open, open_stream, seal, seal_stream, Opened, OpenedStream};
pub use storage::{GroupStateId, PrekeyStoreId, SealableState, StorageKey};
