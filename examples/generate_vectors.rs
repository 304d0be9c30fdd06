//! Prints the interop test vectors of ratchetkit protocol version 1 as JSON: the channel
//! vectors by default, the group vectors with the argument `group`.
//!
//! ```text
//! cargo run --example generate_vectors > tests/vectors/channel-v1.json
//! cargo run --example generate_vectors -- group > tests/vectors/group-v1.json
//! ```
//!
//! The output is deterministic (seeded RNGs, fixed names, times and plaintexts), and
//! `cargo test --test vectors` and `cargo test --test group_vectors` check that the
//! committed files equal it. The generation code lives in `tests/vectors/generate.rs` and
//! `tests/vectors/generate_group.rs`, shared with those tests; the file formats are
//! described in `tests/vectors/README.md`.

#[path = "../tests/vectors/generate.rs"]
mod generate;
#[path = "../tests/vectors/generate_group.rs"]
mod generate_group;

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("channel") => print!("{}", generate::to_json()),
        Some("group") => print!("{}", generate_group::to_json()),
        Some(other) => {
            eprintln!("unknown vector file {other:?}: expected `channel` or `group`");
            std::process::exit(2);
        }
    }
}
