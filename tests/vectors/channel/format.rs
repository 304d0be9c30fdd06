//! The format of `channel-v2.json`, field by field in `tests/vectors/README.md`: what the
//! generator writes and the tests read.

use serde::{Deserialize, Serialize};

use crate::vectors::json::{ChannelVector, IdentityVector, PrekeyVector};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vectors {
    pub description: String,
    pub protocol: Protocol,
    pub generator: Generator,
    /// Alice and carol (the channels' creators), and bob (the responder of both).
    pub identities: Vec<IdentityVector>,
    pub prekeys: PrekeyVectors,
    /// The two channels, each with its start and its sending chains.
    pub channels: Vec<ChannelVector>,
    /// Every message, in the order they were sent.
    pub messages: Vec<MessageVector>,
    /// Creations, sends, deliveries and padding changes, in the order they happened.
    pub timeline: Vec<Event>,
    /// Inputs a side must refuse, each with the error it gives and at which point.
    pub rejected: Vec<RejectedVector>,
}

/// The constants of the protocol.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Protocol {
    pub version: u32,
    pub card_signature_context: String,
    pub self_signer: String,
    pub signed_prekey_signature_context: String,
    pub one_time_prekey_signature_context: String,
    pub pqxdh_info: String,
    pub channel_id_context: String,
    pub prekey_info_context: String,
    pub root_info: String,
    pub message_info: String,
    pub message_salt_len: usize,
    pub min_padded_len: usize,
}

/// How the file was made (informational: the vectors do not depend on it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generator {
    pub command: String,
    pub rng: String,
    pub seed: String,
}

/// Bob's prekeys and the bundles the channels start from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyVectors {
    pub owner: String,
    pub signed_prekey: PrekeyVector,
    pub one_time_prekeys: Vec<PrekeyVector>,
    pub bundles: Vec<BundleVector>,
}

/// A bundle of bob's: the signed prekey, and a one-time prekey or none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BundleVector {
    pub one_time_prekey_id: Option<u32>,
    pub bundle: String,
}

/// One message, with every key that went into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageVector {
    pub index: usize,
    pub channel: usize,
    pub sender: String,
    pub receiver: String,
    /// Index into the channel's chains.
    pub chain: usize,
    pub ratchet_secret: String,
    pub ratchet_public: String,
    pub previous_chain_length: u32,
    pub message_number: u32,
    pub root_key: String,
    pub chain_key: String,
    pub message_key: String,
    pub next_chain_key: String,
    /// The message's 16 random bytes (the `send` call's last draw).
    pub salt: String,
    pub aes_key: String,
    pub nonce: String,
    pub header: String,
    pub prekey_info: Option<String>,
    pub aad: String,
    pub plaintext: String,
    pub plaintext_utf8: String,
    /// What is encrypted: the plaintext padded as its sender pads.
    pub padded_plaintext: String,
    pub ciphertext: String,
    pub message: String,
}

/// What happened at one step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `party` created channel `channel` from a bundle (`Channel::create`).
    Create,
    /// `party` encrypted message `message`.
    Send,
    /// Bob started his side of a channel from message `message` (`Channel::join`).
    Join,
    /// `party` decrypted message `message` (`Channel::decrypt`).
    Receive,
    /// `party` pads what it sends on channel `channel` as `padding` says from now on
    /// (`Channel::set_padding`).
    SetPadding,
}

/// How a side pads: `padme` (the default) or `minimal`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingName {
    Padme,
    Minimal,
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    pub step: usize,
    pub party: String,
    pub action: Action,
    pub channel: usize,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bundle: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub padding: Option<PaddingName>,
    /// The values the call drew, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draws: Vec<String>,
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
    pub channel: usize,
    /// The listed message the input was made from.
    pub message: usize,
    pub input: String,
    /// The name of the `ratchetkit::Error` variant.
    pub expected_error: String,
    pub description: String,
}
