//! The group part of the demo: everyone publishes an app-approved card and prekeys to a
//! directory that takes only approved cards, and starts channels from the bundles found
//! there. Alice creates a group with Bob and Carol; they talk over a network that
//! delivers late and twice; Alice adds Dave (who cannot read what came
//! before), removes Bob (who cannot read what follows), and Carol rekeys.

use std::collections::{HashMap, VecDeque};

use ratchetkit::group::Outgoing;
use ratchetkit::{
    AppKey, Card, CardDirectory, CardPolicy, Channel, Error, Group, GroupEvent, Identity,
    InMemoryDirectory, PrekeyStore,
};

type Rng = rand::rngs::ThreadRng;

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

    fn group(&mut self) -> Result<&mut Group, Box<dyn std::error::Error>> {
        let name = self.name().to_owned();
        self.group
            .as_mut()
            .ok_or_else(|| format!("{name} is not in the group").into())
    }
}

/// Everyone, the directory, and the group control the network is carrying: (from, to,
/// message).
struct Network {
    members: Vec<Member>,
    directory: InMemoryDirectory,
    control: VecDeque<(usize, usize, Vec<u8>)>,
}

const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;
const DAVE: usize = 3;

impl Network {
    fn index(&self, key: &[u8; 32]) -> Option<usize> {
        self.members.iter().position(|member| member.key() == *key)
    }

    /// Starts a channel from `i` to `j` and waits for the reply that establishes it:
    /// group control only travels on established channels.
    fn connect(
        &mut self,
        rng: &mut Rng,
        i: usize,
        j: usize,
    ) -> Result<(), Box<dyn std::error::Error>> {
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
        let mut joined = Channel::join(&member.identity, &mut member.prekeys, &hello)?.channel;
        created.decrypt(&joined.encrypt(rng, b"hi")?)?;
        let (key_i, key_j) = (self.members[i].key(), self.members[j].key());
        self.members[i].channels.insert(key_j, created);
        self.members[j].channels.insert(key_i, joined);
        Ok(())
    }

    /// `who` changes the group with `operation` (add, remove, rekey), and the network
    /// delivers all the control that follows.
    fn change(
        &mut self,
        rng: &mut Rng,
        who: usize,
        operation: impl FnOnce(
            &mut Group,
            &Identity,
            &mut HashMap<[u8; 32], Channel>,
            &mut Rng,
        ) -> Result<Vec<Outgoing>, Error>,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let Member {
            identity,
            channels,
            group,
            ..
        } = &mut self.members[who];
        let group = group.as_mut().ok_or("not in the group")?;
        let outgoing = operation(group, identity, channels, rng)?;
        self.post(who, outgoing);
        self.deliver_control(rng)?;
        Ok(())
    }

    fn post(&mut self, from: usize, outgoing: Vec<Outgoing>) {
        for out in outgoing {
            if let Some(to) = self.index(&out.to) {
                self.control.push_back((from, to, out.message));
            }
        }
    }

    /// Delivers group control until none is left. Control that overtook what it depends
    /// on (a sender key from a member whose addition is still on its way) waits its turn.
    fn deliver_control(&mut self, rng: &mut Rng) -> Result<(), Error> {
        let mut waiting = 0;
        while let Some((from, to, message)) = self.control.pop_front() {
            let from_key = self.members[from].key();
            let member = &mut self.members[to];
            let result = match &mut member.group {
                Some(group) => group.receive(rng, &mut member.channels, &from_key, &message),
                None => Group::join(
                    rng,
                    &member.identity,
                    &mut member.channels,
                    &from_key,
                    &message,
                )
                .map(|(group, received)| {
                    println!(
                        "  {} joined the group ({} members)",
                        member.name(),
                        group.members().len()
                    );
                    member.group = Some(group);
                    received
                }),
            };
            match result {
                Ok(received) => {
                    waiting = 0;
                    for event in &received.events {
                        describe(&self.members, to, event);
                    }
                    self.post(to, received.outgoing);
                }
                Err(
                    Error::NotGroupMember { .. }
                    | Error::NotAGroupWelcome
                    | Error::RosterBehind { .. },
                ) if waiting <= self.control.len() => {
                    waiting += 1;
                    self.control.push_back((from, to, message));
                }
                Err(error) => return Err(error),
            }
        }
        Ok(())
    }

    /// The card published under `name`: approved by the app, as the directory requires.
    fn card(&self, name: &str) -> Result<Card, Box<dyn std::error::Error>> {
        let cards = self.directory.find(name)?;
        Ok(cards
            .last()
            .ok_or_else(|| format!("no card for {name}"))?
            .clone())
    }

    fn name_of(&self, key: &[u8; 32]) -> &str {
        self.index(key).map_or("?", |i| self.members[i].name())
    }

    /// `from` encrypts `text` for the group.
    fn say(&mut self, from: usize, text: &str) -> Result<Vec<u8>, Box<dyn std::error::Error>> {
        let message = self.members[from].group()?.encrypt(text.as_bytes())?;
        println!(
            "  {} sends \"{text}\" ({} bytes, one encryption for everyone)",
            self.members[from].name(),
            message.len()
        );
        Ok(message)
    }

    fn read(&mut self, reader: usize, message: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
        let decrypted = self.members[reader].group()?.decrypt(message)?;
        println!(
            "    {} reads \"{}\" from {}",
            self.members[reader].name(),
            String::from_utf8_lossy(&decrypted.plaintext),
            self.name_of(&decrypted.sender)
        );
        Ok(())
    }

    /// `reader` must fail to read `message`; says why.
    fn cannot_read(
        &mut self,
        reader: usize,
        message: &[u8],
        why: &str,
    ) -> Result<(), Box<dyn std::error::Error>> {
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
}

fn describe(members: &[Member], at: usize, event: &GroupEvent) {
    let name = |key: &[u8; 32]| {
        members
            .iter()
            .find(|member| member.key() == *key)
            .map_or("?", Member::name)
    };
    let who = members[at].name();
    match event {
        GroupEvent::RosterChanged {
            version,
            added,
            removed,
        } => {
            let names = |cards: &[ratchetkit::Card]| {
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
        _ => println!("  {who}: {event:?}"),
    }
}

pub fn run(rng: &mut Rng) -> Result<(), Box<dyn std::error::Error>> {
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
    };
    for i in 0..4 {
        for j in i + 1..4 {
            net.connect(rng, i, j)?;
        }
    }
    println!(
        "everyone has an established channel with everyone, from bundles found in the directory"
    );

    let mut group_id = [0u8; 16];
    rand::Rng::fill_bytes(rng, &mut group_id);
    let cards = [net.card("bob")?, net.card("carol")?];
    let alice = &mut net.members[ALICE];
    let (group, outgoing) =
        Group::create(rng, &alice.identity, &group_id, &cards, &mut alice.channels)?;
    alice.group = Some(group);
    println!(
        "alice created group {} with bob and carol",
        hex::encode(group_id)
    );
    net.post(ALICE, outgoing);
    net.deliver_control(rng)?;

    println!("they talk; the network holds one message back and delivers another twice");
    let hello = net.say(ALICE, "hello group")?;
    net.read(BOB, &hello)?;
    net.read(CAROL, &hello)?;
    let late = net.say(BOB, "this one arrives late for carol")?;
    net.read(ALICE, &late)?;
    let next = net.say(BOB, "and this one overtakes it")?;
    net.read(ALICE, &next)?;
    net.read(CAROL, &next)?;
    net.read(CAROL, &late)?;
    net.cannot_read(CAROL, &late, "delivered twice")?;

    println!("alice adds dave");
    let before_dave = net.say(CAROL, "a secret from before dave")?;
    net.read(ALICE, &before_dave)?;
    let dave_card = net.card("dave")?;
    net.change(rng, ALICE, |group, identity, channels, rng| {
        group.add_member(rng, identity, &dave_card, channels)
    })?;
    net.cannot_read(DAVE, &before_dave, "sent before he joined")?;
    let welcome = net.say(CAROL, "welcome dave")?;
    for reader in [ALICE, BOB, DAVE] {
        net.read(reader, &welcome)?;
    }

    println!("alice removes bob");
    let bob_key = net.members[BOB].key();
    net.change(rng, ALICE, |group, identity, channels, rng| {
        group.remove_member(rng, identity, &bob_key, channels)
    })?;
    let after_bob = net.say(DAVE, "bob is gone")?;
    net.read(ALICE, &after_bob)?;
    net.read(CAROL, &after_bob)?;
    net.cannot_read(BOB, &after_bob, "removed")?;

    println!("carol rekeys");
    // A thief copies Alice's state, which holds Carol's current sender key.
    let stolen = net.members[ALICE].group()?.to_bytes();
    net.change(rng, CAROL, |group, _, channels, rng| {
        group.rekey(rng, channels)
    })?;
    let fresh = net.say(CAROL, "new epoch")?;
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
    let size = net.members[ALICE].group()?.to_bytes().len();
    println!("done: alice's group state is {size} bytes");
    Ok(())
}
