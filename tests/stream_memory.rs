//! A 200 MiB stream is sealed and opened in constant memory: the process's peak resident
//! set grows by less than 10 MB.
//!
//! Alone in its own test binary so that no other test shares the process and its peak. The
//! plaintext is generated as it is read and the output is hashed as it is written; a pipe
//! joins the sealing thread to the opening one, so the ciphertext is never held either.

use std::io::{self, Read, Write};

use rand::rngs::ChaCha20Rng;
use rand::{Rng, SeedableRng};
use ratchetkit::{open_stream, seal_stream, Identity};
use sha2::{Digest, Sha256};

const STREAM_LEN: u64 = 200 * 1024 * 1024;
const MAX_GROWTH: u64 = 10 * 1000 * 1000;

/// `len` pseudo-random bytes, made as they are read, and their SHA-256.
struct Generated {
    rng: ChaCha20Rng,
    left: u64,
    digest: Sha256,
}

impl Read for Generated {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        let len = buffer
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let out = &mut buffer[..len];
        self.rng.fill_bytes(out);
        self.digest.update(&*out);
        self.left -= len as u64;
        Ok(len)
    }
}

/// Counts and hashes what is written, and keeps none of it.
#[derive(Default)]
struct Hashed {
    bytes: u64,
    digest: Sha256,
}

impl Write for Hashed {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.digest.update(data);
        self.bytes += data.len() as u64;
        Ok(data.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The peak resident set size so far, from /proc/self/status (Linux only).
fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

#[test]
fn a_200_mib_stream_round_trips_in_under_10_mb() {
    let Some(before) = peak_resident_bytes() else {
        println!("skipped: no /proc/self/status to read the peak memory from on this system");
        return;
    };
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let alice = Identity::generate_at(&mut rng, "alice", 1_700_000_000).unwrap();
    let bob = Identity::generate_at(&mut rng, "bob", 1_700_000_000).unwrap();
    let alice_card = alice.card().clone();
    let bob_card = bob.card().clone();

    let (reader, writer) = io::pipe().unwrap();
    let sealer = std::thread::spawn(move || {
        let mut input = Generated {
            rng: ChaCha20Rng::seed_from_u64(2),
            left: STREAM_LEN,
            digest: Sha256::new(),
        };
        let written = seal_stream(&mut rng, &alice, &[bob_card], &mut input, writer).unwrap();
        (written, input.digest.finalize())
    });
    let mut output = Hashed::default();
    let senders = [alice_card.clone()];
    let opened = open_stream(&bob, &senders, reader, &mut output).unwrap();
    let (written, input_digest) = sealer.join().unwrap();

    assert_eq!(written, STREAM_LEN);
    assert_eq!((opened.bytes(), output.bytes), (STREAM_LEN, STREAM_LEN));
    assert_eq!(opened.sender(), alice_card.fingerprint());
    assert_eq!(output.digest.finalize(), input_digest);

    let after = peak_resident_bytes().unwrap();
    let growth = after.saturating_sub(before);
    println!(
        "200 MiB stream sealed and opened: peak resident set {:.1} MB before, {:.1} MB after, \
         growth {:.2} MB",
        before as f64 / 1e6,
        after as f64 / 1e6,
        growth as f64 / 1e6
    );
    assert!(
        growth < MAX_GROWTH,
        "peak memory grew by {growth} bytes, over {MAX_GROWTH}"
    );
}
