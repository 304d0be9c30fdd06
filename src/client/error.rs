//! What a [`Client`](super::Client) call fails with: the protocol's errors and the
//! store's, kept apart, and the client's own.

use super::devices::{AccountId, DeviceId};
use super::groups::GroupId;
use crate::error::Error;

/// Why a [`Client`](super::Client) call failed.
///
/// Protocol errors ([`ClientError::Protocol`]) are those of the channel and identity
/// layers; [`Error::is_retryable`] and [`Error::is_permanent`] say what to do with them.
/// A store failure ([`ClientError::Store`]) may have left the store behind what the client
/// holds in memory: the client then refuses every call ([`ClientError::Poisoned`]) until
/// it is opened again from the store, which holds a consistent state (the last batch
/// that was saved), so nothing is lost and no key is used twice.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError<E: std::error::Error + 'static> {
    /// The protocol refused the input or the call; see [`Error`].
    #[error(transparent)]
    Protocol(#[from] Error),

    /// The store failed; nothing of the call was saved, and nothing it made may be sent.
    /// Open the client again from the store (after fixing the store) and retry.
    #[error("the store failed: {0}; open the client again and retry")]
    Store(#[source] E),

    /// The directory failed (its own error, boxed). Whatever the call saved stays saved;
    /// make the call again once the directory works.
    #[error("the directory failed: {0}; retry when it works")]
    Directory(#[source] Box<dyn std::error::Error + Send + Sync>),

    /// An earlier store failure left this client ahead of its store. Drop it and open it
    /// again from the store.
    #[error("an earlier store failure poisoned this client: open it again from the store")]
    Poisoned,

    /// The store holds no client, or records that do not belong together. Create the
    /// client, or check that the store and storage key are the right ones.
    #[error("the store holds no client state ({what}): create one, or check the store and key")]
    NoClient {
        /// The record that is missing.
        what: &'static str,
    },

    /// The account is not a contact: add it with
    /// [`Client::add_contact`](super::Client::add_contact) (or receive a first message
    /// from it) before sending to it.
    #[error("account {account} is not a contact: add its device list first")]
    UnknownAccount {
        /// The account.
        account: AccountId,
    },

    /// Some devices of the account have no channel yet: fetch a prekey bundle for each,
    /// give them to [`Client::start_sessions`](super::Client::start_sessions), and send
    /// again. Nothing was encrypted.
    #[error("{} device(s) have no channel yet: start sessions with their bundles", devices.len())]
    MissingSessions {
        /// The devices without a channel.
        devices: Vec<DeviceId>,
    },

    /// The envelope comes from a device that is on no device list this client holds and
    /// does not carry one: its account's device list may have changed. Fetch the
    /// account's newest device list, give it to
    /// [`Client::add_contact`](super::Client::add_contact), and receive it again.
    #[error("device {device} is on no known device list: fetch its account's list and retry")]
    UnknownDevice {
        /// The device the envelope names as its sender.
        device: DeviceId,
    },

    /// This device has no such group: for a group message, the welcome may still be on its
    /// way (keep the message and retry after the next group control); for a call, check
    /// the id. Nothing changed.
    #[error("no group {group} on this device: retry once its welcome arrived")]
    UnknownGroup {
        /// The group.
        group: GroupId,
    },

    /// The envelope is addressed to another device: route it there. Nothing changed.
    #[error("the envelope is for device {recipient}, not this one")]
    NotForThisDevice {
        /// The device it is addressed to.
        recipient: DeviceId,
    },

    /// The envelope names a sender other than the card its first message carries, or a
    /// device not on the device list it carries: forged or misrouted. Drop it.
    #[error("the envelope's sender does not match the device that made its message")]
    SenderMismatch,

    /// Only the device that holds the account key (the account's first device) can sign
    /// device lists. Link and remove devices there.
    #[error(
        "this device does not hold the account key: link and remove devices on the first device"
    )]
    NotAccountHolder,

    /// This device is not on its account's device list (yet): have the first device link
    /// it with [`Client::link_device`](super::Client::link_device) and give the list to
    /// [`Client::accept_device_list`](super::Client::accept_device_list).
    #[error("this device is not on its account's device list: link it from the first device")]
    NotLinked,
}

impl<E: std::error::Error + 'static> ClientError<E> {
    /// The protocol error, if that is what this is.
    pub fn protocol(&self) -> Option<&Error> {
        match self {
            ClientError::Protocol(error) => Some(error),
            _ => None,
        }
    }
}
