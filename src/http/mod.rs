//! A blocking client of `ratchetkit-server`'s HTTP API (docs/SERVER.md): [`HttpDirectory`]
//! is a [`CardDirectory`](crate::CardDirectory) whose cards and bundles live on the server,
//! and it also publishes and fetches device lists and moves envelopes through the
//! server's mailboxes.
//!
//! The server is not trusted any more than another directory: every card, bundle and
//! device list it returns is verified by the crate's own checks, and must be the one asked
//! for (the card of the requested fingerprint or key, a bundle of the requested card, the
//! list of the requested account) or the call fails with
//! [`HttpError::MalformedResponse`]. Every response body is read with a limit
//! ([`MAX_RESPONSE_LEN`]) before it is parsed, and every request with a deadline
//! ([`DEFAULT_TIMEOUT`], or [`HttpDirectory::with_timeout`]).
//!
//! Requests carry the access token ([`crate::token`]) the app's backend issued the user,
//! as `Authorization: Bearer`. A token lives at most an hour: give the directory a fresh
//! one with [`HttpDirectory::set_token`] before it expires (a request with an expired
//! token fails with [`ServerErrorCode::ExpiredToken`]). The token is never shown: not by
//! `Debug`, not in an error.
//!
//! ```no_run
//! use ratchetkit::client::{Client, MemoryStore};
//! use ratchetkit::http::HttpDirectory;
//! use ratchetkit::StorageKey;
//! # fn token_from_backend() -> String { String::new() }
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut rng = rand::rng();
//! let key = StorageKey::generate(&mut rng);
//! let now = 1_800_000_000;
//! let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", now)?;
//!
//! let mut server = HttpDirectory::new("http://127.0.0.1:8080", token_from_backend())?;
//! alice.publish(&mut server)?;
//! alice.upkeep(&mut rng, now, &mut server)?;
//! server.publish_device_list(alice.device_list().ok_or("not linked")?)?;
//! # Ok(())
//! # }
//! ```
//!
//! Plain HTTP only: run the server on loopback, or behind a TLS-terminating proxy on the
//! same host. Proxies named by the `HTTP_PROXY`/`ALL_PROXY` environment variables are
//! used (except for hosts in `NO_PROXY`); redirects are not followed, so that the token
//! goes to no other host.

mod devices;
mod directory;
mod error;
mod json;
mod mailbox;
mod transport;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use error::{HttpError, ServerErrorCode};
pub use mailbox::{MailboxEntry, MAX_MAILBOX_PAGE};

use transport::Transport;

/// The longest response body read, in bytes: 32 MiB, checked while the body arrives
/// (a longer one fails with [`HttpError::ResponseTooLarge`] and is not parsed).
///
/// It bounds the memory a hostile or broken server can make a client spend on one
/// response. The largest single item the API returns is an envelope of
/// [`MAX_ENVELOPE_LEN`](crate::client::MAX_ENVELOPE_LEN) (4.3 MiB, 5.8 MiB in base64),
/// so a mailbox page of a few of the largest envelopes fits, and a page of one always does
/// ([`HttpDirectory::fetch_mailbox`] with `limit` 1); the other responses (cards of one
/// name, a device list of at most 144 KiB, a bundle per card) are far smaller.
pub const MAX_RESPONSE_LEN: usize = 32 * 1024 * 1024;

/// How long one request may take, from connecting to the last byte of the response, unless
/// set otherwise with [`HttpDirectory::with_timeout`]: 30 seconds. Connecting alone may take
/// at most [`CONNECT_TIMEOUT`].
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long connecting to the server may take: 10 seconds (within the request's whole
/// timeout), so that an unreachable server is reported well before a slow response would be.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A client of one `ratchetkit-server`, acting for the user its access token names.
///
/// It implements [`CardDirectory`](crate::CardDirectory) over the server's cards and
/// bundles (so [`Client::publish`](crate::client::Client::publish) and
/// [`Client::upkeep`](crate::client::Client::upkeep) take it), and has methods of its own
/// for device lists ([`HttpDirectory::publish_device_list`],
/// [`HttpDirectory::device_list`]) and mailboxes ([`HttpDirectory::deposit`],
/// [`HttpDirectory::fetch_mailbox`], [`HttpDirectory::acknowledge`]).
///
/// Each call is one request (publishing a store's bundles too: all in one body), blocking
/// until the response or the timeout; connections are kept alive between calls.
///
/// ```no_run
/// use ratchetkit::http::HttpDirectory;
/// use ratchetkit::CardDirectory;
/// # fn main() -> Result<(), ratchetkit::http::HttpError> {
/// # let token = String::new();
/// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
/// for card in server.find("bob")? {
///     println!("{} {}", card.identity(), card.fingerprint());
/// }
/// # Ok(())
/// # }
/// ```
pub struct HttpDirectory {
    transport: Transport,
}

impl HttpDirectory {
    /// A client of the server at `base_url` (`http://HOST:PORT`, optionally with a path
    /// prefix the API is mounted under), sending `token` with every request.
    ///
    /// ```
    /// use ratchetkit::http::HttpDirectory;
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", "header.claims.signature".to_owned())?;
    /// assert_eq!(server.base_url(), "http://127.0.0.1:8080");
    /// # Ok::<(), ratchetkit::http::HttpError>(())
    /// ```
    ///
    /// # Errors
    /// [`HttpError::InvalidUrl`] for a URL that is not `http://` with a host;
    /// [`HttpError::UnsendableToken`] for a token that cannot be a header value.
    pub fn new(base_url: &str, token: String) -> Result<Self, HttpError> {
        Ok(Self {
            transport: Transport::new(base_url, token, DEFAULT_TIMEOUT)?,
        })
    }

    /// The same client with another timeout for each request (connecting included).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ratchetkit::http::HttpDirectory;
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", "header.claims.signature".to_owned())?
    ///     .with_timeout(Duration::from_secs(5));
    /// # Ok::<(), ratchetkit::http::HttpError>(())
    /// ```
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.transport.set_timeout(timeout);
        self
    }

    /// Replaces the access token sent with every later request: tokens live at most
    /// [`MAX_TOKEN_TTL_SECS`](crate::token::MAX_TOKEN_TTL_SECS), so get a fresh one from
    /// the app's backend before the current one expires.
    ///
    /// ```
    /// use ratchetkit::http::HttpDirectory;
    /// let mut server = HttpDirectory::new("http://127.0.0.1:8080", "old".to_owned())?;
    /// server.set_token("new".to_owned())?;
    /// # Ok::<(), ratchetkit::http::HttpError>(())
    /// ```
    ///
    /// # Errors
    /// [`HttpError::UnsendableToken`] for a token that cannot be a header value (the old
    /// token is kept).
    pub fn set_token(&mut self, token: String) -> Result<(), HttpError> {
        self.transport.set_token(token)
    }

    /// The server's base URL, as given to [`HttpDirectory::new`] without a trailing `/`.
    pub fn base_url(&self) -> &str {
        self.transport.base_url()
    }

    /// Whether the server answers and its database works (`GET /health`, no token needed).
    ///
    /// ```no_run
    /// use ratchetkit::http::HttpDirectory;
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", String::new())?;
    /// server.health()?;
    /// # Ok::<(), ratchetkit::http::HttpError>(())
    /// ```
    ///
    /// # Errors
    /// [`HttpError::Server`] when the server reports a failure; transport errors.
    pub fn health(&self) -> Result<(), HttpError> {
        let reply = self.transport.get("/health", false)?;
        let _: json::Health = reply.json(&[200])?;
        Ok(())
    }
}

impl core::fmt::Debug for HttpDirectory {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // Never the token: it is a credential.
        f.debug_struct("HttpDirectory")
            .field("base_url", &self.transport.base_url())
            .field("timeout", &self.transport.timeout())
            .finish_non_exhaustive()
    }
}
