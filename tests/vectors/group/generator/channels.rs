//! The channels between the members: their hybrid starts, application data, and the
//! listing of every channel message.

use ratchetkit::{Channel, PrekeyBundle};

use super::{event, name, named, Generator, GroupChannel, NAMES};
use crate::vectors::channel_model::{model_message_vector, start, ModelMessage, StartParty};
use crate::vectors::group::format::{Action, ChannelMessageVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{CONTENT_APPLICATION, MESSAGE_SALT_LEN};

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
    /// `initiator` creates a channel to `responder` from its bundle (without a one-time
    /// prekey): the call draws EK_A, then the ML-KEM randomness.
    fn channel_create(&mut self, initiator: usize, responder: usize) {
        let index = self.channels.len();
        let prekey = self
            .prekeys
            .iter()
            .find(|prekey| prekey.owner == name(responder))
            .expect("the responder's prekeys");
        let bundle = PrekeyBundle::from_bytes(&bytes(&prekey.bundle)).expect("the bundle verifies");
        let channel = Channel::create(&mut self.rng, &self.members[initiator].identity, &bundle)
            .expect("Channel::create");
        let draws = self.rng.take_sized("Channel::create", &[32, 32]);
        let (_, signed) = *self
            .drawn_prekeys
            .iter()
            .find(|(owner, _)| *owner == responder)
            .expect("the responder's drawn prekeys");
        let party = |member: usize| StartParty {
            name: NAMES[member],
            card: self.members[member].identity.card(),
            agreement_secret: array(&self.identities[member].agreement_secret),
        };
        let (vector, model, _) = start(
            (index, &channel),
            [&party(initiator), &party(responder)],
            (signed, None),
            (
                draws[0].as_slice().try_into().expect("32 bytes"),
                draws[1].as_slice().try_into().expect("32 bytes"),
            ),
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
        e.draws = draws.iter().map(hex::encode).collect();
        self.push_event(e);
    }

    /// The model's next message from `from` to `to`, with the ratchet `secret` a new sending
    /// chain drew and the message's `salt`; it must be `bytes`, the library's. Lists it;
    /// returns its index.
    pub(super) fn list_channel_message(
        &mut self,
        (from, to): (usize, usize),
        (content_type, plaintext): (u32, &[u8]),
        (secret, salt): (Option<[u8; 32]>, [u8; MESSAGE_SALT_LEN]),
        (library_bytes, control): (&[u8], Option<usize>),
    ) -> usize {
        let channel = self.channel_between(from, to);
        let m =
            self.channels[channel]
                .model
                .send(NAMES[from], (content_type, plaintext), secret, salt);
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
        let new_chain = self.needs_new_chain(from, to);
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
        let index = self.list_channel_message(
            (from, to),
            (CONTENT_APPLICATION, plaintext.as_bytes()),
            (secret, salt),
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
            assert_eq!(hex::encode(joined.plaintext()), plaintext);
            member.channels.insert(from_key, joined.into_channel());
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
