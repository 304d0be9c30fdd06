//! Device lists: the first device links and removes devices, and the model's side of a
//! device taking a new list.

use rand::rngs::ChaCha20Rng;
use ratchetkit::client::{DeviceId, DeviceList};

use super::device::TestClient;
use super::world::{must, World, ACCOUNTS, LINKS};

/// Links `new` to the account of `first` (its first device, which holds the account key)
/// and returns the new device list. The one place that knows how linking goes.
fn link(
    rng: &mut ChaCha20Rng,
    first: &mut TestClient,
    new: &mut TestClient,
    now: u64,
) -> DeviceList {
    let account = first.account_id().expect("a first device");
    let consent = new.link_request(account);
    let list = must(first.link_device(rng, &consent, now), || {
        "the first device links the new one".into()
    });
    must(new.accept_device_list(rng, &list.to_bytes()), || {
        "the new device accepts its list".into()
    });
    list
}

impl World {
    /// The account's first device links the next device of [`LINKS`] and publishes the
    /// new list; the new device publishes bundles when asked. Contacts learn the list from
    /// the directory or from a first message that carries it.
    pub fn link_next_device(&mut self) {
        let now = self.now();
        let (account, _, _) = LINKS[self.linked];
        let new = ACCOUNTS.len() + self.linked;
        let (phones, linked) = self.devices.split_at_mut(ACCOUNTS.len());
        let list = link(
            &mut self.rng,
            phones[account].client(),
            linked[self.linked].client(),
            now,
        );
        let devices: Vec<usize> = list
            .devices()
            .iter()
            .map(|card| self.device_index(DeviceId::of(card)))
            .collect();
        let mut expected = self.accounts[account].lists.last().expect("a list").clone();
        expected.push(new);
        assert_eq!(devices, expected, "the list that links device {new}");
        let lists = &mut self.accounts[account].lists;
        lists.push(devices.clone());
        assert_eq!(list.version(), lists.len() as u64, "the new list's version");
        self.accounts[account].published = list.to_bytes();
        // The account's other devices learn the list later, from the directory or from
        // a first message of one of its devices.
        for device in [account, new] {
            self.devices[device].own_version = list.version();
            self.forget_removed(device, account, list.version());
        }
        self.devices[new].active = true;
        self.linked += 1;
        for device in devices {
            self.check_model(device);
        }
    }

    /// The account's first device removes `removed` and publishes the new list.
    pub fn remove_linked_device(&mut self, removed: usize) {
        let now = self.now();
        let account = self.devices[removed].account;
        let id = self.device_ids[removed];
        let before = self.devices[account].batches_saved();
        let list = must(
            self.devices[account]
                .client()
                .remove_device(&mut self.rng, id, now),
            || format!("remove {}", self.devices[removed].name),
        );
        assert_eq!(self.devices[account].batches_saved(), before + 1);
        let devices: Vec<usize> = list
            .devices()
            .iter()
            .map(|card| self.device_index(DeviceId::of(card)))
            .collect();
        let mut expected = self.accounts[account].lists.last().expect("a list").clone();
        expected.retain(|device| *device != removed);
        assert_eq!(devices, expected, "the list without device {removed}");
        let lists = &mut self.accounts[account].lists;
        lists.push(devices);
        assert_eq!(list.version(), lists.len() as u64, "the new list's version");
        self.accounts[account].published = list.to_bytes();
        self.devices[account].own_version = list.version();
        self.forget_removed(account, account, list.version());
        self.devices[removed].removed = true;
        self.removed = true;
        self.check_model(account);
    }

    /// The model's side of a device taking `account`'s list `version`: its sessions with
    /// devices no longer on it are deleted.
    pub fn forget_removed(&mut self, device: usize, account: usize, version: u64) {
        let list = &self.accounts[account].lists[version as usize - 1];
        let gone: Vec<usize> = self.devices[device]
            .peers
            .keys()
            .copied()
            .filter(|peer| self.devices[*peer].account == account && !list.contains(peer))
            .collect();
        for peer in gone {
            self.devices[device].peers.remove(&peer);
        }
        self.group_learned(device, account, version);
    }
}
