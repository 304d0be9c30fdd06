//! Fixtures of the side-by-side comparison with vodozemac (Olm and Megolm), and the
//! serialized sizes it reports. Shared by `benches/compare.rs` and
//! `examples/bench_report.rs`.

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{Group, Identity, PrekeyBundle, PrekeyStore};
use vodozemac::megolm::{self, GroupSession, InboundGroupSession};
use vodozemac::olm::{self, Account, OlmMessage, Session};

use super::{established, group_of, protobuf_field_sizes, Pair};

/// The plaintext of the per-message comparisons.
pub const PAYLOAD: [u8; 100] = [0x5a; 100];
/// Senders in the catch-up comparison.
pub const CATCH_UP_SENDERS: usize = 4;
/// Messages in the catch-up comparison, from all senders together.
pub const CATCH_UP_MESSAGES: usize = 1_000;

/// Olm's message format version 1 (truncated MACs), what Matrix clients use.
pub fn olm_config() -> olm::SessionConfig {
    olm::SessionConfig::version_1()
}

/// Megolm's message format version 1, what Matrix clients use.
pub fn megolm_config() -> megolm::SessionConfig {
    megolm::SessionConfig::version_1()
}

/// An Olm message as it travels: its type and bytes.
pub fn olm_wire(message: &OlmMessage) -> (usize, Vec<u8>) {
    message.to_parts()
}

/// Parses an Olm message off the wire.
pub fn olm_parse(wire: &(usize, Vec<u8>)) -> OlmMessage {
    OlmMessage::from_parts(wire.0, &wire.1).unwrap()
}

/// Two established Olm sessions: both sides have sent and received.
pub struct OlmPair {
    pub alice: Session,
    pub bob: Session,
}

/// Bob's published keys for session setup: an account with one unused one-time key (as
/// a pickle, so each setup starts from the same account) and its public keys.
pub struct OlmBob {
    pub pickle: String,
    pub identity_key: vodozemac::Curve25519PublicKey,
    pub one_time_key: vodozemac::Curve25519PublicKey,
}

pub fn olm_bob() -> OlmBob {
    let mut bob = Account::new();
    bob.generate_one_time_keys(1);
    let one_time_key = *bob.one_time_keys().values().next().unwrap();
    bob.mark_keys_as_published();
    OlmBob {
        pickle: serde_json::to_string(&bob.pickle()).unwrap(),
        identity_key: bob.curve25519_key(),
        one_time_key,
    }
}

pub fn olm_account(pickle: &str) -> Account {
    Account::from_pickle(serde_json::from_str(pickle).unwrap())
}

/// Olm session setup, from Bob's published keys to his first decrypted message: Alice
/// creates the session and encrypts; Bob creates his from her pre-key message.
pub fn olm_setup(alice: &Account, bob: &mut Account, keys: &OlmBob) -> (Session, Session) {
    let mut outbound = alice
        .create_outbound_session(olm_config(), keys.identity_key, keys.one_time_key)
        .unwrap();
    let wire = olm_wire(&outbound.encrypt(b"hello").unwrap());
    let OlmMessage::PreKey(first) = olm_parse(&wire) else {
        panic!("the first message is a pre-key message")
    };
    let inbound = bob
        .create_inbound_session(olm_config(), alice.curve25519_key(), &first)
        .unwrap();
    assert_eq!(inbound.plaintext, b"hello");
    (outbound, inbound.session)
}

pub fn olm_established() -> OlmPair {
    let alice_account = Account::new();
    let keys = olm_bob();
    let mut bob_account = olm_account(&keys.pickle);
    let (mut alice, mut bob) = olm_setup(&alice_account, &mut bob_account, &keys);
    let reply = olm_wire(&bob.encrypt(b"hi").unwrap());
    alice.decrypt(&olm_parse(&reply)).unwrap();
    let again = olm_wire(&alice.encrypt(b"again").unwrap());
    bob.decrypt(&olm_parse(&again)).unwrap();
    OlmPair { alice, bob }
}

/// Bob's published prekeys for ratchetkit's session setup: his identity, a store with one
/// unused one-time prekey (as bytes, so each setup starts from the same store), and the
/// bundle as published.
pub struct RatchetkitBob {
    pub identity: Identity,
    pub store: Vec<u8>,
    pub bundle: Vec<u8>,
}

pub fn ratchetkit_bob(rng: &mut ChaCha20Rng) -> RatchetkitBob {
    let identity = Identity::generate_at(rng, "bob", super::CREATED_AT).unwrap();
    let mut store = PrekeyStore::new(rng);
    let ids = store.generate_one_time_prekeys(rng, 1).unwrap();
    let bundle = store.bundle(&identity, Some(ids[0])).unwrap().to_bytes();
    RatchetkitBob {
        identity,
        store: store.to_bytes().to_vec(),
        bundle,
    }
}

/// ratchetkit session setup, from Bob's published bundle to his first decrypted message:
/// Alice parses and verifies the bundle (card and signed prekey), creates the channel and
/// encrypts; Bob joins with her first message (checking her card).
pub fn ratchetkit_setup(
    rng: &mut impl rand::CryptoRng,
    alice: &Identity,
    bob: &RatchetkitBob,
    store: &mut PrekeyStore,
) -> (ratchetkit::Channel, ratchetkit::Channel) {
    let bundle = PrekeyBundle::from_bytes(&bob.bundle).unwrap();
    let mut outbound = ratchetkit::Channel::create(rng, alice, &bundle).unwrap();
    let first = outbound.encrypt(rng, b"hello").unwrap();
    let joined = ratchetkit::Channel::join(&bob.identity, store, &first).unwrap();
    assert_eq!(joined.plaintext(), b"hello");
    (outbound, joined.into_channel())
}

/// A Megolm sender and one receiver holding its session key.
pub fn megolm_pair() -> (GroupSession, InboundGroupSession) {
    let outbound = GroupSession::new(megolm_config());
    let inbound = InboundGroupSession::new(&outbound.session_key(), megolm_config());
    (outbound, inbound)
}

/// The catch-up backlog: `CATCH_UP_MESSAGES` messages from `CATCH_UP_SENDERS` senders,
/// interleaved, for ratchetkit (a group of the receiver, member 0, and the senders) and
/// Megolm (one session per sender). Returns the receiver's group before any of them, the
/// messages, and for Megolm the senders' session keys and the messages.
pub struct CatchUp {
    pub receiver: Group,
    pub messages: Vec<Vec<u8>>,
    pub megolm_keys: Vec<megolm::SessionKey>,
    pub megolm_messages: Vec<Vec<u8>>,
}

pub fn catch_up(seed: u64) -> CatchUp {
    let (_, mut state) = group_of(CATCH_UP_SENDERS + 1, seed);
    let receiver = state.groups[0].take().unwrap();
    let mut senders: Vec<Group> = state.groups[1..]
        .iter_mut()
        .map(|group| group.take().unwrap())
        .collect();
    let mut megolm_senders: Vec<GroupSession> = (0..CATCH_UP_SENDERS)
        .map(|_| GroupSession::new(megolm_config()))
        .collect();
    let megolm_keys = megolm_senders
        .iter()
        .map(GroupSession::session_key)
        .collect();
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut messages = Vec::with_capacity(CATCH_UP_MESSAGES);
    let mut megolm_messages = Vec::with_capacity(CATCH_UP_MESSAGES);
    for i in 0..CATCH_UP_MESSAGES {
        let sender = i % CATCH_UP_SENDERS;
        messages.push(senders[sender].encrypt(&mut rng, &PAYLOAD).unwrap());
        megolm_messages.push(megolm_senders[sender].encrypt(PAYLOAD).to_bytes());
    }
    CatchUp {
        receiver,
        messages,
        megolm_keys,
        megolm_messages,
    }
}

/// The length of a vodozemac pickle as unencrypted JSON, its serde form.
fn json<T: serde::Serialize>(pickle: &T) -> usize {
    serde_json::to_vec(pickle).unwrap().len()
}

/// A serialized size of both crates, and the most ratchetkit's may be.
pub struct SizeRow {
    pub what: &'static str,
    pub ratchetkit: usize,
    pub vodozemac: usize,
    pub vodozemac_form: &'static str,
    pub target: &'static str,
    pub met: bool,
}

/// The sizes the comparison reports: an established one-to-one session (each side), and
/// what a group member keeps per sender.
pub fn sizes() -> Vec<SizeRow> {
    let mut rng = ChaCha20Rng::seed_from_u64(11);
    let Pair { alice, bob } = established(&mut rng);
    let olm = olm_established();
    let channel_rows = [
        (
            "established session, creator",
            alice.to_bytes().len(),
            json(&olm.alice.pickle()),
        ),
        (
            "established session, joiner",
            bob.to_bytes().len(),
            json(&olm.bob.pickle()),
        ),
    ];

    // A member of a group of three that has decrypted one message of each other member
    // (no skipped keys): the largest of its per-sender entries.
    let (_, mut state) = group_of(3, 12);
    let mut receiver = state.groups[0].take().unwrap();
    for sender in state.groups[1..].iter_mut().flatten() {
        receiver
            .decrypt(&sender.encrypt(&mut rng, &PAYLOAD).unwrap())
            .unwrap();
    }
    let per_sender = protobuf_field_sizes(&receiver.to_bytes(), 5)
        .into_iter()
        .max()
        .unwrap();
    let (mut outbound, mut inbound) = megolm_pair();
    inbound.decrypt(&outbound.encrypt(PAYLOAD)).unwrap();
    let megolm = json(&inbound.pickle());

    let mut rows: Vec<SizeRow> = channel_rows
        .into_iter()
        .map(|(what, ratchetkit, vodozemac)| SizeRow {
            what,
            ratchetkit,
            vodozemac,
            vodozemac_form: "Olm session pickle, unencrypted JSON",
            target: "at most 1/4 of vodozemac",
            met: ratchetkit * 4 <= vodozemac,
        })
        .collect();
    rows.push(SizeRow {
        what: "group member's state per sender",
        ratchetkit: per_sender,
        vodozemac: megolm,
        vodozemac_form: "Megolm inbound session pickle, unencrypted JSON",
        target: "under 150 bytes",
        met: per_sender < 150,
    });
    rows
}
