//! The client's records: what each holds, and how it is sealed into a [`Changes`] batch
//! and opened from the store.

use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::devices::DeviceList;
use super::error::ClientError;
use super::store::{Changes, RecordKey, RecordKind};
use super::MAX_RECORD_LEN;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::storage::StorageKey;
use crate::wire::{self, state};

/// The format of the client's records: 1.
const RECORD_VERSION: u32 = 1;

/// Seals `bytes` as the record `kind`/`id` and adds it to `changes`.
pub(super) fn put<R: CryptoRng + ?Sized, E: std::error::Error + 'static>(
    key: &StorageKey,
    rng: &mut R,
    changes: &mut Changes,
    kind: RecordKind,
    id: &[u8],
    bytes: &[u8],
) -> Result<(), ClientError<E>> {
    let sealed = key.seal_record(rng, kind.name(), id, bytes)?;
    changes.put(RecordKey::new(kind, id), sealed);
    Ok(())
}

/// Opens the sealed record `kind`/`id`.
pub(super) fn open(
    key: &StorageKey,
    kind: RecordKind,
    id: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    if sealed.len() > MAX_RECORD_LEN {
        return Err(Error::TooLarge {
            what: "client record",
            limit: MAX_RECORD_LEN,
        });
    }
    key.open_record(sealed, kind.name(), id)
}

/// The device's own record: its identity, the account key where it is held, and the
/// account's device list.
pub(super) struct DeviceRecord {
    pub(super) device: Identity,
    pub(super) account: Option<Identity>,
    pub(super) device_list: Option<DeviceList>,
}

impl DeviceRecord {
    pub(super) fn to_bytes(
        device: &Identity,
        account: Option<&Identity>,
        device_list: Option<&DeviceList>,
    ) -> Zeroizing<Vec<u8>> {
        let saved = state::ClientDeviceState {
            version: RECORD_VERSION,
            device: device.to_bytes().to_vec(),
            account: account
                .map(|account| account.to_bytes().to_vec())
                .unwrap_or_default(),
            device_list: device_list.map(DeviceList::to_bytes).unwrap_or_default(),
        };
        // The generated state types wipe their fields when dropped.
        Zeroizing::new(saved.encode_to_vec())
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::ClientDeviceState = wire::decode_secret(bytes, "ClientDeviceState")?;
        wire::check_version_is(saved.version, RECORD_VERSION, "ClientDeviceState")?;
        let device = Identity::from_bytes(&saved.device)?;
        let account = match saved.account.is_empty() {
            true => None,
            false => Some(Identity::from_bytes(&saved.account)?),
        };
        let device_list = match saved.device_list.is_empty() {
            true => None,
            false => Some(DeviceList::from_bytes(&saved.device_list)?),
        };
        let consistent = device_list.as_ref().is_none_or(|list| {
            list.contains(device.card())
                && account
                    .as_ref()
                    .is_none_or(|account| list.account() == account.card())
        }) && (account.is_none() || device_list.is_some());
        if !consistent {
            return Err(Error::InvalidState {
                reason: "the device record's identity, account key and device list do not belong together",
            });
        }
        Ok(Self {
            device,
            account,
            device_list,
        })
    }
}

/// What the device knows of a contact: its newest device list, and whether the app marked
/// it verified.
#[derive(Clone, Debug)]
pub(super) struct PeerRecord {
    pub(super) devices: DeviceList,
    pub(super) verified: bool,
}

impl PeerRecord {
    pub(super) fn to_bytes(&self) -> Vec<u8> {
        state::ClientPeerState {
            version: RECORD_VERSION,
            device_list: self.devices.to_bytes(),
            verified: self.verified,
        }
        .encode_to_vec()
    }

    pub(super) fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let saved: state::ClientPeerState = wire::decode(bytes, "ClientPeerState")?;
        wire::check_version_is(saved.version, RECORD_VERSION, "ClientPeerState")?;
        Ok(Self {
            devices: DeviceList::from_bytes(&saved.device_list)?,
            verified: saved.verified,
        })
    }
}
