//! The protocol's cryptography, written from `docs/PROTOCOL.md` on the primitive crates alone
//! (x25519-dalek, ed25519-dalek, libcrux-ml-kem, hkdf, hmac, sha2, aes-gcm), never through
//! ratchetkit.
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
use libcrux_ml_kem::mlkem768;
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

// Cards are at version 2 of their contexts, prefix-free (`ratchetkit/v1/card` was a prefix of
// the app and rotation contexts).
pub const CARD_CONTEXT: &[u8] = b"ratchetkit/v2/card-self";
pub const SELF_SIGNER: &str = "self";

// Channels are at protocol version 2 (the hybrid start, authenticated prekey information,
// message salts and padding); the root step kept version 1's info string.
pub const PROTOCOL_VERSION: u32 = 2;
pub const SIGNED_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v2/signed-prekey";
pub const ONE_TIME_PREKEY_CONTEXT: &[u8] = b"ratchetkit/v2/one-time-prekey";
pub const PQXDH_INFO: &[u8] = b"ratchetkit/v2/pqxdh";
pub const PREKEY_INFO_CONTEXT: &[u8] = b"ratchetkit/v2/prekey-info";
pub const CHANNEL_ID_CONTEXT: &[u8] = b"ratchetkit/v2/channel-id";
pub const ROOT_INFO: &[u8] = b"ratchetkit/v1/root";
pub const MESSAGE_INFO: &[u8] = b"ratchetkit/v2/message";

/// ML-KEM-768 (FIPS 203): encapsulation key, ciphertext and seed lengths.
pub const KEM_PUBLIC_KEY_LEN: usize = 1184;
pub const KEM_CIPHERTEXT_LEN: usize = 1088;
pub const KEM_SEED_LEN: usize = 64;

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

/// `"ratchetkit/v2/signed-prekey" || be32(id) || X25519 key || ML-KEM-768 key`.
pub fn signed_prekey_input(id: u32, public: &[u8; 32], kem_public: &[u8]) -> Vec<u8> {
    [SIGNED_PREKEY_CONTEXT, &id.to_be_bytes(), public, kem_public].concat()
}

/// `"ratchetkit/v2/one-time-prekey" || be32(id) || X25519 key || ML-KEM-768 key`.
pub fn one_time_prekey_input(id: u32, public: &[u8; 32], kem_public: &[u8]) -> Vec<u8> {
    [
        ONE_TIME_PREKEY_CONTEXT,
        &id.to_be_bytes(),
        public,
        kem_public,
    ]
    .concat()
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

// ---- ML-KEM-768 ------------------------------------------------------------------------

/// The encapsulation key of the key pair `ML-KEM.KeyGen_internal(d, z)` makes from the
/// 64-byte seed `d || z`; it passes FIPS 203's modulus check.
pub fn mlkem_public(seed: &[u8; KEM_SEED_LEN]) -> Vec<u8> {
    let public = mlkem768::generate_key_pair(*seed).pk().to_vec();
    assert!(mlkem_public_key_valid(&public), "a generated key is valid");
    public
}

/// FIPS 203's input check of an encapsulation key (section 7.2): 1,184 bytes, and every
/// 12-bit coefficient below q.
pub fn mlkem_public_key_valid(public: &[u8]) -> bool {
    <&[u8; KEM_PUBLIC_KEY_LEN]>::try_from(public).is_ok_and(|public| {
        mlkem768::validate_public_key(&mlkem768::MlKem768PublicKey::from(public))
    })
}

/// `ML-KEM.Encaps_internal(ek, m)`: (ciphertext, shared secret).
pub fn mlkem_encapsulate(public: &[u8], m: &[u8; 32]) -> (Vec<u8>, [u8; 32]) {
    let public: &[u8; KEM_PUBLIC_KEY_LEN] = public.try_into().expect("a 1,184-byte key");
    let (ciphertext, shared) =
        mlkem768::encapsulate(&mlkem768::MlKem768PublicKey::from(public), *m);
    (ciphertext.as_slice().to_vec(), shared)
}

/// `ML-KEM.Decaps(dk, c)` with the key pair of `seed`: the shared secret, or for a changed
/// ciphertext the implicit rejection's unrelated secret.
pub fn mlkem_decapsulate(seed: &[u8; KEM_SEED_LEN], ciphertext: &[u8]) -> [u8; 32] {
    let ciphertext: &[u8; KEM_CIPHERTEXT_LEN] =
        ciphertext.try_into().expect("a 1,088-byte ciphertext");
    mlkem768::decapsulate(
        mlkem768::generate_key_pair(*seed).private_key(),
        &mlkem768::MlKem768Ciphertext::from(ciphertext),
    )
}

// ---- The hybrid start (PQXDH-style) ----------------------------------------------------

/// The secrets of a channel's start: the initiator's identity agreement key IK_A and
/// ephemeral key EK_A, the responder's identity agreement key IK_B, signed prekey SPK_B
/// and one-time prekey OPK_B, if the bundle had one.
pub struct StartSecrets {
    pub initiator_identity: [u8; 32],
    pub ephemeral: [u8; 32],
    pub responder_identity: [u8; 32],
    pub signed_prekey: [u8; 32],
    pub one_time_prekey: Option<[u8; 32]>,
}

impl StartSecrets {
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
        if let Some(one_time) = &self.one_time_prekey {
            initiator.push(x25519(&self.ephemeral, &x25519_public(one_time)));
        }
        let responder = ResponderSecrets {
            identity: self.responder_identity,
            signed_prekey: self.signed_prekey,
            one_time_prekey: self.one_time_prekey,
        }
        .dh_outputs(&x25519_public(&self.initiator_identity), &ephemeral);
        assert_eq!(initiator, responder, "both sides of the start agree");
        initiator
    }
}

/// The responder's secrets of a start: its identity agreement key IK_B, the signed prekey
/// SPK_B and the one-time prekey OPK_B a first message names.
pub struct ResponderSecrets {
    pub identity: [u8; 32],
    pub signed_prekey: [u8; 32],
    pub one_time_prekey: Option<[u8; 32]>,
}

impl ResponderSecrets {
    /// The responder's side of the agreements with the initiator's identity key
    /// `initiator` and ephemeral key `ephemeral`: DH1 = DH(SPK_B, IK_A), DH2 = DH(IK_B,
    /// EK_A), DH3 = DH(SPK_B, EK_A) and with a one-time prekey DH4 = DH(OPK_B, EK_A).
    pub fn dh_outputs(&self, initiator: &[u8; 32], ephemeral: &[u8; 32]) -> Vec<[u8; 32]> {
        let mut outputs = vec![
            x25519(&self.signed_prekey, initiator),
            x25519(&self.identity, ephemeral),
            x25519(&self.signed_prekey, ephemeral),
        ];
        if let Some(one_time) = &self.one_time_prekey {
            outputs.push(x25519(one_time, ephemeral));
        }
        outputs
    }
}

/// The start's input key material `32 × 0xff || DH1 || … || SS` and its output
/// HKDF-SHA256(salt = 32 zero bytes, ikm, info = pqxdh info), 64 bytes: the first root key
/// RK and the initiator's first chain key CK.
pub fn pqxdh_keys(dh_outputs: &[[u8; 32]], kem_secret: &[u8; 32]) -> (Vec<u8>, [u8; 32], [u8; 32]) {
    let ikm = [&[[0xff; 32]][..], dh_outputs, &[*kem_secret]]
        .concat()
        .concat();
    let (root_key, chain_key) = split(&hkdf::<64>(&[0; 32], &ikm, PQXDH_INFO));
    (ikm, root_key, chain_key)
}

/// A channel's associated data: Ed25519 IK_A || X25519 IK_A || Ed25519 IK_B || X25519 IK_B.
pub fn channel_associated_data(initiator: [&[u8]; 2], responder: [&[u8]; 2]) -> Vec<u8> {
    [initiator[0], initiator[1], responder[0], responder[1]].concat()
}

/// A channel's id: SHA-256("ratchetkit/v2/channel-id" || AD || EK_A).
pub fn channel_id(associated_data: &[u8], ephemeral_public: &[u8; 32]) -> [u8; 32] {
    sha256(&[CHANNEL_ID_CONTEXT, associated_data, ephemeral_public].concat())
}

/// H = SHA-256("ratchetkit/v2/prekey-info" || PrekeyInfo bytes).
pub fn prekey_info_hash(prekey_info: &[u8]) -> [u8; 32] {
    sha256(&[PREKEY_INFO_CONTEXT, prekey_info].concat())
}

/// The associated data of a channel message: AD || 0x00 || header without prekey
/// information, AD || 0x01 || H || header with it (`prekey_info`, its bytes as carried).
pub fn message_associated_data(
    associated_data: &[u8],
    prekey_info: Option<&[u8]>,
    header: &[u8],
) -> Vec<u8> {
    match prekey_info {
        None => [associated_data, &[0x00], header].concat(),
        Some(info) => [associated_data, &[0x01], &prekey_info_hash(info), header].concat(),
    }
}

// ---- Message salts and padding ---------------------------------------------------------

/// `MESSAGE_SALT_LEN`: the random salt a message carries in its header.
pub const MESSAGE_SALT_LEN: usize = 16;

/// `MIN_PADDED_LEN`: the shortest padded plaintext.
pub const MIN_PADDED_LEN: usize = 32;

/// The AES-256-GCM key and nonce of a message key under the message's own salt:
/// HKDF-SHA256(salt = the header's 16-byte salt, ikm = message key, `info`), 44 bytes
/// (`docs/PROTOCOL.md`, "Padding and message salts").
pub fn salted_message_aead(
    message_key: &[u8; 32],
    salt: &[u8; MESSAGE_SALT_LEN],
    info: &[u8],
) -> ([u8; 32], [u8; 12]) {
    split(&hkdf::<44>(salt, message_key, info))
}

/// Padmé (Nikitin et al. 2019) of a length `l >= 2`: with E = floor(log2 l) and
/// S = floor(log2 E) + 1, `l` rounded up to a multiple of 2^(E − S).
pub fn padme(l: usize) -> usize {
    assert!(l >= 2, "Padmé is defined from 2 bytes");
    let e = l.ilog2();
    let s = e.ilog2() + 1;
    let multiple = 1usize << (e - s);
    l.div_ceil(multiple) * multiple
}

/// A plaintext padded as a sender with the default setting pads it:
/// `plaintext || 0x80 || 0x00 ...`, in all `MIN_PADDED_LEN` bytes when `len + 1` is at
/// most that, else Padmé(`len + 1`) bytes.
pub fn padded(plaintext: &[u8]) -> Vec<u8> {
    let marked = plaintext.len() + 1;
    let len = if marked <= MIN_PADDED_LEN {
        MIN_PADDED_LEN
    } else {
        padme(marked)
    };
    let mut padded = [plaintext, &[0x80]].concat();
    padded.resize(len, 0);
    padded
}

/// A plaintext padded as a sender with the minimal setting pads it: `plaintext || 0x80`.
pub fn padded_minimally(plaintext: &[u8]) -> Vec<u8> {
    [plaintext, &[0x80]].concat()
}

/// A padded plaintext without its padding: the zeros at the end, and the 0x80 before them;
/// `None` when the last nonzero byte is not 0x80 (or there is none).
pub fn unpadded(padded: &[u8]) -> Option<Vec<u8>> {
    let end = padded.len() - padded.iter().rev().take_while(|&&b| b == 0).count();
    match end.checked_sub(1) {
        Some(marker) if padded[marker] == 0x80 => Some(padded[..marker].to_vec()),
        _ => None,
    }
}
