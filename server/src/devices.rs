//! Device lists: the newest signed list of each account.

use ratchetkit::client::DeviceList;

use crate::error::ApiError;
use crate::store::{from_i64, query_opt, to_i64, Tx, Value};

/// A verified device list to publish (its owner already checked).
#[derive(Debug)]
pub(crate) struct PutList {
    pub(crate) list: DeviceList,
}

/// Keeps the list if it is newer than the held one; `Ok(true)` if it was taken,
/// `Ok(false)` if the same bytes are held.
pub(crate) async fn put<T: Tx>(tx: &mut T, put: PutList) -> Result<bool, ApiError> {
    let list = put.list;
    let account = Value::from(list.account_id().as_bytes().as_slice());
    let bytes = list.to_bytes();
    let version = to_i64(list.version())
        .map_err(|_| ApiError::invalid_device_list("the version is too large"))?;
    let inserted = tx
        .query(
            "INSERT INTO device_lists (account, name, version, list) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account) DO NOTHING RETURNING version",
            &[
                account.clone(),
                Value::from(list.account().identity()),
                Value::Int(version),
                Value::Bytes(bytes.clone()),
            ],
        )
        .await?;
    if !inserted.is_empty() {
        return Ok(true);
    }
    let sql = format!(
        "SELECT version, list FROM device_lists WHERE account = $1{}",
        tx.for_update()
    );
    let Some(row) = query_opt(tx, &sql, std::slice::from_ref(&account)).await? else {
        return Err(ApiError::internal("a device list vanished"));
    };
    if row.bytes(1)? == bytes {
        return Ok(false);
    }
    let held = row.int(0)?;
    if version <= held {
        return Err(ApiError::stale_device_list(
            list.version(),
            from_i64::<u64>(held)?,
        ));
    }
    tx.execute(
        "UPDATE device_lists SET version = $2, list = $3 WHERE account = $1",
        &[account, Value::Int(version), Value::Bytes(bytes)],
    )
    .await?;
    Ok(true)
}

/// The newest list of the account.
pub(crate) async fn get<T: Tx>(
    tx: &mut T,
    account: &[u8; 32],
) -> Result<Option<Vec<u8>>, ApiError> {
    let row = query_opt(
        tx,
        "SELECT list FROM device_lists WHERE account = $1",
        &[Value::from(account.as_slice())],
    )
    .await?;
    Ok(row.map(|row| row.bytes(0)).transpose()?)
}
