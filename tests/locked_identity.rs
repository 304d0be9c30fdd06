//! Password-locked identities (issue 6, part 4): round trips, wrong passwords, password
//! changes, stored parameters, hostile parameters and tampering.
//!
//! `spec_lock` below locks an identity from docs/PROTOCOL.md alone, with the primitive
//! crates; the library must open what it writes and write what it opens. It also makes
//! locked identities with parameters far below `lock`'s minimums (which `unlock`, by
//! design, still opens), so the tampering tests can run thousands of unlocks quickly.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Params, Version};
use prost::Message;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, RngExt, SeedableRng};
use ratchetkit::{
    identity::LOCKED_IDENTITY_CONTEXT, identity::LOCK_SALT_LEN, identity::MAX_LOCK_ITERATIONS,
    identity::MAX_LOCK_MEMORY_KIB, identity::MAX_LOCK_PARALLELISM, identity::MIN_LOCK_ITERATIONS,
    identity::MIN_LOCK_MEMORY_KIB, identity::MIN_LOCK_PARALLELISM, Channel, Error, Identity,
    LockParams, PrekeyBundle, PrekeyStore,
};

/// `LockedIdentity` of proto/locked.proto, written from the schema.
#[derive(Clone, PartialEq, prost::Message)]
struct LockedIdentity {
    #[prost(uint32, tag = "1")]
    version: u32,
    #[prost(uint32, tag = "2")]
    memory_kib: u32,
    #[prost(uint32, tag = "3")]
    iterations: u32,
    #[prost(uint32, tag = "4")]
    parallelism: u32,
    #[prost(bytes = "vec", tag = "5")]
    salt: Vec<u8>,
    #[prost(bytes = "vec", tag = "6")]
    nonce: Vec<u8>,
    #[prost(bytes = "vec", tag = "7")]
    ciphertext: Vec<u8>,
}

/// `LockedIdentityPayload` of proto/locked.proto.
#[derive(Clone, PartialEq, prost::Message)]
struct LockedIdentityPayload {
    #[prost(bytes = "vec", tag = "1")]
    identity: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    prekeys: Vec<u8>,
}

/// Argon2id costs as the specification lists them, whether or not `LockParams::new`
/// accepts them (the spec functions below lock and unlock with any).
#[derive(Clone, Copy, Debug)]
struct Costs {
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
}

impl Costs {
    fn params(self) -> Result<LockParams, Error> {
        LockParams::new(self.memory_kib, self.iterations, self.parallelism)
    }
}

/// The cheapest parameters `lock` accepts.
const CHEAPEST: Costs = Costs {
    memory_kib: MIN_LOCK_MEMORY_KIB,
    iterations: MIN_LOCK_ITERATIONS,
    parallelism: MIN_LOCK_PARALLELISM,
};

/// Far below `lock`'s minimums, but a valid Argon2id: for tests that unlock many times.
const TINY: Costs = Costs {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

fn cheapest() -> LockParams {
    CHEAPEST.params().unwrap()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn spec_key(password: &[u8], salt: &[u8], params: &Costs) -> [u8; 32] {
    let argon2_params = Params::new(
        params.memory_kib,
        params.iterations,
        params.parallelism,
        Some(32),
    )
    .unwrap();
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, argon2_params)
        .hash_password_into(password, salt, &mut key)
        .unwrap();
    key
}

fn spec_aad(params: &Costs, salt: &[u8]) -> Vec<u8> {
    let mut aad = LOCKED_IDENTITY_CONTEXT.to_vec();
    for field in [1, params.memory_kib, params.iterations, params.parallelism] {
        aad.extend_from_slice(&field.to_be_bytes());
    }
    aad.extend_from_slice(salt);
    aad
}

/// Locks as docs/PROTOCOL.md says, with the given salt and nonce.
fn spec_lock(
    identity: &Identity,
    prekeys: &PrekeyStore,
    password: &[u8],
    params: &Costs,
    salt: [u8; 16],
    nonce: [u8; 12],
) -> Vec<u8> {
    let payload = LockedIdentityPayload {
        identity: identity.to_bytes().to_vec(),
        prekeys: prekeys.to_bytes().to_vec(),
    }
    .encode_to_vec();
    let cipher = Aes256Gcm::new(&spec_key(password, &salt, params).into());
    let ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &payload,
                aad: &spec_aad(params, &salt),
            },
        )
        .unwrap();
    LockedIdentity {
        version: 1,
        memory_kib: params.memory_kib,
        iterations: params.iterations,
        parallelism: params.parallelism,
        salt: salt.to_vec(),
        nonce: nonce.to_vec(),
        ciphertext,
    }
    .encode_to_vec()
}

/// Opens as docs/PROTOCOL.md says; `None` if the tag does not verify.
fn spec_unlock(locked: &[u8], password: &[u8]) -> Option<LockedIdentityPayload> {
    let message = LockedIdentity::decode(locked).unwrap();
    let params = Costs {
        memory_kib: message.memory_kib,
        iterations: message.iterations,
        parallelism: message.parallelism,
    };
    let cipher = Aes256Gcm::new(&spec_key(password, &message.salt, &params).into());
    let nonce: [u8; 12] = message.nonce.as_slice().try_into().unwrap();
    let plaintext = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &message.ciphertext,
                aad: &spec_aad(&params, &message.salt),
            },
        )
        .ok()?;
    Some(LockedIdentityPayload::decode(plaintext.as_slice()).unwrap())
}

fn fields(locked: &[u8]) -> LockedIdentity {
    LockedIdentity::decode(locked).unwrap()
}

#[test]
fn an_unlocked_identity_keeps_its_keys_and_prekeys() {
    let mut rng = rng(1);
    let bob = Identity::generate(&mut rng, "bob").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    let ids = prekeys.generate_one_time_prekeys(&mut rng, 3).unwrap();
    // A bundle published before the identity was locked.
    let published = prekeys.bundle(&bob, Some(ids[1])).unwrap().to_bytes();

    let locked = bob
        .lock(&mut rng, &prekeys, b"bob's password", &cheapest())
        .unwrap();
    let (unlocked, mut unlocked_prekeys) = Identity::unlock(&locked, b"bob's password").unwrap();
    assert_eq!(unlocked.card(), bob.card());
    assert_eq!(*unlocked.to_bytes(), *bob.to_bytes());
    assert_eq!(*unlocked_prekeys.to_bytes(), *prekeys.to_bytes());

    // A channel started from the old bundle is joined by the unlocked identity.
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let bundle = PrekeyBundle::from_bytes(&published).unwrap();
    let mut to_bob = Channel::create(&mut rng, &alice, &bundle).unwrap();
    let first = to_bob.encrypt(&mut rng, b"hello bob").unwrap();
    let joined = Channel::join(&unlocked, &mut unlocked_prekeys, &first).unwrap();
    assert_eq!(joined.plaintext(), b"hello bob");
    let mut to_alice = joined.into_channel();
    let reply = to_alice.encrypt(&mut rng, b"hello alice").unwrap();
    assert_eq!(to_bob.decrypt(&reply).unwrap(), b"hello alice");
}

#[test]
fn the_default_parameters_lock_and_a_wrong_password_fails() {
    let mut rng = rng(2);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let locked = alice
        .lock(&mut rng, &prekeys, b"correct horse", &LockParams::default())
        .unwrap();
    assert_eq!(LockParams::of_locked(&locked), Ok(LockParams::default()));
    assert_eq!(
        Identity::unlock(&locked, b"correct horse")
            .unwrap()
            .0
            .card(),
        alice.card()
    );
    for wrong in [&b"correct hors"[..], b"Correct horse", b""] {
        assert_eq!(
            Identity::unlock(&locked, wrong).unwrap_err(),
            Error::WrongPassword
        );
    }
}

#[test]
fn every_lock_has_a_fresh_salt_and_nonce() {
    let mut rng = rng(3);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let first = alice.lock(&mut rng, &prekeys, b"pw", &cheapest()).unwrap();
    let second = alice.lock(&mut rng, &prekeys, b"pw", &cheapest()).unwrap();
    let (a, b) = (fields(&first), fields(&second));
    assert_eq!(a.salt.len(), LOCK_SALT_LEN);
    assert_ne!(a.salt, b.salt);
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.ciphertext, b.ciphertext);
    for locked in [&first, &second] {
        assert_eq!(
            Identity::unlock(locked, b"pw").unwrap().0.card(),
            alice.card()
        );
    }
}

#[test]
fn a_changed_password_relocks_the_same_identity() {
    let mut rng = rng(4);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    prekeys.generate_one_time_prekeys(&mut rng, 2).unwrap();
    let params = LockParams::new(MIN_LOCK_MEMORY_KIB, 3, MIN_LOCK_PARALLELISM).unwrap();
    let locked = alice.lock(&mut rng, &prekeys, b"old", &params).unwrap();

    assert_eq!(
        Identity::change_password(&mut rng, &locked, b"wrong", b"new").unwrap_err(),
        Error::WrongPassword
    );
    let relocked = Identity::change_password(&mut rng, &locked, b"old", b"new").unwrap();
    assert_eq!(
        Identity::unlock(&relocked, b"old").unwrap_err(),
        Error::WrongPassword
    );
    let (again, again_prekeys) = Identity::unlock(&relocked, b"new").unwrap();
    assert_eq!(*again.to_bytes(), *alice.to_bytes());
    assert_eq!(*again_prekeys.to_bytes(), *prekeys.to_bytes());
    // Same parameters, fresh salt.
    assert_eq!(LockParams::of_locked(&relocked), Ok(params));
    assert_ne!(fields(&relocked).salt, fields(&locked).salt);
}

#[test]
fn the_parameters_are_stored_and_honoured() {
    let mut rng = rng(5);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let params = LockParams::new(24 * 1024, 3, 2).unwrap();
    let locked = alice.lock(&mut rng, &prekeys, b"pw", &params).unwrap();
    assert_eq!(LockParams::of_locked(&locked), Ok(params));
    let stored = fields(&locked);
    assert_eq!(
        (stored.memory_kib, stored.iterations, stored.parallelism),
        (24 * 1024, 3, 2)
    );
    assert_eq!(
        Identity::unlock(&locked, b"pw").unwrap().0.card(),
        alice.card()
    );

    // The key depends on them: the same password and salt under other parameters (bound
    // into the associated data too) does not open it.
    let mut swapped = stored.clone();
    swapped.parallelism = 1;
    let swapped = swapped.encode_to_vec();
    assert_eq!(
        Identity::unlock(&swapped, b"pw").unwrap_err(),
        Error::WrongPassword
    );
}

#[test]
fn lock_refuses_parameters_outside_the_limits() {
    let mut rng = rng(6);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let cases = [
        (
            Costs {
                memory_kib: MIN_LOCK_MEMORY_KIB - 1,
                ..CHEAPEST
            },
            Error::WeakLockParams {
                parameter: "memory_kib",
                minimum: MIN_LOCK_MEMORY_KIB,
            },
        ),
        (
            Costs {
                iterations: MIN_LOCK_ITERATIONS - 1,
                ..CHEAPEST
            },
            Error::WeakLockParams {
                parameter: "iterations",
                minimum: MIN_LOCK_ITERATIONS,
            },
        ),
        (
            Costs {
                parallelism: 0,
                ..CHEAPEST
            },
            Error::WeakLockParams {
                parameter: "parallelism",
                minimum: MIN_LOCK_PARALLELISM,
            },
        ),
        (
            Costs {
                memory_kib: MAX_LOCK_MEMORY_KIB + 1,
                ..CHEAPEST
            },
            Error::LockParamsTooHigh {
                parameter: "memory_kib",
                found: MAX_LOCK_MEMORY_KIB + 1,
                maximum: MAX_LOCK_MEMORY_KIB,
            },
        ),
        (
            Costs {
                iterations: u32::MAX,
                ..CHEAPEST
            },
            Error::LockParamsTooHigh {
                parameter: "iterations",
                found: u32::MAX,
                maximum: MAX_LOCK_ITERATIONS,
            },
        ),
        (
            Costs {
                parallelism: MAX_LOCK_PARALLELISM + 1,
                ..CHEAPEST
            },
            Error::LockParamsTooHigh {
                parameter: "parallelism",
                found: MAX_LOCK_PARALLELISM + 1,
                maximum: MAX_LOCK_PARALLELISM,
            },
        ),
    ];
    for (costs, expected) in cases {
        assert_eq!(costs.params(), Err(expected), "{costs:?}");
    }

    // Parameters read from an older, weaker file still exist (unlock accepts them), and
    // lock refuses them too.
    let weak = spec_lock(&alice, &prekeys, b"pw", &TINY, [1; 16], [2; 12]);
    let weak = LockParams::of_locked(&weak).unwrap();
    assert_eq!(weak.memory_kib(), TINY.memory_kib);
    assert_eq!(
        alice.lock(&mut rng, &prekeys, b"pw", &weak),
        Err(Error::WeakLockParams {
            parameter: "memory_kib",
            minimum: MIN_LOCK_MEMORY_KIB,
        })
    );
}

#[test]
fn hostile_parameters_are_refused_before_any_work() {
    let mut rng = rng(7);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let honest = fields(&spec_lock(&alice, &prekeys, b"pw", &TINY, [1; 16], [2; 12]));
    // Each of these would allocate terabytes or run for hours: only a check made before
    // Argon2 starts can return LockParamsTooHigh for them (and return at all).
    for (memory_kib, iterations, parallelism, parameter) in [
        (u32::MAX, 1, 1, "memory_kib"),
        (MAX_LOCK_MEMORY_KIB + 1, 1, 1, "memory_kib"),
        (8, u32::MAX, 1, "iterations"),
        (
            MAX_LOCK_MEMORY_KIB,
            MAX_LOCK_ITERATIONS + 1,
            1,
            "iterations",
        ),
        (u32::MAX, u32::MAX, u32::MAX, "memory_kib"),
        (1024, 1, MAX_LOCK_PARALLELISM + 1, "parallelism"),
    ] {
        let hostile = LockedIdentity {
            memory_kib,
            iterations,
            parallelism,
            ..honest.clone()
        }
        .encode_to_vec();
        for result in [
            Identity::unlock(&hostile, b"pw").map(|_| ()),
            LockParams::of_locked(&hostile).map(|_| ()),
            Identity::change_password(&mut rng, &hostile, b"pw", b"new").map(|_| ()),
        ] {
            assert!(
                matches!(result, Err(Error::LockParamsTooHigh { parameter: p, .. }) if p == parameter),
                "{memory_kib} {iterations} {parallelism}: {result:?}"
            );
        }
    }
    // Below what Argon2 itself allows (no memory, no passes, fewer than 8 KiB a lane):
    // not made by `lock`, so corrupt.
    for (memory_kib, iterations, parallelism) in [(0, 1, 1), (8, 0, 1), (8, 1, 0), (15, 1, 2)] {
        let invalid = LockedIdentity {
            memory_kib,
            iterations,
            parallelism,
            ..honest.clone()
        }
        .encode_to_vec();
        assert!(
            matches!(
                Identity::unlock(&invalid, b"pw"),
                Err(Error::InvalidState { .. })
            ),
            "{memory_kib} {iterations} {parallelism}"
        );
    }
}

#[test]
fn lock_writes_the_documented_format() {
    let mut rng = rng(8);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let mut prekeys = PrekeyStore::new(&mut rng);
    prekeys.generate_one_time_prekeys(&mut rng, 1).unwrap();

    // What the library writes, the specification opens...
    let locked = alice.lock(&mut rng, &prekeys, b"pw", &cheapest()).unwrap();
    let message = fields(&locked);
    assert_eq!(message.version, 1);
    assert_eq!(message.salt.len(), 16);
    assert_eq!(message.nonce.len(), 12);
    let payload = spec_unlock(&locked, b"pw").expect("the documented key and AAD open it");
    assert_eq!(payload.identity, *alice.to_bytes());
    assert_eq!(payload.prekeys, *prekeys.to_bytes());
    assert!(spec_unlock(&locked, b"pW").is_none());

    // ...and what the specification writes, the library opens.
    let written = spec_lock(&alice, &prekeys, b"pw", &CHEAPEST, [9; 16], [7; 12]);
    let (identity, opened_prekeys) = Identity::unlock(&written, b"pw").unwrap();
    assert_eq!(identity.card(), alice.card());
    assert_eq!(*opened_prekeys.to_bytes(), *prekeys.to_bytes());
}

#[test]
fn every_bit_flip_is_rejected() {
    let mut rng = rng(9);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let locked = spec_lock(&alice, &prekeys, b"pw", &TINY, [3; 16], [4; 12]);
    assert!(Identity::unlock(&locked, b"pw").is_ok());
    for bit in 0..locked.len() * 8 {
        let mut flipped = locked.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(
            Identity::unlock(&flipped, b"pw").is_err(),
            "bit {bit} flipped was accepted"
        );
    }
}

#[test]
fn truncated_extended_and_random_bytes_are_rejected() {
    let mut rng = rng(10);
    let alice = Identity::generate(&mut rng, "alice").unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    let locked = spec_lock(&alice, &prekeys, b"pw", &TINY, [5; 16], [6; 12]);
    for len in 0..locked.len() {
        assert!(Identity::unlock(&locked[..len], b"pw").is_err(), "{len}");
    }
    for extra in [&[0u8][..], &[0x38, 0x01], &[0x3a, 0x00]] {
        let extended = [locked.as_slice(), extra].concat();
        assert!(Identity::unlock(&extended, b"pw").is_err());
    }
    for _ in 0..2_000 {
        let len = rng.random_range(0..300);
        let mut garbage = vec![0u8; len];
        rng.fill_bytes(&mut garbage);
        assert!(Identity::unlock(&garbage, b"pw").is_err());
        assert!(LockParams::of_locked(&garbage).is_err());
    }
}
