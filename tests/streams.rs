//! Encrypted streams (`seal_stream` / `open_stream`): round trips at every size around the
//! chunk boundaries, and truncated, reordered, appended and altered streams refused.

mod common;

use std::io::{self, Read, Write};

use ratchetkit::{
    open_stream, seal_stream, Card, Error, Identity, OpenedStream, MAX_STREAM_HEADER_LEN,
    STREAM_CHUNK_SIZE,
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
        assert_eq!(opened.bytes, len as u64);
        assert_eq!(opened.sender, parties.alice.card().fingerprint());
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
fn io_errors_are_reported_with_their_kind() {
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
            during: "reading the input"
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
            during: "writing the output"
        })
    );
    let sealed = parties.seal(b"x");
    assert_eq!(
        open_stream(&parties.bob, &parties.senders(), &sealed[..], Broken),
        Err(Error::Io {
            kind: io::ErrorKind::StorageFull,
            during: "writing the output"
        })
    );
    assert_eq!(
        open_stream(&parties.bob, &parties.senders(), Broken, &mut sink),
        Err(Error::Io {
            kind: io::ErrorKind::ConnectionReset,
            during: "reading the input"
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
    let recipients: Vec<Card> = (0..ratchetkit::MAX_SEALED_RECIPIENTS)
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
