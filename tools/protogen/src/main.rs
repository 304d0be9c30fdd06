//! Rewrites ratchetkit's generated protobuf code from `proto/*.proto`:
//! `cargo run -p ratchetkit-protogen`. With `--check`, writes nothing and exits with an
//! error if any committed file differs (what `cargo test` checks too).

use std::process::ExitCode;

fn main() -> ExitCode {
    let check = match std::env::args().nth(1).as_deref() {
        None => false,
        Some("--check") => true,
        Some(other) => {
            eprintln!("unknown argument {other:?}; usage: ratchetkit-protogen [--check]");
            return ExitCode::FAILURE;
        }
    };
    let root = ratchetkit_protogen::repository_root();
    let result = if check {
        ratchetkit_protogen::check(&root).map(|stale| {
            for file in &stale {
                eprintln!("{file}");
            }
            stale.is_empty()
        })
    } else {
        ratchetkit_protogen::write(&root).map(|written| {
            for path in written {
                println!("regenerated {path}");
            }
            true
        })
    };
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(error) => {
            eprintln!("ratchetkit-protogen: {error}");
            ExitCode::FAILURE
        }
    }
}
