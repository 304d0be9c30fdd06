//! Bundles and cards: a forged signed-prekey signature or card is stopped where the bundle
//! is parsed (`Channel::create` only takes a verified `PrekeyBundle`, so no channel can be
//! created from it), and low-order keys are refused by `Channel::create`.

mod common;

use common::{
    decode_message, flip_bit, identity, prekeys, published_bundle, setup, sign_as, with_content,
};
use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    identity::ONE_TIME_PREKEY_CONTEXT, identity::SIGNED_PREKEY_CONTEXT, Card, Channel, Error,
    PrekeyBundle,
};

const BAD_CARD: Error = Error::BadSignature { what: "card" };
const BAD_PREKEY: Error = Error::BadSignature {
    what: "signed prekey",
};

fn decode_bundle(bundle: &PrekeyBundle) -> v1::PrekeyBundle {
    v1::PrekeyBundle::decode(bundle.to_bytes().as_slice()).expect("bundle")
}

fn decode_card(card: &Card) -> v1::SignedCard {
    v1::SignedCard::decode(card.to_bytes().as_slice()).expect("card")
}

#[test]
fn genuine_bundles_verify_and_round_trip() {
    let s = setup(50);
    assert_eq!(s.bundle.card(), s.bob.card());
    assert_eq!(s.bundle.one_time_prekey_id(), Some(s.one_time_id));
    assert_eq!(s.bundle.signed_prekey_id(), s.store.signed_prekey_id());
    assert_eq!(
        PrekeyBundle::from_bytes(&s.bundle.to_bytes()),
        Ok(s.bundle.clone())
    );
    assert_eq!(
        Card::from_bytes(&s.bob.card().to_bytes()).as_ref(),
        Ok(s.bob.card())
    );
    assert_eq!(
        Card::from_base64(&s.bob.card().to_base64()).as_ref(),
        Ok(s.bob.card())
    );
}

#[test]
fn bundle_with_a_forged_signed_prekey_signature_is_rejected() {
    let mut s = setup(51);
    let genuine = decode_bundle(&s.bundle);
    for bit in 0..genuine.signed_prekey_signature.len() * 8 {
        let forged = v1::PrekeyBundle {
            signed_prekey_signature: flip_bit(&genuine.signed_prekey_signature, bit),
            ..genuine.clone()
        };
        assert_eq!(
            PrekeyBundle::from_bytes(&forged.encode_to_vec()),
            Err(BAD_PREKEY),
            "bit {bit}"
        );
    }

    // Another key (Mallory's) under Bob's signature, or another id.
    let mallory = identity(&mut s.rng, "mallory");
    let (mallory_store, _) = prekeys(&mut s.rng, 0);
    let mallory_bundle = decode_bundle(&mallory_store.bundle(&mallory, None).expect("bundle"));
    let swapped_key = v1::PrekeyBundle {
        signed_prekey: mallory_bundle.signed_prekey.clone(),
        ..genuine.clone()
    };
    assert_eq!(
        PrekeyBundle::from_bytes(&swapped_key.encode_to_vec()),
        Err(BAD_PREKEY)
    );
    let other_id = v1::PrekeyBundle {
        signed_prekey_id: genuine.signed_prekey_id + 1,
        ..genuine.clone()
    };
    assert_eq!(
        PrekeyBundle::from_bytes(&other_id.encode_to_vec()),
        Err(BAD_PREKEY)
    );
    // Mallory's prekey with Mallory's (valid, but not Bob's) signature in Bob's bundle.
    let mallory_signed = v1::PrekeyBundle {
        signed_prekey: mallory_bundle.signed_prekey.clone(),
        signed_prekey_signature: mallory_bundle.signed_prekey_signature.clone(),
        ..genuine.clone()
    };
    assert_eq!(
        PrekeyBundle::from_bytes(&mallory_signed.encode_to_vec()),
        Err(BAD_PREKEY)
    );
    // A signature of the wrong length.
    let mut short = genuine.clone();
    short.signed_prekey_signature.pop();
    assert_eq!(
        PrekeyBundle::from_bytes(&short.encode_to_vec()),
        Err(Error::InvalidLength {
            field: "signed prekey signature",
            expected: 64,
            found: 63
        })
    );
    // A one-time prekey id without the key.
    let incomplete = v1::PrekeyBundle {
        one_time_prekey: Vec::new(),
        ..genuine
    };
    assert_eq!(
        PrekeyBundle::from_bytes(&incomplete.encode_to_vec()),
        Err(Error::IncompleteOneTimePrekey)
    );
}

#[test]
fn bundle_with_a_forged_card_is_rejected() {
    let mut s = setup(52);
    let mallory = identity(&mut s.rng, "mallory");
    let genuine = decode_bundle(&s.bundle);
    let bob_card = decode_card(s.bob.card());
    let mallory_card = decode_card(mallory.card());
    let bob_content = v1::CardContent::decode(bob_card.content.as_slice()).expect("content");
    let mallory_content =
        v1::CardContent::decode(mallory_card.content.as_slice()).expect("content");

    let renamed = with_content(
        &bob_card,
        v1::CardContent {
            identity: "bob2".into(),
            ..bob_content.clone()
        },
    );
    // Mallory's keys on Bob's card, under Bob's self-signature.
    let mallory_keys = with_content(
        &bob_card,
        v1::CardContent {
            signing_key: mallory_content.signing_key.clone(),
            agreement_key: mallory_content.agreement_key.clone(),
            ..bob_content.clone()
        },
    );
    // Mallory's whole content under Bob's self-signature.
    let mallory_content_bob_signature = with_content(&bob_card, mallory_content);
    // Bob's content under Mallory's self-signature.
    let bob_content_mallory_signature = v1::SignedCard {
        content: bob_card.content.clone(),
        ..mallory_card.clone()
    }
    .encode_to_vec();
    let unsigned = v1::SignedCard {
        signatures: vec![v1::CardSignature {
            signer: "bob".into(),
            ..bob_card.signatures[0].clone()
        }],
        ..bob_card.clone()
    }
    .encode_to_vec();
    let twice_signed = v1::SignedCard {
        signatures: vec![
            bob_card.signatures[0].clone(),
            bob_card.signatures[0].clone(),
        ],
        ..bob_card.clone()
    }
    .encode_to_vec();

    let cases = [
        (renamed, BAD_CARD),
        (mallory_keys, BAD_CARD),
        (mallory_content_bob_signature, BAD_CARD),
        (bob_content_mallory_signature, BAD_CARD),
        (unsigned, Error::MissingSelfSignature),
        (
            twice_signed,
            Error::DuplicateSignature {
                signer: "self".into(),
            },
        ),
        // A valid card, but not the one that signed the prekey.
        (mallory.card().to_bytes(), BAD_PREKEY),
    ];
    for (card, expected) in cases {
        if expected != BAD_PREKEY {
            assert_eq!(Card::from_bytes(&card), Err(expected.clone()));
        }
        let forged = v1::PrekeyBundle {
            card,
            ..genuine.clone()
        };
        assert_eq!(
            PrekeyBundle::from_bytes(&forged.encode_to_vec()),
            Err(expected)
        );
    }
}

#[test]
fn low_order_keys_in_a_bundle_are_refused_by_create() {
    let mut s = setup(53);
    let genuine = decode_bundle(&s.bundle);
    let low_order = [0u8; 32];
    // The one-time prekey is signed (with its ML-KEM key): nobody on the path can swap it.
    let one_time = v1::PrekeyBundle {
        one_time_prekey: low_order.to_vec(),
        ..genuine.clone()
    };
    assert_eq!(
        PrekeyBundle::from_bytes(&one_time.encode_to_vec()),
        Err(Error::BadSignature {
            what: "one-time prekey"
        })
    );
    // One that Bob did sign, but is a low-order point.
    let one_time_id = genuine.one_time_prekey_id.expect("a one-time prekey");
    let one_time = v1::PrekeyBundle {
        one_time_prekey_signature: sign_as(
            &s.bob,
            ONE_TIME_PREKEY_CONTEXT,
            &[
                &one_time_id.to_be_bytes(),
                &low_order,
                &genuine.one_time_kem_prekey,
            ],
        ),
        ..one_time
    };
    let bundle = PrekeyBundle::from_bytes(&one_time.encode_to_vec()).expect("validly signed");
    assert!(matches!(
        Channel::create(&mut s.rng, &s.alice, &bundle),
        Err(Error::NonContributoryKey)
    ));

    // A signed prekey that Bob did sign, but is a low-order point.
    let id = genuine.signed_prekey_id;
    let signed = v1::PrekeyBundle {
        signed_prekey: low_order.to_vec(),
        signed_prekey_signature: sign_as(
            &s.bob,
            SIGNED_PREKEY_CONTEXT,
            &[&id.to_be_bytes(), &low_order, &genuine.kem_prekey],
        ),
        ..genuine
    };
    let bundle = PrekeyBundle::from_bytes(&signed.encode_to_vec()).expect("validly signed");
    assert!(matches!(
        Channel::create(&mut s.rng, &s.alice, &bundle),
        Err(Error::NonContributoryKey)
    ));
}

#[test]
fn bundle_without_a_one_time_prekey() {
    let mut s = setup(61);
    let bundle = published_bundle(&s.store, &s.bob, None);
    assert_eq!(bundle.one_time_prekey_id(), None);
    let mut alice_channel = Channel::create(&mut s.rng, &s.alice, &bundle).expect("create");
    let first = alice_channel
        .encrypt(&mut s.rng, b"no one-time prekey")
        .expect("encrypt");
    assert_eq!(
        decode_message(&first)
            .prekey
            .expect("prekey")
            .one_time_prekey_id,
        None
    );
    let joined = Channel::join(&s.bob, &mut s.store, &first).expect("join");
    assert_eq!(joined.plaintext(), b"no one-time prekey");
    assert_eq!(s.store.one_time_prekey_ids().len(), 2, "nothing consumed");
    assert_eq!(alice_channel.peer_signing_key(), s.bob.card().signing_key());
    assert_eq!(
        joined.channel().peer_signing_key(),
        s.alice.card().signing_key()
    );
}
