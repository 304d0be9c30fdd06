//! The key subcommands: `keygen` and `card`.

use std::path::Path;

use ratchetkit::{Identity, LockParams, PrekeyStore};

use crate::failure::{Failure, Result};
use crate::files;
use crate::password;
use crate::shown;

/// `keygen`: a new identity, locked with a new password into `out`.
pub fn keygen(name: &str, out: &Path, force: bool) -> Result<()> {
    if !force && out.exists() {
        return Err(Failure::new(format!(
            "{} already exists; pass --force to replace it",
            out.display()
        )));
    }
    let password = password::new(out)?;
    let mut rng = rand::rng();
    let identity = Identity::generate(&mut rng, name)
        .map_err(|error| Failure::new(format!("cannot use the name {name:?}: {error}")))?;
    let prekeys = PrekeyStore::new(&mut rng);
    let locked = identity
        .lock(
            &mut rng,
            &prekeys,
            password.as_bytes(),
            &LockParams::default(),
        )
        .map_err(|error| Failure::new(format!("cannot lock the new key: {error}")))?;
    files::write_whole(out, &locked, force, true)?;
    eprintln!(
        "wrote {} for {}, fingerprint {}",
        shown::path(out),
        shown::text(identity.card().identity()),
        identity.card().fingerprint()
    );
    Ok(())
}

/// `card`: the key file's card, as base64 on stdout.
pub fn card(key: &Path) -> Result<()> {
    let (identity, _) = files::read_key(key)?;
    println!("{}", identity.card().to_base64());
    Ok(())
}
