//! The harness of the API tests: a server in this process on an ephemeral port of
//! 127.0.0.1, on SQLite (a fresh file) or PostgreSQL (a fresh schema of the database
//! `RATCHETKIT_TEST_POSTGRES_URL` names), and a small blocking HTTP client.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use ratchetkit::token::{issue, TokenClaims};
use ratchetkit::AppKey;
use ratchetkit_server::{serve, Database, PostgresStore, ServerConfig, SqliteStore};
use serde_json::Value;

/// The issuer the test servers accept.
pub const ISSUER: &str = "test-issuer";
/// The key id of the test app key.
pub const KID: &str = "test";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs `test` on each backend: `sqlite_NAME` and `postgres_NAME`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test] fn $name() { if let Some(server) = $crate::common::TestServer::start($crate::common::Backend::Sqlite, |_| {}) { super::$name(&server); } })*
        }
        mod postgres {
            $(#[test] fn $name() { if let Some(server) = $crate::common::TestServer::start($crate::common::Backend::Postgres, |_| {}) { super::$name(&server); } })*
        }
    };
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn unique() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!(
        "{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

pub fn unb64(text: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
}

/// A running server.
pub struct TestServer {
    pub base: String,
    pub db: Database,
    pub app: AppKey,
    pub backend: Backend,
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    dir: Option<PathBuf>,
    schema: Option<(String, String)>,
    agent: ureq::Agent,
}

impl TestServer {
    /// Starts a server on `backend`, with `tweak` applied to its configuration; `None`
    /// (and a note) for PostgreSQL when `RATCHETKIT_TEST_POSTGRES_URL` is unset.
    pub fn start(backend: Backend, tweak: impl FnOnce(&mut ServerConfig)) -> Option<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let mut dir = None;
        let mut schema = None;
        let db = match backend {
            Backend::Sqlite => {
                let path =
                    std::env::temp_dir().join(format!("ratchetkit-server-test-{}", unique()));
                std::fs::create_dir_all(&path).unwrap();
                let store = runtime
                    .block_on(SqliteStore::open(path.join("test.db")))
                    .unwrap();
                dir = Some(path);
                Database::Sqlite(store)
            }
            Backend::Postgres => {
                let Ok(url) = std::env::var("RATCHETKIT_TEST_POSTGRES_URL") else {
                    println!("skipped: RATCHETKIT_TEST_POSTGRES_URL is not set, so the PostgreSQL variant did not run");
                    return None;
                };
                let name = format!("t_{}", unique());
                let store = runtime
                    .block_on(PostgresStore::connect(&url, Some(&name)))
                    .unwrap_or_else(|error| {
                        panic!("PostgreSQL at RATCHETKIT_TEST_POSTGRES_URL: {error}")
                    });
                schema = Some((url, name));
                Database::Postgres(store)
            }
        };
        let app = AppKey::generate(&mut rand::rng());
        let mut config = ServerConfig::new(ISSUER, vec![(KID.to_owned(), app.public())]);
        tweak(&mut config);
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .unwrap();
        let address = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(serve(listener, db.clone(), config, async move {
            let _ = stopped.await;
        }));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        Some(Self {
            base: format!("http://{address}"),
            db,
            app,
            backend,
            runtime: Some(runtime),
            stop: Some(stop),
            task: Some(task),
            dir,
            schema,
            agent,
        })
    }

    /// A token for `subject` from the trusted app key.
    pub fn token(&self, subject: &str) -> String {
        issue(&self.app, KID, &TokenClaims::new(ISSUER, subject, now())).unwrap()
    }

    /// Every row of the database, to compare before and after a refused request.
    pub fn dump(&self) -> String {
        self.block_on(self.db.dump()).unwrap()
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.as_ref().unwrap().block_on(future)
    }

    /// `method path` with `token` and the raw `body`: the status and the JSON answer.
    pub fn raw(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
    ) -> (u16, Value, Option<String>) {
        let url = format!("{}{}", self.base, path);
        let auth = token.map(|token| format!("Bearer {token}"));
        let result = match (method, body) {
            ("GET", _) => {
                let mut request = self.agent.get(&url);
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request.call()
            }
            (method, body) => {
                let mut request = match method {
                    "PUT" => self.agent.put(&url),
                    "POST" => self.agent.post(&url),
                    other => panic!("method {other}"),
                };
                if let Some(auth) = &auth {
                    request = request.header("Authorization", auth);
                }
                request = request.header("Content-Type", "application/json");
                request.send(body.unwrap_or(b""))
            }
        };
        let mut response = result.unwrap_or_else(|error| panic!("{method} {path}: {error}"));
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get("retry-after")
            .map(|value| value.to_str().unwrap().to_owned());
        let text = response
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .unwrap();
        let json = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{method} {path}: not JSON: {text}"));
        (status, json, retry_after)
    }

    /// `method path` with `token` and the JSON `body`.
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<Value>) -> (u16, Value) {
        let body = body.map(|body| body.to_string());
        let (status, json, _) = self.raw(
            method,
            path,
            Some(token),
            body.as_deref().map(str::as_bytes),
        );
        (status, json)
    }

    /// Like [`TestServer::call`], and checks the status.
    pub fn ok(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
        status: u16,
    ) -> Value {
        let (got, json) = self.call(method, path, token, body);
        assert_eq!(got, status, "{method} {path}: {json}");
        json
    }

    /// Checks that the request is refused with `status` and `code`, and changes nothing.
    pub fn refused(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&[u8]>,
        status: u16,
        code: &str,
    ) {
        let before = self.dump();
        let (got, json, _) = self.raw(method, path, token, body);
        assert_eq!(
            (got, json["error"].as_str()),
            (status, Some(code)),
            "{method} {path}: {json}"
        );
        assert!(json["message"].is_string(), "{json}");
        assert_eq!(before, self.dump(), "{method} {path} changed the database");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let (Some(runtime), Some(task)) = (self.runtime.take(), self.task.take()) {
            let _ = runtime.block_on(task);
            if let Some((url, schema)) = self.schema.take() {
                runtime.block_on(async move {
                    if let Ok((client, connection)) =
                        tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                    {
                        let handle = tokio::spawn(connection);
                        let _ = client
                            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
                            .await;
                        drop(client);
                        let _ = handle.await;
                    }
                });
            }
        }
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
