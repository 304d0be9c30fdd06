//! The requests: one `ureq` agent, the base URL and the token, and what a response is
//! before it is parsed ([`Reply`]), so that the parsing can be tested without a server.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::error::HttpError;
use super::json;
use super::{CONNECT_TIMEOUT, MAX_RESPONSE_LEN};
use crate::token::MAX_TOKEN_LEN;

/// The longest response status line and headers read, in bytes: 64 KiB (the API's are
/// a few hundred bytes).
const MAX_RESPONSE_HEADER_LEN: usize = 64 * 1024;

/// The longest base URL taken, in bytes: 2 KiB.
const MAX_BASE_URL_LEN: usize = 2048;

/// The agent, where requests go, and the credential they carry.
pub(super) struct Transport {
    agent: ureq::Agent,
    base_url: String,
    /// `Bearer TOKEN`, or `None` for an empty token (requests without one).
    authorization: Option<String>,
    timeout: Duration,
}

/// A response as it arrived: its status, its whole body (at most [`MAX_RESPONSE_LEN`]
/// bytes), and its `Retry-After` in seconds.
#[derive(Debug)]
pub(super) struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
    pub retry_after: Option<u64>,
}

impl Reply {
    /// The body as `T` when the status is one of `ok`; else the error the body explains.
    pub fn json<T: DeserializeOwned>(&self, ok: &[u16]) -> Result<T, HttpError> {
        if !ok.contains(&self.status) {
            return Err(self.error());
        }
        serde_json::from_slice(&self.body)
            .map_err(|error| HttpError::malformed(format!("HTTP {} body: {error}", self.status)))
    }

    /// The failure this response reports: the API's error body, or only its status.
    pub fn error(&self) -> HttpError {
        match serde_json::from_slice::<json::ErrorBody>(&self.body) {
            Ok(body) if self.status >= 400 => {
                HttpError::server(self.status, &body.error, &body.message, self.retry_after)
            }
            _ => HttpError::UnexpectedStatus {
                status: self.status,
            },
        }
    }

    /// Whether the server said `not_found` (or answered 404 without the API's body).
    pub fn is_not_found(&self) -> bool {
        self.status == 404
    }

    /// Whether the server said `code` with a 409.
    pub fn is_conflict(&self, code: &str) -> bool {
        self.status == 409
            && serde_json::from_slice::<json::ErrorBody>(&self.body)
                .is_ok_and(|body| body.error == code)
    }
}

impl Transport {
    pub fn new(base_url: &str, token: String, timeout: Duration) -> Result<Self, HttpError> {
        Ok(Self {
            agent: agent(timeout),
            base_url: checked_base_url(base_url)?,
            authorization: authorization(token)?,
            timeout,
        })
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.agent = agent(timeout);
        self.timeout = timeout;
    }

    pub fn set_token(&mut self, token: String) -> Result<(), HttpError> {
        self.authorization = authorization(token)?;
        Ok(())
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// `GET` `path` (with its query), with the token if `auth`.
    pub fn get(&self, path: &str, auth: bool) -> Result<Reply, HttpError> {
        let mut request = self.agent.get(self.url(path));
        if let (true, Some(value)) = (auth, &self.authorization) {
            request = request.header("Authorization", value.as_str());
        }
        read(request.call())
    }

    /// `PUT` `body` as JSON to `path`, with the token.
    pub fn put<B: Serialize>(&self, path: &str, body: &B) -> Result<Reply, HttpError> {
        self.send(self.agent.put(self.url(path)), body)
    }

    /// `POST` `body` as JSON to `path`, with the token.
    pub fn post<B: Serialize>(&self, path: &str, body: &B) -> Result<Reply, HttpError> {
        self.send(self.agent.post(self.url(path)), body)
    }

    fn send<B: Serialize>(
        &self,
        mut request: ureq::RequestBuilder<ureq::typestate::WithBody>,
        body: &B,
    ) -> Result<Reply, HttpError> {
        let bytes = serde_json::to_vec(body).map_err(|error| HttpError::Transport {
            reason: format!("cannot encode the request: {error}"),
        })?;
        if let Some(value) = &self.authorization {
            request = request.header("Authorization", value.as_str());
        }
        read(request.content_type("application/json").send(&bytes[..]))
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }
}

/// An agent whose requests each take at most `timeout`, that follows no redirect (the
/// token would go along) and returns every status as a response.
fn agent(timeout: Duration) -> ureq::Agent {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .max_redirects_will_error(false)
        .timeout_global(Some(timeout))
        .timeout_connect(Some(CONNECT_TIMEOUT.min(timeout)))
        .max_response_header_size(MAX_RESPONSE_HEADER_LEN)
        .user_agent(concat!(
            env!("CARGO_PKG_NAME"),
            "/",
            env!("CARGO_PKG_VERSION")
        ))
        .build();
    ureq::Agent::new_with_config(config)
}

/// The response of a request, its body read up to [`MAX_RESPONSE_LEN`].
fn read(result: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<Reply, HttpError> {
    let mut response = result.map_err(transport_error)?;
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let body = response
        .body_mut()
        .with_config()
        .limit(MAX_RESPONSE_LEN as u64)
        .read_to_vec()
        .map_err(transport_error)?;
    Ok(Reply {
        status,
        body,
        retry_after,
    })
}

fn transport_error(error: ureq::Error) -> HttpError {
    match error {
        ureq::Error::Timeout(_) => HttpError::Timeout,
        ureq::Error::Io(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
            ) =>
        {
            HttpError::Timeout
        }
        ureq::Error::BodyExceedsLimit(_) => HttpError::ResponseTooLarge {
            limit: MAX_RESPONSE_LEN,
        },
        ureq::Error::BadUri(reason) => HttpError::InvalidUrl { reason },
        other => HttpError::Transport {
            reason: other.to_string(),
        },
    }
}

/// `base_url` without a trailing `/`, if it is `http://HOST...` and parses as a URI.
fn checked_base_url(base_url: &str) -> Result<String, HttpError> {
    let invalid = |reason: &str| HttpError::InvalidUrl {
        reason: reason.to_owned(),
    };
    if base_url.len() > MAX_BASE_URL_LEN {
        return Err(invalid("longer than 2 KiB"));
    }
    let trimmed = base_url.trim_end_matches('/');
    let Some(rest) = strip_prefix_ignore_case(trimmed, "http://") else {
        return Err(if strip_prefix_ignore_case(trimmed, "https://").is_some() {
            invalid("https is not built in: this client speaks plain HTTP (use a server on loopback, or a TLS proxy on this host)")
        } else {
            invalid("it must start with http://")
        });
    };
    if rest.is_empty() || rest.starts_with('/') {
        return Err(invalid("no host"));
    }
    if rest.contains(['?', '#']) || rest.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(invalid("a query, fragment or space in it"));
    }
    ureq::http::Uri::try_from(trimmed).map_err(|error| HttpError::InvalidUrl {
        reason: error.to_string(),
    })?;
    Ok(trimmed.to_owned())
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| text.get(prefix.len()..))
        .flatten()
}

/// The `Authorization` value for `token`: `None` for an empty one.
fn authorization(token: String) -> Result<Option<String>, HttpError> {
    if token.is_empty() {
        return Ok(None);
    }
    if token.len() > MAX_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(HttpError::UnsendableToken);
    }
    Ok(Some(format!("Bearer {token}")))
}

/// `text` percent-encoded for a path segment or query value: everything but RFC 3986's
/// unreserved characters, byte by byte of its UTF-8.
pub(super) fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls() {
        assert_eq!(
            checked_base_url("http://127.0.0.1:8080/").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert_eq!(
            checked_base_url("HTTP://example.test/api").unwrap(),
            "HTTP://example.test/api"
        );
        for bad in [
            "",
            "127.0.0.1:8080",
            "https://example.test",
            "http://",
            "http:///path",
            "http://host?x=1",
            "http://ho st",
            "ftp://host",
            "http://h\u{e9}",
        ] {
            assert!(
                matches!(checked_base_url(bad), Err(HttpError::InvalidUrl { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn tokens() {
        assert_eq!(authorization(String::new()).unwrap(), None);
        assert_eq!(
            authorization("a.b.c".to_owned()).unwrap().as_deref(),
            Some("Bearer a.b.c")
        );
        for bad in [
            "a b",
            "a\r\nX-Evil: 1",
            "caf\u{e9}",
            &"a".repeat(MAX_TOKEN_LEN + 1),
        ] {
            assert!(matches!(
                authorization(bad.to_owned()),
                Err(HttpError::UnsendableToken)
            ));
        }
    }

    #[test]
    fn components() {
        assert_eq!(encode_component("bob"), "bob");
        assert_eq!(encode_component("a b/c?d&e"), "a%20b%2Fc%3Fd%26e");
        assert_eq!(encode_component("\u{e9}"), "%C3%A9");
    }

    #[test]
    fn error_bodies() {
        let reply = Reply {
            status: 429,
            body: br#"{"error":"rate_limited","message":"slow down"}"#.to_vec(),
            retry_after: Some(3),
        };
        match reply.json::<json::OneTime>(&[200]) {
            Err(HttpError::Server {
                status: 429,
                code: super::super::ServerErrorCode::RateLimited,
                retry_after: Some(3),
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        let reply = Reply {
            status: 502,
            body: b"<html>bad gateway</html>".to_vec(),
            retry_after: None,
        };
        assert!(matches!(
            reply.json::<json::OneTime>(&[200]),
            Err(HttpError::UnexpectedStatus { status: 502 })
        ));
        // An error body with a success status is no error: the body is malformed.
        let reply = Reply {
            status: 200,
            body: br#"{"error":"x"}"#.to_vec(),
            retry_after: None,
        };
        assert!(matches!(
            reply.json::<json::OneTime>(&[200]),
            Err(HttpError::MalformedResponse { .. })
        ));
    }
}
