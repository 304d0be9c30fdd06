//! Prekey bundles: publishing, replacing, removing, counting and claiming, with the
//! semantics of `ratchetkit::CardDirectory` and `InMemoryDirectory`.
//!
//! Every bundle held for a card carries one signed prekey, the newest published for it
//! (newer by serial-number arithmetic on its id, as the crate's directory decides). Each
//! one-time bundle is handed out once, oldest first, and its prekey (id and X25519 key) is
//! remembered so that publishing it again does not bring it back.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use ratchetkit::{Card, PrekeyBundle};

use crate::error::ApiError;
use crate::store::{from_i64, query_one, query_opt, to_i64, Row, StoreError, Tx, Value};

/// Most bundles one `POST /v1/cards/FINGERPRINT/bundles` carries, and most ids one
/// `.../bundles/remove` names: 1,001, a store's worth of one-time bundles
/// ([`MAX_ONE_TIME_BUNDLES_PER_CARD`]) and the fallback, so that a client can replace all
/// its bundles in one request. A bundle is about 3.4 KB (two ML-KEM-768 keys), 4.6 KB in
/// base64: the largest request is about 4.6 MB, within the body limit.
pub const MAX_BUNDLES_PER_REQUEST: usize = MAX_ONE_TIME_BUNDLES_PER_CARD + 1;

/// Most one-time bundles held for one card: 1,000 (about 3.4 MB). The crate's upkeep keeps
/// about 150 (it makes `ONE_TIME_PREKEY_BATCH`, 100, when fewer than 50 are left), so
/// this leaves room for many claims between two upkeeps while bounding what one user
/// stores; a publication past it is refused with `409 too_many`.
pub const MAX_ONE_TIME_BUNDLES_PER_CARD: usize = 1_000;

/// Claims one token subject may make of one target (the card fingerprint or the name a
/// claim names) that can hand out one-time bundles, at once: 10 (each claim counts,
/// whatever it gets). A client claims a contact's bundles when it starts sessions with
/// it, a few at a time; past this, and [`CLAIM_INTERVAL_SECS`] refilling it, the subject
/// gets the target's fallback bundle instead, which starts sessions just as well but uses
/// up nothing. This bounds how fast a hostile contact can drain someone's
/// one-time prekeys (which would leave other contacts' sessions starting on the signed
/// prekey alone) to 10 at once and 10 an hour per account.
pub const CLAIM_BURST: u32 = 10;

/// Seconds after which one more one-time bundle may be claimed of the same target by the
/// same subject: 360, so that [`CLAIM_BURST`] refills in an hour.
pub const CLAIM_INTERVAL_SECS: u64 = 360;

/// How many one-time bundles one token subject may claim of one target: `burst` at once,
/// then one more every `interval`; past it, claims get the fallback bundle.
///
/// ```
/// use ratchetkit_server::bundles::ClaimLimit;
/// let limit = ClaimLimit::default();
/// assert_eq!((limit.burst, limit.interval.as_secs()), (10, 360));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimLimit {
    /// One-time bundles at once ([`CLAIM_BURST`] by default).
    pub burst: u32,
    /// The time after which one more may be claimed ([`CLAIM_INTERVAL_SECS`]).
    pub interval: std::time::Duration,
}

impl Default for ClaimLimit {
    fn default() -> Self {
        Self {
            burst: CLAIM_BURST,
            interval: std::time::Duration::from_secs(CLAIM_INTERVAL_SECS),
        }
    }
}

/// Most handed-out one-time prekeys remembered per card: 10,000. The record stops a
/// republished bundle from being handed out twice; the owner's removals and replacements
/// shrink it, and past this bound the oldest records are forgotten (their prekeys were
/// handed out long ago, and an honest owner dropped them when they were used).
pub const MAX_HANDED_OUT_PER_CARD: usize = 10_000;

/// Half the space of prekey ids: one signed prekey id is newer than another when it is
/// less than this far ahead of it, modulo 2^32 (RFC 1982), as in `InMemoryDirectory`.
const HALF_ID_SPACE: u32 = 1 << 31;

/// Whether the signed prekey id `candidate` comes after `held`.
fn is_newer(candidate: u32, held: u32) -> bool {
    let ahead = candidate.wrapping_sub(held);
    ahead != 0 && ahead < HALF_ID_SPACE
}

/// A signed prekey as bundles carry it: its id and X25519 public key.
pub(crate) type SignedKey = (u32, [u8; 32]);

/// A verified bundle and its public prekeys.
#[derive(Debug)]
pub(crate) struct Incoming {
    bundle: PrekeyBundle,
    signed: SignedKey,
    one_time: Option<(u32, [u8; 32])>,
}

impl Incoming {
    /// Verifies a bundle's bytes and reads its prekeys; the bundle must be of the card
    /// `fingerprint`.
    pub(crate) fn parse(bytes: &[u8], fingerprint: &[u8; 32]) -> Result<Self, ApiError> {
        let bundle = PrekeyBundle::from_bytes(bytes)
            .map_err(|error| ApiError::invalid_bundle(error.to_string()))?;
        if bundle.card().fingerprint().as_bytes() != fingerprint {
            return Err(ApiError::invalid_bundle(
                "a bundle of another card than the one in the path",
            ));
        }
        // The public prekeys, which `PrekeyBundle` keeps to itself: from the bytes that
        // just verified, so they are the ones its signatures cover.
        let wire = ratchetkit::wire::v1::PrekeyBundle::decode(bytes)
            .map_err(|_| ApiError::invalid_bundle("undecodable bundle"))?;
        let key = |bytes: &[u8]| -> Result<[u8; 32], ApiError> {
            bytes
                .try_into()
                .map_err(|_| ApiError::invalid_bundle("a prekey is not 32 bytes"))
        };
        let signed = (wire.signed_prekey_id, key(&wire.signed_prekey)?);
        let one_time = match wire.one_time_prekey_id {
            Some(id) => Some((id, key(&wire.one_time_prekey)?)),
            None => None,
        };
        Ok(Self {
            bundle,
            signed,
            one_time,
        })
    }
}

/// A publication of bundles for one card.
#[derive(Debug)]
pub(crate) struct Publish {
    pub(crate) fingerprint: [u8; 32],
    pub(crate) subject: String,
    pub(crate) bundles: Vec<Incoming>,
    pub(crate) replace: bool,
}

/// A removal of one-time bundles.
#[derive(Debug)]
pub(crate) struct Remove {
    pub(crate) fingerprint: [u8; 32],
    pub(crate) subject: String,
    pub(crate) ids: BTreeSet<u32>,
}

/// A queued one-time bundle.
struct Slot {
    key: [u8; 32],
    position: i64,
    /// The bytes to write, if they change (a new bundle, or one signed again).
    write: Option<Vec<u8>>,
}

/// What happens to the fallback bundle.
enum Fallback {
    Keep,
    Set(Vec<u8>),
    Drop,
}

/// A card's bundles, loaded for a change, and the change: computed in memory, then
/// written (so a refused publication writes nothing).
struct Held {
    seq: i64,
    card: Card,
    signed: Option<SignedKey>,
    /// Every stored one-time bundle is dropped first.
    cleared: bool,
    queue: BTreeMap<u32, Slot>,
    /// Stored one-time bundles to drop (when not `cleared`).
    removed: BTreeSet<u32>,
    fallback: Fallback,
    next_position: i64,
    handed_out: BTreeMap<u32, [u8; 32]>,
    /// Handed-out records to forget.
    forget: BTreeSet<u32>,
}

impl Held {
    /// Loads the card `fingerprint`, current and owned by `subject`, locking it.
    async fn load<T: Tx>(
        tx: &mut T,
        fingerprint: &[u8; 32],
        subject: &str,
    ) -> Result<Self, ApiError> {
        let row = card_row(tx, fingerprint).await?;
        if row.text(1)? != subject {
            return Err(ApiError::not_owner());
        }
        if row.opt_bytes(2)?.is_some() {
            return Err(ApiError::card_replaced());
        }
        let seq = row.int(0)?;
        let card = Card::from_bytes(&row.bytes(3)?)
            .map_err(|_| StoreError::Corrupt("a stored card does not verify"))?;
        let signed = match (row.opt_int(4)?, row.opt_bytes(5)?) {
            (Some(id), Some(key)) => Some((
                from_i64::<u32>(id)?,
                key.try_into()
                    .map_err(|_| StoreError::Corrupt("a signed prekey is not 32 bytes"))?,
            )),
            _ => None,
        };
        let mut queue = BTreeMap::new();
        for row in tx
            .query(
                "SELECT prekey_id, prekey, position FROM one_time_bundles WHERE card_seq = $1",
                &[Value::Int(seq)],
            )
            .await?
        {
            queue.insert(
                from_i64::<u32>(row.int(0)?)?,
                Slot {
                    key: row.key32(1)?,
                    position: row.int(2)?,
                    write: None,
                },
            );
        }
        let mut handed_out = BTreeMap::new();
        for row in tx
            .query(
                "SELECT prekey_id, prekey FROM handed_out WHERE card_seq = $1",
                &[Value::Int(seq)],
            )
            .await?
        {
            handed_out.insert(from_i64::<u32>(row.int(0)?)?, row.key32(1)?);
        }
        Ok(Self {
            seq,
            card,
            signed,
            cleared: false,
            queue,
            removed: BTreeSet::new(),
            fallback: Fallback::Keep,
            next_position: row.int(6)?,
            handed_out,
            forget: BTreeSet::new(),
        })
    }

    /// Whether bundles of `signed` are taken: `Ok(true)` if it is newer than the held one
    /// (or none is held), `Ok(false)` if it is the held one; `stale_bundle` if older.
    fn admits(&self, signed: SignedKey) -> Result<bool, ApiError> {
        match self.signed {
            None => Ok(true),
            Some(held) if held == signed => Ok(false),
            Some((held, _)) if is_newer(signed.0, held) => Ok(true),
            Some((held, _)) => Err(ApiError::stale_bundle(signed.0, held)),
        }
    }

    fn was_handed_out(&self, id: u32, key: &[u8; 32]) -> bool {
        self.handed_out.get(&id) == Some(key)
    }

    /// The bytes a bundle is served as: with the card as published.
    fn served(&self, incoming: &Incoming) -> Result<Vec<u8>, ApiError> {
        Ok(incoming
            .bundle
            .with_card(&self.card)
            .map_err(|error| ApiError::invalid_bundle(error.to_string()))?
            .to_bytes())
    }

    /// Drops every bundle for bundles of `signed`.
    fn start(&mut self, signed: SignedKey) {
        self.cleared = true;
        self.queue.clear();
        self.removed.clear();
        self.fallback = Fallback::Drop;
        self.signed = Some(signed);
    }

    fn drop_queued(&mut self, id: u32) -> bool {
        if self.queue.remove(&id).is_some() {
            if !self.cleared {
                self.removed.insert(id);
            }
            true
        } else {
            false
        }
    }

    fn push(&mut self, id: u32, key: [u8; 32], bytes: Vec<u8>) {
        let position = self.next_position;
        self.next_position = self.next_position.saturating_add(1);
        self.queue.insert(
            id,
            Slot {
                key,
                position,
                write: Some(bytes),
            },
        );
    }

    fn check_room(&self) -> Result<(), ApiError> {
        if self.queue.len() > MAX_ONE_TIME_BUNDLES_PER_CARD {
            return Err(ApiError::too_many(format!(
                "a card holds at most {MAX_ONE_TIME_BUNDLES_PER_CARD} one-time bundles"
            )));
        }
        Ok(())
    }

    /// `CardDirectory::publish_bundle`, for each bundle in order.
    fn add(&mut self, incoming: &Incoming) -> Result<(), ApiError> {
        let newer = self.admits(incoming.signed)?;
        if let (Some((id, key)), false) = (incoming.one_time, newer) {
            if self.queue.contains_key(&id) || self.was_handed_out(id, &key) {
                return Ok(());
            }
        }
        let bytes = self.served(incoming)?;
        if newer {
            self.start(incoming.signed);
        }
        match incoming.one_time {
            None => self.fallback = Fallback::Set(bytes),
            Some((id, key)) => {
                if !self.was_handed_out(id, &key) {
                    self.push(id, key, bytes);
                    self.check_room()?;
                }
            }
        }
        Ok(())
    }

    /// `CardDirectory::replace_bundles`: the held one-time bundles become the request's,
    /// less those handed out before, whatever the held signed prekey.
    fn replace(&mut self, bundles: &[Incoming]) -> Result<(), ApiError> {
        let mut signed = None;
        let mut one_time: BTreeMap<u32, ([u8; 32], &Incoming)> = BTreeMap::new();
        let mut fallback = None;
        for incoming in bundles {
            if signed.is_some_and(|signed| signed != incoming.signed) {
                return Err(ApiError::invalid_bundle(
                    "the bundles of a replacement carry different signed prekeys",
                ));
            }
            signed = Some(incoming.signed);
            match incoming.one_time {
                None => fallback = Some(incoming),
                Some((id, key)) => {
                    if one_time
                        .insert(id, (key, incoming))
                        .is_some_and(|(other, _)| other != key)
                    {
                        return Err(ApiError::invalid_bundle(
                            "two bundles of one one-time prekey id with different keys",
                        ));
                    }
                }
            }
        }
        let same = match signed {
            None => true,
            Some(signed) => self.admits(signed).is_ok_and(|newer| !newer),
        };
        let holds = |id: u32, key: &[u8; 32]| one_time.get(&id).is_some_and(|(k, _)| k == key);

        let queued: Vec<(u32, [u8; 32])> = self
            .queue
            .iter()
            .map(|(id, slot)| (*id, slot.key))
            .collect();
        for (id, key) in queued {
            match one_time.get(&id) {
                Some((k, incoming)) if *k == key => {
                    if !same {
                        // Signed again with the new signed prekey, in its place.
                        let bytes = self.served(incoming)?;
                        if let Some(slot) = self.queue.get_mut(&id) {
                            slot.write = Some(bytes);
                        }
                    }
                }
                _ => {
                    self.drop_queued(id);
                }
            }
        }
        for (id, (key, incoming)) in &one_time {
            if !self.queue.contains_key(id) && !self.was_handed_out(*id, key) {
                let bytes = self.served(incoming)?;
                self.push(*id, *key, bytes);
            }
        }
        self.check_room()?;
        match fallback {
            Some(incoming) => self.fallback = Fallback::Set(self.served(incoming)?),
            None if !same => self.fallback = Fallback::Drop,
            None => {}
        }
        if let Some(signed) = signed {
            self.signed = Some(signed);
        }
        let forget: Vec<u32> = self
            .handed_out
            .iter()
            .filter(|(id, key)| !holds(**id, key))
            .map(|(id, _)| *id)
            .collect();
        self.forget.extend(forget);
        Ok(())
    }

    /// Writes the change.
    async fn save<T: Tx>(self, tx: &mut T) -> Result<(), ApiError> {
        let seq = Value::Int(self.seq);
        if self.cleared {
            tx.execute(
                "DELETE FROM one_time_bundles WHERE card_seq = $1",
                std::slice::from_ref(&seq),
            )
            .await?;
        }
        for id in &self.removed {
            tx.execute(
                "DELETE FROM one_time_bundles WHERE card_seq = $1 AND prekey_id = $2",
                &[seq.clone(), Value::Int(i64::from(*id))],
            )
            .await?;
        }
        for (id, slot) in self.queue {
            if let Some(bytes) = slot.write {
                tx.execute(
                    "INSERT INTO one_time_bundles (card_seq, prekey_id, prekey, position, bundle)
                     VALUES ($1, $2, $3, $4, $5) ON CONFLICT (card_seq, prekey_id) DO UPDATE
                     SET prekey = excluded.prekey, position = excluded.position,
                     bundle = excluded.bundle",
                    &[
                        seq.clone(),
                        Value::Int(i64::from(id)),
                        Value::from(slot.key.as_slice()),
                        Value::Int(slot.position),
                        Value::Bytes(bytes),
                    ],
                )
                .await?;
            }
        }
        for id in &self.forget {
            tx.execute(
                "DELETE FROM handed_out WHERE card_seq = $1 AND prekey_id = $2",
                &[seq.clone(), Value::Int(i64::from(*id))],
            )
            .await?;
        }
        let (signed_id, signed_key) = match self.signed {
            Some((id, key)) => (Value::Int(i64::from(id)), Value::from(key.as_slice())),
            None => (Value::Null, Value::Null),
        };
        tx.execute(
            "UPDATE cards SET signed_prekey_id = $2, signed_prekey = $3, next_position = $4
             WHERE seq = $1",
            &[
                seq.clone(),
                signed_id,
                signed_key,
                Value::Int(self.next_position),
            ],
        )
        .await?;
        let fallback = match self.fallback {
            Fallback::Keep => None,
            Fallback::Set(bytes) => Some(Value::Bytes(bytes)),
            Fallback::Drop => Some(Value::Null),
        };
        if let Some(fallback) = fallback {
            tx.execute(
                "UPDATE cards SET fallback = $2 WHERE seq = $1",
                &[seq, fallback],
            )
            .await?;
        }
        Ok(())
    }
}

/// The card row `fingerprint` (seq, name, replaced_by, card, signed_prekey_id,
/// signed_prekey, next_position, fallback), locked for the transaction; `not_found` if
/// there is none.
async fn card_row<T: Tx>(tx: &mut T, fingerprint: &[u8; 32]) -> Result<Row, ApiError> {
    let sql = format!(
        "SELECT seq, name, replaced_by, card, signed_prekey_id, signed_prekey, next_position,
         fallback FROM cards WHERE fingerprint = $1{}",
        tx.for_update()
    );
    query_opt(tx, &sql, &[Value::from(fingerprint.as_slice())])
        .await?
        .ok_or_else(|| ApiError::not_found("no card with that fingerprint"))
}

/// Publishes (or replaces) bundles; returns the one-time bundles held after.
pub(crate) async fn publish<T: Tx>(tx: &mut T, publish: Publish) -> Result<u64, ApiError> {
    let mut held = Held::load(tx, &publish.fingerprint, &publish.subject).await?;
    if publish.replace {
        held.replace(&publish.bundles)?;
    } else {
        for incoming in &publish.bundles {
            held.add(incoming)?;
        }
    }
    let count = u64::try_from(held.queue.len()).unwrap_or(u64::MAX);
    held.save(tx).await?;
    Ok(count)
}

/// Drops the one-time bundles of `ids` and forgets that they were handed out; returns how
/// many bundles it dropped.
pub(crate) async fn remove<T: Tx>(tx: &mut T, remove: Remove) -> Result<u64, ApiError> {
    let row = card_row(tx, &remove.fingerprint).await?;
    if row.text(1)? != remove.subject {
        return Err(ApiError::not_owner());
    }
    let seq = Value::Int(row.int(0)?);
    let mut removed = 0_u64;
    for id in remove.ids {
        let id = Value::Int(i64::from(id));
        removed = removed.saturating_add(
            tx.execute(
                "DELETE FROM one_time_bundles WHERE card_seq = $1 AND prekey_id = $2",
                &[seq.clone(), id.clone()],
            )
            .await?,
        );
        tx.execute(
            "DELETE FROM handed_out WHERE card_seq = $1 AND prekey_id = $2",
            &[seq.clone(), id],
        )
        .await?;
    }
    Ok(removed)
}

/// The one-time bundles held for the card and not handed out.
pub(crate) async fn count<T: Tx>(tx: &mut T, fingerprint: &[u8; 32]) -> Result<u64, ApiError> {
    let row = query_opt(
        tx,
        "SELECT seq FROM cards WHERE fingerprint = $1",
        &[Value::from(fingerprint.as_slice())],
    )
    .await?
    .ok_or_else(|| ApiError::not_found("no card with that fingerprint"))?;
    let count = query_one(
        tx,
        "SELECT COUNT(*) FROM one_time_bundles WHERE card_seq = $1",
        &[Value::Int(row.int(0)?)],
    )
    .await?
    .int(0)?;
    Ok(from_i64(count)?)
}

/// A bundle of the card: its oldest one-time bundle, now handed out (when `one_time`),
/// else the fallback.
pub(crate) async fn claim_card<T: Tx>(
    tx: &mut T,
    fingerprint: &[u8; 32],
    one_time: bool,
) -> Result<Option<Vec<u8>>, ApiError> {
    let row = card_row(tx, fingerprint).await?;
    if row.opt_bytes(2)?.is_some() {
        return Err(ApiError::card_replaced());
    }
    if !one_time {
        return Ok(row.opt_bytes(7)?);
    }
    claim_from(tx, row.int(0)?, row.int(6)?, row.opt_bytes(7)?).await
}

/// A bundle of each current card of `name` that has bundles (only fallbacks unless
/// `one_time`).
pub(crate) async fn claim_user<T: Tx>(
    tx: &mut T,
    name: &str,
    one_time: bool,
) -> Result<Vec<Vec<u8>>, ApiError> {
    // Locked in `seq` order, the order every other transaction locks cards in.
    let sql = format!(
        "SELECT seq, next_position, fallback FROM cards WHERE name = $1 AND replaced_by IS NULL
         ORDER BY seq{}",
        tx.for_update()
    );
    let rows = tx.query(&sql, &[Value::from(name)]).await?;
    let mut bundles = Vec::new();
    for row in rows {
        let fallback = row.opt_bytes(2)?;
        let bundle = if one_time {
            claim_from(tx, row.int(0)?, row.int(1)?, fallback).await?
        } else {
            fallback
        };
        bundles.extend(bundle);
    }
    Ok(bundles)
}

/// Hands out the oldest one-time bundle of the card `seq` (whose row the transaction
/// holds locked) and remembers its prekey, or returns the fallback.
async fn claim_from<T: Tx>(
    tx: &mut T,
    seq: i64,
    next_position: i64,
    fallback: Option<Vec<u8>>,
) -> Result<Option<Vec<u8>>, ApiError> {
    let seq = Value::Int(seq);
    let Some(row) = query_opt(
        tx,
        "DELETE FROM one_time_bundles WHERE card_seq = $1 AND position =
         (SELECT MIN(position) FROM one_time_bundles WHERE card_seq = $1)
         RETURNING prekey_id, prekey, bundle",
        std::slice::from_ref(&seq),
    )
    .await?
    else {
        return Ok(fallback);
    };
    tx.execute(
        "INSERT INTO handed_out (card_seq, prekey_id, prekey, handed_seq) VALUES ($1, $2, $3, $4)
         ON CONFLICT (card_seq, prekey_id) DO UPDATE
         SET prekey = excluded.prekey, handed_seq = excluded.handed_seq",
        &[
            seq.clone(),
            Value::Int(row.int(0)?),
            Value::Bytes(row.bytes(1)?),
            Value::Int(next_position),
        ],
    )
    .await?;
    tx.execute(
        "UPDATE cards SET next_position = $2 WHERE seq = $1",
        &[seq.clone(), Value::Int(next_position.saturating_add(1))],
    )
    .await?;
    let remembered = query_one(
        tx,
        "SELECT COUNT(*) FROM handed_out WHERE card_seq = $1",
        std::slice::from_ref(&seq),
    )
    .await?
    .int(0)?;
    if remembered > to_i64(MAX_HANDED_OUT_PER_CARD)? {
        tx.execute(
            "DELETE FROM handed_out WHERE card_seq = $1 AND handed_seq =
             (SELECT MIN(handed_seq) FROM handed_out WHERE card_seq = $1)",
            &[seq],
        )
        .await?;
    }
    Ok(Some(row.bytes(2)?))
}
