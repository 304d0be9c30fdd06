//! The format of `group-v2.json`, field by field in `tests/vectors/README.md`: what the
//! generator writes and the tests read.

use serde::{Deserialize, Serialize};

use crate::vectors::json::{ChannelVector, IdentityVector};

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupVectors {
    pub description: String,
    pub protocol: GroupProtocol,
    pub generator: GroupGenerator,
    /// The group's id, and what it is derived from.
    pub group: GroupIdVector,
    /// alice, bob, carol.
    pub identities: Vec<IdentityVector>,
    /// The signed prekeys of the channels' responders (bob, carol) and their bundles.
    pub prekeys: Vec<PrekeyVector>,
    /// The channels, in the order created.
    pub channels: Vec<ChannelVector>,
    /// Every channel message sent, in the order sent.
    pub channel_messages: Vec<ChannelMessageVector>,
    /// Every change of owner, in the order signed.
    pub owner_transfers: Vec<TransferVector>,
    /// Every roster an owner signed, in the order signed.
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
    pub pqxdh_info: String,
    pub channel_id_context: String,
    pub prekey_info_context: String,
    pub root_info: String,
    pub message_info: String,
    pub group_message_info: String,
    pub group_signature_context: String,
    pub roster_signature_context: String,
    pub owner_transfer_context: String,
    pub group_id_context: String,
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

/// The group's id: SHA-256 of the context, the founder's identity key and its salt.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupIdVector {
    /// The member who founded the group.
    pub founder: String,
    /// The founder's Ed25519 identity key.
    pub founder_key: String,
    /// The 16 bytes `Group::create` drew (its first draw).
    pub salt: String,
    /// `"ratchetkit/v2/group-id" || founder_key || salt`.
    pub group_id_input: String,
    /// SHA-256(`group_id_input`).
    pub group_id: String,
}

/// A responder's signed prekey (an X25519 and an ML-KEM-768 key pair under one id) and the
/// bundle (without one-time prekey) it publishes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrekeyVector {
    pub owner: String,
    pub id: u32,
    pub secret: String,
    pub public: String,
    pub kem_seed: String,
    pub kem_public: String,
    pub signature_input: String,
    pub signature: String,
    pub bundle: String,
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
    /// The message's 16 random bytes: the HKDF salt of its AES key and nonce.
    pub salt: String,
    pub aes_key: String,
    pub nonce: String,
    pub header: String,
    pub prekey_info: Option<String>,
    pub aad: String,
    pub plaintext: String,
    /// What is encrypted: the plaintext padded (Padmé, every sender's setting here).
    pub padded_plaintext: String,
    /// The control it carries (index into `controls`), for content type 1.
    pub control: Option<usize>,
    pub ciphertext: String,
    pub message: String,
}

/// A previous owner's signed hand-over of the group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransferVector {
    pub index: usize,
    /// The roster version the new owner owns the group from.
    pub version: u64,
    /// The owner that signs it.
    pub previous_owner: String,
    pub new_owner: String,
    /// `"ratchetkit/v2/group-transfer" || group_id || be64(version) || new_owner's key`.
    pub signature_input: String,
    pub signature: String,
    /// The `OwnerTransfer` bytes.
    pub bytes: String,
}

/// One member of a roster.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterMemberVector {
    pub member: String,
    /// The roster version that (last) added the member.
    pub added_at: u64,
}

/// A roster signed by its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RosterVector {
    pub version: u64,
    /// The roster's owner, who signed it (the first member).
    pub owner: String,
    /// The members, in roster order (the owner first).
    pub members: Vec<RosterMemberVector>,
    /// Every change of owner so far (indices into `owner_transfers`), oldest first.
    pub transfers: Vec<usize>,
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
    pub resync: bool,
    /// The transfer an ownership offer carries (index into `owner_transfers`), if any.
    pub offer: Option<usize>,
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
    /// The message's 16-byte salt (the `encrypt` call's draw): the HKDF salt of its AES
    /// key and nonce, carried in the header.
    pub salt: String,
    pub aes_key: String,
    pub nonce: String,
    pub header: String,
    pub plaintext: String,
    pub plaintext_utf8: String,
    /// The plaintext padded as the sender pads it (Padmé): what is encrypted.
    pub padded_plaintext: String,
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
    /// `Group::resync`; sends `sent`.
    Resync,
    /// `Group::offer_ownership` to `member`; sends `sent`.
    OfferOwnership,
    /// `Group::accept_ownership`; sends `sent`, reports `events`.
    AcceptOwnership,
    /// `Group::leave`; sends `sent`.
    Leave,
    /// Control `control` never reaches `party`, its receiver (lost with an evicted
    /// channel key, say): nothing is called.
    Lost,
    /// `Group::encrypt` of `group_message`.
    Encrypt,
    /// `Group::decrypt` of `group_message`.
    Decrypt,
}

/// A group event, as the group calls report them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", deny_unknown_fields)]
pub enum EventVector {
    Joined {
        version: u64,
    },
    OwnerChanged {
        version: u64,
        owner: String,
    },
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
    ResyncRequested {
        member: String,
    },
    OwnershipOffered {
        owner: String,
        version: u64,
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
    /// The values the call draws from its RNG, in order: 32 bytes each, but a group's salt
    /// and a group message's salt (16 bytes).
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
    /// For `BadSignature`, what the bad signature is of: `group message`, `roster` or
    /// `owner transfer` (the error's `what`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature_of: Option<String>,
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
