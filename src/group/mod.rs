//! Group chats on sender keys (group protocol version 2), with an owner-signed roster,
//! member add and remove, leave, rekey, resync and ownership transfer.
//!
//! Every member has its own sender key per group: an epoch, a KDF chain and an Ed25519
//! signing key pair for that epoch. A message costs one encryption and one signature
//! whatever the group's size. Each message carries a random salt its AES key and nonce are
//! derived with, so a member restored from an older save never encrypts twice under one
//! key and nonce, and its plaintext is padded ([`Group::set_padding`]). Sender keys and roster changes travel only as group
//! control over the members' one-to-one [`Channel`](crate::Channel)s, which the group
//! takes from the app through [`Channels`]; it returns the channel messages to deliver
//! as [`Outgoing`]. The group id is a hash of its founder's identity key, so nobody else
//! can make a group under it, and rosters are accepted only from the owner's own channel.
//!
//! | who | can read |
//! |---|---|
//! | a new member | what the owner sends from the welcome on, and each other member's messages from when that member's key arrives |
//! | a removed member (or one that left) | nothing sent under the epochs the remaining members move to when they process its removal |
//! | a thief of a member's state | that member's messages until its next rekey, the others' until their next rekey |
//!
//! The threat model, with the test behind each line, is in docs/PROTOCOL.md, section 6.6.

mod control;
mod membership;
mod message;
mod pending;
mod processing;
mod roster;
mod sender_key;
mod state;

pub(crate) use control::control_group_id;
pub use control::{Channels, JoinedControl, Outgoing};

use std::collections::BTreeMap;

use ed25519_dalek::VerifyingKey;
use rand::CryptoRng;

use crate::crypto::padding::Padding;
use crate::crypto::signature;
use crate::error::{Error, Party, Result};
use crate::identity::{Card, Fingerprint};
use crate::wire;
use message::IncomingGroupMessage;
use pending::Pending;
use roster::Roster;
use sender_key::{SenderChains, SenderKey};

/// HKDF info that turns a group message key into an AES-256-GCM key and nonce.
pub const GROUP_MESSAGE_INFO: &[u8] = b"ratchetkit/v2/group-message";

/// Signature context of a group message: Ed25519 by the sender's epoch key over
/// `"ratchetkit/v2/group-signature" || be32(len(header)) || header || ciphertext`.
pub const GROUP_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/group-signature";

/// Signature context of a roster: Ed25519 by the owner's identity key over
/// `"ratchetkit/v2/group-roster" || roster`.
pub const ROSTER_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/group-roster";

/// Signature context of an ownership transfer: Ed25519 by the previous owner's identity
/// key over `"ratchetkit/v2/group-transfer" || group_id || be64(version) || new_owner`.
pub const OWNER_TRANSFER_CONTEXT: &[u8] = b"ratchetkit/v2/group-transfer";

/// Hash context of a group id: `SHA-256("ratchetkit/v2/group-id" || founder || salt)`.
pub const GROUP_ID_CONTEXT: &[u8] = b"ratchetkit/v2/group-id";

/// What a group message's bad signature is reported as ([`Error::BadSignature`]).
const GROUP_MESSAGE_SIGNED: &str = "group message";

/// Version of the `GroupMessage` and `GroupControl` formats, and of saved groups: 2.
pub const GROUP_VERSION: u32 = 2;

/// Length of a group id: 32 bytes, a SHA-256 output (see [`GROUP_ID_CONTEXT`]).
pub const GROUP_ID_LEN: usize = 32;

/// Length of the founder's random salt in a group id: 16 bytes, so that one founder's
/// groups never share an id.
pub const GROUP_SALT_LEN: usize = 16;

/// Most changes of owner a roster may carry: 64. Every roster carries the whole chain
/// from the founder (about 140 bytes a transfer), and a joiner verifies one signature per
/// transfer, so the chain bounds both; a group handed over more often is re-founded.
pub const MAX_OWNER_TRANSFERS: usize = 64;

/// How often a member answers one other member's resync requests before its own roster
/// version or epoch changes: 3. A reply may carry the whole roster (about 200 bytes a
/// member), so this bounds what a member that keeps asking can make others send, while
/// a request or reply lost on the way can still be asked again twice.
pub const MAX_RESYNC_REPLIES: u32 = 3;

/// Most controls kept for one member that the app has no channel to: 8, each about 150
/// bytes (a roster is not kept: the current one is sent). Beyond it the oldest go; a
/// member that misses one asks again with [`Group::resync`].
pub const MAX_PENDING_CONTROLS: usize = 8;

/// Most members a group may have: 1,000. Every roster change is a message of about 200
/// bytes per member, and a removal makes each member send its new key over one channel
/// per member, so the roster size bounds both.
pub const MAX_GROUP_MEMBERS: usize = 1_000;

/// How many removed members a member remembers: 1,000, the most a group may have, each
/// with the signing keys of its kept epochs (about 150 bytes). A message such a member
/// signed, or its control, is refused with [`Error::RemovedGroupMember`], which an app
/// drops for good; once more members than this were removed since, the oldest are
/// forgotten and their messages get the less definite [`Error::NotGroupMember`].
pub const MAX_REMOVED_MEMBERS: usize = 1_000;

/// How many epochs of each sender a member keeps: 3, the current one and the two before.
/// Messages sent just before a sender's rekey may arrive after its new key; they still
/// decrypt while their epoch is kept. An epoch costs about 80 bytes of state.
pub const MAX_SENDER_EPOCHS: usize = 3;

/// Largest number of message keys one group message may make a sender chain skip: 2,000,
/// as for channels. Beyond it [`Error::TooFarAhead`]; the work a forged message could
/// cause is bounded anyway, since the signature is checked before any chain step.
pub const MAX_GROUP_MESSAGE_GAP: u32 = 2_000;

/// Most skipped message keys a member keeps per sender, over that sender's epochs: 2,000.
/// The oldest are dropped first, and their messages then fail with [`Error::Duplicate`].
/// A key costs about 45 bytes of state.
pub const MAX_GROUP_SKIPPED_KEYS: usize = 2_000;

/// Longest encoded `GroupMessage`, in bytes: 4 MiB + 129 KiB, a plaintext of
/// [`MAX_PLAINTEXT_LEN`](crate::limits::MAX_PLAINTEXT_LEN) padded with [`Padding::Padme`]
/// (4 MiB + 128 KiB) plus 1 KiB for the header, tag and signature. Checked before a group
/// message is decoded.
pub const MAX_GROUP_MESSAGE_LEN: usize =
    Padding::Padme.padded_len(crate::channel::MAX_PLAINTEXT_LEN) + 1024;

/// Longest encoded `SignedRoster`, in bytes: 1 MiB. A roster of [`MAX_GROUP_MEMBERS`]
/// members with genuine cards (under 700 bytes each) fits; a hostile roster costs at most
/// this before its signature is checked.
pub const MAX_ROSTER_LEN: usize = 1024 * 1024;

/// Longest encoded `GroupControl`, in bytes: 2 MiB: a roster of at most [`MAX_ROSTER_LEN`]
/// bytes, its owner transfers, a sender key and a request or offer. A control is the
/// plaintext of a channel message, so it is also under
/// [`MAX_PLAINTEXT_LEN`](crate::limits::MAX_PLAINTEXT_LEN).
pub const MAX_GROUP_CONTROL_LEN: usize = 2 * 1024 * 1024;

/// Longest saved `GroupState`, in bytes: 128 MiB. The worst genuine state is a roster of
/// at most [`MAX_ROSTER_LEN`] and [`MAX_GROUP_MEMBERS`] senders each holding
/// [`MAX_GROUP_SKIPPED_KEYS`] skipped keys of about 46 bytes (92 MB), with up to
/// [`MAX_PENDING_CONTROLS`] waiting controls per member; a state this crate writes must
/// always load again, so the bound covers it.
pub const MAX_GROUP_STATE_LEN: usize = 128 * 1024 * 1024;

/// The group id and the sender of a `GroupMessage`, parsed strictly as
/// [`Group::decrypt`] does but not authenticated: where to route it, never whom to believe.
pub(crate) fn peek_message(message: &[u8]) -> Result<([u8; GROUP_ID_LEN], [u8; 32])> {
    let incoming = IncomingGroupMessage::parse(message)?;
    Ok((
        wire::fixed(&incoming.group_id, "group id")?,
        incoming.sender,
    ))
}

/// One member's view of a group: the roster, its own sender key, and the sender keys of
/// the other members.
///
/// Every method that fails leaves the group, and every channel it was given, exactly as
/// they were.
///
/// ```
/// use std::collections::HashMap;
/// use ratchetkit::{Channel, Group, Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
/// let (a, b) = (alice.card().signing_key(), bob.card().signing_key());
///
/// // A group travels over channels between its members.
/// let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// let mut to_bob = Channel::create(&mut rng, &alice, &bob_prekeys.bundle(&bob, None)?)?;
/// let hello = to_bob.encrypt(&mut rng, b"hello")?;
/// let to_alice = Channel::join(&bob, &mut bob_prekeys, &hello)?.into_channel();
/// let mut alice_channels = HashMap::from([(b, to_bob)]);
/// let mut bob_channels = HashMap::from([(a, to_alice)]);
///
/// // Alice creates the group; the welcome travels over her channel to Bob.
/// let (mut alice_group, welcome) =
///     Group::create(&mut rng, &alice, &[bob.card().clone()], &mut alice_channels)?;
/// let (mut bob_group, joined) =
///     Group::join(&mut rng, &bob, &mut bob_channels, &a, welcome.outgoing()[0].message())?;
/// // Bob's sender key goes back to Alice.
/// alice_group.receive(&mut rng, &mut alice_channels, &b, joined.outgoing()[0].message())?;
///
/// let message = alice_group.encrypt(&mut rng, b"hello group")?;
/// assert_eq!(bob_group.decrypt(&message)?.plaintext(), b"hello group");
/// let reply = bob_group.encrypt(&mut rng, b"hi all")?;
/// assert_eq!(alice_group.decrypt(&reply)?.sender(), b);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone)]
pub struct Group {
    /// This member's identity key.
    me: [u8; 32],
    roster: Roster,
    /// Absent once this member was removed or left.
    own: Option<SenderKey>,
    /// The other members' sender keys; only roster members have an entry.
    senders: BTreeMap<[u8; 32], SenderChains>,
    /// Control waiting for a channel, by member.
    pending: BTreeMap<[u8; 32], Pending>,
    /// Resync replies sent to each member since the roster or this member's epoch changed.
    resync_replies: BTreeMap<[u8; 32], u32>,
    /// (Owner only.) The transfer this owner offered: no roster change until it is through.
    offered: Option<wire::v1::OwnerTransfer>,
    /// A transfer offered to this member, until it accepts or the roster moves on.
    offer_received: Option<wire::v1::OwnerTransfer>,
    /// This member asked for a resync and the owner's roster has not come since: members
    /// a roster shows it for the first time are asked too.
    resyncing: bool,
    /// How this member pads what it sends.
    padding: Padding,
    /// Members this member saw removed by a roster it processed, and not added back since,
    /// oldest first, at most [`MAX_REMOVED_MEMBERS`]: what tells a removed sender from one
    /// whose addition has not arrived yet.
    removed: Vec<RemovedMember>,
}

/// A member this member saw removed, with the signing keys of the epochs it held of it:
/// a message that verifies under one of them was sent during the membership that ended,
/// so no roster still on its way (adding the sender back) can make it decrypt.
#[derive(Clone)]
struct RemovedMember {
    key: [u8; 32],
    /// Ascending by epoch, at most [`MAX_SENDER_EPOCHS`].
    epochs: Vec<(u32, VerifyingKey)>,
}

/// A decrypted group message.
///
/// ```
/// # use std::collections::HashMap;
/// # use ratchetkit::{Channel, Group, Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// # let (a, b) = (alice.card().signing_key(), bob.card().signing_key());
/// # let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// # let mut to_bob = Channel::create(&mut rng, &alice, &bob_prekeys.bundle(&bob, None)?)?;
/// # let hello = to_bob.encrypt(&mut rng, b"hello")?;
/// # let to_alice = Channel::join(&bob, &mut bob_prekeys, &hello)?.into_channel();
/// # let mut alice_channels = HashMap::from([(b, to_bob)]);
/// # let mut bob_channels = HashMap::from([(a, to_alice)]);
/// # let (mut alice_group, welcome) =
/// #     Group::create(&mut rng, &alice, &[bob.card().clone()], &mut alice_channels)?;
/// # let (mut bob_group, _) =
/// #     Group::join(&mut rng, &bob, &mut bob_channels, &a, welcome.outgoing()[0].message())?;
/// let message = alice_group.encrypt(&mut rng, b"hello group")?;
/// let decrypted = bob_group.decrypt(&message)?;
/// assert_eq!(decrypted.sender(), a);
/// assert_eq!(decrypted.plaintext(), b"hello group");
/// let plaintext: Vec<u8> = decrypted.into_plaintext();
/// # let _ = plaintext;
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Decrypted {
    sender: [u8; 32],
    epoch: u32,
    plaintext: Vec<u8>,
}

impl Decrypted {
    /// The sender's Ed25519 identity key; its card is [`Group::member`].
    pub fn sender(&self) -> [u8; 32] {
        self.sender
    }

    /// The sender key epoch the message was sent under.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// The plaintext.
    pub fn plaintext(&self) -> &[u8] {
        &self.plaintext
    }

    /// The plaintext, owned.
    pub fn into_plaintext(self) -> Vec<u8> {
        self.plaintext
    }
}

/// Something that happened to the group.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GroupEvent {
    /// This member joined the group at roster `version`: from a welcome, or (through
    /// [`Group::receive`]) added back after a removal.
    Joined {
        /// The roster version joined from.
        version: u64,
    },
    /// Control for `member` waits because the app has no channel to it. Start one (from
    /// the member's prekey bundle: control may ride on its first messages) and call
    /// [`Group::deliver_pending`]; nothing else waits for it.
    ChannelNeeded {
        /// The member's Ed25519 identity key.
        member: [u8; 32],
        /// The name on the member's card.
        name: String,
        /// The member's card fingerprint, to show or compare.
        fingerprint: Fingerprint,
    },
    /// `member` asked for what it missed, and was answered.
    ResyncRequested {
        /// The member's Ed25519 identity key.
        member: [u8; 32],
    },
    /// The owner offers this member the group: take it with [`Group::accept_ownership`].
    OwnershipOffered {
        /// The owner's Ed25519 identity key.
        owner: [u8; 32],
        /// The roster version the transfer is for.
        version: u64,
    },
    /// The group has a new owner from roster `version` on.
    OwnerChanged {
        /// The roster version.
        version: u64,
        /// The new owner's Ed25519 identity key.
        owner: [u8; 32],
    },
    /// The owner changed the roster to `version`.
    RosterChanged {
        /// The new roster version.
        version: u64,
        /// Members who joined.
        added: Vec<Card>,
        /// Members who were removed or left.
        removed: Vec<Card>,
    },
    /// This member was removed: it can no longer send, and it will not be able to read
    /// what the others send from now on.
    Removed {
        /// The roster version without this member.
        version: u64,
    },
    /// A member's sender key for `epoch` was installed: its messages of that epoch can now
    /// be decrypted (retry any that failed with [`Error::UnknownEpoch`]).
    SenderKey {
        /// The member's Ed25519 identity key.
        sender: [u8; 32],
        /// The epoch.
        epoch: u32,
    },
    /// (Owner only.) `member` asks to leave: remove it with [`Group::remove_member`].
    LeaveRequested {
        /// The member's Ed25519 identity key.
        member: [u8; 32],
    },
}

/// What a group operation or processed control returns: what happened, and the channel
/// messages to deliver.
///
/// Deliver every [`Outgoing`] message, then act on the [`GroupEvent`]s:
///
/// ```
/// # use std::collections::HashMap;
/// # use ratchetkit::{Channel, Group, GroupEvent, Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// # let (a, b) = (alice.card().signing_key(), bob.card().signing_key());
/// # let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// # let mut to_bob = Channel::create(&mut rng, &alice, &bob_prekeys.bundle(&bob, None)?)?;
/// # let hello = to_bob.encrypt(&mut rng, b"hello")?;
/// # let to_alice = Channel::join(&bob, &mut bob_prekeys, &hello)?.into_channel();
/// # let mut alice_channels = HashMap::from([(b, to_bob)]);
/// # let mut bob_channels = HashMap::from([(a, to_alice)]);
/// let (alice_group, welcome) =
///     Group::create(&mut rng, &alice, &[bob.card().clone()], &mut alice_channels)?;
/// for outgoing in welcome.outgoing() {
///     assert_eq!(outgoing.to(), b); // send outgoing.message() to Bob
/// }
/// let (bob_group, joined) =
///     Group::join(&mut rng, &bob, &mut bob_channels, &a, welcome.outgoing()[0].message())?;
/// assert!(matches!(joined.events()[0], GroupEvent::Joined { version: 1 }));
/// let (events, outgoing) = joined.into_parts();
/// # let _ = (alice_group, bob_group, events, outgoing);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// Its `Default` is "nothing happened": no events, nothing to send.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Received {
    events: Vec<GroupEvent>,
    outgoing: Vec<Outgoing>,
}

impl Received {
    /// What happened, in order.
    pub fn events(&self) -> &[GroupEvent] {
        &self.events
    }

    /// Channel messages this member must now send (its sender key to new members, or a
    /// new sender key after a removal), each to its [`Outgoing::to`].
    pub fn outgoing(&self) -> &[Outgoing] {
        &self.outgoing
    }

    /// The events and the messages to send, owned.
    pub fn into_parts(self) -> (Vec<GroupEvent>, Vec<Outgoing>) {
        (self.events, self.outgoing)
    }

    /// Moves `later`'s events and messages after this one's, for an app that runs several
    /// group operations (say an add and an ownership offer) before it sends anything: the
    /// messages must still go out in this order.
    ///
    /// ```
    /// # use ratchetkit::Received;
    /// let mut all = Received::default();
    /// all.append(Received::default());
    /// assert!(all.events().is_empty() && all.outgoing().is_empty());
    /// ```
    pub fn append(&mut self, later: Received) {
        self.events.extend(later.events);
        self.outgoing.extend(later.outgoing);
    }

    pub(crate) fn from_parts(events: Vec<GroupEvent>, outgoing: Vec<Outgoing>) -> Self {
        Self { events, outgoing }
    }
}

impl Group {
    /// A member's view of `roster`, with no sender keys of the others yet.
    fn new(me: [u8; 32], roster: Roster, own: Option<SenderKey>) -> Self {
        Self {
            me,
            roster,
            own,
            senders: BTreeMap::new(),
            pending: BTreeMap::new(),
            resync_replies: BTreeMap::new(),
            offered: None,
            offer_received: None,
            resyncing: false,
            padding: Padding::default(),
            removed: Vec::new(),
        }
    }

    /// Encrypts `plaintext` for every member: one AES-256-GCM encryption and one Ed25519
    /// signature, whatever the group's size.
    ///
    /// The plaintext is padded first (see [`Group::set_padding`]), and each message draws a
    /// random 16-byte salt ([`MESSAGE_SALT_LEN`](crate::channel::MESSAGE_SALT_LEN)) that its AES key
    /// and nonce are derived with: a member restored from an older save sends again under
    /// message keys it already used, but never under a (key, nonce) it already used.
    /// Still save the group after encrypting and before sending, so that its messages keep
    /// their numbers: receivers refuse a second message at a number they have read as
    /// [`Error::Duplicate`].
    ///
    /// # Errors
    /// [`Error::TooLarge`] for a plaintext over
    /// [`MAX_PLAINTEXT_LEN`](crate::limits::MAX_PLAINTEXT_LEN) (send it as a sealed stream);
    /// [`Error::NoLongerMember`] after a removal or leave; [`Error::ChainExhausted`] after
    /// 2^32 - 1 messages in one epoch ([`Group::rekey`] starts a new one).
    pub fn encrypt<R: CryptoRng + ?Sized>(
        &mut self,
        rng: &mut R,
        plaintext: &[u8],
    ) -> Result<Vec<u8>> {
        if plaintext.len() > crate::channel::MAX_PLAINTEXT_LEN {
            return Err(Error::TooLarge {
                what: "plaintext",
                limit: crate::channel::MAX_PLAINTEXT_LEN,
            });
        }
        let own = self.own.as_mut().ok_or(Error::NoLongerMember)?;
        let (message, chain) = message::seal(
            rng,
            own,
            &self.roster.group_id,
            &self.me,
            plaintext,
            self.padding,
        )?;
        own.chain = chain;
        Ok(message)
    }

    /// How this member pads the plaintexts it sends: [`Padding::Padme`] unless
    /// [`Group::set_padding`] changed it. Saved with the group.
    pub fn padding(&self) -> Padding {
        self.padding
    }

    /// Sets how this member pads the plaintexts it sends from now on. Receivers need no
    /// setting: they strip any padding, so members may choose differently.
    ///
    /// [`Padding::Padme`], the default, pads to at least
    /// [`MIN_PADDED_LEN`](crate::channel::MIN_PADDED_LEN) bytes and above that by at most 12%, so
    /// that a message's length tells little about its plaintext's;
    /// [`Padding::Minimal`] adds only one byte, for apps that pad themselves.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    /// use ratchetkit::{Channel, Group, Identity, Padding};
    /// # let mut rng = rand::rng();
    /// let alice = Identity::generate(&mut rng, "alice")?;
    /// let mut channels = BTreeMap::<[u8; 32], Channel>::new();
    /// let (mut group, _) = Group::create(&mut rng, &alice, &[], &mut channels)?;
    /// assert_eq!(group.padding(), Padding::Padme);
    /// let _first = group.encrypt(&mut rng, b"hi")?;
    /// // Every plaintext up to 31 bytes is padded to 32: these two look alike.
    /// let short = group.encrypt(&mut rng, b"ok")?;
    /// let long = group.encrypt(&mut rng, b"a somewhat longer reply")?;
    /// assert_eq!(short.len(), long.len());
    ///
    /// group.set_padding(Padding::Minimal);
    /// let minimal = group.encrypt(&mut rng, b"ok")?;
    /// assert_eq!(minimal.len() + 29, short.len()); // 3 padded bytes instead of 32
    /// // The setting is saved with the group.
    /// assert_eq!(Group::from_bytes(&group.to_bytes())?.padding(), Padding::Minimal);
    /// # Ok::<(), ratchetkit::Error>(())
    /// ```
    pub fn set_padding(&mut self, padding: Padding) {
        self.padding = padding;
    }

    /// Verifies and decrypts a group message. On any error the group is unchanged.
    ///
    /// # Errors
    /// [`Error::Decode`] / [`Error::UnsupportedVersion`] / [`Error::InvalidLength`] for
    /// malformed input; [`Error::WrongGroup`]; [`Error::OwnGroupMessage`];
    /// [`Error::RemovedGroupMember`] for a message of a sender this member saw removed
    /// (drop it), [`Error::NotGroupMember`] for another sender not in the roster (keep
    /// it, and retry after its key comes); [`Error::UnknownEpoch`]
    /// for a sender key not (or no longer) held; [`Error::BadSignature`] for a forgery;
    /// [`Error::Duplicate`]; [`Error::SentBeforeKeyReceived`]; [`Error::TooFarAhead`]
    /// beyond [`MAX_GROUP_MESSAGE_GAP`]; [`Error::AuthenticationFailed`] for a
    /// ciphertext its own signer corrupted; [`Error::BadPadding`] for a plaintext its
    /// signer did not pad as the protocol does.
    pub fn decrypt(&mut self, message: &[u8]) -> Result<Decrypted> {
        let (incoming, signing_key) = self.admit(message)?;
        // The signature comes first: only the sender can have made the message, so nothing
        // after it runs (no chain steps, no AEAD) for another member's forgery.
        incoming.verify(&signing_key)?;
        self.open_verified(&incoming)
    }

    /// Decrypts many group messages, such as a backlog fetched after being offline, with
    /// exactly the results of calling [`Group::decrypt`] on each in order, but checking
    /// their signatures together with Ed25519 batch verification, which costs well under
    /// half as much per signature (a 1,000-message backlog decrypts in about 40% of the
    /// time).
    ///
    /// Each message gets its own result: a rejected one (a forgery, a duplicate, also a
    /// repeat of an earlier message of the same batch, an unknown epoch, ...) fails with
    /// the error `decrypt` gives it and leaves the group as it was, while the others
    /// decrypt. Messages from several senders and epochs may be mixed in any order.
    ///
    /// When a batch of signatures (up to 256) fails, it is split in halves until the bad
    /// signatures are found, each checked alone with strict verification, so a forgery is
    /// reported for exactly its message. The search costs time: one bad signature among
    /// 256 makes their check about three times as long (still less than checking them one
    /// by one), and a backlog of nothing but bad signatures about three times as long as
    /// [`Group::decrypt`] on each.
    ///
    /// # Strictness
    /// [`Group::decrypt`] verifies strictly (`verify_strict`: canonical encodings, no
    /// small-order R or key, and the exact equation `R = [S]B - [k]A`). The batch makes the
    /// same encoding and small-order checks first, one signature at a time, and sends a
    /// signature that fails them to strict verification alone; sender keys of small order
    /// are refused when they are installed. What remains different: batch verification
    /// checks a random combination of the equations, so a signature whose equation is off
    /// by a nonzero point of small order (possible only if R or the key has a small-order
    /// component without being of small order) may be accepted here and rejected by
    /// `decrypt`. Only the holder of the sender's epoch signing key can make such a
    /// signature (it needs the key's discrete logarithm), and that holder could sign the
    /// message properly instead; for anyone else, a forged signature passes a batch with
    /// probability at most 2^-128, as it passes strict verification with negligible
    /// probability. So a batch never accepts what the sender did not sign; a dishonest
    /// sender could only make a message that a batch accepts and `decrypt` refuses.
    pub fn decrypt_batch<M: AsRef<[u8]>>(&mut self, messages: &[M]) -> Vec<Result<Decrypted>> {
        // What decrypt checks before the signature depends only on the roster and which
        // epochs are held, which decrypting never changes: it can all be done first.
        let admitted: Vec<Result<(IncomingGroupMessage, VerifyingKey)>> = messages
            .iter()
            .map(|message| self.admit(message.as_ref()))
            .collect();
        let pending: Vec<_> = admitted
            .iter()
            .flatten()
            .map(|(incoming, signing_key)| incoming.pending(signing_key))
            .collect();
        let mut signatures = signature::verify_many(&pending, GROUP_MESSAGE_SIGNED).into_iter();
        drop(pending);
        admitted
            .into_iter()
            .map(|admitted| {
                let (incoming, _) = admitted?;
                signatures.next().unwrap_or(Err(Error::BadSignature {
                    what: GROUP_MESSAGE_SIGNED,
                }))?;
                self.open_verified(&incoming)
            })
            .collect()
    }

    /// Parses a group message and finds the signing key of its sender and epoch, with the
    /// errors [`Group::decrypt`] gives before checking a signature.
    fn admit(&self, message: &[u8]) -> Result<(IncomingGroupMessage, VerifyingKey)> {
        let incoming = IncomingGroupMessage::parse(message)?;
        if incoming.group_id != self.roster.group_id {
            return Err(Error::WrongGroup);
        }
        if incoming.sender == self.me {
            return Err(Error::OwnGroupMessage);
        }
        let Some(chains) = self.senders.get(&incoming.sender) else {
            return Err(if self.roster.contains(&incoming.sender) {
                Error::UnknownEpoch {
                    epoch: incoming.epoch,
                }
            } else {
                self.unknown_sender(&incoming)
            });
        };
        let signing_key = chains.held(incoming.epoch)?.signing_key;
        Ok((incoming, signing_key))
    }

    /// Decrypts an admitted message whose signature has been verified, and commits.
    fn open_verified(&mut self, incoming: &IncomingGroupMessage) -> Result<Decrypted> {
        let chains = self
            .senders
            .get_mut(&incoming.sender)
            .ok_or(Error::UnknownEpoch {
                epoch: incoming.epoch,
            })?;
        let mut opened = chains.open_verified(incoming)?;
        chains.commit(&mut opened);
        Ok(Decrypted {
            sender: incoming.sender,
            epoch: incoming.epoch,
            plaintext: core::mem::take(&mut opened.plaintext),
        })
    }

    /// The group's id.
    pub fn group_id(&self) -> &[u8] {
        &self.roster.group_id
    }

    /// This member's Ed25519 identity key: whose view of the group this is. With
    /// [`group_id`](Group::group_id) it names this state at rest
    /// ([`GroupStateId`](crate::GroupStateId)).
    pub fn me(&self) -> [u8; 32] {
        self.me
    }

    /// The group's founder: the identity key its id is bound to.
    pub fn founder(&self) -> [u8; 32] {
        self.roster.founder
    }

    /// The owner's card.
    pub fn owner(&self) -> &Card {
        &self.roster.owner
    }

    /// The members' cards, the owner first.
    pub fn members(&self) -> &[Card] {
        &self.roster.members
    }

    /// The card of the member with Ed25519 identity key `member`.
    pub fn member(&self, member: &[u8; 32]) -> Option<&Card> {
        self.roster.member(member)
    }

    /// `key` as an error names it: with its card's name and fingerprint when it is in the
    /// roster.
    pub(crate) fn party(&self, key: &[u8; 32]) -> Party {
        Party::new(*key, self.roster.member(key))
    }

    /// The refusal of control from `key`, who is not in the roster:
    /// [`Error::RemovedGroupMember`] when this member saw it removed, otherwise
    /// [`Error::NotGroupMember`]. Only for control whose roster version was checked
    /// first: a member added back sends under a roster newer than the one held here
    /// ([`Error::RosterBehind`]).
    pub(crate) fn outsider(&self, key: &[u8; 32]) -> Error {
        if self.removed.iter().any(|removed| removed.key == *key) {
            Error::RemovedGroupMember {
                member: Party::from(*key),
            }
        } else {
            Error::NotGroupMember {
                member: self.party(key),
            }
        }
    }

    /// The refusal of a group message from a sender not in the roster. Group messages
    /// carry no roster version, so only a signature under an epoch key this member held
    /// of a removed sender shows the message is from the membership that ended
    /// ([`Error::RemovedGroupMember`]); anything else may come from a sender whose
    /// addition has not arrived yet ([`Error::NotGroupMember`]).
    fn unknown_sender(&self, incoming: &IncomingGroupMessage) -> Error {
        let signed_as_removed = self
            .removed
            .iter()
            .find(|removed| removed.key == incoming.sender)
            .and_then(|removed| {
                removed
                    .epochs
                    .iter()
                    .find(|(epoch, _)| *epoch == incoming.epoch)
            })
            .is_some_and(|(_, signing_key)| incoming.verify(signing_key).is_ok());
        if signed_as_removed {
            Error::RemovedGroupMember {
                member: Party::from(incoming.sender),
            }
        } else {
            Error::NotGroupMember {
                member: self.party(&incoming.sender),
            }
        }
    }

    /// Remembers the members in `removed` that `roster` leaves out, with the epoch keys
    /// held of them (call it before their sender keys are dropped), forgets those `roster`
    /// holds (added back), and keeps the newest [`MAX_REMOVED_MEMBERS`].
    fn remember_removals(&mut self, removed: &[[u8; 32]], roster: &Roster) {
        let newly: BTreeMap<[u8; 32], Vec<(u32, VerifyingKey)>> = removed
            .iter()
            .filter(|key| !roster.contains(key))
            .map(|key| {
                let epochs = self.senders.get(key).map_or_else(Vec::new, |chains| {
                    chains
                        .epochs
                        .iter()
                        .map(|(epoch, held)| (*epoch, held.signing_key))
                        .collect()
                });
                (*key, epochs)
            })
            .collect();
        // A member removed again moves to the end; one added back is forgotten.
        self.removed
            .retain(|held| !newly.contains_key(&held.key) && !roster.contains(&held.key));
        self.removed.extend(
            newly
                .into_iter()
                .map(|(key, epochs)| RemovedMember { key, epochs }),
        );
        let excess = self.removed.len().saturating_sub(MAX_REMOVED_MEMBERS);
        self.removed.drain(..excess);
    }

    /// `error` with the parties it names filled in from the roster: the channel work
    /// that raises [`Error::MissingChannel`] does not see the roster.
    pub(crate) fn named(&self, error: Error) -> Error {
        match error {
            Error::MissingChannel { member } => Error::MissingChannel {
                member: self.party(&member.key()),
            },
            other => other,
        }
    }

    /// The roster's version: 1 at creation, one more with every change.
    pub fn roster_version(&self) -> u64 {
        self.roster.version
    }

    /// This member's current sender key epoch; `None` once it was removed or left.
    pub fn epoch(&self) -> Option<u32> {
        self.own.as_ref().map(|own| own.epoch)
    }

    /// Whether this member can still send: it is in the roster and has not left.
    pub fn is_member(&self) -> bool {
        self.own.is_some() && self.roster.contains(&self.me)
    }

    /// The newest epoch held of `member`'s sender key, if any.
    pub fn sender_epoch(&self, member: &[u8; 32]) -> Option<u32> {
        self.senders
            .get(member)
            .and_then(SenderChains::newest_epoch)
    }

    /// How many skipped message keys are held for `member` (at most
    /// [`MAX_GROUP_SKIPPED_KEYS`]).
    pub fn skipped_keys(&self, member: &[u8; 32]) -> usize {
        self.senders
            .get(member)
            .map_or(0, |chains| chains.skipped.len())
    }

    /// The other members' identity keys.
    fn others(&self) -> Vec<[u8; 32]> {
        self.roster.keys().filter(|key| *key != self.me).collect()
    }
}

impl core::fmt::Debug for Group {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Group")
            .field("group_id", &hex::encode(&self.roster.group_id))
            .field("roster_version", &self.roster.version)
            .field("members", &self.roster.members.len())
            .field("epoch", &self.epoch())
            .finish_non_exhaustive()
    }
}
