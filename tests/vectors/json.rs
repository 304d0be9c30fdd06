//! What the two vector files share: how they are written (pretty-printed JSON, every byte
//! string lowercase hex), how an error is named in `expected_error`, and the entries both
//! list: identities, prekeys, and channels with their starts and sending chains.

use serde::{Deserialize, Serialize};

/// A file's text: pretty-printed JSON with a final newline.
pub fn to_json(vectors: &impl Serialize) -> String {
    let mut json = serde_json::to_string_pretty(vectors).expect("JSON");
    json.push('\n');
    json
}

/// Lowercase hex to bytes, refusing anything else (the files are lowercase hex throughout).
pub fn bytes(hex_text: &str) -> Vec<u8> {
    assert_eq!(
        hex_text,
        hex_text.to_ascii_lowercase(),
        "hex in the file is lowercase"
    );
    hex::decode(hex_text).unwrap_or_else(|error| panic!("bad hex {hex_text:?}: {error}"))
}

/// Lowercase hex to exactly `N` bytes.
pub fn array<const N: usize>(hex_text: &str) -> [u8; N] {
    let value = bytes(hex_text);
    value
        .as_slice()
        .try_into()
        .unwrap_or_else(|_| panic!("{hex_text} is {} bytes, not {N}", value.len()))
}

/// A protocol string (ASCII) as the files list it.
pub fn text(bytes: &[u8]) -> String {
    std::str::from_utf8(bytes)
        .expect("protocol strings are ASCII")
        .to_owned()
}

/// The name of an error's variant (of a `ratchetkit::Error`), as `expected_error` gives it.
pub fn error_name(error: &impl std::fmt::Debug) -> String {
    format!("{error:?}")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// One identity: its private keys, public keys and card.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityVector {
    pub name: String,
    pub created_at: u64,
    pub signing_seed: String,
    pub signing_public: String,
    pub agreement_secret: String,
    pub agreement_public: String,
    pub card_content: String,
    pub card_signature_input: String,
    pub card_signature: String,
    pub card: String,
    pub fingerprint: String,
}

/// One sending chain of a channel: the DH ratchet step that started it, or for the
/// initiator's first chain (index 0) the start itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainVector {
    pub index: usize,
    pub sender: String,
    /// The chain's ratchet key pair: for chain 0, the initiator's ephemeral key EK_A.
    pub ratchet_secret: String,
    pub ratchet_public: String,
    /// The DH ratchet step: `null` for chain 0, which no step starts.
    pub peer_ratchet_public: Option<String>,
    pub dh_output: Option<String>,
    pub root_key_before: Option<String>,
    /// After the step (for chain 0: the start's RK and CK).
    pub root_key: String,
    pub chain_key: String,
}

/// A prekey with its private keys and signature: an X25519 key pair and an ML-KEM-768 key
/// pair under one id, signed by the owner's identity key.
#[allow(dead_code)] // The group vectors list their prekeys with their owners and bundles.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyVector {
    pub id: u32,
    pub secret: String,
    pub public: String,
    /// The ML-KEM-768 seed `d || z` (64 bytes) and the encapsulation key it gives.
    pub kem_seed: String,
    pub kem_public: String,
    pub signature_input: String,
    pub signature: String,
}

/// One channel: its hybrid start, and its sending chains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelVector {
    pub index: usize,
    pub initiator: String,
    pub responder: String,
    pub signed_prekey_id: u32,
    /// The bundle's one-time prekey, if it had one.
    pub one_time_prekey_id: Option<u32>,
    /// The initiator's ephemeral key pair EK_A (`Channel::create`'s first draw).
    pub ephemeral_secret: String,
    pub ephemeral_public: String,
    pub dh1: String,
    pub dh2: String,
    pub dh3: String,
    /// Only with a one-time prekey.
    pub dh4: Option<String>,
    /// The 32 random bytes `m` of the ML-KEM encapsulation (`Channel::create`'s second
    /// draw), the ciphertext and the shared secret.
    pub kem_randomness: String,
    pub kem_ciphertext: String,
    pub kem_shared_secret: String,
    pub ikm: String,
    /// The start's output: the first root key RK and the initiator's first chain key CK.
    pub root_key: String,
    pub chain_key: String,
    pub associated_data: String,
    pub channel_id: String,
    pub prekey_info: String,
    pub prekey_info_hash: String,
    /// Every sending chain of the channel, in the order started.
    pub chains: Vec<ChainVector>,
}
