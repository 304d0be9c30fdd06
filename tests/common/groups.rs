//! A world of members with established channels between every pair, and a control
//! mailbox that carries group control between them, for the group tests.

use std::collections::{HashMap, VecDeque};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use prost::Message as _;
use ratchetkit::group::Outgoing;
use ratchetkit::wire::v1;
use ratchetkit::{
    group::GROUP_MESSAGE_INFO, Channel, Decrypted, Error, Group, GroupEvent, Identity, PrekeyStore,
};
use sha2::Sha256;

use super::{fields_at, identity, rng, TestRng};

pub struct Member {
    pub identity: Identity,
    pub key: [u8; 32],
    pub prekeys: PrekeyStore,
    pub channels: HashMap<[u8; 32], Channel>,
    pub group: Option<Group>,
}

impl Member {
    pub fn group(&mut self) -> &mut Group {
        self.group.as_mut().expect("member is in the group")
    }
}

/// The members of [`abc`].
pub const ALICE: usize = 0;
pub const BOB: usize = 1;
pub const CAROL: usize = 2;
pub const DAVE: usize = 3;

/// Alice owns a group with Bob and Carol; Dave, with channels to all, is outside it.
pub fn abc(seed: u64) -> World {
    let mut world = World::new(seed, 4);
    world.create_group(ALICE, &[BOB, CAROL]);
    world
}

/// Control messages in flight: (from, to, channel message).
pub type Mailbox = VecDeque<(usize, usize, Vec<u8>)>;

pub struct World {
    pub rng: TestRng,
    pub members: Vec<Member>,
    pub mailbox: Mailbox,
}

impl World {
    /// `count` members named m0, m1, ..., with an established channel between every pair.
    pub fn new(seed: u64, count: usize) -> Self {
        let mut rng = rng(seed);
        let members = (0..count)
            .map(|i| {
                let identity = identity(&mut rng, &format!("m{i}"));
                Member {
                    key: identity.card().signing_key(),
                    prekeys: PrekeyStore::new(&mut rng),
                    identity,
                    channels: HashMap::new(),
                    group: None,
                }
            })
            .collect();
        let mut world = Self {
            rng,
            members,
            mailbox: VecDeque::new(),
        };
        for i in 0..count {
            for j in i + 1..count {
                world.connect(i, j);
            }
        }
        world
    }

    /// Establishes a channel between `i` and `j`: `i` creates, `j` joins and replies.
    pub fn connect(&mut self, i: usize, j: usize) {
        let bundle = {
            let member = &self.members[j];
            member
                .prekeys
                .bundle(&member.identity, None)
                .expect("bundle")
        };
        let mut created =
            Channel::create(&mut self.rng, &self.members[i].identity, &bundle).expect("create");
        let hello = created.encrypt(&mut self.rng, b"hello").expect("encrypt");
        let member = &mut self.members[j];
        let mut joined = Channel::join(&member.identity, &mut member.prekeys, &hello)
            .expect("join")
            .into_channel();
        let reply = joined.encrypt(&mut self.rng, b"hi").expect("encrypt");
        created.decrypt(&reply).expect("reply decrypts");
        let (key_i, key_j) = (self.members[i].key, self.members[j].key);
        self.members[i].channels.insert(key_j, created);
        self.members[j].channels.insert(key_i, joined);
    }

    /// Drops the channel between `i` and `j` on both sides.
    pub fn disconnect(&mut self, i: usize, j: usize) {
        let (key_i, key_j) = (self.key(i), self.key(j));
        self.members[i].channels.remove(&key_j);
        self.members[j].channels.remove(&key_i);
    }

    /// `i` creates a channel to `j` from `j`'s bundle; `j` has none until the first
    /// message arrives, which [`World::deliver`] joins from (group control may ride on a
    /// channel's first messages).
    pub fn start_channel(&mut self, i: usize, j: usize) {
        let bundle = {
            let member = &self.members[j];
            member
                .prekeys
                .bundle(&member.identity, None)
                .expect("bundle")
        };
        let created =
            Channel::create(&mut self.rng, &self.members[i].identity, &bundle).expect("create");
        let key_j = self.key(j);
        self.members[i].channels.insert(key_j, created);
    }

    pub fn key(&self, i: usize) -> [u8; 32] {
        self.members[i].key
    }

    pub fn index(&self, key: &[u8; 32]) -> usize {
        self.members
            .iter()
            .position(|member| member.key == *key)
            .expect("a known member")
    }

    pub fn group(&mut self, i: usize) -> &mut Group {
        self.members[i].group()
    }

    pub fn post(&mut self, from: usize, outgoing: Vec<Outgoing>) {
        for (to, message) in outgoing.into_iter().map(Outgoing::into_parts) {
            let to = self.index(&to);
            self.mailbox.push_back((from, to, message));
        }
    }

    /// Delivers one control message: `join` for a member without the group, `receive`
    /// otherwise. What the recipient must send in turn is posted.
    pub fn deliver(&mut self, from: usize, to: usize, message: &[u8]) -> Result<(), Error> {
        self.deliver_events(from, to, message).map(drop)
    }

    /// [`World::deliver`], returning the recipient's events. A message from a member the
    /// recipient has no channel to starts the channel ([`Channel::join`]), and its group
    /// control goes to `join_control` or `receive_control`; if the group refuses it, the
    /// recipient is left as it was (no channel, its prekeys unchanged), so that the
    /// message can be delivered again later.
    pub fn deliver_events(
        &mut self,
        from: usize,
        to: usize,
        message: &[u8],
    ) -> Result<Vec<GroupEvent>, Error> {
        let from_key = self.key(from);
        if !self.members[to].channels.contains_key(&from_key) {
            return self.deliver_first(from, to, message);
        }
        let member = &mut self.members[to];
        let received = match &mut member.group {
            Some(group) => {
                group.receive(&mut self.rng, &mut member.channels, &from_key, message)?
            }
            None => {
                let (group, received) = Group::join(
                    &mut self.rng,
                    &member.identity,
                    &mut member.channels,
                    &from_key,
                    message,
                )?;
                member.group = Some(group);
                received
            }
        };
        let (events, outgoing) = received.into_parts();
        self.post(to, outgoing);
        Ok(events)
    }

    /// Delivers a channel's first message, carrying group control.
    fn deliver_first(
        &mut self,
        from: usize,
        to: usize,
        message: &[u8],
    ) -> Result<Vec<GroupEvent>, Error> {
        let from_key = self.key(from);
        let member = &mut self.members[to];
        let prekeys = member.prekeys.to_bytes();
        let joined = Channel::join(&member.identity, &mut member.prekeys, message)?;
        assert_eq!(
            joined.peer().signing_key(),
            from_key,
            "joined with the sender"
        );
        let (channel, plaintext, _, control) = joined.into_parts();
        let Some(control) = control else {
            member.prekeys = PrekeyStore::from_bytes(&prekeys).expect("prekeys reload");
            return Err(Error::NotGroupControl);
        };
        assert!(plaintext.is_empty(), "control has no plaintext");
        assert_eq!(control.from(), from_key);
        member.channels.insert(from_key, channel);
        let result = match &mut member.group {
            Some(group) => group.receive_control(&mut self.rng, &mut member.channels, &control),
            None => Group::join_control(
                &mut self.rng,
                &member.identity,
                &mut member.channels,
                &control,
            )
            .map(|(group, received)| {
                member.group = Some(group);
                received
            }),
        };
        match result {
            Ok(received) => {
                let (events, outgoing) = received.into_parts();
                self.post(to, outgoing);
                Ok(events)
            }
            Err(error) => {
                member.channels.remove(&from_key);
                member.prekeys = PrekeyStore::from_bytes(&prekeys).expect("prekeys reload");
                Err(error)
            }
        }
    }

    /// Delivers control until the mailbox is empty. Control that arrives before what it
    /// depends on (a sender key before the roster that adds its sender) is retried later,
    /// as an app would; control with nothing new in it (a roster older than the one held,
    /// a resync reply with keys already held) is dropped, as an app would.
    pub fn flush(&mut self) {
        let aside = self.flush_but(None);
        assert!(aside.is_empty());
    }

    /// [`World::flush`] for every member but `skip`: what goes to it, posted before or
    /// during the flush, is returned in the order sent.
    pub fn flush_except(&mut self, skip: usize) -> Mailbox {
        self.flush_but(Some(skip))
    }

    fn flush_but(&mut self, skip: Option<usize>) -> Mailbox {
        let mut aside = Mailbox::new();
        let mut stalled = 0;
        while let Some((from, to, message)) = self.mailbox.pop_front() {
            if Some(to) == skip {
                aside.push_back((from, to, message));
                continue;
            }
            match self.deliver(from, to, &message) {
                Ok(()) => stalled = 0,
                Err(
                    Error::NotGroupMember { .. }
                    | Error::NotAGroupWelcome
                    | Error::RosterBehind { .. },
                ) => {
                    stalled += 1;
                    assert!(
                        stalled <= self.mailbox.len() + 1,
                        "control cannot make progress"
                    );
                    self.mailbox.push_back((from, to, message));
                }
                // A removed member has no use for what is still on its way to it.
                Err(_) if !self.is_member(to) => {}
                // A key from before a member was removed and added back: refused as stale.
                Err(Error::StaleSenderKey { .. }) => {}
                // Sent by a member before it learned of its removal: final.
                Err(Error::RemovedGroupMember { .. }) => {}
                // Nothing new: a roster overtaken by a later one, a key already held.
                Err(Error::StaleRoster { .. } | Error::Duplicate) => {}
                Err(error) => panic!("control from {from} to {to} failed: {error:?}"),
            }
        }
        aside
    }

    /// Takes every control message to `to` out of the mailbox, in the order sent.
    pub fn take_to(&mut self, to: usize) -> Mailbox {
        let (taken, kept) = self.mailbox.drain(..).partition(|(_, t, _)| *t == to);
        self.mailbox = kept;
        taken
    }

    pub fn is_member(&self, i: usize) -> bool {
        self.members[i].group.as_ref().is_some_and(Group::is_member)
    }

    /// `owner` creates a group with `members`, without keeping it or sending anything:
    /// the group and its welcomes.
    pub fn new_group(&mut self, owner: usize, members: &[usize]) -> (Group, Vec<Outgoing>) {
        let cards: Vec<_> = members
            .iter()
            .map(|&i| self.members[i].identity.card().clone())
            .collect();
        let member = &mut self.members[owner];
        let (group, received) = Group::create(
            &mut self.rng,
            &member.identity,
            &cards,
            &mut member.channels,
        )
        .expect("create group");
        (group, received.into_parts().1)
    }

    /// `owner` creates the group with `members`, and all control is delivered.
    pub fn create_group(&mut self, owner: usize, members: &[usize]) {
        let (group, outgoing) = self.new_group(owner, members);
        self.members[owner].group = Some(group);
        self.post(owner, outgoing);
        self.flush();
    }

    /// The owner adds `new`; control is posted, not delivered.
    pub fn add(&mut self, owner: usize, new: usize) {
        let card = self.members[new].identity.card().clone();
        let member = &mut self.members[owner];
        let outgoing = member
            .group
            .as_mut()
            .expect("owner has the group")
            .add_member(&mut self.rng, &member.identity, &card, &mut member.channels)
            .expect("add member")
            .into_parts()
            .1;
        self.post(owner, outgoing);
    }

    /// The owner removes `who`; control is posted, not delivered.
    pub fn remove(&mut self, owner: usize, who: usize) {
        let key = self.key(who);
        let member = &mut self.members[owner];
        let outgoing = member
            .group
            .as_mut()
            .expect("owner has the group")
            .remove_member(&mut self.rng, &member.identity, &key, &mut member.channels)
            .expect("remove member")
            .into_parts()
            .1;
        self.post(owner, outgoing);
    }

    /// `who` rekeys; control is posted, not delivered.
    pub fn rekey(&mut self, who: usize) {
        let member = &mut self.members[who];
        let outgoing = member
            .group
            .as_mut()
            .expect("member has the group")
            .rekey(&mut self.rng, &mut member.channels)
            .expect("rekey")
            .into_parts()
            .1;
        self.post(who, outgoing);
    }

    /// `who` asks every other member for what it missed; the requests are posted, not
    /// delivered.
    pub fn resync(&mut self, who: usize) {
        let member = &mut self.members[who];
        let outgoing = member
            .group
            .as_mut()
            .expect("member has the group")
            .resync(&mut self.rng, &mut member.channels)
            .expect("resync")
            .into_parts()
            .1;
        self.post(who, outgoing);
    }

    /// `who` sends what waited for a channel to every member it now has a channel to;
    /// the messages are posted, not delivered. Returns the events.
    pub fn deliver_pending(&mut self, who: usize) -> Vec<GroupEvent> {
        let member = &mut self.members[who];
        let received = member
            .group
            .as_mut()
            .expect("member has the group")
            .deliver_pending(&mut self.rng, &mut member.channels);
        let (events, outgoing) = received.into_parts();
        self.post(who, outgoing);
        events
    }

    /// A channel message from `from` to `to` that carries `plaintext` as group control:
    /// what a member's own client can send, as it holds its channel keys, whatever the
    /// group API would send. `from`'s channel moves on by one message, as for any send.
    pub fn seal_control(&mut self, from: usize, to: usize, plaintext: &[u8]) -> Vec<u8> {
        let to_key = self.key(to);
        let channel = self.members[from]
            .channels
            .get_mut(&to_key)
            .expect("a channel to seal on");
        super::mallory::encrypt_control(&mut self.rng, channel, plaintext)
    }

    /// `who` leaves; the request is posted, not delivered.
    pub fn leave(&mut self, who: usize) {
        let member = &mut self.members[who];
        let outgoing = member
            .group
            .as_mut()
            .expect("member has the group")
            .leave(&mut self.rng, &mut member.channels)
            .expect("leave")
            .into_parts()
            .1;
        self.post(who, outgoing);
    }

    pub fn send(&mut self, from: usize, plaintext: &[u8]) -> Vec<u8> {
        self.members[from]
            .group
            .as_mut()
            .expect("member is in the group")
            .encrypt(&mut self.rng, plaintext)
            .expect("group encrypt")
    }

    pub fn decrypt(&mut self, to: usize, message: &[u8]) -> Result<Decrypted, Error> {
        self.group(to).decrypt(message)
    }

    /// Every member in `readers` decrypts `message` from `from` to `plaintext`.
    pub fn assert_all_read(
        &mut self,
        readers: &[usize],
        from: usize,
        message: &[u8],
        plaintext: &[u8],
    ) {
        let sender = self.key(from);
        for &reader in readers {
            let decrypted = self
                .decrypt(reader, message)
                .unwrap_or_else(|error| panic!("m{reader} cannot read m{from}: {error:?}"));
            assert_eq!(decrypted.plaintext(), plaintext);
            assert_eq!(decrypted.sender(), sender);
        }
    }
}

/// Asserts that `group` rejects `message` with `expected` and is byte for byte unchanged.
pub fn assert_group_rejects(group: &mut Group, message: &[u8], expected: Error) {
    let before = group.to_bytes();
    assert_eq!(group.decrypt(message), Err(expected));
    assert_eq!(
        *group.to_bytes(),
        *before,
        "a rejected message changed the group"
    );
}

/// The secrets of a member's own sender key in its saved state: chain key and signing
/// secret.
pub fn own_sender_secrets(state: &[u8]) -> Vec<Vec<u8>> {
    [2, 4]
        .into_iter()
        .flat_map(|field| fields_at(state, &[4, field]))
        .map(<[u8]>::to_vec)
        .collect()
}

/// The AES-256-GCM cipher and nonce of a group message, from the primitives
/// (docs/PROTOCOL.md 6.1): HKDF-SHA256(salt = the header's 16-byte salt, ikm = message
/// key, info = `GROUP_MESSAGE_INFO`), 44 bytes, split 32 + 12.
pub fn group_message_cipher(message_key: &[u8], salt: &[u8]) -> (Aes256Gcm, [u8; 12]) {
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(salt), message_key)
        .expand(GROUP_MESSAGE_INFO, &mut okm)
        .expect("44 bytes");
    let key: [u8; 32] = okm[..32].try_into().expect("32 bytes");
    let nonce: [u8; 12] = okm[32..].try_into().expect("12 bytes");
    (Aes256Gcm::new(&key.into()), nonce)
}

/// The ciphertext of a group message with header `header` (carrying `salt`): `plaintext`
/// padded with the marker byte alone (receivers strip any padding), encrypted under
/// `message_key` with the header as associated data.
pub fn seal_group_message(
    message_key: &[u8],
    salt: &[u8],
    header: &[u8],
    plaintext: &[u8],
) -> Vec<u8> {
    let (cipher, nonce) = group_message_cipher(message_key, salt);
    let padded = [plaintext, &[0x80]].concat();
    cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &padded,
                aad: header,
            },
        )
        .expect("encrypt")
}

/// Opens the group message `message` under `message_key` and strips its padding; `None`
/// if it does not open (or is not a group message).
pub fn open_group_message(message_key: &[u8], message: &[u8]) -> Option<Vec<u8>> {
    let message = v1::GroupMessage::decode(message).ok()?;
    let header = v1::GroupHeader::decode(message.header.as_slice()).ok()?;
    let (cipher, nonce) = group_message_cipher(message_key, &header.salt);
    let mut padded = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &message.ciphertext,
                aad: &message.header,
            },
        )
        .ok()?;
    let marker = padded.iter().rposition(|&byte| byte != 0)?;
    (padded[marker] == 0x80).then(|| {
        padded.truncate(marker);
        padded
    })
}
