//! The group: created by alice's phone (its owner) at step 0 with bob and carol, accounts
//! added and removed on a schedule, the roster kept in step with device lists
//! (`sync_group_devices` when the owner learns a member's new list), members sending group
//! messages and now and then rekeying, and the app's side of receiving group control:
//! sending what it makes the device send, starting the sessions a group waits for, and
//! keeping what comes too early to try again later. Control is never lost (the network
//! may delay, duplicate and tamper with it); a crash between a group operation and the
//! hand-over leaves it to `unsent()` after the restart. The owner works around a bug of
//! `sync_group_devices` (see `tests/client_simulator.rs`): it adds its own account when
//! the sync left out a device it linked.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;

use prost::Message as _;
use rand::RngExt;
use ratchetkit::client::{peek, ClientError, DeviceId, EnvelopeKind, Event, GroupId, Outgoing};
use ratchetkit::wire::v1;
use ratchetkit::{ChannelId, Error, GroupEvent};

use super::deliver::error_name;
use super::network::Packet;
use super::world::{must, Envelope, Kind, Message, World, ACCOUNTS, NO_MESSAGE};

/// The group's owner: alice's phone.
pub const OWNER: usize = 0;
/// The accounts the owner creates the group with (its own included).
const FOUNDERS: [usize; 3] = [0, 1, 2];

/// A change of the group's accounts by its owner, when (a fraction of the messages).
#[derive(Clone, Copy, Debug)]
enum Change {
    Add(usize),
    Remove(usize),
}

/// Dave joins, carol is removed, erin joins, dave is removed: an account is never added
/// back.
const CHANGES: [(Change, f64); 4] = [
    (Change::Add(3), 0.25),
    (Change::Remove(2), 0.45),
    (Change::Add(4), 0.65),
    (Change::Remove(3), 0.9),
];
/// Chance that a group step rekeys rather than sends.
const REKEY: f64 = 0.05;
/// Steps between two rekeys or removals (each moves senders to a new epoch): a member
/// keeps `MAX_SENDER_EPOCHS` (3) epochs per sender, so a message in flight while its
/// sender moves three epochs on could not be read, which the model does not predict.
const EPOCH_GAP: u64 = 400;
/// Chance, at a group message sent after its sender processed a removal, that the network
/// hands a re-addressed copy to a device of the removed account.
const FORGE: f64 = 0.3;
/// Chance that the app dies right after a group operation, before handing its control to
/// the network (`unsent()` hands it back after the restart).
const CRASH_AFTER_GROUP_OP: f64 = 0.03;
/// Times a kept copy is tried again before the app gives up on it.
const MAX_TRIES: u32 = 1_000;

/// What the model knows of the group.
pub struct GroupModel {
    pub id: GroupId,
    /// The accounts in the group, as its owner decided.
    pub members: BTreeSet<usize>,
    /// Accounts removed (never added back).
    pub removed: BTreeSet<usize>,
    /// The owner learned a newer device list of an account in the group.
    pub sync_due: bool,
    /// The newest version of each account's list the owner has synced the roster with.
    pub seen: BTreeMap<usize, u64>,
    /// How many of [`CHANGES`] are done.
    pub changes: usize,
    /// The step of the last rekey or removal.
    pub last_epoch_change: Option<u64>,
    /// The group messages of the final round, by sender, with their recipients.
    pub finals: Vec<(usize, usize, BTreeSet<usize>)>,
}

/// What came of trying a copy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt {
    Taken,
    /// Refused with an error that says "later": the app keeps it.
    Later,
    /// Refused for good (only where the model allows it).
    Dropped,
}

/// Whether a genuine copy's error tells the app to keep it and try again after more
/// group control: the welcome still on its way (`UnknownGroup`, or `NotAGroupWelcome`
/// for a sender key that overtook it), the roster behind (`RosterBehind`, retryable), a
/// sender's key or addition not yet processed (`UnknownEpoch`, `NotGroupMember`, which
/// may also be final, as their documentation says: the model decides at the end).
pub fn later<E: std::error::Error>(error: &ClientError<E>) -> bool {
    match error {
        ClientError::UnknownGroup { .. } => true,
        ClientError::Protocol(error @ Error::RosterBehind { .. }) => {
            assert!(error.is_retryable(), "{error:?} is retryable");
            true
        }
        ClientError::Protocol(
            Error::UnknownEpoch { .. } | Error::NotGroupMember { .. } | Error::NotAGroupWelcome,
        ) => true,
        _ => false,
    }
}

impl World {
    fn group_id(&self) -> GroupId {
        self.group.as_ref().expect("the group").id
    }

    fn reached(&self, when: f64) -> bool {
        self.stats.messages as f64 >= self.target as f64 * when
    }

    /// Whether `device` holds a device list that names `peer` (its own account's, or a
    /// contact's).
    pub fn holds_listed(&self, device: usize, peer: usize) -> bool {
        let holder = &self.devices[device];
        let account = self.devices[peer].account;
        let version = match account == holder.account {
            true => Some(holder.own_version),
            false => holder.known.get(&account).copied(),
        };
        version.is_some_and(|version| {
            version > 0 && self.accounts[account].lists[version as usize - 1].contains(&peer)
        })
    }

    /// Whether the envelope's sender or recipient left the group or its account: what it
    /// carries may be refused for good (`RemovedGroupMember` or `NotGroupMember` for a
    /// removed sender's key or message, a removed device that cannot be reached).
    pub fn moot(&self, envelope: &Envelope) -> bool {
        let Some(group) = &self.group else {
            return false;
        };
        [envelope.from, envelope.to].iter().any(|device| {
            group.removed.contains(&self.devices[*device].account) || self.devices[*device].removed
        })
    }

    /// The devices that act in the group: linked, on their account's list, of an account
    /// in the group, holding it.
    fn group_actors(&mut self) -> Vec<usize> {
        let Some(group) = &self.group else {
            return Vec::new();
        };
        let (id, members) = (group.id, group.members.clone());
        let mut actors = Vec::new();
        for device in self.listed() {
            if !members.contains(&self.devices[device].account) {
                continue;
            }
            if let Ok(roster) = self.devices[device].client().group_members(id) {
                if roster.contains(&self.device_ids[device]) {
                    actors.push(device);
                }
            }
        }
        actors
    }

    /// The roster `device` holds, as device indices.
    fn roster(&mut self, device: usize) -> BTreeSet<usize> {
        let id = self.group_id();
        let roster = must(self.devices[device].client().group_members(id), || {
            format!("{}: the group's members", self.devices[device].name)
        });
        roster.into_iter().map(|id| self.device_index(id)).collect()
    }

    /// The roster the owner must hold once synced: every device on the lists it holds of
    /// the accounts in the group (its own account's included).
    fn expected_roster(&self) -> BTreeSet<usize> {
        let group = self.group.as_ref().expect("the group");
        (0..self.devices.len())
            .filter(|device| group.members.contains(&self.devices[*device].account))
            .filter(|device| *device == OWNER || self.holds_listed(OWNER, *device))
            .collect()
    }

    /// Starts sessions with the devices of `account` (on the list `device` holds) that it
    /// has none with, as `send` does.
    fn sessions_with_account(&mut self, device: usize, account: usize) {
        let id = self.account_ids[account];
        let name = self.devices[device].name.clone();
        let missing = must(self.devices[device].client().missing_sessions(id), || {
            format!("{name}: missing sessions with {}", ACCOUNTS[account])
        });
        let missing: BTreeSet<usize> = missing
            .into_iter()
            .map(|id| self.device_index(id))
            .collect();
        let expected: BTreeSet<usize> = self
            .recipients(device, account)
            .into_iter()
            .filter(|peer| !self.devices[device].peers.contains_key(peer))
            .collect();
        assert_eq!(
            missing, expected,
            "{name}: the devices of {} without a session",
            ACCOUNTS[account]
        );
        if !missing.is_empty() {
            self.start_sessions(device, &missing);
        }
    }

    /// Starts sessions with the roster's devices that `device` has none with and holds a
    /// list of (group control for the others waits in the group).
    fn sessions_with_roster(&mut self, device: usize) {
        let missing: BTreeSet<usize> = self
            .roster(device)
            .into_iter()
            .filter(|peer| *peer != device)
            .filter(|peer| !self.devices[device].peers.contains_key(peer))
            .filter(|peer| self.holds_listed(device, *peer))
            .collect();
        if !missing.is_empty() {
            self.start_sessions(device, &missing);
        }
    }

    /// At step 0: the owner meets bob and carol (their lists, sessions with their
    /// devices) and creates the group.
    pub fn create_group(&mut self) {
        let members: Vec<usize> = FOUNDERS.iter().copied().filter(|a| *a != 0).collect();
        for &account in &members {
            self.refresh(OWNER, account);
            self.sessions_with_account(OWNER, account);
        }
        let ids: Vec<_> = members.iter().map(|a| self.account_ids[*a]).collect();
        let before = self.devices[OWNER].batches_saved();
        let (id, welcome) = must(
            self.devices[OWNER]
                .client()
                .create_group(&mut self.rng, &ids),
            || "the owner creates the group".into(),
        );
        assert_eq!(self.devices[OWNER].batches_saved(), before + 1);
        let seen = FOUNDERS
            .iter()
            .map(|account| {
                let version = match *account == 0 {
                    true => self.devices[OWNER].own_version,
                    false => self.devices[OWNER].known[account],
                };
                (*account, version)
            })
            .collect();
        self.group = Some(GroupModel {
            id,
            members: FOUNDERS.into_iter().collect(),
            removed: BTreeSet::new(),
            sync_due: false,
            seen,
            changes: 0,
            last_epoch_change: None,
            finals: Vec::new(),
        });
        let roster = self.roster(OWNER);
        assert_eq!(roster, self.expected_roster(), "the group's first roster");
        self.hand_over(OWNER, welcome, None);
    }

    /// The model's side of a device taking `account`'s list `version`: the owner syncs
    /// the roster when it learns a newer list of an account in the group.
    pub fn group_learned(&mut self, device: usize, account: usize, version: u64) {
        let Some(group) = &mut self.group else {
            return;
        };
        if device != OWNER || !group.members.contains(&account) {
            return;
        }
        let seen = group.seen.entry(account).or_insert(0);
        if version > *seen {
            *seen = version;
            group.sync_due = true;
        }
    }

    /// What the owner's app does between steps: sync the roster when it learned a newer
    /// device list of an account in the group.
    pub fn group_upkeep(&mut self) {
        if self.group.as_ref().is_some_and(|group| group.sync_due) {
            self.sync_roster();
        }
    }

    /// The owner starts sessions with every device of the accounts in the group and calls
    /// `sync_group_devices`: the roster then lists exactly those devices.
    pub fn sync_roster(&mut self) {
        let group = self.group.as_mut().expect("the group");
        group.sync_due = false;
        let (id, members) = (group.id, group.members.clone());
        for account in members {
            self.sessions_with_account(OWNER, account);
        }
        let removes = self
            .roster(OWNER)
            .difference(&self.expected_roster())
            .count()
            > 0;
        let out = must(
            self.devices[OWNER]
                .client()
                .sync_group_devices(&mut self.rng, id),
            || "the owner syncs the group's devices".into(),
        );
        self.stats.group_syncs += 1;
        if removes {
            self.group.as_mut().expect("the group").last_epoch_change = Some(self.stats.steps);
        }
        self.hand_over(OWNER, out, None);
        let roster = self.roster(OWNER);
        assert_eq!(roster, self.expected_roster(), "the roster after a sync");
    }

    /// The owner's next change of the group's accounts, if it is due.
    pub fn group_change_due(&mut self) -> bool {
        let Some(group) = &self.group else {
            return false;
        };
        let Some(&(change, when)) = CHANGES.get(group.changes) else {
            return false;
        };
        if !self.reached(when) {
            return false;
        }
        self.group.as_mut().expect("the group").changes += 1;
        let id = self.group_id();
        match change {
            Change::Add(account) => {
                self.refresh(OWNER, account);
                self.sessions_with_account(OWNER, account);
                let before = self.devices[OWNER].batches_saved();
                let out = must(
                    self.devices[OWNER].client().add_to_group(
                        &mut self.rng,
                        id,
                        self.account_ids[account],
                    ),
                    || format!("the owner adds {}", ACCOUNTS[account]),
                );
                assert_eq!(self.devices[OWNER].batches_saved(), before + 1);
                let group = self.group.as_mut().expect("the group");
                group.members.insert(account);
                group
                    .seen
                    .insert(account, self.devices[OWNER].known[&account]);
                self.stats.group_adds += 1;
                self.hand_over(OWNER, out, None);
            }
            Change::Remove(account) => {
                self.sessions_with_roster(OWNER);
                let before = self.devices[OWNER].batches_saved();
                let out = must(
                    self.devices[OWNER].client().remove_from_group(
                        &mut self.rng,
                        id,
                        self.account_ids[account],
                    ),
                    || format!("the owner removes {}", ACCOUNTS[account]),
                );
                assert_eq!(self.devices[OWNER].batches_saved(), before + 1);
                let group = self.group.as_mut().expect("the group");
                group.members.remove(&account);
                group.removed.insert(account);
                group.last_epoch_change = Some(self.stats.steps);
                self.stats.group_removals += 1;
                self.hand_over(OWNER, out, None);
            }
        }
        let roster = self.roster(OWNER);
        assert_eq!(
            roster,
            self.expected_roster(),
            "the roster after {change:?}"
        );
        true
    }

    /// A group step of the run: a device in the group sends a group message, or now and
    /// then rekeys.
    pub fn group_step(&mut self) {
        let actors = self.group_actors();
        if actors.is_empty() {
            return;
        }
        let device = actors[self.rng.random_range(0..actors.len())];
        let now = self.stats.steps;
        let group = self.group.as_ref().expect("the group");
        let may_rekey = group
            .last_epoch_change
            .is_none_or(|last| now >= last + EPOCH_GAP);
        if may_rekey && self.rng.random_bool(REKEY) {
            self.rekey(device);
        } else {
            self.send_group(device);
        }
    }

    fn rekey(&mut self, device: usize) {
        self.sessions_with_roster(device);
        let id = self.group_id();
        let before = self.devices[device].batches_saved();
        let out = must(
            self.devices[device].client().rekey_group(&mut self.rng, id),
            || format!("{} rekeys", self.devices[device].name),
        );
        assert_eq!(self.devices[device].batches_saved(), before + 1);
        self.group.as_mut().expect("the group").last_epoch_change = Some(self.stats.steps);
        self.stats.rekeys += 1;
        self.hand_over(device, out, None);
    }

    /// `device` sends a group message: one envelope to each other device of the roster it
    /// holds. After its sender processed a removal, the network may hand a re-addressed
    /// copy to a device of the removed account that holds the group.
    pub fn send_group(&mut self, device: usize) -> (usize, BTreeSet<usize>) {
        let id = self.group_id();
        let name = self.devices[device].name.clone();
        let roster = self.roster(device);
        let index = self.messages.len();
        let filler = "·".repeat(self.rng.random_range(0..64));
        let plaintext = format!("group message {index} from {name} {filler}").into_bytes();
        let before = self.devices[device].batches_saved();
        let sent = must(
            self.devices[device]
                .client()
                .encrypt_group(&mut self.rng, id, &plaintext),
            || format!("{name} sends group message {index}"),
        );
        assert_eq!(self.devices[device].batches_saved(), before + 1);
        let mut recipients = BTreeSet::new();
        for outgoing in &sent {
            assert!(!outgoing.is_kept(), "{name}: a group message kept");
            let to = self.device_index(outgoing.recipient());
            assert!(recipients.insert(to), "{name}: two envelopes to {to}");
        }
        let expected: BTreeSet<usize> = roster.iter().copied().filter(|d| *d != device).collect();
        assert_eq!(
            recipients, expected,
            "{name}: who group message {index} goes to"
        );
        self.messages.push(Message { plaintext });
        self.stats.group_messages += 1;

        // Devices of removed accounts that this sender knows were removed.
        let group = self.group.as_ref().expect("the group");
        let outsiders: Vec<usize> = (0..self.devices.len())
            .filter(|d| group.removed.contains(&self.devices[*d].account))
            .filter(|d| self.devices[*d].active && !roster.contains(d))
            .collect();
        let forge = !sent.is_empty() && !outsiders.is_empty() && self.rng.random_bool(FORGE);
        let crash = !self.net.reliable && self.rng.random_bool(super::world::CRASH_AFTER_SEND);
        if forge && !crash {
            let victim = outsiders[self.rng.random_range(0..outsiders.len())];
            let mut envelope = must(v1::Envelope::decode(sent[0].bytes()), || {
                "a group envelope".into()
            });
            envelope.recipient = self.device_ids[victim].as_bytes().to_vec();
            self.post_group_envelope(
                Kind::Forged,
                index,
                device,
                victim,
                envelope.encode_to_vec(),
            );
            self.stats.forged += 1;
        }
        for outgoing in sent {
            let to = self.device_index(outgoing.recipient());
            let peeked = must(peek(outgoing.bytes()), || "peek at a group envelope".into());
            assert_eq!(
                (peeked.kind, peeked.sender, peeked.recipient, peeked.group),
                (
                    EnvelopeKind::GroupMessage,
                    self.device_ids[device],
                    self.device_ids[to],
                    Some(id)
                ),
                "{name}: a group envelope's routing"
            );
            if crash {
                self.envelopes.push(Envelope {
                    kind: Kind::GroupMessage,
                    message: index,
                    from: device,
                    to,
                    channel: None,
                    carries_list: None,
                    genuine: 0,
                    delivered: false,
                    unlisted: false,
                });
                self.stats.lost_in_crashes += 1;
            } else {
                self.post_group_envelope(
                    Kind::GroupMessage,
                    index,
                    device,
                    to,
                    outgoing.into_bytes(),
                );
            }
            self.stats.group_envelopes += 1;
        }
        if crash {
            let full = self.rng.random_bool(0.5);
            self.restart(device, full);
        }
        (index, recipients)
    }

    fn post_group_envelope(
        &mut self,
        kind: Kind,
        message: usize,
        from: usize,
        to: usize,
        bytes: Vec<u8>,
    ) {
        let envelope = self.envelopes.len();
        let now = self.stats.steps;
        let posted = self
            .net
            .post(&mut self.rng, now, envelope, bytes.into(), false);
        self.envelopes.push(Envelope {
            kind,
            message,
            from,
            to,
            channel: None,
            carries_list: None,
            genuine: posted.genuine,
            delivered: false,
            unlisted: false,
        });
    }

    /// The app hands group control `from` made to the network (never lost), and marks it
    /// sent; or dies first, and sends it after the restart from `unsent()`. Control
    /// answering control from `reply.0` goes to it on the channel that control came on;
    /// the rest on the current channel with each device. Checked like any envelope: its
    /// routing, whether it is a first message, a fresh message key and salt.
    pub fn hand_over(
        &mut self,
        from: usize,
        outgoing: Vec<Outgoing>,
        reply: Option<(usize, Option<ChannelId>)>,
    ) {
        if outgoing.is_empty() {
            return;
        }
        let name = self.devices[from].name.clone();
        let mut made = Vec::new();
        for out in &outgoing {
            assert!(out.is_kept(), "{name}: group control not kept");
            let to = self.device_index(out.recipient());
            let peer = self.devices[from].peers.get(&to).unwrap_or_else(|| {
                panic!("{name} sends group control to device {to}, with no session in the model")
            });
            let channel = match reply {
                Some((sender, Some(channel))) if sender == to => channel,
                _ => peer.current,
            };
            let first = peer.sends_first_messages(channel);
            // Control is `GroupControl` to `peek`, first message or not; a first message
            // carries the sender's device list.
            let peeked = must(peek(out.bytes()), || "peek at group control".into());
            let wire = must(v1::Envelope::decode(out.bytes()), || "an envelope".into());
            assert_eq!(
                (
                    peeked.kind,
                    peeked.sender,
                    peeked.recipient,
                    !wire.sender_devices.is_empty()
                ),
                (
                    EnvelopeKind::GroupControl,
                    self.device_ids[from],
                    self.device_ids[to],
                    first
                ),
                "{name}: group control to device {to}: its kind, routing, and whether it \
                 carries a device list (a first message)"
            );
            self.check_fresh_key(out.bytes());
            made.push(self.envelopes.len());
            self.envelopes.push(Envelope {
                kind: Kind::Control,
                message: NO_MESSAGE,
                from,
                to,
                channel: Some(channel),
                carries_list: first.then_some(self.devices[from].own_version),
                genuine: 0,
                delivered: false,
                unlisted: false,
            });
            self.stats.controls += 1;
        }
        if !self.net.reliable && self.rng.random_bool(CRASH_AFTER_GROUP_OP) {
            self.kept[from].extend(
                made.iter()
                    .zip(&outgoing)
                    .map(|(envelope, out)| (*envelope, out.bytes().to_vec())),
            );
            self.stats.controls_kept_in_crashes += outgoing.len() as u64;
            let full = self.rng.random_bool(0.5);
            self.restart(from, full);
            return;
        }
        for (envelope, out) in made.iter().zip(&outgoing) {
            self.post_control(*envelope, out.bytes().into());
        }
        let before = self.devices[from].batches_saved();
        must(self.devices[from].client().mark_sent(&outgoing), || {
            format!("{name} marks control sent")
        });
        assert_eq!(
            self.devices[from].batches_saved(),
            before + 1,
            "{name}: mark_sent"
        );
        assert!(
            must(self.devices[from].client().unsent(), || "unsent".into()).is_empty(),
            "{name}: control kept after mark_sent"
        );
    }

    fn post_control(&mut self, envelope: usize, bytes: Rc<[u8]>) {
        let now = self.stats.steps;
        let posted = self.net.post(&mut self.rng, now, envelope, bytes, true);
        assert!(posted.genuine > 0, "control lost");
        self.envelopes[envelope].genuine += posted.genuine;
    }

    /// After a restart: `unsent()` hands back exactly the control a crash kept from the
    /// network, oldest first; the app sends it and marks it sent.
    pub fn resend_unsent(&mut self, device: usize) {
        let name = self.devices[device].name.clone();
        let unsent = must(self.devices[device].client().unsent(), || {
            format!("{name}: unsent")
        });
        let kept = std::mem::take(&mut self.kept[device]);
        assert!(
            unsent.len() == kept.len()
                && unsent
                    .iter()
                    .zip(&kept)
                    .all(|(out, (envelope, bytes))| out.bytes() == bytes.as_slice()
                        && out.is_kept()
                        && self.device_index(out.recipient()) == self.envelopes[*envelope].to),
            "{name}: unsent() after a restart is not the control a crash kept ({} kept, {} \
             unsent)",
            kept.len(),
            unsent.len()
        );
        if unsent.is_empty() {
            return;
        }
        for (envelope, bytes) in &kept {
            self.post_control(*envelope, bytes.as_slice().into());
        }
        let before = self.devices[device].batches_saved();
        must(self.devices[device].client().mark_sent(&unsent), || {
            format!("{name} marks control sent")
        });
        assert_eq!(self.devices[device].batches_saved(), before + 1);
        assert!(must(self.devices[device].client().unsent(), || "unsent".into()).is_empty());
        self.stats.controls_resent += kept.len() as u64;
    }

    /// The app's side of the group events of a control `device` took.
    pub fn group_events(&mut self, device: usize, events: &[Event]) {
        let id = self.group_id();
        for event in events {
            let Event::Group { group, event } = event else {
                continue;
            };
            assert_eq!(*group, id, "an event of another group");
            match event {
                GroupEvent::ChannelNeeded { member, .. } => {
                    self.channel_needed(device, DeviceId::from_bytes(*member))
                }
                GroupEvent::Removed { .. } => {
                    let group = self.group.as_ref().expect("the group");
                    assert!(
                        group.removed.contains(&self.devices[device].account)
                            || self.devices[device].removed,
                        "{} told it was removed from the group",
                        self.devices[device].name
                    );
                    self.stats.group_removed_events += 1;
                }
                GroupEvent::Joined { .. } => self.stats.group_joins += 1,
                GroupEvent::SenderKey { .. } => self.stats.sender_keys += 1,
                _ => {}
            }
        }
    }

    /// The group waits for a session with `member`: fetch its account's device list if
    /// the device holds none that names it, start a session from a bundle, and let the
    /// group deliver. A member on no list (a removed device) cannot be reached.
    fn channel_needed(&mut self, device: usize, member: DeviceId) {
        let peer = self.device_index(member);
        let name = self.devices[device].name.clone();
        assert!(
            !self.devices[device].peers.contains_key(&peer),
            "{name}: the group waits for a session with device {peer}, which it has"
        );
        if !self.holds_listed(device, peer) {
            self.refresh(device, self.devices[peer].account);
        }
        let listed = self.holds_listed(device, peer);
        assert_eq!(
            self.devices[device].client().account_of(member).is_some(),
            listed,
            "{name}: whether it knows device {peer}'s account"
        );
        if !listed {
            self.stats.channels_unreachable += 1;
            return;
        }
        self.start_sessions(device, &BTreeSet::from([peer]));
        let id = self.group_id();
        let out = must(
            self.devices[device]
                .client()
                .deliver_group_pending(&mut self.rng, id),
            || format!("{name} delivers what waited for device {peer}"),
        );
        self.stats.channels_needed += 1;
        self.hand_over(device, out, None);
    }

    /// A copy of a group message (or a forged one).
    pub fn deliver_group_message(&mut self, packet: Packet) {
        let envelope = &self.envelopes[packet.envelope];
        if packet.tampered || envelope.delivered {
            self.refuse_group(&packet);
            return;
        }
        if self.attempt_group_message(&packet) == Attempt::Later {
            self.keep_for_later(packet);
        }
    }

    /// A tampered copy or a duplicate of a group message: refused (a duplicate as
    /// `Duplicate`), changing nothing.
    fn refuse_group(&mut self, packet: &Packet) {
        let envelope = self.envelopes[packet.envelope].clone();
        let to = envelope.to;
        let name = self.devices[to].name.clone();
        let what = format!(
            "a {} copy of group envelope {} (message {} from {})",
            if packet.tampered {
                "tampered"
            } else {
                "duplicate"
            },
            packet.envelope,
            envelope.message,
            self.devices[envelope.from].name
        );
        let device = &mut self.devices[to];
        let (batches, records) = (device.batches_saved(), device.records());
        let error = match device.client().receive(&mut self.rng, &packet.bytes) {
            Ok(received) => panic!("{name} accepted {what}: {:?}", received.events()),
            Err(error) => error,
        };
        if !packet.tampered {
            // A duplicate is a replay; once its sender is removed (from the group or its
            // account), the device may have dropped the sender's keys and refuse it as
            // from a removed member (or, once it forgot it, from no member).
            let group = self.group.as_ref().expect("the group");
            let sender_removed = group.removed.contains(&self.devices[envelope.from].account)
                || self.devices[envelope.from].removed;
            assert!(
                matches!(error, ClientError::Protocol(Error::Duplicate))
                    || sender_removed
                        && matches!(
                            error,
                            ClientError::Protocol(
                                Error::RemovedGroupMember { .. } | Error::NotGroupMember { .. }
                            )
                        ),
                "{name} refused {what} with {error:?}"
            );
            self.stats.group_duplicates_refused += 1;
        } else {
            self.stats.tampered_refused += 1;
        }
        let device = &self.devices[to];
        assert_eq!(
            device.batches_saved(),
            batches,
            "{name} saved on refusing {what}"
        );
        assert!(
            device.records() == records,
            "{name}'s store changed on refusing {what}"
        );
        *self.stats.refusals.entry(error_name(&error)).or_default() += 1;
    }

    /// The first genuine copy of a group message, or a kept one: taken with exactly the
    /// event the model predicts (the sender's account if the device holds a list naming
    /// it, and whether it is verified), once; or refused with an error that says "later".
    /// A forged copy to a removed account's device is never taken.
    pub fn attempt_group_message(&mut self, packet: &Packet) -> Attempt {
        let envelope = self.envelopes[packet.envelope].clone();
        let (from, to) = (envelope.from, envelope.to);
        let name = self.devices[to].name.clone();
        let what = format!(
            "{:?} envelope {} (group message {} from {})",
            envelope.kind, packet.envelope, envelope.message, self.devices[from].name
        );
        let account = self.devices[from].account;
        let listed = self.holds_listed(to, from);
        let receiver = &self.devices[to];
        let verified =
            listed && (account == receiver.account || receiver.verified.contains(&account));
        let expected = vec![Event::GroupMessage {
            group: self.group_id(),
            account: listed.then_some(self.account_ids[account]),
            device: self.device_ids[from],
            verified,
            plaintext: self.messages[envelope.message].plaintext.clone(),
        }];
        let before = self.devices[to].batches_saved();
        match self.devices[to]
            .client()
            .receive(&mut self.rng, &packet.bytes)
        {
            Ok(received) => {
                assert!(
                    envelope.kind != Kind::Forged,
                    "{name}, of an account removed from the group, decrypted {what}, sent \
                     after its sender processed the removal"
                );
                assert_eq!(received.events(), expected, "{name}: the events of {what}");
                assert!(received.outgoing().is_empty(), "{name}: sends on {what}");
                let device = &mut self.devices[to];
                assert_eq!(
                    device.batches_saved(),
                    before + 1,
                    "{name}: saves of {what}"
                );
                assert!(
                    device.received.insert(envelope.message),
                    "{name} received group message {} twice",
                    envelope.message
                );
                self.envelopes[packet.envelope].delivered = true;
                self.stats.group_accepted += 1;
                Attempt::Taken
            }
            Err(error) => {
                assert_eq!(
                    self.devices[to].batches_saved(),
                    before,
                    "{name} saved on refusing {what}"
                );
                let outcome = if later(&error) {
                    Attempt::Later
                } else {
                    let allowed = envelope.kind == Kind::Forged
                        || self.moot(&envelope)
                            && matches!(
                                error,
                                ClientError::Protocol(
                                    Error::NoLongerMember | Error::RemovedGroupMember { .. }
                                )
                            );
                    assert!(allowed, "{name} refused {what}: {error:?}");
                    Attempt::Dropped
                };
                let key = format!("{:?} {}", envelope.kind, error_name(&error));
                *self.stats.kept_for_later.entry(key).or_default() += 1;
                outcome
            }
        }
    }

    /// The app keeps a copy that came too early (once per envelope).
    pub fn keep_for_later(&mut self, packet: Packet) {
        if !self
            .pending
            .iter()
            .any(|(kept, _)| kept.envelope == packet.envelope)
        {
            self.pending.push((packet, 0));
        }
    }

    fn attempt(&mut self, packet: &Packet) -> Attempt {
        match self.envelopes[packet.envelope].kind {
            Kind::Control => self.attempt_control(packet),
            _ => self.attempt_group_message(packet),
        }
    }

    /// Tries the copies `device` kept again, until none is taken any more (one taken may
    /// let others through). Returns whether any was.
    pub fn retry_pending(&mut self, device: usize) -> bool {
        let mut any = false;
        loop {
            let mut taken = false;
            let mut index = 0;
            while index < self.pending.len() {
                if self.envelopes[self.pending[index].0.envelope].to != device {
                    index += 1;
                    continue;
                }
                let (packet, tries) = self.pending.remove(index);
                if self.envelopes[packet.envelope].delivered
                    || self.dropped.contains(&packet.envelope)
                {
                    continue;
                }
                self.stats.retries += 1;
                match self.attempt(&packet) {
                    Attempt::Taken => taken = true,
                    Attempt::Later if tries < MAX_TRIES => {
                        self.pending.insert(index, (packet, tries + 1));
                        index += 1;
                    }
                    Attempt::Later | Attempt::Dropped => self.stats.given_up += 1,
                }
            }
            any |= taken;
            if !taken {
                return any;
            }
        }
    }

    /// At the end of a drain: tries every kept copy again; whether that changed anything
    /// (then the drain goes on).
    pub fn retry_all(&mut self) -> bool {
        let devices: BTreeSet<usize> = self
            .pending
            .iter()
            .map(|(packet, _)| self.envelopes[packet.envelope].to)
            .collect();
        let mut any = false;
        for device in devices {
            any |= self.retry_pending(device);
        }
        any || !self.net.is_empty()
    }

    /// After a drain: what is still kept must be moot (its sender or recipient left the
    /// group or its account) or forged; the app drops it.
    pub fn drop_pending(&mut self) {
        for (packet, _) in std::mem::take(&mut self.pending) {
            let envelope = &self.envelopes[packet.envelope];
            assert!(
                envelope.kind == Kind::Forged || self.moot(envelope),
                "{:?} envelope {} from {} to {} (message {}) still refused after the drain",
                envelope.kind,
                packet.envelope,
                self.devices[envelope.from].name,
                self.devices[envelope.to].name,
                envelope.message
            );
            self.stats.given_up += 1;
        }
    }

    /// The final rounds' part for the group. Round 1: the owner, holding every account's
    /// newest list, syncs the roster. Round 2: every device of every account in the group
    /// holds the same roster, exactly those devices; each sends a group message.
    pub fn settle_group(&mut self, round: u32) {
        if round == 1 {
            self.sync_roster();
            return;
        }
        let expected = self.expected_roster();
        let group = self.group.as_ref().expect("the group");
        let members: Vec<usize> = self
            .listed()
            .into_iter()
            .filter(|device| group.members.contains(&self.devices[*device].account))
            .collect();
        assert_eq!(
            members.iter().copied().collect::<BTreeSet<_>>(),
            expected,
            "the group's devices at the end"
        );
        for &device in &members {
            let roster = self.roster(device);
            assert_eq!(
                roster, expected,
                "{}'s roster at the end",
                self.devices[device].name
            );
        }
        for &device in &members {
            let (message, recipients) = self.send_group(device);
            self.group
                .as_mut()
                .expect("the group")
                .finals
                .push((device, message, recipients));
        }
    }

    /// At the end: every final group message reached every other device of the group,
    /// and no device keeps group control unsent.
    pub fn check_group_final(&mut self) {
        let group = self.group.as_ref().expect("the group");
        let expected = self.expected_roster();
        for (sender, message, recipients) in &group.finals {
            let others: BTreeSet<usize> =
                expected.iter().copied().filter(|d| d != sender).collect();
            assert_eq!(
                recipients, &others,
                "who {}'s final group message went to",
                self.devices[*sender].name
            );
            for device in others {
                assert!(
                    self.devices[device].received.contains(message),
                    "{} did not receive {}'s final group message",
                    self.devices[device].name,
                    self.devices[*sender].name
                );
            }
        }
        for device in self.active() {
            let unsent = must(self.devices[device].client().unsent(), || "unsent".into());
            assert!(
                unsent.is_empty(),
                "{} keeps group control unsent at the end",
                self.devices[device].name
            );
        }
    }
}
