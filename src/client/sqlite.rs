//! [`SqliteStore`]: a [`Store`] in one SQLite database file (SQLite compiled into the
//! crate by rusqlite's `bundled` feature, so no system library is needed).

use std::path::Path;
use std::time::Duration;

use rand::CryptoRng;
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use super::store::{Changes, RecordKey, RecordKind, Store, MAX_RECORD_ID_LEN};
use crate::identity::{LockParams, LOCK_SALT_LEN};
use crate::storage::{StorageKey, MAX_SEALED_STATE_LEN};

mod error;

use error::fail;
pub use error::SqliteError;

/// The layout of the database this version writes and reads: 1. A file of a newer
/// version is refused with [`SqliteError::NewerSchema`], never changed.
pub const SQLITE_SCHEMA_VERSION: i64 = 1;

/// How long a call waits for another connection that holds the database's write lock
/// before it fails with [`SqliteError::Busy`]: 5 seconds, far longer than any one
/// batch takes, short enough that a stuck second process is reported.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How many pages (4 KiB each) the WAL file grows to before SQLite copies them into the
/// database: 4,000, about 16 MiB. Each copy (a checkpoint) costs two disk flushes, so
/// this is four times fewer than SQLite's default of 1,000, and makes small batches about
/// 1.5 times faster (21,000 to 32,000 a second on a loaded 2-core VM). The WAL is copied
/// and deleted when the store is closed.
pub const SQLITE_WAL_CHECKPOINT_PAGES: u32 = 4_000;

/// The tables. Records are keyed by [`RecordKind::code`] and id, without SQLite's
/// hidden row ids; `meta` holds the schema version and the password's salt, parameters
/// and key check value (one blob: salt, then be32 memory, passes and lanes, then the check
/// value).
const SCHEMA: &str = "
    CREATE TABLE meta(name TEXT PRIMARY KEY NOT NULL, value NOT NULL) WITHOUT ROWID;
    CREATE TABLE records(kind INTEGER NOT NULL, id BLOB NOT NULL, value BLOB NOT NULL,
        PRIMARY KEY(kind, id)) WITHOUT ROWID;";

// Each stored value and id comes with its length, and is read only if that is within
// its limit (`VALUE_LIMIT`, `ID_LIMIT`), so a corrupted one is never loaded.
const LOAD: &str = "SELECT length(value), iif(length(value) <= ?3, value, NULL) FROM records
    WHERE kind = ?1 AND id = ?2";
const LOAD_KIND: &str = "SELECT length(value), iif(length(value) <= ?2, value, NULL),
    length(id), iif(length(id) <= ?3, id, NULL) FROM records WHERE kind = ?1 ORDER BY id";
// Both fit an i64 (SQLite's integer) many times over.
const VALUE_LIMIT: i64 = MAX_SEALED_STATE_LEN as i64;
const ID_LIMIT: i64 = MAX_RECORD_ID_LEN as i64;
const PUT: &str = "INSERT OR REPLACE INTO records(kind, id, value) VALUES (?1, ?2, ?3)";
const DELETE: &str = "DELETE FROM records WHERE kind = ?1 AND id = ?2";
const META: &str = "SELECT value FROM meta WHERE name = ?1";
const PUT_META: &str = "INSERT INTO meta(name, value) VALUES (?1, ?2)";
const OUR_TABLES: &str =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name IN ('meta', 'records')";

/// What the key check value seals, as a record of this kind with an empty id: no
/// client record has this kind, so it never opens as one.
const KEY_CHECK_KIND: &str = "client-store-key-check";
const KEY_CHECK_PLAINTEXT: &[u8] = b"ratchetkit sqlite store key check v1";

/// How much a [`SqliteStore`] waits for the disk before a batch counts as saved.
///
/// Both are safe against a crash of the app or a kill of its process: the database is
/// never corrupted, and every batch that returned `Ok` is there on reopen.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// SQLite's `synchronous=NORMAL` in WAL mode: a commit is written to the WAL file
    /// without waiting for the disk (tens of thousands of batches a second). An OS crash
    /// or power loss may lose the last batches, never corrupt the database. Then a
    /// channel may be restored to a slightly older state, as from a backup.
    #[default]
    Normal,
    /// `synchronous=FULL`: each commit waits until the disk has it (an fsync), so an OS
    /// crash or power loss loses nothing that returned `Ok`; a batch costs a disk flush.
    Full,
}

/// A [`Store`] in a SQLite database: a `records` table keyed by kind and id, in WAL
/// mode, one transaction per [`save_changes`](Store::save_changes).
///
/// It holds what it is given (the client's sealed records) and adds nothing but its
/// schema version and, if asked, the password's salt, parameters and key check value.
///
/// It locks the file for as long as it is open (SQLite's exclusive locking mode): one
/// client at a time, as two clients over one store would overwrite each other's ratchet
/// states and could reuse message keys. Another process (or a second `SqliteStore`)
/// opening the file waits [`SQLITE_BUSY_TIMEOUT`] and fails with [`SqliteError::Busy`].
/// `secure_delete` is on: deleted and replaced records are zeroed in the file (copies
/// the WAL, the file system or the flash keep may outlive them a while).
///
/// ```
/// use ratchetkit::client::{Changes, RecordKey, RecordKind, SqliteStore, Store};
///
/// let path = std::env::temp_dir().join(format!("ratchetkit-doc-{}.db", std::process::id()));
/// let mut store = SqliteStore::open(&path)?;
/// let mut changes = Changes::new();
/// changes.put(RecordKey::new(RecordKind::Peer, b"bob"), b"sealed bytes".to_vec());
/// store.save_changes(&changes)?;
/// drop(store);
///
/// let store = SqliteStore::open(&path)?;
/// let key = RecordKey::new(RecordKind::Peer, b"bob");
/// assert_eq!(store.load(&key)?.as_deref(), Some(&b"sealed bytes"[..]));
/// # drop(store);
/// # for suffix in ["", "-wal", "-shm"] {
/// #     let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
/// # }
/// # Ok::<(), ratchetkit::client::SqliteError>(())
/// ```
#[derive(Debug)]
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// Opens the store in the file at `path`, creating it if it does not exist, with
    /// [`Durability::Normal`].
    ///
    /// # Errors
    /// [`SqliteError::NewerSchema`] for a store written by a newer version;
    /// [`SqliteError::NotAStore`] for another SQLite database;
    /// [`SqliteError::Corrupt`] for a file that is not SQLite; the other variants for
    /// a file that cannot be opened or created.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, SqliteError> {
        Self::open_with(path, Durability::Normal)
    }

    /// Opens the store at `path` as [`SqliteStore::open`] does, with `durability`.
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: impl AsRef<Path>, durability: Durability) -> Result<Self, SqliteError> {
        let conn = Connection::open(path).map_err(fail("open the database"))?;
        Self::setup(conn, durability)
    }

    /// A store in memory, gone when dropped: for tests.
    ///
    /// # Errors
    /// Only if SQLite cannot allocate its memory.
    pub fn open_in_memory() -> Result<Self, SqliteError> {
        let conn = Connection::open_in_memory().map_err(fail("open the database"))?;
        Self::setup(conn, Durability::Normal)
    }

    fn setup(mut conn: Connection, durability: Durability) -> Result<Self, SqliteError> {
        let on = fail("open the database");
        conn.busy_timeout(SQLITE_BUSY_TIMEOUT).map_err(on)?;
        // Each returns the mode it set. Exclusive first, so that the WAL index is kept in
        // memory rather than in a shared `-shm` file.
        for (pragma, value) in [("locking_mode", "EXCLUSIVE"), ("journal_mode", "WAL")] {
            conn.pragma_update_and_check(None, pragma, value, |row| row.get::<_, String>(0))
                .map_err(on)?;
        }
        let synchronous = match durability {
            Durability::Normal => "NORMAL",
            Durability::Full => "FULL",
        };
        let pragmas: [(&str, &dyn rusqlite::ToSql); 3] = [
            ("synchronous", &synchronous),
            ("secure_delete", &true),
            ("wal_autocheckpoint", &SQLITE_WAL_CHECKPOINT_PAGES),
        ];
        for (pragma, value) in pragmas {
            conn.pragma_update(None, pragma, value).map_err(on)?;
        }
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on)?;
        let count = |sql: &str| {
            tx.query_row(sql, [], |row| row.get::<_, i64>(0))
                .map_err(on)
        };
        if count("SELECT count(*) FROM sqlite_schema")? == 0 {
            tx.execute_batch(SCHEMA).map_err(on)?;
            tx.execute(PUT_META, ("schema_version", SQLITE_SCHEMA_VERSION))
                .map_err(on)?;
        } else if count(OUR_TABLES)? != 2 {
            return Err(SqliteError::NotAStore);
        } else {
            let version = tx
                .query_row(META, ["schema_version"], |row| {
                    row.get_ref(0).map(|v| v.as_i64())
                })
                .optional()
                .map_err(on)?;
            match version {
                Some(Ok(SQLITE_SCHEMA_VERSION)) => {}
                Some(Ok(found)) if found > SQLITE_SCHEMA_VERSION => {
                    return Err(SqliteError::NewerSchema {
                        found,
                        supported: SQLITE_SCHEMA_VERSION,
                    })
                }
                _ => return Err(SqliteError::NotAStore),
            }
        }
        tx.commit().map_err(on)?;
        Ok(Self { conn })
    }

    /// The [`StorageKey`] of `password` for this store: Argon2id
    /// ([`StorageKey::from_password`]) with the salt and parameters kept in the store.
    ///
    /// The first call makes a random 16-byte salt, and keeps it with `params` and a key
    /// check value (a fixed string sealed under the key). Later calls, after a reopen
    /// too, use the kept salt and parameters (`params` is then ignored) and give the same
    /// key for the same password; a wrong password fails at once with
    /// [`SqliteError::WrongPassword`] instead of when the first record fails to open. The
    /// check value lets a thief of the file test guesses no faster than any sealed
    /// record does: each guess costs an Argon2id run. The password is not kept.
    ///
    /// ```
    /// use ratchetkit::client::{SqliteError, SqliteStore};
    /// use ratchetkit::LockParams;
    /// # let mut rng = rand::rng();
    /// let mut store = SqliteStore::open_in_memory()?;
    /// let params = LockParams::default();
    /// let key = store.storage_key_from_password(&mut rng, b"correct horse", &params)?;
    /// let again = store.storage_key_from_password(&mut rng, b"correct horse", &params)?;
    /// # let _ = (key, again);
    /// assert!(matches!(
    ///     store.storage_key_from_password(&mut rng, b"wrong", &params),
    ///     Err(SqliteError::WrongPassword)
    /// ));
    /// # Ok::<(), SqliteError>(())
    /// ```
    ///
    /// # Errors
    /// [`SqliteError::WrongPassword`]; [`SqliteError::KeyDerivation`] if Argon2id's
    /// memory cannot be allocated; [`SqliteError::Corrupted`] for damaged stored values;
    /// the database's errors.
    pub fn storage_key_from_password<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        password: &[u8],
        params: &LockParams,
    ) -> Result<StorageKey, SqliteError> {
        let on = fail("read or save the password's salt");
        // Held while a first key is derived, so that two first calls cannot both save.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on)?;
        let stored = tx
            .query_row(META, ["password"], |row| {
                row.get_ref(0)
                    .map(|value| value.as_blob().map(<[u8]>::to_vec))
            })
            .optional()
            .map_err(on)?;
        if let Some(stored) = stored {
            let stored = stored.map_err(|_| corrupted_password())?;
            drop(tx);
            let (salt, [memory, passes, lanes], check) =
                parse_password(&stored).ok_or_else(corrupted_password)?;
            let params =
                LockParams::stored(memory, passes, lanes).map_err(|_| corrupted_password())?;
            let key = StorageKey::from_password(password, salt, &params)
                .map_err(SqliteError::KeyDerivation)?;
            return match key.open_record(check, KEY_CHECK_KIND, &[]) {
                Ok(opened) if opened.as_slice() == KEY_CHECK_PLAINTEXT => Ok(key),
                _ => Err(SqliteError::WrongPassword),
            };
        }
        let mut salt = [0u8; LOCK_SALT_LEN];
        rng.fill_bytes(&mut salt);
        let key = StorageKey::from_password(password, &salt, params)
            .map_err(SqliteError::KeyDerivation)?;
        let check = key
            .seal_record(rng, KEY_CHECK_KIND, &[], KEY_CHECK_PLAINTEXT)
            .map_err(SqliteError::KeyDerivation)?;
        let mut stored = salt.to_vec();
        for number in [
            params.memory_kib(),
            params.iterations(),
            params.parallelism(),
        ] {
            stored.extend_from_slice(&number.to_be_bytes());
        }
        stored.extend_from_slice(&check);
        tx.execute(PUT_META, ("password", stored)).map_err(on)?;
        tx.commit().map_err(on)?;
        Ok(key)
    }
}

/// The kept password's salt, Argon2id parameters and key check value (see `SCHEMA`).
fn parse_password(stored: &[u8]) -> Option<(&[u8; LOCK_SALT_LEN], [u32; 3], &[u8])> {
    let (salt, rest) = stored.split_first_chunk()?;
    let (memory, rest) = rest.split_first_chunk()?;
    let (passes, rest) = rest.split_first_chunk()?;
    let (lanes, check) = rest.split_first_chunk()?;
    Some((
        salt,
        [memory, passes, lanes].map(|n| u32::from_be_bytes(*n)),
        check,
    ))
}

fn corrupted_password() -> SqliteError {
    SqliteError::Corrupted {
        what: "the password's salt, parameters or key check value",
    }
}

/// The stored id or value in columns `at` (its length) and `at + 1` (the bytes, if
/// within `limit`), refused if over `limit` or not a blob: the database is corrupted,
/// as the store never writes such a record.
fn stored_blob(row: &rusqlite::Row<'_>, at: usize, limit: usize) -> Result<Vec<u8>, SqliteError> {
    let on = fail("read a record");
    let len: i64 = row.get(at).map_err(on)?;
    match row.get_ref(at + 1).map_err(on)? {
        ValueRef::Blob(bytes) if bytes.len() <= limit => Ok(bytes.to_vec()),
        ValueRef::Null => Err(SqliteError::StoredRecordTooLarge {
            len: usize::try_from(len).unwrap_or(usize::MAX),
            limit,
        }),
        _ => Err(SqliteError::Corrupted {
            what: "a record whose id or value is not a blob",
        }),
    }
}

impl Store for SqliteStore {
    type Error = SqliteError;

    /// Refuses a stored value over [`MAX_SEALED_STATE_LEN`] bytes (no sealed record is
    /// larger) with [`SqliteError::StoredRecordTooLarge`] before returning it.
    fn load(&self, key: &RecordKey) -> Result<Option<Vec<u8>>, SqliteError> {
        let on = fail("load a record");
        let mut statement = self.conn.prepare_cached(LOAD).map_err(on)?;
        let mut rows = statement
            .query((key.kind().code(), key.id(), VALUE_LIMIT))
            .map_err(on)?;
        match rows.next().map_err(on)? {
            Some(row) => stored_blob(row, 0, MAX_SEALED_STATE_LEN).map(Some),
            None => Ok(None),
        }
    }

    /// Ids ascend bytewise (as `Vec<u8>` orders them); each value is checked as in `load`.
    fn load_kind(&self, kind: RecordKind) -> Result<Vec<(Vec<u8>, Vec<u8>)>, SqliteError> {
        let on = fail("load the records of a kind");
        let mut statement = self.conn.prepare_cached(LOAD_KIND).map_err(on)?;
        let mut rows = statement
            .query((kind.code(), VALUE_LIMIT, ID_LIMIT))
            .map_err(on)?;
        let mut records = Vec::new();
        while let Some(row) = rows.next().map_err(on)? {
            let value = stored_blob(row, 0, MAX_SEALED_STATE_LEN)?;
            records.push((stored_blob(row, 2, MAX_RECORD_ID_LEN)?, value));
        }
        Ok(records)
    }

    /// One `IMMEDIATE` transaction. An id over [`MAX_RECORD_ID_LEN`] or a value over
    /// [`MAX_SEALED_STATE_LEN`] bytes fails the batch ([`SqliteError::RecordTooLarge`]),
    /// and any failure rolls the whole batch back.
    fn save_changes(&mut self, changes: &Changes) -> Result<(), SqliteError> {
        if changes.is_empty() {
            return Ok(());
        }
        let on = fail("save a batch");
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(on)?;
        {
            let mut put = tx.prepare_cached(PUT).map_err(on)?;
            let mut delete = tx.prepare_cached(DELETE).map_err(on)?;
            for (key, value) in changes.writes() {
                let too_large = |len, limit| SqliteError::RecordTooLarge { len, limit };
                if key.id().len() > MAX_RECORD_ID_LEN {
                    return Err(too_large(key.id().len(), MAX_RECORD_ID_LEN));
                }
                match value {
                    Some(value) if value.len() > MAX_SEALED_STATE_LEN => {
                        return Err(too_large(value.len(), MAX_SEALED_STATE_LEN))
                    }
                    Some(value) => put.execute((key.kind().code(), key.id(), value)),
                    None => delete.execute((key.kind().code(), key.id())),
                }
                .map_err(on)?;
            }
        }
        tx.commit().map_err(on)
    }
}
