//! The network between the devices: every copy of an envelope is delivered after its own
//! random delay (which reorders them); some are lost, some delivered twice, some
//! accompanied by a copy with one bit flipped. Its own small queue rather than
//! `tests/simulator/network.rs`, whose packets carry that simulator's channel and group
//! models.

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::rngs::ChaCha20Rng;
use rand::RngExt;

/// Chance that an envelope is lost.
pub const DROP: f64 = 0.05;
/// Chance that an envelope is delivered twice.
pub const DUPLICATE: f64 = 0.10;
/// Chance that a copy with one bit flipped is delivered as well.
pub const TAMPER: f64 = 0.03;

/// One copy of an envelope on its way.
#[derive(Clone, Debug)]
pub struct Packet {
    /// The envelope's index in the world's list of envelopes.
    pub envelope: usize,
    pub bytes: Rc<[u8]>,
    /// A bit was flipped: it must be refused.
    pub tampered: bool,
}

/// What became of one envelope handed to the network.
#[derive(Clone, Copy, Debug, Default)]
pub struct Posted {
    /// Genuine copies on their way: 0 if it was lost.
    pub genuine: u32,
    pub tampered: bool,
}

#[derive(Default)]
pub struct Network {
    /// By (due step, random tie-break, sequence number): copies due at the same step
    /// arrive in random order.
    queue: BTreeMap<(u64, u64, u64), Packet>,
    sequence: u64,
    /// No loss, duplication or tampering (for the final rounds, which check that every
    /// device ends up with every message and on one channel with every peer).
    pub reliable: bool,
}

/// A delivery delay in steps: mostly short, sometimes long, now and then very long (a
/// device that was offline).
fn delay(rng: &mut ChaCha20Rng) -> u64 {
    match rng.random_range(0..100) {
        0..70 => rng.random_range(0..4),
        70..95 => rng.random_range(0..40),
        _ => rng.random_range(0..400),
    }
}

impl Network {
    /// Sends envelope `envelope` at step `now`. A `lossless` one (group control, which
    /// the group protocol recovers only by a resync) may be delayed, duplicated and
    /// tampered with, but is never lost.
    pub fn post(
        &mut self,
        rng: &mut ChaCha20Rng,
        now: u64,
        envelope: usize,
        bytes: Rc<[u8]>,
        lossless: bool,
    ) -> Posted {
        let mut posted = Posted::default();
        let packet = Packet {
            envelope,
            bytes,
            tampered: false,
        };
        if !self.reliable && rng.random_bool(DUPLICATE) {
            posted.genuine += 1;
            let due = now + delay(rng);
            self.post_at(rng, due, packet.clone());
        }
        if !self.reliable && rng.random_bool(TAMPER) {
            posted.tampered = true;
            let mut bytes = packet.bytes.to_vec();
            let bit = rng.random_range(0..bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            let copy = Packet {
                envelope,
                bytes: bytes.into(),
                tampered: true,
            };
            let due = now + delay(rng);
            self.post_at(rng, due, copy);
        }
        if !self.reliable && rng.random_bool(DROP) && !lossless {
            return posted;
        }
        posted.genuine += 1;
        let due = now + delay(rng);
        self.post_at(rng, due, packet);
        posted
    }

    fn post_at(&mut self, rng: &mut ChaCha20Rng, due: u64, packet: Packet) {
        self.sequence += 1;
        self.queue
            .insert((due, rng.random::<u64>(), self.sequence), packet);
    }

    /// The next copy due by step `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Packet> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    /// The next copy, whenever it is due, and when.
    pub fn pop_next(&mut self) -> Option<(u64, Packet)> {
        self.queue
            .pop_first()
            .map(|((due, _, _), packet)| (due, packet))
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
