//! The generator of `tests/vectors/channel-v1.json`, shared by the example that writes the
//! file and the test that checks it:
//!
//! - `examples/generate_vectors.rs` prints [`to_json`]: [`COMMAND`];
//! - `tests/vectors.rs` checks that the committed file equals [`to_json`].
//!
//! # How the vectors are made
//!
//! The generator drives ratchetkit's public API with a `ChaCha20Rng` seeded with [`SEED`],
//! wrapped in a [`RecordingRng`] that records every draw. Every random value ratchetkit uses
//! is one 32-byte `fill_bytes` draw, in this order:
//!
//! 1. `Identity::generate_at` (alice, then bob): the Ed25519 seed, then the X25519 secret;
//! 2. `PrekeyStore::new`: bob's signed prekey secret;
//! 3. `generate_one_time_prekeys(3)`: one secret per one-time prekey;
//! 4. `Channel::create`: alice's X3DH ephemeral secret, then her first ratchet secret;
//! 5. `Channel::encrypt`: a new ratchet secret when the sender has received a new ratchet
//!    key since it last sent (the first message of each later sending chain), else nothing.
//!
//! The recorded draws are the private keys listed in the file. Everything ratchetkit does
//! not expose (DH outputs, root, chain and message keys, AES keys and nonces) is computed
//! from those private keys with the primitive crates, by a model of the protocol
//! ([`ChannelModel`]) that runs alongside the library. The model is checked against the
//! library at every step: public keys derived from the recorded secrets must be the ones in
//! the cards and bundle, every message it computes must equal the library's byte for byte,
//! and the receiving side's DH ratchet step must give the keys the sender used. Any
//! disagreement panics with what differed, so the file is only ever written from a library
//! run that matches the model.
//!
//! The conversation follows [`SCRIPT`], the rejected inputs [`REJECTED`]. The output is
//! deterministic: same seed, same library behavior, same bytes.

use ratchetkit::wire::v1;
use ratchetkit::{
    Channel, Identity, PrekeyBundle, PrekeyStore, CARD_SIGNATURE_CONTEXT, MESSAGE_INFO,
    PROTOCOL_VERSION, ROOT_INFO, SELF_SIGNER, SIGNED_PREKEY_CONTEXT, X3DH_INFO,
};

use super::format::{
    Action, Event, Generator, MessageVector, OneTimePrekeyVector, PrekeyVectors, Protocol,
    RejectedVector, SignedPrekeyVector, Vectors, X3dhVector,
};
use super::script::{tamper, Rejects, Step, Tamper, REJECTED, SCRIPT};
use super::sides::{Party, Sides};
use crate::vectors::channel_model::{model_message_vector, ChannelModel};
use crate::vectors::json::{self, bytes, text};
use crate::vectors::keys::{bundle, identity_vector};
use crate::vectors::primitives::{
    signed_prekey_input, x25519_public, x3dh_shared_secret, X3dhSecrets, CONTENT_APPLICATION,
};
use crate::vectors::rng::RecordingRng;

/// Seed of the `ChaCha20Rng` every private key is drawn from (32 ASCII bytes).
pub const SEED: [u8; 32] = *b"ratchetkit/v1/channel-vectors/01";

/// How the file is made.
pub const COMMAND: &str = "cargo run --example generate_vectors > tests/vectors/channel-v1.json";

/// Alice's card creation time: 2023-11-14T22:13:20Z.
pub const ALICE_CREATED_AT: u64 = 1_700_000_000;

/// Bob's card creation time: 2023-11-14T22:15:00Z.
pub const BOB_CREATED_AT: u64 = 1_700_000_100;

/// How many one-time prekeys Bob generates.
const ONE_TIME_PREKEYS: usize = 3;

/// Which of Bob's one-time prekeys (by position) goes into the bundle Alice fetches. Not the
/// first, so that an implementation has to look the prekey up by its id.
const BUNDLE_ONE_TIME_PREKEY: usize = 1;

const DESCRIPTION: &str = "Interop test vectors of ratchetkit protocol version 1: two \
identities and their self-signed cards, the responder's signed prekey bundle with a one-time \
prekey, the X3DH start, and a Double Ratchet conversation of 12 messages in both directions \
(6 sending chains, so 5 DH ratchet steps after the creator's first; one message delivered \
after a later one of its own chain, one delivered after the sender's next ratchet step). \
Every private key is listed, and every derived value: recompute them all from the private \
keys. Then 22 rejected inputs (tampered, replayed, non-canonical, with wrong prekey \
information), each with the point of the timeline where it is given, the error it must give \
and nothing changed. All byte strings are lowercase hex; the protocol strings are ASCII. \
Field by field documentation: tests/vectors/README.md. Regenerate with `cargo run --example \
generate_vectors > tests/vectors/channel-v1.json`.";

/// The library's two sides and the model, as the script runs, with what is listed so far.
struct Conversation {
    rng: RecordingRng,
    sides: Sides,
    bundle_one_time_prekey_id: u32,
    /// Alice's prekey information, which some rejected inputs add.
    prekey_info: v1::PrekeyInfo,
    model: ChannelModel,
    messages: Vec<MessageVector>,
    timeline: Vec<Event>,
    rejected: Vec<RejectedVector>,
}

impl Conversation {
    fn send(&mut self, party: Party, plaintext: &str) {
        let index = self.messages.len();
        let new_chain = self.model.needs_new_chain(party.name());
        let channel = self
            .sides
            .channel(party)
            .expect("the script has Bob send only after he joined");
        let bytes = channel
            .encrypt(&mut self.rng, plaintext.as_bytes())
            .expect("encrypt");
        let secret = if new_chain {
            let [secret] = self
                .rng
                .take("Channel::encrypt after a new peer ratchet key");
            Some(secret)
        } else {
            let [] = self.rng.take("Channel::encrypt on a running chain");
            None
        };
        let m = self.model.send(
            party.name(),
            CONTENT_APPLICATION,
            plaintext.as_bytes(),
            secret,
        );
        assert_eq!(
            hex::encode(&m.message),
            hex::encode(&bytes),
            "message {index}: the library's message differs from the model's"
        );
        let chain = &self.model.chains[m.chain];
        self.messages.push(model_message_vector!(
            MessageVector {
                index,
                sender: party.name().into(),
                receiver: party.other().name().into(),
                chain: m.chain,
                ratchet_secret: chain.ratchet_secret.clone(),
                ratchet_public: chain.ratchet_public.clone(),
                root_key: chain.root_key.clone(),
                plaintext_utf8: plaintext.into(),
            },
            &m,
            plaintext
        ));
        self.event(party, Action::Send, index, None);
    }

    /// Message `index` reaches its receiver; bob joins from his first.
    fn deliver(&mut self, index: usize, note: Option<&str>) {
        let message = &self.messages[index];
        let party = Party::named(&message.receiver);
        let (bytes, chain) = (bytes(&message.message), message.chain);
        let plaintext = message.plaintext_utf8.clone();
        let action = if let Some(channel) = self.sides.channel(party) {
            let decrypted = channel.decrypt(&bytes).expect("Channel::decrypt");
            assert_eq!(decrypted, plaintext.as_bytes());
            Action::Receive
        } else {
            let joined = self.sides.join(&bytes).expect("Channel::join");
            assert_eq!(joined, plaintext.as_bytes());
            assert!(
                !self
                    .sides
                    .bob_prekeys
                    .one_time_prekey_ids()
                    .contains(&self.bundle_one_time_prekey_id),
                "joining consumes the one-time prekey"
            );
            Action::Join
        };
        self.model.receive(party.name(), chain);
        self.event(party, action, index, note);
    }

    /// Gives a rejected input to the library, which must refuse it with the expected error
    /// and change nothing.
    fn reject(&mut self, rejects: &Rejects, (how, expected, what): (Tamper, &str, &str)) {
        let original = bytes(&self.messages[rejects.message].message);
        let input = tamper(&original, how, &self.prekey_info);
        assert_eq!(
            input == original,
            matches!(how, Tamper::Replay),
            "{what}: only a replay is the message itself"
        );
        self.sides
            .refuse(rejects.party, rejects.action, &input, expected, what);
        self.rejected.push(RejectedVector {
            index: self.rejected.len(),
            after_step: self.timeline.len() - 1,
            party: rejects.party.name().into(),
            action: rejects.action,
            message: rejects.message,
            input: hex::encode(&input),
            expected_error: expected.into(),
            description: what.into(),
        });
    }

    fn event(&mut self, party: Party, action: Action, message: usize, note: Option<&str>) {
        self.timeline.push(Event {
            step: self.timeline.len(),
            party: party.name().into(),
            action,
            message,
            note: note.map(Into::into),
        });
    }
}

/// Runs the generator: drives ratchetkit through [`SCRIPT`] and lists everything.
///
/// # Panics
/// If ratchetkit draws randomness in another order than documented above, or disagrees
/// with the model of the protocol anywhere.
pub fn generate() -> Vectors {
    let mut rng = RecordingRng::new(SEED);

    // Identities.
    let alice = Identity::generate_at(&mut rng, "alice", ALICE_CREATED_AT).expect("alice");
    let [alice_seed, alice_agreement] = rng.take("Identity::generate_at(alice)");
    let bob = Identity::generate_at(&mut rng, "bob", BOB_CREATED_AT).expect("bob");
    let [bob_seed, bob_agreement] = rng.take("Identity::generate_at(bob)");
    let identities = vec![
        identity_vector(&alice, alice_seed, alice_agreement),
        identity_vector(&bob, bob_seed, bob_agreement),
    ];

    // Bob's prekeys and the bundle Alice fetches.
    let mut bob_prekeys = PrekeyStore::new(&mut rng);
    let [signed_prekey_secret] = rng.take("PrekeyStore::new");
    let one_time_ids = bob_prekeys
        .generate_one_time_prekeys(&mut rng, ONE_TIME_PREKEYS)
        .expect("one-time prekeys");
    let one_time_secrets: [[u8; 32]; ONE_TIME_PREKEYS] =
        rng.take("PrekeyStore::generate_one_time_prekeys");
    let one_time_prekeys: Vec<OneTimePrekeyVector> = one_time_ids
        .iter()
        .zip(&one_time_secrets)
        .map(|(&id, secret)| {
            // Each one-time prekey's public key, as its own bundle carries it.
            let (_, bundle) = bundle(&bob_prekeys, &bob, Some(id), &signed_prekey_secret);
            let public = x25519_public(secret);
            assert_eq!(
                bundle.one_time_prekey, public,
                "one-time prekey {id} is not the public key of its draw"
            );
            OneTimePrekeyVector {
                id,
                secret: hex::encode(secret),
                public: hex::encode(public),
            }
        })
        .collect();
    let one_time_id = one_time_ids[BUNDLE_ONE_TIME_PREKEY];
    let (bundle_bytes, bundle) =
        bundle(&bob_prekeys, &bob, Some(one_time_id), &signed_prekey_secret);
    let signed_prekey_id = bundle.signed_prekey_id;
    let signed_prekey = x25519_public(&signed_prekey_secret);
    let prekeys = PrekeyVectors {
        owner: "bob".into(),
        signed_prekey: SignedPrekeyVector {
            id: signed_prekey_id,
            secret: hex::encode(signed_prekey_secret),
            public: hex::encode(signed_prekey),
            signature_input: hex::encode(signed_prekey_input(signed_prekey_id, &signed_prekey)),
            signature: hex::encode(&bundle.signed_prekey_signature),
        },
        one_time_prekeys,
        bundle_one_time_prekey_id: one_time_id,
        bundle: hex::encode(&bundle_bytes),
    };

    // X3DH, with Alice's first ratchet key.
    let fetched = PrekeyBundle::from_bytes(&bundle_bytes).expect("the bundle verifies");
    let alice_channel = Channel::create(&mut rng, &alice, &fetched).expect("Channel::create");
    let [ephemeral_secret, alice_first_ratchet] = rng.take("Channel::create");
    let dh = X3dhSecrets {
        initiator_identity: alice_agreement,
        ephemeral: ephemeral_secret,
        responder_identity: bob_agreement,
        signed_prekey: signed_prekey_secret,
        one_time_prekey: Some(one_time_secrets[BUNDLE_ONE_TIME_PREKEY]),
    }
    .dh_outputs();
    let (ikm, shared_secret) = x3dh_shared_secret(&dh);
    let associated_data = [
        alice.card().signing_key(),
        alice.card().agreement_key(),
        bob.card().signing_key(),
        bob.card().agreement_key(),
    ]
    .concat();
    let ephemeral_public = x25519_public(&ephemeral_secret);
    let prekey_info = v1::PrekeyInfo {
        initiator_card: alice.card().to_bytes(),
        ephemeral_key: ephemeral_public.to_vec(),
        signed_prekey_id,
        one_time_prekey_id: Some(one_time_id),
    };
    let x3dh = X3dhVector {
        initiator: "alice".into(),
        responder: "bob".into(),
        ephemeral_secret: hex::encode(ephemeral_secret),
        ephemeral_public: hex::encode(ephemeral_public),
        signed_prekey_id,
        one_time_prekey_id: one_time_id,
        dh1: hex::encode(dh[0]),
        dh2: hex::encode(dh[1]),
        dh3: hex::encode(dh[2]),
        dh4: hex::encode(dh[3]),
        ikm: hex::encode(&ikm),
        shared_secret: hex::encode(shared_secret),
        associated_data: hex::encode(&associated_data),
        prekey_info: hex::encode(prost::Message::encode_to_vec(&prekey_info)),
    };

    // The conversation; Alice's first sending chain was started by Channel::create.
    let mut conversation = Conversation {
        rng,
        sides: Sides {
            alice,
            bob,
            bob_prekeys,
            alice_channel,
            bob_channel: None,
        },
        bundle_one_time_prekey_id: one_time_id,
        prekey_info: prekey_info.clone(),
        model: ChannelModel::new(
            ["alice", "bob"],
            associated_data,
            prekey_info,
            shared_secret,
            signed_prekey_secret,
            alice_first_ratchet,
        ),
        messages: Vec::new(),
        timeline: Vec::new(),
        rejected: Vec::new(),
    };
    for (index, step) in SCRIPT.iter().enumerate() {
        match *step {
            Step::Send(party, plaintext) => conversation.send(party, plaintext),
            Step::Deliver(index, note) => conversation.deliver(index, note),
        }
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
            signed_prekey_signature_context: text(SIGNED_PREKEY_CONTEXT),
            self_signer: SELF_SIGNER.into(),
            x3dh_info: text(X3DH_INFO),
            root_info: text(ROOT_INFO),
            message_info: text(MESSAGE_INFO),
        },
        generator: Generator {
            command: COMMAND.into(),
            rng: "rand 0.10 ChaCha20Rng::from_seed(seed); each private key is one 32-byte \
                  fill_bytes draw, in the order documented in tests/vectors/README.md"
                .into(),
            seed: hex::encode(SEED),
        },
        identities,
        prekeys,
        x3dh,
        chains: conversation.model.chains,
        messages: conversation.messages,
        timeline: conversation.timeline,
        rejected: conversation.rejected,
    }
}

/// The file's text: [`generate`] as pretty-printed JSON with a final newline.
pub fn to_json() -> String {
    json::to_json(&generate())
}
