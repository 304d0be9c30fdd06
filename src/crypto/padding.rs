//! Padding plaintexts before encryption, so that a ciphertext's length tells little about
//! its plaintext's.
//!
//! The padded bytes are `plaintext || 0x80 || 0x00 ...` (ISO/IEC 7816-4), so the receiver
//! finds the end without a length field. How far to pad is the sender's choice, and the
//! receiver strips any amount: [`Padding::Padme`] (the default) rounds the length up to a
//! Padmé size (Nikitin et al., "Reducing Metadata Leakage from Encrypted Files and
//! Communication with PURBs", 2019): at most 12% more, and a length of L bytes leaks
//! O(log log L) bits instead of O(log L). Nothing shorter than [`MIN_PADDED_LEN`] is sent.

use zeroize::{Zeroize, Zeroizing};

use crate::error::{Error, Result};

/// The shortest padded plaintext, in bytes: 32. Short messages ("ok", "yes", a reaction)
/// are the most common and their exact length the most telling; all of them look alike.
pub const MIN_PADDED_LEN: usize = 32;

/// How a sender pads its plaintexts. The receiver needs no setting: it strips any padding.
///
/// ```
/// use ratchetkit::Padding;
/// assert_eq!(Padding::default(), Padding::Padme);
/// // 100 bytes of plaintext (and the one marker byte) go out as 104.
/// assert_eq!(Padding::Padme.padded_len(100), 104);
/// assert_eq!(Padding::Padme.padded_len(2), 32);
/// assert_eq!(Padding::Minimal.padded_len(100), 101);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Padding {
    /// Pad to at least [`MIN_PADDED_LEN`] bytes, and above that to the next Padmé size:
    /// at most 12% overhead.
    #[default]
    Padme,
    /// Only the one marker byte: the ciphertext shows the plaintext's exact length. For
    /// apps that pad themselves, or whose messages all have one length.
    Minimal,
}

impl Padding {
    /// The length of a padded plaintext of `len` bytes: the plaintext, the marker byte and
    /// the zeros after it.
    pub const fn padded_len(self, len: usize) -> usize {
        let marked = len.saturating_add(1);
        match self {
            Padding::Minimal => marked,
            Padding::Padme => {
                let padme = padme(marked);
                if padme < MIN_PADDED_LEN {
                    MIN_PADDED_LEN
                } else {
                    padme
                }
            }
        }
    }

    /// The wire value kept in saved state: 0 for Padmé (the default, left out), 1 for
    /// minimal.
    pub(crate) fn to_wire(self) -> u32 {
        match self {
            Padding::Padme => 0,
            Padding::Minimal => 1,
        }
    }

    pub(crate) fn from_wire(value: u32) -> Result<Self> {
        match value {
            0 => Ok(Padding::Padme),
            1 => Ok(Padding::Minimal),
            _ => Err(Error::InvalidState {
                reason: "unknown padding",
            }),
        }
    }
}

/// Padmé: with E = floor(log2 L) and S = floor(log2 E) + 1, round L up to a multiple of
/// 2^(E - S), so that only the top S bits of the length stay free.
const fn padme(len: usize) -> usize {
    if len < 2 {
        return len;
    }
    let e = usize::BITS - 1 - len.leading_zeros();
    let s = u32::BITS - e.leading_zeros();
    let mask = (1usize << (e - s)) - 1;
    match len.checked_add(mask) {
        Some(sum) => sum & !mask,
        None => len,
    }
}

/// `plaintext || 0x80 || 0x00 ...`, `padded_len` bytes in all, in a buffer with `spare`
/// more bytes of capacity (for the AEAD tag, so that encrypting in place does not copy).
/// The buffer wipes itself: it holds the plaintext.
pub(crate) fn pad(plaintext: &[u8], padding: Padding, spare: usize) -> Zeroizing<Vec<u8>> {
    let padded_len = padding.padded_len(plaintext.len());
    let mut buffer = Zeroizing::new(Vec::with_capacity(padded_len.saturating_add(spare)));
    buffer.extend_from_slice(plaintext);
    buffer.push(0x80);
    buffer.resize(padded_len, 0);
    buffer
}

/// Strips the padding in place: the zeros at the end and the 0x80 marker before them.
///
/// # Errors
/// [`Error::BadPadding`] when there is no marker: the sender authenticated bytes that no
/// implementation of the protocol pads that way.
pub(crate) fn unpad(mut padded: Vec<u8>) -> Result<Vec<u8>> {
    let Some(marker) = padded
        .iter()
        .rposition(|&byte| byte != 0)
        .filter(|&at| padded.get(at) == Some(&0x80))
    else {
        // Authenticated plaintext all the same: wipe it before it is freed.
        padded.zeroize();
        return Err(Error::BadPadding);
    };
    // The bytes cut off are the marker and zeros: nothing secret is left behind.
    padded.truncate(marker);
    Ok(padded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padme_matches_the_paper() {
        // Values from the PURBs paper's definition, worked by hand.
        for (len, padded) in [
            (2, 2),
            (9, 10),
            (100, 104),
            (1000, 1024),
            (1025, 1088),
            (4 * 1024 * 1024 + 1, 4 * 1024 * 1024 + 128 * 1024),
        ] {
            assert_eq!(padme(len), padded, "padme({len})");
        }
    }

    #[test]
    fn padme_overhead_is_at_most_12_percent() {
        for len in (MIN_PADDED_LEN..200_000).step_by(7) {
            let padded = Padding::Padme.padded_len(len);
            assert!(padded > len);
            assert!((padded - len - 1) * 100 <= len * 12, "{len} -> {padded}");
        }
    }

    #[test]
    fn pad_then_unpad_gives_the_plaintext() {
        for padding in [Padding::Padme, Padding::Minimal] {
            for len in [0, 1, 30, 31, 32, 100, 1000, 5000] {
                let plaintext: Vec<u8> = (0..len).map(|i| (i % 7) as u8).collect();
                let padded = pad(&plaintext, padding, 16);
                assert_eq!(padded.len(), padding.padded_len(len));
                assert!(padded.capacity() >= padded.len() + 16);
                assert_eq!(unpad(padded.to_vec()).unwrap(), plaintext);
            }
        }
    }

    #[test]
    fn unpad_refuses_bytes_without_a_marker() {
        for bad in [
            vec![],
            vec![0; 40],
            vec![1, 2, 3],
            vec![0x80, 1],
            vec![0x81, 0],
        ] {
            assert!(matches!(unpad(bad), Err(Error::BadPadding)));
        }
    }
}
