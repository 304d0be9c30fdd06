//! Shared fixtures of the fuzz targets: live channels and a live group built once from
//! fixed seeds, so that every run of a target fuzzes the same state and the seed corpora
//! (written by `cargo run --bin seeds`) hold inputs that are genuine for that state.
//!
//! Fixtures may panic: a failure to build them is a bug the fuzzer should report.

pub mod amplify;
pub mod budget;
pub mod conversation;
pub mod world;

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{AppKey, AppPublicKey, Card, Channel, Identity, PrekeyBundle, PrekeyStore};

/// Installs what the targets that take untrusted bytes share: the amplifying mutation
/// ([`amplify::mutate`]) and the counting allocator of the heap budget
/// ([`budget::Counting`]). Use beside `fuzz_target!`, in the target's file, with
/// [`hostile`] in the target.
#[macro_export]
macro_rules! hostile_input {
    () => {
        #[global_allocator]
        static ALLOCATOR: $crate::budget::Counting = $crate::budget::Counting;

        libfuzzer_sys::fuzz_mutator!(|data: &mut [u8], size: usize, max_size: usize, seed: u32| {
            $crate::amplify::mutate(data, size, max_size, seed, libfuzzer_sys::fuzzer_mutate)
        });
    };
}

/// Runs `target` on `data` within its heap budget ([`budget::run`]), and tells libFuzzer
/// whether the input may join the corpus ([`amplify::corpus`]). Build the fixtures first.
pub fn hostile(data: &[u8], target: impl FnOnce(&[u8])) -> libfuzzer_sys::Corpus {
    budget::run(data, target);
    amplify::corpus(data)
}

/// A seeded RNG: fixtures are the same on every run.
pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// An identity created at a fixed time.
pub fn identity(rng: &mut ChaCha20Rng, name: &str) -> Identity {
    Identity::generate_at(rng, name, 1_700_000_000).expect("identity")
}

/// Both sides of an established channel, and what passed between them.
pub struct Pair {
    pub alice: Channel,
    pub bob: Channel,
    /// Messages Alice sent that Bob has not received: the keys of all but the last are
    /// stored by Bob as skipped keys.
    pub undelivered: Vec<Vec<u8>>,
    /// Every message that was delivered, in the order sent.
    pub delivered: Vec<Vec<u8>>,
}

/// An established channel. With `skipped`, Alice's messages 1 and 2 of her second chain are
/// not delivered before 3, so Bob holds two skipped keys.
pub fn pair(skipped: bool) -> Pair {
    let mut rng = rng(1);
    let alice_id = identity(&mut rng, "alice");
    let bob_id = identity(&mut rng, "bob");
    let mut prekeys = PrekeyStore::new(&mut rng);
    let bundle = prekeys.bundle(&bob_id, None).expect("bundle");
    let mut alice = Channel::create(&mut rng, &alice_id, &bundle).expect("create");
    let first = alice.encrypt(&mut rng, b"first").expect("encrypt");
    let mut bob = Channel::join(&bob_id, &mut prekeys, &first)
        .expect("join")
        .into_channel();
    let reply = bob.encrypt(&mut rng, b"reply").expect("encrypt");
    alice.decrypt(&reply).expect("reply");
    let mut delivered = vec![first, reply];
    let mut undelivered = Vec::new();
    if skipped {
        undelivered.push(alice.encrypt(&mut rng, b"lost one").expect("encrypt"));
        undelivered.push(alice.encrypt(&mut rng, b"lost two").expect("encrypt"));
    }
    let later = alice.encrypt(&mut rng, b"later").expect("encrypt");
    bob.decrypt(&later).expect("later");
    delivered.push(later);
    Pair {
        alice,
        bob,
        undelivered,
        delivered,
    }
}

/// Bob's side before any channel: his identity, his prekeys and the bundle he publishes
/// (with one-time prekey), and Alice's identity and a genuine first message from her.
pub struct Responder {
    pub bob: Identity,
    pub prekeys: PrekeyStore,
    pub bundle: PrekeyBundle,
    pub alice: Identity,
    pub first: Vec<u8>,
}

/// A responder whose prekey store has one-time prekeys, and a genuine first message.
pub fn responder() -> Responder {
    let mut rng = rng(2);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let mut prekeys = PrekeyStore::new(&mut rng);
    let one_time = prekeys
        .generate_one_time_prekeys(&mut rng, 3)
        .expect("one-time prekeys");
    let bundle = prekeys
        .bundle(&bob, one_time.get(1).copied())
        .expect("bundle");
    let mut channel = Channel::create(&mut rng, &alice, &bundle).expect("create");
    let first = channel.encrypt(&mut rng, b"first").expect("encrypt");
    Responder {
        bob,
        prekeys,
        bundle,
        alice,
        first,
    }
}

/// Bob's group, holding keys of Alice and Carol and one skipped key of Carol's, and
/// genuine group messages for the seed corpus.
pub struct GroupFixture {
    pub bob: ratchetkit::Group,
    /// Carol's first message, whose key Bob holds as skipped, then messages Bob has not
    /// received: from Alice, from Carol, and Bob's own.
    pub undelivered: Vec<Vec<u8>>,
}

/// See [`GroupFixture`].
pub fn group_with_skipped() -> GroupFixture {
    use world::{ALICE, BOB, CAROL};
    let mut world = world::World::new();
    let mut send = |who: usize, text: &[u8]| {
        world.members[who]
            .group
            .as_mut()
            .expect("a member")
            .encrypt(&mut world.rng, text)
            .expect("encrypt")
    };
    let skipped = send(CAROL, b"carol one");
    let carol_two = send(CAROL, b"carol two");
    let alice_one = send(ALICE, b"alice one");
    let unread = [
        send(ALICE, b"alice two"),
        send(CAROL, b"carol three"),
        send(BOB, b"bob one"),
    ];
    let mut bob = world.members[BOB].group.take().expect("bob is a member");
    bob.decrypt(&carol_two).expect("carol two");
    bob.decrypt(&alice_one).expect("alice one");
    let mut undelivered = vec![skipped];
    undelivered.extend(unread);
    GroupFixture { bob, undelivered }
}

/// A recipient of sealed messages and streams, the candidate sender cards it opens them
/// with (the sender's and another), and genuine sealed inputs for the seed corpus.
pub struct SealedFixture {
    pub recipient: Identity,
    pub senders: Vec<ratchetkit::Card>,
    /// A sealed message to the recipient and another card.
    pub message: Vec<u8>,
    /// Sealed streams of one chunk and of two.
    pub streams: Vec<Vec<u8>>,
}

/// See [`SealedFixture`].
pub fn sealed() -> SealedFixture {
    let mut rng = rng(3);
    let sender = identity(&mut rng, "alice");
    let recipient = identity(&mut rng, "bob");
    let other = identity(&mut rng, "carol");
    let to = [recipient.card().clone(), other.card().clone()];
    let message =
        ratchetkit::seal(&mut rng, &sender, &to, b"sealed for bob and carol").expect("seal");
    let streams = [1_000, ratchetkit::sealed::STREAM_CHUNK_SIZE + 1_000]
        .into_iter()
        .map(|len| {
            let mut sealed = Vec::new();
            ratchetkit::seal_stream(&mut rng, &sender, &to, &vec![7u8; len][..], &mut sealed)
                .expect("seal a stream");
            sealed
        })
        .collect();
    SealedFixture {
        recipient,
        senders: vec![other.card().clone(), sender.card().clone()],
        message,
        streams,
    }
}

/// An identity's cards for the `card` target and its seeds: the first card, the same card
/// approved by an app, and the card that replaced it (plain and approved).
pub struct CardFixture {
    /// The first card: what the chain checks trust.
    pub first: Card,
    /// `first` co-signed by `app`.
    pub approved: Card,
    /// The card that replaced `first` (a rotation, created a day later).
    pub rotated: Card,
    /// `rotated` co-signed by `app`.
    pub rotated_approved: Card,
    /// The app's key.
    pub app: AppPublicKey,
}

/// See [`CardFixture`].
pub fn cards() -> CardFixture {
    let mut rng = rng(4);
    let alice = identity(&mut rng, "alice");
    let app = AppKey::generate(&mut rng);
    let rotated = alice
        .rotate_at(&mut rng, 1_700_086_400)
        .expect("rotate alice's keys");
    CardFixture {
        first: alice.card().clone(),
        approved: alice.card().approve(&app).expect("approve"),
        rotated: rotated.card().clone(),
        rotated_approved: rotated.card().approve(&app).expect("approve"),
        app: app.public(),
    }
}

/// The bundle owner's side for the `bundle` target: [`Responder`]'s Bob, his saved prekey
/// store, and every bundle he could publish (the fallback and one per one-time prekey).
pub struct BundleFixture {
    pub responder: Responder,
    /// The prekey store, saved: every run loads its own.
    pub saved_prekeys: Vec<u8>,
    /// Bob's genuine bundles: without a one-time prekey first, then one per one-time
    /// prekey.
    pub genuine: Vec<PrekeyBundle>,
}

/// See [`BundleFixture`].
pub fn bundles() -> BundleFixture {
    let responder = responder();
    let saved_prekeys = responder.prekeys.to_bytes().to_vec();
    let genuine = core::iter::once(None)
        .chain(
            responder
                .prekeys
                .one_time_prekey_ids()
                .into_iter()
                .map(Some),
        )
        .map(|id| {
            responder
                .prekeys
                .bundle(&responder.bob, id)
                .expect("bundle")
        })
        .collect();
    BundleFixture {
        responder,
        saved_prekeys,
        genuine,
    }
}
