//! Random delivery schedules: both sides send in bursts while the network reorders, drops
//! and duplicates messages, and either side may save and restore its channel at any time.

mod common;

use common::{identity, prekeys, published_bundle, ratchet_key, rng};
use proptest::prelude::*;
use proptest::sample::Index;
use ratchetkit::{channel::MAX_ENDED_CHAINS, Channel, Error};

#[derive(Debug, Clone)]
enum Op {
    /// A side encrypts `count` messages.
    Send { alice: bool, count: usize },
    /// The network delivers one in-flight message to a side, chosen by `pick` (reordering).
    Deliver { to_alice: bool, pick: Index },
    /// The network delivers again a message it has already delivered.
    Duplicate { to_alice: bool, pick: Index },
    /// The network loses an in-flight message.
    Drop { to_alice: bool, pick: Index },
    /// A side saves its channel and loads it back.
    Reload { alice: bool },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (any::<bool>(), 1..=5usize).prop_map(|(alice, count)| Op::Send { alice, count }),
        5 => (any::<bool>(), any::<Index>()).prop_map(|(to_alice, pick)| Op::Deliver { to_alice, pick }),
        1 => (any::<bool>(), any::<Index>()).prop_map(|(to_alice, pick)| Op::Duplicate { to_alice, pick }),
        1 => (any::<bool>(), any::<Index>()).prop_map(|(to_alice, pick)| Op::Drop { to_alice, pick }),
        1 => any::<bool>().prop_map(|alice| Op::Reload { alice }),
    ]
}

struct Sent {
    plaintext: Vec<u8>,
    bytes: Vec<u8>,
    chain: Vec<u8>,
    accepted: bool,
}

/// One side: its channel (Bob has none until he joins), what it has received, and the
/// network queue towards it.
#[derive(Default)]
struct Side {
    channel: Option<Channel>,
    /// The peer's sending chains, in the order this side first accepted a message of each.
    chains_seen: Vec<Vec<u8>>,
    in_flight: Vec<usize>,
    delivered: Vec<usize>,
}

impl Side {
    /// Whether this side still remembers the chain: the current one or one of the last
    /// MAX_ENDED_CHAINS ended ones.
    fn remembers(&self, chain: &[u8]) -> bool {
        let start = self.chains_seen.len().saturating_sub(MAX_ENDED_CHAINS + 1);
        self.chains_seen[start..].iter().any(|seen| seen == chain)
    }
}

fn run(seed: u64, ops: Vec<Op>, flush: bool) -> Result<(), TestCaseError> {
    let mut rng = rng(seed);
    let alice_identity = identity(&mut rng, "alice");
    let bob_identity = identity(&mut rng, "bob");
    let (mut bob_prekeys, ids) = prekeys(&mut rng, 1);
    let bundle = published_bundle(&bob_prekeys, &bob_identity, Some(ids[0]));
    // sides[0] is Alice, sides[1] Bob; messages[i] is the i-th message sent by anyone.
    let mut sides = [Side::default(), Side::default()];
    sides[0].channel = Some(Channel::create(&mut rng, &alice_identity, &bundle).expect("create"));
    let mut messages: Vec<Sent> = Vec::new();

    let mut deliver = |sides: &mut [Side; 2],
                       messages: &mut Vec<Sent>,
                       to: usize,
                       index: usize|
     -> Result<(), TestCaseError> {
        let sent = &mut messages[index];
        let side = &mut sides[to];
        let result = match &mut side.channel {
            Some(channel) => channel.decrypt(&sent.bytes),
            None => {
                // Bob joins with the first of Alice's messages that reaches him.
                let joined = Channel::join(&bob_identity, &mut bob_prekeys, &sent.bytes);
                joined.map(|joined| {
                    let (channel, plaintext, _, _) = joined.into_parts();
                    side.channel = Some(channel);
                    plaintext
                })
            }
        };
        if sent.accepted {
            prop_assert!(result.is_err(), "message {} accepted twice", index);
            if side.remembers(&sent.chain) {
                prop_assert_eq!(result, Err(Error::Duplicate));
            }
        } else {
            prop_assert_eq!(result, Ok(sent.plaintext.clone()), "message {}", index);
            sent.accepted = true;
            if !side.chains_seen.contains(&sent.chain) {
                side.chains_seen.push(sent.chain.clone());
            }
            side.delivered.push(index);
        }
        Ok(())
    };

    for op in ops {
        match op {
            Op::Send { alice, count } => {
                let from = usize::from(!alice);
                let Some(channel) = sides[from].channel.as_mut() else {
                    continue;
                };
                for _ in 0..count {
                    let plaintext =
                        format!("{} {}", if alice { "alice" } else { "bob" }, messages.len())
                            .into_bytes();
                    let bytes = channel.encrypt(&mut rng, &plaintext).expect("encrypt");
                    sides[1 - from].in_flight.push(messages.len());
                    messages.push(Sent {
                        plaintext,
                        chain: ratchet_key(&bytes),
                        bytes,
                        accepted: false,
                    });
                }
            }
            Op::Deliver { to_alice, pick } => {
                let to = usize::from(!to_alice);
                if sides[to].in_flight.is_empty() {
                    continue;
                }
                let index = sides[to]
                    .in_flight
                    .remove(pick.index(sides[to].in_flight.len()));
                deliver(&mut sides, &mut messages, to, index)?;
            }
            Op::Duplicate { to_alice, pick } => {
                let to = usize::from(!to_alice);
                if sides[to].delivered.is_empty() {
                    continue;
                }
                let index = sides[to].delivered[pick.index(sides[to].delivered.len())];
                deliver(&mut sides, &mut messages, to, index)?;
            }
            Op::Drop { to_alice, pick } => {
                let to = usize::from(!to_alice);
                if !sides[to].in_flight.is_empty() {
                    let len = sides[to].in_flight.len();
                    sides[to].in_flight.remove(pick.index(len));
                }
            }
            Op::Reload { alice } => {
                if let Some(channel) = sides[usize::from(!alice)].channel.as_mut() {
                    let saved = channel.to_bytes();
                    let restored = Channel::from_bytes(&saved).expect("load");
                    prop_assert!(*restored.to_bytes() == *saved);
                    *channel = restored;
                }
            }
        }
    }

    if flush {
        for to in [0, 1] {
            while let Some(index) = sides[to].in_flight.pop() {
                deliver(&mut sides, &mut messages, to, index)?;
            }
        }
    }

    // Whatever happened, the two can still talk.
    if sides[1].channel.is_some() {
        for from in [0, 1] {
            let bytes = sides[from]
                .channel
                .as_mut()
                .expect("channel")
                .encrypt(&mut rng, b"still talking")
                .expect("encrypt");
            let received = sides[1 - from]
                .channel
                .as_mut()
                .expect("channel")
                .decrypt(&bytes);
            prop_assert_eq!(received, Ok(b"still talking".to_vec()));
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn random_delivery_schedules(
        seed in any::<u64>(),
        ops in prop::collection::vec(op(), 1..150),
        flush in any::<bool>(),
    ) {
        run(seed, ops, flush)?;
    }
}
