//! Writes genuine inputs of the largest sizes the fuzz runs allow (`-max_len`) to
//! `<dir>/<target>/`, for each target whose genuine inputs can be that large: what the
//! memory limits of the runs (`-malloc_limit_mb`, `-rss_limit_mb`) are measured against, so
//! that they never fail on a genuine input. Not a seed corpus (too large to commit). From
//! `fuzz/`:
//!
//! ```text
//! RUSTFLAGS="--cfg fuzzing" cargo run --release --example large -- /tmp/large
//! target/x86_64-unknown-linux-gnu/release/sealed_open -runs=0 /tmp/large/sealed_open
//! ```
//!
//! The inputs are made for the targets' fixtures (the same seeded identities and keys),
//! so they get past parsing and signature checks and are opened, decrypted or loaded.

use std::fs;
use std::path::Path;

use ratchetkit::{Channel, PrekeyStore, StorageKey};
use ratchetkit_fuzz::{identity, pair, responder, rng};

/// `-max_len` of the targets whose inputs may be that large (`.ci/run`).
const LARGE: usize = 4 << 20;
/// `-max_len` of the others.
const MEDIUM: usize = 1 << 20;

fn main() {
    let dir = std::env::args().nth(1).expect("usage: large <directory>");
    let write = |target: &str, name: &str, bytes: &[u8]| {
        let dir = Path::new(&dir).join(target);
        fs::create_dir_all(&dir).expect("create the directory");
        fs::write(dir.join(name), bytes).expect("write an input");
        println!("{target}/{name}: {} bytes", bytes.len());
    };
    let mut rng = rng(11);

    // A sealed message and a sealed stream just under LARGE, to the sealed_open fixture's
    // recipient from its sender (the same seeded identities as `ratchetkit_fuzz::sealed`).
    let mut seeded = ratchetkit_fuzz::rng(3);
    let sender = identity(&mut seeded, "alice");
    let recipient = identity(&mut seeded, "bob");
    let other = identity(&mut seeded, "carol");
    let to = [recipient.card().clone(), other.card().clone()];
    let plaintext = vec![7u8; LARGE - 4096];
    let mut message = vec![0];
    message.extend(ratchetkit::seal(&mut rng, &sender, &to, &plaintext).expect("seal"));
    write("sealed_open", "message", &message);
    let mut stream = vec![1];
    ratchetkit::seal_stream(&mut rng, &sender, &to, &plaintext[..], &mut stream)
        .expect("seal a stream");
    write("sealed_open", "stream", &stream);

    // A first message just under MEDIUM and one just under LARGE, for channel_join's
    // responder; the same as later messages on an established channel (channel_decrypt).
    let responder = responder();
    for (name, len) in [("first-1m", MEDIUM - 4096), ("first-4m", LARGE - 4096)] {
        let mut channel =
            Channel::create(&mut rng, &responder.alice, &responder.bundle).expect("create");
        let first = channel.encrypt(&mut rng, &vec![7u8; len]).expect("encrypt");
        write("channel_join", name, &first);
    }
    let mut alice = pair(false).alice;
    let next = alice
        .encrypt(&mut rng, &vec![7u8; MEDIUM - 4096])
        .expect("encrypt");
    let mut input = vec![0];
    input.extend(next);
    write("channel_decrypt", "next-1m", &input);

    // Saved state: a prekey store holding the most one-time prekeys, plain and sealed
    // with the state target's key.
    let mut prekeys = PrekeyStore::new(&mut rng);
    prekeys
        .generate_one_time_prekeys(&mut rng, ratchetkit::identity::MAX_ONE_TIME_PREKEYS)
        .expect("one-time prekeys");
    write("state", "prekeys-full", &prekeys.to_bytes());
    let storage = StorageKey::from_bytes([7; 32]);
    let sealed = storage.seal(&mut rng, &prekeys).expect("seal");
    write("state", "prekeys-full-sealed", &sealed);
}
