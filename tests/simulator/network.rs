//! The network: messages in flight, each delivered after its own random delay (which
//! reorders them), some lost, some duplicated, some delivered with a bit flipped.

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::rngs::ChaCha20Rng;
use rand::RngExt;

use super::channel_model::ChannelMeta;
use super::group_model::{ControlMeta, GroupMsgMeta};

/// Chance that a message is lost (group control is sent again instead: see [`Network::post`]).
pub const DROP: f64 = 0.05;
/// Chance that a message is delivered twice.
pub const DUPLICATE: f64 = 0.10;
/// Chance that a copy with one bit flipped is delivered as well.
pub const TAMPER: f64 = 0.03;

/// What a message is, with what the model knows of it.
#[derive(Clone, Debug)]
pub enum Kind {
    /// A channel message with application data.
    App {
        meta: ChannelMeta,
        plaintext: Rc<[u8]>,
    },
    /// A channel message with group control.
    Control {
        meta: ChannelMeta,
        control: Rc<ControlMeta>,
    },
    /// A group message.
    Group {
        group: usize,
        meta: GroupMsgMeta,
        plaintext: Rc<[u8]>,
    },
}

#[derive(Clone, Debug)]
pub struct Packet {
    pub from: usize,
    pub to: usize,
    pub bytes: Rc<[u8]>,
    /// A bit was flipped: it must be rejected.
    pub tampered: bool,
    /// How often the recipient's app put it back to retry later.
    pub retries: u32,
    pub kind: Kind,
}

#[derive(Default)]
pub struct Network {
    /// By (due time, random tie-break, sequence number).
    queue: BTreeMap<(u64, u64, u64), Packet>,
    sequence: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub tampered: u64,
}

/// A delivery delay in steps: mostly short, sometimes long, now and then very long.
pub fn delay(rng: &mut ChaCha20Rng) -> u64 {
    match rng.random_range(0..100) {
        0..70 => rng.random_range(0..4),
        70..95 => rng.random_range(0..50),
        95..99 => rng.random_range(0..1_000),
        _ => rng.random_range(0..20_000),
    }
}

/// The delay of group control: like [`delay`], with a shorter tail (control is small, and
/// a late key keeps every message under it waiting).
pub fn control_delay(rng: &mut ChaCha20Rng) -> u64 {
    match rng.random_range(0..100) {
        0..80 => rng.random_range(0..4),
        80..99 => rng.random_range(0..50),
        _ => rng.random_range(0..500),
    }
}

impl Network {
    /// Sends `packet` at time `now`: lost (unless `reliable`, when it is only delayed a
    /// long time, as a retransmission would), duplicated, or accompanied by a tampered
    /// copy, each copy with its own delay.
    pub fn post(&mut self, rng: &mut ChaCha20Rng, now: u64, packet: Packet, reliable: bool) {
        let delay = if reliable { control_delay } else { delay };
        if rng.random_bool(DUPLICATE) {
            self.duplicated += 1;
            let due = now + delay(rng);
            self.post_at(rng, due, packet.clone());
        }
        if rng.random_bool(TAMPER) {
            self.tampered += 1;
            let mut copy = packet.clone();
            let mut bytes = copy.bytes.to_vec();
            let bit = rng.random_range(0..bytes.len() * 8);
            bytes[bit / 8] ^= 1 << (bit % 8);
            copy.bytes = bytes.into();
            copy.tampered = true;
            let due = now + delay(rng);
            self.post_at(rng, due, copy);
        }
        if rng.random_bool(DROP) {
            if !reliable {
                self.lost += 1;
                return;
            }
            let due = now + rng.random_range(0..300);
            self.post_at(rng, due, packet);
            return;
        }
        let due = now + delay(rng);
        self.post_at(rng, due, packet);
    }

    /// Delivers `packet` at `due`, no chaos.
    pub fn post_at(&mut self, rng: &mut ChaCha20Rng, due: u64, packet: Packet) {
        self.sequence += 1;
        self.queue
            .insert((due, rng.random::<u64>(), self.sequence), packet);
    }

    /// The next message due by `now`.
    pub fn pop_due(&mut self, now: u64) -> Option<Packet> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        Some(entry.remove())
    }

    /// The next message, whenever it is due, and when.
    pub fn pop_next(&mut self) -> Option<(u64, Packet)> {
        self.queue
            .pop_first()
            .map(|((due, _, _), packet)| (due, packet))
    }

    /// Whether everything in flight was delivered before and put back to retry.
    pub fn all_retried(&self) -> bool {
        self.queue.values().all(|packet| packet.retries > 0)
    }

    /// Calls `f` with every message in flight and when it is due.
    pub fn for_each(&self, mut f: impl FnMut(u64, &Packet)) {
        for ((due, _, _), packet) in &self.queue {
            f(*due, packet);
        }
    }

    /// Whether anything in flight is `which`.
    pub fn any(&self, which: impl Fn(&Packet) -> bool) -> bool {
        self.queue.values().any(which)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn drain(&mut self) -> Vec<Packet> {
        std::mem::take(&mut self.queue).into_values().collect()
    }
}
