//! The SQLite backend: one writer connection and a few readers, in WAL mode, each
//! transaction run on tokio's blocking threads.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::Connection;

use super::{run, Op, Outcome, Row, StoreError, Tx, Value};
use crate::error::ApiError;

/// Reader connections kept open: enough for the two cores this runs on and a little
/// waiting on the disk; more readers than that only queue for the CPU. A reader that is
/// busy is not waited for: another connection is opened for the request and closed after.
pub const SQLITE_READERS: usize = 4;

/// How long a connection waits for a lock held by another process (a backup, an operator's
/// `sqlite3` shell) before the request fails: 5 s. Within the server, writes never wait
/// for each other here (they queue for the one writer connection).
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The schema, one entry per version; versions apply in order, each in its own
/// transaction, and `schema_version` remembers the newest applied.
const MIGRATIONS: &[&str] = &[
    // 1: cards, bundles, device lists, mailboxes.
    "CREATE TABLE cards (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        fingerprint BLOB NOT NULL UNIQUE,
        name TEXT NOT NULL,
        signing_key BLOB NOT NULL,
        card BLOB NOT NULL,
        depth INTEGER NOT NULL,
        replaced_by BLOB,
        signed_prekey_id INTEGER,
        signed_prekey BLOB,
        fallback BLOB,
        next_position INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX cards_name ON cards (name, seq);
    CREATE INDEX cards_signing_key ON cards (signing_key, seq);
    CREATE TABLE one_time_bundles (
        card_seq INTEGER NOT NULL REFERENCES cards (seq),
        prekey_id INTEGER NOT NULL,
        prekey BLOB NOT NULL,
        position INTEGER NOT NULL,
        bundle BLOB NOT NULL,
        PRIMARY KEY (card_seq, prekey_id)
    );
    CREATE UNIQUE INDEX one_time_bundles_position ON one_time_bundles (card_seq, position);
    CREATE TABLE handed_out (
        card_seq INTEGER NOT NULL REFERENCES cards (seq),
        prekey_id INTEGER NOT NULL,
        prekey BLOB NOT NULL,
        handed_seq INTEGER NOT NULL,
        PRIMARY KEY (card_seq, prekey_id)
    );
    CREATE INDEX handed_out_order ON handed_out (card_seq, handed_seq);
    CREATE TABLE device_lists (
        account BLOB PRIMARY KEY,
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        list BLOB NOT NULL
    );
    CREATE TABLE mailbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        device BLOB NOT NULL,
        envelope BLOB NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE INDEX mailbox_device ON mailbox (device, id);
    CREATE INDEX mailbox_created ON mailbox (created_at);",
    // 2: who deposited each envelope, for each sender's share of a mailbox
    // (`mailbox::MAX_SENDER_ENVELOPES`).
    "ALTER TABLE mailbox ADD COLUMN sender TEXT NOT NULL DEFAULT '';
    CREATE INDEX mailbox_sender ON mailbox (device, sender);",
];

/// Connections, shared by the request tasks.
#[derive(Debug)]
struct Pool {
    path: PathBuf,
    /// The one writer: write transactions take turns on it (`BEGIN IMMEDIATE`).
    writer: Mutex<Option<Connection>>,
    /// Idle reader connections.
    readers: Mutex<Vec<Connection>>,
}

/// A SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: Arc<Pool>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// # Errors
    /// [`StoreError`] if the file cannot be opened or migrated.
    pub async fn open(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let path = path.into();
        let pool = tokio::task::spawn_blocking(move || -> Result<Pool, StoreError> {
            let mut writer = connect(&path)?;
            // WAL: readers do not block the writer nor the writer them; persistent.
            writer.pragma_update(None, "journal_mode", "WAL")?;
            migrate(&mut writer)?;
            Ok(Pool {
                path,
                writer: Mutex::new(Some(writer)),
                readers: Mutex::new(Vec::new()),
            })
        })
        .await
        .map_err(|error| StoreError::Task(error.to_string()))??;
        Ok(Self {
            pool: Arc::new(pool),
        })
    }

    /// The directory of the database file.
    pub(crate) fn directory(&self) -> PathBuf {
        match self.pool.path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Runs `op` as one transaction on a blocking thread.
    pub(crate) async fn run(&self, op: Op) -> Result<Outcome, ApiError> {
        let pool = Arc::clone(&self.pool);
        tokio::task::spawn_blocking(move || pool.run(op))
            .await
            .map_err(|error| ApiError::from(StoreError::Task(error.to_string())))?
    }

    /// Closes every connection (after the transactions in progress, which hold theirs).
    pub(crate) async fn close(&self) {
        let pool = Arc::clone(&self.pool);
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(mut writer) = pool.writer.lock() {
                if let Some(connection) = writer.take() {
                    // A failed close leaves nothing to do but drop the connection.
                    let _ = connection.close();
                }
            }
            if let Ok(mut readers) = pool.readers.lock() {
                readers.clear();
            }
        })
        .await;
    }
}

impl Pool {
    fn run(&self, op: Op) -> Result<Outcome, ApiError> {
        if op.writes() {
            // The lock is the queue of writers; a poisoned one (a panicked request) still
            // guards a connection whose transaction was rolled back below or by SQLite.
            let mut guard = self.writer.lock().unwrap_or_else(|e| e.into_inner());
            let connection = guard
                .as_mut()
                .ok_or_else(|| ApiError::internal("the database is closed"))?;
            transact(connection, "BEGIN IMMEDIATE", op)
        } else {
            let mut connection = match self.readers.lock().map(|mut idle| idle.pop()) {
                Ok(Some(connection)) => connection,
                _ => connect(&self.path)?,
            };
            let result = transact(&mut connection, "BEGIN", op);
            if let Ok(mut idle) = self.readers.lock() {
                if idle.len() < SQLITE_READERS {
                    idle.push(connection);
                }
            }
            result
        }
    }
}

/// Opens a connection with the settings every connection needs.
fn connect(path: &Path) -> Result<Connection, StoreError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // With WAL, NORMAL loses at most the last transactions on a power cut, never the
    // database's consistency: the usual setting for WAL.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(connection)
}

/// Applies the migrations the database lacks.
fn migrate(connection: &mut Connection) -> Result<(), StoreError> {
    connection
        .execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let found: Option<i64> =
        connection.query_row("SELECT MAX(version) FROM schema_version", [], |row| {
            row.get(0)
        })?;
    let found = found.unwrap_or(0);
    let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
    if found > known {
        return Err(StoreError::SchemaTooNew { found, known });
    }
    for (version, sql) in (1_i64..)
        .zip(MIGRATIONS)
        .skip(usize::try_from(found).unwrap_or(0))
    {
        let tx = connection.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_version (version) VALUES (?1)",
            [version],
        )?;
        tx.commit()?;
        tracing::info!(version, "applied SQLite schema migration");
    }
    Ok(())
}

/// Runs `op` between `begin` and `COMMIT`, or rolls back.
fn transact(connection: &mut Connection, begin: &str, op: Op) -> Result<Outcome, ApiError> {
    connection.execute_batch(begin).map_err(StoreError::from)?;
    let mut tx = SqliteTx { connection };
    let result = block_on(run(&mut tx, op)).and_then(|result| result);
    match result {
        Ok(outcome) => {
            connection
                .execute_batch("COMMIT")
                .map_err(StoreError::from)?;
            Ok(outcome)
        }
        Err(error) => {
            // A failed rollback leaves SQLite rolling back itself when the connection
            // next starts a transaction or closes.
            let _ = connection.execute_batch("ROLLBACK");
            Err(error)
        }
    }
}

/// Runs a future whose every await is ready at once (the SQLite [`Tx`] does its work
/// synchronously inside its futures), on this blocking thread.
fn block_on<F: Future>(future: F) -> Result<F::Output, ApiError> {
    let mut future = pin!(future);
    match future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        Poll::Ready(output) => Ok(output),
        Poll::Pending => Err(ApiError::internal("a SQLite operation did not complete")),
    }
}

/// A SQLite transaction started by [`transact`].
struct SqliteTx<'a> {
    connection: &'a mut Connection,
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(value) => ToSqlOutput::Borrowed(ValueRef::Integer(*value)),
            Value::Bytes(bytes) => ToSqlOutput::Borrowed(ValueRef::Blob(bytes)),
            Value::Text(text) => ToSqlOutput::Borrowed(ValueRef::Text(text.as_bytes())),
        })
    }
}

/// `$1` parameters as SQLite's numbered `?1`.
fn sqlite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

impl SqliteTx<'_> {
    fn query_now(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let mut statement = self.connection.prepare_cached(&sqlite_sql(sql))?;
        let columns = statement.column_count();
        let mut rows = statement.query(rusqlite::params_from_iter(params))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            let mut values = Vec::with_capacity(columns);
            for index in 0..columns {
                values.push(match row.get_ref(index)? {
                    ValueRef::Null => Value::Null,
                    ValueRef::Integer(value) => Value::Int(value),
                    ValueRef::Blob(bytes) => Value::Bytes(bytes.to_vec()),
                    ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text).into_owned()),
                    ValueRef::Real(_) => return Err(StoreError::Corrupt("a REAL value")),
                });
            }
            out.push(Row(values));
        }
        Ok(out)
    }

    fn execute_now(&mut self, sql: &str, params: &[Value]) -> Result<u64, StoreError> {
        let mut statement = self.connection.prepare_cached(&sqlite_sql(sql))?;
        let changed = statement.execute(rusqlite::params_from_iter(params))?;
        Ok(u64::try_from(changed).unwrap_or(u64::MAX))
    }
}

impl Tx for SqliteTx<'_> {
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send {
        std::future::ready(self.query_now(sql, params))
    }

    fn execute(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send {
        std::future::ready(self.execute_now(sql, params))
    }

    fn lock(&mut self, _key: &[u8]) -> impl Future<Output = Result<(), StoreError>> + Send {
        std::future::ready(Ok(()))
    }

    fn for_update(&self) -> &'static str {
        ""
    }
}
