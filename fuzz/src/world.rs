//! Members with established channels between every pair, a newcomer with none, and a group
//! among them: the state the group targets fuzz.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use rand::rngs::ChaCha20Rng;
use ratchetkit::group::{JoinedControl, Outgoing};
use ratchetkit::{
    Channel, Error, Group, GroupEvent, Identity, PrekeyBundle, PrekeyStore, Received,
};

use crate::{identity, rng};

/// Alice, the owner.
pub const ALICE: usize = 0;
/// Bob, a member.
pub const BOB: usize = 1;
/// Carol, a member.
pub const CAROL: usize = 2;
/// Dave: channels with everyone, outside the group.
pub const DAVE: usize = 3;
/// Erin: outside the group and without a channel to anyone; she publishes a prekey
/// bundle, so the others start channels to her, and their group control rides the
/// channels' first messages.
pub const ERIN: usize = 4;

/// One party: identity, channels to other parties, and its group if it has one.
#[derive(Clone)]
pub struct Member {
    /// Shared: an identity is not `Clone`, and members are cloned per fuzz run.
    pub identity: Arc<Identity>,
    pub key: [u8; 32],
    pub channels: HashMap<[u8; 32], Channel>,
    pub group: Option<Group>,
    /// (Erin only.) The saved prekey store she joins channels with (a store is not
    /// `Clone`), and the bundle she publishes.
    pub prekeys: Option<(Vec<u8>, PrekeyBundle)>,
}

/// What travels between two parties: a channel message, or group control that came in
/// a channel's first message and waits to be processed again.
#[derive(Clone, Debug)]
pub enum Wire {
    Message(Vec<u8>),
    Joined(JoinedControl),
}

/// Control in flight: (from, to, what).
pub type Mailbox = VecDeque<(usize, usize, Wire)>;

/// Five parties; the first four with channels between every pair; Alice owns a group of
/// Alice, Bob and Carol.
pub struct World {
    pub rng: ChaCha20Rng,
    pub members: Vec<Member>,
    pub mailbox: Mailbox,
    /// The plaintext of every control message delivered, as (to, from, plaintext): seeds
    /// for the control target. Filled only under `--cfg fuzzing`, where the channel can
    /// decrypt control for us.
    pub control_log: Vec<(usize, usize, Vec<u8>)>,
    /// A loss armed by the driver: the control message to party `.0` after `.1` more to
    /// it is dropped by [`World::flush`].
    pub lose: Option<(usize, u8)>,
    /// Whether any control was lost, or waited for a channel: from then on, members'
    /// views may differ.
    pub apart: bool,
    /// Every event of every delivery, as (party, event), until the driver takes them.
    pub events: Vec<(usize, GroupEvent)>,
}

impl World {
    /// The fixture: channels established, the group created and its control delivered.
    pub fn new() -> Self {
        let mut rng = rng(3);
        let names = ["alice", "bob", "carol", "dave", "erin"];
        let mut prekeys = Vec::new();
        let members = names
            .iter()
            .map(|name| {
                let identity = Arc::new(identity(&mut rng, name));
                prekeys.push(PrekeyStore::new(&mut rng));
                Member {
                    key: identity.card().signing_key(),
                    identity,
                    channels: HashMap::new(),
                    group: None,
                    prekeys: None,
                }
            })
            .collect();
        let mut world = Self {
            rng,
            members,
            mailbox: VecDeque::new(),
            control_log: Vec::new(),
            lose: None,
            apart: false,
            events: Vec::new(),
        };
        for i in 0..ERIN {
            for j in i + 1..ERIN {
                world.connect(i, j, &mut prekeys[j]);
            }
        }
        let erin = &mut world.members[ERIN];
        let bundle = prekeys[ERIN]
            .bundle(&erin.identity, None)
            .expect("erin's bundle");
        erin.prekeys = Some((prekeys[ERIN].to_bytes().to_vec(), bundle));
        let cards = [BOB, CAROL].map(|i| world.members[i].identity.card().clone());
        let owner = &mut world.members[ALICE];
        let (group, received) =
            Group::create(&mut world.rng, &owner.identity, &cards, &mut owner.channels)
                .expect("create group");
        owner.group = Some(group);
        world.post(ALICE, received.into_parts().1);
        world.flush().expect("control of a new group");
        world.events.clear();
        assert!(!world.apart, "the fixture's views agree");
        world
    }

    fn connect(&mut self, i: usize, j: usize, prekeys: &mut PrekeyStore) {
        let bundle = prekeys
            .bundle(&self.members[j].identity, None)
            .expect("bundle");
        let mut created =
            Channel::create(&mut self.rng, &self.members[i].identity, &bundle).expect("create");
        let hello = created.encrypt(&mut self.rng, b"hello").expect("encrypt");
        let mut joined = Channel::join(&self.members[j].identity, prekeys, &hello)
            .expect("join")
            .into_channel();
        let reply = joined.encrypt(&mut self.rng, b"hi").expect("encrypt");
        created.decrypt(&reply).expect("reply");
        let (key_i, key_j) = (self.members[i].key, self.members[j].key);
        self.members[i].channels.insert(key_j, created);
        self.members[j].channels.insert(key_i, joined);
    }

    /// Party `i` starts a channel to Erin from her bundle, unless it has one, and its
    /// group sends what waited for it ([`Group::deliver_pending`]). Whether a channel was
    /// started.
    pub fn connect_to_erin(&mut self, i: usize) -> bool {
        let erin = self.members[ERIN].key;
        if i == ERIN || self.members[i].channels.contains_key(&erin) {
            return false;
        }
        let Some((_, bundle)) = &self.members[ERIN].prekeys else {
            return false;
        };
        let bundle = bundle.clone();
        let member = &mut self.members[i];
        let channel =
            Channel::create(&mut self.rng, &member.identity, &bundle).expect("a channel to erin");
        member.channels.insert(erin, channel);
        if let Some(group) = member.group.as_mut() {
            let received = group.deliver_pending(&mut self.rng, &mut member.channels);
            let (events, outgoing) = received.into_parts();
            self.record(i, events);
            self.post(i, outgoing);
        }
        true
    }

    /// The index of the member with signing key `key`.
    pub fn index(&self, key: &[u8; 32]) -> usize {
        self.members
            .iter()
            .position(|member| member.key == *key)
            .expect("a known member")
    }

    /// Queues what `from` must send.
    pub fn post(&mut self, from: usize, outgoing: Vec<Outgoing>) {
        for (to, message) in outgoing.into_iter().map(Outgoing::into_parts) {
            let to = self.index(&to);
            self.mailbox.push_back((from, to, Wire::Message(message)));
        }
    }

    /// Party `who` runs a group operation (`op` gets its group, identity, channels and
    /// the rng), and all the control that follows is delivered.
    ///
    /// # Errors
    /// The operation's error, or what [`World::flush`] returns.
    pub fn act<F>(&mut self, who: usize, op: F) -> Result<(), String>
    where
        F: FnOnce(
            &mut Group,
            &Identity,
            &mut HashMap<[u8; 32], Channel>,
            &mut ChaCha20Rng,
        ) -> Result<Received, Error>,
    {
        let member = &mut self.members[who];
        let group = member.group.as_mut().ok_or("not in the group")?;
        let received = op(group, &member.identity, &mut member.channels, &mut self.rng)
            .map_err(|error| format!("the operation of {who}: {error:?}"))?;
        let (events, outgoing) = received.into_parts();
        self.record(who, events);
        self.post(who, outgoing);
        self.flush()
    }

    /// Keeps the events of party `i`.
    pub fn record(&mut self, i: usize, events: Vec<GroupEvent>) {
        for event in events {
            self.apart |= matches!(event, GroupEvent::ChannelNeeded { .. });
            self.events.push((i, event));
        }
    }

    /// Delivers one control message (`join` for a party without the group; a first
    /// message on a channel the party does not have yet is joined, and its control
    /// processed). On an error, returns what to deliver again: a joined first message
    /// comes back as its control.
    pub fn deliver(&mut self, from: usize, to: usize, wire: Wire) -> Result<(), (Error, Wire)> {
        let from_key = self.members[from].key;
        let wire = match wire {
            Wire::Message(message) if !self.members[to].channels.contains_key(&from_key) => {
                match self.join_channel(from, to, &message) {
                    Ok(Some(control)) => Wire::Joined(control),
                    Ok(None) => return Ok(()),
                    Err(error) => return Err((error, Wire::Message(message))),
                }
            }
            other => other,
        };
        let member = &mut self.members[to];
        let result = match (&mut member.group, &wire) {
            (Some(group), Wire::Message(message)) => {
                group.receive(&mut self.rng, &mut member.channels, &from_key, message)
            }
            (Some(group), Wire::Joined(control)) => {
                group.receive_control(&mut self.rng, &mut member.channels, control)
            }
            (None, Wire::Message(message)) => Group::join(
                &mut self.rng,
                &member.identity,
                &mut member.channels,
                &from_key,
                message,
            )
            .map(|(group, received)| {
                member.group = Some(group);
                received
            }),
            (None, Wire::Joined(control)) => Group::join_control(
                &mut self.rng,
                &member.identity,
                &mut member.channels,
                control,
            )
            .map(|(group, received)| {
                member.group = Some(group);
                received
            }),
        };
        match result {
            Ok(received) => {
                let (events, outgoing) = received.into_parts();
                self.record(to, events);
                self.post(to, outgoing);
                Ok(())
            }
            Err(error) => Err((error, wire)),
        }
    }

    /// Joins the channel that `message` from `from` starts at `to` (only Erin has the
    /// prekeys for it), returning the group control it carried.
    fn join_channel(
        &mut self,
        from: usize,
        to: usize,
        message: &[u8],
    ) -> Result<Option<JoinedControl>, Error> {
        let from_key = self.members[from].key;
        let member = &mut self.members[to];
        let Some((saved, bundle)) = member.prekeys.take() else {
            return Err(Error::MissingChannel {
                member: from_key.into(),
            });
        };
        let mut prekeys = PrekeyStore::from_bytes(&saved).expect("erin's prekeys load");
        let joined = Channel::join(&member.identity, &mut prekeys, message);
        member.prekeys = Some((prekeys.to_bytes().to_vec(), bundle));
        let joined = joined?;
        assert_eq!(
            joined.peer().signing_key(),
            from_key,
            "joined with its sender"
        );
        let (channel, plaintext, _, control) = joined.into_parts();
        assert!(plaintext.is_empty(), "control has no app plaintext");
        let control = control.expect("group control rides the channel");
        assert_eq!(control.from(), from_key, "the control's sender");
        member.channels.insert(from_key, channel);
        Ok(Some(control))
    }

    /// Whether the next control message to `to` is the one an armed loss drops.
    fn lost(&mut self, to: usize) -> bool {
        match &mut self.lose {
            Some((target, 0)) if *target == to => {
                self.lose = None;
                self.apart = true;
                true
            }
            Some((target, left)) if *target == to => {
                *left -= 1;
                false
            }
            _ => false,
        }
    }

    /// Delivers control until none is left, retrying what arrived before what it depends
    /// on, as an app would. Control to a party that is not (or no longer) in the group,
    /// keys refused as stale, control from a member removed since, and answers already
    /// held (a resync's) are dropped; once
    /// control was lost or waited for a channel, so are the errors that views left apart
    /// cause.
    ///
    /// # Errors
    /// The first error that is not one of those.
    pub fn flush(&mut self) -> Result<(), String> {
        let mut stalled = 0;
        while let Some((from, to, wire)) = self.mailbox.pop_front() {
            if self.lost(to) {
                continue;
            }
            if let Wire::Message(message) = &wire {
                self.log_control(from, to, message);
            }
            match self.deliver(from, to, wire) {
                Ok(()) => stalled = 0,
                Err((
                    Error::NotGroupMember { .. }
                    | Error::NotAGroupWelcome
                    | Error::RosterBehind { .. },
                    wire,
                )) if stalled <= self.mailbox.len() => {
                    stalled += 1;
                    self.mailbox.push_back((from, to, wire));
                }
                Err(_) if !self.is_member(to) => {}
                // The last: control its sender made before it learned of its removal.
                Err((
                    Error::StaleSenderKey { .. }
                    | Error::Duplicate
                    | Error::ResyncRateLimited { .. }
                    | Error::RemovedGroupMember { .. },
                    _,
                )) => {}
                Err((error, _)) if self.apart && apart(&error) => {}
                Err((error, _)) => return Err(format!("control from {from} to {to}: {error:?}")),
            }
        }
        Ok(())
    }

    #[cfg(fuzzing)]
    fn log_control(&mut self, from: usize, to: usize, message: &[u8]) {
        let from_key = self.members[from].key;
        if let Some(channel) = self.members[to].channels.get(&from_key) {
            if let Ok(plaintext) = channel.clone().fuzzing_decrypt_group_control(message) {
                let entry = (to, from, plaintext.to_vec());
                if !self.control_log.contains(&entry) {
                    self.control_log.push(entry);
                }
            }
        }
    }

    #[cfg(not(fuzzing))]
    fn log_control(&mut self, _from: usize, _to: usize, _message: &[u8]) {}

    /// Whether party `i` is currently in the group.
    pub fn is_member(&self, i: usize) -> bool {
        self.members[i].group.as_ref().is_some_and(Group::is_member)
    }

    /// The owner: of the parties whose own group says they own it, the one with the
    /// newest roster (an owner that handed the group over but lost the new owner's
    /// roster still thinks it owns it).
    pub fn owner(&self) -> Option<usize> {
        (0..self.members.len())
            .filter(|&i| {
                self.members[i].group.as_ref().is_some_and(|group| {
                    group.is_member() && group.owner().signing_key() == self.members[i].key
                })
            })
            .max_by_key(|&i| {
                self.members[i]
                    .group
                    .as_ref()
                    .map_or(0, Group::roster_version)
            })
    }
}

/// Errors that control may meet once members' views differ after a loss or a wait for a
/// channel: a roster or key overtaken, a leave request to an owner that handed the group over, an offer to a
/// member that missed a roster.
fn apart(error: &Error) -> bool {
    matches!(
        error,
        Error::NotGroupMember { .. }
            | Error::NotAGroupWelcome
            | Error::RosterBehind { .. }
            | Error::StaleRoster { .. }
            | Error::NotGroupOwner
            | Error::RosterNotFromOwner { .. }
            | Error::NoOwnershipOffer
    )
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}
