//! The errors requests are answered with: a status and the JSON body
//! `{"error": CODE, "message": TEXT}` of docs/SERVER.md.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

/// A refused or failed request. Its message never holds a token, a key or a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    retry_after: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// `400 malformed_request`: not JSON, a missing or wrongly typed field, bad base64 or hex.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    /// `400 invalid_card`: the crate refuses the card.
    pub fn invalid_card(error: impl std::fmt::Display) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_card", error.to_string())
    }

    /// `400 invalid_bundle`: the crate refuses a bundle, or it is of another card.
    pub fn invalid_bundle(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_bundle", message)
    }

    /// `400 invalid_device_list`: the crate refuses the device list.
    pub fn invalid_device_list(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_device_list", message)
    }

    /// `401` with one of the token codes (`missing_token`, `invalid_token`, ...).
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// `403 not_owner`: the token's subject is not the name on the card, list or mailbox.
    pub fn not_owner() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "not_owner",
            "the token's subject is not the name this belongs to",
        )
    }

    /// `403 app_signature_required`.
    pub fn app_signature_required(error: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "app_signature_required",
            format!("this server takes only cards co-signed by a trusted app key: {error}"),
        )
    }

    /// `404 not_found`.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// `409 bad_rotation`.
    pub fn bad_rotation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "bad_rotation", message)
    }

    /// `409 card_replaced`.
    pub fn card_replaced() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "card_replaced",
            "the card was replaced by a rotated card: use the newest",
        )
    }

    /// `409 stale_bundle`.
    pub fn stale_bundle(signed_prekey_id: u32, newest: u32) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "stale_bundle",
            format!("a bundle of signed prekey {signed_prekey_id}, older than the held {newest}"),
        )
    }

    /// `409 stale_device_list`.
    pub fn stale_device_list(version: u64, held: u64) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "stale_device_list",
            format!("device list version {version} is not newer than the held {held}"),
        )
    }

    /// `409 too_many`: a count limit would be exceeded.
    pub fn too_many(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "too_many", message)
    }

    /// `413 payload_too_large`.
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// `429 rate_limited`, retry after `seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        Self {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                "too many requests for this token's subject; retry later",
            )
        }
    }

    /// `408 timeout`: the body did not arrive in time.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "timeout",
            "the request's body did not arrive in time; nothing was changed",
        )
    }

    /// `503 busy`: the server is handling as many requests as it may; retry in a second.
    pub fn busy() -> Self {
        Self {
            retry_after: Some(1),
            ..Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "the server is handling as many requests as it may; retry in a second",
            )
        }
    }

    /// `500 internal`: the details are logged, not sent.
    pub fn internal(message: impl Into<String>) -> Self {
        let message = message.into();
        tracing::error!(%message, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the server failed; nothing was changed",
        )
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The `error` code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The `message`.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.code,
            self.message
        )
    }
}

impl std::error::Error for ApiError {}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(error.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
