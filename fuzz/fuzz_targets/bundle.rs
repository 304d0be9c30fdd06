//! Arbitrary bytes imported as a prekey bundle (`PrekeyBundle::from_bytes`, what a client
//! does with what an untrusted directory serves): never a panic, and an accepted bundle
//! re-exports to exactly its bytes and imports again to the same bundle. A fixed identity
//! then starts a channel from it (`Channel::create`) and encrypts a first message; when the
//! bundle carries the card of the fixture's Bob, Bob joins from that message, which must
//! succeed exactly when the bundle holds one of his genuine bundles' keys.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit::{Channel, PrekeyBundle, PrekeyStore};
use ratchetkit_fuzz::{bundles, rng, BundleFixture};

static FIXTURE: LazyLock<BundleFixture> = LazyLock::new(bundles);

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&FIXTURE);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let Ok(bundle) = PrekeyBundle::from_bytes(data) else {
        return;
    };
    let fixture = &*FIXTURE;
    let bytes = bundle.to_bytes();
    assert_eq!(bytes, data, "a bundle imports only from its own bytes");
    let again = PrekeyBundle::from_bytes(&bytes).expect("a bundle's bytes import");
    assert_eq!(again, bundle);
    assert_eq!(
        bundle.card().to_bytes(),
        again.card().to_bytes(),
        "the same card"
    );

    let mut rng = rng(9);
    // A one-time prekey is not signed: one that is a low-order point is refused here.
    let Ok(mut channel) = Channel::create(&mut rng, &fixture.responder.alice, &bundle) else {
        return;
    };
    let first = channel
        .encrypt(&mut rng, b"first")
        .expect("a new channel encrypts");
    let bob = &fixture.responder.bob;
    if bundle.card().fingerprint() != bob.card().fingerprint() {
        return;
    }
    let genuine = fixture
        .genuine
        .iter()
        .any(|held| held.with_card(bundle.card()).as_ref() == Ok(&bundle));
    let mut prekeys = PrekeyStore::from_bytes(&fixture.saved_prekeys).expect("the store loads");
    match Channel::join(bob, &mut prekeys, &first) {
        Ok(joined) => {
            assert!(
                genuine,
                "joined from a bundle with keys Bob never published"
            );
            assert_eq!(joined.plaintext(), b"first");
            assert_eq!(
                joined.peer().fingerprint(),
                fixture.responder.alice.card().fingerprint()
            );
        }
        Err(error) => assert!(!genuine, "a genuine bundle's first message: {error:?}"),
    }
}
