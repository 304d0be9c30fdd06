//! X3DH: the shared secret and associated data both sides derive when a channel starts.

use zeroize::Zeroizing;

use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::RootKey;
use crate::crypto::kdf::{hkdf_sha256, ZERO_SALT};
use crate::error::Result;
use crate::identity::{Card, Identity};

/// HKDF info of the X3DH shared secret.
pub const X3DH_INFO: &[u8] = b"ratchetkit/v1/x3dh";

/// Length of a channel's associated data: two Ed25519 and two X25519 public keys.
pub(crate) const AD_LEN: usize = 128;

/// AD = Ed25519 public A || X25519 public A || Ed25519 public B || X25519 public B, where
/// A created the channel.
pub(crate) fn associated_data(initiator: &Card, responder: &Card) -> [u8; AD_LEN] {
    let mut ad = [0u8; AD_LEN];
    let parts = [
        initiator.signing_key(),
        initiator.agreement_key(),
        responder.signing_key(),
        responder.agreement_key(),
    ];
    for (chunk, part) in ad.chunks_exact_mut(32).zip(parts) {
        chunk.copy_from_slice(&part);
    }
    ad
}

/// SK = HKDF-SHA256(salt = 32 zero bytes, ikm = 0xFF * 32 || DH1 || DH2 || DH3 [|| DH4],
/// info = "ratchetkit/v1/x3dh", 32 bytes). Each DH output has passed the contributory check.
fn shared_secret(dh_outputs: &[Zeroizing<[u8; 32]>]) -> RootKey {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * (1 + dh_outputs.len())));
    ikm.extend_from_slice(&[0xFF; 32]);
    for dh in dh_outputs {
        ikm.extend_from_slice(dh.as_slice());
    }
    RootKey::from_bytes(*hkdf_sha256::<32>(&ZERO_SALT, &ikm, X3DH_INFO))
}

/// The creator's side: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
/// DH4 = DH(EK_A, OPK_B) when the bundle has a one-time prekey.
pub(crate) fn initiate(
    identity: &Identity,
    ephemeral: &AgreementKeyPair,
    responder: &Card,
    signed_prekey: &[u8; 32],
    one_time_prekey: Option<&[u8; 32]>,
) -> Result<RootKey> {
    let mut dh = vec![
        identity.agreement().agree(signed_prekey)?,
        ephemeral.agree(&responder.agreement_key())?,
        ephemeral.agree(signed_prekey)?,
    ];
    if let Some(one_time) = one_time_prekey {
        dh.push(ephemeral.agree(one_time)?);
    }
    Ok(shared_secret(&dh))
}

/// The responder's side of the same four agreements.
pub(crate) fn respond(
    identity: &Identity,
    initiator: &Card,
    ephemeral_key: &[u8; 32],
    signed_prekey: &AgreementKeyPair,
    one_time_prekey: Option<&AgreementKeyPair>,
) -> Result<RootKey> {
    let mut dh = vec![
        signed_prekey.agree(&initiator.agreement_key())?,
        identity.agreement().agree(ephemeral_key)?,
        signed_prekey.agree(ephemeral_key)?,
    ];
    if let Some(one_time) = one_time_prekey {
        dh.push(one_time.agree(ephemeral_key)?);
    }
    Ok(shared_secret(&dh))
}
