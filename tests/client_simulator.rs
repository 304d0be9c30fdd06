//! A deterministic network simulator of the client layer: apps drive `Client`s (one per
//! device, over a `MemoryStore` sealed with a `StorageKey`) across a network that delays,
//! reorders, loses, duplicates and tampers with envelopes, and kill and reopen them from
//! their stores. Every step is checked against a model of what the client promises.
//! The clients also run a group (see below). (`tests/simulator.rs` does the same for raw
//! channels and groups.)
//!
//! The run is reproducible from its seed, which it always prints:
//! `RATCHETKIT_CLIENT_SIM_SEED` (decimal or 0x-hex) chooses it, and
//! `RATCHETKIT_CLIENT_SIM_MESSAGES` the number of messages sent before the final rounds.
//! A failure names the seed, the step and the phase, says what went wrong, and prints the
//! two variables that replay it with `cargo test --test client_simulator default_run`.
//!
//! # The world
//!
//! - **Accounts.** Five, each a phone made with `Client::create`. Devices made with
//!   `Client::create_linked` join later: alice's phone links her laptop a fifth into the
//!   run, bob's his tablet two fifths in, alice's her desktop three fifths in (`link_device`
//!   on the phone, `accept_device_list` on the new device), and each account publishes its
//!   new device list. Four fifths in, alice's phone removes the laptop (`remove_device`),
//!   which is not told: it goes on sending and receiving with the list it holds, and what
//!   it sends reaches only the devices that still hold a list with it. An account's other
//!   devices learn its new list from the directory or from a first message that carries
//!   it, as contacts do.
//! - **Directory.** It serves each account's newest signed device list, and each device's
//!   bundles: one-time bundles each handed out once (the device publishes a few more with
//!   `Client::bundles` when they run out), and one time in five the fallback bundle
//!   without a one-time prekey.
//! - **Apps.** To send, an app fetches the account's device list with `add_contact` when it
//!   is no contact yet (and now and then again), starts sessions with the devices that
//!   have none (`missing_sessions`, then `start_sessions` with one bundle each), and calls
//!   `encrypt_to`. Sometimes it sends to its own account (a note to self, for its other
//!   devices). At the first step three pairs of phones each start a session with the other
//!   before either hears from the other, and such crossings recur by chance (with every new
//!   device too): the client settles each pair on one channel. Apps also mark contacts
//!   verified or not, and fetch device lists again (their own account's with
//!   `accept_device_list`).
//! - **Network.** Each envelope is delivered after its own random delay (mostly a few
//!   steps, sometimes tens, now and then hundreds), so envelopes overtake each other; 5%
//!   are lost for good, 10% delivered twice, 3% accompanied by a copy with one bit flipped.
//! - **Restarts.** Now and then a device is killed (its `Client` dropped, its store kept)
//!   and opened again with `Client::open`, and sometimes right after `encrypt_to`, before
//!   its app handed the envelopes to the network, which then never sees them (they count
//!   as lost). Every call saves before it returns, so a restart loses nothing.
//! - **The group.** At step 0 alice's phone (the owner) fetches bob's and carol's lists,
//!   starts sessions with their devices as an app does, and creates a group with them
//!   (`create_group`). A quarter in it adds dave, at 45% removes carol, at 65% adds erin,
//!   at 90% removes dave (`add_to_group`, `remove_from_group`; an account is never added
//!   back). When the owner takes a newer device list of an account in the group (from a
//!   `DevicesChanged`, a fetch, or linking and removing its own devices) it starts
//!   sessions with the account's devices and calls `sync_group_devices`, so alice's
//!   laptop and desktop and bob's tablet join the group and the removed laptop leaves it.
//!   One step in ten a device in the group sends a group message (`encrypt_group`, one
//!   envelope per other device of the roster it holds), now and then instead rekeys
//!   (`rekey_group`, at most one rekey or removal per 400 steps: a member keeps three
//!   epochs per sender). Group control (everything group operations and
//!   `Received::outgoing` return) goes over the same network, which delays, reorders,
//!   duplicates and tampers with it but never loses it (the group protocol recovers lost
//!   control only by a resync); group messages are lost like any message. Apps act on
//!   group events: for `ChannelNeeded` they fetch the device's list if they hold none that
//!   names it (`add_contact`, `accept_device_list` for their own account), start a
//!   session from a bundle and call `deliver_group_pending`. A copy that comes before what
//!   it depends on (`UnknownGroup`, `NotAGroupWelcome` before the welcome, `RosterBehind`,
//!   `UnknownEpoch`, `NotGroupMember` before the sender's key or addition) is kept and
//!   tried again each time its device takes group control, and at the end of each drain;
//!   a roster update overtaken by a newer one (`StaleRoster`, from the owner only) is
//!   dropped. After a group operation or a received control, the app hands the control to
//!   the network and calls `mark_sent`; 3% of the time it dies first, and after the
//!   restart sends what `unsent()` hands back and marks it sent. After a group message
//!   sent by a device that processed a removal, the network now and then re-addresses a
//!   copy to a device of the removed account.
//! - **End.** Once the messages are sent, the network delivers everything in flight; then
//!   two final rounds over a network that loses nothing, among the devices on their
//!   accounts' lists: every device fetches every account's device list, and every device
//!   sends a message to every other account. In the first the owner syncs the roster; in
//!   the second every device of the group sends a group message.
//!
//! # The checks
//!
//! The model follows what each device must hold without any cryptography: its own device
//! list, the version of each contact's list, who it marked verified, and per peer device
//! its channels (which it created, which it joined, which is current, on which it heard
//! from the peer). At every step:
//!
//! - `devices_of` and `encrypt_to` reach exactly the devices on the account's list the
//!   sender holds, and the sender's other devices, one envelope each; `missing_sessions`
//!   names exactly those without a session; an envelope is a first message exactly when
//!   its channel is one the sender created and has not heard from the peer on;
//! - no two envelopes ever made share a message key (sender, ratchet key, message number)
//!   or a salt, those a crash kept from the network included;
//! - every genuine envelope delivered for the first time decrypts, with exactly the events
//!   the model predicts, in order: `NewContact` or `DevicesChanged` for the device list it
//!   carries, `ChannelReplaced` when it starts a channel that replaces the current one
//!   (the one with the smaller id wins a simultaneous start), then the `Message` with the
//!   plaintext, sender account and device, and whether the account is verified; after it
//!   the device's current channel with the sender is the one the model predicts;
//! - every duplicate is refused as a replay (`Duplicate`, `AuthenticationFailed` on a
//!   forgotten chain, `ReplayedFirstMessage`), every envelope from a device removed from
//!   the list its recipient holds as `UnknownDevice`, every tampered copy with whatever
//!   error; and none of them changes anything: no store write, every record the same, the
//!   same current channel (and the genuine envelope still decrypts when it comes);
//! - no device receives a message twice; each call the apps make that changes state saves
//!   exactly one batch, and one that changes nothing (a list already held) saves none;
//! - a restarted client shows exactly what it showed before (its lists, contacts,
//!   verified marks, prekey count and current channels, and the same store records), and
//!   what the model says it holds.
//!
//! After each drain, every envelope of which a genuine copy reached the network arrived
//! at its device, once (unless its sender had been removed, as its recipient knew), and no
//! lost one did. At the end, after the final rounds, every message reached every current
//! device of the account it was for and every other device of its sender's account, every
//! two devices hold the same current channel, and every client, restarted once more,
//! matches the model.
//!
//! For the group, at every step:
//!
//! - every group operation saves one batch; `create_group`, `add_to_group`,
//!   `remove_from_group` and `sync_group_devices` leave the owner with exactly the devices
//!   on the lists it holds of the accounts in the group; `encrypt_group` returns one
//!   envelope to each other device of the roster its sender holds, none kept;
//! - every control envelope is kept (`is_kept`), goes on the sender's current channel with
//!   its device (or, answering control, on the channel that control came on), carries the
//!   sender's device list exactly when the model says it is a first message, uses a fresh
//!   message key and salt, and is no longer kept after `mark_sent`; after a restart
//!   `unsent()` hands back exactly the control a crash kept from the network;
//! - a control taken reports exactly the list and channel events the model predicts (as
//!   for a message), then only group events, and leaves the channel the model predicts;
//!   one kept for later changed nothing; a device is told `Removed` only if its account
//!   (or the device, from its account) was removed;
//! - a group message taken reports exactly one `GroupMessage` with its plaintext, sender
//!   device, the sender's account if the device holds a list naming it, and whether it is
//!   verified, and is received once; duplicates are refused as `Duplicate`, tampered
//!   copies with any error, and neither changes the store;
//! - a copy re-addressed to a device of a removed account, of a message sent after its
//!   sender processed the removal, never decrypts, however often it is tried.
//!
//! After each drain, every control envelope was taken, and every group message not lost
//! was received exactly once by its device, unless its sender or recipient left the group
//! or its account (moot: a removed sender's keys are dropped, and a key that reaches a
//! member after it processed its own removal is refused, so what that sender sent it
//! before stays unread, as with seed 4 at step 1910) or, for control, it was a stale
//! roster; no lost one was; and anything still kept is moot. At the end every device of the group holds
//! the same roster, exactly the devices on its accounts' lists; each one's final group
//! message reached every other; and no device keeps control unsent.
//!
//! Not simulated: a device restored from an older copy of its store (docs/PROTOCOL.md,
//! section 12.3), or an app that calls `start_sessions` for a device it already has a
//! session with. With either, a pair whose current channel the other side created can stay
//! on two channels for good, which the final check would report.

#[path = "client_simulator/mod.rs"]
mod sim;

/// Messages of the default run: about three seconds in a debug build.
const DEFAULT_MESSAGES: u64 = 3_000;

/// The run `cargo test` does.
#[test]
fn default_run() {
    let config = sim::Config::from_env(DEFAULT_MESSAGES);
    let (seed, target) = (config.seed, config.messages);
    let stats = sim::run(config);
    assert!(stats.messages >= target);
    // A run long enough must have exercised each thing it checks; a seed that does not is
    // a seed to look at.
    if target >= DEFAULT_MESSAGES {
        let exercised = [
            ("duplicates refused", stats.duplicates_refused),
            ("tampered copies refused", stats.tampered_refused),
            (
                "copies from a removed device refused",
                stats.unlisted_refused,
            ),
            ("envelopes lost", stats.lost),
            ("envelopes lost in crashes", stats.lost_in_crashes),
            ("restarts", stats.restarts),
            ("simultaneous starts", stats.simultaneous_starts),
            ("starts without a one-time prekey", stats.fallback_starts),
            ("channels replaced", stats.channels_replaced),
            ("new contacts", stats.new_contacts),
            ("device-list changes", stats.devices_changed),
            ("verified marks", stats.verified_toggles),
            ("group messages received", stats.group_accepted),
            ("group duplicates refused", stats.group_duplicates_refused),
            ("group control taken", stats.controls_taken),
            ("copies kept and tried again", stats.retries),
            ("forged copies to a removed account", stats.forged),
            ("rekeys", stats.rekeys),
            ("accounts added to the group", stats.group_adds),
            ("accounts removed from the group", stats.group_removals),
            ("roster syncs", stats.group_syncs),
            ("sessions started for the group", stats.channels_needed),
            ("removals told", stats.group_removed_events),
        ];
        for (what, count) in exercised {
            assert!(count > 0, "seed {seed}: no {what}");
        }
    }
}

/// The same seed gives the same run.
#[test]
fn the_same_seed_gives_the_same_run() {
    let run = |seed| sim::run(sim::Config { seed, messages: 80 });
    assert_eq!(run(7), run(7));
}

/// A long run: `cargo test --release --test client_simulator -- --ignored` (20,000
/// messages; `RATCHETKIT_CLIENT_SIM_MESSAGES` and `RATCHETKIT_CLIENT_SIM_SEED` apply).
#[test]
#[ignore = "long: run with cargo test --release --test client_simulator -- --ignored"]
fn long_run() {
    let config = sim::Config::from_env(20_000);
    let target = config.messages;
    assert!(sim::run(config).messages >= target);
}
