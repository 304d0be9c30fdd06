//! The JSON bodies of the API (docs/SERVER.md, "Endpoints"), and the decoding of the
//! base64 and hex values in them. Unknown fields are ignored, so that a newer server's
//! additions do not break this client.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::error::HttpError;

/// `GET /health`.
#[derive(Debug, Deserialize)]
pub(super) struct Health {
    #[allow(dead_code)] // Checked to be there: a body without it is not the server's.
    pub status: String,
}

/// `PUT /v1/cards`.
#[derive(Debug, Serialize)]
pub(super) struct CardBody {
    pub card: String,
}

/// `PUT /v1/cards` answered.
#[derive(Debug, Deserialize)]
pub(super) struct Published {
    pub fingerprint: String,
}

/// `GET /v1/cards?name=NAME`.
#[derive(Debug, Deserialize)]
pub(super) struct Cards {
    pub cards: Vec<String>,
}

/// `GET /v1/cards/FINGERPRINT` and `/v1/cards/by-signing-key/KEY`.
#[derive(Debug, Deserialize)]
pub(super) struct OneCard {
    pub card: String,
}

/// `POST /v1/cards/FINGERPRINT/bundles`.
#[derive(Debug, Serialize)]
pub(super) struct BundlesBody {
    pub bundles: Vec<String>,
    pub replace: bool,
}

/// The one-time bundle count, after publishing or when asked.
#[derive(Debug, Deserialize)]
pub(super) struct OneTime {
    pub one_time: u64,
}

/// `POST /v1/cards/FINGERPRINT/bundles/remove`.
#[derive(Debug, Serialize)]
pub(super) struct RemoveBody<'a> {
    pub one_time_prekey_ids: &'a [u32],
}

/// `POST /v1/cards/FINGERPRINT/bundles/remove` answered.
#[derive(Debug, Deserialize)]
pub(super) struct Removed {
    pub removed: u64,
}

/// The empty body of the claims.
#[derive(Debug, Serialize)]
pub(super) struct Empty {}

/// `POST /v1/cards/FINGERPRINT/bundles/claim` answered.
#[derive(Debug, Deserialize)]
pub(super) struct MaybeBundle {
    pub bundle: Option<String>,
}

/// `POST /v1/users/NAME/bundles/claim` answered.
#[derive(Debug, Deserialize)]
pub(super) struct Bundles {
    pub bundles: Vec<String>,
}

/// `PUT /v1/device-lists` and `GET /v1/device-lists/ACCOUNT`.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct ListBody {
    pub list: String,
}

/// `PUT /v1/device-lists` answered.
#[derive(Debug, Deserialize)]
pub(super) struct ListPublished {
    pub account: String,
    #[allow(dead_code)] // Checked to be a number; the caller holds the list's version.
    pub version: u64,
}

/// `POST /v1/mailbox/DEVICE`.
#[derive(Debug, Serialize)]
pub(super) struct EnvelopesBody {
    pub envelopes: Vec<String>,
}

/// `POST /v1/mailbox/DEVICE` answered.
#[derive(Debug, Deserialize)]
pub(super) struct Ids {
    pub ids: Vec<u64>,
}

/// `GET /v1/mailbox/DEVICE` answered.
#[derive(Debug, Deserialize)]
pub(super) struct Page {
    pub envelopes: Vec<PageEntry>,
}

/// One envelope of a mailbox page.
#[derive(Debug, Deserialize)]
pub(super) struct PageEntry {
    pub id: u64,
    pub envelope: String,
}

/// `POST /v1/mailbox/DEVICE/ack`.
#[derive(Debug, Serialize)]
pub(super) struct AckBody<'a> {
    pub ids: &'a [u64],
}

/// `POST /v1/mailbox/DEVICE/ack` answered.
#[derive(Debug, Deserialize)]
pub(super) struct Deleted {
    pub deleted: u64,
}

/// Every failure's body.
#[derive(Debug, Deserialize)]
pub(super) struct ErrorBody {
    pub error: String,
    #[serde(default)]
    pub message: String,
}

/// Standard base64 with padding.
pub(super) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// The bytes of the base64 `text`, refused unread when it would decode to more than `max`
/// bytes.
pub(super) fn unbase64(text: &str, max: usize, what: &str) -> Result<Vec<u8>, HttpError> {
    if text.len() > max.div_ceil(3).saturating_mul(4) {
        return Err(HttpError::malformed(format!(
            "{what} is longer than {max} bytes"
        )));
    }
    STANDARD
        .decode(text)
        .map_err(|error| HttpError::malformed(format!("{what} is not base64: {error}")))
}

/// The 32 bytes of the lowercase (or uppercase) hex `text`.
pub(super) fn unhex32(text: &str, what: &str) -> Result<[u8; 32], HttpError> {
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|_| HttpError::malformed(format!("{what} is not 64 hex digits")))?;
    Ok(bytes)
}

/// A count the server returned, as a `usize`.
pub(super) fn count(n: u64, what: &str) -> Result<usize, HttpError> {
    usize::try_from(n).map_err(|_| HttpError::malformed(format!("{what} {n} is too large")))
}
