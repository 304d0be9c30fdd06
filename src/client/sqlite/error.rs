//! [`SqliteError`]: what a [`SqliteStore`](super::SqliteStore) call fails with.

use rusqlite::ErrorCode;

/// What a [`SqliteStore`](super::SqliteStore) call fails with. Each message says what to
/// do; none holds a record's contents.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SqliteError {
    /// Another connection (another process, or a second store on the file) held the lock
    /// for over [`SQLITE_BUSY_TIMEOUT`](super::SQLITE_BUSY_TIMEOUT).
    #[error("could not {action}: the database is locked by another connection ({source}); close the other program or store using the file, then retry")]
    Busy {
        /// What the store was doing.
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The disk (or the file system's quota) is full.
    #[error("could not {action}: the disk is full ({source}); free some space, then retry")]
    DiskFull {
        /// What the store was doing.
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is damaged, or is not a SQLite database at all.
    #[error("could not {action}: the file is corrupted or not a SQLite database ({source}); restore it from a backup, or check the path")]
    Corrupt {
        /// What the store was doing.
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Any other failure of SQLite or of the file (permissions, a missing directory).
    #[error(
        "could not {action}: {source}; check that the file's directory exists and is writable, and that the disk works"
    )]
    Sqlite {
        /// What the store was doing.
        action: &'static str,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The file is a SQLite database, but not a ratchetkit store.
    #[error("the file is a SQLite database of another program, not a ratchetkit store; give the store a file of its own")]
    NotAStore,
    /// The store was written by a newer version of ratchetkit; it is left as it is.
    #[error("the store has schema version {found}, newer than the {supported} this version of ratchetkit reads; upgrade ratchetkit")]
    NewerSchema {
        /// The file's version.
        found: i64,
        /// [`SQLITE_SCHEMA_VERSION`](super::SQLITE_SCHEMA_VERSION).
        supported: i64,
    },
    /// A stored id or value is over its limit: the database is corrupted.
    #[error("a stored record id or value of {len} bytes is over the limit of {limit}: the database is corrupted; restore it from a backup")]
    StoredRecordTooLarge {
        /// The id's or value's length.
        len: usize,
        /// [`MAX_SEALED_STATE_LEN`](crate::storage::MAX_SEALED_STATE_LEN), or
        /// [`MAX_RECORD_ID_LEN`](crate::client::MAX_RECORD_ID_LEN) for an id.
        limit: usize,
    },
    /// A stored value is damaged.
    #[error("{what} is damaged: the database is corrupted; restore it from a backup")]
    Corrupted {
        /// What is damaged.
        what: &'static str,
    },
    /// A batch held an id or value over its limit, which no sealed record reaches; the
    /// batch was not saved.
    #[error("a record id or value of {len} bytes is over the limit of {limit}; the batch was not saved (only sealed records belong in the store)")]
    RecordTooLarge {
        /// The id's or value's length.
        len: usize,
        /// [`MAX_RECORD_ID_LEN`](crate::client::MAX_RECORD_ID_LEN) for an id,
        /// [`MAX_SEALED_STATE_LEN`](crate::storage::MAX_SEALED_STATE_LEN) for a value.
        limit: usize,
    },
    /// The password does not open the store's key check value.
    #[error("wrong password for this store; ask for it again")]
    WrongPassword,
    /// Deriving the key from the password failed.
    #[error("could not derive the storage key from the password: {0}")]
    KeyDerivation(#[source] crate::Error),
}

/// Turns a rusqlite error into the [`SqliteError`] of doing `action`.
pub(super) fn fail(action: &'static str) -> impl Fn(rusqlite::Error) -> SqliteError + Copy {
    move |error| match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => SqliteError::Busy {
            action,
            source: error,
        },
        Some(ErrorCode::DiskFull) => SqliteError::DiskFull {
            action,
            source: error,
        },
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => SqliteError::Corrupt {
            action,
            source: error,
        },
        _ => SqliteError::Sqlite {
            action,
            source: error,
        },
    }
}
