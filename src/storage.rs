//! Sealing saved state with a storage key (AES-256-GCM) for storage at rest, bound to the
//! kind of state and to the one object it is the state of.

use prost::Message;
use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::channel::{Channel, ChannelId};
use crate::crypto::aead::AeadKey;
use crate::error::{Error, Result};
use crate::group::Group;
use crate::identity::{Fingerprint, Identity, LockParams, PrekeyStore, LOCK_SALT_LEN};
use crate::wire::{self, state};

/// Context of the associated data of sealed state, a complete string: the kind of state and
/// the object's id follow it, each after its length in one byte, so a sealed identity never
/// opens as a channel, nor one channel's state as another's.
pub const SEALED_STATE_CONTEXT: &[u8] = b"ratchetkit/v2/sealed-state";

/// Hash context of a prekey store's id: the id is SHA-256 of this and the public key of the
/// store's first signed prekey (see [`PrekeyStoreId`]).
pub const PREKEY_STORE_ID_CONTEXT: &[u8] = b"ratchetkit/v2/prekey-store-id";

/// The `SealedState` format this crate writes and reads: 2. Version 1 bound the state to
/// its kind only; its sealed states are refused with `UnsupportedVersion`.
const SEALED_STATE_VERSION: u32 = 2;

/// Longest encoded `SealedState`, in bytes: the largest state
/// ([`MAX_GROUP_STATE_LEN`](crate::limits::MAX_GROUP_STATE_LEN)) plus 1 KiB for the nonce, tag and
/// framing. Checked before a sealed state is decoded or decrypted.
pub const MAX_SEALED_STATE_LEN: usize = crate::group::MAX_GROUP_STATE_LEN + 1024;

/// State that can be sealed with a [`StorageKey`]: a channel, a group, an identity, a
/// prekey store.
///
/// Each state names the object it belongs to with an [`Id`](SealableState::Id), which
/// sealing binds into the sealed bytes and [`StorageKey::open`] requires: key your storage
/// by it, and a state put in another object's place is refused.
///
/// | state | `Id` | from |
/// |---|---|---|
/// | [`Identity`] | [`Fingerprint`] | `identity.card().fingerprint()` |
/// | [`PrekeyStore`] | [`PrekeyStoreId`] | [`PrekeyStore::id`] |
/// | [`Channel`] | [`ChannelId`] | [`Channel::id`] |
/// | [`Group`] | [`GroupStateId`] | [`GroupStateId::new`]`(group.group_id(), group.me())` |
///
/// The trait is sealed: only this crate's state types implement it.
///
/// ```
/// use std::collections::HashMap;
/// use ratchetkit::{Identity, Result, SealableState, StorageKey};
///
/// /// An app's storage: sealed state under its kind and id.
/// struct Disk(HashMap<String, Vec<u8>>, StorageKey);
///
/// impl Disk {
///     fn save<S: SealableState>(&mut self, state: &S) -> Result<()> {
///         let sealed = self.1.seal(&mut rand::rng(), state)?;
///         self.0.insert(format!("{}/{}", S::KIND, state.state_id()), sealed);
///         Ok(())
///     }
///     fn load<S: SealableState>(&self, id: &S::Id) -> Option<Result<S>> {
///         let sealed = self.0.get(&format!("{}/{id}", S::KIND))?;
///         Some(self.1.open(sealed, id))
///     }
/// }
///
/// # let mut rng = rand::rng();
/// let mut disk = Disk(HashMap::new(), StorageKey::generate(&mut rng));
/// let alice = Identity::generate(&mut rng, "alice")?;
/// disk.save(&alice)?;
/// let loaded: Identity = disk.load(&alice.card().fingerprint()).expect("stored")?;
/// assert_eq!(loaded.card(), alice.card());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
pub trait SealableState: private::Sealed + Sized {
    /// The kind of state, bound into the sealed bytes.
    const KIND: &'static str;
    /// What names one object of this kind, bound into the sealed bytes. `Display` gives a
    /// name to store it under (lowercase hex).
    type Id: private::StateId
        + Clone
        + Eq
        + core::hash::Hash
        + core::fmt::Debug
        + core::fmt::Display;
    /// The id of the object this is the state of.
    fn state_id(&self) -> Self::Id;
    /// The unsealed serialization.
    fn state_bytes(&self) -> Zeroizing<Vec<u8>>;
    /// Loads the unsealed serialization.
    fn from_state_bytes(bytes: &[u8]) -> Result<Self>;
}

mod private {
    pub trait Sealed {}
    impl Sealed for crate::Channel {}
    impl Sealed for crate::Identity {}
    impl Sealed for crate::PrekeyStore {}
    impl Sealed for crate::Group {}

    /// The bytes of an id as the associated data of sealed state holds them.
    pub trait StateId {
        fn id_bytes(&self) -> Vec<u8>;
    }
}

impl private::StateId for Fingerprint {
    fn id_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl private::StateId for ChannelId {
    fn id_bytes(&self) -> Vec<u8> {
        self.as_bytes().to_vec()
    }
}

impl private::StateId for PrekeyStoreId {
    fn id_bytes(&self) -> Vec<u8> {
        self.0.to_vec()
    }
}

impl private::StateId for GroupStateId {
    /// The group id, then the 32-byte member key: the key's fixed length at the end keeps
    /// the two apart.
    fn id_bytes(&self) -> Vec<u8> {
        [self.group_id.as_slice(), &self.member].concat()
    }
}

macro_rules! sealable {
    ($ty:ty, $kind:literal, $id:ty, $state_id:path) => {
        impl SealableState for $ty {
            const KIND: &'static str = $kind;
            type Id = $id;
            fn state_id(&self) -> $id {
                $state_id(self)
            }
            fn state_bytes(&self) -> Zeroizing<Vec<u8>> {
                self.to_bytes()
            }
            fn from_state_bytes(bytes: &[u8]) -> Result<Self> {
                Self::from_bytes(bytes)
            }
        }
    };
}
sealable!(Channel, "channel", ChannelId, Channel::id);
sealable!(Identity, "identity", Fingerprint, identity_id);
sealable!(PrekeyStore, "prekey-store", PrekeyStoreId, PrekeyStore::id);
sealable!(Group, "group", GroupStateId, group_state_id);

fn identity_id(identity: &Identity) -> Fingerprint {
    identity.card().fingerprint()
}

fn group_state_id(group: &Group) -> GroupStateId {
    GroupStateId::new(group.group_id(), group.me())
}

/// The id of a [`PrekeyStore`]: 32 bytes fixed when the store is created, SHA-256 of
/// `"ratchetkit/v2/prekey-store-id"` || the public key of the store's first signed prekey,
/// and saved with it.
///
/// The signed prekey rotates, but the id stays. A store is not named by its owner's
/// fingerprint: it does not know its owner (the identity is given to each
/// [`PrekeyStore::bundle`]), and after a key rotation the rotated identity publishes bundles
/// from the same store. Keep the id beside your identity, and give it to
/// [`StorageKey::open`]. `Display` shows it as 64 lowercase hex digits.
///
/// ```
/// use ratchetkit::{PrekeyStore, StorageKey};
/// # let mut rng = rand::rng();
/// let mut prekeys = PrekeyStore::new(&mut rng);
/// let id = prekeys.id();
/// prekeys.rotate_signed_prekey(&mut rng);
/// assert_eq!(prekeys.id(), id);
///
/// let key = StorageKey::generate(&mut rng);
/// let sealed = key.seal(&mut rng, &prekeys)?;
/// let opened: PrekeyStore = key.open(&sealed, &id)?;
/// assert_eq!(opened.id(), id);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PrekeyStoreId([u8; 32]);

impl PrekeyStoreId {
    /// The id of a store whose first signed prekey has the public key `first_signed_prekey`.
    pub(crate) fn derive(first_signed_prekey: &[u8; 32]) -> Self {
        let mut hash = Sha256::new();
        hash.update(PREKEY_STORE_ID_CONTEXT);
        hash.update(first_signed_prekey);
        Self(hash.finalize().into())
    }
}

hex_name!(
    PrekeyStoreId,
    "A store id from its 32 raw bytes, for example as your storage kept it."
);

/// What names one member's [`Group`] state: the group's id and the member's Ed25519
/// identity key ([`Group::me`]).
///
/// Every member of a group keeps its own state of it, so the group id alone names several:
/// the member's key tells them apart. It is the key rather than the member's fingerprint
/// because a group knows its members by their keys, and a member that left or was removed
/// has no card in the roster any more. `Display` shows it as the group id in hex, a `-`,
/// and the key in hex.
///
/// ```
/// use std::collections::HashMap;
/// use ratchetkit::{Group, GroupStateId, Identity, StorageKey};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let (group, _) = Group::create(&mut rng, &alice, &[], &mut HashMap::new())?;
/// let id = GroupStateId::new(group.group_id(), alice.card().signing_key());
///
/// let key = StorageKey::generate(&mut rng);
/// let sealed = key.seal(&mut rng, &group)?;
/// let opened: Group = key.open(&sealed, &id)?;
/// assert_eq!(opened.group_id(), group.group_id());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupStateId {
    group_id: Vec<u8>,
    member: [u8; 32],
}

impl GroupStateId {
    /// The id of the state `member` (an Ed25519 identity key) keeps of the group
    /// `group_id` ([`Group::group_id`]).
    pub fn new(group_id: &[u8], member: [u8; 32]) -> Self {
        Self {
            group_id: group_id.to_vec(),
            member,
        }
    }

    /// The group's id.
    pub fn group_id(&self) -> &[u8] {
        &self.group_id
    }

    /// The member's Ed25519 identity key.
    pub fn member(&self) -> [u8; 32] {
        self.member
    }
}

impl core::fmt::Display for GroupStateId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}-{}",
            hex::encode(&self.group_id),
            hex::encode(self.member)
        )
    }
}

impl core::fmt::Debug for GroupStateId {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("GroupStateId")
            .field("group_id", &hex::encode(&self.group_id))
            .field("member", &hex::encode(self.member))
            .finish()
    }
}

/// Longest kind or id the associated data can hold: its length is one byte.
const MAX_AD_FIELD_LEN: usize = u8::MAX as usize;

/// The associated data of a sealed state: [`SEALED_STATE_CONTEXT`] || u8 len(kind) || kind
/// || u8 len(id) || id. The lengths make it prefix-free, so no other kind and id give the
/// same bytes.
fn associated_data(kind: &str, id: &[u8]) -> Result<Vec<u8>> {
    let too_large = Error::TooLarge {
        what: "sealed state kind or id",
        limit: MAX_AD_FIELD_LEN,
    };
    let kind_len = u8::try_from(kind.len()).map_err(|_| too_large.clone())?;
    let id_len = u8::try_from(id.len()).map_err(|_| too_large)?;
    let mut ad = Vec::with_capacity(SEALED_STATE_CONTEXT.len() + 2 + kind.len() + id.len());
    ad.extend_from_slice(SEALED_STATE_CONTEXT);
    ad.push(kind_len);
    ad.extend_from_slice(kind.as_bytes());
    ad.push(id_len);
    ad.extend_from_slice(id);
    Ok(ad)
}

/// A 32-byte key that seals saved state for storage at rest.
///
/// Sealed state is a `SealedState` protobuf (version 2): a random 12-byte nonce and the
/// AES-256-GCM encryption of the state, with associated data
/// `"ratchetkit/v2/sealed-state" || u8 len(kind) || kind || u8 len(id) || id`, where kind is
/// [`SealableState::KIND`] and id the bytes of the state's [`SealableState::Id`]. Opening
/// takes the id you expect, so a state sealed for another object, even of the same kind
/// and under the same key, is refused. The binding does not tell an older save of the
/// same object from the newest: guard against rollback in your storage if it matters.
///
/// ```
/// use ratchetkit::{Error, Identity, StorageKey};
/// # let mut rng = rand::rng();
/// let key = StorageKey::generate(&mut rng);
/// let alice = Identity::generate(&mut rng, "alice")?;
/// // Keep it under its id (here the card's fingerprint), and open it with that id.
/// let id = alice.card().fingerprint();
/// let sealed = key.seal(&mut rng, &alice)?;
/// let opened: Identity = key.open(&sealed, &id)?;
/// assert_eq!(opened.card(), alice.card());
///
/// // Another identity's sealed state, put in alice's place, is refused.
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let swapped = key.seal(&mut rng, &bob)?;
/// assert_eq!(key.open::<Identity>(&swapped, &id).err(), Some(Error::SealedStateRejected));
///
/// let wrong = StorageKey::generate(&mut rng);
/// assert!(wrong.open::<Identity>(&sealed, &id).is_err());
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StorageKey([u8; 32]);

impl StorageKey {
    /// A fresh random key.
    pub fn generate<R: CryptoRng + ?Sized>(rng: &mut R) -> Self {
        let mut key = [0u8; 32];
        rng.fill_bytes(&mut key);
        Self(key)
    }

    /// A key the app keeps elsewhere (for example in the platform keystore).
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The key Argon2id derives from `password`, `salt` and `params`, with the
    /// derivation of [`Identity::lock`] (its working memory is wiped afterwards). The
    /// same three give the same key, so keep the salt (random, made once per store) and
    /// the parameters beside the sealed state; the password is not kept. With
    /// [`LockParams::default`] it costs 64 MiB and a fraction of a second.
    /// The client layer's `SqliteStore::storage_key_from_password` keeps them for you.
    ///
    /// ```
    /// use ratchetkit::{LockParams, StorageKey};
    /// # let mut rng = rand::rng();
    /// let mut salt = [0u8; 16]; // ratchetkit::identity::LOCK_SALT_LEN
    /// rand::Rng::fill_bytes(&mut rng, &mut salt);
    /// let params = LockParams::default();
    /// let key = StorageKey::from_password(b"correct horse", &salt, &params)?;
    /// let alice = ratchetkit::Identity::generate(&mut rng, "alice")?;
    /// let sealed = key.seal(&mut rng, &alice)?;
    ///
    /// let again = StorageKey::from_password(b"correct horse", &salt, &params)?;
    /// assert!(again.open::<ratchetkit::Identity>(&sealed, &alice.card().fingerprint()).is_ok());
    /// let wrong = StorageKey::from_password(b"wrong", &salt, &params)?;
    /// assert!(wrong.open::<ratchetkit::Identity>(&sealed, &alice.card().fingerprint()).is_err());
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::KeyDerivationFailed`] if Argon2id's memory cannot be allocated;
    /// [`Error::InvalidState`] for parameters Argon2 does not allow (only possible for
    /// parameters read back from storage).
    pub fn from_password(
        password: &[u8],
        salt: &[u8; LOCK_SALT_LEN],
        params: &LockParams,
    ) -> Result<Self> {
        let key = params.derive_key(password, salt)?;
        Ok(Self(*key))
    }

    fn aead(&self, nonce: [u8; 12]) -> AeadKey {
        AeadKey::new(Zeroizing::new(self.0), nonce)
    }

    /// Seals `state`, bound to its kind and its [`state_id`](SealableState::state_id).
    ///
    /// # Errors
    /// None in practice: AES-GCM refuses only plaintexts over 64 GiB, and every id fits the
    /// associated data.
    pub fn seal<S: SealableState, R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        state: &S,
    ) -> Result<Vec<u8>> {
        use private::StateId;
        self.seal_record(
            rng,
            S::KIND,
            &state.state_id().id_bytes(),
            &state.state_bytes(),
        )
    }

    /// Opens state sealed by [`StorageKey::seal`], which must be the state of the object
    /// `id` names (the id you keep it under).
    ///
    /// # Errors
    /// [`Error::TooLarge`] for input over [`MAX_SEALED_STATE_LEN`] bytes, refused before it
    /// is decoded; [`Error::Decode`] / [`Error::UnsupportedVersion`] for a malformed
    /// envelope; [`Error::SealedStateRejected`] for a wrong key, another kind of state, the
    /// state of another object than `id`, or corrupted bytes; the errors of the state's
    /// `from_bytes` for a sealed state that opens but does not load.
    pub fn open<S: SealableState>(&self, sealed: &[u8], id: &S::Id) -> Result<S> {
        use private::StateId;
        let plaintext = self.open_record(sealed, S::KIND, &id.id_bytes())?;
        let opened = S::from_state_bytes(&plaintext)?;
        // The tag proves only which id the sealer named; anyone holding the key could have
        // named another than the state's own, and the check costs nothing.
        if opened.state_id() != *id {
            return Err(Error::SealedStateRejected);
        }
        Ok(opened)
    }
}

impl StorageKey {
    /// Seals one record of the client layer's store: `bytes` bound to the record's `kind`
    /// and `id` exactly as [`StorageKey::seal`] binds a state to its kind and id, so that a
    /// record never opens in another's place.
    pub(crate) fn seal_record<R: CryptoRng + ?Sized>(
        &self,
        rng: &mut R,
        kind: &str,
        id: &[u8],
        bytes: &[u8],
    ) -> Result<Vec<u8>> {
        let ad = associated_data(kind, id)?;
        let mut nonce = [0u8; 12];
        rng.fill_bytes(&mut nonce);
        let ciphertext = self.aead(nonce).encrypt(&ad, bytes)?;
        Ok(state::SealedState {
            version: SEALED_STATE_VERSION,
            nonce: nonce.to_vec(),
            ciphertext,
        }
        .encode_to_vec())
    }

    /// Opens a record sealed by [`StorageKey::seal_record`] under this `kind` and `id`.
    pub(crate) fn open_record(
        &self,
        sealed: &[u8],
        kind: &str,
        id: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        if sealed.len() > MAX_SEALED_STATE_LEN {
            return Err(Error::TooLarge {
                what: "SealedState",
                limit: MAX_SEALED_STATE_LEN,
            });
        }
        let envelope: state::SealedState = wire::decode(sealed, "SealedState")?;
        wire::check_version_is(envelope.version, SEALED_STATE_VERSION, "SealedState")?;
        let nonce = wire::fixed::<12>(&envelope.nonce, "sealed state nonce")?;
        let ad = associated_data(kind, id).map_err(|_| Error::SealedStateRejected)?;
        self.aead(nonce)
            .decrypt(&ad, &envelope.ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| Error::SealedStateRejected)
    }
}

impl core::fmt::Debug for StorageKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StorageKey(..)")
    }
}
