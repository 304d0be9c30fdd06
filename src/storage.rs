//! Sealing saved state with a storage key (AES-256-GCM) for storage at rest.

use prost::Message;
use rand::CryptoRng;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::channel::Channel;
use crate::crypto::aead::AeadKey;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::identity::{Identity, PrekeyStore};
use crate::wire::{self, state};

/// Prefix of the associated data of sealed state; the state's kind follows it, so a sealed
/// identity can never be opened as a channel.
pub const SEALED_STATE_CONTEXT: &[u8] = b"ratchetkit/v1/sealed-state/";

/// Longest encoded `SealedState`, in bytes: the largest state
/// ([`MAX_GROUP_STATE_LEN`](crate::limits::MAX_GROUP_STATE_LEN)) plus 1 KiB for the nonce, tag and
/// framing. Checked before a sealed state is decoded or decrypted.
pub const MAX_SEALED_STATE_LEN: usize = crate::group::MAX_GROUP_STATE_LEN + 1024;

/// State that can be sealed with a [`StorageKey`]: a channel, a group, an identity, a
/// prekey store.
///
/// The trait is sealed: only this crate's state types implement it.
pub trait SealableState: private::Sealed + Sized {
    /// The kind of state, bound into the sealed bytes.
    const KIND: &'static str;
    /// The unsealed serialization.
    fn state_bytes(&self) -> Zeroizing<Vec<u8>>;
    /// Loads the unsealed serialization.
    fn from_state_bytes(bytes: &[u8]) -> Result<Self>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for crate::Channel {}
    impl Sealed for crate::Identity {}
    impl Sealed for crate::PrekeyStore {}
    impl Sealed for crate::Group {}
}

macro_rules! sealable {
    ($ty:ty, $kind:literal) => {
        impl SealableState for $ty {
            const KIND: &'static str = $kind;
            fn state_bytes(&self) -> Zeroizing<Vec<u8>> {
                self.to_bytes()
            }
            fn from_state_bytes(bytes: &[u8]) -> Result<Self> {
                Self::from_bytes(bytes)
            }
        }
    };
}
sealable!(Channel, "channel");
sealable!(Identity, "identity");
sealable!(PrekeyStore, "prekey-store");
sealable!(Group, "group");

/// A 32-byte key that seals saved state for storage at rest.
///
/// Sealed state is a `SealedState` protobuf: a random 12-byte nonce and the AES-256-GCM
/// encryption of the state, with associated data
/// `"ratchetkit/v1/sealed-state/" || kind`.
///
/// ```
/// use ratchetkit::{Identity, StorageKey};
/// # let mut rng = rand::rng();
/// let key = StorageKey::generate(&mut rng);
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let sealed = key.seal(&mut rng, &alice)?;
/// let opened: Identity = key.open(&sealed)?;
/// assert_eq!(opened.card(), alice.card());
///
/// let wrong = StorageKey::generate(&mut rng);
/// assert!(wrong.open::<Identity>(&sealed).is_err());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// A key the app keeps elsewhere (for example in the platform keystore).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn aead(&self, nonce: [u8; 12]) -> AeadKey {
        AeadKey::new(Zeroizing::new(self.0), nonce)
    }

    fn context(kind: &str) -> Vec<u8> {
        [SEALED_STATE_CONTEXT, kind.as_bytes()].concat()
    }

    /// Seals `state`.
    ///
    /// # Errors
    /// None in practice: AES-GCM refuses only plaintexts over 64 GiB.
    pub fn seal<S: SealableState, R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        state: &S,
    ) -> Result<Vec<u8>> {
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let ciphertext = self
            .aead(nonce)
            .encrypt(&Self::context(S::KIND), &state.state_bytes())?;
        Ok(state::SealedState {
            version: 1,
            nonce: nonce.to_vec(),
            ciphertext,
        }
        .encode_to_vec())
    }

    /// Opens state sealed by [`StorageKey::seal`].
    ///
    /// # Errors
    /// [`Error::SealedStateRejected`] for a wrong key, another kind of state, or corrupted
    /// bytes; [`Error::Decode`] / [`Error::UnsupportedVersion`] for a malformed envelope.
    pub fn open<S: SealableState>(&self, sealed: &[u8]) -> Result<S> {
        let envelope: state::SealedState = wire::decode(sealed, "SealedState")?;
        wire::check_version(envelope.version, "SealedState")?;
        let nonce = wire::fixed::<12>(&envelope.nonce, "sealed state nonce")?;
        let plaintext = Zeroizing::new(
            self.aead(nonce)
                .decrypt(&Self::context(S::KIND), &envelope.ciphertext)
                .map_err(|_| Error::SealedStateRejected)?,
        );
        S::from_state_bytes(&plaintext)
    }
}

impl core::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}
