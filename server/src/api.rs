//! The HTTP API of docs/SERVER.md: routes, request parsing and answers.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeSet, HashMap};
use std::hash::BuildHasher as _;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, MatchedPath, Path, Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::Engine as _;
use ratchetkit::client::DeviceList;
use ratchetkit::limits::MAX_IDENTITY_NAME_LEN;
use ratchetkit::token::TokenVerifier;
use ratchetkit::{AppPublicKey, Card};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{now_secs, RateLimiter, Subject};
use crate::bundles::{self, Incoming, MAX_BUNDLES_PER_REQUEST};
use crate::cards::PutCard;
use crate::devices::PutList;
use crate::error::ApiError;
use crate::mailbox::{self, MAX_ACK_IDS, MAX_ENVELOPES_PER_REQUEST, MAX_FETCH_ENVELOPES};
use crate::store::{Database, Op, Outcome};

/// Largest request body: 8 MiB. It fits the largest single envelope in base64
/// (`MAX_ENVELOPE_LEN` is about 4.5 MB, 6 MB in base64) and a full bundle publication
/// ([`MAX_BUNDLES_PER_REQUEST`] bundles, about 4.6 MB), and bounds what one request makes
/// the server buffer and parse. Larger bodies are answered `413 payload_too_large`.
pub const MAX_BODY_LEN: usize = 8 * 1024 * 1024;

/// Requests handled at once, by default: 128. One may hold about 22 MiB while it reads and
/// decodes an 8 MiB body (the body, its base64 decoded, the verified objects), so this
/// bounds the server's memory under the worst load to about 3 GB, while it is far more
/// than a small machine serves at once (the load benchmark's 16 workers). Past it, `503
/// busy` with `Retry-After: 1`. `ServerConfig::max_concurrent_requests` sets it.
pub const MAX_CONCURRENT_REQUESTS: usize = 128;

/// Seconds a request's body may take to arrive, by default: 30, enough for 8 MiB at
/// 280 KB/s. A client that trickles its body slower (to hold a request slot, as in a
/// slowloris attack) is answered `408 timeout`. `ServerConfig::body_read_timeout` sets it.
pub const BODY_READ_TIMEOUT_SECS: u64 = 30;

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub(crate) db: Database,
    pub(crate) verifier: TokenVerifier,
    pub(crate) limiter: RateLimiter,
    /// One-time bundle claims, by subject and target ([`crate::bundles::ClaimLimit`]).
    pub(crate) claims: RateLimiter,
    /// The key of the hash that names a claim bucket.
    pub(crate) claim_keys: RandomState,
    /// A permit per request being handled ([`MAX_CONCURRENT_REQUESTS`]).
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    /// How long a body may take to arrive ([`BODY_READ_TIMEOUT_SECS`]).
    pub(crate) body_read_timeout: std::time::Duration,
    /// The app keys a card's co-signature must be from, when one is required.
    pub(crate) required_app_keys: Option<Vec<AppPublicKey>>,
}

/// The router for `state`: every route of docs/SERVER.md, the body limit and the request
/// log.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/v1/cards", put(put_card).get(cards_by_name))
        .route("/v1/cards/by-signing-key/{key}", get(card_by_signing_key))
        .route("/v1/cards/{fingerprint}", get(card_by_fingerprint))
        .route("/v1/cards/{fingerprint}/bundles", post(publish_bundles))
        .route(
            "/v1/cards/{fingerprint}/bundles/remove",
            post(remove_bundles),
        )
        .route("/v1/cards/{fingerprint}/bundles/count", get(count_bundles))
        .route("/v1/cards/{fingerprint}/bundles/claim", post(claim_card))
        .route("/v1/users/{name}/bundles/claim", post(claim_user))
        .route("/v1/device-lists", put(put_device_list))
        .route("/v1/device-lists/{account}", get(get_device_list))
        .route("/v1/mailbox/{device}", post(deposit).get(fetch))
        .route("/v1/mailbox/{device}/ack", post(ack))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_BODY_LEN))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit_in_flight,
        ))
        .layer(axum::middleware::from_fn(log_request))
        .with_state(state)
}

/// Refuses a request while [`MAX_CONCURRENT_REQUESTS`] others are being handled, and times
/// out a body that takes longer than the body read timeout to arrive.
async fn limit_in_flight(
    State(state): State<Arc<AppState>>,
    mut request: Request,
    next: Next,
) -> Response {
    let Ok(_permit) = state.in_flight.clone().try_acquire_owned() else {
        return ApiError::busy().into_response();
    };
    request.extensions_mut().insert(BodyDeadline(
        tokio::time::Instant::now() + state.body_read_timeout,
    ));
    next.run(request).await
}

/// When the request's body must have arrived by.
#[derive(Clone, Copy)]
struct BodyDeadline(tokio::time::Instant);

/// One log line per request: method, route template (never the path's ids, nor a token or
/// body), status and latency.
async fn log_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "(unmatched)".to_owned(), |path| path.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let latency_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    if response.status().is_server_error() {
        tracing::warn!(%method, route, status, latency_us, "request");
    } else {
        tracing::info!(%method, route, status, latency_us, "request");
    }
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

async fn method_not_allowed() -> Response {
    let body = json!({"error": "malformed_request", "message": "method not allowed on this route"});
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}

/// A JSON body of type `T`: `413` over the body limit, `400 malformed_request` for
/// anything but JSON of that shape.
struct JsonBody<T>(T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let deadline = request.extensions().get::<BodyDeadline>().copied();
        let read = Bytes::from_request(request, state);
        let read = match deadline {
            Some(BodyDeadline(deadline)) => tokio::time::timeout_at(deadline, read)
                .await
                .map_err(|_| ApiError::timeout())?,
            None => read.await,
        };
        let bytes = read.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::too_large(format!("the body is larger than {MAX_BODY_LEN} bytes"))
            } else {
                ApiError::malformed(format!("the body could not be read: {rejection}"))
            }
        })?;
        // An empty body reads as `{}`, for the claims, whose body has no field.
        let bytes: &[u8] = if bytes.is_empty() { b"{}" } else { &bytes };
        serde_json::from_slice(bytes)
            .map(JsonBody)
            .map_err(|error| {
                ApiError::malformed(format!("the body is not the expected JSON: {error}"))
            })
    }
}

/// The path's parameter, or `400 malformed_request`.
fn path(path: Result<Path<String>, PathRejection>) -> Result<String, ApiError> {
    path.map(|Path(value)| value)
        .map_err(|rejection| ApiError::malformed(rejection.body_text()))
}

/// A 32-byte id in lowercase hex.
fn hex32(text: &str, what: &str) -> Result<[u8; 32], ApiError> {
    let mut bytes = [0_u8; 32];
    if text.len() != 64 || text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::malformed(format!(
            "{what} is not 64 lowercase hex digits"
        )));
    }
    hex::decode_to_slice(text, &mut bytes)
        .map_err(|_| ApiError::malformed(format!("{what} is not 64 lowercase hex digits")))?;
    Ok(bytes)
}

/// Standard base64 with padding.
fn unbase64(text: &str, what: &str) -> Result<Vec<u8>, ApiError> {
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .map_err(|_| ApiError::malformed(format!("{what} is not standard base64")))
}

fn base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Runs CPU-heavy verification off the request threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| ApiError::internal(format!("verification task: {error}")))?
}

fn unexpected() -> ApiError {
    ApiError::internal("unexpected outcome of a database operation")
}

async fn health(State(state): State<Arc<AppState>>) -> Result<Json<serde_json::Value>, ApiError> {
    state.db.health().await?;
    Ok(Json(json!({"status": "ok"})))
}

#[derive(Deserialize)]
struct CardBody {
    card: String,
}

async fn put_card(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<CardBody>,
) -> Result<Response, ApiError> {
    let bytes = unbase64(&body.card, "card")?;
    let card = Card::from_bytes(&bytes).map_err(ApiError::invalid_card)?;
    if card.identity() != subject {
        return Err(ApiError::not_owner());
    }
    if let Some(keys) = &state.required_app_keys {
        card.verify_app_signature(keys)
            .map_err(ApiError::app_signature_required)?;
    }
    let fingerprint = card.fingerprint().to_string();
    let Outcome::Created(created) = state.db.run(Op::PutCard(PutCard { card })).await? else {
        return Err(unexpected());
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"fingerprint": fingerprint})).into_response(),
    )
        .into_response())
}

#[derive(Deserialize)]
struct NameQuery {
    name: String,
}

/// A name to look up, refused if it holds a NUL: no card can carry one (identity names
/// have no control characters), and PostgreSQL's text cannot, so that the two databases
/// would answer differently (an empty list and a 500). Refused too when longer than any
/// card's name may be, which also bounds what a claim by name keys its limit with.
fn looked_up_name(name: String) -> Result<String, ApiError> {
    if name.contains('\0') {
        return Err(ApiError::malformed("a name cannot contain a NUL character"));
    }
    if name.len() > MAX_IDENTITY_NAME_LEN {
        return Err(ApiError::malformed("a name is at most 256 bytes long"));
    }
    Ok(name)
}

async fn cards_by_name(
    _: Subject,
    State(state): State<Arc<AppState>>,
    query: Result<Query<NameQuery>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let Query(query) = query.map_err(|rejection| ApiError::malformed(rejection.body_text()))?;
    let name = looked_up_name(query.name)?;
    let Outcome::Cards(cards) = state.db.run(Op::CardsByName(name)).await? else {
        return Err(unexpected());
    };
    let cards: Vec<String> = cards.iter().map(|card| base64(card)).collect();
    Ok(Json(json!({"cards": cards})))
}

async fn card_by_fingerprint(
    _: Subject,
    State(state): State<Arc<AppState>>,
    fingerprint: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fingerprint = hex32(&path(fingerprint)?, "the fingerprint")?;
    match state.db.run(Op::CardByFingerprint(fingerprint)).await? {
        Outcome::Card(Some((card, replaced))) => {
            Ok(Json(json!({"card": base64(&card), "replaced": replaced})))
        }
        Outcome::Card(None) => Err(ApiError::not_found("no card with that fingerprint")),
        _ => Err(unexpected()),
    }
}

async fn card_by_signing_key(
    _: Subject,
    State(state): State<Arc<AppState>>,
    key: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let key = hex32(&path(key)?, "the signing key")?;
    match state.db.run(Op::CardBySigningKey(key)).await? {
        Outcome::Bundle(Some(card)) => Ok(Json(json!({"card": base64(&card)}))),
        Outcome::Bundle(None) => Err(ApiError::not_found("no card with that signing key")),
        _ => Err(unexpected()),
    }
}

#[derive(Deserialize)]
struct BundlesBody {
    bundles: Vec<String>,
    #[serde(default)]
    replace: bool,
}

async fn publish_bundles(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    fingerprint: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<BundlesBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fingerprint = hex32(&path(fingerprint)?, "the fingerprint")?;
    if body.bundles.len() > MAX_BUNDLES_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "at most {MAX_BUNDLES_PER_REQUEST} bundles in one request"
        )));
    }
    let encoded = body
        .bundles
        .iter()
        .map(|text| unbase64(text, "a bundle"))
        .collect::<Result<Vec<_>, _>>()?;
    let bundles = blocking(move || {
        encoded
            .iter()
            .map(|bytes| Incoming::parse(bytes, &fingerprint))
            .collect::<Result<Vec<_>, _>>()
    })
    .await?;
    let publish = bundles::Publish {
        fingerprint,
        subject,
        bundles,
        replace: body.replace,
    };
    let Outcome::Count(count) = state.db.run(Op::PublishBundles(publish)).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({"one_time": count})))
}

#[derive(Deserialize)]
struct RemoveBody {
    one_time_prekey_ids: Vec<u32>,
}

async fn remove_bundles(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    fingerprint: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<RemoveBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fingerprint = hex32(&path(fingerprint)?, "the fingerprint")?;
    if body.one_time_prekey_ids.len() > MAX_BUNDLES_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "at most {MAX_BUNDLES_PER_REQUEST} ids in one request"
        )));
    }
    let remove = bundles::Remove {
        fingerprint,
        subject,
        ids: body.one_time_prekey_ids.into_iter().collect(),
    };
    let Outcome::Count(removed) = state.db.run(Op::RemoveBundles(remove)).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({"removed": removed})))
}

async fn count_bundles(
    _: Subject,
    State(state): State<Arc<AppState>>,
    fingerprint: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fingerprint = hex32(&path(fingerprint)?, "the fingerprint")?;
    let Outcome::Count(count) = state.db.run(Op::CountBundles(fingerprint)).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({"one_time": count})))
}

/// The empty body of a claim: any JSON object.
type Empty = serde_json::Map<String, serde_json::Value>;

/// Whether `subject` may take one more one-time bundle of `target` now (bundles.rs,
/// `ClaimLimit`). The bucket's key is a keyed 64-bit hash of the pair, so that every
/// bucket costs the same whatever the names (a collision, which the random key keeps
/// out of anyone's reach, would only share a bucket).
fn may_claim_one_time(state: &AppState, subject: &str, target: &str) -> bool {
    let key = state.claim_keys.hash_one((subject, target));
    state.claims.take(&format!("{key:016x}")).is_ok()
}

async fn claim_card(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    fingerprint: Result<Path<String>, PathRejection>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let fingerprint = hex32(&path(fingerprint)?, "the fingerprint")?;
    let one_time = may_claim_one_time(&state, &subject, &hex::encode(fingerprint));
    let claim = Op::ClaimCard(fingerprint, one_time);
    let Outcome::Bundle(bundle) = state.db.run(claim).await? else {
        return Err(unexpected());
    };
    Ok(Json(
        json!({"bundle": bundle.map(|bundle| base64(&bundle))}),
    ))
}

async fn claim_user(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    name: Result<Path<String>, PathRejection>,
    JsonBody(_): JsonBody<Empty>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let name = looked_up_name(path(name)?)?;
    let one_time = may_claim_one_time(&state, &subject, &name);
    let Outcome::Bundles(bundles) = state.db.run(Op::ClaimUser(name, one_time)).await? else {
        return Err(unexpected());
    };
    let bundles: Vec<String> = bundles.iter().map(|bundle| base64(bundle)).collect();
    Ok(Json(json!({"bundles": bundles})))
}

#[derive(Deserialize)]
struct ListBody {
    list: String,
}

async fn put_device_list(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    JsonBody(body): JsonBody<ListBody>,
) -> Result<Response, ApiError> {
    let bytes = unbase64(&body.list, "list")?;
    let list = blocking(move || {
        DeviceList::from_bytes(&bytes)
            .map_err(|error| ApiError::invalid_device_list(error.to_string()))
    })
    .await?;
    if list.account().identity() != subject {
        return Err(ApiError::not_owner());
    }
    let account = list.account_id().to_string();
    let version = list.version();
    let Outcome::Created(created) = state.db.run(Op::PutDeviceList(PutList { list })).await? else {
        return Err(unexpected());
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(json!({"account": account, "version": version})),
    )
        .into_response())
}

async fn get_device_list(
    _: Subject,
    State(state): State<Arc<AppState>>,
    account: Result<Path<String>, PathRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let account = hex32(&path(account)?, "the account id")?;
    match state.db.run(Op::GetDeviceList(account)).await? {
        Outcome::List(Some(list)) => Ok(Json(json!({"list": base64(&list)}))),
        Outcome::List(None) => Err(ApiError::not_found("no device list for that account")),
        _ => Err(unexpected()),
    }
}

#[derive(Deserialize)]
struct EnvelopesBody {
    envelopes: Vec<String>,
}

async fn deposit(
    Subject(sender): Subject,
    State(state): State<Arc<AppState>>,
    device: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<EnvelopesBody>,
) -> Result<Response, ApiError> {
    let device = hex32(&path(device)?, "the device id")?;
    if body.envelopes.len() > MAX_ENVELOPES_PER_REQUEST {
        return Err(ApiError::too_large(format!(
            "at most {MAX_ENVELOPES_PER_REQUEST} envelopes in one request"
        )));
    }
    let mut envelopes = Vec::with_capacity(body.envelopes.len());
    for text in &body.envelopes {
        let envelope = unbase64(text, "an envelope")?;
        if envelope.is_empty() {
            return Err(ApiError::malformed("an envelope is empty"));
        }
        if envelope.len() > ratchetkit::client::MAX_ENVELOPE_LEN {
            return Err(ApiError::too_large(format!(
                "an envelope is larger than {} bytes",
                ratchetkit::client::MAX_ENVELOPE_LEN
            )));
        }
        envelopes.push(envelope);
    }
    let deposit = mailbox::Deposit {
        device,
        sender,
        envelopes,
        now: now_secs(),
    };
    let Outcome::Ids(ids) = state.db.run(Op::Deposit(deposit)).await? else {
        return Err(unexpected());
    };
    Ok((StatusCode::ACCEPTED, Json(json!({"ids": ids}))).into_response())
}

async fn fetch(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    device: Result<Path<String>, PathRejection>,
    query: Result<Query<HashMap<String, String>>, QueryRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let device = hex32(&path(device)?, "the device id")?;
    let Query(query) = query.map_err(|rejection| ApiError::malformed(rejection.body_text()))?;
    let number = |name: &str, default: u64| -> Result<u64, ApiError> {
        query.get(name).map_or(Ok(default), |text| {
            text.parse()
                .map_err(|_| ApiError::malformed(format!("{name} is not a whole number")))
        })
    };
    let after = number("after", 0)?;
    let limit = number("limit", MAX_FETCH_ENVELOPES as u64)?;
    let limit = usize::try_from(limit)
        .unwrap_or(MAX_FETCH_ENVELOPES)
        .min(MAX_FETCH_ENVELOPES);
    let fetch = mailbox::Fetch {
        device,
        subject,
        after,
        limit,
    };
    let Outcome::Envelopes(envelopes) = state.db.run(Op::Fetch(fetch)).await? else {
        return Err(unexpected());
    };
    let envelopes: Vec<serde_json::Value> = envelopes
        .iter()
        .map(|(id, envelope)| json!({"id": id, "envelope": base64(envelope)}))
        .collect();
    Ok(Json(json!({"envelopes": envelopes})))
}

#[derive(Deserialize)]
struct AckBody {
    ids: Vec<u64>,
}

async fn ack(
    Subject(subject): Subject,
    State(state): State<Arc<AppState>>,
    device: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody<AckBody>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let device = hex32(&path(device)?, "the device id")?;
    if body.ids.len() > MAX_ACK_IDS {
        return Err(ApiError::too_large(format!(
            "at most {MAX_ACK_IDS} ids in one acknowledgement"
        )));
    }
    let ids: BTreeSet<u64> = body.ids.into_iter().collect();
    let ack = mailbox::Ack {
        device,
        subject,
        ids,
    };
    let Outcome::Count(deleted) = state.db.run(Op::Ack(ack)).await? else {
        return Err(unexpected());
    };
    Ok(Json(json!({"deleted": deleted})))
}
