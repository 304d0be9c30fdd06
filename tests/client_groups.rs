//! Groups through the client layer: accounts as members with a sender key per device, a
//! second device that reads the group, strangers in one group meeting through it, removal,
//! a device linked later, restarts, and hostile group envelopes.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::convert::Infallible;

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::client::{
    peek, AccountId, Client, ClientError, DeviceId, EnvelopeKind, Event, GroupId, MemoryStore,
    Outgoing,
};
use ratchetkit::{Error, GroupEvent, StorageKey};

type TestClient = Client<MemoryStore>;
type Result<T> = core::result::Result<T, ClientError<Infallible>>;

/// Devices, a directory of device lists by device, and a network that delivers in order.
struct World {
    rng: ChaCha20Rng,
    devices: BTreeMap<DeviceId, (TestClient, StorageKey)>,
    lists: HashMap<DeviceId, Vec<u8>>,
    queue: VecDeque<Outgoing>,
    /// What each device received, in order.
    seen: HashMap<DeviceId, Vec<Event>>,
    /// Whether every client drops its cached sessions and groups after each delivery.
    release_memory: bool,
}

impl World {
    fn new(seed: u64) -> Self {
        Self {
            rng: ChaCha20Rng::seed_from_u64(seed),
            devices: BTreeMap::new(),
            lists: HashMap::new(),
            queue: VecDeque::new(),
            seen: HashMap::new(),
            release_memory: false,
        }
    }

    fn account(&mut self, name: &str) -> Result<(DeviceId, AccountId)> {
        let key = StorageKey::generate(&mut self.rng);
        let client = Client::create(&mut self.rng, MemoryStore::new(), key.clone(), name, 1_000)?;
        let (device, account) = (
            client.device_id(),
            client.account_id().expect("first device"),
        );
        self.devices.insert(device, (client, key));
        self.publish(device);
        Ok((device, account))
    }

    fn link(&mut self, first: DeviceId, name: &str) -> Result<DeviceId> {
        let key = StorageKey::generate(&mut self.rng);
        let mut new =
            Client::create_linked(&mut self.rng, MemoryStore::new(), key.clone(), name, 1_000)?;
        let account = self.client(first).account_id().expect("first device");
        let request = new.link_request(account);
        let (first, rng) = self.at(first);
        let list = first.link_device(rng, &request, 2_000)?;
        new.accept_device_list(&mut self.rng, &list.to_bytes())?;
        let device = new.device_id();
        self.devices.insert(device, (new, key));
        for listed in list.devices() {
            self.lists.insert(DeviceId::of(listed), list.to_bytes());
        }
        Ok(device)
    }

    fn publish(&mut self, device: DeviceId) {
        let list = self.client(device).device_list().expect("linked").clone();
        for listed in list.devices() {
            self.lists.insert(DeviceId::of(listed), list.to_bytes());
        }
    }

    fn client(&mut self, device: DeviceId) -> &mut TestClient {
        self.at(device).0
    }

    /// The device's client, and the generator to call it with.
    fn at(&mut self, device: DeviceId) -> (&mut TestClient, &mut ChaCha20Rng) {
        let client = &mut self
            .devices
            .get_mut(&device)
            .expect("a device of the world")
            .0;
        (client, &mut self.rng)
    }

    /// Makes `from` a contact of `device`'s account with sessions to all its devices.
    fn meet(&mut self, from: DeviceId, device: DeviceId) -> Result<AccountId> {
        let list = self.lists[&device].clone();
        let (client, rng) = self.at(from);
        let account = client.add_contact(rng, &list)?;
        let missing = self.client(from).missing_sessions(account)?;
        self.start(from, &missing)?;
        Ok(account)
    }

    fn start(&mut self, from: DeviceId, devices: &[DeviceId]) -> Result<()> {
        let mut bundles = Vec::new();
        for device in devices {
            let rng = &mut self.rng;
            let target = &mut self.devices.get_mut(device).expect("known").0;
            bundles.push(target.bundles(rng, 1, 1_000)?.remove(0));
        }
        let rng = &mut self.rng;
        self.devices
            .get_mut(&from)
            .expect("known")
            .0
            .start_sessions(rng, &bundles)
    }

    fn send(&mut self, outgoing: Vec<Outgoing>) {
        self.queue.extend(outgoing);
    }

    /// Delivers everything, with what it makes the receivers send; an app that is told a
    /// group waits for a session starts one (meeting the device's account first) and lets
    /// the group deliver.
    fn run(&mut self) -> Result<()> {
        while let Some(envelope) = self.queue.pop_front() {
            let to = envelope.recipient();
            let Some((client, _)) = self.devices.get_mut(&to) else {
                continue; // a removed device's copy: nobody reads it
            };
            let received = client.receive(&mut self.rng, envelope.bytes())?;
            self.queue.extend(received.outgoing().iter().cloned());
            for event in received.events() {
                if let Event::Group {
                    group,
                    event: GroupEvent::ChannelNeeded { member, .. },
                } = event
                {
                    let member = DeviceId::from_bytes(*member);
                    if self.client(to).account_of(member).is_none() {
                        let list = self.lists[&member].clone();
                        let (client, rng) = self.at(to);
                        let own = ratchetkit::client::DeviceList::from_bytes(&list)?.account_id();
                        if Some(own) == client.account_id() {
                            client.accept_device_list(rng, &list)?;
                        } else {
                            client.add_contact(rng, &list)?;
                        }
                    }
                    self.start(to, &[member])?;
                    let (group, rng) = (*group, &mut self.rng);
                    let sent = self
                        .devices
                        .get_mut(&to)
                        .expect("known")
                        .0
                        .deliver_group_pending(rng, group)?;
                    self.queue.extend(sent);
                }
            }
            self.seen
                .entry(to)
                .or_default()
                .extend(received.into_events());
            if self.release_memory {
                for (client, _) in self.devices.values_mut() {
                    client.release_memory();
                }
            }
        }
        Ok(())
    }

    fn group_messages(&self, device: DeviceId) -> Vec<(DeviceId, Vec<u8>)> {
        self.seen
            .get(&device)
            .into_iter()
            .flatten()
            .filter_map(|event| match event {
                Event::GroupMessage {
                    device, plaintext, ..
                } => Some((*device, plaintext.clone())),
                _ => None,
            })
            .collect()
    }

    fn reopen(&mut self, device: DeviceId) -> Result<()> {
        let (client, key) = self.devices.remove(&device).expect("known");
        let reopened = Client::open(client.into_store(), key.clone())?;
        self.devices.insert(device, (reopened, key));
        Ok(())
    }
}

/// Alice, Bob on a phone and a laptop, and Carol, who knows neither Bob nor his devices.
fn three_accounts(world: &mut World) -> Result<[DeviceId; 4]> {
    let (alice, _) = world.account("alice")?;
    let (bob_phone, _) = world.account("bob")?;
    let bob_laptop = world.link(bob_phone, "bob")?;
    let (carol, _) = world.account("carol")?;
    Ok([alice, bob_phone, bob_laptop, carol])
}

fn make_group(world: &mut World, [alice, bob_phone, _, carol]: [DeviceId; 4]) -> Result<GroupId> {
    let bob = world.meet(alice, bob_phone)?;
    let carol_account = world.meet(alice, carol)?;
    let rng = &mut world.rng;
    let (group, welcome) = world
        .devices
        .get_mut(&alice)
        .expect("alice")
        .0
        .create_group(rng, &[bob, carol_account])?;
    world.send(welcome);
    world.run()?;
    Ok(group)
}

fn say(world: &mut World, from: DeviceId, group: GroupId, text: &str) -> Result<()> {
    let rng = &mut world.rng;
    let sent = world
        .devices
        .get_mut(&from)
        .expect("known")
        .0
        .encrypt_group(rng, group, text.as_bytes())?;
    world.send(sent);
    world.run()
}

#[test]
fn every_device_of_every_member_reads_the_group() -> Result<()> {
    every_device_reads_the_group(World::new(1))
}

/// Memory held for sessions and groups is a cache of the store: dropping it after every
/// delivery changes nothing (a state kept only in memory would be lost here).
#[test]
fn the_group_works_the_same_when_clients_drop_their_cached_state() -> Result<()> {
    let mut world = World::new(1);
    world.release_memory = true;
    every_device_reads_the_group(world)
}

fn every_device_reads_the_group(mut world: World) -> Result<()> {
    let devices @ [alice, bob_phone, bob_laptop, carol] = three_accounts(&mut world)?;
    let group = make_group(&mut world, devices)?;
    assert_eq!(world.client(alice).group_members(group)?.len(), 4);
    assert_eq!(world.client(carol).group_members(group)?.len(), 4);

    say(&mut world, alice, group, "hello group")?;
    say(&mut world, bob_laptop, group, "from bob's laptop")?;
    say(&mut world, carol, group, "carol here")?;
    for device in devices {
        let heard: Vec<_> = world.group_messages(device);
        let expected: Vec<(DeviceId, Vec<u8>)> = [
            (alice, "hello group"),
            (bob_laptop, "from bob's laptop"),
            (carol, "carol here"),
        ]
        .into_iter()
        .filter(|(from, _)| *from != device)
        .map(|(from, text)| (from, text.as_bytes().to_vec()))
        .collect();
        assert_eq!(heard, expected, "what {device} read");
    }
    // Carol met Bob through the group: his devices are his account's, unverified.
    let bob = world.client(bob_phone).account_id().expect("linked");
    assert_eq!(world.client(carol).account_of(bob_laptop), Some(bob));
    assert!(world.client(carol).group_accounts(group)?.contains(&bob));
    assert!(world.seen[&carol].iter().any(|event| matches!(
        event,
        Event::GroupMessage { device, account: Some(account), verified: false, .. }
            if *device == bob_laptop && *account == bob
    )));
    Ok(())
}

#[test]
fn a_removed_account_reads_nothing_after_and_a_restart_keeps_the_group() -> Result<()> {
    let mut world = World::new(2);
    let devices @ [alice, bob_phone, bob_laptop, carol] = three_accounts(&mut world)?;
    let group = make_group(&mut world, devices)?;
    let carol_account = world.client(carol).account_id().expect("linked");

    let rng = &mut world.rng;
    let removal = world
        .devices
        .get_mut(&alice)
        .expect("alice")
        .0
        .remove_from_group(rng, group, carol_account)?;
    world.send(removal);
    world.run()?;
    assert!(world.seen[&carol].iter().any(|event| matches!(
        event,
        Event::Group {
            event: GroupEvent::Removed { .. },
            ..
        }
    )));

    for device in [alice, bob_phone, bob_laptop, carol] {
        world.reopen(device)?;
    }
    // A message after the removal: it reaches Bob's devices, Carol gets no copy, and a
    // copy delivered to her anyway does not decrypt.
    let rng = &mut world.rng;
    let sent = world
        .devices
        .get_mut(&bob_phone)
        .expect("bob")
        .0
        .encrypt_group(rng, group, b"without carol")?;
    let recipients: Vec<DeviceId> = sent.iter().map(Outgoing::recipient).collect();
    assert_eq!(recipients.len(), 2);
    assert!(!recipients.contains(&carol));
    let copy = sent[0].bytes().to_vec();
    world.send(sent);
    world.run()?;
    for device in [alice, bob_laptop] {
        assert_eq!(
            world
                .group_messages(device)
                .last()
                .map(|(_, text)| text.as_slice()),
            Some(&b"without carol"[..])
        );
    }
    let (carol_client, rng) = world.at(carol);
    assert!(carol_client.receive(rng, &copy).is_err());
    Ok(())
}

#[test]
fn a_device_linked_later_is_added_by_the_owner_and_reads_the_group() -> Result<()> {
    let mut world = World::new(3);
    let devices @ [alice, bob_phone, _, carol] = three_accounts(&mut world)?;
    let group = make_group(&mut world, devices)?;
    let tablet = world.link(bob_phone, "bob")?;
    let list = world.lists[&tablet].clone();
    let (alice_client, rng) = world.at(alice);
    alice_client.add_contact(rng, &list)?;
    let bob = world.client(bob_phone).account_id().expect("linked");
    let missing = world.client(alice).missing_sessions(bob)?;
    assert_eq!(missing, vec![tablet]);
    world.start(alice, &missing)?;
    let rng = &mut world.rng;
    let synced = world
        .devices
        .get_mut(&alice)
        .expect("alice")
        .0
        .sync_group_devices(rng, group)?;
    world.send(synced);
    world.run()?;
    assert!(world.client(tablet).group_members(group)?.contains(&tablet));

    say(&mut world, carol, group, "hi tablet")?;
    say(&mut world, tablet, group, "tablet here")?;
    assert_eq!(
        world.group_messages(tablet),
        vec![(carol, b"hi tablet".to_vec())]
    );
    assert!(world
        .group_messages(carol)
        .contains(&(tablet, b"tablet here".to_vec())));
    Ok(())
}

#[test]
fn a_hostile_group_envelope_changes_nothing() -> Result<()> {
    let mut world = World::new(4);
    let devices @ [alice, bob_phone, _, carol] = three_accounts(&mut world)?;
    let group = make_group(&mut world, devices)?;
    let rng = &mut world.rng;
    let sent = world
        .devices
        .get_mut(&alice)
        .expect("alice")
        .0
        .encrypt_group(rng, group, b"genuine")?;
    let to_carol = sent
        .iter()
        .find(|out| out.recipient() == carol)
        .expect("a copy for carol")
        .bytes()
        .to_vec();
    let peeked = peek(&to_carol)?;
    assert_eq!(peeked.kind, EnvelopeKind::GroupMessage);
    assert_eq!(peeked.group, Some(group));

    let (carol_client, rng) = world.at(carol);
    let before = carol_client.store().batches_saved();
    // Every single bit flipped, one at a time: refused, and nothing saved.
    for bit in (0..to_carol.len() * 8).step_by(7) {
        let mut bad = to_carol.clone();
        bad[bit / 8] ^= 1 << (bit % 8);
        assert!(carol_client.receive(rng, &bad).is_err(), "bit {bit}");
    }
    // Bob's phone cannot pass Alice's message off as its own.
    let mut relabelled = to_carol.clone();
    let (a, b) = (alice.as_bytes(), bob_phone.as_bytes());
    let at = relabelled
        .windows(32)
        .position(|window| window == a)
        .expect("sender field");
    relabelled[at..at + 32].copy_from_slice(b);
    assert!(matches!(
        carol_client.receive(rng, &relabelled),
        Err(ClientError::SenderMismatch | ClientError::Protocol(_))
    ));
    assert_eq!(carol_client.store().batches_saved(), before);
    let received = carol_client.receive(rng, &to_carol)?;
    assert_eq!(received.message(), Some(&b"genuine"[..]));
    // Once is all.
    assert!(matches!(
        carol_client.receive(rng, &to_carol),
        Err(ClientError::Protocol(Error::Duplicate))
    ));
    // A group this device is not in is refused as such, and changes nothing.
    let (bob_client, rng) = world.at(bob_phone);
    let (lonely, _) = bob_client.create_group(rng, &[])?;
    let sent = bob_client.encrypt_group(rng, lonely, b"to bob's devices")?;
    assert!(sent.iter().all(|out| out.recipient() != carol));
    let forged_for_carol = {
        let mut envelope = to_carol.clone();
        let at = envelope
            .windows(32)
            .position(|window| window == group.as_bytes())
            .expect("group id");
        envelope[at..at + 32].copy_from_slice(lonely.as_bytes());
        envelope
    };
    let (carol_client, rng) = world.at(carol);
    let saved = carol_client.store().batches_saved();
    assert!(matches!(
        carol_client.receive(rng, &forged_for_carol),
        Err(ClientError::UnknownGroup { group: unknown }) if unknown == lonely
    ));
    assert_eq!(carol_client.store().batches_saved(), saved);
    Ok(())
}

#[test]
fn group_control_is_kept_until_marked_sent_across_restarts() -> Result<()> {
    let mut world = World::new(6);
    let [alice, bob_phone, _, carol] = three_accounts(&mut world)?;
    let bob = world.meet(alice, bob_phone)?;
    let carol_account = world.meet(alice, carol)?;
    let (client, rng) = world.at(alice);
    let (group, welcome) = client.create_group(rng, &[bob])?;
    assert!(welcome.iter().all(Outgoing::is_kept));
    assert_eq!(client.unsent()?, welcome);

    // The app dies before sending: the reopened client hands the welcome back.
    world.reopen(alice)?;
    let (client, rng) = world.at(alice);
    assert_eq!(client.unsent()?, welcome);
    // New control is numbered after what is kept, and kept beside it.
    let added = client.add_to_group(rng, group, carol_account)?;
    let kept = client.unsent()?;
    assert_eq!(kept.len(), welcome.len() + added.len());
    assert_eq!(&kept[..welcome.len()], &welcome[..]);
    client.mark_sent(&welcome)?;
    assert_eq!(client.unsent()?, added);
    client.mark_sent(&added)?;
    assert!(client.unsent()?.is_empty());
    // Messages are not kept: the app encrypts them again.
    let message = client.encrypt_group(rng, group, b"not kept")?;
    assert!(message.iter().all(|envelope| !envelope.is_kept()));
    assert!(client.unsent()?.is_empty());

    world.send(welcome);
    world.send(added);
    world.run()?;
    say(&mut world, carol, group, "all in")?;
    assert!(world
        .group_messages(bob_phone)
        .contains(&(carol, b"all in".to_vec())));
    Ok(())
}

/// A member's device that leaves its account's list (a lost phone) is removed at the next
/// sync, although the owner no longer has a session with it, and gets no more copies.
#[test]
fn a_device_dropped_from_its_list_is_removed_at_the_next_sync() -> Result<()> {
    let mut world = World::new(7);
    let devices @ [alice, bob_phone, bob_laptop, carol] = three_accounts(&mut world)?;
    let group = make_group(&mut world, devices)?;
    let (bob, rng) = world.at(bob_phone);
    let list = bob.remove_device(rng, bob_laptop, 3_000)?.to_bytes();
    world.lists.insert(bob_phone, list.clone());
    let (owner, rng) = world.at(alice);
    owner.add_contact(rng, &list)?;
    let synced = owner.sync_group_devices(rng, group)?;
    assert!(!owner.group_members(group)?.contains(&bob_laptop));
    let sent = owner.encrypt_group(rng, group, b"after the laptop left")?;
    assert!(sent
        .iter()
        .all(|envelope| envelope.recipient() != bob_laptop));
    world.devices.remove(&bob_laptop);
    world.send(synced);
    world.run()?;
    world.send(sent);
    world.run()?;
    for device in [bob_phone, carol] {
        assert_eq!(
            world.group_messages(device).last(),
            Some(&(alice, b"after the laptop left".to_vec()))
        );
    }
    Ok(())
}

/// Removing (or adding) an account touches that account's devices only, never the
/// owner's own other devices.
#[test]
fn removing_an_account_leaves_the_owners_other_devices_in() -> Result<()> {
    let mut world = World::new(8);
    let devices @ [alice, _, _, carol] = three_accounts(&mut world)?;
    let alice_laptop = world.link(alice, "alice")?;
    world.start(alice, &[alice_laptop])?;
    let group = make_group(&mut world, devices)?;
    assert!(world
        .client(alice)
        .group_members(group)?
        .contains(&alice_laptop));
    let carol_account = world.client(carol).account_id().expect("linked");
    let (owner, rng) = world.at(alice);
    let removal = owner.remove_from_group(rng, group, carol_account)?;
    let members = owner.group_members(group)?;
    assert!(members.contains(&alice_laptop));
    assert!(!members.contains(&carol));
    world.send(removal);
    world.run()?;
    say(&mut world, alice_laptop, group, "still in")?;
    assert!(world
        .group_messages(alice)
        .contains(&(alice_laptop, b"still in".to_vec())));
    Ok(())
}

/// Kept ids never come back: marking a stale envelope sent again, after the counter
/// started over, deletes nothing kept since.
#[test]
fn marking_a_stale_envelope_sent_deletes_nothing_new() -> Result<()> {
    let mut world = World::new(9);
    let [alice, bob_phone, _, carol] = three_accounts(&mut world)?;
    let bob = world.meet(alice, bob_phone)?;
    let carol_account = world.meet(alice, carol)?;
    let (client, rng) = world.at(alice);
    let (group, welcome) = client.create_group(rng, &[bob])?;
    client.mark_sent(&welcome)?;
    world.reopen(alice)?;
    let (client, rng) = world.at(alice);
    let added = client.add_to_group(rng, group, carol_account)?;
    client.mark_sent(&welcome)?;
    assert_eq!(client.unsent()?, added);
    Ok(())
}

/// A member device that asks to leave is removed on its own; a device the group waits on
/// is listed, also after a restart.
#[test]
fn a_device_that_leaves_is_removed_alone_and_waiting_devices_are_listed() -> Result<()> {
    let mut world = World::new(10);
    let [alice, bob_phone, bob_laptop, carol] = three_accounts(&mut world)?;
    let bob = world.meet(alice, bob_phone)?;
    let carol_account = world.meet(alice, carol)?;
    let (owner, rng) = world.at(alice);
    let (group, welcome) = owner.create_group(rng, &[bob, carol_account])?;
    world.send(welcome);
    // Carol's device joins and waits for sessions with Bob's devices (she knows neither).
    while let Some(envelope) = world.queue.pop_front() {
        let to = envelope.recipient();
        let (client, rng) = world.at(to);
        let received = client.receive(rng, envelope.bytes())?;
        if to != carol {
            world.queue.extend(received.outgoing().iter().cloned());
        }
    }
    world.reopen(carol)?;
    let mut waiting = world.client(carol).group_waiting(group)?;
    waiting.sort();
    let mut bobs = vec![bob_phone, bob_laptop];
    bobs.sort();
    assert_eq!(waiting, bobs);

    // Bob's laptop leaves; the owner removes that device, and only it.
    let (laptop, rng) = world.at(bob_laptop);
    let request = laptop.leave_group(rng, group)?;
    world.send(request);
    world.run()?;
    assert!(world.seen[&alice].iter().any(|event| matches!(
        event,
        Event::Group { event: GroupEvent::LeaveRequested { member }, .. } if *member == *bob_laptop.as_bytes()
    )));
    let (owner, rng) = world.at(alice);
    let removal = owner.remove_group_device(rng, group, bob_laptop)?;
    let members = owner.group_members(group)?;
    assert!(!members.contains(&bob_laptop) && members.contains(&bob_phone));
    world.send(removal);
    world.run()?;
    Ok(())
}
