//! Known-answer tests of ML-KEM-768 as ratchetkit uses it: libcrux-ml-kem's deterministic
//! key generation from a 64-byte seed, encapsulation from 32 bytes, decapsulation, implicit
//! rejection and the encapsulation key check, against results published by other
//! implementations of final FIPS 203.
//!
//! The procedure is C2SP/CCTV's "accumulated" vectors: one SHAKE-128 stream over the empty
//! input gives, per iteration, the seed d || z (64 bytes), the encapsulation randomness m
//! (32) and a random ciphertext (1,088); key generation, encapsulation, decapsulation of
//! the ciphertext and of the random one (implicit rejection) follow, and a second
//! SHAKE-128 absorbs ek, [dk,] ct, k and the rejection secret. The expected hashes are
//! Go's `crypto/mlkem` `TestAccumulated` (without dk, 100 iterations) and BoringSSL's
//! `MLKEMTest.Iterate768` (with dk, 10,000 iterations), for final FIPS 203. (CCTV's own
//! README still lists the value of the 2023 draft.)

use libcrux_ml_kem::mlkem768;
use libcrux_sha3::portable::incremental::{Shake128Xof, Xof};

fn accumulated(iterations: usize, absorb_dk: bool) -> String {
    let (mut stream, mut accumulator) = (Shake128Xof::new(), Shake128Xof::new());
    stream.absorb_final(&[]);
    let (mut seed, mut m, mut random_ciphertext) = ([0u8; 64], [0u8; 32], [0u8; 1088]);
    for _ in 0..iterations {
        stream.squeeze(&mut seed);
        let pair = mlkem768::generate_key_pair(seed);
        assert!(mlkem768::validate_public_key(pair.public_key()));
        stream.squeeze(&mut m);
        let (ciphertext, shared) = mlkem768::encapsulate(pair.public_key(), m);
        assert_eq!(
            mlkem768::decapsulate(pair.private_key(), &ciphertext),
            shared
        );
        stream.squeeze(&mut random_ciphertext);
        let rejected = mlkem768::decapsulate(
            pair.private_key(),
            &mlkem768::MlKem768Ciphertext::from(random_ciphertext),
        );
        assert_ne!(rejected, shared);
        accumulator.absorb(pair.pk());
        if absorb_dk {
            accumulator.absorb(pair.sk());
        }
        accumulator.absorb(ciphertext.as_ref());
        accumulator.absorb(&shared);
        accumulator.absorb(&rejected);
    }
    accumulator.absorb_final(&[]);
    let mut out = [0u8; 32];
    accumulator.squeeze(&mut out);
    hex::encode(out)
}

#[test]
fn ml_kem_768_matches_go_accumulated_100() {
    assert_eq!(
        accumulated(100, false),
        "1114b1b6699ed191734fa339376afa7e285c9e6acf6ff0177d346696ce564415"
    );
}

#[test]
fn ml_kem_768_matches_boringssl_accumulated_10_000() {
    assert_eq!(
        accumulated(10_000, true),
        "f959d18d3d1180121433bf0e05f11e7908cf9d03edc150b2b07cb90bef5bc1c1"
    );
}

/// FIPS 203's encapsulation key check: a key whose first coefficient is q = 3329 (not
/// reduced) is refused, as ratchetkit refuses such a bundle key (`InvalidPublicKey`).
#[test]
fn ml_kem_768_refuses_an_unreduced_encapsulation_key() {
    let pair = mlkem768::generate_key_pair([3; 64]);
    let mut key = *pair.pk();
    // The first two bytes and the low half of the third hold the first 12-bit coefficient.
    key[0] = (3329 & 0xff) as u8;
    key[1] = (key[1] & 0xf0) | ((3329 >> 8) as u8);
    assert!(!mlkem768::validate_public_key(
        &mlkem768::MlKem768PublicKey::from(key)
    ));
    assert!(mlkem768::validate_public_key(pair.public_key()));
}
