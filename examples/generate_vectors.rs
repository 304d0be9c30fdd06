//! Prints the interop test vectors of ratchetkit protocol version 1 as JSON.
//!
//! ```text
//! cargo run --example generate_vectors > tests/vectors/channel-v1.json
//! ```
//!
//! The output is deterministic (a seeded RNG, fixed names, times and plaintexts), and
//! `cargo test --test vectors` checks that the committed file equals it. The generation
//! code lives in `tests/vectors/generate.rs`, shared with that test; the file format is
//! described in `tests/vectors/README.md`.

#[path = "../tests/vectors/generate.rs"]
mod generate;

fn main() {
    print!("{}", generate::to_json());
}
