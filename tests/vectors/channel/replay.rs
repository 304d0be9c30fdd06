//! `ratchetkit_replays_the_conversation` of `channel-v1.json`: ratchetkit, given the listed
//! private keys through a scripted RNG, rebuilds the cards and the bundle, re-encrypts every
//! message byte for byte, decrypts every message in the listed delivery order, bob joining
//! from the first, and refuses every rejected input at its point.

use ratchetkit::{Channel, PrekeyBundle};

use super::format::{Action, Vectors};
use super::sides::{Party, Sides};
use crate::vectors::json::bytes;
use crate::vectors::replay::{identity, prekey_store};
use crate::vectors::rng::ScriptedRng;

pub fn ratchetkit_replays_the_conversation(v: &Vectors) {
    let [alice, bob] = v.identities.as_slice() else {
        panic!("two identities")
    };
    let (alice, bob) = (identity(alice), identity(bob));

    // Bob's prekey store, rebuilt from the listed secrets.
    let prekeys = &v.prekeys;
    let mut bob_prekeys = prekey_store(&prekeys.signed_prekey.secret, prekeys.signed_prekey.id);
    let secrets: Vec<&str> = prekeys
        .one_time_prekeys
        .iter()
        .map(|k| k.secret.as_str())
        .collect();
    let mut rng = ScriptedRng::new(&secrets);
    let ids = bob_prekeys
        .generate_one_time_prekeys(&mut rng, secrets.len())
        .unwrap();
    rng.assert_used_up("generate_one_time_prekeys");
    let listed_ids: Vec<u32> = prekeys.one_time_prekeys.iter().map(|k| k.id).collect();
    assert_eq!(ids, listed_ids);
    let bundle = bob_prekeys
        .bundle(&bob, Some(prekeys.bundle_one_time_prekey_id))
        .unwrap();
    assert_eq!(bundle.to_bytes(), bytes(&prekeys.bundle), "bundle");

    // Alice creates the channel from the bundle as fetched.
    let fetched = PrekeyBundle::from_bytes(&bytes(&prekeys.bundle)).unwrap();
    let mut rng = ScriptedRng::new(&[&v.x3dh.ephemeral_secret, &v.chains[0].ratchet_secret]);
    let alice_channel = Channel::create(&mut rng, &alice, &fetched).unwrap();
    rng.assert_used_up("Channel::create");
    let mut sides = Sides {
        alice,
        bob,
        bob_prekeys,
        alice_channel,
        bob_channel: None,
    };
    let mut refused = 0;

    for event in &v.timeline {
        let m = &v.messages[event.message];
        let what = format!("step {} (message {})", event.step, m.index);
        let party = Party::named(&event.party);
        match event.action {
            Action::Send => {
                // A new sending chain (but the first, drawn by create) draws its ratchet key.
                let draws: &[&str] = if m.message_number == 0 && m.chain != 0 {
                    &[&m.ratchet_secret]
                } else {
                    &[]
                };
                let mut rng = ScriptedRng::new(draws);
                let channel = sides
                    .channel(party)
                    .expect("a side sends only once it has a channel");
                let message = channel.encrypt(&mut rng, &bytes(&m.plaintext)).unwrap();
                rng.assert_used_up(&what);
                assert_eq!(hex::encode(message), m.message, "{what}: encrypt");
            }
            Action::Join => {
                assert_eq!(party, Party::Bob, "{what}: only bob joins");
                let plaintext = sides
                    .join(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: join: {error}"));
                assert_eq!(plaintext, bytes(&m.plaintext), "{what}: plaintext");
            }
            Action::Receive => {
                let channel = sides
                    .channel(party)
                    .expect("a side receives only once it has a channel");
                let plaintext = channel
                    .decrypt(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: decrypt: {error}"));
                assert_eq!(plaintext, bytes(&m.plaintext), "{what}: plaintext");
            }
        }

        // The rejected inputs of this point: the listed error, and nothing changed.
        for r in v.rejected.iter().filter(|r| r.after_step == event.step) {
            let what = format!("rejected {} ({})", r.index, r.description);
            sides.refuse(
                Party::named(&r.party),
                r.action,
                &bytes(&r.input),
                &r.expected_error,
                &what,
            );
            refused += 1;
        }
    }
    assert_eq!(refused, v.rejected.len(), "every rejected input was given");
    assert!(
        !sides
            .bob_prekeys
            .one_time_prekey_ids()
            .contains(&prekeys.bundle_one_time_prekey_id),
        "joining consumed the one-time prekey"
    );
    for party in [Party::Alice, Party::Bob] {
        let channel = sides.channel(party).expect("both sides have a channel");
        assert_eq!(
            channel.skipped_keys(),
            0,
            "{}: every skipped key was used",
            party.name()
        );
    }
}
