//! The vectors' RNGs. ratchetkit draws every X25519 or Ed25519 private key and every ML-KEM
//! encapsulation's randomness `m` as one 32-byte `fill_bytes`, every ML-KEM key pair as one
//! 64-byte `fill_bytes` (its seed `d || z`), and a new group's salt and each channel or group
//! message's salt as one 16-byte `fill_bytes`; the files list every such draw: the
//! generators record them from a seeded `ChaCha20Rng` ([`RecordingRng`]), the tests'
//! replays hand the listed ones back ([`ScriptedRng`]). Any other kind of draw panics (a
//! `next_u32`, `next_u64` or a `fill_bytes` of another length, or, in a replay, of another
//! length than the listed value's): it would be a random value the files do not list.

// The example only generates: it has no use for the replays' RNG.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::convert::Infallible;

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng, TryCryptoRng, TryRng};

use crate::vectors::json::bytes;

/// The lengths of the draws ratchetkit makes: a private key or an ML-KEM encapsulation's
/// randomness (32 bytes), a group's or a message's salt (16 bytes,
/// `ratchetkit::group::GROUP_SALT_LEN`, `MESSAGE_SALT_LEN`) and an ML-KEM seed (64 bytes,
/// `KEM_SEED_LEN`).
pub const DRAW_LENGTHS: [usize; 3] = [32, 16, 64];

/// A seeded `ChaCha20Rng` that records every draw, for the generators.
pub struct RecordingRng {
    inner: ChaCha20Rng,
    draws: Vec<Vec<u8>>,
}

impl RecordingRng {
    pub fn new(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
            draws: Vec::new(),
        }
    }

    /// The draws since the last call, which must be exactly `N` of 32 bytes (`what` names
    /// the call that made them, for the panic message).
    pub fn take<const N: usize>(&mut self, what: &str) -> [[u8; 32]; N] {
        let draws: Vec<[u8; 32]> = self
            .take_all()
            .iter()
            .map(|draw| {
                draw.as_slice().try_into().unwrap_or_else(|_| {
                    panic!("{what} drew {} bytes, the vectors assume 32", draw.len())
                })
            })
            .collect();
        let count = draws.len();
        draws
            .try_into()
            .unwrap_or_else(|_| panic!("{what} drew {count} random values, the vectors assume {N}"))
    }

    /// The draws since the last call, which must be of exactly these `lengths`, in order
    /// (`what` names the call that made them, for the panic message).
    pub fn take_sized(&mut self, what: &str, lengths: &[usize]) -> Vec<Vec<u8>> {
        let draws = self.take_all();
        let drawn: Vec<usize> = draws.iter().map(Vec::len).collect();
        assert_eq!(
            drawn, lengths,
            "{what} drew values of these lengths, the vectors assume others"
        );
        draws
    }

    /// All the draws since the last call, however many, in order.
    pub fn take_all(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.draws)
    }
}

/// An RNG that hands out the given values in order, each to a `fill_bytes` of its length,
/// and nothing else, for the replays.
pub struct ScriptedRng(VecDeque<Vec<u8>>);

impl ScriptedRng {
    /// The values, as listed in the file (hex).
    pub fn new<S: AsRef<str>>(values: &[S]) -> Self {
        Self(values.iter().map(|value| bytes(value.as_ref())).collect())
    }

    pub fn assert_used_up(&self, what: &str) {
        assert!(
            self.0.is_empty(),
            "{what} drew fewer random values than listed"
        );
    }
}

/// Where an RNG of the vectors gets its next value, of one of the [`DRAW_LENGTHS`].
trait Draw {
    fn draw(&mut self, dst: &mut [u8]);
}

impl Draw for RecordingRng {
    fn draw(&mut self, dst: &mut [u8]) {
        self.inner.fill_bytes(dst);
        self.draws.push(dst.to_vec());
    }
}

impl Draw for ScriptedRng {
    fn draw(&mut self, dst: &mut [u8]) {
        let value = self
            .0
            .pop_front()
            .expect("ratchetkit drew more random values than listed");
        assert_eq!(
            value.len(),
            dst.len(),
            "ratchetkit drew {} bytes where the listed value has {}",
            dst.len(),
            value.len()
        );
        dst.copy_from_slice(&value);
    }
}

/// Implements the RNG traits for types that supply only `fill_bytes` draws of the
/// [`DRAW_LENGTHS`].
macro_rules! only_listed_draws {
    ($($rng:ty),*) => {$(
        impl TryRng for $rng {
            type Error = Infallible;

            fn try_next_u32(&mut self) -> Result<u32, Infallible> {
                panic!("unexpected next_u32: the vectors assume only fill_bytes draws")
            }

            fn try_next_u64(&mut self) -> Result<u64, Infallible> {
                panic!("unexpected next_u64: the vectors assume only fill_bytes draws")
            }

            fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
                let len = dst.len();
                assert!(
                    DRAW_LENGTHS.contains(&len),
                    "unexpected {len}-byte draw: the vectors assume only draws of {DRAW_LENGTHS:?} bytes"
                );
                self.draw(dst);
                Ok(())
            }
        }

        impl TryCryptoRng for $rng {}
    )*};
}

only_listed_draws!(RecordingRng, ScriptedRng);
