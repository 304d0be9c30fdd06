//! The world: the accounts and their devices, the directory, the network, the messages and
//! envelopes with what the model knows of them, and the step that moves it all.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::fmt::Debug;

use rand::rngs::ChaCha20Rng;
use rand::{RngExt, SeedableRng};
use ratchetkit::client::{AccountId, Client, DeviceId, MemoryStore};
use ratchetkit::{ChannelId, PrekeyBundle, StorageKey};

use super::device::Device;
use super::groups::GroupModel;
use super::network::{Network, Packet};
use super::{Phase, Stats, SETTLE_ROUNDS};

/// The accounts, each with a phone, its first device.
pub const ACCOUNTS: [&str; 5] = ["alice", "bob", "carol", "dave", "erin"];
/// Devices linked later: (account, device, when, as a fraction of the messages). Alice's
/// second link takes her list from version 2 to 3, so a contact that missed version 2
/// jumps two devices at once.
pub const LINKS: [(usize, &str, f64); 3] =
    [(0, "laptop", 0.2), (1, "tablet", 0.4), (0, "desktop", 0.6)];
/// A linked device removed later: (its index in [`LINKS`], when). It is not told: it goes
/// on sending and receiving with the list it holds. What it sends reaches only devices that
/// hold a list with it too; the others refuse it (`UnknownDevice`).
pub const REMOVAL: (usize, f64) = (0, 0.8);
/// The time of step 0, in seconds since the Unix epoch (a step is a second).
const EPOCH: u64 = 1_700_000_000;
/// Pairs of accounts whose phones both start a session with the other at step 0, before
/// anything is delivered (more such starts happen by chance later).
const SIMULTANEOUS_PAIRS: usize = 3;
/// What a step of the run does, in percent: send a message; kill a device and reopen it
/// from its store; mark a contact verified or not; fetch a contact's device list again
/// (else time passes, and the network delivers).
const SEND: u32 = 70;
const RESTART: u32 = 4;
const VERIFY: u32 = 3;
const REFRESH: u32 = 3;
/// A group step: the device sends a group message, or now and then rekeys.
const GROUP: u32 = 10;
/// Chance, at a send, that the device is killed right after `encrypt_to`, before its app
/// handed the envelopes to the network (which then never sees them).
pub const CRASH_AFTER_SEND: f64 = 0.02;

/// An account, as the directory publishes it.
pub struct Account {
    /// Its device lists, by version (version 1 first), as device indices in list order.
    pub lists: Vec<Vec<usize>>,
    /// Its newest signed device list.
    pub published: Vec<u8>,
}

/// One message sent with `encrypt_to`.
pub struct Message {
    pub plaintext: Vec<u8>,
}

/// What an envelope carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A message of `encrypt_to`.
    Message,
    /// Group control on a channel (a first message or not), from a group operation or
    /// `Received::outgoing`: never lost by the network.
    Control,
    /// A group message of `encrypt_group`.
    GroupMessage,
    /// A copy of a group message re-addressed by the network to a device of an account
    /// removed from the group, which its sender had processed: it must never decrypt.
    Forged,
}

/// The `message` of an envelope that carries none (group control).
pub const NO_MESSAGE: usize = usize::MAX;

/// One envelope of a message, to one device.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub kind: Kind,
    /// The message it carries (an index in the world's messages), or [`NO_MESSAGE`].
    pub message: usize,
    pub from: usize,
    pub to: usize,
    /// The channel it was sent on (none for group messages): the sender's current channel
    /// with `to` when it sent, or for control answering control, the channel that
    /// control came on.
    pub channel: Option<ChannelId>,
    /// The version of its sender's own device list it carries, on first messages.
    pub carries_list: Option<u64>,
    /// Genuine copies the network took (0: lost).
    pub genuine: u32,
    pub delivered: bool,
    /// Refused because its sender was removed from its account's list, as its recipient
    /// knew (it never will be delivered).
    pub unlisted: bool,
}

pub struct World {
    pub target: u64,
    pub rng: ChaCha20Rng,
    pub phase: Phase,
    pub accounts: Vec<Account>,
    pub devices: Vec<Device>,
    pub account_ids: Vec<AccountId>,
    pub device_ids: Vec<DeviceId>,
    /// The directory's one-time bundles of each device, not handed out yet.
    pub one_time: Vec<VecDeque<PrekeyBundle>>,
    /// The directory's fallback bundle of each device (no one-time prekey).
    pub fallback: Vec<Option<PrekeyBundle>>,
    pub net: Network,
    pub messages: Vec<Message>,
    pub envelopes: Vec<Envelope>,
    /// (sender, ratchet key, message number) of every envelope made: one message key each.
    pub message_keys: HashSet<(Vec<u8>, Vec<u8>, u32)>,
    /// The random salt of every envelope made.
    pub salts: HashSet<Vec<u8>>,
    /// How many of [`LINKS`] are linked.
    pub linked: usize,
    /// Whether [`REMOVAL`] happened.
    pub removed: bool,
    /// The group, once created, and what the model knows of it.
    pub group: Option<GroupModel>,
    /// Copies that failed with an error that says "later" (the app keeps them and tries
    /// again after the device took group control), with the times each was tried.
    pub pending: Vec<(Packet, u32)>,
    /// Per device, group control a crash kept from the network: its envelope index and
    /// bytes, which `unsent()` must hand back after the restart.
    pub kept: Vec<Vec<(usize, Vec<u8>)>>,
    /// Envelopes of group control refused for good as a stale roster (overtaken by a
    /// newer one from the owner).
    pub dropped: HashSet<usize>,
    pub stats: Stats,
}

/// The result of a client call that the model says must succeed.
pub fn must<T, E: Debug>(result: Result<T, E>, what: impl FnOnce() -> String) -> T {
    result.unwrap_or_else(|error| panic!("{}: {error:?}", what()))
}

impl World {
    pub fn new(seed: u64, target: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut devices = Vec::new();
        let mut accounts = Vec::new();
        for (index, name) in ACCOUNTS.iter().enumerate() {
            let key = StorageKey::generate(&mut rng);
            let client = must(
                Client::create(&mut rng, MemoryStore::new(), key.clone(), name, EPOCH),
                || format!("create {name}"),
            );
            let published = client.device_list().expect("a first device").to_bytes();
            let mut device = Device::new(&format!("{name}'s phone"), index, client, key);
            device.active = true;
            device.own_version = 1;
            devices.push(device);
            accounts.push(Account {
                lists: vec![vec![index]],
                published,
            });
        }
        for (account, what, _) in LINKS {
            let key = StorageKey::generate(&mut rng);
            let name = ACCOUNTS[account];
            let client = must(
                Client::create_linked(&mut rng, MemoryStore::new(), key.clone(), name, EPOCH),
                || format!("create {name}'s {what}"),
            );
            let device = Device::new(&format!("{name}'s {what}"), account, client, key);
            devices.push(device);
        }
        let mut world = Self {
            target,
            rng,
            phase: Phase::Run,
            account_ids: devices[..ACCOUNTS.len()]
                .iter_mut()
                .map(|device| device.client().account_id().expect("a first device"))
                .collect(),
            device_ids: devices.iter().map(|device| device.id).collect(),
            one_time: vec![VecDeque::new(); devices.len()],
            fallback: vec![None; devices.len()],
            accounts,
            devices,
            net: Network::default(),
            messages: Vec::new(),
            envelopes: Vec::new(),
            message_keys: HashSet::new(),
            salts: HashSet::new(),
            linked: 0,
            removed: false,
            group: None,
            pending: Vec::new(),
            kept: Vec::new(),
            dropped: HashSet::new(),
            stats: Stats::default(),
        };
        world.kept = vec![Vec::new(); world.devices.len()];
        // Both phones of a pair start a session before either hears from the other.
        let mut pairs = BTreeSet::new();
        while pairs.len() < SIMULTANEOUS_PAIRS {
            let a = world.rng.random_range(0..ACCOUNTS.len());
            let b = world.rng.random_range(0..ACCOUNTS.len());
            if a != b {
                pairs.insert((a.min(b), a.max(b)));
            }
        }
        for (a, b) in pairs {
            world.send(a, b);
            world.send(b, a);
        }
        world.create_group();
        world
    }

    /// The time in seconds.
    pub fn now(&self) -> u64 {
        EPOCH + self.stats.steps
    }

    pub fn device_index(&self, id: DeviceId) -> usize {
        self.device_ids
            .iter()
            .position(|known| *known == id)
            .unwrap_or_else(|| panic!("device {id:?} is no device of the world"))
    }

    /// The devices that act in the run.
    pub fn active(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|device| self.devices[*device].active)
            .collect()
    }

    /// The devices on their account's newest list.
    pub fn listed(&self) -> Vec<usize> {
        (0..self.devices.len())
            .filter(|device| self.devices[*device].active && !self.devices[*device].removed)
            .collect()
    }

    /// One step of the current phase.
    pub fn tick(&mut self) {
        self.stats.steps += 1;
        match self.phase {
            Phase::Run => self.run_step(),
            Phase::Drain { round } => match self.net.pop_next() {
                Some((_, packet)) => {
                    self.deliver(packet);
                    self.group_upkeep();
                }
                None if self.retry_all() => {}
                None => {
                    self.check_all_delivered();
                    self.phase = match round < SETTLE_ROUNDS {
                        true => Phase::Settle { round: round + 1 },
                        false => Phase::Final,
                    };
                }
            },
            Phase::Settle { round } => {
                self.settle(round);
                self.phase = Phase::Drain { round };
            }
            Phase::Final => {
                self.check_final();
                self.phase = Phase::Done;
            }
            Phase::Done => {}
        }
    }

    fn run_step(&mut self) {
        let now = self.stats.steps;
        while let Some(packet) = self.net.pop_due(now) {
            self.deliver(packet);
        }
        self.group_upkeep();
        if self.stats.messages >= self.target {
            self.phase = Phase::Drain { round: 0 };
            return;
        }
        let reached = |when: f64| self.stats.messages as f64 >= self.target as f64 * when;
        if let Some((_, _, when)) = LINKS.get(self.linked) {
            if reached(*when) {
                self.link_next_device();
                return;
            }
        }
        if !self.removed && self.linked > REMOVAL.0 && reached(REMOVAL.1) {
            self.remove_linked_device(ACCOUNTS.len() + REMOVAL.0);
            return;
        }
        if self.group_change_due() {
            return;
        }
        let active = self.active();
        let device = active[self.rng.random_range(0..active.len())];
        let own = self.devices[device].account;
        let other = (own + self.rng.random_range(1..ACCOUNTS.len())) % ACCOUNTS.len();
        let roll = self.rng.random_range(0..100);
        if roll < SEND {
            // Now and then a note to self, which goes to the account's other devices.
            let to = if self.rng.random_bool(0.05) {
                own
            } else {
                other
            };
            self.send(device, to);
        } else if roll < SEND + RESTART {
            let full = self.rng.random_bool(0.5);
            self.restart(device, full);
        } else if roll < SEND + RESTART + VERIFY {
            self.toggle_verified(device);
        } else if roll < SEND + RESTART + VERIFY + REFRESH {
            let which = if self.rng.random_bool(0.2) {
                own
            } else {
                other
            };
            self.refresh(device, which);
        } else if roll < SEND + RESTART + VERIFY + REFRESH + GROUP {
            self.group_step();
        }
    }

    /// Kills the device's client and opens it again from its store: it must show exactly
    /// what it showed. A `full` check also reads back every channel at once, and compares
    /// it all with the model; otherwise the client loads each session from the store when
    /// an envelope first needs it, as after a real restart.
    pub fn restart(&mut self, device: usize, full: bool) {
        let devices = match full {
            true => self.device_ids.clone(),
            false => Vec::new(),
        };
        let before = must(
            self.devices[device].snapshot(&self.account_ids, &devices),
            || format!("{} before a restart", self.devices[device].name),
        );
        must(self.devices[device].restart(), || {
            format!("reopen {}", self.devices[device].name)
        });
        let after = must(
            self.devices[device].snapshot(&self.account_ids, &devices),
            || format!("{} after a restart", self.devices[device].name),
        );
        let name = &self.devices[device].name;
        assert_eq!(before.shown, after.shown, "{name} changed in a restart");
        assert!(before.records == after.records, "{name}'s store changed");
        self.stats.restarts += 1;
        self.resend_unsent(device);
        if full {
            self.check_model(device);
        }
    }

    fn toggle_verified(&mut self, device: usize) {
        let contacts: Vec<usize> = self.devices[device].known.keys().copied().collect();
        if contacts.is_empty() {
            return;
        }
        let account = contacts[self.rng.random_range(0..contacts.len())];
        let verified = !self.devices[device].verified.contains(&account);
        let before = self.devices[device].batches_saved();
        let id = self.account_ids[account];
        must(
            self.devices[device]
                .client()
                .mark_verified(&mut self.rng, id, verified),
            || {
                format!(
                    "{} marks {} verified",
                    self.devices[device].name, ACCOUNTS[account]
                )
            },
        );
        assert_eq!(self.devices[device].batches_saved(), before + 1);
        match verified {
            true => self.devices[device].verified.insert(account),
            false => self.devices[device].verified.remove(&account),
        };
        self.stats.verified_toggles += 1;
        assert_eq!(self.devices[device].client().is_verified(id), verified);
    }

    /// Checks that the device's client shows what the model says it holds: its own list,
    /// its contacts' lists and who is verified, and its current channel with each device.
    pub fn check_model(&mut self, device: usize) {
        let model = &self.devices[device];
        let own = model.account;
        let name = model.name.clone();
        let expected_contacts: Vec<Option<u64>> = (0..ACCOUNTS.len())
            .filter(|account| *account != own)
            .map(|account| model.known.get(&account).copied())
            .collect();
        let expected_verified: Vec<bool> = (0..ACCOUNTS.len())
            .filter(|account| *account != own)
            .map(|account| model.verified.contains(&account))
            .collect();
        let expected_channels: Vec<Option<ChannelId>> = (0..self.devices.len())
            .filter(|peer| *peer != device)
            .map(|peer| model.peers.get(&peer).map(|session| session.current))
            .collect();
        let (expected_account, expected_version) = (self.account_ids[own], model.own_version);
        let client = self.devices[device].client();
        assert_eq!(
            client.account_id(),
            Some(expected_account),
            "{name}'s account"
        );
        assert_eq!(
            client.device_list().map(|list| list.version()),
            Some(expected_version),
            "{name}'s own device list"
        );
        let mut contacts = Vec::new();
        let mut verified = Vec::new();
        for account in (0..ACCOUNTS.len()).filter(|account| *account != own) {
            let id = self.account_ids[account];
            contacts.push(client.contact(id).map(|list| list.version()));
            verified.push(client.is_verified(id));
        }
        assert_eq!(
            contacts, expected_contacts,
            "{name}'s contacts' list versions"
        );
        assert_eq!(verified, expected_verified, "{name}'s verified contacts");
        let mut channels = Vec::new();
        for peer in (0..self.device_ids.len()).filter(|peer| *peer != device) {
            channels.push(must(client.current_channel(self.device_ids[peer]), || {
                format!("{name}'s channel with device {peer}")
            }));
        }
        assert_eq!(channels, expected_channels, "{name}'s current channels");
    }
}
