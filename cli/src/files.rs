//! Key files, card files, inputs (`-` for stdin) and outputs that appear only when complete
//! (`-` for stdout).

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use ratchetkit::{Card, Error, Identity, PrekeyStore};

use crate::failure::{Failure, Result};
use crate::password;
use crate::shown;

/// The path that means stdin as an input and stdout as an output.
pub const STANDARD_STREAM: &str = "-";

/// Whether `path` is [`STANDARD_STREAM`].
pub fn is_standard(path: &Path) -> bool {
    path.as_os_str() == STANDARD_STREAM
}

/// The card file that `keygen` writes beside `key`: `alice.key` gives `alice.card`, any
/// other name gets `.card` appended (`alice` gives `alice.card`, `alice.pem` gives
/// `alice.pem.card`), so the card never replaces the key.
pub fn card_path(key: &Path) -> PathBuf {
    if key.extension().is_some_and(|extension| extension == "key") {
        return key.with_extension("card");
    }
    let mut name = key.as_os_str().to_owned();
    name.push(".card");
    PathBuf::from(name)
}

/// Reads and unlocks a key file, asking for its password once the file has been read.
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

/// `card` as the tool names a party everywhere: its name and its full fingerprint, the
/// name escaped (the library refuses control characters in names; this is a second guard).
pub fn who(card: &Card) -> String {
    format!(
        "{} (fingerprint {})",
        shown::text(card.identity()),
        card.fingerprint()
    )
}

/// An input: a file, or stdin for [`STANDARD_STREAM`].
pub struct Input {
    /// What to read.
    pub reader: Box<dyn Read>,
    /// The length, when the input is a file (stdin's is not known before it ends).
    pub len: Option<u64>,
}

/// Opens `path` for reading, or stdin for `-`.
pub fn open_input(path: &Path) -> Result<Input> {
    if is_standard(path) {
        return Ok(Input {
            reader: Box::new(io::stdin().lock()),
            len: None,
        });
    }
    let file = File::open(path).map_err(|error| Failure::io(path, "read", &error))?;
    let metadata = file
        .metadata()
        .map_err(|error| Failure::io(path, "read", &error))?;
    if metadata.is_dir() {
        return Err(Failure::new(format!(
            "cannot read {}: it is a directory",
            path.display()
        )));
    }
    Ok(Input {
        reader: Box::new(file),
        len: metadata.is_file().then_some(metadata.len()),
    })
}

/// Refuses to write `target` unless it is free, or a regular file and `force`.
///
/// Outputs are renamed into place, and a rename replaces whatever has the name: run as
/// root, `--force` onto `/dev/stdout` replaced the symlink with a regular file. So an
/// existing symlink (to anything), directory, device, pipe or socket is refused even with
/// `--force`: `-` is the way to write to stdout.
pub fn check_output(target: &Path, force: bool) -> Result<()> {
    let metadata = match fs::symlink_metadata(target) {
        Ok(metadata) => metadata,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(error) => return Err(Failure::io(target, "write", &error)),
    };
    let file_type = metadata.file_type();
    let what = if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a directory"
    } else if !file_type.is_file() {
        "not a regular file (a device, pipe or socket)"
    } else if force {
        return Ok(());
    } else {
        return Err(Failure::new(format!(
            "{} already exists; pass --force to replace it",
            target.display()
        )));
    };
    Err(Failure::new(format!(
        "{} is {what}: outputs are written only to regular files (use - for stdout)",
        target.display()
    )))
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
    /// Starts writing `target` (see [`check_output`] for what it may be). `private`
    /// outputs (key files, opened plaintext) are readable by their owner only, on Unix.
    pub fn create(target: &Path, force: bool, private: bool) -> Result<Self> {
        check_output(target, force)?;
        let name = target
            .file_name()
            .ok_or_else(|| Failure::new(format!("{} is not a file name", target.display())))?;
        let mut temporary_name = std::ffi::OsString::from(".");
        temporary_name.push(name);
        temporary_name.push(format!(".{}.partial", std::process::id()));
        let temporary = target.with_file_name(temporary_name);

        let mut options = OpenOptions::new();
        // create_new: never through a symlink or over a file someone put there first.
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

    /// Flushes the contents to disk and moves them to the target name, which then holds
    /// either its old contents or the new ones, never a mix, even after a crash.
    pub fn commit(mut self) -> Result<()> {
        let writer = self
            .writer
            .take()
            .ok_or_else(|| Failure::new("internal error: output already committed"))?;
        let failed = |error: io::Error| Failure::io(&self.target, "write", &error);
        let file = writer
            .into_inner()
            .map_err(|error| failed(error.into_error()))?;
        file.sync_all().map_err(failed)?;
        drop(file);
        // The checks of `create` again, just before the rename: a symlink or device put at
        // the name while the output was written is refused, not replaced.
        check_output(&self.target, true)?;
        fs::rename(&self.temporary, &self.target).map_err(failed)?;
        sync_directory(&self.target);
        Ok(())
    }
}

impl Drop for PendingOutput {
    fn drop(&mut self) {
        // After a commit the temporary name is gone and this fails harmlessly.
        self.writer = None;
        let _ = fs::remove_file(&self.temporary);
    }
}

/// Makes a rename in `target`'s directory durable (the directory entry is on disk, not
/// only the file's contents). Best effort: where directories cannot be synced (not Unix,
/// some file systems) the rename still happened.
fn sync_directory(target: &Path) {
    #[cfg(unix)]
    {
        let directory = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        if let Ok(directory) = File::open(directory) {
            let _ = directory.sync_all();
        }
    }
    #[cfg(not(unix))]
    let _ = target;
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
