//! First the client layer (`clients.rs`): three apps with their own SQLite files. Then the
//! protocol objects underneath: Alice and Bob chat over a ratchet channel, then Alice runs
//! a group.
//!
//! Both publish their cards and prekey bundles to an in-memory directory; Alice finds
//! Bob's bundle there, creates a channel and Bob joins it from her first message. They then exchange 20 messages each
//! way over a "network" that delivers some messages late, once delivers a message twice and
//! once corrupts one; halfway through, both save their identity, prekeys and channel sealed
//! with a storage key, each under its id, and restore them. At the end Bob rotates his keys, and Alice follows the chain from the
//! card she trusts to his new one. The group part is in `group.rs`. Run with `cargo run --example chat`.
//!
//! With `--server URL --app-key-file FILE` (and the `http` feature), the client layer runs
//! against a real `ratchetkit-server` instead: see `server_mode.rs`.

mod clients;
mod group;
#[cfg(feature = "http")]
mod server_mode;

use std::collections::BTreeMap;

use ratchetkit::{
    CardDirectory, Channel, Error, Identity, InMemoryDirectory, PrekeyStore, SealableState,
    StorageKey,
};

/// One party: its identity, prekeys, and the channel once there is one.
struct Party {
    identity: Identity,
    prekeys: PrekeyStore,
    channel: Option<Channel>,
    disk: Disk,
}

/// The app's storage: sealed state, each under its kind and id.
struct Disk {
    key: StorageKey,
    files: BTreeMap<String, Vec<u8>>,
}

impl Disk {
    fn name<S: SealableState>(id: &S::Id) -> String {
        format!("{}/{id}", S::KIND)
    }

    /// Seals `state` and stores it under its id; returns the sealed size.
    fn save<S: SealableState>(
        &mut self,
        rng: &mut impl rand::CryptoRng,
        state: &S,
    ) -> Result<usize, Error> {
        let sealed = self.key.seal(rng, state)?;
        let size = sealed.len();
        self.files
            .insert(Self::name::<S>(&state.state_id()), sealed);
        Ok(size)
    }

    /// Loads the state stored under `id`: opening refuses a state sealed for another id.
    fn load<S: SealableState>(&self, id: &S::Id) -> Result<S, Box<dyn std::error::Error>> {
        let name = Self::name::<S>(id);
        let sealed = self
            .files
            .get(&name)
            .ok_or_else(|| format!("nothing stored under {name}"))?;
        Ok(self.key.open(sealed, id)?)
    }
}

impl Party {
    fn new(name: &str, rng: &mut impl rand::CryptoRng) -> Result<Self, Error> {
        let identity = Identity::generate(rng, name)?;
        let mut prekeys = PrekeyStore::new(rng);
        prekeys.generate_one_time_prekeys(rng, 5)?;
        Ok(Self {
            identity,
            prekeys,
            channel: None,
            disk: Disk {
                key: StorageKey::generate(rng),
                files: BTreeMap::new(),
            },
        })
    }

    fn name(&self) -> &str {
        self.identity.card().identity()
    }

    fn send(&mut self, rng: &mut impl rand::CryptoRng, text: &str) -> Result<Vec<u8>, Error> {
        let channel = self.channel.as_mut().ok_or(Error::NotAPrekeyMessage)?;
        channel.encrypt(rng, text.as_bytes())
    }

    /// Decrypts with the channel, or joins from the message if there is no channel yet.
    fn receive(&mut self, message: &[u8]) -> Result<String, Error> {
        let plaintext = match self.channel.as_mut() {
            Some(channel) => channel.decrypt(message)?,
            None => {
                let joined = Channel::join(&self.identity, &mut self.prekeys, message)?;
                println!(
                    "  {} joined a channel with {} (card fingerprint {})",
                    self.name(),
                    joined.peer().identity(),
                    joined.peer().fingerprint()
                );
                let (channel, plaintext, _, _) = joined.into_parts();
                self.channel = Some(channel);
                plaintext
            }
        };
        Ok(String::from_utf8_lossy(&plaintext).into_owned())
    }

    /// Saves the party's whole state, drops it, and loads it back by the ids the app keeps
    /// (its identity's fingerprint, its prekey store's id, its channel's id).
    fn save_and_restore(
        &mut self,
        rng: &mut impl rand::CryptoRng,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let (identity_id, prekeys_id) = (self.identity.card().fingerprint(), self.prekeys.id());
        let mut size = self.disk.save(rng, &self.identity)? + self.disk.save(rng, &self.prekeys)?;
        let channel_id = match self.channel.take() {
            Some(channel) => {
                size += self.disk.save(rng, &channel)?;
                Some(channel.id())
            }
            None => None,
        };
        self.identity = self.disk.load(&identity_id)?;
        self.prekeys = self.disk.load(&prekeys_id)?;
        self.channel = channel_id.map(|id| self.disk.load(&id)).transpose()?;
        println!(
            "  {} saved its identity, prekeys and channel ({size} bytes sealed) and restored them; the channel's id, the same on both sides: {}",
            self.name(),
            channel_id.map(|id| id.to_string()).unwrap_or_default()
        );
        Ok(())
    }
}

fn deliver(to: &mut Party, from: &str, label: &str, message: &[u8]) -> Result<(), Error> {
    let text = to.receive(message)?;
    println!("  {from} -> {}: {label} \"{text}\"", to.name());
    Ok(())
}

/// A message the network is holding back: for Bob (true) or Alice, its label, its bytes.
type Delayed = (bool, String, Vec<u8>);

/// Delivers every held-back message; returns how many.
fn deliver_late(
    late: &mut Vec<Delayed>,
    alice: &mut Party,
    bob: &mut Party,
) -> Result<usize, Error> {
    let count = late.len();
    for (to_bob, label, message) in late.drain(..) {
        let (to, from) = if to_bob {
            (&mut *bob, "alice")
        } else {
            (&mut *alice, "bob")
        };
        deliver(to, from, &format!("{label} (late)"), &message)?;
    }
    Ok(count)
}

/// A second account on Alice's device, sealed with the same storage key, is put in place of
/// her identity: opening it with her fingerprint refuses it.
fn swap_identity(
    rng: &mut impl rand::CryptoRng,
    alice: &mut Party,
) -> Result<(), Box<dyn std::error::Error>> {
    let id = alice.identity.card().fingerprint();
    let name = Disk::name::<Identity>(&id);
    let other = Identity::generate(rng, "alice's other account")?;
    let sealed = alice.disk.key.seal(rng, &other)?;
    let genuine = alice.disk.files.insert(name.clone(), sealed);
    match alice.disk.load::<Identity>(&id) {
        Err(error) if error.downcast_ref() == Some(&Error::SealedStateRejected) => println!(
            "  another account's identity, sealed with the same key and put in place of alice's, was refused"
        ),
        other => return Err(format!("a swapped identity was not refused: {other:?}").into()),
    }
    if let Some(genuine) = genuine {
        alice.disk.files.insert(name, genuine);
    }
    Ok(())
}

/// Bob rotates his keys and publishes the new card, signed by his old key too; Alice
/// follows the chain from the card she trusts. A card someone else publishes under
/// Bob's name does not chain to it.
fn rotate(
    rng: &mut impl rand::CryptoRng,
    directory: &mut InMemoryDirectory,
    bob: &Party,
    trusted: &ratchetkit::Card,
) -> Result<(), Box<dyn std::error::Error>> {
    let rotated = bob.identity.rotate(rng)?;
    directory.publish(rotated.card().clone())?;
    directory.publish_prekeys(&rotated, &bob.prekeys)?;
    let impostor = Identity::generate(rng, "bob")?;
    directory.publish(impostor.card().clone())?;
    println!(
        "bob rotated his keys: new card {} replaces {}; someone else also published a card named bob",
        rotated.card().fingerprint(),
        trusted.fingerprint()
    );
    let newest = directory.find_newest(trusted)?;
    if newest != *rotated.card() {
        return Err("alice did not find bob's rotated card".into());
    }
    println!(
        "  alice follows the chain from the card she trusts ({} cards named bob): the newest is the rotated card, its link verified",
        directory.find("bob")?.len()
    );
    Ok(())
}

/// With arguments, the server mode (`server_mode.rs`), which needs the `http` feature.
#[cfg(feature = "http")]
fn with_arguments(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    let options = server_mode::Options::parse(args)?;
    server_mode::run(&mut rand::rng(), &options)
}

#[cfg(not(feature = "http"))]
fn with_arguments(args: &[String]) -> Result<(), Box<dyn std::error::Error>> {
    if args.iter().any(|arg| arg == "--server") {
        return Err("--server needs the `http` feature: cargo run --example chat --features http -- --server http://127.0.0.1:8080 --app-key-file ratchetkit-server.dev-app-key".into());
    }
    Err(format!("unknown arguments {args:?}: run without any for the in-process demo").into())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.is_empty() {
        return with_arguments(&args);
    }
    let mut rng = rand::rng();
    println!("== The client layer: sessions, devices and a SQLite store ==");
    clients::run(&mut rng)?;
    println!();
    println!("== The protocol objects underneath: a channel, then a group ==");
    let mut directory = InMemoryDirectory::default();
    let mut alice = Party::new("alice", &mut rng)?;
    let mut bob = Party::new("bob", &mut rng)?;
    for party in [&alice, &bob] {
        directory.publish(party.identity.card().clone())?;
        directory.publish_prekeys(&party.identity, &party.prekeys)?;
    }
    println!("alice and bob published their cards and prekey bundles to the directory");

    let bundle = directory
        .find_bundles("bob")?
        .into_iter()
        .next()
        .ok_or("bob has no bundle")?;
    println!(
        "alice found bob's bundle: card {} verified, one-time prekey {:?}",
        bundle.card().fingerprint(),
        bundle.one_time_prekey_id()
    );
    // Alice remembers the card she first talked to (trust on first use).
    let trusted_bob = bundle.card().clone();
    alice.channel = Some(Channel::create(&mut rng, &alice.identity, &bundle)?);

    let mut late: Vec<Delayed> = Vec::new();
    let mut delivered = 0;
    let mut last_from_alice = Vec::new();
    for round in 1..=10 {
        println!("round {round}");
        if round == 6 {
            alice.save_and_restore(&mut rng)?;
            bob.save_and_restore(&mut rng)?;
            swap_identity(&mut rng, &mut alice)?;
        }
        for i in 0..2 {
            let number = (round - 1) * 2 + i + 1;
            let text = format!("message {number} from alice");
            let message = alice.send(&mut rng, &text)?;
            let label = format!("#{number}");
            // Every 7th message of each side is held back and arrives rounds later.
            if number % 7 == 3 && round > 1 {
                println!("  alice -> bob: #{number} is delayed in the network");
                late.push((true, label, message));
            } else {
                deliver(&mut bob, "alice", &label, &message)?;
                delivered += 1;
                last_from_alice = message;
            }
        }
        for i in 0..2 {
            let number = (round - 1) * 2 + i + 1;
            let text = format!("message {number} from bob");
            let message = bob.send(&mut rng, &text)?;
            let label = format!("#{number}");
            if number % 7 == 5 {
                println!("  bob -> alice: #{number} is delayed in the network");
                late.push((false, label, message));
            } else {
                deliver(&mut alice, "bob", &label, &message)?;
                delivered += 1;
            }
        }
        if round % 3 == 0 {
            delivered += deliver_late(&mut late, &mut alice, &mut bob)?;
        }
        if round == 4 {
            match bob.receive(&last_from_alice) {
                Err(Error::Duplicate) => {
                    println!("  the network delivered alice's last message twice: bob rejected it as a duplicate")
                }
                other => return Err(format!("a duplicate was not rejected: {other:?}").into()),
            }
        }
        if round == 8 {
            let mut tampered = bob.send(&mut rng, "this one gets corrupted")?;
            if let Some(byte) = tampered.last_mut() {
                *byte ^= 0x01;
            }
            let before = alice.channel.as_ref().map(|c| c.to_bytes());
            match alice.receive(&tampered) {
                Err(Error::AuthenticationFailed) => println!(
                    "  a message from bob was corrupted in transit: alice rejected it (state unchanged: {})",
                    before == alice.channel.as_ref().map(|c| c.to_bytes())
                ),
                other => return Err(format!("a tampered message was accepted: {other:?}").into()),
            }
        }
    }
    delivered += deliver_late(&mut late, &mut alice, &mut bob)?;
    println!("done: {delivered} messages delivered and decrypted, 1 duplicate and 1 tampered message rejected");
    rotate(&mut rng, &mut directory, &bob, &trusted_bob)?;
    println!();
    group::run(&mut rng)
}
