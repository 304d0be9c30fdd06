//! `Arbitrary` for every wire message of [`v1`], and [`WireMessage`], any one of them.
//!
//! The values are structurally valid protobuf messages (they encode, and decode back to
//! themselves) whose contents are arbitrary, biased towards what a receiver checks first:
//! version 1, keys of the right length, nested messages that are themselves well-formed.
//! That way a fuzzing suite gets past the outer checks and reaches the inner ones.

use proptest::collection::vec;
use proptest::prelude::*;
use prost::Message;

use crate::wire::v1;

/// Bytes of `len`, the protocol's length for the field, most of the time; any other short
/// length otherwise.
fn sized(len: usize) -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        6 => vec(any::<u8>(), len),
        1 => vec(any::<u8>(), 0..=len.saturating_mul(2).saturating_add(1)),
    ]
    .boxed()
}

/// Short arbitrary bytes: ciphertexts, unknown blobs.
fn blob(max: usize) -> BoxedStrategy<Vec<u8>> {
    vec(any::<u8>(), 0..=max).boxed()
}

/// A version field: 1 most of the time.
fn version() -> BoxedStrategy<u32> {
    prop_oneof![4 => Just(1u32), 1 => any::<u32>()].boxed()
}

/// A small number most of the time (ids, counters), any `u32` otherwise.
fn counter() -> BoxedStrategy<u32> {
    prop_oneof![3 => 0..8u32, 1 => any::<u32>()].boxed()
}

/// The serialized bytes of an arbitrary `M` most of the time, arbitrary bytes otherwise:
/// what a field that carries a nested message as `bytes` holds.
fn nested<M: Arbitrary + Message + 'static>() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        5 => any::<M>().prop_map(|message| message.encode_to_vec()),
        1 => blob(64),
    ]
    .boxed()
}

/// A group id: 32 bytes most of the time.
fn group_id() -> BoxedStrategy<Vec<u8>> {
    sized(32)
}

/// A group protocol version field: 2 most of the time.
fn group_version() -> BoxedStrategy<u32> {
    prop_oneof![4 => Just(2u32), 1 => any::<u32>()].boxed()
}

macro_rules! arbitrary {
    ($($ty:ident => $strategy:expr;)*) => {$(
        impl Arbitrary for v1::$ty {
            type Parameters = ();
            type Strategy = BoxedStrategy<Self>;

            fn arbitrary_with((): ()) -> Self::Strategy {
                $strategy.boxed()
            }
        }
    )*};
}

arbitrary! {
    CardContent => (
        prop_oneof![
            3 => "[a-z]{1,12}(@example\\.org)?",
            1 => any::<String>(),
        ],
        sized(32),
        sized(32),
        any::<u64>(),
        prop_oneof![3 => Just(Vec::new()), 1 => sized(32)],
    )
        .prop_map(|(identity, signing_key, agreement_key, created_at, previous_fingerprint)| {
            v1::CardContent {
                identity,
                signing_key,
                agreement_key,
                created_at,
                previous_fingerprint,
            }
        });
    CardSignature => (
        prop_oneof![3 => Just(crate::identity::SELF_SIGNER.to_owned()), 1 => any::<String>()],
        sized(64),
    )
        .prop_map(|(signer, signature)| v1::CardSignature { signer, signature });
    SignedCard => (nested::<v1::CardContent>(), vec(any::<v1::CardSignature>(), 0..=2))
        .prop_map(|(content, signatures)| v1::SignedCard { content, signatures });
    PrekeyBundle => (
        nested::<v1::SignedCard>(),
        counter(),
        sized(32),
        sized(64),
        proptest::option::of(counter()),
        prop_oneof![1 => Just(Vec::new()), 2 => sized(32)],
        (
            prop_oneof![1 => Just(Vec::new()), 4 => sized(crate::identity::KEM_PUBLIC_KEY_LEN)],
            prop_oneof![1 => Just(Vec::new()), 2 => sized(crate::identity::KEM_PUBLIC_KEY_LEN)],
            prop_oneof![1 => Just(Vec::new()), 2 => sized(64)],
        ),
    )
        .prop_map(
            |(
                card,
                signed_prekey_id,
                signed_prekey,
                signed_prekey_signature,
                one_time_prekey_id,
                one_time_prekey,
                (kem_prekey, one_time_kem_prekey, one_time_prekey_signature),
            )| v1::PrekeyBundle {
                card,
                signed_prekey_id,
                signed_prekey,
                signed_prekey_signature,
                one_time_prekey_id,
                one_time_prekey,
                kem_prekey,
                one_time_kem_prekey,
                one_time_prekey_signature,
            },
        );
    RatchetHeader => (
        sized(32),
        counter(),
        counter(),
        prop_oneof![3 => Just(0u32), 2 => Just(1u32), 1 => any::<u32>()],
        sized(crate::channel::MESSAGE_SALT_LEN),
    )
        .prop_map(|(ratchet_key, previous_chain_length, message_number, content_type, salt)| {
            v1::RatchetHeader {
                ratchet_key,
                previous_chain_length,
                message_number,
                content_type,
                salt,
            }
        });
    PrekeyInfo => (
        nested::<v1::SignedCard>(),
        counter(),
        proptest::option::of(counter()),
        sized(crate::channel::KEM_CIPHERTEXT_LEN),
    )
        .prop_map(|(initiator_card, signed_prekey_id, one_time_prekey_id, kem_ciphertext)| {
            v1::PrekeyInfo {
                initiator_card,
                signed_prekey_id,
                one_time_prekey_id,
                kem_ciphertext,
            }
        });
    ChannelMessage => (
        version(),
        nested::<v1::RatchetHeader>(),
        blob(96),
        proptest::option::of(any::<v1::PrekeyInfo>()),
    )
        .prop_map(|(version, header, ciphertext, prekey)| v1::ChannelMessage {
            version,
            header,
            ciphertext,
            prekey,
        });
    GroupHeader => (group_id(), sized(32), counter(), counter(), sized(16)).prop_map(
        |(group_id, sender, epoch, iteration, salt)| v1::GroupHeader {
            group_id,
            sender,
            epoch,
            iteration,
            salt,
        },
    );
    GroupMessage => (group_version(), nested::<v1::GroupHeader>(), blob(96), sized(64)).prop_map(
        |(version, header, ciphertext, signature)| v1::GroupMessage {
            version,
            header,
            ciphertext,
            signature,
        },
    );
    SenderKeyDistribution => (
        group_id(),
        sized(32),
        counter(),
        counter(),
        sized(32),
        sized(32),
    )
        .prop_map(|(group_id, sender, epoch, iteration, chain_key, signing_key)| {
            v1::SenderKeyDistribution {
                group_id,
                sender,
                epoch,
                iteration,
                chain_key,
                signing_key,
            }
        });
    RosterMember => (nested::<v1::SignedCard>(), prop_oneof![3 => 1..8u64, 1 => any::<u64>()])
        .prop_map(|(card, added_at)| v1::RosterMember { card, added_at });
    OwnerTransfer => (prop_oneof![3 => 1..8u64, 1 => any::<u64>()], sized(32), sized(64))
        .prop_map(|(version, new_owner, signature)| v1::OwnerTransfer {
            version,
            new_owner,
            signature,
        });
    Roster => (
        group_id(),
        prop_oneof![3 => 1..8u64, 1 => any::<u64>()],
        vec(any::<v1::RosterMember>(), 0..=3),
        (sized(32), sized(16), vec(any::<v1::OwnerTransfer>(), 0..=2)),
    )
        .prop_map(|(group_id, version, members, (founder, salt, transfers))| v1::Roster {
            group_id,
            version,
            members,
            founder,
            salt,
            transfers,
        });
    SignedRoster => (nested::<v1::Roster>(), sized(64))
        .prop_map(|(roster, signature)| v1::SignedRoster { roster, signature });
    LeaveRequest => group_id().prop_map(|group_id| v1::LeaveRequest { group_id });
    ResyncRequest => group_id().prop_map(|group_id| v1::ResyncRequest { group_id });
    OwnershipOffer => (group_id(), proptest::option::of(any::<v1::OwnerTransfer>()))
        .prop_map(|(group_id, transfer)| v1::OwnershipOffer { group_id, transfer });
    GroupControl => (
        group_version(),
        proptest::option::of(any::<v1::SignedRoster>()),
        proptest::option::of(any::<v1::SenderKeyDistribution>()),
        proptest::option::of(any::<v1::LeaveRequest>()),
        prop_oneof![3 => 0..8u64, 1 => any::<u64>()],
        proptest::option::of(any::<v1::ResyncRequest>()),
        proptest::option::of(any::<v1::OwnershipOffer>()),
    )
        .prop_map(|(version, roster, sender_key, leave, roster_version, resync, offer)| {
            v1::GroupControl {
                version,
                roster,
                sender_key,
                leave,
                roster_version,
                resync,
                offer,
            }
        });
}

macro_rules! wire_message {
    ($($ty:ident),* $(,)?) => {
        /// Any one wire message of [`v1`], for properties that hold for all of them.
        ///
        /// Its strategy ([`any::<WireMessage>()`](proptest::arbitrary::any) or
        /// [`wire_message`]) picks the type uniformly, then the message from that type's
        /// `Arbitrary` implementation.
        ///
        /// ```
        /// use proptest::prelude::*;
        /// use ratchetkit::testing::WireMessage;
        ///
        /// proptest!(|(message in any::<WireMessage>())| {
        ///     let bytes = message.encode();
        ///     prop_assert_eq!(message.decode_as(&bytes), Ok(message.clone()));
        /// });
        /// ```
        #[derive(Clone, Debug, PartialEq)]
        #[allow(missing_docs)] // Each variant is the message of its name.
        pub enum WireMessage {
            $($ty(v1::$ty),)*
        }

        impl WireMessage {
            /// The message type's protobuf name, such as `"ChannelMessage"`.
            ///
            /// ```
            /// use ratchetkit::{testing::WireMessage, wire::v1};
            /// let message = WireMessage::LeaveRequest(v1::LeaveRequest::default());
            /// assert_eq!(message.name(), "LeaveRequest");
            /// ```
            pub fn name(&self) -> &'static str {
                match self {
                    $(Self::$ty(_) => stringify!($ty),)*
                }
            }

            /// The message's protobuf encoding (the canonical one).
            ///
            /// ```
            /// use ratchetkit::{testing::WireMessage, wire::v1};
            /// let message = WireMessage::LeaveRequest(v1::LeaveRequest { group_id: vec![7] });
            /// assert_eq!(message.encode(), [0x0a, 1, 7]);
            /// ```
            pub fn encode(&self) -> Vec<u8> {
                match self {
                    $(Self::$ty(message) => message.encode_to_vec(),)*
                }
            }

            /// Decodes `bytes` as a message of the same type as `self` (with prost, which
            /// is lenient: the crate's own parsers also insist on the canonical encoding).
            ///
            /// # Errors
            /// prost's error when `bytes` are not an encoding of that type.
            ///
            /// ```
            /// use ratchetkit::{testing::WireMessage, wire::v1};
            /// let message = WireMessage::LeaveRequest(v1::LeaveRequest { group_id: vec![7] });
            /// assert_eq!(message.decode_as(&[0x0a, 1, 7]), Ok(message.clone()));
            /// assert!(message.decode_as(&[0x0a, 2, 7]).is_err());
            /// ```
            pub fn decode_as(&self, bytes: &[u8]) -> Result<Self, prost::DecodeError> {
                match self {
                    $(Self::$ty(_) => v1::$ty::decode(bytes).map(Self::$ty),)*
                }
            }
        }

        impl Arbitrary for WireMessage {
            type Parameters = ();
            type Strategy = BoxedStrategy<Self>;

            fn arbitrary_with((): ()) -> Self::Strategy {
                prop_oneof![
                    $(any::<v1::$ty>().prop_map(Self::$ty),)*
                ]
                .boxed()
            }
        }
    };
}

wire_message!(
    CardContent,
    CardSignature,
    SignedCard,
    PrekeyBundle,
    RatchetHeader,
    PrekeyInfo,
    ChannelMessage,
    GroupHeader,
    GroupMessage,
    SenderKeyDistribution,
    RosterMember,
    OwnerTransfer,
    Roster,
    SignedRoster,
    LeaveRequest,
    ResyncRequest,
    OwnershipOffer,
    GroupControl,
);

/// Any wire message of [`v1`]: the same as `any::<WireMessage>()`.
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::wire_message;
///
/// proptest!(|(message in wire_message())| {
///     // Whatever the contents, a peer's parser must not panic on them; here, prost's.
///     let _ = message.decode_as(&message.encode());
/// });
/// ```
pub fn wire_message() -> impl Strategy<Value = WireMessage> {
    any::<WireMessage>()
}
