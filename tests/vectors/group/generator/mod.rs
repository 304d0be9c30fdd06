//! The generator of `tests/vectors/group-v2.json`, shared by the example that writes the file
//! and the test that checks it:
//!
//! - `examples/generate_vectors.rs` prints [`to_json`]: [`COMMAND`];
//! - `tests/group_vectors.rs` checks that the committed file equals [`to_json`].
//!
//! # How the vectors are made
//!
//! The generator drives ratchetkit's public API (identities, prekey stores, channels and
//! `Group::create`, `join`, `receive`, `remove_member`, `rekey`, `resync`,
//! `offer_ownership`, `accept_ownership`, `leave`, `encrypt`, `decrypt`) with a
//! `ChaCha20Rng` seeded with [`SEED`], wrapped in the [`RecordingRng`] of the channel
//! vectors. Every random value ratchetkit uses is one `fill_bytes` draw: 32 bytes for each
//! private key and each ML-KEM encapsulation's randomness, 64 for each ML-KEM seed, 16 for
//! the group's salt and for each channel or group message's salt; the draws are listed in
//! the file, and each timeline event lists the draws it made, in order.
//!
//! Alongside the library runs a model of the protocol on the primitive crates: the Double
//! Ratchet of each channel ([`ChannelModel`], as for the channel vectors), each member's
//! sender keys, the rosters and owner transfers, and the group control each operation must
//! send. The model
//! computes every message itself and checks that the library's bytes are the same, byte for
//! byte; the group events the library reports must be the ones the model expects. Any
//! disagreement panics.
//!
//! Rejected inputs are given to the library at their point of the timeline: each must fail
//! with the expected `ratchetkit::Error` variant, draw nothing, and leave the party's group,
//! channels and prekey store byte for byte as they were. Inputs that are new channel
//! messages (group control the generator makes up) are encrypted by the model on the
//! sender's open sending chain, and listed with all their keys. Forged sender keys in them
//! come from a second `ChaCha20Rng` seeded with [`CRAFT_SEED`].
//!
//! The submodules add to [`Generator`]: [`channels`] the channels between the members,
//! [`sending`] the rosters, sender keys and controls the model expects a group call to
//! send, [`operations`] the group calls, [`rejected`] the rejected inputs, and [`scenario`]
//! the timeline itself.

mod channels;
mod operations;
mod rejected;
mod scenario;
mod sending;

use rand::rngs::ChaCha20Rng;
use rand::SeedableRng;
use ratchetkit::{
    channel::CHANNEL_ID_CONTEXT, channel::MESSAGE_INFO, channel::PQXDH_INFO,
    channel::PREKEY_INFO_CONTEXT, channel::PROTOCOL_VERSION, channel::ROOT_INFO,
    group::GROUP_ID_CONTEXT, group::GROUP_MESSAGE_INFO, group::GROUP_SIGNATURE_CONTEXT,
    group::GROUP_VERSION, group::OWNER_TRANSFER_CONTEXT, group::ROSTER_SIGNATURE_CONTEXT,
    identity::CARD_SIGNATURE_CONTEXT, identity::SELF_SIGNER, identity::SIGNED_PREKEY_CONTEXT,
    Identity, PrekeyStore,
};

use super::format::{
    Action, ChannelMessageVector, ControlVector, GroupGenerator, GroupIdVector, GroupMessageVector,
    GroupProtocol, GroupVectors, PrekeyVector, RejectedVector, RosterVector, SenderKeyVector,
    TimelineEvent, TransferVector,
};
use super::member::Member;
use crate::vectors::channel_model::{ChannelModel, DrawnPrekey};
use crate::vectors::json::{self, text, ChannelVector, IdentityVector};
use crate::vectors::keys::{bundle, identity_vector};
use crate::vectors::primitives::{
    mlkem_public, signed_prekey_input, x25519_public, CONTENT_APPLICATION, CONTENT_GROUP_CONTROL,
    KEM_SEED_LEN,
};
use crate::vectors::rng::RecordingRng;

/// Seed of the `ChaCha20Rng` every private key and the group's salt are drawn from (32
/// ASCII bytes).
pub const SEED: [u8; 32] = *b"ratchetkit/v2/group-vectors/seed";

/// Seed of the `ChaCha20Rng` the forged keys inside rejected inputs come from.
pub const CRAFT_SEED: [u8; 32] = *b"ratchetkit/v2/group-vectors/fake";

/// How the file is made.
pub const COMMAND: &str =
    "cargo run --example generate_vectors -- group > tests/vectors/group-v2.json";

/// The salt of another group alice founded, for inputs that belong elsewhere (16 ASCII
/// bytes).
pub const OTHER_SALT: [u8; 16] = *b"another group 02";

/// The salt of the look-alike group bob makes under the group's id.
pub const LOOK_ALIKE_SALT: [u8; 16] = *b"look-alike group";

/// The members, by index: alice owns the group.
pub const NAMES: [&str; 3] = ["alice", "bob", "carol"];
const ALICE: usize = 0;
const BOB: usize = 1;
const CAROL: usize = 2;

/// The members' card creation times.
pub const CREATED_AT: [u64; 3] = [1_700_000_000, 1_700_000_100, 1_700_000_200];

const DESCRIPTION: &str = "Interop test vectors of ratchetkit group protocol version 2 \
(channels at protocol version 2): three identities (alice, the founder and first owner, bob \
and carol), the three one-to-one channels between them, and a group of the three on sender \
keys: its creation under an id bound to alice (SHA-256 of her identity key and a drawn salt; \
alice's welcome, bob's and carol's sender-key distributions over the channels), messages from \
every member (one delivered out of order), rekeys by alice and bob whose keys to carol are \
lost, carol's resync answered by the owner and by bob, the removal of carol (a new roster, and \
new epoch keys from alice and bob), messages after it (one sent under an old epoch and read \
after the change), a rekey by bob, the transfer of the group from alice to bob (offer, \
acceptance, a roster signed by bob carrying alice's signed transfer), alice leaving and bob \
removing her. Every private key and random input is listed, and every derived value: cards, \
prekeys (X25519 and ML-KEM-768), each channel's hybrid start, ratchet chains and messages \
(each with its salt and padded plaintext; group control travels as channel messages of \
content type 1), the group id, owner transfers, rosters and their signatures, sender keys, \
every GroupControl, and for every group message its chain key, message key, salt (drawn by \
the encrypt call), AES key and nonce (derived with the salt), header, padded plaintext \
(Padmé), signature input, signature and bytes. Then rejected inputs: each given to a \
named party at a named point of the timeline, with the error it must give and nothing \
changed. All byte strings are lowercase hex. Field by field documentation: \
tests/vectors/README.md. Regenerate with `cargo run --example generate_vectors -- group > \
tests/vectors/group-v2.json`.";

/// A member's own sender key, as the model tracks it.
#[derive(Clone)]
struct OwnKey {
    epoch: u32,
    chain_key: [u8; 32],
    iteration: u32,
    seed: [u8; 32],
}

/// What the model tracks of a member.
struct MemberModel {
    /// The identity's Ed25519 seed.
    seed: [u8; 32],
    /// The roster the member holds (index into `rosters`).
    roster: Option<usize>,
    own: Option<OwnKey>,
    /// The ownership offer made to the member (index into `owner_transfers`).
    offer: Option<usize>,
}

/// One channel: its members, its model, and its listing (whose chains are the model's).
struct GroupChannel {
    initiator: usize,
    responder: usize,
    model: ChannelModel,
    vector: ChannelVector,
}

/// The library's members and the model, as the scenario runs, with what is listed so far.
struct Generator {
    rng: RecordingRng,
    craft_rng: ChaCha20Rng,
    members: Vec<Member>,
    models: Vec<MemberModel>,
    channels: Vec<GroupChannel>,
    /// The group's id, once created.
    group: Option<GroupIdVector>,
    identities: Vec<IdentityVector>,
    prekeys: Vec<PrekeyVector>,
    /// The signed prekeys of the channels' responders, as drawn, by member.
    drawn_prekeys: Vec<(usize, DrawnPrekey)>,
    channel_messages: Vec<ChannelMessageVector>,
    owner_transfers: Vec<TransferVector>,
    rosters: Vec<RosterVector>,
    sender_keys: Vec<SenderKeyVector>,
    controls: Vec<ControlVector>,
    group_messages: Vec<GroupMessageVector>,
    timeline: Vec<TimelineEvent>,
    rejected: Vec<RejectedVector>,
}

fn name(party: usize) -> String {
    NAMES[party].into()
}

/// The member named `name` in the file.
fn named(name: &str) -> usize {
    NAMES
        .iter()
        .position(|n| *n == name)
        .unwrap_or_else(|| panic!("{name} is not a member"))
}

/// A timeline event with only its party and action; the step is set when it is pushed.
fn event(party: usize, action: Action) -> TimelineEvent {
    TimelineEvent {
        step: 0,
        party: name(party),
        action,
        channel: None,
        channel_message: None,
        members: None,
        from: None,
        control: None,
        member: None,
        group_message: None,
        draws: Vec::new(),
        sent: Vec::new(),
        events: Vec::new(),
        note: None,
    }
}

impl Generator {
    /// The members' identities, and the prekey stores of the channels' responders (bob and
    /// carol: alice only ever creates channels).
    fn new() -> Self {
        let mut rng = RecordingRng::new(SEED);
        let mut members = Vec::new();
        let mut models = Vec::new();
        let mut identities = Vec::new();
        for (party, name) in NAMES.iter().enumerate() {
            let identity =
                Identity::generate_at(&mut rng, name, CREATED_AT[party]).expect("identity");
            let [seed, agreement] = rng.take("Identity::generate_at");
            identities.push(identity_vector(&identity, seed, agreement));
            members.push(Member::new(identity));
            models.push(MemberModel {
                seed,
                roster: None,
                own: None,
                offer: None,
            });
        }
        let mut prekeys = Vec::new();
        let mut drawn_prekeys = Vec::new();
        for party in [BOB, CAROL] {
            let store = PrekeyStore::new(&mut rng);
            let draws = rng.take_sized("PrekeyStore::new", &[32, KEM_SEED_LEN]);
            let secret: [u8; 32] = draws[0].as_slice().try_into().expect("32 bytes");
            let seed: [u8; KEM_SEED_LEN] = draws[1].as_slice().try_into().expect("64 bytes");
            let member = &mut members[party];
            let (bundle_bytes, bundle) = bundle(&store, &member.identity, None, (&secret, &seed));
            let (id, public) = (bundle.signed_prekey_id, x25519_public(&secret));
            let kem_public = mlkem_public(&seed);
            prekeys.push(PrekeyVector {
                owner: name(party),
                id,
                secret: hex::encode(secret),
                public: hex::encode(public),
                kem_seed: hex::encode(seed),
                kem_public: hex::encode(&kem_public),
                signature_input: hex::encode(signed_prekey_input(id, &public, &kem_public)),
                signature: hex::encode(&bundle.signed_prekey_signature),
                bundle: hex::encode(&bundle_bytes),
            });
            drawn_prekeys.push((party, (id, secret, seed)));
            member.prekeys = Some(store);
        }
        Self {
            rng,
            craft_rng: ChaCha20Rng::from_seed(CRAFT_SEED),
            members,
            models,
            channels: Vec::new(),
            group: None,
            identities,
            prekeys,
            drawn_prekeys,
            channel_messages: Vec::new(),
            owner_transfers: Vec::new(),
            rosters: Vec::new(),
            sender_keys: Vec::new(),
            controls: Vec::new(),
            group_messages: Vec::new(),
            timeline: Vec::new(),
            rejected: Vec::new(),
        }
    }

    fn key(&self, party: usize) -> [u8; 32] {
        self.members[party].key
    }

    /// The member whose identity key is `key`.
    fn party(&self, key: &[u8; 32]) -> usize {
        self.members
            .iter()
            .position(|member| member.key == *key)
            .expect("a member")
    }

    fn channel_between(&self, a: usize, b: usize) -> usize {
        self.channels
            .iter()
            .position(|c| {
                (c.initiator, c.responder) == (a, b) || (c.initiator, c.responder) == (b, a)
            })
            .expect("a channel")
    }

    fn push_event(&mut self, mut event: TimelineEvent) {
        event.step = self.timeline.len();
        self.timeline.push(event);
    }

    /// Notes what the last event exercises.
    fn note(&mut self, note: &str) {
        self.timeline.last_mut().expect("an event").note = Some(note.into());
    }
}

/// Runs the generator: drives ratchetkit through the scenario and lists everything.
///
/// # Panics
/// If ratchetkit draws randomness in another order than documented, or disagrees with the
/// model anywhere, or accepts a rejected input.
pub fn generate() -> GroupVectors {
    let mut g = Generator::new();
    scenario::run(&mut g);
    GroupVectors {
        description: DESCRIPTION.into(),
        protocol: GroupProtocol {
            channel_version: PROTOCOL_VERSION,
            group_version: GROUP_VERSION,
            card_signature_context: text(CARD_SIGNATURE_CONTEXT),
            self_signer: SELF_SIGNER.into(),
            signed_prekey_signature_context: text(SIGNED_PREKEY_CONTEXT),
            pqxdh_info: text(PQXDH_INFO),
            channel_id_context: text(CHANNEL_ID_CONTEXT),
            prekey_info_context: text(PREKEY_INFO_CONTEXT),
            root_info: text(ROOT_INFO),
            message_info: text(MESSAGE_INFO),
            group_message_info: text(GROUP_MESSAGE_INFO),
            group_signature_context: text(GROUP_SIGNATURE_CONTEXT),
            roster_signature_context: text(ROSTER_SIGNATURE_CONTEXT),
            owner_transfer_context: text(OWNER_TRANSFER_CONTEXT),
            group_id_context: text(GROUP_ID_CONTEXT),
            content_type_application: CONTENT_APPLICATION,
            content_type_group_control: CONTENT_GROUP_CONTROL,
        },
        generator: GroupGenerator {
            command: COMMAND.into(),
            rng: "rand 0.10 ChaCha20Rng::from_seed(seed); each private key and each ML-KEM \
                  encapsulation's randomness is one 32-byte fill_bytes draw, each ML-KEM seed \
                  one 64-byte draw, the group's salt and each channel or group message's salt \
                  one 16-byte draw, listed with the timeline event that drew it (or, for the \
                  identities and prekeys, in their entries); forged keys and the salts of \
                  made-up channel messages in rejected inputs come from \
                  ChaCha20Rng::from_seed(craft_seed)"
                .into(),
            seed: hex::encode(SEED),
            craft_seed: hex::encode(CRAFT_SEED),
        },
        group: g.group.expect("the group was created"),
        identities: g.identities,
        prekeys: g.prekeys,
        channels: g
            .channels
            .into_iter()
            .map(|c| ChannelVector {
                chains: c.model.chains,
                ..c.vector
            })
            .collect(),
        channel_messages: g.channel_messages,
        owner_transfers: g.owner_transfers,
        rosters: g.rosters,
        sender_keys: g.sender_keys,
        controls: g.controls,
        group_messages: g.group_messages,
        timeline: g.timeline,
        rejected: g.rejected,
    }
}

/// The file's text: [`generate`] as pretty-printed JSON with a final newline.
pub fn to_json() -> String {
    json::to_json(&generate())
}
