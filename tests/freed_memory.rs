//! Freed heap memory keeps no message or chain key and no block of Argon2id's working memory.
//!
//! A checking global allocator looks at every block the process frees while a run is
//! recorded: blocks of at least [`LARGE`] bytes (only Argon2id's working memory is that
//! large here) must be all zeros when freed; smaller ones are copied to a side arena,
//! which is searched afterwards. A `realloc` counts as freeing the old block, since a
//! moved block's old bytes are left behind in freed memory.
//!
//! What is searched for is known independently of ratchetkit:
//! - a channel's message and chain keys come from a model of the hybrid start and the
//!   Double Ratchet below, run on the primitive crates (x25519-dalek, libcrux-ml-kem, hkdf,
//!   hmac) from the private keys ratchetkit drew, and checked by opening every message the
//!   library sent with them;
//! - a group sender's are KDF_CK steps (docs/PROTOCOL.md) from the chain key of each of its
//!   sender keys, computed with the vectors' primitives;
//! - Argon2id's blocks are those of the same Argon2id run on the argon2 crate directly.
//!
//! The run: out-of-order delivery that skips and then uses hundreds of keys, eviction past
//! `MAX_SKIPPED_KEYS`, the end of a receiving chain with keys still skipped on it, saves
//! and loads in between; the same for a group sender, whose new epochs then push out the
//! old ones with their skipped keys; dropping everything; then locking and unlocking an
//! identity. No key of the run may be found in the freed bytes (a chain key left behind
//! would give every later message key of its chain), and no Argon2id block.
//!
//! Run with `--nocapture` to see what was searched.

// The allocator needs `unsafe`: it forwards to `System` and reads the blocks it frees.
#![allow(unsafe_code)]

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::convert::Infallible;
use std::ptr;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libcrux_ml_kem::mlkem768;
use prost::Message as _;
use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng, TryCryptoRng, TryRng};
use ratchetkit::wire::v1;
use ratchetkit::{
    channel::MAX_SKIPPED_KEYS, channel::MESSAGE_INFO, channel::MESSAGE_SALT_LEN,
    channel::PQXDH_INFO, channel::PREKEY_INFO_CONTEXT, channel::ROOT_INFO, identity::KEM_SEED_LEN,
    identity::MIN_LOCK_ITERATIONS, identity::MIN_LOCK_MEMORY_KIB, identity::MIN_LOCK_PARALLELISM,
    Channel, Error, Group, Identity, LockParams, PrekeyStore,
};
use sha2::{Digest, Sha256};

use common::groups::World;
use common::{fields_at, raw_fields};

// ---- The checking allocator -------------------------------------------------------------

/// Freed blocks at least this large are checked for zeros when freed instead of copied.
const LARGE: usize = 1 << 20;

/// Room for the copies of freed blocks: address space only, touched as it fills.
const ARENA_LEN: usize = 128 << 20;

static RECORDING: AtomicBool = AtomicBool::new(false);
static ARENA: AtomicPtr<u8> = AtomicPtr::new(ptr::null_mut());
static ARENA_USED: AtomicUsize = AtomicUsize::new(0);
static ARENA_OVERFLOW: AtomicUsize = AtomicUsize::new(0);
static SMALL_FREED: AtomicUsize = AtomicUsize::new(0);
static LARGE_FREED: AtomicUsize = AtomicUsize::new(0);
static LARGE_FREED_BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGE_NOT_WIPED: AtomicUsize = AtomicUsize::new(0);

struct Checking;

impl Checking {
    /// Looks at a block about to be freed, if a run is being recorded.
    ///
    /// # Safety
    /// `block` must be valid for reads of `size` bytes.
    unsafe fn freeing(block: *const u8, size: usize) {
        if !RECORDING.load(Ordering::SeqCst) || size == 0 {
            return;
        }
        if size >= LARGE {
            // SAFETY: the caller's guarantee.
            let bytes = unsafe { std::slice::from_raw_parts(block, size) };
            LARGE_FREED.fetch_add(1, Ordering::SeqCst);
            LARGE_FREED_BYTES.fetch_add(size, Ordering::SeqCst);
            if bytes.iter().any(|&byte| byte != 0) {
                LARGE_NOT_WIPED.fetch_add(1, Ordering::SeqCst);
            }
            return;
        }
        let arena = ARENA.load(Ordering::SeqCst);
        let start = ARENA_USED.fetch_add(size, Ordering::SeqCst);
        if arena.is_null() || start + size > ARENA_LEN {
            ARENA_OVERFLOW.fetch_add(size, Ordering::SeqCst);
            return;
        }
        // SAFETY: `start + size` is within the arena, which no one else writes there.
        unsafe { ptr::copy_nonoverlapping(block, arena.add(start), size) };
        SMALL_FREED.fetch_add(1, Ordering::SeqCst);
    }
}

// SAFETY: every call is forwarded to `System` with the same layout; `realloc` while
// recording allocates the new block, copies, and frees the old one through `System`.
unsafe impl GlobalAlloc for Checking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: Layout) {
        unsafe {
            Self::freeing(block, layout.size());
            System.dealloc(block, layout);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if !RECORDING.load(Ordering::SeqCst) {
            return unsafe { System.realloc(block, layout, new_size) };
        }
        unsafe {
            let new_layout = Layout::from_size_align_unchecked(new_size, layout.align());
            let new = System.alloc(new_layout);
            if !new.is_null() {
                ptr::copy_nonoverlapping(block, new, layout.size().min(new_size));
                Self::freeing(block, layout.size());
                System.dealloc(block, layout);
            }
            new
        }
    }
}

#[global_allocator]
static ALLOCATOR: Checking = Checking;

fn start_recording() {
    // SAFETY: a valid non-zero layout; the arena is never freed (the process ends).
    let arena = unsafe { System.alloc(Layout::from_size_align(ARENA_LEN, 4096).unwrap()) };
    assert!(!arena.is_null(), "no address space for the arena");
    ARENA.store(arena, Ordering::SeqCst);
    RECORDING.store(true, Ordering::SeqCst);
}

/// Stops recording; the copies of the blocks freed since [`start_recording`].
fn stop_recording() -> &'static [u8] {
    RECORDING.store(false, Ordering::SeqCst);
    let used = ARENA_USED.load(Ordering::SeqCst).min(ARENA_LEN);
    // SAFETY: the arena's first `used` bytes were written by `freeing`; it lives on.
    unsafe { std::slice::from_raw_parts(ARENA.load(Ordering::SeqCst), used) }
}

/// How many of `needles` (each `N` bytes) occur anywhere in `haystack`, at any offset.
fn count_found<const N: usize>(haystack: &[u8], needles: &[[u8; N]]) -> usize {
    // An 8-byte prefix picks the candidates; a bitmap of prefixes keeps the common case (no
    // candidate) to one lookup.
    const BITS: u32 = 24;
    let slot = |prefix: u64| (prefix.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - BITS)) as usize;
    let prefix = |bytes: &[u8]| u64::from_le_bytes(bytes[..8].try_into().unwrap());
    let mut bitmap = vec![0u64; (1 << BITS) / 64];
    let mut by_prefix: HashMap<u64, Vec<usize>> = HashMap::new();
    for (index, needle) in needles.iter().enumerate() {
        let p = prefix(needle);
        bitmap[slot(p) / 64] |= 1 << (slot(p) % 64);
        by_prefix.entry(p).or_default().push(index);
    }
    let mut found = vec![false; needles.len()];
    for start in 0..haystack.len().saturating_sub(N - 1) {
        let p = prefix(&haystack[start..]);
        if bitmap[slot(p) / 64] & (1 << (slot(p) % 64)) == 0 {
            continue;
        }
        for &index in by_prefix.get(&p).into_iter().flatten() {
            if haystack[start..start + N] == needles[index] {
                found[index] = true;
            }
        }
    }
    found.iter().filter(|&&found| found).count()
}

// ---- What is searched for --------------------------------------------------------------

/// Keys to search for: message keys, and the chain keys they came from (a chain key left
/// behind gives every later message key of its chain).
///
/// Room is reserved up front and never grown, so the lists leave no copy in freed memory.
struct Keys {
    message: Vec<[u8; 32]>,
    chain: Vec<[u8; 32]>,
    /// A channel start's secrets: its four X25519 outputs, the ML-KEM shared secret, the
    /// first root key.
    start: Vec<[u8; 32]>,
}

impl Keys {
    fn with_capacity(capacity: usize) -> Self {
        Self {
            message: Vec::with_capacity(capacity),
            chain: Vec::with_capacity(2 * capacity),
            start: Vec::with_capacity(START_SECRETS),
        }
    }

    fn push(&mut self, message_key: [u8; 32], chain_keys: [[u8; 32]; 2]) {
        assert!(
            self.message.len() < self.message.capacity()
                && self.chain.len() + 2 <= self.chain.capacity(),
            "room reserved for every key"
        );
        self.message.push(message_key);
        self.chain.extend(chain_keys);
    }

    /// The keys of `count` messages of the chain at `chain_key` (KDF_CK).
    fn chain_from(&mut self, mut chain_key: [u8; 32], count: usize) {
        for _ in 0..count {
            let (message_key, next) = kdf_ck(&chain_key);
            self.push(message_key, [chain_key, next]);
            chain_key = next;
        }
    }
}

// ---- A channel, with its message keys from a model on the primitives ------------------

/// The secrets of a start with a one-time prekey: DH1..DH4, the KEM secret, the root key.
const START_SECRETS: usize = 6;

const PLAINTEXT: &[u8] = b"a message";

/// A message sent, as bytes.
type Sent = Vec<u8>;

fn x25519_public(secret: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::PublicKey::from(&x25519_dalek::StaticSecret::from(*secret)).to_bytes()
}

fn x25519(secret: &[u8; 32], public: &[u8; 32]) -> [u8; 32] {
    x25519_dalek::StaticSecret::from(*secret)
        .diffie_hellman(&x25519_dalek::PublicKey::from(*public))
        .to_bytes()
}

fn hkdf<const N: usize>(salt: &[u8], ikm: &[u8], info: &[u8]) -> [u8; N] {
    let mut okm = [0u8; N];
    Hkdf::<Sha256>::new(Some(salt), ikm)
        .expand(info, &mut okm)
        .expect("HKDF output length");
    okm
}

fn split(okm: &[u8]) -> ([u8; 32], [u8; 32]) {
    (
        okm[..32].try_into().expect("32 bytes"),
        okm[32..64].try_into().expect("32 bytes"),
    )
}

/// KDF_RK: HKDF-SHA256(salt = root key, ikm = DH output, info = ROOT_INFO), 64 bytes.
fn kdf_rk(root_key: &[u8; 32], dh: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    split(&hkdf::<64>(root_key, dh, ROOT_INFO))
}

/// KDF_CK: (message key, next chain key) = (HMAC(chain key, 0x01), HMAC(chain key, 0x02)).
fn kdf_ck(chain_key: &[u8; 32]) -> ([u8; 32], [u8; 32]) {
    let hmac = |byte: u8| -> [u8; 32] {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(chain_key).expect("HMAC key");
        mac.update(&[byte]);
        mac.finalize().into_bytes().into()
    };
    (hmac(0x01), hmac(0x02))
}

/// Opens a channel message with the message key `message_key` (AES-256-GCM under
/// HKDF-SHA256(salt = the header's salt, ikm = message key, MESSAGE_INFO), the associated
/// data `channel AD || 0x00 || header` or `channel AD || 0x01 || SHA-256(PREKEY_INFO_CONTEXT
/// || PrekeyInfo) || header`) and strips the padding.
fn open(message_key: &[u8; 32], channel_ad: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    let message = v1::ChannelMessage::decode(message).ok()?;
    let header = v1::RatchetHeader::decode(message.header.as_slice()).ok()?;
    let okm = hkdf::<44>(&header.salt, message_key, MESSAGE_INFO);
    let key: [u8; 32] = okm[..32].try_into().ok()?;
    let nonce: [u8; 12] = okm[32..].try_into().ok()?;
    let mut aad = channel_ad.to_vec();
    match &message.prekey {
        Some(prekey) => {
            aad.push(0x01);
            aad.extend_from_slice(&Sha256::digest(
                [PREKEY_INFO_CONTEXT, &prekey.encode_to_vec()].concat(),
            ));
        }
        None => aad.push(0x00),
    }
    aad.extend_from_slice(&message.header);
    let padded = Aes256Gcm::new(&key.into())
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &message.ciphertext,
                aad: &aad,
            },
        )
        .ok()?;
    let end = padded.iter().rposition(|&byte| byte != 0)?;
    (padded[end] == 0x80).then(|| padded[..end].to_vec())
}

/// A seeded `ChaCha20Rng` that records every draw (ratchetkit draws only with
/// `fill_bytes`), so that the model knows every private key.
struct RecordingRng {
    inner: ChaCha20Rng,
    draws: Vec<Vec<u8>>,
}

impl RecordingRng {
    fn new(seed: [u8; 32]) -> Self {
        Self {
            inner: ChaCha20Rng::from_seed(seed),
            draws: Vec::new(),
        }
    }

    /// The draws since the last call, of the lengths `lengths` (`what` drew them).
    fn take<const N: usize>(&mut self, what: &str, lengths: [usize; N]) -> [Vec<u8>; N] {
        let draws = std::mem::take(&mut self.draws);
        assert_eq!(
            draws.iter().map(Vec::len).collect::<Vec<_>>(),
            lengths,
            "what {what} drew"
        );
        draws.try_into().expect("N draws")
    }
}

impl TryRng for RecordingRng {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        panic!("ratchetkit draws only with fill_bytes")
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        panic!("ratchetkit draws only with fill_bytes")
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        self.draws.push(dst.to_vec());
        Ok(())
    }
}

impl TryCryptoRng for RecordingRng {}

fn array32(bytes: &[u8]) -> [u8; 32] {
    bytes.try_into().expect("32 bytes")
}

/// One side's Double Ratchet, as far as the keys of what it sends go.
struct Side {
    root_key: [u8; 32],
    ratchet_secret: [u8; 32],
    /// The last ratchet key received from the peer (the next sending chain agrees with it).
    peer_ratchet_key: [u8; 32],
    /// The chain key of the current sending chain, if there is one.
    sending: Option<[u8; 32]>,
}

struct Conversation {
    rng: RecordingRng,
    /// The channel's associated data (both identities' keys).
    associated_data: Vec<u8>,
    /// Alice's side, then Bob's.
    sides: [Side; 2],
    alice: Channel,
    /// Absent until Bob joins from Alice's first message.
    bob: Option<Channel>,
    /// Every message key of the conversation, with its chain keys.
    keys: Keys,
}

impl Conversation {
    /// Alice starts a channel to Bob with a one-time prekey and Bob joins from her first
    /// message. The start, from the recorded private keys: RK || CK = HKDF(32 zero bytes,
    /// 0xFF * 32 || DH1 || DH2 || DH3 || DH4 || SS, PQXDH_INFO), Alice's first chain under
    /// her ephemeral key with CK. The start's secrets are searched for too.
    fn start(mut keys: Keys) -> Self {
        let mut rng = RecordingRng::new(*b"ratchetkit/tests/freed-memory/02");
        let alice = Identity::generate_at(&mut rng, "alice", common::CREATED_AT).unwrap();
        let [_, alice_agreement] = rng.take("alice", [32, 32]);
        let bob = Identity::generate_at(&mut rng, "bob", common::CREATED_AT).unwrap();
        let [_, bob_agreement] = rng.take("bob", [32, 32]);
        let mut bob_prekeys = PrekeyStore::new(&mut rng);
        let [signed_prekey, _] = rng.take("PrekeyStore::new", [32, KEM_SEED_LEN]);
        let one_time_ids = bob_prekeys.generate_one_time_prekeys(&mut rng, 1).unwrap();
        let [one_time_prekey, kem_seed] =
            rng.take("PrekeyStore::generate_one_time_prekeys", [32, KEM_SEED_LEN]);
        let bundle = bob_prekeys.bundle(&bob, Some(one_time_ids[0])).unwrap();
        let alice_channel = Channel::create(&mut rng, &alice, &bundle).unwrap();
        let [ephemeral, kem_randomness] = rng.take("Channel::create", [32, 32]);

        let (alice_agreement, ephemeral) = (array32(&alice_agreement), array32(&ephemeral));
        let signed_prekey_public = x25519_public(&array32(&signed_prekey));
        let kem_pair = mlkem768::generate_key_pair(kem_seed.try_into().expect("64 bytes"));
        let (kem_ciphertext, kem_secret) =
            mlkem768::encapsulate(kem_pair.public_key(), array32(&kem_randomness));
        let secrets = [
            x25519(&alice_agreement, &signed_prekey_public),
            x25519(&ephemeral, &x25519_public(&array32(&bob_agreement))),
            x25519(&ephemeral, &signed_prekey_public),
            x25519(&ephemeral, &x25519_public(&array32(&one_time_prekey))),
            kem_secret,
        ];
        // The model's own copy is wiped too: only the library's are searched for.
        let mut ikm = zeroize::Zeroizing::new(Vec::with_capacity(32 * (1 + secrets.len())));
        ikm.extend_from_slice(&[0xFF; 32]);
        for secret in &secrets {
            ikm.extend_from_slice(secret);
        }
        let (root_key, chain_key) = split(&hkdf::<64>(&[0; 32], &ikm, PQXDH_INFO));
        keys.start.extend(secrets);
        keys.start.push(root_key);
        assert_eq!(keys.start.len(), START_SECRETS);
        let associated_data = [
            alice.card().signing_key(),
            alice.card().agreement_key(),
            bob.card().signing_key(),
            bob.card().agreement_key(),
        ]
        .concat();
        let mut conversation = Self {
            rng,
            associated_data,
            sides: [
                Side {
                    root_key,
                    ratchet_secret: ephemeral,
                    peer_ratchet_key: [0; 32],
                    sending: Some(chain_key),
                },
                Side {
                    root_key,
                    ratchet_secret: [0; 32],
                    peer_ratchet_key: x25519_public(&ephemeral),
                    sending: None,
                },
            ],
            alice: alice_channel,
            bob: None,
            keys,
        };
        let first = conversation.send("alice");
        let prekey = v1::ChannelMessage::decode(first.as_slice())
            .unwrap()
            .prekey
            .expect("prekey information");
        assert_eq!(
            prekey.kem_ciphertext,
            kem_ciphertext.as_slice(),
            "the model encapsulates as ratchetkit does"
        );
        conversation.bob = Some(
            Channel::join(&bob, &mut bob_prekeys, &first)
                .unwrap()
                .into_channel(),
        );
        conversation
    }

    fn side(party: &str) -> usize {
        usize::from(party != "alice")
    }

    fn channel(&mut self, party: &str) -> &mut Channel {
        if party == "alice" {
            &mut self.alice
        } else {
            self.bob.as_mut().expect("Bob has joined")
        }
    }

    /// `party` sends a message; the model computes its message key, which must open it.
    fn send(&mut self, party: &str) -> Sent {
        let index = Self::side(party);
        let new_chain = self.sides[index].sending.is_none();
        let channel = if party == "alice" {
            &mut self.alice
        } else {
            self.bob.as_mut().expect("Bob has joined")
        };
        let message = channel.encrypt(&mut self.rng, PLAINTEXT).unwrap();
        let side = &mut self.sides[index];
        let chain_key = if new_chain {
            let [secret, _salt] = self
                .rng
                .take("a new chain's message", [32, MESSAGE_SALT_LEN]);
            side.ratchet_secret = array32(&secret);
            let dh = x25519(&side.ratchet_secret, &side.peer_ratchet_key);
            let (root_key, chain_key) = kdf_rk(&side.root_key, &dh);
            side.root_key = root_key;
            chain_key
        } else {
            self.rng.take("a message", [MESSAGE_SALT_LEN]);
            side.sending.expect("a sending chain")
        };
        let (message_key, next) = kdf_ck(&chain_key);
        side.sending = Some(next);
        assert_eq!(
            open(&message_key, &self.associated_data, &message).as_deref(),
            Some(PLAINTEXT),
            "the model's message key opens what ratchetkit sent"
        );
        self.keys.push(message_key, [chain_key, next]);
        message
    }

    /// `party` decrypts `message`; a ratchet key not seen before is the receiving half of a
    /// DH ratchet step (its chain keys are the sender's, already listed).
    fn deliver(&mut self, party: &str, message: &Sent) {
        assert_eq!(self.channel(party).decrypt(message).unwrap(), PLAINTEXT);
        let header = v1::ChannelMessage::decode(message.as_slice())
            .unwrap()
            .header;
        let ratchet_key = array32(
            &v1::RatchetHeader::decode(header.as_slice())
                .unwrap()
                .ratchet_key,
        );
        let side = &mut self.sides[Self::side(party)];
        if ratchet_key != side.peer_ratchet_key {
            let dh = x25519(&side.ratchet_secret, &ratchet_key);
            side.root_key = kdf_rk(&side.root_key, &dh).0;
            side.peer_ratchet_key = ratchet_key;
            side.sending = None;
        }
    }

    fn reload(&mut self, party: &str) {
        let saved = self.channel(party).to_bytes();
        *self.channel(party) = Channel::from_bytes(&saved).unwrap();
    }
}

/// 1, ..., n - 1 in a scrambled order (`step` must be prime to n - 1).
fn scrambled(n: usize, step: usize) -> impl Iterator<Item = usize> {
    (0..n - 1).map(move |i| 1 + i * step % (n - 1))
}

/// The channel part of the run; returns its keys.
fn channel_run(keys: Keys) -> Keys {
    let mut c = Conversation::start(keys);

    // Bob gets the last of 250 messages first, then the 249 before it, scrambled, with
    // saves and loads in between.
    let sent: Vec<Sent> = (0..250).map(|_| c.send("alice")).collect();
    c.deliver("bob", &sent[249]);
    assert_eq!(c.channel("bob").skipped_keys(), 249);
    c.reload("bob");
    for (done, i) in scrambled(250, 97).enumerate() {
        c.deliver("bob", &sent[i - 1]);
        if done == 120 {
            c.reload("bob");
        }
    }
    assert_eq!(c.channel("bob").skipped_keys(), 0);

    // Past MAX_SKIPPED_KEYS: 1,999 keys skipped, then 199 more evict the 198 oldest.
    let sent: Vec<Sent> = (0..2_200).map(|_| c.send("alice")).collect();
    c.deliver("bob", &sent[1_999]);
    c.deliver("bob", &sent[2_199]);
    assert_eq!(c.channel("bob").skipped_keys(), MAX_SKIPPED_KEYS);
    assert_eq!(
        c.channel("bob").decrypt(&sent[0]),
        Err(Error::Duplicate),
        "evicted"
    );
    for message in &sent[198..348] {
        c.deliver("bob", message);
    }
    c.reload("bob");

    // Alice's chain ends with ten messages Bob has not seen: his next step skips them.
    let late: Vec<Sent> = (0..10).map(|_| c.send("alice")).collect();
    let reply = c.send("bob");
    c.deliver("alice", &reply);
    let next = c.send("alice");
    c.deliver("bob", &next);
    c.deliver("bob", &late[4]);
    c.deliver("bob", &late[0]);
    c.reload("bob");
    c.reload("alice");

    // Everything is dropped while recording: what was still held must be wiped.
    let Conversation { keys, .. } = c;
    keys
}

// ---- A group sender's skipped keys ------------------------------------------------------

/// Reads a varint field of a protobuf message.
fn varint_field(message: &[u8], number: u32) -> u64 {
    raw_fields(message)
        .into_iter()
        .find(|field| field.number == number && field.wire_type == 0)
        .map_or(0, |field| {
            message[field.value]
                .iter()
                .enumerate()
                .fold(0, |value, (i, byte)| {
                    value | (u64::from(byte & 0x7f) << (7 * i))
                })
        })
}

/// Alice's group messages in her first sender key epoch.
const GROUP_MESSAGES: usize = 2_400;

/// New epochs Alice starts after them, and her messages in each.
const REKEYS: usize = 4;
const REKEYED_MESSAGES: usize = 60;

/// The chain key of Alice's current sender key, read from her saved group before she
/// sends on it.
fn own_chain_key(world: &mut World) -> [u8; 32] {
    let state = world.group(0).to_bytes();
    let own = fields_at(&state, &[4])[0];
    assert_eq!(
        varint_field(own, 3),
        0,
        "Alice has sent nothing on this epoch yet"
    );
    fields_at(own, &[2])[0].try_into().unwrap()
}

/// A group of Alice and Bob, and the keys of Alice's first [`GROUP_MESSAGES`] messages.
fn group_setup(keys: &mut Keys) -> World {
    let mut world = World::new(14, 2);
    world.create_group(0, &[1]);
    keys.chain_from(own_chain_key(&mut world), GROUP_MESSAGES);
    world
}

/// The group part of the run: Bob's skipped keys of Alice's messages used out of order,
/// with a save and load, evicted past `MAX_GROUP_SKIPPED_KEYS`, and dropped with the
/// epochs they belong to when Alice's new epochs push those out of the ones Bob keeps.
fn group_run(mut world: World, keys: &mut Keys) {
    let sent: Vec<Vec<u8>> = (0..GROUP_MESSAGES)
        .map(|_| {
            world.members[0]
                .group()
                .encrypt(&mut world.rng, PLAINTEXT)
                .unwrap()
        })
        .collect();
    let bob = world.group(1);
    bob.decrypt(&sent[299]).unwrap();
    let saved = bob.to_bytes();
    *bob = Group::from_bytes(&saved).unwrap();
    for i in scrambled(300, 101) {
        assert_eq!(bob.decrypt(&sent[i - 1]).unwrap().plaintext(), PLAINTEXT);
    }
    bob.decrypt(&sent[2_299]).unwrap();
    bob.decrypt(&sent[2_399]).unwrap();
    assert_eq!(
        bob.decrypt(&sent[300]).unwrap_err(),
        Error::Duplicate,
        "evicted"
    );
    for message in &sent[400..500] {
        bob.decrypt(message).unwrap();
    }

    for _ in 0..REKEYS {
        world.rekey(0);
        world.flush();
        keys.chain_from(own_chain_key(&mut world), REKEYED_MESSAGES);
        let sent: Vec<Vec<u8>> = (0..REKEYED_MESSAGES)
            .map(|_| {
                world.members[0]
                    .group()
                    .encrypt(&mut world.rng, PLAINTEXT)
                    .unwrap()
            })
            .collect();
        let bob = world.group(1);
        bob.decrypt(&sent[40]).unwrap();
        for message in sent[..40].iter().rev() {
            bob.decrypt(message).unwrap();
        }
        // Leaves 18 skipped.
        bob.decrypt(&sent[REKEYED_MESSAGES - 1]).unwrap();
    }
    let alice = world.key(0);
    assert_eq!(world.group(1).skipped_keys(&alice), 3 * 18);
    drop(world);
}

// ---- Argon2id --------------------------------------------------------------------------

/// A seeded RNG that keeps the first 16-byte draw: the salt of `Identity::lock`.
struct SaltSpy {
    inner: ChaCha20Rng,
    salt: Option<[u8; 16]>,
}

impl TryRng for SaltSpy {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(self.inner.next_u32())
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(self.inner.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.inner.fill_bytes(dst);
        if dst.len() == 16 && self.salt.is_none() {
            self.salt = dst.try_into().ok();
        }
        Ok(())
    }
}

impl TryCryptoRng for SaltSpy {}

const PASSWORD: &[u8] = b"correct horse";

fn lowest_lock_params() -> LockParams {
    LockParams::new(
        MIN_LOCK_MEMORY_KIB,
        MIN_LOCK_ITERATIONS,
        MIN_LOCK_PARALLELISM,
    )
    .expect("the minimums")
}

/// Locks and unlocks an identity; the salt used.
fn argon2_run() -> [u8; 16] {
    let mut rng = SaltSpy {
        inner: ChaCha20Rng::seed_from_u64(14),
        salt: None,
    };
    let identity = Identity::generate_at(&mut rng, "carol", common::CREATED_AT).unwrap();
    let prekeys = PrekeyStore::new(&mut rng);
    rng.salt = None;
    let locked = identity
        .lock(&mut rng, &prekeys, PASSWORD, &lowest_lock_params())
        .unwrap();
    let (unlocked, _) = Identity::unlock(&locked, PASSWORD).unwrap();
    assert_eq!(unlocked.card(), identity.card());
    rng.salt.expect("lock drew a salt")
}

/// The working memory of that Argon2id run at its end, as 1 KiB blocks.
fn argon2_blocks(salt: &[u8; 16]) -> Vec<[u8; 1024]> {
    let params = lowest_lock_params();
    let params = Params::new(
        params.memory_kib(),
        params.iterations(),
        params.parallelism(),
        Some(32),
    )
    .unwrap();
    let mut memory = vec![Block::new(); params.block_count()];
    let mut key = [0u8; 32];
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_into_with_memory(PASSWORD, salt, &mut key, &mut memory)
        .unwrap();
    memory
        .iter()
        .map(|block| {
            let mut bytes = [0u8; 1024];
            for (out, word) in bytes.chunks_mut(8).zip(block.as_ref()) {
                out.copy_from_slice(&word.to_le_bytes());
            }
            bytes
        })
        .collect()
}

// ---- The test ----------------------------------------------------------------------------

#[test]
fn no_used_key_or_argon2_block_survives_in_freed_memory() {
    let mut group_keys = Keys::with_capacity(GROUP_MESSAGES + REKEYS * REKEYED_MESSAGES);
    let world = group_setup(&mut group_keys);
    let channel_keys = Keys::with_capacity(3_000);

    start_recording();
    let channel_keys = channel_run(channel_keys);
    group_run(world, &mut group_keys);
    let salt = argon2_run();
    let freed = stop_recording();

    let blocks = argon2_blocks(&salt);
    let mut failures = Vec::new();
    println!(
        "freed memory searched: {} bytes in {} blocks under 1 MiB",
        freed.len(),
        SMALL_FREED.load(Ordering::SeqCst)
    );
    for (what, keys) in [
        ("channel message keys", &channel_keys.message),
        ("channel chain keys", &channel_keys.chain),
        ("group message keys", &group_keys.message),
        ("group chain keys", &group_keys.chain),
        ("channel start secrets", &channel_keys.start),
    ] {
        let found = count_found(freed, keys);
        println!("{what}: {} searched, {found} found", keys.len());
        if found > 0 {
            failures.push(format!("{found} {what}"));
        }
    }
    let found = count_found(freed, &blocks);
    println!(
        "Argon2id blocks (1 KiB): {} searched, {found} found",
        blocks.len()
    );
    if found > 0 {
        failures.push(format!("{found} Argon2id blocks"));
    }
    let large = LARGE_FREED.load(Ordering::SeqCst);
    let not_wiped = LARGE_NOT_WIPED.load(Ordering::SeqCst);
    println!(
        "freed blocks of 1 MiB or more: {large}, {} bytes, checked for zeros: {not_wiped} not wiped",
        LARGE_FREED_BYTES.load(Ordering::SeqCst)
    );
    if not_wiped > 0 {
        failures.push(format!("{not_wiped} blocks of 1 MiB or more not wiped"));
    }

    assert_eq!(
        ARENA_OVERFLOW.load(Ordering::SeqCst),
        0,
        "every freed byte searched"
    );
    assert!(
        large >= 2,
        "both Argon2id runs freed their memory while recorded"
    );
    assert!(
        failures.is_empty(),
        "left in freed memory: {}",
        failures.join(", ")
    );
}
