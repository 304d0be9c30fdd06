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
mod shown;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Encrypt files for people, with keys that stay locked by a password.
#[derive(Parser)]
#[command(
    name = "ratchetkit",
    version,
    after_help = "The password of a key file comes from the RATCHETKIT_PASSWORD environment \
                  variable when it is set, and is asked on the terminal otherwise.\n\n\
                  Exit status: 0 on success, 1 when a command fails (the reason is printed as \
                  one 'error: ...' line on stderr), 2 for a command line that cannot be parsed."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create an identity and write it to a key file locked by a new password.
    ///
    /// The password is asked twice (or taken from RATCHETKIT_PASSWORD). The key file holds
    /// every private key, encrypted with AES-256-GCM under an Argon2id key (64 MiB, 3
    /// passes, 4 lanes).
    Keygen {
        /// The identity's name, shown on its card (for example an email address).
        #[arg(long)]
        name: String,
        /// The key file to write.
        #[arg(long)]
        out: PathBuf,
        /// Replace OUT if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Print the public card of a key file, as base64 (save it to a .card file and share it).
    Card {
        /// The key file.
        #[arg(long)]
        key: PathBuf,
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
        #[arg(long = "to", value_name = "CARD", required = true)]
        to: Vec<PathBuf>,
        /// Do not add the sender's own card to the recipients.
        #[arg(long)]
        no_self: bool,
        /// Replace OUTPUT if it exists.
        #[arg(long)]
        force: bool,
        /// The file to seal.
        input: PathBuf,
        /// Where to write the sealed file; written only when sealing succeeded.
        output: PathBuf,
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
        /// The sealed file.
        input: PathBuf,
        /// Where to write the opened file.
        output: PathBuf,
    },
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::Keygen { name, out, force } => commands::keygen(&name, &out, force),
        Command::Card { key } => commands::card(&key),
        Command::Seal {
            key,
            to,
            no_self,
            force,
            input,
            output,
        } => sealing::seal(&key, &to, !no_self, &input, &output, force),
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
