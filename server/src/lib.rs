//! `ratchetkit-server`: the directory and mailbox server of docs/SERVER.md.
//!
//! It holds cards, prekey bundles and device lists, each verified with the crate's own
//! checks; hands out each one-time prekey once; and keeps opaque envelopes for offline
//! devices until they are acknowledged or expire. Requests carry access tokens
//! (`ratchetkit::token`) whose subject is the identity name they may act for.
//!
//! The binary (`src/main.rs`) reads its configuration and calls [`serve`]; tests and
//! embedders build a [`Database`] and a [`ServerConfig`] and call [`serve`] on their own
//! listener.
//!
//! Every limit is a constant in the module it bounds: [`api::MAX_BODY_LEN`],
//! [`bundles::MAX_BUNDLES_PER_REQUEST`], [`bundles::MAX_ONE_TIME_BUNDLES_PER_CARD`],
//! [`bundles::MAX_HANDED_OUT_PER_CARD`], [`bundles::CLAIM_BURST`],
//! [`cards::MAX_CARDS_PER_NAME`], the mailbox's in
//! [`mailbox`], the rates in [`auth`], the pools' in [`store`].

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod api;
pub mod auth;
pub mod bundles;
pub mod cards;
pub mod devices;
pub mod error;
pub mod mailbox;
pub mod server;
pub mod store;

pub use auth::{RateLimit, Subject};
pub use bundles::ClaimLimit;
pub use error::ApiError;
pub use server::{dev_app_key, serve, shutdown_signal, ServerConfig};
pub use store::{Database, PostgresStore, SqliteStore, StoreError};
