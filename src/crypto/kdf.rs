//! HKDF-SHA256 and HMAC-SHA256, the only key derivation functions of the protocol.

use hkdf::Hkdf;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

/// The salt used wherever the protocol says "salt = 32 zero bytes".
pub(crate) const ZERO_SALT: [u8; 32] = [0; 32];

/// HKDF-SHA256 (RFC 5869) with an output of `N` bytes.
pub(crate) fn hkdf_sha256<const N: usize>(
    salt: &[u8],
    ikm: &[u8],
    info: &[u8],
) -> Zeroizing<[u8; N]> {
    const { assert!(N <= 255 * 32, "HKDF-SHA256 output is at most 8160 bytes") };
    let mut okm = Zeroizing::new([0u8; N]);
    // expand fails only for outputs over 255 blocks, excluded at compile time above.
    let _ = Hkdf::<Sha256>::new(Some(salt), ikm).expand(info, okm.as_mut_slice());
    okm
}

/// HMAC-SHA256 keyed once and applied to several one-byte inputs, as the KDF chain step
/// needs: sharing the keyed state saves the two key-block compressions per output.
pub(crate) fn hmac_sha256_bytes<const K: usize>(
    key: &[u8; 32],
    inputs: [u8; K],
) -> [Zeroizing<[u8; 32]>; K] {
    // HMAC pads a key shorter than the hash's 64-byte block with zeros (RFC 2104), so the
    // padded block is the same key, and the infallible constructor takes it.
    let mut block = Zeroizing::new([0u8; 64]);
    for (out, byte) in block.iter_mut().zip(key) {
        *out = *byte;
    }
    let keyed = <Hmac<Sha256> as KeyInit>::new(&(*block).into());
    inputs.map(|input| {
        let mut mac = keyed.clone();
        mac.update(&[input]);
        Zeroizing::new(mac.finalize().into_bytes().into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 5869, test case 1.
    #[test]
    fn hkdf_matches_rfc5869() {
        let ikm = [0x0b; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let okm = hkdf_sha256::<42>(&salt, &ikm, &info);
        assert_eq!(
            hex::encode(okm.as_slice()),
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
    }

    #[test]
    fn keyed_hmac_matches_one_shot() {
        let key = [7u8; 32];
        let [a, b] = hmac_sha256_bytes(&key, [1, 2]);
        for (input, out) in [(1u8, a), (2u8, b)] {
            let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            mac.update(&[input]);
            let expected: [u8; 32] = mac.finalize().into_bytes().into();
            assert_eq!(*out, expected);
        }
    }
}
