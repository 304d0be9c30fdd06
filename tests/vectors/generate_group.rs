//! The generator of `tests/vectors/group-v1.json`, shared by the example that writes the file
//! and the test that checks it:
//!
//! - `examples/generate_vectors.rs` prints [`to_json`]:
//!   `cargo run --example generate_vectors -- group > tests/vectors/group-v1.json`;
//! - `tests/group_vectors.rs` checks that the committed file equals [`to_json`], and
//!   deserializes it with the types below.
//!
//! # How the vectors are made
//!
//! The generator drives ratchetkit's public API (identities, prekey stores, channels and
//! `Group::create`, `join`, `receive`, `remove_member`, `rekey`, `encrypt`, `decrypt`) with a
//! `ChaCha20Rng` seeded with [`SEED`], wrapped in the [`RecordingRng`] of the channel
//! vectors. Every random value ratchetkit uses is one 32-byte `fill_bytes` draw; the draws
//! are the private keys listed in the file, and each timeline event lists the draws it
//! made, in order.
//!
//! Alongside the library runs a model of the protocol on the primitive crates: the Double
//! Ratchet of each channel (as in `generate.rs`), each member's sender keys, the rosters and
//! the group control each operation must send. The model computes every message itself and
//! checks that the library's bytes are the same, byte for byte; the group events the library
//! reports must be the ones the model expects. Any disagreement panics.
//!
//! Rejected inputs are given to the library at their point of the timeline: each must fail
//! with the expected `ratchetkit::Error` variant and leave the party's group, channels and
//! prekey store byte for byte as they were. Inputs that are new channel messages (group
//! control the generator makes up) are encrypted by the model on the sender's open sending
//! chain, and listed with all their keys. Forged sender keys in them come from a second
//! `ChaCha20Rng` seeded with [`CRAFT_SEED`].

use std::collections::BTreeMap;

use ed25519_dalek::{Signer, SigningKey};
use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use ratchetkit::group::Outgoing;
use ratchetkit::wire::v1;
use ratchetkit::{
    Channel, Error, Group, GroupEvent, Identity, PrekeyBundle, PrekeyStore, CARD_SIGNATURE_CONTEXT,
    GROUP_MESSAGE_INFO, GROUP_SIGNATURE_CONTEXT, GROUP_VERSION, MESSAGE_INFO, PROTOCOL_VERSION,
    ROOT_INFO, ROSTER_SIGNATURE_CONTEXT, SELF_SIGNER, SIGNED_PREKEY_CONTEXT, X3DH_INFO,
};
use serde::{Deserialize, Serialize};

use crate::generate::{
    error_kind, hkdf, identity_vector, kdf_ck, kdf_rk, message_aead, seal, text, x25519,
    x25519_public, ChainVector, IdentityVector, RecordingRng,
};

/// Seed of the `ChaCha20Rng` every private key is drawn from (32 ASCII bytes).
pub const SEED: [u8; 32] = *b"ratchetkit/v1/group-vectors/seed";

/// Seed of the `ChaCha20Rng` the forged keys inside rejected inputs come from.
pub const CRAFT_SEED: [u8; 32] = *b"ratchetkit/v1/group-vectors/fake";

/// The group's id (32 ASCII bytes).
pub const GROUP_ID: [u8; 32] = *b"ratchetkit/v1/group-vectors/id01";

/// Another group's id, for inputs that belong elsewhere.
pub const OTHER_GROUP_ID: [u8; 32] = *b"ratchetkit/v1/group-vectors/id02";

/// The members, by index: alice owns the group.
pub const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;

/// The members' card creation times.
pub const CREATED_AT: [u64; 3] = [1_700_000_000, 1_700_000_100, 1_700_000_200];

/// `RatchetHeader.content_type` of application data and of group control.
pub const CONTENT_APPLICATION: u32 = 0;
pub const CONTENT_GROUP_CONTROL: u32 = 1;

const DESCRIPTION: &str = "Interop test vectors of ratchetkit protocol version 1, groups: \
three identities (alice, the owner, bob and carol), the three one-to-one channels between \
them, and a group of the three on sender keys: its creation (alice's welcome, bob's and carol's \
sender-key distributions over the channels), messages from every member (one delivered out of \
order), the removal of carol (a new roster, and new epoch keys from alice and bob), messages \
after it (one sent under an old epoch and read after the change), a rekey by bob and messages \
after that. Every private key is listed, and every derived value: cards, prekeys, X3DH, each \
channel's ratchet chains and messages (group control travels as channel messages of content \
type 1), rosters and their signatures, sender keys, every GroupControl, and for every group \
message its chain key, message key, AES key and nonce, header, signature input, signature and \
bytes. Then rejected inputs: each given to a named party at a named point of the timeline, \
with the error it must give and nothing changed. All byte strings are lowercase hex. Field by \
field documentation: tests/vectors/README.md. Regenerate with `cargo run --example \
generate_vectors -- group > tests/vectors/group-v1.json`.";

// ---------------------------------------------------------------------------------------
// The file format.
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The model's primitives.
// ---------------------------------------------------------------------------------------

/// The AES-256-GCM key and nonce of a group message key.
pub fn group_message_aead(message_key: &[u8; 32]) -> ([u8; 32], [u8; 12]) {
    let okm = hkdf::<44>(&[0; 32], message_key, GROUP_MESSAGE_INFO);
    let mut key = [0; 32];
    let mut nonce = [0; 12];
    key.copy_from_slice(&okm[..32]);
    nonce.copy_from_slice(&okm[32..]);
    (key, nonce)
}

fn ed25519_public(seed: &[u8; 32]) -> [u8; 32] {
    SigningKey::from_bytes(seed).verifying_key().to_bytes()
}

fn ed25519_sign(seed: &[u8; 32], message: &[u8]) -> [u8; 64] {
    SigningKey::from_bytes(seed).sign(message).to_bytes()
}

/// `"ratchetkit/v1/group-signature" || be32(len(header)) || header || ciphertext`.
pub fn group_signature_input(header: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    let length = u32::try_from(header.len()).expect("short header");
    [
        GROUP_SIGNATURE_CONTEXT,
        &length.to_be_bytes(),
        header,
        ciphertext,
    ]
    .concat()
}

fn name(party: usize) -> String {
    NAMES[party].into()
}

fn draw(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut value = [0; 32];
    rng.fill_bytes(&mut value);
    value
}

// ---------------------------------------------------------------------------------------
// The model.
// ---------------------------------------------------------------------------------------

/// One side of a channel's Double Ratchet, as the model tracks it.
#[derive(Clone)]
struct Side {
    root_key: [u8; 32],
    ratchet_secret: [u8; 32],
    peer_ratchet_key: Option<[u8; 32]>,
    received_keys: Vec<[u8; 32]>,
    /// (chain index, chain key, next message number).
    sending: Option<(usize, [u8; 32], u32)>,
    previous_chain_length: u32,
}

impl Side {
    fn new(root_key: [u8; 32], ratchet_secret: [u8; 32], peer: Option<[u8; 32]>) -> Self {
        Self {
            root_key,
            ratchet_secret,
            peer_ratchet_key: peer,
            received_keys: Vec::new(),
            sending: None,
            previous_chain_length: 0,
        }
    }
}

/// One channel as the model tracks it.
struct ChannelModel {
    initiator: usize,
    responder: usize,
    associated_data: Vec<u8>,
    prekey_info: v1::PrekeyInfo,
    initiator_has_decrypted: bool,
    /// The initiator's side, then the responder's.
    sides: [Side; 2],
    vector: ChannelVector,
}

impl ChannelModel {
    fn side(&self, party: usize) -> usize {
        if party == self.initiator {
            0
        } else {
            assert_eq!(party, self.responder, "not a side of this channel");
            1
        }
    }

    fn peer(&self, party: usize) -> usize {
        if party == self.initiator {
            self.responder
        } else {
            self.initiator
        }
    }

    /// Whether `party`'s next message starts a new sending chain (and draws a ratchet key).
    fn needs_new_chain(&self, party: usize) -> bool {
        self.sides[self.side(party)].sending.is_none()
    }

    /// A DH ratchet step on `party`'s sending side with the fresh ratchet `secret`.
    fn start_chain(&self, side: &mut Side, party: usize, secret: [u8; 32]) -> ChainVector {
        let peer = side
            .peer_ratchet_key
            .expect("a side starts a sending chain only once it knows a peer ratchet key");
        let dh_output = x25519(&secret, &peer);
        let (root_key, chain_key) = kdf_rk(&side.root_key, &dh_output);
        let chain = ChainVector {
            index: self.vector.chains.len(),
            sender: name(party),
            ratchet_secret: hex::encode(secret),
            ratchet_public: hex::encode(x25519_public(&secret)),
            peer_ratchet_public: hex::encode(peer),
            dh_output: hex::encode(dh_output),
            root_key_before: hex::encode(side.root_key),
            root_key: hex::encode(root_key),
            chain_key: hex::encode(chain_key),
        };
        side.root_key = root_key;
        side.ratchet_secret = secret;
        side.sending = Some((chain.index, chain_key, 0));
        chain
    }

    /// The next message from `party`: a new sending chain first if one is due (with
    /// `secret`, which must then be given). With `commit`, the model moves on.
    fn send(
        &mut self,
        channel: usize,
        party: usize,
        content_type: u32,
        plaintext: &[u8],
        secret: Option<[u8; 32]>,
        commit: bool,
    ) -> ChannelMessageVector {
        let index = self.side(party);
        let mut side = self.sides[index].clone();
        let mut new_chain = None;
        if side.sending.is_none() {
            let secret = secret.expect("a new sending chain needs a ratchet secret");
            new_chain = Some(self.start_chain(&mut side, party, secret));
        } else {
            assert!(secret.is_none(), "a running chain draws no ratchet key");
        }
        let (chain, chain_key, number) = side.sending.expect("a sending chain");
        let (message_key, next_chain_key) = kdf_ck(&chain_key);
        side.sending = Some((chain, next_chain_key, number + 1));
        let (aes_key, nonce) = message_aead(&message_key);
        let header = v1::RatchetHeader {
            ratchet_key: x25519_public(&side.ratchet_secret).to_vec(),
            previous_chain_length: side.previous_chain_length,
            message_number: number,
            content_type,
        }
        .encode_to_vec();
        let prekey = (party == self.initiator && !self.initiator_has_decrypted)
            .then(|| self.prekey_info.clone());
        let aad = [self.associated_data.as_slice(), &header].concat();
        let ciphertext = seal(&aes_key, &nonce, &aad, plaintext);
        let message = v1::ChannelMessage {
            version: PROTOCOL_VERSION,
            header: header.clone(),
            ciphertext: ciphertext.clone(),
            prekey: prekey.clone(),
        }
        .encode_to_vec();
        if commit {
            self.sides[index] = side;
            self.vector.chains.extend(new_chain);
        }
        ChannelMessageVector {
            index: None,
            channel,
            sender: name(party),
            receiver: name(self.peer(party)),
            chain,
            previous_chain_length: self.sides[index].previous_chain_length,
            message_number: number,
            content_type,
            chain_key: hex::encode(chain_key),
            message_key: hex::encode(message_key),
            next_chain_key: hex::encode(next_chain_key),
            aes_key: hex::encode(aes_key),
            nonce: hex::encode(nonce),
            header: hex::encode(&header),
            prekey_info: prekey.map(|info| hex::encode(info.encode_to_vec())),
            aad: hex::encode(&aad),
            plaintext: hex::encode(plaintext),
            control: None,
            ciphertext: hex::encode(&ciphertext),
            message: hex::encode(&message),
        }
    }

    /// `party` received `message`: the receiving half of a DH ratchet step for a ratchet
    /// key not seen before, which must give the keys the sender derived.
    fn receive(&mut self, party: usize, message: &ChannelMessageVector) {
        let chain = &self.vector.chains[message.chain];
        let ratchet_key: [u8; 32] = hex::decode(&chain.ratchet_public)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        let index = self.side(party);
        let side = &mut self.sides[index];
        if !side.received_keys.contains(&ratchet_key) {
            let dh_output = x25519(&side.ratchet_secret, &ratchet_key);
            assert_eq!(hex::encode(dh_output), chain.dh_output, "receiver's DH");
            let (root_key, chain_key) = kdf_rk(&side.root_key, &dh_output);
            assert_eq!(hex::encode(root_key), chain.root_key, "receiver's root key");
            assert_eq!(
                hex::encode(chain_key),
                chain.chain_key,
                "receiver's chain key"
            );
            side.root_key = root_key;
            side.received_keys.push(ratchet_key);
            side.peer_ratchet_key = Some(ratchet_key);
            if let Some((_, _, sent)) = side.sending.take() {
                side.previous_chain_length = sent;
            }
        }
        if party == self.initiator {
            self.initiator_has_decrypted = true;
        }
    }
}

/// A member's own sender key, as the model tracks it.
#[derive(Clone)]
struct OwnKey {
    epoch: u32,
    chain_key: [u8; 32],
    iteration: u32,
    seed: [u8; 32],
}

struct Member {
    identity: Identity,
    key: [u8; 32],
    seed: [u8; 32],
    prekeys: Option<PrekeyStore>,
    channels: BTreeMap<[u8; 32], Channel>,
    group: Option<Group>,
    /// The model: the roster this member holds (index into `rosters`) and its sender key.
    roster: Option<usize>,
    own: Option<OwnKey>,
}

/// What a group operation must send: to whom, and which control.
struct Expected {
    to: usize,
    control: v1::GroupControl,
}

struct Generator {
    rng: RecordingRng<ChaCha20Rng>,
    craft_rng: ChaCha20Rng,
    members: Vec<Member>,
    channels: Vec<ChannelModel>,
    identities: Vec<IdentityVector>,
    prekeys: Vec<PrekeyVector>,
    channel_messages: Vec<ChannelMessageVector>,
    rosters: Vec<RosterVector>,
    sender_keys: Vec<SenderKeyVector>,
    controls: Vec<ControlVector>,
    group_messages: Vec<GroupMessageVector>,
    timeline: Vec<TimelineEvent>,
    rejected: Vec<RejectedVector>,
}

/// An RNG for rejected inputs: they must draw nothing.
struct NoDraws;

impl rand::TryRng for NoDraws {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        panic!("a rejected input drew randomness")
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        panic!("a rejected input drew randomness")
    }

    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Self::Error> {
        panic!("a rejected input drew randomness")
    }
}

impl rand::TryCryptoRng for NoDraws {}

fn event(party: usize, action: Action) -> TimelineEvent {
    TimelineEvent {
        step: 0,
        party: name(party),
        action,
        channel: None,
        channel_message: None,
        members: None,
        from: None,
        control: None,
        member: None,
        group_message: None,
        draws: Vec::new(),
        sent: Vec::new(),
        events: Vec::new(),
        note: None,
    }
}

impl Generator {
    fn new() -> Self {
        let mut rng = RecordingRng::new(ChaCha20Rng::from_seed(SEED));
        let mut members = Vec::new();
        let mut identities = Vec::new();
        for (party, name) in NAMES.iter().enumerate() {
            let identity =
                Identity::generate_at(&mut rng, name, CREATED_AT[party]).expect("identity");
            let [seed, agreement] = rng.take("Identity::generate_at");
            identities.push(identity_vector(&identity, seed, agreement));
            members.push(Member {
                key: identity.card().signing_key(),
                identity,
                seed,
                prekeys: None,
                channels: BTreeMap::new(),
                group: None,
                roster: None,
                own: None,
            });
        }
        // The responders' prekey stores (alice only ever creates channels).
        let mut prekeys = Vec::new();
        for party in [BOB, CAROL] {
            let store = PrekeyStore::new(&mut rng);
            let [secret] = rng.take("PrekeyStore::new");
            let member = &members[party];
            let bundle = store.bundle(&member.identity, None).expect("bundle");
            let bundle_bytes = bundle.to_bytes();
            let decoded = v1::PrekeyBundle::decode(bundle_bytes.as_slice()).expect("bundle");
            let public = x25519_public(&secret);
            assert_eq!(
                decoded.signed_prekey, public,
                "the draw is the signed prekey"
            );
            let id = store.signed_prekey_id();
            let signature_input = [SIGNED_PREKEY_CONTEXT, &id.to_be_bytes(), &public].concat();
            prekeys.push(PrekeyVector {
                owner: name(party),
                id,
                secret: hex::encode(secret),
                public: hex::encode(public),
                signature_input: hex::encode(signature_input),
                signature: hex::encode(&decoded.signed_prekey_signature),
                bundle: hex::encode(&bundle_bytes),
            });
            members[party].prekeys = Some(store);
        }
        Self {
            rng,
            craft_rng: ChaCha20Rng::from_seed(CRAFT_SEED),
            members,
            channels: Vec::new(),
            identities,
            prekeys,
            channel_messages: Vec::new(),
            rosters: Vec::new(),
            sender_keys: Vec::new(),
            controls: Vec::new(),
            group_messages: Vec::new(),
            timeline: Vec::new(),
            rejected: Vec::new(),
        }
    }

    fn key(&self, party: usize) -> [u8; 32] {
        self.members[party].key
    }

    fn party(&self, key: &[u8; 32]) -> usize {
        self.members
            .iter()
            .position(|member| member.key == *key)
            .expect("a member")
    }

    fn channel_between(&self, a: usize, b: usize) -> usize {
        self.channels
            .iter()
            .position(|c| {
                (c.initiator, c.responder) == (a, b) || (c.initiator, c.responder) == (b, a)
            })
            .expect("a channel")
    }

    fn push_event(&mut self, mut event: TimelineEvent) -> usize {
        event.step = self.timeline.len();
        self.timeline.push(event);
        self.timeline.len() - 1
    }

    fn note(&mut self, note: &str) {
        self.timeline.last_mut().expect("an event").note = Some(note.into());
    }

    // ---- Channels -------------------------------------------------------------------

    /// `initiator` creates a channel to `responder` from its bundle.
    fn channel_create(&mut self, initiator: usize, responder: usize) {
        let index = self.channels.len();
        let prekey = self
            .prekeys
            .iter()
            .find(|prekey| prekey.owner == NAMES[responder])
            .expect("the responder's prekeys")
            .clone();
        let bundle = PrekeyBundle::from_bytes(&hex::decode(&prekey.bundle).expect("hex"))
            .expect("the bundle verifies");
        let channel = Channel::create(&mut self.rng, &self.members[initiator].identity, &bundle)
            .expect("Channel::create");
        let [ephemeral_secret, first_ratchet] = self.rng.take("Channel::create");
        let spk_secret: [u8; 32] = hex::decode(&prekey.secret)
            .expect("hex")
            .try_into()
            .expect("32");
        let spk = x25519_public(&spk_secret);
        let a = &self.identities[initiator];
        let b = &self.identities[responder];
        let a_secret: [u8; 32] = hex::decode(&a.agreement_secret)
            .expect("hex")
            .try_into()
            .expect("32");
        let b_secret: [u8; 32] = hex::decode(&b.agreement_secret)
            .expect("hex")
            .try_into()
            .expect("32");
        let a_card = self.members[initiator].identity.card().clone();
        let b_card = self.members[responder].identity.card().clone();
        let dh = [
            x25519(&a_secret, &spk),
            x25519(&ephemeral_secret, &b_card.agreement_key()),
            x25519(&ephemeral_secret, &spk),
        ];
        let ephemeral_public = x25519_public(&ephemeral_secret);
        let responder_dh = [
            x25519(&spk_secret, &a_card.agreement_key()),
            x25519(&b_secret, &ephemeral_public),
            x25519(&spk_secret, &ephemeral_public),
        ];
        assert_eq!(dh, responder_dh, "X3DH: both sides agree");
        let ikm = [[0xff; 32], dh[0], dh[1], dh[2]].concat();
        let shared_secret = hkdf::<32>(&[0; 32], &ikm, X3DH_INFO);
        let associated_data = [
            a_card.signing_key(),
            a_card.agreement_key(),
            b_card.signing_key(),
            b_card.agreement_key(),
        ]
        .concat();
        let prekey_info = v1::PrekeyInfo {
            initiator_card: a_card.to_bytes(),
            ephemeral_key: ephemeral_public.to_vec(),
            signed_prekey_id: prekey.id,
            one_time_prekey_id: None,
        };
        let mut model = ChannelModel {
            initiator,
            responder,
            associated_data: associated_data.clone(),
            prekey_info: prekey_info.clone(),
            initiator_has_decrypted: false,
            sides: [
                Side::new(shared_secret, [0; 32], Some(spk)),
                Side::new(shared_secret, spk_secret, None),
            ],
            vector: ChannelVector {
                index,
                initiator: name(initiator),
                responder: name(responder),
                signed_prekey_id: prekey.id,
                ephemeral_secret: hex::encode(ephemeral_secret),
                ephemeral_public: hex::encode(ephemeral_public),
                dh1: hex::encode(dh[0]),
                dh2: hex::encode(dh[1]),
                dh3: hex::encode(dh[2]),
                ikm: hex::encode(&ikm),
                shared_secret: hex::encode(shared_secret),
                associated_data: hex::encode(&associated_data),
                prekey_info: hex::encode(prekey_info.encode_to_vec()),
                chains: Vec::new(),
            },
        };
        let mut side = model.sides[0].clone();
        let chain = model.start_chain(&mut side, initiator, first_ratchet);
        model.sides[0] = side;
        model.vector.chains.push(chain);
        self.channels.push(model);
        let responder_key = self.key(responder);
        self.members[initiator]
            .channels
            .insert(responder_key, channel);
        let mut e = event(initiator, Action::ChannelCreate);
        e.channel = Some(index);
        e.draws = vec![hex::encode(ephemeral_secret), hex::encode(first_ratchet)];
        self.push_event(e);
    }

    /// `from` sends application data on its channel with `to`.
    fn channel_send(&mut self, from: usize, to: usize, plaintext: &str) -> usize {
        let channel = self.channel_between(from, to);
        let to_key = self.key(to);
        let bytes = self.members[from]
            .channels
            .get_mut(&to_key)
            .expect("a channel")
            .encrypt(&mut self.rng, plaintext.as_bytes())
            .expect("encrypt");
        let draws = self.rng.take_all();
        let model = &mut self.channels[channel];
        assert_eq!(draws.len(), usize::from(model.needs_new_chain(from)));
        let mut message = model.send(
            channel,
            from,
            CONTENT_APPLICATION,
            plaintext.as_bytes(),
            draws.first().copied(),
            true,
        );
        assert_eq!(message.message, hex::encode(&bytes), "channel message");
        let index = self.channel_messages.len();
        message.index = Some(index);
        self.channel_messages.push(message);
        let mut e = event(from, Action::ChannelSend);
        e.channel_message = Some(index);
        e.draws = draws.iter().map(hex::encode).collect();
        self.push_event(e);
        index
    }

    /// Application data `index` reaches its receiver, who joins from it if it has no
    /// channel with the sender yet.
    fn channel_deliver(&mut self, index: usize) {
        let message = self.channel_messages[index].clone();
        let from = NAMES
            .iter()
            .position(|n| *n == message.sender)
            .expect("sender");
        let to = NAMES
            .iter()
            .position(|n| *n == message.receiver)
            .expect("receiver");
        let bytes = hex::decode(&message.message).expect("hex");
        let from_key = self.key(from);
        let member = &mut self.members[to];
        let action = if let Some(channel) = member.channels.get_mut(&from_key) {
            let plaintext = channel.decrypt(&bytes).expect("Channel::decrypt");
            assert_eq!(hex::encode(plaintext), message.plaintext);
            Action::ChannelReceive
        } else {
            let joined = Channel::join(
                &member.identity,
                member.prekeys.as_mut().expect("prekeys"),
                &bytes,
            )
            .expect("Channel::join");
            assert_eq!(hex::encode(&joined.plaintext), message.plaintext);
            member.channels.insert(from_key, joined.channel);
            Action::ChannelJoin
        };
        self.channels[message.channel].receive(to, &message);
        let mut e = event(to, action);
        e.channel_message = Some(index);
        self.push_event(e);
    }

    /// A channel between `initiator` and `responder`: created, a first message, joined, a
    /// reply, received. Group control needs such an established channel.
    fn establish(&mut self, initiator: usize, responder: usize, hello: &str, reply: &str) {
        self.channel_create(initiator, responder);
        let first = self.channel_send(initiator, responder, hello);
        self.channel_deliver(first);
        let second = self.channel_send(responder, initiator, reply);
        self.channel_deliver(second);
    }

    // ---- Group model ------------------------------------------------------------------

    /// Signs a roster of `members` at `version` with alice's identity key.
    fn sign_roster(&mut self, version: u64, members: &[usize]) -> usize {
        let content = v1::Roster {
            group_id: GROUP_ID.to_vec(),
            version,
            members: members
                .iter()
                .map(|&m| self.members[m].identity.card().to_bytes())
                .collect(),
        }
        .encode_to_vec();
        let signature_input = [ROSTER_SIGNATURE_CONTEXT, &content].concat();
        let signature = ed25519_sign(&self.members[ALICE].seed, &signature_input);
        let signed = v1::SignedRoster {
            roster: content.clone(),
            signature: signature.to_vec(),
        };
        self.rosters.push(RosterVector {
            version,
            members: members.iter().map(|&m| name(m)).collect(),
            content: hex::encode(&content),
            signature_input: hex::encode(&signature_input),
            signature: hex::encode(signature),
            signed_roster: hex::encode(signed.encode_to_vec()),
        });
        self.rosters.len() - 1
    }

    fn signed_roster(&self, roster: usize) -> v1::SignedRoster {
        v1::SignedRoster::decode(
            hex::decode(&self.rosters[roster].signed_roster)
                .expect("hex")
                .as_slice(),
        )
        .expect("SignedRoster")
    }

    fn roster_members(&self, roster: usize) -> Vec<usize> {
        self.rosters[roster]
            .members
            .iter()
            .map(|m| NAMES.iter().position(|n| n == m).expect("a member"))
            .collect()
    }

    /// A new sender key for `party` from two draws (chain key, then signing seed).
    fn new_sender_key(&mut self, party: usize, epoch: u32, chain_key: [u8; 32], seed: [u8; 32]) {
        self.members[party].own = Some(OwnKey {
            epoch,
            chain_key,
            iteration: 0,
            seed,
        });
        self.sender_keys.push(SenderKeyVector {
            member: name(party),
            epoch,
            step: self.timeline.len(),
            chain_key: hex::encode(chain_key),
            signing_seed: hex::encode(seed),
            signing_public: hex::encode(ed25519_public(&seed)),
        });
    }

    /// `party`'s sender key distribution at its current iteration.
    fn distribution(&self, party: usize) -> v1::SenderKeyDistribution {
        let own = self.members[party].own.as_ref().expect("a sender key");
        v1::SenderKeyDistribution {
            group_id: GROUP_ID.to_vec(),
            sender: self.key(party).to_vec(),
            epoch: own.epoch,
            iteration: own.iteration,
            chain_key: own.chain_key.to_vec(),
            signing_key: ed25519_public(&own.seed).to_vec(),
        }
    }

    fn control(
        roster_version: u64,
        roster: Option<v1::SignedRoster>,
        sender_key: Option<v1::SenderKeyDistribution>,
    ) -> v1::GroupControl {
        v1::GroupControl {
            version: GROUP_VERSION,
            roster,
            sender_key,
            leave: None,
            roster_version,
        }
    }

    /// Checks what a group operation of `party` sent against what the model expects, and
    /// lists it. `draws` are the operation's draws; the first `key_draws` of them made a
    /// new sender key (for `epoch`) before anything was sent.
    fn record_sent(
        &mut self,
        party: usize,
        outgoing: &[Outgoing],
        draws: &[[u8; 32]],
        new_key: Option<u32>,
        expected: impl FnOnce(&Self) -> Vec<Expected>,
    ) -> Vec<usize> {
        let mut draws = draws.iter().copied();
        if let Some(epoch) = new_key {
            let chain_key = draws.next().expect("a chain key draw");
            let seed = draws.next().expect("a signing seed draw");
            self.new_sender_key(party, epoch, chain_key, seed);
        }
        let expected = expected(self);
        assert_eq!(outgoing.len(), expected.len(), "how many controls are sent");
        let mut sent = Vec::new();
        for (out, Expected { to, control }) in outgoing.iter().zip(expected) {
            assert_eq!(out.to, self.key(to), "control recipient");
            let channel = self.channel_between(party, to);
            let secret = self.channels[channel]
                .needs_new_chain(party)
                .then(|| draws.next().expect("a ratchet key draw"));
            let bytes = control.encode_to_vec();
            let mut message = self.channels[channel].send(
                channel,
                party,
                CONTENT_GROUP_CONTROL,
                &bytes,
                secret,
                true,
            );
            assert_eq!(
                message.message,
                hex::encode(&out.message),
                "control from {} to {}",
                NAMES[party],
                NAMES[to]
            );
            let message_index = self.channel_messages.len();
            let control_index = self.controls.len();
            message.index = Some(message_index);
            message.control = Some(control_index);
            self.channel_messages.push(message);
            let roster = control.roster.as_ref().map(|signed| {
                v1::Roster::decode(signed.roster.as_slice())
                    .expect("Roster")
                    .version
            });
            let sender_key = control.sender_key.as_ref().map(|d| DistributionVector {
                sender: name(self.party(&d.sender.clone().try_into().expect("32 bytes"))),
                epoch: d.epoch,
                iteration: d.iteration,
                chain_key: hex::encode(&d.chain_key),
                signing_public: hex::encode(&d.signing_key),
                bytes: hex::encode(d.encode_to_vec()),
            });
            self.controls.push(ControlVector {
                index: control_index,
                sender: name(party),
                receiver: name(to),
                roster_version: control.roster_version,
                roster,
                sender_key,
                leave: control.leave.is_some(),
                bytes: hex::encode(&bytes),
                channel_message: message_index,
            });
            sent.push(control_index);
        }
        assert!(draws.next().is_none(), "every draw is accounted for");
        sent
    }

    fn events(&self, events: &[GroupEvent]) -> Vec<EventVector> {
        let names = |cards: &[ratchetkit::Card]| -> Vec<String> {
            cards
                .iter()
                .map(|c| name(self.party(&c.signing_key())))
                .collect()
        };
        events
            .iter()
            .map(|event| match event {
                GroupEvent::RosterChanged {
                    version,
                    added,
                    removed,
                } => EventVector::RosterChanged {
                    version: *version,
                    added: names(added),
                    removed: names(removed),
                },
                GroupEvent::Removed { version } => EventVector::Removed { version: *version },
                GroupEvent::SenderKey { sender, epoch } => EventVector::SenderKey {
                    member: name(self.party(sender)),
                    epoch: *epoch,
                },
                GroupEvent::LeaveRequested { member } => EventVector::LeaveRequested {
                    member: name(self.party(member)),
                },
                other => panic!("an event the vectors do not model: {other:?}"),
            })
            .collect()
    }

    // ---- Group operations -------------------------------------------------------------

    /// The owner creates the group with `members` and welcomes them.
    fn group_create(&mut self, owner: usize, members: &[usize]) -> Vec<usize> {
        let cards: Vec<_> = members
            .iter()
            .map(|&m| self.members[m].identity.card().clone())
            .collect();
        let member = &mut self.members[owner];
        let (group, outgoing) = Group::create(
            &mut self.rng,
            &member.identity,
            &GROUP_ID,
            &cards,
            &mut member.channels,
        )
        .expect("Group::create");
        member.group = Some(group);
        let draws = self.rng.take_all();
        let all: Vec<usize> = std::iter::once(owner)
            .chain(members.iter().copied())
            .collect();
        let roster = self.sign_roster(1, &all);
        self.members[owner].roster = Some(roster);
        let sent = self.record_sent(owner, &outgoing, &draws, Some(0), |g| {
            members
                .iter()
                .map(|&to| Expected {
                    to,
                    control: Self::control(
                        1,
                        Some(g.signed_roster(roster)),
                        Some(g.distribution(owner)),
                    ),
                })
                .collect()
        });
        let mut e = event(owner, Action::GroupCreate);
        e.members = Some(members.iter().map(|&m| name(m)).collect());
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.clone();
        self.push_event(e);
        sent
    }

    /// `party` joins from the owner's welcome `control`.
    fn group_join(&mut self, party: usize, control: usize) -> Vec<usize> {
        let welcome = self.controls[control].clone();
        let owner = NAMES
            .iter()
            .position(|n| *n == welcome.sender)
            .expect("owner");
        let message = self.channel_messages[welcome.channel_message].clone();
        let owner_key = self.key(owner);
        let member = &mut self.members[party];
        let (group, received) = Group::join(
            &mut self.rng,
            &member.identity,
            &mut member.channels,
            &owner_key,
            &hex::decode(&message.message).expect("hex"),
        )
        .expect("Group::join");
        member.group = Some(group);
        let draws = self.rng.take_all();
        self.channels[message.channel].receive(party, &message);
        let roster_version = welcome.roster.expect("a welcome carries the roster");
        let roster = self
            .rosters
            .iter()
            .rposition(|r| r.version == roster_version)
            .expect("a listed roster");
        self.members[party].roster = Some(roster);
        let others: Vec<usize> = self
            .roster_members(roster)
            .into_iter()
            .filter(|&m| m != party)
            .collect();
        let sent = self.record_sent(party, &received.outgoing, &draws, Some(0), |g| {
            others
                .iter()
                .map(|&to| Expected {
                    to,
                    control: Self::control(roster_version, None, Some(g.distribution(party))),
                })
                .collect()
        });
        let events = self.events(&received.events);
        let epoch = welcome.sender_key.as_ref().expect("the owner's key").epoch;
        assert_eq!(
            events,
            vec![EventVector::SenderKey {
                member: name(owner),
                epoch
            }]
        );
        let mut e = event(party, Action::GroupJoin);
        e.from = Some(name(owner));
        e.control = Some(control);
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.clone();
        e.events = events;
        self.push_event(e);
        sent
    }

    /// `party` receives `control`.
    fn group_receive(&mut self, party: usize, control: usize) -> Vec<usize> {
        let incoming = self.controls[control].clone();
        let from = NAMES
            .iter()
            .position(|n| *n == incoming.sender)
            .expect("sender");
        assert_eq!(incoming.receiver, NAMES[party]);
        let message = self.channel_messages[incoming.channel_message].clone();
        let from_key = self.key(from);
        let member = &mut self.members[party];
        let received = member
            .group
            .as_mut()
            .expect("a group")
            .receive(
                &mut self.rng,
                &mut member.channels,
                &from_key,
                &hex::decode(&message.message).expect("hex"),
            )
            .expect("Group::receive");
        let draws = self.rng.take_all();
        self.channels[message.channel].receive(party, &message);

        // What the model expects.
        let mut expected_events = Vec::new();
        let mut new_key = None;
        let mut recipients = Vec::new();
        if let Some(version) = incoming.roster {
            let roster = self
                .rosters
                .iter()
                .rposition(|r| r.version == version)
                .expect("a listed roster");
            let old = self.roster_members(self.members[party].roster.expect("a roster"));
            let new = self.roster_members(roster);
            let removed: Vec<usize> = old.iter().copied().filter(|m| !new.contains(m)).collect();
            let added: Vec<usize> = new.iter().copied().filter(|m| !old.contains(m)).collect();
            assert!(added.is_empty(), "the vectors do not add members");
            self.members[party].roster = Some(roster);
            if new.contains(&party) {
                expected_events.push(EventVector::RosterChanged {
                    version,
                    added: Vec::new(),
                    removed: removed.iter().map(|&m| name(m)).collect(),
                });
                if !removed.is_empty() {
                    let epoch = self.members[party].own.as_ref().expect("a key").epoch + 1;
                    new_key = Some(epoch);
                    recipients = new.into_iter().filter(|&m| m != party).collect();
                }
            } else {
                expected_events.push(EventVector::Removed { version });
                self.members[party].own = None;
            }
        }
        if let Some(key) = &incoming.sender_key {
            expected_events.push(EventVector::SenderKey {
                member: key.sender.clone(),
                epoch: key.epoch,
            });
        }
        assert!(!incoming.leave, "the vectors have no leave requests");
        let roster_version = self.rosters[self.members[party].roster.expect("a roster")].version;
        let sent = self.record_sent(party, &received.outgoing, &draws, new_key, |g| {
            recipients
                .iter()
                .map(|&to| Expected {
                    to,
                    control: Self::control(roster_version, None, Some(g.distribution(party))),
                })
                .collect()
        });
        let events = self.events(&received.events);
        assert_eq!(events, expected_events, "group events");
        let mut e = event(party, Action::GroupReceive);
        e.from = Some(name(from));
        e.control = Some(control);
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.clone();
        e.events = events;
        self.push_event(e);
        sent
    }

    /// The owner removes `removed`.
    fn remove_member(&mut self, owner: usize, removed: usize) -> Vec<usize> {
        let removed_key = self.key(removed);
        let member = &mut self.members[owner];
        let outgoing = member
            .group
            .as_mut()
            .expect("a group")
            .remove_member(
                &mut self.rng,
                &member.identity,
                &removed_key,
                &mut member.channels,
            )
            .expect("Group::remove_member");
        let draws = self.rng.take_all();
        let old = self.roster_members(self.members[owner].roster.expect("a roster"));
        let version = self.rosters[self.members[owner].roster.expect("a roster")].version + 1;
        let remaining: Vec<usize> = old.into_iter().filter(|&m| m != removed).collect();
        let roster = self.sign_roster(version, &remaining);
        self.members[owner].roster = Some(roster);
        let epoch = self.members[owner].own.as_ref().expect("a key").epoch + 1;
        let sent = self.record_sent(owner, &outgoing, &draws, Some(epoch), |g| {
            let signed = g.signed_roster(roster);
            remaining
                .iter()
                .filter(|&&m| m != owner)
                .map(|&to| Expected {
                    to,
                    control: Self::control(
                        version,
                        Some(signed.clone()),
                        Some(g.distribution(owner)),
                    ),
                })
                .chain(std::iter::once(Expected {
                    to: removed,
                    control: Self::control(version, Some(signed.clone()), None),
                }))
                .collect()
        });
        let mut e = event(owner, Action::RemoveMember);
        e.member = Some(name(removed));
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.clone();
        self.push_event(e);
        sent
    }

    /// `party` moves to a new epoch.
    fn rekey(&mut self, party: usize) -> Vec<usize> {
        let member = &mut self.members[party];
        let outgoing = member
            .group
            .as_mut()
            .expect("a group")
            .rekey(&mut self.rng, &mut member.channels)
            .expect("Group::rekey");
        let draws = self.rng.take_all();
        let roster = self.members[party].roster.expect("a roster");
        let version = self.rosters[roster].version;
        let others: Vec<usize> = self
            .roster_members(roster)
            .into_iter()
            .filter(|&m| m != party)
            .collect();
        let epoch = self.members[party].own.as_ref().expect("a key").epoch + 1;
        let sent = self.record_sent(party, &outgoing, &draws, Some(epoch), |g| {
            others
                .iter()
                .map(|&to| Expected {
                    to,
                    control: Self::control(version, None, Some(g.distribution(party))),
                })
                .collect()
        });
        let mut e = event(party, Action::Rekey);
        e.draws = draws.iter().map(hex::encode).collect();
        e.sent = sent.clone();
        self.push_event(e);
        sent
    }

    /// `party` sends a group message.
    fn encrypt(&mut self, party: usize, plaintext: &str) -> usize {
        let bytes = self.members[party]
            .group
            .as_mut()
            .expect("a group")
            .encrypt(plaintext.as_bytes())
            .expect("Group::encrypt");
        let sender = self.key(party);
        let own = self.members[party].own.as_mut().expect("a sender key");
        let (chain_key, iteration) = (own.chain_key, own.iteration);
        let (message_key, next_chain_key) = kdf_ck(&chain_key);
        own.chain_key = next_chain_key;
        own.iteration += 1;
        let own = own.clone();
        let (aes_key, nonce) = group_message_aead(&message_key);
        let header = v1::GroupHeader {
            group_id: GROUP_ID.to_vec(),
            sender: sender.to_vec(),
            epoch: own.epoch,
            iteration,
        }
        .encode_to_vec();
        let ciphertext = seal(&aes_key, &nonce, &header, plaintext.as_bytes());
        let signature_input = group_signature_input(&header, &ciphertext);
        let signature = ed25519_sign(&own.seed, &signature_input);
        let message = v1::GroupMessage {
            version: GROUP_VERSION,
            header: header.clone(),
            ciphertext: ciphertext.clone(),
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        assert_eq!(hex::encode(&message), hex::encode(&bytes), "group message");
        let index = self.group_messages.len();
        self.group_messages.push(GroupMessageVector {
            index,
            sender: name(party),
            epoch: own.epoch,
            iteration,
            chain_key: hex::encode(chain_key),
            message_key: hex::encode(message_key),
            next_chain_key: hex::encode(next_chain_key),
            aes_key: hex::encode(aes_key),
            nonce: hex::encode(nonce),
            header: hex::encode(&header),
            plaintext: hex::encode(plaintext),
            plaintext_utf8: plaintext.into(),
            ciphertext: hex::encode(&ciphertext),
            signature_input: hex::encode(&signature_input),
            signature: hex::encode(signature),
            message: hex::encode(&message),
        });
        let mut e = event(party, Action::Encrypt);
        e.group_message = Some(index);
        self.push_event(e);
        index
    }

    /// `party` decrypts group message `index`.
    fn decrypt(&mut self, party: usize, index: usize) {
        let message = self.group_messages[index].clone();
        let decrypted = self.members[party]
            .group
            .as_mut()
            .expect("a group")
            .decrypt(&hex::decode(&message.message).expect("hex"))
            .unwrap_or_else(|error| {
                panic!("{} decrypts group message {index}: {error:?}", NAMES[party])
            });
        assert_eq!(decrypted.plaintext, message.plaintext_utf8.as_bytes());
        assert_eq!(name(self.party(&decrypted.sender)), message.sender);
        assert_eq!(decrypted.epoch, message.epoch);
        let mut e = event(party, Action::Decrypt);
        e.group_message = Some(index);
        self.push_event(e);
    }

    // ---- Rejected inputs --------------------------------------------------------------

    /// Gives `input` to `party`, which must refuse it with `expected` and change nothing.
    fn reject(
        &mut self,
        party: usize,
        action: RejectedAction,
        from: Option<usize>,
        input: Vec<u8>,
        expected: &str,
        description: &str,
    ) -> &mut RejectedVector {
        let from_key = from.map(|from| self.key(from));
        let member = &mut self.members[party];
        let snapshot = |member: &Member| {
            let mut state: Vec<Vec<u8>> = member
                .channels
                .values()
                .map(|channel| channel.to_bytes().to_vec())
                .collect();
            state.push(
                member
                    .group
                    .as_ref()
                    .map(|g| g.to_bytes().to_vec())
                    .unwrap_or_default(),
            );
            state.push(
                member
                    .prekeys
                    .as_ref()
                    .map(|p| p.to_bytes().to_vec())
                    .unwrap_or_default(),
            );
            state
        };
        let before = snapshot(member);
        let result: Result<(), Error> = match action {
            RejectedAction::Decrypt => member
                .group
                .as_mut()
                .expect("a group")
                .decrypt(&input)
                .map(drop),
            RejectedAction::Receive => member
                .group
                .as_mut()
                .expect("a group")
                .receive(
                    &mut NoDraws,
                    &mut member.channels,
                    &from_key.expect("from"),
                    &input,
                )
                .map(drop),
            RejectedAction::Join => {
                assert!(
                    member.group.is_none(),
                    "{description}: joins only without a group"
                );
                Group::join(
                    &mut NoDraws,
                    &member.identity,
                    &mut member.channels,
                    &from_key.expect("from"),
                    &input,
                )
                .map(drop)
            }
            RejectedAction::ChannelDecrypt => member
                .channels
                .get_mut(&from_key.expect("from"))
                .expect("a channel")
                .decrypt(&input)
                .map(drop),
        };
        let error = result.expect_err(description);
        assert_eq!(error_kind(&error), expected, "{description}: {error:?}");
        assert!(
            before == snapshot(member),
            "{description}: the rejected input changed the state"
        );
        let index = self.rejected.len();
        self.rejected.push(RejectedVector {
            index,
            after_step: self.timeline.len() - 1,
            party: name(party),
            action,
            from: from.map(name),
            input: hex::encode(&input),
            expected_error: expected.into(),
            description: description.into(),
            group_message: None,
            channel_message: None,
            signed_by: None,
            crafted: None,
        });
        &mut self.rejected[index]
    }

    /// A group message refused by `party`, made from group message `base`.
    fn reject_message(
        &mut self,
        party: usize,
        base: usize,
        input: Vec<u8>,
        signed_by: Option<(usize, u32)>,
        expected: &str,
        description: &str,
    ) {
        let rejected = self.reject(
            party,
            RejectedAction::Decrypt,
            None,
            input,
            expected,
            description,
        );
        rejected.group_message = Some(base);
        rejected.signed_by = signed_by.map(|(member, epoch)| SignerVector {
            member: name(member),
            epoch,
        });
    }

    /// A listed channel message (or one made from it) refused by its receiver.
    fn reject_channel_message(
        &mut self,
        action: RejectedAction,
        base: usize,
        input: Vec<u8>,
        expected: &str,
        description: &str,
    ) {
        let message = &self.channel_messages[base];
        let party = NAMES
            .iter()
            .position(|n| *n == message.receiver)
            .expect("receiver");
        let from = NAMES
            .iter()
            .position(|n| *n == message.sender)
            .expect("sender");
        let rejected = self.reject(party, action, Some(from), input, expected, description);
        rejected.channel_message = Some(base);
    }

    /// A channel message made up by the generator: `plaintext` sent by `from` to `to` on
    /// the next position of `from`'s open sending chain, refused by `to`'s group.
    fn reject_crafted(
        &mut self,
        to: usize,
        from: usize,
        content_type: u32,
        plaintext: &[u8],
        expected: &str,
        description: &str,
    ) {
        let channel = self.channel_between(from, to);
        assert!(
            !self.channels[channel].needs_new_chain(from),
            "{description}: made-up messages go on an open sending chain"
        );
        let crafted =
            self.channels[channel].send(channel, from, content_type, plaintext, None, false);
        let input = hex::decode(&crafted.message).expect("hex");
        let rejected = self.reject(
            to,
            RejectedAction::Receive,
            Some(from),
            input,
            expected,
            description,
        );
        rejected.crafted = Some(crafted);
    }

    /// A group message with its parts replaced, signed with `signer`'s key of `epoch`.
    fn signed_message(
        &self,
        header: &[u8],
        ciphertext: &[u8],
        signer: usize,
        epoch: u32,
    ) -> Vec<u8> {
        let seed: [u8; 32] = self
            .sender_keys
            .iter()
            .find(|key| key.member == NAMES[signer] && key.epoch == epoch)
            .map(|key| {
                hex::decode(&key.signing_seed)
                    .expect("hex")
                    .try_into()
                    .expect("32")
            })
            .expect("a listed sender key");
        v1::GroupMessage {
            version: GROUP_VERSION,
            header: header.to_vec(),
            ciphertext: ciphertext.to_vec(),
            signature: ed25519_sign(&seed, &group_signature_input(header, ciphertext)).to_vec(),
        }
        .encode_to_vec()
    }

    /// A forged sender key distribution for `sender` at `epoch`, from the crafting RNG.
    fn forged_distribution(&mut self, sender: usize, epoch: u32) -> v1::SenderKeyDistribution {
        let chain_key = draw(&mut self.craft_rng);
        let seed = draw(&mut self.craft_rng);
        v1::SenderKeyDistribution {
            group_id: GROUP_ID.to_vec(),
            sender: self.key(sender).to_vec(),
            epoch,
            iteration: 0,
            chain_key: chain_key.to_vec(),
            signing_key: ed25519_public(&seed).to_vec(),
        }
    }

    /// A roster signed with `signer`'s identity key.
    fn roster_signed_by(
        &self,
        group_id: &[u8],
        version: u64,
        members: &[usize],
        signer: usize,
    ) -> v1::SignedRoster {
        let roster = v1::Roster {
            group_id: group_id.to_vec(),
            version,
            members: members
                .iter()
                .map(|&m| self.members[m].identity.card().to_bytes())
                .collect(),
        }
        .encode_to_vec();
        let signature = ed25519_sign(
            &self.members[signer].seed,
            &[ROSTER_SIGNATURE_CONTEXT, &roster].concat(),
        );
        v1::SignedRoster {
            roster,
            signature: signature.to_vec(),
        }
    }

    fn group_message_parts(&self, index: usize) -> (v1::GroupMessage, v1::GroupHeader) {
        let message = v1::GroupMessage::decode(
            hex::decode(&self.group_messages[index].message)
                .expect("hex")
                .as_slice(),
        )
        .expect("GroupMessage");
        let header = v1::GroupHeader::decode(message.header.as_slice()).expect("GroupHeader");
        (message, header)
    }

    fn group_message_bytes(&self, index: usize) -> Vec<u8> {
        hex::decode(&self.group_messages[index].message).expect("hex")
    }

    fn channel_message_bytes(&self, index: usize) -> Vec<u8> {
        hex::decode(&self.channel_messages[index].message).expect("hex")
    }

    fn control_message(&self, control: usize) -> usize {
        self.controls[control].channel_message
    }
}

// ---------------------------------------------------------------------------------------
// The scenario.
// ---------------------------------------------------------------------------------------

/// Rejected group messages made from bob's message `g2`, given to alice before she reads it.
fn forged_messages(g: &mut Generator, g2: usize) {
    let (message, header) = g.group_message_parts(g2);
    let epoch = header.epoch;
    let with_header = |header: &v1::GroupHeader| header.encode_to_vec();

    let mut flipped = message.clone();
    flipped.ciphertext[0] ^= 1;
    g.reject_message(
        ALICE,
        g2,
        flipped.encode_to_vec(),
        None,
        "BadSignature",
        "a ciphertext bit flipped: the signature no longer verifies (checked \
         before anything is decrypted)",
    );

    let altered = v1::GroupMessage {
        header: with_header(&v1::GroupHeader {
            iteration: header.iteration + 1,
            ..header.clone()
        }),
        ..message.clone()
    };
    g.reject_message(
        ALICE,
        g2,
        altered.encode_to_vec(),
        None,
        "BadSignature",
        "the header's iteration changed: the header is signed",
    );

    let forged = g.signed_message(&message.header, &message.ciphertext, CAROL, 0);
    g.reject_message(
        ALICE,
        g2,
        forged,
        Some((CAROL, 0)),
        "BadSignature",
        "bob's message signed with carol's epoch key: members hold only the \
         public half of each other's keys",
    );

    let mut corrupted = message.ciphertext.clone();
    corrupted[0] ^= 1;
    let resigned = g.signed_message(&message.header, &corrupted, BOB, epoch);
    g.reject_message(
        ALICE,
        g2,
        resigned,
        Some((BOB, epoch)),
        "AuthenticationFailed",
        "a ciphertext bit flipped and signed again by bob's epoch key: the \
         signature verifies, the AES-GCM tag does not",
    );

    let far = with_header(&v1::GroupHeader {
        iteration: 2001,
        ..header.clone()
    });
    let far = g.signed_message(&far, &message.ciphertext, BOB, epoch);
    g.reject_message(
        ALICE,
        g2,
        far,
        Some((BOB, epoch)),
        "TooFarAhead",
        "iteration 2001, signed by bob: 2001 keys to skip, more than MAX_GROUP_MESSAGE_GAP",
    );

    let unknown = with_header(&v1::GroupHeader {
        epoch: 5,
        ..header.clone()
    });
    let unknown = g.signed_message(&unknown, &message.ciphertext, BOB, epoch);
    g.reject_message(
        ALICE,
        g2,
        unknown,
        Some((BOB, epoch)),
        "UnknownEpoch",
        "epoch 5, which alice holds no key of",
    );

    let other = with_header(&v1::GroupHeader {
        group_id: OTHER_GROUP_ID.to_vec(),
        ..header.clone()
    });
    let other = g.signed_message(&other, &message.ciphertext, BOB, epoch);
    g.reject_message(
        ALICE,
        g2,
        other,
        Some((BOB, epoch)),
        "WrongGroup",
        "the header names another group (signed by bob)",
    );

    let version = v1::GroupMessage {
        version: 2,
        ..message.clone()
    };
    g.reject_message(
        ALICE,
        g2,
        version.encode_to_vec(),
        None,
        "UnsupportedVersion",
        "GroupMessage.version 2",
    );

    let unknown_field = [g.group_message_bytes(g2).as_slice(), &[0x28, 0x01]].concat();
    g.reject_message(
        ALICE,
        g2,
        unknown_field,
        None,
        "Decode",
        "an unknown field (number 5, varint 1) appended: not the canonical encoding",
    );

    let explicit_default = v1::GroupMessage {
        header: [message.header.as_slice(), &[0x18, 0x00]].concat(),
        ..message.clone()
    };
    g.reject_message(
        ALICE,
        g2,
        explicit_default.encode_to_vec(),
        None,
        "Decode",
        "the header with epoch 0 written out (a default value encoded): not the \
         canonical encoding",
    );

    let mut short_sender = header.clone();
    short_sender.sender.truncate(31);
    let short_sender = v1::GroupMessage {
        header: short_sender.encode_to_vec(),
        ..message.clone()
    };
    g.reject_message(
        ALICE,
        g2,
        short_sender.encode_to_vec(),
        None,
        "InvalidLength",
        "a 31-byte sender",
    );

    let mut short_signature = message.clone();
    short_signature.signature.truncate(63);
    g.reject_message(
        ALICE,
        g2,
        short_signature.encode_to_vec(),
        None,
        "InvalidLength",
        "a 63-byte signature",
    );
}

/// Runs the generator: drives ratchetkit through the scenario and lists everything.
///
/// # Panics
/// If ratchetkit draws randomness in another order than documented, or disagrees with the
/// model anywhere, or accepts a rejected input.
pub fn generate() -> GroupVectors {
    let mut g = Generator::new();

    // The channels: group control needs established channels between the members.
    g.establish(ALICE, BOB, "Hi Bob, alice here.", "Hi Alice.");
    g.establish(
        ALICE,
        CAROL,
        "Hi Carol, alice here.",
        "Hi Alice, carol here.",
    );
    g.establish(BOB, CAROL, "Hi Carol, bob here.", "Hi Bob.");

    // Alice creates the group and welcomes bob and carol.
    let welcome = g.group_create(ALICE, &[BOB, CAROL]);
    let welcome_bob = g.control_message(welcome[0]);
    g.reject_channel_message(
        RejectedAction::ChannelDecrypt,
        welcome_bob,
        g.channel_message_bytes(welcome_bob),
        "GroupControlMessage",
        "the welcome given to the application's Channel::decrypt: group control \
         is only for the group",
    );
    let bob_keys = g.group_join(BOB, welcome[0]);
    let bob_to_carol = g.control_message(bob_keys[1]);
    g.reject_channel_message(
        RejectedAction::Join,
        bob_to_carol,
        g.channel_message_bytes(bob_to_carol),
        "NotAGroupWelcome",
        "bob's sender key reaches carol before alice's welcome: not a welcome \
         (keep it for later)",
    );
    let carol_keys = g.group_join(CAROL, welcome[1]);
    g.group_receive(ALICE, bob_keys[0]);
    g.group_receive(ALICE, carol_keys[0]);
    g.group_receive(BOB, carol_keys[1]);
    let mut leave = Generator::control(1, None, None);
    leave.leave = Some(v1::LeaveRequest {
        group_id: GROUP_ID.to_vec(),
    });
    g.reject_crafted(
        BOB,
        CAROL,
        CONTENT_GROUP_CONTROL,
        &leave.encode_to_vec(),
        "NotGroupOwner",
        "carol asks bob, not the owner, to let her leave",
    );
    g.group_receive(CAROL, bob_keys[1]);
    let replay = g.control_message(bob_keys[1]);
    g.reject_channel_message(
        RejectedAction::Receive,
        replay,
        g.channel_message_bytes(replay),
        "Duplicate",
        "bob's sender key message delivered again: the channel refuses the replay",
    );
    let bobs_roster = g.roster_signed_by(&GROUP_ID, 2, &[ALICE, BOB], BOB);
    let control = Generator::control(1, Some(bobs_roster), None);
    g.reject_crafted(
        CAROL,
        BOB,
        CONTENT_GROUP_CONTROL,
        &control.encode_to_vec(),
        "BadSignature",
        "bob sends carol a roster of version 2 without her, signed by himself: \
         only the owner signs rosters",
    );

    // Messages from every member.
    let g0 = g.encrypt(ALICE, "Welcome to the group, bob and carol!");
    let g1 = g.encrypt(ALICE, "Second message from alice.");
    g.decrypt(BOB, g0);
    g.decrypt(BOB, g1);
    g.decrypt(CAROL, g1);
    g.note("out of order: carol keeps the key of alice's iteration 0 as a skipped key");
    g.decrypt(CAROL, g0);
    g.note("the late message decrypts with the skipped key");
    g.reject_message(
        ALICE,
        g0,
        g.group_message_bytes(g0),
        None,
        "OwnGroupMessage",
        "alice's own message, echoed back to her",
    );
    let g2 = g.encrypt(BOB, "Hello from bob.");
    forged_messages(&mut g, g2);
    g.decrypt(ALICE, g2);
    g.decrypt(CAROL, g2);
    g.reject_message(
        CAROL,
        g2,
        g.group_message_bytes(g2),
        None,
        "Duplicate",
        "bob's message delivered again",
    );
    let g3 = g.encrypt(CAROL, "Hello from carol.");
    g.decrypt(ALICE, g3);
    g.decrypt(BOB, g3);
    let g4 = g.encrypt(
        CAROL,
        "Carol again: this one reaches bob only after her removal.",
    );
    g.decrypt(ALICE, g4);

    // Alice removes carol: a new roster, and alice's epoch 1.
    let removal = g.remove_member(ALICE, CAROL);
    let carols = g.forged_distribution(CAROL, 1);
    let control = Generator::control(1, None, Some(carols));
    g.reject_crafted(
        ALICE,
        CAROL,
        CONTENT_GROUP_CONTROL,
        &control.encode_to_vec(),
        "NotGroupMember",
        "a new sender key from carol, after alice removed her",
    );
    let g5 = g.encrypt(ALICE, "Alice under epoch 1, after removing carol.");
    g.reject_message(
        BOB,
        g5,
        g.group_message_bytes(g5),
        None,
        "UnknownEpoch",
        "alice's epoch 1 message before bob has her epoch 1 key (keep it, and \
         retry after the removal)",
    );
    let g6 = g.encrypt(BOB, "Bob, still under epoch 0: read after his epoch 1 key.");
    let bob_epoch1 = g.group_receive(BOB, removal[0])[0];
    g.note("bob processes carol's removal: a new epoch, sent to alice only");
    g.decrypt(BOB, g5);
    g.reject_message(
        BOB,
        g4,
        g.group_message_bytes(g4),
        None,
        "NotGroupMember",
        "carol's message, sent before her removal, delivered to bob after it",
    );
    let old_roster = g.signed_roster(0);
    g.reject_crafted(
        BOB,
        ALICE,
        CONTENT_GROUP_CONTROL,
        &Generator::control(2, Some(old_roster), None).encode_to_vec(),
        "StaleRoster",
        "the roster of version 1 again, from alice: not newer than the one held",
    );
    let not_owner_first = g.roster_signed_by(&GROUP_ID, 3, &[BOB, ALICE], ALICE);
    g.reject_crafted(
        BOB,
        ALICE,
        CONTENT_GROUP_CONTROL,
        &Generator::control(2, Some(not_owner_first), None).encode_to_vec(),
        "NotGroupOwner",
        "a roster of version 3 signed by alice that lists bob first: the owner \
         must be the first member",
    );
    let elsewhere = g.roster_signed_by(&OTHER_GROUP_ID, 3, &[ALICE, BOB], ALICE);
    g.reject_crafted(
        BOB,
        ALICE,
        CONTENT_GROUP_CONTROL,
        &Generator::control(2, Some(elsewhere), None).encode_to_vec(),
        "WrongGroup",
        "a roster of another group, signed by alice",
    );
    let current = g.signed_roster(1);
    let mut version = Generator::control(2, Some(current.clone()), None);
    version.version = 2;
    g.reject_crafted(
        BOB,
        ALICE,
        CONTENT_GROUP_CONTROL,
        &version.encode_to_vec(),
        "UnsupportedVersion",
        "GroupControl.version 2",
    );
    g.reject_crafted(
        BOB,
        ALICE,
        CONTENT_GROUP_CONTROL,
        &Generator::control(2, None, None).encode_to_vec(),
        "Decode",
        "a GroupControl with no part",
    );
    let mut mixed = Generator::control(2, Some(current), None);
    mixed.leave = Some(v1::LeaveRequest {
        group_id: OTHER_GROUP_ID.to_vec(),
    });
    g.reject_crafted(
        BOB,
        ALICE,
        CONTENT_GROUP_CONTROL,
        &mixed.encode_to_vec(),
        "Decode",
        "a GroupControl whose parts name different groups",
    );
    g.group_receive(CAROL, removal[1]);
    g.note("carol learns she was removed: she can no longer send");
    g.reject_message(
        CAROL,
        g5,
        g.group_message_bytes(g5),
        None,
        "UnknownEpoch",
        "the removed carol cannot read alice's epoch 1",
    );
    let message = g.control_message(bob_epoch1);
    let mut tampered = v1::ChannelMessage::decode(g.channel_message_bytes(message).as_slice())
        .expect("ChannelMessage");
    tampered.ciphertext[0] ^= 1;
    g.reject_channel_message(
        RejectedAction::Receive,
        message,
        tampered.encode_to_vec(),
        "AuthenticationFailed",
        "bob's epoch 1 key with a ciphertext bit flipped: the channel refuses it",
    );
    g.group_receive(ALICE, bob_epoch1);
    g.decrypt(ALICE, g6);
    g.note("bob's epoch 0 message, read after his epoch 1 key: old epochs are kept");
    g.reject_message(
        ALICE,
        g4,
        g.group_message_bytes(g4),
        None,
        "NotGroupMember",
        "carol's message given to alice after the removal",
    );

    // Messages after the removal.
    let g7 = g.encrypt(BOB, "Bob under epoch 1.");
    g.decrypt(ALICE, g7);
    let g8 = g.encrypt(ALICE, "Alice under epoch 1 again.");
    g.decrypt(BOB, g8);

    // Bob rekeys.
    let rekey = g.rekey(BOB);
    let g9 = g.encrypt(BOB, "Bob under epoch 2, after his rekey.");
    g.reject_message(
        ALICE,
        g9,
        g.group_message_bytes(g9),
        None,
        "UnknownEpoch",
        "bob's epoch 2 message before his new key reached alice",
    );
    g.group_receive(ALICE, rekey[0]);
    g.decrypt(ALICE, g9);
    let g10 = g.encrypt(ALICE, "Alice, still under epoch 1. \u{2713}");
    g.decrypt(BOB, g10);
    let g11 = g.encrypt(BOB, "");
    g.decrypt(ALICE, g11);
    g.note("an empty plaintext: the ciphertext is the 16-byte tag alone");

    // Sender keys alice must refuse (bob's sending chain to her is open).
    let rekey_message = g.control_message(rekey[0]);
    g.reject_channel_message(
        RejectedAction::Receive,
        rekey_message,
        g.channel_message_bytes(rekey_message),
        "Duplicate",
        "bob's rekey message delivered again: the channel refuses the replay",
    );
    let same = hex::decode(&g.controls[rekey[0]].bytes).expect("hex");
    g.reject_crafted(
        ALICE,
        BOB,
        CONTENT_GROUP_CONTROL,
        &same,
        "Duplicate",
        "bob's epoch 2 key again, in a new channel message: the key is held already",
    );
    let other_epoch1 = g.forged_distribution(BOB, 1);
    g.reject_crafted(
        ALICE,
        BOB,
        CONTENT_GROUP_CONTROL,
        &Generator::control(2, None, Some(other_epoch1)).encode_to_vec(),
        "StaleSenderKey",
        "another key for bob's epoch 1, which alice holds: epochs never change",
    );
    let epoch3 = g.forged_distribution(BOB, 3);
    g.reject_crafted(
        ALICE,
        BOB,
        CONTENT_GROUP_CONTROL,
        &Generator::control(0, None, Some(epoch3.clone())).encode_to_vec(),
        "StaleSenderKey",
        "a key for bob's epoch 3 sent under roster version 0, older than the \
         version alice sees bob in the group from (1)",
    );
    g.reject_crafted(
        ALICE,
        BOB,
        CONTENT_GROUP_CONTROL,
        &Generator::control(3, None, Some(epoch3)).encode_to_vec(),
        "RosterBehind",
        "a key for bob's epoch 3 sent under roster version 3, ahead of alice's \
         2 (keep it, and retry after the roster)",
    );
    let mut carols = g.forged_distribution(BOB, 3);
    carols.sender = g.key(CAROL).to_vec();
    g.reject_crafted(
        ALICE,
        BOB,
        CONTENT_GROUP_CONTROL,
        &Generator::control(2, None, Some(carols)).encode_to_vec(),
        "SenderMismatch",
        "bob sends a sender key in carol's name",
    );
    g.reject_crafted(
        ALICE,
        BOB,
        CONTENT_APPLICATION,
        b"Just chatting.",
        "NotGroupControl",
        "application data given to the group",
    );

    let Generator {
        identities,
        prekeys,
        channels,
        channel_messages,
        rosters,
        sender_keys,
        controls,
        group_messages,
        timeline,
        rejected,
        ..
    } = g;
    GroupVectors {
        description: DESCRIPTION.into(),
        protocol: GroupProtocol {
            channel_version: PROTOCOL_VERSION,
            group_version: GROUP_VERSION,
            card_signature_context: text(CARD_SIGNATURE_CONTEXT),
            self_signer: SELF_SIGNER.into(),
            signed_prekey_signature_context: text(SIGNED_PREKEY_CONTEXT),
            x3dh_info: text(X3DH_INFO),
            root_info: text(ROOT_INFO),
            message_info: text(MESSAGE_INFO),
            group_message_info: text(GROUP_MESSAGE_INFO),
            group_signature_context: text(GROUP_SIGNATURE_CONTEXT),
            roster_signature_context: text(ROSTER_SIGNATURE_CONTEXT),
            content_type_application: CONTENT_APPLICATION,
            content_type_group_control: CONTENT_GROUP_CONTROL,
        },
        generator: GroupGenerator {
            command: "cargo run --example generate_vectors -- group > \
                      tests/vectors/group-v1.json"
                .into(),
            rng: "rand 0.10 ChaCha20Rng::from_seed(seed); each private key is one 32-byte \
                  fill_bytes draw, listed with the timeline event that drew it; forged keys in \
                  rejected inputs come from ChaCha20Rng::from_seed(craft_seed)"
                .into(),
            seed: hex::encode(SEED),
            craft_seed: hex::encode(CRAFT_SEED),
        },
        group_id: hex::encode(GROUP_ID),
        identities,
        prekeys,
        channels: channels.into_iter().map(|c| c.vector).collect(),
        channel_messages,
        rosters,
        sender_keys,
        controls,
        group_messages,
        timeline,
        rejected,
    }
}

/// The file's text: [`generate`] as pretty-printed JSON with a final newline.
pub fn to_json() -> String {
    let mut json = serde_json::to_string_pretty(&generate()).expect("JSON");
    json.push('\n');
    json
}
