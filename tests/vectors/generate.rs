//! The generator of `tests/vectors/channel-v1.json`, shared by the example that writes the
//! file and the test that checks it:
//!
//! - `examples/generate_vectors.rs` prints [`to_json`]:
//!   `cargo run --example generate_vectors > tests/vectors/channel-v1.json`;
//! - `tests/vectors.rs` checks that the committed file equals [`to_json`], and deserializes
//!   it with the types below.
//!
//! # How the vectors are made
//!
//! The generator drives ratchetkit's public API with a `ChaCha20Rng` seeded with [`SEED`],
//! wrapped in a [`RecordingRng`] that records every draw. Every random value ratchetkit uses
//! is one 32-byte `fill_bytes` draw, in this order:
//!
//! 1. `Identity::generate_at` (alice, then bob): the Ed25519 seed, then the X25519 secret;
//! 2. `PrekeyStore::new`: bob's signed prekey secret;
//! 3. `generate_one_time_prekeys(3)`: one secret per one-time prekey;
//! 4. `Channel::create`: alice's X3DH ephemeral secret, then her first ratchet secret;
//! 5. `Channel::encrypt`: a new ratchet secret when the sender has received a new ratchet
//!    key since it last sent (the first message of each later sending chain), else nothing.
//!
//! The recorded draws are the private keys listed in the file. Everything ratchetkit does
//! not expose (DH outputs, root, chain and message keys, AES keys and nonces) is computed
//! here from those private keys with the primitive crates, by a small model of the
//! protocol that runs alongside the library. The model checks itself against the library
//! at every step: public keys derived from the recorded secrets must be the ones in the
//! cards, bundle and headers, the ciphertext it computes must equal the library's byte for
//! byte, and the receiving side's DH ratchet step must give the chain key the sender used.
//! Any disagreement panics with what differed, so the file is only ever written from a
//! library run that matches the model.
//!
//! The conversation follows [`SCRIPT`]. The output is deterministic: same seed, same
//! library behavior, same bytes.

use std::convert::Infallible;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::{SeedableRng, TryCryptoRng, TryRng};
use ratchetkit::wire::v1;
use ratchetkit::{
    Channel, Identity, PrekeyBundle, PrekeyStore, CARD_SIGNATURE_CONTEXT, MESSAGE_INFO,
    PROTOCOL_VERSION, ROOT_INFO, SELF_SIGNER, SIGNED_PREKEY_CONTEXT, X3DH_INFO,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use x25519_dalek::{PublicKey, StaticSecret};

/// Seed of the `ChaCha20Rng` every private key is drawn from (32 ASCII bytes).
pub const SEED: [u8; 32] = *b"ratchetkit/v1/channel-vectors/01";

/// Alice's card creation time: 2023-11-14T22:13:20Z.
pub const ALICE_CREATED_AT: u64 = 1_700_000_000;

/// Bob's card creation time: 2023-11-14T22:15:00Z.
pub const BOB_CREATED_AT: u64 = 1_700_000_100;

/// How many one-time prekeys Bob generates.
const ONE_TIME_PREKEYS: usize = 3;

/// Which of Bob's one-time prekeys (by position) goes into the bundle Alice fetches. Not the
/// first, so that an implementation has to look the prekey up by its id.
const BUNDLE_ONE_TIME_PREKEY: usize = 1;

const DESCRIPTION: &str = "Interop test vectors of ratchetkit protocol version 1: two \
identities and their self-signed cards, the responder's signed prekey bundle with a one-time \
prekey, the X3DH start, and a Double Ratchet conversation of 12 messages in both directions \
(6 sending chains, so 5 DH ratchet steps after the creator's first; one message delivered \
after a later one of its own chain, one delivered after the sender's next ratchet step). \
Every private key is listed, and every derived value: recompute them all from the private \
keys. Then 22 rejected inputs (tampered, replayed, non-canonical, with wrong prekey \
information), each with the point of the timeline where it is given, the error it must give \
and nothing changed. All byte strings are lowercase hex; the protocol strings are ASCII. \
Field by field documentation: tests/vectors/README.md. Regenerate with `cargo run --example \
generate_vectors > tests/vectors/channel-v1.json`.";

// ---------------------------------------------------------------------------------------
// The file format.
// ---------------------------------------------------------------------------------------

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

/// One sending chain: the DH ratchet step that started it.
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

// ---------------------------------------------------------------------------------------
// The conversation.
// ---------------------------------------------------------------------------------------

/// One side of the channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Party {
    Alice,
    Bob,
}

impl Party {
    fn name(self) -> &'static str {
        match self {
            Party::Alice => "alice",
            Party::Bob => "bob",
        }
    }

    fn other(self) -> Party {
        match self {
            Party::Alice => Party::Bob,
            Party::Bob => Party::Alice,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One step of [`SCRIPT`].
pub enum Step {
    /// The party encrypts the text; messages are numbered from 0 in the order they are sent.
    Send(Party, &'static str),
    /// The message with this number reaches its receiver, with a note for the timeline.
    Deliver(usize, Option<&'static str>),
}

use Party::{Alice, Bob};

/// The conversation: 12 messages, 6 sending chains (A1 B1 A2 B2 A3 B3), two late deliveries.
pub const SCRIPT: &[Step] = &[
    // Messages 0, 1, 2: Alice's first chain (A1), with prekey information.
    Step::Send(
        Alice,
        "Hi Bob! This is Alice, starting a channel from your prekey bundle.",
    ),
    Step::Send(Alice, "Second message, still on my first sending chain."),
    Step::Send(
        Alice,
        "Third message: it reaches you before the second one.",
    ),
    Step::Deliver(
        0,
        Some("Bob joins from Alice's first message; the one-time prekey is consumed"),
    ),
    Step::Deliver(
        2,
        Some("out of order: Bob skips message number 1 of A1 and keeps its key"),
    ),
    Step::Deliver(1, Some("the late message decrypts with the skipped key")),
    // Messages 3, 4: Bob's first chain (B1).
    Step::Send(Bob, "Hi Alice, I got all three, the second one late."),
    Step::Send(
        Bob,
        "This one reaches you only after my next sending chain has started.",
    ),
    // Message 5: A1 again, crossing Bob's reply.
    Step::Send(
        Alice,
        "Sent before any reply arrived, so it still carries my prekey information.",
    ),
    Step::Deliver(
        3,
        Some("Alice's first reply: she ratchets and stops attaching prekey information"),
    ),
    Step::Deliver(
        5,
        Some("prekey information on a joined channel: it matches, so it is accepted"),
    ),
    // Messages 6, 7: Alice's second chain (A2).
    Step::Send(
        Alice,
        "Your reply arrived: a new ratchet key, and no more prekey information.",
    ),
    Step::Send(Alice, "Second message on my second sending chain."),
    Step::Deliver(6, None),
    // Message 8: Bob's second chain (B2).
    Step::Send(Bob, "Ratcheting again."),
    Step::Deliver(
        8,
        Some("previous_chain_length 2: Alice keeps the key of B1 message 1, still missing"),
    ),
    Step::Deliver(
        4,
        Some("out of order across a ratchet step: the skipped key of an ended chain"),
    ),
    Step::Deliver(7, None),
    // Message 9: Alice's third chain (A3).
    Step::Send(
        Alice,
        "Third sending chain from me. Not only ASCII: \u{fc}n\u{ef}c\u{f6}d\u{e9} \u{2713}",
    ),
    Step::Deliver(9, None),
    // Messages 10, 11: Bob's third chain (B3).
    Step::Send(Bob, "Last sending chain of this vector file."),
    Step::Send(Bob, ""),
    Step::Deliver(10, None),
    Step::Deliver(
        11,
        Some("an empty plaintext: the ciphertext is the 16-byte tag alone"),
    ),
];

/// How a rejected input is made from a listed message.
#[derive(Clone, Copy, Debug)]
pub enum Tamper {
    /// The message itself, delivered again.
    Replay,
    /// The lowest bit of the ciphertext's first byte flipped.
    FlipCiphertextBit,
    /// The header re-encoded with another message number.
    MessageNumber(u32),
    /// The header re-encoded with another content type.
    ContentType(u32),
    /// The header with `content_type = 0` written out (a default value encoded: not
    /// canonical).
    ExplicitDefaultContentType,
    /// The header's ratchet key with its top bit set (not a canonical X25519 key).
    RatchetKeyTopBit,
    /// The header's ratchet key cut to 31 bytes.
    ShortRatchetKey,
    /// `ChannelMessage.version` changed.
    Version(u32),
    /// An unknown field (number 5, varint 1) appended to the `ChannelMessage`.
    UnknownField,
    /// The `ChannelMessage` fields out of order: the ciphertext first.
    CiphertextFirst,
    /// The initiator's prekey information attached.
    AddPrekeyInfo,
    /// The prekey information removed.
    DropPrekeyInfo,
    /// The prekey information's signed prekey id changed.
    PrekeySignedPrekeyId(u32),
}

/// One rejected input of [`REJECTED`].
pub struct Reject {
    /// Tried right after this step of [`SCRIPT`] (its index).
    pub after_step: usize,
    pub party: Party,
    pub action: RejectedAction,
    /// The message (by number, as in [`SCRIPT`]) the input is made from.
    pub message: usize,
    pub tamper: Tamper,
    /// The `ratchetkit::Error` variant the library must return.
    pub expected: &'static str,
    pub description: &'static str,
}

use RejectedAction::{Decrypt, Join};

/// The rejected inputs, in timeline order. Each is refused with the expected error and
/// leaves the channel (for `join`, the prekey store) byte for byte unchanged.
pub const REJECTED: &[Reject] = &[
    Reject {
        after_step: 2,
        party: Bob,
        action: Join,
        message: 0,
        tamper: Tamper::PrekeySignedPrekeyId(9),
        expected: "UnknownSignedPrekey",
        description: "message 0 naming signed prekey 9, which Bob's store never had",
    },
    Reject {
        after_step: 2,
        party: Bob,
        action: Join,
        message: 0,
        tamper: Tamper::FlipCiphertextBit,
        expected: "AuthenticationFailed",
        description:
            "message 0 with a ciphertext bit flipped: the tag fails, and the one-time prekey is \
             not consumed",
    },
    Reject {
        after_step: 3,
        party: Bob,
        action: Join,
        message: 0,
        tamper: Tamper::Replay,
        expected: "UnknownOneTimePrekey",
        description: "message 0 again: its one-time prekey was consumed by the join",
    },
    Reject {
        after_step: 3,
        party: Bob,
        action: Decrypt,
        message: 1,
        tamper: Tamper::DropPrekeyInfo,
        expected: "PrekeyInfoMismatch",
        description: "message 1 (on the chain Bob joined) without its prekey information",
    },
    Reject {
        after_step: 3,
        party: Bob,
        action: Decrypt,
        message: 2,
        tamper: Tamper::PrekeySignedPrekeyId(9),
        expected: "PrekeyInfoMismatch",
        description: "message 2 with prekey information other than the one Bob joined with",
    },
    Reject {
        after_step: 5,
        party: Bob,
        action: Decrypt,
        message: 2,
        tamper: Tamper::Replay,
        expected: "Duplicate",
        description: "message 2 again: its key was used",
    },
    Reject {
        after_step: 5,
        party: Bob,
        action: Decrypt,
        message: 0,
        tamper: Tamper::Replay,
        expected: "Duplicate",
        description: "message 0, the one Bob joined with, given to the channel",
    },
    Reject {
        after_step: 8,
        party: Alice,
        action: Decrypt,
        message: 3,
        tamper: Tamper::AddPrekeyInfo,
        expected: "PrekeyInfoMismatch",
        description: "the initiator refuses any message carrying prekey information",
    },
    Reject {
        after_step: 11,
        party: Bob,
        action: Join,
        message: 6,
        tamper: Tamper::Replay,
        expected: "NotAPrekeyMessage",
        description: "a message without prekey information cannot start a channel",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::AddPrekeyInfo,
        expected: "PrekeyInfoMismatch",
        description: "prekey information on a chain other than the one Bob joined",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::FlipCiphertextBit,
        expected: "AuthenticationFailed",
        description: "a ciphertext bit flipped",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::MessageNumber(1),
        expected: "AuthenticationFailed",
        description: "the header's message number changed from 0 to 1: the header is authenticated",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::ContentType(1),
        expected: "AuthenticationFailed",
        description: "the header's content type changed to 1 (group control): it is authenticated",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::MessageNumber(2001),
        expected: "TooFarAhead",
        description:
            "message number 2001 on a new chain: 2001 keys to skip, more than MAX_MESSAGE_GAP",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::ContentType(2),
        expected: "Decode",
        description: "content type 2, which the protocol does not define",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::ExplicitDefaultContentType,
        expected: "Decode",
        description: "the header with content_type 0 written out: not the canonical encoding",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::RatchetKeyTopBit,
        expected: "InvalidPublicKey",
        description: "the ratchet key with its top bit set: not a canonical X25519 key",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::ShortRatchetKey,
        expected: "InvalidLength",
        description: "a 31-byte ratchet key",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::Version(2),
        expected: "UnsupportedVersion",
        description: "ChannelMessage.version 2",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::UnknownField,
        expected: "Decode",
        description: "an unknown field appended: not the canonical encoding",
    },
    Reject {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        tamper: Tamper::CiphertextFirst,
        expected: "Decode",
        description:
            "the ciphertext field before the version and header: not the canonical encoding",
    },
    Reject {
        after_step: 16,
        party: Alice,
        action: Decrypt,
        message: 4,
        tamper: Tamper::Replay,
        expected: "Duplicate",
        description: "message 4 again, on a receiving chain that has ended: its key was used",
    },
];

/// The name of an error's variant, as `expected_error` gives it.
pub fn error_kind(error: &ratchetkit::Error) -> String {
    let debug = format!("{error:?}");
    debug
        .split(|c: char| !c.is_ascii_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Makes a rejected input from a message's bytes.
pub fn tamper(message: &[u8], tamper: Tamper, prekey_info: &[u8]) -> Vec<u8> {
    let mut decoded = v1::ChannelMessage::decode(message).expect("a ChannelMessage");
    let mut header = v1::RatchetHeader::decode(decoded.header.as_slice()).expect("a header");
    let mut header_bytes = None;
    match tamper {
        Tamper::Replay => return message.to_vec(),
        Tamper::FlipCiphertextBit => decoded.ciphertext[0] ^= 1,
        Tamper::MessageNumber(number) => header.message_number = number,
        Tamper::ContentType(content_type) => header.content_type = content_type,
        Tamper::ExplicitDefaultContentType => {
            assert_eq!(header.content_type, 0);
            header_bytes = Some([decoded.header.as_slice(), &[0x20, 0x00]].concat());
        }
        Tamper::RatchetKeyTopBit => header.ratchet_key[31] |= 0x80,
        Tamper::ShortRatchetKey => header.ratchet_key.truncate(31),
        Tamper::Version(version) => decoded.version = version,
        Tamper::UnknownField => return [message, &[0x28, 0x01]].concat(),
        Tamper::CiphertextFirst => {
            let ciphertext = v1::ChannelMessage {
                ciphertext: decoded.ciphertext.clone(),
                ..Default::default()
            };
            decoded.ciphertext.clear();
            return [ciphertext.encode_to_vec(), decoded.encode_to_vec()].concat();
        }
        Tamper::AddPrekeyInfo => {
            decoded.prekey = Some(v1::PrekeyInfo::decode(prekey_info).expect("PrekeyInfo"));
        }
        Tamper::DropPrekeyInfo => decoded.prekey = None,
        Tamper::PrekeySignedPrekeyId(id) => {
            decoded
                .prekey
                .as_mut()
                .expect("prekey information")
                .signed_prekey_id = id;
        }
    }
    decoded.header = header_bytes.unwrap_or_else(|| header.encode_to_vec());
    decoded.encode_to_vec()
}

// ---------------------------------------------------------------------------------------
// The recording RNG.
// ---------------------------------------------------------------------------------------

/// Wraps an RNG and records every draw. ratchetkit draws only 32-byte `fill_bytes` values
/// (key seeds and secrets); anything else would leave a key out of the file, so it panics.
pub struct RecordingRng<R> {
    inner: R,
    draws: Vec<[u8; 32]>,
}

impl<R> RecordingRng<R> {
    pub fn new(inner: R) -> Self {
        Self {
            inner,
            draws: Vec::new(),
        }
    }

    /// The draws since the last call, which must be exactly `N` (`what` names the call
    /// that made them, for the panic message).
    pub fn take<const N: usize>(&mut self, what: &str) -> [[u8; 32]; N] {
        let draws = self.take_all();
        let count = draws.len();
        draws
            .try_into()
            .unwrap_or_else(|_| panic!("{what} drew {count} random values, the vectors assume {N}"))
    }
}

impl<R> RecordingRng<R> {
    /// All the draws since the last call, however many.
    pub fn take_all(&mut self) -> Vec<[u8; 32]> {
        std::mem::take(&mut self.draws)
    }
}

impl<R: TryRng<Error = Infallible>> TryRng for RecordingRng<R> {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("unexpected next_u32: the vectors assume only 32-byte fill_bytes draws")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("unexpected next_u64: the vectors assume only 32-byte fill_bytes draws")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let len = dst.len();
        let dst: &mut [u8; 32] = dst.try_into().unwrap_or_else(|_| {
            panic!("unexpected {len}-byte draw: the vectors assume only 32-byte draws")
        });
        self.inner.try_fill_bytes(dst)?;
        self.draws.push(*dst);
        Ok(())
    }
}

impl<R: TryCryptoRng<Error = Infallible>> TryCryptoRng for RecordingRng<R> {}

// ---------------------------------------------------------------------------------------
// The model's primitives.
// ---------------------------------------------------------------------------------------

pub fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    PublicKey::from(&StaticSecret::from(*secret)).to_bytes()
}

pub fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    StaticSecret::from(*secret)
        .diffie_hellman(&PublicKey::from(*public))
        .to_bytes()
}

pub fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut okm = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .expect("HKDF output length");
    okm
}

pub fn hmac(key: &[u8; 32], input: u8) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC key");
    mac.update(&[input]);
    mac.finalize().into_bytes().into()
}

pub fn split32(okm: &[u8]) -> [u8; 32] {
    okm.try_into().expect("32 bytes")
}

/// KDF_RK: (root key, chain key).
pub fn kdf_rk(root_key: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let okm = hkdf::<64>(root_key, dh, ROOT_INFO);
    (split32(&okm[..32]), split32(&okm[32..]))
}

/// KDF_CK: (message key, next chain key).
pub fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    (hmac(chain_key, 0x01), hmac(chain_key, 0x02))
}

/// The AES-256-GCM key and nonce of a message key.
pub fn message_aead(message_key: &[u8; 32]) -> ([u8; 32], [u8; 12]) {
    let okm = hkdf::<44>(&[0; 32], message_key, MESSAGE_INFO);
    (split32(&okm[..32]), okm[32..].try_into().expect("12 bytes"))
}

pub fn seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(&(*key).into())
        .encrypt(
            &Nonce::from(*nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .expect("AES-GCM encryption")
}

pub fn key32(bytes: &[u8], what: &str) -> [u8; 32] {
    bytes
        .try_into()
        .unwrap_or_else(|_| panic!("{what} is {} bytes, not 32", bytes.len()))
}

pub fn text(bytes: &[u8]) -> String {
    std::str::from_utf8(bytes)
        .expect("protocol strings are ASCII")
        .to_owned()
}

// ---------------------------------------------------------------------------------------
// The generator.
// ---------------------------------------------------------------------------------------

/// One side's Double Ratchet state, as the model tracks it.
struct Side {
    root_key: [u8; 32],
    /// The secret of this side's current ratchet key pair (Bob's first is his signed
    /// prekey).
    ratchet_secret: [u8; 32],
    /// The peer ratchet key the next sending chain will agree with (for Alice at first,
    /// Bob's signed prekey).
    peer_ratchet_key: Option<[u8; 32]>,
    /// Every ratchet key received from the peer.
    received_keys: Vec<[u8; 32]>,
    /// The current sending chain: (chain index, chain key, next message number).
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

struct Chain {
    sender: Party,
    ratchet_secret: [u8; 32],
    ratchet_public: [u8; 32],
    peer_ratchet_public: [u8; 32],
    dh_output: [u8; 32],
    root_key_before: [u8; 32],
    root_key: [u8; 32],
    chain_key: [u8; 32],
}

struct Conversation {
    rng: RecordingRng<ChaCha20Rng>,
    alice: Identity,
    bob: Identity,
    bob_prekeys: PrekeyStore,
    bundle_one_time_prekey_id: u32,
    associated_data: Vec<u8>,
    prekey_info: Vec<u8>,
    alice_channel: Channel,
    bob_channel: Option<Channel>,
    sides: [Side; 2],
    alice_has_decrypted: bool,
    chains: Vec<Chain>,
    messages: Vec<MessageVector>,
    timeline: Vec<Event>,
    rejected: Vec<RejectedVector>,
}

impl Conversation {
    /// A DH ratchet step on the sending side with the freshly drawn `secret`.
    fn start_chain(&mut self, party: Party, secret: [u8; 32]) {
        let side = &mut self.sides[party.index()];
        let peer = side
            .peer_ratchet_key
            .expect("a side starts a sending chain only once it knows a peer ratchet key");
        let dh_output = x25519(&secret, &peer);
        let (root_key, chain_key) = kdf_rk(&side.root_key, &dh_output);
        self.chains.push(Chain {
            sender: party,
            ratchet_secret: secret,
            ratchet_public: x25519_public(&secret),
            peer_ratchet_public: peer,
            dh_output,
            root_key_before: side.root_key,
            root_key,
            chain_key,
        });
        side.root_key = root_key;
        side.ratchet_secret = secret;
        side.sending = Some((self.chains.len() - 1, chain_key, 0));
    }

    fn send(&mut self, party: Party, plaintext: &str) {
        let index = self.messages.len();
        let new_chain = self.sides[party.index()].sending.is_none();
        let channel = match party {
            Alice => &mut self.alice_channel,
            Bob => self
                .bob_channel
                .as_mut()
                .expect("the script has Bob send only after he joined"),
        };
        let bytes = channel
            .encrypt(&mut self.rng, plaintext.as_bytes())
            .expect("encrypt");
        if new_chain {
            let [secret] = self
                .rng
                .take("Channel::encrypt after a new peer ratchet key");
            self.start_chain(party, secret);
        } else {
            let [] = self.rng.take("Channel::encrypt on a running chain");
        }

        let side = &mut self.sides[party.index()];
        let (chain_index, chain_key, number) = side.sending.expect("a sending chain");
        let chain = &self.chains[chain_index];
        let (message_key, next_chain_key) = kdf_ck(&chain_key);
        side.sending = Some((chain_index, next_chain_key, number + 1));
        let (aes_key, nonce) = message_aead(&message_key);

        let message = v1::ChannelMessage::decode(bytes.as_slice()).expect("a ChannelMessage");
        assert_eq!(message.version, PROTOCOL_VERSION);
        let header = v1::RatchetHeader::decode(message.header.as_slice()).expect("a header");
        assert_eq!(
            header.ratchet_key, chain.ratchet_public,
            "message {index}: the header's ratchet key is not the public key of the draw \
             the model took for the sending chain"
        );
        assert_eq!(header.message_number, number, "message {index}: number");
        assert_eq!(
            header.previous_chain_length, side.previous_chain_length,
            "message {index}: previous chain length"
        );
        let prekey_info = message.prekey.as_ref().map(|info| info.encode_to_vec());
        let expected_prekey_info =
            (party == Alice && !self.alice_has_decrypted).then(|| self.prekey_info.clone());
        assert_eq!(
            prekey_info, expected_prekey_info,
            "message {index}: prekey information"
        );
        let aad = [self.associated_data.as_slice(), &message.header].concat();
        let ciphertext = seal(&aes_key, &nonce, &aad, plaintext.as_bytes());
        assert_eq!(
            hex::encode(&ciphertext),
            hex::encode(&message.ciphertext),
            "message {index}: the library's ciphertext differs from the model's"
        );

        self.messages.push(MessageVector {
            index,
            sender: party.name().into(),
            receiver: party.other().name().into(),
            chain: chain_index,
            ratchet_secret: hex::encode(chain.ratchet_secret),
            ratchet_public: hex::encode(chain.ratchet_public),
            previous_chain_length: header.previous_chain_length,
            message_number: number,
            root_key: hex::encode(side.root_key),
            chain_key: hex::encode(chain_key),
            message_key: hex::encode(message_key),
            next_chain_key: hex::encode(next_chain_key),
            aes_key: hex::encode(aes_key),
            nonce: hex::encode(nonce),
            header: hex::encode(&message.header),
            prekey_info: prekey_info.map(hex::encode),
            aad: hex::encode(&aad),
            plaintext: hex::encode(plaintext),
            plaintext_utf8: plaintext.into(),
            ciphertext: hex::encode(&ciphertext),
            message: hex::encode(&bytes),
        });
        self.event(party, Action::Send, index, None);
    }

    fn deliver(&mut self, index: usize, note: Option<&str>) {
        let message = &self.messages[index];
        let party = if message.receiver == "alice" {
            Alice
        } else {
            Bob
        };
        let bytes = hex::decode(&message.message).expect("hex");
        let ratchet_key = key32(
            &hex::decode(&message.ratchet_public).expect("hex"),
            "ratchet key",
        );
        let chain = &self.chains[message.chain];
        let channel = match party {
            Alice => Some(&mut self.alice_channel),
            Bob => self.bob_channel.as_mut(),
        };
        let action = if let Some(channel) = channel {
            let plaintext = channel.decrypt(&bytes).expect("Channel::decrypt");
            assert_eq!(plaintext, message.plaintext_utf8.as_bytes());
            Action::Receive
        } else {
            // Bob's first message: he joins the channel from it.
            let joined =
                Channel::join(&self.bob, &mut self.bob_prekeys, &bytes).expect("Channel::join");
            assert_eq!(joined.plaintext, message.plaintext_utf8.as_bytes());
            assert_eq!(joined.peer.to_bytes(), self.alice.card().to_bytes());
            assert!(
                !self
                    .bob_prekeys
                    .one_time_prekey_ids()
                    .contains(&self.bundle_one_time_prekey_id),
                "joining consumes the one-time prekey"
            );
            self.bob_channel = Some(joined.channel);
            Action::Join
        };

        // The receiving half of a DH ratchet step, for a ratchet key not seen before: it
        // must give the root and chain keys the sender derived.
        let side = &mut self.sides[party.index()];
        if !side.received_keys.contains(&ratchet_key) {
            let dh_output = x25519(&side.ratchet_secret, &ratchet_key);
            assert_eq!(dh_output, chain.dh_output, "message {index}: receiver's DH");
            let (root_key, chain_key) = kdf_rk(&side.root_key, &dh_output);
            assert_eq!(
                root_key, chain.root_key,
                "message {index}: receiver's root key"
            );
            assert_eq!(
                chain_key, chain.chain_key,
                "message {index}: receiver's chain key"
            );
            side.root_key = root_key;
            side.received_keys.push(ratchet_key);
            side.peer_ratchet_key = Some(ratchet_key);
            if let Some((_, _, sent)) = side.sending.take() {
                side.previous_chain_length = sent;
            }
        }
        if party == Alice {
            self.alice_has_decrypted = true;
        }
        self.event(party, action, index, note);
    }

    /// Gives a rejected input to the library, which must refuse it with the expected error
    /// and change nothing.
    fn reject(&mut self, reject: &Reject) {
        let what = reject.description;
        let original = hex::decode(&self.messages[reject.message].message).expect("hex");
        let input = tamper(&original, reject.tamper, &self.prekey_info);
        assert_eq!(
            input == original,
            matches!(reject.tamper, Tamper::Replay),
            "{what}: only a replay is the message itself"
        );
        let (result, unchanged) = match reject.action {
            RejectedAction::Join => {
                assert_eq!(reject.party, Bob, "{what}: only bob joins");
                let before = self.bob_prekeys.to_bytes();
                let result = Channel::join(&self.bob, &mut self.bob_prekeys, &input).map(drop);
                (result, *before == *self.bob_prekeys.to_bytes())
            }
            RejectedAction::Decrypt => {
                let channel = match reject.party {
                    Alice => &mut self.alice_channel,
                    Bob => self.bob_channel.as_mut().expect("bob has joined"),
                };
                let before = channel.to_bytes();
                let result = channel.decrypt(&input).map(drop);
                (result, *before == *channel.to_bytes())
            }
        };
        let error = result.expect_err(what);
        assert_eq!(error_kind(&error), reject.expected, "{what}: {error:?}");
        assert!(unchanged, "{what}: the rejected input changed the state");
        self.rejected.push(RejectedVector {
            index: self.rejected.len(),
            after_step: self.timeline.len() - 1,
            party: reject.party.name().into(),
            action: reject.action,
            message: reject.message,
            input: hex::encode(&input),
            expected_error: reject.expected.into(),
            description: what.into(),
        });
    }

    fn event(&mut self, party: Party, action: Action, message: usize, note: Option<&str>) {
        self.timeline.push(Event {
            step: self.timeline.len(),
            party: party.name().into(),
            action,
            message,
            note: note.map(Into::into),
        });
    }
}

/// Checks an identity against the draws it was made from and lists it.
pub fn identity_vector(identity: &Identity, seed: [u8; 32], agreement: [u8; 32]) -> IdentityVector {
    let card = identity.card();
    let name = card.identity();
    let signing_public = ed25519_dalek::SigningKey::from_bytes(&seed)
        .verifying_key()
        .to_bytes();
    assert_eq!(
        signing_public,
        card.signing_key(),
        "{name}: the first draw of generate_at is not the Ed25519 seed"
    );
    assert_eq!(
        x25519_public(&agreement),
        card.agreement_key(),
        "{name}: the second draw of generate_at is not the X25519 secret"
    );
    let card_bytes = card.to_bytes();
    let signed = v1::SignedCard::decode(card_bytes.as_slice()).expect("a SignedCard");
    let [signature] = signed.signatures.as_slice() else {
        panic!("{name}: a new card has exactly one signature")
    };
    assert_eq!(signature.signer, SELF_SIGNER);
    let fingerprint: [u8; 32] = Sha256::digest(&signed.content).into();
    assert_eq!(&fingerprint, card.fingerprint().as_bytes());
    IdentityVector {
        name: name.into(),
        created_at: card.created_at(),
        signing_seed: hex::encode(seed),
        signing_public: hex::encode(signing_public),
        agreement_secret: hex::encode(agreement),
        agreement_public: hex::encode(card.agreement_key()),
        card_content: hex::encode(&signed.content),
        card_signature_input: hex::encode([CARD_SIGNATURE_CONTEXT, &signed.content].concat()),
        card_signature: hex::encode(&signature.signature),
        card: hex::encode(&card_bytes),
        fingerprint: hex::encode(fingerprint),
    }
}

/// Runs the generator: drives ratchetkit through [`SCRIPT`] and lists everything.
///
/// # Panics
/// If ratchetkit draws randomness in another order than documented above, or disagrees
/// with the model of the protocol anywhere.
pub fn generate() -> Vectors {
    let mut rng = RecordingRng::new(ChaCha20Rng::from_seed(SEED));

    // Identities.
    let alice = Identity::generate_at(&mut rng, "alice", ALICE_CREATED_AT).expect("alice");
    let [alice_seed, alice_agreement] = rng.take("Identity::generate_at(alice)");
    let bob = Identity::generate_at(&mut rng, "bob", BOB_CREATED_AT).expect("bob");
    let [bob_seed, bob_agreement] = rng.take("Identity::generate_at(bob)");
    let identities = vec![
        identity_vector(&alice, alice_seed, alice_agreement),
        identity_vector(&bob, bob_seed, bob_agreement),
    ];

    // Bob's prekeys and the bundle Alice fetches.
    let mut bob_prekeys = PrekeyStore::new(&mut rng);
    let [signed_prekey_secret] = rng.take("PrekeyStore::new");
    let one_time_ids = bob_prekeys
        .generate_one_time_prekeys(&mut rng, ONE_TIME_PREKEYS)
        .expect("one-time prekeys");
    let one_time_secrets: [[u8; 32]; ONE_TIME_PREKEYS] =
        rng.take("PrekeyStore::generate_one_time_prekeys");
    let one_time_prekeys: Vec<OneTimePrekeyVector> = one_time_ids
        .iter()
        .zip(&one_time_secrets)
        .map(|(&id, secret)| {
            // Each one-time prekey's public key, as its own bundle carries it.
            let bundle = bob_prekeys.bundle(&bob, Some(id)).expect("bundle");
            let bundle = v1::PrekeyBundle::decode(bundle.to_bytes().as_slice()).expect("bundle");
            assert_eq!(
                bundle.one_time_prekey,
                x25519_public(secret),
                "one-time prekey {id} is not the public key of its draw"
            );
            OneTimePrekeyVector {
                id,
                secret: hex::encode(secret),
                public: hex::encode(x25519_public(secret)),
            }
        })
        .collect();
    let one_time_id = one_time_ids[BUNDLE_ONE_TIME_PREKEY];
    let one_time_secret = one_time_secrets[BUNDLE_ONE_TIME_PREKEY];
    let bundle_bytes = bob_prekeys
        .bundle(&bob, Some(one_time_id))
        .expect("bundle")
        .to_bytes();
    let bundle = v1::PrekeyBundle::decode(bundle_bytes.as_slice()).expect("bundle");
    let signed_prekey_id = bob_prekeys.signed_prekey_id();
    let signed_prekey = x25519_public(&signed_prekey_secret);
    assert_eq!(bundle.signed_prekey_id, signed_prekey_id);
    assert_eq!(
        bundle.signed_prekey, signed_prekey,
        "the draw of PrekeyStore::new is not the signed prekey"
    );
    assert_eq!(bundle.card, bob.card().to_bytes());
    let signed_prekey_input = [
        SIGNED_PREKEY_CONTEXT,
        &signed_prekey_id.to_be_bytes(),
        &signed_prekey,
    ]
    .concat();
    let prekeys = PrekeyVectors {
        owner: "bob".into(),
        signed_prekey: SignedPrekeyVector {
            id: signed_prekey_id,
            secret: hex::encode(signed_prekey_secret),
            public: hex::encode(signed_prekey),
            signature_input: hex::encode(signed_prekey_input),
            signature: hex::encode(&bundle.signed_prekey_signature),
        },
        one_time_prekeys,
        bundle_one_time_prekey_id: one_time_id,
        bundle: hex::encode(&bundle_bytes),
    };

    // X3DH, with Alice's first ratchet key.
    let fetched = PrekeyBundle::from_bytes(&bundle_bytes).expect("the bundle verifies");
    let alice_channel = Channel::create(&mut rng, &alice, &fetched).expect("Channel::create");
    let [ephemeral_secret, alice_first_ratchet] = rng.take("Channel::create");
    let one_time_prekey = x25519_public(&one_time_secret);
    let dh = [
        x25519(&alice_agreement, &signed_prekey),
        x25519(&ephemeral_secret, &bob.card().agreement_key()),
        x25519(&ephemeral_secret, &signed_prekey),
        x25519(&ephemeral_secret, &one_time_prekey),
    ];
    let ephemeral_public = x25519_public(&ephemeral_secret);
    let responder_dh = [
        x25519(&signed_prekey_secret, &alice.card().agreement_key()),
        x25519(&bob_agreement, &ephemeral_public),
        x25519(&signed_prekey_secret, &ephemeral_public),
        x25519(&one_time_secret, &ephemeral_public),
    ];
    assert_eq!(dh, responder_dh, "X3DH: both sides agree");
    let ikm = [[0xff; 32], dh[0], dh[1], dh[2], dh[3]].concat();
    let shared_secret = hkdf::<32>(&[0; 32], &ikm, X3DH_INFO);
    let associated_data = [
        alice.card().signing_key(),
        alice.card().agreement_key(),
        bob.card().signing_key(),
        bob.card().agreement_key(),
    ]
    .concat();
    let prekey_info = v1::PrekeyInfo {
        initiator_card: alice.card().to_bytes(),
        ephemeral_key: ephemeral_public.to_vec(),
        signed_prekey_id,
        one_time_prekey_id: Some(one_time_id),
    }
    .encode_to_vec();
    let x3dh = X3dhVector {
        initiator: "alice".into(),
        responder: "bob".into(),
        ephemeral_secret: hex::encode(ephemeral_secret),
        ephemeral_public: hex::encode(ephemeral_public),
        signed_prekey_id,
        one_time_prekey_id: one_time_id,
        dh1: hex::encode(dh[0]),
        dh2: hex::encode(dh[1]),
        dh3: hex::encode(dh[2]),
        dh4: hex::encode(dh[3]),
        ikm: hex::encode(&ikm),
        shared_secret: hex::encode(shared_secret),
        associated_data: hex::encode(&associated_data),
        prekey_info: hex::encode(&prekey_info),
    };

    let mut conversation = Conversation {
        rng,
        alice,
        bob,
        bob_prekeys,
        bundle_one_time_prekey_id: one_time_id,
        associated_data,
        prekey_info,
        alice_channel,
        bob_channel: None,
        sides: [
            Side::new(shared_secret, [0; 32], Some(signed_prekey)),
            Side::new(shared_secret, signed_prekey_secret, None),
        ],
        alice_has_decrypted: false,
        chains: Vec::new(),
        messages: Vec::new(),
        timeline: Vec::new(),
        rejected: Vec::new(),
    };
    // Alice's first sending chain was started by Channel::create.
    conversation.start_chain(Alice, alice_first_ratchet);
    for (index, step) in SCRIPT.iter().enumerate() {
        match *step {
            Step::Send(party, plaintext) => conversation.send(party, plaintext),
            Step::Deliver(index, note) => conversation.deliver(index, note),
        }
        for reject in REJECTED.iter().filter(|reject| reject.after_step == index) {
            conversation.reject(reject);
        }
    }
    assert_eq!(
        conversation.rejected.len(),
        REJECTED.len(),
        "every rejection was tried"
    );
    let Conversation {
        chains,
        messages,
        timeline,
        rejected,
        ..
    } = conversation;

    Vectors {
        description: DESCRIPTION.into(),
        protocol: Protocol {
            version: PROTOCOL_VERSION,
            card_signature_context: text(CARD_SIGNATURE_CONTEXT),
            signed_prekey_signature_context: text(SIGNED_PREKEY_CONTEXT),
            self_signer: SELF_SIGNER.into(),
            x3dh_info: text(X3DH_INFO),
            root_info: text(ROOT_INFO),
            message_info: text(MESSAGE_INFO),
        },
        generator: Generator {
            command: "cargo run --example generate_vectors > tests/vectors/channel-v1.json".into(),
            rng: "rand 0.10 ChaCha20Rng::from_seed(seed); each private key is one 32-byte \
                  fill_bytes draw, in the order documented in tests/vectors/README.md"
                .into(),
            seed: hex::encode(SEED),
        },
        identities,
        prekeys,
        x3dh,
        chains: chains
            .iter()
            .enumerate()
            .map(|(index, chain)| ChainVector {
                index,
                sender: chain.sender.name().into(),
                ratchet_secret: hex::encode(chain.ratchet_secret),
                ratchet_public: hex::encode(chain.ratchet_public),
                peer_ratchet_public: hex::encode(chain.peer_ratchet_public),
                dh_output: hex::encode(chain.dh_output),
                root_key_before: hex::encode(chain.root_key_before),
                root_key: hex::encode(chain.root_key),
                chain_key: hex::encode(chain.chain_key),
            })
            .collect(),
        messages,
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
