//! The in-memory card directory: it holds verified chains only, hands each one-time prekey
//! out once, refuses without changing anything, serves bundles that start channels, never
//! a stale one, and follows its owner's store through rotations and expiry.

mod common;

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    identity::MAX_CARD_CHAIN_LEN, identity::MAX_ONE_TIME_PREKEYS, identity::PREVIOUS_SIGNER,
    AppKey, Card, CardChainBreak, CardDirectory, CardPolicy, Channel, Error, Identity,
    InMemoryDirectory, PrekeyBundle, PrekeyStore,
};

use common::{flip_bit, identity, prekeys, rng, TestRng, CREATED_AT};

/// Everything the directory serves, to check that a refused call changed nothing.
fn snapshot(directory: &InMemoryDirectory, names: &[&str]) -> Vec<Vec<Vec<u8>>> {
    names
        .iter()
        .map(|name| {
            directory
                .find(name)
                .expect("find")
                .iter()
                .map(Card::to_bytes)
                .collect()
        })
        .collect()
}

fn published(
    rng: &mut TestRng,
    directory: &mut InMemoryDirectory,
    name: &str,
    one_time: usize,
) -> (Identity, PrekeyStore) {
    let person = identity(rng, name);
    let (store, _) = prekeys(rng, one_time);
    directory.publish(person.card().clone()).expect("publish");
    directory.publish_prekeys(&person, &store).expect("bundles");
    (person, store)
}

#[test]
fn cards_are_found_by_name_and_fingerprint_once_each() {
    let mut rng = rng(1);
    let mut directory = InMemoryDirectory::default();
    let (alice, _) = published(&mut rng, &mut directory, "alice", 0);
    let (bob, _) = published(&mut rng, &mut directory, "bob", 0);
    // Publishing again (the same content) adds nothing.
    directory.publish(alice.card().clone()).expect("again");
    assert_eq!(directory.find("alice"), Ok(vec![alice.card().clone()]));
    assert_eq!(directory.find("bob"), Ok(vec![bob.card().clone()]));
    assert_eq!(directory.find("carol"), Ok(Vec::new()));
    assert_eq!(
        directory.find_by_fingerprint(&bob.card().fingerprint()),
        Ok(Some(bob.card().clone()))
    );
    let unknown = identity(&mut rng, "carol").card().fingerprint();
    assert_eq!(directory.find_by_fingerprint(&unknown), Ok(None));
    assert_eq!(directory.find_bundles("carol"), Ok(Vec::new()));
}

#[test]
fn each_one_time_prekey_is_handed_out_once_then_the_fallback() {
    let mut rng = rng(2);
    let mut directory = InMemoryDirectory::default();
    let (bob, store) = published(&mut rng, &mut directory, "bob", 3);
    let mut handed_out = Vec::new();
    for _ in 0..3 {
        let bundles = directory.find_bundles("bob").expect("bundles");
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].card(), bob.card());
        handed_out.push(bundles[0].one_time_prekey_id().expect("a one-time prekey"));
    }
    assert_eq!(handed_out, store.one_time_prekey_ids());
    // Republishing every bundle brings none of those back.
    directory.publish_prekeys(&bob, &store).expect("again");
    for _ in 0..2 {
        let bundles = directory.find_bundles("bob").expect("bundles");
        assert_eq!(bundles.len(), 1);
        assert_eq!(bundles[0].one_time_prekey_id(), None, "the fallback");
        assert_eq!(bundles[0].signed_prekey_id(), store.signed_prekey_id());
    }
}

#[test]
fn channels_start_from_bundles_found_in_the_directory() {
    let mut rng = rng(3);
    let mut directory = InMemoryDirectory::default();
    let (alice, _) = published(&mut rng, &mut directory, "alice", 1);
    let (bob, mut bob_store) = published(&mut rng, &mut directory, "bob", 1);
    for expect_one_time in [true, false] {
        let bundle = directory.find_bundles("bob").expect("bundles").remove(0);
        assert_eq!(bundle.one_time_prekey_id().is_some(), expect_one_time);
        let mut to_bob = Channel::create(&mut rng, &alice, &bundle).expect("create");
        let first = to_bob.encrypt(&mut rng, b"found you").expect("encrypt");
        let joined = Channel::join(&bob, &mut bob_store, &first).expect("join");
        assert_eq!(joined.plaintext(), b"found you");
        let found = directory
            .find_by_fingerprint(&joined.peer().fingerprint())
            .expect("find");
        assert_eq!(found.as_ref(), Some(alice.card()));
    }
}

#[test]
fn rotated_cards_extend_a_verified_chain_and_retire_old_bundles() {
    let mut rng = rng(4);
    let mut directory = InMemoryDirectory::default();
    let (first, store) = published(&mut rng, &mut directory, "alice", 2);
    let second = first.rotate_at(&mut rng, CREATED_AT + 1).expect("rotate");
    let third = second.rotate_at(&mut rng, CREATED_AT + 2).expect("rotate");

    // The third card cannot come before the second.
    let before = snapshot(&directory, &["alice"]);
    assert_eq!(
        directory.publish(third.card().clone()),
        Err(Error::UnknownCard {
            fingerprint: second.card().fingerprint()
        })
    );
    assert_eq!(snapshot(&directory, &["alice"]), before);

    directory.publish(second.card().clone()).expect("second");
    // The first card's bundles are retired with it, and it takes no more.
    assert_eq!(directory.find_bundles("alice"), Ok(Vec::new()));
    assert_eq!(
        directory.publish_prekeys(&first, &store),
        Err(Error::CardReplaced {
            fingerprint: first.card().fingerprint()
        })
    );
    directory.publish_prekeys(&second, &store).expect("bundles");
    let bundles = directory.find_bundles("alice").expect("bundles");
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0].card(), second.card());

    directory.publish(third.card().clone()).expect("third");
    assert_eq!(
        directory.find("alice"),
        Ok(vec![
            first.card().clone(),
            second.card().clone(),
            third.card().clone()
        ])
    );
    assert_eq!(
        directory.find_newest(first.card()),
        Ok(third.card().clone())
    );
    assert_eq!(
        directory.find_newest(third.card()),
        Ok(third.card().clone())
    );

    // A second successor of the first card would fork the chain.
    let fork = first.rotate_at(&mut rng, CREATED_AT + 5).expect("rotate");
    let before = snapshot(&directory, &["alice"]);
    assert_eq!(
        directory.publish(fork.card().clone()),
        Err(Error::CardReplaced {
            fingerprint: first.card().fingerprint()
        })
    );
    assert_eq!(snapshot(&directory, &["alice"]), before);
}

#[test]
fn a_card_with_a_broken_link_is_refused() {
    let mut rng = rng(5);
    let mut directory = InMemoryDirectory::default();
    let (first, _) = published(&mut rng, &mut directory, "alice", 1);
    let second = first.rotate_at(&mut rng, CREATED_AT + 1).expect("rotate");
    // The previous signature corrupted in transit: the card imports, the link fails.
    let mut signed = v1::SignedCard::decode(second.card().to_bytes().as_slice()).expect("card");
    for entry in &mut signed.signatures {
        if entry.signer == PREVIOUS_SIGNER {
            entry.signature = flip_bit(&entry.signature, 100);
        }
    }
    let corrupted = Card::from_bytes(&signed.encode_to_vec()).expect("imports");
    let before = snapshot(&directory, &["alice"]);
    assert_eq!(
        directory.publish(corrupted),
        Err(Error::BrokenCardChain {
            position: 0,
            reason: CardChainBreak::BadPreviousSignature
        })
    );
    assert_eq!(snapshot(&directory, &["alice"]), before);
    // Nothing was retired: the first card still has its bundles and takes a rotation.
    assert_eq!(directory.find_bundles("alice").expect("bundles").len(), 1);
    directory.publish(second.card().clone()).expect("genuine");
    assert_eq!(
        directory.find_newest(first.card()),
        Ok(second.card().clone())
    );

    // Two unrelated identities may publish under one name; a chain never crosses over.
    let other = identity(&mut rng, "alice");
    directory
        .publish(other.card().clone())
        .expect("another alice");
    assert_eq!(directory.find("alice").map(|cards| cards.len()), Ok(3));
    assert_eq!(
        directory.find_newest(other.card()),
        Ok(other.card().clone())
    );
}

#[test]
fn a_directory_with_a_policy_takes_only_approved_cards() {
    let mut rng = rng(6);
    let (app, other_app) = (AppKey::generate(&mut rng), AppKey::generate(&mut rng));
    let mut directory =
        InMemoryDirectory::with_policy(CardPolicy::require_app_signature(vec![app.public()]));
    let alice = identity(&mut rng, "alice");
    let (store, _) = prekeys(&mut rng, 1);
    assert_eq!(
        directory.publish(alice.card().clone()),
        Err(Error::MissingAppSignature)
    );
    assert_eq!(
        directory.publish(alice.card().approve(&other_app).expect("approve")),
        Err(Error::UntrustedAppSignature)
    );
    assert_eq!(
        snapshot(&directory, &["alice"]),
        vec![Vec::<Vec<u8>>::new()]
    );
    let approved = alice.card().approve(&app).expect("approve");
    directory.publish(approved.clone()).expect("approved");
    // Bundles are made with the identity's own card, and served with the approved one.
    directory.publish_prekeys(&alice, &store).expect("bundles");
    let bundles = directory.find_bundles("alice").expect("bundles");
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0].card(), &approved);
    assert_eq!(
        bundles[0].card().verify_app_signature(&[app.public()]),
        Ok(app.public())
    );
    assert_eq!(directory.find("alice"), Ok(vec![approved]));
    let mallory = identity(&mut rng, "mallory");
    assert_eq!(
        store
            .bundle(&mallory, None)
            .expect("bundle")
            .with_card(alice.card()),
        Err(Error::CardMismatch)
    );

    // A rotated card needs approving again.
    let rotated = alice.rotate_at(&mut rng, CREATED_AT + 1).expect("rotate");
    assert_eq!(
        directory.publish(rotated.card().clone()),
        Err(Error::MissingAppSignature)
    );
    let rotated = rotated.card().approve(&app).expect("approve");
    directory
        .publish(rotated.clone())
        .expect("approved rotation");
    assert_eq!(directory.find_newest(alice.card()), Ok(rotated));
}

#[test]
fn the_directory_refuses_chains_beyond_the_limit() {
    let mut rng = rng(7);
    let mut directory = InMemoryDirectory::default();
    let mut current = identity(&mut rng, "alice");
    let first = current.card().clone();
    directory.publish(first.clone()).expect("first");
    for i in 1..=MAX_CARD_CHAIN_LEN {
        current = current
            .rotate_at(&mut rng, CREATED_AT + i as u64)
            .expect("rotate");
        directory.publish(current.card().clone()).expect("rotation");
    }
    assert_eq!(directory.find_newest(&first), Ok(current.card().clone()));
    let one_more = current
        .rotate_at(&mut rng, CREATED_AT + 100)
        .expect("rotate");
    let before = snapshot(&directory, &["alice"]);
    assert_eq!(
        directory.publish(one_more.card().clone()),
        Err(Error::CardChainTooLong {
            len: MAX_CARD_CHAIN_LEN + 1,
            max: MAX_CARD_CHAIN_LEN
        })
    );
    assert_eq!(snapshot(&directory, &["alice"]), before);
    assert!(directory.find_bundles("alice").expect("bundles").is_empty());
}

#[test]
fn bundles_need_their_card_published_first() {
    let mut rng = rng(8);
    let mut directory = InMemoryDirectory::default();
    let bob = identity(&mut rng, "bob");
    let (store, _) = prekeys(&mut rng, 1);
    assert_eq!(
        directory.publish_prekeys(&bob, &store),
        Err(Error::UnknownCard {
            fingerprint: bob.card().fingerprint()
        })
    );
    assert_eq!(directory.find_bundles("bob"), Ok(Vec::new()));
    assert!(format!("{directory:?}").contains("InMemoryDirectory"));
}

/// A bundle fetched and used at once: `Ok` if the owner joins from its first message.
fn join_from(
    rng: &mut TestRng,
    peer: &Identity,
    owner: &Identity,
    store: &mut PrekeyStore,
    bundle: &PrekeyBundle,
) -> Result<(), Error> {
    let mut channel = Channel::create(rng, peer, bundle)?;
    let first = channel.encrypt(rng, b"hi")?;
    Channel::join(owner, store, &first).map(drop)
}

/// Every one-time bundle still queued, handed out: for checks that drain the directory.
fn drain(directory: &mut InMemoryDirectory, card: &Card) -> Vec<PrekeyBundle> {
    let mut bundles = Vec::new();
    while directory
        .one_time_prekey_count(&card.fingerprint())
        .expect("count")
        > 0
    {
        bundles.extend(directory.find_bundle(&card.fingerprint()).expect("bundle"));
    }
    bundles
}

/// The stale-bundle problem: one-time bundles queued before two rotations carried a signed
/// prekey the store had dropped, and failed with `UnknownSignedPrekey`. A newer signed
/// prekey now retires every bundle of older ones, and an older one is refused.
#[test]
fn bundles_of_a_signed_prekey_rotated_away_are_never_handed_out() {
    let mut rng = rng(9);
    let mut directory = InMemoryDirectory::default();
    let (bob, mut store) = published(&mut rng, &mut directory, "bob", 6);
    let alice = identity(&mut rng, "alice");
    let fingerprint = bob.card().fingerprint();
    let old_fallback = store.bundle(&bob, None).expect("bundle");

    // A rotation published the old way, with a new fallback only: the six one-time bundles
    // of the previous signed prekey go (their prekeys stay in the store).
    store.rotate_signed_prekey(&mut rng);
    directory
        .publish_bundle(store.bundle(&bob, None).expect("bundle"))
        .expect("fallback");
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(0));
    let fallback = directory.find_bundle(&fingerprint).expect("find");
    assert_eq!(
        fallback.map(|bundle| bundle.signed_prekey_id()),
        Some(store.signed_prekey_id())
    );

    // The old signed prekey's bundles are refused now, and change nothing.
    assert_eq!(
        directory.publish_bundle(old_fallback.clone()),
        Err(Error::StaleBundle {
            signed_prekey_id: old_fallback.signed_prekey_id(),
            newest: store.signed_prekey_id()
        })
    );
    assert_eq!(
        directory.find_bundle(&fingerprint).expect("find"),
        Some(store.bundle(&bob, None).expect("bundle"))
    );

    // A second rotation drops the first signed prekey from the store; every bundle the
    // directory hands out after publishing again still joins.
    store.rotate_signed_prekey(&mut rng);
    directory.publish_prekeys(&bob, &store).expect("bundles");
    let bundles = drain(&mut directory, bob.card());
    assert_eq!(bundles.len(), 6);
    for bundle in &bundles {
        assert_eq!(bundle.signed_prekey_id(), store.signed_prekey_id());
        join_from(&mut rng, &alice, &bob, &mut store, bundle).expect("joins");
    }
    let fallback = directory.find_bundles("bob").expect("find").remove(0);
    join_from(&mut rng, &alice, &bob, &mut store, &fallback).expect("joins");
}

/// Look-ups by identity key find the card that key signed, whatever others publish under
/// its name, and bundles by card hand out that card's alone.
#[test]
fn the_trusted_key_finds_its_card_and_bundles_among_namesakes() {
    let mut rng = rng(10);
    let mut directory = InMemoryDirectory::default();
    // An impostor publishes under Alice's name first.
    let (impostor, _) = published(&mut rng, &mut directory, "alice", 3);
    let (alice, _) = published(&mut rng, &mut directory, "alice", 3);
    let key = alice.card().signing_key();
    assert_eq!(
        directory.find_by_signing_key(&key),
        Ok(Some(alice.card().clone()))
    );
    assert_eq!(
        directory.find_by_signing_key(&identity(&mut rng, "alice").card().signing_key()),
        Ok(None)
    );
    // By name, both answer (and each gives up a one-time prekey); by card, only Alice's.
    let fingerprint = alice.card().fingerprint();
    let bundle = directory
        .find_bundle(&fingerprint)
        .expect("find")
        .expect("a bundle");
    assert_eq!(bundle.card(), alice.card());
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(2));
    assert_eq!(
        directory.one_time_prekey_count(&impostor.card().fingerprint()),
        Ok(3)
    );

    // After a rotation the old key still finds the old card, which leads to the new one;
    // the old card has no bundles left to give.
    let rotated = alice.rotate_at(&mut rng, CREATED_AT + 1).expect("rotate");
    directory.publish(rotated.card().clone()).expect("rotated");
    let old = directory
        .find_by_signing_key(&key)
        .expect("find")
        .expect("old card");
    assert_eq!(directory.find_newest(&old), Ok(rotated.card().clone()));
    assert_eq!(
        directory.find_by_signing_key(&rotated.card().signing_key()),
        Ok(Some(rotated.card().clone()))
    );
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(0));
    assert_eq!(
        directory.find_bundle(&fingerprint),
        Err(Error::CardReplaced { fingerprint })
    );
    assert_eq!(
        directory.find_bundle(&rotated.card().fingerprint()),
        Ok(None)
    );
    let unknown = identity(&mut rng, "carol").card().fingerprint();
    assert_eq!(
        directory.find_bundle(&unknown),
        Err(Error::UnknownCard {
            fingerprint: unknown
        })
    );
    assert_eq!(
        directory.one_time_prekey_count(&unknown),
        Err(Error::UnknownCard {
            fingerprint: unknown
        })
    );
}

/// Replacing makes the directory hold exactly the store's bundles; removing drops the
/// bundles of expired prekeys; a store started afresh (its ids start again, its signed
/// prekey's id is older) replaces the old store's bundles, even under ids handed out before.
#[test]
fn replacing_and_removing_bundles_follow_the_store() {
    let mut rng = rng(11);
    let mut directory = InMemoryDirectory::default();
    let (bob, mut store) = published(&mut rng, &mut directory, "bob", 6);
    let alice = identity(&mut rng, "alice");
    let fingerprint = bob.card().fingerprint();
    let ids = store.one_time_prekey_ids();
    let handed_out: Vec<u32> = (0..2)
        .filter_map(|_| directory.find_bundle(&fingerprint).expect("find"))
        .filter_map(|bundle| bundle.one_time_prekey_id())
        .collect();
    assert_eq!(handed_out, ids[..2]);

    // The store drops two prekeys it never saw used; replacing drops their bundles and
    // leaves the handed-out ones out.
    assert_eq!(store.remove_one_time_prekeys(&ids[2..4]), 2);
    directory.replace_bundles(&bob, &store).expect("replace");
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(2));
    // One more dropped: removed from the directory directly, once.
    store.remove_one_time_prekeys(&ids[4..5]);
    assert_eq!(directory.remove_one_time_bundles(&bob, &ids[4..5]), Ok(1));
    assert_eq!(directory.remove_one_time_bundles(&bob, &ids[4..5]), Ok(0));
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(1));
    let last = directory
        .find_bundle(&fingerprint)
        .expect("find")
        .expect("bundle");
    assert_eq!(last.one_time_prekey_id(), Some(ids[5]));
    join_from(&mut rng, &alice, &bob, &mut store, &last).expect("joins");

    // A store started afresh: its ids start again, so its signed prekey has the old one's
    // id with another key; its bundles are stale to publish, and refusing changes nothing...
    let (mut fresh, fresh_ids) = prekeys(&mut rng, 4);
    assert_eq!(fresh.signed_prekey_id(), store.signed_prekey_id());
    assert!(fresh_ids.iter().any(|id| handed_out.contains(id)));
    assert!(matches!(
        directory.publish_prekeys(&bob, &fresh),
        Err(Error::StaleBundle { .. })
    ));
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(0));
    // ...but replace the old store's: all four, under ids the old store handed out too.
    directory.replace_bundles(&bob, &fresh).expect("replace");
    let bundles = drain(&mut directory, bob.card());
    assert_eq!(
        bundles
            .iter()
            .filter_map(PrekeyBundle::one_time_prekey_id)
            .collect::<Vec<_>>(),
        fresh_ids
    );
    for bundle in &bundles {
        join_from(&mut rng, &alice, &bob, &mut fresh, bundle).expect("joins");
    }
    // The old store's bundles are the stale ones now.
    assert!(matches!(
        directory.publish_prekeys(&bob, &store),
        Err(Error::StaleBundle { .. })
    ));
    let dave = identity(&mut rng, "dave");
    assert_eq!(
        directory.remove_one_time_bundles(&dave, &[1]),
        Err(Error::UnknownCard {
            fingerprint: dave.card().fingerprint()
        })
    );
}

/// Publishing a store's bundles is all or nothing, and a full pool (MAX_ONE_TIME_PREKEYS
/// bundles) is published, replaced and thinned out in one go each.
#[test]
fn full_pools_are_published_and_replaced_all_at_once() {
    let mut rng = rng(12);
    let mut directory = InMemoryDirectory::default();
    let bob = identity(&mut rng, "bob");
    directory.publish(bob.card().clone()).expect("card");
    let fingerprint = bob.card().fingerprint();
    let (mut store, ids) = prekeys(&mut rng, MAX_ONE_TIME_PREKEYS);
    directory.replace_bundles(&bob, &store).expect("replace");
    assert_eq!(
        directory.one_time_prekey_count(&fingerprint),
        Ok(MAX_ONE_TIME_PREKEYS)
    );

    // One prekey dropped and one made: added to the bundles held, the pool would overflow.
    store.remove_one_time_prekeys(&ids[..1]);
    let made = store
        .generate_one_time_prekeys(&mut rng, 1)
        .expect("room for one");
    assert_eq!(
        directory.publish_prekeys(&bob, &store),
        Err(Error::PrekeyPoolFull {
            max: MAX_ONE_TIME_PREKEYS
        })
    );
    assert_eq!(
        directory.one_time_prekey_count(&fingerprint),
        Ok(MAX_ONE_TIME_PREKEYS)
    );
    // In place of them, it fits, and the new prekey comes last.
    directory.replace_bundles(&bob, &store).expect("replace");
    assert_eq!(
        directory.one_time_prekey_count(&fingerprint),
        Ok(MAX_ONE_TIME_PREKEYS)
    );
    let first = directory.find_bundle(&fingerprint).expect("find");
    assert_eq!(first.and_then(|b| b.one_time_prekey_id()), Some(ids[1]));

    // Half expire at once, and a rotation signs the rest again, in their order.
    assert_eq!(
        directory.remove_one_time_bundles(&bob, &ids[..MAX_ONE_TIME_PREKEYS / 2]),
        Ok(MAX_ONE_TIME_PREKEYS / 2 - 2)
    );
    store.remove_one_time_prekeys(&ids[..MAX_ONE_TIME_PREKEYS / 2]);
    store.rotate_signed_prekey(&mut rng);
    directory.replace_bundles(&bob, &store).expect("replace");
    let left = MAX_ONE_TIME_PREKEYS / 2 + 1;
    assert_eq!(directory.one_time_prekey_count(&fingerprint), Ok(left));
    let bundles = drain(&mut directory, bob.card());
    let handed: Vec<u32> = bundles
        .iter()
        .filter_map(PrekeyBundle::one_time_prekey_id)
        .collect();
    let expected: Vec<u32> = ids[MAX_ONE_TIME_PREKEYS / 2..]
        .iter()
        .chain(&made)
        .copied()
        .collect();
    assert_eq!(handed, expected);
    assert!(bundles
        .iter()
        .all(|bundle| bundle.signed_prekey_id() == store.signed_prekey_id()));
}
