//! Durability across a crash: the server binary is killed with SIGKILL in the middle of a
//! load and restarted on the same database; what it acknowledged before must still hold.
//!
//! While devices deposit envelopes into each other's mailboxes, fetch and acknowledge some
//! of them, and claimers take one-time bundles of a user with many one-time prekeys, the
//! server is killed. The clients record every deposit answered `202` (ids and bytes),
//! every acknowledgement answered `200`, and every one-time prekey id handed out. After
//! the restart:
//!
//! - every envelope accepted and not acknowledged is still in its mailbox, byte for byte
//!   (an envelope whose acknowledgement was in flight at the kill may be either way);
//! - no envelope whose acknowledgement was answered `200` is back;
//! - claims never hand out a one-time prekey id handed out before, none is handed out
//!   twice, and the ones left are all handed out before the fallback (at most one per
//!   claim in flight at the kill may be lost: its claim committed, its answer did not
//!   arrive).
//!
//! Requests in flight at the kill may fail; they count neither as accepted nor as
//! required. The same test runs on PostgreSQL when `RATCHETKIT_TEST_POSTGRES_URL` names a
//! database (in a fresh schema of it, dropped after, as the server's API tests do); otherwise that variant says
//! it was skipped.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use rand::{Rng, RngExt};
use ratchetkit::{AppKey, Identity, PrekeyBundle, PrekeyStore};
use serde_json::{json, Value};

#[path = "support/http_client.rs"]
mod http_client;
#[path = "support/pg_schema.rs"]
mod pg_schema;
#[path = "support/server_process.rs"]
mod server_process;

use http_client::Http;
use pg_schema::PgSchema;
use server_process::{dev_app_key, dev_token, Server, TempDir};

/// No throttling: a few subjects make all the requests, and claim every one-time bundle
/// of one user, here.
const RATE_LIMIT_OFF: &[&str] = &["--rate-limit", "1000000", "--claim-burst", "1000000"];

/// One-time bundles of the claimed user.
const ONE_TIME: usize = 600;
/// Devices depositing into each other's mailboxes.
const DEVICES: usize = 6;
const DEPOSITORS: usize = 3;
const CLAIMERS: usize = 3;
/// When to kill: once this many deposits were accepted and one-time bundles claimed...
const KILL_AFTER_DEPOSITS: usize = 150;
const KILL_AFTER_CLAIMS: usize = ONE_TIME / 3;
/// ... or after this long, whichever comes first.
const KILL_AFTER: Duration = Duration::from_secs(6);

#[test]
fn restart_after_sigkill_sqlite() {
    let dir = TempDir::new("restart-sqlite");
    let database = dir.path().join("restart.db");
    let database = database.to_str().expect("a UTF-8 temporary path");
    scenario("sqlite", database, dir.path());
}

#[test]
fn restart_after_sigkill_postgres() {
    let url = match std::env::var("RATCHETKIT_TEST_POSTGRES_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            println!(
                "restart_after_sigkill_postgres: skipped (RATCHETKIT_TEST_POSTGRES_URL is not set)"
            );
            return;
        }
    };
    let database = PgSchema::create(url.trim(), "restart")
        .unwrap_or_else(|e| panic!("make a schema for the test: {e}"));
    let dir = TempDir::new("restart-postgres");
    scenario("postgres", &database.url, dir.path());
}

// ---------------------------------------------------------------------------------------
// The scenario

/// A simulated device: a user of its own with one card.
struct Device {
    token: String,
    /// The device id (the card's signing key), hex.
    id: String,
}

/// What the clients saw before the kill.
#[derive(Default)]
struct Seen {
    /// Envelopes answered `202`, by (device, id).
    accepted: HashMap<(usize, u64), Vec<u8>>,
    /// Envelopes whose acknowledgement was answered `200`.
    acked: HashSet<(usize, u64)>,
    /// Envelopes whose acknowledgement failed at the kill: either way afterwards.
    ack_uncertain: HashSet<(usize, u64)>,
    /// One-time prekey ids handed out.
    one_time: HashSet<u32>,
    /// Claims that failed at the kill (each may have taken a one-time bundle).
    claims_failed: usize,
    /// Failures before the kill: the test fails with them.
    failures: Vec<String>,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_secs()
}

/// A token for `subject`.
fn token(app: &AppKey, subject: &str) -> String {
    dev_token(app, subject, now())
}

/// Makes an identity named `name`, publishes its card, and returns its token, identity
/// and card fingerprint (hex).
fn register(http: &Http, app: &AppKey, name: &str) -> (String, Identity, String) {
    let identity = Identity::generate(&mut rand::rng(), name).expect("an identity");
    let token = token(app, name);
    let card = identity.card();
    let body = json!({ "card": card.to_base64() });
    http.expect("PUT", "/v1/cards", &token, Some(&body), 201);
    let fingerprint = hex::encode(card.fingerprint().as_bytes());
    (token, identity, fingerprint)
}

fn scenario(backend: &str, database: &str, dir: &Path) {
    let started = Instant::now();
    let server = Server::start(database, dir, RATE_LIMIT_OFF);
    let app = dev_app_key(dir);
    let http = Http::new(&server.base);

    // Bob, whose one-time bundles are claimed: a fallback and ONE_TIME one-time bundles.
    let (bob_token, bob, bob_fingerprint) = register(&http, &app, "bob");
    let mut rng = rand::rng();
    let mut prekeys = PrekeyStore::new_at(&mut rng, now());
    let ids = prekeys
        .generate_one_time_prekeys_at(&mut rng, ONE_TIME, now())
        .expect("one-time prekeys");
    let published: HashSet<u32> = ids.iter().copied().collect();
    let mut bundles = vec![B64.encode(prekeys.bundle(&bob, None).expect("a bundle").to_bytes())];
    bundles.extend(ids.iter().map(|id| {
        B64.encode(
            prekeys
                .bundle(&bob, Some(*id))
                .expect("a bundle")
                .to_bytes(),
        )
    }));
    let bundles_path = format!("/v1/cards/{bob_fingerprint}/bundles");
    for chunk in bundles.chunks(200) {
        let body = json!({ "bundles": chunk, "replace": false });
        http.expect("POST", &bundles_path, &bob_token, Some(&body), 200);
    }

    let devices: Vec<Device> = (0..DEVICES)
        .map(|i| {
            let (token, identity, _) = register(&http, &app, &format!("device-{i}"));
            Device {
                token,
                id: hex::encode(identity.card().signing_key()),
            }
        })
        .collect();
    println!(
        "{backend}: set up in {:.1} s: {ONE_TIME} one-time bundles, {DEVICES} devices",
        started.elapsed().as_secs_f64()
    );

    // The load, and the kill in its middle.
    let seen = Mutex::new(Seen::default());
    let dying = AtomicBool::new(false);
    let deposits = AtomicUsize::new(0);
    let claims = AtomicUsize::new(0);
    let mut server = server;
    let base = server.base.clone();
    let load_started = Instant::now();
    thread::scope(|scope| {
        let (seen, dying, deposits, claims) = (&seen, &dying, &deposits, &claims);
        let (devices, app, base) = (&devices, &app, &base);
        for t in 0..DEPOSITORS {
            scope.spawn(move || depositor(t, base, app, devices, seen, dying, deposits));
        }
        scope.spawn(move || receiver(base, devices, seen, dying));
        for t in 0..CLAIMERS {
            let path = if t % 2 == 0 {
                format!("/v1/cards/{bob_fingerprint}/bundles/claim")
            } else {
                "/v1/users/bob/bundles/claim".to_owned()
            };
            scope.spawn(move || claimer(t, base, app, &path, seen, dying, claims));
        }
        while load_started.elapsed() < KILL_AFTER
            && !(deposits.load(Ordering::Relaxed) >= KILL_AFTER_DEPOSITS
                && claims.load(Ordering::Relaxed) >= KILL_AFTER_CLAIMS)
            && seen.lock().expect("not poisoned").failures.is_empty()
        {
            thread::sleep(Duration::from_millis(5));
        }
        // The flag first: every failure from now on may be the kill's.
        dying.store(true, Ordering::SeqCst);
        server.kill();
    });
    let seen = seen.into_inner().expect("not poisoned");
    assert!(
        seen.failures.is_empty(),
        "requests failed before the kill:\n{}",
        seen.failures.join("\n")
    );
    let unacked: Vec<(&(usize, u64), &Vec<u8>)> = seen
        .accepted
        .iter()
        .filter(|(key, _)| !seen.acked.contains(key) && !seen.ack_uncertain.contains(key))
        .collect();
    println!(
        "{backend}: killed after {:.1} s: {} envelopes accepted ({} acknowledged, {} acknowledgements in \
         flight, {} waiting), {} one-time bundles handed out, {} claims in flight",
        load_started.elapsed().as_secs_f64(),
        seen.accepted.len(),
        seen.acked.len(),
        seen.ack_uncertain.len(),
        unacked.len(),
        seen.one_time.len(),
        seen.claims_failed,
    );
    assert!(
        !unacked.is_empty(),
        "no accepted envelope was waiting at the kill: the test checked nothing"
    );
    assert!(
        seen.one_time.len() < ONE_TIME,
        "every one-time bundle was handed out before the kill: the test checked nothing"
    );

    // The restart on the same database.
    let server = Server::start(database, dir, RATE_LIMIT_OFF);
    let http = Http::new(&server.base);

    // Every mailbox, paged through.
    let mut held: HashMap<(usize, u64), Vec<u8>> = HashMap::new();
    for (index, device) in devices.iter().enumerate() {
        let mut after = 0;
        loop {
            let path = format!("/v1/mailbox/{}?after={after}&limit=100", device.id);
            let reply = http.expect("GET", &path, &device.token, None, 200);
            let entries = reply["envelopes"].as_array().expect("envelopes");
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let id = entry["id"].as_u64().expect("an id");
                let bytes = B64
                    .decode(entry["envelope"].as_str().expect("an envelope"))
                    .expect("base64");
                assert!(id > after, "{path}: id {id} out of order");
                after = id;
                held.insert((index, id), bytes);
            }
        }
    }
    for ((device, id), bytes) in &unacked {
        match held.get(&(*device, *id)) {
            Some(found) => assert!(
                found == *bytes,
                "envelope {id} of device {device} changed across the restart"
            ),
            None => panic!("envelope {id} of device {device}, accepted and not acknowledged, is gone after the restart"),
        }
    }
    for (key, bytes) in &seen.accepted {
        if let Some(found) = held.get(key) {
            assert!(
                found == bytes,
                "envelope {key:?} changed across the restart"
            );
        }
    }
    for key in &seen.acked {
        assert!(
            !held.contains_key(key),
            "envelope {key:?}, whose acknowledgement was answered 200, is back after the restart"
        );
    }

    // Claims after the restart: only ids never handed out, each once, until the fallback.
    let claim_path = format!("/v1/cards/{bob_fingerprint}/bundles/claim");
    let mut after_restart: HashSet<u32> = HashSet::new();
    let claimer_token = token(&app, "after-restart");
    loop {
        let reply = http.expect("POST", &claim_path, &claimer_token, Some(&json!({})), 200);
        let bytes = B64
            .decode(
                reply["bundle"]
                    .as_str()
                    .expect("a bundle (the fallback at least)"),
            )
            .expect("base64");
        let bundle = PrekeyBundle::from_bytes(&bytes).expect("a valid bundle");
        let Some(id) = bundle.one_time_prekey_id() else {
            break;
        };
        assert!(
            published.contains(&id),
            "one-time prekey {id} was never published"
        );
        assert!(
            !seen.one_time.contains(&id),
            "one-time prekey {id}, handed out before the kill, was handed out again after the restart"
        );
        assert!(
            after_restart.insert(id),
            "one-time prekey {id} was handed out twice after the restart"
        );
        assert!(
            after_restart.len() <= ONE_TIME,
            "more claims than one-time bundles"
        );
    }
    let handed_out = seen.one_time.len() + after_restart.len();
    println!(
        "{backend}: after the restart: {} envelopes held, all {} waiting ones intact; {} more one-time \
         bundles handed out ({handed_out} of {ONE_TIME} in all); {:.1} s in all",
        held.len(),
        unacked.len(),
        after_restart.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        handed_out + seen.claims_failed >= ONE_TIME,
        "{} one-time bundles were lost: {handed_out} handed out, {} claims in flight at the kill",
        ONE_TIME - handed_out,
        seen.claims_failed
    );
    drop(server);
}

/// Deposits one or two envelopes at a time from random devices to random devices, and
/// records those answered `202`.
fn depositor(
    t: usize,
    base: &str,
    app: &AppKey,
    devices: &[Device],
    seen: &Mutex<Seen>,
    dying: &AtomicBool,
    deposits: &AtomicUsize,
) {
    let http = Http::new(base);
    let token = token(app, &format!("depositor-{t}"));
    let mut rng = rand::rng();
    let mut seq = 0u64;
    while !dying.load(Ordering::SeqCst) {
        let to = rng.random_range(0..devices.len());
        let envelopes: Vec<Vec<u8>> = (0..rng.random_range(1..=2))
            .map(|_| {
                seq += 1;
                let mut bytes = format!("depositor {t} envelope {seq} for {to}:").into_bytes();
                let mut noise = vec![0; rng.random_range(16..=600)];
                rng.fill_bytes(&mut noise);
                bytes.extend_from_slice(&noise);
                bytes
            })
            .collect();
        let body =
            json!({ "envelopes": envelopes.iter().map(|e| B64.encode(e)).collect::<Vec<_>>() });
        let path = format!("/v1/mailbox/{}", devices[to].id);
        match http.call_json("POST", &path, &token, Some(&body)) {
            Ok((202, reply)) => {
                let ids: Vec<u64> = reply["ids"]
                    .as_array()
                    .map(|ids| ids.iter().filter_map(Value::as_u64).collect())
                    .unwrap_or_default();
                let mut seen = seen.lock().expect("not poisoned");
                if ids.len() != envelopes.len() {
                    seen.failures.push(format!("{path}: {reply}"));
                    return;
                }
                for (id, bytes) in ids.into_iter().zip(envelopes) {
                    if seen.accepted.insert((to, id), bytes).is_some() {
                        seen.failures
                            .push(format!("{path}: id {id} given to two envelopes"));
                    }
                }
                deposits.fetch_add(1, Ordering::Relaxed);
            }
            other => {
                if !failed(seen, dying, &path, other) {
                    return;
                }
            }
        }
    }
}

/// Fetches each mailbox after the last id it saw, checks the envelopes it knows against
/// what was deposited, and acknowledges about two in three of them.
fn receiver(base: &str, devices: &[Device], seen: &Mutex<Seen>, dying: &AtomicBool) {
    let http = Http::new(base);
    let mut cursors = vec![0u64; devices.len()];
    while !dying.load(Ordering::SeqCst) {
        for (index, device) in devices.iter().enumerate() {
            if dying.load(Ordering::SeqCst) {
                return;
            }
            let path = format!(
                "/v1/mailbox/{}?after={}&limit=100",
                device.id, cursors[index]
            );
            let reply = match http.call_json("GET", &path, &device.token, None) {
                Ok((200, reply)) => reply,
                other => {
                    if failed(seen, dying, &path, other) {
                        continue;
                    }
                    return;
                }
            };
            let mut ack = Vec::new();
            for entry in reply["envelopes"].as_array().into_iter().flatten() {
                let (Some(id), Some(Ok(bytes))) = (
                    entry["id"].as_u64(),
                    entry["envelope"].as_str().map(|e| B64.decode(e)),
                ) else {
                    seen.lock()
                        .expect("not poisoned")
                        .failures
                        .push(format!("{path}: {entry}"));
                    return;
                };
                cursors[index] = cursors[index].max(id);
                let mut seen = seen.lock().expect("not poisoned");
                if seen
                    .accepted
                    .get(&(index, id))
                    .is_some_and(|known| *known != bytes)
                {
                    seen.failures.push(format!("{path}: envelope {id} changed"));
                }
                if id % 3 != 0 {
                    ack.push(id);
                }
            }
            if ack.is_empty() {
                continue;
            }
            let path = format!("/v1/mailbox/{}/ack", device.id);
            match http.call_json("POST", &path, &device.token, Some(&json!({ "ids": ack }))) {
                Ok((200, reply)) if reply["deleted"].as_u64() == Some(ack.len() as u64) => {
                    let mut seen = seen.lock().expect("not poisoned");
                    seen.acked.extend(ack.iter().map(|id| (index, *id)));
                }
                other => {
                    let keep_going = failed(seen, dying, &path, other);
                    seen.lock()
                        .expect("not poisoned")
                        .ack_uncertain
                        .extend(ack.iter().map(|id| (index, *id)));
                    if !keep_going {
                        return;
                    }
                }
            }
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Claims bundles of bob, through `path`, and records the one-time prekey ids.
fn claimer(
    t: usize,
    base: &str,
    app: &AppKey,
    path: &str,
    seen: &Mutex<Seen>,
    dying: &AtomicBool,
    claims: &AtomicUsize,
) {
    let http = Http::new(base);
    let token = token(app, &format!("claimer-{t}"));
    while !dying.load(Ordering::SeqCst) {
        match http.call_json("POST", path, &token, Some(&json!({}))) {
            Ok((200, reply)) => {
                let bundle = reply["bundle"]
                    .as_str()
                    .or_else(|| reply["bundles"][0].as_str());
                let bundle = bundle
                    .and_then(|b| B64.decode(b).ok())
                    .and_then(|bytes| PrekeyBundle::from_bytes(&bytes).ok());
                let mut seen = seen.lock().expect("not poisoned");
                let Some(bundle) = bundle else {
                    seen.failures
                        .push(format!("{path}: {reply} (a valid bundle expected)"));
                    return;
                };
                if let Some(id) = bundle.one_time_prekey_id() {
                    if !seen.one_time.insert(id) {
                        seen.failures
                            .push(format!("{path}: one-time prekey {id} handed out twice"));
                        return;
                    }
                    claims.fetch_add(1, Ordering::Relaxed);
                }
            }
            other => {
                if !failed(seen, dying, path, other) {
                    // Killed in flight: the claim may have taken a bundle.
                    seen.lock().expect("not poisoned").claims_failed += 1;
                    return;
                }
            }
        }
    }
}

/// Handles a failed request: before the kill, a failure of the test (unless it is a `429`,
/// waited out); after it, expected. Whether the thread goes on.
fn failed(
    seen: &Mutex<Seen>,
    dying: &AtomicBool,
    path: &str,
    result: Result<(u16, Value), String>,
) -> bool {
    if dying.load(Ordering::SeqCst) {
        return false;
    }
    if let Ok((429, _)) = result {
        thread::sleep(Duration::from_millis(200));
        return true;
    }
    let message = match result {
        Ok((status, reply)) => format!("{path}: status {status}: {reply}"),
        Err(e) => format!("{path}: {e}"),
    };
    seen.lock().expect("not poisoned").failures.push(message);
    false
}

// ---------------------------------------------------------------------------------------
// HTTP with JSON answers

impl Http {
    /// Sends a request; its status and JSON body.
    fn call_json(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Result<(u16, Value), String> {
        let (status, body) = self.call(method, path, token, body)?;
        let value = serde_json::from_slice(&body)
            .map_err(|e| format!("status {status}, a body that is not JSON: {e}"))?;
        Ok((status, value))
    }

    /// Sends a request that must be answered `status`; the JSON body.
    fn expect(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
        status: u16,
    ) -> Value {
        match self.call_json(method, path, token, body) {
            Ok((got, value)) if got == status => value,
            Ok((got, value)) => {
                panic!("{method} {path}: status {got} ({status} expected): {value}")
            }
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }
}
