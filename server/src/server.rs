//! Running the server: configuration, the development app key, the retention sweeper and
//! graceful shutdown.

use std::future::Future;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use ratchetkit::{AppKey, AppPublicKey};
use tokio::net::TcpListener;

use crate::api::{router, AppState};
use crate::auth::{now_secs, verifier, RateLimit, RateLimiter};
use crate::bundles::ClaimLimit;
use crate::mailbox::{MAILBOX_RETENTION_SECS, SWEEP_INTERVAL_SECS};
use crate::store::Database;

/// The development app key's file name, beside the SQLite database.
pub const DEV_APP_KEY_FILE: &str = "ratchetkit-server.dev-app-key";

/// The key id of the development app key.
pub const DEV_APP_KEY_ID: &str = "dev";

/// The issuer tokens must name when none is configured.
pub const DEFAULT_ISSUER: &str = "ratchetkit-dev";

/// What the server enforces.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The `iss` tokens must carry.
    pub issuer: String,
    /// The app keys tokens may be signed with, by key id.
    pub app_keys: Vec<(String, AppPublicKey)>,
    /// Whether cards must carry a co-signature by one of `app_keys`.
    pub require_app_signature: bool,
    /// Each token subject's request rate.
    pub rate_limit: RateLimit,
    /// The one-time bundles each subject may claim of each target.
    pub claim_limit: ClaimLimit,
    /// Requests handled at once ([`crate::api::MAX_CONCURRENT_REQUESTS`]).
    pub max_concurrent_requests: usize,
    /// How long a request's body may take to arrive
    /// ([`crate::api::BODY_READ_TIMEOUT_SECS`]).
    pub body_read_timeout: Duration,
    /// How long envelopes are kept unacknowledged, in seconds.
    pub retention_secs: u64,
    /// How often the retention sweeper runs.
    pub sweep_interval: Duration,
}

impl ServerConfig {
    /// A configuration trusting `app_keys` for `issuer`, with the documented defaults.
    pub fn new(issuer: impl Into<String>, app_keys: Vec<(String, AppPublicKey)>) -> Self {
        Self {
            issuer: issuer.into(),
            app_keys,
            require_app_signature: false,
            rate_limit: RateLimit::default(),
            claim_limit: ClaimLimit::default(),
            max_concurrent_requests: crate::api::MAX_CONCURRENT_REQUESTS,
            body_read_timeout: Duration::from_secs(crate::api::BODY_READ_TIMEOUT_SECS),
            retention_secs: MAILBOX_RETENTION_SECS,
            sweep_interval: Duration::from_secs(SWEEP_INTERVAL_SECS),
        }
    }
}

/// Why the development app key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum DevKeyError {
    /// The file could not be read or written.
    #[error("the development app key file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// The file does not hold the base64 of 32 bytes.
    #[error("the development app key file {0} does not hold the base64 of 32 bytes")]
    Malformed(PathBuf),
}

/// Reads the development app key from `directory`'s [`DEV_APP_KEY_FILE`], or makes one
/// there (mode 0600): the standard base64 of its 32-byte secret and a newline.
///
/// # Errors
/// [`DevKeyError`] if the file cannot be read or written, or holds something else.
pub fn dev_app_key(directory: &Path) -> Result<AppKey, DevKeyError> {
    let path = directory.join(DEV_APP_KEY_FILE);
    let io = |source| DevKeyError::Io {
        path: path.clone(),
        source,
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text.trim())
                .map_err(|_| DevKeyError::Malformed(path.clone()))?;
            let secret: [u8; 32] = bytes
                .try_into()
                .map_err(|_| DevKeyError::Malformed(path.clone()))?;
            Ok(AppKey::from_bytes(&secret))
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let key = AppKey::generate(&mut rand::rng());
            let mut text = base64::engine::general_purpose::STANDARD.encode(*key.to_bytes());
            text.push('\n');
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            let mut file = options.open(&path).map_err(io)?;
            file.write_all(text.as_bytes()).map_err(io)?;
            file.sync_all().map_err(io)?;
            Ok(key)
        }
        Err(error) => Err(io(error)),
    }
}

/// Serves the API on `listener` until `shutdown` completes, then finishes the requests in
/// progress, stops the sweeper and closes the database.
///
/// # Errors
/// The listener's I/O errors.
pub async fn serve(
    listener: TcpListener,
    db: Database,
    config: ServerConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let required_app_keys = config
        .require_app_signature
        .then(|| config.app_keys.iter().map(|(_, key)| *key).collect());
    let state = Arc::new(AppState {
        db: db.clone(),
        verifier: verifier(&config.issuer, &config.app_keys),
        limiter: RateLimiter::new(config.rate_limit),
        claims: RateLimiter::refilling(
            config.claim_limit.burst,
            config.claim_limit.interval.as_secs_f64(),
        ),
        claim_keys: std::collections::hash_map::RandomState::new(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(
            config
                .max_concurrent_requests
                .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
        )),
        body_read_timeout: config.body_read_timeout,
        required_app_keys,
    });
    let (stop_sweeper, stopped) = tokio::sync::watch::channel(false);
    let sweeper = tokio::spawn(sweep(
        db.clone(),
        config.retention_secs,
        config.sweep_interval,
        stopped,
    ));
    let result = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await;
    let _ = stop_sweeper.send(true);
    let _ = sweeper.await;
    db.close().await;
    tracing::info!("stopped");
    result
}

/// Deletes expired envelopes every `interval` until `stop` turns true.
async fn sweep(
    db: Database,
    retention_secs: u64,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        let before = now_secs().saturating_sub(retention_secs);
        match db.sweep_mailboxes(before).await {
            Ok(0) => {}
            Ok(deleted) => tracing::info!(deleted, "deleted expired envelopes"),
            Err(error) => tracing::warn!(%error, "the retention sweep failed"),
        }
    }
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in progress");
}
