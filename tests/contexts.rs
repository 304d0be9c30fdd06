//! The protocol's domain-separation strings (signature contexts, KDF labels, associated-data
//! prefixes) are prefix-free, and this test knows every one of them.
//!
//! Each string is followed by data of the caller's choice: where one string is a prefix of
//! another, `short || data` can equal `long || other data`, and a signature or key made for
//! one purpose could be read as made for the other. Version 1 had such a pair
//! (`ratchetkit/v1/card` and `ratchetkit/v1/card-app`), safe only because card content never
//! starts with `-`; version 2 of the card contexts removed it.

use std::path::Path;

use ratchetkit as rk;

/// Every domain-separation string of the crate, by its constant's name. A new one must be
/// added here: `every_protocol_string_in_the_source_is_listed` fails until it is.
const CONTEXTS: [(&str, &[u8]); 26] = [
    (
        "CARD_SIGNATURE_CONTEXT",
        rk::identity::CARD_SIGNATURE_CONTEXT,
    ),
    ("APP_SIGNATURE_CONTEXT", rk::identity::APP_SIGNATURE_CONTEXT),
    (
        "ROTATION_SIGNATURE_CONTEXT",
        rk::identity::ROTATION_SIGNATURE_CONTEXT,
    ),
    ("SIGNED_PREKEY_CONTEXT", rk::identity::SIGNED_PREKEY_CONTEXT),
    (
        "ONE_TIME_PREKEY_CONTEXT",
        rk::identity::ONE_TIME_PREKEY_CONTEXT,
    ),
    (
        "LOCKED_IDENTITY_CONTEXT",
        rk::identity::LOCKED_IDENTITY_CONTEXT,
    ),
    ("SAFETY_NUMBER_CONTEXT", rk::identity::SAFETY_NUMBER_CONTEXT),
    ("DEVICE_LIST_CONTEXT", rk::client::DEVICE_LIST_CONTEXT),
    ("DEVICE_LINK_CONTEXT", rk::client::DEVICE_LINK_CONTEXT),
    ("PQXDH_INFO", rk::channel::PQXDH_INFO),
    ("PREKEY_INFO_CONTEXT", rk::channel::PREKEY_INFO_CONTEXT),
    ("CHANNEL_ID_CONTEXT", rk::channel::CHANNEL_ID_CONTEXT),
    ("ROOT_INFO", rk::channel::ROOT_INFO),
    ("MESSAGE_INFO", rk::channel::MESSAGE_INFO),
    ("GROUP_MESSAGE_INFO", rk::group::GROUP_MESSAGE_INFO),
    (
        "GROUP_SIGNATURE_CONTEXT",
        rk::group::GROUP_SIGNATURE_CONTEXT,
    ),
    (
        "ROSTER_SIGNATURE_CONTEXT",
        rk::group::ROSTER_SIGNATURE_CONTEXT,
    ),
    ("OWNER_TRANSFER_CONTEXT", rk::group::OWNER_TRANSFER_CONTEXT),
    ("GROUP_ID_CONTEXT", rk::group::GROUP_ID_CONTEXT),
    (
        "SEALED_SIGNATURE_CONTEXT",
        rk::sealed::SEALED_SIGNATURE_CONTEXT,
    ),
    ("SEALED_MESSAGE_CONTEXT", rk::sealed::SEALED_MESSAGE_CONTEXT),
    ("SEALED_WRAP_INFO", rk::sealed::SEALED_WRAP_INFO),
    (
        "STREAM_SIGNATURE_CONTEXT",
        rk::sealed::STREAM_SIGNATURE_CONTEXT,
    ),
    ("SEALED_STREAM_CONTEXT", rk::sealed::SEALED_STREAM_CONTEXT),
    // Followed by the kind of state and the object's id (src/storage.rs); like every
    // string here it must be no prefix of another, and a redesign of the sealed state's
    // associated data lists any new string here.
    ("SEALED_STATE_CONTEXT", rk::storage::SEALED_STATE_CONTEXT),
    (
        "PREKEY_STORE_ID_CONTEXT",
        rk::storage::PREKEY_STORE_ID_CONTEXT,
    ),
];

#[test]
fn no_context_is_a_prefix_of_another() {
    let mut sorted: Vec<(&str, &[u8])> = CONTEXTS.to_vec();
    sorted.sort_by_key(|(_, string)| *string);
    // In sorted order a string that is a prefix of any later one is a prefix of the next,
    // so neighbours suffice; equal strings count as prefixes too.
    for pair in sorted.windows(2) {
        let [(short_name, short), (long_name, long)] = pair else {
            unreachable!("windows of two")
        };
        assert!(
            !long.starts_with(short),
            "{short_name} ({}) is a prefix of {long_name} ({})",
            String::from_utf8_lossy(short),
            String::from_utf8_lossy(long),
        );
    }
}

#[test]
fn the_prefix_check_catches_the_version_1_card_contexts() {
    // The check above would have failed on version 1, and still fails on a look-alike.
    let old: [&[u8]; 3] = [
        b"ratchetkit/v1/card",
        b"ratchetkit/v1/card-app",
        b"ratchetkit/v1/card-rotation",
    ];
    let mut sorted = old.to_vec();
    sorted.sort();
    assert!(sorted.windows(2).any(|pair| pair[1].starts_with(pair[0])));
    for (name, string) in CONTEXTS {
        for version_1 in old {
            assert_ne!(string, version_1, "{name} is still of version 1");
        }
    }
}

#[test]
fn every_protocol_string_in_the_source_is_listed() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = Vec::new();
    collect_protocol_strings(&root, &mut found);
    assert!(
        found.len() >= CONTEXTS.len(),
        "found only {found:?} under {}",
        root.display()
    );
    for (place, string) in &found {
        assert!(
            CONTEXTS
                .iter()
                .any(|(_, listed)| *listed == string.as_bytes()),
            "{place}: \"{string}\" is a protocol string that tests/contexts.rs does not list"
        );
    }
    for (name, listed) in CONTEXTS {
        let listed = String::from_utf8_lossy(listed);
        assert!(
            found.iter().any(|(_, string)| *string == listed),
            "{name} (\"{listed}\") is defined nowhere under src/"
        );
    }
}

/// Every string literal that starts with `ratchetkit/` in the `.rs` files under `dir`,
/// outside comments, with its file and line.
fn collect_protocol_strings(dir: &Path, found: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("read src/")
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_protocol_strings(&path, found);
            continue;
        }
        if path.extension().is_none_or(|ext| ext != "rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read a source file");
        for (number, line) in text.lines().enumerate() {
            // Comments and doc comments quote the strings to explain them.
            let code = line.split("//").next().unwrap_or_default();
            for (at, _) in code.match_indices("\"ratchetkit/") {
                let rest = &code[at + 1..];
                let string = rest.split('"').next().unwrap_or_default();
                let place = format!("{}:{}", path.display(), number + 1);
                found.push((place, string.to_owned()));
            }
        }
    }
}
