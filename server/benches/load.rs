//! A load benchmark of `ratchetkit-server` (not a timed test): it starts the release-built
//! server binary on a fresh SQLite database (and, when `RATCHETKIT_BENCH_POSTGRES_URL` is
//! set, in a fresh schema of the PostgreSQL database that URL names), and runs simulated devices
//! against it over loopback HTTP from a bounded pool of blocking workers.
//!
//! ```sh
//! cargo bench -p ratchetkit-server --bench load
//! LOAD_DEVICES=128 cargo bench -p ratchetkit-server --bench load
//! RATCHETKIT_BENCH_POSTGRES_URL=postgres://user@localhost/postgres \
//!     cargo bench -p ratchetkit-server --bench load
//! ```
//!
//! Each device is a user of its own (one identity, one card). The run has three phases:
//!
//! 1. register: every device publishes its card (`PUT /v1/cards`) and its bundles (a
//!    fallback and `LOAD_ONE_TIME` one-time bundles, `POST /v1/cards/FP/bundles`);
//! 2. traffic: every device, in turn, looks a peer up by name, claims a bundle of a peer's
//!    card and of a peer by name (one-time bundles until they run out, then the fallback),
//!    deposits envelopes into peers' mailboxes, and fetches and acknowledges its own
//!    mailbox; until `LOAD_REQUESTS` requests in all or `LOAD_SECONDS` have passed;
//! 3. drain: every device fetches and acknowledges what is left in its mailbox.
//!
//! Every envelope carries its recipient, sender and sequence number and bytes derived from
//! them, so every fetched envelope is checked byte for byte, and after the drain the
//! envelopes delivered must be exactly those deposited. Any unexpected status, transport
//! error or mismatch counts as an error (the run exits with status 1 if there is one).
//!
//! Printed per operation and overall: requests, requests per second (over the wall time of
//! the phases the operation runs in), wall-clock latency p50/p99/max, errors; and the
//! server's memory from `/proc/PID/status`: resident set after start, peak (`VmHWM`) and
//! at the end. The figures are also written as JSON to `target/load-report.json` (or to
//! `LOAD_REPORT`; a smoke run writes only there).
//!
//! Settings (environment): `LOAD_DEVICES` (64), `LOAD_REQUESTS` (20,000, registration and
//! drain included), `LOAD_WORKERS` (16 concurrent requests), `LOAD_SECONDS` (60, the
//! traffic phase's cap), `LOAD_ONE_TIME` (20 one-time bundles per device). Run without
//! `--bench` (as `cargo test --benches` does), it makes a short smoke run instead.
//!
//! The server's per-subject rate limit would throttle a handful of simulated devices
//! making thousands of requests; the benchmark raises it with the server's command-line
//! option so that it measures the server's work, not its throttling.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::RngExt;
use ratchetkit::{AppKey, Identity, PrekeyStore};
use serde_json::{json, Value};

// The server binary (cargo builds it with the bench profile, release, for a benchmark), its
// dev app key, a PostgreSQL schema and the HTTP client: shared with the tests.
#[path = "../tests/support/http_client.rs"]
mod http_client;
#[path = "../tests/support/pg_schema.rs"]
mod pg_schema;
#[path = "../tests/support/server_process.rs"]
mod server_process;

use http_client::Http;
use pg_schema::PgSchema;
use server_process::{dev_app_key, dev_token, Server, TempDir, SERVER_EXE};

/// The most envelopes a fetch asks for (the server's maximum page).
const FETCH_LIMIT: usize = 100;

// ---------------------------------------------------------------------------------------
// Settings

#[derive(Debug, Clone, Copy)]
struct Settings {
    devices: usize,
    requests: usize,
    workers: usize,
    seconds: u64,
    one_time: usize,
}

impl Settings {
    fn from_env(full: bool) -> Self {
        let get = |name: &str, default: usize| -> usize {
            match std::env::var(name) {
                Ok(text) => text
                    .trim()
                    .parse()
                    .unwrap_or_else(|_| panic!("{name} must be a whole number, not {text:?}")),
                Err(_) => default,
            }
        };
        let settings = if full {
            Settings {
                devices: get("LOAD_DEVICES", 64),
                requests: get("LOAD_REQUESTS", 20_000),
                workers: get("LOAD_WORKERS", 16),
                seconds: get("LOAD_SECONDS", 60) as u64,
                one_time: get("LOAD_ONE_TIME", 20),
            }
        } else {
            Settings {
                devices: get("LOAD_DEVICES", 4),
                requests: get("LOAD_REQUESTS", 300),
                workers: get("LOAD_WORKERS", 2),
                seconds: get("LOAD_SECONDS", 20) as u64,
                one_time: get("LOAD_ONE_TIME", 3),
            }
        };
        assert!(settings.devices >= 2, "LOAD_DEVICES must be at least 2");
        assert!(settings.workers >= 1, "LOAD_WORKERS must be at least 1");
        assert!(
            settings.one_time <= 1_000,
            "LOAD_ONE_TIME must be at most 1,000"
        );
        settings
    }
}

// ---------------------------------------------------------------------------------------
// The server process and its memory

#[derive(Debug, Clone, Copy, Default)]
struct Memory {
    rss_kib: u64,
    peak_kib: u64,
}

/// `VmRSS` and `VmHWM` (peak) of the server, in KiB.
fn memory(server: &Server) -> Memory {
    let status =
        std::fs::read_to_string(format!("/proc/{}/status", server.pid())).unwrap_or_default();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|kib| kib.parse().ok())
            .unwrap_or(0)
    };
    Memory {
        rss_kib: field("VmRSS:"),
        peak_kib: field("VmHWM:"),
    }
}

// ---------------------------------------------------------------------------------------
// Operations and their figures

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    PutCard,
    PublishBundles,
    Lookup,
    ClaimCard,
    ClaimUser,
    Deposit,
    Fetch,
    Ack,
}

const OPS: [Op; 8] = [
    Op::PutCard,
    Op::PublishBundles,
    Op::Lookup,
    Op::ClaimCard,
    Op::ClaimUser,
    Op::Deposit,
    Op::Fetch,
    Op::Ack,
];

impl Op {
    fn name(self) -> &'static str {
        match self {
            Op::PutCard => "put_card",
            Op::PublishBundles => "publish_bundles",
            Op::Lookup => "lookup_cards",
            Op::ClaimCard => "claim_card",
            Op::ClaimUser => "claim_user",
            Op::Deposit => "deposit",
            Op::Fetch => "fetch",
            Op::Ack => "ack",
        }
    }

    /// Whether it runs in the registration phase (else in traffic and drain).
    fn registers(self) -> bool {
        matches!(self, Op::PutCard | Op::PublishBundles)
    }
}

/// What one worker saw.
#[derive(Default)]
struct Record {
    /// Latencies of successful requests, in nanoseconds, by operation.
    latencies: BTreeMap<Op, Vec<u64>>,
    errors: BTreeMap<Op, u64>,
    first_errors: Vec<String>,
}

impl Record {
    fn ok(&mut self, op: Op, elapsed: Duration) {
        self.latencies
            .entry(op)
            .or_default()
            .push(u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX));
    }

    fn error(&mut self, op: Op, message: String) {
        *self.errors.entry(op).or_default() += 1;
        if self.first_errors.len() < 10 {
            self.first_errors.push(format!("{}: {message}", op.name()));
        }
    }

    fn merge(&mut self, other: Record) {
        for (op, mut latencies) in other.latencies {
            self.latencies.entry(op).or_default().append(&mut latencies);
        }
        for (op, count) in other.errors {
            *self.errors.entry(op).or_default() += count;
        }
        for error in other.first_errors {
            if self.first_errors.len() < 10 {
                self.first_errors.push(error);
            }
        }
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = (p / 100.0 * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

// ---------------------------------------------------------------------------------------
// Devices and envelopes

/// A simulated device: a user of its own with one card.
struct Device {
    name: String,
    token: String,
    card_b64: String,
    /// The card's fingerprint, hex.
    fingerprint: String,
    /// The device id (the card's signing key), hex.
    device_id: String,
    /// Its bundles: the fallback first, then the one-time bundles (base64).
    bundles: Vec<String>,
}

fn make_devices(settings: &Settings, app: &AppKey) -> Vec<Device> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs();
    let made: Mutex<Vec<(usize, Device)>> = Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    thread::scope(|scope| {
        for _ in 0..thread::available_parallelism().map_or(2, |n| n.get()) {
            scope.spawn(|| {
                let mut rng = rand::rng();
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= settings.devices {
                        break;
                    }
                    let name = format!("load-device-{index}");
                    let identity = Identity::generate(&mut rng, &name).expect("an identity");
                    let mut prekeys = PrekeyStore::new_at(&mut rng, now);
                    let ids = prekeys
                        .generate_one_time_prekeys_at(&mut rng, settings.one_time, now)
                        .expect("one-time prekeys");
                    let mut bundles = vec![B64.encode(
                        prekeys
                            .bundle(&identity, None)
                            .expect("the fallback bundle")
                            .to_bytes(),
                    )];
                    for id in ids {
                        let bundle = prekeys.bundle(&identity, Some(id)).expect("a bundle");
                        bundles.push(B64.encode(bundle.to_bytes()));
                    }
                    let card = identity.card();
                    let token = dev_token(app, &name, now);
                    let device = Device {
                        token,
                        card_b64: card.to_base64(),
                        fingerprint: hex::encode(card.fingerprint().as_bytes()),
                        device_id: hex::encode(card.signing_key()),
                        bundles,
                        name,
                    };
                    made.lock().expect("not poisoned").push((index, device));
                }
            });
        }
    });
    let mut made = made.into_inner().expect("not poisoned");
    made.sort_by_key(|(index, _)| *index);
    made.into_iter().map(|(_, device)| device).collect()
}

/// An envelope's bytes: recipient, sender and sequence number, then bytes derived from
/// them (xorshift), `len` in all (at least 16).
fn envelope(recipient: u32, sender: u32, seq: u64, len: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&recipient.to_be_bytes());
    bytes.extend_from_slice(&sender.to_be_bytes());
    bytes.extend_from_slice(&seq.to_be_bytes());
    let mut state = (u64::from(sender) << 32 | u64::from(recipient)) ^ seq.rotate_left(17) | 1;
    while bytes.len() < len {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.push(state as u8);
    }
    bytes
}

/// Checks a fetched envelope: for `recipient`, and its bytes as made.
fn check_envelope(recipient: u32, bytes: &[u8]) -> Result<(), String> {
    if bytes.len() < 16 {
        return Err(format!("an envelope of {} bytes", bytes.len()));
    }
    let field = |range: std::ops::Range<usize>| -> u64 {
        bytes[range]
            .iter()
            .fold(0u64, |acc, byte| acc << 8 | u64::from(*byte))
    };
    let (to, from, seq) = (field(0..4) as u32, field(4..8) as u32, field(8..16));
    if to != recipient {
        return Err(format!(
            "an envelope for {to} in the mailbox of {recipient}"
        ));
    }
    if envelope(to, from, seq, bytes.len()) != bytes {
        return Err(format!("envelope {from}/{seq} changed"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The run

/// Counters shared by the workers.
#[derive(Default)]
struct Shared {
    /// Requests sent (also those that failed).
    requests: AtomicUsize,
    envelopes_deposited: AtomicU64,
    envelopes_delivered: AtomicU64,
    bundles_claimed: AtomicU64,
}

/// The figures of one run on one database.
struct Report {
    backend: &'static str,
    settings: Settings,
    register_secs: f64,
    traffic_secs: f64,
    total_secs: f64,
    record: Record,
    memory_start: Memory,
    memory_end: Memory,
    envelopes_deposited: u64,
    envelopes_delivered: u64,
    bundles_claimed: u64,
    database_bytes: Option<u64>,
}

impl Report {
    fn errors(&self) -> u64 {
        self.record.errors.values().sum::<u64>()
            + u64::from(self.envelopes_deposited != self.envelopes_delivered)
    }
}

/// One worker's part of a phase: runs `step` on each of its devices in turn.
struct Worker<'a> {
    http: Http,
    devices: &'a [Device],
    mine: Vec<usize>,
    record: Record,
    shared: &'a Shared,
    /// Per device: the number of steps taken (picks the next operation).
    steps: Vec<u64>,
    seq: u64,
}

impl Worker<'_> {
    /// Sends a request, times it, and checks its status; the body on success.
    fn request(
        &mut self,
        op: Op,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        expected: &[u16],
    ) -> Option<Value> {
        self.shared.requests.fetch_add(1, Ordering::Relaxed);
        let start = Instant::now();
        let result = self.http.call(method, path, token, body);
        let elapsed = start.elapsed();
        match result {
            Ok((status, body)) if expected.contains(&status) => {
                match serde_json::from_slice(&body) {
                    Ok(value) => {
                        self.record.ok(op, elapsed);
                        Some(value)
                    }
                    Err(e) => {
                        self.record
                            .error(op, format!("{method} {path}: a body that is not JSON: {e}"));
                        None
                    }
                }
            }
            Ok((status, body)) => {
                let text = String::from_utf8_lossy(&body);
                self.record
                    .error(op, format!("{method} {path}: status {status}: {text}"));
                None
            }
            Err(e) => {
                self.record.error(op, e);
                None
            }
        }
    }

    fn register(&mut self, index: usize) {
        let device = &self.devices[index];
        let body = json!({ "card": device.card_b64 });
        self.request(
            Op::PutCard,
            "PUT",
            "/v1/cards",
            &device.token,
            Some(&body),
            &[200, 201],
        );
        let path = format!("/v1/cards/{}/bundles", device.fingerprint);
        let body = json!({ "bundles": device.bundles, "replace": false });
        if let Some(reply) = self.request(
            Op::PublishBundles,
            "POST",
            &path,
            &device.token,
            Some(&body),
            &[200],
        ) {
            let held = reply["one_time"].as_u64();
            if held != Some(device.bundles.len() as u64 - 1) {
                self.record.error(
                    Op::PublishBundles,
                    format!("{} holds {held:?} one-time bundles", device.name),
                );
            }
        }
    }

    /// A peer of device `index`: another device, picked at random.
    fn peer(&self, index: usize) -> usize {
        let n = self.devices.len();
        (index + 1 + rand::rng().random_range(0..n - 1)) % n
    }

    /// One step of device `index` in the traffic phase: one request, or a fetch and an
    /// acknowledgement.
    fn step(&mut self, index: usize) {
        let step = self.steps[index];
        self.steps[index] += 1;
        let token = self.devices[index].token.clone();
        match step % 6 {
            0 => {
                let peer = &self.devices[self.peer(index)];
                let path = format!("/v1/cards?name={}", peer.name);
                if let Some(reply) = self.request(Op::Lookup, "GET", &path, &token, None, &[200]) {
                    if reply["cards"].as_array().map(Vec::len) != Some(1) {
                        self.record
                            .error(Op::Lookup, format!("{path}: {reply} (one card expected)"));
                    }
                }
            }
            1 => {
                let peer = &self.devices[self.peer(index)];
                let path = format!("/v1/cards/{}/bundles/claim", peer.fingerprint);
                if let Some(reply) = self.request(
                    Op::ClaimCard,
                    "POST",
                    &path,
                    &token,
                    Some(&json!({})),
                    &[200],
                ) {
                    if reply["bundle"].is_string() {
                        self.shared.bundles_claimed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.record.error(
                            Op::ClaimCard,
                            format!("{path}: {reply} (a bundle expected)"),
                        );
                    }
                }
            }
            3 => {
                let peer = &self.devices[self.peer(index)];
                let path = format!("/v1/users/{}/bundles/claim", peer.name);
                if let Some(reply) = self.request(
                    Op::ClaimUser,
                    "POST",
                    &path,
                    &token,
                    Some(&json!({})),
                    &[200],
                ) {
                    if reply["bundles"].as_array().map(Vec::len) == Some(1) {
                        self.shared.bundles_claimed.fetch_add(1, Ordering::Relaxed);
                    } else {
                        self.record.error(
                            Op::ClaimUser,
                            format!("{path}: {reply} (one bundle expected)"),
                        );
                    }
                }
            }
            2 | 4 => self.deposit(index, &token),
            _ => {
                self.fetch_and_ack(index, &token);
            }
        }
    }

    /// Deposits one to three envelopes of 200 to 2,000 bytes into a peer's mailbox.
    fn deposit(&mut self, index: usize, token: &str) {
        let peer = self.peer(index);
        let mut rng = rand::rng();
        let count = rng.random_range(1..=3);
        let envelopes: Vec<String> = (0..count)
            .map(|_| {
                self.seq += 1;
                // Unique per worker: the worker's first device and its own counter.
                let seq = (self.mine[0] as u64) << 40 | self.seq;
                let len = rng.random_range(200..=2_000);
                B64.encode(envelope(peer as u32, index as u32, seq, len))
            })
            .collect();
        let path = format!("/v1/mailbox/{}", self.devices[peer].device_id);
        let body = json!({ "envelopes": envelopes });
        if let Some(reply) = self.request(Op::Deposit, "POST", &path, token, Some(&body), &[202]) {
            match reply["ids"].as_array() {
                Some(ids) if ids.len() == count => {
                    self.shared
                        .envelopes_deposited
                        .fetch_add(count as u64, Ordering::Relaxed);
                }
                _ => self.record.error(
                    Op::Deposit,
                    format!("{path}: {reply} ({count} ids expected)"),
                ),
            }
        }
    }

    /// Fetches a page of device `index`'s mailbox, checks it, and acknowledges it; returns
    /// how many envelopes it got (0 on an error).
    fn fetch_and_ack(&mut self, index: usize, token: &str) -> usize {
        let device_id = self.devices[index].device_id.clone();
        let path = format!("/v1/mailbox/{device_id}?after=0&limit={FETCH_LIMIT}");
        let Some(reply) = self.request(Op::Fetch, "GET", &path, token, None, &[200]) else {
            return 0;
        };
        let Some(entries) = reply["envelopes"].as_array() else {
            self.record
                .error(Op::Fetch, format!("{path}: {reply} (envelopes expected)"));
            return 0;
        };
        let mut ids = Vec::with_capacity(entries.len());
        for entry in entries {
            let id = entry["id"].as_u64();
            let bytes = entry["envelope"].as_str().map(|text| B64.decode(text));
            match (id, bytes) {
                (Some(id), Some(Ok(bytes))) => {
                    if let Err(e) = check_envelope(index as u32, &bytes) {
                        self.record.error(Op::Fetch, format!("{path}: {e}"));
                    }
                    ids.push(id);
                }
                _ => self
                    .record
                    .error(Op::Fetch, format!("{path}: a malformed entry {entry}")),
            }
        }
        if ids.is_empty() {
            return 0;
        }
        let path = format!("/v1/mailbox/{device_id}/ack");
        let body = json!({ "ids": ids });
        if let Some(reply) = self.request(Op::Ack, "POST", &path, token, Some(&body), &[200]) {
            if reply["deleted"].as_u64() == Some(ids.len() as u64) {
                self.shared
                    .envelopes_delivered
                    .fetch_add(ids.len() as u64, Ordering::Relaxed);
                return ids.len();
            }
            self.record.error(
                Op::Ack,
                format!("{path}: {reply} ({} deleted expected)", ids.len()),
            );
        }
        0
    }
}

fn run(backend: &'static str, database: &str, dir: &Path, settings: Settings) -> Report {
    println!(
        "\n== {backend}: {} devices, {} workers, at most {} requests or {} s of traffic",
        settings.devices, settings.workers, settings.requests, settings.seconds
    );
    let server = Server::start(database, dir, rate_limit_args());
    let app = dev_app_key(dir);
    let started = Instant::now();
    let devices = make_devices(&settings, &app);
    println!(
        "   server pid {} at {}; {} devices made in {:.1} s",
        server.pid(),
        server.base,
        devices.len(),
        started.elapsed().as_secs_f64()
    );
    let memory_start = memory(&server);

    let shared = Shared::default();
    let workers = settings.workers.min(settings.devices);
    let barrier = Barrier::new(workers + 1);
    // The requests the drain may take, kept out of the traffic phase's budget.
    let drain_reserve = 3 * settings.devices;
    let traffic_budget = settings.requests.saturating_sub(drain_reserve);
    let cap = Duration::from_secs(settings.seconds);

    let mut record = Record::default();
    let mut marks = [Instant::now(); 4];
    thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (devices, shared, barrier, base) = (&devices, &shared, &barrier, &server.base);
                scope.spawn(move || {
                    let mut worker = Worker {
                        http: Http::new(base),
                        devices,
                        mine: (w..devices.len()).step_by(workers).collect(),
                        record: Record::default(),
                        shared,
                        steps: vec![0; devices.len()],
                        seq: 0,
                    };
                    barrier.wait();
                    for index in worker.mine.clone() {
                        worker.register(index);
                    }
                    barrier.wait();
                    let start = Instant::now();
                    'traffic: loop {
                        for index in worker.mine.clone() {
                            if shared.requests.load(Ordering::Relaxed) >= traffic_budget
                                || start.elapsed() >= cap
                            {
                                break 'traffic;
                            }
                            worker.step(index);
                        }
                    }
                    barrier.wait();
                    for index in worker.mine.clone() {
                        let mut pages = 0;
                        while worker.fetch_and_ack(index, &devices[index].token) > 0 {
                            pages += 1;
                            if pages > 1_000 {
                                worker
                                    .record
                                    .error(Op::Fetch, "the drain never ends".into());
                                break;
                            }
                        }
                    }
                    barrier.wait();
                    worker.record
                })
            })
            .collect();
        for mark in &mut marks {
            barrier.wait();
            *mark = Instant::now();
        }
        for handle in handles {
            record.merge(handle.join().expect("a worker panicked"));
        }
    });
    let register_secs = (marks[1] - marks[0]).as_secs_f64();
    let traffic_secs = (marks[3] - marks[1]).as_secs_f64();
    let total_secs = (marks[3] - marks[0]).as_secs_f64();
    let memory_end = memory(&server);
    let database_bytes = (backend == "sqlite").then(|| {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| std::fs::metadata(format!("{database}{suffix}")).ok())
            .map(|meta| meta.len())
            .sum()
    });
    let log = server.log_text();
    drop(server);
    // Warnings and errors other than the development key's.
    let lines: Vec<&str> = log
        .lines()
        .filter(|line| !line.contains("DEVELOPMENT app key"))
        .collect();
    if !lines.is_empty() {
        println!("   server log ({} lines, the last ones):", lines.len());
        for line in &lines[lines.len().saturating_sub(5)..] {
            println!("   | {line}");
        }
    }
    Report {
        backend,
        settings,
        register_secs,
        traffic_secs,
        total_secs,
        record,
        memory_start,
        memory_end,
        envelopes_deposited: shared.envelopes_deposited.load(Ordering::Relaxed),
        envelopes_delivered: shared.envelopes_delivered.load(Ordering::Relaxed),
        bundles_claimed: shared.bundles_claimed.load(Ordering::Relaxed),
        database_bytes,
    }
}

/// The server options that lift its per-subject rate and claim limits for the run.
fn rate_limit_args() -> &'static [&'static str] {
    &["--rate-limit", "1000000", "--claim-burst", "1000000"]
}

// ---------------------------------------------------------------------------------------
// Output

fn ms(nanos: u64) -> f64 {
    nanos as f64 / 1e6
}

/// Prints the table and returns the report's JSON.
fn summarize(report: &Report) -> Value {
    let mut table = String::new();
    let _ = writeln!(
        table,
        "   {:<16} {:>8} {:>9} {:>9} {:>9} {:>9} {:>7}",
        "operation", "requests", "req/s", "p50 ms", "p99 ms", "max ms", "errors"
    );
    let mut ops = Vec::new();
    let mut all: Vec<u64> = Vec::new();
    for op in OPS {
        let mut latencies = report
            .record
            .latencies
            .get(&op)
            .cloned()
            .unwrap_or_default();
        let errors = report.record.errors.get(&op).copied().unwrap_or(0);
        if latencies.is_empty() && errors == 0 {
            continue;
        }
        latencies.sort_unstable();
        all.extend_from_slice(&latencies);
        let requests = latencies.len() as u64 + errors;
        let wall = if op.registers() {
            report.register_secs
        } else {
            report.traffic_secs
        };
        let rps = requests as f64 / wall.max(1e-9);
        let (p50, p99, max) = (
            percentile(&latencies, 50.0),
            percentile(&latencies, 99.0),
            latencies.last().copied().unwrap_or(0),
        );
        let _ = writeln!(
            table,
            "   {:<16} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
            op.name(),
            requests,
            rps,
            ms(p50),
            ms(p99),
            ms(max),
            errors
        );
        ops.push(json!({
            "operation": op.name(),
            "requests": requests,
            "requests_per_sec": rps,
            "p50_ms": ms(p50),
            "p99_ms": ms(p99),
            "max_ms": ms(max),
            "errors": errors,
        }));
    }
    all.sort_unstable();
    let errors: u64 = report.record.errors.values().sum();
    let requests = all.len() as u64 + errors;
    let rps = requests as f64 / report.total_secs.max(1e-9);
    let _ = writeln!(
        table,
        "   {:<16} {:>8} {:>9.0} {:>9.2} {:>9.2} {:>9.2} {:>7}",
        "all",
        requests,
        rps,
        ms(percentile(&all, 50.0)),
        ms(percentile(&all, 99.0)),
        ms(all.last().copied().unwrap_or(0)),
        errors
    );
    print!("{table}");
    let mib = |kib: u64| kib as f64 / 1024.0;
    println!(
        "   phases: register {:.2} s, traffic and drain {:.2} s, total {:.2} s",
        report.register_secs, report.traffic_secs, report.total_secs
    );
    println!(
        "   envelopes deposited {}, delivered (fetched, checked, acknowledged) {}; bundles claimed {}",
        report.envelopes_deposited, report.envelopes_delivered, report.bundles_claimed
    );
    println!(
        "   server memory: RSS after start {:.1} MiB, peak (VmHWM) {:.1} MiB, at the end {:.1} MiB",
        mib(report.memory_start.rss_kib),
        mib(report.memory_end.peak_kib),
        mib(report.memory_end.rss_kib)
    );
    if let Some(bytes) = report.database_bytes {
        println!(
            "   database files: {:.1} MiB",
            bytes as f64 / (1024.0 * 1024.0)
        );
    }
    if report.envelopes_deposited != report.envelopes_delivered {
        println!("   ERROR: the envelopes delivered are not those deposited");
    }
    for error in &report.record.first_errors {
        println!("   ERROR {error}");
    }
    json!({
        "backend": report.backend,
        "settings": {
            "devices": report.settings.devices,
            "max_requests": report.settings.requests,
            "workers": report.settings.workers,
            "max_traffic_secs": report.settings.seconds,
            "one_time_bundles_per_device": report.settings.one_time,
        },
        "register_secs": report.register_secs,
        "traffic_and_drain_secs": report.traffic_secs,
        "total_secs": report.total_secs,
        "operations": ops,
        "overall": {
            "requests": requests,
            "requests_per_sec": rps,
            "p50_ms": ms(percentile(&all, 50.0)),
            "p99_ms": ms(percentile(&all, 99.0)),
            "max_ms": ms(all.last().copied().unwrap_or(0)),
            "errors": report.errors(),
        },
        "envelopes_deposited": report.envelopes_deposited,
        "envelopes_delivered": report.envelopes_delivered,
        "bundles_claimed": report.bundles_claimed,
        "server_memory_kib": {
            "rss_after_start": report.memory_start.rss_kib,
            "peak_vmhwm": report.memory_end.peak_kib,
            "rss_at_end": report.memory_end.rss_kib,
        },
        "database_bytes": report.database_bytes,
        "first_errors": report.record.first_errors,
    })
}

/// Where the JSON report goes: `LOAD_REPORT`, else `load-report.json` in the target
/// directory this benchmark was built in (`<target>/<profile>/deps/load-HASH`).
fn report_path() -> PathBuf {
    if let Ok(path) = std::env::var("LOAD_REPORT") {
        return PathBuf::from(path);
    }
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from("target"))
        .join("load-report.json")
}

fn main() {
    // `cargo bench` passes `--bench`; without it (`cargo test --benches`) a smoke run.
    let full = std::env::args().any(|arg| arg == "--bench");
    let settings = Settings::from_env(full);
    let when = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "ratchetkit-server load benchmark ({}), {SERVER_EXE}; load average {}",
        if full { "full run" } else { "smoke run" },
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );

    let mut errors = 0;
    let mut runs = Vec::new();
    {
        let dir = TempDir::new("load-sqlite");
        let database = dir.path().join("load.db");
        let database = database.to_str().expect("a UTF-8 temporary path");
        let report = run("sqlite", database, dir.path(), settings);
        runs.push(summarize(&report));
        errors += report.errors();
    }
    match std::env::var("RATCHETKIT_BENCH_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let database = PgSchema::create(url.trim(), "load")
                .unwrap_or_else(|e| panic!("make a schema for the benchmark: {e}"));
            let dir = TempDir::new("load-postgres");
            let report = run("postgres", &database.url, dir.path(), settings);
            runs.push(summarize(&report));
            errors += report.errors();
        }
        _ => println!("\n== postgres: skipped (RATCHETKIT_BENCH_POSTGRES_URL is not set)"),
    }

    let report = json!({
        "benchmark": "ratchetkit-server load",
        "unix_time": when,
        "full_run": full,
        "load_average": load.trim(),
        "runs": runs,
    });
    // A smoke run's figures mean nothing: it writes a report only where LOAD_REPORT says.
    if full || std::env::var_os("LOAD_REPORT").is_some() {
        let path = report_path();
        let text = serde_json::to_string_pretty(&report).expect("JSON") + "\n";
        match std::fs::write(&path, text) {
            Ok(()) => println!("\nreport written to {}", path.display()),
            Err(e) => println!("\ncould not write {}: {e}", path.display()),
        }
    }
    if errors > 0 {
        eprintln!("{errors} errors");
        std::process::exit(1);
    }
}
