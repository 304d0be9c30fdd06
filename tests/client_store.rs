//! The client's stores: the conformance suite on `MemoryStore` and `SqliteStore`, and what
//! only SQLite can show (a reopen, a batch that fails half way, the schema version, the
//! password's key, the bytes in the file).
#![cfg(all(feature = "sqlite", not(target_family = "wasm")))]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ratchetkit::client::{
    Changes, Durability, MemoryStore, RecordKey, RecordKind, SqliteError, SqliteStore, Store,
    MAX_RECORD_ID_LEN, SQLITE_SCHEMA_VERSION,
};
use ratchetkit::identity::{MIN_LOCK_ITERATIONS, MIN_LOCK_MEMORY_KIB, MIN_LOCK_PARALLELISM};
use ratchetkit::limits::MAX_SEALED_STATE_LEN;
use ratchetkit::testing::store_conformance;
use ratchetkit::{Identity, LockParams, StorageKey};

/// A directory of its own under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> Self {
        static COUNT: AtomicU64 = AtomicU64::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "ratchetkit-client-store-{}-{test}-{n}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn db(&self) -> PathBuf {
        self.0.join("store.db")
    }

    /// Every byte SQLite has written: the database and its WAL.
    fn all_bytes(&self) -> Vec<u8> {
        let mut bytes = Vec::new();
        for entry in std::fs::read_dir(&self.0).unwrap() {
            bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
        }
        bytes
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

/// One write: a record's kind and id, and its value or `None` to delete it.
type Write<'a> = (RecordKind, &'a [u8], Option<&'a [u8]>);

fn batch(writes: &[Write<'_>]) -> Changes {
    let mut changes = Changes::new();
    for (kind, id, value) in writes {
        let key = RecordKey::new(*kind, id);
        match value {
            Some(value) => changes.put(key, value.to_vec()),
            None => changes.delete(key),
        }
    }
    changes
}

fn load(store: &SqliteStore, kind: RecordKind, id: &[u8]) -> Option<Vec<u8>> {
    store.load(&RecordKey::new(kind, id)).unwrap()
}

/// The cheapest parameters `LockParams::new` allows, to keep the test quick.
fn cheap() -> LockParams {
    LockParams::new(
        MIN_LOCK_MEMORY_KIB,
        MIN_LOCK_ITERATIONS,
        MIN_LOCK_PARALLELISM,
    )
    .unwrap()
}

/// A second connection to the file, for what the store does not offer (once the store is
/// closed: it locks the file while it is open).
fn raw(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

#[test]
fn memory_store_conforms() {
    store_conformance(MemoryStore::new).unwrap();
}

#[test]
fn sqlite_store_in_memory_conforms() {
    store_conformance(|| SqliteStore::open_in_memory().unwrap()).unwrap();
}

#[test]
fn sqlite_store_in_a_file_conforms() {
    let dir = TempDir::new("conforms");
    let mut n = 0;
    store_conformance(|| {
        n += 1;
        SqliteStore::open(dir.0.join(format!("{n}.db"))).unwrap()
    })
    .unwrap();
    let full = TempDir::new("conforms-full");
    store_conformance(|| {
        n += 1;
        SqliteStore::open_with(full.0.join(format!("{n}.db")), Durability::Full).unwrap()
    })
    .unwrap();
}

#[test]
fn records_survive_reopen() {
    let dir = TempDir::new("reopen");
    let mut store = SqliteStore::open(dir.db()).unwrap();
    for i in 0..100u8 {
        let id = [i; 32];
        let value = vec![i; 400];
        let changes = batch(&[
            (RecordKind::Session, &id, Some(&value)),
            (RecordKind::Peer, &id, Some(b"peer")),
        ]);
        store.save_changes(&changes).unwrap();
    }
    store
        .save_changes(&batch(&[(RecordKind::Peer, &[5; 32], None)]))
        .unwrap();
    drop(store);

    let store = SqliteStore::open(dir.db()).unwrap();
    assert_eq!(
        load(&store, RecordKind::Session, &[42; 32]),
        Some(vec![42; 400])
    );
    assert_eq!(load(&store, RecordKind::Peer, &[5; 32]), None);
    assert_eq!(store.load_kind(RecordKind::Session).unwrap().len(), 100);
    assert_eq!(store.load_kind(RecordKind::Peer).unwrap().len(), 99);
}

#[test]
fn a_batch_that_fails_half_way_leaves_nothing() {
    let dir = TempDir::new("atomic");
    let mut store = SqliteStore::open(dir.db()).unwrap();
    store
        .save_changes(&batch(&[(RecordKind::Session, b"a", Some(b"before"))]))
        .unwrap();

    // SQLite itself refuses the third write, after two have been made in the transaction.
    drop(store);
    raw(&dir.db())
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.id = CAST('bad' AS BLOB)
             BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
        )
        .unwrap();
    let mut store = SqliteStore::open(dir.db()).unwrap();
    let failing = batch(&[
        (RecordKind::Session, b"a", Some(b"after")),
        (RecordKind::Session, b"b", Some(b"new")),
        (RecordKind::Session, b"bad", Some(b"refused")),
        (RecordKind::Session, b"c", Some(b"never reached")),
    ]);
    let error = store.save_changes(&failing).unwrap_err();
    assert!(matches!(error, SqliteError::Sqlite { .. }), "{error:?}");
    assert!(
        error.to_string().starts_with("could not save a batch: "),
        "{error}"
    );

    // The store's own limits, checked in the middle of a batch too.
    let huge = vec![0; MAX_SEALED_STATE_LEN + 1];
    let long_id = vec![1; MAX_RECORD_ID_LEN + 1];
    for (id, value) in [(&b"d"[..], &huge[..]), (&long_id[..], b"value")] {
        let changes = batch(&[
            (RecordKind::Session, b"a", None),
            (RecordKind::Session, id, Some(value)),
        ]);
        let error = store.save_changes(&changes).unwrap_err();
        assert!(
            matches!(error, SqliteError::RecordTooLarge { .. }),
            "{error:?}"
        );
    }

    let check = |store: &SqliteStore| {
        assert_eq!(
            load(store, RecordKind::Session, b"a").as_deref(),
            Some(&b"before"[..])
        );
        assert_eq!(store.load_kind(RecordKind::Session).unwrap().len(), 1);
    };
    check(&store);
    drop(store);
    check(&SqliteStore::open(dir.db()).unwrap());
}

#[test]
fn the_file_is_locked_while_the_store_is_open() {
    let dir = TempDir::new("locked");
    let store = SqliteStore::open(dir.db()).unwrap();
    let other = raw(&dir.db());
    other.busy_timeout(std::time::Duration::ZERO).unwrap();
    let read = |other: &rusqlite::Connection| {
        other.query_row("SELECT count(*) FROM records", [], |row| {
            row.get::<_, i64>(0)
        })
    };
    let error = read(&other).unwrap_err();
    assert_eq!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy)
    );
    drop(store);
    assert_eq!(read(&other).unwrap(), 0);
    // And the other way round: the store waits for the lock, then gives up.
    other
        .execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;")
        .unwrap();
    let error = SqliteStore::open(dir.db()).unwrap_err();
    assert!(matches!(error, SqliteError::Busy { .. }), "{error:?}");
}

#[test]
fn an_oversized_stored_record_is_refused() {
    let dir = TempDir::new("oversized");
    drop(SqliteStore::open(dir.db()).unwrap());
    raw(&dir.db())
        .execute(
            "INSERT INTO records(kind, id, value) VALUES (3, x'01', zeroblob(?1))",
            [MAX_SEALED_STATE_LEN as i64 + 1],
        )
        .unwrap();
    let store = SqliteStore::open(dir.db()).unwrap();
    for error in [
        store
            .load(&RecordKey::new(RecordKind::Session, &[1]))
            .unwrap_err(),
        store.load_kind(RecordKind::Session).unwrap_err(),
    ] {
        assert!(
            matches!(error, SqliteError::StoredRecordTooLarge { .. }),
            "{error:?}"
        );
    }
}

#[test]
fn a_newer_schema_and_other_files_are_refused() {
    let dir = TempDir::new("schema");
    drop(SqliteStore::open(dir.db()).unwrap());
    let newer = SQLITE_SCHEMA_VERSION + 1;
    raw(&dir.db())
        .execute(
            "UPDATE meta SET value = ?1 WHERE name = 'schema_version'",
            [newer],
        )
        .unwrap();
    let error = SqliteStore::open(dir.db()).unwrap_err();
    assert!(
        matches!(error, SqliteError::NewerSchema { found, supported }
            if found == newer && supported == SQLITE_SCHEMA_VERSION),
        "{error:?}"
    );
    assert!(error.to_string().contains("upgrade ratchetkit"), "{error}");
    // Left as it was.
    let version: i64 = raw(&dir.db())
        .query_row(
            "SELECT value FROM meta WHERE name = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(version, newer);

    let other = dir.0.join("other.db");
    raw(&other)
        .execute_batch("CREATE TABLE notes(text TEXT);")
        .unwrap();
    let error = SqliteStore::open(&other).unwrap_err();
    assert!(matches!(error, SqliteError::NotAStore), "{error:?}");

    let text = dir.0.join("text.db");
    std::fs::write(&text, vec![b'x'; 4096]).unwrap();
    let error = SqliteStore::open(&text).unwrap_err();
    assert!(matches!(error, SqliteError::Corrupt { .. }), "{error:?}");

    let missing = dir.0.join("no such directory").join("store.db");
    let error = SqliteStore::open(missing).unwrap_err();
    assert!(matches!(error, SqliteError::Sqlite { .. }), "{error:?}");
}

#[test]
fn the_password_key_is_kept_across_reopen() {
    let dir = TempDir::new("password");
    let mut rng = rand::rng();
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let id = alice.card().fingerprint();

    let mut store = SqliteStore::open(dir.db()).unwrap();
    let key = store
        .storage_key_from_password(&mut rng, b"correct horse", &cheap())
        .unwrap();
    let sealed = key.seal(&mut rng, &alice).unwrap();
    drop(store);

    // The kept parameters are used, whatever is passed later.
    let mut store = SqliteStore::open(dir.db()).unwrap();
    let again = store
        .storage_key_from_password(&mut rng, b"correct horse", &LockParams::default())
        .unwrap();
    assert_eq!(
        again.open::<Identity>(&sealed, &id).unwrap().card(),
        alice.card()
    );
    let error = store
        .storage_key_from_password(&mut rng, b"wrong", &cheap())
        .unwrap_err();
    assert!(matches!(error, SqliteError::WrongPassword), "{error:?}");
    drop(store);

    // The kept salt: the same password gives the key, another a key that does not open.
    let kept: Vec<u8> = raw(&dir.db())
        .query_row(
            "SELECT value FROM meta WHERE name = 'password'",
            [],
            |row| row.get(0),
        )
        .unwrap();
    let salt: [u8; 16] = kept[..16].try_into().unwrap();
    let derived = StorageKey::from_password(b"correct horse", &salt, &cheap()).unwrap();
    assert!(derived.open::<Identity>(&sealed, &id).is_ok());
    let other = StorageKey::from_password(b"correct horse!", &salt, &cheap()).unwrap();
    assert!(other.open::<Identity>(&sealed, &id).is_err());

    // Another store has another salt, so the same password gives another key.
    let mut second = SqliteStore::open(dir.0.join("second.db")).unwrap();
    let second_key = second
        .storage_key_from_password(&mut rng, b"correct horse", &cheap())
        .unwrap();
    assert!(second_key.open::<Identity>(&sealed, &id).is_err());
}

#[test]
fn the_file_holds_only_what_it_is_given() {
    let dir = TempDir::new("plaintext");
    let mut rng = rand::rng();
    let key = StorageKey::generate(&mut rng);
    let marker = "plaintext-marker-5d1c2e@example.org";
    let alice = Identity::generate(&mut rng, marker).unwrap();
    assert!(contains(&alice.to_bytes(), marker.as_bytes()));
    let sealed = key.seal(&mut rng, &alice).unwrap();

    let mut store = SqliteStore::open(dir.db()).unwrap();
    let id = alice.card().fingerprint();
    store
        .save_changes(&batch(&[(RecordKind::Device, b"", Some(&sealed))]))
        .unwrap();
    let bytes = dir.all_bytes();
    assert!(
        contains(&bytes, &sealed),
        "the store writes what it is given"
    );
    assert!(!contains(&bytes, marker.as_bytes()));

    // A deleted record is gone from the file once SQLite has checkpointed and closed it
    // (`secure_delete`), so a key stolen later does not open older states.
    let kept = key.seal(&mut rng, &alice).unwrap();
    store
        .save_changes(&batch(&[(RecordKind::Prekeys, b"", Some(&kept))]))
        .unwrap();
    store
        .save_changes(&batch(&[(RecordKind::Device, b"", None)]))
        .unwrap();
    drop(store);
    let bytes = dir.all_bytes();
    assert!(contains(&bytes, &kept));
    assert!(!contains(&bytes, &sealed[sealed.len() - 64..]));
    assert!(!contains(&bytes, marker.as_bytes()));
    let store = SqliteStore::open(dir.db()).unwrap();
    let loaded = load(&store, RecordKind::Prekeys, b"").unwrap();
    assert_eq!(
        key.open::<Identity>(&loaded, &id).unwrap().card(),
        alice.card()
    );
}
