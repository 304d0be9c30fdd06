//! [`CardDirectory`] over the server's cards and bundles.

use std::collections::BTreeSet;

use super::json::{self, base64, count, unbase64, unhex32};
use super::transport::{encode_component, Reply};
use super::{HttpDirectory, HttpError};
use crate::error::Error;
use crate::identity::{
    Card, CardDirectory, Fingerprint, Identity, PrekeyBundle, PrekeyStore, MAX_BUNDLE_LEN,
    MAX_CARD_LEN,
};

impl HttpDirectory {
    /// Publishes `bundles` for the card `fingerprint`, all in one request.
    fn post_bundles(
        &self,
        fingerprint: &Fingerprint,
        bundles: &[PrekeyBundle],
        replace: bool,
    ) -> Result<(), HttpError> {
        let body = json::BundlesBody {
            bundles: bundles.iter().map(|b| base64(&b.to_bytes())).collect(),
            replace,
        };
        let reply = self
            .transport
            .post(&format!("/v1/cards/{fingerprint}/bundles"), &body)?;
        let _: json::OneTime = card_reply(&reply, fingerprint)?;
        Ok(())
    }

    /// Every bundle of `store` for `identity`: one per one-time prekey, then the fallback.
    fn store_bundles(identity: &Identity, store: &PrekeyStore) -> Result<Vec<PrekeyBundle>, Error> {
        let mut bundles = store
            .one_time_prekey_ids()
            .into_iter()
            .map(|id| store.bundle(identity, Some(id)))
            .collect::<Result<Vec<_>, _>>()?;
        bundles.push(store.bundle(identity, None)?);
        Ok(bundles)
    }
}

/// The body of a reply about the card `fingerprint` as `T`, its 404 as
/// [`Error::UnknownCard`] and its `card_replaced` as [`Error::CardReplaced`], as
/// [`CardDirectory`] documents them.
fn card_reply<T: serde::de::DeserializeOwned>(
    reply: &Reply,
    fingerprint: &Fingerprint,
) -> Result<T, HttpError> {
    let fingerprint = *fingerprint;
    if reply.is_not_found() {
        return Err(Error::UnknownCard { fingerprint }.into());
    }
    if reply.is_conflict("card_replaced") {
        return Err(Error::CardReplaced { fingerprint }.into());
    }
    reply.json(&[200])
}

/// A card the server returned, verified.
fn card(text: &str) -> Result<Card, HttpError> {
    Ok(Card::from_bytes(&unbase64(text, MAX_CARD_LEN, "a card")?)?)
}

/// A bundle the server returned, verified.
fn bundle(text: &str) -> Result<PrekeyBundle, HttpError> {
    Ok(PrekeyBundle::from_bytes(&unbase64(
        text,
        MAX_BUNDLE_LEN,
        "a bundle",
    )?)?)
}

/// The card of `reply` (`{"card": B64}`), `None` for a 404.
fn found_card(reply: &Reply) -> Result<Option<Card>, HttpError> {
    if reply.is_not_found() {
        return Ok(None);
    }
    let body: json::OneCard = reply.json(&[200])?;
    card(&body.card).map(Some)
}

impl CardDirectory for HttpDirectory {
    type Error = HttpError;

    /// `PUT /v1/cards`. The token's subject must be the card's name.
    ///
    /// # Errors
    /// [`HttpError::Server`] with the server's reason (`bad_rotation` for a rotated card
    /// the server cannot chain, `not_owner`, the token errors); transport errors.
    fn publish(&mut self, card: Card) -> Result<(), HttpError> {
        let body = json::CardBody {
            card: card.to_base64(),
        };
        let reply = self.transport.put("/v1/cards", &body)?;
        let published: json::Published = reply.json(&[200, 201])?;
        if unhex32(&published.fingerprint, "the fingerprint")? != *card.fingerprint().as_bytes() {
            return Err(HttpError::malformed(
                "the server published the card under another fingerprint",
            ));
        }
        Ok(())
    }

    /// `POST /v1/cards/FINGERPRINT/bundles` with the one bundle.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] and [`Error::CardReplaced`] (in [`HttpError::Protocol`]);
    /// [`HttpError::Server`] for the rest (`stale_bundle`, `too_many`, `not_owner`, ...);
    /// transport errors.
    fn publish_bundle(&mut self, bundle: PrekeyBundle) -> Result<(), HttpError> {
        let fingerprint = bundle.card().fingerprint();
        self.post_bundles(&fingerprint, core::slice::from_ref(&bundle), false)
    }

    /// `GET /v1/cards?name=NAME`; each card is verified and must be named `identity`.
    fn find(&self, identity: &str) -> Result<Vec<Card>, HttpError> {
        let reply = self.transport.get(
            &format!("/v1/cards?name={}", encode_component(identity)),
            true,
        )?;
        if reply.is_not_found() {
            return Ok(Vec::new());
        }
        let body: json::Cards = reply.json(&[200])?;
        let cards = body
            .cards
            .iter()
            .map(|text| card(text))
            .collect::<Result<Vec<_>, _>>()?;
        if cards.iter().any(|card| card.identity() != identity) {
            return Err(HttpError::malformed("a card of another name"));
        }
        Ok(cards)
    }

    /// `GET /v1/cards/FINGERPRINT`; the card must have that fingerprint.
    fn find_by_fingerprint(&self, fingerprint: &Fingerprint) -> Result<Option<Card>, HttpError> {
        let reply = self
            .transport
            .get(&format!("/v1/cards/{fingerprint}"), true)?;
        let card = found_card(&reply)?;
        if card
            .as_ref()
            .is_some_and(|card| card.fingerprint() != *fingerprint)
        {
            return Err(HttpError::malformed("a card of another fingerprint"));
        }
        Ok(card)
    }

    /// `GET /v1/cards/by-signing-key/KEY`; the card must carry that key, so a card someone
    /// else published under the same name never answers.
    fn find_by_signing_key(&self, key: &[u8; 32]) -> Result<Option<Card>, HttpError> {
        let reply = self.transport.get(
            &format!("/v1/cards/by-signing-key/{}", hex::encode(key)),
            true,
        )?;
        let card = found_card(&reply)?;
        if card.as_ref().is_some_and(|card| card.signing_key() != *key) {
            return Err(HttpError::malformed("a card of another signing key"));
        }
        Ok(card)
    }

    /// `POST /v1/users/NAME/bundles/claim`; each bundle is verified, must be of a card
    /// named `identity`, and of a card no other bundle of the reply is of.
    fn find_bundles(&mut self, identity: &str) -> Result<Vec<PrekeyBundle>, HttpError> {
        let reply = self.transport.post(
            &format!("/v1/users/{}/bundles/claim", encode_component(identity)),
            &json::Empty {},
        )?;
        if reply.is_not_found() {
            return Ok(Vec::new());
        }
        let body: json::Bundles = reply.json(&[200])?;
        let bundles = body
            .bundles
            .iter()
            .map(|text| bundle(text))
            .collect::<Result<Vec<_>, _>>()?;
        let mut cards = BTreeSet::new();
        for bundle in &bundles {
            if bundle.card().identity() != identity {
                return Err(HttpError::malformed("a bundle of a card of another name"));
            }
            if !cards.insert(bundle.card().fingerprint()) {
                return Err(HttpError::malformed("two bundles of one card"));
            }
        }
        Ok(bundles)
    }

    /// `POST /v1/cards/FINGERPRINT/bundles/claim`; the bundle must be of that card.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] and [`Error::CardReplaced`] (in [`HttpError::Protocol`]),
    /// as the trait documents; transport and server errors.
    fn find_bundle(
        &mut self,
        fingerprint: &Fingerprint,
    ) -> Result<Option<PrekeyBundle>, HttpError> {
        let reply = self.transport.post(
            &format!("/v1/cards/{fingerprint}/bundles/claim"),
            &json::Empty {},
        )?;
        let body: json::MaybeBundle = card_reply(&reply, fingerprint)?;
        let Some(text) = body.bundle else {
            return Ok(None);
        };
        let bundle = bundle(&text)?;
        if bundle.card().fingerprint() != *fingerprint {
            return Err(HttpError::malformed("a bundle of another card"));
        }
        Ok(Some(bundle))
    }

    /// `GET /v1/cards/FINGERPRINT/bundles/count`.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] (in [`HttpError::Protocol`]); transport and server errors.
    fn one_time_prekey_count(&self, fingerprint: &Fingerprint) -> Result<usize, HttpError> {
        let reply = self
            .transport
            .get(&format!("/v1/cards/{fingerprint}/bundles/count"), true)?;
        let body: json::OneTime = card_reply(&reply, fingerprint)?;
        count(body.one_time, "the one-time bundle count")
    }

    /// All the store's bundles in one request, added to those held.
    ///
    /// # Errors
    /// As [`HttpDirectory::publish_bundle`](CardDirectory::publish_bundle).
    fn publish_prekeys(
        &mut self,
        identity: &Identity,
        store: &PrekeyStore,
    ) -> Result<(), HttpError> {
        let bundles = Self::store_bundles(identity, store)?;
        self.post_bundles(&identity.card().fingerprint(), &bundles, false)
    }

    /// All the store's bundles in one request with `"replace": true`.
    ///
    /// # Errors
    /// As [`HttpDirectory::publish_bundle`](CardDirectory::publish_bundle).
    fn replace_bundles(
        &mut self,
        identity: &Identity,
        store: &PrekeyStore,
    ) -> Result<(), HttpError> {
        let bundles = Self::store_bundles(identity, store)?;
        self.post_bundles(&identity.card().fingerprint(), &bundles, true)
    }

    /// `POST /v1/cards/FINGERPRINT/bundles/remove`.
    ///
    /// # Errors
    /// [`Error::UnknownCard`] (in [`HttpError::Protocol`]); transport and server errors.
    fn remove_one_time_bundles(
        &mut self,
        identity: &Identity,
        ids: &[u32],
    ) -> Result<usize, HttpError> {
        let fingerprint = identity.card().fingerprint();
        let reply = self.transport.post(
            &format!("/v1/cards/{fingerprint}/bundles/remove"),
            &json::RemoveBody {
                one_time_prekey_ids: ids,
            },
        )?;
        let body: json::Removed = card_reply(&reply, &fingerprint)?;
        count(body.removed, "the removed count")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, body: &str) -> Reply {
        Reply {
            status,
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    #[test]
    fn card_replies_map_to_the_trait_errors() {
        let fingerprint = Fingerprint::from_bytes([7; 32]);
        let gone = reply(404, r#"{"error":"not_found","message":"no"}"#);
        assert!(matches!(
            card_reply::<json::OneTime>(&gone, &fingerprint),
            Err(HttpError::Protocol(Error::UnknownCard { .. }))
        ));
        let replaced = reply(409, r#"{"error":"card_replaced","message":"no"}"#);
        assert!(matches!(
            card_reply::<json::OneTime>(&replaced, &fingerprint),
            Err(HttpError::Protocol(Error::CardReplaced { .. }))
        ));
        let stale = reply(409, r#"{"error":"stale_bundle","message":"no"}"#);
        assert!(matches!(
            card_reply::<json::OneTime>(&stale, &fingerprint),
            Err(HttpError::Server { status: 409, .. })
        ));
    }

    #[test]
    fn found_cards_need_a_card() {
        assert!(found_card(&reply(404, "")).unwrap().is_none());
        for bad in [r#"{"card":"AAAA"}"#, r#"{"card":null}"#, "[]", "{", "\u{0}"] {
            assert!(found_card(&reply(200, bad)).is_err(), "{bad}");
        }
    }
}
