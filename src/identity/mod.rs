//! Identities (long-term key pairs), their public cards, prekeys, and password-locked
//! identities.

mod app_key;
mod bundle;
mod card;
mod directory;
mod locked;
mod prekeys;
mod rotation;
mod safety_number;

/// Longest saved `IdentityState`, in bytes: 64 KiB. An identity is its card (at most
/// [`MAX_CARD_LEN`] bytes), its private keys and the previous card's; checked before a
/// saved identity is decoded.
pub const MAX_IDENTITY_STATE_LEN: usize = 64 * 1024;

pub use crate::crypto::kem::{KEM_PUBLIC_KEY_LEN, KEM_SEED_LEN};
pub use app_key::{AppKey, AppPublicKey, CardPolicy, APP_SIGNATURE_CONTEXT, APP_SIGNER};
pub use bundle::{PrekeyBundle, MAX_BUNDLE_LEN};
#[cfg(feature = "token")]
pub(crate) use card::check_name;
pub use card::{
    Card, Fingerprint, CARD_SIGNATURE_CONTEXT, MAX_CARD_LEN, MAX_CARD_SIGNATURES,
    MAX_IDENTITY_NAME_LEN, SELF_SIGNER,
};
pub use directory::{CardDirectory, InMemoryDirectory};
pub use locked::{
    LockParams, DEFAULT_LOCK_ITERATIONS, DEFAULT_LOCK_MEMORY_KIB, DEFAULT_LOCK_PARALLELISM,
    LOCKED_IDENTITY_CONTEXT, LOCK_SALT_LEN, MAX_LOCKED_IDENTITY_LEN, MAX_LOCK_ITERATIONS,
    MAX_LOCK_MEMORY_KIB, MAX_LOCK_PARALLELISM, MIN_LOCK_ITERATIONS, MIN_LOCK_MEMORY_KIB,
    MIN_LOCK_PARALLELISM,
};
pub use prekeys::{
    PrekeyStore, MAX_JOINS_PER_SIGNED_PREKEY, MAX_ONE_TIME_PREKEYS, MAX_PREKEY_STORE_STATE_LEN,
    ONE_TIME_PREKEY_BATCH, ONE_TIME_PREKEY_CONTEXT, ONE_TIME_PREKEY_LOW_WATER,
    ONE_TIME_PREKEY_MAX_AGE_SECS, SIGNED_PREKEY_CONTEXT, SIGNED_PREKEY_ROTATION_SECS,
};
pub use rotation::{
    CardChainBreak, MAX_CARD_CHAIN_LEN, PREVIOUS_SIGNER, ROTATION_SIGNATURE_CONTEXT,
};
pub use safety_number::{
    SafetyNumber, SAFETY_NUMBER_CONTEXT, SAFETY_NUMBER_DIGITS, SAFETY_NUMBER_ITERATIONS,
    SAFETY_NUMBER_QR_LEN, SAFETY_NUMBER_VERSION,
};

use ed25519_dalek::SigningKey;
use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::crypto::agreement::AgreementKeyPair;
use crate::error::{Error, Result};
use crate::wire::{self, state, state_fixed};

/// A user's long-term identity: an Ed25519 signing key pair, a separate X25519 agreement
/// key pair, a name and a creation time. Its public half is its [`Card`].
///
/// The private keys never leave the value except through [`Identity::to_bytes`]; `Debug`
/// shows only the card.
///
/// ```
/// use ratchetkit::Identity;
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice@example.org")?;
/// assert_eq!(alice.card().identity(), "alice@example.org");
///
/// // Persist it (ideally sealed with a StorageKey) and load it back.
/// let saved = alice.to_bytes();
/// let again = Identity::from_bytes(&saved)?;
/// assert_eq!(again.card(), alice.card());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub struct Identity {
    signing: SigningKey,
    agreement: AgreementKeyPair,
    card: Card,
}

impl Identity {
    /// Generates a new identity named `name`, created now (by the system clock).
    ///
    /// Not on `wasm32-unknown-unknown`: std has no clock there and reading it traps, so
    /// this convenience does not exist on that target and a call to it fails to compile
    /// rather than abort at run time. Use [`Identity::generate_at`] with the time from the
    /// host (in a browser or node, `Math.floor(Date.now() / 1000)`).
    ///
    /// # Errors
    /// [`Error::InvalidIdentityName`] if `name` is empty, over
    /// [`MAX_IDENTITY_NAME_LEN`] bytes, or holds a control character (such as an escape,
    /// a newline or DEL) or a bidirectional formatting character (such as U+202E): names
    /// are shown to people, and these would let a name hide or rewrite what is shown beside
    /// it. Nothing is drawn from `rng` then.
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    #[cfg_attr(
        docsrs,
        doc(cfg(not(all(target_arch = "wasm32", target_os = "unknown"))))
    )]
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R, name: &str) -> Result<Self> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        Self::generate_at(rng, name, now)
    }

    /// Generates a new identity with an explicit creation time (seconds since the Unix
    /// epoch), for apps with their own clock, for reproducible tests, and on
    /// `wasm32-unknown-unknown`, where it is the only way: the crate is sans-IO and reads
    /// no clock that the target lacks.
    ///
    /// ```
    /// use ratchetkit::Identity;
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate_at(&mut rng, "alice@example.org", 1_700_000_000)?;
    /// assert_eq!(alice.card().created_at(), 1_700_000_000);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::InvalidIdentityName`] if `name` is empty, over
    /// [`MAX_IDENTITY_NAME_LEN`] bytes, or holds a control or bidirectional formatting
    /// character (as for `Identity::generate`). Nothing is drawn from `rng` then.
    pub fn generate_at<R: CryptoRng + ?Sized>(
        rng: &mut R,
        name: &str,
        created_at: u64,
    ) -> Result<Self> {
        // Before the keys are drawn, so that a refused name costs no randomness.
        card::check_name(name)?;
        let signing = SigningKey::generate(rng);
        let agreement = AgreementKeyPair::generate(rng);
        let card = Card::sign(name, &signing, agreement.public(), created_at)?;
        Ok(Self {
            signing,
            agreement,
            card,
        })
    }

    /// The identity's public, self-signed card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// Serializes the identity, private keys included, as an `IdentityState` protobuf.
    /// The bytes are secret: store them sealed with a [`StorageKey`](crate::StorageKey).
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        wire::encode_state(state::IdentityState {
            version: 1,
            identity: self.card.identity().to_owned(),
            created_at: self.card.created_at(),
            signing_secret: self.signing.to_bytes().to_vec(),
            agreement_secret: self.agreement.secret_bytes().to_vec(),
            previous_fingerprint: self
                .card
                .previous_fingerprint()
                .map(|previous| previous.as_bytes().to_vec())
                .unwrap_or_default(),
            previous_signature: self
                .card
                .signature_by(PREVIOUS_SIGNER)
                .map(<[u8]>::to_vec)
                .unwrap_or_default(),
            checksum: Vec::new(),
        })
    }

    /// Loads an identity saved by [`Identity::to_bytes`].
    ///
    /// # Errors
    /// [`Error::Decode`], [`Error::UnsupportedVersion`], [`Error::InvalidState`] or
    /// [`Error::InvalidIdentityName`] for bytes that are not a saved identity.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::IdentityState = wire::decode_state(bytes)?;
        let signing = SigningKey::from_bytes(&Zeroizing::new(state_fixed(
            &saved.signing_secret,
            "identity signing key must be 32 bytes",
        )?));
        let agreement = AgreementKeyPair::from_secret_bytes(state_fixed(
            &saved.agreement_secret,
            "identity agreement key must be 32 bytes",
        )?);
        // The card is rebuilt from the keys: Ed25519 signing is deterministic, so the
        // self-signature comes out the same; a rotated card's previous signature, made
        // with the replaced key, is the one thing that has to be saved.
        let previous = if saved.previous_fingerprint.is_empty() {
            None
        } else {
            Some(Fingerprint::from_bytes(state_fixed(
                &saved.previous_fingerprint,
                "previous fingerprint must be 32 bytes",
            )?))
        };
        let others = if saved.previous_signature.is_empty() {
            Vec::new()
        } else {
            vec![rotation::previous_signature(
                saved.previous_signature.clone(),
            )]
        };
        card::encode_content(
            &saved.identity,
            &signing,
            agreement.public(),
            saved.created_at,
            previous,
        )
        .and_then(|content| Card::assemble(content, &signing, others))
        .map(|card| Self {
            signing,
            agreement,
            card,
        })
        .map_err(|error| match error {
            Error::InvalidIdentityName => error,
            _ => Error::InvalidState {
                reason: "identity keys do not make a valid card",
            },
        })
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }

    pub(crate) fn agreement(&self) -> &AgreementKeyPair {
        &self.agreement
    }
}

impl core::fmt::Debug for Identity {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Identity")
            .field("card", &self.card)
            .finish_non_exhaustive()
    }
}
