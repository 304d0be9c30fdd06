//! Alice and Bob chat over a ratchet channel, then Alice runs a group.
//!
//! Both publish prekey bundles to an in-memory directory; Alice fetches Bob's, creates a
//! channel and Bob joins it from her first message. They then exchange 20 messages each
//! way over a "network" that delivers some messages late, once delivers a message twice and
//! once corrupts one; halfway through, both save their channels sealed with a storage key
//! and restore them. The group part is in `group.rs`. Run with `cargo run --example chat`.

mod group;

use std::collections::HashMap;

use ratchetkit::{Channel, Error, Identity, PrekeyBundle, PrekeyStore, StorageKey};

/// What a directory server does for prekeys: hands out each one-time prekey bundle once,
/// then falls back to the bundle without one.
#[derive(Default)]
struct Directory {
    bundles: HashMap<String, (Vec<Vec<u8>>, Vec<u8>)>,
}

impl Directory {
    fn publish(&mut self, identity: &Identity, prekeys: &PrekeyStore) -> Result<(), Error> {
        let one_time = prekeys
            .one_time_prekey_ids()
            .into_iter()
            .map(|id| prekeys.bundle(identity, Some(id)).map(|b| b.to_bytes()))
            .collect::<Result<Vec<_>, _>>()?;
        let fallback = prekeys.bundle(identity, None)?.to_bytes();
        self.bundles
            .insert(identity.card().identity().to_owned(), (one_time, fallback));
        Ok(())
    }

    fn fetch(&mut self, name: &str) -> Option<Vec<u8>> {
        let (one_time, fallback) = self.bundles.get_mut(name)?;
        Some(one_time.pop().unwrap_or_else(|| fallback.clone()))
    }
}

/// One party: its identity, prekeys, and the channel once there is one.
struct Party {
    identity: Identity,
    prekeys: PrekeyStore,
    channel: Option<Channel>,
    storage_key: StorageKey,
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
            storage_key: StorageKey::generate(rng),
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
                    joined.peer.identity(),
                    joined.peer.fingerprint()
                );
                self.channel = Some(joined.channel);
                joined.plaintext
            }
        };
        Ok(String::from_utf8_lossy(&plaintext).into_owned())
    }

    fn save_and_restore(&mut self, rng: &mut impl rand::CryptoRng) -> Result<(), Error> {
        if let Some(channel) = self.channel.take() {
            let sealed = self.storage_key.seal(rng, &channel)?;
            drop(channel);
            println!(
                "  {} saved its channel ({} bytes sealed) and restored it",
                self.name(),
                sealed.len()
            );
            self.channel = Some(self.storage_key.open(&sealed)?);
        }
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

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut rng = rand::rng();
    let mut directory = Directory::default();
    let mut alice = Party::new("alice", &mut rng)?;
    let mut bob = Party::new("bob", &mut rng)?;
    directory.publish(&alice.identity, &alice.prekeys)?;
    directory.publish(&bob.identity, &bob.prekeys)?;
    println!("alice and bob published their prekey bundles");

    let bundle_bytes = directory.fetch("bob").ok_or("bob has no bundle")?;
    let bundle = PrekeyBundle::from_bytes(&bundle_bytes)?;
    println!(
        "alice fetched bob's bundle: card {} verified, one-time prekey {:?}",
        bundle.card().fingerprint(),
        bundle.one_time_prekey_id()
    );
    alice.channel = Some(Channel::create(&mut rng, &alice.identity, &bundle)?);

    let mut late: Vec<Delayed> = Vec::new();
    let mut delivered = 0;
    let mut last_from_alice = Vec::new();
    for round in 1..=10 {
        println!("round {round}");
        if round == 6 {
            alice.save_and_restore(&mut rng)?;
            bob.save_and_restore(&mut rng)?;
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
    println!();
    group::run(&mut rng)
}
