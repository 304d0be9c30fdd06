//! Arbitrary bytes imported as a card, from its bytes (`Card::from_bytes`) and as base64
//! text (`Card::from_base64`): never a panic, and an accepted card re-exports to exactly the
//! bytes (or text) it came from, imports again to the same card and fingerprint, and goes
//! through the checks that take cards as they must for a card of its fingerprint: the
//! rotation chain from and to the fixture's first card (`Card::verify_chain`), the app
//! signature (`Card::verify_app_signature`, `CardPolicy`) and a directory's `publish`
//! and `find_newest`. Only a card with the content of a fixture card passes a check that
//! needs a key the fuzzer does not hold.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::{Card, CardDirectory, CardPolicy, InMemoryDirectory};
use ratchetkit_fuzz::{cards, CardFixture};

static FIXTURE: LazyLock<CardFixture> = LazyLock::new(cards);

fn check(card: &Card) {
    let fixture = &*FIXTURE;
    let bytes = card.to_bytes();
    let again = Card::from_bytes(&bytes).expect("a card's bytes import");
    assert_eq!(again, *card, "imports to the same card");
    assert_eq!(
        again.fingerprint(),
        card.fingerprint(),
        "the same fingerprint"
    );
    let text = card.to_base64();
    assert_eq!(
        Card::from_base64(&text).expect("a card's base64 imports"),
        *card
    );
    // Read everything a card shows; the name must stay printable as it was signed.
    let _ = (card.identity(), card.signing_key(), card.agreement_key());
    let _ = (card.created_at(), card.previous_fingerprint());

    // The app signature: only the fixture's content carries the fixture app's.
    let app = card.verify_app_signature(&[fixture.app]);
    if app.is_ok() {
        assert!(card.has_app_signature());
        assert!(
            card.fingerprint() == fixture.first.fingerprint()
                || card.fingerprint() == fixture.rotated.fingerprint(),
            "an app signature verified on content the app never signed"
        );
    }
    let policy = CardPolicy::require_app_signature(vec![fixture.app]);
    assert_eq!(
        policy.check(card).is_ok(),
        app.is_ok(),
        "policy and check agree"
    );
    if !card.has_app_signature() {
        assert!(app.is_err());
    }

    // The card as the trusted start of a chain to the fixture's rotated card: it holds
    // exactly when the card has the first card's content.
    let from_card = Card::verify_chain(card, core::slice::from_ref(&fixture.rotated));
    assert_eq!(
        from_card.is_ok(),
        card.fingerprint() == fixture.first.fingerprint(),
        "a chain from the card: {from_card:?}"
    );
    // The card as the next link after the first card: only the rotated card's content.
    let to_card = Card::verify_chain(&fixture.first, core::slice::from_ref(card));
    if let Ok(newest) = to_card {
        assert_eq!(newest, card);
        assert_eq!(
            card.fingerprint(),
            fixture.rotated.fingerprint(),
            "a rotation the first card's key never signed"
        );
    }

    // A directory holding the first card takes the card as a rotation only if the link
    // verifies, and then serves it as the newest.
    let mut directory = InMemoryDirectory::default();
    directory
        .publish(fixture.first.clone())
        .expect("publish the first card");
    match directory.publish(card.clone()) {
        Ok(()) => {
            let held = directory
                .find_by_fingerprint(&card.fingerprint())
                .expect("in memory")
                .expect("a published card is held");
            assert_eq!(held.fingerprint(), card.fingerprint());
            let newest = directory.find_newest(&fixture.first).expect("a chain");
            if card.previous_fingerprint() == Some(fixture.first.fingerprint()) {
                assert!(
                    to_card.is_ok(),
                    "the directory took a link that does not verify"
                );
                assert_eq!(newest.fingerprint(), card.fingerprint());
            } else {
                assert_eq!(newest.fingerprint(), fixture.first.fingerprint());
            }
        }
        Err(_) => assert!(
            card.previous_fingerprint().is_some(),
            "a directory refused a first card"
        ),
    }
}

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&FIXTURE);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    if let Ok(card) = Card::from_bytes(data) {
        assert_eq!(
            card.to_bytes(),
            data,
            "a card imports only from its own bytes"
        );
        check(&card);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(card) = Card::from_base64(text) {
            assert_eq!(
                card.to_base64(),
                text.trim(),
                "base64 imports only its own text"
            );
            check(&card);
        }
    }
}
