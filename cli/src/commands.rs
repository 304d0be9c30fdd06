//! The key subcommands: `keygen`, `card` and `passwd`.

use std::path::Path;

use ratchetkit::{Identity, LockParams, PrekeyStore};

use crate::failure::{Failure, Result};
use crate::files::{self, PendingOutput};
use crate::password;
use crate::shown;

/// `keygen`: a new identity, locked with a new password into `out`, and its public card
/// beside it (see [`files::card_path`]).
pub fn keygen(name: &str, out: &Path, force: bool) -> Result<()> {
    let card_out = files::card_path(out);
    // Everything that can be refused is, before a password is typed.
    if files::is_standard(out) {
        return Err(Failure::new(
            "a key file cannot go to stdout: give --out a file name (its card goes beside it)",
        ));
    }
    files::check_output(out, force)?;
    files::check_output(&card_out, force)?;
    let mut rng = rand::rng();
    let identity = Identity::generate(&mut rng, name)
        .map_err(|error| Failure::new(format!("cannot use the name {name:?}: {error}")))?;
    let prekeys = PrekeyStore::new(&mut rng);
    let password = password::new(out)?;
    let locked = identity
        .lock(
            &mut rng,
            &prekeys,
            password.as_bytes(),
            &LockParams::default(),
        )
        .map_err(|error| Failure::new(format!("cannot lock the new key: {error}")))?;
    files::write_whole(out, &locked, force, true)?;
    let card = identity.card();
    files::write_whole(&card_out, card.to_base64().as_bytes(), force, false)?;
    eprintln!(
        "wrote {} and its card {} for {}",
        shown::path(out),
        shown::path(&card_out),
        files::who(card)
    );
    Ok(())
}

/// `card`: the public card of a key file, as base64 on stdout, read from the card file
/// `keygen` wrote beside it; only when that file is missing (a key made before cards were
/// written) is the key unlocked, and the card file written for next time.
pub fn card(key: &Path) -> Result<()> {
    let card_file = files::card_path(key);
    let card = if card_file.exists() {
        files::read_card(&card_file)?
    } else {
        if !key.exists() {
            return Err(Failure::new(format!(
                "cannot read {}: no such file (nor its card {})",
                key.display(),
                card_file.display()
            )));
        }
        let (identity, _) = files::read_key(key)?;
        let card = identity.card().clone();
        files::write_whole(&card_file, card.to_base64().as_bytes(), false, false)?;
        eprintln!("wrote the missing card file {}", shown::path(&card_file));
        card
    };
    println!("{}", card.to_base64());
    eprintln!("card of {}", files::who(&card));
    Ok(())
}

/// `passwd`: `key` locked again under a new password. The key file is replaced in one
/// rename once the new one is on disk, so a failure at any point leaves the old file, and
/// the old password, working.
pub fn passwd(key: &Path) -> Result<()> {
    // The rename replaces the key file, so it must be one (not a symlink to elsewhere).
    files::check_output(key, true)?;
    let (identity, prekeys) = files::read_key(key)?;
    let password = password::replacement(key)?;
    let mut rng = rand::rng();
    let locked = identity
        .lock(
            &mut rng,
            &prekeys,
            password.as_bytes(),
            &LockParams::default(),
        )
        .map_err(|error| Failure::new(format!("cannot lock the key again: {error}")))?;
    let mut output = PendingOutput::create(key, true, true)?;
    std::io::Write::write_all(output.writer()?, &locked)
        .map_err(|error| Failure::io(key, "write", &error))?;
    output.commit()?;
    eprintln!(
        "changed the password of {} ({})",
        shown::path(key),
        files::who(identity.card())
    );
    Ok(())
}
