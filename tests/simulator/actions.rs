//! What parties do: send channel and group messages, and bursts that reach the limits.

use std::rc::Rc;

use rand::RngExt;
use ratchetkit::{
    channel::MAX_MESSAGE_GAP, channel::MAX_SKIPPED_KEYS, group::MAX_GROUP_MESSAGE_GAP,
    group::MAX_GROUP_SKIPPED_KEYS, Padding,
};

use super::channel_model::Side;
use super::group_model::{GroupMsgMeta, View};
use super::network::{Kind, Packet};
use super::{plain, Sim, PARTIES};

/// Most steps a burst that evicts channel keys waits for group control in flight.
const BURST_WAIT: u64 = 5_000;

/// Who gets a copy of a group message.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Fanout {
    /// The members; one in ten of those out of the group (their live state and the copy
    /// of it kept from when they were removed); now and then the sender itself (an echo).
    Chaotic,
    /// Exactly the members in the owner's roster.
    Members,
    /// The members and every party that was ever in the group.
    Everyone,
}

impl Sim {
    /// A party about to act may first crash and restart from a state it saved since its
    /// last output.
    pub(super) fn acting(&mut self, p: usize) {
        if !self.parties[p].saves.is_empty() && self.rng.random_bool(0.5) {
            self.restart(p);
        }
    }

    /// A party sends a channel message: mostly a few in a row in the same direction, as
    /// people do.
    pub(super) fn act_channel(&mut self) {
        let (a, b) = match self.last_channel {
            Some(last) if self.rng.random_bool(0.8) => last,
            _ => {
                let a = self.rng.random_range(0..PARTIES);
                (a, (a + self.rng.random_range(1..PARTIES)) % PARTIES)
            }
        };
        self.last_channel = Some((a, b));
        self.acting(a);
        if !self.parties[a].model.sides.contains_key(&b) {
            return; // a has not joined b's channel yet
        }
        let packet = self.send_app(a, b);
        self.net.post(&mut self.rng, self.now, packet, false);
    }

    pub(super) fn act_group_message(&mut self) {
        let g = self.rng.random_range(0..self.groups.len());
        // Mostly a member; now and then a party that is out (and must be refused).
        let any = self.rng.random_bool(0.05);
        let senders: Vec<usize> = (0..PARTIES)
            .filter(|&p| {
                self.parties[p].model.views[g]
                    .as_ref()
                    .is_some_and(|view| any || view.is_member())
            })
            .collect();
        if senders.is_empty() {
            return;
        }
        let p = senders[self.rng.random_range(0..senders.len())];
        self.acting(p);
        if self.parties[p].groups[g].is_none() {
            return;
        }
        for packet in self.send_group(p, g, Fanout::Chaotic) {
            self.net.post(&mut self.rng, self.now, packet, false);
        }
    }

    /// Encrypts an application message from `a` to `b`.
    pub(super) fn send_app(&mut self, a: usize, b: usize) -> Packet {
        let n = self.stats.channel_messages;
        let mut plaintext = format!("p{a} to p{b}: channel message {n}").into_bytes();
        let pad = self.rng.random_range(0..48);
        plaintext.extend(std::iter::repeat_n(b'.', pad));
        let peer = self.keys[b];
        let party = &mut self.parties[a];
        party.channel_cache.remove(&peer);
        let message = party
            .channels
            .get_mut(&peer)
            .expect("a channel")
            .encrypt(&mut self.rng, &plaintext)
            .unwrap_or_else(|error| panic!("p{a} cannot encrypt to p{b}: {error:?}"));
        assert_eq!(
            super::decode_channel_message(&message)
                .map(|parsed| parsed.ciphertext.len())
                .ok(),
            Some(Padding::Padme.padded_len(plaintext.len()) + 16),
            "p{a} to p{b}: the plaintext padded to its Padmé size, and the tag"
        );
        let meta = party
            .model
            .sides
            .get_mut(&b)
            .expect("a side")
            .encrypted(&message, false)
            .unwrap_or_else(|error| panic!("p{a} to p{b}: {error}"));
        self.stats.channel_messages += 1;
        self.output(a);
        Packet {
            from: a,
            to: b,
            bytes: message.into(),
            tampered: false,
            retries: 0,
            kind: Kind::App {
                meta,
                plaintext: plaintext.into(),
            },
        }
    }

    /// Encrypts a group message from `p` in `g` (which fails as the model says for a
    /// non-member) and returns a copy for everyone who may hold the group, and now and then
    /// one back to `p` itself (a server echo).
    pub(super) fn send_group(&mut self, p: usize, g: usize, fanout: Fanout) -> Vec<Packet> {
        let n = self.stats.group_messages;
        let mut plaintext = format!("p{p} to group {g}: group message {n}").into_bytes();
        let pad = self.rng.random_range(0..48);
        plaintext.extend(std::iter::repeat_n(b'.', pad));
        let party = &mut self.parties[p];
        party.group_cache[g] = None;
        let view = party.model.views[g].as_mut().expect("a view");
        let group = party.groups[g].as_mut().expect("a group");
        let planned = view.plan_encrypt();
        let before = planned.is_err().then(|| plain(group.to_bytes()));
        let key = match (group.encrypt(&mut self.rng, &plaintext), planned) {
            (Ok(message), Ok(key)) => {
                view.encrypted();
                (message, key)
            }
            (Err(error), Err(expected)) => {
                assert_eq!(error, expected, "p{p} encrypting in group {g}");
                assert!(
                    before == Some(plain(group.to_bytes())),
                    "a failed group encrypt changed the group"
                );
                return Vec::new();
            }
            (result, expected) => panic!(
                "p{p} encrypting in group {g}: {:?}, the model expected {expected:?}",
                result.map(|_| ())
            ),
        };
        let (message, key) = key;
        assert_eq!(group.roster_version(), view.roster.version);
        let meta = GroupMsgMeta {
            sender: p,
            key,
            version: view.roster.version,
            sender_stint: view.stint,
        };
        self.stats.group_messages += 1;
        self.output(p);
        let bytes: Rc<[u8]> = message.into();
        let plaintext: Rc<[u8]> = plaintext.into();
        let echo = fanout == Fanout::Chaotic && self.rng.random_bool(0.01);
        (0..PARTIES)
            .filter(|&q| {
                if q == p {
                    return echo;
                }
                if self.in_latest(g, q) {
                    return true;
                }
                let removed = self.parties[q].groups[g].is_some()
                    || self.groups[g].ghosts.iter().any(|ghost| ghost.party == q);
                removed
                    && match fanout {
                        Fanout::Chaotic => self.rng.random_bool(0.1),
                        Fanout::Members => false,
                        Fanout::Everyone => true,
                    }
            })
            .map(|q| Packet {
                from: p,
                to: q,
                bytes: bytes.clone(),
                tampered: false,
                retries: 0,
                kind: Kind::Group {
                    group: g,
                    meta,
                    plaintext: plaintext.clone(),
                },
            })
            .collect()
    }

    /// Sends bursts of messages that reach the documented limits: a gap beyond
    /// `MAX_MESSAGE_GAP` / `MAX_GROUP_MESSAGE_GAP` (the last messages arrive first and are
    /// refused as too far ahead; the others come later), or more skipped keys than
    /// `MAX_SKIPPED_KEYS` / `MAX_GROUP_SKIPPED_KEYS` (two bursts whose last messages arrive
    /// first; the oldest keys are evicted, and those messages then give `Duplicate`).
    ///
    /// A burst that evicts channel keys is aimed at a channel with group control in flight
    /// that arrives after it (waiting for one up to `BURST_WAIT` steps): that control is
    /// then lost for good, and its recipient must recover (`recovery`). False if the burst
    /// waits.
    pub(super) fn burst(&mut self) -> bool {
        let kind = self.stats.bursts % 4;
        let now = self.now;
        let aimed: Vec<(usize, usize)> = if kind == 1 {
            let mut pairs = Vec::new();
            self.net.for_each(|due, packet| {
                if let Kind::Control { .. } = packet.kind {
                    if due > now + 2 && !packet.tampered {
                        pairs.push((packet.from, packet.to));
                    }
                }
            });
            pairs.retain(|&(a, b)| {
                self.parties[a]
                    .model
                    .sides
                    .get(&b)
                    .is_some_and(Side::established)
            });
            pairs
        } else {
            Vec::new()
        };
        if kind == 1 && aimed.is_empty() && self.burst_waited < BURST_WAIT {
            self.burst_waited += 1;
            return false;
        }
        self.burst_waited = 0;
        self.stats.bursts += 1;
        let (rounds, count, last) = match kind {
            0 => (1, MAX_MESSAGE_GAP as usize + 2, 3),
            1 => (2, MAX_SKIPPED_KEYS * 9 / 10, 1),
            2 => (1, MAX_GROUP_MESSAGE_GAP as usize + 2, 3),
            _ => (2, MAX_GROUP_SKIPPED_KEYS * 9 / 10, 1),
        };
        let mut sent: Vec<Vec<Packet>> = Vec::new();
        if kind < 2 {
            let pairs: Vec<(usize, usize)> = (0..PARTIES)
                .flat_map(|a| (0..PARTIES).map(move |b| (a, b)))
                .filter(|&(a, b)| {
                    a != b
                        && self.parties[a]
                            .model
                            .sides
                            .get(&b)
                            .is_some_and(Side::established)
                })
                .collect();
            if pairs.is_empty() {
                return true;
            }
            let (a, b) = if aimed.is_empty() {
                pairs[self.rng.random_range(0..pairs.len())]
            } else {
                aimed[self.rng.random_range(0..aimed.len())]
            };
            for _ in 0..rounds {
                let extra = self.rng.random_range(0..50);
                sent.push((0..count + extra).map(|_| self.send_app(a, b)).collect());
            }
        } else {
            let senders: Vec<(usize, usize)> = (0..self.groups.len())
                .flat_map(|g| (0..PARTIES).map(move |p| (g, p)))
                .filter(|&(g, p)| {
                    self.in_latest(g, p)
                        && self.groups[g]
                            .latest
                            .as_ref()
                            .is_some_and(|roster| roster.members.len() > 1)
                        && self.parties[p].model.views[g]
                            .as_ref()
                            .is_some_and(View::is_member)
                })
                .collect();
            if senders.is_empty() {
                return true;
            }
            let (g, p) = senders[self.rng.random_range(0..senders.len())];
            for _ in 0..rounds {
                let extra = self.rng.random_range(0..50);
                let messages: Vec<Vec<Packet>> = (0..count + extra)
                    .map(|_| self.send_group(p, g, Fanout::Members))
                    .collect();
                // Per recipient, in sending order.
                let recipients = messages[0].len();
                for r in 0..recipients {
                    sent.push(messages.iter().map(|copies| copies[r].clone()).collect());
                }
            }
        }
        // Of the first of two bursts, the oldest messages (whose keys the second evicts)
        // mostly never arrive: a few of them show the eviction, all of them would only make
        // the run slow (each is refused by a channel or group at its largest).
        let evicted = (2 * count).saturating_sub(2 + MAX_SKIPPED_KEYS.max(MAX_GROUP_SKIPPED_KEYS));
        let round_len = sent.len() / rounds;
        for (i, packets) in sent.into_iter().enumerate() {
            let round = (i / round_len.max(1)) as u64;
            let len = packets.len();
            for (n, packet) in packets.into_iter().enumerate() {
                if rounds == 2 && round == 0 && n < evicted && !self.rng.random_bool(0.05) {
                    continue;
                }
                let due = if n + last >= len {
                    self.now + 1 + round
                } else if rounds == 1 {
                    self.now + 10 + self.rng.random_range(0..300)
                } else {
                    self.now + 10 + self.rng.random_range(0..500)
                };
                self.net.post_at(&mut self.rng, due, packet);
            }
        }
        true
    }
}
