//! A deterministic network simulator: five parties with a channel between every pair and
//! two groups with changing membership, over a network that delays, reorders, loses,
//! duplicates and tampers with messages, and parties that save, crash and restart from
//! older saved states. Every step is checked against a model of what the protocol
//! promises.
//!
//! The run is reproducible from its seed, which it always prints:
//! `RATCHETKIT_SIM_SEED` (decimal or 0x-hex) chooses it, `RATCHETKIT_SIM_MESSAGES` the
//! number of messages (channel and group messages sent; group control is not counted). A
//! failure names the seed and the step. `RATCHETKIT_SIM_TRACE=1` prints every group
//! operation and every control message processed, with its events, and every resync that
//! recovers from lost control; `RATCHETKIT_SIM_TRACE=<step>` does so from that step on.
//!
//! # The world
//!
//! - **Channels.** Each pair's lower-numbered party creates the channel from the other's
//!   published bundle (with a one-time prekey or without); the other joins from whichever
//!   of its first messages arrives first, an application message or group control (control
//!   may ride a channel's first messages: the app joins the channel, puts it with the
//!   others, has its groups send what they kept for it, and gives the control to its group
//!   with `Group::join_control` / `receive_control`, keeping it to retry if it waits).
//!   Parties then send messages both ways, mostly a few in a row in the same direction.
//!   Right after each join the app gives the same first message to `Channel::join` again,
//!   which must refuse it (`ReplayedFirstMessage`, with or without a one-time prekey) and
//!   leave the prekey store unchanged.
//! - **Groups** (group protocol version 2). At the very first step, before any channel is
//!   established, party 0 creates a group with 1 and 2, and party 3 one with 4 and 0;
//!   party 3 has no channel to 0 yet (`ChannelNeeded`: the welcome waits in the group until
//!   the app has the channel and calls `deliver_pending`). From then on the owner adds and
//!   removes members (often adding back the one it removed last), members rekey, leave (the
//!   owner removes whoever asks) and resync now and then although they missed nothing
//!   (also after a restart), the owner now and then offers the group to a member, who
//!   accepts as soon as the offer arrives, and the old owner leaves once the new owner's
//!   roster reaches it; members send group messages. Now and then a party that is out tries
//!   to send, rekey, resync or leave, and must be refused (except a member that left and is
//!   not removed yet: it may ask to leave again). A removed party's app either
//!   keeps its group or drops it and joins afresh when added back. All group control
//!   travels as channel messages through the same network.
//! - **Network.** Every message is delivered after its own random delay (mostly a few
//!   steps, sometimes tens or hundreds, now and then thousands), so messages overtake each
//!   other; 5% are lost, 10% are delivered twice, 3% are accompanied by a copy with one bit
//!   flipped. A group message goes to the members, to one in ten of the parties that were
//!   removed, and now and then back to its sender. The network never loses group control
//!   for good: a lost copy comes later, as a retransmission would. The limit bursts can, and
//!   the bursts that evict channel keys are aimed at a channel with control in flight: the
//!   control whose channel key they evict is refused as a `Duplicate` although it was never
//!   processed. The apps recover as docs/PROTOCOL.md 6.5 says: a member that missed
//!   something (control lost for good, a key or roster refused for good for a documented
//!   reason, control given up after retries) resyncs at the next quiet point, and the
//!   answers bring it the current roster and every member's current key. Nobody is removed
//!   to recover: the run counts the recoveries by resync and asserts there is none by
//!   removal. (A member whose leave request is lost or refused for good asks again at the
//!   quiet point, and the owner removes it when the new request arrives. A member that lost
//!   the roster that let it in cannot resync, having no group or one it is out of: it waits
//!   for the owner's next roster.)
//! - **Apps.** Control that waits for something (`RosterBehind`, also for an ownership
//!   offer that overtook the roster before it, `NotGroupMember`, `NotAGroupWelcome`, and
//!   `TooFarAhead` until the messages before it arrive) is retried
//!   later with backoff, as the README says to; group messages that wait for a key or
//!   roster (`UnknownEpoch`, `NotGroupMember`, or no group yet) are kept and retried once
//!   the control they wait for has been processed.
//! - **Limits.** Now and then a burst of messages reaches a documented limit: the last
//!   messages of a burst of `MAX_MESSAGE_GAP` + 2 (or `MAX_GROUP_MESSAGE_GAP` + 2)
//!   arrive first and are refused as too far ahead, or two bursts of 90% of
//!   `MAX_SKIPPED_KEYS` (`MAX_GROUP_SKIPPED_KEYS`) whose last messages arrive first make
//!   the oldest skipped keys go, and some of those messages then arrive.
//!
//! # Saving and restarting
//!
//! Every so often a party saves its whole state (identity, prekey store, channels,
//! groups), sealed with its `StorageKey` one time in four, loads it again and carries on:
//! the loaded state must save to the same bytes.
//!
//! Parties also crash and restart from an *older* saved state. What is correct there: a
//! state saved before the party last sent something must never be restored. From such a
//! state the party would encrypt again with message keys it has already used (since
//! version 2 each message has its own random salt, so no AES-GCM key and nonce repeats,
//! `tests/channel_v2.rs`, but the peer refuses the second message under a key as a
//! `Duplicate`), and a channel would fork: the peer has moved on with ratchet keys whose
//! secrets the restored state never had, so its later chains fail authentication for good.
//! Nothing in the crate can detect that, so an app must save before anything it produced
//! leaves the device, which is what the simulated apps do. Between two outputs, though, a party only receives, and it may lose
//! any of that: after an output its app keeps a save now and then, saves again after some
//! of the inputs that follow, and a crash restores any of those saves (from its bytes).
//! The server then delivers again everything the party processed after that save (it was
//! never acknowledged), and the model, restored with the state, requires exactly what it
//! requires of a first delivery: every such message decrypts again, to the same plaintext.
//!
//! # The model and the invariants
//!
//! The model follows docs/PROTOCOL.md without any cryptography. For each side of each
//! channel it keeps the Double Ratchet's bookkeeping (sending chain and message numbers,
//! receiving chain, the last `MAX_ENDED_CHAINS` ended chains, the skipped keys with
//! `MAX_SKIPPED_KEYS` eviction, whether a ratchet step is possible); for each party's view
//! of each group the roster (with the version that added each member and the chain of
//! owners), its own sender key, of every other member the version it is seen from, the kept
//! epochs (`MAX_SENDER_EPOCHS`), their positions and the skipped keys
//! (`MAX_GROUP_SKIPPED_KEYS`), the control waiting for a channel
//! (`MAX_PENDING_CONTROLS`), the resync answers given (`MAX_RESYNC_REPLIES`) and the
//! ownership offers. From that it predicts the exact outcome of every call (only the epoch
//! a resync draws at random is read from the group).
//! After every step:
//!
//! - nothing panicked;
//! - every header the code writes has the chain position the model expects;
//! - every genuine message delivered decrypts to exactly the plaintext sent, with the
//!   sender and epoch it was sent with, unless the model says it is a duplicate or beyond
//!   a documented limit, in which case it is refused with exactly the documented error
//!   (`Duplicate`, `TooFarAhead { gap, max }`, `AuthenticationFailed` for a replay on a
//!   forgotten chain, `UnknownEpoch`, `SentBeforeKeyReceived`, ...); a second delivery of
//!   a message that decrypted is always refused;
//! - every tampered copy is refused (with whatever error);
//! - every refused input and every refused operation leaves everything it could change
//!   byte-identical (`to_bytes`): the channel, or the prekey store when it would have
//!   joined one; the group; for control and group operations the group and every channel;
//! - every group operation and every control message gives exactly the events the model
//!   expects and sends control to exactly the members it expects, in order, each carrying
//!   the sender key the model expects;
//! - a party's group state reads only messages sent under a roster version that lists the
//!   party, and the copy of a removed member's state taken when the owner removed it reads
//!   only what was sent before that removal (under an older roster version): a removed
//!   member learns nothing sent after its removal;
//! - at quiet points (every 25,000 messages and at the end: everything delivered, and the
//!   members that missed something resynced), every group has converged: every member
//!   holds the newest roster and every other member's current sender key, and keeps no
//!   control for a channel; no control is stuck between two parties still in the group
//!   unless its recipient missed earlier control for good; no kept group message waits for
//!   a key its reader should have had (and did not miss for good: after a resync it reads
//!   everything sent from then on, and what was sent in the gap while it still holds the
//!   keys); then every member sends a group message every other member reads, and every
//!   party sends one on each channel that the peer reads.

#[path = "simulator/mod.rs"]
mod sim;

/// The run `cargo test` does: at least 100,000 messages.
#[test]
fn simulated_network_default_run() {
    let config = sim::Config::from_env(100_000);
    let target = config.messages;
    let stats = sim::run(config);
    assert!(stats.messages() >= target);
}

/// The same seed gives the same run.
#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| {
        sim::run(sim::Config {
            seed,
            messages: 3_000,
        })
    };
    assert_eq!(run(7), run(7));
}

/// The long run: `cargo test --release --test simulator -- --ignored` (at least ten
/// million messages; `RATCHETKIT_SIM_MESSAGES` and `RATCHETKIT_SIM_SEED` apply).
#[test]
#[ignore = "long: run with cargo test --release --test simulator -- --ignored"]
fn simulated_network_long_run() {
    let config = sim::Config::from_env(10_000_000);
    let target = config.messages;
    let stats = sim::run(config);
    assert!(stats.messages() >= target);
}
