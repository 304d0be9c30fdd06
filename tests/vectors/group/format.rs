//! The format of `group-v1.json`, field by field in `tests/vectors/README.md`: what the
//! generator writes and the tests read.

use serde::{Deserialize, Serialize};

use crate::vectors::json::{ChainVector, IdentityVector};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupVectors {
    pub description: String,
    pub protocol: GroupProtocol,
    pub generator: GroupGenerator,
    pub group_id: String,
    /// alice, bob, carol.
    pub identities: Vec<IdentityVector>,
    /// The signed prekeys of the channels' responders (bob, carol) and their bundles.
    pub prekeys: Vec<PrekeyVector>,
    /// The channels, in the order created.
    pub channels: Vec<ChannelVector>,
    /// Every channel message sent, in the order sent.
    pub channel_messages: Vec<ChannelMessageVector>,
    /// Every roster the owner signed, in the order signed.
    pub rosters: Vec<RosterVector>,
    /// Every sender key (one per member and epoch), in the order made.
    pub sender_keys: Vec<SenderKeyVector>,
    /// Every group control message, in the order sent.
    pub controls: Vec<ControlVector>,
    /// Every group message, in the order sent.
    pub group_messages: Vec<GroupMessageVector>,
    /// What happened, in order.
    pub timeline: Vec<TimelineEvent>,
    /// Inputs that must be refused.
    pub rejected: Vec<RejectedVector>,
}

/// The protocol's constants.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupProtocol {
    pub channel_version: u32,
    pub group_version: u32,
    pub card_signature_context: String,
    pub self_signer: String,
    pub signed_prekey_signature_context: String,
    pub x3dh_info: String,
    pub root_info: String,
    pub message_info: String,
    pub group_message_info: String,
    pub group_signature_context: String,
    pub roster_signature_context: String,
    pub content_type_application: u32,
    pub content_type_group_control: u32,
}

/// How the file was made (informational: the vectors do not depend on it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupGenerator {
    pub command: String,
    pub rng: String,
    pub seed: String,
    pub craft_seed: String,
}

/// A responder's signed prekey and the bundle (without one-time prekey) it publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyVector {
    pub owner: String,
    pub id: u32,
    pub secret: String,
    pub public: String,
    pub signature_input: String,
    pub signature: String,
    pub bundle: String,
}

/// One channel: its X3DH start and its sending chains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelVector {
    pub index: usize,
    pub initiator: String,
    pub responder: String,
    pub signed_prekey_id: u32,
    pub ephemeral_secret: String,
    pub ephemeral_public: String,
    pub dh1: String,
    pub dh2: String,
    pub dh3: String,
    pub ikm: String,
    pub shared_secret: String,
    pub associated_data: String,
    pub prekey_info: String,
    /// Every sending chain of the channel, in the order started (as in channel-v1.json).
    pub chains: Vec<ChainVector>,
}

/// One channel message, with every key that went into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelMessageVector {
    /// Position in `channel_messages`; `null` for a made-up message of `rejected`.
    pub index: Option<usize>,
    pub channel: usize,
    pub sender: String,
    pub receiver: String,
    /// Index into the channel's `chains`.
    pub chain: usize,
    pub previous_chain_length: u32,
    pub message_number: u32,
    pub content_type: u32,
    pub chain_key: String,
    pub message_key: String,
    pub next_chain_key: String,
    pub aes_key: String,
    pub nonce: String,
    pub header: String,
    pub prekey_info: Option<String>,
    pub aad: String,
    pub plaintext: String,
    /// The control it carries (index into `controls`), for content type 1.
    pub control: Option<usize>,
    pub ciphertext: String,
    pub message: String,
}

/// A roster signed by the owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterVector {
    pub version: u64,
    /// The members, in roster order (the owner first).
    pub members: Vec<String>,
    /// The `Roster` bytes.
    pub content: String,
    pub signature_input: String,
    pub signature: String,
    /// The `SignedRoster` bytes.
    pub signed_roster: String,
}

/// One member's sender key for one epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SenderKeyVector {
    pub member: String,
    pub epoch: u32,
    /// The timeline step that made it.
    pub step: usize,
    /// The chain key of iteration 0 (the first draw).
    pub chain_key: String,
    /// The epoch's Ed25519 seed (the second draw).
    pub signing_seed: String,
    pub signing_public: String,
}

/// A `SenderKeyDistribution`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistributionVector {
    pub sender: String,
    pub epoch: u32,
    pub iteration: u32,
    /// The sender's chain key at `iteration`.
    pub chain_key: String,
    pub signing_public: String,
    pub bytes: String,
}

/// One `GroupControl`, sent as the plaintext of a channel message of content type 1.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlVector {
    pub index: usize,
    pub sender: String,
    pub receiver: String,
    pub roster_version: u64,
    /// The version of the roster it carries (see `rosters`), if any.
    pub roster: Option<u64>,
    pub sender_key: Option<DistributionVector>,
    pub leave: bool,
    pub bytes: String,
    /// The channel message that carries it (index into `channel_messages`).
    pub channel_message: usize,
}

/// One group message, with every key that went into it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupMessageVector {
    pub index: usize,
    pub sender: String,
    pub epoch: u32,
    pub iteration: u32,
    pub chain_key: String,
    pub message_key: String,
    pub next_chain_key: String,
    pub aes_key: String,
    pub nonce: String,
    pub header: String,
    pub plaintext: String,
    pub plaintext_utf8: String,
    pub ciphertext: String,
    pub signature_input: String,
    pub signature: String,
    pub message: String,
}

/// What a timeline event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// `Channel::create` of channel `channel` from its responder's bundle.
    ChannelCreate,
    /// `Channel::encrypt` of application data `channel_message`.
    ChannelSend,
    /// `Channel::join` from `channel_message`.
    ChannelJoin,
    /// `Channel::decrypt` of application data `channel_message`.
    ChannelReceive,
    /// `Group::create` with `members`; sends `sent`.
    GroupCreate,
    /// `Group::join` from control `control`, which came from `from`; sends `sent`.
    GroupJoin,
    /// `Group::receive` of control `control` from `from`; sends `sent`.
    GroupReceive,
    /// `Group::remove_member` of `member`; sends `sent`.
    RemoveMember,
    /// `Group::rekey`; sends `sent`.
    Rekey,
    /// `Group::encrypt` of `group_message`.
    Encrypt,
    /// `Group::decrypt` of `group_message`.
    Decrypt,
}

/// A group event, as `Group::join` and `Group::receive` report them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum EventVector {
    RosterChanged {
        version: u64,
        added: Vec<String>,
        removed: Vec<String>,
    },
    Removed {
        version: u64,
    },
    SenderKey {
        member: String,
        epoch: u32,
    },
    LeaveRequested {
        member: String,
    },
}

/// One step of the timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEvent {
    pub step: usize,
    pub party: String,
    pub action: Action,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_message: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub members: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_message: Option<usize>,
    /// The 32-byte values the call draws from its RNG, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub draws: Vec<String>,
    /// The controls the call sends (indices into `controls`), in the order returned.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sent: Vec<usize>,
    /// The group events the call reports, in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventVector>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What the party does with a rejected input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectedAction {
    /// `Group::decrypt` (a group message).
    Decrypt,
    /// `Group::receive` of a channel message from `from`.
    Receive,
    /// `Group::join` from a channel message from `from` (the party has no group yet).
    Join,
    /// `Channel::decrypt` on the party's channel with `from` (the application's call).
    ChannelDecrypt,
}

/// A group message re-signed by the generator: by whom, with which epoch's key.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignerVector {
    pub member: String,
    pub epoch: u32,
}

/// An input that must be refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RejectedVector {
    pub index: usize,
    /// Given right after this timeline step.
    pub after_step: usize,
    pub party: String,
    pub action: RejectedAction,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    pub input: String,
    /// The `ratchetkit::Error` variant.
    pub expected_error: String,
    pub description: String,
    /// The group message the input is (or was made from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_message: Option<usize>,
    /// The channel message the input is (or was made from).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel_message: Option<usize>,
    /// For a group message the generator signed: whose epoch key signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<SignerVector>,
    /// For a channel message the generator made up: all its keys (`index` null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crafted: Option<ChannelMessageVector>,
}
