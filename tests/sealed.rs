//! Sealed messages (`seal` / `open`): round trips for 1, 2 and 1,000 recipients, and every
//! way a message can fail to open, each with its own error.

mod common;

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{
    open, seal, sealed::MAX_SEALED_MESSAGE_LEN, sealed::MAX_SEALED_RECIPIENTS, Card, Error,
    Identity,
};

use common::{identity, rng, TestRng};

fn identities(rng: &mut TestRng, count: usize) -> Vec<Identity> {
    (0..count)
        .map(|i| identity(rng, &format!("recipient-{i}")))
        .collect()
}

fn cards(identities: &[Identity]) -> Vec<Card> {
    identities.iter().map(|id| id.card().clone()).collect()
}

#[test]
fn one_and_two_recipients_round_trip() {
    let mut rng = rng(1);
    let alice = identity(&mut rng, "alice");
    for count in [1, 2] {
        let recipients = identities(&mut rng, count);
        let sealed = seal(&mut rng, &alice, &cards(&recipients), b"hello").unwrap();
        for recipient in &recipients {
            let opened = open(recipient, &[alice.card().clone()], &sealed).unwrap();
            assert_eq!(opened.plaintext(), b"hello");
            assert_eq!(opened.sender(), alice.card().fingerprint());
        }
    }
}

#[test]
fn a_thousand_recipients_round_trip() {
    let mut rng = rng(2);
    let alice = identity(&mut rng, "alice");
    let recipients = identities(&mut rng, MAX_SEALED_RECIPIENTS);
    let plaintext = vec![0x5a; 1024];
    let sealed = seal(&mut rng, &alice, &cards(&recipients), &plaintext).unwrap();
    for index in [0, 1, 499, 998, 999] {
        let opened = open(&recipients[index], &[alice.card().clone()], &sealed).unwrap();
        assert_eq!(opened.plaintext(), plaintext);
    }
}

#[test]
fn the_sender_can_seal_for_itself_and_empty_plaintexts_work() {
    let mut rng = rng(3);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let recipients = [bob.card().clone(), alice.card().clone()];
    let sealed = seal(&mut rng, &alice, &recipients, b"").unwrap();
    let opened = open(&alice, &[alice.card().clone()], &sealed).unwrap();
    assert!(opened.plaintext().is_empty());
}

#[test]
fn a_non_recipient_cannot_open() {
    let mut rng = rng(4);
    let alice = identity(&mut rng, "alice");
    let recipients = identities(&mut rng, 3);
    let eve = identity(&mut rng, "eve");
    let sealed = seal(&mut rng, &alice, &cards(&recipients), b"secret").unwrap();
    assert_eq!(
        open(&eve, &[alice.card().clone()], &sealed),
        Err(Error::NotARecipient)
    );
}

#[test]
fn a_signature_by_another_card_is_rejected() {
    let mut rng = rng(5);
    let alice = identity(&mut rng, "alice");
    let mallory = identity(&mut rng, "mallory");
    let bob = identity(&mut rng, "bob");
    let sealed = seal(&mut rng, &mallory, &[bob.card().clone()], b"from alice").unwrap();
    assert_eq!(
        open(&bob, &[alice.card().clone()], &sealed),
        Err(Error::NotFromSender)
    );
    assert_eq!(open(&bob, &[], &sealed), Err(Error::NotFromSender));
}

#[test]
fn the_signing_card_may_be_any_of_the_candidates() {
    let mut rng = rng(6);
    let old = identity(&mut rng, "alice");
    let new = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let sealed = seal(&mut rng, &new, &[bob.card().clone()], b"rotated").unwrap();
    let opened = open(&bob, &[old.card().clone(), new.card().clone()], &sealed).unwrap();
    assert_eq!(opened.sender(), new.card().fingerprint());
    assert_eq!(opened.plaintext(), b"rotated");
}

#[test]
fn recipient_lists_are_checked() {
    let mut rng = rng(7);
    let alice = identity(&mut rng, "alice");
    assert_eq!(seal(&mut rng, &alice, &[], b"x"), Err(Error::NoRecipients));

    let too_many = cards(&identities(&mut rng, MAX_SEALED_RECIPIENTS + 1));
    assert_eq!(
        seal(&mut rng, &alice, &too_many, b"x"),
        Err(Error::TooManyRecipients {
            max: MAX_SEALED_RECIPIENTS
        })
    );

    let bob = identity(&mut rng, "bob");
    let carol = identity(&mut rng, "carol");
    let twice = [bob.card().clone(), carol.card().clone(), bob.card().clone()];
    assert_eq!(
        seal(&mut rng, &alice, &twice, b"x"),
        Err(Error::DuplicateRecipient {
            fingerprint: bob.card().fingerprint()
        })
    );
}

#[test]
fn oversized_messages_are_refused_both_ways() {
    let mut rng = rng(8);
    let alice = identity(&mut rng, "alice");
    let too_large = Error::SealedTooLarge {
        what: "sealed message",
        max: MAX_SEALED_MESSAGE_LEN as u64,
    };
    let big = vec![0u8; MAX_SEALED_MESSAGE_LEN + 1];
    let card = [alice.card().clone()];
    assert_eq!(seal(&mut rng, &alice, &card, &big), Err(too_large.clone()));
    assert_eq!(open(&alice, &card, &big), Err(too_large));
}

/// Every single-bit change of a sealed message is refused, and a change in the encrypted
/// part, the key entries or the recipient list is reported as tampering.
#[test]
fn every_single_bit_flip_is_rejected() {
    let mut rng = rng(9);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let carol = identity(&mut rng, "carol");
    let senders = [alice.card().clone()];
    let recipients = [bob.card().clone(), carol.card().clone()];
    let sealed = seal(&mut rng, &alice, &recipients, b"hi carol").unwrap();
    assert!(open(&carol, &senders, &sealed).is_ok());

    let mut tampered = 0;
    for bit in 0..sealed.len() * 8 {
        let mut flipped = sealed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        match open(&carol, &senders, &flipped) {
            Ok(opened) => panic!("bit {bit} flipped and still opened: {opened:?}"),
            Err(Error::Tampered) => tampered += 1,
            Err(_) => {}
        }
    }
    // The ciphertext, both wrapped keys, and bob's fingerprint are authenticated.
    assert!(tampered > (8 + 64 + 16 + 48 + 48 + 32) * 8, "{tampered}");

    let mut last = sealed.clone();
    *last.last_mut().unwrap() ^= 1;
    assert_eq!(open(&carol, &senders, &last), Err(Error::Tampered));
}

fn decode(sealed: &[u8]) -> (v1::SealedMessage, v1::SealedHeader) {
    let message = v1::SealedMessage::decode(sealed).unwrap();
    let header = v1::SealedHeader::decode(message.header.as_slice()).unwrap();
    (message, header)
}

fn encode(mut message: v1::SealedMessage, header: &v1::SealedHeader) -> Vec<u8> {
    message.header = header.encode_to_vec();
    message.encode_to_vec()
}

#[test]
fn removing_another_recipient_is_detected() {
    let mut rng = rng(10);
    let alice = identity(&mut rng, "alice");
    let recipients = identities(&mut rng, 3);
    let sealed = seal(&mut rng, &alice, &cards(&recipients), b"all three").unwrap();
    let (message, mut header) = decode(&sealed);
    header.recipients.remove(0);
    assert_eq!(
        open(
            &recipients[1],
            &[alice.card().clone()],
            &encode(message, &header)
        ),
        Err(Error::Tampered)
    );
}

#[test]
fn a_recipient_listed_twice_is_refused() {
    let mut rng = rng(11);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let sealed = seal(&mut rng, &alice, &[bob.card().clone()], b"x").unwrap();
    let (message, mut header) = decode(&sealed);
    header.recipients.push(header.recipients[0].clone());
    assert_eq!(
        open(&bob, &[alice.card().clone()], &encode(message, &header)),
        Err(Error::DuplicateRecipient {
            fingerprint: bob.card().fingerprint()
        })
    );
}

#[test]
fn headers_are_checked_before_anything_is_decrypted() {
    let mut rng = rng(12);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    let sealed = seal(&mut rng, &alice, &[bob.card().clone()], b"x").unwrap();
    let senders = [alice.card().clone()];
    let (message, header) = decode(&sealed);

    let mut versioned = header.clone();
    versioned.version = 2;
    assert_eq!(
        open(&bob, &senders, &encode(message.clone(), &versioned)),
        Err(Error::UnsupportedVersion {
            what: "SealedHeader",
            found: 2
        })
    );
    let mut empty = header.clone();
    empty.recipients.clear();
    assert_eq!(
        open(&bob, &senders, &encode(message.clone(), &empty)),
        Err(Error::NoRecipients)
    );
    let mut crowded = header.clone();
    crowded.recipients = vec![header.recipients[0].clone(); MAX_SEALED_RECIPIENTS + 1];
    assert_eq!(
        open(&bob, &senders, &encode(message.clone(), &crowded)),
        // Counted by the pre-scan, before any entry is decoded.
        Err(Error::TooMany {
            what: "SealedHeader.recipients",
            limit: MAX_SEALED_RECIPIENTS
        })
    );
    let mut streamed = header.clone();
    streamed.nonce_prefix = vec![1; 7];
    assert_eq!(
        open(&bob, &senders, &encode(message.clone(), &streamed)),
        Err(Error::Decode {
            what: "SealedHeader"
        })
    );
    let mut low_order = header;
    low_order.ephemeral_key = vec![0; 32];
    assert_eq!(
        open(&bob, &senders, &encode(message, &low_order)),
        Err(Error::NonContributoryKey)
    );
}

#[test]
fn opened_messages_do_not_show_their_plaintext() {
    let mut rng = rng(13);
    let alice = identity(&mut rng, "alice");
    let sealed = seal(
        &mut rng,
        &alice,
        &[alice.card().clone()],
        b"do not print me",
    )
    .unwrap();
    let opened = open(&alice, &[alice.card().clone()], &sealed).unwrap();
    let debug = format!("{opened:?}");
    assert!(!debug.contains("do not print me") && debug.contains("plaintext_len: 15"));
}
