//! The generator of `tests/vectors/channel-v2.json`, shared by the example that writes the
//! file and the test that checks it:
//!
//! - `examples/generate_vectors.rs` prints [`to_json`]: [`COMMAND`];
//! - `tests/vectors.rs` checks that the committed file equals [`to_json`].
//!
//! # How the vectors are made
//!
//! The generator drives ratchetkit's public API with a `ChaCha20Rng` seeded with [`SEED`],
//! wrapped in a [`RecordingRng`] that records every draw. Every random value ratchetkit uses
//! is one `fill_bytes` draw, in this order:
//!
//! 1. `Identity::generate_at` (alice, bob, carol): the Ed25519 seed, then the X25519 secret
//!    (32 bytes each);
//! 2. `PrekeyStore::new`: bob's signed prekey, its X25519 secret (32 bytes) then its ML-KEM
//!    seed (64 bytes);
//! 3. `generate_one_time_prekeys(3)`: the same two draws per one-time prekey;
//! 4. then the timeline, each event listing its draws: `Channel::create` draws the
//!    ephemeral secret EK_A, then the 32 bytes `m` of the ML-KEM encapsulation;
//!    `Channel::encrypt` draws a new ratchet secret when the sender has received a new
//!    ratchet key since it last sent (the first message of each later sending chain), then
//!    the message's 16-byte salt.
//!
//! The recorded draws are the private keys and random inputs listed in the file.
//! Everything ratchetkit does not expose (DH outputs, the KEM shared secret, root, chain
//! and message keys, AES keys and nonces, padded plaintexts) is computed from them with the
//! primitive crates, by a model of the protocol ([`ChannelModel`]) that runs alongside the
//! library. The model is checked against the library at every step: public keys derived
//! from the recorded secrets must be the ones in the cards and bundles, the channel ids
//! must be the library's, every message it computes must equal the library's byte for byte,
//! and the receiving side's DH ratchet step must give the keys the sender used. Any
//! disagreement panics with what differed, so the file is only ever written from a library
//! run that matches the model.
//!
//! The timeline follows [`SCRIPT`], the rejected inputs [`REJECTED`]. The output is
//! deterministic: same seed, same library behavior, same bytes.

use ratchetkit::wire::v1;
use ratchetkit::{
    channel::CHANNEL_ID_CONTEXT, channel::MESSAGE_INFO, channel::MESSAGE_SALT_LEN,
    channel::MIN_PADDED_LEN, channel::PQXDH_INFO, channel::PREKEY_INFO_CONTEXT,
    channel::PROTOCOL_VERSION, channel::ROOT_INFO, identity::CARD_SIGNATURE_CONTEXT,
    identity::ONE_TIME_PREKEY_CONTEXT, identity::SELF_SIGNER, identity::SIGNED_PREKEY_CONTEXT,
    Channel, Identity, Padding, PrekeyBundle, PrekeyStore,
};

use super::format::{
    Action, BundleVector, Event, Generator, MessageVector, PaddingName, PrekeyVectors, Protocol,
    RejectedVector, Vectors,
};
use super::script::{tamper, Rejects, Step, Tamper, BUNDLES, REJECTED, SCRIPT};
use super::sides::{ChannelSides, Party, Sides};
use crate::vectors::channel_model::{
    model_message_vector, start, ChannelModel, DrawnPrekey, StartParty,
};
use crate::vectors::json::{self, array, bytes, text, ChannelVector, PrekeyVector};
use crate::vectors::keys::{bundle, identity_vector};
use crate::vectors::primitives::{
    mlkem_public, one_time_prekey_input, signed_prekey_input, x25519_public, CONTENT_APPLICATION,
    KEM_SEED_LEN,
};
use crate::vectors::rng::RecordingRng;

/// Seed of the `ChaCha20Rng` every random value is drawn from (32 ASCII bytes).
pub const SEED: [u8; 32] = *b"ratchetkit/v2/channel-vectors/01";

/// How the file is made.
pub const COMMAND: &str = "cargo run --example generate_vectors > tests/vectors/channel-v2.json";

/// The card creation times of alice, bob and carol: 2023-11-14T22:13:20Z and 100 and 200
/// seconds later.
pub const CREATED_AT: [u64; 3] = [1_700_000_000, 1_700_000_100, 1_700_000_200];

/// How many one-time prekeys Bob generates.
const ONE_TIME_PREKEYS: usize = 3;

const DESCRIPTION: &str = "Interop test vectors of ratchetkit channel protocol version 2: \
three identities and their self-signed cards; the responder bob's prekeys (each an X25519 and \
an ML-KEM-768 key pair under one id, signed) and two bundles, with and without a one-time \
prekey; and two channels started with the hybrid start (X25519 agreements and an ML-KEM-768 \
encapsulation, HKDF info ratchetkit/v2/pqxdh, giving the first root key and the creator's \
first chain key, under its ephemeral key). Channel 0, alice to bob with a one-time prekey: a \
Double Ratchet conversation of 12 messages in both directions on 6 sending chains (one message \
delivered after a later one of its own chain, one after the sender's next ratchet step). \
Channel 1, carol to bob without a one-time prekey: bob joins from carol's second message, \
then replies with minimal padding. Bob's replay guard records both channels (every join, with \
or without a one-time prekey). Every message carries a random 16-byte salt (the HKDF salt of \
its AES key and nonce) and a padded plaintext; the associated data of the creator's \
first-chain messages holds the hash of their prekey information. Every private key and \
random input is listed, and every derived value: recompute them all. Then rejected inputs (tampered, replayed, non-canonical, with changed \
prekey information, unpadded), each with the point of the timeline where it is given, the \
error it must give and nothing changed. All byte strings are lowercase hex; the protocol \
strings are ASCII. Field by field documentation: tests/vectors/README.md. Regenerate with \
`cargo run --example generate_vectors > tests/vectors/channel-v2.json`.";

/// One channel being generated: its listing (chains are the model's), the model, and the
/// prekey information its creator attaches.
struct GeneratedChannel {
    vector: ChannelVector,
    model: ChannelModel,
    prekey_info: v1::PrekeyInfo,
}

/// Bob's private prekeys, as drawn.
struct BobPrekeys {
    signed: DrawnPrekey,
    one_time: Vec<DrawnPrekey>,
}

/// The library's sides and the models, as the script runs, with what is listed so far.
struct Conversation {
    rng: RecordingRng,
    sides: Sides,
    identities: Vec<json::IdentityVector>,
    prekeys: BobPrekeys,
    bundles: Vec<BundleVector>,
    channels: Vec<GeneratedChannel>,
    messages: Vec<MessageVector>,
    timeline: Vec<Event>,
    rejected: Vec<RejectedVector>,
}

/// An event with only its party, action and channel; the step is set when it is pushed.
fn event(party: Party, action: Action, channel: usize) -> Event {
    Event {
        step: 0,
        party: party.name().into(),
        action,
        channel,
        message: None,
        bundle: None,
        padding: None,
        draws: Vec::new(),
        note: None,
    }
}

impl Conversation {
    fn push(&mut self, mut event: Event) {
        event.step = self.timeline.len();
        self.timeline.push(event);
    }

    /// `party` creates the next channel, to bob, from his bundle `bundle`.
    fn create(&mut self, party: Party, bundle: usize) {
        let index = self.channels.len();
        let listed = &self.bundles[bundle];
        let fetched =
            PrekeyBundle::from_bytes(&bytes(&listed.bundle)).expect("the bundle verifies");
        let channel = Channel::create(&mut self.rng, self.sides.identity(party), &fetched)
            .expect("Channel::create");
        let draws = self.rng.take_sized("Channel::create", &[32, 32]);
        let ephemeral_secret: [u8; 32] = draws[0].as_slice().try_into().expect("32 bytes");
        let kem_randomness: [u8; 32] = draws[1].as_slice().try_into().expect("32 bytes");

        let one_time = listed.one_time_prekey_id.map(|id| {
            *self
                .prekeys
                .one_time
                .iter()
                .find(|(listed, _, _)| *listed == id)
                .expect("a listed one-time prekey")
        });
        let agreement_secret =
            |party: Party| array::<32>(&self.identities[party.index()].agreement_secret);
        let (vector, model, prekey_info) = start(
            (index, &channel),
            [
                &StartParty {
                    name: party.name(),
                    card: self.sides.identity(party).card(),
                    agreement_secret: agreement_secret(party),
                },
                &StartParty {
                    name: Party::Bob.name(),
                    card: self.sides.identity(Party::Bob).card(),
                    agreement_secret: agreement_secret(Party::Bob),
                },
            ],
            (self.prekeys.signed, one_time),
            (ephemeral_secret, kem_randomness),
        );
        self.channels.push(GeneratedChannel {
            vector,
            model,
            prekey_info,
        });
        self.sides.channels.push(ChannelSides {
            creator: party,
            created: channel,
            joined: None,
        });
        let mut e = event(party, Action::Create, index);
        e.bundle = Some(bundle);
        e.draws = draws.iter().map(hex::encode).collect();
        self.push(e);
    }

    fn send(&mut self, channel: usize, party: Party, plaintext: &str) {
        let index = self.messages.len();
        let model = &mut self.channels[channel].model;
        let new_chain = model.needs_new_chain(party.name());
        let bytes = self
            .sides
            .channel(channel, party)
            .expect("the script has Bob send only after he joined")
            .encrypt(&mut self.rng, plaintext.as_bytes())
            .expect("encrypt");
        let lengths: &[usize] = if new_chain {
            &[32, MESSAGE_SALT_LEN]
        } else {
            &[MESSAGE_SALT_LEN]
        };
        let draws = self.rng.take_sized("Channel::encrypt", lengths);
        let secret = new_chain.then(|| draws[0].as_slice().try_into().expect("32 bytes"));
        let salt = draws
            .last()
            .expect("a salt")
            .as_slice()
            .try_into()
            .expect("16 bytes");
        let m = model.send(
            party.name(),
            (CONTENT_APPLICATION, plaintext.as_bytes()),
            secret,
            salt,
        );
        assert_eq!(
            hex::encode(&m.message),
            hex::encode(&bytes),
            "message {index}: the library's message differs from the model's"
        );
        let chain = &model.chains[m.chain];
        let receiver = if party == Party::Bob {
            self.sides.channels[channel].creator
        } else {
            Party::Bob
        };
        self.messages.push(model_message_vector!(
            MessageVector {
                index,
                channel,
                sender: party.name().into(),
                receiver: receiver.name().into(),
                chain: m.chain,
                ratchet_secret: chain.ratchet_secret.clone(),
                ratchet_public: chain.ratchet_public.clone(),
                root_key: chain.root_key.clone(),
                plaintext_utf8: plaintext.into(),
            },
            &m,
            plaintext
        ));
        let mut e = event(party, Action::Send, channel);
        e.message = Some(index);
        e.draws = draws.iter().map(hex::encode).collect();
        self.push(e);
    }

    /// Message `index` reaches its receiver; bob joins from his first on each channel.
    fn deliver(&mut self, index: usize, note: Option<&str>) {
        let message = &self.messages[index];
        let (channel, chain) = (message.channel, message.chain);
        let party = Party::named(&message.receiver);
        let bytes = bytes(&message.message);
        let plaintext = message.plaintext_utf8.clone();
        let action = if let Some(side) = self.sides.channel(channel, party) {
            let decrypted = side.decrypt(&bytes).expect("Channel::decrypt");
            assert_eq!(decrypted, plaintext.as_bytes());
            Action::Receive
        } else {
            let joins = self.sides.bob_prekeys.signed_prekey_joins();
            let joined = self.sides.join(channel, &bytes).expect("Channel::join");
            assert_eq!(joined, plaintext.as_bytes());
            let store = &self.sides.bob_prekeys;
            if let Some(id) = self.channels[channel].vector.one_time_prekey_id {
                assert!(
                    !store.one_time_prekey_ids().contains(&id),
                    "joining consumes the one-time prekey"
                );
            }
            assert_eq!(
                store.signed_prekey_joins(),
                joins + 1,
                "every join is recorded, with or without a one-time prekey"
            );
            Action::Join
        };
        self.channels[channel].model.receive(party.name(), chain);
        let mut e = event(party, action, channel);
        e.message = Some(index);
        e.note = note.map(Into::into);
        self.push(e);
    }

    fn set_padding(&mut self, channel: usize, party: Party, padding: PaddingName) {
        let setting = match padding {
            PaddingName::Padme => Padding::Padme,
            PaddingName::Minimal => Padding::Minimal,
        };
        self.sides
            .channel(channel, party)
            .expect("a side sets its padding once it has the channel")
            .set_padding(setting);
        self.channels[channel]
            .model
            .set_padding(party.name(), setting);
        let mut e = event(party, Action::SetPadding, channel);
        e.padding = Some(padding);
        self.push(e);
    }

    /// Gives a rejected input to the library, which must refuse it with the expected error
    /// and change nothing.
    fn reject(&mut self, rejects: &Rejects, (how, expected, what): (Tamper, &str, &str)) {
        let m = &self.messages[rejects.message];
        let channel = m.channel;
        let original = bytes(&m.message);
        let input = tamper(m, how, &self.channels[channel].prekey_info);
        assert_eq!(
            input == original,
            matches!(how, Tamper::Replay),
            "{what}: only a replay is the message itself"
        );
        self.sides.refuse(
            (rejects.party, channel),
            rejects.action,
            &input,
            expected,
            what,
        );
        self.rejected.push(RejectedVector {
            index: self.rejected.len(),
            after_step: self.timeline.len() - 1,
            party: rejects.party.name().into(),
            action: rejects.action,
            channel,
            message: rejects.message,
            input: hex::encode(&input),
            expected_error: expected.into(),
            description: what.into(),
        });
    }
}

/// Bob's prekey store, and the listing of its prekeys and bundles.
fn bob_prekeys(rng: &mut RecordingRng, bob: &Identity) -> (PrekeyStore, BobPrekeys, PrekeyVectors) {
    let mut store = PrekeyStore::new(rng);
    let draws = rng.take_sized("PrekeyStore::new", &[32, KEM_SEED_LEN]);
    let spk_secret: [u8; 32] = draws[0].as_slice().try_into().expect("32 bytes");
    let spk_seed: [u8; KEM_SEED_LEN] = draws[1].as_slice().try_into().expect("64 bytes");
    let ids = store
        .generate_one_time_prekeys(rng, ONE_TIME_PREKEYS)
        .expect("one-time prekeys");
    let draws = rng.take_sized(
        "PrekeyStore::generate_one_time_prekeys",
        &[32, KEM_SEED_LEN].repeat(ONE_TIME_PREKEYS),
    );
    let one_time: Vec<DrawnPrekey> = ids
        .iter()
        .zip(draws.chunks_exact(2))
        .map(|(&id, pair)| {
            (
                id,
                pair[0].as_slice().try_into().expect("32 bytes"),
                pair[1].as_slice().try_into().expect("64 bytes"),
            )
        })
        .collect();

    let signed_id = store.signed_prekey_id();
    let signed = (&spk_secret, &spk_seed);
    let (_, without) = bundle(&store, bob, None, signed);
    let (public, kem_public) = (x25519_public(&spk_secret), mlkem_public(&spk_seed));
    let signed_prekey = PrekeyVector {
        id: signed_id,
        secret: hex::encode(spk_secret),
        public: hex::encode(public),
        kem_seed: hex::encode(spk_seed),
        kem_public: hex::encode(&kem_public),
        signature_input: hex::encode(signed_prekey_input(signed_id, &public, &kem_public)),
        signature: hex::encode(&without.signed_prekey_signature),
    };
    let one_time_prekeys = one_time
        .iter()
        .map(|&(id, secret, seed)| {
            // Each one-time prekey's public keys and signature, as its own bundle carries
            // them.
            let (_, with) = bundle(&store, bob, Some(id), signed);
            let (public, kem_public) = (x25519_public(&secret), mlkem_public(&seed));
            assert_eq!(
                with.one_time_prekey, public,
                "one-time prekey {id}: the first draw is its X25519 secret"
            );
            assert_eq!(
                with.one_time_kem_prekey, kem_public,
                "one-time prekey {id}: the second draw is its ML-KEM seed"
            );
            PrekeyVector {
                id,
                secret: hex::encode(secret),
                public: hex::encode(public),
                kem_seed: hex::encode(seed),
                kem_public: hex::encode(&kem_public),
                signature_input: hex::encode(one_time_prekey_input(id, &public, &kem_public)),
                signature: hex::encode(&with.one_time_prekey_signature),
            }
        })
        .collect();
    let bundles = BUNDLES
        .iter()
        .map(|position| {
            let one_time_prekey_id = position.map(|p| ids[p]);
            let (bundle_bytes, _) = bundle(&store, bob, one_time_prekey_id, signed);
            BundleVector {
                one_time_prekey_id,
                bundle: hex::encode(bundle_bytes),
            }
        })
        .collect();
    (
        store,
        BobPrekeys {
            signed: (signed_id, spk_secret, spk_seed),
            one_time,
        },
        PrekeyVectors {
            owner: Party::Bob.name().into(),
            signed_prekey,
            one_time_prekeys,
            bundles,
        },
    )
}

/// Runs the generator: drives ratchetkit through [`SCRIPT`] and lists everything.
///
/// # Panics
/// If ratchetkit draws randomness in another order than documented above, or disagrees
/// with the model of the protocol anywhere.
pub fn generate() -> Vectors {
    let mut rng = RecordingRng::new(SEED);

    let mut identities = Vec::new();
    let mut identity_vectors = Vec::new();
    for party in Party::ALL {
        let identity = Identity::generate_at(&mut rng, party.name(), CREATED_AT[party.index()])
            .expect("an identity");
        let [seed, agreement] = rng.take("Identity::generate_at");
        identity_vectors.push(identity_vector(&identity, seed, agreement));
        identities.push(identity);
    }
    let (bob_store, prekeys, prekey_vectors) =
        bob_prekeys(&mut rng, &identities[Party::Bob.index()]);

    let mut conversation = Conversation {
        rng,
        sides: Sides {
            identities,
            bob_prekeys: bob_store,
            channels: Vec::new(),
        },
        identities: identity_vectors,
        prekeys,
        bundles: prekey_vectors.bundles.clone(),
        channels: Vec::new(),
        messages: Vec::new(),
        timeline: Vec::new(),
        rejected: Vec::new(),
    };
    for (index, step) in SCRIPT.iter().enumerate() {
        match *step {
            Step::Create(party, bundle) => conversation.create(party, bundle),
            Step::Send(channel, party, plaintext) => conversation.send(channel, party, plaintext),
            Step::Deliver(message, note) => conversation.deliver(message, note),
            Step::SetPadding(channel, party, padding) => {
                conversation.set_padding(channel, party, padding)
            }
        }
        assert_eq!(conversation.timeline.len(), index + 1, "one event per step");
        for rejects in REJECTED
            .iter()
            .filter(|rejects| rejects.after_step == index)
        {
            for &input in rejects.inputs {
                conversation.reject(rejects, input);
            }
        }
    }
    assert_eq!(
        conversation.rejected.len(),
        REJECTED
            .iter()
            .map(|rejects| rejects.inputs.len())
            .sum::<usize>(),
        "every rejection was tried"
    );

    Vectors {
        description: DESCRIPTION.into(),
        protocol: Protocol {
            version: PROTOCOL_VERSION,
            card_signature_context: text(CARD_SIGNATURE_CONTEXT),
            self_signer: SELF_SIGNER.into(),
            signed_prekey_signature_context: text(SIGNED_PREKEY_CONTEXT),
            one_time_prekey_signature_context: text(ONE_TIME_PREKEY_CONTEXT),
            pqxdh_info: text(PQXDH_INFO),
            channel_id_context: text(CHANNEL_ID_CONTEXT),
            prekey_info_context: text(PREKEY_INFO_CONTEXT),
            root_info: text(ROOT_INFO),
            message_info: text(MESSAGE_INFO),
            message_salt_len: MESSAGE_SALT_LEN,
            min_padded_len: MIN_PADDED_LEN,
        },
        generator: Generator {
            command: COMMAND.into(),
            rng: "rand 0.10 ChaCha20Rng::from_seed(seed); each random value is one fill_bytes \
                  draw (32 bytes for an X25519 or Ed25519 secret and an ML-KEM encapsulation's \
                  m, 64 for an ML-KEM seed, 16 for a message salt), in the order documented in \
                  tests/vectors/README.md; the timeline's events list theirs"
                .into(),
            seed: hex::encode(SEED),
        },
        identities: conversation.identities,
        prekeys: prekey_vectors,
        channels: conversation
            .channels
            .into_iter()
            .map(|c| ChannelVector {
                chains: c.model.chains,
                ..c.vector
            })
            .collect(),
        messages: conversation.messages,
        timeline: conversation.timeline,
        rejected: conversation.rejected,
    }
}

/// The file's text: [`generate`] as pretty-printed JSON with a final newline.
pub fn to_json() -> String {
    json::to_json(&generate())
}
