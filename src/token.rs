//! Access tokens for a directory server: the JWTs (RFC 7519) an app's backend gives each
//! signed-in user, signed with EdDSA (Ed25519, RFC 8037) by the app's [`AppKey`].
//!
//! The backend knows who the user is (its own sign-in) and says so in a short-lived token;
//! the directory server (such as `ratchetkit-server`) trusts the app's public key and lets
//! the token's subject publish only cards under its own name and read only its own
//! devices' mailboxes. The tokens are standard compact JWS: any JWT library that supports
//! EdDSA reads them, and [`TokenVerifier`] reads only what [`issue`] makes or what is
//! equivalent to it (algorithm `EdDSA`, the four claims below).
//!
//! ```
//! use ratchetkit::token::{issue, TokenClaims, TokenVerifier, TokenError};
//! use ratchetkit::AppKey;
//! # let mut rng = rand::rng();
//! let app = AppKey::generate(&mut rng);
//! let now = 1_800_000_000;
//!
//! // The app's backend, once the user has signed in as "alice":
//! let token = issue(&app, "2026-12", &TokenClaims::new("chat.example", "alice", now))?;
//!
//! // The directory server:
//! let mut verifier = TokenVerifier::new("chat.example");
//! verifier.trust("2026-12", app.public());
//! assert_eq!(verifier.verify(&token, now + 60)?.subject, "alice");
//! assert_eq!(verifier.verify(&token, now + 3600), Err(TokenError::Expired));
//! # Ok::<(), TokenError>(())
//! ```
//!
//! A token is a bearer credential: anyone holding it is its subject until it expires, so
//! send it only over TLS (or loopback), keep it out of logs, and keep lifetimes short.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ed25519_dalek::Signer;
use serde::{Deserialize, Serialize};

use crate::crypto::signature;
use crate::identity::{check_name, AppKey, AppPublicKey};

/// The longest lifetime (`exp - iat`) a token may have, and the one [`TokenClaims::new`]
/// gives: 3,600 seconds (1 hour). A stolen token is good until it expires, and nothing
/// revokes it sooner; an hour bounds that window while sparing the backend from signing
/// a token per request.
pub const MAX_TOKEN_TTL_SECS: u64 = 3_600;

/// How far (60 seconds) a token's `iat` may lie in the verifier's future, for clocks that
/// differ between the backend and the server. Expiry gets no such leeway: a token is
/// refused from its `exp` on.
pub const TOKEN_CLOCK_LEEWAY_SECS: u64 = 60;

/// The longest token text verified: 2,048 bytes. A token of [`issue`] is about 300 bytes
/// plus the issuer, key id and subject; the limit is checked before anything is decoded,
/// so that a huge header costs nothing.
pub const MAX_TOKEN_LEN: usize = 2_048;

/// The longest issuer (`iss`) or key id (`kid`): 256 bytes.
pub const MAX_TOKEN_FIELD_LEN: usize = 256;

/// The JWS algorithm name of Ed25519 (RFC 8037, section 3.1).
const ALGORITHM: &str = "EdDSA";

/// Why a token was refused (or could not be made). None of them carries the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// Longer than [`MAX_TOKEN_LEN`]: not a token of this format.
    #[error("the token is longer than {MAX_TOKEN_LEN} bytes")]
    TooLarge,
    /// Not a compact JWS of three base64url parts with a JSON header and claims of the
    /// expected fields and types, or a subject that is no valid identity name.
    #[error("the token is malformed")]
    Malformed,
    /// The header names an algorithm other than `EdDSA`, or critical extensions.
    #[error("the token's algorithm is not EdDSA")]
    UnsupportedAlgorithm,
    /// The header's `kid` names no key the verifier trusts.
    #[error("the token is signed with a key this verifier does not trust")]
    UnknownKey,
    /// The signature does not verify (strictly) under the named key.
    #[error("the token's signature does not verify")]
    BadSignature,
    /// The `iss` claim is not the verifier's issuer.
    #[error("the token is from another issuer")]
    WrongIssuer,
    /// The token's `exp` has passed: ask the backend for a new token.
    #[error("the token has expired; get a new one")]
    Expired,
    /// The token's `iat` is more than [`TOKEN_CLOCK_LEEWAY_SECS`] in the future: a clock
    /// is wrong.
    #[error("the token is issued in the future; check the clocks")]
    NotYetValid,
    /// `exp` is not after `iat`, or more than [`MAX_TOKEN_TTL_SECS`] after it.
    #[error("the token's lifetime is not between 1 and {MAX_TOKEN_TTL_SECS} seconds")]
    LifetimeTooLong,
}

/// What a token says: who issued it, for whom, and when it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenClaims {
    /// `iss`: the app backend that issued it.
    #[serde(rename = "iss")]
    pub issuer: String,
    /// `sub`: the identity name of the user the backend signed in (the name on the
    /// user's cards).
    #[serde(rename = "sub")]
    pub subject: String,
    /// `iat`: when it was issued, in seconds since the Unix epoch.
    #[serde(rename = "iat")]
    pub issued_at: u64,
    /// `exp`: from when it is refused, in seconds since the Unix epoch.
    #[serde(rename = "exp")]
    pub expires_at: u64,
}

impl TokenClaims {
    /// Claims issued at `now` (seconds since the Unix epoch) that expire
    /// [`MAX_TOKEN_TTL_SECS`] later.
    pub fn new(issuer: impl Into<String>, subject: impl Into<String>, now: u64) -> Self {
        Self {
            issuer: issuer.into(),
            subject: subject.into(),
            issued_at: now,
            expires_at: now.saturating_add(MAX_TOKEN_TTL_SECS),
        }
    }

    /// The checks [`issue`] and [`TokenVerifier::verify`] share: fields a verifier accepts.
    fn check(&self) -> Result<(), TokenError> {
        if self.issuer.is_empty() || self.issuer.len() > MAX_TOKEN_FIELD_LEN {
            return Err(TokenError::Malformed);
        }
        check_name(&self.subject).map_err(|_| TokenError::Malformed)?;
        match self.expires_at.checked_sub(self.issued_at) {
            Some(lifetime) if lifetime > 0 && lifetime <= MAX_TOKEN_TTL_SECS => Ok(()),
            _ => Err(TokenError::LifetimeTooLong),
        }
    }
}

/// The JOSE header. Unknown members are refused, `crit` among them (RFC 7515, 4.1.11:
/// a verifier must refuse critical extensions it does not understand).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header<'a> {
    alg: &'a str,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    typ: Option<&'a str>,
    kid: &'a str,
}

/// Signs `claims` with `app` as a compact JWS (`header.claims.signature`, base64url
/// without padding), naming the key `kid` so that the server can find it among the app
/// keys it trusts (and keys can be rotated).
///
/// # Errors
/// [`TokenError::Malformed`] for an empty or over-long issuer or key id or a subject that
/// is not a valid identity name, and [`TokenError::LifetimeTooLong`] for a lifetime
/// outside 1..=[`MAX_TOKEN_TTL_SECS`]: tokens a verifier would refuse are not made.
pub fn issue(app: &AppKey, kid: &str, claims: &TokenClaims) -> Result<String, TokenError> {
    if kid.is_empty() || kid.len() > MAX_TOKEN_FIELD_LEN {
        return Err(TokenError::Malformed);
    }
    claims.check()?;
    let header = Header {
        alg: ALGORITHM,
        typ: Some("JWT"),
        kid,
    };
    // Serializing these structs cannot fail (string and integer fields only).
    let header = serde_json::to_vec(&header).map_err(|_| TokenError::Malformed)?;
    let body = serde_json::to_vec(claims).map_err(|_| TokenError::Malformed)?;
    let mut token = URL_SAFE_NO_PAD.encode(header);
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(body));
    let signature = app.signing_key().sign(token.as_bytes());
    token.push('.');
    token.push_str(&URL_SAFE_NO_PAD.encode(signature.to_bytes()));
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenError::TooLarge);
    }
    Ok(token)
}

/// Checks tokens: for one issuer, against the app keys it trusts by key id.
///
/// ```
/// use ratchetkit::token::{issue, TokenClaims, TokenError, TokenVerifier};
/// use ratchetkit::AppKey;
/// # let mut rng = rand::rng();
/// let (old, new) = (AppKey::generate(&mut rng), AppKey::generate(&mut rng));
/// let mut verifier = TokenVerifier::new("chat.example");
/// verifier.trust("old", old.public()).trust("new", new.public());
///
/// let claims = TokenClaims::new("chat.example", "bob", 1_800_000_000);
/// let token = issue(&new, "new", &claims)?;
/// assert_eq!(verifier.verify(&token, 1_800_000_010)?, claims);
///
/// // Signed by one key but naming another: refused.
/// let forged = issue(&new, "old", &claims)?;
/// assert_eq!(verifier.verify(&forged, 1_800_000_010), Err(TokenError::BadSignature));
/// # Ok::<(), TokenError>(())
/// ```
#[derive(Clone)]
pub struct TokenVerifier {
    issuer: String,
    keys: HashMap<String, AppPublicKey>,
}

impl core::fmt::Debug for TokenVerifier {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("TokenVerifier")
            .field("issuer", &self.issuer)
            .field("kids", &kids)
            .finish()
    }
}

impl TokenVerifier {
    /// A verifier that accepts tokens of `issuer` only, and trusts no key yet.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            keys: HashMap::new(),
        }
    }

    /// Trusts `key` for tokens whose header names `kid` (replacing any key of that id).
    pub fn trust(&mut self, kid: impl Into<String>, key: AppPublicKey) -> &mut Self {
        self.keys.insert(kid.into(), key);
        self
    }

    /// The issuer this verifier accepts.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// Verifies `token` at `now` (seconds since the Unix epoch) and returns its claims.
    ///
    /// In order: the length, the shape and header, the key, the strict Ed25519
    /// signature over the first two parts, then the claims (issuer, subject, lifetime,
    /// issue and expiry times). Nothing of the claims is read before the signature
    /// verifies.
    ///
    /// # Errors
    /// Every [`TokenError`] but none with the token in it; [`TokenError::Expired`] is the
    /// one to answer by getting a new token.
    pub fn verify(&self, token: &str, now: u64) -> Result<TokenClaims, TokenError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(TokenError::TooLarge);
        }
        let mut parts = token.split('.');
        let (Some(header_b64), Some(claims_b64), Some(signature_b64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let header_json = decode(header_b64)?;
        let header: Header<'_> =
            serde_json::from_slice(&header_json).map_err(|_| TokenError::Malformed)?;
        if header.alg != ALGORITHM {
            return Err(TokenError::UnsupportedAlgorithm);
        }
        if header.typ.is_some_and(|typ| typ != "JWT") {
            return Err(TokenError::Malformed);
        }
        let key = self.keys.get(header.kid).ok_or(TokenError::UnknownKey)?;
        let signed_len = header_b64.len() + 1 + claims_b64.len();
        let signed = token.get(..signed_len).ok_or(TokenError::Malformed)?;
        let signature_bytes = decode(signature_b64)?;
        signature::verify(
            key.verifying_key(),
            &[],
            &[signed.as_bytes()],
            &signature_bytes,
            "token",
        )
        .map_err(|_| TokenError::BadSignature)?;

        let claims: TokenClaims =
            serde_json::from_slice(&decode(claims_b64)?).map_err(|_| TokenError::Malformed)?;
        if claims.issuer != self.issuer {
            return Err(TokenError::WrongIssuer);
        }
        claims.check()?;
        if claims.issued_at > now.saturating_add(TOKEN_CLOCK_LEEWAY_SECS) {
            return Err(TokenError::NotYetValid);
        }
        if now >= claims.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

/// base64url without padding, strictly (RFC 7515 section 2: no padding, no whitespace).
fn decode(part: &str) -> Result<Vec<u8>, TokenError> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| TokenError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn setup() -> (AppKey, TokenVerifier) {
        let app = AppKey::from_bytes(&[7; 32]);
        let mut verifier = TokenVerifier::new("iss");
        verifier.trust("k", app.public());
        (app, verifier)
    }

    fn part(token: &str, index: usize) -> &str {
        token.split('.').nth(index).unwrap_or_default()
    }

    /// A token with these raw header and claims JSON, signed properly by `app`.
    fn signed(app: &AppKey, header: &str, claims: &str) -> String {
        let mut token = URL_SAFE_NO_PAD.encode(header);
        token.push('.');
        token.push_str(&URL_SAFE_NO_PAD.encode(claims));
        let signature = app.signing_key().sign(token.as_bytes());
        format!("{token}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let (app, verifier) = setup();
        let claims = TokenClaims::new("iss", "alice", NOW);
        let token = issue(&app, "k", &claims).unwrap();
        assert_eq!(verifier.verify(&token, NOW), Ok(claims.clone()));
        assert_eq!(
            verifier.verify(&token, NOW + MAX_TOKEN_TTL_SECS - 1),
            Ok(claims)
        );
        assert_eq!(
            verifier.verify(&token, NOW + MAX_TOKEN_TTL_SECS),
            Err(TokenError::Expired)
        );
        assert_eq!(
            verifier.verify(&token, NOW - TOKEN_CLOCK_LEEWAY_SECS),
            Ok(TokenClaims::new("iss", "alice", NOW))
        );
        assert_eq!(
            verifier.verify(&token, NOW - TOKEN_CLOCK_LEEWAY_SECS - 1),
            Err(TokenError::NotYetValid)
        );
    }

    #[test]
    fn the_header_is_standard_jose() {
        let (app, _) = setup();
        let token = issue(&app, "k", &TokenClaims::new("iss", "alice", NOW)).unwrap();
        let header = URL_SAFE_NO_PAD.decode(part(&token, 0)).unwrap();
        assert_eq!(header, br#"{"alg":"EdDSA","typ":"JWT","kid":"k"}"#);
        let claims = URL_SAFE_NO_PAD.decode(part(&token, 1)).unwrap();
        assert_eq!(
            claims,
            br#"{"iss":"iss","sub":"alice","iat":1800000000,"exp":1800003600}"#
        );
    }

    #[test]
    fn every_byte_of_a_token_matters() {
        let (app, verifier) = setup();
        let token = issue(&app, "k", &TokenClaims::new("iss", "alice", NOW)).unwrap();
        for index in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[index] = if bytes[index] == b'A' { b'B' } else { b'A' };
            let Ok(changed) = String::from_utf8(bytes) else {
                continue;
            };
            // The last character of a part may carry unused bits that base64url ignores
            // only when decoding is lenient; this engine refuses non-canonical ones.
            assert!(verifier.verify(&changed, NOW).is_err(), "byte {index}");
        }
    }

    #[test]
    fn other_keys_issuers_and_algorithms_are_refused() {
        let (app, verifier) = setup();
        let claims = TokenClaims::new("iss", "alice", NOW);
        let other = AppKey::from_bytes(&[8; 32]);
        let forged = issue(&other, "k", &claims).unwrap();
        assert_eq!(verifier.verify(&forged, NOW), Err(TokenError::BadSignature));
        let unknown = issue(&app, "other", &claims).unwrap();
        assert_eq!(verifier.verify(&unknown, NOW), Err(TokenError::UnknownKey));
        let elsewhere = issue(&app, "k", &TokenClaims::new("elsewhere", "alice", NOW)).unwrap();
        assert_eq!(
            verifier.verify(&elsewhere, NOW),
            Err(TokenError::WrongIssuer)
        );

        let body = r#"{"iss":"iss","sub":"alice","iat":1800000000,"exp":1800000060}"#;
        let none = signed(&app, r#"{"alg":"none","kid":"k"}"#, body);
        assert_eq!(
            verifier.verify(&none, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let hs = signed(&app, r#"{"alg":"HS256","kid":"k"}"#, body);
        assert_eq!(
            verifier.verify(&hs, NOW),
            Err(TokenError::UnsupportedAlgorithm)
        );
        let crit = signed(&app, r#"{"alg":"EdDSA","kid":"k","crit":["x"]}"#, body);
        assert_eq!(verifier.verify(&crit, NOW), Err(TokenError::Malformed));
        let unsigned = format!("{}.{}.", part(&none, 0), part(&none, 1));
        assert!(verifier.verify(&unsigned, NOW).is_err());
        assert_eq!(
            verifier.verify(&signed(&app, r#"{"alg":"EdDSA","kid":"k"}"#, body), NOW),
            Ok(TokenClaims {
                issuer: "iss".into(),
                subject: "alice".into(),
                issued_at: NOW,
                expires_at: NOW + 60
            })
        );
    }

    #[test]
    fn claims_outside_the_rules_are_refused() {
        let (app, verifier) = setup();
        let header = r#"{"alg":"EdDSA","kid":"k"}"#;
        for (claims, error) in [
            (
                r#"{"iss":"iss","sub":"alice","iat":1800000000,"exp":1800003601}"#,
                TokenError::LifetimeTooLong,
            ),
            (
                r#"{"iss":"iss","sub":"alice","iat":1800000000,"exp":1800000000}"#,
                TokenError::LifetimeTooLong,
            ),
            (
                r#"{"iss":"iss","sub":"alice","iat":1800000000,"exp":1700000000}"#,
                TokenError::LifetimeTooLong,
            ),
            (
                r#"{"iss":"iss","sub":"","iat":1800000000,"exp":1800000060}"#,
                TokenError::Malformed,
            ),
            (
                r#"{"iss":"iss","sub":"a\u001b[2Jb","iat":1800000000,"exp":1800000060}"#,
                TokenError::Malformed,
            ),
            (
                r#"{"iss":"iss","sub":"alice","iat":"1800000000","exp":1800000060}"#,
                TokenError::Malformed,
            ),
            (
                r#"{"iss":"iss","sub":"alice","iat":1800000000}"#,
                TokenError::Malformed,
            ),
            (r#"[]"#, TokenError::Malformed),
        ] {
            assert_eq!(
                verifier.verify(&signed(&app, header, claims), NOW),
                Err(error),
                "{claims}"
            );
        }
        assert_eq!(
            issue(&app, "k", &TokenClaims::new("iss", "", NOW)),
            Err(TokenError::Malformed)
        );
        let mut long = TokenClaims::new("iss", "alice", NOW);
        long.expires_at += 1;
        assert_eq!(issue(&app, "k", &long), Err(TokenError::LifetimeTooLong));
    }

    #[test]
    fn garbage_is_refused_without_panicking() {
        let (_, verifier) = setup();
        for token in [
            "",
            ".",
            "..",
            "...",
            "a.b.c",
            "a.b.c.d",
            "eyJ.eyJ.",
            "\u{e9}.\u{e9}.\u{e9}",
            "e30.e30.AA",
        ] {
            assert!(verifier.verify(token, NOW).is_err(), "{token:?}");
        }
        let huge = "a".repeat(MAX_TOKEN_LEN + 1);
        assert_eq!(verifier.verify(&huge, NOW), Err(TokenError::TooLarge));
    }

    #[test]
    fn debug_shows_no_keys() {
        let (_, verifier) = setup();
        assert_eq!(
            format!("{verifier:?}"),
            r#"TokenVerifier { issuer: "iss", kids: ["k"] }"#
        );
    }
}
