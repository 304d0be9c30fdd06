//! Ed25519 signatures over a domain-separation context followed by the signed parts.
//!
//! Every signature of the protocol is over `context || part || part ...`, where the context
//! names what is signed (`"ratchetkit/v1/card"`, ...), so a signature made for one purpose
//! never verifies for another. Verification is strict (RFC 8032 with the canonical-encoding
//! and small-order checks of `verify_strict`).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};

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
    key.verify_strict(&signed_message(context, parts), &signature)
        .map_err(|_| Error::BadSignature { what })
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
