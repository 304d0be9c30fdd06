//! What a downstream interop suite does with `ratchetkit::testing` (the `proptest`
//! feature): genuine messages decrypt, mutated ones are rejected without changing any
//! state, arbitrary wire messages survive an encode/decode round trip and are rejected
//! too, and a conversation driven by a random schedule delivers every message that was
//! not dropped exactly once.
//!
//! Plain `cargo test` runs this file: the crate is its own dev-dependency with the feature
//! on.

use proptest::prelude::*;
use ratchetkit::testing::{
    channel_message, channel_pair, first_message, group_control, group_message, group_pair,
    mutation, play, run_schedule, schedule, ChannelEndpoint, Endpoint, Outcome, Schedule, Side,
    WireMessage,
};
use ratchetkit::wire::v1;
use ratchetkit::Error;

/// Every property runs this many cases: enough to exercise every kind of mutation and step,
/// and a few seconds in all.
const CASES: u32 = 64;

/// The saved state of `pair`'s side `side`: a group and its channel to the other side.
fn group_state(pair: &ratchetkit::testing::GroupPair, side: Side) -> Vec<u8> {
    let group = pair.group(side).to_bytes();
    let channel = pair.channel(side).map(|channel| channel.to_bytes());
    [
        group.to_vec(),
        channel.map(|c| c.to_vec()).unwrap_or_default(),
    ]
    .concat()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(CASES))]

    /// A genuine channel message decrypts, once; every mutation of it is rejected first,
    /// and leaves the receiving channel byte-identical.
    #[test]
    fn channel_messages_decrypt_and_their_mutations_are_rejected(
        mut valid in channel_message(),
        mutations in prop::collection::vec(mutation(), 1..8),
    ) {
        let to = valid.to;
        for mutation in &mutations {
            let mutated = mutation.apply(&valid.message);
            let before = valid.pair.channel(to).to_bytes();
            let result = valid.pair.receive(to, &mutated);
            prop_assert!(result.is_err(), "{:?} was accepted: {:?}", mutation, result);
            prop_assert!(*valid.pair.channel(to).to_bytes() == *before, "{:?} changed the channel", mutation);
        }
        prop_assert_eq!(valid.pair.receive(to, &valid.message)?, valid.plaintext);
        prop_assert_eq!(valid.pair.receive(to, &valid.message), Err(Error::Duplicate));
    }

    /// A first message joins; its mutations do not, and burn no one-time prekey.
    #[test]
    fn first_messages_join_and_their_mutations_do_not(
        mut first in first_message(),
        mutation in mutation(),
    ) {
        let before = first.prekeys.to_bytes();
        let mutated = mutation.apply(&first.message);
        prop_assert!(first.join(&mutated).is_err(), "{:?} joined", mutation);
        prop_assert!(*first.prekeys.to_bytes() == *before, "{:?} changed the prekeys", mutation);
        let message = first.message.clone();
        prop_assert_eq!(first.join(&message)?.into_parts().1, first.plaintext);
    }

    /// The same for group messages, and the group they are decrypted with.
    #[test]
    fn group_messages_decrypt_and_their_mutations_are_rejected(
        mut valid in group_message(),
        mutation in mutation(),
    ) {
        let to = valid.to;
        let before = valid.pair.group(to).to_bytes();
        let mutated = mutation.apply(&valid.message);
        prop_assert!(valid.pair.decrypt(to, &mutated).is_err(), "{:?} was accepted", mutation);
        prop_assert!(*valid.pair.group(to).to_bytes() == *before, "{:?} changed the group", mutation);
        let decrypted = valid.pair.decrypt(to, &valid.message)?;
        prop_assert_eq!(decrypted.plaintext(), valid.plaintext);
        prop_assert_eq!(decrypted.sender(), valid.pair.key(to.peer()));
    }

    /// Group control (a new sender key) is accepted; its mutations leave the group and the
    /// channel it came over unchanged.
    #[test]
    fn group_control_is_accepted_and_its_mutations_are_rejected(
        mut valid in group_control(),
        mutation in mutation(),
    ) {
        let to = valid.to;
        let before = group_state(&valid.pair, to);
        let mutated = mutation.apply(&valid.message);
        prop_assert!(valid.pair.receive(to, &mutated).is_err(), "{:?} was accepted", mutation);
        prop_assert!(group_state(&valid.pair, to) == before, "{:?} changed the state", mutation);
        valid.pair.receive(to, &valid.message)?;
        prop_assert_eq!(valid.pair.group(to).sender_epoch(&valid.pair.key(to.peer())), Some(1));
    }

    /// Every arbitrary wire message encodes and decodes back to itself, and its encoding is
    /// canonical: decoding and encoding again gives the same bytes.
    #[test]
    fn arbitrary_wire_messages_round_trip(message in any::<WireMessage>()) {
        let bytes = message.encode();
        let decoded = message.decode_as(&bytes);
        prop_assert_eq!(decoded.as_ref(), Ok(&message), "{}", message.name());
        prop_assert_eq!(decoded.map(|decoded| decoded.encode()), Ok(bytes));
    }

    /// Arbitrary channel and group messages, well-formed as protobuf, are rejected by
    /// real channels and groups, which they leave unchanged.
    #[test]
    fn arbitrary_messages_are_rejected(
        mut pair in channel_pair(),
        to in any::<Side>(),
        message in any::<v1::ChannelMessage>(),
        group_message in any::<v1::GroupMessage>(),
    ) {
        use prost::Message as _;
        let before = pair.channel(to).to_bytes();
        prop_assert!(pair.receive(to, &message.encode_to_vec()).is_err());
        prop_assert!(pair.receive(to, &group_message.encode_to_vec()).is_err());
        prop_assert!(*pair.channel(to).to_bytes() == *before);
    }

    /// Arbitrary group messages and control against a real group.
    #[test]
    fn arbitrary_group_input_is_rejected(
        mut pair in group_pair(),
        to in any::<Side>(),
        message in any::<v1::GroupMessage>(),
        control in any::<v1::ChannelMessage>(),
    ) {
        use prost::Message as _;
        let before = group_state(&pair, to);
        prop_assert!(pair.decrypt(to, &message.encode_to_vec()).is_err());
        prop_assert!(pair.receive(to, &control.encode_to_vec()).is_err());
        prop_assert!(group_state(&pair, to) == before);
    }

    /// A conversation under a random schedule, with everything still in flight delivered at
    /// the end: every message that was not dropped is accepted exactly once, at its first
    /// delivery, with its plaintext, and dropped messages are never delivered.
    #[test]
    fn scheduled_conversations_deliver_every_message_exactly_once(
        seed in any::<u64>(),
        schedule in schedule(1..120),
    ) {
        let transcript = run_schedule(seed, &schedule.then_deliver_everything())?;
        for (i, sent) in transcript.messages.iter().enumerate() {
            let deliveries: Vec<_> = transcript.deliveries.iter().filter(|d| d.message == i).collect();
            if sent.dropped {
                prop_assert!(deliveries.is_empty(), "dropped message {} was delivered", i);
                continue;
            }
            let (first, again) = deliveries.split_first().expect("delivered at the end");
            prop_assert!(!first.again);
            prop_assert_eq!(&first.to, &sent.from.peer());
            prop_assert_eq!(
                &first.outcome,
                &Outcome::Accepted { plaintext: sent.plaintext.clone() },
                "message {}", i
            );
            for delivery in again {
                prop_assert!(delivery.again);
                prop_assert!(
                    matches!(delivery.outcome, Outcome::Rejected { .. }),
                    "message {} accepted twice", i
                );
            }
            prop_assert_eq!(transcript.accepted(i), 1);
        }
    }

    /// The same schedules driven through `play` with endpoints of our own (here, this
    /// crate's again: an interop suite puts its implementation on one side or both), which
    /// can still talk afterwards.
    #[test]
    fn endpoints_still_talk_after_any_schedule(
        seed in any::<u64>(),
        schedule in any::<Schedule>(),
    ) {
        let (mut alice, mut bob) = ChannelEndpoint::pair(seed)?;
        let transcript = play(&schedule, &mut alice, &mut bob)?;
        prop_assert_eq!(transcript, run_schedule(seed, &schedule)?, "the schedule is deterministic");
        if bob.can_send() {
            let hello = bob.encrypt(b"still here")?;
            prop_assert_eq!(alice.receive(&hello)?, b"still here");
            let answer = alice.encrypt(b"me too")?;
            prop_assert_eq!(bob.receive(&answer)?, b"me too");
        }
    }
}
