//! The channels between the members: X3DH, application data, and the listing of every
//! channel message.

use ratchetkit::wire::v1;
use ratchetkit::{Channel, PrekeyBundle};

use super::{event, name, named, Generator, GroupChannel, NAMES};
use crate::vectors::channel_model::{model_message_vector, ChannelModel, ModelMessage};
use crate::vectors::group::format::{Action, ChannelMessageVector, ChannelVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    x25519_public, x3dh_shared_secret, X3dhSecrets, CONTENT_APPLICATION,
};

/// A channel message the model computed, as the file lists it: sent by `from` to `to` on
/// `channel`, with its position in `channel_messages` (`None` for a made-up one) and the
/// control it carries.
pub(super) fn channel_message_vector(
    channel: usize,
    (from, to): (usize, usize),
    content_type: u32,
    plaintext: &[u8],
    m: &ModelMessage,
    (index, control): (Option<usize>, Option<usize>),
) -> ChannelMessageVector {
    model_message_vector!(
        ChannelMessageVector {
            index,
            channel,
            sender: name(from),
            receiver: name(to),
            chain: m.chain,
            content_type,
            control,
        },
        m,
        plaintext
    )
}

impl Generator {
    /// `initiator` creates a channel to `responder` from its bundle.
    fn channel_create(&mut self, initiator: usize, responder: usize) {
        let index = self.channels.len();
        let prekey = self
            .prekeys
            .iter()
            .find(|prekey| prekey.owner == name(responder))
            .expect("the responder's prekeys")
            .clone();
        let bundle = PrekeyBundle::from_bytes(&bytes(&prekey.bundle)).expect("the bundle verifies");
        let channel = Channel::create(&mut self.rng, &self.members[initiator].identity, &bundle)
            .expect("Channel::create");
        let [ephemeral_secret, first_ratchet] = self.rng.take("Channel::create");
        let spk_secret = array::<32>(&prekey.secret);
        let dh = X3dhSecrets {
            initiator_identity: array(&self.identities[initiator].agreement_secret),
            ephemeral: ephemeral_secret,
            responder_identity: array(&self.identities[responder].agreement_secret),
            signed_prekey: spk_secret,
            one_time_prekey: None,
        }
        .dh_outputs();
        let (ikm, shared_secret) = x3dh_shared_secret(&dh);
        let a_card = self.members[initiator].identity.card();
        let b_card = self.members[responder].identity.card();
        let associated_data = [
            a_card.signing_key(),
            a_card.agreement_key(),
            b_card.signing_key(),
            b_card.agreement_key(),
        ]
        .concat();
        let ephemeral_public = x25519_public(&ephemeral_secret);
        let prekey_info = v1::PrekeyInfo {
            initiator_card: a_card.to_bytes(),
            ephemeral_key: ephemeral_public.to_vec(),
            signed_prekey_id: prekey.id,
            one_time_prekey_id: None,
        };
        let vector = ChannelVector {
            index,
            initiator: name(initiator),
            responder: name(responder),
            signed_prekey_id: prekey.id,
            ephemeral_secret: hex::encode(ephemeral_secret),
            ephemeral_public: hex::encode(ephemeral_public),
            dh1: hex::encode(dh[0]),
            dh2: hex::encode(dh[1]),
            dh3: hex::encode(dh[2]),
            ikm: hex::encode(&ikm),
            shared_secret: hex::encode(shared_secret),
            associated_data: hex::encode(&associated_data),
            prekey_info: hex::encode(prost::Message::encode_to_vec(&prekey_info)),
            chains: Vec::new(),
        };
        let model = ChannelModel::new(
            [NAMES[initiator], NAMES[responder]],
            associated_data,
            prekey_info,
            shared_secret,
            spk_secret,
            first_ratchet,
        );
        self.channels.push(GroupChannel {
            initiator,
            responder,
            model,
            vector,
        });
        let responder_key = self.key(responder);
        self.members[initiator]
            .channels
            .insert(responder_key, channel);
        let mut e = event(initiator, Action::ChannelCreate);
        e.channel = Some(index);
        e.draws = vec![hex::encode(ephemeral_secret), hex::encode(first_ratchet)];
        self.push_event(e);
    }

    /// The model's next message from `from` to `to`, with the ratchet `secret` a new sending
    /// chain drew; it must be `bytes`, the library's. Lists it; returns its index.
    pub(super) fn list_channel_message(
        &mut self,
        (from, to): (usize, usize),
        content_type: u32,
        plaintext: &[u8],
        secret: Option<[u8; 32]>,
        (library_bytes, control): (&[u8], Option<usize>),
    ) -> usize {
        let channel = self.channel_between(from, to);
        let m = self.channels[channel]
            .model
            .send(NAMES[from], content_type, plaintext, secret);
        assert_eq!(
            hex::encode(&m.message),
            hex::encode(library_bytes),
            "channel message from {} to {}",
            name(from),
            name(to)
        );
        let index = self.channel_messages.len();
        self.channel_messages.push(channel_message_vector(
            channel,
            (from, to),
            content_type,
            plaintext,
            &m,
            (Some(index), control),
        ));
        index
    }

    /// Whether `from`'s next message to `to` starts a new sending chain.
    pub(super) fn needs_new_chain(&self, from: usize, to: usize) -> bool {
        self.channels[self.channel_between(from, to)]
            .model
            .needs_new_chain(NAMES[from])
    }

    /// `party` received channel message `index`.
    pub(super) fn channel_received(&mut self, party: usize, index: usize) {
        let message = &self.channel_messages[index];
        self.channels[message.channel]
            .model
            .receive(NAMES[party], message.chain);
    }

    /// `from` sends application data on its channel with `to`.
    pub(super) fn channel_send(&mut self, from: usize, to: usize, plaintext: &str) -> usize {
        let to_key = self.key(to);
        let bytes = self.members[from]
            .channel(&to_key)
            .encrypt(&mut self.rng, plaintext.as_bytes())
            .expect("encrypt");
        let draws = self.rng.take_all();
        assert_eq!(draws.len(), usize::from(self.needs_new_chain(from, to)));
        let secret = draws
            .first()
            .map(|draw| draw.as_slice().try_into().expect("a 32-byte ratchet key"));
        let index = self.list_channel_message(
            (from, to),
            CONTENT_APPLICATION,
            plaintext.as_bytes(),
            secret,
            (&bytes, None),
        );
        let mut e = event(from, Action::ChannelSend);
        e.channel_message = Some(index);
        e.draws = draws.iter().map(hex::encode).collect();
        self.push_event(e);
        index
    }

    /// Application data `index` reaches its receiver, who joins from it if it has no
    /// channel with the sender yet.
    pub(super) fn channel_deliver(&mut self, index: usize) {
        let message = &self.channel_messages[index];
        let (from, to) = (named(&message.sender), named(&message.receiver));
        let (bytes, plaintext) = (bytes(&message.message), message.plaintext.clone());
        let from_key = self.key(from);
        let member = &mut self.members[to];
        let action = if let Some(channel) = member.channels.get_mut(&from_key) {
            let decrypted = channel.decrypt(&bytes).expect("Channel::decrypt");
            assert_eq!(hex::encode(decrypted), plaintext);
            Action::ChannelReceive
        } else {
            let prekeys = member.prekeys.as_mut().expect("prekeys");
            let joined = Channel::join(&member.identity, prekeys, &bytes).expect("Channel::join");
            assert_eq!(hex::encode(&joined.plaintext), plaintext);
            member.channels.insert(from_key, joined.channel);
            Action::ChannelJoin
        };
        self.channel_received(to, index);
        let mut e = event(to, action);
        e.channel_message = Some(index);
        self.push_event(e);
    }

    /// A channel between `initiator` and `responder`: created, a first message, joined, a
    /// reply, received. Group control needs such an established channel.
    pub(super) fn establish(
        &mut self,
        initiator: usize,
        responder: usize,
        hello: &str,
        reply: &str,
    ) {
        self.channel_create(initiator, responder);
        let first = self.channel_send(initiator, responder, hello);
        self.channel_deliver(first);
        let second = self.channel_send(responder, initiator, reply);
        self.channel_deliver(second);
    }
}
