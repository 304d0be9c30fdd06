//! Arbitrary bytes as a sealed message (first byte even) or a sealed stream (odd), opened
//! by a recipient with two candidate sender cards: `open` and `open_stream` never panic,
//! and what they accept names one of the candidates as its sender (for a stream, with
//! exactly the bytes written).
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::{fuzz_target, Corpus};
use ratchetkit_fuzz::{sealed, SealedFixture};

static FIXTURE: LazyLock<SealedFixture> = LazyLock::new(sealed);

// Hostile inputs are large: one mutation in 64 repeats a protobuf field entry, up to
// `-max_len` bytes (such inputs run, but stay out of the corpus), and every input runs
// within a heap budget relative to its size (`ratchetkit_fuzz::{amplify, budget}`).
ratchetkit_fuzz::hostile_input!();

fuzz_target!(|data: &[u8]| -> Corpus {
    LazyLock::force(&FIXTURE);
    ratchetkit_fuzz::hostile(data, run)
});

fn run(data: &[u8]) {
    let Some((&choice, input)) = data.split_first() else {
        return;
    };
    let fixture = &*FIXTURE;
    let is_candidate = |fingerprint| {
        fixture
            .senders
            .iter()
            .any(|card| card.fingerprint() == fingerprint)
    };
    if choice % 2 == 0 {
        if let Ok(opened) = ratchetkit::open(&fixture.recipient, &fixture.senders, input) {
            assert!(
                is_candidate(opened.sender()),
                "opened from a card not given"
            );
        }
    } else {
        let mut output = Vec::new();
        if let Ok(opened) =
            ratchetkit::open_stream(&fixture.recipient, &fixture.senders, input, &mut output)
        {
            assert!(
                is_candidate(opened.sender()),
                "opened from a card not given"
            );
            assert_eq!(opened.bytes(), output.len() as u64, "bytes written");
        }
    }
}
