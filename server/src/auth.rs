//! Access tokens and per-subject rate limits.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use ratchetkit::token::{TokenError, TokenVerifier};

use crate::api::AppState;
use crate::error::ApiError;

/// Requests per second a token subject may make, sustained: 20, more than any client's
/// work (a chat app's polling, upkeep and sends) and little enough that one user cannot
/// take a large share of a small server.
pub const RATE_LIMIT_PER_SEC: u32 = 20;

/// Requests a token subject may make at once before the sustained rate applies: 200, so
/// that an app starting up (publishing cards and a thousand bundles, fetching mailboxes,
/// claiming bundles for every peer) is not slowed.
pub const RATE_LIMIT_BURST: u32 = 200;

/// Buckets a limiter remembers: 100,000, a few MB (keys are at most a few hundred bytes).
/// Past it the full buckets (idle subjects, which have nothing to remember) are forgotten,
/// at most once a second, since that scans them all; a key that still finds no room is
/// refused for now, as if its bucket were empty: under that much load, shedding new
/// requesters is what keeps the server up.
pub const MAX_RATE_LIMITED_SUBJECTS: usize = 100_000;

/// The shortest time between two scans for full buckets: 1 s.
const PURGE_INTERVAL: Duration = Duration::from_secs(1);

/// A token-bucket rate: `per_second` sustained, `burst` at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Tokens added per second.
    pub per_second: u32,
    /// The bucket's size.
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        Self {
            per_second: RATE_LIMIT_PER_SEC,
            burst: RATE_LIMIT_BURST,
        }
    }
}

/// One subject's bucket.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets by subject (or by any key: the claims of one subject from one target).
#[derive(Debug)]
pub(crate) struct RateLimiter {
    /// Tokens added per second.
    rate: f64,
    /// The bucket's size.
    burst: f64,
    buckets: Mutex<Buckets>,
}

/// The buckets, and when full ones were last forgotten.
#[derive(Debug)]
struct Buckets {
    by_key: HashMap<String, Bucket>,
    purged: Option<Instant>,
}

impl RateLimiter {
    pub(crate) fn new(limit: RateLimit) -> Self {
        Self::refilling(limit.burst, 1.0 / f64::from(limit.per_second.max(1)))
    }

    /// Buckets of `burst` tokens, one more every `every_secs` seconds.
    pub(crate) fn refilling(burst: u32, every_secs: f64) -> Self {
        Self {
            rate: 1.0 / every_secs.max(1e-6),
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(Buckets {
                by_key: HashMap::new(),
                purged: None,
            }),
        }
    }

    /// Takes a token from `subject`'s bucket, or says in how many seconds one is there.
    pub(crate) fn take(&self, subject: &str) -> Result<(), u64> {
        let now = Instant::now();
        let (burst, rate) = (self.burst, self.rate);
        let mut guard = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let Buckets { by_key, purged } = &mut *guard;
        if by_key.len() >= MAX_RATE_LIMITED_SUBJECTS && !by_key.contains_key(subject) {
            if purged.is_none_or(|at| now.duration_since(at) >= PURGE_INTERVAL) {
                // A full bucket is the state of a subject never seen: forgetting it loses
                // nothing.
                by_key.retain(|_, bucket| {
                    let elapsed = now.duration_since(bucket.updated).as_secs_f64();
                    bucket.tokens + elapsed * rate < burst
                });
                *purged = Some(now);
            }
            if by_key.len() >= MAX_RATE_LIMITED_SUBJECTS {
                return Err(PURGE_INTERVAL.as_secs());
            }
        }
        let bucket = by_key.entry(subject.to_owned()).or_insert(Bucket {
            tokens: burst,
            updated: now,
        });
        let elapsed = now.duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = ((1.0 - bucket.tokens) / rate).ceil();
            // At least one second: Retry-After counts whole seconds.
            Err(if wait >= 1.0 { wait as u64 } else { 1 })
        }
    }
}

/// The subject of a verified token (the identity name its holder may act for), after the
/// rate limit: what every `/v1` handler takes first.
#[derive(Debug, Clone)]
pub struct Subject(pub String);

/// The 401 a token error is answered with (docs/SERVER.md).
pub(crate) fn token_error(error: TokenError) -> ApiError {
    let code = match error {
        TokenError::Expired => "expired_token",
        TokenError::WrongIssuer => "wrong_issuer",
        TokenError::UnknownKey => "unknown_key",
        _ => "invalid_token",
    };
    ApiError::unauthorized(code, error.to_string())
}

/// Seconds since the Unix epoch.
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

impl FromRequestParts<Arc<AppState>> for Subject {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing_token",
                "no Authorization: Bearer token",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("invalid_token", "the Authorization header is not Bearer")
            })?;
        let claims = state
            .verifier
            .verify(token, now_secs())
            .map_err(token_error)?;
        state
            .limiter
            .take(&claims.subject)
            .map_err(ApiError::rate_limited)?;
        Ok(Subject(claims.subject))
    }
}

/// The verifier for `issuer` trusting `keys`.
pub(crate) fn verifier(issuer: &str, keys: &[(String, ratchetkit::AppPublicKey)]) -> TokenVerifier {
    let mut verifier = TokenVerifier::new(issuer);
    for (kid, key) in keys {
        verifier.trust(kid.clone(), *key);
    }
    verifier
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full of drained buckets (a caller naming ever new keys), the limiter stays at its
    /// size and refuses new keys rather than growing.
    #[test]
    fn a_limiter_full_of_drained_buckets_refuses_new_keys_and_stays_bounded() {
        let limiter = RateLimiter::refilling(1, 3600.0);
        for i in 0..MAX_RATE_LIMITED_SUBJECTS {
            assert_eq!(limiter.take(&i.to_string()), Ok(()));
        }
        assert_eq!(limiter.take("one more"), Err(1));
        assert_eq!(limiter.take("and another"), Err(1));
        let held = limiter
            .buckets
            .lock()
            .map(|buckets| buckets.by_key.len())
            .unwrap_or_default();
        assert_eq!(held, MAX_RATE_LIMITED_SUBJECTS);
        // A key already held keeps its own bucket: drained, so it waits its turn.
        assert!(matches!(limiter.take("7"), Err(wait) if wait > 1));
    }

    /// Full of idle buckets, the limiter forgets them and takes new keys.
    #[test]
    fn a_limiter_full_of_idle_buckets_forgets_them() {
        let limiter = RateLimiter::refilling(2, 1e-3);
        for i in 0..MAX_RATE_LIMITED_SUBJECTS {
            assert_eq!(limiter.take(&i.to_string()), Ok(()));
        }
        // One token back in a millisecond: every bucket is full again.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(limiter.take("new"), Ok(()));
    }
}
