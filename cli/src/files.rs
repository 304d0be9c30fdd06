//! Key files, card files, and outputs that appear only when complete.

use std::fs::{self, File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use ratchetkit::{Card, Error, Identity, PrekeyStore};

use crate::failure::{Failure, Result};
use crate::password;

/// Reads and unlocks a key file, asking for its password.
pub fn read_key(path: &Path) -> Result<(Identity, PrekeyStore)> {
    let locked = fs::read(path).map_err(|error| Failure::io(path, "read key file", &error))?;
    let password = password::existing(path)?;
    Identity::unlock(&locked, password.as_bytes()).map_err(|error| {
        let path = path.display();
        match error {
            Error::WrongPassword => Failure::new(format!(
                "wrong password for {path} (or the key file was altered)"
            )),
            Error::KeyDerivationFailed => {
                Failure::new(format!("not enough memory to unlock {path}: {error}"))
            }
            _ => Failure::new(format!("{path} is not a ratchetkit key file: {error}")),
        }
    })
}

/// Reads a card file: the base64 text `ratchetkit card` prints, or the card's raw bytes.
pub fn read_card(path: &Path) -> Result<Card> {
    let bytes = fs::read(path).map_err(|error| Failure::io(path, "read card", &error))?;
    let card = match std::str::from_utf8(&bytes) {
        Ok(text) => Card::from_base64(text.trim()),
        Err(_) => Card::from_bytes(&bytes),
    };
    card.map_err(|error| {
        Failure::new(format!(
            "{} is not a card (expected the output of `ratchetkit card`): {error}",
            path.display()
        ))
    })
}

/// An output file written under a temporary name next to its destination, and renamed
/// into place only by [`PendingOutput::commit`]: a command that fails half-way (a wrong
/// key, a tampered input, a full disk) leaves no partial output behind. Dropped without a
/// commit, it removes the temporary file.
pub struct PendingOutput {
    target: PathBuf,
    temporary: PathBuf,
    writer: Option<BufWriter<File>>,
}

impl PendingOutput {
    /// Starts writing `target`, which must not exist unless `force`. `private` outputs
    /// (key files, opened plaintext) are readable by their owner only, on Unix.
    pub fn create(target: &Path, force: bool, private: bool) -> Result<Self> {
        if !force && target.exists() {
            return Err(Failure::new(format!(
                "{} already exists; pass --force to replace it",
                target.display()
            )));
        }
        let name = target
            .file_name()
            .ok_or_else(|| Failure::new(format!("{} is not a file name", target.display())))?;
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".{}.partial", std::process::id()));
        let temporary = target.with_file_name(temporary_name);

        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        if private {
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        }
        #[cfg(not(unix))]
        let _ = private;
        let file = options
            .open(&temporary)
            .map_err(|error| Failure::io(&temporary, "create", &error))?;
        Ok(Self {
            target: target.to_owned(),
            temporary,
            writer: Some(BufWriter::new(file)),
        })
    }

    /// Where to write the contents.
    pub fn writer(&mut self) -> Result<&mut BufWriter<File>> {
        self.writer
            .as_mut()
            .ok_or_else(|| Failure::new("internal error: output already committed"))
    }

    /// Flushes the contents to disk and moves them to the target name.
    pub fn commit(mut self) -> Result<()> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Failure::new("internal error: output already committed"))?;
        let failed = |error: std::io::Error| Failure::io(&self.target, "write", &error);
        let file = writer
            .into_inner()
            .map_err(|error| failed(error.into_error()))?;
        file.sync_all().map_err(failed)?;
        drop(file);
        fs::rename(&self.temporary, &self.target).map_err(failed)
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        // After a commit the temporary name is gone and this fails harmlessly.
        self.writer = None;
        let _ = fs::remove_file(&self.temporary);
    }
}

/// Writes `contents` to `target` in one piece (see [`PendingOutput`]).
pub fn write_whole(target: &Path, contents: &[u8], force: bool, private: bool) -> Result<()> {
    let mut output = PendingOutput::create(target, force, private)?;
    output
        .writer()?
        .write_all(contents)
        .map_err(|error| Failure::io(target, "write", &error))?;
    output.commit()
}
