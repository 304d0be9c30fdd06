//! `Debug` output of every type that holds secrets shows none of them: not as hex, not as
//! a list of bytes, not as base64.

mod common;

use base64::Engine as _;
use ratchetkit::wire::v1;
use ratchetkit::{AppKey, StorageKey};

use common::groups::World;
use common::{channel_secrets, fields_at, identity_secrets, prekey_store_secrets, Pair};

/// Whether `debug` shows `secret` in any common rendering.
fn shows(debug: &str, secret: &[u8]) -> bool {
    let list = format!("{:?}", &secret[..8]);
    let list = list.trim_end_matches(']');
    debug.contains(&hex::encode(secret))
        || debug.contains(&hex::encode_upper(secret))
        || debug.contains(list)
        || debug.contains(&base64::engine::general_purpose::STANDARD.encode(secret))
}

fn assert_hidden(what: &str, debug: &str, secrets: &[Vec<u8>]) {
    assert!(!secrets.is_empty(), "{what}: no secrets to look for");
    for secret in secrets {
        assert!(secret.len() >= 8, "{what}: a secret field is too short");
        // The check itself must see a secret that is printed.
        assert!(shows(&format!("{secret:?}"), secret) && shows(&hex::encode(secret), secret));
        assert!(!shows(debug, secret), "{what} shows a secret: {debug}");
    }
}

/// The secret fields of a saved group: own chain key and signing secret, the chain keys
/// held of others, skipped message keys.
fn group_secrets(state: &[u8]) -> Vec<Vec<u8>> {
    [&[4, 2][..], &[4, 4], &[5, 2, 2], &[5, 3, 3]]
        .iter()
        .flat_map(|path| fields_at(state, path))
        .map(<[u8]>::to_vec)
        .collect()
}

#[test]
fn identities_prekeys_and_channels_hide_their_secrets() {
    let mut pair = Pair::established(1);
    // Bob gets the second message first and keeps a skipped key for the first.
    let _first = pair.send(true, b"skip me");
    let later = pair.send(true, b"arrives first");
    pair.receive(false, &later).expect("decrypts");
    for debug in [format!("{:?}", pair.alice), format!("{:#?}", pair.bob)] {
        for channel in [&pair.alice, &pair.bob] {
            assert_hidden("a channel", &debug, &channel_secrets(&channel.to_bytes()));
        }
    }
    assert!(pair.bob.skipped_keys() > 0, "a skipped key is held");
    let identity = format!("{:?} {:#?}", pair.alice_identity, pair.bob_identity);
    for person in [&pair.alice_identity, &pair.bob_identity] {
        assert_hidden(
            "an identity",
            &identity,
            &identity_secrets(&person.to_bytes()),
        );
    }
    let store = format!("{:?} {:#?}", pair.bob_prekeys, pair.bob_prekeys);
    assert_hidden(
        "a prekey store",
        &store,
        &prekey_store_secrets(&pair.bob_prekeys.to_bytes()),
    );
}

#[test]
fn groups_and_sender_key_messages_hide_their_secrets() {
    let mut world = World::new(2, 3);
    world.create_group(0, &[1, 2]);
    let messages: Vec<_> = (0..3).map(|_| world.send(1, b"x")).collect();
    world.decrypt(0, &messages[2]).expect("decrypts");
    let group = world.group(0).clone();
    let debug = format!("{group:?} {group:#?}");
    let secrets = group_secrets(&group.to_bytes());
    assert!(secrets.len() >= 5, "own key, two chains, skipped keys");
    assert_hidden("a group", &debug, &secrets);

    let distribution = v1::SenderKeyDistribution {
        group_id: vec![1; 16],
        sender: vec![2; 32],
        epoch: 0,
        iteration: 0,
        chain_key: (0..32).collect(),
        signing_key: vec![3; 32],
    };
    let mut control = v1::GroupControl::default();
    control.version = 1;
    control.sender_key = Some(distribution.clone());
    let debug = format!("{distribution:?} {control:#?}");
    assert_hidden(
        "a sender key distribution",
        &debug,
        std::slice::from_ref(&distribution.chain_key),
    );

    let key_bytes = [9u8; 32];
    let key = StorageKey::from_bytes(key_bytes);
    assert_hidden("a storage key", &format!("{key:?}"), &[key_bytes.to_vec()]);
}

#[test]
fn app_keys_hide_their_secret() {
    let secret = [7u8; 32];
    let app = AppKey::from_bytes(&secret);
    let debug = format!("{app:?} {app:#?}");
    assert_hidden("an app key", &debug, &[secret.to_vec()]);
    assert!(
        debug.contains(&hex::encode(app.public().to_bytes())),
        "shows the public key"
    );
}
