//! Helpers shared by the integration tests: deterministic randomness, a joined pair of
//! channels, assertions that a rejected input left a channel untouched, and a minimal
//! protobuf reader to look inside messages and saved state.

#![allow(dead_code)]

pub mod groups;
pub mod mallory;

use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::wire::v1;
use ratchetkit::{Channel, Error, Identity, PrekeyBundle, PrekeyStore};

/// The deterministic random number generator every test uses.
pub type TestRng = ChaCha20Rng;

/// A seeded rng: every test is reproducible.
pub fn rng(seed: u64) -> TestRng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A fixed creation time, so that cards do not depend on the clock.
pub const CREATED_AT: u64 = 1_700_000_000;

/// A fresh identity named `name`.
pub fn identity(rng: &mut TestRng, name: &str) -> Identity {
    Identity::generate_at(rng, name, CREATED_AT).expect("valid identity name")
}

/// A prekey store with `one_time` one-time prekeys, and their ids.
pub fn prekeys(rng: &mut TestRng, one_time: usize) -> (PrekeyStore, Vec<u32>) {
    let mut store = PrekeyStore::new(rng);
    let ids = store
        .generate_one_time_prekeys(rng, one_time)
        .expect("room for one-time prekeys");
    (store, ids)
}

/// The bundle as a directory would serve it: serialized, then parsed and verified again.
pub fn published_bundle(
    store: &PrekeyStore,
    owner: &Identity,
    one_time: Option<u32>,
) -> PrekeyBundle {
    let bundle = store.bundle(owner, one_time).expect("bundle");
    PrekeyBundle::from_bytes(&bundle.to_bytes()).expect("a genuine bundle verifies")
}

/// Alice and Bob with a channel Alice created from Bob's bundle (with a one-time prekey)
/// and Bob joined from Alice's first message. Nobody has replied yet: Alice still attaches
/// her prekey information.
pub struct Pair {
    pub rng: TestRng,
    pub alice_identity: Identity,
    pub bob_identity: Identity,
    pub bob_prekeys: PrekeyStore,
    /// Alice's side (the initiator).
    pub alice: Channel,
    /// Bob's side (the responder).
    pub bob: Channel,
    /// The message Bob joined with.
    pub first_message: Vec<u8>,
}

/// The plaintext of the first message of [`Pair::new`].
pub const FIRST_PLAINTEXT: &[u8] = b"hello bob, this is alice";

impl Pair {
    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        let alice_identity = identity(&mut rng, "alice");
        let bob_identity = identity(&mut rng, "bob");
        let (mut bob_prekeys, ids) = prekeys(&mut rng, 2);
        let bundle = published_bundle(&bob_prekeys, &bob_identity, Some(ids[0]));
        let mut alice = Channel::create(&mut rng, &alice_identity, &bundle).expect("create");
        let first_message = alice.encrypt(&mut rng, FIRST_PLAINTEXT).expect("encrypt");
        let joined = Channel::join(&bob_identity, &mut bob_prekeys, &first_message).expect("join");
        assert_eq!(joined.plaintext(), FIRST_PLAINTEXT);
        assert_eq!(joined.peer(), alice_identity.card());
        assert_eq!(bob_prekeys.one_time_prekey_ids(), vec![ids[1]]);
        Self {
            rng,
            alice_identity,
            bob_identity,
            bob_prekeys,
            alice,
            bob: joined.into_channel(),
            first_message,
        }
    }

    /// A pair that has also done one full round trip (Bob replied, Alice answered, Bob
    /// received the answer): both sides have ratcheted and Alice no longer attaches prekey
    /// information.
    pub fn established(seed: u64) -> Self {
        let mut pair = Self::new(seed);
        let reply = pair.send(false, b"hi alice");
        assert_eq!(pair.alice.decrypt(&reply).expect("reply"), b"hi alice");
        let answer = pair.send(true, b"how are you?");
        assert!(!carries_prekey(&answer));
        assert_eq!(pair.bob.decrypt(&answer).expect("answer"), b"how are you?");
        pair
    }

    /// Encrypts `plaintext` on Alice's side (`from_alice`) or Bob's.
    pub fn send(&mut self, from_alice: bool, plaintext: &[u8]) -> Vec<u8> {
        let channel = if from_alice {
            &mut self.alice
        } else {
            &mut self.bob
        };
        channel.encrypt(&mut self.rng, plaintext).expect("encrypt")
    }

    /// Decrypts on Alice's side (`to_alice`) or Bob's.
    pub fn receive(&mut self, to_alice: bool, message: &[u8]) -> Result<Vec<u8>, Error> {
        self.channel(to_alice).decrypt(message)
    }

    pub fn channel(&mut self, alice: bool) -> &mut Channel {
        if alice {
            &mut self.alice
        } else {
            &mut self.bob
        }
    }
}

/// Decrypts `message`, expecting `plaintext`.
#[track_caller]
pub fn assert_decrypts(channel: &mut Channel, message: &[u8], plaintext: &[u8]) {
    match channel.decrypt(message) {
        Ok(decrypted) => assert_eq!(decrypted, plaintext, "decrypted to other bytes"),
        Err(error) => panic!("expected the message to decrypt, got {error:?}"),
    }
}

/// Decrypts `message`, which must fail and leave `channel.to_bytes()` byte-identical.
/// Returns the error for the caller to check.
#[track_caller]
pub fn assert_rejected(channel: &mut Channel, message: &[u8]) -> Error {
    let before = channel.to_bytes();
    let result = channel.decrypt(message);
    let after = channel.to_bytes();
    assert!(
        *before == *after,
        "a failed decrypt ({result:?}) changed the channel state"
    );
    match result {
        Ok(plaintext) => panic!("expected a rejection, decrypted to {plaintext:?}"),
        Err(error) => error,
    }
}

/// [`assert_rejected`] for one expected error.
#[track_caller]
pub fn assert_rejected_with(channel: &mut Channel, message: &[u8], expected: Error) {
    let error = assert_rejected(channel, message);
    assert_eq!(error, expected);
}

/// `bytes` with bit `bit` (counted from the first byte's least significant bit) flipped.
pub fn flip_bit(bytes: &[u8], bit: usize) -> Vec<u8> {
    let mut flipped = bytes.to_vec();
    flipped[bit / 8] ^= 1 << (bit % 8);
    flipped
}

/// A channel message, parsed.
pub fn decode_message(message: &[u8]) -> v1::ChannelMessage {
    v1::ChannelMessage::decode(message).expect("a channel message")
}

/// The parsed header of a channel message.
pub fn decode_header(message: &[u8]) -> v1::RatchetHeader {
    v1::RatchetHeader::decode(decode_message(message).header.as_slice()).expect("a header")
}

/// Whether a channel message carries prekey information.
pub fn carries_prekey(message: &[u8]) -> bool {
    decode_message(message).prekey.is_some()
}

/// The sender's ratchet key of a channel message: it names the sending chain.
pub fn ratchet_key(message: &[u8]) -> Vec<u8> {
    decode_header(message).ratchet_key
}

/// One top-level protobuf field: its number, wire type, and where it lies in the input
/// (`start` is the tag's first byte, `value` the payload of a length-delimited field).
#[derive(Debug, Clone)]
pub struct RawField {
    pub number: u32,
    pub wire_type: u8,
    pub start: usize,
    pub end: usize,
    pub value: std::ops::Range<usize>,
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> u64 {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = bytes[*pos];
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return value;
        }
    }
    panic!("varint too long");
}

/// The top-level fields of a well-formed protobuf encoding (panics on malformed input:
/// only for bytes this crate produced).
pub fn raw_fields(bytes: &[u8]) -> Vec<RawField> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let tag = read_varint(bytes, &mut pos);
        let wire_type = (tag & 7) as u8;
        let value = match wire_type {
            0 => {
                let begin = pos;
                read_varint(bytes, &mut pos);
                begin..pos
            }
            1 => {
                pos += 8;
                pos - 8..pos
            }
            2 => {
                let len = read_varint(bytes, &mut pos) as usize;
                pos += len;
                pos - len..pos
            }
            5 => {
                pos += 4;
                pos - 4..pos
            }
            other => panic!("unexpected wire type {other}"),
        };
        assert!(pos <= bytes.len(), "field runs past the end");
        fields.push(RawField {
            number: (tag >> 3) as u32,
            wire_type,
            start,
            end: pos,
            value,
        });
    }
    fields
}

/// The payloads of the length-delimited fields reached by following `path` (field numbers,
/// outermost first) through nested messages.
pub fn fields_at<'a>(bytes: &'a [u8], path: &[u32]) -> Vec<&'a [u8]> {
    let Some((&first, rest)) = path.split_first() else {
        return vec![bytes];
    };
    raw_fields(bytes)
        .into_iter()
        .filter(|field| field.number == first && field.wire_type == 2)
        .flat_map(|field| fields_at(&bytes[field.value.clone()], rest))
        .collect()
}

/// The secret fields of a saved channel (`ChannelState`): root key, sending ratchet secret
/// and chain key, receiving chain key, skipped message keys.
pub fn channel_secrets(state: &[u8]) -> Vec<Vec<u8>> {
    [&[4][..], &[5, 1], &[5, 2], &[7, 2], &[9, 3]]
        .iter()
        .flat_map(|path| fields_at(state, path))
        .map(<[u8]>::to_vec)
        .collect()
}

/// The secret fields of a saved identity (`IdentityState`): signing and agreement secrets.
pub fn identity_secrets(state: &[u8]) -> Vec<Vec<u8>> {
    [&[4][..], &[5]]
        .iter()
        .flat_map(|path| fields_at(state, path))
        .map(<[u8]>::to_vec)
        .collect()
}

/// The secret fields of a saved prekey store (`PrekeyStoreState`): every prekey's X25519
/// secret (32 bytes) and ML-KEM seed (64 bytes).
pub fn prekey_store_secrets(state: &[u8]) -> Vec<Vec<u8>> {
    [&[2, 2][..], &[3, 2], &[4, 2], &[2, 3], &[3, 3], &[4, 3]]
        .iter()
        .flat_map(|path| fields_at(state, path))
        .map(<[u8]>::to_vec)
        .collect()
}

// ---------------------------------------------------------------------------------------
// Handshake helpers

/// Alice, Bob, Bob's store with two one-time prekeys, and Bob's bundle with the first.
pub struct Setup {
    pub rng: TestRng,
    pub alice: Identity,
    pub bob: Identity,
    pub store: PrekeyStore,
    pub one_time_id: u32,
    pub bundle: PrekeyBundle,
}

impl Setup {
    /// Alice creates a channel from the bundle and encrypts `plaintexts`, in order.
    pub fn alice_starts<const N: usize>(
        &mut self,
        plaintexts: [&str; N],
    ) -> (Channel, [Vec<u8>; N]) {
        let mut channel =
            Channel::create(&mut self.rng, &self.alice, &self.bundle).expect("create");
        let messages = plaintexts.map(|plaintext| {
            channel
                .encrypt(&mut self.rng, plaintext.as_bytes())
                .expect("encrypt")
        });
        (channel, messages)
    }
}

pub fn setup(seed: u64) -> Setup {
    let mut rng = rng(seed);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let (store, ids) = prekeys(&mut rng, 2);
    let bundle = published_bundle(&store, &bob, Some(ids[0]));
    Setup {
        rng,
        alice,
        bob,
        store,
        one_time_id: ids[0],
        bundle,
    }
}

/// Ed25519 over `context || parts` with the signing secret of `identity`.
pub fn sign_as(identity: &Identity, context: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    let secret: [u8; 32] = identity_secrets(&identity.to_bytes())[0]
        .as_slice()
        .try_into()
        .expect("32 bytes");
    let key = ed25519_dalek::SigningKey::from_bytes(&secret);
    assert_eq!(
        key.verifying_key().to_bytes(),
        identity.card().signing_key()
    );
    key.sign(&[context, &parts.concat()].concat())
        .to_bytes()
        .to_vec()
}

/// A serialized card with its content replaced by `content` and its signatures kept.
pub fn with_content(card: &v1::SignedCard, content: v1::CardContent) -> Vec<u8> {
    v1::SignedCard {
        content: content.encode_to_vec(),
        ..card.clone()
    }
    .encode_to_vec()
}

/// Joining with `message` fails with `expected` and leaves the store byte-identical.
#[track_caller]
pub fn assert_join_fails(s: &mut Setup, message: &[u8], expected: Error) {
    let before = s.store.to_bytes();
    let result = Channel::join(&s.bob, &mut s.store, message);
    assert_eq!(result.err(), Some(expected));
    assert!(
        *before == *s.store.to_bytes(),
        "a failed join changed the prekey store"
    );
}
