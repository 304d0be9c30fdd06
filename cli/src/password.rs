//! Passwords: from `RATCHETKIT_PASSWORD` when it is set, else asked on the terminal
//! without echo.

use std::path::Path;

use zeroize::Zeroizing;

use crate::failure::{Failure, Result};
use crate::shown;

/// The environment variable that supplies the password (for scripts and tests).
pub const PASSWORD_VARIABLE: &str = "RATCHETKIT_PASSWORD";

/// The environment variable that supplies the new password of `passwd` (the old one comes
/// from [`PASSWORD_VARIABLE`]).
pub const NEW_PASSWORD_VARIABLE: &str = "RATCHETKIT_NEW_PASSWORD";

fn from_environment(variable: &str) -> Result<Option<Zeroizing<String>>> {
    match std::env::var(variable) {
        Ok(password) => Ok(Some(Zeroizing::new(password))),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            Err(Failure::new(format!("{variable} is not valid UTF-8")))
        }
    }
}

fn ask(prompt: &str) -> Result<Zeroizing<String>> {
    rpassword::prompt_password(prompt)
        .map(Zeroizing::new)
        .map_err(|error| {
            Failure::new(format!(
                "cannot ask for the password ({error}): run from a terminal or set {PASSWORD_VARIABLE}"
            ))
        })
}

/// The password of an existing key file.
pub fn existing(key_file: &Path) -> Result<Zeroizing<String>> {
    match from_environment(PASSWORD_VARIABLE)? {
        Some(password) => Ok(password),
        None => ask(&format!("Password for {}: ", shown::path(key_file))),
    }
}

/// A new password for `key_file` made by `keygen`, typed twice when it is asked for.
/// Never empty.
pub fn new(key_file: &Path) -> Result<Zeroizing<String>> {
    new_from(PASSWORD_VARIABLE, key_file)
}

/// The new password of `passwd` for `key_file`, typed twice when it is asked for. Never
/// empty.
pub fn replacement(key_file: &Path) -> Result<Zeroizing<String>> {
    new_from(NEW_PASSWORD_VARIABLE, key_file)
}

fn new_from(variable: &str, key_file: &Path) -> Result<Zeroizing<String>> {
    let password = match from_environment(variable)? {
        Some(password) => password,
        None => {
            let first = ask(&format!("New password for {}: ", shown::path(key_file)))?;
            let second = ask("Type it again: ")?;
            if *first != *second {
                return Err(Failure::new(
                    "the two passwords differ; nothing was written",
                ));
            }
            first
        }
    };
    if password.is_empty() {
        return Err(Failure::new(
            "the password is empty; a key file needs a password",
        ));
    }
    Ok(password)
}
