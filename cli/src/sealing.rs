//! The file subcommands: `seal`, `open` and `inspect`, on ratchetkit's encrypted streams.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, IsTerminal, Seek, Write};
use std::path::{Path, PathBuf};

use ratchetkit::sealed::{open_stream, read_stream_header, seal_stream};
use ratchetkit::{Card, Error, Fingerprint};

use crate::failure::{Failure, Result};
use crate::files::{self, PendingOutput};
use crate::progress;
use crate::server::{self, ServerArgs};
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

/// `path` as messages name it: `stdin`/`stdout` for `-`, else the path.
fn named(path: &Path, standard: &str) -> String {
    if files::is_standard(path) {
        standard.to_owned()
    } else {
        path.display().to_string()
    }
}

/// Where `seal` writes: a file that appears when complete, or stdout.
enum SealedOutput {
    File(PendingOutput),
    Stdout(BufWriter<io::StdoutLock<'static>>),
}

/// Whom `seal` seals for, besides the sender: card files, and names whose current cards
/// are fetched from a server.
pub struct Recipients<'a> {
    pub cards: &'a [PathBuf],
    pub users: &'a [String],
    pub server: Option<&'a ServerArgs>,
}

/// `seal`: `input` sealed for the recipients (and the sender, if `to_self`) into `output`.
pub fn seal(
    key: &Path,
    to: &Recipients<'_>,
    to_self: bool,
    input: &Path,
    output: &Path,
    force: bool,
) -> Result<()> {
    // Every file problem is reported before the password is asked for.
    let source = files::open_input(input)?;
    let mut sink = if files::is_standard(output) {
        let stdout = io::stdout();
        if stdout.is_terminal() {
            return Err(Failure::new(
                "refusing to write a sealed (binary) file to the terminal: redirect stdout, \
                 or give an output file",
            ));
        }
        SealedOutput::Stdout(BufWriter::new(stdout.lock()))
    } else {
        SealedOutput::File(PendingOutput::create(output, force, false)?)
    };
    let mut cards = read_cards(to.cards)?;
    if !to.users.is_empty() {
        let server = to
            .server
            .ok_or_else(|| Failure::new("--to-user needs --server URL and --app-key-file FILE"))?;
        cards.extend(server::current_cards(to.users, server)?);
    }
    let (sender, _) = files::read_key(key)?;
    let recipients = with_own(cards, to_self.then(|| sender.card()));

    let mut reader = progress::reader(
        BufReader::new(source.reader),
        source.len.unwrap_or(0),
        "sealing",
    );
    let mut rng = rand::rng();
    let writer: &mut dyn Write = match &mut sink {
        SealedOutput::File(pending) => pending.writer()?,
        SealedOutput::Stdout(stdout) => stdout,
    };
    let sealed = seal_stream(&mut rng, &sender, &recipients, &mut reader, writer);
    progress::finish(&reader);
    let input_name = named(input, "stdin");
    let bytes = sealed.map_err(|error| {
        let incomplete = if matches!(sink, SealedOutput::Stdout(_)) {
            " (what reached stdout is incomplete: discard it)"
        } else {
            ""
        };
        Failure::new(format!("cannot seal {input_name}: {error}{incomplete}"))
    })?;
    if let SealedOutput::File(pending) = sink {
        pending.commit()?;
    }
    eprintln!(
        "sealed {bytes} bytes of {} for {} recipient(s) into {}",
        shown::text(&input_name),
        recipients.len(),
        shown::text(&named(output, "stdout"))
    );
    Ok(())
}

/// Where `open` writes: a file renamed into place, or (for stdout) an unnamed temporary
/// file copied to stdout once the whole stream verified. Stdout cannot take back what it
/// was given, and a stream's first chunks decrypt before its signature is checked: the
/// spool keeps a rejected stream's data from ever reaching stdout.
enum OpenedOutput {
    File(PendingOutput),
    Spool(BufWriter<File>),
}

/// `open`: `input` opened with the key file, signed by one of the `from` cards (or the
/// key file's own), into `output`.
pub fn open(key: &Path, from: &[PathBuf], input: &Path, output: &Path, force: bool) -> Result<()> {
    let source = files::open_input(input)?;
    let mut sink = if files::is_standard(output) {
        // An unnamed file in the temporary directory, readable by its owner only, removed
        // by the system when closed, whatever happens.
        let spool = tempfile::tempfile().map_err(|error| {
            Failure::new(format!(
                "cannot create a temporary file to hold the output until it is verified: {error}"
            ))
        })?;
        OpenedOutput::Spool(BufWriter::new(spool))
    } else {
        OpenedOutput::File(PendingOutput::create(output, force, true)?)
    };
    let from = read_cards(from)?;
    let (recipient, _) = files::read_key(key)?;
    let senders = with_own(from, Some(recipient.card()));

    let mut reader = progress::reader(
        BufReader::new(source.reader),
        source.len.unwrap_or(0),
        "opening",
    );
    let writer: &mut dyn Write = match &mut sink {
        OpenedOutput::File(pending) => pending.writer()?,
        OpenedOutput::Spool(spool) => spool,
    };
    let opened = open_stream(&recipient, &senders, &mut reader, writer);
    progress::finish(&reader);
    // Until open_stream returned Ok, what it wrote is unauthenticated: dropping `sink`
    // removes it, so OUTPUT never holds any of it.
    let opened = opened.map_err(|error| open_failure(input, key, &senders, error))?;
    match sink {
        OpenedOutput::File(pending) => pending.commit()?,
        OpenedOutput::Spool(spool) => copy_to_stdout(spool)?,
    }
    let sender = senders
        .iter()
        .find(|card| card.fingerprint() == opened.sender())
        .map_or_else(|| opened.sender().to_string(), files::who);
    eprintln!(
        "opened {} bytes from {} into {}",
        opened.bytes(),
        sender,
        shown::text(&named(output, "stdout"))
    );
    Ok(())
}

/// Copies a verified spool to stdout.
fn copy_to_stdout(spool: BufWriter<File>) -> Result<()> {
    let failed = |error: io::Error| Failure::new(format!("cannot write to stdout: {error}"));
    let mut spool = spool
        .into_inner()
        .map_err(|error| failed(error.into_error()))?;
    spool.rewind().map_err(failed)?;
    let mut stdout = io::stdout().lock();
    io::copy(&mut spool, &mut stdout)
        .and_then(|_| stdout.flush())
        .map_err(failed)
}

/// Says what an `open` failure means for the person running it, and what to do.
fn open_failure(input: &Path, key: &Path, senders: &[Card], error: Error) -> Failure {
    let input = named(input, "stdin");
    let key = key.display();
    Failure::new(match error {
        Error::NotARecipient => format!(
            "{input} was not sealed for {key}: it is not a recipient (`ratchetkit inspect \
             {input}` lists the fingerprints it was sealed for)"
        ),
        Error::Tampered => {
            format!("{input} was tampered with or corrupted; nothing was written")
        }
        Error::Truncated => format!("{input} is truncated (cut short); nothing was written"),
        Error::NotFromSender => {
            let tried: Vec<String> = senders.iter().map(files::who).collect();
            format!(
                "{input} is signed by none of the cards tried ({}; the last is {key}'s \
                 own): it was sealed by someone else, whom only a signature check against \
                 their card can name, since the file carries no card; get the sender's \
                 card file (keygen writes it, `ratchetkit card --key THEIR.key` prints \
                 it) and pass it with --from CARD; nothing was written",
                tried.join(", ")
            )
        }
        // A stream starts with its header's length: other bytes read as a huge one.
        Error::Decode { .. }
        | Error::UnsupportedVersion { .. }
        | Error::SealedTooLarge {
            what: "stream header",
            ..
        } => {
            format!("{input} is not a file sealed by ratchetkit ({error})")
        }
        Error::Io { .. } => format!("cannot open {input}: {error}; nothing was written"),
        other => format!("cannot open {input}: {other}; nothing was written"),
    })
}

/// `inspect`: what a sealed file shows without any key: for whom it was sealed (named from
/// `cards` and the card of `key` when they match), its sizes, and why its sender is not
/// shown.
pub fn inspect(input: &Path, cards: &[PathBuf], key: Option<&Path>) -> Result<()> {
    let mut known = read_cards(cards)?;
    let own = key
        .map(|key| {
            let card_file = files::card_path(key);
            files::read_card(&card_file)
        })
        .transpose()?;
    known.extend(own.clone());
    let name = named(input, "stdin");

    let mut source = files::open_input(input)?;
    let header = read_stream_header(&mut source.reader).map_err(|error| match error {
        Error::Io { .. } => Failure::new(format!("cannot read {name}: {error}")),
        _ => Failure::new(format!(
            "{name} is not a file sealed by ratchetkit ({error})"
        )),
    })?;
    let len = match source.len {
        Some(len) => len,
        // Stdin's length is known only once it is read through.
        None => io::copy(&mut source.reader, &mut io::sink())
            .map_err(|error| Failure::new(format!("cannot read {name}: {error}")))?
            .saturating_add(header.header_len()),
    };

    let mut out = io::stdout().lock();
    let mut report = Vec::new();
    report.push(format!(
        "{}: ratchetkit encrypted stream, {len} bytes",
        shown::text(&name)
    ));
    report.push(match header.plaintext_len(len) {
        Some(plaintext) => {
            format!("plaintext: {plaintext} bytes (as the length says; opening checks every chunk)")
        }
        None => "plaintext: unknown: no whole stream has this length (cut short, or with \
                 bytes added): opening it will fail"
            .to_owned(),
    });
    report.push(format!(
        "header: {} bytes, {} recipient(s):",
        header.header_len(),
        header.recipients().len()
    ));
    for fingerprint in header.recipients() {
        report.push(format!(
            "  {}",
            recipient_line(fingerprint, &known, own.as_ref())
        ));
    }
    report.push(
        "sender: not shown: the signature is encrypted with the data, so only `open` \
         by a recipient, given the sender's card with --from, tells who sealed it"
            .to_owned(),
    );
    for line in report {
        writeln!(out, "{line}")
            .map_err(|error| Failure::new(format!("cannot write to stdout: {error}")))?;
    }
    Ok(())
}

/// One recipient of `inspect`: the fingerprint, and the name of a matching known card.
fn recipient_line(fingerprint: &Fingerprint, known: &[Card], own: Option<&Card>) -> String {
    let card = known.iter().find(|card| card.fingerprint() == *fingerprint);
    match card {
        Some(card) if own.is_some_and(|own| own.fingerprint() == *fingerprint) => {
            format!("{fingerprint} {} (this key)", shown::text(card.identity()))
        }
        Some(card) => format!("{fingerprint} {}", shown::text(card.identity())),
        None => format!("{fingerprint} (no card given)"),
    }
}
