//! `ratchetkit-server`: reads its configuration (flags or environment), opens the database,
//! binds, prints `ratchetkit-server listening on http://ADDR`, and serves until SIGINT or
//! SIGTERM.

#![forbid(unsafe_code)]

use std::io::Write as _;
use std::process::ExitCode;

use base64::Engine as _;
use clap::Parser;
use ratchetkit::AppPublicKey;
use ratchetkit_server::auth::{RateLimit, RATE_LIMIT_BURST, RATE_LIMIT_PER_SEC};
use ratchetkit_server::bundles::CLAIM_BURST;
use ratchetkit_server::server::{DEV_APP_KEY_FILE, DEV_APP_KEY_ID};
use ratchetkit_server::{dev_app_key, serve, shutdown_signal, Database, ServerConfig};
use tracing_subscriber::EnvFilter;

/// The directory and mailbox server for ratchetkit apps (docs/SERVER.md).
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// The address to listen on (port 0: any free port; the line printed says which).
    #[arg(long, env = "RATCHETKIT_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,

    /// The database: a SQLite file path or sqlite://PATH (created on first start), or a
    /// postgres:// URL.
    #[arg(
        long,
        env = "RATCHETKIT_DATABASE",
        default_value = "ratchetkit-server.db"
    )]
    database: String,

    /// The issuer (`iss`) access tokens must carry.
    #[arg(long, env = "RATCHETKIT_ISSUER", default_value = "ratchetkit-dev")]
    issuer: String,

    /// An app key tokens may be signed with: KID=BASE64 of its 32-byte public key.
    /// Repeatable; in the environment, comma-separated. Without any, a development key is
    /// made (or reused) beside the SQLite database.
    #[arg(
        long = "app-key",
        env = "RATCHETKIT_APP_KEYS",
        value_delimiter = ',',
        value_name = "KID=BASE64_PUBLIC_KEY"
    )]
    app_keys: Vec<String>,

    /// Take only cards co-signed by one of the app keys.
    #[arg(long, env = "RATCHETKIT_REQUIRE_APP_SIGNATURE")]
    require_app_signature: bool,

    /// Requests per second each token subject may make, sustained.
    #[arg(long, env = "RATCHETKIT_RATE_LIMIT", default_value_t = RATE_LIMIT_PER_SEC)]
    rate_limit: u32,

    /// Requests each token subject may make at once (at least the rate limit).
    #[arg(long, env = "RATCHETKIT_RATE_BURST", default_value_t = RATE_LIMIT_BURST)]
    rate_burst: u32,

    /// One-time bundles each token subject may claim of one card or name at once; one
    /// more every 360 seconds. Past it, claims get the fallback bundle.
    #[arg(long, env = "RATCHETKIT_CLAIM_BURST", default_value_t = CLAIM_BURST)]
    claim_burst: u32,
}

/// One `KID=BASE64` app key.
fn parse_app_key(text: &str) -> Result<(String, AppPublicKey), String> {
    let (kid, key) = text
        .split_once('=')
        .ok_or_else(|| format!("--app-key {text:?} is not KID=BASE64_PUBLIC_KEY"))?;
    let kid = kid.trim();
    if kid.is_empty() {
        return Err("an --app-key has an empty key id".into());
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| format!("the app key {kid:?} is not standard base64"))?;
    let key = AppPublicKey::from_bytes(&bytes)
        .map_err(|error| format!("the app key {kid:?}: {error}"))?;
    Ok((kid.to_owned(), key))
}

async fn run(args: Args) -> Result<(), String> {
    let db = Database::open(&args.database)
        .await
        .map_err(|error| error.to_string())?;
    let mut app_keys = args
        .app_keys
        .iter()
        .filter(|text| !text.trim().is_empty())
        .map(|text| parse_app_key(text))
        .collect::<Result<Vec<_>, _>>()?;
    if app_keys.is_empty() {
        let directory = db.key_directory();
        let key = dev_app_key(&directory).map_err(|error| error.to_string())?;
        tracing::warn!(
            file = %directory.join(DEV_APP_KEY_FILE).display(),
            kid = DEV_APP_KEY_ID,
            "NO APP KEY CONFIGURED: trusting a DEVELOPMENT app key whose secret is in this \
             file; anyone who can read it can issue tokens for any name. Never use it in \
             production: pass --app-key KID=PUBLIC_KEY."
        );
        app_keys.push((DEV_APP_KEY_ID.to_owned(), key.public()));
    }
    let mut config = ServerConfig::new(args.issuer, app_keys);
    config.require_app_signature = args.require_app_signature;
    config.rate_limit = RateLimit {
        per_second: args.rate_limit.max(1),
        burst: args.rate_burst.max(args.rate_limit).max(1),
    };
    config.claim_limit.burst = args.claim_burst.max(1);

    let listener = tokio::net::TcpListener::bind(&args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    let address = listener
        .local_addr()
        .map_err(|error| format!("the bound address: {error}"))?;
    // Programs and tests that start the server wait for this line.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ratchetkit-server listening on http://{address}")
        .and_then(|()| stdout.flush())
        .map_err(|error| format!("stdout: {error}"))?;
    drop(stdout);
    tracing::info!(%address, "listening");
    serve(listener, db, config, shutdown_signal())
        .await
        .map_err(|error| format!("serving: {error}"))
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        // Colours only for a person at a terminal, not in files and journals.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("ratchetkit-server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "ratchetkit-server failed");
            eprintln!("ratchetkit-server: {error}");
            ExitCode::FAILURE
        }
    }
}
