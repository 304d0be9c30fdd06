//! The server subcommands, `register` and `find`, and the cards `seal --to-user` fetches:
//! a ratchetkit-server's directory (docs/SERVER.md) through `ratchetkit::http`.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use clap::Args;
use ratchetkit::http::{HttpDirectory, HttpError, ServerErrorCode};
use ratchetkit::token::{issue, TokenClaims};
use ratchetkit::{AppKey, Card, CardDirectory};

use crate::failure::{Failure, Result};
use crate::files;
use crate::shown;

/// The token subject of a command that only reads the directory (any token may read).
const READER_SUBJECT: &str = "ratchetkit-cli";

/// Where the server is, and the app key the tool issues its own tokens with (playing the
/// app's backend, as the development setup of docs/SERVER.md allows).
#[derive(Args, Clone, Debug)]
pub struct ServerArgs {
    /// The server's URL, for example http://127.0.0.1:8080.
    #[arg(long, value_name = "URL")]
    pub server: String,
    /// The app key file to issue access tokens with: the server's
    /// ratchetkit-server.dev-app-key (standard base64 of a 32-byte seed).
    #[arg(long, value_name = "FILE")]
    pub app_key_file: PathBuf,
    /// The key id the server knows the app key by [default: dev].
    #[arg(long, value_name = "KID")]
    pub kid: Option<String>,
    /// The issuer the server expects in tokens [default: ratchetkit-dev].
    #[arg(long, value_name = "ISSUER")]
    pub issuer: Option<String>,
}

/// [`ServerArgs`] for a command that needs a server only with some of its arguments
/// (`seal --to-user`): all optional, checked by those arguments' `requires`.
#[derive(Args, Clone, Debug)]
pub struct OptionalServerArgs {
    /// The server's URL, for example http://127.0.0.1:8080 (for --to-user).
    #[arg(long, value_name = "URL", requires = "app_key_file")]
    pub server: Option<String>,
    /// The app key file to issue access tokens with (for --to-user): the server's
    /// ratchetkit-server.dev-app-key.
    #[arg(long, value_name = "FILE", requires = "server")]
    pub app_key_file: Option<PathBuf>,
    /// The key id the server knows the app key by [default: dev].
    #[arg(long, value_name = "KID", requires = "server")]
    pub kid: Option<String>,
    /// The issuer the server expects in tokens [default: ratchetkit-dev].
    #[arg(long, value_name = "ISSUER", requires = "server")]
    pub issuer: Option<String>,
}

impl OptionalServerArgs {
    /// The server arguments, if a server was given.
    pub fn given(self) -> Option<ServerArgs> {
        Some(ServerArgs {
            server: self.server?,
            app_key_file: self.app_key_file?,
            kid: self.kid,
            issuer: self.issuer,
        })
    }
}

/// The key id of the server's development app key.
const DEFAULT_KID: &str = "dev";

/// The issuer of the server's development setup.
const DEFAULT_ISSUER: &str = "ratchetkit-dev";

impl ServerArgs {
    /// A client of the server acting for `subject`, with a fresh token.
    fn directory(&self, subject: &str) -> Result<HttpDirectory> {
        let app = read_app_key(&self.app_key_file)?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|elapsed| elapsed.as_secs())
            .unwrap_or(0);
        let issuer = self.issuer.as_deref().unwrap_or(DEFAULT_ISSUER);
        let kid = self.kid.as_deref().unwrap_or(DEFAULT_KID);
        let claims = TokenClaims::new(issuer, subject, now);
        let token = issue(&app, kid, &claims)
            .map_err(|error| Failure::new(format!("cannot issue an access token: {error}")))?;
        HttpDirectory::new(&self.server, token).map_err(|error| self.failure(error))
    }

    /// `error` worded for the person who ran the command.
    fn failure(&self, error: HttpError) -> Failure {
        let server = &self.server;
        match &error {
            HttpError::Transport { .. } | HttpError::Timeout => Failure::new(format!(
                "cannot reach the server at {server} (is ratchetkit-server running?): {error}"
            )),
            HttpError::Server { status: 401, .. } => Failure::new(format!(
                "the server at {server} refused the access token: {error} (check \
                 --app-key-file, --kid and --issuer against the server's)"
            )),
            HttpError::Server {
                code: ServerErrorCode::NotOwner,
                ..
            } => Failure::new(format!(
                "the server at {server} refused: {error} (a token for a name publishes \
                 only cards of that name)"
            )),
            _ => Failure::new(format!("the server at {server}: {error}")),
        }
    }
}

/// Reads an app key file: standard base64 of the 32-byte seed, a newline allowed.
fn read_app_key(path: &Path) -> Result<AppKey> {
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::io(path, "read app key file", &error))?;
    let seed: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| {
            Failure::new(format!(
                "{} is not an app key file (expected the base64 of 32 bytes, as \
                 ratchetkit-server.dev-app-key holds)",
                path.display()
            ))
        })?;
    Ok(AppKey::from_bytes(&seed))
}

/// The card of a key file, from the card file beside it (no password), else by unlocking
/// the key.
fn card_of(key: &Path) -> Result<Card> {
    let card_file = files::card_path(key);
    if card_file.exists() {
        return files::read_card(&card_file);
    }
    Ok(files::read_key(key)?.0.card().clone())
}

/// `register`: publishes the key file's card to the server, with a token for its name.
pub fn register(key: &Path, server: &ServerArgs) -> Result<()> {
    let card = card_of(key)?;
    let mut directory = server.directory(card.identity())?;
    directory
        .publish(card.clone())
        .map_err(|error| server.failure(error))?;
    eprintln!(
        "published the card of {} to {}",
        files::who(&card),
        shown::text(&server.server)
    );
    Ok(())
}

/// The cards of `name` on the server, oldest first, each with whether a later card of
/// the list replaces it.
fn cards_of(
    directory: &HttpDirectory,
    server: &ServerArgs,
    name: &str,
) -> Result<Vec<(Card, bool)>> {
    let cards = directory
        .find(name)
        .map_err(|error| server.failure(error))?;
    Ok(cards
        .iter()
        .map(|card| {
            let fingerprint = card.fingerprint();
            let replaced = cards
                .iter()
                .any(|later| later.previous_fingerprint() == Some(fingerprint));
            (card.clone(), replaced)
        })
        .collect())
}

/// `find`: prints each card of `name` as one line, its fingerprint then its base64 (and
/// `replaced` for a card a later one replaces); a summary goes to stderr.
pub fn find(name: &str, server: &ServerArgs) -> Result<()> {
    let directory = server.directory(READER_SUBJECT)?;
    let cards = cards_of(&directory, server, name)?;
    for (card, replaced) in &cards {
        let mark = if *replaced { " replaced" } else { "" };
        println!("{} {}{mark}", card.fingerprint(), card.to_base64());
    }
    let current = cards.iter().filter(|(_, replaced)| !replaced).count();
    eprintln!(
        "{} card(s) named {} on {} ({current} current); check a fingerprint with its owner \
         before trusting the card",
        cards.len(),
        shown::text(name),
        shown::text(&server.server)
    );
    Ok(())
}

/// The current cards of each of `names` on the server, for `seal --to-user`; each name
/// must have at least one. Every card is listed on stderr: the server is not trusted to
/// vouch for names, so the person sealing sees whom the file is for.
pub fn current_cards(names: &[String], server: &ServerArgs) -> Result<Vec<Card>> {
    let directory = server.directory(READER_SUBJECT)?;
    let mut found = Vec::new();
    for name in names {
        let current: Vec<Card> = cards_of(&directory, server, name)?
            .into_iter()
            .filter_map(|(card, replaced)| (!replaced).then_some(card))
            .collect();
        if current.is_empty() {
            return Err(Failure::new(format!(
                "the server at {} has no card named {}",
                server.server,
                shown::text(name)
            )));
        }
        for card in &current {
            eprintln!("recipient from the server: {}", files::who(card));
        }
        found.extend(current);
    }
    Ok(found)
}
