//! The structure-aware target: a channel and a group driven through the operations the
//! fuzzer picks, with the invariants of a conversation checked after every step (see
//! `ratchetkit_fuzz::conversation`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ratchetkit_fuzz::conversation::{Conversation, Op};

fuzz_target!(|ops: Vec<Op>| {
    Conversation::run(&ops);
});
