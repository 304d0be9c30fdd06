//! Cards beyond the self-signature: application co-signatures checked against trusted app
//! keys, and key rotation with chains verified back to a trusted card.

mod common;

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    AppKey, AppPublicKey, Card, CardChainBreak, CardPolicy, Channel, Error, Identity,
    APP_SIGNATURE_CONTEXT, APP_SIGNER, CARD_SIGNATURE_CONTEXT, MAX_CARD_CHAIN_LEN, PREVIOUS_SIGNER,
    ROTATION_SIGNATURE_CONTEXT,
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
    assert_eq!(joined.plaintext, b"new keys");
    // Bob gets the rotated card, and checks its chain from the card he trusted.
    assert_eq!(joined.peer, *identities[1].card());
    assert_eq!(
        Card::verify_chain(identities[0].card(), std::slice::from_ref(&joined.peer)),
        Ok(&joined.peer)
    );
    // An app signature cannot be checked at join: such a card is refused there.
    let app = AppKey::generate(&mut rng);
    let approved = identities[1].card().approve(&app).expect("approve");
    let mut message = common::decode_message(&first);
    if let Some(prekey) = message.prekey.as_mut() {
        prekey.initiator_card = approved.to_bytes();
    }
    assert_eq!(
        Channel::join(&bob, &mut bob_prekeys, &message.encode_to_vec()).err(),
        Some(Error::UncheckableCardSignature {
            signer: APP_SIGNER.to_owned()
        })
    );

    // A rotated (or approved) card is a fine bundle card for the other direction.
    let (mut alice_prekeys, _) = prekeys(&mut rng, 0);
    let approved = identities[1].card().approve(&app).expect("approve");
    let bundle = published_bundle(&alice_prekeys, &identities[1], None);
    assert_eq!(bundle.card(), identities[1].card());
    let mut to_alice = Channel::create(&mut rng, &bob, &bundle).expect("create");
    let hello = to_alice.encrypt(&mut rng, b"hi").expect("encrypt");
    let joined = Channel::join(&identities[1], &mut alice_prekeys, &hello).expect("join");
    assert_eq!(joined.plaintext, b"hi");
    assert_eq!(approved.fingerprint(), bundle.card().fingerprint());
}
