//! Storage: one SQL schema on two databases, SQLite ([`SqliteStore`]) and PostgreSQL
//! ([`PostgresStore`]), behind [`Database`].
//!
//! Every request is one transaction. The operations (in [`crate::cards`],
//! [`crate::bundles`], [`crate::devices`] and [`crate::mailbox`]) are written once, over
//! the small `Tx` interface (run a statement, read rows), in SQL both databases accept:
//! `$1` parameters (SQLite reads them as `?1`), `ON CONFLICT`, `RETURNING`, 64-bit
//! integers and byte strings only. So both backends run the same code and pass the same
//! tests; what differs is the schema's types, how a transaction starts and how it
//! serializes the writers:
//!
//! - SQLite: one writer connection, each write transaction `BEGIN IMMEDIATE` (writers
//!   queue; readers on their own connections see the last commit, in WAL mode).
//! - PostgreSQL: `READ COMMITTED` transactions that lock the rows they change (`SELECT
//!   ... FOR UPDATE` on the card, advisory locks for per-name and per-mailbox counts), so
//!   that two claims of one card's bundles take turns and never hand out one bundle twice.
//!
//! An operation that fails returns before the commit: the transaction is rolled back and
//! the request changes nothing.

pub(crate) mod postgres;
pub(crate) mod sqlite;

use std::future::Future;

pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;

use crate::error::ApiError;

/// A database failure: the request is answered `500 internal`, and nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// No PostgreSQL connection could be had from the pool.
    #[error("postgres pool: {0}")]
    Pool(String),
    /// A blocking database task did not finish (it panicked or the runtime is stopping).
    #[error("database task: {0}")]
    Task(String),
    /// The database holds something the server never writes (a wrong type, a negative
    /// count): a schema from another program, or corruption.
    #[error("unexpected database content: {0}")]
    Corrupt(&'static str),
    /// The database's schema is newer than this server knows.
    #[error("the database schema is version {found}, newer than this server's {known}")]
    SchemaTooNew {
        /// The version found.
        found: i64,
        /// The newest version this server has.
        known: i64,
    },
    /// Opening the database failed (a bad path or URL).
    #[error("cannot open the database: {0}")]
    Open(String),
}

/// A value bound to, or read from, a statement: the only types the schema uses.
#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// SQL NULL.
    Null,
    /// A 64-bit integer (`BIGINT`, SQLite `INTEGER`).
    Int(i64),
    /// A byte string (`BYTEA`, SQLite `BLOB`).
    Bytes(Vec<u8>),
    /// Text.
    Text(String),
}

// Values are keys, cards and envelopes: printed as sizes only, never as content.
impl core::fmt::Debug for Value {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Value::Null => f.write_str("Null"),
            Value::Int(value) => write!(f, "Int({value})"),
            Value::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            Value::Text(text) => write!(f, "Text({} bytes)", text.len()),
        }
    }
}

impl From<i64> for Value {
    fn from(value: i64) -> Self {
        Value::Int(value)
    }
}

impl From<Vec<u8>> for Value {
    fn from(value: Vec<u8>) -> Self {
        Value::Bytes(value)
    }
}

impl From<&[u8]> for Value {
    fn from(value: &[u8]) -> Self {
        Value::Bytes(value.to_vec())
    }
}

impl From<&str> for Value {
    fn from(value: &str) -> Self {
        Value::Text(value.to_owned())
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// One result row.
#[derive(Debug)]
pub(crate) struct Row(pub(crate) Vec<Value>);

impl Row {
    fn get(&self, index: usize) -> Result<&Value, StoreError> {
        self.0
            .get(index)
            .ok_or(StoreError::Corrupt("missing column"))
    }

    /// Column `index` as an integer.
    pub(crate) fn int(&self, index: usize) -> Result<i64, StoreError> {
        match self.get(index)? {
            Value::Int(value) => Ok(*value),
            _ => Err(StoreError::Corrupt("expected an integer")),
        }
    }

    /// Column `index` as an integer, or `None` for NULL.
    pub(crate) fn opt_int(&self, index: usize) -> Result<Option<i64>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            Value::Int(value) => Ok(Some(*value)),
            _ => Err(StoreError::Corrupt("expected an integer")),
        }
    }

    /// Column `index` as bytes.
    pub(crate) fn bytes(&self, index: usize) -> Result<Vec<u8>, StoreError> {
        match self.get(index)? {
            Value::Bytes(bytes) => Ok(bytes.clone()),
            _ => Err(StoreError::Corrupt("expected bytes")),
        }
    }

    /// Column `index` as bytes, or `None` for NULL.
    pub(crate) fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, StoreError> {
        match self.get(index)? {
            Value::Null => Ok(None),
            Value::Bytes(bytes) => Ok(Some(bytes.clone())),
            _ => Err(StoreError::Corrupt("expected bytes")),
        }
    }

    /// Column `index` as text.
    pub(crate) fn text(&self, index: usize) -> Result<String, StoreError> {
        match self.get(index)? {
            Value::Text(text) => Ok(text.clone()),
            _ => Err(StoreError::Corrupt("expected text")),
        }
    }

    /// Column `index` as a 32-byte key.
    pub(crate) fn key32(&self, index: usize) -> Result<[u8; 32], StoreError> {
        self.bytes(index)?
            .try_into()
            .map_err(|_| StoreError::Corrupt("expected 32 bytes"))
    }
}

/// A transaction, as the operations see it. SQL uses `$1`-style parameters.
pub(crate) trait Tx: Send {
    /// Runs `sql` and returns its rows.
    fn query(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> + Send;

    /// Runs `sql` and returns how many rows it changed.
    fn execute(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Serializes this transaction with every other that locks `key` until it ends, for
    /// the checks of counts (cards per name, envelopes per mailbox) that no row lock
    /// covers. A no-op on SQLite, whose write transactions are serialized anyway.
    fn lock(&mut self, key: &[u8]) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// ` FOR UPDATE` where the database locks rows so (PostgreSQL), else nothing.
    fn for_update(&self) -> &'static str;
}

/// Runs `sql` and returns its first row, if any.
pub(crate) async fn query_opt<T: Tx>(
    tx: &mut T,
    sql: &str,
    params: &[Value],
) -> Result<Option<Row>, StoreError> {
    Ok(tx.query(sql, params).await?.into_iter().next())
}

/// Runs `sql` and returns its first row, which must be there.
pub(crate) async fn query_one<T: Tx>(
    tx: &mut T,
    sql: &str,
    params: &[Value],
) -> Result<Row, StoreError> {
    query_opt(tx, sql, params)
        .await?
        .ok_or(StoreError::Corrupt("a query returned no row"))
}

/// A `u32` or `u64` as the schema's signed 64-bit integer.
pub(crate) fn to_i64<T: TryInto<i64>>(value: T) -> Result<i64, ApiError> {
    value
        .try_into()
        .map_err(|_| ApiError::malformed("a number is too large"))
}

/// A stored integer back as `T`.
pub(crate) fn from_i64<T: TryFrom<i64>>(value: i64) -> Result<T, StoreError> {
    T::try_from(value).map_err(|_| StoreError::Corrupt("an integer out of range"))
}

/// What the request does, with its verified inputs: each becomes one transaction.
#[derive(Debug)]
pub(crate) enum Op {
    Health,
    Dump,
    PutCard(crate::cards::PutCard),
    CardsByName(String),
    CardByFingerprint([u8; 32]),
    CardBySigningKey([u8; 32]),
    PublishBundles(crate::bundles::Publish),
    RemoveBundles(crate::bundles::Remove),
    CountBundles([u8; 32]),
    /// The card, and whether a one-time bundle may be handed out (else the fallback).
    ClaimCard([u8; 32], bool),
    /// The name, and whether one-time bundles may be handed out (else the fallbacks).
    ClaimUser(String, bool),
    PutDeviceList(crate::devices::PutList),
    GetDeviceList([u8; 32]),
    Deposit(crate::mailbox::Deposit),
    Fetch(crate::mailbox::Fetch),
    Ack(crate::mailbox::Ack),
    Sweep(u64),
}

impl Op {
    /// Whether it may write: SQLite runs those on the writer connection.
    fn writes(&self) -> bool {
        !matches!(
            self,
            Op::Health
                | Op::Dump
                | Op::CardsByName(_)
                | Op::CardByFingerprint(_)
                | Op::CardBySigningKey(_)
                | Op::CountBundles(_)
                | Op::GetDeviceList(_)
                | Op::Fetch(_)
        )
    }
}

/// What an [`Op`] answers.
#[derive(Debug)]
pub(crate) enum Outcome {
    Unit,
    Text(String),
    Count(u64),
    Created(bool),
    Cards(Vec<Vec<u8>>),
    Card(Option<(Vec<u8>, bool)>),
    Bundle(Option<Vec<u8>>),
    Bundles(Vec<Vec<u8>>),
    List(Option<Vec<u8>>),
    Ids(Vec<u64>),
    Envelopes(Vec<(u64, Vec<u8>)>),
}

/// Runs `op` in `tx`. The caller commits on `Ok` and rolls back on `Err`.
pub(crate) async fn run<T: Tx>(tx: &mut T, op: Op) -> Result<Outcome, ApiError> {
    use crate::{bundles, cards, devices, mailbox};
    Ok(match op {
        Op::Health => {
            query_one(tx, "SELECT 1", &[]).await?;
            Outcome::Unit
        }
        Op::Dump => Outcome::Text(dump(tx).await?),
        Op::PutCard(put) => Outcome::Created(cards::put(tx, put).await?),
        Op::CardsByName(name) => Outcome::Cards(cards::by_name(tx, &name).await?),
        Op::CardByFingerprint(fingerprint) => {
            Outcome::Card(cards::by_fingerprint(tx, &fingerprint).await?)
        }
        Op::CardBySigningKey(key) => Outcome::Bundle(cards::by_signing_key(tx, &key).await?),
        Op::PublishBundles(publish) => Outcome::Count(bundles::publish(tx, publish).await?),
        Op::RemoveBundles(remove) => Outcome::Count(bundles::remove(tx, remove).await?),
        Op::CountBundles(fingerprint) => Outcome::Count(bundles::count(tx, &fingerprint).await?),
        Op::ClaimCard(fingerprint, one_time) => {
            Outcome::Bundle(bundles::claim_card(tx, &fingerprint, one_time).await?)
        }
        Op::ClaimUser(name, one_time) => {
            Outcome::Bundles(bundles::claim_user(tx, &name, one_time).await?)
        }
        Op::PutDeviceList(put) => Outcome::Created(devices::put(tx, put).await?),
        Op::GetDeviceList(account) => Outcome::List(devices::get(tx, &account).await?),
        Op::Deposit(deposit) => Outcome::Ids(mailbox::deposit(tx, deposit).await?),
        Op::Fetch(fetch) => Outcome::Envelopes(mailbox::fetch(tx, fetch).await?),
        Op::Ack(ack) => Outcome::Count(mailbox::ack(tx, ack).await?),
        Op::Sweep(before) => Outcome::Count(mailbox::sweep(tx, before).await?),
    })
}

/// Every row of every table, in a fixed order, as text: what the tests compare before and
/// after a refused request. Envelopes, cards and bundles appear as hex.
async fn dump<T: Tx>(tx: &mut T) -> Result<String, StoreError> {
    const TABLES: [&str; 5] = [
        "SELECT seq, fingerprint, name, signing_key, card, depth, replaced_by, signed_prekey_id, signed_prekey, fallback, next_position FROM cards ORDER BY seq",
        "SELECT card_seq, prekey_id, prekey, position, bundle FROM one_time_bundles ORDER BY card_seq, position",
        "SELECT card_seq, prekey_id, prekey, handed_seq FROM handed_out ORDER BY card_seq, prekey_id",
        "SELECT account, name, version, list FROM device_lists ORDER BY account",
        "SELECT id, device, envelope, created_at FROM mailbox ORDER BY id",
    ];
    let mut out = String::new();
    for sql in TABLES {
        out.push_str(sql);
        out.push('\n');
        for row in tx.query(sql, &[]).await? {
            for value in row.0 {
                match value {
                    Value::Null => out.push_str("NULL"),
                    Value::Int(value) => out.push_str(&value.to_string()),
                    Value::Bytes(bytes) => out.push_str(&hex::encode(bytes)),
                    Value::Text(text) => out.push_str(&format!("{text:?}")),
                }
                out.push(' ');
            }
            out.push('\n');
        }
    }
    Ok(out)
}

/// The server's database: SQLite or PostgreSQL.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file.
    Sqlite(SqliteStore),
    /// A PostgreSQL database.
    Postgres(PostgresStore),
}

impl Database {
    /// Opens the database `spec` names, creating or migrating its schema: `postgres://` or
    /// `postgresql://` URLs select PostgreSQL; `sqlite://PATH` or a plain path, SQLite.
    ///
    /// # Errors
    /// [`StoreError`] if it cannot be opened or migrated.
    pub async fn open(spec: &str) -> Result<Self, StoreError> {
        if spec.starts_with("postgres://") || spec.starts_with("postgresql://") {
            Ok(Database::Postgres(
                PostgresStore::connect(spec, None).await?,
            ))
        } else {
            Ok(Database::Sqlite(
                SqliteStore::open(sqlite_path(spec)).await?,
            ))
        }
    }

    /// Runs `op` as one transaction.
    pub(crate) async fn run(&self, op: Op) -> Result<Outcome, ApiError> {
        match self {
            Database::Sqlite(store) => store.run(op).await,
            Database::Postgres(store) => store.run(op).await,
        }
    }

    /// Checks that the database answers.
    ///
    /// # Errors
    /// [`ApiError`] `internal` if it does not.
    pub async fn health(&self) -> Result<(), ApiError> {
        self.run(Op::Health).await.map(|_| ())
    }

    /// Every row of every table as text, in a fixed order: for tests and debugging (it
    /// holds whole cards and envelopes: do not log it).
    ///
    /// # Errors
    /// [`ApiError`] `internal` if the database fails.
    pub async fn dump(&self) -> Result<String, ApiError> {
        match self.run(Op::Dump).await? {
            Outcome::Text(text) => Ok(text),
            _ => Err(ApiError::internal("unexpected outcome")),
        }
    }

    /// Deletes the envelopes deposited before `before` (seconds since the Unix epoch), and
    /// returns how many: what the retention sweeper runs.
    ///
    /// # Errors
    /// [`ApiError`] `internal` if the database fails.
    pub async fn sweep_mailboxes(&self, before: u64) -> Result<u64, ApiError> {
        match self.run(Op::Sweep(before)).await? {
            Outcome::Count(count) => Ok(count),
            _ => Err(ApiError::internal("unexpected outcome")),
        }
    }

    /// Closes the connections once the in-flight requests are done with them.
    pub async fn close(&self) {
        match self {
            Database::Sqlite(store) => store.close().await,
            Database::Postgres(store) => store.close(),
        }
    }

    /// The directory the development app key file goes in: the SQLite file's, or the
    /// current directory for PostgreSQL.
    pub fn key_directory(&self) -> std::path::PathBuf {
        match self {
            Database::Sqlite(store) => store.directory(),
            Database::Postgres(_) => std::path::PathBuf::from("."),
        }
    }
}

/// The file path a SQLite `spec` names: `sqlite://PATH` or `sqlite:PATH` or the path.
pub fn sqlite_path(spec: &str) -> std::path::PathBuf {
    let path = spec
        .strip_prefix("sqlite://")
        .or_else(|| spec.strip_prefix("sqlite:"))
        .unwrap_or(spec);
    std::path::PathBuf::from(path)
}
