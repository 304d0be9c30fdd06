//! `ratchetkit::http::HttpDirectory` against the real server binary: every directory call,
//! device lists and mailboxes, and the same checks run against `InMemoryDirectory`, so
//! that the server keeps the trait's semantics (one-time bundles handed out once, the
//! fallback after them, rotation drops bundles, an impostor's card never answers for the
//! real key).

use std::collections::{BTreeMap, BTreeSet};
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ratchetkit::client::{AccountId, Client, Event, MemoryStore};
use ratchetkit::http::{HttpDirectory, HttpError, ServerErrorCode};
use ratchetkit::identity::ONE_TIME_PREKEY_BATCH;
use ratchetkit::token::{issue, TokenClaims};
use ratchetkit::{
    AppKey, CardDirectory, Error, Identity, InMemoryDirectory, PrekeyStore, StorageKey,
};

#[path = "support/server_process.rs"]
mod server_process;

use server_process::{dev_app_key, dev_token, TempDir};

/// The real server on a free loopback port with a fresh SQLite database in a scratch
/// directory, and its development app key; killed on drop, then the directory removed.
struct Server {
    // Before `_dir`: fields drop in order, so the process is gone before its directory.
    process: server_process::Server,
    app: AppKey,
    _dir: TempDir,
}

impl Server {
    fn start() -> Self {
        let dir = TempDir::new("http-test");
        let database = dir.path().join("db.sqlite");
        let database = database.to_str().expect("a UTF-8 temporary path");
        let process = server_process::Server::start(database, dir.path(), &[]);
        let app = dev_app_key(dir.path());
        Server {
            process,
            app,
            _dir: dir,
        }
    }

    /// `http://ADDR` of the server.
    fn url(&self) -> &str {
        &self.process.base
    }

    /// A token for `name` from the development app key, as the app's backend would issue.
    fn token(&self, name: &str) -> String {
        dev_token(&self.app, name, now())
    }

    /// A client of the server acting for `name`.
    fn as_user(&self, name: &str) -> HttpDirectory {
        HttpDirectory::new(self.url(), self.token(name))
            .unwrap()
            .with_timeout(Duration::from_secs(20))
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn server_code(error: &HttpError) -> Option<&ServerErrorCode> {
    error.code()
}

// --- The same checks on both directories ---

/// Directories as each user sees them: one shared `InMemoryDirectory`, or one
/// `HttpDirectory` per user (each with its own token) on one server.
trait Directories {
    type D: CardDirectory<Error = Self::E>;
    type E: std::fmt::Debug;
    fn user(&mut self, name: &str) -> &mut Self::D;
    /// The crate's error inside a directory error, if it is one.
    fn protocol(error: &Self::E) -> Option<&Error>;
}

struct Memory(InMemoryDirectory);

impl Directories for Memory {
    type D = InMemoryDirectory;
    type E = Error;
    fn user(&mut self, _: &str) -> &mut InMemoryDirectory {
        &mut self.0
    }
    fn protocol(error: &Error) -> Option<&Error> {
        Some(error)
    }
}

struct Http<'a> {
    server: &'a Server,
    users: BTreeMap<String, HttpDirectory>,
}

impl Directories for Http<'_> {
    type D = HttpDirectory;
    type E = HttpError;
    fn user(&mut self, name: &str) -> &mut HttpDirectory {
        let server = self.server;
        self.users
            .entry(name.to_owned())
            .or_insert_with(|| server.as_user(name))
    }
    fn protocol(error: &HttpError) -> Option<&Error> {
        match error {
            HttpError::Protocol(error) => Some(error),
            _ => None,
        }
    }
}

/// One-time bundles are handed out once each, oldest first, then the fallback, again
/// and again; the count follows. Returns what was handed out, as one-time ids.
fn one_time_then_fallback<S: Directories>(dirs: &mut S) -> Vec<Option<u32>> {
    let mut rng = rand::rng();
    let bob = Identity::generate(&mut rng, "bob").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    let ids = prekeys.generate_one_time_prekeys(&mut rng, 3).unwrap();
    dirs.user("bob").publish(bob.card().clone()).unwrap();
    dirs.user("bob").publish_prekeys(&bob, &prekeys).unwrap();
    // Publishing the same again changes nothing.
    dirs.user("bob").publish(bob.card().clone()).unwrap();
    dirs.user("bob").publish_prekeys(&bob, &prekeys).unwrap();
    let fingerprint = bob.card().fingerprint();
    assert_eq!(
        dirs.user("alice")
            .one_time_prekey_count(&fingerprint)
            .unwrap(),
        3
    );

    let mut handed = Vec::new();
    let first = dirs.user("alice").find_bundles("bob").unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].card(), bob.card());
    handed.push(first[0].one_time_prekey_id());
    for _ in 0..4 {
        let bundle = dirs
            .user("carol")
            .find_bundle(&fingerprint)
            .unwrap()
            .unwrap();
        assert_eq!(bundle.card().fingerprint(), fingerprint);
        handed.push(bundle.one_time_prekey_id());
    }
    assert_eq!(
        dirs.user("bob")
            .one_time_prekey_count(&fingerprint)
            .unwrap(),
        0
    );
    // Republishing the store does not bring back the one-time prekeys handed out.
    dirs.user("bob").publish_prekeys(&bob, &prekeys).unwrap();
    assert_eq!(
        dirs.user("bob")
            .one_time_prekey_count(&fingerprint)
            .unwrap(),
        0
    );
    let expected: Vec<Option<u32>> = ids.iter().map(|id| Some(*id)).chain([None, None]).collect();
    assert_eq!(handed, expected);
    assert!(dirs
        .user("alice")
        .find_bundles("nobody")
        .unwrap()
        .is_empty());
    handed
}

/// A rotated card replaces the old one: the old card's bundles are dropped and not taken
/// any more, claims of it fail with `CardReplaced`, and `find_newest` follows the chain.
fn rotation_drops_bundles<S: Directories>(dirs: &mut S) {
    let mut rng = rand::rng();
    let bob = Identity::generate(&mut rng, "bob").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    prekeys.generate_one_time_prekeys(&mut rng, 2).unwrap();
    dirs.user("bob").publish(bob.card().clone()).unwrap();
    dirs.user("bob").replace_bundles(&bob, &prekeys).unwrap();
    let old = bob.card().fingerprint();

    let rotated = bob.rotate(&mut rng).unwrap();
    dirs.user("bob").publish(rotated.card().clone()).unwrap();
    assert_eq!(dirs.user("alice").one_time_prekey_count(&old).unwrap(), 0);
    let claimed = dirs.user("alice").find_bundle(&old).unwrap_err();
    assert!(
        matches!(S::protocol(&claimed), Some(Error::CardReplaced { .. })),
        "{claimed:?}"
    );
    let refused = dirs
        .user("bob")
        .publish_bundle(prekeys.bundle(&bob, None).unwrap())
        .unwrap_err();
    assert!(
        matches!(S::protocol(&refused), Some(Error::CardReplaced { .. })),
        "{refused:?}"
    );
    // The new card has no bundles yet, and the old one gives none.
    assert!(dirs.user("alice").find_bundles("bob").unwrap().is_empty());
    dirs.user("bob")
        .publish_prekeys(&rotated, &prekeys)
        .unwrap();
    let bundles = dirs.user("alice").find_bundles("bob").unwrap();
    assert_eq!(bundles.len(), 1);
    assert_eq!(bundles[0].card(), rotated.card());

    assert_eq!(dirs.user("alice").find("bob").unwrap().len(), 2);
    assert_eq!(
        dirs.user("alice").find_newest(bob.card()).unwrap(),
        *rotated.card()
    );
    // The replaced card is still found by fingerprint and key.
    assert_eq!(
        dirs.user("alice")
            .find_by_fingerprint(&old)
            .unwrap()
            .as_ref(),
        Some(bob.card())
    );
}

/// A card published under someone's name by someone else (here: with their token, the
/// only way the server allows) never answers `find_by_signing_key` for the real key.
fn impostor_never_answers<S: Directories>(dirs: &mut S) {
    let mut rng = rand::rng();
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let impostor = Identity::generate(&mut rng, "alice").unwrap();
    dirs.user("alice").publish(impostor.card().clone()).unwrap();
    dirs.user("alice").publish(alice.card().clone()).unwrap();
    let key = alice.card().signing_key();
    assert_eq!(
        dirs.user("bob").find_by_signing_key(&key).unwrap().as_ref(),
        Some(alice.card())
    );
    assert_eq!(
        dirs.user("bob")
            .find_by_signing_key(&impostor.card().signing_key())
            .unwrap()
            .as_ref(),
        Some(impostor.card())
    );
    assert_eq!(
        dirs.user("bob").find_by_signing_key(&[9; 32]).unwrap(),
        None
    );
    let named = dirs.user("bob").find("alice").unwrap();
    assert_eq!(named, vec![impostor.card().clone(), alice.card().clone()]);
    assert_eq!(
        dirs.user("bob")
            .find_by_fingerprint(&alice.card().fingerprint())
            .unwrap()
            .as_ref(),
        Some(alice.card())
    );
    let unknown = ratchetkit::Fingerprint::from_bytes([3; 32]);
    assert_eq!(
        dirs.user("bob").find_by_fingerprint(&unknown).unwrap(),
        None
    );
}

/// `replace_bundles` after the store dropped prekeys and rotated its signed prekey: the
/// held one-time bundles become the store's, all of the new signed prekey; an older
/// signed prekey's bundle is refused afterwards.
fn replace_after_upkeep<S: Directories>(dirs: &mut S) -> (usize, Option<u32>) {
    let mut rng = rand::rng();
    let bob = Identity::generate(&mut rng, "bob").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    let ids = prekeys.generate_one_time_prekeys(&mut rng, 3).unwrap();
    dirs.user("bob").publish(bob.card().clone()).unwrap();
    dirs.user("bob").replace_bundles(&bob, &prekeys).unwrap();
    let stale = prekeys.bundle(&bob, None).unwrap();

    prekeys.remove_one_time_prekeys(&ids[..2]);
    prekeys.rotate_signed_prekey(&mut rng);
    dirs.user("bob").replace_bundles(&bob, &prekeys).unwrap();
    let fingerprint = bob.card().fingerprint();
    let count = dirs
        .user("bob")
        .one_time_prekey_count(&fingerprint)
        .unwrap();
    let bundle = dirs.user("alice").find_bundles("bob").unwrap().remove(0);
    assert_eq!(bundle.signed_prekey_id(), prekeys.signed_prekey_id());
    assert!(dirs.user("bob").publish_bundle(stale).is_err());

    // Removing one-time bundles: the store expired them, the directory drops them.
    let more = prekeys.generate_one_time_prekeys(&mut rng, 2).unwrap();
    dirs.user("bob").publish_prekeys(&bob, &prekeys).unwrap();
    assert_eq!(
        dirs.user("bob")
            .one_time_prekey_count(&fingerprint)
            .unwrap(),
        2
    );
    assert_eq!(
        dirs.user("bob")
            .remove_one_time_bundles(&bob, &more)
            .unwrap(),
        2
    );
    assert_eq!(
        dirs.user("bob")
            .one_time_prekey_count(&fingerprint)
            .unwrap(),
        0
    );
    (
        count,
        bundle
            .one_time_prekey_id()
            .map(|id| u32::from(id == ids[2])),
    )
}

/// Cards and bundles of cards never published: `UnknownCard`, as the trait says.
fn unknown_cards<S: Directories>(dirs: &mut S) {
    let mut rng = rand::rng();
    let ghost = Identity::generate(&mut rng, "ghost").unwrap();
    let fingerprint = ghost.card().fingerprint();
    let unknown = |error: &S::E| matches!(S::protocol(error), Some(Error::UnknownCard { .. }));
    let error = dirs.user("alice").find_bundle(&fingerprint).unwrap_err();
    assert!(unknown(&error), "{error:?}");
    let error = dirs
        .user("alice")
        .one_time_prekey_count(&fingerprint)
        .unwrap_err();
    assert!(unknown(&error), "{error:?}");
    let prekeys = PrekeyStore::new(&mut rng);
    let error = dirs
        .user("ghost")
        .publish_bundle(prekeys.bundle(&ghost, None).unwrap())
        .unwrap_err();
    assert!(unknown(&error), "{error:?}");
    let error = dirs
        .user("ghost")
        .remove_one_time_bundles(&ghost, &[1])
        .unwrap_err();
    assert!(unknown(&error), "{error:?}");
}

fn http(server: &Server) -> Http<'_> {
    Http {
        server,
        users: BTreeMap::new(),
    }
}

#[test]
fn one_time_bundles_once_then_the_fallback_as_in_memory() {
    let server = Server::start();
    let memory = one_time_then_fallback(&mut Memory(InMemoryDirectory::default()));
    assert_eq!(one_time_then_fallback(&mut http(&server)), memory);
}

#[test]
fn rotation_drops_bundles_as_in_memory() {
    let server = Server::start();
    rotation_drops_bundles(&mut Memory(InMemoryDirectory::default()));
    rotation_drops_bundles(&mut http(&server));
}

#[test]
fn an_impostor_never_answers_for_the_real_key_as_in_memory() {
    let server = Server::start();
    impostor_never_answers(&mut Memory(InMemoryDirectory::default()));
    impostor_never_answers(&mut http(&server));
}

#[test]
fn replace_and_remove_bundles_as_in_memory() {
    let server = Server::start();
    let memory = replace_after_upkeep(&mut Memory(InMemoryDirectory::default()));
    assert_eq!(memory, (1, Some(1)));
    assert_eq!(replace_after_upkeep(&mut http(&server)), memory);
}

#[test]
fn unknown_cards_as_in_memory() {
    let server = Server::start();
    unknown_cards(&mut Memory(InMemoryDirectory::default()));
    unknown_cards(&mut http(&server));
}

// --- What only the server does ---

#[test]
fn health_and_tokens() {
    let server = Server::start();
    let anonymous = HttpDirectory::new(server.url(), String::new()).unwrap();
    anonymous.health().unwrap();
    let error = anonymous.find("bob").unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::MissingToken));

    // A token that expired an hour ago; then a fresh one.
    let expired = issue(
        &server.app,
        "dev",
        &TokenClaims::new("ratchetkit-dev", "bob", now() - 2 * 3600),
    )
    .unwrap();
    let mut bob = HttpDirectory::new(server.url(), expired.clone()).unwrap();
    let error = bob.find("bob").unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::ExpiredToken));
    assert_eq!(error.status(), Some(401));
    assert!(!format!("{error} {error:?} {bob:?}").contains(&expired));
    bob.set_token(server.token("bob")).unwrap();
    assert!(bob.find("bob").unwrap().is_empty());

    // Another app's key.
    let other = AppKey::generate(&mut rand::rng());
    let forged = issue(
        &other,
        "dev",
        &TokenClaims::new("ratchetkit-dev", "bob", now()),
    )
    .unwrap();
    let forged = HttpDirectory::new(server.url(), forged).unwrap();
    let error = forged.find("bob").unwrap_err();
    assert_eq!(error.status(), Some(401), "{error:?}");
}

#[test]
fn names_belong_to_their_token() {
    let server = Server::start();
    let mut rng = rand::rng();
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let mut mallory = server.as_user("mallory");
    let error = mallory.publish(alice.card().clone()).unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::NotOwner));
    assert_eq!(error.status(), Some(403));
    // A name that needs escaping travels intact.
    let name = "dana o'neil/ü?&x=1";
    let dana = Identity::generate(&mut rng, name).unwrap();
    let mut directory = server.as_user(name);
    directory.publish(dana.card().clone()).unwrap();
    assert_eq!(directory.find(name).unwrap(), vec![dana.card().clone()]);
    assert!(directory.find("dana o").unwrap().is_empty());
}

#[test]
fn one_time_bundles_are_handed_out_once_under_concurrency() {
    let server = Server::start();
    let mut rng = rand::rng();
    let bob = Identity::generate(&mut rng, "bob").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    let ids = prekeys.generate_one_time_prekeys(&mut rng, 40).unwrap();
    let mut directory = server.as_user("bob");
    directory.publish(bob.card().clone()).unwrap();
    directory.replace_bundles(&bob, &prekeys).unwrap();
    let fingerprint = bob.card().fingerprint();
    let handed: Vec<Option<u32>> = thread::scope(|scope| {
        let claimers: Vec<_> = (0..6)
            .map(|i| {
                let mut claimer = server.as_user(&format!("claimer{i}"));
                scope.spawn(move || {
                    (0..8)
                        .map(|_| {
                            claimer
                                .find_bundle(&fingerprint)
                                .unwrap()
                                .unwrap()
                                .one_time_prekey_id()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        claimers
            .into_iter()
            .flat_map(|claimer| claimer.join().unwrap())
            .collect()
    });
    let one_time: Vec<u32> = handed.iter().flatten().copied().collect();
    let distinct: BTreeSet<u32> = one_time.iter().copied().collect();
    assert_eq!(one_time.len(), 40, "every one-time bundle handed out");
    assert_eq!(distinct.len(), 40, "none twice");
    assert_eq!(distinct, ids.into_iter().collect());
    assert_eq!(handed.iter().filter(|id| id.is_none()).count(), 8);
}

#[test]
fn client_publish_and_upkeep() {
    let server = Server::start();
    let mut rng = rand::rng();
    let now = now();
    let key = StorageKey::generate(&mut rng);
    let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", now).unwrap();
    let mut directory = server.as_user("alice");
    alice.publish(&mut directory).unwrap();
    let fingerprint = alice.device_card().fingerprint();
    assert_eq!(directory.one_time_prekey_count(&fingerprint).unwrap(), 0);
    let upkeep = alice.upkeep(&mut rng, now, &mut directory).unwrap();
    assert_eq!(upkeep.published_before, 0);
    assert_eq!(upkeep.added.len(), ONE_TIME_PREKEY_BATCH);
    assert_eq!(
        directory.one_time_prekey_count(&fingerprint).unwrap(),
        ONE_TIME_PREKEY_BATCH
    );
    // A second upkeep finds the directory full enough and changes nothing.
    let again = alice.upkeep(&mut rng, now, &mut directory).unwrap();
    assert!(again.added.is_empty());
}

#[test]
fn device_lists() {
    let server = Server::start();
    let mut rng = rand::rng();
    let now = now();
    let key = StorageKey::generate(&mut rng);
    let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", now).unwrap();
    let directory = server.as_user("alice");
    let account = alice.account_id().unwrap();
    assert_eq!(directory.device_list(account).unwrap(), None);
    let first = alice.device_list().unwrap().clone();
    directory.publish_device_list(&first).unwrap();
    directory.publish_device_list(&first).unwrap();
    let fetched = server.as_user("bob").device_list(account).unwrap().unwrap();
    assert_eq!(fetched.to_bytes(), first.to_bytes());

    // A second device: the list's version 2 replaces version 1, which is then stale.
    let key = StorageKey::generate(&mut rng);
    let laptop = Client::create_linked(&mut rng, MemoryStore::new(), key, "alice", now).unwrap();
    let second = alice
        .link_device(&mut rng, &laptop.link_request(account), now)
        .unwrap();
    directory.publish_device_list(&second).unwrap();
    let error = directory.publish_device_list(&first).unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::StaleDeviceList));
    let fetched = directory.device_list(account).unwrap().unwrap();
    assert_eq!(fetched.version(), 2);
    assert_eq!(fetched.devices().len(), 2);

    let error = server
        .as_user("mallory")
        .publish_device_list(&second)
        .unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::NotOwner));
    assert_eq!(
        directory
            .device_list(AccountId::from_bytes([5; 32]))
            .unwrap(),
        None
    );
}

#[test]
fn mailbox_first_contact_offline() {
    let server = Server::start();
    let mut rng = rand::rng();
    let now = now();
    let mut client = |name: &str| {
        let key = StorageKey::generate(&mut rng);
        let client = Client::create(&mut rng, MemoryStore::new(), key, name, now).unwrap();
        let mut directory = server.as_user(name);
        client.publish(&mut directory).unwrap();
        directory
            .publish_device_list(client.device_list().unwrap())
            .unwrap();
        (client, directory)
    };
    let (mut alice, mut to_alice) = client("alice");
    let (mut bob, mut to_bob) = client("bob");
    bob.upkeep(&mut rng, now, &mut to_bob).unwrap();
    alice.upkeep(&mut rng, now, &mut to_alice).unwrap();

    // Alice finds Bob by name, then pins his account key.
    let bob_card = to_alice.find("bob").unwrap().remove(0);
    let bob_account = bob.account_id().unwrap();
    let list = to_alice.device_list(bob_account).unwrap().unwrap();
    assert!(list.device(&bob.device_id()).is_some());
    assert_eq!(
        to_alice
            .find_by_signing_key(&bob_card.signing_key())
            .unwrap()
            .as_ref(),
        Some(&bob_card)
    );
    alice.add_contact(&mut rng, &list.to_bytes()).unwrap();
    let missing = alice.missing_sessions(bob_account).unwrap();
    let bundles: Vec<_> = missing
        .iter()
        .map(|device| {
            let card = to_alice
                .find_by_signing_key(device.as_bytes())
                .unwrap()
                .unwrap();
            to_alice.find_bundle(&card.fingerprint()).unwrap().unwrap()
        })
        .collect();
    alice.start_sessions(&mut rng, &bundles).unwrap();
    for text in ["hi bob", "are you there?"] {
        let envelopes = alice
            .encrypt_to(&mut rng, bob_account, text.as_bytes())
            .unwrap();
        to_alice.deposit_outgoing(&envelopes).unwrap();
    }

    // Bob comes online: two envelopes wait; a page of one at a time.
    let device = bob.device_id();
    let first = to_bob.fetch_mailbox(device, None, 1).unwrap();
    assert_eq!(first.len(), 1);
    let rest = to_bob.fetch_mailbox(device, Some(first[0].id), 10).unwrap();
    assert_eq!(rest.len(), 1);
    assert!(rest[0].id > first[0].id);
    let mut texts = Vec::new();
    for entry in first.iter().chain(&rest) {
        let received = bob.receive(&mut rng, &entry.envelope).unwrap();
        for event in received.events() {
            if let Event::Message { plaintext, .. } = event {
                texts.push(String::from_utf8_lossy(plaintext).into_owned());
            }
        }
    }
    assert_eq!(texts, ["hi bob", "are you there?"]);
    // Nobody else reads or acknowledges Bob's mailbox.
    let error = to_alice.fetch_mailbox(device, None, 10).unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::NotOwner));
    let error = to_alice.acknowledge(device, &[first[0].id]).unwrap_err();
    assert_eq!(server_code(&error), Some(&ServerErrorCode::NotOwner));
    // Acknowledged envelopes are gone; acknowledging again deletes nothing.
    let ids = [first[0].id, rest[0].id];
    assert_eq!(to_bob.acknowledge(device, &ids).unwrap(), 2);
    assert_eq!(to_bob.acknowledge(device, &ids).unwrap(), 0);
    assert!(to_bob.fetch_mailbox(device, None, 10).unwrap().is_empty());

    // Raw deposits: ids in order, pages by `after` and `limit`.
    let ids = to_alice
        .deposit(
            device,
            &[b"one".to_vec(), b"two".to_vec(), b"three".to_vec()],
        )
        .unwrap();
    assert!(ids.windows(2).all(|pair| pair[0] < pair[1]));
    let page = to_bob.fetch_mailbox(device, None, 2).unwrap();
    assert_eq!(
        page.iter()
            .map(|entry| entry.envelope.as_slice())
            .collect::<Vec<_>>(),
        [b"one".as_slice(), b"two"]
    );
    let page = to_bob.fetch_mailbox(device, Some(ids[1]), 2).unwrap();
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].envelope, b"three");
    // A device of no published card has no mailbox.
    let error = to_alice
        .deposit(
            ratchetkit::client::DeviceId::from_bytes([8; 32]),
            &[b"x".to_vec()],
        )
        .unwrap_err();
    assert_eq!(error.status(), Some(404), "{error:?}");
}
