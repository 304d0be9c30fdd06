//! Protobuf messages generated from `proto/*.proto`, and the decode helpers every module uses.
//!
//! [`v1`] holds the wire messages of protocol version 1 (package `ratchetkit.v1`). They are
//! public so that interop suites and fuzzers can build and mutate messages; the crate's own
//! API takes and returns plain bytes. The state messages (package `ratchetkit.state.v1`)
//! hold secrets and stay private to the crate.

use prost::Message;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// Wire messages of protocol version 1, generated from `proto/ratchetkit.proto`.
#[allow(clippy::all)]
pub mod v1 {
    include!(concat!(env!("OUT_DIR"), "/ratchetkit.v1.rs"));
}

/// State messages, generated from `proto/state.proto` and `proto/locked.proto`.
#[allow(clippy::all, missing_docs)]
pub(crate) mod state {
    include!(concat!(env!("OUT_DIR"), "/ratchetkit.state.v1.rs"));
}

/// Hand-written `Debug` for the messages that hold secret keys: they print only their type
/// name.
macro_rules! redacted_debug {
    ($module:ident: $($ty:ident),* $(,)?) => {$(
        impl core::fmt::Debug for $module::$ty {
            fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
                f.write_str(concat!(stringify!($ty), " { .. }"))
            }
        }
    )*};
}
redacted_debug!(v1: SenderKeyDistribution, GroupControl);
redacted_debug!(
    state: IdentityState,
    PrekeyState,
    PrekeyStoreState,
    SendingChainState,
    ReceivingChainState,
    EndedChainState,
    SkippedKeyState,
    ChannelState,
    SealedState,
    GroupSenderKeyState,
    GroupSenderChainState,
    GroupSkippedKeyState,
    GroupSenderState,
    GroupState,
    LockedIdentity,
    LockedIdentityPayload,
);

/// Decodes `bytes` as `M` and insists that they are its canonical encoding.
///
/// prost skips unknown fields, lets a later field overwrite an earlier one, accepts fields
/// in any order and any non-zero varint as `true`, so many byte strings decode to the same
/// message. Accepting only the bytes the message re-encodes to makes the encoding a
/// function of the values: no bit of an accepted input goes unread, and bytes that are
/// hashed or compared (prekey information, cards) cannot be varied in transit.
pub(crate) fn decode<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M> {
    decode_canonical(bytes, what, false)
}

/// [`decode`] for a message that holds secret keys: the re-encoding is wiped.
pub(crate) fn decode_secret<M: Message + Default>(bytes: &[u8], what: &'static str) -> Result<M> {
    decode_canonical(bytes, what, true)
}

/// [`decode`], wiping the re-encoding when the message holds secrets. Most wire messages do
/// not, and wiping a large ciphertext's copy would cost more than decrypting it.
fn decode_canonical<M: Message + Default>(
    bytes: &[u8],
    what: &'static str,
    holds_secrets: bool,
) -> Result<M> {
    let message = M::decode(bytes).map_err(|_| Error::Decode { what })?;
    // The length test is cheap and rejects most variants before the re-encoding.
    if message.encoded_len() != bytes.len() {
        return Err(Error::Decode { what });
    }
    let mut encoded = message.encode_to_vec();
    // Saved state holds keys: compare it without a data-dependent early exit. Messages
    // hold only public or encrypted bytes, so they keep the faster comparison.
    let canonical = if holds_secrets {
        let equal = bool::from(encoded.as_slice().ct_eq(bytes));
        encoded.zeroize();
        equal
    } else {
        encoded == bytes
    };
    if canonical {
        Ok(message)
    } else {
        Err(Error::Decode { what })
    }
}

/// Checks a version field of a format at version 1 (all but the group protocol's, at 2).
pub(crate) fn check_version(found: u32, what: &'static str) -> Result<()> {
    check_version_is(found, 1, what)
}

/// Checks that a version field is `expected`.
pub(crate) fn check_version_is(found: u32, expected: u32, what: &'static str) -> Result<()> {
    if found == expected {
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

/// Length of the checksum that ends every saved state: 8 bytes of SHA-256.
///
/// Unsealed state has no integrity protection (sealing with a
/// [`StorageKey`](crate::StorageKey) gives that). The checksum catches what storage does by
/// accident: a torn write that drops trailing fields still decodes as a valid, shorter
/// state, and would silently lose skipped keys or prekeys. 64 bits make an accidental
/// match negligible.
pub(crate) const STATE_CHECKSUM_LEN: usize = 8;

/// Saved state messages: versioned, and ending in a checksum of everything else.
pub(crate) trait SavedState: Message + Default {
    const WHAT: &'static str;
    /// The format version this crate writes and reads.
    const VERSION: u32 = 1;
    fn version(&self) -> u32;
    fn checksum_mut(&mut self) -> &mut Vec<u8>;
}

macro_rules! saved_state {
    ($($ty:ident),* $(,)?) => {$(
        impl SavedState for state::$ty {
            const WHAT: &'static str = stringify!($ty);
            fn version(&self) -> u32 {
                self.version
            }
            fn checksum_mut(&mut self) -> &mut Vec<u8> {
                &mut self.checksum
            }
        }
    )*};
}
saved_state!(ChannelState, IdentityState, PrekeyStoreState);

// Group state follows the group protocol's version 2.
impl SavedState for state::GroupState {
    const WHAT: &'static str = "GroupState";
    const VERSION: u32 = crate::group::GROUP_VERSION;
    fn version(&self) -> u32 {
        self.version
    }
    fn checksum_mut(&mut self) -> &mut Vec<u8> {
        &mut self.checksum
    }
}

fn checksum(body: &[u8]) -> Vec<u8> {
    Sha256::digest(body)
        .iter()
        .take(STATE_CHECKSUM_LEN)
        .copied()
        .collect()
}

/// Encodes saved state with its checksum: SHA-256 of the encoding without the checksum
/// field, truncated to [`STATE_CHECKSUM_LEN`] bytes.
pub(crate) fn encode_state<M: SavedState>(mut saved: M) -> Zeroizing<Vec<u8>> {
    saved.checksum_mut().clear();
    let body = Zeroizing::new(saved.encode_to_vec());
    *saved.checksum_mut() = checksum(&body);
    Zeroizing::new(saved.encode_to_vec())
}

/// Decodes saved state: canonical encoding, version 1, and a matching checksum.
pub(crate) fn decode_state<M: SavedState>(bytes: &[u8]) -> Result<M> {
    let mut saved: M = decode_canonical(bytes, M::WHAT, true)?;
    check_version_is(saved.version(), M::VERSION, M::WHAT)?;
    let found = core::mem::take(saved.checksum_mut());
    let body = Zeroizing::new(saved.encode_to_vec());
    // A digest of secrets: compared in constant time like every value derived from them.
    if !bool::from(found.as_slice().ct_eq(&checksum(&body))) {
        return Err(Error::InvalidState {
            reason: "checksum mismatch: the state is truncated or corrupted",
        });
    }
    Ok(saved)
}

/// Reads a fixed-size field of serialized state, where a wrong length means corruption.
pub(crate) fn state_fixed<const N: usize>(bytes: &[u8], reason: &'static str) -> Result<[u8; N]> {
    bytes.try_into().map_err(|_| Error::InvalidState { reason })
}
