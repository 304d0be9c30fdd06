//! Ed25519 signatures over a domain-separation context followed by the signed parts.
//!
//! Every signature of the protocol is over `context || part || part ...`, where the context
//! names what is signed (`"ratchetkit/v2/card-self"`, ...) and no context is a prefix of
//! another (`tests/contexts.rs`), so a signature made for one purpose never verifies for
//! another. Verification is strict (RFC 8032 with the canonical-encoding
//! and small-order checks of `verify_strict`).

use curve25519_dalek::scalar::Scalar;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};

use crate::error::{Error, Result};
use crate::wire::fixed;

/// Length of an Ed25519 signature.
pub(crate) const SIGNATURE_LEN: usize = 64;

fn signed_message(context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let len = context.len() + parts.iter().map(|p| p.len()).sum::<usize>();
    let mut message = Vec::with_capacity(len);
    message.extend_from_slice(context);
    for part in parts {
        message.extend_from_slice(part);
    }
    message
}

/// Signs `context || parts...`.
pub(crate) fn sign(key: &SigningKey, context: &[u8], parts: &[&[u8]]) -> [u8; SIGNATURE_LEN] {
    key.sign(&signed_message(context, parts)).to_bytes()
}

/// Verifies a signature over `context || parts...` strictly.
pub(crate) fn verify(
    key: &VerifyingKey,
    context: &[u8],
    parts: &[&[u8]],
    signature: &[u8],
    what: &'static str,
) -> Result<()> {
    let signature = Signature::from_bytes(&fixed::<SIGNATURE_LEN>(signature, "signature")?);
    verify_strict(key, &signed_message(context, parts), &signature)
        .map_err(|_| Error::BadSignature { what })
}

/// `VerifyingKey::verify_strict`, with the same result for every input, but about a tenth
/// cheaper: it checks R for small order on its encoding instead of decompressing it.
///
/// `verify_strict` rejects an R that is no point, or of small order, and a key of small
/// order, then checks that R is exactly (byte for byte) the canonical encoding of
/// `[S]B - [k]A`, with S canonical. Here the last check is `VerifyingKey::verify`'s, which
/// is that same comparison; it rejects every R that is no point or not canonically
/// encoded, so the only check left to make on R is its order, and for a canonical
/// encoding [`small_order_encoding`] decides it exactly.
fn verify_strict(
    key: &VerifyingKey,
    message: &[u8],
    signature: &Signature,
) -> core::result::Result<(), ()> {
    if small_order_encoding(signature.r_bytes()) || key.is_weak() {
        return Err(());
    }
    key.verify(message, signature).map_err(|_| ())
}

/// Parses an Ed25519 public key, refusing weak (small-order) keys.
pub(crate) fn verifying_key(bytes: &[u8], field: &'static str) -> Result<VerifyingKey> {
    let key = VerifyingKey::from_bytes(&fixed::<32>(bytes, field)?)
        .map_err(|_| Error::InvalidPublicKey { field })?;
    if key.is_weak() {
        return Err(Error::InvalidPublicKey { field });
    }
    Ok(key)
}

/// Largest batch handed to one `verify_batch` call. Bigger batches save a little more per
/// signature, but a batch that fails is searched by halving, and every half is verified
/// again.
const MAX_BATCH: usize = 256;

/// Below this many signatures a failed batch is settled one signature at a time (from two
/// up, a batch that passes is cheaper than its signatures one by one).
const BISECT_BELOW: usize = 4;

/// One signature to check in [`verify_many`].
pub(crate) struct Pending<'a> {
    pub(crate) key: &'a VerifyingKey,
    /// `context || parts...`, as [`verify`] builds it.
    pub(crate) message: Vec<u8>,
    pub(crate) signature: &'a [u8],
}

impl<'a> Pending<'a> {
    pub(crate) fn new(
        key: &'a VerifyingKey,
        context: &[u8],
        parts: &[&[u8]],
        signature: &'a [u8],
    ) -> Self {
        Self {
            key,
            message: signed_message(context, parts),
            signature,
        }
    }

    /// The result [`verify`] gives for this signature.
    fn verify_one(&self, what: &'static str) -> Result<()> {
        let signature =
            Signature::from_bytes(&fixed::<SIGNATURE_LEN>(self.signature, "signature")?);
        verify_strict(self.key, &self.message, &signature).map_err(|_| Error::BadSignature { what })
    }
}

/// Verifies many signatures, each with the result [`verify`] would give it, using
/// Ed25519 batch verification (`ed25519_dalek::verify_batch`) where it can.
///
/// Batch verification checks one random linear combination of the verification
/// equations, which is why it is cheaper. It does not make the checks of `verify_strict`
/// that are not in the equation, so they are made here first, and a signature that
/// fails one is checked alone (and rejected) with `verify_strict`:
///
/// - R must be the canonical encoding of a point that is not of small order, and S must
///   be canonical (below the group order): byte comparisons. An R that encodes no point
///   at all fails the batch, and is then found and rejected alone.
/// - The public key must not be of small order: every key this crate verifies with was
///   parsed by [`verifying_key`], which refuses those.
///
/// A batch that fails is split in halves, down to a few signatures that are checked one by
/// one, so each bad signature gets its own error and only the bad ones do.
///
/// What a batch still accepts that `verify_strict` rejects: a signature whose equation
/// `[S]B = R + [k]A` is off by a nonzero point of small order (one of the 7 points of
/// order 2, 4 or 8), which requires R or A to have a small-order component while not
/// being of small order itself. `verify_strict` compares R exactly and rejects it; the
/// batch equation has each signature's equation multiplied by a 128-bit random scalar
/// z (derived from a hash of the batch), and a small-order error term vanishes when z is
/// a multiple of its order (for an error of order 2, half of the z). Making such a
/// signature needs the discrete logarithm of A modulo the torsion, that is, the signing
/// key: only the holder of the key can make one, and it could as well sign the message
/// properly. Nobody else can turn a rejected signature into an accepted one this way, and
/// a forgery by anyone without the key still fails with probability 1 - 2^-128.
pub(crate) fn verify_many(pending: &[Pending<'_>], what: &'static str) -> Vec<Result<()>> {
    let mut results: Vec<Option<Result<()>>> = Vec::with_capacity(pending.len());
    let mut batchable = Vec::with_capacity(pending.len());
    for (index, item) in pending.iter().enumerate() {
        match batch_precheck(item) {
            Some(signature) => {
                results.push(None);
                batchable.push((index, signature));
            }
            None => results.push(Some(item.verify_one(what))),
        }
    }
    for chunk in batchable.chunks(MAX_BATCH) {
        settle(pending, chunk, what, &mut results);
    }
    results
        .into_iter()
        .map(|result| result.unwrap_or(Err(Error::BadSignature { what })))
        .collect()
}

/// Verifies `batch` (indexes into `pending` with their parsed signatures) together, and
/// on failure its halves, recording each signature's result.
fn settle(
    pending: &[Pending<'_>],
    batch: &[(usize, Signature)],
    what: &'static str,
    results: &mut [Option<Result<()>>],
) {
    let one_by_one = |results: &mut [Option<Result<()>>]| {
        for (index, _) in batch {
            if let (Some(item), Some(slot)) = (pending.get(*index), results.get_mut(*index)) {
                *slot = Some(item.verify_one(what));
            }
        }
    };
    // Even two signatures are cheaper together (three cost 1.7 single verifications).
    if batch.len() < 2 {
        one_by_one(results);
        return;
    }
    let mut messages = Vec::with_capacity(batch.len());
    let mut signatures = Vec::with_capacity(batch.len());
    let mut keys = Vec::with_capacity(batch.len());
    for (index, signature) in batch {
        if let Some(item) = pending.get(*index) {
            messages.push(item.message.as_slice());
            signatures.push(*signature);
            keys.push(*item.key);
        }
    }
    if ed25519_dalek::verify_batch(&messages, &signatures, &keys).is_ok() {
        for (index, _) in batch {
            if let Some(slot) = results.get_mut(*index) {
                *slot = Some(Ok(()));
            }
        }
        return;
    }
    if batch.len() < BISECT_BELOW {
        one_by_one(results);
        return;
    }
    let (left, right) = batch.split_at(batch.len() / 2);
    settle(pending, left, what, results);
    settle(pending, right, what, results);
}

/// The parsed signature if it passes the checks of `verify_strict` that batch
/// verification does not make (see [`verify_many`]); `None` if it must be checked alone.
fn batch_precheck(item: &Pending<'_>) -> Option<Signature> {
    let bytes = fixed::<SIGNATURE_LEN>(item.signature, "signature").ok()?;
    let signature = Signature::from_bytes(&bytes);
    let r = signature.r_bytes();
    if !canonical_field_element(r) || small_order_encoding(r) {
        return None;
    }
    if Scalar::from_canonical_bytes(*signature.s_bytes())
        .is_none()
        .into()
    {
        return None;
    }
    Some(signature)
}

/// The y-coordinates (little-endian, below p) of the eight points of small order: 0 (the
/// two points of order 4), 1 (the identity), p - 1 (order 2), and ±y of the four points
/// of order 8. A point is of small order exactly when its y is one of them, whichever the
/// sign of x.
const SMALL_ORDER_Y: [[u8; 32]; 5] = [
    [0; 32],
    [
        1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0,
    ],
    [
        0xec, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0x7f,
    ],
    [
        0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef, 0x98,
        0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88, 0x6d, 0x53,
        0xfc, 0x05,
    ],
    [
        0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10, 0x67,
        0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77, 0x92, 0xac,
        0x03, 0x7a,
    ],
];

/// Whether the canonical point encoding `bytes` is of a point of small order. Compares
/// bytes instead of decompressing the point, which would cost a field exponentiation:
/// batch verification decompresses R anyway, and fails on an encoding of no point.
fn small_order_encoding(bytes: &[u8; 32]) -> bool {
    let mut y = *bytes;
    if let Some(top) = y.last_mut() {
        *top &= 0x7f;
    }
    SMALL_ORDER_Y.contains(&y)
}

/// Whether the low 255 bits of `bytes` (little-endian) are below p = 2^255 - 19. The top
/// bit is the sign of x and is not part of the value.
fn canonical_field_element(bytes: &[u8; 32]) -> bool {
    // p = 0x7fff..ffed: the value is at least p only if bytes 1..31 are 0xff, the top byte
    // (without the sign bit) is 0x7f, and the lowest byte is at least 0xed.
    let top = bytes.last().map_or(0, |byte| byte & 0x7f);
    let middle_all_ones = bytes.iter().skip(1).take(30).all(|&byte| byte == 0xff);
    let low = bytes.first().copied().unwrap_or(0);
    !(top == 0x7f && middle_all_ones && low >= 0xed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use curve25519_dalek::edwards::CompressedEdwardsY;
    use ed25519_dalek::SigningKey;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    #[test]
    fn many_matches_one_by_one() {
        let keys: Vec<SigningKey> = (1..=5).map(key).collect();
        let verifying: Vec<VerifyingKey> = keys.iter().map(|k| k.verifying_key()).collect();
        let mut signatures: Vec<Vec<u8>> = (0..40u8)
            .map(|i| sign(&keys[usize::from(i % 5)], b"ctx", &[&[i]]).to_vec())
            .collect();
        // A tampered signature, one of the wrong length, one with a non-canonical S, and
        // one signed by another key.
        signatures[3][10] ^= 1;
        signatures[7].pop();
        signatures[11][63] |= 0xf0;
        signatures[20] = sign(&keys[1], b"ctx", &[&[20]]).to_vec();
        let messages: Vec<[u8; 1]> = (0..40u8).map(|i| [i]).collect();
        let pending: Vec<Pending<'_>> = (0..40)
            .map(|i| Pending::new(&verifying[i % 5], b"ctx", &[&messages[i]], &signatures[i]))
            .collect();
        let expected: Vec<Result<()>> = (0..40)
            .map(|i| {
                verify(
                    &verifying[i % 5],
                    b"ctx",
                    &[&messages[i]],
                    &signatures[i],
                    "test",
                )
            })
            .collect();
        assert_eq!(verify_many(&pending, "test"), expected);
        let bad: Vec<usize> = (0..40).filter(|&i| expected[i].is_err()).collect();
        assert_eq!(bad, [3, 7, 11, 20]);
    }

    #[test]
    fn small_order_and_non_canonical_r_are_checked_alone() {
        let signing = key(9);
        let verifying = signing.verifying_key();
        let good = sign(&signing, b"ctx", &[b"m"]);
        let pending = |signature: &[u8; 64]| {
            batch_precheck(&Pending::new(&verifying, b"ctx", &[b"m"], signature))
        };
        assert!(pending(&good).is_some());
        // R = the identity (small order), then R = p + 1 (a non-canonical identity).
        let mut identity = good;
        identity[..32].copy_from_slice(&[0; 32]);
        identity[0] = 1;
        assert!(pending(&identity).is_none());
        let mut non_canonical = good;
        non_canonical[..32].copy_from_slice(&[0xff; 32]);
        non_canonical[0] = 0xee;
        non_canonical[31] = 0x7f;
        assert!(pending(&non_canonical).is_none());
    }

    #[test]
    fn small_order_encodings_are_those_of_the_torsion_points() {
        use curve25519_dalek::constants::EIGHT_TORSION;
        for point in EIGHT_TORSION {
            let bytes = point.compress().to_bytes();
            assert!(small_order_encoding(&bytes));
            // The other sign of x, where it is a point, is of small order too.
            let mut other = bytes;
            other[31] ^= 0x80;
            if let Some(point) = CompressedEdwardsY(other).decompress() {
                assert!(point.is_small_order());
                assert!(small_order_encoding(&other));
            }
        }
        // Random points are not; and every listed y decompresses to a small-order point.
        for seed in 1..=20u8 {
            let bytes = key(seed).verifying_key().to_bytes();
            assert!(!small_order_encoding(&bytes));
        }
        for y in SMALL_ORDER_Y {
            let point = CompressedEdwardsY(y).decompress().expect("a point");
            assert!(point.is_small_order());
        }
    }

    /// Our `verify_strict` gives ed25519-dalek's result on valid signatures and on every
    /// edge case it rejects: R of small order (each encoding, both signs, non-canonical),
    /// R no point or not canonical, R or the key with a small-order component, S not
    /// canonical, keys of small order.
    #[test]
    fn strict_verification_matches_ed25519_dalek() {
        use curve25519_dalek::constants::{ED25519_BASEPOINT_POINT, EIGHT_TORSION};
        use curve25519_dalek::edwards::EdwardsPoint;
        use curve25519_dalek::scalar::Scalar;
        use sha2::{Digest, Sha512};

        let message = b"edge cases";
        let mut cases: Vec<(VerifyingKey, [u8; 64], Vec<u8>)> = Vec::new();
        // Signs with secret scalar `a` and nonce `r` for public point A, adding `t` to R.
        let raw_sign = |a: Scalar, public: [u8; 32], r: Scalar, t: EdwardsPoint| -> [u8; 64] {
            let big_r = (ED25519_BASEPOINT_POINT * r + t).compress();
            let k = Scalar::from_hash(
                Sha512::new()
                    .chain_update(big_r.as_bytes())
                    .chain_update(public)
                    .chain_update(message),
            );
            let mut out = [0u8; 64];
            out[..32].copy_from_slice(big_r.as_bytes());
            out[32..].copy_from_slice((r + k * a).as_bytes());
            out
        };
        for seed in 1..=4u8 {
            let signing = key(seed);
            let public = signing.verifying_key();
            let good = signing.sign(message).to_bytes();
            cases.push((public, good, message.to_vec()));
            cases.push((public, good, b"other".to_vec()));
            for torsion in EIGHT_TORSION {
                let encoding = torsion.compress().to_bytes();
                for sign in [0, 0x80] {
                    let mut bad = good;
                    bad[..32].copy_from_slice(&encoding);
                    bad[31] ^= sign;
                    cases.push((public, bad, message.to_vec()));
                }
            }
            // R = p and p + 1 (non-canonical 0 and 1), R not a point, S + l.
            for low in [0xed, 0xee] {
                let mut bad = good;
                bad[..32].copy_from_slice(&[0xff; 32]);
                bad[0] = low;
                bad[31] = 0x7f;
                cases.push((public, bad, message.to_vec()));
            }
            let mut bad = good;
            bad[..32].copy_from_slice(&[0x02; 32]);
            cases.push((public, bad, message.to_vec()));
            let mut bad = good;
            // l, the group order, little-endian.
            let l = hex::decode("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
                .unwrap();
            let mut carry = 0u16;
            for (byte, add) in bad[32..].iter_mut().zip(l) {
                let sum = u16::from(*byte) + u16::from(add) + carry;
                *byte = sum as u8;
                carry = sum >> 8;
            }
            cases.push((public, bad, message.to_vec()));

            // R and keys with a small-order component, signed by the key's holder.
            let a = Scalar::from(u64::from(seed) * 7919);
            let r = Scalar::from(u64::from(seed) * 104_729);
            let identity = EIGHT_TORSION[0];
            for t in EIGHT_TORSION {
                let clean = (ED25519_BASEPOINT_POINT * a).compress().to_bytes();
                let clean_key = VerifyingKey::from_bytes(&clean).unwrap();
                cases.push((clean_key, raw_sign(a, clean, r, t), message.to_vec()));
                let mixed = (ED25519_BASEPOINT_POINT * a + t).compress().to_bytes();
                let mixed_key = VerifyingKey::from_bytes(&mixed).unwrap();
                cases.push((mixed_key, raw_sign(a, mixed, r, identity), message.to_vec()));
            }
        }
        // Keys of small order, with any signature.
        for torsion in EIGHT_TORSION {
            let weak = VerifyingKey::from_bytes(&torsion.compress().to_bytes()).unwrap();
            let mut signature = [0u8; 64];
            signature[..32].copy_from_slice(&ED25519_BASEPOINT_POINT.compress().to_bytes());
            cases.push((weak, signature, message.to_vec()));
        }

        let mut accepted = 0;
        for (public, bytes, signed) in &cases {
            let signature = Signature::from_bytes(bytes);
            let ours = verify_strict(public, signed, &signature).is_ok();
            let theirs = public.verify_strict(signed, &signature).is_ok();
            assert_eq!(
                ours,
                theirs,
                "key {public:?}, signature {}",
                hex::encode(bytes)
            );
            accepted += usize::from(ours);
        }
        // The genuine signatures, the clean raw ones, and mixed keys whose torsion term
        // vanished (k a multiple of its order) pass; everything else fails.
        assert!(accepted >= 8, "only {accepted} accepted");
        assert!(accepted < cases.len() / 2);
    }

    #[test]
    fn field_element_canonicity() {
        let mut p = [0xffu8; 32];
        p[0] = 0xed;
        p[31] = 0x7f;
        assert!(!canonical_field_element(&p));
        p[31] = 0xff; // p with the sign bit set
        assert!(!canonical_field_element(&p));
        p[0] = 0xec; // p - 1, sign bit set
        assert!(canonical_field_element(&p));
        assert!(canonical_field_element(&[0; 32]));
    }
}
