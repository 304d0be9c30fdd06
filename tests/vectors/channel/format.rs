//! The format of `channel-v1.json`, field by field in `tests/vectors/README.md`: what the
//! generator writes and the tests read.

use serde::{Deserialize, Serialize};

use crate::vectors::json::{ChainVector, IdentityVector};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vectors {
    pub description: String,
    pub protocol: Protocol,
    pub generator: Generator,
    /// Alice (the channel's creator, "A"), then Bob (the responder, "B").
    pub identities: Vec<IdentityVector>,
    pub prekeys: PrekeyVectors,
    pub x3dh: X3dhVector,
    /// Every sending chain, in the order they were started.
    pub chains: Vec<ChainVector>,
    /// Every message, in the order they were sent.
    pub messages: Vec<MessageVector>,
    /// Sends and deliveries, in the order they happened.
    pub timeline: Vec<Event>,
    /// Inputs a side must refuse, each with the error it gives and at which point.
    pub rejected: Vec<RejectedVector>,
}

/// The constant strings of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub version: u32,
    pub card_signature_context: String,
    pub signed_prekey_signature_context: String,
    pub self_signer: String,
    pub x3dh_info: String,
    pub root_info: String,
    pub message_info: String,
}

/// How the file was made (informational: the vectors do not depend on it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    pub command: String,
    pub rng: String,
    pub seed: String,
}

/// Bob's prekeys and the bundle Alice starts the channel from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyVectors {
    pub owner: String,
    pub signed_prekey: SignedPrekeyVector,
    pub one_time_prekeys: Vec<OneTimePrekeyVector>,
    pub bundle_one_time_prekey_id: u32,
    pub bundle: String,
}

/// The signed prekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedPrekeyVector {
    pub id: u32,
    pub secret: String,
    pub public: String,
    pub signature_input: String,
    pub signature: String,
}

/// One one-time prekey.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OneTimePrekeyVector {
    pub id: u32,
    pub secret: String,
    pub public: String,
}

/// The X3DH start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct X3dhVector {
    pub initiator: String,
    pub responder: String,
    pub ephemeral_secret: String,
    pub ephemeral_public: String,
    pub signed_prekey_id: u32,
    pub one_time_prekey_id: u32,
    pub dh1: String,
    pub dh2: String,
    pub dh3: String,
    pub dh4: String,
    pub ikm: String,
    pub shared_secret: String,
    pub associated_data: String,
    pub prekey_info: String,
}

/// One message, with every key that went into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageVector {
    pub index: usize,
    pub sender: String,
    pub receiver: String,
    pub chain: usize,
    pub ratchet_secret: String,
    pub ratchet_public: String,
    pub previous_chain_length: u32,
    pub message_number: u32,
    pub root_key: String,
    pub chain_key: String,
    pub message_key: String,
    pub next_chain_key: String,
    pub aes_key: String,
    pub nonce: String,
    pub header: String,
    pub prekey_info: Option<String>,
    pub aad: String,
    pub plaintext: String,
    pub plaintext_utf8: String,
    pub ciphertext: String,
    pub message: String,
}

/// What happened at one step of the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// `party` encrypted message `message`.
    Send,
    /// Bob started his side of the channel from message `message` (`Channel::join`).
    Join,
    /// `party` decrypted message `message` (`Channel::decrypt`).
    Receive,
}

/// One step of the conversation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub step: usize,
    pub party: String,
    pub action: Action,
    pub message: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a side does with a rejected input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RejectedAction {
    /// `Channel::decrypt` on the party's side of the channel.
    Decrypt,
    /// `Channel::join` with the party's identity and prekey store.
    Join,
}

/// An input that must be refused: given to `party` right after timeline step `after_step`,
/// it fails with `expected_error` and changes nothing.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedVector {
    pub index: usize,
    pub after_step: usize,
    pub party: String,
    pub action: RejectedAction,
    /// The listed message the input was made from.
    pub message: usize,
    pub input: String,
    /// The name of the `ratchetkit::Error` variant.
    pub expected_error: String,
    pub description: String,
}
