//! The client simulator: its configuration, the run with its phases, and what it counts.
//! What it simulates and checks is described in `tests/client_simulator.rs`.

mod deliver;
mod device;
mod end;
mod groups;
mod lists;
mod network;
mod send;
mod world;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use world::World;

/// The seed when `RATCHETKIT_CLIENT_SIM_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0xc11e_2026;

pub struct Config {
    pub seed: u64,
    /// Messages to send before the network is drained and the final rounds run.
    pub messages: u64,
}

impl Config {
    /// The seed from `RATCHETKIT_CLIENT_SIM_SEED` (decimal or 0x-hex) and the message count
    /// from `RATCHETKIT_CLIENT_SIM_MESSAGES`, else the defaults.
    pub fn from_env(default_messages: u64) -> Self {
        let parse = |name: &str| {
            std::env::var(name).ok().map(|value| {
                let value = value.trim().replace('_', "");
                let parsed = match value.strip_prefix("0x") {
                    Some(hex) => u64::from_str_radix(hex, 16),
                    None => value.parse(),
                };
                parsed.unwrap_or_else(|_| panic!("{name}={value} is not a number"))
            })
        };
        Self {
            seed: parse("RATCHETKIT_CLIENT_SIM_SEED").unwrap_or(DEFAULT_SEED),
            messages: parse("RATCHETKIT_CLIENT_SIM_MESSAGES").unwrap_or(default_messages),
        }
    }
}

/// What happened in a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub steps: u64,
    /// Messages sent with `encrypt_to` (the final rounds included).
    pub messages: u64,
    /// Envelopes `encrypt_to` returned.
    pub envelopes: u64,
    /// Copies the network delivered: genuine, duplicated and tampered.
    pub deliveries: u64,
    /// Envelopes received and decrypted (each exactly once).
    pub accepted: u64,
    pub duplicates_refused: u64,
    pub tampered_refused: u64,
    /// Genuine copies refused because their sender was removed from its account.
    pub unlisted_refused: u64,
    /// Envelopes of which no genuine copy reached the network.
    pub lost: u64,
    /// Of those, envelopes a crash right after `encrypt_to` kept from the network.
    pub lost_in_crashes: u64,
    /// Clients dropped and opened again from their store.
    pub restarts: u64,
    pub sessions_started: u64,
    /// Sessions started with a device that had already started one the other way.
    pub simultaneous_starts: u64,
    /// Sessions started from a bundle without a one-time prekey.
    pub fallback_starts: u64,
    /// Envelopes that started a channel on the receiving side.
    pub joins: u64,
    pub channels_replaced: u64,
    pub new_contacts: u64,
    pub devices_changed: u64,
    /// Contacts' device lists fetched again from the directory.
    pub refreshes: u64,
    pub verified_toggles: u64,
    /// Group messages sent with `encrypt_group`, and their envelopes.
    pub group_messages: u64,
    pub group_envelopes: u64,
    /// Group envelopes received and decrypted (each exactly once).
    pub group_accepted: u64,
    pub group_duplicates_refused: u64,
    /// Envelopes of group control made, and taken.
    pub controls: u64,
    pub controls_taken: u64,
    /// Control a crash kept from the network, sent again from `unsent()` after the
    /// restart.
    pub controls_kept_in_crashes: u64,
    pub controls_resent: u64,
    /// Copies tried again after they were kept for later, and copies given up on.
    pub retries: u64,
    pub given_up: u64,
    /// Group messages re-addressed to a removed account's device (never decrypted).
    pub forged: u64,
    pub rekeys: u64,
    pub group_adds: u64,
    pub group_removals: u64,
    pub group_syncs: u64,
    /// Sessions started because a group waited for one, and members it could not reach.
    pub channels_needed: u64,
    pub channels_unreachable: u64,
    pub group_joins: u64,
    pub sender_keys: u64,
    pub group_removed_events: u64,
    /// Why genuine copies were kept for later (or dropped), by error.
    pub kept_for_later: BTreeMap<String, u64>,
    /// Why copies were refused, by error.
    pub refusals: BTreeMap<String, u64>,
}

/// Where a run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Sending, delivering, restarting, until the messages are sent.
    Run,
    /// Delivering everything still in flight, one copy a step; then checking that every
    /// envelope not lost arrived. `round` 0 follows the run, the others a final round.
    Drain {
        round: u32,
    },
    /// A final round over a network that loses nothing: every device sends to every other
    /// account (after fetching every device list again, in the first).
    Settle {
        round: u32,
    },
    /// Every pair of devices on one channel, every client restarted and checked.
    Final,
    Done,
}

/// Final rounds: the first settles the channels still in two, the second checks that they
/// stay settled.
pub const SETTLE_ROUNDS: u32 = 2;

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Runs the simulation of `config`, checking every step; panics with the seed and the
/// step on the first failure.
pub fn run(config: Config) -> Stats {
    let (seed, messages) = (config.seed, config.messages);
    eprintln!(
        "client simulator: seed {seed} ({seed:#x}), {messages} messages; reproduce with \
         RATCHETKIT_CLIENT_SIM_SEED={seed} RATCHETKIT_CLIENT_SIM_MESSAGES={messages}"
    );
    let started = Instant::now();
    let fail = |step: u64, phase: Phase, panic: &(dyn std::any::Any + Send)| -> ! {
        panic!(
            "client simulation failed at step {step} ({phase:?}) of seed {seed} ({seed:#x}); \
             reproduce with RATCHETKIT_CLIENT_SIM_SEED={seed} \
             RATCHETKIT_CLIENT_SIM_MESSAGES={messages}: {}",
            panic_message(panic)
        )
    };
    let mut world = match catch_unwind(|| World::new(seed, messages)) {
        Ok(world) => world,
        Err(panic) => fail(0, Phase::Run, panic.as_ref()),
    };
    while world.phase != Phase::Done {
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| world.tick())) {
            fail(world.stats.steps, world.phase, panic.as_ref());
        }
    }
    let stats = world.stats;
    eprintln!(
        "client simulator: seed {seed}: {} messages, {} envelopes in {} steps, {:.1?}: {} \
         accepted, {} duplicates, {} tampered copies and {} from a removed device refused, {} lost \
         ({} in crashes); \
         {} restarts; {} sessions started ({} simultaneous, {} without a one-time prekey), \
         {} joins, {} channels replaced; {} new contacts, {} device-list changes; \
         refusals {:?}; group: {} messages, {} envelopes, {} accepted, {} duplicates refused, \
         {} control envelopes ({} taken, {} kept in crashes and {} resent), {} retries, \
         {} given up, {} forged copies, {} rekeys, {} adds, {} removals, {} syncs, \
         {} sessions for the group ({} unreachable), {} joins, {} sender keys, \
         {} told removed; kept for later {:?}",
        stats.messages,
        stats.envelopes,
        stats.steps,
        started.elapsed(),
        stats.accepted,
        stats.duplicates_refused,
        stats.tampered_refused,
        stats.unlisted_refused,
        stats.lost,
        stats.lost_in_crashes,
        stats.restarts,
        stats.sessions_started,
        stats.simultaneous_starts,
        stats.fallback_starts,
        stats.joins,
        stats.channels_replaced,
        stats.new_contacts,
        stats.devices_changed,
        stats.refusals,
        stats.group_messages,
        stats.group_envelopes,
        stats.group_accepted,
        stats.group_duplicates_refused,
        stats.controls,
        stats.controls_taken,
        stats.controls_kept_in_crashes,
        stats.controls_resent,
        stats.retries,
        stats.given_up,
        stats.forged,
        stats.rekeys,
        stats.group_adds,
        stats.group_removals,
        stats.group_syncs,
        stats.channels_needed,
        stats.channels_unreachable,
        stats.group_joins,
        stats.sender_keys,
        stats.group_removed_events,
        stats.kept_for_later,
    );
    stats
}
