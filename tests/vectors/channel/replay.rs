//! `ratchetkit_replays_the_conversation` of `channel-v2.json`: ratchetkit, given the listed
//! private keys and random inputs through a scripted RNG, rebuilds the cards, bob's prekey
//! store and the bundles, creates both channels, re-encrypts every message byte for byte,
//! decrypts every message in the listed delivery order, bob joining each channel from the
//! first message he gets, and refuses every rejected input at its point.

use ratchetkit::{Channel, Padding, PrekeyBundle};

use super::format::{Action, PaddingName, Vectors};
use super::sides::{ChannelSides, Party, Sides};
use crate::vectors::json::bytes;
use crate::vectors::replay::{identity, prekey_store};
use crate::vectors::rng::ScriptedRng;

pub fn ratchetkit_replays_the_conversation(v: &Vectors) {
    let identities: Vec<_> = v.identities.iter().map(identity).collect();
    let names: Vec<&str> = v.identities.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, Party::ALL.map(Party::name));

    // Bob's prekey store, rebuilt from the listed draws.
    let prekeys = &v.prekeys;
    let signed = &prekeys.signed_prekey;
    let mut bob_prekeys = prekey_store([&signed.secret, &signed.kem_seed], signed.id);
    let draws: Vec<&str> = prekeys
        .one_time_prekeys
        .iter()
        .flat_map(|k| [k.secret.as_str(), k.kem_seed.as_str()])
        .collect();
    let mut rng = ScriptedRng::new(&draws);
    let ids = bob_prekeys
        .generate_one_time_prekeys(&mut rng, prekeys.one_time_prekeys.len())
        .unwrap();
    rng.assert_used_up("generate_one_time_prekeys");
    let listed_ids: Vec<u32> = prekeys.one_time_prekeys.iter().map(|k| k.id).collect();
    assert_eq!(ids, listed_ids);
    let bob = &identities[Party::Bob.index()];
    for (i, listed) in prekeys.bundles.iter().enumerate() {
        let bundle = bob_prekeys.bundle(bob, listed.one_time_prekey_id).unwrap();
        assert_eq!(bundle.to_bytes(), bytes(&listed.bundle), "bundle {i}");
    }

    let mut sides = Sides {
        identities,
        bob_prekeys,
        channels: Vec::new(),
    };
    let mut refused = 0;
    for event in &v.timeline {
        let what = format!("step {} ({:?})", event.step, event.action);
        let party = Party::named(&event.party);
        let mut rng = ScriptedRng::new(&event.draws);
        match event.action {
            Action::Create => {
                let listed = &prekeys.bundles[event.bundle.unwrap()];
                let bundle = PrekeyBundle::from_bytes(&bytes(&listed.bundle)).unwrap();
                let channel = Channel::create(&mut rng, sides.identity(party), &bundle).unwrap();
                assert_eq!(
                    channel.id().to_string(),
                    v.channels[event.channel].channel_id,
                    "{what}: channel id"
                );
                assert_eq!(sides.channels.len(), event.channel, "{what}: channel");
                sides.channels.push(ChannelSides {
                    creator: party,
                    created: channel,
                    joined: None,
                });
            }
            Action::Send => {
                let m = &v.messages[event.message.unwrap()];
                let channel = sides
                    .channel(event.channel, party)
                    .expect("a side sends only once it has a channel");
                let message = channel.encrypt(&mut rng, &bytes(&m.plaintext)).unwrap();
                assert_eq!(hex::encode(message), m.message, "{what}: encrypt");
            }
            Action::Join => {
                assert_eq!(party, Party::Bob, "{what}: only bob joins");
                let m = &v.messages[event.message.unwrap()];
                let plaintext = sides
                    .join(event.channel, &bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: join: {error}"));
                assert_eq!(plaintext, bytes(&m.plaintext), "{what}: plaintext");
            }
            Action::Receive => {
                let m = &v.messages[event.message.unwrap()];
                let channel = sides
                    .channel(event.channel, party)
                    .expect("a side receives only once it has a channel");
                let plaintext = channel
                    .decrypt(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: decrypt: {error}"));
                assert_eq!(plaintext, bytes(&m.plaintext), "{what}: plaintext");
            }
            Action::SetPadding => {
                let padding = match event.padding.unwrap() {
                    PaddingName::Padme => Padding::Padme,
                    PaddingName::Minimal => Padding::Minimal,
                };
                sides
                    .channel(event.channel, party)
                    .expect("a side sets its padding once it has the channel")
                    .set_padding(padding);
            }
        }
        rng.assert_used_up(&what);

        // The rejected inputs of this point: the listed error, and nothing changed.
        for r in v.rejected.iter().filter(|r| r.after_step == event.step) {
            let what = format!("rejected {} ({})", r.index, r.description);
            sides.refuse(
                (Party::named(&r.party), r.channel),
                r.action,
                &bytes(&r.input),
                &r.expected_error,
                &what,
            );
            refused += 1;
        }
    }
    assert_eq!(refused, v.rejected.len(), "every rejected input was given");

    // Every one-time prekey a channel used is consumed; every channel is recorded once, with
    // or without one.
    let remaining = sides.bob_prekeys.one_time_prekey_ids();
    for c in &v.channels {
        if let Some(id) = c.one_time_prekey_id {
            assert!(!remaining.contains(&id), "channel {}: consumed", c.index);
        }
    }
    assert_eq!(sides.bob_prekeys.signed_prekey_joins(), v.channels.len());
    for (index, channel) in sides.channels.iter().enumerate() {
        let joined = channel.joined.as_ref().expect("bob joined every channel");
        for side in [&channel.created, joined] {
            assert_eq!(
                side.skipped_keys(),
                0,
                "channel {index}: every skipped key was used"
            );
        }
    }
}
