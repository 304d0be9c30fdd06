//! Delivering a message to a party and checking the outcome against the model: the exact
//! plaintext (once), or the exact documented error with every byte of state unchanged.

use rand::RngExt;
use ratchetkit::{Channel, Error, Group};

use super::channel_model::Side;
use super::group_model::{GroupMsgMeta, View};
use super::network::{Kind, Packet};
use super::{plain, Sim};

/// How often an app retries control before it gives up on it (with backoff, that is
/// about a hundred thousand steps).
const MAX_RETRIES: u32 = 32;

/// Control the app keeps and retries later: it waits for a roster, a welcome, an
/// established channel or the messages before it.
fn retry_later(error: &Error) -> bool {
    matches!(
        error,
        Error::RosterBehind { .. }
            | Error::NotGroupMember { .. }
            | Error::NotAGroupWelcome
            | Error::ChannelNotEstablished { .. }
            | Error::MissingChannel { .. }
            | Error::TooFarAhead { .. }
    )
}

/// Group messages the app keeps and retries when control has arrived.
fn waiting(result: &Result<(), Error>) -> bool {
    matches!(
        result,
        Err(Error::UnknownEpoch { .. } | Error::NotGroupMember { .. })
    )
}

/// What a delivery is about, for failure messages (formatted only on failure).
#[derive(Clone, Copy)]
struct Context<'a> {
    packet: &'a Packet,
}

impl<'a> Context<'a> {
    fn of(packet: &'a Packet) -> Self {
        Self { packet }
    }
}

impl std::fmt::Display for Context<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Packet {
            from, to, tampered, ..
        } = *self.packet;
        let tampered = if tampered { ", tampered" } else { "" };
        match &self.packet.kind {
            Kind::App { meta, .. } => write!(
                f,
                "channel message p{from} to p{to} (chain {}, N {}, PN {}{tampered})",
                meta.chain, meta.number, meta.previous
            ),
            Kind::Control { meta, control } => write!(
                f,
                "group {} control p{from} to p{to} (roster {:?}, key {:?}, leave {}, version {}; \
                 chain {}, N {}{tampered})",
                control.group,
                control.roster.as_ref().map(|r| r.version),
                control.key,
                control.leave,
                control.version,
                meta.chain,
                meta.number
            ),
            Kind::Group { group, meta, .. } => write!(
                f,
                "group {group} message from p{} to p{to} (epoch {}, iteration {}, sent at \
                 roster version {}{tampered})",
                meta.sender, meta.key.epoch, meta.key.iteration, meta.version
            ),
        }
    }
}

impl Sim {
    /// Delivers `packet`; true if the recipient's app put it back to retry later.
    pub(super) fn deliver(&mut self, packet: Packet) -> bool {
        self.stats.deliveries += 1;
        match packet.kind {
            Kind::App { .. } => {
                self.deliver_app(packet);
                false
            }
            Kind::Control { .. } => self.deliver_control(packet),
            Kind::Group { .. } => {
                self.deliver_group(packet, true);
                false
            }
        }
    }

    fn rejected(&mut self, packet: &Packet, error: &Error) {
        if packet.tampered {
            self.stats.tampered_rejected += 1;
        } else {
            let kind = match packet.kind {
                Kind::App { .. } => "channel",
                Kind::Control { .. } => "control",
                Kind::Group { .. } => "group",
            };
            self.stats.rejected(kind, error);
        }
    }

    fn deliver_app(&mut self, packet: Packet) {
        let Kind::App { meta, plaintext } = &packet.kind else {
            unreachable!()
        };
        let (from, to) = (packet.from, packet.to);
        let context = Context::of(&packet);
        let peer = self.keys[from];
        let party = &mut self.parties[to];
        let joining = !party.model.sides.contains_key(&from);
        let expected = (!packet.tampered).then(|| match party.model.sides.get(&from) {
            Some(side) => side.predict(meta),
            None => Side::predict_join(meta),
        });
        let before = (expected != Some(Ok(()))).then(|| party.channel_bytes_before(&peer));
        party.channel_cache.remove(&peer);
        let result = if joining {
            Channel::join(&party.identity, &mut party.prekeys, &packet.bytes).map(|joined| {
                assert_eq!(
                    joined.peer.signing_key(),
                    peer,
                    "{context}: joined as another peer"
                );
                assert_eq!(joined.channel.peer_signing_key(), peer);
                party.channels.insert(peer, joined.channel);
                joined.plaintext
            })
        } else {
            party
                .channels
                .get_mut(&peer)
                .expect("a channel")
                .decrypt(&packet.bytes)
        };
        match (result, expected) {
            (Ok(decrypted), Some(Ok(()))) => {
                assert!(
                    *decrypted == **plaintext,
                    "{context}: decrypted to other bytes"
                );
                if joining {
                    party.model.sides.insert(from, Side::joined(meta));
                    self.stats.joins += 1;
                } else {
                    let side = party.model.sides.get_mut(&from).expect("a side");
                    side.decrypted(meta);
                }
                let skipped = party.channels[&peer].skipped_keys();
                assert_eq!(
                    skipped,
                    party.model.sides[&from].skipped_keys(),
                    "{context}: skipped keys"
                );
                self.stats.decrypted += 1;
                self.input_done(to, &packet);
            }
            (Ok(_), expected) => panic!("{context}: decrypted; the model expected {expected:?}"),
            (Err(error), Some(Ok(()))) => {
                panic!("{context}: rejected with {error:?}; the model expected the plaintext")
            }
            (Err(error), expected) => {
                if let Some(Err(expected)) = expected {
                    assert_eq!(error, expected, "{context}");
                }
                let after = party.channel_bytes(&peer);
                assert!(
                    before.as_ref() == Some(&after),
                    "{context}: rejected ({error:?}) but the state changed"
                );
                if !joining {
                    party.channel_cache.insert(peer, after);
                }
                self.rejected(&packet, &error);
            }
        }
    }

    /// Delivers group control: `Group::receive`, or `Group::join` for a party without the
    /// group. True if the app keeps it to retry.
    fn deliver_control(&mut self, mut packet: Packet) -> bool {
        let Kind::Control { meta, control } = &packet.kind else {
            unreachable!()
        };
        let (from, to, g) = (packet.from, packet.to, control.group);
        let context = Context::of(&packet);
        let peer = self.keys[from];
        let channel_level = match self.parties[to].model.sides.get(&from) {
            Some(side) => side.predict(meta),
            None => Err(Error::MissingChannel { member: peer }),
        };
        // Refused as a duplicate (or on a forgotten chain) though never processed: its
        // channel key went with the oldest skipped keys, beyond `MAX_SKIPPED_KEYS`. The
        // control is lost for good, and the recipient's app must recover (`recovery`).
        let lost = !packet.tampered
            && !control.processed.get()
            && matches!(
                channel_level,
                Err(Error::Duplicate | Error::AuthenticationFailed)
            );
        let tracing = self.tracing();
        if lost {
            if tracing {
                eprintln!("[{}] lost for good: {context}", self.stats.steps);
            }
            self.lost_control.push((from, to, control.clone()));
        }
        let expected = if packet.tampered {
            None
        } else {
            let party = &self.parties[to];
            let keys = &self.keys;
            let sides = &party.model.sides;
            let check = |p: usize| match sides.get(&p) {
                None => Err(Error::MissingChannel { member: keys[p] }),
                Some(side) if !side.established() && p != from => {
                    Err(Error::ChannelNotEstablished { member: keys[p] })
                }
                Some(_) => Ok(()),
            };
            let generations = &mut self.generations;
            Some(channel_level.and_then(|()| match &party.model.views[g] {
                Some(view) => view.plan_receive(from, control, keys, &check, generations),
                None => View::plan_join(to, from, control, keys, &check, generations),
            }))
        };
        let party = &mut self.parties[to];
        let before = (!matches!(expected, Some(Ok(_)))).then(|| party.group_bytes(g));
        let super::party::Party {
            identity,
            channels,
            groups,
            ..
        } = &mut *party;
        let result = match &mut groups[g] {
            Some(group) => group
                .receive(&mut self.rng, channels, &peer, &packet.bytes)
                .map(|received| (None, received)),
            None => Group::join(&mut self.rng, identity, channels, &peer, &packet.bytes)
                .map(|(group, received)| (Some(group), received)),
        };
        match (result, expected) {
            (Ok((joined, received)), Some(Ok(plan))) => {
                if let Some(group) = joined {
                    party.groups[g] = Some(group);
                }
                party.touch(g);
                control.processed.set(true);
                self.stats.control_processed += 1;
                let leaving: Vec<usize> = plan
                    .events
                    .iter()
                    .filter_map(|event| match event {
                        super::group_model::Event::LeaveRequested { member } => Some(*member),
                        _ => None,
                    })
                    .collect();
                let sent = !received.outgoing.is_empty();
                self.apply_plan(
                    to,
                    g,
                    plan,
                    Some((from, *meta)),
                    &received.events,
                    received.outgoing,
                    &context,
                );
                if !sent {
                    self.input_done(to, &packet);
                }
                for member in leaving {
                    // The owner's app removes whoever asks to leave.
                    if self.in_latest(g, member) {
                        self.op_remove(g, member);
                    }
                }
                self.retry_held(to, g);
                false
            }
            (Ok(_), expected) => panic!(
                "{context}: processed; the model expected {:?}",
                expected.map(|e| e.err())
            ),
            (Err(error), Some(Ok(_))) => {
                panic!("{context}: rejected with {error:?}; the model expected it to be processed")
            }
            (Err(error), expected) => {
                if tracing {
                    eprintln!("[{}] {context}: refused, {error:?}", self.stats.steps);
                }
                let genuine = expected.is_some();
                if let Some(Err(expected)) = expected {
                    assert_eq!(error, expected, "{context}");
                }
                assert!(
                    before.as_ref() == Some(&party.group_bytes(g)),
                    "{context}: rejected ({error:?}) but the state changed"
                );
                self.rejected(&packet, &error);
                if genuine && retry_later(&error) && packet.retries < MAX_RETRIES {
                    self.stats.retries += 1;
                    packet.retries += 1;
                    let backoff = 1 << packet.retries.min(12);
                    let due = self.now + backoff + self.rng.random_range(0..backoff);
                    self.net.post_at(&mut self.rng, due, packet);
                    return true;
                }
                false
            }
        }
    }

    /// Delivers a group message to a party (and to the old states of it kept since its
    /// removals, if `ghosts`).
    pub(super) fn deliver_group(&mut self, packet: Packet, ghosts: bool) {
        let Kind::Group {
            group: g,
            meta,
            plaintext,
        } = &packet.kind
        else {
            unreachable!()
        };
        let (g, to) = (*g, packet.to);
        let context = Context::of(&packet);
        if ghosts {
            for i in 0..self.groups[g].ghosts.len() {
                if self.groups[g].ghosts[i].party == to && self.rng.random_bool(0.25) {
                    self.ghost_read(g, i, &packet, meta, plaintext, &context);
                }
            }
        }
        let party = &mut self.parties[to];
        if party.groups[g].is_none() {
            if !packet.tampered && self.in_latest(g, to) {
                self.hold(to, g, packet);
            }
            return;
        }
        let expected = (!packet.tampered).then(|| {
            let view = party.model.views[g].as_ref().expect("a view");
            view.predict(meta, &self.keys)
        });
        let before = (expected != Some(Ok(()))).then(|| party.group_bytes_before(g));
        party.group_cache[g] = None;
        let group = party.groups[g].as_mut().expect("a group");
        let view = party.model.views[g].as_mut().expect("a view");
        match (group.decrypt(&packet.bytes), expected) {
            (Ok(decrypted), Some(Ok(()))) => {
                assert!(
                    decrypted.plaintext == **plaintext,
                    "{context}: decrypted to other bytes"
                );
                assert_eq!(
                    decrypted.sender, self.keys[meta.sender],
                    "{context}: sender"
                );
                assert_eq!(decrypted.epoch, meta.key.epoch, "{context}: epoch");
                view.decrypted(meta);
                let sender = self.keys[meta.sender];
                assert_eq!(
                    group.skipped_keys(&sender),
                    view.skipped_keys(meta.sender),
                    "{context}: skipped keys"
                );
                self.check_member_may_read(g, to, meta);
                self.stats.group_decrypted += 1;
                self.input_done(to, &packet);
            }
            (Ok(_), expected) => panic!("{context}: decrypted; the model expected {expected:?}"),
            (Err(error), Some(Ok(()))) => {
                panic!("{context}: rejected with {error:?}; the model expected the plaintext")
            }
            (Err(error), expected) => {
                let genuine = expected.is_some();
                if let Some(Err(expected)) = expected {
                    assert_eq!(error, expected, "{context}");
                }
                let after = plain(group.to_bytes());
                assert!(
                    before.as_ref() == Some(&after),
                    "{context}: rejected ({error:?}) but the group changed"
                );
                party.group_cache[g] = Some(after);
                self.rejected(&packet, &error);
                if genuine && waiting(&Err(error)) && self.in_latest(g, to) {
                    self.hold(to, g, packet);
                }
            }
        }
    }

    /// A removed member's old state reads `packet`, exactly as its model says, and never
    /// what was sent after its removal.
    fn ghost_read(
        &mut self,
        g: usize,
        i: usize,
        packet: &Packet,
        meta: &GroupMsgMeta,
        plaintext: &[u8],
        context: &dyn std::fmt::Display,
    ) {
        let ghost = &mut self.groups[g].ghosts[i];
        let expected = (!packet.tampered).then(|| ghost.view.predict(meta, &self.keys));
        let before = (expected != Some(Ok(())))
            .then(|| ghost.cache.take())
            .map(|cache| cache.unwrap_or_else(|| plain(ghost.group.to_bytes())));
        ghost.cache = None;
        match (ghost.group.decrypt(&packet.bytes), expected) {
            (Ok(decrypted), Some(Ok(()))) => {
                assert!(
                    decrypted.plaintext == plaintext,
                    "{context}: old state read other bytes"
                );
                ghost.view.decrypted(meta);
                let (party, removed_at) = (ghost.party, ghost.removed_at);
                self.check_removed_may_read(g, party, removed_at, meta);
            }
            (Ok(_), expected) => {
                panic!("{context}: a removed member's old state read it; the model expected {expected:?}")
            }
            (Err(error), Some(Ok(()))) => panic!(
                "{context}: a removed member's old state refused it ({error:?}); the model \
                 expected the plaintext"
            ),
            (Err(error), expected) => {
                if let Some(Err(expected)) = expected {
                    assert_eq!(error, expected, "{context} (removed member's old state)");
                }
                let after = plain(ghost.group.to_bytes());
                assert!(
                    before.as_ref() == Some(&after),
                    "{context}: rejected ({error:?}) but the old state changed"
                );
                ghost.cache = Some(after);
                self.stats.removed_reads_refused += 1;
            }
        }
    }

    fn hold(&mut self, p: usize, g: usize, packet: Packet) {
        self.stats.held += 1;
        self.input_done(p, &packet);
        let held = &mut self.parties[p].model.held[g];
        held.push(packet);
        if held.len() > 5_000 {
            held.remove(0);
        }
    }

    /// Retries the held group messages the model says can now be decrypted (or refused
    /// for good).
    pub(super) fn retry_held(&mut self, p: usize, g: usize) {
        let held = std::mem::take(&mut self.parties[p].model.held[g]);
        let mut keep = Vec::new();
        for packet in held {
            let Kind::Group { meta, .. } = &packet.kind else {
                unreachable!()
            };
            let still = match &self.parties[p].model.views[g] {
                None => true,
                Some(view) => waiting(&view.predict(meta, &self.keys)),
            };
            if still {
                keep.push(packet);
            } else {
                self.deliver_group(packet, false);
            }
        }
        let held = &mut self.parties[p].model.held[g];
        keep.append(held);
        *held = keep;
    }

    /// With nothing in flight: a held message must be waiting for a key its reader will
    /// never get for a documented reason; then everything held is tried and dropped.
    pub(super) fn flush_held(&mut self) {
        for p in 0..self.parties.len() {
            for g in 0..self.groups.len() {
                for packet in std::mem::take(&mut self.parties[p].model.held[g]) {
                    self.check_held(p, g, &packet);
                    self.deliver_group(packet, false);
                }
                self.parties[p].model.held[g].clear();
            }
        }
    }

    fn check_held(&self, p: usize, g: usize, packet: &Packet) {
        let Kind::Group { meta, .. } = &packet.kind else {
            unreachable!()
        };
        let Some(view) = &self.parties[p].model.views[g] else {
            return;
        };
        let membership = self.membership(g, p, view.stint);
        let reader_current = membership.is_some_and(|(_, end)| end.is_none());
        let sender_current = self.current_stint(g, meta.sender)
            == self
                .membership(g, meta.sender, meta.sender_stint)
                .map(|(start, _)| start);
        // A member whose welcome was overtaken by the owner's next removal joins from that
        // update (it also carries the roster and the owner's key; docs/PROTOCOL.md 6.4):
        // what was sent between its addition and that removal, under epochs the removal
        // ended, it never reads. It owes every message from the version it joined at.
        let in_membership =
            membership.is_some_and(|(start, _)| start.max(view.stint) <= meta.version);
        let lost = matches!(
            view.predict(meta, &self.keys),
            Err(Error::UnknownEpoch { .. })
        ) && !view.dropped_epoch(meta.sender, meta.key.epoch);
        let recovered = self.lost_key(g, p, meta.sender, meta.key.generation);
        assert!(
            !(reader_current && sender_current && in_membership && lost) || recovered,
            "group {g}: p{p} never got p{}'s sender key for epoch {} (generation {}), though \
             both are still members and the message was sent at roster version {}, while p{p} \
             was in the group (memberships: {:?}; p{p}'s state was joined at version {})",
            meta.sender,
            meta.key.epoch,
            meta.key.generation,
            meta.version,
            self.groups[g].stints[p],
            view.stint
        );
    }
}
