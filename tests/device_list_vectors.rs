//! Device lists (docs/PROTOCOL.md, section 12.1) and their vectors,
//! `tests/vectors/device-lists.json`: an account with two devices, each device's consent
//! (`DeviceLink`), two versions of the signed list, and inputs a receiver must refuse.
//!
//! 1. the committed file is exactly what [`generate`] makes today
//!    (`committed_file_is_a_fresh_generation`);
//! 2. every value in it is recomputed from the listed private keys with the primitive
//!    crates and hand-declared protobuf messages, as the protocol document describes them,
//!    never through ratchetkit (`the_primitives_recompute_every_value`);
//! 3. ratchetkit reads every list and link as listed, and refuses every refused input with
//!    the listed error (`ratchetkit_reads_and_refuses_as_listed`).
//!
//! Regenerate the file after an intended change with
//! `RATCHETKIT_WRITE_VECTORS=1 cargo test --test device_list_vectors`.

// Shared with the channel and group vectors, of which this file uses a part.
#[allow(unused_imports, unused_macros, dead_code)]
#[path = "vectors"]
mod vectors {
    pub mod channel_view;
    pub mod committed;
    pub mod json;
    pub mod keys;
    pub mod primitives;
    pub mod proto;
    pub mod recompute;
    pub mod replay;
    pub mod rng;
}

use prost::Message as _;
use ratchetkit::client::{AccountId, DeviceId, DeviceLink, DeviceList};
use ratchetkit::wire::v1;
use ratchetkit::Identity;
use serde::{Deserialize, Serialize};

use vectors::committed::VectorFile;
use vectors::json::{array, bytes, error_name, to_json, IdentityVector};
use vectors::primitives::ed25519_sign;
use vectors::{keys, proto, recompute, rng::RecordingRng};

const COMMAND: &str = "RATCHETKIT_WRITE_VECTORS=1 cargo test --test device_list_vectors";

const FILE: VectorFile = VectorFile {
    name: "device-lists.json",
    command: COMMAND,
};

/// `DEVICE_LINK_CONTEXT`, as docs/PROTOCOL.md gives it.
const LINK_CONTEXT: &[u8] = b"ratchetkit/v2/device-link";
/// `DEVICE_LIST_CONTEXT`.
const LIST_CONTEXT: &[u8] = b"ratchetkit/v2/device-list";

/// The seed of the ChaCha20 generator the identities' keys are drawn from (32 ASCII bytes).
const SEED: [u8; 32] = *b"ratchetkit/v2/device-lists/0001x";

const CREATED_AT: u64 = 1_700_000_000;

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Vectors {
    description: String,
    seed: String,
    device_link_context: String,
    device_list_context: String,
    identities: Vec<Labelled>,
    links: Vec<LinkVector>,
    lists: Vec<ListVector>,
    refused: Vec<Refused>,
}

/// One identity, under the label the rest of the file names it by.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Labelled {
    label: String,
    identity: IdentityVector,
}

/// A device's consent to an account.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct LinkVector {
    device: String,
    account: String,
    /// `DEVICE_LINK_CONTEXT || account_key`.
    signature_input: String,
    signature: String,
    /// The encoded `DeviceLink`.
    link: String,
}

#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ListVector {
    label: String,
    account: String,
    version: u64,
    issued_at: u64,
    /// The devices' labels, in order; each with its link from `links`.
    devices: Vec<String>,
    /// The encoded `DeviceList`.
    list: String,
    /// `DEVICE_LIST_CONTEXT || list`.
    signature_input: String,
    signature: String,
    /// The encoded `SignedDeviceList`.
    signed: String,
}

/// An input a receiver must refuse, and the error it must give.
#[derive(Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Refused {
    label: String,
    /// `SignedDeviceList` or `DeviceLink`.
    parsed_as: String,
    input: String,
    expected_error: String,
}

struct Person {
    label: &'static str,
    identity: Identity,
    listed: IdentityVector,
}

fn person(rng: &mut RecordingRng, label: &'static str, name: &str) -> Person {
    let identity = Identity::generate_at(rng, name, CREATED_AT).expect("a valid name");
    let [seed, agreement] = rng.take::<2>("Identity::generate_at");
    let listed = keys::identity_vector(&identity, seed, agreement);
    Person {
        label,
        identity,
        listed,
    }
}

fn account_id(person: &Person) -> AccountId {
    AccountId::of(person.identity.card())
}

/// A `SignedDeviceList` built by hand: `signer` signs the encoded `list`.
fn hand_signed(signer: &Person, list: &v1::DeviceList) -> Vec<u8> {
    let list = list.encode_to_vec();
    let seed = array::<32>(&signer.listed.signing_seed);
    let signature = ed25519_sign(&seed, &[LIST_CONTEXT, &list].concat());
    v1::SignedDeviceList {
        list,
        signature: signature.to_vec(),
    }
    .encode_to_vec()
}

fn wire_link(link: &DeviceLink) -> v1::DeviceLink {
    v1::DeviceLink::decode(link.to_bytes().as_slice()).expect("a DeviceLink")
}

fn refused_list(label: &str, input: Vec<u8>) -> Refused {
    let error = DeviceList::from_bytes(&input).expect_err(label);
    Refused {
        label: label.into(),
        parsed_as: "SignedDeviceList".into(),
        input: hex::encode(input),
        expected_error: error_name(&error),
    }
}

/// The file, as it should be committed.
fn generate() -> String {
    let mut rng = RecordingRng::new(SEED);
    let bob = person(&mut rng, "bob", "bob");
    let phone = person(&mut rng, "bob_phone", "bob");
    let laptop = person(&mut rng, "bob_laptop", "bob");
    let mallory = person(&mut rng, "mallory", "bob");
    let to_bob = |device: &Person| DeviceLink::sign(&device.identity, account_id(&bob));
    let (phone_link, laptop_link) = (to_bob(&phone), to_bob(&laptop));
    let links = [(&phone, &phone_link), (&laptop, &laptop_link)]
        .into_iter()
        .map(|(device, link)| LinkVector {
            device: device.label.into(),
            account: bob.label.into(),
            signature_input: hex::encode(
                [LINK_CONTEXT, &bob.identity.card().signing_key()].concat(),
            ),
            signature: hex::encode(wire_link(link).signature),
            link: hex::encode(link.to_bytes()),
        })
        .collect();

    let mut lists = Vec::new();
    for (label, version, devices) in [
        ("v1", 1, vec![(&phone, &phone_link)]),
        (
            "v2",
            2,
            vec![(&phone, &phone_link), (&laptop, &laptop_link)],
        ),
    ] {
        let issued_at = CREATED_AT + 100 * version;
        let signed_links: Vec<DeviceLink> =
            devices.iter().map(|(_, link)| (*link).clone()).collect();
        let list =
            DeviceList::sign(&bob.identity, version, &signed_links, issued_at).expect("a list");
        let signed = v1::SignedDeviceList::decode(list.to_bytes().as_slice()).expect("signed");
        lists.push(ListVector {
            label: label.into(),
            account: bob.label.into(),
            version,
            issued_at,
            devices: devices
                .iter()
                .map(|(device, _)| device.label.into())
                .collect(),
            list: hex::encode(&signed.list),
            signature_input: hex::encode([LIST_CONTEXT, &signed.list].concat()),
            signature: hex::encode(&signed.signature),
            signed: hex::encode(list.to_bytes()),
        });
    }

    let base = |account: &Person, version: u64, links: Vec<v1::DeviceLink>| v1::DeviceList {
        account_card: account.identity.card().to_bytes(),
        version,
        devices: links,
        issued_at: CREATED_AT,
    };
    let mut wrong_length = wire_link(&phone_link);
    wrong_length.signature.pop();
    let v2 = v1::SignedDeviceList::decode(bytes(&lists[1].signed).as_slice()).expect("signed");
    let refused = vec![
        refused_list(
            "Mallory's list with Bob's phone, whose consent is to Bob's account",
            hand_signed(&mallory, &base(&mallory, 1, vec![wire_link(&phone_link)])),
        ),
        refused_list(
            "Bob's list v2 signed by Mallory's key",
            hand_signed(
                &mallory,
                &v1::DeviceList::decode(v2.list.as_slice()).expect("list"),
            ),
        ),
        refused_list(
            "a device listed twice",
            hand_signed(
                &bob,
                &base(
                    &bob,
                    3,
                    vec![wire_link(&phone_link), wire_link(&phone_link)],
                ),
            ),
        ),
        refused_list(
            "version 0",
            hand_signed(&bob, &base(&bob, 0, vec![wire_link(&phone_link)])),
        ),
        refused_list("no device", hand_signed(&bob, &base(&bob, 3, Vec::new()))),
        refused_list(
            "a consent signature of 63 bytes",
            hand_signed(&bob, &base(&bob, 3, vec![wrong_length.clone()])),
        ),
        {
            let input = wrong_length.encode_to_vec();
            let error = DeviceLink::from_bytes(&input).expect_err("63 bytes");
            Refused {
                label: "a DeviceLink whose signature is 63 bytes".into(),
                parsed_as: "DeviceLink".into(),
                input: hex::encode(input),
                expected_error: error_name(&error),
            }
        },
    ];

    to_json(&Vectors {
        description: "ratchetkit client layer, device lists (docs/PROTOCOL.md 12.1): an \
                      account's devices, each with its consent, signed by the account key"
            .into(),
        seed: hex::encode(SEED),
        device_link_context: String::from_utf8_lossy(LINK_CONTEXT).into(),
        device_list_context: String::from_utf8_lossy(LIST_CONTEXT).into(),
        identities: [bob, phone, laptop, mallory]
            .into_iter()
            .map(|person| Labelled {
                label: person.label.into(),
                identity: person.listed,
            })
            .collect(),
        links,
        lists,
        refused,
    })
}

fn committed() -> Vectors {
    FILE.parse()
}

fn identity<'a>(vectors: &'a Vectors, label: &str) -> &'a IdentityVector {
    &vectors
        .identities
        .iter()
        .find(|person| person.label == label)
        .unwrap_or_else(|| panic!("no identity {label}"))
        .identity
}

#[test]
fn committed_file_is_a_fresh_generation() {
    FILE.write_if_asked_then_assert_is(&generate());
}

#[test]
fn the_primitives_recompute_every_value() {
    let vectors = committed();
    assert_eq!(vectors.device_link_context.as_bytes(), LINK_CONTEXT);
    assert_eq!(vectors.device_list_context.as_bytes(), LIST_CONTEXT);
    let mut cards = std::collections::BTreeMap::new();
    for person in &vectors.identities {
        cards.insert(
            person.label.clone(),
            recompute::check_identity(&person.identity),
        );
    }
    for link in &vectors.links {
        let device = identity(&vectors, &link.device);
        let account = identity(&vectors, &link.account);
        let input = [LINK_CONTEXT, &bytes(&account.signing_public)].concat();
        assert_eq!(hex::encode(&input), link.signature_input);
        let signature = ed25519_sign(&array(&device.signing_seed), &input);
        assert_eq!(hex::encode(signature), link.signature, "{}", link.device);
        let encoded = proto::DeviceLink {
            card: cards[&link.device].clone(),
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        assert_eq!(hex::encode(encoded), link.link, "{}", link.device);
    }
    for list in &vectors.lists {
        let devices = list
            .devices
            .iter()
            .map(|label| {
                let link = vectors
                    .links
                    .iter()
                    .find(|link| &link.device == label && link.account == list.account)
                    .expect("a listed link");
                proto::DeviceLink::decode(bytes(&link.link).as_slice()).expect("a link")
            })
            .collect();
        let encoded = proto::DeviceList {
            account_card: cards[&list.account].clone(),
            version: list.version,
            devices,
            issued_at: list.issued_at,
        }
        .encode_to_vec();
        assert_eq!(hex::encode(&encoded), list.list, "{}", list.label);
        let input = [LIST_CONTEXT, &encoded].concat();
        assert_eq!(hex::encode(&input), list.signature_input);
        let account = identity(&vectors, &list.account);
        let signature = ed25519_sign(&array(&account.signing_seed), &input);
        assert_eq!(hex::encode(signature), list.signature, "{}", list.label);
        let signed = proto::SignedDeviceList {
            list: encoded,
            signature: signature.to_vec(),
        }
        .encode_to_vec();
        assert_eq!(hex::encode(signed), list.signed, "{}", list.label);
    }
}

#[test]
fn ratchetkit_reads_and_refuses_as_listed() {
    let vectors = committed();
    for link in &vectors.links {
        let parsed = DeviceLink::from_bytes(&bytes(&link.link)).expect("a link");
        let account =
            AccountId::from_bytes(array(&identity(&vectors, &link.account).signing_public));
        parsed.verify(account).expect("consent to the account");
        let other = AccountId::from_bytes(array(&identity(&vectors, "mallory").signing_public));
        assert!(parsed.verify(other).is_err());
    }
    for list in &vectors.lists {
        let parsed = DeviceList::from_bytes(&bytes(&list.signed)).expect(&list.label);
        assert_eq!(parsed.version(), list.version);
        assert_eq!(parsed.issued_at(), list.issued_at);
        assert_eq!(
            parsed.account_id().as_bytes(),
            &array::<32>(&identity(&vectors, &list.account).signing_public)
        );
        let devices: Vec<DeviceId> = list
            .devices
            .iter()
            .map(|label| DeviceId::from_bytes(array(&identity(&vectors, label).signing_public)))
            .collect();
        assert_eq!(
            parsed
                .devices()
                .iter()
                .map(DeviceId::of)
                .collect::<Vec<_>>(),
            devices
        );
    }
    assert!(vectors.refused.len() >= 7);
    for refused in &vectors.refused {
        let input = bytes(&refused.input);
        let error = match refused.parsed_as.as_str() {
            "SignedDeviceList" => DeviceList::from_bytes(&input).err().map(|e| error_name(&e)),
            "DeviceLink" => DeviceLink::from_bytes(&input).err().map(|e| error_name(&e)),
            other => panic!("parsed as {other}?"),
        };
        assert_eq!(
            error.as_deref(),
            Some(refused.expected_error.as_str()),
            "{}",
            refused.label
        );
    }
}
