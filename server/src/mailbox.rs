//! Mailboxes: opaque envelopes kept for a device until it acknowledges them or the
//! retention time passes.

use std::collections::BTreeSet;

use crate::cards::owner_of_device;
use crate::error::ApiError;
use crate::store::{from_i64, query_one, to_i64, Tx, Value};

/// Most envelopes one `POST /v1/mailbox/DEVICE` carries: 64, a message fanned out to a
/// device's sessions or a burst of small messages; the body limit bounds their bytes.
pub const MAX_ENVELOPES_PER_REQUEST: usize = 64;

/// Most envelopes waiting in one device's mailbox: 10,000. A device offline for weeks in
/// busy groups fits; a sender cannot make the server hold more for it than this and
/// [`MAX_MAILBOX_BYTES`].
pub const MAX_MAILBOX_ENVELOPES: usize = 10_000;

/// Most bytes waiting in one device's mailbox: 256 MiB, about 50 envelopes of the largest
/// size (`MAX_ENVELOPE_LEN`, a 4 MiB attachment) or many thousands of text messages.
pub const MAX_MAILBOX_BYTES: u64 = 256 * 1024 * 1024;

/// Most envelopes of one sender (token subject) waiting in one device's mailbox: 1,000, a
/// tenth of [`MAX_MAILBOX_ENVELOPES`]. Without a share per sender, anyone with a token
/// could fill a stranger's mailbox in one burst of requests and every other sender would
/// be refused until its owner came back (up to [`MAILBOX_RETENTION_SECS`]); now it takes
/// ten accounts, which only the app's backend can make.
pub const MAX_SENDER_ENVELOPES: usize = 1_000;

/// Most bytes of one sender waiting in one device's mailbox: 32 MiB, an eighth of
/// [`MAX_MAILBOX_BYTES`], for the same reason as [`MAX_SENDER_ENVELOPES`].
pub const MAX_SENDER_BYTES: u64 = 32 * 1024 * 1024;

/// How long an envelope waits unacknowledged before the sweeper deletes it: 30 days, the
/// crate's `ONE_TIME_PREKEY_MAX_AGE_SECS`; a device away for longer must be re-added.
pub const MAILBOX_RETENTION_SECS: u64 = 30 * 24 * 60 * 60;

/// How often the retention sweeper runs: every 10 minutes, so envelopes outlive the
/// retention time by at most that.
pub const SWEEP_INTERVAL_SECS: u64 = 600;

/// Most envelopes one `GET /v1/mailbox/DEVICE` returns, and its `limit` when none is
/// given: 100.
pub const MAX_FETCH_ENVELOPES: usize = 100;

/// Most envelope bytes one fetch returns, beyond its first envelope: 8 MiB, so that an
/// answer stays about as large as the largest request (the base64 of the largest single
/// envelope is 6 MiB). The client fetches again after the last id it got.
pub const MAX_FETCH_BYTES: u64 = 8 * 1024 * 1024;

/// Most ids one `POST /v1/mailbox/DEVICE/ack` names: 1,000, ten fetches' worth.
pub const MAX_ACK_IDS: usize = 1_000;

/// Envelopes for a device.
#[derive(Debug)]
pub(crate) struct Deposit {
    pub(crate) device: [u8; 32],
    /// The token subject depositing them.
    pub(crate) sender: String,
    pub(crate) envelopes: Vec<Vec<u8>>,
    pub(crate) now: u64,
}

/// A fetch by the mailbox's owner.
#[derive(Debug)]
pub(crate) struct Fetch {
    pub(crate) device: [u8; 32],
    pub(crate) subject: String,
    pub(crate) after: u64,
    pub(crate) limit: usize,
}

/// An acknowledgement by the mailbox's owner.
#[derive(Debug)]
pub(crate) struct Ack {
    pub(crate) device: [u8; 32],
    pub(crate) subject: String,
    pub(crate) ids: BTreeSet<u64>,
}

/// Stores the envelopes and returns their ids.
pub(crate) async fn deposit<T: Tx>(tx: &mut T, deposit: Deposit) -> Result<Vec<u64>, ApiError> {
    owner_of_device(tx, &deposit.device).await?;
    let device = Value::from(deposit.device.as_slice());
    // Two deposits at once must not both pass the limits.
    tx.lock(&deposit.device).await?;
    let row = query_one(
        tx,
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(envelope)), 0) FROM mailbox WHERE device = $1",
        std::slice::from_ref(&device),
    )
    .await?;
    let count = from_i64::<usize>(row.int(0)?)?;
    let bytes = from_i64::<u64>(row.int(1)?)?;
    let adding: u64 = deposit
        .envelopes
        .iter()
        .map(|envelope| u64::try_from(envelope.len()).unwrap_or(u64::MAX))
        .fold(0, u64::saturating_add);
    if count.saturating_add(deposit.envelopes.len()) > MAX_MAILBOX_ENVELOPES
        || bytes.saturating_add(adding) > MAX_MAILBOX_BYTES
    {
        return Err(ApiError::too_many(format!(
            "the mailbox holds at most {MAX_MAILBOX_ENVELOPES} envelopes and \
             {MAX_MAILBOX_BYTES} bytes"
        )));
    }
    let sender = Value::from(deposit.sender.as_str());
    let row = query_one(
        tx,
        "SELECT COUNT(*), COALESCE(SUM(LENGTH(envelope)), 0) FROM mailbox
         WHERE device = $1 AND sender = $2",
        &[device.clone(), sender.clone()],
    )
    .await?;
    let count = from_i64::<usize>(row.int(0)?)?;
    let bytes = from_i64::<u64>(row.int(1)?)?;
    if count.saturating_add(deposit.envelopes.len()) > MAX_SENDER_ENVELOPES
        || bytes.saturating_add(adding) > MAX_SENDER_BYTES
    {
        return Err(ApiError::too_many(format!(
            "one sender may have at most {MAX_SENDER_ENVELOPES} envelopes and \
             {MAX_SENDER_BYTES} bytes waiting in a mailbox"
        )));
    }
    let now = to_i64(deposit.now)?;
    let mut ids = Vec::with_capacity(deposit.envelopes.len());
    for envelope in deposit.envelopes {
        let row = query_one(
            tx,
            "INSERT INTO mailbox (device, envelope, created_at, sender) VALUES ($1, $2, $3, $4)
             RETURNING id",
            &[
                device.clone(),
                Value::Bytes(envelope),
                Value::Int(now),
                sender.clone(),
            ],
        )
        .await?;
        ids.push(from_i64::<u64>(row.int(0)?)?);
    }
    Ok(ids)
}

/// The owner's envelopes after `after`, oldest first, within the limits.
pub(crate) async fn fetch<T: Tx>(
    tx: &mut T,
    fetch: Fetch,
) -> Result<Vec<(u64, Vec<u8>)>, ApiError> {
    if owner_of_device(tx, &fetch.device).await? != fetch.subject {
        return Err(ApiError::not_owner());
    }
    let device = Value::from(fetch.device.as_slice());
    // Ids and sizes first, so that no more envelopes are read than are sent.
    let sizes = tx
        .query(
            "SELECT id, LENGTH(envelope) FROM mailbox WHERE device = $1 AND id > $2
             ORDER BY id LIMIT $3",
            &[
                device.clone(),
                Value::Int(to_i64(fetch.after)?),
                Value::Int(to_i64(fetch.limit.min(MAX_FETCH_ENVELOPES))?),
            ],
        )
        .await?;
    let mut last = None;
    let mut total = 0_u64;
    for row in &sizes {
        let size = from_i64::<u64>(row.int(1)?)?;
        if last.is_some() && total.saturating_add(size) > MAX_FETCH_BYTES {
            break;
        }
        total = total.saturating_add(size);
        last = Some(row.int(0)?);
    }
    let Some(last) = last else {
        return Ok(Vec::new());
    };
    tx.query(
        "SELECT id, envelope FROM mailbox WHERE device = $1 AND id > $2 AND id <= $3 ORDER BY id",
        &[device, Value::Int(to_i64(fetch.after)?), Value::Int(last)],
    )
    .await?
    .iter()
    .map(|row| Ok((from_i64::<u64>(row.int(0)?)?, row.bytes(1)?)))
    .collect()
}

/// Deletes the owner's envelopes `ids`; returns how many there were.
pub(crate) async fn ack<T: Tx>(tx: &mut T, ack: Ack) -> Result<u64, ApiError> {
    if owner_of_device(tx, &ack.device).await? != ack.subject {
        return Err(ApiError::not_owner());
    }
    let device = Value::from(ack.device.as_slice());
    let mut deleted = 0_u64;
    for id in ack.ids {
        // An id past i64 was never given out.
        let Ok(id) = i64::try_from(id) else { continue };
        deleted = deleted.saturating_add(
            tx.execute(
                "DELETE FROM mailbox WHERE device = $1 AND id = $2",
                &[device.clone(), Value::Int(id)],
            )
            .await?,
        );
    }
    Ok(deleted)
}

/// Deletes the envelopes deposited before `before`.
pub(crate) async fn sweep<T: Tx>(tx: &mut T, before: u64) -> Result<u64, ApiError> {
    Ok(tx
        .execute(
            "DELETE FROM mailbox WHERE created_at < $1",
            &[Value::Int(to_i64(before)?)],
        )
        .await?)
}
