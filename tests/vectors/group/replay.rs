//! `ratchetkit_replays_the_timeline` and `ratchetkit_refuses_the_rejected_inputs` of
//! `group-v1.json`: ratchetkit, given each call's listed draws through a scripted RNG,
//! rebuilds the identities, prekey stores and channels and replays the timeline byte for
//! byte; with the rejected inputs, it refuses each at its point, changing nothing.

use ratchetkit::group::Outgoing;
use ratchetkit::{Card, Channel, Group, PrekeyBundle};

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

    /// Checks what a group call sent against the listed controls `sent`.
    fn check_sent(&self, what: &str, outgoing: &[Outgoing], sent: &[usize]) {
        assert_eq!(outgoing.len(), sent.len(), "{what}: how many controls");
        for (out, &index) in outgoing.iter().zip(sent) {
            let control = &self.v.controls[index];
            assert_eq!(
                out.to,
                self.key(&control.receiver),
                "{what}: control {index} recipient"
            );
            assert_eq!(
                hex::encode(&out.message),
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
                assert_eq!(joined.plaintext, bytes(&m.plaintext), "{what}");
                assert_eq!(joined.peer.signing_key(), key(&m.sender), "{what}: peer");
                member.channels.insert(key(&m.sender), joined.channel);
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
                let group_id = bytes(&v.group_id);
                let (group, outgoing) = Group::create(
                    &mut rng,
                    &member.identity,
                    &group_id,
                    &cards,
                    &mut member.channels,
                )
                .unwrap();
                member.group = Some(group);
                self.check_sent(&what, &outgoing, &e.sent);
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
                self.check_sent(&what, &received.outgoing, &e.sent);
                let events = event_vectors(&received.events, |key| {
                    let identity = v
                        .identities
                        .iter()
                        .find(|i| bytes(&i.signing_public) == key);
                    identity.unwrap().name.clone()
                });
                assert_eq!(events, e.events, "{what}: events");
            }
            Action::RemoveMember => {
                let removed = key(e.member.as_ref().unwrap());
                let group = member.group.as_mut().unwrap();
                let outgoing = group
                    .remove_member(&mut rng, &member.identity, &removed, &mut member.channels)
                    .unwrap();
                self.check_sent(&what, &outgoing, &e.sent);
            }
            Action::Rekey => {
                let group = member.group.as_mut().unwrap();
                let outgoing = group.rekey(&mut rng, &mut member.channels).unwrap();
                self.check_sent(&what, &outgoing, &e.sent);
            }
            Action::Encrypt => {
                let m = &v.group_messages[e.group_message.unwrap()];
                let message = member.group().encrypt(&bytes(&m.plaintext)).unwrap();
                assert_eq!(hex::encode(message), m.message, "{what}");
            }
            Action::Decrypt => {
                let m = &v.group_messages[e.group_message.unwrap()];
                let decrypted = member
                    .group()
                    .decrypt(&bytes(&m.message))
                    .unwrap_or_else(|error| panic!("{what}: {error:?}"));
                assert_eq!(decrypted.plaintext, bytes(&m.plaintext), "{what}");
                assert_eq!(decrypted.sender, key(&m.sender), "{what}: sender");
                assert_eq!(decrypted.epoch, m.epoch, "{what}: epoch");
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
                &r.expected_error,
                &what,
            );
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
        let store = prekey_store(&prekey.secret, prekey.id);
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

    // Every message arrived: no skipped key is left anywhere, carol is out, and the others
    // end where the timeline leaves them.
    for member in &members {
        let name = member.identity.card().identity();
        for channel in member.channels.values() {
            assert_eq!(channel.skipped_keys(), 0, "{name}: channel skipped keys");
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
    assert!(alice.is_member() && bob.is_member() && !carol.is_member());
    assert_eq!(
        (
            alice.roster_version(),
            bob.roster_version(),
            carol.roster_version()
        ),
        (2, 2, 2)
    );
    assert_eq!(
        (alice.epoch(), bob.epoch(), carol.epoch()),
        (Some(1), Some(2), None)
    );
}
