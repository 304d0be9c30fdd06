//! Group control not yet sent: kept in the store by the same batch as the change that made
//! it, until the app marks it sent, so that a crash between saving and sending loses none.
//! (A message is not kept: the app encrypts it again, under a new key.)

use rand::CryptoRng;

use super::devices::DeviceId;
use super::error::ClientError;
use super::events::Outgoing;
use super::store::{Changes, RecordKey, RecordKind};
use super::{records, Client, ClientResult, Store};
use crate::error::Error;

impl<S: Store> Client<S> {
    /// Numbers `envelopes` from the next free number and adds each to `changes`; the
    /// numbers are taken once the batch is saved ([`Client::take_unsent_numbers`]).
    pub(super) fn keep_unsent<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        envelopes: Vec<Outgoing>,
        changes: &mut Changes,
    ) -> ClientResult<Vec<Outgoing>, S> {
        let mut kept = Vec::with_capacity(envelopes.len());
        for (number, envelope) in (self.next_unsent..).zip(envelopes) {
            let recipient = envelope.recipient();
            let bytes = envelope.into_bytes();
            let mut value = Vec::with_capacity(32 + bytes.len());
            value.extend_from_slice(recipient.as_bytes());
            value.extend_from_slice(&bytes);
            // The random half keeps an id from coming back once the counter starts again
            // (every kept envelope sent, the client opened again): marking a stale envelope
            // sent then deletes nothing new.
            let mut id = [0u8; 16];
            let (counter, random) = id.split_at_mut(8);
            counter.copy_from_slice(&number.to_be_bytes());
            rng.fill_bytes(random);
            records::put(&self.key, rng, changes, RecordKind::Unsent, &id, &value)?;
            kept.push(Outgoing::unsent(recipient, bytes, id));
        }
        Ok(kept)
    }

    /// Moves the next free number past `kept`, once the batch that holds them is saved.
    pub(super) fn take_unsent_numbers(&mut self, kept: &[Outgoing]) {
        if let Some(last) = kept
            .iter()
            .filter_map(Outgoing::unsent_id)
            .filter_map(|id| {
                id.first_chunk::<8>()
                    .map(|counter| u64::from_be_bytes(*counter))
            })
            .max()
        {
            self.next_unsent = last.saturating_add(1);
        }
    }

    /// The envelopes of group control made but not yet marked sent
    /// ([`Client::mark_sent`]), oldest first: after a restart, send them (again: a
    /// receiver refuses a copy it already has as [`Error::Duplicate`], changing nothing),
    /// then mark them sent.
    ///
    /// # Errors
    /// A store failure, or a corrupt record.
    pub fn unsent(&self) -> ClientResult<Vec<Outgoing>, S> {
        let mut unsent = Vec::new();
        for (id, sealed) in self
            .store
            .load_kind(RecordKind::Unsent)
            .map_err(ClientError::Store)?
        {
            let number: [u8; 16] = id
                .as_slice()
                .try_into()
                .map_err(|_| Error::SealedStateRejected)?;
            let value = records::open(&self.key, RecordKind::Unsent, &id, &sealed)?;
            let (recipient, bytes) = value
                .split_first_chunk::<32>()
                .ok_or(Error::SealedStateRejected)?;
            unsent.push(Outgoing::unsent(
                DeviceId::from_bytes(*recipient),
                bytes.to_vec(),
                number,
            ));
        }
        unsent.sort_by_key(|envelope| envelope.unsent_id());
        Ok(unsent)
    }

    /// Forgets the kept envelopes among `sent` ([`Outgoing::is_kept`]): the app handed
    /// them to its transport. Others are ignored. One store write, none if nothing is
    /// kept.
    ///
    /// # Errors
    /// A store failure (the envelopes stay kept: marking them again is harmless).
    pub fn mark_sent(&mut self, sent: &[Outgoing]) -> ClientResult<(), S> {
        let mut changes = Changes::new();
        for id in sent.iter().filter_map(Outgoing::unsent_id) {
            changes.delete(RecordKey::new(RecordKind::Unsent, &id));
        }
        self.save(&changes)
    }

    /// The number after the largest kept envelope's, or 0: where numbering resumes when
    /// a client is opened.
    pub(super) fn first_free_unsent(&self) -> ClientResult<u64, S> {
        let records = self
            .store
            .load_kind(RecordKind::Unsent)
            .map_err(ClientError::Store)?;
        Ok(records
            .iter()
            .filter_map(|(id, _)| {
                id.first_chunk::<8>()
                    .map(|counter| u64::from_be_bytes(*counter))
            })
            .max()
            .map_or(0, |last| last.saturating_add(1)))
    }
}
