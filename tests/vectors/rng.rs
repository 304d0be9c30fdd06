//! The vectors' RNGs. ratchetkit draws every random value as one 32-byte `fill_bytes`, and
//! the files list every such draw: the generators record them from a seeded `ChaCha20Rng`
//! ([`RecordingRng`]), the tests' replays hand the listed ones back ([`ScriptedRng`]). Any
//! other kind of draw panics: it would be a random value the files do not list.

// The example only generates: it has no use for the replays' RNG.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng, TryCryptoRng, TryRng};

use crate::vectors::json::array;

/// A seeded `ChaCha20Rng` that records every draw, for the generators.
pub struct RecordingRng {
    inner: ChaCha20Rng,
    draws: Vec<[u8; 32]>,
}

impl RecordingRng {
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
            draws: Vec::new(),
        }
    }

    /// The draws since the last call, which must be exactly `N` (`what` names the call
    /// that made them, for the panic message).
    pub fn take<const N: usize>(&mut self, what: &str) -> [[u8; 32]; N] {
        let draws = self.take_all();
        let count = draws.len();
        draws
            .try_into()
            .unwrap_or_else(|_| panic!("{what} drew {count} random values, the vectors assume {N}"))
    }

    /// All the draws since the last call, however many.
    pub fn take_all(&mut self) -> Vec<[u8; 32]> {
        std::mem::take(&mut self.draws)
    }
}

/// An RNG that hands out the given 32-byte values in order, and nothing else, for the
/// replays.
pub struct ScriptedRng(VecDeque<[u8; 32]>);

impl ScriptedRng {
    /// The values, as listed in the file (hex).
    pub fn new<S: AsRef<str>>(values: &[S]) -> Self {
        Self(values.iter().map(|value| array(value.as_ref())).collect())
    }

    pub fn assert_used_up(&self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what} drew fewer random values than listed"
        );
    }
}

/// Where an RNG of the vectors gets its next 32-byte value.
trait Draw32 {
    fn draw32(&mut self) -> [u8; 32];
}

impl Draw32 for RecordingRng {
    fn draw32(&mut self) -> [u8; 32] {
        let mut value = [0; 32];
        self.inner.fill_bytes(&mut value);
        self.draws.push(value);
        value
    }
}

impl Draw32 for ScriptedRng {
    fn draw32(&mut self) -> [u8; 32] {
        self.0
            .pop_front()
            .expect("ratchetkit drew more random values than listed")
    }
}

/// Implements the RNG traits for types that supply only 32-byte `fill_bytes` draws.
macro_rules! only_32_byte_draws {
    ($($rng:ty),*) => {$(
        impl TryRng for $rng {
            type Error = Infallible;

            fn try_next_u32(&mut self) -> Result<u32, Infallible> {
                panic!("unexpected next_u32: the vectors assume only 32-byte fill_bytes draws")
            }

            fn try_next_u64(&mut self) -> Result<u64, Infallible> {
                panic!("unexpected next_u64: the vectors assume only 32-byte fill_bytes draws")
            }

            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
                let len = dst.len();
                let dst: &mut [u8; 32] = dst.try_into().unwrap_or_else(|_| {
                    panic!("unexpected {len}-byte draw: the vectors assume only 32-byte draws")
                });
                *dst = self.draw32();
                Ok(())
            }
        }

        impl TryCryptoRng for $rng {}
    )*};
}

only_32_byte_draws!(RecordingRng, ScriptedRng);
