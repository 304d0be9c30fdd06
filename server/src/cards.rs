//! Cards: publishing (with rotation) and look-ups.

use ratchetkit::identity::MAX_CARD_CHAIN_LEN;
use ratchetkit::Card;

use crate::error::ApiError;
use crate::store::{from_i64, query_one, query_opt, StoreError, Tx, Value};

/// Most cards one identity name may have, rotated ones included: 256. A name's cards are
/// returned whole by `GET /v1/cards?name=`, so this bounds that answer (cards are at most
/// `MAX_CARD_LEN`, 8 KiB: 2 MiB) and the rows one user can make. An account with its
/// devices publishes one card per device, plus one per rotation (a chain is at most
/// `MAX_CARD_CHAIN_LEN`, 64, long).
pub const MAX_CARDS_PER_NAME: usize = 256;

/// A verified card to publish (its owner and policy already checked).
#[derive(Debug)]
pub(crate) struct PutCard {
    pub(crate) card: Card,
}

/// Publishes the card; `Ok(true)` if it is new, `Ok(false)` if it was held already.
pub(crate) async fn put<T: Tx>(tx: &mut T, put: PutCard) -> Result<bool, ApiError> {
    let card = put.card;
    let fingerprint = Value::from(card.fingerprint().as_bytes().as_slice());
    let held = query_opt(
        tx,
        "SELECT seq FROM cards WHERE fingerprint = $1",
        std::slice::from_ref(&fingerprint),
    )
    .await?;
    if held.is_some() {
        return Ok(false);
    }
    let previous = match card.previous_fingerprint() {
        None => None,
        Some(previous) => Some(check_rotation(tx, &card, previous.as_bytes()).await?),
    };
    let depth = previous.as_ref().map_or(0, |(_, depth)| *depth);

    let name = card.identity().to_owned();
    // Two first cards of one name published at once must not both pass the count.
    tx.lock(name.as_bytes()).await?;
    let count = query_one(
        tx,
        "SELECT COUNT(*) FROM cards WHERE name = $1",
        &[Value::from(name.as_str())],
    )
    .await?
    .int(0)?;
    if from_i64::<usize>(count)? >= MAX_CARDS_PER_NAME {
        return Err(ApiError::too_many(format!(
            "the name has {MAX_CARDS_PER_NAME} cards, the most a name may have"
        )));
    }
    let inserted = tx
        .query(
            "INSERT INTO cards (fingerprint, name, signing_key, card, depth)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (fingerprint) DO NOTHING RETURNING seq",
            &[
                fingerprint.clone(),
                Value::from(name.as_str()),
                Value::from(card.signing_key().as_slice()),
                Value::from(card.to_bytes()),
                Value::Int(crate::store::to_i64(depth)?),
            ],
        )
        .await?;
    if inserted.is_empty() {
        // Published by a concurrent request since the check above.
        return Ok(false);
    }
    if let Some((previous_seq, _)) = previous {
        // The replaced card's bundles are signed with the replaced key: none is handed
        // out any more, and the record of its one-time prekeys goes with them.
        let seq = Value::Int(previous_seq);
        tx.execute(
            "UPDATE cards SET replaced_by = $1, signed_prekey_id = NULL, signed_prekey = NULL,
             fallback = NULL WHERE seq = $2",
            &[fingerprint, seq.clone()],
        )
        .await?;
        tx.execute(
            "DELETE FROM one_time_bundles WHERE card_seq = $1",
            std::slice::from_ref(&seq),
        )
        .await?;
        tx.execute("DELETE FROM handed_out WHERE card_seq = $1", &[seq])
            .await?;
    }
    Ok(true)
}

/// Checks that `card` may replace the card `previous`: it is held and current, and the
/// link verifies. Returns the previous card's row and the new card's depth.
async fn check_rotation<T: Tx>(
    tx: &mut T,
    card: &Card,
    previous: &[u8; 32],
) -> Result<(i64, usize), ApiError> {
    let sql = format!(
        "SELECT seq, card, depth, replaced_by FROM cards WHERE fingerprint = $1{}",
        tx.for_update()
    );
    let Some(row) = query_opt(tx, &sql, &[Value::from(previous.as_slice())]).await? else {
        return Err(ApiError::bad_rotation(
            "the card it replaces is not published here",
        ));
    };
    if row.opt_bytes(3)?.is_some() {
        return Err(ApiError::bad_rotation(
            "the card it replaces was replaced already",
        ));
    }
    let before = Card::from_bytes(&row.bytes(1)?)
        .map_err(|_| StoreError::Corrupt("a stored card does not verify"))?;
    Card::verify_chain(&before, std::slice::from_ref(card)).map_err(|error| {
        ApiError::bad_rotation(format!("the rotation does not verify: {error}"))
    })?;
    let depth = from_i64::<usize>(row.int(2)?)?.saturating_add(1);
    if depth > MAX_CARD_CHAIN_LEN {
        return Err(ApiError::bad_rotation(format!(
            "more than {MAX_CARD_CHAIN_LEN} rotations after the first card"
        )));
    }
    Ok((row.int(0)?, depth))
}

/// Every card of `name`, oldest first.
pub(crate) async fn by_name<T: Tx>(tx: &mut T, name: &str) -> Result<Vec<Vec<u8>>, ApiError> {
    tx.query(
        "SELECT card FROM cards WHERE name = $1 ORDER BY seq",
        &[Value::from(name)],
    )
    .await?
    .iter()
    .map(|row| row.bytes(0).map_err(ApiError::from))
    .collect()
}

/// The card with this fingerprint and whether it was replaced.
pub(crate) async fn by_fingerprint<T: Tx>(
    tx: &mut T,
    fingerprint: &[u8; 32],
) -> Result<Option<(Vec<u8>, bool)>, ApiError> {
    let row = query_opt(
        tx,
        "SELECT card, replaced_by FROM cards WHERE fingerprint = $1",
        &[Value::from(fingerprint.as_slice())],
    )
    .await?;
    match row {
        None => Ok(None),
        Some(row) => Ok(Some((row.bytes(0)?, row.opt_bytes(1)?.is_some()))),
    }
}

/// The first card published with this signing key.
pub(crate) async fn by_signing_key<T: Tx>(
    tx: &mut T,
    key: &[u8; 32],
) -> Result<Option<Vec<u8>>, ApiError> {
    let row = query_opt(
        tx,
        "SELECT card FROM cards WHERE signing_key = $1 ORDER BY seq LIMIT 1",
        &[Value::from(key.as_slice())],
    )
    .await?;
    Ok(row.map(|row| row.bytes(0)).transpose()?)
}

/// The name on the first card published with the signing key `device`: the owner of that
/// device's mailbox. `not_found` if there is none.
pub(crate) async fn owner_of_device<T: Tx>(
    tx: &mut T,
    device: &[u8; 32],
) -> Result<String, ApiError> {
    let row = query_opt(
        tx,
        "SELECT name FROM cards WHERE signing_key = $1 ORDER BY seq LIMIT 1",
        &[Value::from(device.as_slice())],
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no card was published with that device key"))?;
    Ok(row.text(0)?)
}
