//! Crash consistency of the client layer over its SQLite store: a scripted conversation is
//! run once per client call, and each run kills one client right after that call (drops it
//! with no further call, and loses what the call returned for sending), reopens it from
//! its SQLite file, and plays on. Every call writes the store at most once, as its last
//! step, so this kills the client after every single store write, and also after every
//! call that wrote nothing (where a client that did not save before returning would lose
//! state). Every run must deliver every message exactly once, never
//! use a message key twice, and end with both sides on the same channel. The script ends
//! with a group of the two: the group control a killed call made (the welcome, Bob's
//! sender key) is kept by the client until marked sent, and handed over again after the
//! restart. Likewise a message the app had not stored when it was killed: the client keeps
//! it until acknowledged, and hands it back after the restart.

#![cfg(feature = "sqlite")]

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use prost::Message;
use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::client::{
    AccountId, Changes, Client, ClientError, Event, Outgoing, RecordKey, RecordKind, Records,
    SqliteError, SqliteStore, Store,
};
use ratchetkit::client::{GroupId, Receipt};
use ratchetkit::wire::v1;
use ratchetkit::StorageKey;

/// A store that counts the writes of both sides.
struct Counted {
    inner: SqliteStore,
    writes: Rc<Cell<u64>>,
}

impl Store for Counted {
    type Error = SqliteError;
    fn load(&self, key: &RecordKey) -> core::result::Result<Option<Vec<u8>>, SqliteError> {
        self.inner.load(key)
    }
    fn load_kind(&self, kind: RecordKind) -> core::result::Result<Records, SqliteError> {
        self.inner.load_kind(kind)
    }
    fn save_changes(&mut self, changes: &Changes) -> core::result::Result<(), SqliteError> {
        self.inner.save_changes(changes)?;
        self.writes.set(self.writes.get() + 1);
        Ok(())
    }
}

type TestClient = Client<Counted>;
type Result<T> = core::result::Result<T, ClientError<SqliteError>>;

/// One party: its SQLite file, its key, the live client, and its outbox of messages the
/// app has not yet handed to the network.
struct Party {
    path: PathBuf,
    key: StorageKey,
    client: Option<TestClient>,
    /// Client calls of both sides so far.
    calls: Rc<Cell<u64>>,
    writes: Rc<Cell<u64>>,
    /// Writes of both sides when the last call started.
    writes_before: u64,
    kill_at: u64,
    outbox: VecDeque<Vec<u8>>,
    received: Vec<Vec<u8>>,
    group_received: Vec<Vec<u8>>,
    /// The receipts of the messages the app stored.
    stored: BTreeSet<Receipt>,
    /// Kept group control the restarted client handed back ([`Client::unsent`]), for the
    /// network.
    unsent_after_restart: Vec<Outgoing>,
    restarts: u32,
}

impl Party {
    fn new(
        dir: &Path,
        name: &str,
        rng: &mut ChaCha20Rng,
        (calls, writes): (&Rc<Cell<u64>>, &Rc<Cell<u64>>),
        kill_at: u64,
    ) -> Result<Self> {
        let path = dir.join(format!("{name}.sqlite"));
        let key = StorageKey::generate(rng);
        let writes_before = writes.get();
        let store = Counted {
            inner: SqliteStore::open(&path).map_err(ClientError::Store)?,
            writes: writes.clone(),
        };
        let client = Client::create(rng, store, key.clone(), name, 1_000)?;
        Ok(Self {
            path,
            key,
            client: Some(client),
            calls: calls.clone(),
            writes: writes.clone(),
            writes_before,
            kill_at,
            outbox: VecDeque::new(),
            received: Vec::new(),
            group_received: Vec::new(),
            stored: BTreeSet::new(),
            unsent_after_restart: Vec::new(),
            restarts: 0,
        })
    }

    /// The client, for one call: [`Party::crash_if_killed`] must follow the call.
    fn client(&mut self) -> &mut TestClient {
        self.writes_before = self.writes.get();
        self.client.as_mut().expect("open")
    }

    /// Ends a call: checks that it wrote at most once, and kills the client if it was the
    /// fatal call, reopening it from the file. Returns whether it did.
    fn crash_if_killed(&mut self) -> Result<bool> {
        assert!(
            self.writes.get() - self.writes_before <= 1,
            "a call wrote twice"
        );
        self.calls.set(self.calls.get() + 1);
        if self.calls.get() != self.kill_at {
            return Ok(false);
        }
        drop(self.client.take());
        let store = Counted {
            inner: SqliteStore::open(&self.path).map_err(ClientError::Store)?,
            writes: self.writes.clone(),
        };
        let mut client = Client::open(store, self.key.clone())?;
        self.unsent_after_restart.extend(client.unsent()?);
        // What the app had not stored yet comes back: store it, then acknowledge it all.
        let kept = client.unacknowledged()?;
        let receipts: Vec<Receipt> = kept.iter().map(|(receipt, _)| *receipt).collect();
        for (receipt, event) in kept {
            self.store(Some(receipt), vec![event]);
        }
        client.acknowledge(&receipts)?;
        self.client = Some(client);
        self.restarts += 1;
        Ok(true)
    }

    /// Hands kept group control to the network and marks it sent, as an app does. A kill
    /// before the hand-over loses the envelopes with the app's memory, and a kill after it
    /// but before the mark leaves them kept: either way the restart hands them over (again).
    fn hand_over(
        &mut self,
        kept: Vec<Outgoing>,
        killed: bool,
        network: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        assert!(kept.iter().all(Outgoing::is_kept));
        if !killed && !kept.is_empty() {
            network.extend(kept.iter().map(|e| e.bytes().to_vec()));
            self.client().mark_sent(&kept)?;
            self.crash_if_killed()?;
        }
        let restored = std::mem::take(&mut self.unsent_after_restart);
        if !restored.is_empty() {
            network.extend(restored.iter().map(|e| e.bytes().to_vec()));
            self.client().mark_sent(&restored)?;
            self.crash_if_killed()?;
        }
        Ok(())
    }

    /// Receives what the network holds for this party, as an app does: a copy of control
    /// it already has (handed over twice across a restart) is refused and dropped.
    fn receive_all(
        &mut self,
        rng: &mut ChaCha20Rng,
        network: &mut Vec<Vec<u8>>,
        replies: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        for envelope in std::mem::take(network) {
            let received = match self.client().receive(rng, &envelope) {
                Err(ClientError::Protocol(ratchetkit::Error::Duplicate)) => {
                    self.crash_if_killed()?;
                    continue;
                }
                other => other?,
            };
            let outgoing = received.outgoing().to_vec();
            let killed = self.crash_if_killed()?;
            if !killed {
                let receipt = received.receipt();
                self.store(receipt, received.into_events());
                self.acknowledge(receipt)?;
            }
            self.hand_over(outgoing, killed, replies)?;
        }
        Ok(())
    }

    /// Sends the oldest group message of the outbox, again after a kill.
    fn send_group(
        &mut self,
        rng: &mut ChaCha20Rng,
        group: GroupId,
        network: &mut Vec<Vec<u8>>,
        made: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        while let Some(text) = self.outbox.front().cloned() {
            let sent = self.client().encrypt_group(rng, group, &text)?;
            made.extend(sent.iter().map(|e| e.bytes().to_vec()));
            if self.crash_if_killed()? {
                continue;
            }
            network.extend(sent.into_iter().map(|e| e.into_bytes()));
            self.outbox.pop_front();
        }
        Ok(())
    }

    /// Sends the oldest message of the outbox, as an app would: the envelopes go to the
    /// network only if the client was not killed before the app could hand them over;
    /// otherwise the message stays in the outbox and is sent again after the restart.
    fn send(
        &mut self,
        rng: &mut ChaCha20Rng,
        to: AccountId,
        network: &mut Vec<Vec<u8>>,
        made: &mut Vec<Vec<u8>>,
    ) -> Result<()> {
        loop {
            let Some(text) = self.outbox.front().cloned() else {
                return Ok(());
            };
            let sent = self.client().encrypt_to(rng, to, &text)?;
            made.extend(sent.iter().map(|e| e.bytes().to_vec()));
            if self.crash_if_killed()? {
                continue;
            }
            network.extend(sent.into_iter().map(|e| e.into_bytes()));
            self.outbox.pop_front();
            return Ok(());
        }
    }

    fn receive(&mut self, rng: &mut ChaCha20Rng, envelope: &[u8]) -> Result<()> {
        let received = self.client().receive(rng, envelope)?;
        // A kill here loses the events with the app's memory: the restart hands the message
        // back (`Client::unacknowledged`).
        if self.crash_if_killed()? {
            return Ok(());
        }
        let receipt = received.receipt();
        self.store(receipt, received.into_events());
        self.acknowledge(receipt)
    }

    /// Stores the messages among `events` as the app does, with their receipt, unless it
    /// stored that receipt's message already (handed back after a restart).
    fn store(&mut self, receipt: Option<Receipt>, events: Vec<Event>) {
        if receipt.is_some_and(|receipt| !self.stored.insert(receipt)) {
            return;
        }
        for event in events {
            match event {
                Event::Message { plaintext, .. } => self.received.push(plaintext),
                Event::GroupMessage { plaintext, .. } => self.group_received.push(plaintext),
                _ => {}
            }
        }
    }

    /// Tells the client the app stored the message.
    fn acknowledge(&mut self, receipt: Option<Receipt>) -> Result<()> {
        if let Some(receipt) = receipt {
            self.client().acknowledge(&[receipt])?;
            self.crash_if_killed()?;
        }
        Ok(())
    }
}

/// The key a message used: its sender, its chain's ratchet key (for a group message, its
/// epoch) and its number in the chain. Two envelopes with the same triple would use one
/// message key twice (a group message's salt would still keep its AES key and nonce apart,
/// but the chain would have gone back: a restart lost state).
fn message_key_of(envelope: &[u8]) -> (Vec<u8>, Vec<u8>, u32) {
    let envelope = v1::Envelope::decode(envelope).expect("an envelope");
    if envelope.kind == 2 {
        let message = v1::GroupMessage::decode(envelope.payload.as_slice()).expect("a message");
        let header = v1::GroupHeader::decode(message.header.as_slice()).expect("a header");
        return (
            header.sender,
            header.epoch.to_be_bytes().to_vec(),
            header.iteration,
        );
    }
    let message = v1::ChannelMessage::decode(envelope.payload.as_slice()).expect("a message");
    let header = v1::RatchetHeader::decode(message.header.as_slice()).expect("a header");
    (envelope.sender, header.ratchet_key, header.message_number)
}

/// Runs the script, killing a client after the `kill_at`-th call (0: never). Returns the
/// number of calls and of writes.
fn run(kill_at: u64) -> Result<(u64, u64)> {
    let dir =
        std::env::temp_dir().join(format!("ratchetkit-crash-{}-{kill_at}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let mut rng = ChaCha20Rng::seed_from_u64(kill_at);
    let (calls, writes) = (Rc::new(Cell::new(0)), Rc::new(Cell::new(0)));
    let mut alice = Party::new(&dir, "alice", &mut rng, (&calls, &writes), kill_at)?;
    alice.crash_if_killed()?;
    let mut bob = Party::new(&dir, "bob", &mut rng, (&calls, &writes), kill_at)?;
    bob.crash_if_killed()?;
    let alice_account = alice
        .client
        .as_ref()
        .and_then(Client::account_id)
        .expect("first device");
    let bob_account = bob
        .client
        .as_ref()
        .and_then(Client::account_id)
        .expect("first device");
    let mut to_bob = Vec::new();
    let mut to_alice = Vec::new();
    let mut made = Vec::new();

    // Bob publishes; Alice fetches his device list and a bundle.
    let bundles = bob.client().bundles(&mut rng, 2, 1_000)?;
    let bundles = if bob.crash_if_killed()? {
        bob.client().bundles(&mut rng, 2, 1_000)?
    } else {
        bundles
    };
    let list = bob
        .client
        .as_ref()
        .and_then(Client::device_list)
        .expect("first device")
        .to_bytes();
    alice.client().add_contact(&mut rng, &list)?;
    alice.crash_if_killed()?;
    alice.client().start_sessions(&mut rng, &bundles[..1])?;
    alice.crash_if_killed()?;

    // Alice sends three messages; the network delivers them to Bob out of order.
    for text in ["a1", "a2", "a3"] {
        alice.outbox.push_back(text.into());
        alice.send(&mut rng, bob_account, &mut to_bob, &mut made)?;
    }
    for index in [1, 2, 0] {
        let envelope = to_bob[index].clone();
        bob.receive(&mut rng, &envelope)?;
    }
    // Bob replies twice; Alice sends while his replies are in flight.
    for text in ["b1", "b2"] {
        bob.outbox.push_back(text.into());
        bob.send(&mut rng, alice_account, &mut to_alice, &mut made)?;
    }
    alice.outbox.push_back("a4".into());
    alice.send(&mut rng, bob_account, &mut to_bob, &mut made)?;
    for envelope in to_alice.clone().iter().rev() {
        alice.receive(&mut rng, envelope)?;
    }
    let envelope = to_bob[3].clone();
    bob.receive(&mut rng, &envelope)?;
    // One more round each way, on the settled channel.
    alice.outbox.push_back("a5".into());
    alice.send(&mut rng, bob_account, &mut to_bob, &mut made)?;
    let envelope = to_bob[4].clone();
    bob.receive(&mut rng, &envelope)?;
    bob.outbox.push_back("b3".into());
    bob.send(&mut rng, alice_account, &mut to_alice, &mut made)?;
    let envelope = to_alice[2].clone();
    alice.receive(&mut rng, &envelope)?;

    // A group of the two: Alice's welcome, Bob's sender key back, a message each way.
    let (mut control_to_bob, mut control_to_alice) = (Vec::new(), Vec::new());
    let (group, welcome) = alice.client().create_group(&mut rng, &[bob_account])?;
    let killed = alice.crash_if_killed()?;
    alice.hand_over(welcome, killed, &mut control_to_bob)?;
    bob.receive_all(&mut rng, &mut control_to_bob, &mut control_to_alice)?;
    alice.receive_all(&mut rng, &mut control_to_alice, &mut control_to_bob)?;
    assert!(control_to_bob.is_empty(), "kill at {kill_at}");
    let (mut group_to_bob, mut group_to_alice) = (Vec::new(), Vec::new());
    alice.outbox.push_back("g1".into());
    alice.send_group(&mut rng, group, &mut group_to_bob, &mut made)?;
    bob.receive_all(&mut rng, &mut group_to_bob, &mut control_to_alice)?;
    bob.outbox.push_back("g2".into());
    bob.send_group(&mut rng, group, &mut group_to_alice, &mut made)?;
    alice.receive_all(&mut rng, &mut group_to_alice, &mut control_to_bob)?;
    assert_eq!(
        alice.group_received,
        vec![b"g2".to_vec()],
        "kill at {kill_at}"
    );
    assert_eq!(
        bob.group_received,
        vec![b"g1".to_vec()],
        "kill at {kill_at}"
    );
    assert!(control_to_alice.is_empty() && control_to_bob.is_empty());
    for party in [&alice, &bob] {
        let client = party.client.as_ref().expect("open");
        assert!(client.unsent()?.is_empty(), "kill at {kill_at}");
        assert!(client.unacknowledged()?.is_empty(), "kill at {kill_at}");
    }

    // Nothing lost, nothing twice.
    let set = |texts: &[&str]| {
        texts
            .iter()
            .map(|t| t.as_bytes().to_vec())
            .collect::<BTreeSet<_>>()
    };
    assert_eq!(bob.received.len(), 5, "kill at {kill_at}");
    assert_eq!(
        bob.received.iter().cloned().collect::<BTreeSet<_>>(),
        set(&["a1", "a2", "a3", "a4", "a5"]),
        "kill at {kill_at}"
    );
    assert_eq!(alice.received.len(), 3, "kill at {kill_at}");
    assert_eq!(
        alice.received.iter().cloned().collect::<BTreeSet<_>>(),
        set(&["b1", "b2", "b3"]),
        "kill at {kill_at}"
    );
    // No message key used twice, even by envelopes a crash kept from the network.
    let mut keys = BTreeMap::new();
    for envelope in &made {
        let key = message_key_of(envelope);
        assert!(
            keys.insert(key, ()).is_none(),
            "a message key was used twice (kill at {kill_at})"
        );
    }
    // Not forked: one channel, the same on both sides.
    let (Some(a), Some(b)) = (alice.client.as_mut(), bob.client.as_mut()) else {
        panic!("open")
    };
    let (alice_device, bob_device) = (a.device_id(), b.device_id());
    let on_alice = a.current_channel(bob_device)?;
    assert!(on_alice.is_some());
    assert_eq!(
        on_alice,
        b.current_channel(alice_device)?,
        "kill at {kill_at}"
    );
    if kill_at > 0 {
        assert_eq!(alice.restarts + bob.restarts, 1, "kill at {kill_at}");
    }
    let totals = (calls.get(), writes.get());
    drop(alice);
    drop(bob);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(totals)
}

#[test]
fn a_kill_after_any_call_or_store_write_loses_nothing_and_reuses_no_key() -> Result<()> {
    let (calls, writes) = run(0)?;
    // Every call of the script changes state, and so writes once.
    assert_eq!(calls, writes);
    assert!(writes >= 15, "{writes} writes");
    for kill_at in 1..=calls {
        run(kill_at)?;
    }
    Ok(())
}
