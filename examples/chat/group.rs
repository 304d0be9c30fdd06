//! The group part of the demo: everyone publishes an app-approved card and prekeys to a
//! directory that takes only approved cards, and starts channels from the bundles found
//! there. Alice creates a group with Bob and Carol; they talk over a network that
//! delivers late and twice; Alice adds Dave, who has no channel yet (the others start
//! one from his bundle and the control rides its first message; he cannot read what came
//! before), removes Bob (who cannot read what follows), and Carol rekeys. Then the
//! network loses Dave's new sender key on its way to Carol, who cannot read him until she
//! asks for a resync; and Alice hands the group over to Carol, leaves, and Carol removes
//! her.

use std::collections::{HashMap, VecDeque};

use ratchetkit::group::{JoinedControl, Outgoing};
use ratchetkit::{
    AppKey, Card, CardDirectory, CardPolicy, Channel, Error, Group, GroupEvent, Identity,
    InMemoryDirectory, PrekeyStore, Received,
};

type Rng = rand::rngs::ThreadRng;
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// One member: identity, prekeys, channels to the others by identity key, and the group.
struct Member {
    identity: Identity,
    prekeys: PrekeyStore,
    channels: HashMap<[u8; 32], Channel>,
    group: Option<Group>,
}

impl Member {
    fn name(&self) -> &str {
        self.identity.card().identity()
    }

    fn key(&self) -> [u8; 32] {
        self.identity.card().signing_key()
    }

    fn group(&mut self) -> Result<&mut Group> {
        let name = self.name().to_owned();
        self.group
            .as_mut()
            .ok_or_else(|| format!("{name} is not in the group").into())
    }
}

/// What the network carries: a channel message, or group control that came in the first
/// message of a channel and waits to be processed again.
enum Wire {
    Message(Vec<u8>),
    Joined(JoinedControl),
}

/// Everyone, the directory, the group control the network is carrying (from, to, what),
/// and a loss the network has in store: the next control from `.0` to `.1` disappears.
struct Network {
    members: Vec<Member>,
    directory: InMemoryDirectory,
    control: VecDeque<(usize, usize, Wire)>,
    lose: Option<(usize, usize)>,
}

const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;
const DAVE: usize = 3;

impl Network {
    fn index(&self, key: &[u8; 32]) -> Option<usize> {
        self.members.iter().position(|member| member.key() == *key)
    }

    fn name_of(&self, key: &[u8; 32]) -> &str {
        self.index(key).map_or("?", |i| self.members[i].name())
    }

    /// Starts a channel from `i` to `j` and waits for the reply that establishes it.
    fn connect(&mut self, rng: &mut Rng, i: usize, j: usize) -> Result<()> {
        let name = self.members[j].name().to_owned();
        let bundle = self
            .directory
            .find_bundles(&name)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{name} has no bundle"))?;
        let mut created = Channel::create(rng, &self.members[i].identity, &bundle)?;
        let hello = created.encrypt(rng, b"hello")?;
        let member = &mut self.members[j];
        let mut joined =
            Channel::join(&member.identity, &mut member.prekeys, &hello)?.into_channel();
        created.decrypt(&joined.encrypt(rng, b"hi")?)?;
        let (key_i, key_j) = (self.members[i].key(), self.members[j].key());
        self.members[i].channels.insert(key_j, created);
        self.members[j].channels.insert(key_i, joined);
        Ok(())
    }

    /// `i`'s group needs a channel to `j`: `i` starts one from `j`'s bundle and its group
    /// sends what waited, on the channel's first message; unless `j` already started one
    /// to `i`, whose first message will bring it.
    fn channel_needed(&mut self, rng: &mut Rng, i: usize, j: usize) -> Result<()> {
        let (me, peer) = (self.members[i].key(), self.members[j].key());
        if self.members[j].channels.contains_key(&me) {
            println!(
                "  {} waits for the channel {} already started",
                self.members[i].name(),
                self.members[j].name()
            );
            return Ok(());
        }
        let name = self.members[j].name().to_owned();
        let bundle = self
            .directory
            .find_bundles(&name)?
            .into_iter()
            .next()
            .ok_or_else(|| format!("{name} has no bundle"))?;
        let member = &mut self.members[i];
        member
            .channels
            .insert(peer, Channel::create(rng, &member.identity, &bundle)?);
        let group = member.group.as_mut().ok_or("not in the group")?;
        let received = group.deliver_pending(rng, &mut member.channels);
        println!(
            "  {} starts a channel to {name} from the directory; the waiting control rides its first message",
            member.name()
        );
        self.handle(rng, i, received)
    }

    /// Reports what happened at `at`, starts the channels its group asks for, and sends
    /// what it must send.
    fn handle(&mut self, rng: &mut Rng, at: usize, received: Received) -> Result<()> {
        self.post(at, received.outgoing().to_vec());
        for event in received.events() {
            self.describe(at, event);
            if let GroupEvent::ChannelNeeded { member, .. } = event {
                let j = self.index(member).ok_or("an unknown member")?;
                self.channel_needed(rng, at, j)?;
            }
        }
        Ok(())
    }

    /// `who` changes the group with `operation`, and the network delivers all the control
    /// that follows.
    fn change(
        &mut self,
        rng: &mut Rng,
        who: usize,
        operation: impl FnOnce(
            &mut Group,
            &Identity,
            &mut HashMap<[u8; 32], Channel>,
            &mut Rng,
        ) -> std::result::Result<Received, Error>,
    ) -> Result<()> {
        let Member {
            identity,
            channels,
            group,
            ..
        } = &mut self.members[who];
        let group = group.as_mut().ok_or("not in the group")?;
        let received = operation(group, identity, channels, rng)?;
        self.handle(rng, who, received)?;
        self.deliver_control(rng)
    }

    fn post(&mut self, from: usize, outgoing: Vec<Outgoing>) {
        for out in outgoing {
            if let Some(to) = self.index(&out.to()) {
                self.control
                    .push_back((from, to, Wire::Message(out.message().to_vec())));
            }
        }
    }

    /// Hands one control message to its recipient: joins the channel it starts if
    /// there is none yet, then `join` for a member without the group, `receive`
    /// otherwise. On an error, gives back what to try again.
    fn deliver(
        &mut self,
        rng: &mut Rng,
        from: usize,
        to: usize,
        wire: Wire,
    ) -> std::result::Result<Received, (Error, Wire)> {
        let from_key = self.members[from].key();
        let member = &mut self.members[to];
        let wire = match wire {
            Wire::Message(message) if !member.channels.contains_key(&from_key) => {
                let joined = match Channel::join(&member.identity, &mut member.prekeys, &message) {
                    Ok(joined) => joined,
                    Err(error) => return Err((error, Wire::Message(message))),
                };
                println!(
                    "  {} joined a channel with {} from its first message, which carries group control",
                    member.name(),
                    joined.peer().identity()
                );
                let (channel, _, _, control) = joined.into_parts();
                member.channels.insert(from_key, channel);
                match control {
                    Some(control) => Wire::Joined(control),
                    None => return Ok(Received::default()),
                }
            }
            other => other,
        };
        let result = match (&mut member.group, &wire) {
            (Some(group), Wire::Message(message)) => {
                group.receive(rng, &mut member.channels, &from_key, message)
            }
            (Some(group), Wire::Joined(control)) => {
                group.receive_control(rng, &mut member.channels, control)
            }
            (None, Wire::Message(message)) => Group::join(
                rng,
                &member.identity,
                &mut member.channels,
                &from_key,
                message,
            )
            .map(|(group, received)| {
                member.group = Some(group);
                received
            }),
            (None, Wire::Joined(control)) => {
                Group::join_control(rng, &member.identity, &mut member.channels, control).map(
                    |(group, received)| {
                        member.group = Some(group);
                        received
                    },
                )
            }
        };
        result.map_err(|error| (error, wire))
    }

    /// Delivers group control until none is left. Control that overtook what it depends
    /// on (a sender key from a member whose addition is still on its way) waits its turn.
    fn deliver_control(&mut self, rng: &mut Rng) -> Result<()> {
        let mut waiting = 0;
        while let Some((from, to, wire)) = self.control.pop_front() {
            if self.lose == Some((from, to)) {
                self.lose = None;
                println!(
                    "  the network loses {}'s control message to {}",
                    self.members[from].name(),
                    self.members[to].name()
                );
                continue;
            }
            match self.deliver(rng, from, to, wire) {
                Ok(received) => {
                    waiting = 0;
                    self.handle(rng, to, received)?;
                }
                Err((
                    Error::NotGroupMember { .. }
                    | Error::NotAGroupWelcome
                    | Error::RosterBehind { .. },
                    wire,
                )) if waiting <= self.control.len() => {
                    waiting += 1;
                    self.control.push_back((from, to, wire));
                }
                // A resync answer that brings nothing new.
                Err((Error::Duplicate, _)) => println!(
                    "  {} already had all that {}'s answer carries, and drops it",
                    self.members[to].name(),
                    self.members[from].name()
                ),
                // A removed member has no use for what is still on its way to it.
                Err(_)
                    if !self.members[to]
                        .group
                        .as_ref()
                        .is_some_and(Group::is_member) => {}
                Err((error, _)) => {
                    return Err(format!(
                        "control from {} to {}: {error}",
                        self.members[from].name(),
                        self.members[to].name()
                    )
                    .into())
                }
            }
        }
        Ok(())
    }

    /// The card published under `name`: approved by the app, as the directory requires.
    fn card(&self, name: &str) -> Result<Card> {
        let cards = self.directory.find(name)?;
        Ok(cards
            .last()
            .ok_or_else(|| format!("no card for {name}"))?
            .clone())
    }

    /// `from` encrypts `text` for the group.
    fn say(&mut self, rng: &mut Rng, from: usize, text: &str) -> Result<Vec<u8>> {
        let message = self.members[from].group()?.encrypt(rng, text.as_bytes())?;
        println!(
            "  {} sends \"{text}\" ({} bytes, one encryption for everyone)",
            self.members[from].name(),
            message.len()
        );
        Ok(message)
    }

    fn read(&mut self, reader: usize, message: &[u8]) -> Result<()> {
        let decrypted = self.members[reader].group()?.decrypt(message)?;
        println!(
            "    {} reads \"{}\" from {}",
            self.members[reader].name(),
            String::from_utf8_lossy(decrypted.plaintext()),
            self.name_of(&decrypted.sender())
        );
        Ok(())
    }

    /// `reader` must fail to read `message`; says why.
    fn cannot_read(&mut self, reader: usize, message: &[u8], why: &str) -> Result<()> {
        match self.members[reader].group()?.decrypt(message) {
            Err(error) => {
                println!(
                    "    {} cannot read it ({why}): {error}",
                    self.members[reader].name()
                );
                Ok(())
            }
            Ok(_) => {
                Err(format!("{} read a message it must not", self.members[reader].name()).into())
            }
        }
    }

    fn describe(&self, at: usize, event: &GroupEvent) {
        let name = |key: &[u8; 32]| self.name_of(key);
        let who = self.members[at].name();
        match event {
            GroupEvent::Joined { version } => {
                let members = self.members[at]
                    .group
                    .as_ref()
                    .map_or(0, |g| g.members().len());
                println!("  {who} joined the group at roster v{version} ({members} members)")
            }
            GroupEvent::RosterChanged {
                version,
                added,
                removed,
            } => {
                let names = |cards: &[Card]| {
                    cards
                        .iter()
                        .map(|card| card.identity().to_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                println!(
                    "  {who} processed roster v{version}: added [{}], removed [{}]",
                    names(added),
                    names(removed)
                );
            }
            GroupEvent::Removed { version } => {
                println!("  {who} learned it was removed (roster v{version})")
            }
            GroupEvent::SenderKey { sender, epoch } => {
                println!(
                    "  {who} installed {}'s sender key, epoch {epoch}",
                    name(sender)
                )
            }
            GroupEvent::LeaveRequested { member } => {
                println!("  {who} got {}'s leave request", name(member))
            }
            GroupEvent::ChannelNeeded { name, .. } => {
                println!("  {who} has no channel to {name}: its control for {name} waits")
            }
            GroupEvent::ResyncRequested { member } => {
                println!("  {who} answers {}'s resync request", name(member))
            }
            GroupEvent::OwnershipOffered { owner, version } => println!(
                "  {who} is offered the group by {} (for roster v{version})",
                name(owner)
            ),
            GroupEvent::OwnerChanged { version, owner } if *owner == self.members[at].key() => {
                println!(
                    "  {who} takes the group over: roster v{version}, signed by {who}, carries the previous owner's signed transfer"
                )
            }
            GroupEvent::OwnerChanged { version, owner } => {
                println!(
                    "  {who} sees {} own the group from roster v{version}",
                    name(owner)
                )
            }
            _ => println!("  {who}: {event:?}"),
        }
    }
}

pub fn run(rng: &mut Rng) -> Result<()> {
    println!("== group ==");
    let app = AppKey::generate(rng);
    let mut directory =
        InMemoryDirectory::with_policy(CardPolicy::require_app_signature(vec![app.public()]));
    let mut members = Vec::new();
    for name in ["alice", "bob", "carol", "dave"] {
        let identity = Identity::generate(rng, name)?;
        let mut prekeys = PrekeyStore::new(rng);
        prekeys.generate_one_time_prekeys(rng, 3)?;
        directory.publish(identity.card().approve(&app)?)?;
        directory.publish_prekeys(&identity, &prekeys)?;
        members.push(Member {
            identity,
            prekeys,
            channels: HashMap::new(),
            group: None,
        });
    }
    let unapproved = Identity::generate(rng, "mallory")?;
    match directory.publish(unapproved.card().clone()) {
        Err(error) => println!("the directory takes only app-approved cards: mallory's: {error}"),
        Ok(()) => return Err("the directory took an unapproved card".into()),
    }
    let mut net = Network {
        members,
        directory,
        control: VecDeque::new(),
        lose: None,
    };
    for (i, j) in [(ALICE, BOB), (ALICE, CAROL), (BOB, CAROL)] {
        net.connect(rng, i, j)?;
    }
    println!(
        "alice, bob and carol have channels with each other, from bundles found in the directory; dave has none yet"
    );

    let cards = [net.card("bob")?, net.card("carol")?];
    let alice = &mut net.members[ALICE];
    let (group, created) = Group::create(rng, &alice.identity, &cards, &mut alice.channels)?;
    println!(
        "alice created group {}… with bob and carol (its id is bound to her identity key)",
        hex::encode(&group.group_id()[..8])
    );
    alice.group = Some(group);
    net.handle(rng, ALICE, created)?;
    net.deliver_control(rng)?;

    println!("they talk; the network holds one message back and delivers another twice");
    let hello = net.say(rng, ALICE, "hello group")?;
    net.read(BOB, &hello)?;
    net.read(CAROL, &hello)?;
    let late = net.say(rng, BOB, "this one arrives late for carol")?;
    net.read(ALICE, &late)?;
    let next = net.say(rng, BOB, "and this one overtakes it")?;
    net.read(ALICE, &next)?;
    net.read(CAROL, &next)?;
    net.read(CAROL, &late)?;
    net.cannot_read(CAROL, &late, "delivered twice")?;

    println!("alice adds dave, who has no channel to anyone yet");
    let before_dave = net.say(rng, CAROL, "a secret from before dave")?;
    net.read(ALICE, &before_dave)?;
    let dave_card = net.card("dave")?;
    net.change(rng, ALICE, |group, identity, channels, rng| {
        group.add_member(rng, identity, &dave_card, channels)
    })?;
    net.cannot_read(DAVE, &before_dave, "sent before he joined")?;
    let welcome = net.say(rng, CAROL, "welcome dave")?;
    for reader in [ALICE, BOB, DAVE] {
        net.read(reader, &welcome)?;
    }

    println!("alice removes bob");
    let bob_key = net.members[BOB].key();
    net.change(rng, ALICE, |group, identity, channels, rng| {
        group.remove_member(rng, identity, &bob_key, channels)
    })?;
    let after_bob = net.say(rng, DAVE, "bob is gone")?;
    net.read(ALICE, &after_bob)?;
    net.read(CAROL, &after_bob)?;
    net.cannot_read(BOB, &after_bob, "removed")?;

    println!("carol rekeys");
    // A thief copies Alice's state, which holds Carol's current sender key.
    let stolen = net.members[ALICE].group()?.to_bytes();
    net.change(rng, CAROL, |group, _, channels, rng| {
        group.rekey(rng, channels)
    })?;
    let fresh = net.say(rng, CAROL, "new epoch")?;
    for reader in [ALICE, DAVE] {
        net.read(reader, &fresh)?;
    }
    let mut thief = Group::from_bytes(&stolen)?;
    match thief.decrypt(&fresh) {
        Err(error) => {
            println!(
                "    a copy of alice's state from before carol's rekey cannot read it: {error}"
            )
        }
        Ok(_) => return Err("a stolen state read a message after the rekey".into()),
    }

    println!("dave rekeys, and the network loses his new sender key on its way to carol");
    net.lose = Some((DAVE, CAROL));
    net.change(rng, DAVE, |group, _, channels, rng| {
        group.rekey(rng, channels)
    })?;
    let gap = net.say(rng, DAVE, "sent while carol misses my key")?;
    net.read(ALICE, &gap)?;
    net.cannot_read(CAROL, &gap, "she never got dave's new key")?;
    println!(
        "carol asks everyone for a resync (moving to a fresh epoch herself): the owner answers with its roster and key, every other member with its key"
    );
    net.change(rng, CAROL, |group, _, channels, rng| {
        group.resync(rng, channels)
    })?;
    let after = net.say(rng, DAVE, "can you read me now, carol?")?;
    for reader in [ALICE, CAROL] {
        net.read(reader, &after)?;
    }
    net.cannot_read(
        CAROL,
        &gap,
        "the key she got starts at dave's next message; what he sent in the gap stays unread",
    )?;

    println!("alice hands the group over to carol, then leaves");
    let carol_key = net.members[CAROL].key();
    net.change(rng, ALICE, |group, identity, channels, rng| {
        group.offer_ownership(rng, identity, &carol_key, channels)
    })?;
    let bob_card = net.card("bob")?;
    let alice = &mut net.members[ALICE];
    let group = alice.group.as_mut().ok_or("alice is not in the group")?;
    match group.add_member(rng, &alice.identity, &bob_card, &mut alice.channels) {
        Err(error) => println!("  while the offer is out, alice changes nothing: {error}"),
        Ok(_) => return Err("an owner changed the roster with an offer out".into()),
    }
    net.change(rng, CAROL, |group, identity, channels, rng| {
        group.accept_ownership(rng, identity, channels)
    })?;
    net.change(rng, ALICE, |group, _, channels, rng| {
        group.leave(rng, channels)
    })?;
    let alice_key = net.members[ALICE].key();
    net.change(rng, CAROL, |group, identity, channels, rng| {
        group.remove_member(rng, identity, &alice_key, channels)
    })?;
    let founder = net.members[CAROL].group()?.founder();
    println!(
        "  carol owns the group now; its founder is still {}",
        net.name_of(&founder)
    );
    let after_alice = net.say(rng, CAROL, "alice has left")?;
    net.read(DAVE, &after_alice)?;
    net.cannot_read(ALICE, &after_alice, "she left and was removed")?;

    let size = net.members[CAROL].group()?.to_bytes().len();
    println!("done: carol's group state is {size} bytes");
    Ok(())
}
