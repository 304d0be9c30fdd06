//! Safety numbers: what two people compare, read aloud or scanned, to check that each holds
//! the other's genuine card (docs/PROTOCOL.md, section 11).
//!
//! # Design
//!
//! **Input: the two card fingerprints.** A [`Fingerprint`] is SHA-256 of a card's content,
//! so it commits to everything that says whose card it is and which keys it holds: the
//! name, the Ed25519 and X25519 keys, the creation time and the fingerprint of a replaced
//! card. It leaves out the signatures, so a card and its app-approved copy
//! ([`Card::approve`](crate::Card::approve)) give the same number, and both sides agree
//! whichever copy each holds. It is 32 bytes, which keeps every hash input below of a fixed
//! length and every iteration one SHA-512 block, and another implementation needs nothing
//! but SHA-256 of the content bytes it already has. A new card (a key rotation, a
//! reinstall) gives a new number, as it must: a verification is of keys, and the old
//! verification says nothing about new ones. [`SafetyNumber::new`] takes the two cards,
//! [`SafetyNumber::from_fingerprints`] the fingerprints, for an app that stores those.
//!
//! **One half per card, in canonical order.** Each card gives 30 digits that depend on its
//! fingerprint alone. The half of the smaller fingerprint (the two compared as byte
//! strings, lexicographically) comes first. Both sides order the same two fingerprints the same way,
//! so both see the same 60 digits, whoever computes them. (A person's own half is the same
//! in all their conversations, as in Signal.)
//!
//! **A half** is the first 30 bytes of the last of [`SAFETY_NUMBER_ITERATIONS`] chained
//! SHA-512 hashes,
//!
//! ```text
//! h_1 = SHA-512("ratchetkit/v2/safety-number" || fingerprint)
//! h_i = SHA-512(h_(i-1) || fingerprint)            for i = 2 ..= SAFETY_NUMBER_ITERATIONS
//! ```
//!
//! read as six 5-byte big-endian integers, each taken modulo 100,000 and written as 5
//! decimal digits with leading zeros. The context string is versioned and no other
//! protocol string is a prefix of it (`tests/contexts.rs`).
//!
//! **What it costs an attacker.** To pass a card of their own for Bob's, someone in the
//! middle needs a card whose half equals Bob's half: a second preimage of a 30-digit value,
//! about 10^30 = 2^99.7 tries, each try (a new creation time, say) costing one SHA-256 and
//! [`SAFETY_NUMBER_ITERATIONS`] SHA-512 compressions: 2^109.7 SHA-512 compressions in all.
//! For scale: the whole Bitcoin network computes about 2^94 SHA-256 hashes a year. The
//! iterations are the work factor Signal's safety numbers add (5,200 iterations there);
//! they are fewer here to keep the number cheap for the honest side (see the constant).
//! The QR form compares the whole fingerprints instead: 256 bits, nothing to brute-force.
//!
//! **Digits without bias worth worrying about.** 2^40 = 10,995,116 × 100,000 + 27,776:
//! taken modulo 100,000, the residues below 27,776 occur 10,995,117 times among the 2^40
//! values, the others 10,995,116 times. The former are so 1 + 9.1 × 10^-8 times as likely
//! as the latter (a half, six groups: at most 1 + 5.5 × 10^-7 times), and a 30-digit half
//! loses less than 10^-13 of its 99.66 bits.
//!
//! **QR payload**: [`SAFETY_NUMBER_VERSION`] `||` the smaller fingerprint `||` the larger,
//! [`SAFETY_NUMBER_QR_LEN`] = 65 bytes, the same on both sides. The scanning side checks
//! the version byte, then the length, then compares the whole payload with its own in
//! constant time ([`SafetyNumber::verify_qr_payload`]). Fingerprints are public, so
//! constant time is hygiene rather than a need; it costs nothing.

use sha2::{Digest, Sha512};
use subtle::ConstantTimeEq;

use super::card::{Card, Fingerprint};
use crate::error::{Error, Result};

/// Version of the safety-number format: 2, the first byte of every QR payload.
///
/// Safety numbers were added in version 2 of the protocol, and the version names the
/// derivation of [`SAFETY_NUMBER_CONTEXT`] (`ratchetkit/v2/...`): the byte and the
/// context change together, so a payload of another version was made by a derivation
/// this crate does not speak and is refused as such
/// ([`Error::UnsupportedVersion`]). There is no version 1.
///
/// ```
/// use ratchetkit::identity::SAFETY_NUMBER_VERSION;
/// use ratchetkit::{Identity, SafetyNumber};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let number = SafetyNumber::new(alice.card(), bob.card());
/// assert_eq!(number.qr_payload().first(), Some(&SAFETY_NUMBER_VERSION));
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub const SAFETY_NUMBER_VERSION: u8 = 2;

/// Domain separation of the safety-number hash: the first SHA-512 of each half is over
/// `"ratchetkit/v2/safety-number" || fingerprint`. Versioned with
/// [`SAFETY_NUMBER_VERSION`], and no other protocol string is a prefix of it, so no other
/// hash of the protocol over a fingerprint gives the same digest.
///
/// ```
/// use ratchetkit::identity::SAFETY_NUMBER_CONTEXT;
/// assert_eq!(SAFETY_NUMBER_CONTEXT, b"ratchetkit/v2/safety-number");
/// ```
pub const SAFETY_NUMBER_CONTEXT: &[u8] = b"ratchetkit/v2/safety-number";

/// SHA-512 hashes chained to make each half of a safety number: 1,024, a work factor of
/// 2^10 on every try of an attacker who looks for a card with a given half (about 2^99.7
/// tries for 30 digits, so 2^109.7 SHA-512 compressions in all).
///
/// Signal chains 5,200 SHA-512 hashes (2^12.3) for the same purpose. Measured here (an
/// x86-64 server core, the `sha2` crate in a release build, one 128-byte block per hash),
/// a SHA-512 hash costs 0.43 µs of CPU time, so a safety number (two halves, 2,048 hashes)
/// costs 0.86 ms at 1,024 (1.4 ms in a debug build of this crate) and would cost 4.4 ms at
/// 5,200; a slow phone core pays a few times that. 1,024 keeps the honest side near a
/// millisecond for 2.3 bits less than Signal's margin, on top of the 99.7 bits of the digits
/// themselves. Raising it is a new [`SAFETY_NUMBER_VERSION`]: both sides must use the same
/// count.
///
/// ```
/// use ratchetkit::identity::SAFETY_NUMBER_ITERATIONS;
/// assert_eq!(SAFETY_NUMBER_ITERATIONS, 1024);
/// ```
pub const SAFETY_NUMBER_ITERATIONS: u32 = 1024;

/// Digits of a safety number: 60, 30 for each card, shown as 12 groups of 5.
///
/// 30 digits (99.7 bits) per card is what Signal shows, and what people will still read
/// aloud or compare by eye; each half stands on its own (an attacker must match the half
/// of the card they replace), so fewer would lower the work of a forgery directly.
///
/// ```
/// use ratchetkit::identity::SAFETY_NUMBER_DIGITS;
/// use ratchetkit::{Identity, SafetyNumber};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let number = SafetyNumber::new(alice.card(), bob.card());
/// assert_eq!(number.digits().len(), SAFETY_NUMBER_DIGITS);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub const SAFETY_NUMBER_DIGITS: usize = 60;

/// Length of a safety number's QR payload: 65 bytes, the version byte and the two 32-byte
/// fingerprints. In byte mode it fits a QR code of version 5 (37 × 37 modules) at error
/// correction level M, which holds up to 84 bytes.
///
/// ```
/// use ratchetkit::identity::SAFETY_NUMBER_QR_LEN;
/// use ratchetkit::{Identity, SafetyNumber};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let number = SafetyNumber::new(alice.card(), bob.card());
/// assert_eq!(number.qr_payload().len(), SAFETY_NUMBER_QR_LEN);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub const SAFETY_NUMBER_QR_LEN: usize = 1 + 2 * FINGERPRINT_LEN;

/// Length of a fingerprint: 32 bytes, a SHA-256 output.
const FINGERPRINT_LEN: usize = 32;

/// Digits of one card's half: 30, half of [`SAFETY_NUMBER_DIGITS`].
const HALF_DIGITS: usize = SAFETY_NUMBER_DIGITS / 2;

/// Digits of a group: 5, as shown (and as Signal shows them).
const GROUP_DIGITS: usize = 5;

/// Groups of a half: 6.
const GROUPS_PER_HALF: usize = HALF_DIGITS / GROUP_DIGITS;

/// Bytes of the hash read for one group: 5. 40 bits modulo 100,000 leaves a bias of
/// 9.1 × 10^-8 (see the module documentation); 4 bytes would leave 2.3 × 10^-5, still
/// harmless, but the hash has bytes to spare (30 of its 64 are read).
const GROUP_BYTES: usize = 5;

/// 10^[`GROUP_DIGITS`]: a group's value is the 5 bytes modulo this.
const GROUP_MODULUS: u64 = 100_000;

// The constants fit together, checked at compile time: the groups make the halves, the
// bytes read fit in one SHA-512 output, and every hash input is one SHA-512 block (at most
// 111 bytes before the padding).
const _: () = {
    assert!(GROUPS_PER_HALF * GROUP_DIGITS == HALF_DIGITS);
    assert!(2 * HALF_DIGITS == SAFETY_NUMBER_DIGITS);
    assert!(GROUPS_PER_HALF * GROUP_BYTES <= 64);
    assert!(SAFETY_NUMBER_CONTEXT.len() + FINGERPRINT_LEN <= 111);
    assert!(64 + FINGERPRINT_LEN <= 111);
};

/// What the errors of [`SafetyNumber::verify_qr_payload`] name.
const QR_PAYLOAD: &str = "safety number QR payload";

/// The safety number of two cards: 60 digits to compare by eye or read aloud, and a QR
/// payload to scan, both the same on the two sides of a conversation.
///
/// Alice computes it from her card and the card she holds for Bob, Bob from his and the one
/// he holds for Alice; if nobody swapped a card between them (and neither holds an old card
/// of the other), the two are equal. Compare them over a channel an attacker cannot change:
/// in person, or a call in which you recognize the voice.
///
/// Not secret: `Debug` shows the fingerprints and the digits.
///
/// ```
/// use ratchetkit::{Identity, SafetyNumber};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
///
/// // Each side computes it from its own card and the card it holds of the other.
/// let on_alices_phone = SafetyNumber::new(alice.card(), bob.card());
/// let on_bobs_phone = SafetyNumber::new(bob.card(), alice.card());
/// assert_eq!(on_alices_phone.to_string(), on_bobs_phone.to_string());
///
/// // Or Bob scans the code on Alice's screen.
/// on_bobs_phone.verify_qr_payload(&on_alices_phone.qr_payload())?;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SafetyNumber {
    /// The smaller fingerprint (as 32 bytes, lexicographically).
    first: Fingerprint,
    /// The other one (equal to `first` for a card with itself).
    second: Fingerprint,
    /// [`SAFETY_NUMBER_DIGITS`] ASCII digits: `first`'s half, then `second`'s.
    digits: String,
}

impl SafetyNumber {
    /// The safety number of your card and the card you hold of the other person. The
    /// order of the arguments does not matter: `new(a, b)` equals `new(b, a)`.
    ///
    /// Costs 2 × [`SAFETY_NUMBER_ITERATIONS`] SHA-512 compressions, about a millisecond:
    /// compute it when it is shown, not for every message.
    ///
    /// ```
    /// use ratchetkit::{Identity, SafetyNumber};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let number = SafetyNumber::new(alice.card(), bob.card());
    /// assert_eq!(number, SafetyNumber::new(bob.card(), alice.card()));
    ///
    /// // Another card for Bob (someone in the middle, or a new key) gives another number.
    /// let mallory = Identity::generate(&mut rng, "bob")?;
    /// assert_ne!(number, SafetyNumber::new(alice.card(), mallory.card()));
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn new(mine: &Card, theirs: &Card) -> Self {
        Self::from_fingerprints(mine.fingerprint(), theirs.fingerprint())
    }

    /// The safety number of two cards given by their fingerprints
    /// ([`Card::fingerprint`]), for an app that keeps those rather than the cards. Equal
    /// to [`SafetyNumber::new`] of the cards; the order does not matter.
    ///
    /// ```
    /// use ratchetkit::{Identity, SafetyNumber};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let (a, b) = (alice.card().fingerprint(), bob.card().fingerprint());
    /// assert_eq!(
    ///     SafetyNumber::from_fingerprints(a, b),
    ///     SafetyNumber::new(alice.card(), bob.card()),
    /// );
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn from_fingerprints(mine: Fingerprint, theirs: Fingerprint) -> Self {
        let (first, second) = if mine <= theirs {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        let mut digits = String::with_capacity(SAFETY_NUMBER_DIGITS);
        let first_half = half(&first);
        digits.push_str(&first_half);
        if second == first {
            digits.push_str(&first_half);
        } else {
            digits.push_str(&half(&second));
        }
        Self {
            first,
            second,
            digits,
        }
    }

    /// The [`SAFETY_NUMBER_DIGITS`] (60) digits, ASCII `0`–`9` without separators: the
    /// smaller fingerprint's 30, then the other's. `Display` shows them as 12 groups of 5.
    ///
    /// ```
    /// use ratchetkit::{Identity, SafetyNumber};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let number = SafetyNumber::new(alice.card(), bob.card());
    /// assert!(number.digits().bytes().all(|b| b.is_ascii_digit()));
    /// assert_eq!(number.to_string().replace(' ', ""), number.digits());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn digits(&self) -> &str {
        &self.digits
    }

    /// The payload of the QR code to show: [`SAFETY_NUMBER_VERSION`], then the smaller
    /// fingerprint, then the other ([`SAFETY_NUMBER_QR_LEN`] = 65 bytes). It is the same on
    /// both sides; the other side checks it with [`SafetyNumber::verify_qr_payload`].
    ///
    /// ```
    /// use ratchetkit::{Identity, SafetyNumber};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let payload = SafetyNumber::new(alice.card(), bob.card()).qr_payload();
    /// assert_eq!(payload, SafetyNumber::new(bob.card(), alice.card()).qr_payload());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn qr_payload(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(SAFETY_NUMBER_QR_LEN);
        payload.push(SAFETY_NUMBER_VERSION);
        payload.extend_from_slice(self.first.as_bytes());
        payload.extend_from_slice(self.second.as_bytes());
        payload
    }

    /// Checks a scanned QR payload (the other side's [`SafetyNumber::qr_payload`]) against
    /// this safety number: `Ok` if it names the same two cards. Any input is safe: nothing
    /// is decoded, and the comparison runs in constant time.
    ///
    /// ```
    /// use ratchetkit::{Error, Identity, SafetyNumber};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let bob = Identity::generate(&mut rng, "bob")?;
    /// let mallory = Identity::generate(&mut rng, "bob")?;
    /// let bobs = SafetyNumber::new(bob.card(), alice.card());
    /// bobs.verify_qr_payload(&SafetyNumber::new(alice.card(), bob.card()).qr_payload())?;
    ///
    /// // Alice was given Mallory's card in place of Bob's.
    /// let alices = SafetyNumber::new(alice.card(), mallory.card());
    /// assert_eq!(
    ///     bobs.verify_qr_payload(&alices.qr_payload()),
    ///     Err(Error::SafetyNumberMismatch),
    /// );
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// In this order:
    /// - [`Error::InvalidLength`] for an empty payload;
    /// - [`Error::UnsupportedVersion`] if the first byte is not [`SAFETY_NUMBER_VERSION`]:
    ///   a code of another version of this format, or not a safety-number code at all (tell
    ///   the user to compare the digits instead);
    /// - [`Error::InvalidLength`] if it is not [`SAFETY_NUMBER_QR_LEN`] bytes (cut short,
    ///   or not a safety-number code);
    /// - [`Error::SafetyNumberMismatch`] if it names another pair of cards: do not mark
    ///   the contact verified (see the variant).
    pub fn verify_qr_payload(&self, scanned: &[u8]) -> Result<()> {
        let length_error = || Error::InvalidLength {
            field: QR_PAYLOAD,
            expected: SAFETY_NUMBER_QR_LEN,
            found: scanned.len(),
        };
        let version = *scanned.first().ok_or_else(length_error)?;
        if version != SAFETY_NUMBER_VERSION {
            return Err(Error::UnsupportedVersion {
                what: QR_PAYLOAD,
                found: u32::from(version),
            });
        }
        if scanned.len() != SAFETY_NUMBER_QR_LEN {
            return Err(length_error());
        }
        if bool::from(self.qr_payload().as_slice().ct_eq(scanned)) {
            Ok(())
        } else {
            Err(Error::SafetyNumberMismatch)
        }
    }
}

impl core::fmt::Display for SafetyNumber {
    /// The digits as 12 groups of 5, separated by single spaces.
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The digits are ASCII, so every 5-byte chunk is whole characters.
        for (index, group) in self.digits.as_bytes().chunks(GROUP_DIGITS).enumerate() {
            if index > 0 {
                f.write_str(" ")?;
            }
            f.write_str(core::str::from_utf8(group).map_err(|_| core::fmt::Error)?)?;
        }
        Ok(())
    }
}

/// One card's [`HALF_DIGITS`] digits: the first 30 bytes of the last of
/// [`SAFETY_NUMBER_ITERATIONS`] chained SHA-512 hashes, as six 5-byte big-endian integers
/// modulo 100,000 of 5 digits each.
fn half(fingerprint: &Fingerprint) -> String {
    let fingerprint = fingerprint.as_bytes();
    let mut hash: [u8; 64] = Sha512::new()
        .chain_update(SAFETY_NUMBER_CONTEXT)
        .chain_update(fingerprint)
        .finalize()
        .into();
    for _ in 1..SAFETY_NUMBER_ITERATIONS {
        hash = Sha512::new()
            .chain_update(hash)
            .chain_update(fingerprint)
            .finalize()
            .into();
    }
    hash.chunks_exact(GROUP_BYTES)
        .take(GROUPS_PER_HALF)
        .map(|chunk| {
            let value = chunk
                .iter()
                .fold(0_u64, |value, &byte| (value << 8) | u64::from(byte));
            format!("{:0width$}", value % GROUP_MODULUS, width = GROUP_DIGITS)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_constants_agree() {
        assert_eq!(10_u64.pow(GROUP_DIGITS as u32), GROUP_MODULUS);
        assert_eq!(SAFETY_NUMBER_QR_LEN, 65);
    }

    #[test]
    fn halves_are_30_digits_and_ordered_by_fingerprint() {
        let low = Fingerprint::from_bytes([1; 32]);
        let high = Fingerprint::from_bytes([2; 32]);
        let number = SafetyNumber::from_fingerprints(high, low);
        assert_eq!(number.first, low);
        let (first, second) = number.digits().split_at(HALF_DIGITS);
        assert_eq!(first, half(&low));
        assert_eq!(second, half(&high));
        assert_eq!(number.to_string().split(' ').count(), 12);
    }

    #[test]
    fn a_card_with_itself_repeats_its_half() {
        let only = Fingerprint::from_bytes([9; 32]);
        let number = SafetyNumber::from_fingerprints(only, only);
        let (first, second) = number.digits().split_at(HALF_DIGITS);
        assert_eq!(first, second);
    }
}
