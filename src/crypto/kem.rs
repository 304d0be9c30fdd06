//! ML-KEM-768 (FIPS 203), the post-quantum half of a channel's start.
//!
//! The implementation is libcrux-ml-kem's, whose portable and AVX2 code is formally
//! verified (panic freedom, functional correctness against the FIPS 203 specification, and
//! secret independence); README.md's dependency notes say why it was chosen. Here it is
//! used through its deterministic functions only: every random input comes from the
//! caller's generator, so the crate keeps one `rand_core`.
//!
//! libcrux takes and returns its secrets by value (the seed, the encapsulation randomness,
//! the expanded key, the shared secret), so copies of them are left on the stack, as with
//! every by-value secret in Rust; none is left in freed heap memory (tests/freed_memory.rs).
//!
//! A decapsulation key is kept as its 64-byte seed (d || z of FIPS 203's
//! `ML-KEM.KeyGen_internal`) and expanded when it is used: the seed is the whole secret,
//! 64 bytes instead of 2,400 in a saved prekey store.

use libcrux_ml_kem::mlkem768;
use rand::CryptoRng;
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// Length of an ML-KEM-768 encapsulation (public) key: 1,184 bytes.
pub const KEM_PUBLIC_KEY_LEN: usize = 1184;

/// Length of an ML-KEM-768 ciphertext: 1,088 bytes.
pub const KEM_CIPHERTEXT_LEN: usize = 1088;

/// Length of the seed an ML-KEM-768 key pair is generated from and kept as: 64 bytes.
pub const KEM_SEED_LEN: usize = 64;

/// An ML-KEM-768 key pair, held as its seed.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub(crate) struct KemKeyPair {
    seed: [u8; KEM_SEED_LEN],
}

impl KemKeyPair {
    pub(crate) fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut seed = [0u8; KEM_SEED_LEN];
        rng.fill_bytes(&mut seed);
        Self { seed }
    }

    pub(crate) fn from_seed(seed: [u8; KEM_SEED_LEN]) -> Self {
        Self { seed }
    }

    pub(crate) fn seed(&self) -> &[u8; KEM_SEED_LEN] {
        &self.seed
    }

    /// The encapsulation key, computed from the seed (a key generation).
    pub(crate) fn public(&self) -> KemPublicKey {
        let pair = mlkem768::generate_key_pair(self.seed);
        let public = KemPublicKey(Box::new(*pair.pk()));
        wipe_pair(pair);
        public
    }

    /// The shared secret of `ciphertext`. A ciphertext that was changed gives an unrelated
    /// secret (FIPS 203's implicit rejection), never an error: the first message it came
    /// with then fails to authenticate.
    pub(crate) fn decapsulate(&self, ciphertext: &KemCiphertext) -> KemSharedSecret {
        let pair = mlkem768::generate_key_pair(self.seed);
        let shared = mlkem768::decapsulate(
            pair.private_key(),
            &mlkem768::MlKem768Ciphertext::from(&*ciphertext.0),
        );
        wipe_pair(pair);
        KemSharedSecret(shared)
    }
}

/// Overwrites an expanded key pair's private key before it is dropped: libcrux's key types
/// do not wipe themselves.
fn wipe_pair(pair: mlkem768::MlKem768KeyPair) {
    let (private, _) = pair.into_parts();
    let mut bytes: [u8; 2400] = private.into();
    bytes.zeroize();
}

impl core::fmt::Debug for KemKeyPair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("KemKeyPair(..)")
    }
}

/// A validated ML-KEM-768 encapsulation key (boxed: 1,184 bytes).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KemPublicKey(Box<[u8; KEM_PUBLIC_KEY_LEN]>);

impl KemPublicKey {
    /// Parses an encapsulation key, with FIPS 203's input check (every coefficient of the
    /// key's vector reduced modulo q), which the standard requires before encapsulating.
    ///
    /// # Errors
    /// [`Error::InvalidLength`] for a key that is not 1,184 bytes,
    /// [`Error::InvalidPublicKey`] for one that fails the check.
    pub(crate) fn from_bytes(bytes: &[u8], field: &'static str) -> Result<Self> {
        let array: &[u8; KEM_PUBLIC_KEY_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidLength {
                field,
                expected: KEM_PUBLIC_KEY_LEN,
                found: bytes.len(),
            })?;
        if !mlkem768::validate_public_key(&mlkem768::MlKem768PublicKey::from(array)) {
            return Err(Error::InvalidPublicKey { field });
        }
        Ok(Self(Box::new(*array)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEM_PUBLIC_KEY_LEN] {
        &self.0
    }
}

impl core::fmt::Debug for KemPublicKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let start = self.0.get(..8).unwrap_or_default();
        write!(f, "KemPublicKey({}..)", hex::encode(start))
    }
}

/// An ML-KEM-768 ciphertext (boxed: 1,088 bytes).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct KemCiphertext(Box<[u8; KEM_CIPHERTEXT_LEN]>);

impl KemCiphertext {
    /// # Errors
    /// [`Error::InvalidLength`] for a ciphertext that is not 1,088 bytes.
    pub(crate) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let array: &[u8; KEM_CIPHERTEXT_LEN] =
            bytes.try_into().map_err(|_| Error::InvalidLength {
                field: "ML-KEM ciphertext",
                expected: KEM_CIPHERTEXT_LEN,
                found: bytes.len(),
            })?;
        Ok(Self(Box::new(*array)))
    }

    pub(crate) fn as_bytes(&self) -> &[u8; KEM_CIPHERTEXT_LEN] {
        &self.0
    }
}

/// The 32-byte secret an encapsulation shares.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct KemSharedSecret([u8; 32]);

impl KemSharedSecret {
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for KemSharedSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

/// Encapsulates a fresh secret to `public`: ML-KEM.Encaps with 32 bytes from `rng`.
pub(crate) fn encapsulate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    public: &KemPublicKey,
) -> (KemCiphertext, KemSharedSecret) {
    let mut randomness = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(randomness.as_mut_slice());
    let (ciphertext, shared) =
        mlkem768::encapsulate(&mlkem768::MlKem768PublicKey::from(&*public.0), *randomness);
    (
        KemCiphertext(Box::new(*ciphertext.as_slice())),
        KemSharedSecret(shared),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn encapsulation_and_decapsulation_share_a_secret() {
        let mut rng = rand::rngs::ChaCha20Rng::seed_from_u64(1);
        let pair = KemKeyPair::generate(&mut rng);
        let public = KemPublicKey::from_bytes(pair.public().as_bytes(), "key").unwrap();
        let (ciphertext, secret) = encapsulate(&mut rng, &public);
        assert!(pair.decapsulate(&ciphertext) == secret);
        // The seed is the whole key pair.
        let again = KemKeyPair::from_seed(*pair.seed());
        assert!(again.decapsulate(&ciphertext) == secret);
        // A changed ciphertext gives another secret, not an error.
        let mut changed = ciphertext.as_bytes().to_vec();
        changed[0] ^= 1;
        let changed = KemCiphertext::from_bytes(&changed).unwrap();
        assert!(pair.decapsulate(&changed) != secret);
    }

    #[test]
    fn keys_and_ciphertexts_of_other_sizes_or_unreduced_keys_are_refused() {
        let pair = KemKeyPair::from_seed([5; KEM_SEED_LEN]);
        let mut key = pair.public().as_bytes().to_vec();
        assert!(matches!(
            KemPublicKey::from_bytes(&key[1..], "key"),
            Err(Error::InvalidLength { .. })
        ));
        key[0] = 0xff;
        key[1] |= 0x0f;
        assert!(matches!(
            KemPublicKey::from_bytes(&key, "key"),
            Err(Error::InvalidPublicKey { .. })
        ));
        assert!(matches!(
            KemCiphertext::from_bytes(&[0; KEM_CIPHERTEXT_LEN + 1]),
            Err(Error::InvalidLength { .. })
        ));
    }
}
