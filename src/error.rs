//! The one error type of the crate.
//!
//! Every variant says what went wrong and, in its documentation, what the caller can do
//! about it; [`Error::is_retryable`] and [`Error::is_permanent`] sort them for code that
//! queues or drops inputs. No variant carries secret material: errors are safe to log.

use crate::identity::{Card, Fingerprint};

/// A party an error names: a group member (or would-be member), by the name and card
/// fingerprint of its card when this side holds that card, and always by its Ed25519
/// identity key.
///
/// Parties compare (and hash) by identity key alone: the name and fingerprint are there
/// to show, and a party known only by its key is the same party as its card.
///
/// ```
/// use ratchetkit::{Identity, Party};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let key = alice.card().signing_key();
/// let unknown = Party::from(key);
/// assert_eq!(unknown.name(), None);
/// assert!(unknown.to_string().starts_with("the party with identity key "));
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct Party {
    key: [u8; 32],
    // Boxed: errors travel in every `Result`, and most hold no party.
    card: Option<Box<(String, Fingerprint)>>,
}

impl Party {
    /// The party `key`, named from `card` when this side holds it.
    pub(crate) fn new(key: [u8; 32], card: Option<&Card>) -> Self {
        Self {
            key,
            card: card.map(|card| Box::new((card.identity().to_owned(), card.fingerprint()))),
        }
    }

    /// The party's Ed25519 identity key ([`Card::signing_key`]).
    pub fn key(&self) -> [u8; 32] {
        self.key
    }

    /// The name on the party's card, if this side holds the card.
    pub fn name(&self) -> Option<&str> {
        self.card.as_deref().map(|(name, _)| name.as_str())
    }

    /// The party's card fingerprint, if this side holds the card: compare it with the one
    /// the party shows you.
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        self.card.as_deref().map(|(_, fingerprint)| *fingerprint)
    }
}

impl From<[u8; 32]> for Party {
    /// A party known only by its identity key.
    fn from(key: [u8; 32]) -> Self {
        Self { key, card: None }
    }
}

impl PartialEq for Party {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Party {}

impl core::hash::Hash for Party {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl core::fmt::Display for Party {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self.card.as_deref() {
            // Names hold no control or bidirectional formatting characters (cards with
            // them are refused), so they are shown as they are.
            Some((name, fingerprint)) => write!(f, "\"{name}\" (card {fingerprint})"),
            None => write!(
                f,
                "the party with identity key {} (no card of it here)",
                hex::encode(self.key)
            ),
        }
    }
}

impl core::fmt::Debug for Party {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let mut debug = f.debug_struct("Party");
        if let Some((name, fingerprint)) = self.card.as_deref() {
            debug.field("name", name).field("fingerprint", fingerprint);
        }
        debug.field("key", &hex::encode(self.key)).finish()
    }
}

/// Everything that can go wrong in ratchetkit.
///
/// A failed call never changes the state it was called on: a channel that rejected a
/// message can keep being used as if the message had never arrived.
///
/// ```
/// # use ratchetkit::{Card, Error};
/// match Card::from_bytes(b"not a card") {
///     Err(Error::Decode { what }) => assert_eq!(what, "SignedCard"),
///     other => panic!("unexpected: {other:?}"),
/// }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The bytes are not a well-formed protobuf encoding of `what`, or carry fields the
    /// protocol does not define. The input is corrupt or not meant for this call: drop it.
    #[error("malformed {what}: not a canonical protobuf encoding")]
    Decode {
        /// The message type that was expected.
        what: &'static str,
    },

    /// The input is longer than the protocol allows for `what`, checked before any of it
    /// is decoded or processed. A genuine peer never sends this: drop it. On the sending
    /// side (a plaintext or roster too large to fit), send less or split it.
    #[error("{what} is over its limit of {limit} bytes")]
    TooLarge {
        /// The message or state type, or the field, that is too long.
        what: &'static str,
        /// The limit, in bytes (a named constant; see the crate's Limits).
        limit: usize,
    },

    /// The input lists more entries of `what` than the protocol allows (card signatures,
    /// roster members, recipients, saved keys), counted before any of them is decoded. A
    /// genuine peer never sends this: drop it.
    #[error("more than {limit} entries of {what}")]
    TooMany {
        /// The repeated field, as `Message.field`.
        what: &'static str,
        /// The limit (a named constant; see the crate's Limits).
        limit: usize,
    },

    /// The input was made by a protocol or state format version this crate does not speak.
    /// Upgrade the crate if `found` is newer than 1; otherwise the input is corrupt.
    #[error("unsupported version {found} of {what}")]
    UnsupportedVersion {
        /// The message or state type.
        what: &'static str,
        /// The version found in the input.
        found: u32,
    },

    /// A key, signature or other fixed-size field has the wrong length.
    #[error("{field} must be {expected} bytes, found {found}")]
    InvalidLength {
        /// The field.
        field: &'static str,
        /// The length the protocol requires.
        expected: usize,
        /// The length found.
        found: usize,
    },

    /// An identity name is empty, longer than [`MAX_IDENTITY_NAME_LEN`](crate::identity::MAX_IDENTITY_NAME_LEN)
    /// bytes, not UTF-8, or holds a control character (Unicode category Cc: C0 controls
    /// such as an escape or a newline, DEL, C1 controls) or a bidirectional formatting
    /// character (U+202A..=U+202E, U+2066..=U+2069, U+200E, U+200F, U+061C) or the line or
    /// paragraph separator (U+2028, U+2029), which could
    /// hide or rewrite what is shown beside the name. Choose another name; a card that
    /// carries such a name was not made by ratchetkit: drop it.
    #[error(
        "identity names must be 1..=256 bytes of UTF-8 without control or bidirectional formatting characters"
    )]
    InvalidIdentityName,

    /// A public key is not a valid or acceptable curve point (for example a weak Ed25519
    /// key). The card or bundle that carried it cannot be used.
    #[error("{field} is not an acceptable public key")]
    InvalidPublicKey {
        /// The field that carried the key.
        field: &'static str,
    },

    /// A card has no signature by its own key. Ask its owner for a properly exported card.
    #[error("the card has no self-signature")]
    MissingSelfSignature,

    /// A card has more than one signature from the same signer.
    #[error("the card has more than one signature by {signer:?}")]
    DuplicateSignature {
        /// The signer named twice.
        signer: String,
    },

    /// A signature does not verify (strict Ed25519). The input was forged or corrupted:
    /// do not use it, and fetch it again from a source you trust.
    #[error("the {what} signature does not verify")]
    BadSignature {
        /// What was signed: `"card"` or `"signed prekey"`.
        what: &'static str,
    },

    /// The one-time prekey pool is full. Wait until directories have handed some out, or
    /// drop old ones
    /// ([`PrekeyStore::expire_one_time_prekeys`](crate::PrekeyStore::expire_one_time_prekeys)).
    #[error(
        "the one-time prekey pool holds at most {max} keys: wait for some to be used, or expire old ones"
    )]
    PrekeyPoolFull {
        /// The limit, [`MAX_ONE_TIME_PREKEYS`](crate::identity::MAX_ONE_TIME_PREKEYS).
        max: usize,
    },

    /// A bundle's one-time prekey id and key are not both present or both absent.
    #[error("the bundle's one-time prekey id and key must come together")]
    IncompleteOneTimePrekey,

    /// An X25519 agreement produced the all-zero value: the peer's key is a low-order
    /// point and contributes nothing. The peer is misbehaving; do not talk to it.
    #[error("a Diffie-Hellman result was all zero (non-contributory key)")]
    NonContributoryKey,

    /// The first message names a signed prekey this store no longer (or never) had. The
    /// sender used an outdated bundle: it must fetch a fresh one and start again.
    #[error("signed prekey {id} is not in the prekey store")]
    UnknownSignedPrekey {
        /// The id the message named.
        id: u32,
    },

    /// The first message names a one-time prekey that was already used or never existed.
    /// A replayed first message gives this error; a new channel needs a new bundle.
    #[error("one-time prekey {id} is not in the prekey store (used or unknown)")]
    UnknownOneTimePrekey {
        /// The id the message named.
        id: u32,
    },

    /// A channel can only be joined from a message that carries prekey information (the
    /// creator's first messages). Hand this message to an existing channel instead.
    #[error("the message carries no prekey information, so it cannot start a channel")]
    NotAPrekeyMessage,

    /// The channel's creator received a message that carries prekey information, which
    /// only the creator itself attaches: the message starts another channel (to accept it,
    /// use [`Channel::join`](crate::Channel::join)) or was altered in transit. Drop it.
    /// (Prekey information changed, added or removed on the responder's side fails to
    /// authenticate instead: it is part of the associated data.)
    #[error("the message's prekey information does not match this channel")]
    PrekeyInfoMismatch,

    /// The key of this message is gone for good, so it will never decrypt here. Either it
    /// was decrypted before (a network duplicate or a replay: the app already has its
    /// plaintext), or it is a late message whose key was dropped to stay within the limits:
    /// more than [`MAX_SKIPPED_KEYS`](crate::channel::MAX_SKIPPED_KEYS) (for groups,
    /// [`MAX_GROUP_SKIPPED_KEYS`](crate::group::MAX_GROUP_SKIPPED_KEYS) per sender) later
    /// keys were kept after it. The state does not record which keys were dropped, so
    /// the two cannot be told apart here; if the app never showed that message, it was
    /// lost. Either way: drop it. Nothing changed.
    #[error("duplicate message: already decrypted, or its key was dropped as too old; drop it")]
    Duplicate,

    /// The plaintext of an authenticated message does not end in the protocol's padding
    /// (a 0x80 byte, then only zeros): its sender does not implement the protocol. The
    /// channel or group is unchanged.
    #[error("the sender's padding is malformed")]
    BadPadding,

    /// [`Channel::join`](crate::Channel::join) was given a first message whose channel
    /// was joined before with this signed prekey: a copy of it, whether the network
    /// delivered it twice or someone replayed it. If you hold that channel, give the message
    /// to its [`Channel::decrypt`](crate::Channel::decrypt) (it recognizes copies of its
    /// first messages); otherwise drop it. The prekey store is unchanged.
    #[error("this first message's channel was joined before: a replay")]
    ReplayedFirstMessage,

    /// The prekey store remembers [`MAX_JOINS_PER_SIGNED_PREKEY`] channels joined with a
    /// signed prekey (to refuse replays of their first messages), and that many have been
    /// joined with the one this first message names: rotate the signed prekey
    /// ([`PrekeyStore::rotate_signed_prekey`](crate::PrekeyStore::rotate_signed_prekey))
    /// and publish new bundles; rotate well before the limit
    /// ([`PrekeyStore::signed_prekey_joins`](crate::PrekeyStore::signed_prekey_joins)).
    /// Nothing changed.
    ///
    /// [`MAX_JOINS_PER_SIGNED_PREKEY`]: crate::limits::MAX_JOINS_PER_SIGNED_PREKEY
    #[error("the signed prekey has started as many channels as it may; rotate it")]
    SignedPrekeyExhausted,

    /// A prekey bundle without the ML-KEM-768 prekey every version 2 bundle carries: it
    /// was made by an older or a downgrading implementation, or stripped on its way. No
    /// channel is started from it without post-quantum protection.
    #[error("the prekey bundle has no ML-KEM prekey")]
    MissingKemPrekey,

    /// The message is further ahead in its chain than [`MAX_MESSAGE_GAP`](crate::channel::MAX_MESSAGE_GAP)
    /// allows. Too many messages in between were lost; the channel cannot recover this one.
    #[error("message is {gap} messages ahead, more than the {max} allowed")]
    TooFarAhead {
        /// How many message keys would have to be skipped.
        gap: u64,
        /// The limit.
        max: u32,
    },

    /// The message did not authenticate under any key this channel (or group sender
    /// chain) holds or can derive for it. Causes, all indistinguishable to AES-GCM:
    /// - it was tampered with, truncated, forged, or is meant for another channel;
    /// - it is a copy of an old message on a chain this channel has forgotten (one more than
    ///   [`MAX_ENDED_CHAINS`](crate::channel::MAX_ENDED_CHAINS) ratchet steps old; copies on
    ///   remembered chains give [`Error::Duplicate`]);
    /// - the peer's channel has forked from this one (it was restored from an old backup,
    ///   or two copies of it are in use), so its new messages use keys this side never
    ///   derives.
    ///
    /// Drop the message; the channel is unchanged and keeps working. If every new message
    /// from a peer fails this way, the channel has forked: start a new one.
    #[error("authentication failed: the message was altered, is an old copy, or is not for this channel; drop it")]
    AuthenticationFailed,

    /// The sending chain has used all 2^32 message numbers. Send after receiving a reply
    /// (which starts a new chain), or start a new channel.
    #[error("the sending chain is exhausted")]
    ChainExhausted,

    /// Serialized state is structurally valid protobuf but breaks an invariant (wrong key
    /// length, impossible counters, too many entries). It is corrupt: restore a backup.
    #[error("invalid state: {reason}")]
    InvalidState {
        /// Which invariant failed.
        reason: &'static str,
    },

    /// Sealed state could not be opened: wrong storage key, wrong kind of state, the
    /// state of another object than the id given to
    /// [`StorageKey::open`](crate::StorageKey::open) (say one channel's state stored in
    /// another's place), or corrupted bytes. Check which key and id you opened with; if
    /// they are right, the stored bytes are not what was sealed there: restore a backup.
    #[error("sealed state could not be opened: wrong key, kind or object, or corrupted")]
    SealedStateRejected,

    /// The channel message is a group's control message (sender keys, roster updates):
    /// [`Channel::decrypt`](crate::Channel::decrypt) never hands those out. Give it to
    /// [`Group::receive`](crate::Group::receive) of the group `group_id`, or to
    /// [`Group::join`](crate::Group::join) if you are not in that group yet. The channel
    /// is unchanged.
    #[error(
        "this channel message is control data of group {}: give it to that group",
        hex::encode(group_id)
    )]
    GroupControlMessage {
        /// The group the message belongs to.
        group_id: Vec<u8>,
    },

    /// A group was given a channel message that carries application data. Decrypt it with
    /// [`Channel::decrypt`](crate::Channel::decrypt) instead; the channel is unchanged.
    #[error("this channel message is application data, not group control")]
    NotGroupControl,

    /// Group control came from `member`, and the app gave the group no channel to it
    /// (or one with someone else). Give the group the channel the message arrived on;
    /// nothing was changed. (Sending never fails for want of a channel: it waits, and
    /// [`GroupEvent::ChannelNeeded`](crate::GroupEvent::ChannelNeeded) says so.)
    #[error(
        "no channel to group member {member}: give the group the channel this control arrived on"
    )]
    MissingChannel {
        /// The member the control came from.
        member: Party,
    },

    /// A group id must be [`GROUP_ID_LEN`](crate::group::GROUP_ID_LEN) (32) bytes: the input is
    /// not a version 2 group's. Drop it.
    #[error("group ids are 32 bytes, found {len}")]
    InvalidGroupId {
        /// The length given.
        len: usize,
    },

    /// The roster's group id is not the hash of its founder's key and salt: a look-alike
    /// of another group, made by someone who is not its founder. Drop it; the genuine
    /// group is unaffected.
    #[error("the group id is not bound to the roster's founder: a look-alike group")]
    GroupIdMismatch,

    /// The roster's chain of owners does not lead from the founder to the signer: too
    /// long (over [`MAX_OWNER_TRANSFERS`](crate::group::MAX_OWNER_TRANSFERS)), out of order, or
    /// not extending the chain already held. Drop it.
    #[error("the roster's chain of owners is broken")]
    InvalidOwnerChain,

    /// A roster arrived on the channel of `from`, who is not the roster's owner. Only the
    /// owner hands out rosters (a relayed one could split the owner's own control): drop
    /// it; the owner's copy arrives on its own channel, and [`Group::resync`] asks for it.
    ///
    /// [`Group::resync`]: crate::Group::resync
    #[error(
        "a roster came from {from}, who is not its owner: drop it and wait for the owner's copy"
    )]
    RosterNotFromOwner {
        /// The channel peer who sent it.
        from: Party,
    },

    /// The owner has offered the group to another member and makes no roster change
    /// until that member's roster, which takes the group over, has arrived.
    #[error("the group is being handed over to another owner")]
    OwnershipTransferPending,

    /// There is no ownership offer to this member to accept, or the offer names someone
    /// else. Wait for [`GroupEvent::OwnershipOffered`](crate::GroupEvent::OwnershipOffered).
    #[error("no ownership offer to accept")]
    NoOwnershipOffer,

    /// `member` asked for a resync more than [`MAX_RESYNC_REPLIES`](crate::group::MAX_RESYNC_REPLIES)
    /// times since this member's roster or epoch last changed: it already has everything
    /// this member could send. Drop the request; nothing was changed.
    #[error(
        "resync requests from {member} are answered at most 3 times per change: drop this one"
    )]
    ResyncRateLimited {
        /// The requester.
        member: Party,
    },

    /// A roster may hold at most `max` members ([`MAX_GROUP_MEMBERS`](crate::group::MAX_GROUP_MEMBERS)),
    /// each at most once.
    #[error("a group holds at most {max} distinct members")]
    InvalidRoster {
        /// The limit.
        max: usize,
    },

    /// Only the group's owner (its creator) may change the roster, and only with its own
    /// identity.
    #[error("only the group's owner can change its roster")]
    NotGroupOwner,

    /// `member` is not in this member's roster, and this member did not see it removed
    /// (that is [`Error::RemovedGroupMember`]).
    ///
    /// What to do depends on where it came from:
    /// - from [`Group::receive`](crate::Group::receive) or
    ///   [`Group::receive_control`](crate::Group::receive_control): the control's sender was
    ///   not a member at the roster version it sent under or at any later one held here (a
    ///   sender that is ahead gets [`Error::RosterBehind`] instead): it never belonged, or
    ///   left before this member joined. Drop it; this is final.
    /// - from [`Group::decrypt`](crate::Group::decrypt): group messages carry no roster
    ///   version, and this member has not seen the sender in any roster: its addition may
    ///   not have reached this member yet. Keep the message and retry once after a
    ///   [`GroupEvent::SenderKey`](crate::GroupEvent::SenderKey) from that sender (a new
    ///   member's key always follows its addition); drop it if none comes. (A sender
    ///   removed before this member joined, or more than
    ///   [`MAX_REMOVED_MEMBERS`](crate::group::MAX_REMOVED_MEMBERS) removals ago, also
    ///   lands here, and no key comes.)
    /// - from [`Group::remove_member`](crate::Group::remove_member) or
    ///   [`Group::offer_ownership`](crate::Group::offer_ownership): the app named someone
    ///   outside the roster; check the key it passed.
    ///
    /// Neither [`is_retryable`](Error::is_retryable) nor
    /// [`is_permanent`](Error::is_permanent) holds, for that reason.
    #[error("{member} is not a member of the group (never added, or added by a roster update not processed yet)")]
    NotGroupMember {
        /// The party in question; its card is named when this member holds it.
        member: Party,
    },

    /// The message or control comes from `member`, whom a roster this member processed
    /// removed (and no later one added back): its messages never decrypt here again,
    /// whether sent after the removal or sent before it and late (their keys went with
    /// it). Drop it; this is final. The state is unchanged.
    #[error("{member} was removed from the group; drop what it sends")]
    RemovedGroupMember {
        /// The removed member, named by its key (the roster no longer holds its card).
        member: Party,
    },

    /// The member to add is already in the roster.
    #[error("{member} is already a member of the group")]
    AlreadyGroupMember {
        /// The member.
        member: Party,
    },

    /// A roster update is not newer than the roster held: a replay or a late copy. Drop it.
    #[error("roster version {version} is not newer than the current version {current}")]
    StaleRoster {
        /// The version of the update.
        version: u64,
        /// The version held.
        current: u64,
    },

    /// No sender key of this epoch is held for the message's sender. A newer epoch than
    /// the sender's newest held here ([`Group::sender_epoch`](crate::Group::sender_epoch)
    /// tells) means the sender's key distribution has not been processed yet: keep the
    /// message and retry after the [`GroupEvent::SenderKey`](crate::GroupEvent::SenderKey)
    /// for that epoch. An older one was dropped under
    /// [`MAX_SENDER_EPOCHS`](crate::group::MAX_SENDER_EPOCHS): the message cannot be read,
    /// drop it. Neither [`is_retryable`](Error::is_retryable) nor
    /// [`is_permanent`](Error::is_permanent) holds, for that reason.
    #[error("no sender key for epoch {epoch} of this sender")]
    UnknownEpoch {
        /// The message's epoch.
        epoch: u32,
    },

    /// A sender key distribution for an epoch that is already held with another key, or
    /// older than the epochs kept. A replay or a misbehaving sender: drop it.
    #[error("sender key for epoch {epoch} is stale or conflicts with the one held")]
    StaleSenderKey {
        /// The distribution's epoch.
        epoch: u32,
    },

    /// The message was sent before this member received the sender's key (for example
    /// before this member joined). By design it cannot be read here.
    #[error("message {iteration} was sent before this member's key, which starts at {first}")]
    SentBeforeKeyReceived {
        /// The message's iteration.
        iteration: u32,
        /// The first iteration this member can read.
        first: u32,
    },

    /// The group message was sent by this member (a server echo). Senders keep no keys
    /// to read their own messages: use the plaintext you encrypted.
    #[error("this group message was sent by this member")]
    OwnGroupMessage,

    /// The group message or control message belongs to another group.
    #[error("the message belongs to another group")]
    WrongGroup,

    /// This member was removed from the group or left it, so it can no longer send,
    /// rekey or distribute keys.
    #[error("no longer a member of this group")]
    NoLongerMember,

    /// The owner cannot leave its own group, nor be removed: the roster needs its
    /// signature. Hand the group over first ([`Group::offer_ownership`](crate::Group::offer_ownership)).
    #[error("the group's owner cannot leave the group")]
    OwnerCannotLeave,

    /// A sender key was sent under roster version `version`, newer than this member's
    /// `current`: the owner's roster update is still on its way. Keep the message and
    /// retry after it (or after [`Group::resync`](crate::Group::resync), if the update was
    /// lost); nothing was changed.
    #[error("control from roster version {version}, ahead of this member's version {current}")]
    RosterBehind {
        /// The sender's roster version, or the update's.
        version: u64,
        /// This member's roster version.
        current: u64,
    },

    /// A sender key distribution names a sender other than the channel's peer who sent
    /// it. Members send only their own keys: drop it.
    #[error("the sender key does not belong to the member who sent it")]
    SenderMismatch,

    /// [`Group::join`](crate::Group::join) was given control without a roster from the
    /// owner that lists this identity: a sender key for a group you are not in yet (keep
    /// it and give it to [`Group::receive`](crate::Group::receive) once you have joined),
    /// or a roster that does not list you (drop it).
    #[error("not a welcome to a group: join from the owner's welcome first")]
    NotAGroupWelcome,

    /// Base64 text could not be decoded.
    #[error("invalid base64")]
    Base64,

    // Password-locked identities (src/identity/locked.rs).
    /// A locked identity could not be opened with this password: the password is wrong,
    /// or the locked bytes were altered after locking. AES-GCM cannot tell the two apart
    /// (both fail the same tag check). Ask for the password again; if the right password
    /// keeps failing, the file is corrupt: restore a backup.
    #[error("wrong password, or the locked identity was altered")]
    WrongPassword,

    /// [`Identity::lock`](crate::Identity::lock) was given an Argon2id parameter below its
    /// documented minimum (for example [`MIN_LOCK_MEMORY_KIB`](crate::identity::MIN_LOCK_MEMORY_KIB)),
    /// which would make the password too cheap to guess. Use
    /// [`LockParams::default`](crate::LockParams::default) or raise the parameter.
    #[error("the Argon2id {parameter} must be at least {minimum} to lock an identity")]
    WeakLockParams {
        /// `"memory_kib"`, `"iterations"` or `"parallelism"`.
        parameter: &'static str,
        /// The minimum.
        minimum: u32,
    },

    /// An Argon2id parameter is over its documented maximum (for example
    /// [`MAX_LOCK_MEMORY_KIB`](crate::identity::MAX_LOCK_MEMORY_KIB)). At unlock the locked bytes are
    /// hostile or corrupt, and were refused before any expensive work; at lock, lower the
    /// parameter, or nothing could unlock the result.
    #[error("the Argon2id {parameter} is {found}, over the maximum of {maximum}")]
    LockParamsTooHigh {
        /// `"memory_kib"`, `"iterations"` or `"parallelism"`.
        parameter: &'static str,
        /// The value given or found.
        found: u32,
        /// The maximum.
        maximum: u32,
    },

    /// Argon2id could not run: this machine could not allocate the memory the parameters
    /// ask for, or the password is over 4 GiB. Free memory and retry, or lock with a lower
    /// [`LockParams::memory_kib`](crate::LockParams::memory_kib) on a machine that can.
    #[error("Argon2id could not derive the key: out of memory, or the password is too long")]
    KeyDerivationFailed,

    // Cards: app co-signatures, key rotation, directories.
    /// The card carries no application co-signature, and the policy requires one. Have
    /// the app approve it ([`Card::approve`](crate::Card::approve)) before publishing.
    #[error("the card has no app signature, and one is required")]
    MissingAppSignature,

    /// The card's app signature verifies under none of the trusted app keys: another
    /// app signed it, or it was corrupted. Do not use the card.
    #[error("the card's app signature is not by a trusted app key")]
    UntrustedAppSignature,

    /// A card names a previous card (a key rotation) but carries no
    /// [`PREVIOUS_SIGNER`](crate::identity::PREVIOUS_SIGNER) signature by that card's key. Do not
    /// use it; ask its owner for the card as made by
    /// [`Identity::rotate`](crate::Identity::rotate).
    #[error("the rotated card has no signature by the key it replaces")]
    MissingPreviousSignature,

    /// A card carries a [`PREVIOUS_SIGNER`](crate::identity::PREVIOUS_SIGNER) signature but names no
    /// previous card. It was altered or badly made: do not use it.
    #[error("the card has a previous-key signature but replaces no card")]
    UnexpectedPreviousSignature,

    /// The card at `position` of a chain does not follow from the card before it (the
    /// trusted card for position 0), for `reason`. Do not trust it, nor the cards after
    /// it; keep using the last card that verified.
    #[error("card chain broken at position {position}: {reason}")]
    BrokenCardChain {
        /// Index in the chain of the first card that does not follow.
        position: usize,
        /// What is wrong with the link.
        reason: crate::CardChainBreak,
    },

    /// A card chain is longer than [`MAX_CARD_CHAIN_LEN`](crate::identity::MAX_CARD_CHAIN_LEN). Trust
    /// a more recent card of the identity (verified some other way) and start from it.
    #[error("a card chain of {len} cards is longer than the {max} allowed")]
    CardChainTooLong {
        /// The chain's length, or the length it would have.
        len: usize,
        /// The limit.
        max: usize,
    },

    /// The directory holds no card with this fingerprint: a rotated card was published
    /// before the card it replaces, or a bundle before its card. Publish that card first.
    #[error("the directory holds no card with fingerprint {fingerprint}")]
    UnknownCard {
        /// The fingerprint looked for.
        fingerprint: crate::Fingerprint,
    },

    /// The card was already replaced by another published card: it can be replaced only
    /// once (a second successor would fork the chain), and bundles for it are no longer
    /// taken or handed out. Publish for the newest card instead, or look it up
    /// ([`CardDirectory::find_newest`](crate::CardDirectory::find_newest)).
    #[error("card {fingerprint} was already replaced by a newer card")]
    CardReplaced {
        /// The replaced card's fingerprint.
        fingerprint: crate::Fingerprint,
    },

    /// A card was given in place of a bundle's card but has other content (another
    /// fingerprint). Give a copy of the bundle's own card.
    #[error("the card is not the bundle's card")]
    CardMismatch,

    // Safety numbers (src/identity/safety_number.rs).
    /// A scanned safety-number code names another pair of cards than the two this side
    /// holds ([`SafetyNumber::verify_qr_payload`](crate::SafetyNumber::verify_qr_payload)):
    /// someone in the middle may have given one of you a card of their own, or one of you
    /// holds an old card of the other (after a key rotation or a reinstall), or it is the
    /// code of another conversation. Do not mark the contact verified: fetch their current
    /// card, and compare again over a channel an attacker cannot change (in person).
    #[error(
        "the safety numbers differ: do not mark this contact verified; fetch their current card and compare again in person"
    )]
    SafetyNumberMismatch,

    /// A directory was given a bundle whose signed prekey is older than the one its
    /// bundles for that card already carry (or has that one's id with another key): a
    /// stale bundle, which would hand out a signed prekey the owner's store no longer
    /// holds. Publish bundles of the store's current signed prekey; after starting a new
    /// store, replace the card's bundles
    /// ([`CardDirectory::replace_bundles`](crate::CardDirectory::replace_bundles)).
    #[error(
        "the bundle's signed prekey {signed_prekey_id} is older than the directory's \
         {newest}: publish bundles of the current prekey store, or replace them"
    )]
    StaleBundle {
        /// The bundle's signed prekey id.
        signed_prekey_id: u32,
        /// The id of the signed prekey the directory's bundles for the card carry.
        newest: u32,
    },

    // --- Sealed messages and encrypted streams (`ratchetkit::sealed`) ---
    /// [`seal`](crate::seal) or [`seal_stream`](crate::seal_stream) was given no recipient
    /// card, or a sealed message or stream lists none. Give at least one card (your own
    /// card counts).
    #[error("sealing needs at least one recipient")]
    NoRecipients,

    /// More than `max` recipients ([`MAX_SEALED_RECIPIENTS`](crate::sealed::MAX_SEALED_RECIPIENTS))
    /// were given to [`seal`](crate::seal) or [`seal_stream`](crate::seal_stream). Split the
    /// recipients into several messages. (A sealed input that lists more is refused with
    /// [`Error::TooMany`] before it is decoded.)
    #[error("at most {max} recipients per sealed message or stream")]
    TooManyRecipients {
        /// The limit.
        max: usize,
    },

    /// The card with this fingerprint was given twice as a recipient, or a sealed message
    /// or stream lists the opening recipient twice. Give each card once; a sealed input
    /// that lists a recipient twice was not made by ratchetkit: drop it.
    #[error("recipient {fingerprint} is listed twice")]
    DuplicateRecipient {
        /// The recipient card's fingerprint.
        fingerprint: crate::Fingerprint,
    },

    /// The sealed message or stream lists no entry for this identity's card: it was sealed
    /// for others (or for another card of yours). Nothing can be read from it.
    #[error("not a recipient of this sealed message or stream")]
    NotARecipient,

    /// A device list breaks a rule of
    /// [`DeviceList::sign`](crate::client::DeviceList::sign) (`reason` says which): it was
    /// not made by this crate's rules. Drop it; ask the account's owner to sign a new one.
    #[error("invalid device list: {reason}")]
    InvalidDeviceList {
        /// The rule it breaks.
        reason: &'static str,
    },

    /// A device list older than (or as old as, with other devices) the one already held
    /// for the account: a replay, or a rollback of the account's devices. Keep the newer
    /// list; drop this one.
    #[error("device list version {found} is not newer than the version {current} held")]
    StaleDeviceList {
        /// The version of the list given.
        found: u64,
        /// The version already held.
        current: u64,
    },

    /// A sealed message or stream lists this identity but does not decrypt: its key entry,
    /// header, content or chunk order was altered, or data was cut or appended. Drop it
    /// (and, for a stream, delete what was written so far).
    #[error("the sealed message or stream was tampered with")]
    Tampered,

    /// A sealed message or stream decrypted, but its signature verifies with none of the
    /// sender cards given: someone else sent (or re-sealed) it. Do not trust its content;
    /// if the sender may have rotated its card, give the other cards as candidates too.
    #[error("the signature matches none of the given sender cards")]
    NotFromSender,

    /// Input or output over a limit: a sealed message over
    /// [`MAX_SEALED_MESSAGE_LEN`](crate::sealed::MAX_SEALED_MESSAGE_LEN) (use
    /// [`seal_stream`](crate::seal_stream)), a stream header over
    /// [`MAX_STREAM_HEADER_LEN`](crate::sealed::MAX_STREAM_HEADER_LEN), or a stream of more than
    /// 2^32 chunks.
    #[error("the {what} is over its limit of {max} bytes")]
    SealedTooLarge {
        /// What is too large: `"sealed message"`, `"stream header"` or `"stream"`.
        what: &'static str,
        /// The limit, in bytes.
        max: u64,
    },

    /// The encrypted stream ended before its final chunk: it was cut short in storage or
    /// transit. Fetch it again; delete what was written so far.
    #[error("the encrypted stream is truncated")]
    Truncated,

    /// Reading the input or writing the output of a stream failed with `kind`. Nothing
    /// about the data is known: fix the I/O problem and start again (for
    /// [`open_stream`](crate::open_stream), delete what was written so far).
    #[error("I/O error while {during}: {message}; fix it and start again")]
    Io {
        /// The kind of the underlying `std::io::Error`.
        kind: std::io::ErrorKind,
        /// `"reading the input"` or `"writing the output"`.
        during: &'static str,
        /// The underlying error's message (its `Display`), such as the operating system's
        /// description: the reader and writer are the app's, so it holds what the app's own
        /// I/O put there, never key material from this crate.
        message: String,
    },
}

/// How a failed call may turn out if it is made again with the same input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outlook {
    /// It can succeed once something the variant names has happened: keep the input.
    Retry,
    /// It never will: drop the input (or change the arguments).
    Never,
    /// The error cannot tell: its documentation says what decides.
    Depends,
}

impl Error {
    /// Whether the same call with the same input can succeed later, once what the
    /// variant's documentation names has happened: other input processed (a roster update,
    /// a sender key, a reply), the app's part done (the channel given to the group, the
    /// card published, memory freed, the I/O problem fixed). Keep the input and retry then.
    ///
    /// | retryable | after |
    /// |---|---|
    /// | [`RosterBehind`](Error::RosterBehind) | the owner's roster update (or a resync) |
    /// | [`MissingChannel`](Error::MissingChannel) | the app gives the group the channel |
    /// | [`OwnershipTransferPending`](Error::OwnershipTransferPending), [`NoOwnershipOffer`](Error::NoOwnershipOffer) | the handover's control arrives |
    /// | [`ChainExhausted`](Error::ChainExhausted) | a reply from the peer is decrypted |
    /// | [`PrekeyPoolFull`](Error::PrekeyPoolFull) | directories hand out prekeys |
    /// | [`UnknownCard`](Error::UnknownCard) | the card it names is published |
    /// | [`KeyDerivationFailed`](Error::KeyDerivationFailed) | memory is freed |
    /// | [`Io`](Error::Io) | the I/O problem is fixed (start the stream again) |
    ///
    /// Neither this nor [`is_permanent`](Error::is_permanent) holds for
    /// [`NotGroupMember`](Error::NotGroupMember), [`UnknownEpoch`](Error::UnknownEpoch),
    /// [`NotAGroupWelcome`](Error::NotAGroupWelcome), [`NotFromSender`](Error::NotFromSender),
    /// [`WrongPassword`](Error::WrongPassword), [`SealedStateRejected`](Error::SealedStateRejected)
    /// and [`OwnerCannotLeave`](Error::OwnerCannotLeave): what to do depends on facts the
    /// error cannot carry, which their documentation names.
    ///
    /// ```
    /// use ratchetkit::{Error, Party};
    /// let behind = Error::RosterBehind { version: 5, current: 4 };
    /// assert!(behind.is_retryable() && !behind.is_permanent());
    /// assert!(Error::Duplicate.is_permanent());
    /// let unknown = Error::NotGroupMember { member: Party::from([7; 32]) };
    /// assert!(!unknown.is_retryable() && !unknown.is_permanent());
    /// ```
    pub fn is_retryable(&self) -> bool {
        self.outlook() == Outlook::Retry
    }

    /// Whether the same call with the same input will never succeed (with this version of
    /// the crate): drop the input, or change the arguments. Every variant that is neither
    /// [retryable](Error::is_retryable) nor listed there as depending on the case is
    /// permanent: malformed, oversized, forged, replayed or stale input, a message whose
    /// key is gone ([`Duplicate`](Error::Duplicate)), one that does not authenticate
    /// ([`AuthenticationFailed`](Error::AuthenticationFailed)), a removed member's
    /// operations ([`NoLongerMember`](Error::NoLongerMember)) and what others still get
    /// from it ([`RemovedGroupMember`](Error::RemovedGroupMember)), corrupt state.
    pub fn is_permanent(&self) -> bool {
        self.outlook() == Outlook::Never
    }

    // Every variant is listed, with no catch-all: a new one must be sorted here.
    fn outlook(&self) -> Outlook {
        match self {
            Self::RosterBehind { .. }
            | Self::MissingChannel { .. }
            | Self::OwnershipTransferPending
            | Self::NoOwnershipOffer
            | Self::ChainExhausted
            | Self::PrekeyPoolFull { .. }
            | Self::UnknownCard { .. }
            | Self::KeyDerivationFailed
            | Self::Io { .. } => Outlook::Retry,
            Self::NotGroupMember { .. }
            | Self::UnknownEpoch { .. }
            | Self::NotAGroupWelcome
            | Self::NotFromSender
            | Self::WrongPassword
            | Self::SealedStateRejected
            | Self::OwnerCannotLeave => Outlook::Depends,
            Self::Decode { .. }
            | Self::TooLarge { .. }
            | Self::TooMany { .. }
            | Self::UnsupportedVersion { .. }
            | Self::InvalidLength { .. }
            | Self::InvalidIdentityName
            | Self::InvalidPublicKey { .. }
            | Self::MissingSelfSignature
            | Self::DuplicateSignature { .. }
            | Self::BadSignature { .. }
            | Self::IncompleteOneTimePrekey
            | Self::NonContributoryKey
            | Self::UnknownSignedPrekey { .. }
            | Self::UnknownOneTimePrekey { .. }
            | Self::NotAPrekeyMessage
            | Self::PrekeyInfoMismatch
            | Self::Duplicate
            | Self::BadPadding
            | Self::ReplayedFirstMessage
            | Self::SignedPrekeyExhausted
            | Self::MissingKemPrekey
            | Self::TooFarAhead { .. }
            | Self::AuthenticationFailed
            | Self::InvalidState { .. }
            | Self::GroupControlMessage { .. }
            | Self::NotGroupControl
            | Self::InvalidGroupId { .. }
            | Self::GroupIdMismatch
            | Self::InvalidOwnerChain
            | Self::RosterNotFromOwner { .. }
            | Self::ResyncRateLimited { .. }
            | Self::InvalidRoster { .. }
            | Self::NotGroupOwner
            | Self::RemovedGroupMember { .. }
            | Self::AlreadyGroupMember { .. }
            | Self::StaleRoster { .. }
            | Self::StaleSenderKey { .. }
            | Self::SentBeforeKeyReceived { .. }
            | Self::OwnGroupMessage
            | Self::WrongGroup
            | Self::NoLongerMember
            | Self::SenderMismatch
            | Self::Base64
            | Self::WeakLockParams { .. }
            | Self::LockParamsTooHigh { .. }
            | Self::MissingAppSignature
            | Self::UntrustedAppSignature
            | Self::MissingPreviousSignature
            | Self::UnexpectedPreviousSignature
            | Self::BrokenCardChain { .. }
            | Self::CardChainTooLong { .. }
            | Self::CardReplaced { .. }
            | Self::CardMismatch
            | Self::SafetyNumberMismatch
            | Self::StaleBundle { .. }
            | Self::NoRecipients
            | Self::TooManyRecipients { .. }
            | Self::DuplicateRecipient { .. }
            | Self::NotARecipient
            | Self::Tampered
            | Self::SealedTooLarge { .. }
            | Self::Truncated
            | Self::InvalidDeviceList { .. }
            | Self::StaleDeviceList { .. } => Outlook::Never,
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = core::result::Result<T, E>;
