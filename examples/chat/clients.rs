//! The client layer: Alice, Bob and Carol as separate apps, each with its own SQLite file,
//! a directory of device lists and prekey bundles, and a mailbox per device that holds
//! envelopes while a device is offline.
//!
//! First contact while Bob is offline, safety numbers, a restart mid-conversation, a
//! simultaneous start between Alice and Carol, a second device for Bob, a group of Alice
//! and Bob to which Alice adds Carol, who meets Bob's devices through it and is then
//! removed, and the laptop's removal.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use rand::CryptoRng;
use ratchetkit::client::{
    AccountId, Client, DeviceId, DeviceList, Event, GroupId, Outgoing, RecordKey, RecordKind,
    SqliteStore, Store,
};
use ratchetkit::{GroupEvent, LockParams, PrekeyBundle, StorageKey};

pub(crate) type AppClient = Client<SqliteStore>;
type Failure = Box<dyn std::error::Error>;

/// What the app's server does: keeps device lists and bundles, and queues envelopes for
/// each device until it fetches them. (Issue 18's server does this for real.)
#[derive(Default)]
struct Server {
    device_lists: BTreeMap<AccountId, Vec<u8>>,
    bundles: BTreeMap<DeviceId, VecDeque<PrekeyBundle>>,
    mailboxes: BTreeMap<DeviceId, VecDeque<Vec<u8>>>,
}

impl Server {
    fn publish(&mut self, client: &mut AppClient, rng: &mut impl CryptoRng) -> Result<(), Failure> {
        let list = client.device_list().ok_or("not linked")?.to_bytes();
        let account = client.account_id().ok_or("not linked")?;
        self.device_lists.insert(account, list);
        let bundles = client.bundles(rng, 3, 1_000)?;
        self.bundles.insert(client.device_id(), bundles.into());
        Ok(())
    }

    /// One bundle for each device, the one-time ones first; the last (the fallback) stays.
    fn bundles_for(&mut self, devices: &[DeviceId]) -> Vec<PrekeyBundle> {
        devices
            .iter()
            .filter_map(|device| {
                let queue = self.bundles.get_mut(device)?;
                if queue.len() > 1 {
                    queue.pop_front()
                } else {
                    queue.front().cloned()
                }
            })
            .collect()
    }

    /// Posts group control the client keeps until it is sent, then tells the client it
    /// was: a crash before that would leave it with the client, which hands it back
    /// (`Client::unsent`) when opened again.
    fn post_kept(
        &mut self,
        client: &mut AppClient,
        envelopes: Vec<Outgoing>,
    ) -> Result<(), Failure> {
        self.post(envelopes.clone());
        client.mark_sent(&envelopes)?;
        Ok(())
    }

    fn post(&mut self, envelopes: Vec<Outgoing>) {
        for envelope in envelopes {
            let recipient = envelope.recipient();
            self.mailboxes
                .entry(recipient)
                .or_default()
                .push_back(envelope.into_bytes());
        }
    }

    /// The device list that names `device`.
    fn list_of(&self, device: DeviceId) -> Option<Vec<u8>> {
        self.device_lists
            .values()
            .find(|bytes| {
                DeviceList::from_bytes(bytes).is_ok_and(|list| list.device(&device).is_some())
            })
            .cloned()
    }

    fn fetch(&mut self, device: DeviceId) -> Vec<Vec<u8>> {
        self.mailboxes
            .get_mut(&device)
            .map(|queue| queue.drain(..).collect())
            .unwrap_or_default()
    }
}

/// Opens (or creates, at `now`) the client in `path`, its storage key derived from a
/// password.
pub(crate) fn open_client(
    rng: &mut impl CryptoRng,
    path: &Path,
    name: &str,
    linked: bool,
    now: u64,
) -> Result<AppClient, Failure> {
    let mut store = SqliteStore::open(path)?;
    // Low Argon2id cost for the demo; apps keep the default (64 MiB).
    let params = LockParams::new(19_456, 2, 1)?;
    let key: StorageKey = store.storage_key_from_password(rng, name.as_bytes(), &params)?;
    let existing = store.load(&RecordKey::new(RecordKind::Device, &[]))?;
    Ok(match existing {
        Some(_) => Client::open(store, key)?,
        _ if linked => Client::create_linked(rng, store, key, name, now)?,
        _ => Client::create(rng, store, key, name, now)?,
    })
}

/// Sends `text` from `from` to `to`'s account, starting sessions first where needed.
fn send(
    rng: &mut impl CryptoRng,
    server: &mut Server,
    from: &mut AppClient,
    to: AccountId,
    text: &str,
) -> Result<(), Failure> {
    if from.contact(to).is_none() && Some(to) != from.account_id() {
        let list = server
            .device_lists
            .get(&to)
            .ok_or("no such account")?
            .clone();
        from.add_contact(rng, &list)?;
    }
    let missing = from.missing_sessions(to)?;
    if !missing.is_empty() {
        let bundles = server.bundles_for(&missing);
        from.start_sessions(rng, &bundles)?;
    }
    // Saved before it returns: the envelopes can leave at once.
    let envelopes = from.encrypt_to(rng, to, text.as_bytes())?;
    server.post(envelopes);
    Ok(())
}

/// Fetches and receives what waits in the device's mailbox; prints what happened.
fn sync(
    rng: &mut impl CryptoRng,
    server: &mut Server,
    who: &str,
    client: &mut AppClient,
) -> Result<(), Failure> {
    for envelope in server.fetch(client.device_id()) {
        let received = client.receive(rng, &envelope)?;
        // What receiving made the device send (its sender key for a group, say) leaves now:
        // it is saved already.
        server.post_kept(client, received.outgoing().to_vec())?;
        // The client keeps the message until the app says it stored it (here: printed it).
        let receipt = received.receipt();
        for event in received.into_events() {
            match event {
                Event::GroupMessage {
                    plaintext, account, ..
                } => println!(
                    "  {who} reads in the group {:?}{}",
                    String::from_utf8_lossy(&plaintext),
                    if account.is_some() {
                        ""
                    } else {
                        " (unknown sender)"
                    }
                ),
                Event::Group {
                    group,
                    event: GroupEvent::ChannelNeeded { member, .. },
                } => meet_for_group(
                    rng,
                    server,
                    who,
                    client,
                    group,
                    DeviceId::from_bytes(member),
                )?,
                Event::Group {
                    event: GroupEvent::Joined { .. },
                    ..
                } => println!("  {who} joins the group"),
                Event::Group {
                    event: GroupEvent::Removed { .. },
                    ..
                } => println!("  {who} was removed from the group"),
                Event::Group {
                    event: GroupEvent::RosterChanged { added, removed, .. },
                    ..
                } => println!(
                    "  {who} sees the group change: {} device(s) added, {} removed",
                    added.len(),
                    removed.len()
                ),
                Event::Message {
                    plaintext,
                    verified,
                    ..
                } => println!(
                    "  {who} reads {:?}{}",
                    String::from_utf8_lossy(&plaintext),
                    if verified {
                        ""
                    } else {
                        " (sender not verified)"
                    }
                ),
                Event::NewContact { account } => {
                    let short: String = account.to_string().chars().take(8).collect();
                    println!("  {who} has a new contact, account {short}…")
                }
                Event::DevicesChanged { added, removed, .. } => println!(
                    "  {who} sees devices change: {} added, {} removed",
                    added.len(),
                    removed.len()
                ),
                Event::ChannelReplaced { .. } => println!("  {who} switches to the peer's channel"),
                _ => {}
            }
        }
        if let Some(receipt) = receipt {
            client.acknowledge(&[receipt])?;
        }
    }
    Ok(())
}

/// A group waits for a session with `device`, whose account the app may not know yet:
/// fetch its device list and a bundle, start the session, and let the group deliver.
fn meet_for_group(
    rng: &mut impl CryptoRng,
    server: &mut Server,
    who: &str,
    client: &mut AppClient,
    group: GroupId,
    device: DeviceId,
) -> Result<(), Failure> {
    if client.account_of(device).is_none() {
        let list = server.list_of(device).ok_or("a device on no list")?;
        client.add_contact(rng, &list)?;
    }
    let bundles = server.bundles_for(&[device]);
    client.start_sessions(rng, &bundles)?;
    let delivered = client.deliver_group_pending(rng, group)?;
    server.post_kept(client, delivered)?;
    println!("  {who} meets a member's device it had no session with");
    Ok(())
}

/// Syncs every device until no mailbox holds anything.
fn sync_all(
    rng: &mut impl CryptoRng,
    server: &mut Server,
    devices: &mut [(&str, &mut AppClient)],
) -> Result<(), Failure> {
    while server.mailboxes.values().any(|queue| !queue.is_empty()) {
        for (who, client) in devices.iter_mut() {
            sync(rng, server, who, client)?;
        }
    }
    Ok(())
}

pub fn run(rng: &mut impl CryptoRng) -> Result<(), Failure> {
    let dir = std::env::temp_dir().join(format!("ratchetkit-chat-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run_in(rng, &dir);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run_in(rng: &mut impl CryptoRng, dir: &Path) -> Result<(), Failure> {
    let file = |name: &str| -> PathBuf { dir.join(format!("{name}.sqlite")) };
    let mut server = Server::default();
    let mut alice = open_client(rng, &file("alice"), "alice", false, 1_000)?;
    let mut bob = open_client(rng, &file("bob"), "bob", false, 1_000)?;
    let mut carol = open_client(rng, &file("carol"), "carol", false, 1_000)?;
    for client in [&mut alice, &mut bob, &mut carol] {
        server.publish(client, rng)?;
    }
    let account = |client: &AppClient| client.account_id().ok_or("not linked");
    let (alice_id, bob_id, carol_id) = (account(&alice)?, account(&bob)?, account(&carol)?);

    println!("First contact, while Bob is offline:");
    send(rng, &mut server, &mut alice, bob_id, "hi Bob, it's Alice")?;
    send(rng, &mut server, &mut alice, bob_id, "are you there?")?;
    println!("  2 envelopes wait in Bob's mailbox");
    sync(rng, &mut server, "Bob", &mut bob)?;

    println!("Safety numbers:");
    let on_bob = bob.safety_number(alice_id)?;
    let on_alice = alice.safety_number(bob_id)?;
    println!("  Bob's screen:   {on_bob}");
    println!("  Alice's screen: {on_alice}");
    on_alice.verify_qr_payload(&on_bob.qr_payload())?;
    bob.mark_verified(rng, alice_id, true)?;
    alice.mark_verified(rng, bob_id, true)?;
    println!("  they match (Alice scanned Bob's code): both mark the other verified");

    println!("A restart mid-conversation:");
    send(
        rng,
        &mut server,
        &mut bob,
        alice_id,
        "here! restarting my phone",
    )?;
    drop(bob);
    let mut bob = open_client(rng, &file("bob"), "bob", false, 1_000)?;
    println!(
        "  Bob's client reopened from {}",
        file("bob")
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("bob.sqlite")
    );
    sync(rng, &mut server, "Alice", &mut alice)?;
    send(rng, &mut server, &mut alice, bob_id, "welcome back")?;
    sync(rng, &mut server, "Bob", &mut bob)?;

    println!("A simultaneous start: Alice and Carol write to each other at once:");
    send(rng, &mut server, &mut alice, carol_id, "hello Carol")?;
    send(rng, &mut server, &mut carol, alice_id, "hello Alice")?;
    sync(rng, &mut server, "Carol", &mut carol)?;
    sync(rng, &mut server, "Alice", &mut alice)?;
    send(rng, &mut server, &mut alice, carol_id, "we crossed")?;
    send(rng, &mut server, &mut carol, alice_id, "we did")?;
    sync(rng, &mut server, "Carol", &mut carol)?;
    sync(rng, &mut server, "Alice", &mut alice)?;
    let (on_alice, on_carol) = (
        alice.current_channel(carol.device_id())?,
        carol.current_channel(alice.device_id())?,
    );
    if on_alice.is_none() || on_alice != on_carol {
        return Err("Alice and Carol did not settle on one channel".into());
    }
    println!("  both settled on one channel");

    println!("Bob adds a laptop:");
    let mut laptop = open_client(rng, &file("bob-laptop"), "bob", true, 1_000)?;
    // The laptop consents to Bob's account, whose id Bob's phone shows it.
    let bob_account = bob.account_id().ok_or("Bob's phone holds the account")?;
    let list = bob.link_device(rng, &laptop.link_request(bob_account), 2_000)?;
    laptop.accept_device_list(rng, &list.to_bytes())?;
    server.publish(&mut laptop, rng)?;
    alice.add_contact(rng, &list.to_bytes())?;
    send(
        rng,
        &mut server,
        &mut alice,
        bob_id,
        "hi to both your devices",
    )?;
    sync(rng, &mut server, "Bob's phone", &mut bob)?;
    sync(rng, &mut server, "Bob's laptop", &mut laptop)?;
    send(rng, &mut server, &mut bob, alice_id, "sent from my phone")?;
    sync(rng, &mut server, "Alice", &mut alice)?;
    sync(rng, &mut server, "Bob's laptop (a copy)", &mut laptop)?;

    println!("A group: Alice and Bob (phone and laptop), then Alice adds Carol:");
    let (group, welcome) = alice.create_group(rng, &[bob_id])?;
    server.post_kept(&mut alice, welcome)?;
    let added = alice.add_to_group(rng, group, carol_id)?;
    server.post_kept(&mut alice, added)?;
    fn everyone<'a>(
        alice: &'a mut AppClient,
        bob: &'a mut AppClient,
        laptop: &'a mut AppClient,
        carol: &'a mut AppClient,
    ) -> [(&'static str, &'a mut AppClient); 4] {
        [
            ("Alice", alice),
            ("Bob's phone", bob),
            ("Bob's laptop", laptop),
            ("Carol", carol),
        ]
    }
    sync_all(
        rng,
        &mut server,
        &mut everyone(&mut alice, &mut bob, &mut laptop, &mut carol),
    )?;
    server.post(alice.encrypt_group(rng, group, b"hello group")?);
    server.post(laptop.encrypt_group(rng, group, b"Bob here, on my laptop")?);
    sync_all(
        rng,
        &mut server,
        &mut everyone(&mut alice, &mut bob, &mut laptop, &mut carol),
    )?;
    println!("Alice removes Carol from the group:");
    let removal = alice.remove_from_group(rng, group, carol_id)?;
    server.post_kept(&mut alice, removal)?;
    sync_all(
        rng,
        &mut server,
        &mut everyone(&mut alice, &mut bob, &mut laptop, &mut carol),
    )?;
    let sent = carol.encrypt_group(rng, group, b"still here?");
    println!(
        "  Carol can no longer send to it: {}",
        sent.err()
            .map(|error| error.to_string())
            .unwrap_or_default()
    );
    let to_bob = alice.encrypt_group(rng, group, b"just us now")?;
    if to_bob
        .iter()
        .any(|envelope| envelope.recipient() == carol.device_id())
    {
        return Err("a removed member still gets group messages".into());
    }
    server.post(to_bob);
    sync_all(
        rng,
        &mut server,
        &mut everyone(&mut alice, &mut bob, &mut laptop, &mut carol),
    )?;

    println!("Bob removes the laptop:");
    let list = bob.remove_device(rng, laptop.device_id(), 3_000)?;
    server.device_lists.insert(bob_id, list.to_bytes());
    alice.add_contact(rng, &list.to_bytes())?;
    let before = server.fetch(laptop.device_id()).len();
    send(rng, &mut server, &mut alice, bob_id, "only your phone now")?;
    let after = server.fetch(laptop.device_id()).len();
    sync(rng, &mut server, "Bob's phone", &mut bob)?;
    println!("  the laptop got {after} new envelopes (had {before} waiting)");
    Ok(())
}
