//! X25519 key agreement that refuses non-contributory results.

use rand::CryptoRng;
use x25519_dalek::{PublicKey, StaticSecret};
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::wire::fixed;

/// Parses an X25519 public key from the wire, accepting only the canonical encoding of a
/// field element: below 2^255 - 19, top bit clear.
///
/// X25519 ignores the top bit and reduces larger values, so each key has several
/// encodings that agree to the same secret. Bytes that are hashed or compared (prekey
/// information, chain ids) must not vary in transit, so only one encoding is accepted.
pub(crate) fn public_key(bytes: &[u8], field: &'static str) -> Result<[u8; 32]> {
    let key = fixed::<32>(bytes, field)?;
    // Little-endian: non-canonical values are those with the top bit set, and
    // 2^255 - 19 ..= 2^255 - 1, i.e. byte 31 = 0x7f, bytes 1..31 = 0xff, byte 0 >= 0xed.
    let top_bit = key.last().is_some_and(|last| last & 0x80 != 0);
    let at_least_p = key.first().is_some_and(|&low| low >= 0xed)
        && key.iter().skip(1).take(30).all(|&byte| byte == 0xff)
        && key.last() == Some(&0x7f);
    if top_bit || at_least_p {
        return Err(Error::InvalidPublicKey { field });
    }
    Ok(key)
}

/// An X25519 key pair whose public half is computed once.
#[derive(Clone)]
pub(crate) struct AgreementKeyPair {
    secret: StaticSecret,
    public: PublicKey,
}

impl AgreementKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        Self::from_secret(StaticSecret::random_from_rng(rng))
    }

    pub(crate) fn from_secret_bytes(bytes: [u8; 32]) -> Self {
        Self::from_secret(StaticSecret::from(bytes))
    }

    fn from_secret(secret: StaticSecret) -> Self {
        let public = PublicKey::from(&secret);
        Self { secret, public }
    }

    pub(crate) fn public(&self) -> [u8; 32] {
        self.public.to_bytes()
    }

    /// The secret scalar bytes, for serialization only.
    pub(crate) fn secret_bytes(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.secret.to_bytes())
    }

    /// X25519(secret, their_public), rejecting the all-zero output of a low-order point.
    pub(crate) fn agree(&self, their_public: &[u8; 32]) -> Result<Zeroizing<[u8; 32]>> {
        let shared = self.secret.diffie_hellman(&PublicKey::from(*their_public));
        if !shared.was_contributory() {
            return Err(Error::NonContributoryKey);
        }
        Ok(Zeroizing::new(shared.to_bytes()))
    }
}

impl core::fmt::Debug for AgreementKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AgreementKeyPair")
            .field("public", &hex::encode(self.public.as_bytes()))
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_order_points_are_rejected() {
        let pair = AgreementKeyPair::from_secret_bytes([0x42; 32]);
        // The identity point and a point of order 8 both give an all-zero output.
        let mut order_eight = [0u8; 32];
        order_eight.copy_from_slice(
            &hex::decode("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")
                .unwrap(),
        );
        for point in [[0u8; 32], order_eight] {
            assert_eq!(pair.agree(&point), Err(Error::NonContributoryKey));
        }
    }

    #[test]
    fn only_canonical_public_keys_parse() {
        let mut key = [0x11u8; 32];
        key[31] = 0x7f;
        assert!(public_key(&key, "k").is_ok());
        key[31] = 0xff;
        assert_eq!(
            public_key(&key, "k"),
            Err(Error::InvalidPublicKey { field: "k" })
        );
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(public_key(&p, "k").is_err());
        p[0] = 0xec; // p - 1
        assert!(public_key(&p, "k").is_ok());
        assert!(public_key(&[0; 31], "k").is_err());
    }

    #[test]
    fn agreement_is_symmetric() {
        let a = AgreementKeyPair::from_secret_bytes([1; 32]);
        let b = AgreementKeyPair::from_secret_bytes([2; 32]);
        assert_eq!(
            *a.agree(&b.public()).unwrap(),
            *b.agree(&a.public()).unwrap()
        );
    }
}
