//! What the two vector files share: how they are written (pretty-printed JSON, every byte
//! string lowercase hex), how an error is named in `expected_error`, and the entries both
//! list: identities and the sending chains of a channel.

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

/// One sending chain of a channel: the DH ratchet step that started it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChainVector {
    pub index: usize,
    pub sender: String,
    pub ratchet_secret: String,
    pub ratchet_public: String,
    pub peer_ratchet_public: String,
    pub dh_output: String,
    pub root_key_before: String,
    pub root_key: String,
    pub chain_key: String,
}
