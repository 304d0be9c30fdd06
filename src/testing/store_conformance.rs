//! [`store_conformance`]: the checks every [`Store`] implementation must pass.

use crate::client::{Changes, RecordKey, RecordKind, Store, MAX_RECORD_ID_LEN};

/// Which check of [`store_conformance`] failed, and how.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("store conformance check `{check}` failed: {detail}")]
pub struct StoreConformanceError {
    /// The check, such as `"overwrite"`.
    pub check: &'static str,
    /// What the store did (no more than lengths and ids of the test's own records).
    pub detail: String,
}

/// Runs the checks every [`Store`] must pass, each on a fresh empty store from `make`:
/// put and load, overwrite, delete, [`load_kind`](Store::load_kind) in ascending order
/// of id and only of its kind, the writes of one batch in order (a later write to the
/// same key wins), an empty batch, empty and [`MAX_RECORD_ID_LEN`]-byte ids, empty and
/// large values.
///
/// It cannot make a store fail in the middle of a batch: test that each batch is all or
/// nothing with your backend's own means (tests/client_store.rs does for `SqliteStore`).
///
/// ```
/// use ratchetkit::client::MemoryStore;
/// use ratchetkit::testing::store_conformance;
///
/// store_conformance(MemoryStore::new)?;
/// # Ok::<(), ratchetkit::testing::StoreConformanceError>(())
/// ```
///
/// # Errors
/// The first check that fails, or the first error of the store.
pub fn store_conformance<S: Store>(
    mut make: impl FnMut() -> S,
) -> Result<(), StoreConformanceError> {
    let checks: [(&'static str, Check<S>); 8] = [
        ("empty store and empty batch", empty),
        ("put and load", put_and_load),
        ("overwrite", overwrite),
        ("delete", delete),
        ("load_kind order and kinds", load_kind_order),
        ("writes of one batch in order", batch_order),
        ("id lengths", id_lengths),
        ("value sizes", value_sizes),
    ];
    for (check, run) in checks {
        let mut store = make();
        let mut test = Test {
            store: &mut store,
            check,
        };
        run(&mut test)?;
    }
    Ok(())
}

type Check<S> = fn(&mut Test<'_, S>) -> Result<(), StoreConformanceError>;

/// One check's store, with helpers that turn its errors and surprises into
/// [`StoreConformanceError`]s.
struct Test<'a, S> {
    store: &'a mut S,
    check: &'static str,
}

impl<S: Store> Test<'_, S> {
    fn fail(&self, detail: String) -> StoreConformanceError {
        StoreConformanceError {
            check: self.check,
            detail,
        }
    }

    fn save(
        &mut self,
        writes: &[(RecordKey, Option<Vec<u8>>)],
    ) -> Result<(), StoreConformanceError> {
        let mut changes = Changes::new();
        for (key, value) in writes {
            match value {
                Some(value) => changes.put(key.clone(), value.clone()),
                None => changes.delete(key.clone()),
            }
        }
        self.store
            .save_changes(&changes)
            .map_err(|error| self.fail(format!("save_changes failed: {error}")))
    }

    fn expect(&self, key: &RecordKey, want: Option<&[u8]>) -> Result<(), StoreConformanceError> {
        let got = self
            .store
            .load(key)
            .map_err(|error| self.fail(format!("load failed: {error}")))?;
        if got.as_deref() == want {
            return Ok(());
        }
        let len = |value: Option<&[u8]>| value.map(<[u8]>::len);
        Err(self.fail(format!(
            "load({:?}, id {}) gave a value of length {:?}, expected {:?} (or other bytes)",
            key.kind(),
            hex::encode(key.id()),
            len(got.as_deref()),
            len(want),
        )))
    }

    fn expect_kind(
        &self,
        kind: RecordKind,
        want: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreConformanceError> {
        let got = self
            .store
            .load_kind(kind)
            .map_err(|error| self.fail(format!("load_kind failed: {error}")))?;
        if got == want {
            return Ok(());
        }
        let ids = |records: &[(Vec<u8>, Vec<u8>)]| -> Vec<String> {
            records.iter().map(|(id, _)| hex::encode(id)).collect()
        };
        Err(self.fail(format!(
            "load_kind({kind:?}) gave ids {:?}, expected {:?} (or other values)",
            ids(&got),
            ids(want)
        )))
    }
}

fn key(kind: RecordKind, id: &[u8]) -> RecordKey {
    RecordKey::new(kind, id)
}

fn put(kind: RecordKind, id: &[u8], value: &[u8]) -> (RecordKey, Option<Vec<u8>>) {
    (key(kind, id), Some(value.to_vec()))
}

fn del(kind: RecordKind, id: &[u8]) -> (RecordKey, Option<Vec<u8>>) {
    (key(kind, id), None)
}

fn empty<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    for kind in RecordKind::ALL {
        t.expect(&key(kind, b""), None)?;
        t.expect(&key(kind, b"absent"), None)?;
        t.expect_kind(kind, &[])?;
    }
    t.save(&[])?;
    t.save(&[put(RecordKind::Peer, b"p", b"one")])?;
    t.save(&[])?;
    t.expect(&key(RecordKind::Peer, b"p"), Some(b"one"))?;
    t.expect_kind(RecordKind::Peer, &[(b"p".to_vec(), b"one".to_vec())])
}

fn put_and_load<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    t.save(&[
        put(RecordKind::Device, b"", b"device"),
        put(RecordKind::Session, &[7; 32], b"session"),
    ])?;
    t.expect(&key(RecordKind::Device, b""), Some(b"device"))?;
    t.expect(&key(RecordKind::Session, &[7; 32]), Some(b"session"))?;
    // The same id under another kind is another record.
    t.expect(&key(RecordKind::Peer, &[7; 32]), None)?;
    t.expect(&key(RecordKind::Prekeys, b""), None)?;
    // A prefix or an extension of an id is another id.
    t.expect(&key(RecordKind::Session, &[7; 31]), None)?;
    t.expect(&key(RecordKind::Session, &[7; 33]), None)
}

fn overwrite<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    let k = key(RecordKind::Group, b"group");
    t.save(&[put(RecordKind::Group, b"group", b"first, longer value")])?;
    t.save(&[put(RecordKind::Group, b"group", b"second")])?;
    t.expect(&k, Some(b"second"))?;
    t.expect_kind(
        RecordKind::Group,
        &[(b"group".to_vec(), b"second".to_vec())],
    )
}

fn delete<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    t.save(&[
        put(RecordKind::Peer, b"a", b"1"),
        put(RecordKind::Peer, b"b", b"2"),
    ])?;
    t.save(&[del(RecordKind::Peer, b"a"), del(RecordKind::Peer, b"never")])?;
    t.expect(&key(RecordKind::Peer, b"a"), None)?;
    t.expect(&key(RecordKind::Peer, b"b"), Some(b"2"))?;
    t.expect_kind(RecordKind::Peer, &[(b"b".to_vec(), b"2".to_vec())])?;
    // A deleted record can be written again.
    t.save(&[put(RecordKind::Peer, b"a", b"3")])?;
    t.expect(&key(RecordKind::Peer, b"a"), Some(b"3"))
}

fn load_kind_order<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    // Prefixes, high bytes and the empty id, written out of order over three batches.
    let ids: [&[u8]; 9] = [
        &[0xff],
        &[0, 1],
        b"",
        &[1, 2, 3],
        &[0],
        &[0x80],
        &[0, 0],
        &[0xff, 0],
        &[1],
    ];
    for chunk in ids.chunks(3) {
        let mut writes = Vec::new();
        for id in chunk {
            writes.push(put(RecordKind::Session, id, &[b"session:", *id].concat()));
            writes.push(put(RecordKind::Peer, id, &[b"peer:", *id].concat()));
        }
        t.save(&writes)?;
    }
    t.save(&[put(RecordKind::Group, &[0x42], b"group")])?;
    let mut sorted: Vec<&[u8]> = ids.to_vec();
    sorted.sort();
    for (kind, prefix) in [
        (RecordKind::Session, &b"session:"[..]),
        (RecordKind::Peer, b"peer:"),
    ] {
        let want: Vec<_> = sorted
            .iter()
            .map(|id| (id.to_vec(), [prefix, *id].concat()))
            .collect();
        t.expect_kind(kind, &want)?;
    }
    t.expect_kind(RecordKind::Group, &[(vec![0x42], b"group".to_vec())])?;
    t.expect_kind(RecordKind::Device, &[])?;
    t.expect_kind(RecordKind::Prekeys, &[])
}

fn batch_order<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    t.save(&[put(RecordKind::Session, b"deleted then put", b"old")])?;
    t.save(&[
        put(RecordKind::Session, b"put twice", b"first"),
        put(RecordKind::Session, b"put twice", b"second"),
        put(RecordKind::Session, b"put then deleted", b"gone"),
        del(RecordKind::Session, b"put then deleted"),
        del(RecordKind::Session, b"deleted then put"),
        put(RecordKind::Session, b"deleted then put", b"new"),
    ])?;
    t.expect(&key(RecordKind::Session, b"put twice"), Some(b"second"))?;
    t.expect(&key(RecordKind::Session, b"put then deleted"), None)?;
    t.expect(&key(RecordKind::Session, b"deleted then put"), Some(b"new"))?;
    t.expect_kind(
        RecordKind::Session,
        &[
            (b"deleted then put".to_vec(), b"new".to_vec()),
            (b"put twice".to_vec(), b"second".to_vec()),
        ],
    )
}

fn id_lengths<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    let longest = vec![0xab; MAX_RECORD_ID_LEN];
    let shorter = vec![0xab; MAX_RECORD_ID_LEN - 1];
    let mut all_bytes: Vec<u8> = (0..=u8::MAX).collect();
    all_bytes.truncate(MAX_RECORD_ID_LEN);
    t.save(&[
        put(RecordKind::Group, &longest, b"longest"),
        put(RecordKind::Group, &shorter, b"shorter"),
        put(RecordKind::Group, &all_bytes, b"every byte"),
        put(RecordKind::Group, b"", b"empty"),
    ])?;
    t.expect(&key(RecordKind::Group, &longest), Some(b"longest"))?;
    t.expect(&key(RecordKind::Group, &shorter), Some(b"shorter"))?;
    t.expect(&key(RecordKind::Group, &all_bytes), Some(b"every byte"))?;
    t.expect(&key(RecordKind::Group, b""), Some(b"empty"))?;
    t.expect_kind(
        RecordKind::Group,
        &[
            (Vec::new(), b"empty".to_vec()),
            (all_bytes.clone(), b"every byte".to_vec()),
            (shorter.clone(), b"shorter".to_vec()),
            (longest.clone(), b"longest".to_vec()),
        ],
    )
}

fn value_sizes<S: Store>(t: &mut Test<'_, S>) -> Result<(), StoreConformanceError> {
    let every_byte: Vec<u8> = (0..=u8::MAX).cycle().take(1000).collect();
    let large: Vec<u8> = (0..=u8::MAX).rev().cycle().take(256 * 1024).collect();
    t.save(&[
        put(RecordKind::Peer, b"empty", b""),
        put(RecordKind::Peer, b"every byte", &every_byte),
        put(RecordKind::Peer, b"large", &large),
    ])?;
    t.expect(&key(RecordKind::Peer, b"empty"), Some(b""))?;
    t.expect(&key(RecordKind::Peer, b"every byte"), Some(&every_byte))?;
    t.expect(&key(RecordKind::Peer, b"large"), Some(&large))
}
