//! The HTTP API of docs/SERVER.md end to end, over real HTTP on 127.0.0.1, on SQLite and
//! (with `RATCHETKIT_TEST_POSTGRES_URL`) on PostgreSQL. Every refused request is checked
//! to change nothing in the database.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use std::collections::BTreeSet;

use common::{b64, now, unb64, Backend, TestServer, ISSUER, KID};
use ratchetkit::client::{AccountId, DeviceLink, DeviceList};
use ratchetkit::token::{issue, TokenClaims};
use ratchetkit::{AppKey, Identity, PrekeyBundle, PrekeyStore};
use ratchetkit_server::mailbox::MAX_SENDER_ENVELOPES;
use serde_json::{json, Value};

fn identity(name: &str) -> Identity {
    Identity::generate(&mut rand::rng(), name).unwrap()
}

fn publish_card(server: &TestServer, identity: &Identity) -> String {
    let token = server.token(identity.card().identity());
    let reply = server.ok(
        "PUT",
        "/v1/cards",
        &token,
        Some(json!({"card": identity.card().to_base64()})),
        201,
    );
    reply["fingerprint"].as_str().unwrap().to_owned()
}

/// A store with `n` one-time prekeys, and their ids.
fn prekeys(n: usize) -> (PrekeyStore, Vec<u32>) {
    let mut rng = rand::rng();
    let mut store = PrekeyStore::new(&mut rng);
    let ids = store.generate_one_time_prekeys(&mut rng, n).unwrap();
    (store, ids)
}

/// Every bundle of `store` for `identity`: the one-time ones, then the fallback.
fn bundles_of(identity: &Identity, store: &PrekeyStore) -> Vec<String> {
    let mut bundles: Vec<String> = store
        .one_time_prekey_ids()
        .into_iter()
        .map(|id| b64(&store.bundle(identity, Some(id)).unwrap().to_bytes()))
        .collect();
    bundles.push(b64(&store.bundle(identity, None).unwrap().to_bytes()));
    bundles
}

fn post_bundles(
    server: &TestServer,
    identity: &Identity,
    bundles: Vec<String>,
    replace: bool,
) -> (u16, Value) {
    let fingerprint = identity.card().fingerprint();
    server.call(
        "POST",
        &format!("/v1/cards/{fingerprint}/bundles"),
        &server.token(identity.card().identity()),
        Some(json!({"bundles": bundles, "replace": replace})),
    )
}

/// Claims a bundle of the card; its one-time prekey id (None: the fallback).
fn claim(server: &TestServer, identity: &Identity, token: &str) -> Option<u32> {
    let fingerprint = identity.card().fingerprint();
    let reply = server.ok(
        "POST",
        &format!("/v1/cards/{fingerprint}/bundles/claim"),
        token,
        Some(json!({})),
        200,
    );
    let bundle =
        PrekeyBundle::from_bytes(&unb64(reply["bundle"].as_str().expect("a bundle"))).unwrap();
    assert_eq!(bundle.card().fingerprint(), identity.card().fingerprint());
    bundle.one_time_prekey_id()
}

fn count(server: &TestServer, identity: &Identity) -> u64 {
    let fingerprint = identity.card().fingerprint();
    let reply = server.ok(
        "GET",
        &format!("/v1/cards/{fingerprint}/bundles/count"),
        &server.token("anyone"),
        None,
        200,
    );
    reply["one_time"].as_u64().unwrap()
}

/// A request that must be refused: method, path, token, body, and the status and error
/// code of the refusal.
type Refusal<'a> = (
    &'a str,
    &'a str,
    Option<&'a str>,
    Option<&'a [u8]>,
    u16,
    &'a str,
);

/// Checks that each of `requests` is refused as it says, and changes nothing (see
/// [`TestServer::refused`]).
fn refused_all(server: &TestServer, requests: &[Refusal<'_>]) {
    for &(method, path, token, body, status, code) in requests {
        server.refused(method, path, token, body, status, code);
    }
}

/// `value` as a request body.
fn json_body(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

fn health(server: &TestServer) {
    let (status, json, _) = server.raw("GET", "/health", None, None);
    assert_eq!((status, json), (200, json!({"status": "ok"})));
}

fn cards(server: &TestServer) {
    let alice = identity("alice");
    let token = server.token("alice");
    let fingerprint = publish_card(server, &alice);
    assert_eq!(fingerprint, alice.card().fingerprint().to_string());
    // The same card again: 200, nothing changes.
    let before = server.dump();
    server.ok(
        "PUT",
        "/v1/cards",
        &token,
        Some(json!({"card": alice.card().to_base64()})),
        200,
    );
    assert_eq!(before, server.dump());

    let other = server.token("bob");
    let reply = server.ok("GET", "/v1/cards?name=alice", &other, None, 200);
    assert_eq!(reply, json!({"cards": [alice.card().to_base64()]}));
    let reply = server.ok("GET", "/v1/cards?name=nobody", &other, None, 200);
    assert_eq!(reply, json!({"cards": []}));
    let reply = server.ok(
        "GET",
        &format!("/v1/cards/{fingerprint}"),
        &other,
        None,
        200,
    );
    assert_eq!(
        reply,
        json!({"card": alice.card().to_base64(), "replaced": false})
    );
    let key = hex::encode(alice.card().signing_key());
    let reply = server.ok(
        "GET",
        &format!("/v1/cards/by-signing-key/{key}"),
        &other,
        None,
        200,
    );
    assert_eq!(reply, json!({"card": alice.card().to_base64()}));
    server.refused(
        "GET",
        &format!("/v1/cards/{}", "ab".repeat(32)),
        Some(&other),
        None,
        404,
        "not_found",
    );
    server.refused(
        "GET",
        &format!("/v1/cards/by-signing-key/{}", "cd".repeat(32)),
        Some(&other),
        None,
        404,
        "not_found",
    );
    server.refused(
        "GET",
        "/v1/cards/xyz",
        Some(&other),
        None,
        400,
        "malformed_request",
    );
    server.refused(
        "GET",
        &format!("/v1/cards/{}", "AB".repeat(32)),
        Some(&other),
        None,
        400,
        "malformed_request",
    );
    server.refused(
        "GET",
        "/v1/cards",
        Some(&other),
        None,
        400,
        "malformed_request",
    );

    // Rotation: the new card replaces the old, which is then reported replaced.
    let rotated = alice.rotate(&mut rand::rng()).unwrap();
    let (store, _) = prekeys(2);
    assert_eq!(
        post_bundles(server, &alice, bundles_of(&alice, &store), false).0,
        200
    );
    assert_eq!(count(server, &alice), 2);
    publish_card(server, &rotated);
    let reply = server.ok(
        "GET",
        &format!("/v1/cards/{fingerprint}"),
        &other,
        None,
        200,
    );
    assert_eq!(reply["replaced"], json!(true));
    assert_eq!(count(server, &alice), 0, "a replaced card keeps no bundles");
    let reply = server.ok("GET", "/v1/cards?name=alice", &other, None, 200);
    assert_eq!(
        reply,
        json!({"cards": [alice.card().to_base64(), rotated.card().to_base64()]})
    );
    // By signing key: the first card published with it.
    let reply = server.ok(
        "GET",
        &format!("/v1/cards/by-signing-key/{key}"),
        &other,
        None,
        200,
    );
    assert_eq!(reply, json!({"card": alice.card().to_base64()}));
    // A second rotation of the replaced card: refused.
    let fork = alice.rotate(&mut rand::rng()).unwrap();
    let body = json!({"card": fork.card().to_base64()}).to_string();
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&token),
        Some(body.as_bytes()),
        409,
        "bad_rotation",
    );
    // A rotation of a card never published: refused.
    let stranger = identity("alice");
    let orphan = stranger.rotate(&mut rand::rng()).unwrap();
    let body = json!({"card": orphan.card().to_base64()}).to_string();
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&token),
        Some(body.as_bytes()),
        409,
        "bad_rotation",
    );
    // Bundles for, and claims from, the replaced card.
    let fp = alice.card().fingerprint();
    let body = json!({"bundles": bundles_of(&alice, &store), "replace": false}).to_string();
    server.refused(
        "POST",
        &format!("/v1/cards/{fp}/bundles"),
        Some(&token),
        Some(body.as_bytes()),
        409,
        "card_replaced",
    );
    server.refused(
        "POST",
        &format!("/v1/cards/{fp}/bundles/claim"),
        Some(&other),
        Some(b"{}"),
        409,
        "card_replaced",
    );
}

fn bad_requests(server: &TestServer) {
    let alice = identity("alice");
    let token = server.token("alice");
    publish_card(server, &alice);
    let fp = alice.card().fingerprint();
    let card = alice.card().to_bytes();

    // Bodies.
    for (body, status, code) in [
        (&b"not json"[..], 400, "malformed_request"),
        (b"{\"card\": 5}", 400, "malformed_request"),
        (b"{}", 400, "malformed_request"),
        (b"[]", 400, "malformed_request"),
        (b"{\"card\": \"***\"}", 400, "malformed_request"),
        (b"{\"card\": \"AAAA\"}", 400, "invalid_card"),
    ] {
        server.refused("PUT", "/v1/cards", Some(&token), Some(body), status, code);
    }
    // A forged card: one signature byte flipped.
    let bob = identity("bob");
    let mut forged = bob.card().to_bytes();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let body = json!({"card": b64(&forged)}).to_string();
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&server.token("bob")),
        Some(body.as_bytes()),
        400,
        "invalid_card",
    );
    // Someone else's card.
    let body = json!({"card": bob.card().to_base64()}).to_string();
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&token),
        Some(body.as_bytes()),
        403,
        "not_owner",
    );
    // Oversize body.
    let big = vec![b' '; ratchetkit_server::api::MAX_BODY_LEN + 1];
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&token),
        Some(&big),
        413,
        "payload_too_large",
    );

    // Bundles: of another card, bad base64, wrong types, for someone else's card.
    let (store, _) = prekeys(1);
    publish_card(server, &bob);
    let bob_token = server.token("bob");
    let path = format!("/v1/cards/{fp}/bundles");
    let remove = format!("{path}/remove");
    let unknown = "0".repeat(64);
    let unknown_bundles = format!("/v1/cards/{unknown}/bundles");
    let (token, bob_token) = (Some(token.as_str()), Some(bob_token.as_str()));
    let (alices, bobs) = (bundles_of(&alice, &store), bundles_of(&bob, &store));
    for (path, token, body, status, code) in [
        (
            &path,
            token,
            json!({"bundles": bobs}),
            400,
            "invalid_bundle",
        ),
        (
            &path,
            token,
            json!({"bundles": ["%%%"]}),
            400,
            "malformed_request",
        ),
        (
            &path,
            token,
            json!({"bundles": [b64(&card)]}),
            400,
            "invalid_bundle",
        ),
        (
            &path,
            token,
            json!({"bundles": "x"}),
            400,
            "malformed_request",
        ),
        (
            &path,
            token,
            json!({"bundles": alices, "replace": "yes"}),
            400,
            "malformed_request",
        ),
        (
            &path,
            bob_token,
            json!({"bundles": alices}),
            403,
            "not_owner",
        ),
        (
            &remove,
            bob_token,
            json!({"one_time_prekey_ids": [1]}),
            403,
            "not_owner",
        ),
        (
            &remove,
            token,
            json!({"one_time_prekey_ids": [-1]}),
            400,
            "malformed_request",
        ),
        (
            &unknown_bundles,
            token,
            json!({"bundles": alices}),
            400,
            "invalid_bundle",
        ),
    ] {
        let body = json_body(body);
        server.refused("POST", path, token, Some(&body), status, code);
    }
    refused_all(
        server,
        &[
            (
                "POST",
                &format!("{unknown_bundles}/claim"),
                token,
                Some(b"{}"),
                404,
                "not_found",
            ),
            (
                "GET",
                &format!("{unknown_bundles}/count"),
                token,
                None,
                404,
                "not_found",
            ),
            (
                "POST",
                &format!("{path}/claim"),
                token,
                Some(b"[1]"),
                400,
                "malformed_request",
            ),
        ],
    );

    // Tokens.
    let path = "/v1/cards";
    let body = json!({"card": alice.card().to_base64()}).to_string();
    let body = Some(body.as_bytes());
    let now = now();
    let expired = issue(
        &server.app,
        KID,
        &TokenClaims::new(ISSUER, "alice", now - 7200),
    )
    .unwrap();
    let wrong_issuer = issue(
        &server.app,
        KID,
        &TokenClaims::new("someone-else", "alice", now),
    )
    .unwrap();
    let unknown_kid = issue(
        &server.app,
        "other",
        &TokenClaims::new(ISSUER, "alice", now),
    )
    .unwrap();
    let stranger = AppKey::generate(&mut rand::rng());
    let wrongly_signed = issue(&stranger, KID, &TokenClaims::new(ISSUER, "alice", now)).unwrap();
    let long = "a.b.c".repeat(1000);
    refused_all(
        server,
        &[
            ("PUT", path, None, body, 401, "missing_token"),
            ("PUT", path, Some("garbage"), body, 401, "invalid_token"),
            ("PUT", path, Some(&long), body, 401, "invalid_token"),
            ("PUT", path, Some(&expired), body, 401, "expired_token"),
            ("PUT", path, Some(&wrong_issuer), body, 401, "wrong_issuer"),
            ("PUT", path, Some(&unknown_kid), body, 401, "unknown_key"),
            (
                "PUT",
                path,
                Some(&wrongly_signed),
                body,
                401,
                "invalid_token",
            ),
            (
                "GET",
                "/v1/cards?name=alice",
                Some(&expired),
                None,
                401,
                "expired_token",
            ),
            ("GET", "/v1/nothing", token, None, 404, "not_found"),
        ],
    );
}

fn bundles(server: &TestServer) {
    let bob = identity("bob");
    publish_card(server, &bob);
    let anyone = server.token("carol");
    let fp = bob.card().fingerprint();

    // No bundles yet: null.
    let reply = server.ok(
        "POST",
        &format!("/v1/cards/{fp}/bundles/claim"),
        &anyone,
        Some(json!({})),
        200,
    );
    assert_eq!(reply, json!({"bundle": null}));

    let (mut store, ids) = prekeys(3);
    let all = bundles_of(&bob, &store);
    let (status, reply) = post_bundles(server, &bob, all.clone(), false);
    assert_eq!((status, reply), (200, json!({"one_time": 3})));
    // Publishing again adds nothing.
    assert_eq!(
        post_bundles(server, &bob, all.clone(), false).1,
        json!({"one_time": 3})
    );
    // Oldest first, each once, then the fallback.
    assert_eq!(claim(server, &bob, &anyone), Some(ids[0]));
    assert_eq!(count(server, &bob), 2);
    // A bundle handed out is not taken again.
    assert_eq!(
        post_bundles(server, &bob, all.clone(), false).1,
        json!({"one_time": 2})
    );
    assert_eq!(claim(server, &bob, &anyone), Some(ids[1]));
    assert_eq!(claim(server, &bob, &anyone), Some(ids[2]));
    assert_eq!(claim(server, &bob, &anyone), None);
    assert_eq!(claim(server, &bob, &anyone), None);
    assert_eq!(count(server, &bob), 0);

    // A newer signed prekey drops every held bundle; an older one is refused.
    let more = store
        .generate_one_time_prekeys(&mut rand::rng(), 2)
        .unwrap();
    let old_fallback = b64(&store.bundle(&bob, None).unwrap().to_bytes());
    let old_one_time = b64(&store.bundle(&bob, Some(more[0])).unwrap().to_bytes());
    assert_eq!(
        post_bundles(server, &bob, vec![old_one_time.clone()], false).1,
        json!({"one_time": 1})
    );
    store.rotate_signed_prekey(&mut rand::rng());
    let fresh = store
        .generate_one_time_prekeys(&mut rand::rng(), 1)
        .unwrap();
    let bundle = b64(&store.bundle(&bob, Some(fresh[0])).unwrap().to_bytes());
    assert_eq!(
        post_bundles(server, &bob, vec![bundle], false).1,
        json!({"one_time": 1})
    );
    let path = format!("/v1/cards/{fp}/bundles");
    let body = json!({"bundles": [old_fallback]}).to_string();
    server.refused(
        "POST",
        &path,
        Some(&server.token("bob")),
        Some(body.as_bytes()),
        409,
        "stale_bundle",
    );
    assert_eq!(claim(server, &bob, &anyone), Some(fresh[0]));
    // The fallback went with the old signed prekey.
    let reply = server.ok(
        "POST",
        &format!("/v1/cards/{fp}/bundles/claim"),
        &anyone,
        Some(json!({})),
        200,
    );
    assert_eq!(reply, json!({"bundle": null}));

    // Replace: the held one-time bundles become the store's, less those handed out.
    let (status, reply) = post_bundles(server, &bob, bundles_of(&bob, &store), true);
    assert_eq!(status, 200);
    // The store holds ids[..] (3 handed out), more (2), fresh (1, handed out): 2 left.
    assert_eq!(reply, json!({"one_time": 2}));
    store.remove_one_time_prekeys(&more[..1]);
    assert_eq!(
        post_bundles(server, &bob, bundles_of(&bob, &store), true).1,
        json!({"one_time": 1})
    );
    // An older store replaces too (a store started afresh).
    let (restarted, restarted_ids) = prekeys(2);
    assert_eq!(
        post_bundles(server, &bob, bundles_of(&bob, &restarted), true).1,
        json!({"one_time": 2})
    );
    assert_eq!(claim(server, &bob, &anyone), Some(restarted_ids[0]));

    // Remove: drops the bundle and forgets it was handed out.
    let remove = format!("/v1/cards/{fp}/bundles/remove");
    let token = server.token("bob");
    let reply = server.ok(
        "POST",
        &remove,
        &token,
        Some(json!({"one_time_prekey_ids": restarted_ids})),
        200,
    );
    assert_eq!(reply, json!({"removed": 1}));
    assert_eq!(count(server, &bob), 0);
    // Forgotten: published again, the first is taken again.
    assert_eq!(
        post_bundles(server, &bob, bundles_of(&bob, &restarted), false).1,
        json!({"one_time": 2})
    );

    // Claims by name: one per current card of the name that has bundles.
    let bob2 = identity("bob");
    publish_card(server, &bob2);
    let reply = server.ok(
        "POST",
        "/v1/users/bob/bundles/claim",
        &anyone,
        Some(json!({})),
        200,
    );
    assert_eq!(reply["bundles"].as_array().unwrap().len(), 1);
    let (store2, _) = prekeys(1);
    post_bundles(server, &bob2, bundles_of(&bob2, &store2), false);
    let reply = server.ok("POST", "/v1/users/bob/bundles/claim", &anyone, None, 200);
    let got: Vec<PrekeyBundle> = reply["bundles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| PrekeyBundle::from_bytes(&unb64(b.as_str().unwrap())).unwrap())
        .collect();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].card().fingerprint(), bob.card().fingerprint());
    assert_eq!(got[1].card().fingerprint(), bob2.card().fingerprint());
    let reply = server.ok(
        "POST",
        "/v1/users/nobody/bundles/claim",
        &anyone,
        Some(json!({})),
        200,
    );
    assert_eq!(reply, json!({"bundles": []}));
}

fn device_lists(server: &TestServer) {
    let account = identity("dana");
    let phone = identity("dana");
    let laptop = identity("dana");
    let id = AccountId::of(account.card());
    let v1 = DeviceList::sign(&account, 1, &[DeviceLink::sign(&phone, id)], 1).unwrap();
    let v2 = DeviceList::sign(
        &account,
        2,
        &[DeviceLink::sign(&phone, id), DeviceLink::sign(&laptop, id)],
        2,
    )
    .unwrap();
    let token = server.token("dana");
    let reply = server.ok(
        "PUT",
        "/v1/device-lists",
        &token,
        Some(json!({"list": b64(&v1.to_bytes())})),
        201,
    );
    assert_eq!(reply, json!({"account": id.to_string(), "version": 1}));
    server.ok(
        "PUT",
        "/v1/device-lists",
        &token,
        Some(json!({"list": b64(&v1.to_bytes())})),
        200,
    );
    server.ok(
        "PUT",
        "/v1/device-lists",
        &token,
        Some(json!({"list": b64(&v2.to_bytes())})),
        201,
    );
    let other = server.token("eve");
    let reply = server.ok("GET", &format!("/v1/device-lists/{id}"), &other, None, 200);
    assert_eq!(reply, json!({"list": b64(&v2.to_bytes())}));
    // Stale: an older version, or the same version with other bytes; someone else's list,
    // a forged one, garbage.
    let v2b = DeviceList::sign(&account, 2, &[DeviceLink::sign(&laptop, id)], 3).unwrap();
    let v3 = DeviceList::sign(&account, 3, &[DeviceLink::sign(&laptop, id)], 4).unwrap();
    let mut forged = v3.to_bytes();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    let (token, other) = (Some(token.as_str()), Some(other.as_str()));
    for (token, list, status, code) in [
        (token, v1.to_bytes(), 409, "stale_device_list"),
        (token, v2b.to_bytes(), 409, "stale_device_list"),
        (other, v3.to_bytes(), 403, "not_owner"),
        (token, forged, 400, "invalid_device_list"),
    ] {
        let body = json_body(json!({"list": b64(&list)}));
        server.refused("PUT", "/v1/device-lists", token, Some(&body), status, code);
    }
    let unknown = format!("/v1/device-lists/{}", "0".repeat(64));
    refused_all(
        server,
        &[
            (
                "PUT",
                "/v1/device-lists",
                token,
                Some(br#"{"list": 1}"#),
                400,
                "malformed_request",
            ),
            ("GET", &unknown, other, None, 404, "not_found"),
        ],
    );
}

fn mailbox(server: &TestServer) {
    let frank = identity("frank");
    publish_card(server, &frank);
    let device = hex::encode(frank.card().signing_key());
    let sender = server.token("gina");
    let owner = server.token("frank");
    let path = format!("/v1/mailbox/{device}");

    let unknown = format!("/v1/mailbox/{}", "1".repeat(64));
    let body = json!({"envelopes": [b64(b"x")]}).to_string();
    server.refused(
        "POST",
        &unknown,
        Some(&sender),
        Some(body.as_bytes()),
        404,
        "not_found",
    );
    let envelopes: Vec<String> = (0..5)
        .map(|i| b64(format!("envelope {i}").as_bytes()))
        .collect();
    let reply = server.ok(
        "POST",
        &path,
        &sender,
        Some(json!({"envelopes": envelopes})),
        202,
    );
    let ids: Vec<u64> = reply["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_u64().unwrap())
        .collect();
    assert_eq!(ids.len(), 5);
    assert!(ids.windows(2).all(|w| w[0] < w[1]));

    // Only the owner reads and acknowledges.
    server.refused("GET", &path, Some(&sender), None, 403, "not_owner");
    let body = json!({"ids": ids}).to_string();
    server.refused(
        "POST",
        &format!("{path}/ack"),
        Some(&sender),
        Some(body.as_bytes()),
        403,
        "not_owner",
    );

    let reply = server.ok("GET", &format!("{path}?limit=2"), &owner, None, 200);
    let got = reply["envelopes"].as_array().unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], json!({"id": ids[0], "envelope": envelopes[0]}));
    let reply = server.ok(
        "GET",
        &format!("{path}?after={}&limit=10", ids[1]),
        &owner,
        None,
        200,
    );
    let got: Vec<u64> = reply["envelopes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_u64().unwrap())
        .collect();
    assert_eq!(got, ids[2..]);
    server.refused(
        "GET",
        &format!("{path}?after=x"),
        Some(&owner),
        None,
        400,
        "malformed_request",
    );

    let reply = server.ok(
        "POST",
        &format!("{path}/ack"),
        &owner,
        Some(json!({"ids": [ids[0], ids[1], 999_999]})),
        200,
    );
    assert_eq!(reply, json!({"deleted": 2}));
    let reply = server.ok("GET", &path, &owner, None, 200);
    assert_eq!(reply["envelopes"].as_array().unwrap().len(), 3);

    // Limits: envelopes per request, empty and bad envelopes.
    let many: Vec<String> = (0..=ratchetkit_server::mailbox::MAX_ENVELOPES_PER_REQUEST)
        .map(|_| b64(b"x"))
        .collect();
    let body = json!({"envelopes": many}).to_string();
    server.refused(
        "POST",
        &path,
        Some(&sender),
        Some(body.as_bytes()),
        413,
        "payload_too_large",
    );
    server.refused(
        "POST",
        &path,
        Some(&sender),
        Some(br#"{"envelopes": [""]}"#),
        400,
        "malformed_request",
    );
    server.refused(
        "POST",
        &path,
        Some(&sender),
        Some(br#"{"envelopes": ["@@"]}"#),
        400,
        "malformed_request",
    );
    server.refused(
        "POST",
        &path,
        Some(&sender),
        Some(br#"{"envelopes": [1]}"#),
        400,
        "malformed_request",
    );

    // Retention: the sweep deletes what is older than its cut-off, nothing newer.
    assert_eq!(
        server
            .block_on(server.db.sweep_mailboxes(now() - 60))
            .unwrap(),
        0
    );
    assert_eq!(
        server
            .block_on(server.db.sweep_mailboxes(now() + 1))
            .unwrap(),
        3
    );
    let reply = server.ok("GET", &path, &owner, None, 200);
    assert_eq!(reply, json!({"envelopes": []}));
}

/// 64 clients claim one card's bundles at once: no one-time prekey is handed out twice.
fn concurrent_claims(server: &TestServer) {
    let hana = identity("hana");
    publish_card(server, &hana);
    let (store, ids) = prekeys(40);
    assert_eq!(
        post_bundles(server, &hana, bundles_of(&hana, &store), false).1,
        json!({"one_time": 40})
    );
    let results: Vec<Option<u32>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..64)
            .map(|i| {
                let token = server.token(&format!("claimer{i}"));
                let hana = &hana;
                scope.spawn(move || {
                    if i % 2 == 0 {
                        claim(server, hana, &token)
                    } else {
                        let reply = server.ok(
                            "POST",
                            "/v1/users/hana/bundles/claim",
                            &token,
                            Some(json!({})),
                            200,
                        );
                        let bundle = reply["bundles"][0].as_str().unwrap();
                        PrekeyBundle::from_bytes(&unb64(bundle))
                            .unwrap()
                            .one_time_prekey_id()
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().unwrap())
            .collect()
    });
    let one_time: Vec<u32> = results.iter().flatten().copied().collect();
    let distinct: BTreeSet<u32> = one_time.iter().copied().collect();
    assert_eq!(one_time.len(), 40, "every one-time bundle handed out");
    assert_eq!(distinct.len(), 40, "none twice");
    assert_eq!(distinct, ids.into_iter().collect());
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 24);
    assert_eq!(count(server, &hana), 0);
}

/// One sender cannot fill someone's mailbox for everyone: past its share it is refused
/// (and nothing is stored), while another sender still gets through.
fn mailbox_share_per_sender(server: &TestServer) {
    let frank = identity("frank");
    publish_card(server, &frank);
    let path = format!("/v1/mailbox/{}", hex::encode(frank.card().signing_key()));
    let mallory = server.token("mallory");
    let batch: Vec<String> = (0..50).map(|_| b64(b"x")).collect();
    for _ in 0..MAX_SENDER_ENVELOPES / 50 {
        server.ok(
            "POST",
            &path,
            &mallory,
            Some(json!({"envelopes": batch})),
            202,
        );
    }
    let one = json!({"envelopes": [b64(b"one more")]}).to_string();
    server.refused(
        "POST",
        &path,
        Some(&mallory),
        Some(one.as_bytes()),
        409,
        "too_many",
    );
    let gina = server.token("gina");
    let reply = server.ok(
        "POST",
        &path,
        &gina,
        Some(json!({"envelopes": [b64(b"hi")]})),
        202,
    );
    assert_eq!(reply["ids"].as_array().map(Vec::len), Some(1));
}

/// A NUL in a looked-up name is refused alike on both databases (PostgreSQL's text
/// cannot hold one), and changes nothing.
fn a_name_with_nul_is_refused(server: &TestServer) {
    let token = server.token("ivan");
    server.refused(
        "GET",
        "/v1/cards?name=a%00b",
        Some(&token),
        None,
        400,
        "malformed_request",
    );
    server.refused(
        "POST",
        "/v1/users/a%00b/bundles/claim",
        Some(&token),
        Some(b"{}"),
        400,
        "malformed_request",
    );
    // Longer than any card's name may be.
    let long = "n".repeat(ratchetkit::limits::MAX_IDENTITY_NAME_LEN + 1);
    server.refused(
        "POST",
        &format!("/v1/users/{long}/bundles/claim"),
        Some(&token),
        Some(b"{}"),
        400,
        "malformed_request",
    );
}

on_both!(
    health,
    cards,
    bad_requests,
    bundles,
    device_lists,
    mailbox,
    mailbox_share_per_sender,
    a_name_with_nul_is_refused,
    concurrent_claims
);

#[test]
fn rate_limit() {
    let server = TestServer::start(Backend::Sqlite, |config| {
        config.rate_limit = ratchetkit_server::RateLimit {
            per_second: 1,
            burst: 3,
        };
    })
    .unwrap();
    let token = server.token("ivan");
    for _ in 0..3 {
        server.ok("GET", "/v1/cards?name=ivan", &token, None, 200);
    }
    let (status, json, retry_after) = server.raw("GET", "/v1/cards?name=ivan", Some(&token), None);
    assert_eq!(
        (status, json["error"].as_str()),
        (429, Some("rate_limited"))
    );
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Another subject has its own bucket.
    server.ok(
        "GET",
        "/v1/cards?name=ivan",
        &server.token("judy"),
        None,
        200,
    );
}

/// One subject claiming one target again and again gets the fallback once its claims are
/// used up, taking no one-time bundle from anyone else; other subjects, and the same
/// subject's claims of another target, are not held back.
#[test]
fn claim_limit_per_subject_and_target() {
    let server = TestServer::start(Backend::Sqlite, |config| {
        config.claim_limit = ratchetkit_server::ClaimLimit {
            burst: 2,
            interval: std::time::Duration::from_secs(3600),
        };
    })
    .unwrap();
    let hana = identity("hana");
    publish_card(&server, &hana);
    let (store, ids) = prekeys(5);
    assert_eq!(
        post_bundles(&server, &hana, bundles_of(&hana, &store), false).1,
        json!({"one_time": 5})
    );
    let mallory = server.token("mallory");
    assert_eq!(claim(&server, &hana, &mallory), Some(ids[0]));
    assert_eq!(claim(&server, &hana, &mallory), Some(ids[1]));
    for _ in 0..20 {
        assert_eq!(claim(&server, &hana, &mallory), None, "the fallback");
    }
    assert_eq!(count(&server, &hana), 3, "the drain stopped at two");
    let judy = server.token("judy");
    assert_eq!(claim(&server, &hana, &judy), Some(ids[2]));
    // Claims by name are counted apart from claims of the card.
    let reply = server.ok(
        "POST",
        "/v1/users/hana/bundles/claim",
        &mallory,
        Some(json!({})),
        200,
    );
    let bundle = PrekeyBundle::from_bytes(&unb64(reply["bundles"][0].as_str().unwrap())).unwrap();
    assert_eq!(bundle.one_time_prekey_id(), Some(ids[3]));
    assert_eq!(count(&server, &hana), 1);
}

/// A client that sends its headers and then trickles (here: withholds) its body holds a
/// request slot only until the body read timeout; while all slots are taken, others are
/// told `503 busy` to come back in a second.
#[test]
fn slow_bodies_time_out_and_a_full_server_says_busy() {
    use std::io::{Read as _, Write as _};
    let server = TestServer::start(Backend::Sqlite, |config| {
        config.max_concurrent_requests = 1;
        config.body_read_timeout = std::time::Duration::from_millis(1500);
    })
    .unwrap();
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut slow = std::net::TcpStream::connect(&address).unwrap();
    // Without the timeout the answer never comes: fail rather than hang.
    slow.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let token = server.token("slow");
    write!(
        slow,
        "PUT /v1/cards HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{{\"card\":"
    )
    .unwrap();
    slow.flush().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let (status, json, retry_after) = server.raw("GET", "/health", None, None);
    assert_eq!((status, json["error"].as_str()), (503, Some("busy")));
    assert_eq!(retry_after.as_deref(), Some("1"));

    let mut answer = String::new();
    slow.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"timeout\""), "{answer}");
    let (status, _, _) = server.raw("GET", "/health", None, None);
    assert_eq!(status, 200, "the slot is free again");
}

#[test]
fn app_signature_required() {
    let server = TestServer::start(Backend::Sqlite, |config| {
        config.require_app_signature = true
    })
    .unwrap();
    let kim = identity("kim");
    let token = server.token("kim");
    let body = json!({"card": kim.card().to_base64()}).to_string();
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&token),
        Some(body.as_bytes()),
        403,
        "app_signature_required",
    );
    let stranger = AppKey::generate(&mut rand::rng());
    let body = json!({"card": kim.card().approve(&stranger).unwrap().to_base64()}).to_string();
    server.refused(
        "PUT",
        "/v1/cards",
        Some(&token),
        Some(body.as_bytes()),
        403,
        "app_signature_required",
    );
    let approved = kim.card().approve(&server.app).unwrap();
    server.ok(
        "PUT",
        "/v1/cards",
        &token,
        Some(json!({"card": approved.to_base64()})),
        201,
    );
    // Bundles are served with the card as published, app signature included.
    let (store, _) = prekeys(1);
    let bundle = b64(&store.bundle(&kim, None).unwrap().to_bytes());
    let fp = kim.card().fingerprint();
    server.ok(
        "POST",
        &format!("/v1/cards/{fp}/bundles"),
        &token,
        Some(json!({"bundles": [bundle]})),
        200,
    );
    let reply = server.ok(
        "POST",
        &format!("/v1/cards/{fp}/bundles/claim"),
        &token,
        Some(json!({})),
        200,
    );
    let served = PrekeyBundle::from_bytes(&unb64(reply["bundle"].as_str().unwrap())).unwrap();
    assert_eq!(served.card(), &approved);
}
