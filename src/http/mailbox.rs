//! Mailboxes: envelopes wait on the server for their device until it acknowledges them.

use std::collections::BTreeMap;

use super::json::{self, base64, unbase64};
use super::transport::Reply;
use super::{HttpDirectory, HttpError, MAX_RESPONSE_LEN};
use crate::client::{DeviceId, Outgoing};

/// The most envelopes one [`HttpDirectory::fetch_mailbox`] asks for: 100. A page of
/// small messages is a few hundred KiB; if the envelopes are so large that a page exceeds
/// [`MAX_RESPONSE_LEN`], fetch fewer at a time.
pub const MAX_MAILBOX_PAGE: usize = 100;

/// An envelope fetched from a mailbox: its id (to acknowledge it, and to fetch after it)
/// and its bytes, for [`Client::receive`](crate::client::Client::receive).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxEntry {
    /// The server's id of the envelope, increasing in the order they arrived.
    pub id: u64,
    /// The envelope, as deposited.
    pub envelope: Vec<u8>,
}

impl HttpDirectory {
    /// Deposits `envelopes` in the mailbox of `device` (`POST /v1/mailbox/DEVICE`), in
    /// order, and returns their ids. Any token may deposit; `device` must be the signing
    /// key of a card published on the server.
    ///
    /// ```no_run
    /// use ratchetkit::client::DeviceId;
    /// use ratchetkit::http::HttpDirectory;
    /// # fn main() -> Result<(), ratchetkit::http::HttpError> {
    /// # let (token, bob_phone, envelope) = (String::new(), DeviceId::from_bytes([0; 32]), vec![0u8]);
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
    /// let ids = server.deposit(bob_phone, &[envelope])?;
    /// assert_eq!(ids.len(), 1);
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`HttpError::Server`] with `not_found` for a device of no published card,
    /// `too_many` for a full mailbox, `payload_too_large`; transport errors (the envelopes
    /// may have been deposited: depositing again is safe, the recipient drops
    /// duplicates).
    pub fn deposit<E: AsRef<[u8]>>(
        &self,
        device: DeviceId,
        envelopes: &[E],
    ) -> Result<Vec<u64>, HttpError> {
        let body = json::EnvelopesBody {
            envelopes: envelopes.iter().map(|e| base64(e.as_ref())).collect(),
        };
        let reply = self
            .transport
            .post(&format!("/v1/mailbox/{device}"), &body)?;
        let ids: json::Ids = reply.json(&[200, 201, 202])?;
        if ids.ids.len() != envelopes.len() {
            return Err(HttpError::malformed(format!(
                "{} ids for {} envelopes",
                ids.ids.len(),
                envelopes.len()
            )));
        }
        Ok(ids.ids)
    }

    /// Deposits each of `outgoing` (what [`Client::encrypt_to`], [`Client::receive`] and
    /// the group calls return) in its recipient's mailbox: one request per recipient
    /// device, in the order of `outgoing` for each.
    ///
    /// [`Client::encrypt_to`]: crate::client::Client::encrypt_to
    /// [`Client::receive`]: crate::client::Client::receive
    ///
    /// ```no_run
    /// use ratchetkit::client::{AccountId, Client, MemoryStore};
    /// use ratchetkit::http::HttpDirectory;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut rng = rand::rng();
    /// # let key = ratchetkit::StorageKey::generate(&mut rng);
    /// # let (token, bob) = (String::new(), AccountId::from_bytes([0; 32]));
    /// # let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", 0)?;
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
    /// let envelopes = alice.encrypt_to(&mut rng, bob, b"hello")?;
    /// server.deposit_outgoing(&envelopes)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// As [`HttpDirectory::deposit`]; the recipients before the failing one got theirs.
    pub fn deposit_outgoing(&self, outgoing: &[Outgoing]) -> Result<(), HttpError> {
        let mut by_device: BTreeMap<DeviceId, Vec<&[u8]>> = BTreeMap::new();
        for envelope in outgoing {
            by_device
                .entry(envelope.recipient())
                .or_default()
                .push(envelope.bytes());
        }
        for (device, envelopes) in by_device {
            self.deposit(device, &envelopes)?;
        }
        Ok(())
    }

    /// The envelopes waiting in the mailbox of `device` (`GET /v1/mailbox/DEVICE`), oldest
    /// first: those with an id greater than `after` (all for `None`), at most `limit`
    /// (1 to [`MAX_MAILBOX_PAGE`]). The token's subject must be the device card's name.
    ///
    /// They stay until acknowledged ([`HttpDirectory::acknowledge`]): receive each
    /// ([`Client::receive`](crate::client::Client::receive), which saves before it
    /// returns), then acknowledge it, so that a crash in between loses nothing (the
    /// envelope comes again, and the client drops it as a duplicate).
    ///
    /// ```no_run
    /// use ratchetkit::client::DeviceId;
    /// use ratchetkit::http::HttpDirectory;
    /// # fn main() -> Result<(), ratchetkit::http::HttpError> {
    /// # let (token, my_device) = (String::new(), DeviceId::from_bytes([0; 32]));
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
    /// let page = server.fetch_mailbox(my_device, None, 50)?;
    /// for entry in &page {
    ///     // client.receive(&mut rng, &entry.envelope)?; ...
    /// }
    /// let ids: Vec<u64> = page.iter().map(|entry| entry.id).collect();
    /// server.acknowledge(my_device, &ids)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`HttpError::MalformedResponse`] for more envelopes than asked for, ids out of
    /// order or not after `after`, or bad base64; [`HttpError::ResponseTooLarge`] (ask for
    /// fewer); transport and server errors.
    pub fn fetch_mailbox(
        &self,
        device: DeviceId,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<MailboxEntry>, HttpError> {
        let limit = limit.clamp(1, MAX_MAILBOX_PAGE);
        let query = match after {
            Some(after) => format!("?after={after}&limit={limit}"),
            None => format!("?limit={limit}"),
        };
        let reply = self
            .transport
            .get(&format!("/v1/mailbox/{device}{query}"), true)?;
        page(&reply, after, limit)
    }

    /// Deletes the envelopes `ids` from the mailbox of `device` (`POST
    /// /v1/mailbox/DEVICE/ack`) once they are received, and returns how many it deleted
    /// (ids not there, acknowledged before, are passed over).
    ///
    /// ```no_run
    /// # use ratchetkit::client::DeviceId;
    /// # use ratchetkit::http::HttpDirectory;
    /// # fn main() -> Result<(), ratchetkit::http::HttpError> {
    /// # let (token, my_device) = (String::new(), DeviceId::from_bytes([0; 32]));
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
    /// let deleted = server.acknowledge(my_device, &[1, 2, 3])?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`HttpError::Server`] with `not_owner` for another's device; transport errors.
    pub fn acknowledge(&self, device: DeviceId, ids: &[u64]) -> Result<usize, HttpError> {
        let reply = self
            .transport
            .post(&format!("/v1/mailbox/{device}/ack"), &json::AckBody { ids })?;
        let body: json::Deleted = reply.json(&[200])?;
        json::count(body.deleted, "the deleted count")
    }
}

/// A mailbox page, checked against the request: at most `limit` entries, ids increasing
/// and after `after`.
fn page(reply: &Reply, after: Option<u64>, limit: usize) -> Result<Vec<MailboxEntry>, HttpError> {
    let body: json::Page = reply.json(&[200])?;
    if body.envelopes.len() > limit {
        return Err(HttpError::malformed(format!(
            "{} envelopes for a page of {limit}",
            body.envelopes.len()
        )));
    }
    let mut last = after;
    let mut entries = Vec::with_capacity(body.envelopes.len());
    for entry in body.envelopes {
        if last.is_some_and(|last| entry.id <= last) {
            return Err(HttpError::malformed("mailbox ids out of order"));
        }
        last = Some(entry.id);
        entries.push(MailboxEntry {
            id: entry.id,
            envelope: unbase64(&entry.envelope, MAX_RESPONSE_LEN, "an envelope")?,
        });
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(body: &str) -> Reply {
        Reply {
            status: 200,
            body: body.as_bytes().to_vec(),
            retry_after: None,
        }
    }

    #[test]
    fn pages_are_checked() {
        let ok = reply(r#"{"envelopes":[{"id":3,"envelope":"AQI="},{"id":9,"envelope":""}]}"#);
        let entries = page(&ok, Some(2), 10).unwrap();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].envelope, vec![1, 2]);
        assert!(page(&ok, Some(3), 10).is_err(), "not after `after`");
        assert!(page(&ok, None, 1).is_err(), "more than asked for");
        let unordered = reply(r#"{"envelopes":[{"id":9,"envelope":""},{"id":3,"envelope":""}]}"#);
        assert!(page(&unordered, None, 10).is_err());
        for bad in [
            r#"{"envelopes":[{"id":-1,"envelope":""}]}"#,
            r#"{"envelopes":[{"id":1,"envelope":"***"}]}"#,
            r#"{"envelopes":[{"id":1}]}"#,
            r#"{"envelopes":{}}"#,
            "",
        ] {
            assert!(page(&reply(bad), None, 10).is_err(), "{bad}");
        }
    }
}
