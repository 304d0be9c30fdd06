//! `ratchetkit_replays_the_timeline` and `ratchetkit_refuses_the_rejected_inputs` of
//! `group-v2.json`: ratchetkit, given each call's listed draws through a scripted RNG,
//! rebuilds the identities, prekey stores and channels and replays the timeline byte for
//! byte; with the rejected inputs, it refuses each at its point, changing nothing.

use ratchetkit::{Card, Channel, Group, PrekeyBundle, Received};

use super::format::{Action, GroupVectors, TimelineEvent};
use super::member::{event_vectors, Member};
use super::recompute::Names;
use crate::vectors::json::{array, bytes};
use crate::vectors::replay::{identity, prekey_store};
use crate::vectors::rng::ScriptedRng;

/// What the replay looks up in the file.
struct Lookup<'a> {
    v: &'a GroupVectors,
    names: Names,
}

impl Lookup<'_> {
    /// The identity key of the member named `name`.
    fn key(&self, name: &str) -> [u8; 32] {
        array(&self.v.identities[self.names.of(name)].signing_public)
    }

    /// Checks what a group call sent and reported against the listed controls `sent` and
    /// the listed events of `e`.
    fn check_received(&self, what: &str, received: &Received, e: &TimelineEvent) {
        let (outgoing, sent) = (received.outgoing(), &e.sent);
        let v = self.v;
        let events = event_vectors(received.events(), |key| {
            let identity = v
                .identities
                .iter()
                .find(|i| bytes(&i.signing_public) == key);
            identity.unwrap().name.clone()
        });
        assert_eq!(events, e.events, "{what}: events");
        assert_eq!(outgoing.len(), sent.len(), "{what}: how many controls");
        for (out, &index) in outgoing.iter().zip(sent) {
            let control = &self.v.controls[index];
            assert_eq!(
                out.to(),
                self.key(&control.receiver),
                "{what}: control {index} recipient"
            );
            assert_eq!(
                hex::encode(out.message()),
                self.v.channel_messages[control.channel_message].message,
                "{what}: control {index}"
            );
        }
    }

    /// Replays timeline event `e` with the `members`.
    fn event(&self, members: &mut [Member], e: &TimelineEvent) {
        let (v, names) = (self.v, &self.names);
        let what = format!("step {} ({} {:?})", e.step, e.party, e.action);
        let key = |name: &str| self.key(name);
        let mut rng = ScriptedRng::new(e.draws.as_slice());
        let member = &mut members[names.of(&e.party)];
        match e.action {
            Action::ChannelCreate => {
                let c = &v.channels[e.channel.unwrap()];
                let prekey = v.prekeys.iter().find(|p| p.owner == c.responder).unwrap();
                let bundle = PrekeyBundle::from_bytes(&bytes(&prekey.bundle)).unwrap();
                let channel = Channel::create(&mut rng, &member.identity, &bundle).unwrap();
                member.channels.insert(key(&c.responder), channel);
            }
            Action::ChannelSend => {
                let m = &v.channel_messages[e.channel_message.unwrap()];
                let channel = member.channel(&key(&m.receiver));
                let message = channel.encrypt(&mut rng, &bytes(&m.plaintext)).unwrap();
                assert_eq!(hex::encode(message), m.message, "{what}");
            }
            Action::ChannelJoin => {
                let m = &v.channel_messages[e.channel_message.unwrap()];
                let store = member.prekeys.as_mut().unwrap();
                let joined = Channel::join(&member.identity, store, &bytes(&m.message)).unwrap();
                assert_eq!(joined.plaintext(), bytes(&m.plaintext), "{what}");
                assert_eq!(joined.peer().signing_key(), key(&m.sender), "{what}: peer");
                member
                    .channels
                    .insert(key(&m.sender), joined.into_channel());
            }
            Action::ChannelReceive => {
                let m = &v.channel_messages[e.channel_message.unwrap()];
                let channel = member.channel(&key(&m.sender));
                assert_eq!(
                    channel.decrypt(&bytes(&m.message)).unwrap(),
                    bytes(&m.plaintext),
                    "{what}"
                );
            }
            Action::GroupCreate => {
                let cards: Vec<_> = e
                    .members
                    .as_ref()
                    .unwrap()
                    .iter()
                    .map(|m| Card::from_bytes(&bytes(&v.identities[names.of(m)].card)).unwrap())
                    .collect();
                let (group, received) =
                    Group::create(&mut rng, &member.identity, &cards, &mut member.channels)
                        .unwrap();
                assert_eq!(hex::encode(group.group_id()), v.group.group_id, "{what}");
                assert_eq!(hex::encode(group.founder()), v.group.founder_key, "{what}");
                member.group = Some(group);
                self.check_received(&what, &received, e);
            }
            Action::GroupJoin | Action::GroupReceive => {
                let control = &v.controls[e.control.unwrap()];
                let from = key(e.from.as_ref().unwrap());
                let message = bytes(&v.channel_messages[control.channel_message].message);
                let received = if e.action == Action::GroupJoin {
                    let (group, received) = Group::join(
                        &mut rng,
                        &member.identity,
                        &mut member.channels,
                        &from,
                        &message,
                    )
                    .unwrap_or_else(|error| panic!("{what}: {error:?}"));
                    member.group = Some(group);
                    received
                } else {
                    let group = member.group.as_mut().unwrap();
                    group
                        .receive(&mut rng, &mut member.channels, &from, &message)
                        .unwrap_or_else(|error| panic!("{what}: {error:?}"))
                };
                self.check_received(&what, &received, e);
            }
            Action::RemoveMember => {
                let removed = key(e.member.as_ref().unwrap());
                let group = member.group.as_mut().unwrap();
                let received = group
                    .remove_member(&mut rng, &member.identity, &removed, &mut member.channels)
                    .unwrap();
                self.check_received(&what, &received, e);
            }
            Action::Rekey => {
                let group = member.group.as_mut().unwrap();
                let received = group.rekey(&mut rng, &mut member.channels).unwrap();
                self.check_received(&what, &received, e);
            }
            Action::Resync => {
                let group = member.group.as_mut().unwrap();
                let received = group.resync(&mut rng, &mut member.channels).unwrap();
                self.check_received(&what, &received, e);
            }
            Action::OfferOwnership => {
                let new_owner = key(e.member.as_ref().unwrap());
                let group = member.group.as_mut().unwrap();
                let received = group
                    .offer_ownership(&mut rng, &member.identity, &new_owner, &mut member.channels)
                    .unwrap();
                self.check_received(&what, &received, e);
            }
            Action::AcceptOwnership => {
                let group = member.group.as_mut().unwrap();
                let received = group
                    .accept_ownership(&mut rng, &member.identity, &mut member.channels)
                    .unwrap();
                self.check_received(&what, &received, e);
            }
            Action::Leave => {
                let group = member.group.as_mut().unwrap();
                let received = group.leave(&mut rng, &mut member.channels).unwrap();
                self.check_received(&what, &received, e);
            }
            // Nothing reaches the receiver.
            Action::Lost => {}
            Action::Encrypt => {
                let m = &v.group_messages[e.group_message.unwrap()];
                let message = member
                    .group()
                    .encrypt(&mut rng, &bytes(&m.plaintext))
                    .unwrap();
                assert_eq!(hex::encode(message), m.message, "{what}");
            }
            Action::Decrypt => {
                let m = &v.group_messages[e.group_message.unwrap()];
                let decrypted = member
                    .group()
                    .decrypt(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: {error:?}"));
                assert_eq!(decrypted.plaintext(), bytes(&m.plaintext), "{what}");
                assert_eq!(decrypted.sender(), key(&m.sender), "{what}: sender");
                assert_eq!(decrypted.epoch(), m.epoch, "{what}: epoch");
            }
        }
        rng.assert_used_up(&what);
    }

    /// Gives the `members` the rejected inputs of timeline step `step`; returns how many.
    fn refuse(&self, members: &mut [Member], step: usize) -> usize {
        let mut refused = 0;
        for r in self.v.rejected.iter().filter(|r| r.after_step == step) {
            let what = format!("rejected {} ({})", r.index, r.description);
            let from = r.from.as_deref().map(|from| self.key(from));
            let mut rng = ScriptedRng::new::<&str>(&[]);
            members[self.names.of(&r.party)].refuse(
                &mut rng,
                r.action,
                from,
                &bytes(&r.input),
                (&r.expected_error, r.signature_of.as_deref()),
                &what,
            );
            rng.assert_used_up(&what);
            refused += 1;
        }
        refused
    }
}

/// Replays the timeline with ratchetkit; with `refuse`, gives every rejected input at its
/// point and checks the error and the unchanged state.
pub fn replay(v: &GroupVectors, refuse: bool) {
    let names = Names(v.identities.iter().map(|i| i.name.clone()).collect());
    let mut members: Vec<Member> = v
        .identities
        .iter()
        .map(|i| Member::new(identity(i)))
        .collect();
    for prekey in &v.prekeys {
        let owner = &mut members[names.of(&prekey.owner)];
        let store = prekey_store([&prekey.secret, &prekey.kem_seed], prekey.id);
        let bundle = store.bundle(&owner.identity, None).unwrap();
        assert_eq!(
            bundle.to_bytes(),
            bytes(&prekey.bundle),
            "{}: bundle",
            prekey.owner
        );
        owner.prekeys = Some(store);
    }
    let lookup = Lookup { v, names };
    let mut refused = 0;
    for e in &v.timeline {
        lookup.event(&mut members, e);
        if refuse {
            refused += lookup.refuse(&mut members, e.step);
        }
    }
    if refuse {
        assert_eq!(refused, v.rejected.len(), "every rejected input was given");
    }

    // Every message arrived but the lost ones, whose keys each receiving channel still
    // holds as skipped keys: no other skipped key is left anywhere; and everyone ends where
    // the timeline leaves them.
    let lookup_names = &lookup.names;
    for member in &members {
        let name = member.identity.card().identity();
        for (peer, channel) in &member.channels {
            let lost = v
                .timeline
                .iter()
                .filter(|e| e.action == Action::Lost && e.party == name)
                .filter(|e| {
                    let control = &v.controls[e.control.unwrap()];
                    lookup.key(&control.sender) == *peer
                })
                .count();
            assert_eq!(
                channel.skipped_keys(),
                lost,
                "{name}: channel skipped keys, one per lost message"
            );
        }
        let group = member.group.as_ref().unwrap();
        for other in &members {
            assert_eq!(
                group.skipped_keys(&other.key),
                0,
                "{name}: group skipped keys"
            );
        }
    }
    let [alice, bob, carol] = &members[..] else {
        panic!("three members")
    };
    let (alice, bob, carol) = (
        alice.group.as_ref().unwrap(),
        bob.group.as_ref().unwrap(),
        carol.group.as_ref().unwrap(),
    );
    // Carol was removed at roster 2; alice left, and bob, the owner since roster 3,
    // removed her at roster 4.
    assert!(!alice.is_member() && bob.is_member() && !carol.is_member());
    assert_eq!(
        (
            alice.roster_version(),
            bob.roster_version(),
            carol.roster_version()
        ),
        (4, 4, 2)
    );
    assert_eq!(bob.owner().signing_key(), lookup.key("bob"));
    assert_eq!(alice.founder(), lookup.key("alice"));
    assert_eq!(bob.founder(), lookup.key("alice"));
    let last_key = |name: &str| {
        let member = lookup_names.of(name);
        v.sender_keys
            .iter()
            .rev()
            .find(|k| lookup_names.of(&k.member) == member)
            .unwrap()
            .epoch
    };
    assert_eq!(
        (alice.epoch(), bob.epoch(), carol.epoch()),
        (None, Some(last_key("bob")), None)
    );
}
