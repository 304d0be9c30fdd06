//! Prekey upkeep: expiring one-time prekeys handed out but never used, topping the
//! directory up below its low-water mark, and rotating the signed prekey on schedule.

use rand::CryptoRng;

use super::error::ClientError;
use super::{Client, ClientResult, Store};
use crate::identity::{CardDirectory, PrekeyStore, ONE_TIME_PREKEY_MAX_AGE_SECS};

/// What [`Client::upkeep`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Upkeep {
    /// One-time prekeys deleted for age
    /// ([`ONE_TIME_PREKEY_MAX_AGE_SECS`]), with their bundles.
    pub expired: Vec<u32>,
    /// One-time prekeys made and published.
    pub added: Vec<u32>,
    /// Whether the signed prekey was rotated (and every bundle replaced).
    pub rotated: bool,
    /// How many one-time bundles the directory held when it was asked, after the expired
    /// ones were dropped.
    pub published_before: usize,
}

impl<S: Store> Client<S> {
    /// Publishes this device's card and bundles to `directory`, for a new device (a
    /// device's bundles are otherwise kept up by [`Client::upkeep`]).
    ///
    /// # Errors
    /// [`ClientError::Directory`] for a directory failure.
    pub fn publish<D>(&self, directory: &mut D) -> ClientResult<(), S>
    where
        D: CardDirectory,
        D::Error: std::error::Error + Send + Sync + 'static,
    {
        directory
            .publish(self.device.card().clone())
            .map_err(boxed)?;
        directory
            .replace_bundles(&self.device, &self.prekeys)
            .map_err(boxed)
    }

    /// Keeps this device's prekeys in `directory` healthy; call it daily and at start-up
    /// (`now` in seconds since the Unix epoch). In order:
    ///
    /// 1. deletes one-time prekeys older than [`ONE_TIME_PREKEY_MAX_AGE_SECS`] (handed out
    ///    and never used, their secrets only wait for an attacker) and drops their bundles;
    /// 2. asks how many one-time bundles are left, and below
    ///    [`ONE_TIME_PREKEY_LOW_WATER`](crate::identity::ONE_TIME_PREKEY_LOW_WATER) makes a
    ///    batch ([`ONE_TIME_PREKEY_BATCH`](crate::identity::ONE_TIME_PREKEY_BATCH));
    /// 3. rotates the signed prekey when it is due
    ///    ([`PrekeyStore::signed_prekey_rotation_due`]);
    /// 4. saves the prekeys, and only then publishes: after a rotation it replaces every
    ///    bundle, so no bundle of a rotated-away signed prekey is handed out again.
    ///
    /// A crash between the save and the publication loses nothing: the next call
    /// publishes again.
    ///
    /// # Errors
    /// [`ClientError::Directory`] for a directory failure (the prekeys are unchanged if it
    /// failed before the save); a store failure (the prekeys are unchanged).
    pub fn upkeep<R, D>(
        &mut self,
        rng: &mut R,
        now: u64,
        directory: &mut D,
    ) -> ClientResult<Upkeep, S>
    where
        R: CryptoRng + ?Sized,
        D: CardDirectory,
        D::Error: std::error::Error + Send + Sync + 'static,
    {
        let backup = self.prekeys.to_bytes();
        let result = self.upkeep_on_copy(rng, now, directory);
        if result.is_err() {
            self.prekeys = PrekeyStore::from_bytes(&backup)?;
        }
        let (report, changed) = result?;
        if changed {
            if report.rotated {
                directory
                    .replace_bundles(&self.device, &self.prekeys)
                    .map_err(boxed)?;
            } else {
                for id in &report.added {
                    let bundle = self.prekeys.bundle(&self.device, Some(*id))?;
                    directory.publish_bundle(bundle).map_err(boxed)?;
                }
            }
        }
        Ok(report)
    }

    /// Steps 1 to 3 and the save; returns the report and whether anything changed.
    fn upkeep_on_copy<R, D>(
        &mut self,
        rng: &mut R,
        now: u64,
        directory: &mut D,
    ) -> ClientResult<(Upkeep, bool), S>
    where
        R: CryptoRng + ?Sized,
        D: CardDirectory,
        D::Error: std::error::Error + Send + Sync + 'static,
    {
        let expired = self
            .prekeys
            .expire_one_time_prekeys(now, ONE_TIME_PREKEY_MAX_AGE_SECS);
        if !expired.is_empty() {
            directory
                .remove_one_time_bundles(&self.device, &expired)
                .map_err(boxed)?;
        }
        let fingerprint = self.device.card().fingerprint();
        let published_before = directory
            .one_time_prekey_count(&fingerprint)
            .map_err(boxed)?;
        let added = self
            .prekeys
            .replenish_one_time_prekeys_at(rng, published_before, now);
        let rotated = self.prekeys.signed_prekey_rotation_due(now);
        if rotated {
            self.prekeys.rotate_signed_prekey_at(rng, now);
        }
        let changed = !expired.is_empty() || !added.is_empty() || rotated;
        if changed {
            self.save_prekeys(rng)?;
        }
        Ok((
            Upkeep {
                expired,
                added,
                rotated,
                published_before,
            },
            changed,
        ))
    }
}

fn boxed<E: std::error::Error + 'static, F: std::error::Error + Send + Sync + 'static>(
    error: F,
) -> ClientError<E> {
    ClientError::Directory(Box::new(error))
}
