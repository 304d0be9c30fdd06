//! Key rotation: a new card names the fingerprint of the card it replaces and carries,
//! besides its self-signature, a signature by the replaced card's key. A chain of such
//! cards leads from a card someone trusts to the identity's current one.

use ed25519_dalek::SigningKey;
use rand::CryptoRng;

use super::card::encode_content;
use super::{Card, Identity};
use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::wire::v1;

/// Signature context of the replaced key's signature on a rotated card: Ed25519 by the
/// previous card's key over `"ratchetkit/v2/card-rotation" || content`. Its own context,
/// of which no other is a prefix, keeps it from standing in for a self-signature or an app
/// signature by the same key. (Version 2: see
/// [`CARD_SIGNATURE_CONTEXT`](crate::identity::CARD_SIGNATURE_CONTEXT); a rotation signed under
/// version 1 fails with [`CardChainBreak::BadPreviousSignature`].)
pub const ROTATION_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/card-rotation";

/// The signer name of the replaced key's signature on a rotated card.
pub const PREVIOUS_SIGNER: &str = "previous";

/// Most cards [`Card::verify_chain`] follows after the trusted one: 64. A key rotated
/// every month takes over five years to get there, and the bound keeps the work of a
/// hostile chain to 64 signature verifications (a few milliseconds). A directory refuses
/// a card that would make a chain longer.
pub const MAX_CARD_CHAIN_LEN: usize = 64;

/// Why a link of a card chain does not hold (in [`Error::BrokenCardChain`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CardChainBreak {
    /// The card replaces no card: it names no previous fingerprint.
    NotARotation,
    /// The card names another card than the one before it in the chain (a card missing,
    /// or the chain out of order).
    WrongPreviousFingerprint,
    /// The card has another identity name than the card it replaces.
    IdentityChanged,
    /// The card was created before the card it replaces.
    CreatedBeforePrevious,
    /// The previous signature does not verify under the replaced card's key.
    BadPreviousSignature,
}

impl core::fmt::Display for CardChainBreak {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::NotARotation => "the card replaces no card",
            Self::WrongPreviousFingerprint => "the card replaces another card",
            Self::IdentityChanged => "the identity name changed",
            Self::CreatedBeforePrevious => "the card is older than the card it replaces",
            Self::BadPreviousSignature => "the replaced key's signature does not verify",
        })
    }
}

impl Identity {
    /// Rotates the identity's keys: a new identity with the same name and fresh keys,
    /// whose card replaces this one's. It is created now by the system clock, but never
    /// before this card.
    ///
    /// Keep the old identity until channels started from its bundles have been joined:
    /// they are made with its keys. Publish the new card and bundles signed with it.
    ///
    /// ```
    /// use ratchetkit::{Card, Identity};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let rotated = alice.rotate(&mut rng)?;
    /// assert_eq!(rotated.card().previous_fingerprint(), Some(alice.card().fingerprint()));
    /// let newest = Card::verify_chain(alice.card(), std::slice::from_ref(rotated.card()))?;
    /// assert_eq!(newest, rotated.card());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// Not on `wasm32-unknown-unknown`: std has no clock there and reading it traps, so
    /// this convenience does not exist on that target and a call to it fails to compile
    /// rather than abort at run time. Use [`Identity::rotate_at`] with the time from the
    /// host.
    ///
    /// # Errors
    /// None in practice; the new card is checked as [`Card::verify_chain`] would.
    #[cfg(not(all(target_arch = "wasm32", target_os = "unknown")))]
    #[cfg_attr(
        docsrs,
        doc(cfg(not(all(target_arch = "wasm32", target_os = "unknown"))))
    )]
    pub fn rotate<R: CryptoRng + ?Sized>(&self, rng: &mut R) -> Result<Identity> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        self.rotate_at(rng, now.max(self.card().created_at()))
    }

    /// Rotates the identity's keys as `Identity::rotate` does, with an explicit creation
    /// time (seconds since the Unix epoch): for apps with their own clock, for
    /// reproducible tests, and on `wasm32-unknown-unknown`, where std has no clock and
    /// this is the only way.
    ///
    /// ```
    /// use ratchetkit::{Card, Identity};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate_at(&mut rng, "alice", 1_700_000_000)?;
    /// let rotated = alice.rotate_at(&mut rng, 1_700_086_400)?;
    /// assert_eq!(rotated.card().created_at(), 1_700_086_400);
    /// Card::verify_chain(alice.card(), std::slice::from_ref(rotated.card()))?;
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::BrokenCardChain`] with [`CardChainBreak::CreatedBeforePrevious`] if
    /// `created_at` is before this card's creation time.
    pub fn rotate_at<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        created_at: u64,
    ) -> Result<Identity> {
        let signing = SigningKey::generate(rng);
        let agreement = AgreementKeyPair::generate(rng);
        let content = encode_content(
            self.card().identity(),
            &signing,
            agreement.public(),
            created_at,
            Some(self.card().fingerprint()),
        )?;
        let previous = signature::sign(self.signing_key(), ROTATION_SIGNATURE_CONTEXT, &[&content]);
        let card = Card::assemble(
            content,
            &signing,
            vec![previous_signature(previous.to_vec())],
        )?;
        Card::verify_chain(self.card(), core::slice::from_ref(&card))?;
        Ok(Identity {
            signing,
            agreement,
            card,
        })
    }
}

/// The [`PREVIOUS_SIGNER`] entry of a rotated card.
pub(crate) fn previous_signature(signature: Vec<u8>) -> v1::CardSignature {
    v1::CardSignature {
        signer: PREVIOUS_SIGNER.to_owned(),
        signature,
    }
}

impl Card {
    /// Verifies that `chain` leads from `trusted` to a newer card of the same identity,
    /// and returns the newest card (`trusted` itself for an empty chain).
    ///
    /// `chain` starts with the card that replaced `trusted` and ends with the newest.
    /// Each card must name the one before it by fingerprint, have the same identity name,
    /// not be created before it, and carry a [`PREVIOUS_SIGNER`] signature by its key.
    ///
    /// ```
    /// use ratchetkit::{Card, CardChainBreak, Error, Identity};
    /// # let mut rng = rand::rng();
    /// let first = Identity::generate(&mut rng, "alice")?;
    /// let second = first.rotate(&mut rng)?;
    /// let third = second.rotate(&mut rng)?;
    /// let chain = [second.card().clone(), third.card().clone()];
    /// assert_eq!(Card::verify_chain(first.card(), &chain)?, third.card());
    ///
    /// let gap = [third.card().clone()];
    /// assert_eq!(
    ///     Card::verify_chain(first.card(), &gap),
    ///     Err(Error::BrokenCardChain {
    ///         position: 0,
    ///         reason: CardChainBreak::WrongPreviousFingerprint,
    ///     })
    /// );
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::CardChainTooLong`] for a chain of more than [`MAX_CARD_CHAIN_LEN`] cards
    /// (before any other check), and [`Error::BrokenCardChain`] naming the position in
    /// `chain` of the first card that does not follow from the one before it, and why.
    pub fn verify_chain<'a>(trusted: &'a Card, chain: &'a [Card]) -> Result<&'a Card> {
        if chain.len() > MAX_CARD_CHAIN_LEN {
            return Err(Error::CardChainTooLong {
                len: chain.len(),
                max: MAX_CARD_CHAIN_LEN,
            });
        }
        let mut newest = trusted;
        for (position, card) in chain.iter().enumerate() {
            link(newest, card).map_err(|reason| Error::BrokenCardChain { position, reason })?;
            newest = card;
        }
        Ok(newest)
    }
}

/// Whether `next` replaces `previous`. The cheap checks come first, the signature last.
fn link(previous: &Card, next: &Card) -> core::result::Result<(), CardChainBreak> {
    match next.previous_fingerprint() {
        None => return Err(CardChainBreak::NotARotation),
        Some(named) if named != previous.fingerprint() => {
            return Err(CardChainBreak::WrongPreviousFingerprint)
        }
        Some(_) => {}
    }
    if next.identity() != previous.identity() {
        return Err(CardChainBreak::IdentityChanged);
    }
    if next.created_at() < previous.created_at() {
        return Err(CardChainBreak::CreatedBeforePrevious);
    }
    // Import guarantees a rotated card carries this signature; a missing one still fails.
    let signature = next
        .signature_by(PREVIOUS_SIGNER)
        .ok_or(CardChainBreak::BadPreviousSignature)?;
    signature::verify(
        previous.verifying_key(),
        ROTATION_SIGNATURE_CONTEXT,
        &[next.content()],
        signature,
        "previous",
    )
    .map_err(|_| CardChainBreak::BadPreviousSignature)
}
