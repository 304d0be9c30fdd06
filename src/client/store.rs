//! Where a [`Client`](super::Client) keeps its state: a [`Store`] of sealed records,
//! written in atomic batches ([`Changes`]).
//!
//! The client seals every record with its [`StorageKey`](crate::StorageKey) before it
//! reaches the store, bound to the record's kind and id, so a store holds only ciphertext
//! and cannot swap one record for another. It calls [`Store::save_changes`] once per
//! operation, before it returns any bytes to send or any event: a crash at any point leaves
//! either everything the operation changed or nothing of it.

use std::collections::BTreeMap;
use std::convert::Infallible;

/// Longest record id a store is given, in bytes: 255, the most the associated data of a
/// sealed record can bind (its length is one byte). Ids are keys and fingerprints of 32
/// bytes, or a group id and a key (64).
pub const MAX_RECORD_ID_LEN: usize = u8::MAX as usize;

/// What a record holds. Its [`name`](RecordKind::name) is bound into the sealed record and
/// is the kind a store files it under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum RecordKind {
    /// The device itself: its identity, its account's signed device list, its settings.
    /// One record, with an empty id.
    Device,
    /// The device's prekey store and its upkeep times. One record, with an empty id.
    Prekeys,
    /// The channels with one peer device, current and archived, under the device's
    /// Ed25519 identity key.
    Session,
    /// What the device knows of one peer account: its trusted card and signed device list,
    /// under the account's Ed25519 identity key.
    Peer,
    /// One group this device is a member of, under the group id.
    Group,
    /// One envelope of group control made but not yet marked sent
    /// ([`Client::unsent`](super::Client::unsent)), under a 16-byte id (a counter, then 8
    /// random bytes).
    Unsent,
    /// One message received but not yet acknowledged by the app
    /// ([`Client::unacknowledged`](super::Client::unacknowledged)), under its
    /// [`Receipt`](super::Receipt).
    Received,
}

impl RecordKind {
    /// Every kind, in the order of their codes.
    pub const ALL: [RecordKind; 7] = [
        RecordKind::Device,
        RecordKind::Prekeys,
        RecordKind::Session,
        RecordKind::Peer,
        RecordKind::Group,
        RecordKind::Unsent,
        RecordKind::Received,
    ];

    /// The kind's name, such as `"client-session"`: bound into each sealed record, and
    /// the name a store may file it under.
    pub fn name(self) -> &'static str {
        match self {
            RecordKind::Device => "client-device",
            RecordKind::Prekeys => "client-prekeys",
            RecordKind::Session => "client-session",
            RecordKind::Peer => "client-peer",
            RecordKind::Group => "client-group",
            RecordKind::Unsent => "client-unsent",
            RecordKind::Received => "client-received",
        }
    }

    /// A small number for the kind (1 to 7), stable across releases, for stores that key
    /// records by number.
    pub fn code(self) -> u8 {
        match self {
            RecordKind::Device => 1,
            RecordKind::Prekeys => 2,
            RecordKind::Session => 3,
            RecordKind::Peer => 4,
            RecordKind::Group => 5,
            RecordKind::Unsent => 6,
            RecordKind::Received => 7,
        }
    }

    /// The kind with this [`code`](RecordKind::code), if any.
    pub fn from_code(code: u8) -> Option<RecordKind> {
        RecordKind::ALL.into_iter().find(|kind| kind.code() == code)
    }
}

/// The key a record is stored under: its kind and its id (at most
/// [`MAX_RECORD_ID_LEN`] bytes).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RecordKey {
    kind: RecordKind,
    id: Vec<u8>,
}

impl RecordKey {
    /// The key of the record of `kind` named `id`.
    pub fn new(kind: RecordKind, id: &[u8]) -> Self {
        Self {
            kind,
            id: id.to_vec(),
        }
    }

    /// The record's kind.
    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    /// The record's id within its kind.
    pub fn id(&self) -> &[u8] {
        &self.id
    }
}

/// Records as [`Store::load_kind`] returns them: (id, sealed record) pairs.
pub type Records = Vec<(Vec<u8>, Vec<u8>)>;

/// One batch of writes, applied by [`Store::save_changes`] all together or not at all.
///
/// Writes apply in order: a later write to the same key wins.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    writes: Vec<(RecordKey, Option<Vec<u8>>)>,
}

impl Changes {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores `sealed` under `key`, replacing what was there.
    pub fn put(&mut self, key: RecordKey, sealed: Vec<u8>) {
        self.writes.push((key, Some(sealed)));
    }

    /// Deletes the record under `key`, if any.
    pub fn delete(&mut self, key: RecordKey) {
        self.writes.push((key, None));
    }

    /// Whether the batch writes nothing.
    pub fn is_empty(&self) -> bool {
        self.writes.is_empty()
    }

    /// How many writes the batch holds.
    pub fn len(&self) -> usize {
        self.writes.len()
    }

    /// The writes in order: a key with the sealed record to store, or `None` to delete it.
    pub fn writes(&self) -> impl Iterator<Item = (&RecordKey, Option<&[u8]>)> {
        self.writes
            .iter()
            .map(|(key, value)| (key, value.as_deref()))
    }
}

/// Where a client keeps its sealed records: an embedded database such as
/// [`SqliteStore`](super::SqliteStore), or [`MemoryStore`] for tests.
///
/// A store sees only sealed bytes. It must make each [`save_changes`](Store::save_changes)
/// atomic and durable before it returns: after a crash, a reopened store holds every batch
/// that returned `Ok` and nothing of one that did not. Its failures are its own
/// [`Store::Error`], kept apart from the protocol's errors in
/// [`ClientError::Store`](super::ClientError::Store).
///
/// `ratchetkit::testing::store_conformance` (with the `proptest` feature) runs the checks
/// every implementation must pass.
pub trait Store {
    /// What the store's calls fail with (I/O, a locked or corrupt database).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The record under `key`, if any.
    fn load(&self, key: &RecordKey) -> Result<Option<Vec<u8>>, Self::Error>;

    /// Every record of `kind`, as (id, sealed record) pairs in ascending order of id.
    fn load_kind(&self, kind: RecordKind) -> Result<Records, Self::Error>;

    /// Applies every write of `changes`, in order, in one transaction: all or nothing.
    fn save_changes(&mut self, changes: &Changes) -> Result<(), Self::Error>;
}

/// A [`Store`] in memory, for tests and examples: nothing survives the process.
///
/// It counts the batches it has saved ([`MemoryStore::batches_saved`]), which tests use to
/// stop a client after each write.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    records: BTreeMap<RecordKey, Vec<u8>>,
    batches_saved: u64,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many batches [`Store::save_changes`] has applied.
    pub fn batches_saved(&self) -> u64 {
        self.batches_saved
    }

    /// How many records the store holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }

    /// Whether the store holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The total size of the sealed records, in bytes.
    pub fn stored_bytes(&self) -> usize {
        self.records.values().map(Vec::len).sum()
    }
}

impl Store for MemoryStore {
    type Error = Infallible;

    fn load(&self, key: &RecordKey) -> Result<Option<Vec<u8>>, Infallible> {
        Ok(self.records.get(key).cloned())
    }

    fn load_kind(&self, kind: RecordKind) -> Result<Records, Infallible> {
        Ok(self
            .records
            .range(RecordKey::new(kind, &[])..)
            .take_while(|(key, _)| key.kind == kind)
            .map(|(key, value)| (key.id.clone(), value.clone()))
            .collect())
    }

    fn save_changes(&mut self, changes: &Changes) -> Result<(), Infallible> {
        for (key, value) in changes.writes() {
            match value {
                Some(value) => {
                    self.records.insert(key.clone(), value.to_vec());
                }
                None => {
                    self.records.remove(key);
                }
            }
        }
        self.batches_saved += 1;
        Ok(())
    }
}
