//! Cards beyond the self-signature: application co-signatures checked against trusted app
//! keys, key rotation with chains verified back to a trusted card, the names a card may
//! carry, and the size and count limits of cards made by hand.

mod common;

use base64::Engine as _;
use prost::Message as _;
use ratchetkit::limits::{MAX_CARD_LEN, MAX_CARD_SIGNATURES};
use ratchetkit::wire::v1;
use ratchetkit::{
    identity::APP_SIGNATURE_CONTEXT, identity::APP_SIGNER, identity::CARD_SIGNATURE_CONTEXT,
    identity::MAX_CARD_CHAIN_LEN, identity::PREVIOUS_SIGNER, identity::ROTATION_SIGNATURE_CONTEXT,
    identity::SELF_SIGNER, AppKey, AppPublicKey, Card, CardChainBreak, CardPolicy, Channel, Error,
    Identity,
};

use common::{flip_bit, identity, prekeys, published_bundle, rng, sign_as, CREATED_AT};

fn signed(card: &Card) -> v1::SignedCard {
    v1::SignedCard::decode(card.to_bytes().as_slice()).expect("card")
}

/// The signature of `signer` on `card`.
fn signature_of(card: &Card, signer: &str) -> Vec<u8> {
    signed(card)
        .signatures
        .into_iter()
        .find(|entry| entry.signer == signer)
        .expect("signed by signer")
        .signature
}

fn content(card: &Card) -> v1::CardContent {
    v1::CardContent::decode(signed(card).content.as_slice()).expect("content")
}

/// `card` with the signature of `signer` replaced by `signature`.
fn with_signature(card: &Card, signer: &str, signature: Vec<u8>) -> Vec<u8> {
    let mut signed = signed(card);
    for entry in &mut signed.signatures {
        if entry.signer == signer {
            entry.signature = signature.clone();
        }
    }
    signed.encode_to_vec()
}

/// A card with `new`'s keys, named `name`, that claims to replace the card with
/// fingerprint `previous`, self-signed by `new` and rotation-signed by `previous_signer`.
fn forged_rotation(
    new: &Identity,
    name: &str,
    created_at: u64,
    previous: &[u8; 32],
    previous_signer: &Identity,
) -> Card {
    let content = v1::CardContent {
        identity: name.to_owned(),
        previous_fingerprint: previous.to_vec(),
        created_at,
        ..content(new.card())
    }
    .encode_to_vec();
    let card = v1::SignedCard {
        signatures: vec![
            v1::CardSignature {
                signer: "self".to_owned(),
                signature: sign_as(new, CARD_SIGNATURE_CONTEXT, &[&content]),
            },
            v1::CardSignature {
                signer: PREVIOUS_SIGNER.to_owned(),
                signature: sign_as(previous_signer, ROTATION_SIGNATURE_CONTEXT, &[&content]),
            },
        ],
        content,
    };
    Card::from_bytes(&card.encode_to_vec()).expect("a well-formed rotated card")
}

/// An identity and `count` successive rotations, one second apart: the identities, oldest
/// first.
fn rotations(seed: u64, count: usize) -> Vec<Identity> {
    let mut rng = rng(seed);
    let mut identities = vec![identity(&mut rng, "alice")];
    for i in 1..=count {
        let next = identities[i - 1]
            .rotate_at(&mut rng, CREATED_AT + i as u64)
            .expect("rotate");
        identities.push(next);
    }
    identities
}

fn cards(identities: &[Identity]) -> Vec<Card> {
    identities.iter().map(|id| id.card().clone()).collect()
}

fn broken(position: usize, reason: CardChainBreak) -> Error {
    Error::BrokenCardChain { position, reason }
}

#[test]
fn an_approved_card_verifies_with_the_trusted_app_key_only() {
    let mut rng = rng(1);
    let alice = identity(&mut rng, "alice");
    let (app, other_app) = (AppKey::generate(&mut rng), AppKey::generate(&mut rng));
    let approved = alice.card().approve(&app).expect("approve");
    assert_eq!(approved.fingerprint(), alice.card().fingerprint());
    assert!(approved.has_app_signature() && !alice.card().has_app_signature());
    assert_eq!(
        approved.verify_app_signature(&[other_app.public(), app.public()]),
        Ok(app.public())
    );

    let required = CardPolicy::require_app_signature(vec![app.public()]);
    assert_eq!(required.check(&approved), Ok(()));
    assert_eq!(
        required.check(alice.card()),
        Err(Error::MissingAppSignature)
    );
    // Co-signed by an app the policy does not trust.
    let by_other = alice.card().approve(&other_app).expect("approve");
    assert_eq!(required.check(&by_other), Err(Error::UntrustedAppSignature));
    assert_eq!(
        CardPolicy::require_app_signature(Vec::new()).check(&approved),
        Err(Error::UntrustedAppSignature)
    );
    // Without the requirement, any valid card is fine.
    for card in [alice.card(), &approved, &by_other] {
        assert_eq!(CardPolicy::default().check(card), Ok(()));
    }
}

#[test]
fn a_corrupted_app_signature_is_rejected() {
    let mut rng = rng(2);
    let alice = identity(&mut rng, "alice");
    let app = AppKey::generate(&mut rng);
    let approved = alice.card().approve(&app).expect("approve");
    let genuine = signature_of(&approved, APP_SIGNER);
    for bit in (0..genuine.len() * 8).step_by(7) {
        let bytes = with_signature(&approved, APP_SIGNER, flip_bit(&genuine, bit));
        // Import cannot check it (it does not know the app's key), the policy does.
        let card = Card::from_bytes(&bytes).expect("imports");
        assert_eq!(
            card.verify_app_signature(&[app.public()]),
            Err(Error::UntrustedAppSignature),
            "bit {bit}"
        );
    }
    let short = with_signature(&approved, APP_SIGNER, genuine[..63].to_vec());
    assert_eq!(
        Card::from_bytes(&short),
        Err(Error::InvalidLength {
            field: "app signature",
            expected: 64,
            found: 63
        })
    );
    assert_eq!(
        approved.approve(&app),
        Err(Error::DuplicateSignature {
            signer: APP_SIGNER.to_owned()
        })
    );
}

#[test]
fn a_self_signature_does_not_pass_for_an_app_signature_by_the_same_key() {
    let mut rng = rng(3);
    let alice = identity(&mut rng, "alice");
    // An app whose key is Alice's identity key: her self-signature copied as the app's.
    let secret: [u8; 32] = common::identity_secrets(&alice.to_bytes())[0]
        .as_slice()
        .try_into()
        .expect("32 bytes");
    let same_key = AppKey::from_bytes(&secret);
    let self_signature = signed(alice.card()).signatures[0].signature.clone();
    let mut replayed = signed(alice.card());
    replayed.signatures.push(v1::CardSignature {
        signer: APP_SIGNER.to_owned(),
        signature: self_signature,
    });
    let replayed = Card::from_bytes(&replayed.encode_to_vec()).expect("imports");
    assert_eq!(
        replayed.verify_app_signature(&[same_key.public()]),
        Err(Error::UntrustedAppSignature)
    );
    // What the app key really signs is over the app context.
    let genuine = alice.card().approve(&same_key).expect("approve");
    let content = signed(alice.card()).content;
    assert_eq!(
        signature_of(&genuine, APP_SIGNER),
        sign_as(&alice, APP_SIGNATURE_CONTEXT, &[&content])
    );
}

#[test]
fn cards_with_extra_signatures_round_trip() {
    let identities = rotations(4, 1);
    let mut rng = rng(4);
    let app = AppKey::generate(&mut rng);
    let rotated_and_approved = identities[1].card().approve(&app).expect("approve");
    let signers: Vec<String> = signed(&rotated_and_approved)
        .signatures
        .into_iter()
        .map(|entry| entry.signer)
        .collect();
    assert_eq!(signers, ["self", PREVIOUS_SIGNER, APP_SIGNER]);
    for card in [identities[1].card(), &rotated_and_approved] {
        assert_eq!(Card::from_bytes(&card.to_bytes()).as_ref(), Ok(card));
        assert_eq!(Card::from_base64(&card.to_base64()).as_ref(), Ok(card));
    }
    let again = Card::from_bytes(&rotated_and_approved.to_bytes()).expect("card");
    assert_eq!(
        again.verify_app_signature(&[app.public()]),
        Ok(app.public())
    );
    assert_eq!(
        Card::verify_chain(identities[0].card(), std::slice::from_ref(&again)),
        Ok(&again)
    );
    // App keys round-trip too.
    let public = AppPublicKey::from_bytes(&app.public().to_bytes()).expect("key");
    assert_eq!(public, app.public());
    assert_eq!(AppKey::from_bytes(&app.to_bytes()).public(), app.public());
    assert!(matches!(
        AppPublicKey::from_bytes(&[0u8; 32]),
        Err(Error::InvalidPublicKey { .. })
    ));
}

#[test]
fn three_rotations_verify_back_to_the_trusted_card() {
    let identities = rotations(5, 3);
    let cards = cards(&identities);
    assert_eq!(Card::verify_chain(&cards[0], &cards[1..]), Ok(&cards[3]));
    // From any card of the chain, and the empty chain.
    assert_eq!(Card::verify_chain(&cards[1], &cards[2..]), Ok(&cards[3]));
    assert_eq!(Card::verify_chain(&cards[3], &[]), Ok(&cards[3]));
    for pair in cards.windows(2) {
        assert_eq!(pair[1].identity(), "alice");
        assert_eq!(pair[1].previous_fingerprint(), Some(pair[0].fingerprint()));
        assert_ne!(pair[1].signing_key(), pair[0].signing_key());
        assert_ne!(pair[1].agreement_key(), pair[0].agreement_key());
    }
    assert_eq!(cards[0].previous_fingerprint(), None);
}

#[test]
fn a_chain_with_a_broken_link_is_rejected_where_it_breaks() {
    let identities = rotations(6, 3);
    let cards = cards(&identities);
    let mut rng = rng(6);
    let mallory = identity(&mut rng, "alice");

    // A card missing from the middle, and the chain out of order.
    let gap = [cards[1].clone(), cards[3].clone()];
    assert_eq!(
        Card::verify_chain(&cards[0], &gap),
        Err(broken(1, CardChainBreak::WrongPreviousFingerprint))
    );
    let reordered = [cards[2].clone(), cards[1].clone(), cards[3].clone()];
    assert_eq!(
        Card::verify_chain(&cards[0], &reordered),
        Err(broken(0, CardChainBreak::WrongPreviousFingerprint))
    );
    // Mallory's card names Alice's third card but Mallory signed the rotation.
    let previous = *cards[2].fingerprint().as_bytes();
    let wrong_key = forged_rotation(&mallory, "alice", CREATED_AT + 9, &previous, &mallory);
    let chain = [cards[1].clone(), cards[2].clone(), wrong_key];
    assert_eq!(
        Card::verify_chain(&cards[0], &chain),
        Err(broken(2, CardChainBreak::BadPreviousSignature))
    );
    // Signed by the right key, but the name changes.
    let renamed = forged_rotation(
        &mallory,
        "alicia",
        CREATED_AT + 9,
        &previous,
        &identities[2],
    );
    let chain = [cards[1].clone(), cards[2].clone(), renamed];
    assert_eq!(
        Card::verify_chain(&cards[0], &chain),
        Err(broken(2, CardChainBreak::IdentityChanged))
    );
    // Signed by the right key, but older than the card it replaces.
    let older = forged_rotation(&mallory, "alice", CREATED_AT, &previous, &identities[2]);
    assert_eq!(
        Card::verify_chain(&cards[2], std::slice::from_ref(&older)),
        Err(broken(0, CardChainBreak::CreatedBeforePrevious))
    );
    // A card that replaces nothing.
    assert_eq!(
        Card::verify_chain(&cards[0], std::slice::from_ref(mallory.card())),
        Err(broken(0, CardChainBreak::NotARotation))
    );
    // The genuine link from the same pieces verifies: the forgeries fail for their reason.
    let genuine = forged_rotation(&mallory, "alice", CREATED_AT + 9, &previous, &identities[2]);
    assert_eq!(
        Card::verify_chain(&cards[2], std::slice::from_ref(&genuine)),
        Ok(&genuine)
    );
}

#[test]
fn the_previous_signature_must_come_with_a_rotation_and_verify() {
    let identities = rotations(7, 1);
    let rotated = identities[1].card();
    let mut without = signed(rotated);
    without
        .signatures
        .retain(|entry| entry.signer != PREVIOUS_SIGNER);
    assert_eq!(
        Card::from_bytes(&without.encode_to_vec()),
        Err(Error::MissingPreviousSignature)
    );
    let mut unexpected = signed(identities[0].card());
    unexpected.signatures.push(v1::CardSignature {
        signer: PREVIOUS_SIGNER.to_owned(),
        signature: vec![0; 64],
    });
    assert_eq!(
        Card::from_bytes(&unexpected.encode_to_vec()),
        Err(Error::UnexpectedPreviousSignature)
    );
    let genuine = signature_of(rotated, PREVIOUS_SIGNER);
    for bit in (0..genuine.len() * 8).step_by(11) {
        let bytes = with_signature(rotated, PREVIOUS_SIGNER, flip_bit(&genuine, bit));
        let card = Card::from_bytes(&bytes).expect("imports");
        assert_eq!(
            Card::verify_chain(identities[0].card(), &[card]),
            Err(broken(0, CardChainBreak::BadPreviousSignature)),
            "bit {bit}"
        );
    }
}

#[test]
fn chains_longer_than_the_limit_are_refused_before_any_check() {
    let identities = rotations(8, MAX_CARD_CHAIN_LEN + 1);
    let cards = cards(&identities);
    assert_eq!(
        Card::verify_chain(&cards[0], &cards[1..=MAX_CARD_CHAIN_LEN]),
        Ok(&cards[MAX_CARD_CHAIN_LEN])
    );
    assert_eq!(
        Card::verify_chain(&cards[0], &cards[1..]),
        Err(Error::CardChainTooLong {
            len: MAX_CARD_CHAIN_LEN + 1,
            max: MAX_CARD_CHAIN_LEN
        })
    );
    // Even a chain that would break at its first card.
    assert_eq!(
        Card::verify_chain(&cards[1], &cards[..=MAX_CARD_CHAIN_LEN]),
        Err(Error::CardChainTooLong {
            len: MAX_CARD_CHAIN_LEN + 1,
            max: MAX_CARD_CHAIN_LEN
        })
    );
}

#[test]
fn rotation_keeps_time_moving_forward() {
    let mut rng = rng(9);
    let alice = identity(&mut rng, "alice");
    assert_eq!(
        alice.rotate_at(&mut rng, CREATED_AT - 1).err(),
        Some(broken(0, CardChainBreak::CreatedBeforePrevious))
    );
    let same_second = alice.rotate_at(&mut rng, CREATED_AT).expect("rotate");
    assert_eq!(same_second.card().created_at(), CREATED_AT);
    // By the clock: now, or the previous card's time if the clock is behind it.
    let future = Identity::generate_at(&mut rng, "alice", u64::MAX).expect("identity");
    assert_eq!(
        future.rotate(&mut rng).expect("rotate").card().created_at(),
        u64::MAX
    );
    assert!(alice.rotate(&mut rng).expect("rotate").card().created_at() > CREATED_AT);
}

#[test]
fn a_rotated_identity_is_saved_and_loaded_with_its_card() {
    let identities = rotations(10, 2);
    let saved = identities[2].to_bytes();
    let loaded = Identity::from_bytes(&saved).expect("loads");
    assert_eq!(loaded.card(), identities[2].card());
    assert!(*loaded.to_bytes() == *saved);
    // An identity that was never rotated saves exactly as before rotation existed.
    let first = Identity::from_bytes(&identities[0].to_bytes()).expect("loads");
    assert_eq!(first.card(), identities[0].card());
    assert_eq!(
        common::raw_fields(&identities[0].to_bytes())
            .iter()
            .map(|field| field.number)
            .collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 15]
    );
}

#[test]
fn a_rotated_identity_starts_channels_with_its_rotated_card() {
    let identities = rotations(11, 1);
    let mut rng = rng(11);
    let bob = identity(&mut rng, "bob");
    let (mut bob_prekeys, ids) = prekeys(&mut rng, 1);
    let bundle = published_bundle(&bob_prekeys, &bob, Some(ids[0]));
    let mut channel = Channel::create(&mut rng, &identities[1], &bundle).expect("create");
    let first = channel.encrypt(&mut rng, b"new keys").expect("encrypt");
    let joined = Channel::join(&bob, &mut bob_prekeys, &first).expect("join");
    assert_eq!(joined.plaintext(), b"new keys");
    // Bob gets the rotated card, and checks its chain from the card he trusted.
    assert_eq!(joined.peer(), identities[1].card());
    assert_eq!(
        Card::verify_chain(identities[0].card(), std::slice::from_ref(joined.peer())),
        Ok(joined.peer())
    );
    // The card is authenticated with the message (its prekey information is in the
    // associated data): the same card with an app signature added on the way, valid as it
    // is, makes another message, which fails to authenticate and burns nothing.
    let app = AppKey::generate(&mut rng);
    let approved = identities[1].card().approve(&app).expect("approve");
    let ids = bob_prekeys
        .generate_one_time_prekeys(&mut rng, 1)
        .expect("room");
    let bundle = published_bundle(&bob_prekeys, &bob, Some(ids[0]));
    let mut channel = Channel::create(&mut rng, &identities[1], &bundle).expect("create");
    let first = channel.encrypt(&mut rng, b"new keys").expect("encrypt");
    let mut message = common::decode_message(&first);
    if let Some(prekey) = message.prekey.as_mut() {
        prekey.initiator_card = approved.to_bytes();
    }
    let before = bob_prekeys.to_bytes();
    assert_eq!(
        Channel::join(&bob, &mut bob_prekeys, &message.encode_to_vec()).err(),
        Some(Error::AuthenticationFailed)
    );
    assert!(*bob_prekeys.to_bytes() == *before);
    let joined = Channel::join(&bob, &mut bob_prekeys, &first).expect("join");
    assert_eq!(joined.peer(), identities[1].card());

    // A rotated (or approved) card is a fine bundle card for the other direction.
    let (mut alice_prekeys, _) = prekeys(&mut rng, 0);
    let approved = identities[1].card().approve(&app).expect("approve");
    let bundle = published_bundle(&alice_prekeys, &identities[1], None);
    assert_eq!(bundle.card(), identities[1].card());
    let mut to_alice = Channel::create(&mut rng, &bob, &bundle).expect("create");
    let hello = to_alice.encrypt(&mut rng, b"hi").expect("encrypt");
    let joined = Channel::join(&identities[1], &mut alice_prekeys, &hello).expect("join");
    assert_eq!(joined.plaintext(), b"hi");
    assert_eq!(approved.fingerprint(), bundle.card().fingerprint());
}

/// `identity`'s card content with `name`, self-signed under `context` by its key, followed
/// by `others`: a card made by hand, as a hostile sender would.
fn hand_made(
    identity: &Identity,
    name: &str,
    context: &[u8],
    others: Vec<v1::CardSignature>,
) -> Vec<u8> {
    let content = v1::CardContent {
        identity: name.to_owned(),
        ..content(identity.card())
    }
    .encode_to_vec();
    let mut signatures = vec![v1::CardSignature {
        signer: SELF_SIGNER.to_owned(),
        signature: sign_as(identity, context, &[&content]),
    }];
    signatures.extend(others);
    v1::SignedCard {
        content,
        signatures,
    }
    .encode_to_vec()
}

/// A signature entry by `signer`, of `len` bytes, that import does not check.
fn entry(signer: &str, len: usize) -> v1::CardSignature {
    v1::CardSignature {
        signer: signer.to_owned(),
        signature: vec![0x5a; len],
    }
}

/// Names that could hide or rewrite what a terminal shows beside them: control characters
/// (C0, DEL, C1) and bidirectional formatting characters.
const HOSTILE_NAMES: [&str; 16] = [
    "mallory\x1b[8m (fingerprint 0000) alice",
    "mallory\x1b]0;alice\x07",
    "two\nlines",
    "carriage\rreturn",
    "tab\there",
    "nul\0byte",
    "del\x7f",
    "c1 csi\u{9b}8m",
    "next line\u{85}",
    "\u{202e}ecila",
    "embedding\u{202a}",
    "isolate\u{2066}x\u{2069}",
    "marks\u{200e}\u{200f}",
    "arabic mark\u{61c}",
    // Not Cc, but line breaks in many viewers.
    "line\u{2028}separator",
    "paragraph\u{2029}separator",
];

#[test]
fn names_with_control_or_bidirectional_characters_are_refused_at_generate() {
    for (seed, name) in (100..).zip(HOSTILE_NAMES) {
        let mut rng = rng(seed);
        assert_eq!(
            Identity::generate_at(&mut rng, name, CREATED_AT).err(),
            Some(Error::InvalidIdentityName),
            "{name:?}"
        );
        assert_eq!(
            Identity::generate(&mut rng, name).err(),
            Some(Error::InvalidIdentityName),
            "{name:?}"
        );
        // A refused name draws no key.
        assert_eq!(
            identity(&mut rng, "x").card().signing_key(),
            identity(&mut common::rng(seed), "x").card().signing_key()
        );
    }
    let mut rng = rng(20);
    // Letters, marks, joiners and punctuation of every script stay welcome.
    for name in [
        "alice@example.org",
        "Zoë Ölund",
        "e\u{301}mile",
        "名前",
        "محمد",
        "\u{1f469}\u{200d}\u{1f4bb} dev",
        "o'brien \"the\\ one\"",
    ] {
        let card = identity(&mut rng, name).card().clone();
        assert_eq!(card.identity(), name);
        assert_eq!(Card::from_bytes(&card.to_bytes()), Ok(card));
    }
}

#[test]
fn a_self_signed_card_with_a_hostile_name_is_refused_when_parsed() {
    let mut rng = rng(21);
    let mallory = identity(&mut rng, "mallory");
    // Made by hand, the card is genuine in every other way.
    let genuine = hand_made(&mallory, "mallory", CARD_SIGNATURE_CONTEXT, Vec::new());
    assert_eq!(Card::from_bytes(&genuine).as_ref(), Ok(mallory.card()));
    for name in HOSTILE_NAMES {
        let hostile = hand_made(&mallory, name, CARD_SIGNATURE_CONTEXT, Vec::new());
        assert_eq!(
            Card::from_bytes(&hostile),
            Err(Error::InvalidIdentityName),
            "{name:?}"
        );
        let text = base64::engine::general_purpose::STANDARD.encode(&hostile);
        assert_eq!(
            Card::from_base64(&text),
            Err(Error::InvalidIdentityName),
            "{name:?}"
        );
    }
}

#[test]
fn a_card_signed_under_the_version_1_context_is_refused() {
    let mut rng = rng(22);
    let alice = identity(&mut rng, "alice");
    let old = hand_made(&alice, "alice", b"ratchetkit/v1/card", Vec::new());
    assert_eq!(
        Card::from_bytes(&old),
        Err(Error::BadSignature { what: "card" })
    );
}

#[test]
fn the_first_signer_named_twice_is_reported() {
    let mut rng = rng(23);
    let alice = identity(&mut rng, "alice");
    let others = ["a", "b", "c", "b", "a"].map(|signer| entry(signer, 64));
    let card = hand_made(&alice, "alice", CARD_SIGNATURE_CONTEXT, others.to_vec());
    assert_eq!(
        Card::from_bytes(&card),
        Err(Error::DuplicateSignature {
            signer: "b".to_owned()
        })
    );
    let twice = hand_made(
        &alice,
        "alice",
        CARD_SIGNATURE_CONTEXT,
        vec![entry(SELF_SIGNER, 64)],
    );
    assert_eq!(
        Card::from_bytes(&twice),
        Err(Error::DuplicateSignature {
            signer: SELF_SIGNER.to_owned()
        })
    );
}

#[test]
fn cards_over_the_signature_count_are_refused_and_never_made() {
    let mut rng = rng(24);
    let alice = identity(&mut rng, "alice");
    let too_many = Err(Error::TooMany {
        what: "SignedCard.signatures",
        limit: MAX_CARD_SIGNATURES,
    });
    let others = |count: usize| (1..=count).map(|i| entry(&format!("x{i}"), 64)).collect();
    // The self-signature and seven others: the most a card may list.
    let full = hand_made(
        &alice,
        "alice",
        CARD_SIGNATURE_CONTEXT,
        others(MAX_CARD_SIGNATURES - 1),
    );
    let full = Card::from_bytes(&full).expect("a full card imports");
    let app = AppKey::generate(&mut rng);
    assert_eq!(full.approve(&app), too_many);

    let over = hand_made(
        &alice,
        "alice",
        CARD_SIGNATURE_CONTEXT,
        others(MAX_CARD_SIGNATURES),
    );
    assert_eq!(Card::from_bytes(&over), too_many);
    // A card padded with a thousand distinct signers (7 bytes each), under the size limit.
    let signers = (0..1_000).map(|i| entry(&format!("{i:03}"), 0)).collect();
    let padded = hand_made(&alice, "alice", CARD_SIGNATURE_CONTEXT, signers);
    assert!(padded.len() <= MAX_CARD_LEN, "{}", padded.len());
    assert_eq!(Card::from_bytes(&padded), too_many);
}

/// A card of exactly `len` bytes: `identity`'s, with an unchecked signature as filler.
fn card_of_len(identity: &Identity, len: usize) -> Vec<u8> {
    let filler = |size| {
        let others = vec![entry("filler", size)];
        hand_made(identity, "alice", CARD_SIGNATURE_CONTEXT, others)
    };
    let short = filler(0).len();
    // The filler's length prefixes grow by a byte or two on the way: try the few sizes.
    (len.saturating_sub(short + 4)..=len - short)
        .map(filler)
        .find(|card| card.len() == len)
        .expect("a filler size that gives the length")
}

#[test]
fn cards_over_the_size_limit_are_refused_and_never_made() {
    let mut rng = rng(25);
    let alice = identity(&mut rng, "alice");
    let too_large = Err(Error::TooLarge {
        what: "SignedCard",
        limit: MAX_CARD_LEN,
    });
    let largest = card_of_len(&alice, MAX_CARD_LEN);
    let card = Card::from_bytes(&largest).expect("a card of the largest size imports");
    let text = base64::engine::general_purpose::STANDARD.encode(&largest);
    assert_eq!(Card::from_base64(&text).as_ref(), Ok(&card));
    // Approving it would make a card no import accepts.
    let app = AppKey::generate(&mut rng);
    assert_eq!(card.approve(&app), too_large);

    let over = card_of_len(&alice, MAX_CARD_LEN + 1);
    assert_eq!(Card::from_bytes(&over), too_large);
    let text = base64::engine::general_purpose::STANDARD.encode(&over);
    assert_eq!(Card::from_base64(&text), too_large);
    // Long text is refused before it is decoded, whatever it holds.
    assert_eq!(Card::from_base64(&"!".repeat(1 << 20)), too_large);
    assert_eq!(Card::from_bytes(&vec![0; 1 << 20]), too_large);
}
