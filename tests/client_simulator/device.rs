//! One device: its client (dropped and reopened from its store on a restart), and what the
//! model says it holds.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;

use ratchetkit::client::{
    AccountId, Client, ClientError, DeviceId, MemoryStore, RecordKind, Records, Store,
};
use ratchetkit::{ChannelId, StorageKey};

pub type TestClient = Client<MemoryStore>;
pub type Result<T> = core::result::Result<T, ClientError<Infallible>>;

/// The channels a device holds with one peer device, as the model follows them.
#[derive(Clone, Debug)]
pub struct PeerModel {
    /// The channel messages to the peer go out on.
    pub current: ChannelId,
    /// Every channel held with the peer, current and archived (at most two here, far
    /// below `MAX_ARCHIVED_CHANNELS`: a device starts a channel only when it has none).
    pub channels: BTreeSet<ChannelId>,
    /// The channels this device created.
    pub created: BTreeSet<ChannelId>,
    /// Channels this device created and received a message on: its messages on them no
    /// longer carry prekey information.
    pub heard: BTreeSet<ChannelId>,
}

impl PeerModel {
    pub fn created(channel: ChannelId) -> Self {
        Self {
            current: channel,
            channels: BTreeSet::from([channel]),
            created: BTreeSet::from([channel]),
            heard: BTreeSet::new(),
        }
    }

    pub fn joined(channel: ChannelId) -> Self {
        Self {
            current: channel,
            channels: BTreeSet::from([channel]),
            created: BTreeSet::new(),
            heard: BTreeSet::new(),
        }
    }

    /// Whether a message on `channel` is a first message (it carries prekey information,
    /// and so the sender's device list).
    pub fn sends_first_messages(&self, channel: ChannelId) -> bool {
        self.created.contains(&channel) && !self.heard.contains(&channel)
    }
}

pub struct Device {
    pub name: String,
    pub account: usize,
    pub id: DeviceId,
    key: StorageKey,
    client: Option<TestClient>,
    /// Linked (a linked device is not until it is linked): it acts in the run.
    pub active: bool,
    /// Removed from its account's list. It is not told, and acts on in the run; not in the
    /// final rounds.
    pub removed: bool,
    /// The version of its own account's device list it holds.
    pub own_version: u64,
    /// The version of each contact's device list it holds.
    pub known: BTreeMap<usize, u64>,
    /// The contacts it marked verified.
    pub verified: BTreeSet<usize>,
    /// Its sessions, by peer device.
    pub peers: BTreeMap<usize, PeerModel>,
    /// The messages it received.
    pub received: BTreeSet<usize>,
}

/// What a client shows of itself through its public API, to compare before and after a
/// restart; the store's records are compared apart (they are too long to print).
pub struct Snapshot {
    pub shown: String,
    pub records: Vec<Records>,
}

impl Device {
    pub fn new(name: &str, account: usize, client: TestClient, key: StorageKey) -> Self {
        Self {
            name: name.to_owned(),
            account,
            id: client.device_id(),
            key,
            client: Some(client),
            active: false,
            removed: false,
            own_version: 0,
            known: BTreeMap::new(),
            verified: BTreeSet::new(),
            peers: BTreeMap::new(),
            received: BTreeSet::new(),
        }
    }

    pub fn client(&mut self) -> &mut TestClient {
        self.client.as_mut().expect("the client is open")
    }

    pub fn batches_saved(&self) -> u64 {
        self.client
            .as_ref()
            .expect("the client is open")
            .store()
            .batches_saved()
    }

    /// Every record of the store.
    pub fn records(&self) -> Vec<Records> {
        let store = self.client.as_ref().expect("the client is open").store();
        RecordKind::ALL
            .iter()
            .map(|kind| match store.load_kind(*kind) {
                Ok(records) => records,
                Err(never) => match never {},
            })
            .collect()
    }

    /// Kills the client (drops it, keeping only its store) and opens it again.
    pub fn restart(&mut self) -> Result<()> {
        let store = self.client.take().expect("the client is open").into_store();
        self.client = Some(Client::open(store, self.key.clone())?);
        Ok(())
    }

    /// What the client shows of the accounts of the world, and of its channels with
    /// `devices`.
    pub fn snapshot(&mut self, accounts: &[AccountId], devices: &[DeviceId]) -> Result<Snapshot> {
        let client = self.client();
        let mut shown = format!(
            "device {:?}, account {:?}, own list {:?}, {} one-time prekeys; ",
            client.device_id(),
            client.account_id(),
            client.device_list().map(|list| list.version()),
            client.one_time_prekeys(),
        );
        for account in accounts {
            shown += &format!(
                "contact {:?} verified {}; ",
                client.contact(*account).map(|list| list.version()),
                client.is_verified(*account)
            );
        }
        for device in devices {
            shown += &format!("channel {:?}; ", client.current_channel(*device)?);
        }
        Ok(Snapshot {
            shown,
            records: self.records(),
        })
    }
}
