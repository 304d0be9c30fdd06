//! The work-and-memory budget of hostile input (issue 14).
//!
//! For every public entry point that takes untrusted bytes, this test measures genuine
//! inputs and hostile ones at (and just over) the maximum size, with a counting global
//! allocator: dense repeated fields (a card of millions of 2-byte empty signature entries, a
//! sealed message of 16 MiB of empty recipients, a roster of empty members), many distinct
//! 3-byte signers (the quadratic duplicate-signer check), deep nesting of unknown fields
//! (groups and length-delimited fields nested as deep as the input allows), a singular field
//! given thousands of times, maximum-length strings (a 256-byte name, one just over, a name
//! filling the whole input), first messages of 35 KB to 8 MiB, a 16 MiB sealed message,
//! forgeries at the maximum size, and hostile Argon2id parameters (refused before the KDF).
//!
//! The entry points: `Card::from_bytes` and `from_base64`, `PrekeyBundle::from_bytes`,
//! `AppPublicKey::from_bytes`, `Channel::join` (first messages, also carrying group control:
//! the only source of a `JoinedControl`, which `Channel::join` parses, so its rows cover the
//! input of `Group::join_control` and `Group::receive_control`), `Channel::decrypt`,
//! `Group::join`, `Group::receive`, `Group::decrypt` and `decrypt_batch`, `open`,
//! `open_stream`, `StorageKey::open`, the saved states' `from_bytes` (`Channel`, `Group`,
//! `Identity`, `PrekeyStore`), `Identity::unlock` and `LockParams::of_locked` (which
//! `Identity::change_password` runs before unlocking).
//!
//! Each hostile input must be refused with its typed error (or, when it is within every
//! limit, accepted), leave the state it was given unchanged, and stay within the bounds
//! below. Work is counted, not timed: see [`K_WORK`]. The table is printed with
//! `cargo test --test hostile_input -- --nocapture`.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::io;

use prost::Message as _;
use ratchetkit::limits::{
    MAX_BUNDLE_LEN, MAX_CARD_LEN, MAX_CARD_SIGNATURES, MAX_CHANNEL_MESSAGE_LEN,
    MAX_CHANNEL_STATE_LEN, MAX_ENDED_CHAINS, MAX_GROUP_CONTROL_LEN, MAX_GROUP_MEMBERS,
    MAX_GROUP_MESSAGE_LEN, MAX_GROUP_SKIPPED_KEYS, MAX_GROUP_STATE_LEN, MAX_IDENTITY_NAME_LEN,
    MAX_IDENTITY_STATE_LEN, MAX_LOCKED_IDENTITY_LEN, MAX_LOCK_ITERATIONS, MAX_LOCK_MEMORY_KIB,
    MAX_MESSAGE_GAP, MAX_ONE_TIME_PREKEYS, MAX_OWNER_TRANSFERS, MAX_PLAINTEXT_LEN,
    MAX_PREKEY_STORE_STATE_LEN, MAX_ROSTER_LEN, MAX_SEALED_HEADER_LEN, MAX_SEALED_MESSAGE_LEN,
    MAX_SEALED_RECIPIENTS, MAX_SEALED_STATE_LEN, MAX_SKIPPED_KEYS, MAX_STREAM_HEADER_LEN,
};
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_ID_CONTEXT, group::GROUP_VERSION, group::ROSTER_SIGNATURE_CONTEXT,
    identity::CARD_SIGNATURE_CONTEXT, identity::MIN_LOCK_ITERATIONS, identity::MIN_LOCK_MEMORY_KIB,
    identity::MIN_LOCK_PARALLELISM, identity::SELF_SIGNER, open, open_stream, seal, seal_stream,
    sealed::SEALED_VERSION, AppKey, AppPublicKey, Card, Channel, Error, Group, GroupStateId,
    Identity, LockParams, PrekeyBundle, PrekeyStore, StorageKey,
};
use sha2::{Digest, Sha256};

use common::groups::{ALICE, BOB, CAROL, DAVE};
use common::{identity, raw_fields, rng, sign_as, TestRng, CREATED_AT};

// ---------------------------------------------------------------------------------------
// The bounds
//
// For a hostile input of n bytes given to an entry point whose genuine inputs were
// measured first (the largest genuine input it takes, and a typical one):
//
// - memory:  peak live heap  <= K_MEM * n + C_MEM
// - work:    allocations     <= K_WORK * (most allocations of a genuine input) + C_WORK
// - traffic: bytes allocated <= K_BYTES * n + K_WORK * (most bytes a genuine input
//                               allocated) + C_MEM
//
// "A genuine input" is any genuine input of the same entry point measured before, among
// them the largest it takes (a message of MAX_PLAINTEXT_LEN, a roster of
// MAX_GROUP_MEMBERS, a sealed message for MAX_SEALED_RECIPIENTS of 16 MiB, a store of
// MAX_ONE_TIME_PREKEYS).
//
// An unlock may add the Argon2id memory its parameters declare, once they are within the
// MAX_LOCK_* limits: that is the cost a locked file chooses, bounded by those limits (up
// to MAX_LOCK_MEMORY_KIB, 1 GiB, for MAX_LOCK_ITERATIONS passes; not run here).

/// Memory: the peak of live heap bytes during one call on a hostile input is at most
/// `K_MEM` times the input's length, plus [`C_MEM`].
///
/// Decoding a message copies its byte fields (1x); the canonical check re-encodes it (1x,
/// dropped before the next step); decryption writes the plaintext (1x); and a plaintext that
/// is itself a message (group control in a channel message) is decoded and checked the
/// same way while the ciphertext is still held (1x more). So at most four copies of the
/// input are alive at once. Before the pre-scan, an empty repeated entry (2 bytes on the
/// wire) decoded to about 48 bytes of heap: 24 times the input.
const K_MEM: u64 = 4;

/// Memory any call may use beyond [`K_MEM`] copies of its input, bounded by the limits
/// rather than by the input's length: the working copy of a channel that skips up to
/// `MAX_MESSAGE_GAP` message keys (up to about 500 KiB), a stream's header buffer (up to
/// `MAX_STREAM_HEADER_LEN`, 128 KiB, allocated from the length prefix before the header is
/// read) and chunk buffer (64 KiB), the parsed cards of a roster accepted beside its bytes
/// (about half its length, so at most about 512 KiB at `MAX_ROSTER_LEN`), key schedules,
/// the channel copies a group works on. 1 MiB.
const C_MEM: u64 = 1 << 20;

/// Work: the allocations (and the bytes allocated) of one call on a hostile input are at
/// most `K_WORK` times those of the costliest genuine input of the same entry point, plus
/// [`C_WORK`] (and [`C_MEM`] bytes).
///
/// Allocations are the operation count here, because time is not deterministic. The work
/// of every entry point is a linear pass over its input (the pre-scan, hashing, AES-GCM,
/// one Ed25519 check per signature, each over bytes it has allocated and copied, which the
/// bytes allocated count) plus work per decoded entry: a card, a signature entry, a
/// recipient, a roster member, a saved key. Every decoded entry that is not empty
/// allocates at least once (its string or bytes); empty entries allocate nothing apiece but
/// fill memory, which [`K_MEM`] bounds. So a bound on allocations bounds the entries
/// decoded, and with them any per-entry or pairwise work: the duplicate-signer check of
/// issue 14 compared each decoded signer with every earlier one, at most allocations^2 / 2
/// comparisons, and a first message carrying 40,000 distinct 3-byte signers made 40,000
/// allocations (8 * 10^8 comparisons, 4 s); with the count limit checked before anything
/// is decoded, at most `MAX_CARD_SIGNATURES` entries are ever compared.
///
/// 4: a card within the limits may carry `MAX_CARD_SIGNATURES` (8) signature entries
/// where a genuine card carries at most 3, so a hostile roster of such cards costs up to
/// about three times the allocations of a genuine roster of as many members.
const K_WORK: u64 = 4;

/// Allocations any call may make whatever its input: an error's strings, a few buffers.
const C_WORK: u64 = 64;

/// Traffic: the bytes allocated in total by one call on a hostile input (each allocation
/// and reallocation at its full size) are at most `K_BYTES` times its length, plus
/// [`K_WORK`] times the most a genuine input of the same entry point allocated, plus
/// [`C_MEM`]. Bytes allocated bound the work done on bytes, which are copied, hashed and
/// decrypted in buffers allocated for them. Twice [`K_MEM`]: copies dropped before the
/// next is made (a re-encoding compared and dropped, a buffer moved to a larger one) cost
/// their writes without adding to the peak. The genuine term is what is built per entry
/// (cards, keys, roster members), bounded by the count limits as for a genuine input.
const K_BYTES: u64 = 8;

// ---------------------------------------------------------------------------------------
// A counting allocator

/// Counts, per thread, allocations, bytes allocated, and the peak of live bytes, while a
/// [`measure`] runs on that thread: the test's own work and other tests' threads are not
/// counted.
struct Counting;

#[derive(Clone, Copy)]
struct Counters {
    on: bool,
    allocations: u64,
    allocated: u64,
    live: i64,
    peak: i64,
}

impl Counters {
    const OFF: Self = Self {
        on: false,
        allocations: 0,
        allocated: 0,
        live: 0,
        peak: 0,
    };
}

thread_local! {
    static COUNTERS: Cell<Counters> = const { Cell::new(Counters::OFF) };
}

/// One allocation (`new` bytes, `freed` bytes given back by a reallocation) or free.
fn record(new: usize, freed: usize, allocation: bool) {
    let _ = COUNTERS.try_with(|cell| {
        let mut counters = cell.get();
        if !counters.on {
            return;
        }
        if allocation {
            counters.allocations += 1;
            counters.allocated += new as u64;
        }
        counters.live += new as i64 - freed as i64;
        counters.peak = counters.peak.max(counters.live);
        cell.set(counters);
    });
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc(layout) };
        if !pointer.is_null() {
            record(layout.size(), 0, true);
        }
        pointer
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let pointer = unsafe { System.alloc_zeroed(layout) };
        if !pointer.is_null() {
            record(layout.size(), 0, true);
        }
        pointer
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { System.dealloc(pointer, layout) };
        record(0, layout.size(), false);
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let moved = unsafe { System.realloc(pointer, layout, new_size) };
        if !moved.is_null() {
            record(new_size, layout.size(), true);
        }
        moved
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What one call cost.
#[derive(Clone, Copy, Debug, Default)]
struct Usage {
    allocations: u64,
    allocated: u64,
    peak: u64,
}

/// Runs `run` with the counters on. Its inputs are made before and its result is dropped
/// after, so neither is counted.
fn measure<T>(run: impl FnOnce() -> T) -> (T, Usage) {
    COUNTERS.with(|cell| {
        cell.set(Counters {
            on: true,
            ..Counters::OFF
        })
    });
    let result = run();
    let counters = COUNTERS.with(|cell| cell.replace(Counters::OFF));
    let usage = Usage {
        allocations: counters.allocations,
        allocated: counters.allocated,
        peak: u64::try_from(counters.peak).unwrap_or(0),
    };
    (result, usage)
}

// ---------------------------------------------------------------------------------------
// The table

/// What a hostile input must give.
#[derive(Clone)]
enum Expect {
    /// Accepted: the input is within every limit.
    Ok,
    /// `TooLarge` with this limit (for sealed messages and streams, `SealedTooLarge`).
    TooLarge(usize),
    /// `TooMany` with this limit.
    TooMany(usize),
    /// `Decode`: not a canonical encoding (an unknown field, a singular field repeated).
    Decode,
    /// Exactly this error.
    Error(Error),
    /// An error of this variant.
    Variant(&'static str, fn(&Error) -> bool),
}

impl Expect {
    fn matches(&self, outcome: &Result<(), Error>) -> bool {
        match (self, outcome) {
            (Expect::Ok, Ok(())) => true,
            (Expect::TooLarge(expected), Err(Error::TooLarge { limit, .. })) => limit == expected,
            (Expect::TooLarge(expected), Err(Error::SealedTooLarge { max, .. })) => {
                *max == *expected as u64
            }
            (Expect::TooMany(expected), Err(Error::TooMany { limit, .. })) => limit == expected,
            (Expect::Decode, Err(Error::Decode { .. })) => true,
            (Expect::Error(expected), Err(error)) => error == expected,
            (Expect::Variant(_, matches), Err(error)) => matches(error),
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Expect::Ok => "accepted".into(),
            Expect::TooLarge(limit) => format!("TooLarge {{ limit: {limit} }}"),
            Expect::TooMany(limit) => format!("TooMany {{ limit: {limit} }}"),
            Expect::Decode => "Decode".into(),
            Expect::Error(error) => format!("{error:?}"),
            Expect::Variant(name, _) => (*name).into(),
        }
    }
}

/// A short name for an outcome, for the table.
fn outcome_name(outcome: &Result<(), Error>) -> String {
    match outcome {
        Ok(()) => "ok".into(),
        Err(Error::TooLarge { limit, .. }) => format!("TooLarge({limit})"),
        Err(Error::SealedTooLarge { max, .. }) => format!("SealedTooLarge({max})"),
        Err(Error::TooMany { limit, .. }) => format!("TooMany({limit})"),
        Err(Error::TooManyRecipients { max }) => format!("TooManyRecipients({max})"),
        Err(Error::Decode { what }) => format!("Decode({what})"),
        Err(error) => {
            let text = format!("{error:?}");
            let name: String = text
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            name
        }
    }
}

struct Row {
    entry: &'static str,
    case: String,
    genuine: bool,
    input: usize,
    usage: Usage,
    outcome: String,
    failures: Vec<String>,
}

/// The costliest genuine input of an entry point, metric by metric.
#[derive(Clone, Copy, Default)]
struct Baseline {
    allocations: u64,
    allocated: u64,
}

/// The measured rows, the genuine baselines, and every bound or expectation missed.
#[derive(Default)]
struct Budget {
    rows: Vec<Row>,
    baseline: HashMap<&'static str, Baseline>,
}

impl Budget {
    /// A genuine input: it must be accepted; it raises the entry point's baseline.
    fn genuine<T>(
        &mut self,
        entry: &'static str,
        case: &str,
        input: usize,
        run: impl FnOnce() -> Result<T, Error>,
    ) {
        let (result, usage) = measure(run);
        let outcome = result.map(drop);
        let mut failures = Vec::new();
        if let Err(error) = &outcome {
            failures.push(format!("the genuine input was refused: {error:?}"));
        }
        if self
            .rows
            .iter()
            .any(|row| row.entry == entry && !row.genuine)
        {
            failures.push("a genuine row after the entry point's hostile rows".into());
        }
        let baseline = self.baseline.entry(entry).or_default();
        baseline.allocations = baseline.allocations.max(usage.allocations);
        baseline.allocated = baseline.allocated.max(usage.allocated);
        self.rows.push(Row {
            entry,
            case: case.into(),
            genuine: true,
            input,
            usage,
            outcome: outcome_name(&outcome),
            failures,
        });
    }

    /// A hostile input: it must give `expect` within the bounds.
    fn hostile<T>(
        &mut self,
        entry: &'static str,
        case: &str,
        input: usize,
        expect: Expect,
        run: impl FnOnce() -> Result<T, Error>,
    ) {
        self.hostile_allowing(entry, case, input, expect, 0, run);
    }

    /// [`Budget::hostile`] with `allowance` more bytes of memory: the Argon2id memory a
    /// locked identity declares, within `MAX_LOCK_MEMORY_KIB`.
    fn hostile_allowing<T>(
        &mut self,
        entry: &'static str,
        case: &str,
        input: usize,
        expect: Expect,
        allowance: u64,
        run: impl FnOnce() -> Result<T, Error>,
    ) {
        let (result, usage) = measure(run);
        let outcome = result.map(drop);
        let mut failures = Vec::new();
        if !expect.matches(&outcome) {
            failures.push(format!("expected {}, got {outcome:?}", expect.describe()));
        }
        let peak_bound = K_MEM * input as u64 + C_MEM + allowance;
        if usage.peak > peak_bound {
            failures.push(format!(
                "peak {} over {K_MEM} x input + {} = {}",
                size(usage.peak),
                size(C_MEM + allowance),
                size(peak_bound)
            ));
        }
        match self.baseline.get(entry).copied() {
            Some(baseline) => {
                let work_bound = K_WORK * baseline.allocations + C_WORK;
                if usage.allocations > work_bound {
                    failures.push(format!(
                        "{} allocations over {K_WORK} x {} (genuine) + {C_WORK} = {work_bound}",
                        usage.allocations, baseline.allocations
                    ));
                }
                let traffic_bound =
                    K_BYTES * input as u64 + K_WORK * baseline.allocated + C_MEM + allowance;
                if usage.allocated > traffic_bound {
                    failures.push(format!(
                        "{} allocated over {K_BYTES} x input + {K_WORK} x {} (genuine) + {} \
                         = {}",
                        size(usage.allocated),
                        size(baseline.allocated),
                        size(C_MEM + allowance),
                        size(traffic_bound)
                    ));
                }
            }
            None => failures.push("no genuine baseline measured for this entry point".into()),
        }
        self.rows.push(Row {
            entry,
            case: case.into(),
            genuine: false,
            input,
            usage,
            outcome: outcome_name(&outcome),
            failures,
        });
    }

    /// A check on the state after the last row (unchanged by a refusal, usable after).
    fn state(&mut self, holds: bool, what: &str) {
        if !holds {
            if let Some(row) = self.rows.last_mut() {
                row.failures.push(format!("state: {what}"));
            }
        }
    }

    /// The table: the rows of each entry point together, in the order first measured.
    fn print(&self) {
        let ratio = |part: u64, whole: u64| format!("{:.2}", part as f64 / whole.max(1) as f64);
        println!();
        println!(
            "Bounds, for a hostile input of n bytes: peak live heap <= {K_MEM} n + {}; \
             allocations <= {K_WORK} x genuine + {C_WORK}; bytes allocated <= {K_BYTES} n + \
             {K_WORK} x genuine + {}, where genuine is the most any genuine input of the \
             entry point made. An unlock may add the Argon2id memory its parameters \
             declare within MAX_LOCK_*. Columns: x gen = allocations (bytes allocated) over \
             genuine; peak/n = peak live heap over input length.",
            size(C_MEM),
            size(C_MEM)
        );
        let rule = "-".repeat(190);
        println!();
        println!(
            "{:<24} {:<70} {:>10} {:<26} {:>7} {:>6} {:>10} {:>6} {:>10} {:>7}  verdict",
            "entry point",
            "input",
            "n",
            "result",
            "allocs",
            "x gen",
            "allocated",
            "x gen",
            "peak",
            "peak/n"
        );
        let mut entries: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !entries.contains(&row.entry) {
                entries.push(row.entry);
            }
        }
        for entry in entries {
            println!("{rule}");
            let baseline = self.baseline.get(entry).copied().unwrap_or_default();
            for row in self.rows.iter().filter(|row| row.entry == entry) {
                let (allocations, allocated) = if row.genuine {
                    ("".to_string(), "".to_string())
                } else {
                    (
                        ratio(row.usage.allocations, baseline.allocations),
                        ratio(row.usage.allocated, baseline.allocated),
                    )
                };
                println!(
                    "{:<24} {:<70} {:>10} {:<26} {:>7} {:>6} {:>10} {:>6} {:>10} {:>7}  {}",
                    row.entry,
                    format!(
                        "{}: {}",
                        if row.genuine { "genuine" } else { "hostile" },
                        row.case
                    ),
                    size(row.input as u64),
                    row.outcome,
                    row.usage.allocations,
                    allocations,
                    size(row.usage.allocated),
                    allocated,
                    size(row.usage.peak),
                    ratio(row.usage.peak, row.input as u64),
                    if row.failures.is_empty() {
                        "ok".to_string()
                    } else {
                        format!("FAIL: {}", row.failures.join("; "))
                    }
                );
            }
        }
        println!("{rule}");
    }

    fn failures(&self) -> Vec<String> {
        self.rows
            .iter()
            .flat_map(|row| {
                row.failures.iter().map(move |failure| {
                    format!(
                        "{} ({}, {}): {failure}",
                        row.entry,
                        if row.genuine { "genuine" } else { "hostile" },
                        row.case
                    )
                })
            })
            .collect()
    }
}

/// A hostile input made only when its row is measured, for the largest ones.
type Lazy<'a> = Box<dyn Fn() -> Vec<u8> + 'a>;

/// `n` for a label: "67.1 million", "65,472".
fn count(n: usize) -> String {
    if n >= 1_000_000 {
        format!("{:.1} million", n as f64 / 1e6)
    } else if n >= 1_000 {
        format!("{},{:03}", n / 1000, n % 1000)
    } else {
        n.to_string()
    }
}

fn size(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let value = bytes as f64;
    if value >= KIB * KIB {
        format!("{:.2} MiB", value / (KIB * KIB))
    } else if value >= KIB {
        format!("{:.1} KiB", value / KIB)
    } else {
        format!("{bytes} B")
    }
}

// ---------------------------------------------------------------------------------------
// Protobuf by hand (field numbers from proto/*.proto)

fn varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint_len(value: usize) -> usize {
    let mut out = Vec::new();
    varint(&mut out, value as u64);
    out.len()
}

fn field_key(out: &mut Vec<u8>, field: u32, wire_type: u8) {
    varint(out, (u64::from(field) << 3) | u64::from(wire_type));
}

/// A length-delimited field.
fn ld(field: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    field_key(&mut out, field, 2);
    varint(&mut out, payload.len() as u64);
    out.extend_from_slice(payload);
    out
}

/// A varint field; omitted when zero, as a canonical encoding omits it.
fn uint(field: u32, value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    if value != 0 {
        field_key(&mut out, field, 0);
        varint(&mut out, value);
    }
    out
}

/// A field number no message of the protocol or of saved state has.
const UNKNOWN: u32 = 14;

/// `depth` unknown groups (wire types 3 and 4), each inside the one before.
fn nested_groups(depth: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 * depth);
    for _ in 0..depth {
        field_key(&mut out, UNKNOWN, 3);
    }
    for _ in 0..depth {
        field_key(&mut out, UNKNOWN, 4);
    }
    out
}

/// `depth` unknown length-delimited fields, each the whole payload of the one around it,
/// the innermost holding `inner` zero bytes. Built outside in, in linear time.
fn nested_fields(depth: usize, inner: usize) -> Vec<u8> {
    let mut lens = Vec::with_capacity(depth);
    let mut len = inner;
    for _ in 0..depth {
        lens.push(len);
        len += 1 + varint_len(len);
    }
    let mut out = Vec::with_capacity(len);
    for &payload in lens.iter().rev() {
        field_key(&mut out, UNKNOWN, 2);
        varint(&mut out, payload as u64);
    }
    out.resize(len, 0);
    out
}

/// `make(k)` for the `k` that makes it exactly `len` bytes long. `make(k)` must grow by one
/// byte per step of `k`, but where a length prefix grows.
fn exact(len: usize, make: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let base = make(0).len();
    assert!(base <= len, "the fixed part is {base} bytes, over {len}");
    let mut k = len - base;
    for _ in 0..12 {
        let built = make(k);
        if built.len() == len {
            return built;
        }
        if built.len() > len {
            k = k.saturating_sub(built.len() - len);
        } else {
            k += len - built.len();
        }
    }
    for k in k.saturating_sub(8)..k + 8 {
        let built = make(k);
        if built.len() == len {
            return built;
        }
    }
    panic!("no input of exactly {len} bytes");
}

/// The top-level fields of `bytes` (a genuine encoding) other than `field`, concatenated.
fn without_field(bytes: &[u8], field: u32) -> Vec<u8> {
    raw_fields(bytes)
        .into_iter()
        .filter(|raw| raw.number != field)
        .flat_map(|raw| bytes[raw.start..raw.end].to_vec())
        .collect()
}

/// The first top-level field numbered `field` of `bytes`, key and all.
fn field_of(bytes: &[u8], field: u32) -> Vec<u8> {
    let raw = raw_fields(bytes)
        .into_iter()
        .find(|raw| raw.number == field)
        .expect("the field is present");
    bytes[raw.start..raw.end].to_vec()
}

/// `bytes` with `extra` (encoded fields numbered `field`) inserted where field order puts
/// them: after every field numbered up to `field`.
fn insert_fields(bytes: &[u8], field: u32, extra: &[u8]) -> Vec<u8> {
    let fields = raw_fields(bytes);
    let split = fields
        .iter()
        .find(|raw| raw.number > field)
        .map_or(bytes.len(), |raw| raw.start);
    [&bytes[..split], extra, &bytes[split..]].concat()
}

/// The checksum field that ends saved state: the first 8 bytes of SHA-256 of the rest.
fn with_checksum(body: &[u8]) -> Vec<u8> {
    let digest = Sha256::digest(body);
    [body, &ld(15, &digest[..8])].concat()
}

/// A saved state's fields without its checksum.
fn state_body(state: &[u8]) -> Vec<u8> {
    without_field(state, 15)
}

// ---------------------------------------------------------------------------------------
// Hostile cards

/// A `CardSignature` entry of a `SignedCard` (field 2), its signature field always written
/// (even empty), so that it grows one byte per byte of signature.
fn signature_entry(signer: &[u8], signature: &[u8]) -> Vec<u8> {
    ld(2, &[ld(1, signer), ld(2, signature)].concat())
}

/// An empty `CardSignature` entry: 2 bytes on the wire, about 48 in memory decoded.
const EMPTY_SIGNATURE: [u8; 2] = [0x12, 0x00];

/// A signer name none of the other entries uses, for the entry that makes up the length.
const PAD_SIGNER: &[u8] = b"~pad";

/// `card`, then `entries`, then an entry of `k` signature bytes: exactly `len` bytes.
fn card_padded(card: &[u8], entries: &[u8], len: usize) -> Vec<u8> {
    exact(len, |k| {
        [card, entries, &signature_entry(PAD_SIGNER, &vec![0; k])].concat()
    })
}

/// A genuine card padded to exactly `len` bytes with empty signature entries (issue 14,
/// 1 and 2: "a card with millions of 2-byte empty signature entries").
fn card_with_empty_entries(card: &[u8], len: usize) -> Vec<u8> {
    let count = (len - card.len() - 16) / EMPTY_SIGNATURE.len();
    card_padded(card, &EMPTY_SIGNATURE.repeat(count), len)
}

/// Distinct 3-byte signer names of letters and digits (never "app", which is a signer the
/// card checks).
fn distinct_signers() -> impl Iterator<Item = [u8; 3]> {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let n = ALPHABET.len();
    (0..n * n * n)
        .map(move |i| [ALPHABET[i / (n * n)], ALPHABET[i / n % n], ALPHABET[i % n]])
        .filter(|signer| signer != b"app")
}

/// A genuine card padded to exactly `len` bytes with entries by distinct 3-byte signers
/// (issue 14, 1: the quadratic duplicate-signer check). 7 bytes an entry.
fn card_with_distinct_signers(card: &[u8], len: usize) -> Vec<u8> {
    let count = (len - card.len() - 16) / 7;
    let entries: Vec<u8> = distinct_signers()
        .take(count)
        .flat_map(|signer| ld(2, &ld(1, &signer)))
        .collect();
    assert_eq!(entries.len(), 7 * count, "enough distinct signers");
    card_padded(card, &entries, len)
}

/// A genuine card with one signature entry besides its own, exactly `len` bytes: the card
/// checks ignore signers they do not know.
fn card_at(card: &[u8], len: usize) -> Vec<u8> {
    card_padded(card, &[], len)
}

/// A genuine card (with one signature) with `MAX_CARD_SIGNATURES - 1` more entries by
/// distinct signers with long names, exactly `len` bytes: within every limit.
fn card_with_long_signers(card: &[u8], len: usize) -> Vec<u8> {
    let count = MAX_CARD_SIGNATURES - 1;
    let per_entry = (len - card.len()) / count;
    let names: Vec<Vec<u8>> = (0..count)
        .map(|i| {
            let mut name = format!("signer-{i}-").into_bytes();
            name.resize(per_entry - 16, b'x');
            name
        })
        .collect();
    let fixed: Vec<u8> = names[..count - 1]
        .iter()
        .flat_map(|name| ld(2, &ld(1, name)))
        .collect();
    exact(len, |k| {
        [
            card,
            &fixed,
            &signature_entry(&names[count - 1], &vec![0; k]),
        ]
        .concat()
    })
}

/// A genuine card followed by unknown groups nested as deep as `len` bytes allow.
fn card_with_nested_groups(card: &[u8], len: usize) -> Vec<u8> {
    let depth = (len - card.len() - 16) / 2;
    card_padded(card, &nested_groups(depth), len)
}

/// A genuine card followed by a signature entry made of unknown length-delimited fields
/// nested as deep as `len` bytes allow.
fn card_with_nested_fields(card: &[u8], len: usize) -> Vec<u8> {
    let depth = (len - card.len() - 32) / 3;
    card_padded(card, &ld(2, &nested_fields(depth, 0)), len)
}

/// A genuine card whose content field is repeated as often as `len` bytes allow (a
/// singular field given many times: prost keeps the last).
fn card_with_repeated_content(card: &[u8], len: usize) -> Vec<u8> {
    let content = field_of(card, 1);
    let signatures = without_field(card, 1);
    let count = (len - signatures.len()) / content.len();
    [content.repeat(count), signatures].concat()
}

/// The card of `identity` with the name `name`, self-signed with its key.
fn card_named(identity: &Identity, name: &str) -> Vec<u8> {
    let card = identity.card();
    let content = v1::CardContent {
        identity: name.to_owned(),
        signing_key: card.signing_key().to_vec(),
        agreement_key: card.agreement_key().to_vec(),
        created_at: card.created_at(),
        previous_fingerprint: Vec::new(),
    }
    .encode_to_vec();
    let signature = sign_as(identity, CARD_SIGNATURE_CONTEXT, &[&content]);
    v1::SignedCard {
        content,
        signatures: vec![v1::CardSignature {
            signer: SELF_SIGNER.to_owned(),
            signature,
        }],
    }
    .encode_to_vec()
}

/// A 256-byte name (the maximum) of multibyte UTF-8.
fn longest_name() -> String {
    let name = format!("{}x", "名".repeat(85));
    assert_eq!(name.len(), MAX_IDENTITY_NAME_LEN);
    name
}

// ---------------------------------------------------------------------------------------
// Hostile group control

/// A `Roster` (proto/ratchetkit.proto) from its parts; `members` and `transfers` are
/// encoded fields 3 and 6.
fn roster(
    group_id: &[u8],
    founder: &[u8],
    salt: &[u8],
    members: &[u8],
    transfers: &[u8],
) -> Vec<u8> {
    [
        ld(1, group_id),
        uint(2, 1),
        members.to_vec(),
        ld(4, founder),
        ld(5, salt),
        transfers.to_vec(),
    ]
    .concat()
}

/// A `RosterMember` entry (field 3 of `Roster`) added at version 1.
fn roster_member(card: &[u8]) -> Vec<u8> {
    ld(3, &[ld(1, card), uint(2, 1)].concat())
}

/// A `GroupControl` carrying a `SignedRoster`.
fn control_with_roster(roster: &[u8], signature: &[u8]) -> Vec<u8> {
    [
        uint(1, u64::from(GROUP_VERSION)),
        ld(2, &[ld(1, roster), ld(2, signature)].concat()),
        uint(5, 1),
    ]
    .concat()
}

/// A look-alike group founded by `founder` (an attacker: she can sign its rosters): its id
/// and salt.
fn look_alike(founder: &Identity) -> (Vec<u8>, Vec<u8>) {
    let salt = vec![7u8; 16];
    let mut hash = Sha256::new();
    hash.update(GROUP_ID_CONTEXT);
    hash.update(founder.card().signing_key());
    hash.update(&salt);
    (hash.finalize().to_vec(), salt)
}

/// A `GroupControl` with a roster of `founder`'s look-alike group listing `cards` (encoded
/// `SignedCard`s, the founder's first), signed by the founder.
fn signed_roster_control(founder: &Identity, cards: &[Vec<u8>]) -> Vec<u8> {
    let (group_id, salt) = look_alike(founder);
    let members: Vec<u8> = cards.iter().flat_map(|card| roster_member(card)).collect();
    let roster = roster(
        &group_id,
        &founder.card().signing_key(),
        &salt,
        &members,
        &[],
    );
    let signature = sign_as(founder, ROSTER_SIGNATURE_CONTEXT, &[&roster]);
    control_with_roster(&roster, &signature)
}

/// A roster of `group_id` of exactly `len` bytes: one member whose card is as long as the
/// length needs, then as many empty entries (2 bytes each) as fit: empty members, or (with
/// `empty_members` false) empty owner transfers.
fn dense_roster(group_id: &[u8], len: usize, empty_members: bool) -> Vec<u8> {
    let entry: [u8; 2] = if empty_members {
        [0x1a, 0x00]
    } else {
        [0x32, 0x00]
    };
    let count = (len - 100) / 2;
    let dense = entry.repeat(count);
    exact(len, |k| {
        let pad = ld(3, &ld(1, &vec![0; k]));
        if empty_members {
            roster(
                group_id,
                &[1; 32],
                &[2; 16],
                &[pad, dense.clone()].concat(),
                &[],
            )
        } else {
            roster(group_id, &[1; 32], &[2; 16], &pad, &dense)
        }
    })
}

// ---------------------------------------------------------------------------------------
// Hostile sealed messages

fn sealed_header(entries: &[u8]) -> Vec<u8> {
    [
        uint(1, u64::from(SEALED_VERSION)),
        ld(2, &[9; 32]),
        entries.to_vec(),
    ]
    .concat()
}

fn sealed_message(header: &[u8], ciphertext: &[u8]) -> Vec<u8> {
    [ld(1, header), ld(2, ciphertext)].concat()
}

/// A sealed header of exactly `len` bytes: one recipient entry of `k` bytes of fingerprint
/// and then empty recipient entries (2 bytes each).
fn header_of_empty_recipients(len: usize) -> Vec<u8> {
    let dense = [0x1a, 0x00].repeat((len - 64) / 2);
    exact(len, |k| {
        sealed_header(&[ld(3, &ld(1, &vec![0; k])), dense.clone()].concat())
    })
}

// ---------------------------------------------------------------------------------------
// The test

/// One test, so that the rows are measured one after another on one thread, and every
/// entry point's genuine baseline comes before its hostile rows.
#[test]
fn hostile_input_stays_within_its_budget() {
    let mut budget = Budget::default();
    let mut rng = rng(14);

    cards_and_bundles(&mut budget, &mut rng);
    channels(&mut budget, &mut rng);
    let crowd = crowd(&mut rng);
    let groups = groups(&mut budget, &mut rng, &crowd);
    sealed(&mut budget, &mut rng, &crowd);
    saved_state(&mut budget, &mut rng, groups);
    locked(&mut budget, &mut rng);

    budget.print();
    let failing = budget
        .rows
        .iter()
        .filter(|row| !row.failures.is_empty())
        .count();
    assert!(
        failing == 0,
        "{failing} of {} rows broke the budget:\n{}",
        budget.rows.len(),
        budget.failures().join("\n")
    );
}

/// `MAX_GROUP_MEMBERS` identities, for full-size groups, sealed messages for as many
/// recipients, and rosters of as many cards.
fn crowd(rng: &mut TestRng) -> Vec<Identity> {
    (0..MAX_GROUP_MEMBERS)
        .map(|i| identity(rng, &format!("member-{i:04}@example.org")))
        .collect()
}

/// The largest genuine card: a 256-byte name, rotated (a previous-key signature) and
/// approved by an app: three signatures. The identity and the approved card.
fn largest_identity(rng: &mut TestRng) -> (Identity, Card) {
    let first = identity(rng, &longest_name());
    let rotated = first.rotate_at(rng, CREATED_AT + 1).expect("rotate");
    let approved = rotated
        .card()
        .approve(&AppKey::generate(rng))
        .expect("approve");
    (rotated, approved)
}

/// A second handle on an identity, through its saved state.
fn identity_copy(identity: &Identity) -> Identity {
    Identity::from_bytes(&identity.to_bytes()).expect("copy")
}

/// A prekey store with `MAX_ONE_TIME_PREKEYS` one-time prekeys.
fn full_prekey_store(rng: &mut TestRng) -> PrekeyStore {
    let mut store = PrekeyStore::new(rng);
    store
        .generate_one_time_prekeys(rng, MAX_ONE_TIME_PREKEYS)
        .expect("room");
    store
}

fn cards_and_bundles(budget: &mut Budget, rng: &mut TestRng) {
    const ENTRY: &str = "Card::from_bytes";
    let alice = identity(rng, "alice");
    let card = alice.card().to_bytes();
    let (largest, approved) = largest_identity(rng);
    let largest_card = approved.to_bytes();

    budget.genuine(
        ENTRY,
        "a card (self-signed, 5-byte name)",
        card.len(),
        || Card::from_bytes(&card),
    );
    budget.genuine(
        ENTRY,
        "the largest card: 256-byte name, rotated, app-approved",
        largest_card.len(),
        || Card::from_bytes(&largest_card),
    );
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "1 MiB of 2-byte empty signature entries",
            card_with_empty_entries(&card, 1 << 20),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "1 MiB of distinct 3-byte signers (issue: a minute)",
            card_with_distinct_signers(&card, 1 << 20),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "MAX_CARD_LEN of 2-byte empty signature entries",
            card_with_empty_entries(&card, MAX_CARD_LEN),
            Expect::TooMany(MAX_CARD_SIGNATURES),
        ),
        (
            "MAX_CARD_LEN of distinct 3-byte signers",
            card_with_distinct_signers(&card, MAX_CARD_LEN),
            Expect::TooMany(MAX_CARD_SIGNATURES),
        ),
        (
            "MAX_CARD_LEN: 8 signers with 1 KiB names (within limits)",
            card_with_long_signers(&card, MAX_CARD_LEN),
            Expect::Ok,
        ),
        (
            "exactly MAX_CARD_LEN: a 7.9 KiB ignored signature",
            card_at(&card, MAX_CARD_LEN),
            Expect::Ok,
        ),
        (
            "MAX_CARD_LEN + 1: a 7.9 KiB ignored signature",
            card_at(&card, MAX_CARD_LEN + 1),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "MAX_CARD_LEN: unknown groups nested 4,000 deep",
            card_with_nested_groups(&card, MAX_CARD_LEN),
            Expect::Decode,
        ),
        (
            "MAX_CARD_LEN: unknown fields nested 2,600 deep in an entry",
            card_with_nested_fields(&card, MAX_CARD_LEN),
            Expect::Decode,
        ),
        (
            "MAX_CARD_LEN: the content field repeated",
            card_with_repeated_content(&card, MAX_CARD_LEN),
            Expect::Decode,
        ),
        (
            "a 257-byte name, self-signed",
            card_named(&alice, &format!("{}x", longest_name())),
            Expect::Error(Error::InvalidIdentityName),
        ),
        (
            "MAX_CARD_LEN: one name filling the card, self-signed",
            exact(MAX_CARD_LEN, |k| card_named(&alice, &"n".repeat(k))),
            Expect::Error(Error::InvalidIdentityName),
        ),
    ];
    for (case, bytes, expect) in &hostile {
        budget.hostile(ENTRY, case, bytes.len(), expect.clone(), || {
            Card::from_bytes(bytes)
        });
    }

    const BASE64: &str = "Card::from_base64";
    use base64::Engine as _;
    let text = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let largest_text = text(&largest_card);
    budget.genuine(BASE64, "the largest card", largest_text.len(), || {
        Card::from_base64(&largest_text)
    });
    for (case, bytes, expect) in &hostile[..4] {
        let encoded = text(bytes);
        budget.hostile(BASE64, case, encoded.len(), expect.clone(), || {
            Card::from_base64(&encoded)
        });
    }
    for (case, len, expect) in [
        (
            "4 MiB that is not base64",
            4 << 20,
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "10 KiB that is not base64",
            10 << 10,
            Expect::Error(Error::Base64),
        ),
    ] {
        let not_base64 = "*".repeat(len);
        budget.hostile(BASE64, case, len, expect, || Card::from_base64(&not_base64));
    }

    // Bundles, from a directory that may be hostile.
    const BUNDLE: &str = "PrekeyBundle::from_bytes";
    let mut store = PrekeyStore::new(rng);
    let ids = store.generate_one_time_prekeys(rng, 1).expect("prekeys");
    let bundle_bytes = store
        .bundle(&alice, Some(ids[0]))
        .expect("bundle")
        .to_bytes();
    let mut largest_store = PrekeyStore::new(rng);
    let largest_ids = largest_store
        .generate_one_time_prekeys(rng, 1)
        .expect("prekeys");
    let largest_bundle = largest_store
        .bundle(&largest, Some(largest_ids[0]))
        .expect("bundle")
        .with_card(&approved)
        .expect("the approved card")
        .to_bytes();
    budget.genuine(
        BUNDLE,
        "a bundle with a one-time prekey",
        bundle_bytes.len(),
        || PrekeyBundle::from_bytes(&bundle_bytes),
    );
    budget.genuine(
        BUNDLE,
        "the largest: the largest card, a one-time prekey",
        largest_bundle.len(),
        || PrekeyBundle::from_bytes(&largest_bundle),
    );
    let genuine = v1::PrekeyBundle::decode(bundle_bytes.as_slice()).expect("a bundle");
    let with_card = |card: Vec<u8>| v1::PrekeyBundle {
        card,
        ..genuine.clone()
    };
    let dense_card_bundle = |len: usize| {
        exact(len, |k| {
            with_card(card_with_empty_entries(&card, card.len() + 64 + k)).encode_to_vec()
        })
    };
    let repeated_one_time = {
        let one_time = field_of(&bundle_bytes, 6);
        let count = (MAX_BUNDLE_LEN - bundle_bytes.len()) / one_time.len();
        insert_fields(&bundle_bytes, 6, &one_time.repeat(count))
    };
    let distinct_and_long_prekey = exact(MAX_BUNDLE_LEN, |k| {
        v1::PrekeyBundle {
            signed_prekey: vec![0; k],
            ..with_card(card_with_distinct_signers(&card, MAX_CARD_LEN))
        }
        .encode_to_vec()
    });
    let nested = exact(MAX_BUNDLE_LEN, |k| {
        [
            bundle_bytes.clone(),
            nested_groups((MAX_BUNDLE_LEN - bundle_bytes.len()) / 2 - 16),
            ld(13, &vec![0; k]),
        ]
        .concat()
    });
    // The ML-KEM keys: one filling the bundle, the field given again and again.
    let long_kem_prekey = exact(MAX_BUNDLE_LEN, |k| {
        v1::PrekeyBundle {
            kem_prekey: vec![0x33; k],
            ..genuine.clone()
        }
        .encode_to_vec()
    });
    let repeated_kem_prekey = {
        let kem = field_of(&bundle_bytes, 7);
        let count = (MAX_BUNDLE_LEN - bundle_bytes.len()) / kem.len();
        insert_fields(&bundle_bytes, 7, &kem.repeat(count))
    };
    for (case, bytes, expect) in [
        (
            "1 MiB: a card of empty signature entries",
            dense_card_bundle(1 << 20),
            Expect::TooLarge(MAX_BUNDLE_LEN),
        ),
        (
            "MAX_BUNDLE_LEN: an ML-KEM prekey filling it",
            long_kem_prekey,
            Expect::Variant("InvalidLength", |e| {
                matches!(e, Error::InvalidLength { .. })
            }),
        ),
        (
            "MAX_BUNDLE_LEN: the ML-KEM prekey field repeated",
            repeated_kem_prekey,
            Expect::Decode,
        ),
        (
            "MAX_BUNDLE_LEN: a card of empty entries over MAX_CARD_LEN",
            dense_card_bundle(MAX_BUNDLE_LEN),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "MAX_BUNDLE_LEN: MAX_CARD_LEN of distinct signers, 8 KiB prekey",
            distinct_and_long_prekey,
            Expect::TooMany(MAX_CARD_SIGNATURES),
        ),
        (
            "MAX_BUNDLE_LEN: the one-time prekey field repeated",
            repeated_one_time,
            Expect::Decode,
        ),
        (
            "MAX_BUNDLE_LEN: unknown groups nested 8,000 deep",
            nested,
            Expect::Decode,
        ),
    ] {
        budget.hostile(BUNDLE, case, bytes.len(), expect, || {
            PrekeyBundle::from_bytes(&bytes)
        });
    }

    const APP_KEY: &str = "AppPublicKey::from_bytes";
    let app_key = AppKey::generate(rng).public().to_bytes();
    budget.genuine(APP_KEY, "an app's public key", app_key.len(), || {
        AppPublicKey::from_bytes(&app_key)
    });
    let long_key = vec![1u8; 1 << 20];
    budget.hostile(
        APP_KEY,
        "1 MiB",
        long_key.len(),
        Expect::Variant("InvalidLength", |e| {
            matches!(e, Error::InvalidLength { .. })
        }),
        || AppPublicKey::from_bytes(&long_key),
    );
}

fn channels(budget: &mut Budget, rng: &mut TestRng) {
    // Channel::join: first messages, from anyone who has the bundle.
    const JOIN: &str = "Channel::join";
    let mut s = common::setup(1);
    let (_, [first]) = s.alice_starts(["hello bob"]);
    let copy = |store: &PrekeyStore| PrekeyStore::from_bytes(&store.to_bytes()).expect("copy");
    let mut store = copy(&s.store);
    budget.genuine(JOIN, "a first message", first.len(), || {
        Channel::join(&s.bob, &mut store, &first)
    });
    let (largest, _) = largest_identity(rng);
    let largest_first = Channel::create(rng, &largest, &s.bundle)
        .expect("create")
        .encrypt(rng, &vec![7; MAX_PLAINTEXT_LEN])
        .expect("encrypt");
    let mut store = copy(&s.store);
    budget.genuine(
        JOIN,
        "the largest: MAX_PLAINTEXT_LEN, rotated 256-byte-name card",
        largest_first.len(),
        || Channel::join(&s.bob, &mut store, &largest_first),
    );

    let genuine = v1::ChannelMessage::decode(first.as_slice()).expect("a message");
    let alice_card = s.alice.card().to_bytes();
    let with_card = |card: Vec<u8>| {
        let mut message = genuine.clone();
        message
            .prekey
            .as_mut()
            .expect("prekey information")
            .initiator_card = card;
        message
    };
    let overhead = first.len() - alice_card.len();
    let sized = |message: v1::ChannelMessage, len: usize| {
        exact(len, |k| {
            v1::ChannelMessage {
                ciphertext: vec![0x5a; k],
                ..message.clone()
            }
            .encode_to_vec()
        })
    };
    let nested_in_prekey = {
        let prekey = genuine
            .prekey
            .as_ref()
            .expect("prekey information")
            .encode_to_vec();
        let without = v1::ChannelMessage {
            prekey: None,
            ..genuine.clone()
        }
        .encode_to_vec();
        let groups = nested_groups((MAX_CHANNEL_MESSAGE_LEN - first.len()) / 2 - 16);
        exact(MAX_CHANNEL_MESSAGE_LEN, |k| {
            [
                without.clone(),
                ld(
                    4,
                    &[prekey.as_slice(), &groups, &ld(13, &vec![0; k])].concat(),
                ),
            ]
            .concat()
        })
    };
    let nested_fields_at_max = {
        let nested = nested_fields((MAX_CHANNEL_MESSAGE_LEN - first.len()) / 5, 0);
        exact(MAX_CHANNEL_MESSAGE_LEN, |k| {
            [first.as_slice(), &nested, &ld(13, &vec![0; k])].concat()
        })
    };
    let repeated_prekey = {
        let prekey = field_of(&first, 4);
        let count = (MAX_CHANNEL_MESSAGE_LEN - first.len()) / prekey.len();
        [first.clone(), prekey.repeat(count)].concat()
    };

    let long_kem_ciphertext = exact(MAX_CHANNEL_MESSAGE_LEN, |k| {
        let mut message = genuine.clone();
        message
            .prekey
            .as_mut()
            .expect("prekey information")
            .kem_ciphertext = vec![0x44; k];
        message.encode_to_vec()
    });

    // Group control on a first message: a roster of empty members, from anyone.
    let mallory = identity(rng, "mallory");
    let bundle = s.store.bundle(&s.bob, None).expect("bundle");
    let mut to_bob = Channel::create(rng, &mallory, &bundle).expect("create");
    let dense_control = control_with_roster(
        &dense_roster(&[3; 32], MAX_ROSTER_LEN - 100, true),
        &[0; 64],
    );
    let control_first = common::mallory::encrypt_control(rng, &mut to_bob, &dense_control);

    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "8 MiB: a card of empty signature entries (issue: +400 MiB)",
            with_card(card_with_empty_entries(
                &alice_card,
                (8 << 20) - overhead - 8,
            ))
            .encode_to_vec(),
            Expect::TooLarge(MAX_CHANNEL_MESSAGE_LEN),
        ),
        (
            "35 KB: a card of distinct 3-byte signers (issue: 80 ms)",
            with_card(card_with_distinct_signers(
                &alice_card,
                35_000 - overhead - 4,
            ))
            .encode_to_vec(),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "140 KB: a card of distinct 3-byte signers (issue: 1 s)",
            with_card(card_with_distinct_signers(
                &alice_card,
                140_000 - overhead - 4,
            ))
            .encode_to_vec(),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "280 KB: a card of distinct 3-byte signers (issue: 4 s)",
            with_card(card_with_distinct_signers(
                &alice_card,
                280_000 - overhead - 4,
            ))
            .encode_to_vec(),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: MAX_CARD_LEN of distinct signers",
            sized(
                with_card(card_with_distinct_signers(&alice_card, MAX_CARD_LEN)),
                MAX_CHANNEL_MESSAGE_LEN,
            ),
            Expect::TooMany(MAX_CARD_SIGNATURES),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: a card of empty entries filling it",
            exact(MAX_CHANNEL_MESSAGE_LEN, |k| {
                with_card(card_with_empty_entries(&alice_card, 1024 + k)).encode_to_vec()
            }),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN + 1",
            sized(genuine.clone(), MAX_CHANNEL_MESSAGE_LEN + 1),
            Expect::TooLarge(MAX_CHANNEL_MESSAGE_LEN),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: unknown groups nested in PrekeyInfo",
            nested_in_prekey,
            Expect::Decode,
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: unknown fields nested 800,000 deep",
            nested_fields_at_max,
            Expect::Decode,
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: the prekey field repeated",
            repeated_prekey,
            Expect::Decode,
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: card of 8 signers with 1 KiB names",
            sized(
                with_card(card_with_long_signers(&alice_card, MAX_CARD_LEN)),
                MAX_CHANNEL_MESSAGE_LEN,
            ),
            // Unknown signers are allowed on a card; the changed card changes the prekey
            // information, which the message's associated data authenticates.
            Expect::Error(Error::AuthenticationFailed),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: forged ciphertext",
            sized(genuine.clone(), MAX_CHANNEL_MESSAGE_LEN),
            Expect::Error(Error::AuthenticationFailed),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: an ML-KEM ciphertext filling it",
            long_kem_ciphertext,
            Expect::Variant("InvalidLength", |e| {
                matches!(e, Error::InvalidLength { .. })
            }),
        ),
        (
            "group control: a roster of 1 MiB of empty members",
            control_first,
            Expect::TooMany(MAX_GROUP_MEMBERS),
        ),
    ];
    for (case, bytes, expect) in hostile {
        let before = s.store.to_bytes();
        budget.hostile(JOIN, case, bytes.len(), expect, || {
            Channel::join(&s.bob, &mut s.store, &bytes)
        });
        let unchanged = *before == *s.store.to_bytes();
        budget.state(unchanged, "the prekey store changed");
    }
    let joined = Channel::join(&s.bob, &mut s.store, &first);
    budget.state(
        joined.is_ok_and(|joined| joined.plaintext() == b"hello bob"),
        "the genuine first message no longer joins",
    );
    budget.state(
        !s.store.one_time_prekey_ids().contains(&s.one_time_id),
        "the genuine join did not use the one-time prekey",
    );

    // Channel::decrypt: messages on an established channel, from anyone on the path.
    const DECRYPT: &str = "Channel::decrypt";
    let mut pair = common::Pair::established(2);
    let small = pair.send(true, b"a genuine message");
    let largest = pair.send(true, &vec![9; MAX_PLAINTEXT_LEN]);
    let mut bob = pair.bob.clone();
    budget.genuine(DECRYPT, "a message", small.len(), || bob.decrypt(&small));
    let mut bob = pair.bob.clone();
    budget.genuine(DECRYPT, "MAX_PLAINTEXT_LEN", largest.len(), || {
        bob.decrypt(&largest)
    });
    {
        let mut gap = common::Pair::established(22);
        let lost: Vec<Vec<u8>> = (0..=MAX_MESSAGE_GAP)
            .map(|_| gap.send(true, b"lost"))
            .collect();
        let farthest = lost.last().expect("messages");
        budget.genuine(
            DECRYPT,
            "MAX_MESSAGE_GAP ahead: 2,000 keys skipped",
            farthest.len(),
            || gap.bob.decrypt(farthest),
        );
    }
    // Bob reads the genuine messages, so that the next one is exactly the one he expects.
    for genuine in [&small, &largest] {
        pair.bob.decrypt(genuine).expect("a genuine message");
    }
    let next = pair.send(true, b"the next genuine message");
    let message = v1::ChannelMessage::decode(next.as_slice()).expect("a message");
    let header = v1::RatchetHeader::decode(message.header.as_slice()).expect("a header");
    let with_header = |header: v1::RatchetHeader| {
        v1::ChannelMessage {
            header: header.encode_to_vec(),
            ..message.clone()
        }
        .encode_to_vec()
    };
    let repeated_header = {
        let field = field_of(&next, 2);
        let count = (MAX_CHANNEL_MESSAGE_LEN - next.len()) / field.len();
        insert_fields(&next, 2, &field.repeat(count))
    };
    let nested = exact(MAX_CHANNEL_MESSAGE_LEN, |k| {
        [
            next.clone(),
            nested_groups((MAX_CHANNEL_MESSAGE_LEN - next.len()) / 2 - 16),
            ld(13, &vec![0; k]),
        ]
        .concat()
    });
    let with_prekey = sized(
        v1::ChannelMessage {
            prekey: Some(v1::PrekeyInfo {
                initiator_card: card_with_empty_entries(&alice_card, MAX_CARD_LEN),
                ..genuine.prekey.clone().expect("prekey information")
            }),
            ..message.clone()
        },
        MAX_CHANNEL_MESSAGE_LEN,
    );
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "16 MiB",
            sized(message.clone(), 16 << 20),
            Expect::TooLarge(MAX_CHANNEL_MESSAGE_LEN),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN + 1",
            sized(message.clone(), MAX_CHANNEL_MESSAGE_LEN + 1),
            Expect::TooLarge(MAX_CHANNEL_MESSAGE_LEN),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: the header field repeated",
            repeated_header,
            Expect::Decode,
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: unknown groups nested 2 million deep",
            nested,
            Expect::Decode,
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: PrekeyInfo with a dense card",
            with_prekey,
            // Hashed into the associated data, never parsed: the AEAD refuses it.
            Expect::Error(Error::AuthenticationFailed),
        ),
        (
            "MAX_CHANNEL_MESSAGE_LEN: forged ciphertext",
            sized(message.clone(), MAX_CHANNEL_MESSAGE_LEN),
            Expect::Error(Error::AuthenticationFailed),
        ),
        (
            "forged, MAX_MESSAGE_GAP ahead",
            with_header(v1::RatchetHeader {
                message_number: header.message_number + MAX_MESSAGE_GAP,
                ..header.clone()
            }),
            Expect::Error(Error::AuthenticationFailed),
        ),
        (
            "forged, new chain, MAX_MESSAGE_GAP ahead on both chains",
            with_header(v1::RatchetHeader {
                ratchet_key: vec![0x42; 32],
                previous_chain_length: header.message_number + MAX_MESSAGE_GAP,
                message_number: MAX_MESSAGE_GAP,
                ..header.clone()
            }),
            Expect::Error(Error::AuthenticationFailed),
        ),
    ];
    for (case, bytes, expect) in hostile {
        let before = pair.bob.to_bytes();
        budget.hostile(DECRYPT, case, bytes.len(), expect, || {
            pair.bob.decrypt(&bytes)
        });
        let unchanged = *before == *pair.bob.to_bytes();
        budget.state(unchanged, "the channel changed");
    }
    let decrypted = pair.bob.decrypt(&next);
    budget.state(
        decrypted.is_ok_and(|plaintext| plaintext == b"the next genuine message"),
        "the channel no longer decrypts the next genuine message",
    );
}

/// Bob's group in the small world (a group of 3) and in the full one (`MAX_GROUP_MEMBERS`).
struct Groups {
    small: Group,
    full: Group,
}

fn groups(budget: &mut Budget, rng: &mut TestRng, crowd: &[Identity]) -> Groups {
    // A full group: its owner (crowd[0]) and Bob (crowd[1]) have a channel; the others are
    // cards only (their control waits for channels).
    let owner = &crowd[0];
    let bob = &crowd[1];
    let (owner_key, bob_key) = (owner.card().signing_key(), bob.card().signing_key());
    let mut bob_prekeys = PrekeyStore::new(rng);
    let bundle = bob_prekeys.bundle(bob, None).expect("bundle");
    let mut owner_channel = Channel::create(rng, owner, &bundle).expect("create");
    let hello = owner_channel.encrypt(rng, b"hello").expect("encrypt");
    let mut bob_channel = Channel::join(bob, &mut bob_prekeys, &hello)
        .expect("join")
        .into_channel();
    let reply = bob_channel.encrypt(rng, b"hi").expect("encrypt");
    owner_channel.decrypt(&reply).expect("reply");
    let mut owner_channels = HashMap::from([(bob_key, owner_channel)]);
    let mut bob_channels = HashMap::from([(owner_key, bob_channel)]);
    let cards: Vec<Card> = crowd[1..MAX_GROUP_MEMBERS - 1]
        .iter()
        .map(|member| member.card().clone())
        .collect();
    let (mut owner_group, created) =
        Group::create(rng, owner, &cards, &mut owner_channels).expect("create");
    let welcome = created
        .outgoing()
        .iter()
        .find(|outgoing| outgoing.to() == bob_key)
        .expect("a welcome to Bob")
        .message()
        .to_vec();

    // Group::join: a welcome, from any channel peer.
    const JOIN: &str = "Group::join";
    let mut world = common::groups::abc(3);
    {
        let (_group, outgoing) = world.new_group(ALICE, &[BOB]);
        let small = outgoing[0].message().to_vec();
        let alice = world.key(ALICE);
        let member = &world.members[BOB];
        let mut channels = member.channels.clone();
        let mut r = rng_for(30);
        budget.genuine(JOIN, "a welcome to a group of 2", small.len(), || {
            Group::join(&mut r, &member.identity, &mut channels, &alice, &small)
        });
    }
    let mut full = {
        let mut channels = bob_channels.clone();
        let mut r = rng_for(31);
        budget.genuine(
            JOIN,
            "the largest: a welcome to MAX_GROUP_MEMBERS - 1 members",
            welcome.len(),
            || Group::join(&mut r, bob, &mut channels, &owner_key, &welcome),
        );
        let (group, _) =
            Group::join(rng, bob, &mut bob_channels, &owner_key, &welcome).expect("join");
        group
    };

    let dave = world.key(DAVE);
    let dave_identity = identity_copy(&world.members[DAVE].identity);
    let dave_card = dave_identity.card().to_bytes();
    let bob_card = world.members[BOB].identity.card().to_bytes();
    let (group_id, _) = look_alike(&dave_identity);
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "control over MAX_GROUP_CONTROL_LEN: a roster of empty members",
            exact(MAX_GROUP_CONTROL_LEN + 1, |k| {
                control_with_roster(&dense_roster(&group_id, 1 << 20, true), &vec![0; k])
            }),
            Expect::TooLarge(MAX_GROUP_CONTROL_LEN),
        ),
        (
            "MAX_GROUP_CONTROL_LEN: a roster of empty members over its limit",
            exact(MAX_GROUP_CONTROL_LEN, |k| {
                control_with_roster(
                    &dense_roster(&group_id, MAX_GROUP_CONTROL_LEN - 200, true),
                    &vec![0; k],
                )
            }),
            Expect::TooLarge(MAX_ROSTER_LEN),
        ),
        (
            "a roster of 1 MiB of empty members",
            control_with_roster(
                &dense_roster(&group_id, MAX_ROSTER_LEN - 100, true),
                &[0; 64],
            ),
            Expect::TooMany(MAX_GROUP_MEMBERS),
        ),
        (
            "a roster of 1 MiB of empty owner transfers",
            control_with_roster(
                &dense_roster(&group_id, MAX_ROSTER_LEN - 100, false),
                &[0; 64],
            ),
            Expect::TooMany(MAX_OWNER_TRANSFERS),
        ),
        (
            "MAX_GROUP_CONTROL_LEN: unknown groups nested 1 million deep",
            exact(MAX_GROUP_CONTROL_LEN, |k| {
                [
                    uint(1, u64::from(GROUP_VERSION)),
                    ld(4, &ld(1, &group_id)),
                    nested_groups(MAX_GROUP_CONTROL_LEN / 2 - 64),
                    ld(13, &vec![0; k]),
                ]
                .concat()
            }),
            Expect::Decode,
        ),
        (
            "signed roster, owner card of 280 KB of distinct signers",
            signed_roster_control(
                &dave_identity,
                &[
                    card_with_distinct_signers(&dave_card, 280_000),
                    bob_card.clone(),
                ],
            ),
            Expect::TooLarge(MAX_CARD_LEN),
        ),
        (
            "signed roster, owner card: MAX_CARD_LEN of distinct signers",
            signed_roster_control(
                &dave_identity,
                &[
                    card_with_distinct_signers(&dave_card, MAX_CARD_LEN),
                    bob_card.clone(),
                ],
            ),
            Expect::TooMany(MAX_CARD_SIGNATURES),
        ),
        (
            "signed roster, a member's card with a 257-byte name",
            signed_roster_control(
                &dave_identity,
                &[
                    dave_card.clone(),
                    bob_card.clone(),
                    card_named(&crowd[2], &format!("{}x", longest_name())),
                ],
            ),
            Expect::Error(Error::InvalidIdentityName),
        ),
    ];
    for (case, control, expect) in hostile {
        let message = world.seal_control(DAVE, BOB, &control);
        let member = &mut world.members[BOB];
        let before = member.channels[&dave].to_bytes();
        let mut r = rng_for(32);
        budget.hostile(JOIN, case, message.len(), expect, || {
            Group::join(
                &mut r,
                &member.identity,
                &mut member.channels,
                &dave,
                &message,
            )
        });
        let unchanged = *before == *member.channels[&dave].to_bytes();
        budget.state(unchanged, "Bob's channel with Dave changed");
    }
    {
        // Within every limit: MAX_GROUP_MEMBERS cards of MAX_CARD_SIGNATURES entries each,
        // a roster of about MAX_ROSTER_LEN, signed by its (hostile) owner.
        let padded: Vec<Vec<u8>> = [dave_card.clone(), bob_card.clone()]
            .into_iter()
            .chain(
                crowd[2..MAX_GROUP_MEMBERS]
                    .iter()
                    .map(|member| card_with_long_signers(&member.card().to_bytes(), 1_000)),
            )
            .collect();
        let control = signed_roster_control(&dave_identity, &padded);
        let message = world.seal_control(DAVE, BOB, &control);
        let member = &world.members[BOB];
        let mut channels = member.channels.clone();
        let mut r = rng_for(33);
        budget.hostile(
            JOIN,
            "signed roster of MAX_GROUP_MEMBERS cards of 8 signers (limits)",
            message.len(),
            Expect::Ok,
            || Group::join(&mut r, &member.identity, &mut channels, &dave, &message),
        );
    }

    // Group::receive: control from a member (Carol) to another (Bob).
    const RECEIVE: &str = "Group::receive";
    let carol = world.key(CAROL);
    world.rekey(CAROL);
    let rekeyed = world
        .take_to(BOB)
        .into_iter()
        .find(|(from, _, _)| *from == CAROL)
        .expect("Carol's new key for Bob")
        .2;
    world.flush();
    {
        let member = &world.members[BOB];
        let mut group = member.group.clone().expect("Bob's group");
        let mut channels = member.channels.clone();
        let mut r = rng_for(34);
        budget.genuine(RECEIVE, "a member's new sender key", rekeyed.len(), || {
            group.receive(&mut r, &mut channels, &carol, &rekeyed)
        });
    }
    {
        let added = owner_group
            .add_member(
                rng,
                owner,
                crowd[MAX_GROUP_MEMBERS - 1].card(),
                &mut owner_channels,
            )
            .expect("add");
        let update = added
            .outgoing()
            .iter()
            .find(|outgoing| outgoing.to() == bob_key)
            .expect("the roster for Bob")
            .message()
            .to_vec();
        let mut group = full.clone();
        let mut channels = bob_channels.clone();
        let mut r = rng_for(35);
        budget.genuine(
            RECEIVE,
            "the largest: a roster of MAX_GROUP_MEMBERS",
            update.len(),
            || group.receive(&mut r, &mut channels, &owner_key, &update),
        );
        full.receive(rng, &mut bob_channels, &owner_key, &update)
            .expect("the roster update");
    }
    let alice_group_id = world.members[ALICE]
        .group
        .as_ref()
        .expect("Alice's group")
        .group_id()
        .to_vec();
    let relayed_roster = {
        let state = world.members[BOB]
            .group
            .as_ref()
            .expect("Bob's group")
            .to_bytes();
        common::fields_at(&state, &[3])[0].to_vec()
    };
    let leave = ld(4, &ld(1, &alice_group_id));
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "control over MAX_GROUP_CONTROL_LEN: a roster of empty members",
            exact(MAX_GROUP_CONTROL_LEN + 1, |k| {
                control_with_roster(&dense_roster(&alice_group_id, 1 << 20, true), &vec![0; k])
            }),
            Expect::TooLarge(MAX_GROUP_CONTROL_LEN),
        ),
        (
            "a roster of 1 MiB of empty members",
            control_with_roster(
                &dense_roster(&alice_group_id, MAX_ROSTER_LEN - 100, true),
                &[0; 64],
            ),
            Expect::TooMany(MAX_GROUP_MEMBERS),
        ),
        (
            "MAX_GROUP_CONTROL_LEN: unknown groups nested 1 million deep",
            exact(MAX_GROUP_CONTROL_LEN, |k| {
                [
                    uint(1, u64::from(GROUP_VERSION)),
                    leave.clone(),
                    nested_groups(MAX_GROUP_CONTROL_LEN / 2 - 64),
                    ld(13, &vec![0; k]),
                ]
                .concat()
            }),
            Expect::Decode,
        ),
        (
            "MAX_GROUP_CONTROL_LEN: the leave field repeated",
            [
                uint(1, u64::from(GROUP_VERSION)),
                leave.repeat((MAX_GROUP_CONTROL_LEN - 8) / leave.len()),
            ]
            .concat(),
            Expect::Decode,
        ),
        (
            "the owner's roster, relayed by a member",
            [
                uint(1, u64::from(GROUP_VERSION)),
                ld(2, &relayed_roster),
                uint(5, 1),
            ]
            .concat(),
            Expect::Variant("RosterNotFromOwner", |e| {
                matches!(e, Error::RosterNotFromOwner { .. })
            }),
        ),
    ];
    for (case, control, expect) in hostile {
        let message = world.seal_control(CAROL, BOB, &control);
        let member = &mut world.members[BOB];
        let group = member.group.as_mut().expect("Bob's group");
        let before = (group.to_bytes(), member.channels[&carol].to_bytes());
        let mut r = rng_for(36);
        budget.hostile(RECEIVE, case, message.len(), expect, || {
            group.receive(&mut r, &mut member.channels, &carol, &message)
        });
        let unchanged =
            *before.0 == *group.to_bytes() && *before.1 == *member.channels[&carol].to_bytes();
        budget.state(unchanged, "Bob's group or channel changed");
    }
    let delivered = world.deliver(CAROL, BOB, &rekeyed);
    budget.state(
        delivered.is_ok(),
        "the genuine control sent before no longer goes through",
    );
    world.flush();

    // Group::decrypt and Group::decrypt_batch: group messages, from anyone.
    const DECRYPT: &str = "Group::decrypt";
    let small = world.send(ALICE, b"a genuine group message");
    let largest = world.send(ALICE, &vec![3; MAX_PLAINTEXT_LEN]);
    {
        let group = world.members[BOB].group.as_ref().expect("Bob's group");
        let mut copy = group.clone();
        budget.genuine(DECRYPT, "a message", small.len(), || copy.decrypt(&small));
        let mut copy = group.clone();
        budget.genuine(DECRYPT, "MAX_PLAINTEXT_LEN", largest.len(), || {
            copy.decrypt(&largest)
        });
    }
    let next = world.send(ALICE, b"the next genuine group message");
    let message = v1::GroupMessage::decode(next.as_slice()).expect("a group message");
    let sized = |len: usize| {
        exact(len, |k| {
            v1::GroupMessage {
                ciphertext: vec![0x5a; k],
                ..message.clone()
            }
            .encode_to_vec()
        })
    };
    let repeated_header = {
        let field = field_of(&next, 2);
        let count = (MAX_GROUP_MESSAGE_LEN - next.len()) / field.len();
        insert_fields(&next, 2, &field.repeat(count))
    };
    let nested = exact(MAX_GROUP_MESSAGE_LEN, |k| {
        [
            next.clone(),
            nested_groups((MAX_GROUP_MESSAGE_LEN - next.len()) / 2 - 16),
            ld(13, &vec![0; k]),
        ]
        .concat()
    });
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "16 MiB",
            sized(16 << 20),
            Expect::TooLarge(MAX_GROUP_MESSAGE_LEN),
        ),
        (
            "MAX_GROUP_MESSAGE_LEN + 1",
            sized(MAX_GROUP_MESSAGE_LEN + 1),
            Expect::TooLarge(MAX_GROUP_MESSAGE_LEN),
        ),
        (
            "MAX_GROUP_MESSAGE_LEN: the header field repeated",
            repeated_header,
            Expect::Decode,
        ),
        (
            "MAX_GROUP_MESSAGE_LEN: unknown groups nested 2 million deep",
            nested,
            Expect::Decode,
        ),
        (
            "MAX_GROUP_MESSAGE_LEN: forged (a member's header)",
            sized(MAX_GROUP_MESSAGE_LEN),
            Expect::Variant("BadSignature", |e| matches!(e, Error::BadSignature { .. })),
        ),
    ];
    let batch: Vec<Vec<u8>> = hostile.iter().map(|(_, bytes, _)| bytes.clone()).collect();
    let expected: Vec<Expect> = hostile
        .iter()
        .map(|(_, _, expect)| expect.clone())
        .collect();
    for (case, bytes, expect) in hostile {
        let group = world.members[BOB].group.as_mut().expect("Bob's group");
        let before = group.to_bytes();
        budget.hostile(DECRYPT, case, bytes.len(), expect, || group.decrypt(&bytes));
        let unchanged = *before == *group.to_bytes();
        budget.state(unchanged, "the group changed");
    }

    const BATCH: &str = "Group::decrypt_batch";
    let group = world.members[BOB].group.as_mut().expect("Bob's group");
    let genuine_batch = [small.clone(), largest.clone()];
    let mut copy = group.clone();
    budget.genuine(
        BATCH,
        "a message and one of MAX_PLAINTEXT_LEN",
        genuine_batch.iter().map(Vec::len).sum(),
        || {
            copy.decrypt_batch(&genuine_batch)
                .into_iter()
                .collect::<Result<Vec<_>, Error>>()
        },
    );
    let before = group.to_bytes();
    let mut results = Vec::new();
    budget.hostile(
        BATCH,
        "the five hostile group messages above",
        batch.iter().map(Vec::len).sum(),
        Expect::Ok,
        || {
            results = group.decrypt_batch(&batch);
            Ok::<(), Error>(())
        },
    );
    let as_expected = results.len() == expected.len()
        && results.iter().zip(&expected).all(|(result, expect)| {
            expect.matches(&result.as_ref().map(drop).map_err(Clone::clone))
        });
    budget.state(
        as_expected,
        "a result in the batch is not the refusal expected",
    );
    budget.state(*before == *group.to_bytes(), "the group changed");
    for genuine in [&small, &largest, &next] {
        let decrypted = group.decrypt(genuine);
        budget.state(
            decrypted.is_ok(),
            "the group no longer decrypts the genuine messages",
        );
    }

    Groups {
        small: group.clone(),
        full,
    }
}

/// A seeded rng for a measured call (a separate one, so that the call's borrows stay apart
/// from the test's).
fn rng_for(seed: u64) -> TestRng {
    rng(seed)
}

fn sealed(budget: &mut Budget, rng: &mut TestRng, crowd: &[Identity]) {
    const OPEN: &str = "sealed::open";
    let alice = identity(rng, "alice");
    let bob = identity(rng, "bob");
    let senders = [alice.card().clone()];
    let small = seal(rng, &alice, &[bob.card().clone()], b"a sealed message").expect("seal");
    budget.genuine(OPEN, "one recipient", small.len(), || {
        open(&bob, &senders, &small)
    });
    let everyone: Vec<Card> = crowd.iter().map(|member| member.card().clone()).collect();
    let reader = &crowd[MAX_GROUP_MEMBERS - 1];
    let largest = seal(
        rng,
        &alice,
        &everyone,
        &vec![5; MAX_SEALED_MESSAGE_LEN - MAX_SEALED_HEADER_LEN],
    )
    .expect("seal");
    budget.genuine(
        OPEN,
        "the largest: MAX_SEALED_RECIPIENTS, 15.9 MiB",
        largest.len(),
        || open(reader, &senders, &largest),
    );
    let genuine = v1::SealedMessage::decode(largest.as_slice()).expect("a sealed message");
    let with_ciphertext =
        |len: usize| exact(len, |k| sealed_message(&genuine.header, &vec![0x5a; k]));
    let many_recipients: Vec<u8> = (0..=MAX_SEALED_RECIPIENTS)
        .flat_map(|i| {
            let mut fingerprint = [0u8; 32];
            fingerprint[..8].copy_from_slice(&(i as u64).to_be_bytes());
            ld(3, &[ld(1, &fingerprint), ld(2, &[0; 48])].concat())
        })
        .collect();
    let dense_header = header_of_empty_recipients(MAX_SEALED_HEADER_LEN);
    let huge_header = header_of_empty_recipients(MAX_SEALED_MESSAGE_LEN - 16);
    let nested_header = [
        sealed_header(&[]),
        nested_groups(MAX_SEALED_HEADER_LEN / 2 - 64),
    ]
    .concat();
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "16 MiB of empty recipient entries (issue: +416 MiB)",
            exact(MAX_SEALED_MESSAGE_LEN, |k| {
                sealed_message(&huge_header, &vec![0; k])
            }),
            Expect::TooLarge(MAX_SEALED_HEADER_LEN),
        ),
        (
            "MAX_SEALED_MESSAGE_LEN: MAX_SEALED_HEADER_LEN of empty entries",
            exact(MAX_SEALED_MESSAGE_LEN, |k| {
                sealed_message(&dense_header, &vec![0; k])
            }),
            Expect::TooMany(MAX_SEALED_RECIPIENTS),
        ),
        (
            "MAX_SEALED_RECIPIENTS + 1 recipients",
            sealed_message(&sealed_header(&many_recipients), &[0; 100]),
            Expect::TooMany(MAX_SEALED_RECIPIENTS),
        ),
        (
            "MAX_SEALED_MESSAGE_LEN + 1",
            with_ciphertext(MAX_SEALED_MESSAGE_LEN + 1),
            Expect::TooLarge(MAX_SEALED_MESSAGE_LEN),
        ),
        (
            "MAX_SEALED_MESSAGE_LEN: unknown groups nested in the header",
            exact(MAX_SEALED_MESSAGE_LEN, |k| {
                sealed_message(&nested_header, &vec![0; k])
            }),
            Expect::Decode,
        ),
        (
            "MAX_SEALED_MESSAGE_LEN: forged content, genuine header",
            with_ciphertext(MAX_SEALED_MESSAGE_LEN),
            Expect::Error(Error::Tampered),
        ),
    ];
    for (case, bytes, expect) in hostile {
        budget.hostile(OPEN, case, bytes.len(), expect, || {
            open(reader, &senders, &bytes)
        });
    }

    const STREAM: &str = "open_stream";
    let stream = |recipients: &[Card], len: usize, rng: &mut TestRng| {
        let mut sealed = Vec::new();
        seal_stream(rng, &alice, recipients, &vec![6u8; len][..], &mut sealed).expect("seal");
        sealed
    };
    let small = stream(&[bob.card().clone()], 100_000, rng);
    budget.genuine(STREAM, "one recipient, 100 KB", small.len(), || {
        open_stream(&bob, &senders, &small[..], io::sink())
    });
    let largest = stream(&everyone, 1 << 20, rng);
    budget.genuine(
        STREAM,
        "the largest header: MAX_SEALED_RECIPIENTS, 1 MiB",
        largest.len(),
        || open_stream(reader, &senders, &largest[..], io::sink()),
    );
    let framed = |header: &[u8], rest: &[u8]| {
        let len = u32::try_from(header.len()).expect("a short header");
        [&len.to_be_bytes()[..], header, rest].concat()
    };
    let header_len = u32::from_be_bytes(largest[..4].try_into().expect("4 bytes")) as usize;
    let mut forged = largest.clone();
    for byte in &mut forged[4 + header_len..] {
        *byte ^= 0x55;
    }
    let longest_prefix = u32::try_from(MAX_STREAM_HEADER_LEN).expect("a u32");
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "a length prefix of 4 GiB",
            vec![0xff; 16],
            Expect::TooLarge(MAX_STREAM_HEADER_LEN),
        ),
        (
            "a header of MAX_STREAM_HEADER_LEN + 1",
            framed(&vec![0; MAX_STREAM_HEADER_LEN + 1], &[]),
            Expect::TooLarge(MAX_STREAM_HEADER_LEN),
        ),
        (
            "a prefix of MAX_STREAM_HEADER_LEN, 10 bytes after it",
            [&longest_prefix.to_be_bytes()[..], &[0; 10]].concat(),
            Expect::Error(Error::Truncated),
        ),
        (
            "MAX_STREAM_HEADER_LEN of empty recipient entries",
            framed(&dense_header, &[0; 100]),
            Expect::TooMany(MAX_SEALED_RECIPIENTS),
        ),
        (
            "MAX_STREAM_HEADER_LEN: unknown groups nested 65,000 deep",
            framed(
                &exact(MAX_STREAM_HEADER_LEN, |k| {
                    [
                        sealed_header(&[]),
                        nested_groups(MAX_STREAM_HEADER_LEN / 2 - 64),
                        ld(13, &vec![0; k]),
                    ]
                    .concat()
                }),
                &[0; 100],
            ),
            Expect::Decode,
        ),
        (
            "forged chunks after a genuine header, 1 MiB",
            forged,
            Expect::Error(Error::Tampered),
        ),
    ];
    for (case, bytes, expect) in hostile {
        budget.hostile(STREAM, case, bytes.len(), expect, || {
            open_stream(reader, &senders, &bytes[..], io::sink())
        });
    }
}

/// `body` (saved state without its checksum) with `extra` inserted as fields numbered
/// `field`, checksummed.
fn state_with(body: &[u8], field: u32, extra: &[u8]) -> Vec<u8> {
    with_checksum(&insert_fields(body, field, extra))
}

/// Saved state of exactly `len` bytes: `body` with empty entries of the repeated `field`,
/// the first of them holding `k` bytes in its field `inner`, checksummed.
fn state_dense(body: &[u8], field: u32, inner: u32, len: usize) -> Vec<u8> {
    let entry = ld(field, &[]);
    let dense = entry.repeat((len - body.len() - 32) / entry.len());
    exact(len, |k| {
        state_with(
            body,
            field,
            &[ld(field, &ld(inner, &vec![0; k])), dense.clone()].concat(),
        )
    })
}

/// Saved state of exactly `len` bytes: `body` with unknown groups nested as deep as they
/// fit, checksummed.
fn state_nested(body: &[u8], len: usize) -> Vec<u8> {
    let groups = nested_groups((len - body.len()) / 2 - 32);
    exact(len, |k| {
        state_with(
            body,
            UNKNOWN,
            &[groups.as_slice(), &ld(13, &vec![0; k])].concat(),
        )
    })
}

/// Saved state of about `len` bytes: `body` with its singular `field` given again and
/// again, checksummed.
fn state_repeated(body: &[u8], field: u32, len: usize) -> Vec<u8> {
    let entry = field_of(body, field);
    let count = (len - body.len() - 16) / entry.len();
    state_with(body, field, &entry.repeat(count))
}

fn saved_state(budget: &mut Budget, rng: &mut TestRng, groups: Groups) {
    let pair = common::Pair::established(4);
    let key = StorageKey::generate(rng);

    // StorageKey::open: sealed state, from storage that may be hostile.
    const OPEN: &str = "StorageKey::open";
    let sealed_channel = key.seal(rng, &pair.bob).expect("seal");
    let channel_id = pair.bob.id();
    budget.genuine(OPEN, "a channel", sealed_channel.len(), || {
        key.open::<Channel>(&sealed_channel, &channel_id)
    });
    let sealed_group = key.seal(rng, &groups.full).expect("seal");
    let group_id = GroupStateId::new(groups.full.group_id(), groups.full.me());
    budget.genuine(
        OPEN,
        "the largest: a member of MAX_GROUP_MEMBERS",
        sealed_group.len(),
        || key.open::<Group>(&sealed_group, &group_id),
    );
    let version = field_of(&sealed_channel, 1);
    let nonce = field_of(&sealed_channel, 2);
    let envelope = |ciphertext: &[u8]| [version.as_slice(), &nonce, &ld(3, ciphertext)].concat();
    let repeated_ciphertext = {
        let field = ld(3, &[1]);
        [
            version.clone(),
            nonce.clone(),
            field.repeat((1 << 20) / field.len()),
        ]
        .concat()
    };
    let nested = || {
        let groups = nested_groups(MAX_SEALED_STATE_LEN / 2 - 64);
        exact(MAX_SEALED_STATE_LEN, |k| {
            [version.as_slice(), &nonce, &groups, &ld(13, &vec![0; k])].concat()
        })
    };
    // Built one at a time: each of these inputs is up to MAX_SEALED_STATE_LEN.
    let hostile: Vec<(String, Lazy, Expect)> = vec![
        (
            "MAX_SEALED_STATE_LEN + 1".into(),
            Box::new(|| exact(MAX_SEALED_STATE_LEN + 1, |k| envelope(&vec![1; k]))),
            Expect::TooLarge(MAX_SEALED_STATE_LEN),
        ),
        (
            "MAX_SEALED_STATE_LEN: forged ciphertext".into(),
            Box::new(|| exact(MAX_SEALED_STATE_LEN, |k| envelope(&vec![1; k]))),
            Expect::Error(Error::SealedStateRejected),
        ),
        (
            "1 MiB: the ciphertext field repeated".into(),
            Box::new(|| repeated_ciphertext.clone()),
            Expect::Decode,
        ),
        (
            format!(
                "MAX_SEALED_STATE_LEN: unknown groups nested {} deep",
                count(MAX_SEALED_STATE_LEN / 2)
            ),
            Box::new(nested),
            Expect::Decode,
        ),
    ];
    for (case, make, expect) in hostile {
        let bytes = make();
        budget.hostile(OPEN, &case, bytes.len(), expect, || {
            key.open::<Channel>(&bytes, &channel_id)
        });
    }

    // Channel::from_bytes.
    const CHANNEL: &str = "Channel::from_bytes";
    let channel_state = pair.bob.to_bytes();
    budget.genuine(
        CHANNEL,
        "an established channel",
        channel_state.len(),
        || Channel::from_bytes(&channel_state),
    );
    let full_channel = {
        let mut pair = common::Pair::established(5);
        let lost: Vec<Vec<u8>> = (0..=MAX_MESSAGE_GAP)
            .map(|_| pair.send(true, b"lost"))
            .collect();
        pair.bob
            .decrypt(lost.last().expect("messages"))
            .expect("decrypt");
        assert_eq!(pair.bob.skipped_keys(), MAX_SKIPPED_KEYS);
        pair.bob.to_bytes()
    };
    budget.genuine(
        CHANNEL,
        "the largest: MAX_SKIPPED_KEYS skipped keys",
        full_channel.len(),
        || Channel::from_bytes(&full_channel),
    );
    let body = state_body(&channel_state);
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "MAX_CHANNEL_STATE_LEN + 1 of empty skipped keys",
            state_dense(&body, 9, 1, MAX_CHANNEL_STATE_LEN + 1),
            Expect::TooLarge(MAX_CHANNEL_STATE_LEN),
        ),
        (
            "MAX_CHANNEL_STATE_LEN of empty skipped keys",
            state_dense(&body, 9, 1, MAX_CHANNEL_STATE_LEN),
            Expect::TooMany(MAX_SKIPPED_KEYS),
        ),
        (
            "MAX_CHANNEL_STATE_LEN of empty ended chains",
            state_dense(&body, 8, 1, MAX_CHANNEL_STATE_LEN),
            Expect::TooMany(MAX_ENDED_CHAINS),
        ),
        (
            "MAX_CHANNEL_STATE_LEN: the root key field repeated",
            state_repeated(&body, 4, MAX_CHANNEL_STATE_LEN),
            Expect::Decode,
        ),
        (
            "MAX_CHANNEL_STATE_LEN: unknown groups nested 500,000 deep",
            state_nested(&body, MAX_CHANNEL_STATE_LEN),
            Expect::Decode,
        ),
    ];
    for (case, bytes, expect) in hostile {
        budget.hostile(CHANNEL, case, bytes.len(), expect, || {
            Channel::from_bytes(&bytes)
        });
    }

    // Group::from_bytes.
    const GROUP: &str = "Group::from_bytes";
    let small_state = groups.small.to_bytes();
    let full_state = groups.full.to_bytes();
    budget.genuine(GROUP, "a member of a group of 3", small_state.len(), || {
        Group::from_bytes(&small_state)
    });
    budget.genuine(
        GROUP,
        "the largest: a member of MAX_GROUP_MEMBERS",
        full_state.len(),
        || Group::from_bytes(&full_state),
    );
    let body = state_body(&small_state);
    let dense_skipped = {
        let entry = ld(3, &[]);
        let dense = entry.repeat((1 << 20) / entry.len());
        state_with(&body, 5, &ld(5, &[ld(1, &[8; 32]), dense].concat()))
    };
    // Built one at a time: each of these inputs is up to MAX_GROUP_STATE_LEN.
    let hostile: Vec<(String, Lazy, Expect)> = vec![
        (
            "MAX_GROUP_STATE_LEN + 1".into(),
            Box::new(|| {
                exact(MAX_GROUP_STATE_LEN + 1, |k| {
                    state_with(&body, 5, &ld(5, &ld(1, &vec![0; k])))
                })
            }),
            Expect::TooLarge(MAX_GROUP_STATE_LEN),
        ),
        (
            format!(
                "MAX_GROUP_STATE_LEN of empty senders ({})",
                count(MAX_GROUP_STATE_LEN / 2)
            ),
            Box::new(|| state_dense(&body, 5, 1, MAX_GROUP_STATE_LEN)),
            Expect::TooMany(MAX_GROUP_MEMBERS),
        ),
        (
            format!(
                "{} senders of {} empty skipped keys each (found in review)",
                count(MAX_GROUP_MEMBERS),
                count(MAX_GROUP_SKIPPED_KEYS)
            ),
            Box::new(|| {
                let sender = [ld(1, &[7; 32]), ld(3, &[]).repeat(MAX_GROUP_SKIPPED_KEYS)].concat();
                state_with(&body, 5, &ld(5, &sender).repeat(MAX_GROUP_MEMBERS))
            }),
            Expect::Variant("TooMany (repeated entries in all)", |error| {
                matches!(
                    error,
                    Error::TooMany {
                        what: "repeated entries in all",
                        ..
                    }
                )
            }),
        ),
        (
            "1 MiB: a sender with empty skipped keys".into(),
            Box::new(|| dense_skipped.clone()),
            Expect::TooMany(MAX_GROUP_SKIPPED_KEYS),
        ),
        (
            format!(
                "MAX_GROUP_STATE_LEN: unknown groups nested {} deep",
                count(MAX_GROUP_STATE_LEN / 2)
            ),
            Box::new(|| state_nested(&body, MAX_GROUP_STATE_LEN)),
            Expect::Decode,
        ),
    ];
    for (case, make, expect) in hostile {
        let bytes = make();
        budget.hostile(GROUP, &case, bytes.len(), expect, || {
            Group::from_bytes(&bytes)
        });
    }

    // Identity::from_bytes.
    const IDENTITY: &str = "Identity::from_bytes";
    let small_identity = identity(rng, "alice").to_bytes();
    let (largest, _) = largest_identity(rng);
    let largest_identity = largest.to_bytes();
    budget.genuine(IDENTITY, "an identity", small_identity.len(), || {
        Identity::from_bytes(&small_identity)
    });
    budget.genuine(
        IDENTITY,
        "the largest: 256-byte name, rotated",
        largest_identity.len(),
        || Identity::from_bytes(&largest_identity),
    );
    let body = state_body(&small_identity);
    let named = |name: &[u8]| {
        with_checksum(
            &[
                field_of(&body, 1),
                ld(2, name),
                without_field(&without_field(&body, 1), 2),
            ]
            .concat(),
        )
    };
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "a 257-byte name",
            named(format!("{}x", longest_name()).as_bytes()),
            Expect::Error(Error::InvalidIdentityName),
        ),
        (
            "MAX_IDENTITY_STATE_LEN: one name filling it",
            exact(MAX_IDENTITY_STATE_LEN, |k| named(&vec![b'n'; k])),
            Expect::Error(Error::InvalidIdentityName),
        ),
        (
            "MAX_IDENTITY_STATE_LEN + 1: one name filling it",
            exact(MAX_IDENTITY_STATE_LEN + 1, |k| named(&vec![b'n'; k])),
            Expect::TooLarge(MAX_IDENTITY_STATE_LEN),
        ),
        (
            "MAX_IDENTITY_STATE_LEN: the signing secret field repeated",
            state_repeated(&body, 4, MAX_IDENTITY_STATE_LEN),
            Expect::Decode,
        ),
        (
            "MAX_IDENTITY_STATE_LEN: unknown groups nested 32,000 deep",
            state_nested(&body, MAX_IDENTITY_STATE_LEN),
            Expect::Decode,
        ),
    ];
    for (case, bytes, expect) in hostile {
        budget.hostile(IDENTITY, case, bytes.len(), expect, || {
            Identity::from_bytes(&bytes)
        });
    }

    // PrekeyStore::from_bytes.
    const STORE: &str = "PrekeyStore::from_bytes";
    let small_store = common::prekeys(rng, 2).0.to_bytes();
    let full_store = full_prekey_store(rng).to_bytes();
    budget.genuine(STORE, "two one-time prekeys", small_store.len(), || {
        PrekeyStore::from_bytes(&small_store)
    });
    budget.genuine(
        STORE,
        "the largest: MAX_ONE_TIME_PREKEYS one-time prekeys",
        full_store.len(),
        || PrekeyStore::from_bytes(&full_store),
    );
    let body = state_body(&small_store);
    let hostile: Vec<(&str, Vec<u8>, Expect)> = vec![
        (
            "MAX_PREKEY_STORE_STATE_LEN + 1 of empty prekeys",
            state_dense(&body, 4, 2, MAX_PREKEY_STORE_STATE_LEN + 1),
            Expect::TooLarge(MAX_PREKEY_STORE_STATE_LEN),
        ),
        (
            "MAX_PREKEY_STORE_STATE_LEN of empty one-time prekeys",
            state_dense(&body, 4, 2, MAX_PREKEY_STORE_STATE_LEN),
            Expect::TooMany(MAX_ONE_TIME_PREKEYS),
        ),
        (
            "MAX_PREKEY_STORE_STATE_LEN: unknown groups nested 2 million deep",
            state_nested(&body, MAX_PREKEY_STORE_STATE_LEN),
            Expect::Decode,
        ),
    ];
    for (case, bytes, expect) in hostile {
        budget.hostile(STORE, case, bytes.len(), expect, || {
            PrekeyStore::from_bytes(&bytes)
        });
    }
}

fn locked(budget: &mut Budget, rng: &mut TestRng) {
    // The cheapest parameters lock accepts: each genuine unlock runs Argon2id once, on 19 MiB.
    let params = LockParams::new(
        MIN_LOCK_MEMORY_KIB,
        MIN_LOCK_ITERATIONS,
        MIN_LOCK_PARALLELISM,
    )
    .expect("the minimums");
    let alice = identity(rng, "alice");
    let (store, _) = common::prekeys(rng, 2);
    let small = alice.lock(rng, &store, b"password", &params).expect("lock");
    let full_store = full_prekey_store(rng);
    let largest = alice
        .lock(rng, &full_store, b"password", &params)
        .expect("lock");

    const UNLOCK: &str = "Identity::unlock";
    const PARAMS: &str = "LockParams::of_locked";
    budget.genuine(UNLOCK, "two one-time prekeys", small.len(), || {
        Identity::unlock(&small, b"password")
    });
    budget.genuine(
        UNLOCK,
        "the largest: MAX_ONE_TIME_PREKEYS one-time prekeys",
        largest.len(),
        || Identity::unlock(&largest, b"password"),
    );
    budget.genuine(PARAMS, "two one-time prekeys", small.len(), || {
        LockParams::of_locked(&small)
    });
    budget.genuine(
        PARAMS,
        "the largest: MAX_ONE_TIME_PREKEYS one-time prekeys",
        largest.len(),
        || LockParams::of_locked(&largest),
    );

    let version = field_of(&small, 1);
    let salt = field_of(&small, 5);
    let nonce = field_of(&small, 6);
    let ciphertext = field_of(&small, 7);
    let locked_with = |memory_kib: u32, iterations: u32, parallelism: u32, ciphertext: &[u8]| {
        [
            version.clone(),
            uint(2, u64::from(memory_kib)),
            uint(3, u64::from(iterations)),
            uint(4, u64::from(parallelism)),
            salt.clone(),
            nonce.clone(),
            ld(7, ciphertext),
        ]
        .concat()
    };
    let too_high = Expect::Variant("LockParamsTooHigh", |e| {
        matches!(e, Error::LockParamsTooHigh { .. })
    });
    let groups = nested_groups((MAX_LOCKED_IDENTITY_LEN - 400) / 2);
    // (case, bytes, what unlock gives, what reading the parameters gives, Argon2id memory
    // the parameters declare: the cheapest Argon2 allows, 8 KiB, where it runs)
    let hostile: Vec<(&str, Vec<u8>, Expect, Expect, u64)> = vec![
        (
            "Argon2id parameters of u32::MAX",
            locked_with(u32::MAX, u32::MAX, u32::MAX, &[0; 100]),
            too_high.clone(),
            too_high.clone(),
            0,
        ),
        (
            "memory MAX_LOCK_MEMORY_KIB + 1",
            locked_with(MAX_LOCK_MEMORY_KIB + 1, 1, 1, &[0; 100]),
            too_high.clone(),
            too_high.clone(),
            0,
        ),
        (
            "iterations MAX_LOCK_ITERATIONS + 1",
            locked_with(8, MAX_LOCK_ITERATIONS + 1, 1, &[0; 100]),
            too_high.clone(),
            too_high.clone(),
            0,
        ),
        (
            "memory under Argon2's minimum (m = 1, p = 16)",
            locked_with(1, 1, 16, &[0; 100]),
            Expect::Variant("InvalidState", |e| matches!(e, Error::InvalidState { .. })),
            Expect::Ok,
            0,
        ),
        (
            "MAX_LOCKED_IDENTITY_LEN + 1",
            exact(MAX_LOCKED_IDENTITY_LEN + 1, |k| {
                locked_with(8, 1, 1, &vec![0; k])
            }),
            Expect::TooLarge(MAX_LOCKED_IDENTITY_LEN),
            Expect::TooLarge(MAX_LOCKED_IDENTITY_LEN),
            0,
        ),
        (
            "MAX_LOCKED_IDENTITY_LEN: the ciphertext field repeated",
            {
                let count = (MAX_LOCKED_IDENTITY_LEN - small.len()) / ciphertext.len();
                insert_fields(&small, 7, &ciphertext.repeat(count))
            },
            Expect::Decode,
            Expect::Decode,
            0,
        ),
        (
            "MAX_LOCKED_IDENTITY_LEN: unknown groups nested 2 million deep",
            exact(MAX_LOCKED_IDENTITY_LEN, |k| {
                [
                    locked_with(8, 1, 1, &[0; 100]),
                    groups.clone(),
                    ld(13, &vec![0; k]),
                ]
                .concat()
            }),
            Expect::Decode,
            Expect::Decode,
            0,
        ),
        (
            "MAX_LOCKED_IDENTITY_LEN: forged, the cheapest Argon2id",
            exact(MAX_LOCKED_IDENTITY_LEN, |k| {
                locked_with(8, 1, 1, &vec![0; k])
            }),
            Expect::Error(Error::WrongPassword),
            Expect::Ok,
            8 * 1024,
        ),
    ];
    for (case, bytes, unlock, params, allowance) in hostile {
        budget.hostile_allowing(UNLOCK, case, bytes.len(), unlock, allowance, || {
            Identity::unlock(&bytes, b"password")
        });
        budget.hostile(PARAMS, case, bytes.len(), params, || {
            LockParams::of_locked(&bytes)
        });
    }
}
