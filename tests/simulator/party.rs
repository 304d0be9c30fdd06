//! A party: its identity, prekeys, channels and groups, the model of them, and its saved
//! states. Saving, crashing and restarting.

use std::collections::BTreeMap;
use std::rc::Rc;

use rand::RngExt;
use ratchetkit::{Channel, Group, GroupStateId, Identity, JoinedControl, PrekeyStore};

use super::channel_model::Side;
use super::group_model::{ControlMeta, View};
use super::network::{Kind, Packet};
use super::{plain, Sim};

/// What the model knows of a party; saved and restored with its state.
#[derive(Clone)]
pub struct PartyModel {
    /// Per peer: this party's side of their channel.
    pub sides: BTreeMap<usize, Side>,
    /// Per group: this party's view.
    pub views: Vec<Option<View>>,
    /// Per group: group messages the app keeps to retry once the key or roster they wait
    /// for has arrived (`UnknownEpoch`, `NotGroupMember`, or no group yet).
    pub held: Vec<Vec<Packet>>,
    /// Group control that came in a channel's first message (decrypted by
    /// `Channel::join`) and waits for something: retried when its group has processed
    /// other control.
    pub waiting: Vec<Waiting>,
}

/// Control from a channel's first message that the app keeps to retry.
#[derive(Clone)]
pub struct Waiting {
    pub from: usize,
    pub control: Rc<ControlMeta>,
    pub jc: JoinedControl,
    pub retries: u32,
}

/// A saved state.
pub struct Save {
    prekeys: Vec<u8>,
    channels: BTreeMap<[u8; 32], Channel>,
    groups: Vec<Option<Group>>,
    model: PartyModel,
    /// How many of [`Party::inputs`] it has processed.
    inputs: usize,
}

pub struct Party {
    pub identity: Identity,
    pub prekeys: PrekeyStore,
    pub channels: BTreeMap<[u8; 32], Channel>,
    pub groups: Vec<Option<Group>>,
    pub model: PartyModel,
    /// States saved since the last output, oldest first.
    pub saves: Vec<Save>,
    /// The inputs processed since the oldest save: a restart has the server deliver them
    /// again.
    pub inputs: Vec<Packet>,
    /// Per group: the group's saved bytes while they are known not to have changed (a
    /// refused message changes nothing), so that checking a refusal costs one `to_bytes`.
    pub group_cache: Vec<Option<Vec<u8>>>,
    /// The same for channels, by peer.
    pub channel_cache: BTreeMap<[u8; 32], Vec<u8>>,
}

/// Chance that a party's app keeps a saved state to restart from after an output.
const ARM: f64 = 0.005;
/// Most saved states kept.
const MAX_SAVES: usize = 4;

impl Party {
    pub fn new(identity: Identity, prekeys: PrekeyStore, groups: usize) -> Self {
        Self {
            identity,
            prekeys,
            channels: BTreeMap::new(),
            groups: vec![None; groups],
            model: PartyModel {
                sides: BTreeMap::new(),
                views: vec![None; groups],
                held: vec![Vec::new(); groups],
                waiting: Vec::new(),
            },
            saves: Vec::new(),
            inputs: Vec::new(),
            group_cache: vec![None; groups],
            channel_cache: BTreeMap::new(),
        }
    }

    fn save(&mut self) {
        self.saves.push(Save {
            prekeys: plain(self.prekeys.to_bytes()),
            channels: self.channels.clone(),
            groups: self.groups.clone(),
            model: self.model.clone(),
            inputs: self.inputs.len(),
        });
    }

    /// The group's bytes before a decryption that must be refused.
    pub fn group_bytes_before(&mut self, g: usize) -> Vec<u8> {
        match self.group_cache[g].take() {
            Some(bytes) => bytes,
            None => plain(self.groups[g].as_ref().expect("a group").to_bytes()),
        }
    }

    /// The group and its channels changed (or may have).
    pub fn touch(&mut self, g: usize) {
        self.group_cache[g] = None;
        self.channel_cache.clear();
    }

    /// Everything may have changed.
    pub fn touch_all(&mut self) {
        self.group_cache.iter_mut().for_each(|cache| *cache = None);
        self.channel_cache.clear();
    }

    /// Every byte of the party's state that an operation on group `g` may change: the
    /// group and all its channels.
    pub fn group_bytes(&self, g: usize) -> Vec<Vec<u8>> {
        let mut bytes: Vec<Vec<u8>> = self
            .channels
            .values()
            .map(|c| plain(c.to_bytes()))
            .collect();
        if let Some(group) = &self.groups[g] {
            bytes.push(plain(group.to_bytes()));
        }
        bytes
    }

    /// What receiving a channel message from `peer` may change: that channel, or the
    /// prekey store when it joins one.
    pub fn channel_bytes(&self, peer: &[u8; 32]) -> Vec<u8> {
        match self.channels.get(peer) {
            Some(channel) => plain(channel.to_bytes()),
            None => plain(self.prekeys.to_bytes()),
        }
    }

    /// [`Party::channel_bytes`] before a decryption that must be refused.
    pub fn channel_bytes_before(&mut self, peer: &[u8; 32]) -> Vec<u8> {
        self.channel_cache
            .remove(peer)
            .unwrap_or_else(|| self.channel_bytes(peer))
    }
}

impl Sim {
    /// `p` sent something: every state it saved before is now unsafe to restart from (it
    /// would send with message keys it has used). Its app saves now, and now and then keeps
    /// the save to restart from.
    pub(super) fn output(&mut self, p: usize) {
        let party = &mut self.parties[p];
        party.saves.clear();
        party.inputs.clear();
        if self.rng.random_bool(ARM) {
            party.save();
        }
    }

    /// `p` processed an input (or kept it to retry). If a save is kept, log it, and now
    /// and then save again.
    pub(super) fn input_done(&mut self, p: usize, packet: &Packet) {
        let party = &mut self.parties[p];
        if party.saves.is_empty() {
            return;
        }
        party.inputs.push(packet.clone());
        if party.saves.len() < MAX_SAVES && self.rng.random_bool(0.2) {
            party.save();
        }
    }

    /// `p` crashes and restarts from one of the states it saved since its last output,
    /// loaded from bytes; whatever it processed after that save is delivered again.
    pub(super) fn restart(&mut self, p: usize) {
        let which = self.rng.random_range(0..self.parties[p].saves.len());
        let party = &mut self.parties[p];
        party.saves.truncate(which + 1);
        let save = party.saves.last().expect("a save");
        let prekeys = PrekeyStore::from_bytes(&save.prekeys).expect("saved prekeys load");
        assert_eq!(plain(prekeys.to_bytes()), save.prekeys);
        let channels = save
            .channels
            .iter()
            .map(|(key, channel)| {
                let bytes = plain(channel.to_bytes());
                let loaded = Channel::from_bytes(&bytes).expect("a saved channel loads");
                assert!(
                    plain(loaded.to_bytes()) == bytes,
                    "a loaded channel saves differently"
                );
                (*key, loaded)
            })
            .collect();
        let groups = save
            .groups
            .iter()
            .map(|group| {
                group.as_ref().map(|group| {
                    let bytes = plain(group.to_bytes());
                    let loaded = Group::from_bytes(&bytes).expect("a saved group loads");
                    assert!(
                        plain(loaded.to_bytes()) == bytes,
                        "a loaded group saves differently"
                    );
                    loaded
                })
            })
            .collect();
        party.prekeys = prekeys;
        party.channels = channels;
        party.groups = groups;
        party.model = save.model.clone();
        let processed = save.inputs;
        party.touch_all();
        let again = party.inputs.split_off(processed);
        self.stats.restarts += 1;
        self.stats.redelivered += again.len() as u64;
        for packet in again {
            if let Kind::Control { control, .. } = &packet.kind {
                // The restored state has not processed it.
                control.processed.set(false);
            }
            let due = self.now + super::network::delay(&mut self.rng);
            self.net.post_at(&mut self.rng, due, packet);
        }
        // Now and then the app resyncs its groups after a restart, as it must after
        // loading a save that may be older than its last (here it never is: nothing is
        // missed, and nothing must break).
        for g in 0..self.groups.len() {
            let member = self.parties[p].model.views[g]
                .as_ref()
                .is_some_and(View::is_member);
            if member && self.rng.random_bool(0.25) {
                self.op_resync(g, p, "resync: after restart");
            }
        }
    }

    /// `p` saves its whole state (sealed with its storage key one time in four), and loads
    /// it again: the loaded state must save to the same bytes, and carry on.
    pub(super) fn round_trip(&mut self, p: usize) {
        self.stats.round_trips += 1;
        let sealed = self.rng.random_bool(0.25);
        let key = &self.storage[p];
        let rng = &mut self.rng;
        let party = &mut self.parties[p];
        let identity = if sealed {
            let id = party.identity.card().fingerprint();
            key.open::<Identity>(&key.seal(rng, &party.identity).expect("seal"), &id)
        } else {
            Identity::from_bytes(&party.identity.to_bytes())
        }
        .expect("identity loads");
        assert_eq!(identity.card(), party.identity.card());
        assert!(*identity.to_bytes() == *party.identity.to_bytes());
        party.identity = identity;
        let bytes = plain(party.prekeys.to_bytes());
        let prekeys: PrekeyStore = if sealed {
            key.open(
                &key.seal(rng, &party.prekeys).expect("seal"),
                &party.prekeys.id(),
            )
        } else {
            PrekeyStore::from_bytes(&bytes)
        }
        .expect("prekeys load");
        assert!(plain(prekeys.to_bytes()) == bytes);
        party.prekeys = prekeys;
        for channel in party.channels.values_mut() {
            let bytes = plain(channel.to_bytes());
            let loaded: Channel = if sealed {
                key.open(&key.seal(rng, channel).expect("seal"), &channel.id())
            } else {
                Channel::from_bytes(&bytes)
            }
            .expect("channel loads");
            assert!(
                plain(loaded.to_bytes()) == bytes,
                "a loaded channel saves differently"
            );
            *channel = loaded;
        }
        party.touch_all();
        for group in party.groups.iter_mut().flatten() {
            let bytes = plain(group.to_bytes());
            let loaded: Group = if sealed {
                let id = GroupStateId::new(group.group_id(), group.me());
                key.open(&key.seal(rng, group).expect("seal"), &id)
            } else {
                Group::from_bytes(&bytes)
            }
            .expect("group loads");
            assert!(
                plain(loaded.to_bytes()) == bytes,
                "a loaded group saves differently"
            );
            *group = loaded;
        }
    }
}
