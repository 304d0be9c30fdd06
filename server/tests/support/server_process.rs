//! The `ratchetkit-server` binary as a child process, shared by the tests that need the
//! real binary (`restart`, `http_directory`) and the load benchmark (which includes this
//! file with `#[path]`): a scratch directory, the server started in it, and the
//! development app key it writes there.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use ratchetkit::token::{issue, TokenClaims};
use ratchetkit::AppKey;

/// The server binary cargo built for this test or benchmark.
pub const SERVER_EXE: &str = env!("CARGO_BIN_EXE_ratchetkit-server");

/// The development app key file the server writes beside its SQLite database (or in its
/// working directory for PostgreSQL), its key id and issuer (docs/SERVER.md).
const DEV_KEY_FILE: &str = "ratchetkit-server.dev-app-key";
const DEV_KID: &str = "dev";
const DEV_ISSUER: &str = "ratchetkit-dev";

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

/// How many `TempDir`s this process made: tests on parallel threads get distinct ones.
static TEMP_DIRS: AtomicUsize = AtomicUsize::new(0);

impl TempDir {
    pub fn new(label: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!(
            "ratchetkit-{label}-{}-{}-{nanos}",
            std::process::id(),
            TEMP_DIRS.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).expect("create a temporary directory");
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The running server; killed (SIGKILL) and reaped when dropped, also on a panic.
pub struct Server {
    child: Child,
    /// `http://ADDR`, from its `listening on` line.
    pub base: String,
    log: PathBuf,
}

impl Server {
    /// Starts the server on `database` with the further options `extra`, in `dir` (its
    /// working directory; its log is appended to `dir/server.log`, so that a restart on the
    /// same directory keeps the earlier run's), and waits for its `listening on` line.
    pub fn start(database: &str, dir: &Path, extra: &[&str]) -> Self {
        let log = dir.join("server.log");
        let log_file = File::options()
            .create(true)
            .append(true)
            .open(&log)
            .expect("open the server log");
        let child = Command::new(SERVER_EXE)
            .args(["--listen", "127.0.0.1:0", "--database", database])
            .args(extra)
            .current_dir(dir)
            // Only the flags above configure it.
            .env_remove("RATCHETKIT_APP_KEYS")
            .env_remove("RATCHETKIT_ISSUER")
            .env_remove("RATCHETKIT_REQUIRE_APP_SIGNATURE")
            .env_remove("RATCHETKIT_RATE_LIMIT")
            .env_remove("RATCHETKIT_RATE_BURST")
            // Warnings and errors only: a log line per request would be part of the load.
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log_file))
            .spawn()
            .unwrap_or_else(|e| panic!("start {SERVER_EXE}: {e}"));
        let mut server = Server {
            child,
            base: String::new(),
            log,
        };
        let stdout = server.child.stdout.take().expect("the server's stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            // Keep reading, so that the server never blocks on a full pipe.
            for _ in lines {}
        });
        let line = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(Some(line)) => line,
            _ => panic!(
                "the server printed no `listening on` line; its log:\n{}",
                server.log_text()
            ),
        };
        let address = line
            .strip_prefix("ratchetkit-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line from the server: {line:?}"));
        server.base = address.trim().trim_end_matches('/').to_owned();
        server
    }

    // Only the load benchmark reads the server's memory from /proc/PID/status; this file
    // is shared by several test crates, which do not.
    #[allow(dead_code)]
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What the server logged so far (all its runs in this directory).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Kills the server with SIGKILL and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads the development app key the server made in `dir`.
pub fn dev_app_key(dir: &Path) -> AppKey {
    let path = dir.join(DEV_KEY_FILE);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("read the dev app key {}: {e}", path.display()));
    let bytes = B64
        .decode(text.trim())
        .expect("the dev app key file is base64");
    let seed: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .expect("the dev app key is 32 bytes");
    AppKey::from_bytes(&seed)
}

/// A token for `subject` issued at `issued_at` (Unix seconds) from the development app
/// key, as the app's backend would issue it.
pub fn dev_token(app: &AppKey, subject: &str, issued_at: u64) -> String {
    issue(
        app,
        DEV_KID,
        &TokenClaims::new(DEV_ISSUER, subject, issued_at),
    )
    .expect("a token")
}
