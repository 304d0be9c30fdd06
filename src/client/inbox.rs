//! Messages received and not yet acknowledged: kept in the store by the same batch that
//! advanced the channel or group they came on, until the app says it stored them, so that
//! a crash in between loses none (the channel will not decrypt the envelope again).

use prost::Message as _;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::devices::{AccountId, DeviceId};
use super::error::ClientError;
use super::events::Event;
use super::groups::GroupId;
use super::store::{Changes, RecordKey, RecordKind};
use super::{records, Client, ClientResult, Store};
use crate::error::{Error, Result};
use crate::wire::{self, state};

/// The format of a kept message's record: 1.
const RECEIVED_VERSION: u32 = 1;

/// The id of a received message the client keeps until the app acknowledges it
/// ([`Client::acknowledge`]): 16 bytes, a counter and 8 random bytes, so that one client
/// never gives one id twice, even when the counter starts again after every kept message
/// was acknowledged.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Receipt([u8; 16]);

impl Receipt {
    /// The receipt's 16 bytes, for the app to store beside the message (to drop a message
    /// [`Client::unacknowledged`] hands back that it had stored already).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A receipt from its 16 bytes.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    fn counter(&self) -> Option<u64> {
        self.0
            .first_chunk::<8>()
            .map(|bytes| u64::from_be_bytes(*bytes))
    }
}

impl core::fmt::Debug for Receipt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Receipt({})", hex::encode(self.0))
    }
}

impl<S: Store> Client<S> {
    /// Keeps the message among `events` in `changes`, under a new receipt; the receipt's
    /// counter is taken once the batch is saved ([`Client::take_receipt`]).
    pub(super) fn keep_received<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        events: &[Event],
        changes: &mut Changes,
    ) -> ClientResult<Option<Receipt>, S> {
        let Some(saved) = events.iter().find_map(received_state) else {
            return Ok(None);
        };
        let mut id = [0u8; 16];
        let (counter, random) = id.split_at_mut(8);
        counter.copy_from_slice(&self.next_receipt.to_be_bytes());
        rng.fill_bytes(random);
        let bytes = Zeroizing::new(saved.encode_to_vec());
        records::put(&self.key, rng, changes, RecordKind::Received, &id, &bytes)?;
        Ok(Some(Receipt(id)))
    }

    /// Moves the receipt counter past `receipt`, once the batch that holds it is saved.
    pub(super) fn take_receipt(&mut self, receipt: Option<Receipt>) {
        if let Some(counter) = receipt.as_ref().and_then(Receipt::counter) {
            self.next_receipt = counter.saturating_add(1);
        }
    }

    /// The messages received but not acknowledged yet, oldest first, each with its
    /// receipt: after a restart, store those the app does not hold yet, then acknowledge
    /// them all.
    ///
    /// # Errors
    /// A store failure, or a corrupt record.
    pub fn unacknowledged(&self) -> ClientResult<Vec<(Receipt, Event)>, S> {
        let mut kept = Vec::new();
        for (id, sealed) in self
            .store
            .load_kind(RecordKind::Received)
            .map_err(ClientError::Store)?
        {
            let receipt = Receipt(
                id.as_slice()
                    .try_into()
                    .map_err(|_| Error::SealedStateRejected)?,
            );
            let bytes = records::open(&self.key, RecordKind::Received, &id, &sealed)?;
            kept.push((receipt, received_event(&bytes)?));
        }
        kept.sort_by_key(|(receipt, _)| *receipt);
        Ok(kept)
    }

    /// Forgets the kept messages of `receipts`: the app stored them. One store write (none
    /// for no receipt); acknowledge in batches to save writes.
    ///
    /// # Errors
    /// A store failure (the messages stay kept: acknowledging them again is harmless).
    pub fn acknowledge(&mut self, receipts: &[Receipt]) -> ClientResult<(), S> {
        let mut changes = Changes::new();
        for receipt in receipts {
            changes.delete(RecordKey::new(RecordKind::Received, receipt.as_bytes()));
        }
        self.save(&changes)
    }

    /// The counter after the largest kept receipt's, or 0.
    pub(super) fn first_free_receipt(&self) -> ClientResult<u64, S> {
        let records = self
            .store
            .load_kind(RecordKind::Received)
            .map_err(ClientError::Store)?;
        Ok(records
            .iter()
            .filter_map(|(id, _)| {
                id.first_chunk::<8>()
                    .map(|bytes| u64::from_be_bytes(*bytes))
            })
            .max()
            .map_or(0, |last| last.saturating_add(1)))
    }
}

/// The record of a message event.
fn received_state(event: &Event) -> Option<state::ClientReceivedState> {
    let (device, account, verified, group, plaintext) = match event {
        Event::Message {
            account,
            device,
            verified,
            plaintext,
        } => (device, Some(account), verified, None, plaintext),
        Event::GroupMessage {
            group,
            account,
            device,
            verified,
            plaintext,
        } => (device, account.as_ref(), verified, Some(group), plaintext),
        _ => return None,
    };
    Some(state::ClientReceivedState {
        version: RECEIVED_VERSION,
        device: device.as_bytes().to_vec(),
        account: account
            .map(|account| account.as_bytes().to_vec())
            .unwrap_or_default(),
        verified: *verified,
        group: group
            .map(|group| group.as_bytes().to_vec())
            .unwrap_or_default(),
        plaintext: plaintext.clone(),
    })
}

/// The event a kept message's record holds.
fn received_event(bytes: &[u8]) -> Result<Event> {
    let saved: state::ClientReceivedState = wire::decode_secret(bytes, "ClientReceivedState")?;
    wire::check_version_is(saved.version, RECEIVED_VERSION, "ClientReceivedState")?;
    let device = DeviceId::from_bytes(wire::state_fixed(&saved.device, "a kept message's device")?);
    let account = match saved.account.is_empty() {
        true => None,
        false => Some(AccountId::from_bytes(wire::state_fixed(
            &saved.account,
            "a kept message's account",
        )?)),
    };
    if saved.group.is_empty() {
        let account = account.ok_or(Error::InvalidState {
            reason: "a kept channel message without its account",
        })?;
        return Ok(Event::Message {
            account,
            device,
            verified: saved.verified,
            plaintext: saved.plaintext.clone(),
        });
    }
    Ok(Event::GroupMessage {
        group: GroupId::from_bytes(wire::state_fixed(&saved.group, "a kept message's group")?),
        account,
        device,
        verified: saved.verified,
        plaintext: saved.plaintext.clone(),
    })
}
