//! What a call to the server fails with.

use crate::error::Error;

/// The longest part of a server's error message kept, in characters: 512. The message is
/// shown to people; a longer one (from a broken or hostile server) is cut, so that an
/// error stays a line, not a copy of a 32 MiB body.
const MAX_SERVER_MESSAGE_CHARS: usize = 512;

/// The longest error code kept, in characters: 64 (the API's are under 32).
const MAX_SERVER_CODE_CHARS: usize = 64;

/// Why a call to the server failed. It never contains the access token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The crate refused something: a card, bundle or device list the server returned does
    /// not verify, or a call's own input (a prekey store that cannot make a bundle).
    #[error(transparent)]
    Protocol(#[from] Error),

    /// The server refused the request with an error of its API (docs/SERVER.md): nothing
    /// was changed. What to do depends on `code`: fix the call for a 4xx, get a new token
    /// for the token errors, retry later for [`ServerErrorCode::RateLimited`] (after
    /// `retry_after` seconds) and [`ServerErrorCode::Internal`].
    #[error("the server refused the request ({status} {code}): {message}")]
    Server {
        /// The HTTP status.
        status: u16,
        /// The API's error code (`error` in the body).
        code: ServerErrorCode,
        /// The server's explanation, cut to 512 characters, control characters replaced.
        message: String,
        /// Seconds to wait before retrying, from a `Retry-After` header.
        retry_after: Option<u64>,
    },

    /// The server answered with a status the call does not expect and without the API's
    /// error body: not a ratchetkit-server, or a proxy in front of it failed.
    #[error("the server answered with HTTP status {status}, which this call does not expect")]
    UnexpectedStatus {
        /// The HTTP status.
        status: u16,
    },

    /// The response is not what the API returns: not JSON of the expected shape, bad
    /// base64 or hex, or not what was asked for (a card of another fingerprint, key or
    /// name, a bundle of another card, another account's device list). Do not use it;
    /// the server is broken or hostile.
    #[error("malformed response from the server: {reason}")]
    MalformedResponse {
        /// What is wrong with it.
        reason: String,
    },

    /// The response body is longer than `limit` bytes
    /// ([`MAX_RESPONSE_LEN`](super::MAX_RESPONSE_LEN)): it was not read further. For a
    /// mailbox page, fetch fewer envelopes at a time.
    #[error("the server's response is longer than {limit} bytes")]
    ResponseTooLarge {
        /// The limit.
        limit: usize,
    },

    /// The request did not complete within its timeout. Retry later; the request may or
    /// may not have been carried out (every call can be repeated safely except claiming
    /// a bundle, which may have used up a one-time prekey, and depositing envelopes,
    /// which may deposit them twice: the recipient drops the duplicates).
    #[error("the request to the server timed out")]
    Timeout,

    /// The server could not be reached or the connection failed (refused, reset, name not
    /// resolved, not HTTP). Retry later; as for [`HttpError::Timeout`], the request may
    /// have been carried out.
    #[error("cannot talk to the server: {reason}")]
    Transport {
        /// What failed.
        reason: String,
    },

    /// The server URL given is not `http://HOST[:PORT][/PATH]`.
    #[error("invalid server URL: {reason}")]
    InvalidUrl {
        /// What is wrong with it.
        reason: String,
    },

    /// The access token given cannot be sent: it is longer than
    /// [`MAX_TOKEN_LEN`](crate::token::MAX_TOKEN_LEN), or has a character other than
    /// visible ASCII (a token of [`issue`](crate::token::issue) never does).
    #[error("the access token cannot be sent: not a token of visible ASCII characters")]
    UnsendableToken,
}

impl HttpError {
    /// The HTTP status, for a failure the server answered.
    ///
    /// ```
    /// use ratchetkit::http::HttpError;
    /// assert_eq!(HttpError::UnexpectedStatus { status: 502 }.status(), Some(502));
    /// assert_eq!(HttpError::Timeout.status(), None);
    /// ```
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Server { status, .. } | Self::UnexpectedStatus { status } => Some(*status),
            _ => None,
        }
    }

    /// The API's error code, for a failure the server explained.
    ///
    /// ```
    /// use ratchetkit::http::{HttpError, ServerErrorCode};
    /// # let error = HttpError::Timeout;
    /// if error.code() == Some(&ServerErrorCode::ExpiredToken) {
    ///     // get a fresh token from the backend, then `set_token` and retry
    /// }
    /// ```
    pub fn code(&self) -> Option<&ServerErrorCode> {
        match self {
            Self::Server { code, .. } => Some(code),
            _ => None,
        }
    }

    /// Whether the same call may succeed if repeated later, unchanged: a timeout (ours, or
    /// the server's while it read the body), a connection failure, a rate limit, a busy
    /// server, or a failure of the server itself (5xx).
    ///
    /// ```
    /// use ratchetkit::http::HttpError;
    /// assert!(HttpError::Timeout.is_transient());
    /// assert!(!HttpError::UnexpectedStatus { status: 404 }.is_transient());
    /// ```
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Timeout | Self::Transport { .. } => true,
            Self::Server { status, code, .. } => {
                matches!(
                    code,
                    ServerErrorCode::RateLimited | ServerErrorCode::Timeout
                ) || *status >= 500
            }
            Self::UnexpectedStatus { status } => *status >= 500 || matches!(status, 408 | 429),
            _ => false,
        }
    }

    /// A [`HttpError::Server`] from the parts of an error body, each cut and cleaned.
    pub(super) fn server(status: u16, code: &str, message: &str, retry_after: Option<u64>) -> Self {
        Self::Server {
            status,
            code: ServerErrorCode::from_code(code),
            message: cleaned(message, MAX_SERVER_MESSAGE_CHARS),
            retry_after,
        }
    }

    /// A [`HttpError::MalformedResponse`].
    pub(super) fn malformed(reason: impl Into<String>) -> Self {
        Self::MalformedResponse {
            reason: reason.into(),
        }
    }
}

/// `text` cut to `max` characters, control characters (which could rewrite a terminal
/// line) replaced.
fn cleaned(text: &str, max: usize) -> String {
    let mut out: String = text
        .chars()
        .take(max)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// The `error` codes of ratchetkit-server's API (docs/SERVER.md, "Encoding and errors").
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ServerErrorCode {
    /// 400: not JSON, a missing or wrongly typed field, bad base64 or hex.
    MalformedRequest,
    /// 400: the server's crate refused the card.
    InvalidCard,
    /// 400: the server's crate refused the bundle.
    InvalidBundle,
    /// 400: the server's crate refused the device list.
    InvalidDeviceList,
    /// 401: no token was sent.
    MissingToken,
    /// 401: the token does not verify.
    InvalidToken,
    /// 401: the token expired: get a fresh one
    /// ([`HttpDirectory::set_token`](super::HttpDirectory::set_token)).
    ExpiredToken,
    /// 401: the token is of another issuer.
    WrongIssuer,
    /// 401: the token's key id names no key the server trusts.
    UnknownKey,
    /// 403: the token's subject is not the name on the card, list or mailbox.
    NotOwner,
    /// 403: the server requires an app co-signature the card lacks.
    AppSignatureRequired,
    /// 404: no such card, list or mailbox owner.
    NotFound,
    /// 409: a rotated card whose previous card is unknown, replaced, or whose link does
    /// not verify.
    BadRotation,
    /// 409: bundles for, or claimed from, a card that was rotated away.
    CardReplaced,
    /// 409: a bundle of an older signed prekey than the held ones.
    StaleBundle,
    /// 409: a device list not newer than the held one.
    StaleDeviceList,
    /// 409: a count limit would be exceeded.
    TooMany,
    /// 413: the request body exceeds the server's limit.
    PayloadTooLarge,
    /// 408: the request's body did not arrive in time (a slow link); nothing was changed.
    Timeout,
    /// 429: too many requests; retry after the `retry_after` of the error.
    RateLimited,
    /// 500: the server's database failed; nothing was changed.
    Internal,
    /// 503: the server is handling as many requests as it may; retry after the
    /// `retry_after` of the error.
    Busy,
    /// A code this version does not know (cut to 64 characters).
    Other(String),
}

impl ServerErrorCode {
    /// The code as the API spells it.
    ///
    /// ```
    /// use ratchetkit::http::ServerErrorCode;
    /// assert_eq!(ServerErrorCode::from_code("not_found"), ServerErrorCode::NotFound);
    /// assert_eq!(ServerErrorCode::NotFound.as_str(), "not_found");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::MalformedRequest => "malformed_request",
            Self::InvalidCard => "invalid_card",
            Self::InvalidBundle => "invalid_bundle",
            Self::InvalidDeviceList => "invalid_device_list",
            Self::MissingToken => "missing_token",
            Self::InvalidToken => "invalid_token",
            Self::ExpiredToken => "expired_token",
            Self::WrongIssuer => "wrong_issuer",
            Self::UnknownKey => "unknown_key",
            Self::NotOwner => "not_owner",
            Self::AppSignatureRequired => "app_signature_required",
            Self::NotFound => "not_found",
            Self::BadRotation => "bad_rotation",
            Self::CardReplaced => "card_replaced",
            Self::StaleBundle => "stale_bundle",
            Self::StaleDeviceList => "stale_device_list",
            Self::TooMany => "too_many",
            Self::PayloadTooLarge => "payload_too_large",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Internal => "internal",
            Self::Busy => "busy",
            Self::Other(code) => code,
        }
    }

    /// The code the API spells `code` (an unknown one as [`ServerErrorCode::Other`]).
    pub fn from_code(code: &str) -> Self {
        match code {
            "malformed_request" => Self::MalformedRequest,
            "invalid_card" => Self::InvalidCard,
            "invalid_bundle" => Self::InvalidBundle,
            "invalid_device_list" => Self::InvalidDeviceList,
            "missing_token" => Self::MissingToken,
            "invalid_token" => Self::InvalidToken,
            "expired_token" => Self::ExpiredToken,
            "wrong_issuer" => Self::WrongIssuer,
            "unknown_key" => Self::UnknownKey,
            "not_owner" => Self::NotOwner,
            "app_signature_required" => Self::AppSignatureRequired,
            "not_found" => Self::NotFound,
            "bad_rotation" => Self::BadRotation,
            "card_replaced" => Self::CardReplaced,
            "stale_bundle" => Self::StaleBundle,
            "stale_device_list" => Self::StaleDeviceList,
            "too_many" => Self::TooMany,
            "payload_too_large" => Self::PayloadTooLarge,
            "timeout" => Self::Timeout,
            "rate_limited" => Self::RateLimited,
            "internal" => Self::Internal,
            "busy" => Self::Busy,
            other => Self::Other(cleaned(other, MAX_SERVER_CODE_CHARS)),
        }
    }
}

impl core::fmt::Display for ServerErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip() {
        for code in [
            "malformed_request",
            "invalid_card",
            "invalid_bundle",
            "invalid_device_list",
            "missing_token",
            "invalid_token",
            "expired_token",
            "wrong_issuer",
            "unknown_key",
            "not_owner",
            "app_signature_required",
            "not_found",
            "bad_rotation",
            "card_replaced",
            "stale_bundle",
            "stale_device_list",
            "too_many",
            "payload_too_large",
            "timeout",
            "rate_limited",
            "internal",
            "busy",
        ] {
            let parsed = ServerErrorCode::from_code(code);
            assert!(!matches!(parsed, ServerErrorCode::Other(_)), "{code}");
            assert_eq!(parsed.as_str(), code);
        }
    }

    #[test]
    fn messages_are_cut_and_cleaned() {
        let long = "x".repeat(10_000);
        let HttpError::Server { message, code, .. } = HttpError::server(
            400,
            &format!("\u{1b}[2J{long}"),
            &format!("a\nb\u{1b}{long}"),
            None,
        ) else {
            panic!("not a server error");
        };
        assert!(message.chars().count() <= MAX_SERVER_MESSAGE_CHARS + 1);
        assert!(!message.chars().any(char::is_control));
        assert!(code.as_str().chars().count() <= MAX_SERVER_CODE_CHARS + 1);
        assert!(!code.as_str().chars().any(char::is_control));
    }
}
