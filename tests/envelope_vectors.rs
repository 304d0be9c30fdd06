//! Envelopes (docs/PROTOCOL.md, section 12.2) and their vectors,
//! `tests/vectors/envelopes.json`: a first message that starts a channel (with the sender's
//! device list), a message on the established channel, group control on a channel (alone,
//! and starting a channel), and a group message; each with its fields, its bytes and what
//! `peek` returns; then inputs `peek` must refuse, with the error each must give.
//!
//! 1. the committed file is exactly what [`generate`] makes today through the public client
//!    API (`Client`, seeded, at fixed times) (`committed_file_is_a_fresh_generation`);
//! 2. every envelope is re-encoded from its listed fields with a hand-declared `Envelope`,
//!    and what `peek` returns, and the error of every refused input, are derived from the
//!    protocol document's rules with the primitive crates and hand-declared protobuf only,
//!    never through ratchetkit (`the_document_recomputes_every_envelope`);
//! 3. ratchetkit's `peek` returns what is listed for every envelope, and refuses every
//!    refused input with the listed error (`ratchetkit_peeks_and_refuses_as_listed`).
//!
//! The payloads (channel and group messages) are the client's output: their cryptography
//! is what `channel-v2.json` and `group-v2.json` check; here they are bytes whose parsing
//! section 12.2 specifies. The seed drives every draw of the clients, in an order only
//! this crate's client (its store included) defines, so another implementation cannot
//! redraw them.
//!
//! Regenerate the file after an intended change with
//! `RATCHETKIT_WRITE_VECTORS=1 cargo test --test envelope_vectors`.

// Shared with the other vectors, of which this file uses a part.
#[allow(unused_imports, unused_macros, dead_code)]
#[path = "vectors"]
mod vectors {
    pub mod committed;
    pub mod json;
    pub mod primitives;
    pub mod proto;
}

use std::convert::Infallible;

use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::channel::MAX_CHANNEL_MESSAGE_LEN;
use ratchetkit::client::{
    peek, AccountId, Client, ClientError, DeviceId, MemoryStore, Outgoing, Peeked,
    ENVELOPE_VERSION, MAX_ENVELOPE_LEN,
};
use ratchetkit::group::MAX_GROUP_MESSAGE_LEN;
use ratchetkit::wire::v1;
use ratchetkit::StorageKey;
use serde::{Deserialize, Serialize};

use vectors::committed::VectorFile;
use vectors::json::{array, bytes, error_name, to_json};
use vectors::primitives::{ed25519_verifies, CARD_CONTEXT, SELF_SIGNER};
use vectors::proto;

const COMMAND: &str = "RATCHETKIT_WRITE_VECTORS=1 cargo test --test envelope_vectors";

const FILE: VectorFile = VectorFile {
    name: "envelopes.json",
    command: COMMAND,
};

/// The seed of the ChaCha20 generator every client draws from (32 ASCII bytes).
const SEED: [u8; 32] = *b"ratchetkit/v2/envelopes/0001xxxx";

/// When the clients are created and their bundles made.
const CREATED_AT: u64 = 1_700_000_000;

/// `ENVELOPE_VERSION`, `MAX_ENVELOPE_LEN` and the kinds, as docs/PROTOCOL.md gives them.
const VERSION: u32 = 2;
const MAX_LEN: usize = 4_490_240;
/// `MAX_CHANNEL_MESSAGE_LEN` and `MAX_GROUP_MESSAGE_LEN` (section 1's limits).
const MAX_CHANNEL_LEN: usize = 4_341_760;
const MAX_GROUP_LEN: usize = 4_326_400;
const KIND_CHANNEL: u32 = 1;
const KIND_GROUP: u32 = 2;
/// `RatchetHeader.content_type` of group control (section 5).
const CONTENT_GROUP_CONTROL: u32 = 1;

/// `Envelope` (`proto/client.proto`), declared by hand from the table of section 12.2.
#[derive(Clone, PartialEq, prost::Message)]
struct Envelope {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(uint32, tag = "2")]
    kind: u32,
    #[prost(bytes = "vec", tag = "3")]
    sender: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    recipient: Vec<u8>,
    #[prost(bytes = "vec", tag = "5")]
    payload: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    sender_devices: Vec<u8>,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    description: String,
    seed: String,
    created_at: u64,
    envelope_version: u32,
    max_envelope_len: usize,
    devices: Vec<DeviceVector>,
    envelopes: Vec<EnvelopeVector>,
    refused: Vec<Refused>,
}

/// A device, and the account whose device list lists it.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeviceVector {
    label: String,
    /// The device card's Ed25519 key (`DeviceId`).
    device: String,
    /// The account card's Ed25519 key (`AccountId`).
    account: String,
    /// The account's `SignedDeviceList`, as the client holds it.
    device_list: String,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvelopeVector {
    label: String,
    description: String,
    /// The devices' labels.
    from: String,
    to: String,
    // The fields, as section 12.2 names them.
    version: u32,
    kind: u32,
    sender: String,
    recipient: String,
    payload: String,
    /// Empty unless the payload is a `ChannelMessage` that carries `PrekeyInfo`.
    sender_devices: String,
    /// What the payload says that `peek` reads: for kind 1 the header's `content_type`
    /// and whether it carries `PrekeyInfo`; for kind 2 the header's `group_id`.
    content_type: Option<u32>,
    carries_prekey_info: Option<bool>,
    group_id: Option<String>,
    /// The encoded `Envelope`.
    envelope: String,
    peek: PeekVector,
}

/// What `peek` returns.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PeekVector {
    /// `FirstMessage`, `ChannelMessage`, `GroupControl` or `GroupMessage`.
    kind: String,
    sender: String,
    recipient: String,
    /// For `GroupMessage` only.
    group: Option<String>,
}

/// An input `peek` (and so `Client::receive`) must refuse, and the error it must give.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Refused {
    label: String,
    /// The input is `input` followed by `then_zeros` zero bytes (for the inputs at and over
    /// `MAX_ENVELOPE_LEN`, which the file does not spell out).
    input: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    then_zeros: usize,
    expected_error: String,
}

fn is_zero(value: &usize) -> bool {
    *value == 0
}

impl Refused {
    fn input(&self) -> Vec<u8> {
        let mut input = bytes(&self.input);
        input.resize(input.len() + self.then_zeros, 0);
        input
    }
}

// ------------------------------------------------------------------------------------
// Generation, through the public client API.

type TestClient = Client<MemoryStore>;

fn client(rng: &mut ChaCha20Rng, name: &str) -> TestClient {
    let key = StorageKey::generate(rng);
    Client::create(rng, MemoryStore::new(), key, name, CREATED_AT).expect("a client")
}

fn account(client: &TestClient) -> AccountId {
    client.account_id().expect("a first device")
}

fn list_bytes(client: &TestClient) -> Vec<u8> {
    client.device_list().expect("a first device").to_bytes()
}

/// `from` adds `to`'s account as a contact and starts a session with its device.
fn meet(rng: &mut ChaCha20Rng, from: &mut TestClient, to: &mut TestClient) -> AccountId {
    let account = from.add_contact(rng, &list_bytes(to)).expect("a contact");
    let bundles = to.bundles(rng, 1, CREATED_AT).expect("a bundle");
    from.start_sessions(rng, &bundles).expect("a session");
    account
}

fn only(sent: Vec<Outgoing>) -> Outgoing {
    let [one]: [Outgoing; 1] = sent.try_into().expect("exactly one envelope");
    one
}

fn to(sent: &[Outgoing], device: DeviceId) -> Outgoing {
    sent.iter()
        .find(|outgoing| outgoing.recipient() == device)
        .expect("an envelope to the device")
        .clone()
}

fn receive(rng: &mut ChaCha20Rng, client: &mut TestClient, envelope: &Outgoing) -> Vec<Outgoing> {
    assert_eq!(envelope.recipient(), client.device_id());
    let received: Result<_, ClientError<Infallible>> = client.receive(rng, envelope.bytes());
    received.expect("received").outgoing().to_vec()
}

fn peek_vector(peeked: &Peeked) -> PeekVector {
    PeekVector {
        kind: format!("{:?}", peeked.kind),
        sender: hex::encode(peeked.sender.as_bytes()),
        recipient: hex::encode(peeked.recipient.as_bytes()),
        group: peeked.group.map(|group| hex::encode(group.as_bytes())),
    }
}

struct Labels(Vec<(DeviceId, &'static str)>);

impl Labels {
    fn of(&self, device: DeviceId) -> String {
        self.0
            .iter()
            .find(|(id, _)| *id == device)
            .expect("a labelled device")
            .1
            .into()
    }
}

fn envelope_vector(
    labels: &Labels,
    label: &str,
    description: &str,
    envelope: &Outgoing,
) -> EnvelopeVector {
    let bytes = envelope.bytes();
    let wire = v1::Envelope::decode(bytes).expect("an Envelope");
    let peeked = peek(bytes).expect(label);
    let (mut content_type, mut carries_prekey_info, mut group_id) = (None, None, None);
    match wire.kind {
        KIND_CHANNEL => {
            let message = v1::ChannelMessage::decode(wire.payload.as_slice()).expect("channel");
            let header = v1::RatchetHeader::decode(message.header.as_slice()).expect("header");
            content_type = Some(header.content_type);
            carries_prekey_info = Some(message.prekey.is_some());
        }
        KIND_GROUP => {
            let message = v1::GroupMessage::decode(wire.payload.as_slice()).expect("group");
            let header = v1::GroupHeader::decode(message.header.as_slice()).expect("header");
            group_id = Some(hex::encode(header.group_id));
        }
        other => panic!("kind {other}"),
    }
    EnvelopeVector {
        label: label.into(),
        description: description.into(),
        from: labels.of(peeked.sender),
        to: labels.of(envelope.recipient()),
        version: wire.version,
        kind: wire.kind,
        sender: hex::encode(&wire.sender),
        recipient: hex::encode(&wire.recipient),
        payload: hex::encode(&wire.payload),
        sender_devices: hex::encode(&wire.sender_devices),
        content_type,
        carries_prekey_info,
        group_id,
        envelope: hex::encode(bytes),
        peek: peek_vector(&peeked),
    }
}

fn refused(label: &str, input: Vec<u8>) -> Refused {
    refused_padded(label, input, 0)
}

fn refused_padded(label: &str, input: Vec<u8>, then_zeros: usize) -> Refused {
    let mut full = input.clone();
    full.resize(full.len() + then_zeros, 0);
    let error = peek(&full).expect_err(label);
    Refused {
        label: label.into(),
        input: hex::encode(input),
        then_zeros,
        expected_error: error_name(&error),
    }
}

fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    prost::encoding::encode_varint(value, &mut out);
    out
}

/// The refused inputs, made from the valid envelopes.
fn refusals(first: &[u8], channel: &[u8], group: &[u8]) -> Vec<Refused> {
    let decoded = |bytes: &[u8]| v1::Envelope::decode(bytes).expect("an Envelope");
    let with = |bytes: &[u8], change: &dyn Fn(&mut v1::Envelope)| {
        let mut envelope = decoded(bytes);
        change(&mut envelope);
        envelope.encode_to_vec()
    };
    let (first_wire, channel_wire, group_wire) = (decoded(first), decoded(channel), decoded(group));

    // The first message with its initiator card's self-signature altered.
    let mut message = v1::ChannelMessage::decode(first_wire.payload.as_slice()).expect("msg");
    let prekey = message.prekey.as_mut().expect("PrekeyInfo");
    let mut card = v1::SignedCard::decode(prekey.initiator_card.as_slice()).expect("card");
    card.signatures[0].signature[0] ^= 1;
    prekey.initiator_card = card.encode_to_vec();
    let bad_card = message.encode_to_vec();

    // The channel message at version 1.
    let mut message = v1::ChannelMessage::decode(channel_wire.payload.as_slice()).expect("msg");
    message.version = 1;
    let old_channel_message = message.encode_to_vec();

    // The group message with a 31-byte group id.
    let mut message = v1::GroupMessage::decode(group_wire.payload.as_slice()).expect("msg");
    let mut header = v1::GroupHeader::decode(message.header.as_slice()).expect("header");
    header.group_id.pop();
    message.header = header.encode_to_vec();
    let short_group_id = message.encode_to_vec();

    // Raw edits of the channel message envelope's bytes.
    let channel_fields = |order: &[u32]| {
        let wire = &channel_wire;
        let mut out = Vec::new();
        for number in order {
            match number {
                1 => out.extend([0x08, wire.version as u8]),
                2 => out.extend([0x10, wire.kind as u8]),
                3..=5 => {
                    let value = match number {
                        3 => &wire.sender,
                        4 => &wire.recipient,
                        _ => &wire.payload,
                    };
                    out.extend(varint(u64::from(number << 3 | 2)));
                    out.extend(varint(value.len() as u64));
                    out.extend(value);
                }
                _ => unreachable!(),
            }
        }
        out
    };
    assert_eq!(channel_fields(&[1, 2, 3, 4, 5]), channel);
    let long_varint = {
        let mut out = vec![0x08, 0x82, 0x00];
        out.extend(&channel[2..]);
        out
    };
    let empty_devices_written = [channel, &[0x32, 0x00]].concat();
    let unknown_field = [channel, &[0x38, 0x01]].concat();
    let version_twice = [&[0x08, 0x02], channel].concat();

    // An envelope of `kind` whose payload is `len` zero bytes (not a ChannelMessage nor a
    // GroupMessage: its first byte is no field key), as its head and the zeros' count.
    let zeros = |kind: u32, len: usize| {
        let mut head = with(channel, &|e| {
            e.kind = kind;
            e.payload.clear();
        });
        head.push(0x2a);
        head.extend(varint(len as u64));
        (head, len)
    };
    // The same, `len` bytes long in all.
    let sized = |len: usize| {
        let (head, _) = zeros(KIND_CHANNEL, len);
        zeros(KIND_CHANNEL, len - head.len())
    };
    let (at_max, at_max_zeros) = sized(MAX_ENVELOPE_LEN);
    let (over_max, over_max_zeros) = sized(MAX_ENVELOPE_LEN + 1);
    assert_eq!(at_max.len() + at_max_zeros, MAX_ENVELOPE_LEN);
    let padded = |label: &str, (head, count): (Vec<u8>, usize)| refused_padded(label, head, count);

    vec![
        refused("empty input: version 0", Vec::new()),
        refused("version 1", with(channel, &|e| e.version = 1)),
        refused("version 3", with(channel, &|e| e.version = 3)),
        refused("version 0 (left out)", with(channel, &|e| e.version = 0)),
        refused("kind 3", with(channel, &|e| e.kind = 3)),
        refused("kind 0 (left out)", with(channel, &|e| e.kind = 0)),
        refused(
            "version 1 and a 31-byte sender: the version is checked first",
            with(channel, &|e| {
                e.version = 1;
                e.sender.pop();
            }),
        ),
        refused(
            "kind 3 and a 31-byte sender: the keys are checked before the kind",
            with(channel, &|e| {
                e.kind = 3;
                e.sender.pop();
            }),
        ),
        refused(
            "a 31-byte sender",
            with(channel, &|e| {
                e.sender.pop();
            }),
        ),
        refused(
            "a 33-byte recipient",
            with(channel, &|e| e.recipient.push(0)),
        ),
        refused(
            "an empty recipient",
            with(channel, &|e| e.recipient.clear()),
        ),
        refused(
            "truncated: the last byte dropped",
            channel[..channel.len() - 1].to_vec(),
        ),
        refused("truncated: the first 40 bytes", channel[..40].to_vec()),
        refused("a trailing zero byte", [channel, &[0x00]].concat()),
        refused(
            "non-canonical: sender and recipient swapped in order (field 4 before field 3)",
            channel_fields(&[1, 2, 4, 3, 5]),
        ),
        refused(
            "non-canonical: version as a two-byte varint (0x82 0x00)",
            long_varint,
        ),
        refused(
            "non-canonical: an empty sender_devices written out",
            empty_devices_written,
        ),
        refused("an unknown field 7", unknown_field),
        refused("version written twice", version_twice),
        refused(
            "a first message without sender_devices",
            with(first, &|e| e.sender_devices.clear()),
        ),
        refused(
            "a channel message without PrekeyInfo with sender_devices",
            with(channel, &|e| {
                e.sender_devices = first_wire.sender_devices.clone();
            }),
        ),
        refused(
            "a group message with sender_devices",
            with(group, &|e| {
                e.sender_devices = first_wire.sender_devices.clone();
            }),
        ),
        refused(
            "kind 2 carrying a ChannelMessage",
            with(channel, &|e| e.kind = KIND_GROUP),
        ),
        refused(
            "kind 1 carrying a GroupMessage",
            with(group, &|e| e.kind = KIND_CHANNEL),
        ),
        refused(
            "kind 1 whose ChannelMessage is of version 1",
            with(channel, &|e| e.payload = old_channel_message.clone()),
        ),
        refused(
            "a first message whose initiator card's self-signature has a bit flipped",
            with(first, &|e| e.payload = bad_card.clone()),
        ),
        refused(
            "a group message whose header has a 31-byte group_id",
            with(group, &|e| e.payload = short_group_id.clone()),
        ),
        refused("an empty payload", with(channel, &|e| e.payload.clear())),
        refused(
            "a channel message with sender_devices whose ChannelMessage is of version 1: the \
             payload is checked before sender_devices",
            with(channel, &|e| {
                e.payload = old_channel_message.clone();
                e.sender_devices = first_wire.sender_devices.clone();
            }),
        ),
        padded(
            "kind 1, a payload of MAX_CHANNEL_MESSAGE_LEN zero bytes: within the limits, not a \
             ChannelMessage",
            zeros(KIND_CHANNEL, MAX_CHANNEL_MESSAGE_LEN),
        ),
        padded(
            "kind 1, a payload of MAX_CHANNEL_MESSAGE_LEN + 1 zero bytes: over the \
             ChannelMessage limit, before decoding it",
            zeros(KIND_CHANNEL, MAX_CHANNEL_MESSAGE_LEN + 1),
        ),
        padded(
            "kind 2, a payload of MAX_GROUP_MESSAGE_LEN zero bytes: within the limits, not a \
             GroupMessage",
            zeros(KIND_GROUP, MAX_GROUP_MESSAGE_LEN),
        ),
        padded(
            "kind 2, a payload of MAX_GROUP_MESSAGE_LEN + 1 zero bytes: over the GroupMessage \
             limit, before decoding it",
            zeros(KIND_GROUP, MAX_GROUP_MESSAGE_LEN + 1),
        ),
        padded(
            "exactly MAX_ENVELOPE_LEN bytes, kind 1, the payload zeros: within the envelope's \
             limit, over the ChannelMessage limit",
            (at_max, at_max_zeros),
        ),
        padded(
            "MAX_ENVELOPE_LEN + 1 bytes: over the envelope's limit, before decoding",
            (over_max, over_max_zeros),
        ),
    ]
}

/// The file, as it should be committed.
fn generate() -> String {
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let rng = &mut rng;
    let mut alice = client(rng, "alice");
    let mut bob = client(rng, "bob");
    let mut carol = client(rng, "carol");
    let labels = Labels(vec![
        (alice.device_id(), "alice"),
        (bob.device_id(), "bob"),
        (carol.device_id(), "carol"),
    ]);

    // Alice starts a channel with Bob's device; Bob learns her from the list it carries.
    let bob_account = meet(rng, &mut alice, &mut bob);
    let first = only(
        alice
            .encrypt_to(rng, bob_account, b"hello bob")
            .expect("sent"),
    );
    receive(rng, &mut bob, &first);
    let alice_account = account(&alice);
    let reply = only(
        bob.encrypt_to(rng, alice_account, b"hello alice")
            .expect("sent"),
    );
    receive(rng, &mut alice, &reply);

    // Alice meets Carol but sends her nothing, then makes a group of the three: the
    // welcome to Bob goes on the established channel, the one to Carol starts a channel.
    let carol_account = meet(rng, &mut alice, &mut carol);
    let (group, welcomes) = alice
        .create_group(rng, &[bob_account, carol_account])
        .expect("a group");
    let (to_bob, to_carol) = (
        to(&welcomes, bob.device_id()),
        to(&welcomes, carol.device_id()),
    );
    let answers = receive(rng, &mut bob, &to_bob);
    let alice_device = alice.device_id();
    for answer in answers.iter().filter(|a| a.recipient() == alice_device) {
        receive(rng, &mut alice, answer);
    }
    let sent = alice
        .encrypt_group(rng, group, b"hello group")
        .expect("a group message");
    let group_message = to(&sent, bob.device_id());
    receive(rng, &mut bob, &group_message);

    let envelopes = vec![
        envelope_vector(
            &labels,
            "first_message",
            "Alice's first message to Bob's device, starting the channel: the payload carries \
             PrekeyInfo, so sender_devices is Alice's account's SignedDeviceList",
            &first,
        ),
        envelope_vector(
            &labels,
            "channel_message",
            "Bob's reply on the channel Alice started: no PrekeyInfo, no sender_devices",
            &reply,
        ),
        envelope_vector(
            &labels,
            "group_control",
            "Alice's welcome to a new group, to Bob's device, on the established channel: \
             content_type 1 (group control), no PrekeyInfo",
            &to_bob,
        ),
        envelope_vector(
            &labels,
            "group_control_first_message",
            "Alice's welcome to Carol's device, on the channel it starts: content_type 1 and \
             PrekeyInfo, so sender_devices is present; peek reports GroupControl",
            &to_carol,
        ),
        envelope_vector(
            &labels,
            "group_message",
            "Alice's group message to Bob's device (kind 2): peek reports the group id of its \
             header",
            &group_message,
        ),
    ];

    let devices = [(&alice, "alice"), (&bob, "bob"), (&carol, "carol")]
        .into_iter()
        .map(|(client, label)| DeviceVector {
            label: label.into(),
            device: hex::encode(client.device_id().as_bytes()),
            account: hex::encode(account(client).as_bytes()),
            device_list: hex::encode(list_bytes(client)),
        })
        .collect();

    to_json(&Vectors {
        description: "ratchetkit client layer, envelopes (docs/PROTOCOL.md 12.2): one of each \
                      kind with what peek returns, and inputs peek must refuse"
            .into(),
        seed: hex::encode(SEED),
        created_at: CREATED_AT,
        envelope_version: ENVELOPE_VERSION,
        max_envelope_len: MAX_ENVELOPE_LEN,
        devices,
        refused: refusals(first.bytes(), reply.bytes(), group_message.bytes()),
        envelopes,
    })
}

fn committed() -> Vectors {
    FILE.parse()
}

#[test]
fn committed_file_is_a_fresh_generation() {
    FILE.write_if_asked_then_assert_is(&generate());
}

// ------------------------------------------------------------------------------------
// The document's rules, on the primitives and hand-declared messages only.

/// Decodes `bytes` as `M`, accepting only its canonical encoding (section 1).
fn canonical<M: prost::Message + Default>(bytes: &[u8]) -> Result<M, &'static str> {
    let message = M::decode(bytes).map_err(|_| "Decode")?;
    if message.encode_to_vec() == bytes {
        Ok(message)
    } else {
        Err("Decode")
    }
}

fn length(bytes: &[u8], expected: usize) -> Result<(), &'static str> {
    if bytes.len() == expected {
        Ok(())
    } else {
        Err("InvalidLength")
    }
}

/// Section 2's import checks of a card, as far as these vectors need them (a card made by
/// the crate, or one with a corrupted self-signature): decoding, the key lengths, and the
/// self-signature. Returns the card's signing key.
fn card_signing_key(card: &[u8]) -> Result<Vec<u8>, &'static str> {
    let card: proto::SignedCard = canonical(card)?;
    let content: proto::CardContent = canonical(&card.content)?;
    length(&content.signing_key, 32)?;
    length(&content.agreement_key, 32)?;
    let selves: Vec<_> = card
        .signatures
        .iter()
        .filter(|signature| signature.signer == SELF_SIGNER)
        .collect();
    let [signature] = selves.as_slice() else {
        return Err("MissingSelfSignature");
    };
    length(&signature.signature, 64)?;
    let key: [u8; 32] = content.signing_key.as_slice().try_into().expect("32");
    let input = [CARD_CONTEXT, &card.content].concat();
    if !ed25519_verifies(&key, &input, &signature.signature) {
        return Err("BadSignature");
    }
    Ok(content.signing_key)
}

/// Parses an envelope as section 12.2 says, in its order; returns what `peek` returns.
fn document_peek(input: &[u8]) -> Result<PeekVector, &'static str> {
    if input.len() > MAX_LEN {
        return Err("TooLarge");
    }
    let envelope: Envelope = canonical(input)?;
    if envelope.version != VERSION {
        return Err("UnsupportedVersion");
    }
    length(&envelope.sender, 32)?;
    length(&envelope.recipient, 32)?;
    let (kind, group, carries_prekey_info) = match envelope.kind {
        KIND_CHANNEL => {
            // Section 5, receiving step 0.
            if envelope.payload.len() > MAX_CHANNEL_LEN {
                return Err("TooLarge");
            }
            let message: proto::ChannelMessage = canonical(&envelope.payload)?;
            if message.version != 2 {
                return Err("UnsupportedVersion");
            }
            let header: proto::RatchetHeader = canonical(&message.header)?;
            length(&header.ratchet_key, 32)?;
            if header.content_type > CONTENT_GROUP_CONTROL {
                return Err("Decode");
            }
            length(&header.salt, 16)?;
            if let Some(prekey) = &message.prekey {
                card_signing_key(&prekey.initiator_card)?;
            }
            let kind = if header.content_type == CONTENT_GROUP_CONTROL {
                "GroupControl"
            } else if message.prekey.is_some() {
                "FirstMessage"
            } else {
                "ChannelMessage"
            };
            (kind, None, message.prekey.is_some())
        }
        KIND_GROUP => {
            // Section 6.1, receiving step 1, up to the group id; section 1's limit first.
            if envelope.payload.len() > MAX_GROUP_LEN {
                return Err("TooLarge");
            }
            let message: proto::GroupMessage = canonical(&envelope.payload)?;
            if message.version != 2 {
                return Err("UnsupportedVersion");
            }
            let header: proto::GroupHeader = canonical(&message.header)?;
            length(&header.sender, 32)?;
            length(&header.salt, 16)?;
            length(&header.group_id, 32)?;
            ("GroupMessage", Some(hex::encode(&header.group_id)), false)
        }
        _ => return Err("Decode"),
    };
    if carries_prekey_info == envelope.sender_devices.is_empty() {
        return Err("Decode");
    }
    Ok(PeekVector {
        kind: kind.into(),
        sender: hex::encode(&envelope.sender),
        recipient: hex::encode(&envelope.recipient),
        group,
    })
}

#[test]
fn the_document_recomputes_every_envelope() {
    let vectors = committed();
    assert_eq!(vectors.envelope_version, VERSION);
    assert_eq!(vectors.max_envelope_len, MAX_LEN);
    let device = |label: &str| {
        vectors
            .devices
            .iter()
            .find(|device| device.label == label)
            .unwrap_or_else(|| panic!("no device {label}"))
    };
    let mut kinds = std::collections::BTreeSet::new();
    for vector in &vectors.envelopes {
        let label = &vector.label;
        // (a) The envelope is the canonical encoding of its fields.
        let encoded = Envelope {
            version: vector.version,
            kind: vector.kind,
            sender: bytes(&vector.sender),
            recipient: bytes(&vector.recipient),
            payload: bytes(&vector.payload),
            sender_devices: bytes(&vector.sender_devices),
        }
        .encode_to_vec();
        assert_eq!(hex::encode(&encoded), vector.envelope, "{label}: envelope");
        assert_eq!(vector.version, VERSION, "{label}");
        assert_eq!(
            vector.sender,
            device(&vector.from).device,
            "{label}: sender"
        );
        assert_eq!(vector.recipient, device(&vector.to).device, "{label}");

        // The payload says what the vector lists.
        let payload = bytes(&vector.payload);
        match vector.kind {
            KIND_CHANNEL => {
                let message: proto::ChannelMessage = canonical(&payload).expect(label);
                let header: proto::RatchetHeader = canonical(&message.header).expect(label);
                assert_eq!(vector.content_type, Some(header.content_type), "{label}");
                assert_eq!(
                    vector.carries_prekey_info,
                    Some(message.prekey.is_some()),
                    "{label}"
                );
                assert_eq!(vector.group_id, None, "{label}");
                if let Some(prekey) = &message.prekey {
                    // 12.2, receiver check 2: the initiator card is the sender's.
                    let key = card_signing_key(&prekey.initiator_card).expect(label);
                    assert_eq!(hex::encode(key), vector.sender, "{label}");
                    // The carried list is the sender's account's, signed by it, and lists
                    // the sender with the very card PrekeyInfo carries (12.1, 12.2).
                    assert_eq!(vector.sender_devices, device(&vector.from).device_list);
                    let signed: proto::SignedDeviceList =
                        canonical(&bytes(&vector.sender_devices)).expect(label);
                    let list: proto::DeviceList = canonical(&signed.list).expect(label);
                    let account = card_signing_key(&list.account_card).expect(label);
                    assert_eq!(hex::encode(&account), device(&vector.from).account);
                    let input = [b"ratchetkit/v2/device-list".as_slice(), &signed.list].concat();
                    assert!(ed25519_verifies(
                        &array(&hex::encode(&account)),
                        &input,
                        &signed.signature
                    ));
                    assert!(
                        list.devices
                            .iter()
                            .any(|link| link.card == prekey.initiator_card),
                        "{label}: the list lists the sender's card"
                    );
                } else {
                    assert_eq!(vector.sender_devices, "", "{label}");
                }
            }
            KIND_GROUP => {
                let message: proto::GroupMessage = canonical(&payload).expect(label);
                let header: proto::GroupHeader = canonical(&message.header).expect(label);
                assert_eq!(
                    vector.group_id.as_deref(),
                    Some(hex::encode(&header.group_id).as_str())
                );
                // 12.2, receiver check 1: the header's sender is the envelope's.
                assert_eq!(hex::encode(&header.sender), vector.sender, "{label}");
                assert_eq!(vector.sender_devices, "", "{label}");
                assert_eq!(vector.content_type, None, "{label}");
            }
            other => panic!("{label}: kind {other}"),
        }

        // (b) What peek returns follows from the document.
        let peeked = document_peek(&encoded).expect(label);
        assert_eq!(peeked, vector.peek, "{label}: peek");
        kinds.insert(vector.peek.kind.clone());
    }
    assert_eq!(
        kinds.into_iter().collect::<Vec<_>>(),
        [
            "ChannelMessage",
            "FirstMessage",
            "GroupControl",
            "GroupMessage"
        ]
    );

    // Every refusal, and its error, follows from the document's order of checks.
    assert!(vectors.refused.len() >= 20);
    for refused in &vectors.refused {
        assert_eq!(
            document_peek(&refused.input()).err(),
            Some(refused.expected_error.as_str()),
            "{}",
            refused.label
        );
    }
}

#[test]
fn ratchetkit_peeks_and_refuses_as_listed() {
    let vectors = committed();
    assert_eq!(vectors.envelope_version, ENVELOPE_VERSION);
    assert_eq!(vectors.max_envelope_len, MAX_ENVELOPE_LEN);
    assert_eq!(MAX_CHANNEL_LEN, MAX_CHANNEL_MESSAGE_LEN);
    assert_eq!(MAX_GROUP_LEN, MAX_GROUP_MESSAGE_LEN);
    for vector in &vectors.envelopes {
        let peeked = peek(&bytes(&vector.envelope)).expect(&vector.label);
        assert_eq!(peek_vector(&peeked), vector.peek, "{}", vector.label);
        assert_eq!(
            peeked.sender,
            DeviceId::from_bytes(array(&vector.sender)),
            "{}",
            vector.label
        );
    }
    for refused in &vectors.refused {
        let error = peek(&refused.input()).err().map(|error| error_name(&error));
        assert_eq!(
            error.as_deref(),
            Some(refused.expected_error.as_str()),
            "{}",
            refused.label
        );
    }
}
