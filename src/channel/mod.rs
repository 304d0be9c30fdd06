//! One-to-one ratchet channels: a hybrid start (X3DH's X25519 agreements and ML-KEM-768,
//! PQXDH-style), then the Double Ratchet.

mod chains;
#[cfg(fuzzing)]
mod fuzzing;
mod handshake;
mod message;
mod ratchet;
mod state;

pub use handshake::{ChannelId, CHANNEL_ID_CONTEXT, PQXDH_INFO};
pub use message::{PREKEY_INFO_CONTEXT, PROTOCOL_VERSION};

use rand::CryptoRng;
use zeroize::Zeroizing;

use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::kem::KemCiphertext;
use crate::crypto::padding::Padding;
use crate::error::{Error, Result};
use crate::identity::{Card, Identity, PrekeyBundle, PrekeyStore};
use crate::wire::v1;
use handshake::{UsedPrekeys, AD_LEN};
use message::{prekey_info_hash, Content, Incoming};
use ratchet::{Attached, DoubleRatchet};

/// HKDF info that turns a message key (with the message's salt) into an AES-256-GCM key
/// and nonce.
pub const MESSAGE_INFO: &[u8] = b"ratchetkit/v2/message";

pub use crate::crypto::chain::{MESSAGE_SALT_LEN, ROOT_INFO};
pub use crate::crypto::kem::KEM_CIPHERTEXT_LEN;
pub use crate::crypto::padding::MIN_PADDED_LEN;

/// Largest number of message keys one incoming message may make a chain skip: 2,000.
///
/// A message that far ahead means that many were lost or are still in flight. Beyond it the
/// message is rejected with [`Error::TooFarAhead`] and the channel is unchanged. The bound
/// caps the work a single (possibly forged) message can cause before authentication: at
/// most two chains of 2,000 HMAC steps, about a millisecond.
pub const MAX_MESSAGE_GAP: u32 = 2_000;

/// Most skipped message keys a channel keeps, over all chains: 2,000. When more are
/// skipped, the oldest are dropped, and their messages then fail with
/// [`Error::Duplicate`]. At about 73 bytes a key, this caps them near 150 KB of state.
pub const MAX_SKIPPED_KEYS: usize = 2_000;

/// How many ended receiving chains a channel remembers: 2. A replay of a message on a
/// remembered chain is reported as [`Error::Duplicate`]; on an older one (a copy delayed
/// by more than two round trips) it fails with [`Error::AuthenticationFailed`] instead, a
/// rejection all the same. Late messages on ended chains still decrypt: their keys live
/// in the skipped keys whatever this limit. Each remembered chain costs 15 bytes of state,
/// and two keep an established channel's state under 400 bytes.
pub const MAX_ENDED_CHAINS: usize = 2;

/// Longest plaintext a channel message may carry, in bytes: 4 MiB. Larger content belongs in
/// a sealed stream ([`seal_stream`](crate::seal_stream)); the bound lets a receiver refuse an
/// oversized message before it decodes or decrypts anything.
pub const MAX_PLAINTEXT_LEN: usize = 4 * 1024 * 1024;

/// Longest encoded `ChannelMessage`, first messages included, in bytes: 4 MiB + 144 KiB.
/// A plaintext of at most [`MAX_PLAINTEXT_LEN`] bytes padded (Padmé adds up to 128 KiB at
/// that size), its 16-byte tag, a header of under 70 bytes and, on first messages, prekey
/// information with a card of at most [`MAX_CARD_LEN`](crate::limits::MAX_CARD_LEN) bytes
/// and a 1,088-byte ML-KEM ciphertext fit in the last 16 KiB.
pub const MAX_CHANNEL_MESSAGE_LEN: usize = Padding::Padme.padded_len(MAX_PLAINTEXT_LEN) + 16 * 1024;

/// Longest saved `ChannelState`, in bytes: 1 MiB. A channel holds at most
/// [`MAX_SKIPPED_KEYS`] skipped keys of about 80 bytes each, [`MAX_ENDED_CHAINS`] ended
/// chains and its prekey information (160 KB at most); checked before decoding.
pub const MAX_CHANNEL_STATE_LEN: usize = 1024 * 1024;

/// Which side of the channel this is, with what only that side keeps.
#[derive(Clone, Debug)]
enum Role {
    /// The creator. Its first sending chain's messages carry the prekey information, until
    /// a reply decrypts (after which it never sends on that chain again).
    Initiator { pending: Option<PendingPrekey> },
    /// The joiner. Prekey information is authenticated with the messages that carry it, so
    /// the joiner needs to keep nothing of it.
    Responder,
}

/// The prekey information the creator attaches, with its hash (part of the associated
/// data), computed once.
#[derive(Clone, Debug)]
struct PendingPrekey {
    info: v1::PrekeyInfo,
    hash: [u8; 32],
}

impl PendingPrekey {
    fn new(info: v1::PrekeyInfo) -> Self {
        Self {
            hash: prekey_info_hash(&info),
            info,
        }
    }
}

/// An end-to-end encrypted one-to-one channel.
///
/// The creator calls [`Channel::create`] with the peer's [`PrekeyBundle`]; the peer calls
/// [`Channel::join`] with the first message it receives. Both then [`encrypt`](Channel::encrypt)
/// and [`decrypt`](Channel::decrypt) bytes, in any order, with messages lost, late,
/// duplicated or reordered within the documented limits ([`MAX_MESSAGE_GAP`],
/// [`MAX_SKIPPED_KEYS`], [`MAX_ENDED_CHAINS`]).
///
/// Every method that fails leaves the channel exactly as it was.
///
/// ```
/// use ratchetkit::{Channel, Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// let bundle = bob_prekeys.bundle(&bob, None)?;
///
/// let mut to_bob = Channel::create(&mut rng, &alice, &bundle)?;
/// let first = to_bob.encrypt(&mut rng, b"hello bob")?;
///
/// let joined = Channel::join(&bob, &mut bob_prekeys, &first)?;
/// assert_eq!(joined.plaintext(), b"hello bob");
/// assert_eq!(joined.peer().identity(), "alice");
/// let mut to_alice = joined.into_channel();
///
/// let reply = to_alice.encrypt(&mut rng, b"hi alice")?;
/// assert_eq!(to_bob.decrypt(&reply)?, b"hi alice");
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone)]
pub struct Channel {
    id: ChannelId,
    associated_data: [u8; AD_LEN],
    role: Role,
    padding: Padding,
    ratchet: DoubleRatchet,
}

/// What [`Channel::join`] returns: the channel, the first message's plaintext (or group
/// control), and the creator's verified card (check it against your directory before
/// trusting the peer). Its `Debug` leaves the plaintext out.
///
/// Read it with the accessors, then keep the channel with [`Joined::into_channel`] (or take
/// everything with [`Joined::into_parts`]):
///
/// ```
/// use ratchetkit::{Channel, Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// # let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// # let mut to_bob = Channel::create(&mut rng, &alice, &bob_prekeys.bundle(&bob, None)?)?;
/// # let first = to_bob.encrypt(&mut rng, b"hello bob")?;
/// let joined = Channel::join(&bob, &mut bob_prekeys, &first)?;
/// assert_eq!(joined.plaintext(), b"hello bob");
/// assert_eq!(joined.peer().identity(), "alice");
/// assert!(joined.group_control().is_none());
/// let to_alice: Channel = joined.into_channel();
/// # let _ = to_alice;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[non_exhaustive]
pub struct Joined {
    channel: Channel,
    plaintext: Vec<u8>,
    peer: Card,
    group_control: Option<JoinedControl>,
}

impl Joined {
    /// The new channel.
    pub fn channel(&self) -> &Channel {
        &self.channel
    }

    /// The new channel, to encrypt a reply before the rest is read.
    pub fn channel_mut(&mut self) -> &mut Channel {
        &mut self.channel
    }

    /// The plaintext of the message the channel was joined with; empty when the message
    /// was group control.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// The creator's card, as carried in the message (self-signature verified, nothing
    /// more: check it against your directory before trusting the peer).
    pub fn peer(&self) -> &Card {
        &self.peer
    }

    /// Group control the channel started with (a group's members send it on a channel's
    /// first messages rather than wait for a reply): put the channel with the others,
    /// then give it to [`Group::join_control`](crate::Group::join_control) or
    /// [`Group::receive_control`](crate::Group::receive_control).
    pub fn group_control(&self) -> Option<&JoinedControl> {
        self.group_control.as_ref()
    }

    /// The channel, for the app to keep; the rest is dropped.
    pub fn into_channel(self) -> Channel {
        self.channel
    }

    /// Everything, owned: the channel, the plaintext, the creator's card and the group
    /// control, in that order.
    pub fn into_parts(self) -> (Channel, Vec<u8>, Card, Option<JoinedControl>) {
        (self.channel, self.plaintext, self.peer, self.group_control)
    }
}

/// Group control that arrived in a channel's first message, before any reply, so that
/// [`Channel::join`] decrypted it: give it to [`Group::join_control`] or
/// [`Group::receive_control`] once the joined channel is with the app's other channels.
///
/// It may hold a sender key: it is wiped when dropped, and its `Debug` shows only the
/// sender.
///
/// [`Group::join_control`]: crate::Group::join_control
/// [`Group::receive_control`]: crate::Group::receive_control
#[derive(Clone)]
pub struct JoinedControl {
    pub(crate) from: [u8; 32],
    plaintext: Zeroizing<Vec<u8>>,
}

impl JoinedControl {
    pub(crate) fn new(from: [u8; 32], plaintext: Zeroizing<Vec<u8>>) -> Self {
        Self { from, plaintext }
    }

    /// The Ed25519 identity key of the member who sent it (the channel's peer).
    pub fn from(&self) -> [u8; 32] {
        self.from
    }

    /// The group it belongs to.
    ///
    /// # Errors
    /// [`Error::Decode`] / [`Error::UnsupportedVersion`] for control that is not valid.
    pub fn group_id(&self) -> Result<Vec<u8>> {
        crate::group::control_group_id(&self.plaintext)
    }

    pub(crate) fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }
}

impl core::fmt::Debug for Joined {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Joined")
            .field("channel", &self.channel)
            .field("plaintext_len", &self.plaintext.len())
            .field("peer", &self.peer)
            .field("group_control", &self.group_control)
            .finish()
    }
}

impl core::fmt::Debug for JoinedControl {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("JoinedControl")
            .field("from", &hex::encode(self.from))
            .finish_non_exhaustive()
    }
}

impl Channel {
    /// Starts a channel to the owner of `bundle`, with the hybrid start: X3DH's X25519
    /// agreements and an ML-KEM-768 encapsulation to the bundle's one-time prekey (or, when
    /// it has none, its signed prekey), so that the channel stays secret unless both
    /// X25519 and ML-KEM are broken.
    ///
    /// The bundle was verified when it was parsed. Until a reply has been decrypted, every
    /// message carries what the peer needs to join, so losing the first one breaks nothing.
    ///
    /// # Errors
    /// [`Error::NonContributoryKey`] if a key in the bundle is a low-order point.
    pub fn create<R: CryptoRng + ?Sized>(
        rng: &mut R,
        identity: &Identity,
        bundle: &PrekeyBundle,
    ) -> Result<Self> {
        let ephemeral = AgreementKeyPair::generate(rng);
        let (keys, kem_ciphertext) = handshake::initiate(rng, identity, &ephemeral, bundle)?;
        let associated_data = handshake::associated_data(identity.card(), bundle.card());
        let id = handshake::channel_id(&associated_data, &ephemeral.public());
        Ok(Self {
            id,
            associated_data,
            role: Role::Initiator {
                pending: Some(PendingPrekey::new(v1::PrekeyInfo {
                    initiator_card: identity.card().to_bytes(),
                    signed_prekey_id: bundle.signed_prekey_id(),
                    one_time_prekey_id: bundle.one_time_prekey_id(),
                    kem_ciphertext: kem_ciphertext.as_bytes().to_vec(),
                })),
            },
            padding: Padding::default(),
            ratchet: DoubleRatchet::initiator(keys, ephemeral),
        })
    }

    /// Joins the channel that `first_message` starts. Only once the message has
    /// authenticated does the store change: it remembers the channel (by its id, with the
    /// signed prekey), so that a replay of its first messages is refused, and consumes the
    /// one-time prekey it used, if any. A forged message burns nothing.
    ///
    /// If you already hold a channel with this peer, give later messages to
    /// [`Channel::decrypt`] instead: it recognizes duplicates of the first messages.
    ///
    /// # Errors
    /// [`Error::NotAPrekeyMessage`] for a message without prekey information, card errors
    /// for a bad initiator card, [`Error::UnknownSignedPrekey`] /
    /// [`Error::UnknownOneTimePrekey`] for prekeys not (or no longer) in `prekeys` (a
    /// one-time prekey is gone once it started a channel),
    /// [`Error::ReplayedFirstMessage`] for a first message of a channel this signed
    /// prekey started before, [`Error::SignedPrekeyExhausted`] when the signed prekey has
    /// started [`MAX_JOINS_PER_SIGNED_PREKEY`](crate::limits::MAX_JOINS_PER_SIGNED_PREKEY)
    /// channels, [`Error::InvalidLength`] for a KEM ciphertext of
    /// the wrong size, and every error of [`Channel::decrypt`]: any change to the prekey
    /// information in transit fails with [`Error::AuthenticationFailed`] or a card error.
    /// On error `prekeys` is unchanged.
    pub fn join(
        identity: &Identity,
        prekeys: &mut PrekeyStore,
        first_message: &[u8],
    ) -> Result<Joined> {
        let mut incoming = Incoming::parse(first_message)?;
        let prekey = incoming.prekey.take().ok_or(Error::NotAPrekeyMessage)?;
        let peer = Card::from_bytes(&prekey.initiator_card)?;
        let kem_ciphertext = KemCiphertext::from_bytes(&prekey.kem_ciphertext)?;
        // The creator's ephemeral key is the ratchet key of its first chain.
        let ephemeral_key = incoming.ratchet_key;
        let associated_data = handshake::associated_data(&peer, identity.card());
        let id = handshake::channel_id(&associated_data, &ephemeral_key);
        prekeys.check_join(prekey.signed_prekey_id, &id)?;
        let found = prekeys.find(prekey.signed_prekey_id, prekey.one_time_prekey_id)?;
        let keys = handshake::respond(
            identity,
            &peer,
            &ephemeral_key,
            &UsedPrekeys {
                signed: found.signed,
                one_time: found.one_time,
                kem: found.kem,
            },
            &kem_ciphertext,
        )?;
        let new_chain = DoubleRatchet::first_chain(keys, &incoming)?;
        let plaintext = ratchet::open(
            &new_chain.message_key,
            &incoming.salt,
            &message::associated_data(
                &associated_data,
                incoming.prekey_hash.as_ref(),
                &incoming.header,
            ),
            core::mem::take(&mut incoming.ciphertext),
        )?;

        // Group control is handed to the group, never to the app as a message; control
        // that does not parse fails the join before it changes the store.
        let (plaintext, group_control) = match incoming.content {
            Content::Application => (plaintext, None),
            Content::GroupControl => {
                let control = JoinedControl::new(peer.signing_key(), Zeroizing::new(plaintext));
                control.group_id()?;
                (Vec::new(), Some(control))
            }
        };
        prekeys.record_join(prekey.signed_prekey_id, prekey.one_time_prekey_id, &id);
        let channel = Self {
            id,
            associated_data,
            role: Role::Responder,
            padding: Padding::default(),
            ratchet: DoubleRatchet::responder(new_chain),
        };
        Ok(Joined {
            channel,
            plaintext,
            peer,
            group_control,
        })
    }

    /// Encrypts `plaintext` into a `ChannelMessage` for the peer, padded (see
    /// [`Channel::set_padding`]) and under a key and nonce drawn fresh from `rng` and the
    /// chain.
    ///
    /// Save the channel after encrypting and before sending. Restoring an older save is
    /// safe (every message has its own random salt, so no key and nonce are used twice),
    /// but the restored channel numbers its next messages as the lost ones were numbered,
    /// and a peer that received those drops the new ones as [`Error::Duplicate`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] for a plaintext over [`MAX_PLAINTEXT_LEN`] (send it as a sealed
    /// stream); [`Error::ChainExhausted`] after 2^32 - 1 messages without a reply;
    /// [`Error::NonContributoryKey`] if the peer's ratchet key is a low-order point.
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        self.encrypt_content(rng, plaintext, Content::Application)
    }

    /// Encrypts a serialized `GroupControl` for the peer. Only the group module calls this.
    ///
    /// Control may start a channel: its joiner hands it to the group
    /// ([`Joined::group_control`]), so nobody waits for a reply before sending keys.
    pub(crate) fn encrypt_group_control<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        control: &[u8],
    ) -> Result<Vec<u8>> {
        self.encrypt_content(rng, control, Content::GroupControl)
    }

    fn encrypt_content<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
        content: Content,
    ) -> Result<Vec<u8>> {
        if plaintext.len() > MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                what: "plaintext",
                limit: MAX_PLAINTEXT_LEN,
            });
        }
        let prekey = match &self.role {
            Role::Initiator {
                pending: Some(pending),
            } => Some(Attached {
                prekey: &pending.info,
                hash: &pending.hash,
            }),
            _ => None,
        };
        self.ratchet.encrypt(
            rng,
            &self.associated_data,
            plaintext,
            self.padding,
            content,
            prekey,
        )
    }

    /// Decrypts a `ChannelMessage` from the peer. On any error the channel is unchanged.
    ///
    /// # Errors
    /// [`Error::Decode`] / [`Error::UnsupportedVersion`] / [`Error::InvalidLength`] for
    /// malformed input, [`Error::Duplicate`] for a message already decrypted,
    /// [`Error::TooFarAhead`] beyond [`MAX_MESSAGE_GAP`], [`Error::PrekeyInfoMismatch`]
    /// on the creator's side for a message that carries prekey information (only the
    /// creator attaches it), [`Error::AuthenticationFailed`] for anything tampered with
    /// (prekey information included), forged, or meant for another channel,
    /// [`Error::BadPadding`] for an authenticated plaintext without the protocol's
    /// padding, and
    /// [`Error::GroupControlMessage`] for a group's control message, which only
    /// [`Group::receive`](crate::Group::receive) or [`Group::join`](crate::Group::join)
    /// read.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Vec<u8>> {
        let incoming = Incoming::parse(message)?;
        match incoming.content {
            Content::Application => self.decrypt_incoming(incoming),
            Content::GroupControl => {
                // Authenticate on a copy so the group id in the error is genuine.
                let control = Zeroizing::new(self.clone().decrypt_incoming(incoming)?);
                Err(Error::GroupControlMessage {
                    group_id: crate::group::control_group_id(&control)?,
                })
            }
        }
    }

    /// Decrypts a group control message; on any error the channel is unchanged.
    pub(crate) fn decrypt_group_control(&mut self, message: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let incoming = Incoming::parse(message)?;
        if incoming.content != Content::GroupControl {
            return Err(Error::NotGroupControl);
        }
        self.decrypt_incoming(incoming).map(Zeroizing::new)
    }

    fn decrypt_incoming(&mut self, mut incoming: Incoming) -> Result<Vec<u8>> {
        // Only the creator attaches prekey information: a message to it that carries some
        // is refused before any work (it would fail to authenticate anyway).
        if matches!(self.role, Role::Initiator { .. }) && incoming.prekey.is_some() {
            return Err(Error::PrekeyInfoMismatch);
        }
        let plaintext = self.ratchet.decrypt(&self.associated_data, &mut incoming)?;
        if let Role::Initiator { pending } = &mut self.role {
            *pending = None;
        }
        Ok(plaintext)
    }

    /// How this side pads what it sends (Padmé unless changed).
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// Sets how this side pads what it sends from now on; it is saved with the channel.
    /// The peer reads any padding, whatever its own setting.
    ///
    /// ```
    /// use ratchetkit::{Channel, Identity, Padding, PrekeyStore};
    /// # let mut rng = rand::rng();
    /// # let alice = Identity::generate(&mut rng, "alice")?;
    /// # let bob = Identity::generate(&mut rng, "bob")?;
    /// # let bundle = PrekeyStore::new(&mut rng).bundle(&bob, None)?;
    /// let mut to_bob = Channel::create(&mut rng, &alice, &bundle)?;
    /// to_bob.encrypt(&mut rng, b"hello")?;
    /// let padded = to_bob.encrypt(&mut rng, b"yes")?;
    /// to_bob.set_padding(Padding::Minimal);
    /// let unpadded = to_bob.encrypt(&mut rng, b"yes")?;
    /// // Padmé pads "yes" to 32 bytes; minimal padding adds one.
    /// assert_eq!(padded.len() - unpadded.len(), 32 - 4);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn set_padding(&mut self, padding: Padding) {
        self.padding = padding;
    }

    /// The channel's id, the same on both sides (see [`ChannelId`]): keep the channel's
    /// sealed state under it, and give it to [`StorageKey::open`](crate::StorageKey::open).
    pub fn id(&self) -> ChannelId {
        self.id
    }

    /// The peer's Ed25519 identity key, as on its card.
    pub fn peer_signing_key(&self) -> [u8; 32] {
        let offset = match self.role {
            Role::Initiator { .. } => 64,
            Role::Responder => 0,
        };
        let mut key = [0u8; 32];
        if let Some(bytes) = self.associated_data.get(offset..offset + 32) {
            key.copy_from_slice(bytes);
        }
        key
    }

    /// Whether this side created the channel ([`Channel::create`]) rather than joined it.
    pub fn is_creator(&self) -> bool {
        matches!(self.role, Role::Initiator { .. })
    }

    /// Whether this side created the channel and has not yet decrypted a reply: its
    /// messages still carry the prekey information the peer needs to join.
    pub fn awaiting_reply(&self) -> bool {
        matches!(self.role, Role::Initiator { pending: Some(_) })
    }

    /// How many skipped message keys the channel holds (at most [`MAX_SKIPPED_KEYS`]).
    pub fn skipped_keys(&self) -> usize {
        self.ratchet.skipped.len()
    }
}

/// What a `ChannelMessage` says of itself before it is decrypted: unauthenticated, for
/// routing only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ChannelPeek {
    /// The Ed25519 key of the creator's card, when the message carries prekey information
    /// (it can start a channel).
    pub(crate) creator_key: Option<[u8; 32]>,
    /// Whether the header marks the content as group control.
    pub(crate) group_control: bool,
}

/// Parses a `ChannelMessage` as [`Channel::decrypt`] does, and reads its routing
/// information without decrypting it.
pub(crate) fn peek(message: &[u8]) -> Result<ChannelPeek> {
    let incoming = Incoming::parse(message)?;
    let creator_key = match &incoming.prekey {
        Some(prekey) => Some(Card::from_bytes(&prekey.initiator_card)?.signing_key()),
        None => None,
    };
    Ok(ChannelPeek {
        creator_key,
        group_control: incoming.content == Content::GroupControl,
    })
}

impl core::fmt::Debug for Channel {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Channel")
            .field("peer_signing_key", &hex::encode(self.peer_signing_key()))
            .field("initiator", &matches!(self.role, Role::Initiator { .. }))
            .field("skipped_keys", &self.skipped_keys())
            .finish_non_exhaustive()
    }
}
