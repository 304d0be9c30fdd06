//! `ratchetkit`: password-locked keys, cards, and files sealed for several recipients.

#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::unreachable
    )
)]

mod commands;
mod failure;
mod files;
mod password;
mod progress;
mod sealing;
mod server;
mod shown;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use server::{OptionalServerArgs, ServerArgs};

/// Encrypt files for people, with keys that stay locked by a password.
#[derive(Parser)]
#[command(
    name = "ratchetkit",
    version,
    after_help = "The password of a key file comes from the RATCHETKIT_PASSWORD environment \
                  variable when it is set, and is asked on the terminal otherwise (passwd \
                  takes the new one from RATCHETKIT_NEW_PASSWORD).\n\n\
                  An input given as - is read from stdin, an output given as - goes to \
                  stdout. Other outputs are written only to regular files, under a \
                  temporary name renamed into place once complete.\n\n\
                  Manual: docs/CLI.md.\n\n\
                  Exit status: 0 on success, 1 when a command fails (the reason is printed as \
                  one 'error: ...' line on stderr), 2 for a command line that cannot be parsed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an identity: a key file locked by a new password, and its public card.
    ///
    /// The password is asked twice (or taken from RATCHETKIT_PASSWORD). The key file holds
    /// every private key, encrypted with AES-256-GCM under an Argon2id key (64 MiB, 3
    /// passes, 4 lanes). The card goes beside it, OUT with .card for .key (alice.key gives
    /// alice.card), and needs no password to read or share.
    Keygen {
        /// The identity's name, shown on its card (for example an email address).
        #[arg(long)]
        name: String,
        /// The key file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace OUT and its card file if they exist.
        #[arg(long)]
        force: bool,
    },
    /// Print the public card of a key file, as base64, without its password.
    ///
    /// The card is read from the card file keygen wrote beside the key (KEY with .card for
    /// .key). Only for a key without one is the key unlocked, and the card file written.
    Card {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Change the password of a key file.
    ///
    /// The old password comes from RATCHETKIT_PASSWORD or the terminal, the new one from
    /// RATCHETKIT_NEW_PASSWORD or the terminal (twice). The key file is replaced in one
    /// rename once the new one is on disk: any failure leaves the old file and password.
    Passwd {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Show for whom a sealed file was sealed and its sizes, without any key or password.
    ///
    /// Recipients are listed by card fingerprint, named when one of the --card files (or
    /// the card of --key) matches. The sender is not shown: its signature is encrypted.
    Inspect {
        /// A card to name a recipient by; repeat for each.
        #[arg(long = "card", value_name = "CARD")]
        cards: Vec<PathBuf>,
        /// A key file whose card file (no password needed) marks its own entry.
        #[arg(long)]
        key: Option<PathBuf>,
        /// The sealed file (- for stdin).
        input: PathBuf,
    },
    /// Seal a file for the given recipients, signed by the key file's identity.
    ///
    /// The sender's own card is added to the recipients, so the sender can open its own
    /// files (--no-self leaves it out).
    Seal {
        /// The sender's key file.
        #[arg(long)]
        key: PathBuf,
        /// A recipient's card file (base64 as printed by `card`, or raw bytes); repeat for
        /// each recipient.
        #[arg(long = "to", value_name = "CARD", required_unless_present = "to_user")]
        to: Vec<PathBuf>,
        /// A recipient by name: every current card of NAME on the server (--server) is
        /// added, each listed on stderr with its fingerprint; repeat for each name.
        #[arg(long = "to-user", value_name = "NAME", requires = "server")]
        to_user: Vec<String>,
        #[command(flatten)]
        server: OptionalServerArgs,
        /// Do not add the sender's own card to the recipients.
        #[arg(long)]
        no_self: bool,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        force: bool,
        /// The file to seal (- for stdin).
        input: PathBuf,
        /// Where to write the sealed file, written only when sealing succeeded; - for
        /// stdout (which then holds a partial file if sealing fails).
        output: PathBuf,
    },
    /// Publish the key file's card to a ratchetkit-server, under its name.
    ///
    /// The card is read from the card file beside KEY (no password needed). The tool issues
    /// itself an access token for the card's name with the app key file, as the app's
    /// backend would (the server's development key: ratchetkit-server.dev-app-key).
    Register {
        /// The key file whose card to publish.
        #[arg(long)]
        key: PathBuf,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Print the cards a ratchetkit-server holds under NAME, with their fingerprints.
    ///
    /// One line per card on stdout, oldest first: its fingerprint, its base64, and
    /// "replaced" for a card its owner rotated away. Anyone allowed to publish under NAME
    /// can add a card: check a fingerprint with its owner before trusting it.
    Find {
        /// The identity name to look up.
        name: String,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Open a sealed file, checking that one of the given cards signed it.
    ///
    /// The key file's own card is also accepted as the sender, so you can open what you
    /// sealed. OUTPUT is written only once the whole file has been authenticated.
    Open {
        /// The recipient's key file.
        #[arg(long)]
        key: PathBuf,
        /// A card that may have sealed the file; repeat for each candidate sender.
        #[arg(long = "from", value_name = "CARD")]
        from: Vec<PathBuf>,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        force: bool,
        /// The sealed file (- for stdin).
        input: PathBuf,
        /// Where to write the opened file; - for stdout, which gets the data only once the
        /// whole file verified (it waits in an unnamed temporary file until then).
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Keygen { name, out, force } => commands::keygen(&name, &out, force),
        Command::Card { key } => commands::card(&key),
        Command::Passwd { key } => commands::passwd(&key),
        Command::Inspect { cards, key, input } => sealing::inspect(&input, &cards, key.as_deref()),
        Command::Seal {
            key,
            to,
            to_user,
            server,
            no_self,
            force,
            input,
            output,
        } => sealing::seal(
            &key,
            &sealing::Recipients {
                cards: &to,
                users: &to_user,
                server: server.given().as_ref(),
            },
            !no_self,
            &input,
            &output,
            force,
        ),
        Command::Register { key, server } => server::register(&key, &server),
        Command::Find { name, server } => server::find(&name, &server),
        Command::Open {
            key,
            from,
            force,
            input,
            output,
        } => sealing::open(&key, &from, &input, &output, force),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("error: {failure}");
            ExitCode::FAILURE
        }
    }
}
