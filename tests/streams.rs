//! Encrypted streams (`seal_stream` / `open_stream`): round trips at every size around the
//! chunk boundaries, and truncated, reordered, appended and altered streams refused.

mod common;

use std::io::{self, Read, Write};

use ratchetkit::{
    open_stream, seal_stream, sealed::read_stream_header, sealed::MAX_STREAM_HEADER_LEN,
    sealed::STREAM_CHUNK_SIZE, Card, Error, Identity, OpenedStream,
};

use common::{identity, rng, TestRng};

const CHUNK: usize = STREAM_CHUNK_SIZE;
/// An encrypted chunk that is not the last: data and tag.
const SEALED_CHUNK: usize = CHUNK + 16;

struct Parties {
    rng: TestRng,
    alice: Identity,
    bob: Identity,
}

fn parties(seed: u64) -> Parties {
    let mut rng = rng(seed);
    let alice = identity(&mut rng, "alice");
    let bob = identity(&mut rng, "bob");
    Parties { rng, alice, bob }
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

impl Parties {
    fn seal(&mut self, plaintext: &[u8]) -> Vec<u8> {
        let mut sealed = Vec::new();
        let recipients = [self.bob.card().clone()];
        let written = seal_stream(
            &mut self.rng,
            &self.alice,
            &recipients,
            plaintext,
            &mut sealed,
        )
        .unwrap();
        assert_eq!(written, plaintext.len() as u64);
        sealed
    }

    fn open(&self, sealed: &[u8]) -> Result<(OpenedStream, Vec<u8>), Error> {
        let mut output = Vec::new();
        let opened = open_stream(&self.bob, &[self.alice.card().clone()], sealed, &mut output)?;
        Ok((opened, output))
    }

    fn senders(&self) -> [Card; 1] {
        [self.alice.card().clone()]
    }
}

/// Where the chunks start: after the 4-byte length and the header.
fn chunks_start(sealed: &[u8]) -> usize {
    4 + u32::from_be_bytes(sealed[..4].try_into().unwrap()) as usize
}

#[test]
fn every_size_around_the_chunk_boundaries_round_trips() {
    let mut parties = parties(1);
    for len in [
        0,
        1,
        CHUNK - 64,
        CHUNK - 1,
        CHUNK,
        CHUNK + 1,
        2 * CHUNK,
        3 * CHUNK + 12_345,
    ] {
        let plaintext = data(len);
        let sealed = parties.seal(&plaintext);
        let chunks = len.div_ceil(CHUNK).max(1);
        assert_eq!(
            sealed.len() - chunks_start(&sealed),
            len + chunks * 16 + 64,
            "{len}"
        );
        let (opened, output) = parties.open(&sealed).unwrap();
        assert_eq!(output, plaintext, "{len}");
        assert_eq!(opened.bytes(), len as u64);
        assert_eq!(opened.sender(), parties.alice.card().fingerprint());
    }
}

#[test]
fn several_recipients_and_the_sender_itself_can_open() {
    let mut parties = parties(2);
    let carol = identity(&mut parties.rng, "carol");
    let eve = identity(&mut parties.rng, "eve");
    let recipients = [
        parties.bob.card().clone(),
        carol.card().clone(),
        parties.alice.card().clone(),
    ];
    let plaintext = data(2 * CHUNK + 5);
    let mut sealed = Vec::new();
    seal_stream(
        &mut parties.rng,
        &parties.alice,
        &recipients,
        &plaintext[..],
        &mut sealed,
    )
    .unwrap();
    for reader in [&parties.bob, &carol, &parties.alice] {
        let mut output = Vec::new();
        open_stream(reader, &parties.senders(), &sealed[..], &mut output).unwrap();
        assert_eq!(output, plaintext);
    }
    let mut output = Vec::new();
    assert_eq!(
        open_stream(&eve, &parties.senders(), &sealed[..], &mut output),
        Err(Error::NotARecipient)
    );
    assert!(output.is_empty());
}

#[test]
fn another_signer_is_rejected_and_the_last_chunk_is_withheld() {
    let mut parties = parties(3);
    let sealed = parties.seal(&data(CHUNK + 100));
    let mallory = identity(&mut parties.rng, "mallory");
    let mut output = Vec::new();
    assert_eq!(
        open_stream(
            &parties.bob,
            &[mallory.card().clone()],
            &sealed[..],
            &mut output
        ),
        Err(Error::NotFromSender)
    );
    // The chunk before the last was written as it authenticated; the last one never was.
    assert_eq!(output.len(), CHUNK);
}

#[test]
fn truncation_is_detected() {
    let mut parties = parties(4);
    let sealed = parties.seal(&data(3 * CHUNK + 10));
    let start = chunks_start(&sealed);
    // At each chunk boundary: the last remaining chunk authenticates only as a middle one.
    for chunks in 1..=3 {
        assert_eq!(
            parties.open(&sealed[..start + chunks * SEALED_CHUNK]),
            Err(Error::Truncated),
            "{chunks} chunks"
        );
    }
    // Nothing after the header, or inside the header or its length.
    for cut in [start, start - 1, 3, 0] {
        assert_eq!(parties.open(&sealed[..cut]), Err(Error::Truncated), "{cut}");
    }
    // Inside a chunk, and the last few bytes.
    for cut in [start + 100, start + SEALED_CHUNK + 1, sealed.len() - 1] {
        assert!(parties.open(&sealed[..cut]).is_err(), "{cut}");
    }
    assert_eq!(
        parties.open(&sealed[..sealed.len() - 1]),
        Err(Error::Tampered)
    );
}

#[test]
fn reordered_and_repeated_chunks_are_detected() {
    let mut parties = parties(5);
    let sealed = parties.seal(&data(3 * CHUNK + 10));
    let start = chunks_start(&sealed);
    let chunk = |i: usize| &sealed[start + i * SEALED_CHUNK..start + (i + 1) * SEALED_CHUNK];
    let rest = &sealed[start + 3 * SEALED_CHUNK..];
    let header = &sealed[..start];

    let swapped = [header, chunk(1), chunk(0), chunk(2), rest].concat();
    assert_eq!(parties.open(&swapped), Err(Error::Tampered));
    let repeated = [header, chunk(0), chunk(0), chunk(1), chunk(2), rest].concat();
    assert_eq!(parties.open(&repeated), Err(Error::Tampered));
    let dropped = [header, chunk(0), chunk(2), rest].concat();
    assert_eq!(parties.open(&dropped), Err(Error::Tampered));
}

#[test]
fn appended_data_is_detected() {
    let mut parties = parties(6);
    let plaintext = data(2 * CHUNK + 10);
    let sealed = parties.seal(&plaintext);
    let start = chunks_start(&sealed);
    let first_chunk = &sealed[start..start + SEALED_CHUNK];
    for extra in [&[0u8][..], &[0; 80], &[0; SEALED_CHUNK + 80], first_chunk] {
        let appended = [&sealed[..], extra].concat();
        assert_eq!(parties.open(&appended), Err(Error::Tampered));
    }
    // A whole second stream appended to the first.
    let appended = [&sealed[..], &parties.seal(&plaintext)].concat();
    assert_eq!(parties.open(&appended), Err(Error::Tampered));
}

#[test]
fn every_single_bit_flip_of_a_small_stream_is_rejected() {
    let mut parties = parties(7);
    let sealed = parties.seal(b"a small file");
    for bit in 0..sealed.len() * 8 {
        let mut flipped = sealed.clone();
        flipped[bit / 8] ^= 1 << (bit % 8);
        assert!(parties.open(&flipped).is_err(), "bit {bit}");
    }
}

#[test]
fn a_bit_flip_in_any_chunk_is_tampering() {
    let mut parties = parties(8);
    let sealed = parties.seal(&data(3 * CHUNK + 10));
    let start = chunks_start(&sealed);
    for position in [
        start,
        start + SEALED_CHUNK - 1,
        start + SEALED_CHUNK + 12_345,
        start + 3 * SEALED_CHUNK + 3,
        sealed.len() - 1,
    ] {
        let mut flipped = sealed.clone();
        flipped[position] ^= 0x10;
        assert_eq!(parties.open(&flipped), Err(Error::Tampered), "{position}");
    }
}

#[test]
fn a_hostile_header_length_allocates_nothing() {
    let parties = parties(9);
    let too_large = Err(Error::SealedTooLarge {
        what: "stream header",
        max: MAX_STREAM_HEADER_LEN as u64,
    });
    assert_eq!(parties.open(&u32::MAX.to_be_bytes()), too_large);
    let just_over = (MAX_STREAM_HEADER_LEN as u32 + 1).to_be_bytes();
    assert_eq!(parties.open(&just_over), too_large);
}

/// Hands out at most 7 bytes per read, and is interrupted every other call.
struct Trickle<'a> {
    data: &'a [u8],
    calls: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        self.calls += 1;
        if self.calls.is_multiple_of(2) {
            return Err(io::ErrorKind::Interrupted.into());
        }
        let len = buffer.len().min(7).min(self.data.len());
        buffer[..len].copy_from_slice(&self.data[..len]);
        self.data = &self.data[len..];
        Ok(len)
    }
}

#[test]
fn short_and_interrupted_reads_are_retried() {
    let mut parties = parties(10);
    let plaintext = data(CHUNK + 1_000);
    let mut sealed = Vec::new();
    let trickle = Trickle {
        data: &plaintext,
        calls: 0,
    };
    let recipients = [parties.bob.card().clone()];
    seal_stream(
        &mut parties.rng,
        &parties.alice,
        &recipients,
        trickle,
        &mut sealed,
    )
    .unwrap();
    let mut output = Vec::new();
    let trickle = Trickle {
        data: &sealed,
        calls: 0,
    };
    open_stream(&parties.bob, &parties.senders(), trickle, &mut output).unwrap();
    assert_eq!(output, plaintext);
}

struct Broken;

impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
        Err(io::ErrorKind::ConnectionReset.into())
    }
}

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::StorageFull.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn io_errors_are_reported_with_their_kind_and_message() {
    let mut parties = parties(11);
    let recipients = [parties.bob.card().clone()];
    let mut sink = Vec::new();
    assert_eq!(
        seal_stream(
            &mut parties.rng,
            &parties.alice,
            &recipients,
            Broken,
            &mut sink
        ),
        Err(Error::Io {
            kind: io::ErrorKind::ConnectionReset,
            during: "reading the input",
            message: io::Error::from(io::ErrorKind::ConnectionReset).to_string(),
        })
    );
    assert_eq!(
        seal_stream(
            &mut parties.rng,
            &parties.alice,
            &recipients,
            &b"x"[..],
            Broken
        ),
        Err(Error::Io {
            kind: io::ErrorKind::StorageFull,
            during: "writing the output",
            message: io::Error::from(io::ErrorKind::StorageFull).to_string(),
        })
    );
    let sealed = parties.seal(b"x");
    assert_eq!(
        open_stream(&parties.bob, &parties.senders(), &sealed[..], Broken),
        Err(Error::Io {
            kind: io::ErrorKind::StorageFull,
            during: "writing the output",
            message: io::Error::from(io::ErrorKind::StorageFull).to_string(),
        })
    );
    assert_eq!(
        open_stream(&parties.bob, &parties.senders(), Broken, &mut sink),
        Err(Error::Io {
            kind: io::ErrorKind::ConnectionReset,
            during: "reading the input",
            message: io::Error::from(io::ErrorKind::ConnectionReset).to_string(),
        })
    );
}

#[test]
fn a_sealed_message_is_not_a_stream() {
    let mut parties = parties(12);
    let recipients = [parties.bob.card().clone()];
    let message = ratchetkit::seal(&mut parties.rng, &parties.alice, &recipients, b"x").unwrap();
    assert!(parties.open(&message).is_err());
    let stream = parties.seal(b"x");
    assert!(ratchetkit::open(&parties.bob, &parties.senders(), &stream).is_err());
}

/// docs/PROTOCOL.md gives the header size for the most recipients: 86,045 bytes, well
/// under `MAX_STREAM_HEADER_LEN`.
#[test]
fn a_header_for_the_most_recipients_fits() {
    let mut parties = parties(13);
    let recipients: Vec<Card> = (0..ratchetkit::sealed::MAX_SEALED_RECIPIENTS)
        .map(|i| identity(&mut parties.rng, &format!("r{i}")).card().clone())
        .collect();
    let mut sealed = Vec::new();
    seal_stream(
        &mut parties.rng,
        &parties.alice,
        &recipients,
        &b"x"[..],
        &mut sealed,
    )
    .unwrap();
    let header_len = chunks_start(&sealed) - 4;
    assert_eq!(header_len, 86_045);
    assert!(header_len <= MAX_STREAM_HEADER_LEN);
}

/// The length docs/PROTOCOL.md section 9 gives a stream of `len` plaintext bytes after a
/// header of `header` bytes (its 4-byte length included).
fn documented_stream_len(header: usize, len: usize) -> usize {
    header + len + 16 * len.div_ceil(CHUNK).max(1) + 64
}

#[test]
fn the_header_shows_the_recipients_and_the_plaintext_length_without_a_key() {
    let mut parties = parties(20);
    let carol = identity(&mut parties.rng, "carol");
    let recipients = [parties.bob.card().clone(), carol.card().clone()];
    for len in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 77] {
        let mut sealed = Vec::new();
        let plaintext = data(len);
        seal_stream(
            &mut parties.rng,
            &parties.alice,
            &recipients,
            &plaintext[..],
            &mut sealed,
        )
        .unwrap();
        let header = read_stream_header(&sealed[..]).unwrap();
        assert_eq!(
            header.recipients(),
            [parties.bob.card().fingerprint(), carol.card().fingerprint()]
        );
        let header_len = chunks_start(&sealed);
        assert_eq!(header.header_len(), header_len as u64);
        assert_eq!(header.plaintext_len(sealed.len() as u64), Some(len as u64));

        // Around this length, exactly the lengths of whole streams give a plaintext length,
        // and the right one: every other length is refused.
        let candidates: Vec<usize> = (len.saturating_sub(CHUNK + 200)..len + CHUNK + 200).collect();
        for stream_len in sealed.len().saturating_sub(300)..sealed.len() + 300 {
            let expected = candidates
                .iter()
                .find(|&&plain| documented_stream_len(header_len, plain) == stream_len)
                .map(|&plain| plain as u64);
            assert_eq!(
                header.plaintext_len(stream_len as u64),
                expected,
                "{len} {stream_len}"
            );
        }
    }
    assert_eq!(read_stream_header(&[0u8; 3][..]), Err(Error::Truncated));
}

#[test]
fn the_signature_covers_blake3_of_the_plaintext_as_documented() {
    use aes_gcm::aead::{Aead, KeyInit, Payload};
    use ed25519_dalek::{Signature, VerifyingKey};
    use rand::Rng;
    use sha2::{Digest, Sha256};

    let mut parties = parties(21);
    let plaintext = data(CHUNK + 1_000);
    // seal_stream draws the 7-byte nonce prefix, then the content key K (section 9, and
    // section 8 step 2): the same generator, from the same seed and past the same two
    // identities, gives both.
    let mut replay = self::parties(21).rng;
    let mut nonce_prefix = [0u8; 7];
    replay.fill_bytes(&mut nonce_prefix);
    let mut content_key = [0u8; 32];
    replay.fill_bytes(&mut content_key);
    let sealed = parties.seal(&plaintext);

    let start = chunks_start(&sealed);
    let associated_data = [
        ratchetkit::sealed::SEALED_STREAM_CONTEXT,
        Sha256::digest(&sealed[4..start]).as_slice(),
    ]
    .concat();
    let cipher = aes_gcm::Aes256Gcm::new(&content_key.into());
    let nonce = |counter: u32, last: u8| {
        let mut nonce = [0u8; 12];
        nonce[..7].copy_from_slice(&nonce_prefix);
        nonce[7..11].copy_from_slice(&counter.to_be_bytes());
        nonce[11] = last;
        aes_gcm::Nonce::from(nonce)
    };
    let open = |counter, last, chunk: &[u8]| {
        cipher
            .decrypt(
                &nonce(counter, last),
                Payload {
                    msg: chunk,
                    aad: &associated_data,
                },
            )
            .unwrap()
    };
    let first = open(0, 0, &sealed[start..start + SEALED_CHUNK]);
    let last = open(1, 1, &sealed[start + SEALED_CHUNK..]);
    assert_eq!(first, plaintext[..CHUNK]);
    let (rest, signature) = last.split_at(last.len() - 64);
    assert_eq!(rest, &plaintext[CHUNK..]);

    let signed = [
        ratchetkit::sealed::STREAM_SIGNATURE_CONTEXT,
        blake3::hash(&plaintext).as_bytes(),
    ]
    .concat();
    let key = VerifyingKey::from_bytes(&parties.alice.card().signing_key()).unwrap();
    let signature = Signature::from_slice(signature).unwrap();
    key.verify_strict(&signed, &signature).unwrap();
    // Not over SHA-256, as version 1 was.
    let old = [
        &b"ratchetkit/v1/stream-signature"[..],
        Sha256::digest(&plaintext).as_slice(),
    ]
    .concat();
    assert!(key.verify_strict(&old, &signature).is_err());
}
