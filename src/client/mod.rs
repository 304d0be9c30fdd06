//! The client layer: one device of one account, with its prekeys, its sessions with every
//! peer device and its contacts, kept in a [`Store`] that every operation writes before it
//! returns anything to send.
//!
//! It is sans-IO like the rest of the crate: [`Client::encrypt_to`] returns envelopes for
//! the app to move, [`Client::receive`] takes the bytes that arrived and returns what
//! happened as [`Event`]s. What the app still does itself: move the bytes (and publish the
//! device list and bundles to its directory), show safety numbers to its users, and decide
//! whom to trust ([`Client::mark_verified`]).
//!
//! ```
//! use ratchetkit::client::{Client, Event, MemoryStore};
//! use ratchetkit::StorageKey;
//! # let mut rng = rand::rng();
//! let key = StorageKey::generate(&mut rng);
//! let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", 0)?;
//! let key = StorageKey::generate(&mut rng);
//! let mut bob = Client::create(&mut rng, MemoryStore::new(), key, "bob", 0)?;
//!
//! // Alice finds Bob's device list and a bundle per device in her directory.
//! let bob_account = alice.add_contact(&mut rng, &bob.device_list().expect("first device").to_bytes())?;
//! let bundles = bob.bundles(&mut rng, 1, 0)?;
//! alice.start_sessions(&mut rng, &bundles)?;
//!
//! for envelope in alice.encrypt_to(&mut rng, bob_account, b"hello bob")? {
//!     let received = bob.receive(&mut rng, envelope.bytes())?;
//!     match &received.events()[..] {
//!         [Event::NewContact { .. }, Event::Message { plaintext, .. }] => {
//!             assert_eq!(plaintext, b"hello bob")
//!         }
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! # Ok::<(), ratchetkit::client::ClientError<std::convert::Infallible>>(())
//! ```

mod devices;
mod envelope;
mod error;
mod events;
mod group_receive;
mod groups;
mod inbox;
mod receive;
mod records;
mod send;
mod sessions;
#[cfg(all(feature = "sqlite", not(target_family = "wasm")))]
mod sqlite;
mod store;
mod unsent;
mod upkeep;

use std::collections::HashMap;

use rand::CryptoRng;

pub use devices::{
    AccountId, DeviceId, DeviceLink, DeviceList, DEVICE_LINK_CONTEXT, DEVICE_LIST_CONTEXT,
    MAX_DEVICES, MAX_DEVICE_LINK_LEN, MAX_DEVICE_LIST_LEN,
};
pub use envelope::{peek, EnvelopeKind, Peeked, ENVELOPE_VERSION, MAX_ENVELOPE_LEN};
pub use error::ClientError;
pub use events::{Event, Outgoing, Received};
pub use groups::GroupId;
pub use inbox::Receipt;
pub use sessions::MAX_ARCHIVED_CHANNELS;
#[cfg(all(feature = "sqlite", not(target_family = "wasm")))]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
pub use sqlite::{
    Durability, SqliteError, SqliteStore, SQLITE_BUSY_TIMEOUT, SQLITE_SCHEMA_VERSION,
    SQLITE_WAL_CHECKPOINT_PAGES,
};
pub use store::{Changes, MemoryStore, RecordKey, RecordKind, Records, Store, MAX_RECORD_ID_LEN};
pub use upkeep::Upkeep;

use crate::channel::ChannelId;
use crate::error::Error;
use crate::identity::{Card, Identity, PrekeyBundle, PrekeyStore, SafetyNumber};
use crate::storage::StorageKey;
use records::{DeviceRecord, PeerRecord};
use sessions::Session;

/// Longest sealed record a client reads from its store, in bytes: the larger of a session
/// of one current and [`MAX_ARCHIVED_CHANNELS`] archived channels of at most
/// [`MAX_CHANNEL_STATE_LEN`](crate::channel::MAX_CHANNEL_STATE_LEN) each, and a group of at
/// most [`MAX_GROUP_STATE_LEN`](crate::group::MAX_GROUP_STATE_LEN) (the prekey store,
/// [`MAX_PREKEY_STORE_STATE_LEN`](crate::identity::MAX_PREKEY_STORE_STATE_LEN), is
/// smaller); 1 KiB more holds the framing. A state this crate writes must always load
/// again, so the bound covers the largest; it is checked before a record is decrypted.
pub const MAX_RECORD_LEN: usize = larger(
    (1 + MAX_ARCHIVED_CHANNELS) * crate::channel::MAX_CHANNEL_STATE_LEN,
    crate::group::MAX_GROUP_STATE_LEN,
) + 1024;

/// Most sessions a client keeps in memory after a call that changed state: 1,024. Every
/// session is in the store, so the ones beyond it are dropped from memory and read back
/// when next needed. Without a bound, a client that hears from many devices over its life
/// (a large group's members, a public account's contacts) would hold every session it
/// ever read: about 400 bytes each, and up to nine channels' worth.
pub const MAX_CACHED_SESSIONS: usize = 1_024;

/// Most groups a client keeps in memory after a call that changed state: 64. A group's
/// state can reach [`MAX_GROUP_STATE_LEN`](crate::limits::MAX_GROUP_STATE_LEN); 64
/// active groups cover a busy user, and the others are read back from the store.
pub const MAX_CACHED_GROUPS: usize = 64;

/// Drops entries of `cache` until it holds at most `max`. Which ones go does not matter
/// for correctness (the store holds them all), only for how often they are read back.
fn trim_cache<K: Copy + Eq + std::hash::Hash, V>(cache: &mut HashMap<K, V>, max: usize) {
    let excess = cache.len().saturating_sub(max);
    if excess == 0 {
        return;
    }
    let dropped: Vec<K> = cache.keys().take(excess).copied().collect();
    for key in dropped {
        cache.remove(&key);
    }
}

const fn larger(a: usize, b: usize) -> usize {
    if a > b {
        a
    } else {
        b
    }
}

/// The result of a client call.
pub type ClientResult<T, S> = Result<T, ClientError<<S as Store>::Error>>;

/// One device of one account: its identity, prekeys, sessions and contacts, over a
/// [`Store`].
///
/// Every call that changes state saves all it changed in one [`Store::save_changes`]
/// before it returns: the bytes it returns may be sent as soon as it returns, and a crash
/// at any point loses nothing and uses no message key twice. A call that fails changes
/// nothing, in memory or in the store.
pub struct Client<S: Store> {
    store: S,
    key: StorageKey,
    device: Identity,
    /// The account key, on the device that holds it.
    account: Option<Identity>,
    /// The account's devices; `None` on a linked device not linked yet.
    device_list: Option<DeviceList>,
    prekeys: PrekeyStore,
    peers: HashMap<AccountId, PeerRecord>,
    /// Which account each known peer device belongs to.
    peer_devices: HashMap<DeviceId, AccountId>,
    /// Sessions read from the store, as the store holds them; at most
    /// [`MAX_CACHED_SESSIONS`] once a call that saved has returned.
    sessions: HashMap<DeviceId, Session>,
    /// Groups read from the store, as the store holds them; at most [`MAX_CACHED_GROUPS`]
    /// once a call that saved has returned.
    groups: HashMap<GroupId, crate::group::Group>,
    /// The number the next kept envelope of group control gets.
    next_unsent: u64,
    /// The counter the next kept message's receipt starts with.
    next_receipt: u64,
}

impl<S: Store> Client<S> {
    /// Creates a new account named `name` and its first device (which holds the account
    /// key), with a device list of that one device, and saves it all in `store`, sealed
    /// with `key`. `now` is the time in seconds since the Unix epoch.
    ///
    /// # Errors
    /// [`Error::InvalidIdentityName`] for a bad name; a store failure.
    pub fn create<R: CryptoRng + ?Sized>(
        rng: &mut R,
        store: S,
        key: StorageKey,
        name: &str,
        now: u64,
    ) -> ClientResult<Self, S> {
        let account = Identity::generate_at(rng, name, now)?;
        let device = Identity::generate_at(rng, name, now)?;
        let link = DeviceLink::sign(&device, AccountId::of(account.card()));
        let list = DeviceList::sign(&account, 1, &[link], now)?;
        Self::start(rng, store, key, (device, Some(account), Some(list)), now)
    }

    /// Creates a device to link to an existing account named `name`: it has its own
    /// identity, but no account key and no device list until the account's first device
    /// links it: [`Client::link_request`] here for the account id the first device shows,
    /// [`Client::link_device`] there, then [`Client::accept_device_list`] here.
    ///
    /// # Errors
    /// As [`Client::create`].
    pub fn create_linked<R: CryptoRng + ?Sized>(
        rng: &mut R,
        store: S,
        key: StorageKey,
        name: &str,
        now: u64,
    ) -> ClientResult<Self, S> {
        let device = Identity::generate_at(rng, name, now)?;
        Self::start(rng, store, key, (device, None, None), now)
    }

    fn start<R: CryptoRng + ?Sized>(
        rng: &mut R,
        store: S,
        key: StorageKey,
        (device, account, device_list): (Identity, Option<Identity>, Option<DeviceList>),
        now: u64,
    ) -> ClientResult<Self, S> {
        let mut client = Self {
            store,
            key,
            device,
            account,
            device_list,
            prekeys: PrekeyStore::new_at(rng, now),
            peers: HashMap::new(),
            peer_devices: HashMap::new(),
            sessions: HashMap::new(),
            groups: HashMap::new(),
            next_unsent: 0,
            next_receipt: 0,
        };
        let mut changes = Changes::new();
        client.put_device(rng, &mut changes)?;
        client.put_prekeys(rng, &mut changes)?;
        client.save(&changes)?;
        Ok(client)
    }

    /// Opens the client kept in `store`, sealed with `key`.
    ///
    /// # Errors
    /// [`ClientError::NoClient`] for a store without a client;
    /// [`Error::SealedStateRejected`] for a wrong key or a record in another's place;
    /// state errors for corrupt records; a store failure.
    pub fn open(store: S, key: StorageKey) -> ClientResult<Self, S> {
        let device = DeviceRecord::from_bytes(&open_singleton::<S>(
            &store,
            &key,
            RecordKind::Device,
            "device",
        )?)?;
        let prekeys = PrekeyStore::from_bytes(&open_singleton::<S>(
            &store,
            &key,
            RecordKind::Prekeys,
            "prekeys",
        )?)?;
        let mut client = Self {
            store,
            key,
            device: device.device,
            account: device.account,
            device_list: device.device_list,
            prekeys,
            peers: HashMap::new(),
            peer_devices: HashMap::new(),
            sessions: HashMap::new(),
            groups: HashMap::new(),
            next_unsent: 0,
            next_receipt: 0,
        };
        client.next_unsent = client.first_free_unsent()?;
        client.next_receipt = client.first_free_receipt()?;
        let peers = client
            .store
            .load_kind(RecordKind::Peer)
            .map_err(ClientError::Store)?;
        for (id, sealed) in peers {
            let peer = PeerRecord::from_bytes(&records::open(
                &client.key,
                RecordKind::Peer,
                &id,
                &sealed,
            )?)?;
            if peer.devices.account_id().as_bytes()[..] != id[..] {
                return Err(Error::SealedStateRejected.into());
            }
            client.index_peer(&peer);
            client.peers.insert(peer.devices.account_id(), peer);
        }
        Ok(client)
    }

    /// This device's id (its identity key).
    pub fn device_id(&self) -> DeviceId {
        DeviceId::of(self.device.card())
    }

    /// This device's card.
    pub fn device_card(&self) -> &Card {
        self.device.card()
    }

    /// This device's consent to be linked to `account`: give it to that account's first
    /// device ([`Client::link_device`]). Check `account` first (the first device shows it,
    /// as text or a QR code): the device list this device accepts later must be that
    /// account's.
    pub fn link_request(&self, account: AccountId) -> DeviceLink {
        DeviceLink::sign(&self.device, account)
    }

    /// The account's id, once known (always on the first device; on a linked device once
    /// it accepted a device list).
    pub fn account_id(&self) -> Option<AccountId> {
        self.device_list.as_ref().map(DeviceList::account_id)
    }

    /// The account's current device list: publish it where contacts find it.
    pub fn device_list(&self) -> Option<&DeviceList> {
        self.device_list.as_ref()
    }

    /// The id of the channel messages to `device` are sent on, if there is one: the same
    /// on both sides once they settled on it.
    ///
    /// # Errors
    /// A store failure, or a corrupt session record.
    pub fn current_channel(&mut self, device: DeviceId) -> ClientResult<Option<ChannelId>, S> {
        Ok(self.session(device)?.map(|session| session.current().id()))
    }

    /// Drops every session and group held in memory (at most [`MAX_CACHED_SESSIONS`] and
    /// [`MAX_CACHED_GROUPS`]); they are read back from the store when next needed. For an
    /// app told that memory is short: nothing is lost, since every call saves all it
    /// changed before it returns.
    ///
    /// ```
    /// use ratchetkit::client::{Client, MemoryStore};
    /// use ratchetkit::StorageKey;
    /// # let mut rng = rand::rng();
    /// let key = StorageKey::generate(&mut rng);
    /// let mut alice = Client::create(&mut rng, MemoryStore::new(), key, "alice", 0)?;
    /// let key = StorageKey::generate(&mut rng);
    /// let mut bob = Client::create(&mut rng, MemoryStore::new(), key, "bob", 0)?;
    /// let list = bob.device_list().expect("first device").to_bytes();
    /// let bob_account = alice.add_contact(&mut rng, &list)?;
    /// let bundles = bob.bundles(&mut rng, 1, 0)?;
    /// alice.start_sessions(&mut rng, &bundles)?;
    ///
    /// alice.release_memory();
    /// let envelopes = alice.encrypt_to(&mut rng, bob_account, b"still here")?;
    /// let received = bob.receive(&mut rng, envelopes[0].bytes())?;
    /// assert_eq!(received.message(), Some(&b"still here"[..]));
    /// # Ok::<(), ratchetkit::client::ClientError<std::convert::Infallible>>(())
    /// ```
    pub fn release_memory(&mut self) {
        self.sessions = HashMap::new();
        self.groups = HashMap::new();
    }

    /// How many one-time prekeys this device holds (published or not yet used).
    pub fn one_time_prekeys(&self) -> usize {
        self.prekeys.one_time_prekey_count()
    }

    /// The store, to read what it holds (sizes, counts).
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The store, to hand back (the client is gone).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The prekey bundles to publish for this device: `count` fresh one-time prekeys and
    /// the fallback bundle (last), saved before they are returned. `now` is the time in
    /// seconds since the Unix epoch.
    ///
    /// # Errors
    /// [`Error::PrekeyPoolFull`] over the pool's limit; a store failure.
    pub fn bundles<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        count: usize,
        now: u64,
    ) -> ClientResult<Vec<PrekeyBundle>, S> {
        let backup = self.prekeys.to_bytes();
        let ids = self.prekeys.generate_one_time_prekeys_at(rng, count, now)?;
        let result = self.save_prekeys(rng);
        if let Err(error) = result {
            self.prekeys = PrekeyStore::from_bytes(&backup)?;
            return Err(error);
        }
        let mut bundles = ids
            .into_iter()
            .map(|id| self.prekeys.bundle(&self.device, Some(id)))
            .collect::<Result<Vec<_>, _>>()?;
        bundles.push(self.prekeys.bundle(&self.device, None)?);
        Ok(bundles)
    }

    fn save_prekeys<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> ClientResult<(), S> {
        let mut changes = Changes::new();
        self.put_prekeys(rng, &mut changes)?;
        self.save(&changes)
    }

    /// Adds (or updates) a contact from its account's signed device list, as found in a
    /// directory, and returns the account's id. The account is not marked verified: see
    /// [`Client::mark_verified`]. Sessions with devices the new list drops are deleted.
    ///
    /// # Errors
    /// Those of [`DeviceList::from_bytes`]; [`Error::StaleDeviceList`] for a list older
    /// than the one held; a store failure.
    pub fn add_contact<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        device_list: &[u8],
    ) -> ClientResult<AccountId, S> {
        let list = DeviceList::from_bytes(device_list)?;
        let account = list.account_id();
        let mut changes = Changes::new();
        let mut events = Vec::new();
        let update = self.contact_update(list, &mut events)?;
        if let Some(peer) = &update {
            self.put_peer(rng, peer, &mut changes)?;
            self.delete_sessions_of_removed(&events, &mut changes);
        }
        self.save(&changes)?;
        if let Some(peer) = update {
            self.commit_peer(peer, &events);
        }
        Ok(account)
    }

    /// Marks the account verified (the app compared safety numbers, or trusts it by other
    /// means): its messages then arrive with `verified: true`.
    ///
    /// # Errors
    /// [`ClientError::UnknownAccount`] for an account that is no contact; a store failure.
    pub fn mark_verified<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        account: AccountId,
        verified: bool,
    ) -> ClientResult<(), S> {
        let mut peer = self
            .peers
            .get(&account)
            .cloned()
            .ok_or(ClientError::UnknownAccount { account })?;
        peer.verified = verified;
        let mut changes = Changes::new();
        self.put_peer(rng, &peer, &mut changes)?;
        self.save(&changes)?;
        self.peers.insert(account, peer);
        Ok(())
    }

    /// Whether the app marked the account verified.
    pub fn is_verified(&self, account: AccountId) -> bool {
        self.peers.get(&account).is_some_and(|peer| peer.verified)
    }

    /// The contact's newest device list this client holds.
    pub fn contact(&self, account: AccountId) -> Option<&DeviceList> {
        self.peers.get(&account).map(|peer| &peer.devices)
    }

    /// The safety number of this account and `account`, for the two users to compare
    /// (read aloud, or one scans the other's [`SafetyNumber::qr_payload`]): the same on
    /// both sides. If it matches, mark the account verified ([`Client::mark_verified`]).
    ///
    /// # Errors
    /// [`ClientError::UnknownAccount`] for an account that is no contact;
    /// [`ClientError::NotLinked`] on a device that has no device list yet.
    pub fn safety_number(&self, account: AccountId) -> ClientResult<SafetyNumber, S> {
        let mine = self.device_list.as_ref().ok_or(ClientError::NotLinked)?;
        let theirs = self
            .peers
            .get(&account)
            .ok_or(ClientError::UnknownAccount { account })?;
        Ok(SafetyNumber::new(mine.account(), theirs.devices.account()))
    }

    /// Links the device whose consent `link` is ([`Client::link_request`] on the new
    /// device) to the account, and returns the new device list: give it to the new
    /// device's [`Client::accept_device_list`], and publish it for contacts.
    ///
    /// # Errors
    /// [`ClientError::NotAccountHolder`] on a device without the account key;
    /// [`Error::BadSignature`] for consent to another account; those of
    /// [`DeviceList::sign`]; a store failure.
    pub fn link_device<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        link: &DeviceLink,
        now: u64,
    ) -> ClientResult<DeviceList, S> {
        let mut devices = self.own_links().to_vec();
        if !devices.iter().any(|held| held.card() == link.card()) {
            devices.push(link.clone());
        }
        self.sign_device_list(rng, &devices, now)
    }

    /// Removes `device` from the account and returns the new device list to publish:
    /// contacts that take it stop sending to the device.
    ///
    /// # Errors
    /// As [`Client::link_device`].
    pub fn remove_device<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        device: DeviceId,
        now: u64,
    ) -> ClientResult<DeviceList, S> {
        let devices: Vec<DeviceLink> = self
            .own_links()
            .iter()
            .filter(|link| DeviceId::of(link.card()) != device)
            .cloned()
            .collect();
        self.sign_device_list(rng, &devices, now)
    }

    fn sign_device_list<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        devices: &[DeviceLink],
        now: u64,
    ) -> ClientResult<DeviceList, S> {
        let account = self.account.as_ref().ok_or(ClientError::NotAccountHolder)?;
        let version = self.device_list.as_ref().map_or(0, DeviceList::version) + 1;
        let list = DeviceList::sign(account, version, devices, now)?;
        self.replace_device_list(rng, list.clone())?;
        Ok(list)
    }

    /// Takes a newer device list of this device's own account (on a linked device, the
    /// first one that names it).
    ///
    /// # Errors
    /// Those of [`DeviceList::from_bytes`]; [`ClientError::NotLinked`] for a list that does
    /// not name this device; [`Error::StaleDeviceList`] for a list not newer than the one
    /// held, or of another account; a store failure.
    pub fn accept_device_list<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        device_list: &[u8],
    ) -> ClientResult<(), S> {
        let list = DeviceList::from_bytes(device_list)?;
        if !list.contains(self.device.card()) {
            return Err(ClientError::NotLinked);
        }
        if let Some(current) = &self.device_list {
            if list.account_id() != current.account_id() || list.version() <= current.version() {
                return Err(Error::StaleDeviceList {
                    found: list.version(),
                    current: current.version(),
                }
                .into());
            }
        }
        self.replace_device_list(rng, list)
    }

    fn replace_device_list<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        list: DeviceList,
    ) -> ClientResult<(), S> {
        let events: Vec<Event> = self
            .device_list
            .as_ref()
            .map(|held| receive::changed(held, &list))
            .into_iter()
            .collect();
        let previous = self.device_list.replace(list);
        let mut changes = Changes::new();
        let written = self.put_device(rng, &mut changes).and_then(|()| {
            self.delete_sessions_of_removed(&events, &mut changes);
            self.save(&changes)
        });
        match written {
            Ok(()) => self.forget_removed(&events),
            Err(_) => self.device_list = previous,
        }
        written
    }

    /// The account's devices, this one included.
    fn own_devices(&self) -> &[Card] {
        self.device_list.as_ref().map_or(&[], DeviceList::devices)
    }

    /// The consents of the account's devices, this one included.
    fn own_links(&self) -> &[DeviceLink] {
        self.device_list.as_ref().map_or(&[], DeviceList::links)
    }

    fn index_peer(&mut self, peer: &PeerRecord) {
        for card in peer.devices.devices() {
            self.peer_devices
                .insert(DeviceId::of(card), peer.devices.account_id());
        }
    }

    fn put_device<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        changes: &mut Changes,
    ) -> ClientResult<(), S> {
        let record = DeviceRecord::to_bytes(
            &self.device,
            self.account.as_ref(),
            self.device_list.as_ref(),
        );
        records::put(&self.key, rng, changes, RecordKind::Device, &[], &record)
    }

    fn put_prekeys<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        changes: &mut Changes,
    ) -> ClientResult<(), S> {
        records::put(
            &self.key,
            rng,
            changes,
            RecordKind::Prekeys,
            &[],
            &self.prekeys.to_bytes(),
        )
    }

    fn put_peer<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        peer: &PeerRecord,
        changes: &mut Changes,
    ) -> ClientResult<(), S> {
        let id = peer.devices.account_id();
        records::put(
            &self.key,
            rng,
            changes,
            RecordKind::Peer,
            id.as_bytes(),
            &peer.to_bytes(),
        )
    }

    fn put_session<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        device: DeviceId,
        session: &Session,
        changes: &mut Changes,
    ) -> ClientResult<(), S> {
        records::put(
            &self.key,
            rng,
            changes,
            RecordKind::Session,
            device.as_bytes(),
            &session.to_bytes(),
        )
    }

    /// The session with `device`, read from the store the first time.
    fn session(&mut self, device: DeviceId) -> ClientResult<Option<&Session>, S> {
        if !self.sessions.contains_key(&device) {
            let key = RecordKey::new(RecordKind::Session, device.as_bytes());
            if let Some(sealed) = self.store.load(&key).map_err(ClientError::Store)? {
                let bytes =
                    records::open(&self.key, RecordKind::Session, device.as_bytes(), &sealed)?;
                self.sessions.insert(device, Session::from_bytes(&bytes)?);
            }
        }
        Ok(self.sessions.get(&device))
    }

    /// Bounds the caches; called once a call has saved and updated them, never while a
    /// call is working (it may rely on what it read being cached until it saves).
    fn trim_caches(&mut self) {
        trim_cache(&mut self.sessions, MAX_CACHED_SESSIONS);
        trim_cache(&mut self.groups, MAX_CACHED_GROUPS);
    }

    fn save(&mut self, changes: &Changes) -> ClientResult<(), S> {
        if changes.is_empty() {
            return Ok(());
        }
        self.store.save_changes(changes).map_err(ClientError::Store)
    }
}

/// Reads and opens the one record of `kind` (its id is empty).
fn open_singleton<S: Store>(
    store: &S,
    key: &StorageKey,
    kind: RecordKind,
    what: &'static str,
) -> ClientResult<zeroize::Zeroizing<Vec<u8>>, S> {
    let sealed = store
        .load(&RecordKey::new(kind, &[]))
        .map_err(ClientError::Store)?
        .ok_or(ClientError::NoClient { what })?;
    Ok(records::open(key, kind, &[], &sealed)?)
}

impl<S: Store> core::fmt::Debug for Client<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Client")
            .field("device", &self.device_id())
            .field("account", &self.account_id())
            .field("holds_account_key", &self.account.is_some())
            .field("contacts", &self.peers.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimming_a_cache_keeps_at_most_its_bound() {
        let mut cache: HashMap<u32, ()> = (0..10).map(|key| (key, ())).collect();
        trim_cache(&mut cache, 20);
        assert_eq!(cache.len(), 10);
        trim_cache(&mut cache, 10);
        assert_eq!(cache.len(), 10);
        trim_cache(&mut cache, 3);
        assert_eq!(cache.len(), 3);
        trim_cache(&mut cache, 0);
        assert!(cache.is_empty());
    }
}
