//! Protobuf messages generated from `proto/*.proto`, and the decode helpers every module uses.
//!
//! [`v1`] holds the wire messages of protocol version 1 (package `ratchetkit.v1`). They are
//! public so that interop suites and fuzzers can build and mutate messages; the crate's own
//! API takes and returns plain bytes. The state messages (package `ratchetkit.state.v1`)
//! hold secrets and stay private to the crate.

use prost::Message;

use crate::error::{Error, Result};

/// Wire messages of protocol version 1, generated from `proto/ratchetkit.proto`.
#[allow(clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ratchetkit.v1.rs"));
}

/// State messages, generated from `proto/state.proto`.
#[allow(clippy::all, missing_docs)]
pub(crate) mod state {
    include!(concat!(env!("OUT_DIR"), "/ratchetkit.state.v1.rs"));
}

/// Hand-written `Debug` for the state messages: they hold private keys, so they print only
/// their type name.
macro_rules! redacted_debug {
    ($($ty:ident),* $(,)?) => {$(
        impl core::fmt::Debug for state::$ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($ty), " { .. }"))
            }
        }
    )*};
}
redacted_debug!(
    IdentityState,
    PrekeyState,
    PrekeyStoreState,
    SendingChainState,
    ReceivingChainState,
    EndedChainState,
    SkippedKeyState,
    ChannelState,
    SealedState,
);

/// Decodes `bytes` as `M` and insists that the encoding is canonical.
///
/// prost skips unknown fields and lets a later field overwrite an earlier one, so two
/// different byte strings can decode to the same message. Requiring that the message
/// re-encodes to exactly as many bytes as were given rejects unknown, repeated and padded
/// fields: no bit of an accepted input goes unread, which is what lets "any single-bit
/// flip is rejected" hold even for fields outside the AEAD.
pub(crate) fn decode<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M> {
    let message = M::decode(bytes).map_err(|_| Error::Decode { what })?;
    if message.encoded_len() != bytes.len() {
        return Err(Error::Decode { what });
    }
    Ok(message)
}

/// Checks a version field: every message and state format of this crate is at version 1.
pub(crate) fn check_version(found: u32, what: &'static str) -> Result<()> {
    if found == 1 {
        Ok(())
    } else {
        Err(Error::UnsupportedVersion { what, found })
    }
}

/// Reads a fixed-size field, such as a key or a signature.
pub(crate) fn fixed<const N: usize>(bytes: &[u8], field: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::InvalidLength {
        field,
        expected: N,
        found: bytes.len(),
    })
}

/// Reads a fixed-size field of serialized state, where a wrong length means corruption.
pub(crate) fn state_fixed<const N: usize>(bytes: &[u8], reason: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::InvalidState { reason })
}
