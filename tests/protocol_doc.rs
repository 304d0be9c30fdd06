//! docs/PROTOCOL.md states every protocol string and limit in its Constants table; this
//! checks the table against the code, both ways.

use std::collections::BTreeMap;

use ratchetkit as rk;

fn documented() -> BTreeMap<String, String> {
    let document = include_str!("../docs/PROTOCOL.md");
    let table = document
        .split("## Constants")
        .nth(1)
        .expect("docs/PROTOCOL.md has a Constants section");
    table
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            match cells.as_slice() {
                [name, value] if name.trim().starts_with('`') => Some((
                    name.trim().trim_matches('`').to_owned(),
                    value.trim().trim_matches('`').to_owned(),
                )),
                _ => None,
            }
        })
        .collect()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8(bytes.to_vec()).expect("protocol strings are ASCII")
}

#[test]
fn the_constants_table_matches_the_code() {
    let code: BTreeMap<&str, String> = [
        (
            "PROTOCOL_VERSION",
            rk::channel::PROTOCOL_VERSION.to_string(),
        ),
        ("GROUP_VERSION", rk::group::GROUP_VERSION.to_string()),
        (
            "CARD_SIGNATURE_CONTEXT",
            text(rk::identity::CARD_SIGNATURE_CONTEXT),
        ),
        ("SELF_SIGNER", rk::identity::SELF_SIGNER.to_owned()),
        (
            "APP_SIGNATURE_CONTEXT",
            text(rk::identity::APP_SIGNATURE_CONTEXT),
        ),
        ("APP_SIGNER", rk::identity::APP_SIGNER.to_owned()),
        (
            "ROTATION_SIGNATURE_CONTEXT",
            text(rk::identity::ROTATION_SIGNATURE_CONTEXT),
        ),
        ("PREVIOUS_SIGNER", rk::identity::PREVIOUS_SIGNER.to_owned()),
        (
            "MAX_CARD_CHAIN_LEN",
            rk::identity::MAX_CARD_CHAIN_LEN.to_string(),
        ),
        (
            "SIGNED_PREKEY_CONTEXT",
            text(rk::identity::SIGNED_PREKEY_CONTEXT),
        ),
        (
            "ONE_TIME_PREKEY_CONTEXT",
            text(rk::identity::ONE_TIME_PREKEY_CONTEXT),
        ),
        ("PQXDH_INFO", text(rk::channel::PQXDH_INFO)),
        (
            "PREKEY_INFO_CONTEXT",
            text(rk::channel::PREKEY_INFO_CONTEXT),
        ),
        ("ROOT_INFO", text(rk::channel::ROOT_INFO)),
        ("MESSAGE_INFO", text(rk::channel::MESSAGE_INFO)),
        ("GROUP_MESSAGE_INFO", text(rk::group::GROUP_MESSAGE_INFO)),
        (
            "GROUP_SIGNATURE_CONTEXT",
            text(rk::group::GROUP_SIGNATURE_CONTEXT),
        ),
        (
            "ROSTER_SIGNATURE_CONTEXT",
            text(rk::group::ROSTER_SIGNATURE_CONTEXT),
        ),
        (
            "OWNER_TRANSFER_CONTEXT",
            text(rk::group::OWNER_TRANSFER_CONTEXT),
        ),
        ("GROUP_ID_CONTEXT", text(rk::group::GROUP_ID_CONTEXT)),
        (
            "SEALED_STATE_CONTEXT",
            text(rk::storage::SEALED_STATE_CONTEXT),
        ),
        ("CHANNEL_ID_CONTEXT", text(rk::channel::CHANNEL_ID_CONTEXT)),
        (
            "PREKEY_STORE_ID_CONTEXT",
            text(rk::storage::PREKEY_STORE_ID_CONTEXT),
        ),
        (
            "MAX_IDENTITY_NAME_LEN",
            rk::identity::MAX_IDENTITY_NAME_LEN.to_string(),
        ),
        (
            "MAX_ONE_TIME_PREKEYS",
            rk::identity::MAX_ONE_TIME_PREKEYS.to_string(),
        ),
        (
            "MAX_JOINS_PER_SIGNED_PREKEY",
            rk::limits::MAX_JOINS_PER_SIGNED_PREKEY.to_string(),
        ),
        (
            "KEM_PUBLIC_KEY_LEN",
            rk::identity::KEM_PUBLIC_KEY_LEN.to_string(),
        ),
        (
            "KEM_CIPHERTEXT_LEN",
            rk::channel::KEM_CIPHERTEXT_LEN.to_string(),
        ),
        ("KEM_SEED_LEN", rk::identity::KEM_SEED_LEN.to_string()),
        (
            "MESSAGE_SALT_LEN",
            rk::channel::MESSAGE_SALT_LEN.to_string(),
        ),
        ("MIN_PADDED_LEN", rk::channel::MIN_PADDED_LEN.to_string()),
        ("MAX_MESSAGE_GAP", rk::channel::MAX_MESSAGE_GAP.to_string()),
        (
            "MAX_SKIPPED_KEYS",
            rk::channel::MAX_SKIPPED_KEYS.to_string(),
        ),
        (
            "MAX_ENDED_CHAINS",
            rk::channel::MAX_ENDED_CHAINS.to_string(),
        ),
        ("GROUP_ID_LEN", rk::group::GROUP_ID_LEN.to_string()),
        ("GROUP_SALT_LEN", rk::group::GROUP_SALT_LEN.to_string()),
        (
            "MAX_GROUP_MEMBERS",
            rk::group::MAX_GROUP_MEMBERS.to_string(),
        ),
        (
            "MAX_SENDER_EPOCHS",
            rk::group::MAX_SENDER_EPOCHS.to_string(),
        ),
        (
            "MAX_GROUP_MESSAGE_GAP",
            rk::group::MAX_GROUP_MESSAGE_GAP.to_string(),
        ),
        (
            "MAX_GROUP_SKIPPED_KEYS",
            rk::group::MAX_GROUP_SKIPPED_KEYS.to_string(),
        ),
        (
            "MAX_OWNER_TRANSFERS",
            rk::group::MAX_OWNER_TRANSFERS.to_string(),
        ),
        (
            "MAX_RESYNC_REPLIES",
            rk::group::MAX_RESYNC_REPLIES.to_string(),
        ),
        (
            "MAX_REMOVED_MEMBERS",
            rk::group::MAX_REMOVED_MEMBERS.to_string(),
        ),
        (
            "MAX_PENDING_CONTROLS",
            rk::group::MAX_PENDING_CONTROLS.to_string(),
        ),
        ("SEALED_VERSION", rk::sealed::SEALED_VERSION.to_string()),
        (
            "SEALED_SIGNATURE_CONTEXT",
            text(rk::sealed::SEALED_SIGNATURE_CONTEXT),
        ),
        (
            "SEALED_MESSAGE_CONTEXT",
            text(rk::sealed::SEALED_MESSAGE_CONTEXT),
        ),
        ("SEALED_WRAP_INFO", text(rk::sealed::SEALED_WRAP_INFO)),
        (
            "STREAM_SIGNATURE_CONTEXT",
            text(rk::sealed::STREAM_SIGNATURE_CONTEXT),
        ),
        (
            "SEALED_STREAM_CONTEXT",
            text(rk::sealed::SEALED_STREAM_CONTEXT),
        ),
        (
            "MAX_SEALED_RECIPIENTS",
            rk::sealed::MAX_SEALED_RECIPIENTS.to_string(),
        ),
        (
            "MAX_SEALED_MESSAGE_LEN",
            rk::sealed::MAX_SEALED_MESSAGE_LEN.to_string(),
        ),
        (
            "STREAM_CHUNK_SIZE",
            rk::sealed::STREAM_CHUNK_SIZE.to_string(),
        ),
        (
            "MAX_STREAM_HEADER_LEN",
            rk::sealed::MAX_STREAM_HEADER_LEN.to_string(),
        ),
        // Password-locked identities.
        (
            "LOCKED_IDENTITY_CONTEXT",
            text(rk::identity::LOCKED_IDENTITY_CONTEXT),
        ),
        ("LOCK_SALT_LEN", rk::identity::LOCK_SALT_LEN.to_string()),
        (
            "DEFAULT_LOCK_MEMORY_KIB",
            rk::identity::DEFAULT_LOCK_MEMORY_KIB.to_string(),
        ),
        (
            "DEFAULT_LOCK_ITERATIONS",
            rk::identity::DEFAULT_LOCK_ITERATIONS.to_string(),
        ),
        (
            "DEFAULT_LOCK_PARALLELISM",
            rk::identity::DEFAULT_LOCK_PARALLELISM.to_string(),
        ),
        (
            "MIN_LOCK_MEMORY_KIB",
            rk::identity::MIN_LOCK_MEMORY_KIB.to_string(),
        ),
        (
            "MIN_LOCK_ITERATIONS",
            rk::identity::MIN_LOCK_ITERATIONS.to_string(),
        ),
        (
            "MIN_LOCK_PARALLELISM",
            rk::identity::MIN_LOCK_PARALLELISM.to_string(),
        ),
        (
            "MAX_LOCK_MEMORY_KIB",
            rk::identity::MAX_LOCK_MEMORY_KIB.to_string(),
        ),
        (
            "MAX_LOCK_ITERATIONS",
            rk::identity::MAX_LOCK_ITERATIONS.to_string(),
        ),
        (
            "MAX_LOCK_PARALLELISM",
            rk::identity::MAX_LOCK_PARALLELISM.to_string(),
        ),
        // Safety numbers.
        ("DEVICE_LIST_CONTEXT", text(rk::client::DEVICE_LIST_CONTEXT)),
        ("DEVICE_LINK_CONTEXT", text(rk::client::DEVICE_LINK_CONTEXT)),
        (
            "MAX_DEVICE_LINK_LEN",
            rk::client::MAX_DEVICE_LINK_LEN.to_string(),
        ),
        ("ENVELOPE_VERSION", rk::client::ENVELOPE_VERSION.to_string()),
        ("MAX_DEVICES", rk::client::MAX_DEVICES.to_string()),
        (
            "MAX_DEVICE_LIST_LEN",
            rk::client::MAX_DEVICE_LIST_LEN.to_string(),
        ),
        ("MAX_ENVELOPE_LEN", rk::client::MAX_ENVELOPE_LEN.to_string()),
        (
            "MAX_ARCHIVED_CHANNELS",
            rk::client::MAX_ARCHIVED_CHANNELS.to_string(),
        ),
        ("MAX_RECORD_LEN", rk::client::MAX_RECORD_LEN.to_string()),
        (
            "MAX_RECORD_ID_LEN",
            rk::client::MAX_RECORD_ID_LEN.to_string(),
        ),
        (
            "SAFETY_NUMBER_VERSION",
            rk::identity::SAFETY_NUMBER_VERSION.to_string(),
        ),
        (
            "SAFETY_NUMBER_CONTEXT",
            text(rk::identity::SAFETY_NUMBER_CONTEXT),
        ),
        (
            "SAFETY_NUMBER_ITERATIONS",
            rk::identity::SAFETY_NUMBER_ITERATIONS.to_string(),
        ),
        (
            "SAFETY_NUMBER_DIGITS",
            rk::identity::SAFETY_NUMBER_DIGITS.to_string(),
        ),
        (
            "SAFETY_NUMBER_QR_LEN",
            rk::identity::SAFETY_NUMBER_QR_LEN.to_string(),
        ),
        // Size and count limits, checked before decoding.
        (
            "ENTRY_BUDGET_BASE",
            rk::limits::ENTRY_BUDGET_BASE.to_string(),
        ),
        (
            "MIN_ENTRY_AVERAGE_LEN",
            rk::limits::MIN_ENTRY_AVERAGE_LEN.to_string(),
        ),
        (
            "MAX_PLAINTEXT_LEN",
            rk::limits::MAX_PLAINTEXT_LEN.to_string(),
        ),
        ("MAX_CARD_LEN", rk::limits::MAX_CARD_LEN.to_string()),
        (
            "MAX_CARD_SIGNATURES",
            rk::limits::MAX_CARD_SIGNATURES.to_string(),
        ),
        ("MAX_BUNDLE_LEN", rk::limits::MAX_BUNDLE_LEN.to_string()),
        (
            "MAX_CHANNEL_MESSAGE_LEN",
            rk::limits::MAX_CHANNEL_MESSAGE_LEN.to_string(),
        ),
        (
            "MAX_GROUP_MESSAGE_LEN",
            rk::limits::MAX_GROUP_MESSAGE_LEN.to_string(),
        ),
        (
            "MAX_GROUP_CONTROL_LEN",
            rk::limits::MAX_GROUP_CONTROL_LEN.to_string(),
        ),
        ("MAX_ROSTER_LEN", rk::limits::MAX_ROSTER_LEN.to_string()),
        (
            "MAX_SEALED_HEADER_LEN",
            rk::limits::MAX_SEALED_HEADER_LEN.to_string(),
        ),
        (
            "MAX_IDENTITY_STATE_LEN",
            rk::limits::MAX_IDENTITY_STATE_LEN.to_string(),
        ),
        (
            "MAX_PREKEY_STORE_STATE_LEN",
            rk::limits::MAX_PREKEY_STORE_STATE_LEN.to_string(),
        ),
        (
            "MAX_CHANNEL_STATE_LEN",
            rk::limits::MAX_CHANNEL_STATE_LEN.to_string(),
        ),
        (
            "MAX_GROUP_STATE_LEN",
            rk::limits::MAX_GROUP_STATE_LEN.to_string(),
        ),
        (
            "MAX_SEALED_STATE_LEN",
            rk::limits::MAX_SEALED_STATE_LEN.to_string(),
        ),
        (
            "MAX_LOCKED_IDENTITY_LEN",
            rk::limits::MAX_LOCKED_IDENTITY_LEN.to_string(),
        ),
    ]
    .into_iter()
    .collect();
    let documented = documented();
    for (name, value) in &code {
        assert_eq!(
            documented.get(*name),
            Some(value),
            "docs/PROTOCOL.md gives {name} another value, or none"
        );
    }
    for name in documented.keys() {
        assert!(
            code.contains_key(name.as_str()),
            "docs/PROTOCOL.md lists {name}, which this test does not check"
        );
    }
}

#[test]
fn the_protocol_strings_appear_where_the_document_uses_them() {
    let document = include_str!("../docs/PROTOCOL.md");
    let body = document
        .split("## Constants")
        .next()
        .expect("a body before the table");
    for string in [
        rk::identity::CARD_SIGNATURE_CONTEXT,
        rk::identity::APP_SIGNATURE_CONTEXT,
        rk::identity::ROTATION_SIGNATURE_CONTEXT,
        rk::identity::SIGNED_PREKEY_CONTEXT,
        rk::identity::ONE_TIME_PREKEY_CONTEXT,
        rk::channel::PQXDH_INFO,
        rk::channel::PREKEY_INFO_CONTEXT,
        rk::channel::ROOT_INFO,
        rk::channel::MESSAGE_INFO,
        rk::group::GROUP_MESSAGE_INFO,
        rk::group::GROUP_SIGNATURE_CONTEXT,
        rk::group::ROSTER_SIGNATURE_CONTEXT,
        rk::group::OWNER_TRANSFER_CONTEXT,
        rk::group::GROUP_ID_CONTEXT,
        rk::storage::SEALED_STATE_CONTEXT,
        rk::channel::CHANNEL_ID_CONTEXT,
        rk::storage::PREKEY_STORE_ID_CONTEXT,
        rk::sealed::SEALED_SIGNATURE_CONTEXT,
        rk::sealed::SEALED_MESSAGE_CONTEXT,
        rk::sealed::SEALED_WRAP_INFO,
        rk::sealed::STREAM_SIGNATURE_CONTEXT,
        rk::sealed::SEALED_STREAM_CONTEXT,
        rk::identity::LOCKED_IDENTITY_CONTEXT,
        rk::identity::SAFETY_NUMBER_CONTEXT,
    ] {
        let quoted = format!("\"{}\"", text(string));
        assert!(body.contains(&quoted), "the spec never uses {quoted}");
    }
    // Signer names appear as code where the document defines them.
    for signer in [
        rk::identity::SELF_SIGNER,
        rk::identity::PREVIOUS_SIGNER,
        rk::identity::APP_SIGNER,
    ] {
        let code = format!("| `{signer}` |");
        assert!(
            body.contains(&code),
            "the spec's signer table lacks {signer}"
        );
    }
}

/// The group protocol is at version 2, and so are its domain separation strings: a v1
/// string under a v2 format would let a v1 signature or key pass for a v2 one.
#[test]
fn the_group_protocol_strings_are_of_version_2() {
    assert_eq!(rk::group::GROUP_VERSION, 2);
    for (name, string, what) in [
        (
            "GROUP_MESSAGE_INFO",
            rk::group::GROUP_MESSAGE_INFO,
            "group-message",
        ),
        (
            "GROUP_SIGNATURE_CONTEXT",
            rk::group::GROUP_SIGNATURE_CONTEXT,
            "group-signature",
        ),
        (
            "ROSTER_SIGNATURE_CONTEXT",
            rk::group::ROSTER_SIGNATURE_CONTEXT,
            "group-roster",
        ),
        (
            "OWNER_TRANSFER_CONTEXT",
            rk::group::OWNER_TRANSFER_CONTEXT,
            "group-transfer",
        ),
        ("GROUP_ID_CONTEXT", rk::group::GROUP_ID_CONTEXT, "group-id"),
    ] {
        assert_eq!(text(string), format!("ratchetkit/v2/{what}"), "{name}");
    }
    assert_eq!(rk::group::GROUP_ID_LEN, 32, "a SHA-256 output");
    assert_eq!(rk::group::GROUP_SALT_LEN, 16);
}

/// Channels are at protocol version 2, and so are the strings that version 2 introduced or
/// changed; the root step kept version 1's (`KDF_RK` did not change).
#[test]
fn the_channel_protocol_strings_are_of_version_2() {
    assert_eq!(rk::channel::PROTOCOL_VERSION, 2);
    for (name, string, what) in [
        (
            "SIGNED_PREKEY_CONTEXT",
            rk::identity::SIGNED_PREKEY_CONTEXT,
            "signed-prekey",
        ),
        (
            "ONE_TIME_PREKEY_CONTEXT",
            rk::identity::ONE_TIME_PREKEY_CONTEXT,
            "one-time-prekey",
        ),
        ("PQXDH_INFO", rk::channel::PQXDH_INFO, "pqxdh"),
        (
            "PREKEY_INFO_CONTEXT",
            rk::channel::PREKEY_INFO_CONTEXT,
            "prekey-info",
        ),
        ("MESSAGE_INFO", rk::channel::MESSAGE_INFO, "message"),
    ] {
        assert_eq!(text(string), format!("ratchetkit/v2/{what}"), "{name}");
    }
    assert_eq!(text(rk::channel::ROOT_INFO), "ratchetkit/v1/root");
}
