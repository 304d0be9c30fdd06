//! The client layer's sessions: first contact, restarts from the store, simultaneous
//! starts in every interleaving, linked devices, and hostile envelopes.

use std::convert::Infallible;

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::client::{
    peek, AccountId, Client, ClientError, DeviceId, EnvelopeKind, Event, MemoryStore, Outgoing,
};
use ratchetkit::{Error, StorageKey};

type TestClient = Client<MemoryStore>;
type Result<T> = core::result::Result<T, ClientError<Infallible>>;

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn create(rng: &mut ChaCha20Rng, name: &str) -> Result<(TestClient, StorageKey)> {
    let key = StorageKey::generate(rng);
    Ok((
        Client::create(rng, MemoryStore::new(), key.clone(), name, 1_000)?,
        key,
    ))
}

fn account(client: &TestClient) -> AccountId {
    client
        .account_id()
        .expect("a first device knows its account")
}

/// Makes `from` a contact of `to`'s account and starts sessions with all of its devices
/// that lack one, from fresh bundles.
fn introduce(
    rng: &mut ChaCha20Rng,
    from: &mut TestClient,
    to: &mut [&mut TestClient],
) -> Result<()> {
    let list = to[0].device_list().expect("linked").to_bytes();
    let account = from.add_contact(rng, &list)?;
    let missing = from.missing_sessions(account)?;
    let mut bundles = Vec::new();
    for device in to.iter_mut() {
        if missing.contains(&device.device_id()) {
            bundles.push(device.bundles(rng, 1, 1_000)?.remove(0));
        }
    }
    from.start_sessions(rng, &bundles)
}

fn deliver(rng: &mut ChaCha20Rng, to: &mut TestClient, envelope: &Outgoing) -> Result<Vec<Event>> {
    assert_eq!(envelope.recipient(), to.device_id());
    Ok(to.receive(rng, envelope.bytes())?.into_events())
}

fn message_of(events: &[Event]) -> Vec<u8> {
    events
        .iter()
        .find_map(|event| match event {
            Event::Message { plaintext, .. } => Some(plaintext.clone()),
            _ => None,
        })
        .expect("a message")
}

#[test]
fn first_contact_then_a_conversation_survives_reopening() -> Result<()> {
    let mut rng = rng(1);
    let (mut alice, alice_key) = create(&mut rng, "alice")?;
    let (mut bob, bob_key) = create(&mut rng, "bob")?;
    introduce(&mut rng, &mut alice, &mut [&mut bob])?;

    let sent = alice.encrypt_to(&mut rng, account(&bob), b"hello bob")?;
    assert_eq!(sent.len(), 1);
    assert_eq!(peek(sent[0].bytes())?.kind, EnvelopeKind::FirstMessage);
    let events = deliver(&mut rng, &mut bob, &sent[0])?;
    assert_eq!(
        events.first(),
        Some(&Event::NewContact {
            account: account(&alice)
        })
    );
    assert!(matches!(
        events.last(),
        Some(Event::Message { verified: false, plaintext, .. }) if plaintext == b"hello bob"
    ));

    // Both restart from their stores, then go on.
    let mut alice = Client::open(alice.into_store(), alice_key)?;
    let mut bob = Client::open(bob.into_store(), bob_key)?;
    let reply = bob.encrypt_to(&mut rng, account(&alice), b"hi alice")?;
    assert_eq!(peek(reply[0].bytes())?.kind, EnvelopeKind::ChannelMessage);
    assert_eq!(
        message_of(&deliver(&mut rng, &mut alice, &reply[0])?),
        b"hi alice"
    );
    let next = alice.encrypt_to(&mut rng, account(&bob), b"no prekey info now")?;
    assert_eq!(peek(next[0].bytes())?.kind, EnvelopeKind::ChannelMessage);
    assert_eq!(
        message_of(&deliver(&mut rng, &mut bob, &next[0])?),
        b"no prekey info now"
    );

    // Verified once the app says so.
    bob.mark_verified(&mut rng, account(&alice), true)?;
    let again = alice.encrypt_to(&mut rng, account(&bob), b"verified?")?;
    assert!(matches!(
        deliver(&mut rng, &mut bob, &again[0])?.last(),
        Some(Event::Message { verified: true, .. })
    ));
    let a = alice.current_channel(bob.device_id())?;
    assert!(a.is_some());
    assert_eq!(a, bob.current_channel(alice.device_id())?);
    Ok(())
}

#[test]
fn a_rejected_envelope_changes_nothing() -> Result<()> {
    let mut rng = rng(2);
    let (mut alice, _) = create(&mut rng, "alice")?;
    let (mut bob, _) = create(&mut rng, "bob")?;
    let (mut carol, _) = create(&mut rng, "carol")?;
    introduce(&mut rng, &mut alice, &mut [&mut bob])?;
    let sent = alice.encrypt_to(&mut rng, account(&bob), b"one")?;
    let before = bob.store().clone();

    // Tampered with, anywhere.
    for index in (0..sent[0].bytes().len()).step_by(7) {
        let mut bytes = sent[0].bytes().to_vec();
        bytes[index] ^= 0x20;
        assert!(bob.receive(&mut rng, &bytes).is_err(), "flip at {index}");
    }
    // Addressed to another device.
    assert!(matches!(
        carol.receive(&mut rng, sent[0].bytes()),
        Err(ClientError::NotForThisDevice { .. })
    ));
    assert_eq!(bob.store().batches_saved(), before.batches_saved());

    // The genuine envelope still works, once.
    assert_eq!(message_of(&deliver(&mut rng, &mut bob, &sent[0])?), b"one");
    let replayed = bob.receive(&mut rng, sent[0].bytes());
    assert!(
        matches!(replayed, Err(ClientError::Protocol(Error::Duplicate))),
        "{replayed:?}"
    );
    Ok(())
}

/// One step of a simultaneous start between alice (0) and bob (1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    /// The side sends its first message (starting a channel if it has none).
    Send(usize),
    /// The side receives the other's first message.
    ReceiveFirst(usize),
    /// The side replies (after it received the other's first message).
    Reply(usize),
    /// The side receives the other's reply.
    ReceiveReply(usize),
}

fn ready(step: Step, done: &[Step]) -> bool {
    let has = |s: Step| done.contains(&s);
    match step {
        Step::Send(_) => true,
        Step::ReceiveFirst(side) => has(Step::Send(1 - side)),
        Step::Reply(side) => has(Step::ReceiveFirst(side)),
        Step::ReceiveReply(side) => has(Step::Reply(1 - side)),
    }
}

fn interleavings(done: &mut Vec<Step>, all: &[Step], out: &mut Vec<Vec<Step>>) {
    if done.len() == all.len() {
        out.push(done.clone());
        return;
    }
    for &step in all {
        if !done.contains(&step) && ready(step, done) {
            done.push(step);
            interleavings(done, all, out);
            done.pop();
        }
    }
}

#[test]
fn simultaneous_starts_settle_on_one_channel_in_every_interleaving() -> Result<()> {
    let mut rng = rng(3);
    let (mut alice, alice_key) = create(&mut rng, "alice")?;
    let (mut bob, bob_key) = create(&mut rng, "bob")?;
    // Each knows the other's account, and holds a bundle of the other's device.
    let alice_list = alice.device_list().expect("linked").to_bytes();
    let bob_list = bob.device_list().expect("linked").to_bytes();
    alice.add_contact(&mut rng, &bob_list)?;
    bob.add_contact(&mut rng, &alice_list)?;
    let bundles = [
        alice.bundles(&mut rng, 1, 1_000)?.remove(0),
        bob.bundles(&mut rng, 1, 1_000)?.remove(0),
    ];
    let stores = [alice.into_store(), bob.into_store()];
    let keys = [alice_key, bob_key];

    let all = [0, 1]
        .map(|side| {
            [
                Step::Send(side),
                Step::ReceiveFirst(side),
                Step::Reply(side),
                Step::ReceiveReply(side),
            ]
        })
        .concat();
    let mut orders = Vec::new();
    interleavings(&mut Vec::new(), &all, &mut orders);
    // Each side's four steps in order, the two sides' interleaved under the causal
    // constraints: 70 orders.
    assert_eq!(orders.len(), 70);
    let mut both_started = 0;

    for (run, order) in orders.iter().enumerate() {
        let mut rng = self::rng(1_000 + run as u64);
        let mut sides = [0, 1].map(|side| Client::open(stores[side].clone(), keys[side].clone()));
        let [Ok(a), Ok(b)] = &mut sides else {
            panic!("open")
        };
        let sides: &mut [&mut TestClient; 2] = &mut [a, b];
        let accounts = [account(sides[0]), account(sides[1])];
        let devices = [sides[0].device_id(), sides[1].device_id()];
        let mut firsts: [Option<Outgoing>; 2] = [None, None];
        let mut replies: [Option<Outgoing>; 2] = [None, None];
        let mut started = 0;
        for step in order {
            match *step {
                Step::Send(side) => {
                    if sides[side].current_channel(devices[1 - side])?.is_none() {
                        sides[side].start_sessions(&mut rng, &[bundles[1 - side].clone()])?;
                        started += 1;
                    }
                    let text = format!("first from {side}");
                    firsts[side] = sides[side]
                        .encrypt_to(&mut rng, accounts[1 - side], text.as_bytes())?
                        .pop();
                }
                Step::ReceiveFirst(side) => {
                    let envelope = firsts[1 - side].as_ref().expect("sent");
                    let got = message_of(&deliver(&mut rng, sides[side], envelope)?);
                    assert_eq!(
                        got,
                        format!("first from {}", 1 - side).as_bytes(),
                        "{order:?}"
                    );
                }
                Step::Reply(side) => {
                    let text = format!("reply from {side}");
                    replies[side] = sides[side]
                        .encrypt_to(&mut rng, accounts[1 - side], text.as_bytes())?
                        .pop();
                }
                Step::ReceiveReply(side) => {
                    let envelope = replies[1 - side].as_ref().expect("sent");
                    let got = message_of(&deliver(&mut rng, sides[side], envelope)?);
                    assert_eq!(
                        got,
                        format!("reply from {}", 1 - side).as_bytes(),
                        "{order:?}"
                    );
                }
            }
        }
        if started == 2 {
            both_started += 1;
        }
        // Both sides settled on one channel, and it carries a round trip.
        let a = sides[0].current_channel(devices[1])?;
        let b = sides[1].current_channel(devices[0])?;
        assert!(a.is_some());
        assert_eq!(a, b, "{order:?}");
        for side in [0, 1] {
            let sent = sides[side].encrypt_to(&mut rng, accounts[1 - side], b"after")?;
            assert_eq!(
                message_of(&deliver(&mut rng, sides[1 - side], &sent[0])?),
                b"after"
            );
        }
        assert_eq!(sides[0].current_channel(devices[1])?, a, "{order:?}");
        // Every message decrypted once: a second delivery is refused.
        for (side, envelope) in firsts.iter().chain(replies.iter()).enumerate() {
            let to = if side % 2 == 0 { 1 } else { 0 };
            let envelope = envelope.as_ref().expect("sent");
            assert!(
                sides[to].receive(&mut rng, envelope.bytes()).is_err(),
                "{order:?}"
            );
        }
    }
    assert!(both_started > 0);
    Ok(())
}

#[test]
fn a_message_reaches_every_current_device_and_no_removed_one() -> Result<()> {
    let mut rng = rng(4);
    let (mut alice, _) = create(&mut rng, "alice")?;
    let (mut bob_phone, _) = create(&mut rng, "bob")?;
    let laptop_key = StorageKey::generate(&mut rng);
    let mut bob_laptop =
        Client::create_linked(&mut rng, MemoryStore::new(), laptop_key, "bob", 1_000)?;
    assert!(bob_laptop.account_id().is_none());

    // Bob links his laptop from his phone.
    let bob_account = bob_phone.account_id().expect("the first device");
    let list = bob_phone.link_device(&mut rng, &bob_laptop.link_request(bob_account), 2_000)?;
    bob_laptop.accept_device_list(&mut rng, &list.to_bytes())?;
    assert_eq!(bob_laptop.account_id(), bob_phone.account_id());
    assert_eq!(list.version(), 2);

    // Alice sends to both devices; each reads it.
    introduce(&mut rng, &mut alice, &mut [&mut bob_phone, &mut bob_laptop])?;
    let sent = alice.encrypt_to(&mut rng, account(&bob_phone), b"to both")?;
    assert_eq!(sent.len(), 2);
    for device in [&mut bob_phone, &mut bob_laptop] {
        let envelope = sent
            .iter()
            .find(|e| e.recipient() == device.device_id())
            .expect("one each");
        assert_eq!(
            message_of(&deliver(&mut rng, device, envelope)?),
            b"to both"
        );
    }

    // The phone's reply is copied to the laptop.
    introduce(&mut rng, &mut bob_phone, &mut [&mut alice])?;
    let own = bob_phone.missing_sessions(account(&bob_phone))?;
    assert_eq!(own, vec![bob_laptop.device_id()]);
    let laptop_bundle = bob_laptop.bundles(&mut rng, 1, 2_000)?.remove(0);
    bob_phone.start_sessions(&mut rng, &[laptop_bundle])?;
    let reply = bob_phone.encrypt_to(&mut rng, account(&alice), b"from the phone")?;
    assert_eq!(reply.len(), 2);
    for envelope in &reply {
        if envelope.recipient() == alice.device_id() {
            assert_eq!(
                message_of(&deliver(&mut rng, &mut alice, envelope)?),
                b"from the phone"
            );
        } else {
            let events = deliver(&mut rng, &mut bob_laptop, envelope)?;
            assert!(
                matches!(events.last(), Some(Event::Message { verified: true, account, .. }) if *account == self::account(&bob_phone))
            );
        }
    }

    // Bob removes the laptop; once Alice has the new list, nothing goes to it.
    let laptop = bob_laptop.device_id();
    let list = bob_phone.remove_device(&mut rng, laptop, 3_000)?;
    alice.add_contact(&mut rng, &list.to_bytes())?;
    let sent = alice.encrypt_to(&mut rng, account(&bob_phone), b"phone only")?;
    assert_eq!(
        sent.iter()
            .map(Outgoing::recipient)
            .collect::<Vec<DeviceId>>(),
        vec![bob_phone.device_id()]
    );
    // An older list never brings it back.
    let stale = alice.add_contact(
        &mut rng,
        &bob_laptop.device_list().expect("linked").to_bytes(),
    );
    assert!(
        matches!(
            stale,
            Err(ClientError::Protocol(Error::StaleDeviceList { .. }))
        ),
        "{stale:?}"
    );
    // The phone forgot its session with the laptop, and refuses what the laptop sends.
    assert_eq!(bob_phone.current_channel(laptop)?, None);
    let from_laptop = bob_laptop.encrypt_to(&mut rng, account(&bob_phone), b"still here?")?;
    assert_eq!(from_laptop.len(), 1);
    let refused = bob_phone.receive(&mut rng, from_laptop[0].bytes());
    assert!(
        matches!(refused, Err(ClientError::UnknownDevice { device }) if device == laptop),
        "{refused:?}"
    );
    Ok(())
}

#[test]
fn a_card_under_someone_elses_name_shadows_nobody() -> Result<()> {
    let mut rng = rng(5);
    let (mut alice, _) = create(&mut rng, "alice")?;
    let (bob, _) = create(&mut rng, "bob")?;
    let (mallory_as_bob, _) = create(&mut rng, "bob")?;
    let real = alice.add_contact(&mut rng, &bob.device_list().expect("linked").to_bytes())?;
    let fake = alice.add_contact(
        &mut rng,
        &mallory_as_bob.device_list().expect("linked").to_bytes(),
    )?;
    assert_ne!(real, fake);
    assert_eq!(alice.devices_of(real)?, vec![bob.device_id()]);
    assert_eq!(alice.devices_of(fake)?, vec![mallory_as_bob.device_id()]);
    Ok(())
}

/// A hostile account lists Bob's device to have Bob's messages shown as its own: the list
/// cannot be made without the device's consent, and a device that consented to two
/// accounts is refused rather than shown as either's.
#[test]
fn an_account_cannot_claim_someone_elses_device() -> Result<()> {
    let mut rng = rng(6);
    let (mut alice, _) = create(&mut rng, "alice")?;
    let (mut bob, _) = create(&mut rng, "bob")?;
    let mallory_account = ratchetkit::Identity::generate_at(&mut rng, "bob", 1_000)?;
    let mallory = AccountId::of(mallory_account.card());
    let bob_list = bob.device_list().expect("linked").clone();

    // Bob's genuine consent is to Bob's account: under Mallory's it does not verify.
    let stolen = bob_list.links()[0].clone();
    assert!(matches!(
        ratchetkit::client::DeviceList::sign(
            &mallory_account,
            1,
            std::slice::from_ref(&stolen),
            1_000
        ),
        Err(Error::BadSignature { .. })
    ));
    assert!(matches!(
        stolen.verify(mallory),
        Err(Error::BadSignature { .. })
    ));
    let carried = ratchetkit::client::DeviceLink::from_bytes(&stolen.to_bytes())?;
    assert_eq!(carried, stolen);
    carried.verify(account(&bob))?;

    // A device that consents to both (say, it is itself hostile) is neither's for Alice.
    alice.add_contact(&mut rng, &bob_list.to_bytes())?;
    let both = bob.link_request(mallory);
    let claimed = ratchetkit::client::DeviceList::sign(&mallory_account, 1, &[both], 1_000)?;
    assert!(matches!(
        alice.add_contact(&mut rng, &claimed.to_bytes()),
        Err(ClientError::Protocol(Error::InvalidDeviceList { .. }))
    ));
    assert_eq!(alice.contact(mallory), None);
    // Bob's device still belongs to Bob, and Bob's messages arrive as his.
    introduce(&mut rng, &mut alice, &mut [&mut bob])?;
    let sent = alice.encrypt_to(&mut rng, account(&bob), b"still yours")?;
    deliver(&mut rng, &mut bob, &sent[0])?;
    let reply = bob.encrypt_to(&mut rng, account(&alice), b"yes")?;
    match &deliver(&mut rng, &mut alice, &reply[0])?[..] {
        [Event::Message { account: from, .. }] => assert_eq!(*from, account(&bob)),
        other => panic!("unexpected {other:?}"),
    }
    Ok(())
}

/// A device that starts over (`start_sessions`) with a peer that created their channel:
/// the peer keeps its own channel when its id is the smaller, as for a simultaneous start,
/// and the device then goes back to it when the peer's next message arrives on it. Both
/// end on one channel, in every case, and stop sending first messages.
#[test]
fn starting_over_with_the_channels_creator_settles_on_one_channel() -> Result<()> {
    for seed in 0..40 {
        let mut rng = rng(1_000 + seed);
        let (mut a, _) = create(&mut rng, "a")?;
        let (mut b, _) = create(&mut rng, "b")?;
        // B creates the channel; a round trip settles it.
        introduce(&mut rng, &mut b, &mut [&mut a])?;
        for envelope in b.encrypt_to(&mut rng, account(&a), b"b0")? {
            deliver(&mut rng, &mut a, &envelope)?;
        }
        for envelope in a.encrypt_to(&mut rng, account(&b), b"a0")? {
            deliver(&mut rng, &mut b, &envelope)?;
        }
        // A's app starts over with B.
        let bundle = b.bundles(&mut rng, 1, 1_000)?.remove(0);
        a.start_sessions(&mut rng, &[bundle])?;
        let mut last_kinds = Vec::new();
        for round in 0..3 {
            for envelope in a.encrypt_to(&mut rng, account(&b), format!("a{round}").as_bytes())? {
                last_kinds.push(peek(envelope.bytes())?.kind);
                let events = deliver(&mut rng, &mut b, &envelope)?;
                assert_eq!(message_of(&events), format!("a{round}").as_bytes());
            }
            for envelope in b.encrypt_to(&mut rng, account(&a), format!("b{round}").as_bytes())? {
                let events = deliver(&mut rng, &mut a, &envelope)?;
                assert_eq!(message_of(&events), format!("b{round}").as_bytes());
            }
        }
        let on_a = a.current_channel(b.device_id())?;
        assert!(on_a.is_some());
        assert_eq!(on_a, b.current_channel(a.device_id())?, "seed {seed}");
        assert_eq!(
            last_kinds.last(),
            Some(&EnvelopeKind::ChannelMessage),
            "seed {seed}"
        );
    }
    Ok(())
}
