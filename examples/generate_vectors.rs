//! Prints the interop test vectors of ratchetkit as JSON: the channel vectors (channel
//! protocol version 2) by default, the group vectors (group protocol version 2) with the
//! argument `group`.
//!
//! ```text
//! cargo run --example generate_vectors > tests/vectors/channel-v2.json
//! cargo run --example generate_vectors -- group > tests/vectors/group-v2.json
//! ```
//!
//! The output is deterministic (seeded RNGs, fixed names, times and plaintexts), and
//! `cargo test --test vectors` and `cargo test --test group_vectors` check that the
//! committed files equal it. The generators live under `tests/vectors/`, shared with those
//! tests: `channel/generate.rs` and `group/generator/`, with the modules they use; the file
//! formats are described in `tests/vectors/README.md`.

#[path = "../tests/vectors"]
mod vectors {
    pub mod channel_model;
    pub mod json;
    pub mod keys;
    pub mod primitives;
    pub mod rng;

    pub mod channel {
        pub mod format;
        pub mod generate;
        pub mod script;
        pub mod sides;
    }

    pub mod group {
        pub mod format;
        pub mod generator;
        pub mod member;
    }
}

use vectors::{channel, group};

fn main() {
    match std::env::args().nth(1).as_deref() {
        None | Some("channel") => print!("{}", channel::generate::to_json()),
        Some("group") => print!("{}", group::generator::to_json()),
        Some(other) => {
            eprintln!("unknown vector file {other:?}: expected `channel` or `group`");
            std::process::exit(2);
        }
    }
}
