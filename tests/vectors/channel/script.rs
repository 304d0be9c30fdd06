//! What the generator of `channel-v2.json` does: the timeline ([`SCRIPT`]) and the rejected
//! inputs ([`REJECTED`]), with how each is made from a listed message ([`tamper`]).

use prost::Message as _;
use ratchetkit::wire::v1;

use super::format::MessageVector;
use super::format::PaddingName;
use super::format::RejectedAction::{self, Decrypt, Join};
use super::sides::Party::{self, Alice, Bob, Carol};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::aes_gcm_seal;

/// One step of [`SCRIPT`]; each is one event of the timeline.
pub enum Step {
    /// The party creates the next channel (numbered from 0) from bob's bundle with this
    /// index.
    Create(Party, usize),
    /// The party encrypts the text on the channel; messages are numbered from 0 in the order
    /// they are sent.
    Send(usize, Party, &'static str),
    /// The message with this number reaches its receiver, with a note for the timeline.
    Deliver(usize, Option<&'static str>),
    /// The party pads what it sends on the channel this way from now on.
    SetPadding(usize, Party, PaddingName),
}

/// Bob's bundles, by index: with one-time prekey 3 (the second of his three), and without.
pub const BUNDLES: [Option<usize>; 2] = [Some(1), None];

/// The timeline: channel 0 (alice to bob, with a one-time prekey) carries 12 messages on 6
/// sending chains (A1 B1 A2 B2 A3 B3) with two late deliveries; channel 1 (carol to bob,
/// without a one-time prekey) 5 messages on 3 chains (C1 B1 C2), bob joining from carol's
/// second message and replying with minimal padding.
pub const SCRIPT: &[Step] = &[
    // 0: channel 0, from the bundle with a one-time prekey.
    Step::Create(Alice, 0),
    // Messages 0, 1, 2: alice's first chain (A1), under her ephemeral key, with prekey
    // information.
    Step::Send(
        0,
        Alice,
        "Hi Bob! This is Alice, starting a channel from your prekey bundle.",
    ),
    Step::Send(0, Alice, "Second message, still on my first sending chain."),
    Step::Send(
        0,
        Alice,
        "Third message: it reaches you before the second one.",
    ),
    Step::Deliver(
        0,
        Some(
            "Bob joins from Alice's first message; the one-time prekey is consumed, and his \
             store records the channel (its id's first 16 bytes) against a replay",
        ),
    ),
    Step::Deliver(
        2,
        Some("out of order: Bob skips message number 1 of A1 and keeps its key"),
    ),
    Step::Deliver(1, Some("the late message decrypts with the skipped key")),
    // Messages 3, 4: Bob's first chain (B1), a DH ratchet step with alice's ephemeral key.
    Step::Send(0, Bob, "Hi Alice, I got all three, the second one late."),
    Step::Send(
        0,
        Bob,
        "This one reaches you only after my next sending chain has started.",
    ),
    // Message 5: A1 again, crossing Bob's reply.
    Step::Send(
        0,
        Alice,
        "Sent before any reply arrived, so it still carries my prekey information.",
    ),
    Step::Deliver(
        3,
        Some("Alice's first reply: she ratchets and stops attaching prekey information"),
    ),
    Step::Deliver(
        5,
        Some("prekey information on a joined channel: authenticated with the message, accepted"),
    ),
    // Messages 6, 7: Alice's second chain (A2).
    Step::Send(
        0,
        Alice,
        "Your reply arrived: a new ratchet key, and no more prekey information.",
    ),
    Step::Send(0, Alice, "Second message on my second sending chain."),
    Step::Deliver(6, None),
    // Message 8: Bob's second chain (B2).
    Step::Send(0, Bob, "Ratcheting again."),
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
        0,
        Alice,
        "Third sending chain from me. Not only ASCII: \u{fc}n\u{ef}c\u{f6}d\u{e9} \u{2713}",
    ),
    Step::Deliver(9, None),
    // Messages 10, 11: Bob's third chain (B3).
    Step::Send(0, Bob, "Last sending chain of this channel."),
    Step::Send(0, Bob, ""),
    Step::Deliver(10, None),
    Step::Deliver(
        11,
        Some("an empty plaintext, padded to 32 bytes (0x80 and 31 zeros): 48 bytes of ciphertext"),
    ),
    // 25: channel 1, from the bundle without a one-time prekey.
    Step::Create(Carol, 1),
    // Messages 12, 13: carol's first chain (C1).
    Step::Send(
        1,
        Carol,
        "Hello Bob, Carol here. Your directory had no one-time prekey left for me.",
    ),
    Step::Send(
        1,
        Carol,
        "So both my messages name only your signed prekey.",
    ),
    Step::Deliver(
        13,
        Some(
            "Bob joins from Carol's second message, keeping the key of her first; as at every \
             join, his store records the channel (its id's first 16 bytes) against a replay",
        ),
    ),
    Step::Deliver(
        12,
        Some("Carol's first message, late: Bob's channel opens it with the skipped key"),
    ),
    Step::SetPadding(1, Bob, PaddingName::Minimal),
    // Messages 14, 15: Bob's first chain on channel 1, minimally padded.
    Step::Send(
        1,
        Bob,
        "Got both. This reply is padded minimally, so its length shows.",
    ),
    Step::Send(1, Bob, ""),
    Step::Deliver(14, None),
    Step::Deliver(
        15,
        Some("an empty plaintext padded minimally: the one byte 0x80, 17 bytes of ciphertext"),
    ),
    // Message 16: Carol's second chain (C2), no prekey information.
    Step::Send(
        1,
        Carol,
        "Thanks. My second chain carries no prekey information.",
    ),
    Step::Deliver(16, None),
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
    /// canonical), in its place before the salt.
    ExplicitDefaultContentType,
    /// The header's ratchet key with its top bit set (not a canonical X25519 key).
    RatchetKeyTopBit,
    /// The header's ratchet key cut to 31 bytes.
    ShortRatchetKey,
    /// The lowest bit of the header's salt flipped.
    FlipSaltBit,
    /// The header's salt cut to this many bytes.
    ShortSalt(usize),
    /// `ChannelMessage.version` changed.
    Version(u32),
    /// An unknown field (number 5, varint 1) appended to the `ChannelMessage`.
    UnknownField,
    /// The `ChannelMessage` fields out of order: the ciphertext first.
    CiphertextFirst,
    /// The plaintext encrypted without padding, under the message's own key, nonce and
    /// associated data.
    Unpadded,
    /// The channel's prekey information attached.
    AddPrekeyInfo,
    /// The prekey information removed.
    DropPrekeyInfo,
    /// The prekey information's signed prekey id changed.
    PrekeySignedPrekeyId(u32),
    /// The prekey information's one-time prekey id changed (`None`: removed).
    PrekeyOneTimePrekeyId(Option<u32>),
    /// The lowest bit of the prekey information's KEM ciphertext flipped.
    FlipKemCiphertextBit,
    /// The prekey information's KEM ciphertext cut to 1,087 bytes.
    ShortKemCiphertext,
    /// The prekey information with a field 2 (version 1's ephemeral key) holding the
    /// header's ratchet key.
    PrekeyEphemeralKeyField,
    /// The lowest bit of the last byte of the initiator card's self-signature flipped.
    FlipCardSignatureBit,
}

/// Rejected inputs given to one party at one point of the timeline, all made from one
/// message. Each is refused with the expected error and leaves every channel and the
/// prekey store byte for byte unchanged.
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
        after_step: 3,
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
            (
                Tamper::FlipKemCiphertextBit,
                "AuthenticationFailed",
                "message 0 with a bit of the ML-KEM ciphertext flipped: decapsulation gives an \
                 unrelated secret (implicit rejection), so other keys, and the prekey \
                 information's hash changes too",
            ),
            (
                Tamper::ShortKemCiphertext,
                "InvalidLength",
                "message 0 with a 1,087-byte ML-KEM ciphertext",
            ),
            (
                Tamper::PrekeyOneTimePrekeyId(None),
                "AuthenticationFailed",
                "message 0 without its one-time prekey id: Bob would start without DH4 and \
                 decapsulate with the signed prekey's ML-KEM key; the tag fails, and his store \
                 records nothing",
            ),
            (
                Tamper::PrekeyOneTimePrekeyId(Some(2)),
                "AuthenticationFailed",
                "message 0 naming one-time prekey 2, which Bob holds but Alice did not use: the \
                 tag fails, and prekey 2 is not consumed",
            ),
            (
                Tamper::PrekeyOneTimePrekeyId(Some(9)),
                "UnknownOneTimePrekey",
                "message 0 naming one-time prekey 9, which Bob's store never had: the lookup \
                 fails before any key is derived",
            ),
            (
                Tamper::PrekeyEphemeralKeyField,
                "Decode",
                "message 0 whose prekey information has a field 2 (version 1's ephemeral key): \
                 reserved, so an unknown field",
            ),
            (
                Tamper::FlipCardSignatureBit,
                "BadSignature",
                "message 0 whose initiator card's self-signature has a bit flipped: the card \
                 does not import",
            ),
        ],
    },
    Rejects {
        after_step: 4,
        party: Bob,
        action: Join,
        message: 0,
        inputs: &[
            (
                Tamper::Replay,
                "ReplayedFirstMessage",
                "message 0 again: the join recorded its channel with the signed prekey, as \
                 every join does (and consumed its one-time prekey)",
            ),
            (
                Tamper::PrekeyOneTimePrekeyId(Some(2)),
                "ReplayedFirstMessage",
                "message 0 naming one-time prekey 2, which Bob still holds: the same ephemeral \
                 key, so the same channel id, already recorded: refused before the prekeys are \
                 looked up, as is a creator reusing its ephemeral key with another one-time \
                 prekey",
            ),
            (
                Tamper::PrekeySignedPrekeyId(9),
                "UnknownSignedPrekey",
                "message 0 naming signed prekey 9 after the join: the replay guard looks up the \
                 named signed prekey before the joined channels",
            ),
        ],
    },
    Rejects {
        after_step: 4,
        party: Bob,
        action: Decrypt,
        message: 1,
        inputs: &[(
            Tamper::DropPrekeyInfo,
            "AuthenticationFailed",
            "message 1 (on the chain Bob joined) without its prekey information: its associated \
             data has the flag 0x00 and no hash",
        )],
    },
    Rejects {
        after_step: 4,
        party: Bob,
        action: Decrypt,
        message: 2,
        inputs: &[
            (
                Tamper::PrekeySignedPrekeyId(9),
                "AuthenticationFailed",
                "message 2 with prekey information naming signed prekey 9: the hash in its \
                 associated data changes",
            ),
            (
                Tamper::FlipCardSignatureBit,
                "AuthenticationFailed",
                "message 2 whose prekey information's card has a signature bit flipped: Bob's \
                 channel does not read the card, but the hash in the associated data changes",
            ),
        ],
    },
    Rejects {
        after_step: 6,
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
        after_step: 6,
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
        after_step: 9,
        party: Alice,
        action: Decrypt,
        message: 3,
        inputs: &[(
            Tamper::AddPrekeyInfo,
            "PrekeyInfoMismatch",
            "the creator refuses any message carrying prekey information, before any key is \
             derived",
        )],
    },
    Rejects {
        after_step: 12,
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
        after_step: 13,
        party: Bob,
        action: Decrypt,
        message: 6,
        inputs: &[
            (
                Tamper::AddPrekeyInfo,
                "AuthenticationFailed",
                "prekey information on a chain after the first: it changes the associated data",
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
                Tamper::FlipSaltBit,
                "AuthenticationFailed",
                "a bit of the header's salt flipped: another AES key and nonce, and the header is \
                 authenticated",
            ),
            (
                Tamper::Unpadded,
                "BadPadding",
                "the plaintext encrypted without padding under the message's key, nonce and \
                 associated data: the tag verifies, but the plaintext does not end in 0x80 and \
                 zeros",
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
            (Tamper::ShortSalt(15), "InvalidLength", "a 15-byte salt"),
            (
                Tamper::ShortSalt(0),
                "InvalidLength",
                "no salt, as a version 1 header",
            ),
            (
                Tamper::Version(1),
                "UnsupportedVersion",
                "ChannelMessage.version 1",
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
        after_step: 17,
        party: Alice,
        action: Decrypt,
        message: 4,
        inputs: &[(
            Tamper::Replay,
            "Duplicate",
            "message 4 again, on a receiving chain that has ended: its key was used",
        )],
    },
    Rejects {
        after_step: 27,
        party: Bob,
        action: Join,
        message: 13,
        inputs: &[
            (
                Tamper::FlipCiphertextBit,
                "AuthenticationFailed",
                "message 13 with a ciphertext bit flipped: the tag fails, and the replay guard \
                 records nothing",
            ),
            (
                Tamper::PrekeySignedPrekeyId(9),
                "UnknownSignedPrekey",
                "message 13 naming signed prekey 9: the replay guard finds no such prekey",
            ),
        ],
    },
    Rejects {
        after_step: 28,
        party: Bob,
        action: Join,
        message: 13,
        inputs: &[(
            Tamper::Replay,
            "ReplayedFirstMessage",
            "message 13 again: the channel it starts was joined, and the store remembers it",
        )],
    },
    Rejects {
        after_step: 28,
        party: Bob,
        action: Join,
        message: 12,
        inputs: &[(
            Tamper::Replay,
            "ReplayedFirstMessage",
            "message 12, the other message of Carol's first chain: the same ephemeral key, so \
             the same channel id",
        )],
    },
    Rejects {
        after_step: 28,
        party: Bob,
        action: Decrypt,
        message: 13,
        inputs: &[(
            Tamper::Replay,
            "Duplicate",
            "message 13, the one Bob joined with, given to the channel",
        )],
    },
];

/// Makes a rejected input from a listed message `m`, with `prekey_info` the prekey
/// information of its channel.
pub fn tamper(m: &MessageVector, tamper: Tamper, prekey_info: &v1::PrekeyInfo) -> Vec<u8> {
    let message = bytes(&m.message);
    let mut decoded = v1::ChannelMessage::decode(message.as_slice()).expect("a ChannelMessage");
    let mut header = v1::RatchetHeader::decode(decoded.header.as_slice()).expect("a header");
    let mut header_bytes = None;
    match tamper {
        Tamper::Replay => return message,
        Tamper::FlipCiphertextBit => decoded.ciphertext[0] ^= 1,
        Tamper::MessageNumber(number) => header.message_number = number,
        Tamper::ContentType(content_type) => header.content_type = content_type,
        Tamper::ExplicitDefaultContentType => {
            assert_eq!(header.content_type, 0);
            let salt = v1::RatchetHeader {
                salt: std::mem::take(&mut header.salt),
                ..Default::default()
            };
            header_bytes = Some(
                [
                    header.encode_to_vec(),
                    vec![0x20, 0x00],
                    salt.encode_to_vec(),
                ]
                .concat(),
            );
        }
        Tamper::RatchetKeyTopBit => header.ratchet_key[31] |= 0x80,
        Tamper::ShortRatchetKey => header.ratchet_key.truncate(31),
        Tamper::FlipSaltBit => header.salt[0] ^= 1,
        Tamper::ShortSalt(len) => header.salt.truncate(len),
        Tamper::Version(version) => decoded.version = version,
        Tamper::UnknownField => return [message.as_slice(), &[0x28, 0x01]].concat(),
        Tamper::CiphertextFirst => {
            let ciphertext = v1::ChannelMessage {
                ciphertext: decoded.ciphertext.clone(),
                ..Default::default()
            };
            decoded.ciphertext.clear();
            return [ciphertext.encode_to_vec(), decoded.encode_to_vec()].concat();
        }
        Tamper::Unpadded => {
            decoded.ciphertext = aes_gcm_seal(
                &array(&m.aes_key),
                &array(&m.nonce),
                &bytes(&m.aad),
                &bytes(&m.plaintext),
            );
        }
        Tamper::AddPrekeyInfo => decoded.prekey = Some(prekey_info.clone()),
        Tamper::DropPrekeyInfo => decoded.prekey = None,
        Tamper::PrekeySignedPrekeyId(id) => prekey_of(&mut decoded).signed_prekey_id = id,
        Tamper::PrekeyOneTimePrekeyId(id) => prekey_of(&mut decoded).one_time_prekey_id = id,
        Tamper::FlipKemCiphertextBit => prekey_of(&mut decoded).kem_ciphertext[0] ^= 1,
        Tamper::ShortKemCiphertext => prekey_of(&mut decoded).kem_ciphertext.truncate(1087),
        Tamper::PrekeyEphemeralKeyField => {
            // Field 2 (length-delimited, 32 bytes) between fields 1 and 3, in order.
            let info = decoded.prekey.take().expect("prekey information");
            let card = v1::PrekeyInfo {
                initiator_card: info.initiator_card.clone(),
                ..Default::default()
            };
            let rest = v1::PrekeyInfo {
                initiator_card: Vec::new(),
                ..info
            };
            let info_bytes = [
                card.encode_to_vec(),
                [&[0x12, 0x20][..], &header.ratchet_key].concat(),
                rest.encode_to_vec(),
            ]
            .concat();
            // `ChannelMessage.prekey` is field 4, the last: appended, it is in order.
            return [
                decoded.encode_to_vec(),
                vec![0x22],
                varint(info_bytes.len()),
                info_bytes,
            ]
            .concat();
        }
        Tamper::FlipCardSignatureBit => {
            let info = prekey_of(&mut decoded);
            let mut card =
                v1::SignedCard::decode(info.initiator_card.as_slice()).expect("a SignedCard");
            let signature = &mut card.signatures[0].signature;
            *signature.last_mut().expect("a signature") ^= 1;
            info.initiator_card = card.encode_to_vec();
        }
    }
    decoded.header = header_bytes.unwrap_or_else(|| header.encode_to_vec());
    decoded.encode_to_vec()
}

/// The prekey information of a message that carries some.
fn prekey_of(message: &mut v1::ChannelMessage) -> &mut v1::PrekeyInfo {
    message.prekey.as_mut().expect("prekey information")
}

/// A protobuf varint.
fn varint(mut value: usize) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let byte = u8::try_from(value & 0x7f).expect("7 bits");
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return out;
        }
        out.push(byte | 0x80);
    }
}
