//! Linked devices: an account's identity key signs the list of its devices' cards, each
//! with the device's own consent ([`DeviceLink`]), and peers send to every device on the
//! newest list they verified.

use prost::Message;

use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::identity::{Card, Identity};
use crate::wire::{self, v1};

/// Most devices one account may have: 16. Every message to the account is encrypted once
/// per device (and once more per device of the sender's own), so the bound keeps a send to
/// a contact under 32 encryptions, and a device list under 140 KB.
pub const MAX_DEVICES: usize = 16;

/// Longest encoded `SignedDeviceList` (and `DeviceList`), in bytes: 144 KiB. It holds the
/// account card and at most [`MAX_DEVICES`] device cards of at most
/// [`MAX_CARD_LEN`](crate::identity::MAX_CARD_LEN) (8 KiB) each; the devices' consent
/// signatures (70 bytes each with framing), the list's signature and the framing fit in
/// the last 8 KiB. Checked before decoding.
pub const MAX_DEVICE_LIST_LEN: usize = (MAX_DEVICES + 2) * crate::identity::MAX_CARD_LEN;

/// Longest encoded `DeviceLink`, in bytes: a card of at most
/// [`MAX_CARD_LEN`](crate::identity::MAX_CARD_LEN) and 128 bytes for the signature and
/// framing. Checked before decoding.
pub const MAX_DEVICE_LINK_LEN: usize = crate::identity::MAX_CARD_LEN + 128;

/// Signature context of a device list: the account key signs
/// `"ratchetkit/v2/device-list" || DeviceList`.
pub const DEVICE_LIST_CONTEXT: &[u8] = b"ratchetkit/v2/device-list";

/// Signature context of a device's consent to be listed by an account: the device key
/// signs `"ratchetkit/v2/device-link" || account_key` (the account card's 32-byte Ed25519
/// key).
pub const DEVICE_LINK_CONTEXT: &[u8] = b"ratchetkit/v2/device-link";

/// The Ed25519 identity key of one device: what a client keys its sessions by.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId([u8; 32]);

hex_name!(
    DeviceId,
    "A device id from its 32 raw bytes (the device card's signing key)."
);

impl DeviceId {
    /// The id of the device whose card this is.
    pub fn of(card: &Card) -> Self {
        Self(card.signing_key())
    }
}

/// The Ed25519 identity key of an account (a user): what a client keys its contacts by,
/// never by name, so that a card published under someone else's name shadows nobody.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AccountId([u8; 32]);

hex_name!(
    AccountId,
    "An account id from its 32 raw bytes (the account card's signing key)."
);

impl AccountId {
    /// The id of the account whose card this is.
    pub fn of(card: &Card) -> Self {
        Self(card.signing_key())
    }
}

/// A device's consent to be on one account's device list: its card, and its signature
/// over the account's key.
///
/// Without it an account could list someone else's device card, and a peer holding both
/// lists could show that device's messages as the other account's. A list is valid only
/// if every device on it consented to that account.
///
/// ```
/// use ratchetkit::client::{AccountId, DeviceLink};
/// use ratchetkit::Identity;
/// # let mut rng = rand::rng();
/// let account = Identity::generate(&mut rng, "bob")?;
/// let laptop = Identity::generate(&mut rng, "bob")?;
/// // The laptop consents to Bob's account (shown to it by Bob's first device) ...
/// let link = DeviceLink::sign(&laptop, AccountId::of(account.card()));
/// // ... and the first device reads the consent back and checks it.
/// let link = DeviceLink::from_bytes(&link.to_bytes())?;
/// link.verify(AccountId::of(account.card()))?;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct DeviceLink {
    card: Card,
    signature: [u8; signature::SIGNATURE_LEN],
}

impl DeviceLink {
    /// `device`'s consent to be listed by `account`.
    pub fn sign(device: &Identity, account: AccountId) -> Self {
        Self {
            card: device.card().clone(),
            signature: signature::sign(
                device.signing_key(),
                DEVICE_LINK_CONTEXT,
                &[account.as_bytes()],
            ),
        }
    }

    /// Checks, strictly, that the device consented to `account`.
    ///
    /// # Errors
    /// [`Error::BadSignature`] for consent to another account, or none.
    pub fn verify(&self, account: AccountId) -> Result<()> {
        let key = signature::verifying_key(&self.card.signing_key(), "device key")?;
        signature::verify(
            &key,
            DEVICE_LINK_CONTEXT,
            &[account.as_bytes()],
            &self.signature,
            "device link",
        )
    }

    /// The device's card.
    pub fn card(&self) -> &Card {
        &self.card
    }

    /// The encoded `DeviceLink`, for the new device to hand to the account's first device
    /// (a QR code, say).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.to_message().encode_to_vec()
    }

    /// Parses a `DeviceLink`; [`DeviceLink::verify`] checks whose it is.
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`MAX_DEVICE_LINK_LEN`] bytes (before decoding),
    /// [`Error::Decode`], card errors, [`Error::InvalidLength`] for a signature that is
    /// not 64 bytes.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_DEVICE_LINK_LEN {
            return Err(Error::TooLarge {
                what: "DeviceLink",
                limit: MAX_DEVICE_LINK_LEN,
            });
        }
        Self::from_message(&wire::decode(bytes, "DeviceLink")?)
    }

    fn to_message(&self) -> v1::DeviceLink {
        v1::DeviceLink {
            card: self.card.to_bytes(),
            signature: self.signature.to_vec(),
        }
    }

    fn from_message(link: &v1::DeviceLink) -> Result<Self> {
        Ok(Self {
            card: Card::from_bytes(&link.card)?,
            signature: wire::fixed(&link.signature, "device link signature")?,
        })
    }
}

impl core::fmt::Debug for DeviceLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceLink")
            .field("device", &DeviceId::of(&self.card))
            .finish_non_exhaustive()
    }
}

/// The devices of one account, signed by the account's identity key, verified.
///
/// The account key lives on one device (the first); it signs a new list, one version up,
/// each time a device is linked or removed. Peers keep the newest list they verified and
/// send to each device on it; an older list never replaces a newer one.
///
/// ```
/// use ratchetkit::client::DeviceList;
/// use ratchetkit::Identity;
/// # let mut rng = rand::rng();
/// use ratchetkit::client::{AccountId, DeviceLink};
/// let account = Identity::generate(&mut rng, "bob")?;
/// let phone = Identity::generate(&mut rng, "bob")?;
/// let link = DeviceLink::sign(&phone, AccountId::of(account.card()));
/// let list = DeviceList::sign(&account, 1, &[link], 1_700_000_000)?;
/// let parsed = DeviceList::from_bytes(&list.to_bytes())?;
/// assert_eq!(parsed.version(), 1);
/// assert!(parsed.contains(phone.card()));
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, PartialEq)]
pub struct DeviceList {
    signed: Vec<u8>,
    account: Card,
    version: u64,
    links: Vec<DeviceLink>,
    /// The cards of `links`, in order.
    devices: Vec<Card>,
    issued_at: u64,
}

impl DeviceList {
    /// Signs the list of `devices` (each one's consent to this account, with a card of the
    /// account card's name) as version `version` of `account`'s devices.
    ///
    /// # Errors
    /// [`Error::TooMany`] over [`MAX_DEVICES`] devices; [`Error::InvalidDeviceList`] for
    /// no device, a device card with another name than the account's, a device listed
    /// twice, or version 0; [`Error::BadSignature`] for a device that consented to another
    /// account.
    pub fn sign(
        account: &Identity,
        version: u64,
        devices: &[DeviceLink],
        issued_at: u64,
    ) -> Result<Self> {
        check_devices(account.card(), version, devices)?;
        let list = v1::DeviceList {
            account_card: account.card().to_bytes(),
            version,
            devices: devices.iter().map(DeviceLink::to_message).collect(),
            issued_at,
        }
        .encode_to_vec();
        let signature = signature::sign(account.signing_key(), DEVICE_LIST_CONTEXT, &[&list]);
        Ok(Self {
            signed: v1::SignedDeviceList {
                list,
                signature: signature.to_vec(),
            }
            .encode_to_vec(),
            account: account.card().clone(),
            version,
            links: devices.to_vec(),
            devices: devices.iter().map(|link| link.card.clone()).collect(),
            issued_at,
        })
    }

    /// Parses and verifies a `SignedDeviceList`: canonical encoding, the account card's
    /// strict signature, the cards, each device's consent, and the rules of
    /// [`DeviceList::sign`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] over [`MAX_DEVICE_LIST_LEN`] bytes (before decoding),
    /// [`Error::Decode`], card errors, [`Error::BadSignature`] for a list the account did
    /// not sign, and those of [`DeviceList::sign`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_DEVICE_LIST_LEN {
            return Err(Error::TooLarge {
                what: "SignedDeviceList",
                limit: MAX_DEVICE_LIST_LEN,
            });
        }
        let signed: v1::SignedDeviceList = wire::decode(bytes, "SignedDeviceList")?;
        let list: v1::DeviceList = wire::decode(&signed.list, "DeviceList")?;
        let account = Card::from_bytes(&list.account_card)?;
        let key = signature::verifying_key(&account.signing_key(), "account key")?;
        signature::verify(
            &key,
            DEVICE_LIST_CONTEXT,
            &[&signed.list],
            &signed.signature,
            "device list",
        )?;
        let links = list
            .devices
            .iter()
            .map(DeviceLink::from_message)
            .collect::<Result<Vec<_>>>()?;
        check_devices(&account, list.version, &links)?;
        Ok(Self {
            signed: bytes.to_vec(),
            account,
            version: list.version,
            devices: links.iter().map(|link| link.card.clone()).collect(),
            links,
            issued_at: list.issued_at,
        })
    }

    /// The `SignedDeviceList` bytes, to publish and to give to [`DeviceList::from_bytes`].
    pub fn to_bytes(&self) -> Vec<u8> {
        self.signed.clone()
    }

    /// The account's card.
    pub fn account(&self) -> &Card {
        &self.account
    }

    /// The account's id.
    pub fn account_id(&self) -> AccountId {
        AccountId::of(&self.account)
    }

    /// The list's version: 1 for the first, one more for each change.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// When the account signed it, in seconds since the Unix epoch.
    pub fn issued_at(&self) -> u64 {
        self.issued_at
    }

    /// The devices' cards, in the order the account listed them.
    pub fn devices(&self) -> &[Card] {
        &self.devices
    }

    /// The devices' consents, in the order the account listed them: what a new list
    /// keeps of this one.
    pub fn links(&self) -> &[DeviceLink] {
        &self.links
    }

    /// The card of the device `device`, if the list holds it.
    pub fn device(&self, device: &DeviceId) -> Option<&Card> {
        self.devices
            .iter()
            .find(|card| DeviceId::of(card) == *device)
    }

    /// Whether the list holds exactly this card.
    pub fn contains(&self, card: &Card) -> bool {
        self.devices.iter().any(|listed| listed == card)
    }
}

impl core::fmt::Debug for DeviceList {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeviceList")
            .field("account", &self.account_id())
            .field("version", &self.version)
            .field(
                "devices",
                &self.devices.iter().map(DeviceId::of).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn check_devices(account: &Card, version: u64, devices: &[DeviceLink]) -> Result<()> {
    if version == 0 {
        return Err(Error::InvalidDeviceList {
            reason: "version 0: lists start at 1",
        });
    }
    if devices.len() > MAX_DEVICES {
        return Err(Error::TooMany {
            what: "DeviceList.devices",
            limit: MAX_DEVICES,
        });
    }
    if devices.is_empty() {
        return Err(Error::InvalidDeviceList {
            reason: "no device: a list names one at least",
        });
    }
    let account_id = AccountId::of(account);
    for (index, link) in devices.iter().enumerate() {
        let card = &link.card;
        if card.identity() != account.identity() {
            return Err(Error::InvalidDeviceList {
                reason: "a device card has another name than the account card",
            });
        }
        let id = DeviceId::of(card);
        if devices
            .iter()
            .take(index)
            .any(|earlier| DeviceId::of(&earlier.card) == id)
        {
            return Err(Error::InvalidDeviceList {
                reason: "a device is listed twice",
            });
        }
    }
    // The signatures last: the cheap checks above bound how many a hostile list costs.
    devices.iter().try_for_each(|link| link.verify(account_id))
}
