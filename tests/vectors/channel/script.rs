//! What the generator of `channel-v1.json` does: the conversation ([`SCRIPT`]) and the
//! rejected inputs ([`REJECTED`]), with how each is made from a listed message ([`tamper`]).

use prost::Message as _;
use ratchetkit::wire::v1;

use super::format::RejectedAction::{self, Decrypt, Join};
use super::sides::Party::{self, Alice, Bob};

/// One step of [`SCRIPT`].
pub enum Step {
    /// The party encrypts the text; messages are numbered from 0 in the order they are sent.
    Send(Party, &'static str),
    /// The message with this number reaches its receiver, with a note for the timeline.
    Deliver(usize, Option<&'static str>),
}

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

/// Rejected inputs given to one party at one point of the conversation, all made from one
/// message. Each is refused with the expected error and leaves the channel (for `join`, the
/// prekey store) byte for byte unchanged.
pub struct Rejects {
    /// Tried right after this step of [`SCRIPT`] (its index).
    pub after_step: usize,
    pub party: Party,
    pub action: RejectedAction,
    /// The message (by number, as in [`SCRIPT`]) the inputs are made from.
    pub message: usize,
    /// Each input: how it is made, the `ratchetkit::Error` variant the library must return,
    /// and its description.
    pub inputs: &'static [(Tamper, &'static str, &'static str)],
}

/// The rejected inputs, in timeline order.
pub const REJECTED: &[Rejects] = &[
    Rejects {
        after_step: 2,
        party: Bob,
        action: Join,
        message: 0,
        inputs: &[
            (
                Tamper::PrekeySignedPrekeyId(9),
                "UnknownSignedPrekey",
                "message 0 naming signed prekey 9, which Bob's store never had",
            ),
            (
                Tamper::FlipCiphertextBit,
                "AuthenticationFailed",
                "message 0 with a ciphertext bit flipped: the tag fails, and the one-time prekey \
                 is not consumed",
            ),
        ],
    },
    Rejects {
        after_step: 3,
        party: Bob,
        action: Join,
        message: 0,
        inputs: &[(
            Tamper::Replay,
            "UnknownOneTimePrekey",
            "message 0 again: its one-time prekey was consumed by the join",
        )],
    },
    Rejects {
        after_step: 3,
        party: Bob,
        action: Decrypt,
        message: 1,
        inputs: &[(
            Tamper::DropPrekeyInfo,
            "PrekeyInfoMismatch",
            "message 1 (on the chain Bob joined) without its prekey information",
        )],
    },
    Rejects {
        after_step: 3,
        party: Bob,
        action: Decrypt,
        message: 2,
        inputs: &[(
            Tamper::PrekeySignedPrekeyId(9),
            "PrekeyInfoMismatch",
            "message 2 with prekey information other than the one Bob joined with",
        )],
    },
    Rejects {
        after_step: 5,
        party: Bob,
        action: Decrypt,
        message: 2,
        inputs: &[(
            Tamper::Replay,
            "Duplicate",
            "message 2 again: its key was used",
        )],
    },
    Rejects {
        after_step: 5,
        party: Bob,
        action: Decrypt,
        message: 0,
        inputs: &[(
            Tamper::Replay,
            "Duplicate",
            "message 0, the one Bob joined with, given to the channel",
        )],
    },
    Rejects {
        after_step: 8,
        party: Alice,
        action: Decrypt,
        message: 3,
        inputs: &[(
            Tamper::AddPrekeyInfo,
            "PrekeyInfoMismatch",
            "the initiator refuses any message carrying prekey information",
        )],
    },
    Rejects {
        after_step: 11,
        party: Bob,
        action: Join,
        message: 6,
        inputs: &[(
            Tamper::Replay,
            "NotAPrekeyMessage",
            "a message without prekey information cannot start a channel",
        )],
    },
    Rejects {
        after_step: 12,
        party: Bob,
        action: Decrypt,
        message: 6,
        inputs: &[
            (
                Tamper::AddPrekeyInfo,
                "PrekeyInfoMismatch",
                "prekey information on a chain other than the one Bob joined",
            ),
            (
                Tamper::FlipCiphertextBit,
                "AuthenticationFailed",
                "a ciphertext bit flipped",
            ),
            (
                Tamper::MessageNumber(1),
                "AuthenticationFailed",
                "the header's message number changed from 0 to 1: the header is authenticated",
            ),
            (
                Tamper::ContentType(1),
                "AuthenticationFailed",
                "the header's content type changed to 1 (group control): it is authenticated",
            ),
            (
                Tamper::MessageNumber(2001),
                "TooFarAhead",
                "message number 2001 on a new chain: 2001 keys to skip, more than MAX_MESSAGE_GAP",
            ),
            (
                Tamper::ContentType(2),
                "Decode",
                "content type 2, which the protocol does not define",
            ),
            (
                Tamper::ExplicitDefaultContentType,
                "Decode",
                "the header with content_type 0 written out: not the canonical encoding",
            ),
            (
                Tamper::RatchetKeyTopBit,
                "InvalidPublicKey",
                "the ratchet key with its top bit set: not a canonical X25519 key",
            ),
            (
                Tamper::ShortRatchetKey,
                "InvalidLength",
                "a 31-byte ratchet key",
            ),
            (
                Tamper::Version(2),
                "UnsupportedVersion",
                "ChannelMessage.version 2",
            ),
            (
                Tamper::UnknownField,
                "Decode",
                "an unknown field appended: not the canonical encoding",
            ),
            (
                Tamper::CiphertextFirst,
                "Decode",
                "the ciphertext field before the version and header: not the canonical encoding",
            ),
        ],
    },
    Rejects {
        after_step: 16,
        party: Alice,
        action: Decrypt,
        message: 4,
        inputs: &[(
            Tamper::Replay,
            "Duplicate",
            "message 4 again, on a receiving chain that has ended: its key was used",
        )],
    },
];

/// Makes a rejected input from a message's bytes.
pub fn tamper(message: &[u8], tamper: Tamper, prekey_info: &v1::PrekeyInfo) -> Vec<u8> {
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
            decoded.prekey = Some(prekey_info.clone());
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
