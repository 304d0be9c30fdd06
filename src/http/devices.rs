//! Device lists: an account publishes its newest, contacts fetch it by account id.

use super::json::{self, base64, unbase64, unhex32};
use super::{HttpDirectory, HttpError};
use crate::client::{AccountId, DeviceList, MAX_DEVICE_LIST_LEN};

impl HttpDirectory {
    /// Publishes `list`, the account's newest device list (`PUT /v1/device-lists`): after
    /// creating the account, and after each [`Client::link_device`] or
    /// [`Client::remove_device`]. The token's subject must be the account card's name.
    /// Publishing the list held already changes nothing.
    ///
    /// [`Client::link_device`]: crate::client::Client::link_device
    /// [`Client::remove_device`]: crate::client::Client::remove_device
    ///
    /// ```no_run
    /// use ratchetkit::client::{Client, MemoryStore};
    /// use ratchetkit::http::HttpDirectory;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let mut rng = rand::rng();
    /// # let key = ratchetkit::StorageKey::generate(&mut rng);
    /// # let token = String::new();
    /// let alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", 1_800_000_000)?;
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
    /// server.publish_device_list(alice.device_list().ok_or("not linked")?)?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`HttpError::Server`] with `stale_device_list` for a list not newer than the one
    /// held, `not_owner`, the token errors; transport errors.
    pub fn publish_device_list(&self, list: &DeviceList) -> Result<(), HttpError> {
        let body = json::ListBody {
            list: base64(&list.to_bytes()),
        };
        let reply = self.transport.put("/v1/device-lists", &body)?;
        let published: json::ListPublished = reply.json(&[200, 201])?;
        if unhex32(&published.account, "the account")? != *list.account_id().as_bytes() {
            return Err(HttpError::malformed(
                "the list was published for another account",
            ));
        }
        Ok(())
    }

    /// The newest device list of `account` (`GET /v1/device-lists/ACCOUNT`), verified and
    /// checked to be that account's; `None` if the server has none. Give its bytes to
    /// [`Client::add_contact`](crate::client::Client::add_contact), which also refuses a
    /// list older than the one it holds.
    ///
    /// ```no_run
    /// use ratchetkit::client::AccountId;
    /// use ratchetkit::http::HttpDirectory;
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let token = String::new();
    /// # let bob = AccountId::from_bytes([0; 32]);
    /// let server = HttpDirectory::new("http://127.0.0.1:8080", token)?;
    /// if let Some(list) = server.device_list(bob)? {
    ///     println!("bob has {} device(s)", list.devices().len());
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// The errors of [`DeviceList::from_bytes`] (in [`HttpError::Protocol`]);
    /// [`HttpError::MalformedResponse`] for another account's list; transport and server
    /// errors.
    pub fn device_list(&self, account: AccountId) -> Result<Option<DeviceList>, HttpError> {
        let reply = self
            .transport
            .get(&format!("/v1/device-lists/{account}"), true)?;
        if reply.is_not_found() {
            return Ok(None);
        }
        let body: json::ListBody = reply.json(&[200])?;
        let list = DeviceList::from_bytes(&unbase64(
            &body.list,
            MAX_DEVICE_LIST_LEN,
            "the device list",
        )?)?;
        if list.account_id() != account {
            return Err(HttpError::malformed("another account's device list"));
        }
        Ok(Some(list))
    }
}
