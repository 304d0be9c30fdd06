//! The simulator: parties, the network, the run. What it checks is described in
//! `tests/simulator.rs`.

mod actions;
mod channel_model;
mod deliver;
mod group_model;
mod network;
mod ops;
mod party;
mod quiet;
mod recovery;
mod skipped;

use std::collections::{BTreeMap, BTreeSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::{Duration, Instant};

use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use ratchetkit::wire::v1;
use ratchetkit::{Channel, Error, Group, Identity, PrekeyBundle, PrekeyStore, StorageKey};

use channel_model::Side;
use group_model::{ControlMeta, GroupMsgMeta, Roster, View};
use network::Network;
use party::Party;

/// The seed when `RATCHETKIT_SIM_SEED` is not set.
pub const DEFAULT_SEED: u64 = 0x5eed_2026;
/// Parties in the simulation.
pub const PARTIES: usize = 5;
/// The groups: (owner, initial members).
const GROUPS: [(usize, &[usize]); 2] = [(0, &[1, 2]), (3, &[4, 0])];
/// A fixed creation time for the cards.
const CREATED_AT: u64 = 1_700_000_000;
/// Messages between quiet points (network drained, convergence checked).
const QUIET_EVERY: u64 = 25_000;
/// Messages between bursts that reach the documented limits.
const BURST_EVERY: u64 = 25_000;

pub struct Config {
    pub seed: u64,
    pub messages: u64,
}

impl Config {
    /// The seed from `RATCHETKIT_SIM_SEED` (decimal or 0x-hex) and the message count from
    /// `RATCHETKIT_SIM_MESSAGES`, else the defaults.
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
            seed: parse("RATCHETKIT_SIM_SEED").unwrap_or(DEFAULT_SEED),
            messages: parse("RATCHETKIT_SIM_MESSAGES").unwrap_or(default_messages),
        }
    }
}

/// What happened in a run.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub steps: u64,
    pub channel_messages: u64,
    pub group_messages: u64,
    pub control_messages: u64,
    pub deliveries: u64,
    pub decrypted: u64,
    pub group_decrypted: u64,
    pub control_processed: u64,
    pub joins: u64,
    /// First messages given to `Channel::join` again right after they joined, and refused
    /// (`ReplayedFirstMessage`).
    pub replays_refused: u64,
    /// Genuine inputs rejected as the model predicted, by error.
    pub rejected: BTreeMap<String, u64>,
    pub tampered_rejected: u64,
    pub removed_reads_refused: u64,
    pub held: u64,
    pub retries: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub group_ops: BTreeMap<&'static str, u64>,
    pub round_trips: u64,
    pub restarts: u64,
    pub redelivered: u64,
    pub bursts: u64,
    /// Control refused because its channel key was dropped beyond `MAX_SKIPPED_KEYS`
    /// (recovered from at the next quiet point: see `recovery`).
    pub control_lost: u64,
    /// Control the app gave up retrying.
    pub given_up: u64,
    /// Channels joined from a first message that carried group control.
    pub control_joins: u64,
    /// Resyncs of members that missed something (at quiet points).
    pub recoveries_by_resync: u64,
    /// Members removed (and added back) to recover: must stay 0 (group protocol v2 has
    /// resync).
    pub recoveries_by_removal: u64,
    /// Resync requests not answered for the rate limit (`MAX_RESYNC_REPLIES`).
    pub resyncs_unanswered: u64,
    /// Ownership transfers accepted.
    pub transfers: u64,
    /// Ownership offers lost or refused for good (the new owner's resync brings them
    /// again).
    pub offers_lost: u64,
    /// Leave requests lost or refused for good, asked again at a quiet point (the owner
    /// removes the member when the new request arrives).
    pub lost_leaves: u64,
    /// Members found at a quiet point waiting for the owner's next roster, having missed
    /// the one that let them in.
    pub awaiting_roster: u64,
    pub quiet_points: u64,
    /// Bytes of all saved state (channels, groups, prekey stores) at the end.
    pub state_bytes: u64,
}

impl Stats {
    /// Application messages sent: channel and group messages (control not counted).
    pub fn messages(&self) -> u64 {
        self.channel_messages + self.group_messages
    }

    fn rejected(&mut self, kind: &str, error: &Error) {
        let name = format!("{error:?}");
        let name = name.split([' ', '{', '(']).next().unwrap_or_default();
        *self.rejected.entry(format!("{kind}: {name}")).or_default() += 1;
    }
}

/// A removed member's group as it was when the owner removed it: it keeps receiving every
/// group message and must not read what was sent after the removal.
struct Ghost {
    party: usize,
    group: Group,
    view: View,
    /// The roster version that removed it.
    removed_at: u64,
    /// Its bytes, while unchanged.
    cache: Option<Vec<u8>>,
}

struct GroupGlobal {
    /// The group id, once created.
    id: Vec<u8>,
    founder: usize,
    initial: Vec<usize>,
    /// The owner's newest roster: the truth.
    latest: Option<Rc<Roster>>,
    /// Per party: the memberships, (first version, version that removed it).
    stints: Vec<BTreeMap<u64, Option<u64>>>,
    ghosts: Vec<Ghost>,
    /// Who the owner removed last: it often adds them back soon (removed by mistake, or
    /// after a lost device was replaced).
    last_removed: Option<usize>,
    /// An ownership transfer under way: (old owner, new owner).
    transfer: Option<(usize, usize)>,
}

pub struct Sim {
    target: u64,
    rng: ChaCha20Rng,
    now: u64,
    parties: Vec<Party>,
    keys: Vec<[u8; 32]>,
    storage: Vec<StorageKey>,
    net: Network,
    groups: Vec<GroupGlobal>,
    /// Names every sender key (see `group_model`).
    generations: u64,
    next_quiet: u64,
    next_burst: u64,
    /// Steps a burst that evicts channel keys has waited for group control in flight.
    burst_waited: u64,
    last_channel: Option<(usize, usize)>,
    /// Control lost for good since the last quiet point: (from, to, what it carried).
    lost_control: Vec<(usize, usize, Rc<ControlMeta>)>,
    /// Sender keys a member missed for good: (group, reader, sender, generation).
    lost_keys: BTreeSet<(usize, usize, usize, u64)>,
    /// Members that may have missed something in a group, and resync at the next quiet
    /// point: (group, member).
    behind: BTreeSet<(usize, usize)>,
    /// Members whose leave request was lost or refused for good, who ask again at the next
    /// quiet point: (group, member).
    lost_leaves: BTreeSet<(usize, usize)>,
    /// `RATCHETKIT_SIM_TRACE` is set: from this step on, print every group operation,
    /// processed control and recovery.
    trace_from: Option<u64>,
    stats: Stats,
}

pub fn decode_channel_message(bytes: &[u8]) -> Result<v1::ChannelMessage, String> {
    v1::ChannelMessage::decode(bytes).map_err(|error| format!("not a ChannelMessage: {error}"))
}

pub fn decode_header(bytes: &[u8]) -> Result<v1::RatchetHeader, String> {
    v1::RatchetHeader::decode(bytes).map_err(|error| format!("not a RatchetHeader: {error}"))
}

/// The bytes of saved state, without zeroizing them when done: they are the test's copy,
/// and zeroizing byte by byte is most of the cost of saving in a debug build.
pub fn plain(mut bytes: zeroize::Zeroizing<Vec<u8>>) -> Vec<u8> {
    std::mem::take(&mut *bytes)
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(no message)".to_owned())
}

/// Runs the simulation of `config`, checking every step; panics with the seed and the step
/// on the first failure.
pub fn run(config: Config) -> Stats {
    let seed = config.seed;
    eprintln!(
        "simulator: seed {seed} ({seed:#x}), at least {} messages; reproduce with \
         RATCHETKIT_SIM_SEED={seed} RATCHETKIT_SIM_MESSAGES={}",
        config.messages, config.messages
    );
    let started = Instant::now();
    let mut report = started + Duration::from_secs(60);
    let mut sim = Sim::new(config);
    loop {
        let done = sim.stats.messages() >= sim.target;
        let result = catch_unwind(AssertUnwindSafe(|| {
            if done || sim.stats.messages() >= sim.next_quiet {
                sim.quiet();
            } else {
                sim.step();
            }
        }));
        if let Err(panic) = result {
            panic!(
                "simulation failed (seed {seed}, step {}, {} messages sent; reproduce with \
                 RATCHETKIT_SIM_SEED={seed}): {}",
                sim.stats.steps,
                sim.stats.messages(),
                panic_message(panic.as_ref())
            );
        }
        if done {
            break;
        }
        if Instant::now() > report {
            report += Duration::from_secs(60);
            eprintln!(
                "simulator: {} messages after {:.0?}",
                sim.stats.messages(),
                started.elapsed()
            );
        }
    }
    sim.stats.lost = sim.net.lost;
    sim.stats.state_bytes = sim
        .parties
        .iter()
        .map(|party| {
            let groups: usize = party
                .groups
                .iter()
                .flatten()
                .map(|g| g.to_bytes().len())
                .sum();
            let channels: usize = party.channels.values().map(|c| c.to_bytes().len()).sum();
            (groups + channels + party.prekeys.to_bytes().len()) as u64
        })
        .sum();
    sim.stats.duplicated = sim.net.duplicated;
    assert_eq!(
        sim.stats.recoveries_by_removal, 0,
        "a member was removed to recover (seed {seed})"
    );
    assert_eq!(
        sim.stats.replays_refused, sim.stats.joins,
        "every join's replay refused (seed {seed})"
    );
    eprintln!(
        "simulator: seed {seed}: {} messages ({} channel, {} group) and {} control messages \
         in {:.1?}, all checked; {} lost and {} duplicated; {} control messages lost for good, \
         {} recoveries by resync, {} by removal\n{:#?}",
        sim.stats.messages(),
        sim.stats.channel_messages,
        sim.stats.group_messages,
        sim.stats.control_messages,
        started.elapsed(),
        sim.stats.lost,
        sim.stats.duplicated,
        sim.stats.control_lost,
        sim.stats.recoveries_by_resync,
        sim.stats.recoveries_by_removal,
        sim.stats
    );
    sim.stats
}

impl Sim {
    fn new(config: Config) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let mut parties: Vec<Party> = (0..PARTIES)
            .map(|i| {
                let identity = Identity::generate_at(&mut rng, &format!("p{i}"), CREATED_AT)
                    .expect("identity");
                let mut prekeys = PrekeyStore::new(&mut rng);
                prekeys
                    .generate_one_time_prekeys(&mut rng, PARTIES)
                    .expect("one-time prekeys");
                Party::new(identity, prekeys, GROUPS.len())
            })
            .collect();
        let keys: Vec<[u8; 32]> = parties
            .iter()
            .map(|party| party.identity.card().signing_key())
            .collect();
        let storage = (0..PARTIES)
            .map(|_| StorageKey::generate(&mut rng))
            .collect();
        // Every pair gets a channel: the lower index creates it from the other's bundle
        // (with a one-time prekey or without); the other joins from whichever of its first
        // messages arrives first.
        for j in 0..PARTIES {
            let ids = parties[j].prekeys.one_time_prekey_ids();
            for (i, &id) in ids.iter().enumerate().take(j) {
                let one_time = rng.random_bool(0.5).then_some(id);
                let bundle = parties[j]
                    .prekeys
                    .bundle(&parties[j].identity, one_time)
                    .expect("bundle");
                let bundle = PrekeyBundle::from_bytes(&bundle.to_bytes()).expect("bundle");
                let channel =
                    Channel::create(&mut rng, &parties[i].identity, &bundle).expect("create");
                parties[i].channels.insert(keys[j], channel);
                parties[i].model.sides.insert(j, Side::initiator());
            }
        }
        let groups = GROUPS
            .iter()
            .map(|(owner, initial)| GroupGlobal {
                id: Vec::new(),
                founder: *owner,
                initial: initial.to_vec(),
                latest: None,
                stints: vec![BTreeMap::new(); PARTIES],
                ghosts: Vec::new(),
                last_removed: None,
                transfer: None,
            })
            .collect();
        Self {
            target: config.messages,
            rng,
            now: 0,
            parties,
            keys,
            storage,
            net: Network::default(),
            groups,
            generations: 0,
            next_quiet: QUIET_EVERY,
            next_burst: BURST_EVERY / 2,
            burst_waited: 0,
            last_channel: None,
            lost_control: Vec::new(),
            lost_keys: BTreeSet::new(),
            behind: BTreeSet::new(),
            lost_leaves: BTreeSet::new(),
            trace_from: std::env::var("RATCHETKIT_SIM_TRACE")
                .ok()
                .map(|from| from.trim().replace('_', "").parse().unwrap_or(0)),
            stats: Stats::default(),
        }
    }

    /// Whether to print what happens now (`RATCHETKIT_SIM_TRACE`).
    fn tracing(&self) -> bool {
        self.trace_from.is_some_and(|from| self.stats.steps >= from)
    }

    fn index(&self, key: &[u8; 32]) -> usize {
        self.keys
            .iter()
            .position(|k| k == key)
            .unwrap_or_else(|| panic!("unknown key {}", hex(key)))
    }

    /// Whether `party` is in group `g`'s newest roster.
    fn in_latest(&self, g: usize, party: usize) -> bool {
        self.groups[g]
            .latest
            .as_ref()
            .is_some_and(|roster| roster.contains(party))
    }

    /// The version `party`'s current membership of `g` began at, if it is a member.
    fn current_stint(&self, g: usize, party: usize) -> Option<u64> {
        self.groups[g].stints[party]
            .iter()
            .next_back()
            .filter(|(_, end)| end.is_none())
            .map(|(start, _)| *start)
    }

    /// The membership of `party` in `g` that roster version `version` falls in: (first
    /// version, the version that removed it).
    fn membership(&self, g: usize, party: usize, version: u64) -> Option<(u64, Option<u64>)> {
        self.groups[g].stints[party]
            .range(..=version)
            .next_back()
            .filter(|(_, end)| end.is_none_or(|end| version < end))
            .map(|(start, end)| (*start, *end))
    }

    /// `reader`'s live group state read message `m`: the sender must have sent it while
    /// `reader` was in the group (under a roster version that lists `reader`).
    fn check_member_may_read(&self, g: usize, reader: usize, m: &GroupMsgMeta) {
        assert!(
            self.membership(g, reader, m.version).is_some(),
            "p{reader} read a message p{} sent to group {g} at roster version {} (epoch {}), \
             which does not list p{reader} (memberships: {:?})",
            m.sender,
            m.version,
            m.key.epoch,
            self.groups[g].stints[reader]
        );
    }

    /// A copy of `reader`'s state taken when the owner removed it with roster version
    /// `removed_at` read message `m`: the sender must have sent it before processing the
    /// removal, while `reader` was in the group.
    fn check_removed_may_read(&self, g: usize, reader: usize, removed_at: u64, m: &GroupMsgMeta) {
        assert!(
            m.version < removed_at && self.membership(g, reader, m.version).is_some(),
            "the state p{reader} had when roster version {removed_at} removed it from group {g} \
             read a message p{} sent at roster version {} (epoch {}), when p{reader} was not in \
             the group (memberships: {:?})",
            m.sender,
            m.version,
            m.key.epoch,
            self.groups[g].stints[reader]
        );
    }

    /// One step: a party acts (or nobody does), then everything due is delivered.
    fn step(&mut self) {
        self.stats.steps += 1;
        self.now += 1;
        if self.groups.iter().any(|group| group.latest.is_none()) {
            self.create_groups();
        }
        if self.stats.messages() >= self.next_burst && self.burst() {
            self.next_burst += BURST_EVERY;
        }
        if self.rng.random_bool(0.002) {
            let armed: Vec<usize> = (0..PARTIES)
                .filter(|&p| !self.parties[p].saves.is_empty())
                .collect();
            if !armed.is_empty() {
                let p = armed[self.rng.random_range(0..armed.len())];
                self.restart(p);
            }
        }
        match self.rng.random_range(0..1_000) {
            0..650 => self.act_channel(),
            650..900 => self.act_group_message(),
            900..903 => self.act_membership(),
            903 => {
                let p = self.rng.random_range(0..PARTIES);
                self.round_trip(p);
            }
            _ => {} // nobody acts: the network catches up
        }
        while let Some(packet) = self.net.pop_due(self.now) {
            self.deliver(packet);
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().take(4).map(|b| format!("{b:02x}")).collect()
}
