//! The file subcommands: `seal` and `open`, on ratchetkit's encrypted streams.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use ratchetkit::{Card, Error};

use crate::failure::{Failure, Result};
use crate::files::{self, PendingOutput};
use crate::progress;
use crate::shown;

/// Reads the card files in `paths`.
fn read_cards(paths: &[PathBuf]) -> Result<Vec<Card>> {
    paths.iter().map(|path| files::read_card(path)).collect()
}

/// `cards` and `own`, each card once (by fingerprint), in order.
fn with_own(cards: Vec<Card>, own: Option<&Card>) -> Vec<Card> {
    let mut seen = BTreeSet::new();
    cards
        .into_iter()
        .chain(own.cloned())
        .filter(|card| seen.insert(card.fingerprint()))
        .collect()
}

/// Opens `input` and gets its length.
fn open_input(input: &Path) -> Result<(File, u64)> {
    let file = File::open(input).map_err(|error| Failure::io(input, "read", &error))?;
    let len = file
        .metadata()
        .map_err(|error| Failure::io(input, "read", &error))?
        .len();
    Ok((file, len))
}

/// `seal`: `input` sealed for the `to` cards (and the sender, if `to_self`) into `output`.
pub fn seal(
    key: &Path,
    to: &[PathBuf],
    to_self: bool,
    input: &Path,
    output: &Path,
    force: bool,
) -> Result<()> {
    // Every file problem is reported before the password is asked for.
    let (file, len) = open_input(input)?;
    let mut pending = PendingOutput::create(output, force, false)?;
    let to = read_cards(to)?;
    let (sender, _) = files::read_key(key)?;
    let recipients = with_own(to, to_self.then(|| sender.card()));

    let mut reader = progress::reader(BufReader::new(file), len, "sealing");
    let mut rng = rand::rng();
    let sealed = ratchetkit::sealed::seal_stream(
        &mut rng,
        &sender,
        &recipients,
        &mut reader,
        pending.writer()?,
    );
    progress::finish(&reader);
    let bytes = sealed
        .map_err(|error| Failure::new(format!("cannot seal {}: {error}", input.display())))?;
    pending.commit()?;
    eprintln!(
        "sealed {bytes} bytes of {} for {} recipient(s) into {}",
        shown::path(input),
        recipients.len(),
        shown::path(output)
    );
    Ok(())
}

/// `open`: `input` opened with the key file, signed by one of the `from` cards (or the
/// key file's own), into `output`.
pub fn open(key: &Path, from: &[PathBuf], input: &Path, output: &Path, force: bool) -> Result<()> {
    let (file, len) = open_input(input)?;
    let mut pending = PendingOutput::create(output, force, true)?;
    let from = read_cards(from)?;
    let (recipient, _) = files::read_key(key)?;
    let senders = with_own(from, Some(recipient.card()));

    let mut reader = progress::reader(BufReader::new(file), len, "opening");
    let opened =
        ratchetkit::sealed::open_stream(&recipient, &senders, &mut reader, pending.writer()?);
    progress::finish(&reader);
    // Until open_stream returned Ok, what it wrote is unauthenticated: dropping `pending`
    // removes it, so OUTPUT never holds any of it.
    let opened = opened.map_err(|error| open_failure(input, key, error))?;
    pending.commit()?;
    let sender = senders
        .iter()
        .find(|card| card.fingerprint() == opened.sender)
        .map_or("an unnamed card", |card| card.identity());
    // The name comes from a card file: the library refuses names with control or
    // bidirectional characters, and it is escaped all the same.
    eprintln!(
        "opened {} bytes from {} (fingerprint {}) into {}",
        opened.bytes,
        shown::text(sender),
        opened.sender,
        shown::path(output)
    );
    Ok(())
}

/// Says what an `open` failure means for the person running it.
fn open_failure(input: &Path, key: &Path, error: Error) -> Failure {
    let input = input.display();
    let key = key.display();
    Failure::new(match error {
        Error::NotARecipient => format!("{input} was not sealed for {key}: it is not a recipient"),
        Error::Tampered => {
            format!("{input} was tampered with or corrupted; nothing was written")
        }
        Error::Truncated => format!("{input} is truncated (cut short); nothing was written"),
        Error::NotFromSender => format!(
            "{input} is signed by none of the --from cards: someone else sealed it; nothing was written"
        ),
        // A stream starts with its header's length: other bytes read as a huge one.
        Error::Decode { .. }
        | Error::UnsupportedVersion { .. }
        | Error::SealedTooLarge {
            what: "stream header",
            ..
        } => {
            format!("{input} is not a file sealed by ratchetkit ({error})")
        }
        Error::Io { kind, during } => format!("I/O error while {during} of {input}: {kind}"),
        other => format!("cannot open {input}: {other}"),
    })
}
