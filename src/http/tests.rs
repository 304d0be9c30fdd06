//! The client against a fake server on loopback that answers garbage: every call must
//! fail (or succeed) with a value, never panic or hang, whatever the bytes.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use super::*;
use crate::client::{AccountId, DeviceId};
use crate::{CardDirectory, Fingerprint, Identity, PrekeyStore};

/// A server on loopback that answers each request with the next of `responses` (raw
/// bytes), then closes the connection; it stops after the last.
fn fake_server(responses: Vec<Vec<u8>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    thread::spawn(move || {
        for response in responses {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            read_request(&mut stream);
            // The client may hang up first (a body over the limit): not an error here.
            let _ = stream.write_all(&response);
            let _ = stream.flush();
        }
    });
    format!("http://{address}")
}

/// Reads a request's head and its body (by Content-Length).
fn read_request(stream: &mut TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let mut data = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let Ok(n) = stream.read(&mut buf) else { return };
        if n == 0 {
            return;
        }
        data.extend_from_slice(&buf[..n]);
        if let Some(end) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&data[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|line| line.strip_prefix("content-length:"))
                .and_then(|value| value.trim().parse().ok())
                .unwrap_or(0);
            while data.len() < end + 4 + length {
                let Ok(n) = stream.read(&mut buf) else { return };
                if n == 0 {
                    return;
                }
                data.extend_from_slice(&buf[..n]);
            }
            return;
        }
    }
}

fn http_response(status: u16, body: &[u8]) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(body);
    response
}

/// A small deterministic generator (xorshift64*), so that a failure repeats.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// `template` with a few random bytes changed, inserted or cut.
    fn mutate(&mut self, template: &[u8]) -> Vec<u8> {
        let mut bytes = template.to_vec();
        for _ in 0..=self.below(4) {
            let at = self.below(bytes.len() + 1);
            match self.below(4) {
                0 if at < bytes.len() => bytes[at] = self.next() as u8,
                1 => bytes.insert(at, self.next() as u8),
                2 => bytes.truncate(at),
                _ => bytes.insert(at, b"\"{}[]:,0-9ez\\n"[self.below(14)]),
            }
        }
        bytes
    }
}

/// Runs every call of the API once against `base_url`, whose server answers each with
/// one response; returns how many calls there were. Results are dropped: only panics
/// and hangs fail.
fn every_call(base_url: &str, fixtures: &Fixtures) -> usize {
    let Ok(server) = HttpDirectory::new(base_url, "token.for.test".to_owned()) else {
        panic!("a valid URL refused");
    };
    let mut server = server.with_timeout(Duration::from_secs(3));
    let fingerprint = fixtures.identity.card().fingerprint();
    let _ = server.health();
    let _ = server.publish(fixtures.identity.card().clone());
    let _ = server.publish_bundle(fixtures.bundle.clone());
    let _ = server.find("alice");
    let _ = server.find_by_fingerprint(&fingerprint);
    let _ = server.find_by_signing_key(&fixtures.identity.card().signing_key());
    let _ = server.find_bundles("alice");
    let _ = server.find_bundle(&fingerprint);
    let _ = server.one_time_prekey_count(&fingerprint);
    let _ = server.publish_prekeys(&fixtures.identity, &fixtures.prekeys);
    let _ = server.replace_bundles(&fixtures.identity, &fixtures.prekeys);
    let _ = server.remove_one_time_bundles(&fixtures.identity, &[1, 2]);
    let _ = server.find_newest(fixtures.identity.card());
    let _ = server.device_list(AccountId::from_bytes([1; 32]));
    let device = DeviceId::from_bytes([2; 32]);
    let _ = server.deposit(device, &[b"envelope".to_vec()]);
    let _ = server.fetch_mailbox(device, Some(5), 10);
    let _ = server.acknowledge(device, &[6, 7]);
    17
}

struct Fixtures {
    identity: Identity,
    prekeys: PrekeyStore,
    bundle: crate::PrekeyBundle,
}

fn fixtures() -> Fixtures {
    let mut rng = rand::rng();
    let identity = Identity::generate(&mut rng, "alice").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    prekeys.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let bundle = prekeys.bundle(&identity, None).unwrap();
    Fixtures {
        identity,
        prekeys,
        bundle,
    }
}

/// Bodies shaped like the API's, to mutate.
fn templates(fixtures: &Fixtures) -> Vec<String> {
    let card = fixtures.identity.card().to_base64();
    let bundle = json::base64(&fixtures.bundle.to_bytes());
    let fingerprint = fixtures.identity.card().fingerprint();
    vec![
        r#"{"status":"ok"}"#.to_owned(),
        format!(r#"{{"fingerprint":"{fingerprint}"}}"#),
        format!(r#"{{"cards":["{card}","{card}"]}}"#),
        format!(r#"{{"card":"{card}","replaced":false}}"#),
        r#"{"one_time":3}"#.to_owned(),
        r#"{"removed":1}"#.to_owned(),
        format!(r#"{{"bundle":"{bundle}"}}"#),
        r#"{"bundle":null}"#.to_owned(),
        format!(r#"{{"bundles":["{bundle}"]}}"#),
        format!(r#"{{"account":"{fingerprint}","version":2}}"#),
        r#"{"list":"AAAA"}"#.to_owned(),
        r#"{"ids":[1]}"#.to_owned(),
        r#"{"envelopes":[{"id":6,"envelope":"AQID"}]}"#.to_owned(),
        r#"{"deleted":2}"#.to_owned(),
        r#"{"error":"not_found","message":"no such thing"}"#.to_owned(),
        r#"{"error":"card_replaced","message":"rotated"}"#.to_owned(),
    ]
}

#[test]
fn garbage_bodies_never_panic() {
    let fixtures = fixtures();
    let templates = templates(&fixtures);
    let statuses = [200, 201, 202, 204, 301, 400, 401, 404, 409, 429, 500];
    let mut noise = Noise(0x9e37_79b9_7f4a_7c15);
    for round in 0..40 {
        let responses: Vec<Vec<u8>> = (0..17)
            .map(|_| {
                let template = &templates[noise.below(templates.len())];
                let body = if round == 0 {
                    template.as_bytes().to_vec()
                } else {
                    noise.mutate(template.as_bytes())
                };
                http_response(statuses[noise.below(statuses.len())], &body)
            })
            .collect();
        let base_url = fake_server(responses);
        assert_eq!(every_call(&base_url, &fixtures), 17);
    }
}

#[test]
fn garbage_http_never_panics() {
    let fixtures = fixtures();
    let raw: Vec<&[u8]> = vec![
        b"",
        b"not http at all\r\n\r\n",
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 99999999999999999999\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nffffffffffffffffff\r\n{}",
        b"HTTP/1.1 999 Weird\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/9.9 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 302 Found\r\nlocation: http://elsewhere.test/\r\ncontent-length: 0\r\n\r\n",
        b"HTTP/1.1 429 Slow\r\nretry-after: -1\r\ncontent-length: 2\r\n\r\n{}",
        b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\n\xff\xfe\x00\x01",
        b"HTTP/1.1 200 OK\r\nx: \xff\r\ncontent-length: 2\r\n\r\n{}",
    ];
    // 17 calls per pass; each pass gives every call one of the raw responses in turn.
    for shift in 0..raw.len() {
        let responses = (0..17)
            .map(|i| raw[(i + shift) % raw.len()].to_vec())
            .collect();
        let base_url = fake_server(responses);
        every_call(&base_url, &fixtures);
    }
}

#[test]
fn redirects_are_not_followed() {
    let base_url = fake_server(vec![
        b"HTTP/1.1 307 Moved\r\nlocation: http://127.0.0.1:1/elsewhere\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
            .to_vec(),
    ]);
    let server = HttpDirectory::new(&base_url, "secret-token".to_owned()).unwrap();
    match server.find("bob") {
        Err(error @ HttpError::UnexpectedStatus { status: 307 }) => {
            assert!(!error.to_string().contains("secret-token"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn long_bodies_are_cut_off() {
    let mut response = format!(
        "HTTP/1.1 200 OK\r\ncontent-length: {}\r\n\r\n{{\"cards\":[\"",
        MAX_RESPONSE_LEN + 1
    )
    .into_bytes();
    response.resize(response.len() + MAX_RESPONSE_LEN + 1, b'A');
    let base_url = fake_server(vec![response]);
    let server = HttpDirectory::new(&base_url, String::new()).unwrap();
    assert!(matches!(
        server.find("bob"),
        Err(HttpError::ResponseTooLarge {
            limit: MAX_RESPONSE_LEN
        })
    ));
}

#[test]
fn a_silent_server_times_out() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base_url = format!("http://{}", listener.local_addr().unwrap());
    let (done, wait) = mpsc::channel::<()>();
    let holder = thread::spawn(move || {
        // Accepts, reads nothing back, and holds the connection until the test is done.
        let connection = listener.accept();
        let _ = wait.recv_timeout(Duration::from_secs(10));
        drop(connection);
    });
    let server = HttpDirectory::new(&base_url, String::new())
        .unwrap()
        .with_timeout(Duration::from_millis(300));
    assert!(matches!(server.health(), Err(HttpError::Timeout)));
    let _ = done.send(());
    holder.join().unwrap();
}

#[test]
fn nothing_listening_is_a_transport_error() {
    let port = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let server = HttpDirectory::new(&format!("http://127.0.0.1:{port}"), String::new()).unwrap();
    let error = server.health().unwrap_err();
    assert!(matches!(error, HttpError::Transport { .. }), "{error:?}");
    assert!(error.is_transient());
}

#[test]
fn the_token_is_never_shown() {
    let token = "eyJhbGciOiJFZERTQSJ9.c2VjcmV0.c2ln";
    let base_url = fake_server(vec![http_response(
        401,
        br#"{"error":"expired_token","message":"expired"}"#,
    )]);
    let mut server = HttpDirectory::new(&base_url, token.to_owned()).unwrap();
    assert!(!format!("{server:?}").contains(token));
    let error = server.one_time_prekey_count(&Fingerprint::from_bytes([0; 32]));
    let error = error.unwrap_err();
    assert_eq!(error.code(), Some(&ServerErrorCode::ExpiredToken));
    assert!(!format!("{error:?} {error}").contains(token));
    assert!(matches!(
        server.set_token("two\nlines".to_owned()),
        Err(HttpError::UnsendableToken)
    ));
}
