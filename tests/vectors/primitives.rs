//! The protocol's cryptography, written from `docs/PROTOCOL.md` on the primitive crates alone
//! (x25519-dalek, ed25519-dalek, hkdf, hmac, sha2, aes-gcm), never through ratchetkit.
//!
//! It is the independent implementation with which the recompute tests check every byte of
//! the files. The generators' model of the protocol computes with it too, and checks it
//! against the library at every step, so the files are only written when both agree.
//!
//! This module must not use ratchetkit.

// Each includer uses a part: the channel vectors nothing of groups, the example nothing of
// what only the tests check.
#![allow(dead_code)]

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

// Cards are at version 2 of their contexts, prefix-free (`ratchetkit/v1/card` was a prefix of
// the app and rotation contexts).
pub const CARD_CONTEXT: &[u8] = b"ratchetkit/v2/card-self";
pub const SELF_SIGNER: &str = "self";
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v1/signed-prekey";
pub const X3DH_INFO: &[u8] = b"ratchetkit/v1/x3dh";
pub const ROOT_INFO: &[u8] = b"ratchetkit/v1/root";
pub const MESSAGE_INFO: &[u8] = b"ratchetkit/v1/message";

// The group protocol is at version 2, with its own domain separation strings.
pub const GROUP_VERSION: u32 = 2;
pub const GROUP_MESSAGE_INFO: &[u8] = b"ratchetkit/v2/group-message";
pub const GROUP_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/group-signature";
pub const ROSTER_CONTEXT: &[u8] = b"ratchetkit/v2/group-roster";
pub const OWNER_TRANSFER_CONTEXT: &[u8] = b"ratchetkit/v2/group-transfer";
pub const GROUP_ID_CONTEXT: &[u8] = b"ratchetkit/v2/group-id";
/// A group id is a SHA-256 output; the founder's salt is 16 bytes.
pub const GROUP_ID_LEN: usize = 32;
pub const GROUP_SALT_LEN: usize = 16;

/// `RatchetHeader.content_type` of application data and of group control.
pub const CONTENT_APPLICATION: u32 = 0;
pub const CONTENT_GROUP_CONTROL: u32 = 1;

// ---- Signatures and key agreement ------------------------------------------------------

pub fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

/// Signs `message` (Ed25519 signatures are deterministic) and checks the signature with the
/// public key, also strictly.
pub fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    let key = SigningKey::from_bytes(seed);
    let signature = key.sign(message);
    let public = VerifyingKey::from_bytes(&key.verifying_key().to_bytes()).unwrap();
    public.verify(message, &signature).unwrap();
    public.verify_strict(message, &signature).unwrap();
    signature.to_bytes()
}

/// Strict Ed25519 verification.
pub fn ed25519_verifies(public: &[u8; 32], message: &[u8], signature: &[u8]) -> bool {
    let Ok(signature) = <[u8; 64]>::try_from(signature) else {
        return false;
    };
    VerifyingKey::from_bytes(public).is_ok_and(|key| {
        key.verify_strict(message, &Signature::from_bytes(&signature))
            .is_ok()
    })
}

pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

/// X25519, refusing the all-zero output of a low-order point.
pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    let shared = StaticSecret::from(*secret).diffie_hellman(&PublicKey::from(*public));
    assert!(shared.was_contributory(), "non-contributory DH");
    shared.to_bytes()
}

// ---- Hashes and key derivation ---------------------------------------------------------

pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

pub fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut okm = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .expect("HKDF output length");
    okm
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC key");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// Splits 32 + N bytes.
fn split<const N: usize>(okm: &[u8]) -> ([u8; 32], [u8; N]) {
    (
        okm[..32].try_into().expect("32 bytes"),
        okm[32..].try_into().expect("the rest"),
    )
}

/// KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output, info = root info), 64 bytes:
/// (root key, chain key).
pub fn kdf_rk(root_key: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    split(&hkdf::<64>(root_key, dh, ROOT_INFO))
}

/// KDF_CK: (message key, next chain key) = (HMAC(chain key, 0x01), HMAC(chain key, 0x02)).
pub fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (
        hmac_sha256(chain_key, &[0x01]),
        hmac_sha256(chain_key, &[0x02]),
    )
}

/// The chain key `steps` KDF_CK steps after `chain_key`.
pub fn chain_key_at(chain_key: &[u8; 32], steps: u32) -> [u8; 32] {
    let mut key = *chain_key;
    for _ in 0..steps {
        key = kdf_ck(&key).1;
    }
    key
}

/// The AES-256-GCM key and nonce of a message key: HKDF-SHA256(salt = 32 zero bytes,
/// ikm = message key, `info`), 44 bytes. `info` is [`MESSAGE_INFO`] for channel messages,
/// [`GROUP_MESSAGE_INFO`] for group messages.
pub fn message_aead(message_key: &[u8; 32], info: &[u8]) -> ([u8; 32], [u8; 12]) {
    split(&hkdf::<44>(&[0; 32], message_key, info))
}

pub fn aes_gcm_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(&(*key).into())
        .encrypt(&Nonce::from(*nonce), Payload { msg, aad })
        .expect("AES-GCM encryption")
}

/// The plaintext, or `None` if the tag fails.
pub fn aes_gcm_open(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Option<Vec<u8>> {
    Aes256Gcm::new(&(*key).into())
        .decrypt(&Nonce::from(*nonce), Payload { msg, aad })
        .ok()
}

// ---- Signed inputs ---------------------------------------------------------------------

/// `"ratchetkit/v1/signed-prekey" || be32(id) || public`.
pub fn signed_prekey_input(id: u32, public: &[u8; 32]) -> Vec<u8> {
    [SIGNED_PREKEY_CONTEXT, &id.to_be_bytes(), public].concat()
}

/// `"ratchetkit/v2/group-signature" || be32(len(header)) || header || ciphertext`.
pub fn group_signature_input(header: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let length = u32::try_from(header.len())
        .expect("a short header")
        .to_be_bytes();
    [GROUP_SIGNATURE_CONTEXT, &length, header, ciphertext].concat()
}

/// `"ratchetkit/v2/group-id" || founder || salt`: the group id is its SHA-256.
pub fn group_id_input(founder: &[u8], salt: &[u8]) -> Vec<u8> {
    [GROUP_ID_CONTEXT, founder, salt].concat()
}

/// The id of the group `founder` (its Ed25519 identity key) founded with `salt`.
pub fn group_id(founder: &[u8], salt: &[u8]) -> [u8; 32] {
    sha256(&group_id_input(founder, salt))
}

/// `"ratchetkit/v2/group-transfer" || group_id || be64(version) || new_owner`: what the
/// previous owner signs to hand the group to `new_owner` from roster `version` on.
pub fn owner_transfer_input(group_id: &[u8], version: u64, new_owner: &[u8]) -> Vec<u8> {
    [
        OWNER_TRANSFER_CONTEXT,
        group_id,
        &version.to_be_bytes(),
        new_owner,
    ]
    .concat()
}

// ---- X3DH ------------------------------------------------------------------------------

/// The secret keys of an X3DH start: the initiator's identity agreement key IK_A and
/// ephemeral key EK_A, the responder's identity agreement key IK_B, signed prekey SPK_B and
/// one-time prekey OPK_B, if the bundle had one.
pub struct X3dhSecrets {
    pub initiator_identity: [u8; 32],
    pub ephemeral: [u8; 32],
    pub responder_identity: [u8; 32],
    pub signed_prekey: [u8; 32],
    pub one_time_prekey: Option<[u8; 32]>,
}

impl X3dhSecrets {
    /// DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B), and with a
    /// one-time prekey DH4 = DH(EK_A, OPK_B), as the initiator computes them; the responder
    /// must compute the same from its side.
    pub fn dh_outputs(&self) -> Vec<[u8; 32]> {
        let ephemeral = x25519_public(&self.ephemeral);
        let signed_prekey = x25519_public(&self.signed_prekey);
        let mut initiator = vec![
            x25519(&self.initiator_identity, &signed_prekey),
            x25519(&self.ephemeral, &x25519_public(&self.responder_identity)),
            x25519(&self.ephemeral, &signed_prekey),
        ];
        let mut responder = vec![
            x25519(
                &self.signed_prekey,
                &x25519_public(&self.initiator_identity),
            ),
            x25519(&self.responder_identity, &ephemeral),
            x25519(&self.signed_prekey, &ephemeral),
        ];
        if let Some(one_time) = &self.one_time_prekey {
            initiator.push(x25519(&self.ephemeral, &x25519_public(one_time)));
            responder.push(x25519(one_time, &ephemeral));
        }
        assert_eq!(initiator, responder, "both sides of X3DH agree");
        initiator
    }
}

/// X3DH's input key material `32 × 0xff || DH1 || … ` and the shared secret SK =
/// HKDF-SHA256(salt = 32 zero bytes, ikm, info = x3dh info), 32 bytes.
pub fn x3dh_shared_secret(dh_outputs: &[[u8; 32]]) -> (Vec<u8>, [u8; 32]) {
    let ikm = [&[[0xff; 32]][..], dh_outputs].concat().concat();
    let shared_secret = hkdf::<32>(&[0; 32], &ikm, X3DH_INFO);
    (ikm, shared_secret)
}
