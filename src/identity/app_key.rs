//! Application co-signatures on cards: an app "approves and publishes" a card by signing
//! its content with the app's own Ed25519 key, and clients accept only cards approved by
//! an app key they trust.

use ed25519_dalek::{SigningKey, VerifyingKey};
use rand::CryptoRng;
use zeroize::{ZeroizeOnDrop, Zeroizing};

use super::Card;
use crate::crypto::signature;
use crate::error::{Error, Result};

/// Signature context of an app's co-signature: Ed25519 over
/// `"ratchetkit/v2/card-app" || content`. It differs from the self-signature's context,
/// and neither is a prefix of the other, so that neither signature can stand in for the
/// other, even when one key serves as both an identity key and an app key. (Version 2:
/// see [`CARD_SIGNATURE_CONTEXT`](crate::identity::CARD_SIGNATURE_CONTEXT).)
pub const APP_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/card-app";

/// The signer name of an application's co-signature on a card.
pub const APP_SIGNER: &str = "app";

/// An application's secret Ed25519 key, with which it approves the cards it publishes.
///
/// The secret is wiped on drop and never shown by `Debug`, which prints the public key.
///
/// ```
/// use ratchetkit::{AppKey, Identity};
/// # let mut rng = rand::rng();
/// let app = AppKey::generate(&mut rng);
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let approved = alice.card().approve(&app)?;
/// assert_eq!(approved.verify_app_signature(&[app.public()])?, app.public());
///
/// // Keep the secret sealed; load it back with `from_bytes`.
/// let again = AppKey::from_bytes(&app.to_bytes());
/// assert_eq!(again.public(), app.public());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub struct AppKey {
    signing: SigningKey,
}

// `SigningKey` wipes itself when dropped, and it is the only field.
impl ZeroizeOnDrop for AppKey {}

impl AppKey {
    /// A fresh random app key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self {
            signing: SigningKey::generate(rng),
        }
    }

    /// The key from its 32-byte secret seed (as made by [`AppKey::to_bytes`]).
    pub fn from_bytes(secret: &[u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret seed. Store it sealed.
    pub fn to_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.signing.to_bytes())
    }

    /// The public key that clients trust.
    pub fn public(&self) -> AppPublicKey {
        AppPublicKey(self.signing.verifying_key())
    }

    /// The Ed25519 key, for the access tokens of `crate::token`, which sign without a
    /// context (RFC 8037 fixes what is signed).
    #[cfg(feature = "token")]
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.signing
    }
}

impl core::fmt::Debug for AppKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AppKey")
            .field("public", &self.public())
            .finish_non_exhaustive()
    }
}

/// An application's public Ed25519 key: what clients list as trusted in a [`CardPolicy`].
///
/// ```
/// use ratchetkit::{AppKey, AppPublicKey};
/// # let mut rng = rand::rng();
/// let public = AppKey::generate(&mut rng).public();
/// assert_eq!(AppPublicKey::from_bytes(&public.to_bytes())?, public);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct AppPublicKey(VerifyingKey);

impl AppPublicKey {
    /// Parses a 32-byte Ed25519 public key.
    ///
    /// # Errors
    /// [`Error::InvalidLength`] for another length, [`Error::InvalidPublicKey`] for a key
    /// that is not a point or is of small order.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        signature::verifying_key(bytes, "app public key").map(Self)
    }

    /// The 32 bytes.
    pub fn to_bytes(&self) -> [u8; 32] {
        self.0.to_bytes()
    }

    /// The Ed25519 key, for `crate::token`.
    #[cfg(feature = "token")]
    pub(crate) fn verifying_key(&self) -> &VerifyingKey {
        &self.0
    }
}

impl core::fmt::Display for AppPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&hex::encode(self.0.as_bytes()))
    }
}

impl core::fmt::Debug for AppPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "AppPublicKey({self})")
    }
}

impl Card {
    /// This card co-signed by `app`: the app's [`APP_SIGNER`] signature over
    /// `"ratchetkit/v2/card-app" || content` is appended. The content, and so the
    /// fingerprint, is unchanged.
    ///
    /// # Errors
    /// [`Error::DuplicateSignature`] if the card already carries an app signature;
    /// [`Error::TooMany`] or [`Error::TooLarge`] if the approved card would list more than
    /// [`MAX_CARD_SIGNATURES`](crate::limits::MAX_CARD_SIGNATURES) signatures or be longer
    /// than [`MAX_CARD_LEN`](crate::limits::MAX_CARD_LEN) bytes (only a card carrying other
    /// signers' entries gets there), rather than a card no import would accept.
    pub fn approve(&self, app: &AppKey) -> Result<Card> {
        let signature = signature::sign(&app.signing, APP_SIGNATURE_CONTEXT, &[self.content()]);
        self.with_signature(APP_SIGNER, signature.to_vec())
    }

    /// Checks the card's app signature against `trusted` and returns the key that made it.
    ///
    /// # Errors
    /// [`Error::MissingAppSignature`] if the card carries none,
    /// [`Error::UntrustedAppSignature`] if it verifies under none of `trusted` (another
    /// app's, or corrupted: a signature does not name its key, so the two look the same).
    pub fn verify_app_signature(&self, trusted: &[AppPublicKey]) -> Result<AppPublicKey> {
        let app_signature = self
            .signature_by(APP_SIGNER)
            .ok_or(Error::MissingAppSignature)?;
        trusted
            .iter()
            .find(|key| {
                signature::verify(
                    &key.0,
                    APP_SIGNATURE_CONTEXT,
                    &[self.content()],
                    app_signature,
                    "app",
                )
                .is_ok()
            })
            .copied()
            .ok_or(Error::UntrustedAppSignature)
    }
}

/// Which cards a client or directory accepts: any valid self-signed card (the default),
/// or only cards co-signed by one of a set of trusted app keys.
///
/// ```
/// use ratchetkit::{AppKey, CardPolicy, Error, Identity};
/// # let mut rng = rand::rng();
/// let app = AppKey::generate(&mut rng);
/// let policy = CardPolicy::require_app_signature(vec![app.public()]);
/// let alice = Identity::generate(&mut rng, "alice")?;
/// assert_eq!(policy.check(alice.card()), Err(Error::MissingAppSignature));
/// policy.check(&alice.card().approve(&app)?)?;
/// CardPolicy::default().check(alice.card())?;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CardPolicy {
    required_app_keys: Option<Vec<AppPublicKey>>,
}

impl CardPolicy {
    /// Accept only cards with an app signature by one of `trusted`. An empty list accepts
    /// no card at all.
    pub fn require_app_signature(trusted: Vec<AppPublicKey>) -> Self {
        Self {
            required_app_keys: Some(trusted),
        }
    }

    /// Whether the policy requires an app signature.
    pub fn requires_app_signature(&self) -> bool {
        self.required_app_keys.is_some()
    }

    /// Checks `card` (already verified as a card) against the policy.
    ///
    /// # Errors
    /// Those of [`Card::verify_app_signature`] when an app signature is required.
    pub fn check(&self, card: &Card) -> Result<()> {
        match &self.required_app_keys {
            Some(trusted) => card.verify_app_signature(trusted).map(|_| ()),
            None => Ok(()),
        }
    }
}
