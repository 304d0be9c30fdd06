//! Safety numbers (docs/PROTOCOL.md, section 11) and their vectors,
//! `tests/vectors/safety-numbers.json`:
//!
//! 1. the committed file is exactly what [`generate`] makes today
//!    (`committed_file_is_a_fresh_generation`);
//! 2. every value in it is recomputed from the listed card content with `sha2` alone, as the
//!    protocol document describes it, never through ratchetkit
//!    (`sha2_recomputes_every_value`);
//! 3. ratchetkit gives the listed digits, text and QR payload from the listed cards, in
//!    either order (`ratchetkit_gives_the_vectors`);
//!
//! and beyond the vectors: both sides agree, a change to either card changes the number
//! (and only that card's half), an app's co-signature changes nothing, and QR verification
//! accepts exactly the other side's payload, refuses the rest with typed errors, and never
//! panics.
//!
//! Regenerate the file after an intended change with
//! `RATCHETKIT_WRITE_VECTORS=1 cargo test --test safety_numbers`.

#[path = "vectors/committed.rs"]
mod committed;

use std::collections::{BTreeMap, VecDeque};
use std::convert::Infallible;

use proptest::prelude::*;
use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng, TryCryptoRng, TryRng};
use ratchetkit::identity::{
    SAFETY_NUMBER_CONTEXT, SAFETY_NUMBER_DIGITS, SAFETY_NUMBER_ITERATIONS, SAFETY_NUMBER_QR_LEN,
    SAFETY_NUMBER_VERSION,
};
use ratchetkit::wire::v1;
use ratchetkit::{AppKey, Card, Error, Fingerprint, Identity, SafetyNumber};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256, Sha512};

use committed::VectorFile;

/// How to regenerate the file.
const COMMAND: &str = "RATCHETKIT_WRITE_VECTORS=1 cargo test --test safety_numbers";

const FILE: VectorFile = VectorFile {
    name: "safety-numbers.json",
    command: COMMAND,
};

// ---------------------------------------------------------------------------------------
// The protocol as docs/PROTOCOL.md section 11 states it, on `sha2` alone.

/// `SAFETY_NUMBER_VERSION`: the first byte of a QR payload.
const VERSION: u8 = 2;
/// `SAFETY_NUMBER_CONTEXT`.
const CONTEXT: &[u8] = b"ratchetkit/v2/safety-number";
/// `SAFETY_NUMBER_ITERATIONS`: N, the SHA-512 hashes chained for one half.
const ITERATIONS: u32 = 1024;
/// `SAFETY_NUMBER_DIGITS`.
const DIGITS: usize = 60;
/// `SAFETY_NUMBER_QR_LEN`.
const QR_LEN: usize = 65;
/// What ratchetkit's length and version errors name.
const QR_PAYLOAD: &str = "safety number QR payload";

/// One card's half, step by step: h_1, h_N, the six group values and the 30 digits.
struct Half {
    first_hash: [u8; 64],
    last_hash: [u8; 64],
    groups: Vec<u64>,
    digits: String,
}

fn sha512(parts: &[&[u8]]) -> [u8; 64] {
    let mut hash = Sha512::new();
    for part in parts {
        hash.update(part);
    }
    hash.finalize().into()
}

/// h_1 = SHA-512(context || F), h_i = SHA-512(h_(i-1) || F) up to h_N; the first 30 bytes
/// of h_N as six 5-byte big-endian integers modulo 100,000, 5 digits each.
fn spec_half(fingerprint: &[u8; 32]) -> Half {
    let first_hash = sha512(&[CONTEXT, fingerprint]);
    let mut last_hash = first_hash;
    for _ in 2..=ITERATIONS {
        last_hash = sha512(&[&last_hash, fingerprint]);
    }
    let groups: Vec<u64> = (0..6)
        .map(|j| {
            let mut be = [0u8; 8];
            be[3..].copy_from_slice(&last_hash[5 * j..5 * j + 5]);
            u64::from_be_bytes(be) % 100_000
        })
        .collect();
    let digits = groups.iter().map(|value| format!("{value:05}")).collect();
    Half {
        first_hash,
        last_hash,
        groups,
        digits,
    }
}

/// The numeric form and the QR payload of two fingerprints, as the document orders them.
fn spec_pair(a: &[u8; 32], b: &[u8; 32]) -> (String, Vec<u8>) {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let digits = spec_half(first).digits + &spec_half(second).digits;
    let payload = [&[VERSION][..], first, second].concat();
    (digits, payload)
}

/// 12 groups of 5, separated by single spaces.
fn spec_display(digits: &str) -> String {
    digits
        .as_bytes()
        .chunks(5)
        .map(|group| std::str::from_utf8(group).expect("ASCII digits"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

// ---------------------------------------------------------------------------------------
// The file.

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    description: String,
    /// What each field holds.
    fields: BTreeMap<String, String>,
    protocol: Protocol,
    generator: Generator,
    identities: Vec<IdentityVector>,
    pairs: Vec<PairVector>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Protocol {
    version: u8,
    context: String,
    iterations: u32,
    digits: usize,
    qr_payload_len: usize,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Generator {
    command: String,
    rng: String,
    seed: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IdentityVector {
    label: String,
    name: String,
    created_at: u64,
    signing_seed: String,
    agreement_secret: String,
    card_content: String,
    card: String,
    fingerprint: String,
    first_hash: String,
    last_hash: String,
    groups: Vec<u64>,
    half: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PairVector {
    mine: String,
    theirs: String,
    first: String,
    second: String,
    digits: String,
    display: String,
    qr_payload: String,
}

fn field_docs() -> BTreeMap<String, String> {
    [
        ("protocol", "SAFETY_NUMBER_VERSION, SAFETY_NUMBER_CONTEXT (ASCII), SAFETY_NUMBER_ITERATIONS (N), SAFETY_NUMBER_DIGITS and SAFETY_NUMBER_QR_LEN"),
        ("generator", "how the file was made: the identities' private keys are the ChaCha20 draws of this seed, two per identity (Ed25519 seed, then X25519 secret); informational, the vectors are the listed values"),
        ("identities[].label", "the name pairs[] use; bob_later has bob's keys and name and a created_at one second later"),
        ("identities[].name, .created_at", "CardContent.identity and CardContent.created_at"),
        ("identities[].signing_seed, .agreement_secret", "the Ed25519 seed and X25519 secret of Identity::generate_at, which made the card"),
        ("identities[].card_content", "CardContent bytes, exactly as signed"),
        ("identities[].card", "SignedCard bytes: the card both sides hold"),
        ("identities[].fingerprint", "F = SHA-256(card_content)"),
        ("identities[].first_hash", "h_1 = SHA-512(SAFETY_NUMBER_CONTEXT || F)"),
        ("identities[].last_hash", "h_N, with h_i = SHA-512(h_(i-1) || F) for i = 2..=N"),
        ("identities[].groups", "h_N[5j..5j+5] as a big-endian integer modulo 100000, for j = 0..6"),
        ("identities[].half", "the card's 30 digits: each group as 5 decimal digits with leading zeros"),
        ("pairs[].mine, .theirs", "the labels of the two cards, as one side gives them to SafetyNumber::new; the other side's call, with the two swapped, gives the same results"),
        ("pairs[].first, .second", "the labels in canonical order: first has the smaller fingerprint (bytes compared lexicographically)"),
        ("pairs[].digits", "half(first) || half(second): 60 ASCII digits"),
        ("pairs[].display", "the digits as 12 groups of 5, separated by single spaces"),
        ("pairs[].qr_payload", "SAFETY_NUMBER_VERSION || F_first || F_second, 65 bytes"),
    ]
    .into_iter()
    .map(|(field, meaning)| (field.to_owned(), meaning.to_owned()))
    .collect()
}

// ---------------------------------------------------------------------------------------
// The generator.

/// The seed of the ChaCha20 generator the identities' keys are drawn from (32 ASCII bytes).
const SEED: [u8; 32] = *b"ratchetkit/v2/safety-numbers/001";

/// The cards' creation time.
const CREATED_AT: u64 = 1_700_000_000;

/// An RNG that hands out the listed 32-byte values, in order, and nothing else.
struct ListedRng(VecDeque<[u8; 32]>);

impl TryRng for ListedRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("unexpected next_u32: identities draw only 32-byte values")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("unexpected next_u64: identities draw only 32-byte values")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        let value = self.0.pop_front().expect("more draws than listed");
        assert_eq!(dst.len(), 32, "an identity draws 32-byte values");
        dst.copy_from_slice(&value);
        Ok(())
    }
}

impl TryCryptoRng for ListedRng {}

/// The identity `Identity::generate_at` makes from these two draws.
fn identity_from(seed: [u8; 32], agreement: [u8; 32], name: &str, created_at: u64) -> Identity {
    let mut rng = ListedRng(VecDeque::from([seed, agreement]));
    let identity = Identity::generate_at(&mut rng, name, created_at).expect("a valid name");
    assert!(rng.0.is_empty(), "generate_at draws exactly two values");
    identity
}

/// 32 bytes from `rng`, as an identity draws its keys.
fn draw(rng: &mut ChaCha20Rng) -> [u8; 32] {
    let mut value = [0u8; 32];
    rng.fill_bytes(&mut value);
    value
}

fn content_of(card: &Card) -> Vec<u8> {
    v1::SignedCard::decode(card.to_bytes().as_slice())
        .expect("a SignedCard")
        .content
}

/// The file, as it should be committed.
fn generate() -> String {
    let mut rng = ChaCha20Rng::from_seed(SEED);
    let keys: Vec<([u8; 32], [u8; 32])> =
        (0..3).map(|_| (draw(&mut rng), draw(&mut rng))).collect();
    let people = [
        ("alice", "alice", keys[0], CREATED_AT),
        ("bob", "bob", keys[1], CREATED_AT),
        ("carol", "carol", keys[2], CREATED_AT),
        ("bob_later", "bob", keys[1], CREATED_AT + 1),
    ];
    let mut identities = Vec::new();
    let mut cards = BTreeMap::new();
    for (label, name, (seed, agreement), created_at) in people {
        let identity = identity_from(seed, agreement, name, created_at);
        let card = identity.card().clone();
        let content = content_of(&card);
        let fingerprint = card.fingerprint();
        let half = spec_half(fingerprint.as_bytes());
        // ratchetkit's half of a card is both halves of the card with itself.
        let with_itself = SafetyNumber::new(&card, &card);
        assert_eq!(with_itself.digits(), half.digits.repeat(2), "{label}");
        identities.push(IdentityVector {
            label: label.to_owned(),
            name: name.to_owned(),
            created_at,
            signing_seed: hex::encode(seed),
            agreement_secret: hex::encode(agreement),
            card_content: hex::encode(&content),
            card: hex::encode(card.to_bytes()),
            fingerprint: hex::encode(fingerprint.as_bytes()),
            first_hash: hex::encode(half.first_hash),
            last_hash: hex::encode(half.last_hash),
            groups: half.groups,
            half: half.digits,
        });
        cards.insert(label, card);
    }
    let pairs = [
        ("alice", "bob"),
        ("bob", "alice"),
        ("carol", "alice"),
        ("bob", "carol"),
        ("alice", "bob_later"),
        ("carol", "carol"),
    ]
    .into_iter()
    .map(|(mine, theirs)| {
        let number = SafetyNumber::new(&cards[mine], &cards[theirs]);
        let (first, second) = if cards[mine].fingerprint() <= cards[theirs].fingerprint() {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        PairVector {
            mine: mine.to_owned(),
            theirs: theirs.to_owned(),
            first: first.to_owned(),
            second: second.to_owned(),
            digits: number.digits().to_owned(),
            display: number.to_string(),
            qr_payload: hex::encode(number.qr_payload()),
        }
    })
    .collect();
    let vectors = Vectors {
        description: "Safety numbers (docs/PROTOCOL.md, section 11): for four cards, each \
                      card's fingerprint and its 30-digit half with the first and last of the \
                      chained SHA-512 hashes, and for six pairs of cards (both orders of one \
                      pair, a card with itself, and two cards that differ only in created_at) \
                      the 60 digits, their display and the QR payload, which both sides compute \
                      alike."
            .to_owned(),
        fields: field_docs(),
        protocol: Protocol {
            version: SAFETY_NUMBER_VERSION,
            context: String::from_utf8(SAFETY_NUMBER_CONTEXT.to_vec()).expect("ASCII"),
            iterations: SAFETY_NUMBER_ITERATIONS,
            digits: SAFETY_NUMBER_DIGITS,
            qr_payload_len: SAFETY_NUMBER_QR_LEN,
        },
        generator: Generator {
            command: COMMAND.to_owned(),
            rng: "ChaCha20Rng (rand 0.10), from_seed".to_owned(),
            seed: String::from_utf8(SEED.to_vec()).expect("ASCII"),
        },
        identities,
        pairs,
    };
    let mut json = serde_json::to_string_pretty(&vectors).expect("JSON");
    json.push('\n');
    json
}

fn bytes(hex_text: &str) -> Vec<u8> {
    assert_eq!(hex_text, hex_text.to_ascii_lowercase(), "lowercase hex");
    hex::decode(hex_text).expect("hex")
}

fn array<const N: usize>(hex_text: &str) -> [u8; N] {
    bytes(hex_text).try_into().expect("the listed length")
}

fn identity_named<'a>(vectors: &'a Vectors, label: &str) -> &'a IdentityVector {
    vectors
        .identities
        .iter()
        .find(|identity| identity.label == label)
        .unwrap_or_else(|| panic!("no identity {label}"))
}

// ---------------------------------------------------------------------------------------
// The vectors.

#[test]
fn committed_file_is_a_fresh_generation() {
    FILE.write_if_asked_then_assert_is(&generate());
}

#[test]
fn sha2_recomputes_every_value() {
    let vectors: Vectors = FILE.parse();
    let protocol = &vectors.protocol;
    assert_eq!(
        (
            protocol.version,
            protocol.context.as_bytes(),
            protocol.iterations,
            protocol.digits,
            protocol.qr_payload_len
        ),
        (VERSION, CONTEXT, ITERATIONS, DIGITS, QR_LEN)
    );
    let mut leading_zero = false;
    for identity in &vectors.identities {
        let label = &identity.label;
        let content = bytes(&identity.card_content);
        // A SignedCard starts with its field 1, the content: key 0x0a, a varint length.
        assert!(content.len() < 128, "a one-byte length");
        let card = bytes(&identity.card);
        assert!(
            card.starts_with(&[&[0x0a, content.len() as u8][..], &content].concat()),
            "{label}: the card carries the listed content"
        );
        let fingerprint = sha256(&content);
        assert_eq!(hex::encode(fingerprint), identity.fingerprint, "{label}");
        let half = spec_half(&fingerprint);
        assert_eq!(hex::encode(half.first_hash), identity.first_hash, "{label}");
        assert_eq!(hex::encode(half.last_hash), identity.last_hash, "{label}");
        assert_eq!(half.groups, identity.groups, "{label}");
        assert_eq!(half.digits, identity.half, "{label}");
        assert_eq!(half.digits.len(), DIGITS / 2);
        leading_zero |= half.groups.iter().any(|&group| group < 10_000);
    }
    assert!(leading_zero, "some group is written with a leading zero");

    let mut reversed = false;
    let mut with_itself = false;
    for pair in &vectors.pairs {
        let what = format!("{} with {}", pair.mine, pair.theirs);
        let mine = identity_named(&vectors, &pair.mine);
        let theirs = identity_named(&vectors, &pair.theirs);
        let (a, b) = (
            array::<32>(&mine.fingerprint),
            array::<32>(&theirs.fingerprint),
        );
        reversed |= a > b;
        with_itself |= a == b;
        let (first, second) = if a <= b {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        assert_eq!((&pair.first, &pair.second), (&first.label, &second.label));
        let (digits, payload) = spec_pair(&a, &b);
        assert_eq!(digits, pair.digits, "{what}");
        assert_eq!(digits, format!("{}{}", first.half, second.half), "{what}");
        assert_eq!(
            spec_pair(&b, &a),
            (digits.clone(), payload.clone()),
            "{what}"
        );
        assert_eq!(spec_display(&digits), pair.display, "{what}");
        assert_eq!(pair.display.split(' ').count(), 12);
        assert_eq!(hex::encode(&payload), pair.qr_payload, "{what}");
        assert_eq!(payload.len(), QR_LEN);
    }
    assert!(reversed, "a pair lists the larger fingerprint as mine");
    assert!(with_itself, "a pair of a card with itself");
}

#[test]
fn ratchetkit_gives_the_vectors() {
    assert_eq!(
        (
            SAFETY_NUMBER_VERSION,
            SAFETY_NUMBER_CONTEXT,
            SAFETY_NUMBER_ITERATIONS,
            SAFETY_NUMBER_DIGITS,
            SAFETY_NUMBER_QR_LEN
        ),
        (VERSION, CONTEXT, ITERATIONS, DIGITS, QR_LEN)
    );
    let vectors: Vectors = FILE.parse();
    let card = |label: &str| {
        let listed = identity_named(&vectors, label);
        let card = Card::from_bytes(&bytes(&listed.card)).expect("a valid card");
        assert_eq!(
            hex::encode(card.fingerprint().as_bytes()),
            listed.fingerprint
        );
        // The listed keys make the listed card.
        let again = identity_from(
            array(&listed.signing_seed),
            array(&listed.agreement_secret),
            &listed.name,
            listed.created_at,
        );
        assert_eq!(again.card(), &card, "{label}");
        card
    };
    for pair in &vectors.pairs {
        let what = format!("{} with {}", pair.mine, pair.theirs);
        let (mine, theirs) = (card(&pair.mine), card(&pair.theirs));
        let payload = bytes(&pair.qr_payload);
        for number in [
            SafetyNumber::new(&mine, &theirs),
            SafetyNumber::new(&theirs, &mine),
            SafetyNumber::from_fingerprints(mine.fingerprint(), theirs.fingerprint()),
            SafetyNumber::from_fingerprints(
                Fingerprint::from_bytes(array(&identity_named(&vectors, &pair.theirs).fingerprint)),
                Fingerprint::from_bytes(array(&identity_named(&vectors, &pair.mine).fingerprint)),
            ),
        ] {
            assert_eq!(number.digits(), pair.digits, "{what}");
            assert_eq!(number.to_string(), pair.display, "{what}");
            assert_eq!(number.qr_payload(), payload, "{what}");
            assert_eq!(number.verify_qr_payload(&payload), Ok(()), "{what}");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Beyond the vectors.

fn fresh(rng: &mut ChaCha20Rng, name: &str) -> Identity {
    Identity::generate_at(rng, name, CREATED_AT).expect("a valid name")
}

/// A card's own half, from ratchetkit: both halves of the card with itself.
fn half_of(card: &Card) -> String {
    let digits = SafetyNumber::new(card, card).digits().to_owned();
    let (first, second) = digits.split_at(DIGITS / 2);
    assert_eq!(first, second);
    first.to_owned()
}

#[test]
fn both_sides_compute_the_same_number() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let people: Vec<Identity> = ["alice", "bob", "carol", "dave"]
        .into_iter()
        .map(|name| fresh(&mut rng, name))
        .collect();
    for a in &people {
        for b in &people {
            let mine = SafetyNumber::new(a.card(), b.card());
            let theirs = SafetyNumber::new(b.card(), a.card());
            assert_eq!(mine, theirs);
            assert_eq!(mine.digits(), theirs.digits());
            assert_eq!(mine.to_string(), theirs.to_string());
            assert_eq!(mine.qr_payload(), theirs.qr_payload());
            assert_eq!(theirs.verify_qr_payload(&mine.qr_payload()), Ok(()));
            assert_eq!(mine.digits().len(), SAFETY_NUMBER_DIGITS);
            assert!(mine.digits().bytes().all(|b| b.is_ascii_digit()));
            // The smaller fingerprint's half comes first.
            let (low, high) = if a.card().fingerprint() <= b.card().fingerprint() {
                (a.card(), b.card())
            } else {
                (b.card(), a.card())
            };
            assert_eq!(mine.digits(), half_of(low) + &half_of(high));
        }
    }
}

#[test]
fn changing_either_card_changes_the_number() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let alice = fresh(&mut rng, "alice");
    let bob = fresh(&mut rng, "bob");
    let app = AppKey::generate(&mut rng);
    // Cards that differ from bob's in one way each: new keys under his name; his keys under
    // another name or a later creation time; his rotated card.
    let (seed, agreement) = (draw(&mut rng), draw(&mut rng));
    let bob_keys = identity_from(seed, agreement, "bob", CREATED_AT);
    let variants = [
        fresh(&mut rng, "bob").card().clone(),
        identity_from(seed, agreement, "bob2", CREATED_AT)
            .card()
            .clone(),
        identity_from(seed, agreement, "bob", CREATED_AT + 1)
            .card()
            .clone(),
        bob_keys
            .rotate_at(&mut rng, CREATED_AT + 86_400)
            .expect("rotate")
            .card()
            .clone(),
    ];
    let genuine = SafetyNumber::new(alice.card(), bob_keys.card());
    for (index, variant) in variants.iter().enumerate() {
        for changed in [
            SafetyNumber::new(alice.card(), variant),
            SafetyNumber::new(variant, alice.card()),
        ] {
            assert_ne!(changed.digits(), genuine.digits(), "variant {index}");
            assert_ne!(changed.to_string(), genuine.to_string(), "variant {index}");
            assert_ne!(
                changed.qr_payload(),
                genuine.qr_payload(),
                "variant {index}"
            );
            assert_eq!(
                genuine.verify_qr_payload(&changed.qr_payload()),
                Err(Error::SafetyNumberMismatch),
                "variant {index}"
            );
            // Only the changed card's half changed: alice's is still there.
            let half = half_of(alice.card());
            let (first, second) = changed.digits().split_at(DIGITS / 2);
            assert!(first == half || second == half, "variant {index}");
            assert_ne!(
                half_of(variant),
                half_of(bob_keys.card()),
                "variant {index}"
            );
        }
        // And on the other side.
        assert_ne!(
            SafetyNumber::new(variant, bob.card()),
            SafetyNumber::new(alice.card(), bob.card()),
            "variant {index} in alice's place"
        );
    }
    // An app's co-signature is not part of the fingerprint: the approved copy gives the same.
    let approved = bob_keys.card().approve(&app).expect("approve");
    assert_ne!(&approved, bob_keys.card());
    assert_eq!(SafetyNumber::new(alice.card(), &approved), genuine);
}

#[test]
fn qr_verification_refuses_everything_but_the_same_pair() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let alice = fresh(&mut rng, "alice");
    let bob = fresh(&mut rng, "bob");
    let mallory = fresh(&mut rng, "bob");
    let bobs = SafetyNumber::new(bob.card(), alice.card());
    let genuine = SafetyNumber::new(alice.card(), bob.card()).qr_payload();
    assert_eq!(bobs.verify_qr_payload(&genuine), Ok(()));

    let length = |found| {
        Err(Error::InvalidLength {
            field: QR_PAYLOAD,
            expected: QR_LEN,
            found,
        })
    };
    let version = |found| {
        Err(Error::UnsupportedVersion {
            what: QR_PAYLOAD,
            found,
        })
    };
    // Another pair: Alice holds Mallory's card for Bob; and the code of another conversation.
    let intercepted = SafetyNumber::new(alice.card(), mallory.card()).qr_payload();
    assert_eq!(
        bobs.verify_qr_payload(&intercepted),
        Err(Error::SafetyNumberMismatch)
    );
    let other = SafetyNumber::new(mallory.card(), bob.card()).qr_payload();
    assert_eq!(
        bobs.verify_qr_payload(&other),
        Err(Error::SafetyNumberMismatch)
    );
    // The two fingerprints in the other order.
    let swapped = [&genuine[..1], &genuine[33..], &genuine[1..33]].concat();
    assert_eq!(
        bobs.verify_qr_payload(&swapped),
        Err(Error::SafetyNumberMismatch)
    );
    // Cut short, or longer.
    assert_eq!(bobs.verify_qr_payload(&[]), length(0));
    assert_eq!(bobs.verify_qr_payload(&genuine[..1]), length(1));
    assert_eq!(bobs.verify_qr_payload(&genuine[..64]), length(64));
    let longer = [&genuine[..], &[0]].concat();
    assert_eq!(bobs.verify_qr_payload(&longer), length(66));
    assert_eq!(
        bobs.verify_qr_payload(&[genuine.clone(), genuine.clone()].concat()),
        length(130)
    );
    // Another version, whatever the length: the version byte is read first.
    for found in [0u8, 1, 3, 0xff] {
        let mut other_version = genuine.clone();
        other_version[0] = found;
        assert_eq!(
            bobs.verify_qr_payload(&other_version),
            version(u32::from(found))
        );
        assert_eq!(bobs.verify_qr_payload(&[found]), version(u32::from(found)));
    }
    assert_eq!(
        bobs.verify_qr_payload(b"https://example.org/"),
        version(u32::from(b'h'))
    );
}

#[test]
fn a_mismatch_says_what_to_do_and_is_permanent() {
    let error = Error::SafetyNumberMismatch;
    assert!(error.is_permanent() && !error.is_retryable());
    let shown = error.to_string();
    assert!(
        shown.contains("do not mark this contact verified"),
        "{shown}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Any input gives a result, never a panic, and only the genuine payload is accepted,
    /// with the error the document's order of checks gives.
    #[test]
    fn any_scanned_bytes_give_a_typed_result(
        scanned in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let number = SafetyNumber::from_fingerprints(
            Fingerprint::from_bytes([1; 32]),
            Fingerprint::from_bytes([2; 32]),
        );
        let result = number.verify_qr_payload(&scanned);
        let expected = match scanned.first() {
            None => Err(Error::InvalidLength { field: QR_PAYLOAD, expected: QR_LEN, found: 0 }),
            Some(&found) if found != VERSION => {
                Err(Error::UnsupportedVersion { what: QR_PAYLOAD, found: u32::from(found) })
            }
            Some(_) if scanned.len() != QR_LEN => Err(Error::InvalidLength {
                field: QR_PAYLOAD,
                expected: QR_LEN,
                found: scanned.len(),
            }),
            Some(_) if scanned == number.qr_payload() => Ok(()),
            Some(_) => Err(Error::SafetyNumberMismatch),
        };
        prop_assert_eq!(result, expected);
    }

    /// A genuine payload with one bit flipped is refused: as another version in the first
    /// byte, as a mismatch anywhere else.
    #[test]
    fn a_flipped_bit_is_refused(byte in 0..QR_LEN, bit in 0..8u8, a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let number = SafetyNumber::from_fingerprints(Fingerprint::from_bytes(a), Fingerprint::from_bytes(b));
        let mut scanned = number.qr_payload();
        prop_assert_eq!(number.verify_qr_payload(&scanned), Ok(()));
        scanned[byte] ^= 1 << bit;
        let expected = if byte == 0 {
            Error::UnsupportedVersion { what: QR_PAYLOAD, found: u32::from(scanned[0]) }
        } else {
            Error::SafetyNumberMismatch
        };
        prop_assert_eq!(number.verify_qr_payload(&scanned), Err(expected));
    }
}
