//! Delivering a message to a party and checking the outcome against the model: the exact
//! plaintext (once), or the exact documented error with every byte of state unchanged.

use std::rc::Rc;

use prost::Message as _;
use rand::RngExt;
use ratchetkit::wire::v1;
use ratchetkit::{Channel, Error, Group, JoinedControl};

use super::channel_model::{ChannelMeta, Side};
use super::group_model::{ControlMeta, Event, GroupMsgMeta, View};
use super::network::{Kind, Packet};
use super::party::Waiting;
use super::{plain, Sim};

/// How often an app retries control before it gives up on it (with backoff, that is
/// about a hundred thousand steps).
const MAX_RETRIES: u32 = 32;

/// Control the app keeps and retries later: it waits for a roster (`RosterBehind`, also
/// for an ownership offer that overtook the roster before it), a welcome, or the messages
/// before it.
fn retry_later(error: &Error) -> bool {
    matches!(
        error,
        Error::RosterBehind { .. }
            | Error::NotGroupMember { .. }
            | Error::NotAGroupWelcome
            | Error::MissingChannel { .. }
            | Error::TooFarAhead { .. }
    )
}

/// Refusals of control that lose nothing: what it carries is held already, or outdated.
fn harmless(error: &Error) -> bool {
    matches!(
        error,
        Error::Duplicate | Error::StaleSenderKey { .. } | Error::StaleRoster { .. }
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
                "{} (chain {}, N {}{tampered})",
                ControlContext {
                    from,
                    to,
                    control,
                    joined: false
                },
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

/// A control message, for failure messages.
struct ControlContext<'a> {
    from: usize,
    to: usize,
    control: &'a ControlMeta,
    /// It came in the first message of a channel, and waited.
    joined: bool,
}

impl std::fmt::Display for ControlContext<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Self {
            from,
            to,
            control,
            joined,
        } = self;
        write!(
            f,
            "group {} control p{from} to p{to}{} (roster {:?}, key {:?}, leave {}, resync {}, \
             offer {:?}, version {})",
            control.group,
            if *joined {
                " (from a channel's start)"
            } else {
                ""
            },
            control.roster.as_ref().map(|r| r.version),
            control.key,
            control.leave,
            control.resync,
            control.offer,
            control.version,
        )
    }
}

/// Where control comes from: a channel message for a channel the recipient holds, or the
/// control a channel's first message carried, already decrypted by `Channel::join`.
enum Source<'a> {
    Channel { bytes: &'a [u8], meta: ChannelMeta },
    Joined(&'a JoinedControl),
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

    /// The first message `packet` that `to` has just joined from, given to `Channel::join`
    /// again (as by an app that lost track of the channel, or an attacker replaying it): the
    /// signed prekey remembers every channel it started (the replay check comes before the
    /// one-time prekey is looked up), so it is refused and the prekey store is unchanged.
    fn assert_replay_refused(&mut self, to: usize, packet: &Packet, context: &Context) {
        assert!(
            v1::ChannelMessage::decode(&*packet.bytes)
                .ok()
                .and_then(|message| message.prekey)
                .is_some(),
            "a first message carries prekey information"
        );
        let expected = Error::ReplayedFirstMessage;
        let party = &mut self.parties[to];
        let before = party.prekeys.to_bytes();
        let replay = Channel::join(&party.identity, &mut party.prekeys, &packet.bytes);
        assert_eq!(replay.err(), Some(expected), "{context}: the join replayed");
        assert!(
            *before == *party.prekeys.to_bytes(),
            "{context}: a refused replay changed the prekey store"
        );
        self.stats.replays_refused += 1;
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
                    joined.peer().signing_key(),
                    peer,
                    "{context}: joined as another peer"
                );
                assert_eq!(joined.channel().peer_signing_key(), peer);
                assert!(
                    joined.group_control().is_none(),
                    "{context}: group control in application data"
                );
                let (channel, plaintext, _, _) = joined.into_parts();
                party.channels.insert(peer, channel);
                plaintext
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
                if joining {
                    self.assert_replay_refused(to, &packet, &context);
                }
                self.input_done(to, &packet);
                if joining {
                    self.channel_joined(to);
                }
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
    /// group; for a party without the channel, `Channel::join` first. True if the app
    /// keeps it to retry.
    fn deliver_control(&mut self, mut packet: Packet) -> bool {
        let Kind::Control { meta, control } = &packet.kind else {
            unreachable!()
        };
        let (meta, control) = (*meta, control.clone());
        let (from, to, g) = (packet.from, packet.to, control.group);
        if !self.parties[to].model.sides.contains_key(&from) {
            return self.join_with_control(packet);
        }
        let channel_level = self.parties[to].model.sides[&from].predict(&meta);
        // Refused as a duplicate (or on a forgotten chain) though never processed: its
        // channel key went with the oldest skipped keys, beyond `MAX_SKIPPED_KEYS`. The
        // control is lost for good, and the recipient's app must recover (`recovery`).
        let lost = !packet.tampered
            && !control.processed.get()
            && matches!(
                channel_level,
                Err(Error::Duplicate | Error::AuthenticationFailed)
            );
        if lost {
            if self.tracing() {
                eprintln!(
                    "[{}] lost for good: {}",
                    self.stats.steps,
                    Context::of(&packet)
                );
            }
            self.lost_control.push((from, to, control.clone()));
        }
        let bytes = packet.bytes.clone();
        let source = Source::Channel {
            bytes: &bytes,
            meta,
        };
        let result = self.process_control(to, from, &control, source, packet.tampered, &packet);
        let Err(error) = result else {
            return false;
        };
        self.rejected(&packet, &error);
        let genuine = !packet.tampered && !lost;
        if !genuine {
            return false;
        }
        if retry_later(&error) {
            if packet.retries < MAX_RETRIES {
                self.stats.retries += 1;
                packet.retries += 1;
                let backoff = 1 << packet.retries.min(12);
                let due = self.now + backoff + self.rng.random_range(0..backoff);
                self.net.post_at(&mut self.rng, due, packet);
                return true;
            }
            self.stats.given_up += 1;
        }
        if !control.processed.get() {
            self.refused_for_good(g, to, from, &control, &error);
        }
        false
    }

    /// The recipient will never process `control`, refused with `error` (or given up):
    /// it knows it may have missed something and resyncs at the next quiet point, unless
    /// the refusal loses nothing.
    pub(super) fn refused_for_good(
        &mut self,
        g: usize,
        to: usize,
        from: usize,
        control: &ControlMeta,
        error: &Error,
    ) {
        if control.leave {
            self.lost_leaves.insert((g, from));
        }
        if control.offer.is_some() {
            self.stats.offers_lost += 1;
        }
        let moot = !self.still_relevant(from, to, control);
        let carries = control.key.is_some() || control.roster.is_some() || control.offer.is_some();
        if harmless(error) || moot || !carries {
            return;
        }
        if let Some(key) = &control.key {
            self.lost_keys.insert((g, to, from, key.generation));
        }
        self.behind.insert((g, to));
    }

    /// Control for a party that has no channel with its sender yet: the channel's first
    /// messages may carry control. The app joins the channel, puts it with the others,
    /// delivers what its groups kept for it, and gives the control to its group.
    fn join_with_control(&mut self, mut packet: Packet) -> bool {
        let Kind::Control { meta, control } = &packet.kind else {
            unreachable!()
        };
        let (meta, control) = (*meta, control.clone());
        let (from, to, g) = (packet.from, packet.to, control.group);
        let context = Context::of(&packet);
        let peer = self.keys[from];
        let party = &mut self.parties[to];
        let expected = (!packet.tampered).then(|| Side::predict_join(&meta));
        let before = (expected != Some(Ok(()))).then(|| party.channel_bytes_before(&peer));
        match (
            Channel::join(&party.identity, &mut party.prekeys, &packet.bytes),
            expected,
        ) {
            (Ok(joined), Some(Ok(()))) => {
                assert_eq!(
                    joined.peer().signing_key(),
                    peer,
                    "{context}: joined as another peer"
                );
                assert!(
                    joined.plaintext().is_empty(),
                    "{context}: plaintext with control"
                );
                let jc = joined.group_control().expect("the group control").clone();
                assert_eq!(jc.from(), peer, "{context}: control from");
                assert_eq!(
                    jc.group_id().expect("a group id"),
                    self.groups[g].id,
                    "{context}: group id"
                );
                party.channels.insert(peer, joined.into_channel());
                party.model.sides.insert(from, Side::joined(&meta));
                self.stats.joins += 1;
                self.stats.control_joins += 1;
                self.assert_replay_refused(to, &packet, &context);
                let party = &mut self.parties[to];
                control.processed.set(true);
                // The app keeps the control with the channel (a save from now on holds
                // both), delivers what its groups kept for the channel, then processes it.
                party.model.waiting.push(Waiting {
                    from,
                    control,
                    jc,
                    retries: 0,
                });
                self.input_done(to, &packet);
                self.channel_joined(to);
                self.retry_waiting(to, g);
                false
            }
            (Ok(_), expected) => panic!("{context}: joined; the model expected {expected:?}"),
            (Err(error), Some(Ok(()))) => {
                panic!("{context}: refused with {error:?}; the model expected a join")
            }
            (Err(error), expected) => {
                if let Some(Err(expected)) = &expected {
                    assert_eq!(&error, expected, "{context}");
                }
                assert!(
                    before == Some(party.channel_bytes(&peer)),
                    "{context}: refused ({error:?}) but the prekeys changed"
                );
                self.rejected(&packet, &error);
                if expected.is_some() && retry_later(&error) && packet.retries < MAX_RETRIES {
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

    /// Gives control that came in a channel's first message to `to`'s group; the app
    /// keeps it to retry if it waits for something.
    fn process_joined(
        &mut self,
        to: usize,
        from: usize,
        control: Rc<ControlMeta>,
        jc: JoinedControl,
        retries: u32,
    ) {
        let g = control.group;
        let dummy = Packet {
            from,
            to,
            bytes: Rc::from(&[][..]),
            tampered: false,
            retries,
            kind: Kind::Control {
                meta: ChannelMeta {
                    chain: 0,
                    number: 0,
                    previous: 0,
                },
                control: control.clone(),
            },
        };
        let result = self.process_control(to, from, &control, Source::Joined(&jc), false, &dummy);
        let Err(error) = result else {
            return;
        };
        self.rejected(&dummy, &error);
        if retry_later(&error) {
            if retries < MAX_RETRIES {
                self.stats.retries += 1;
                self.parties[to].model.waiting.push(Waiting {
                    from,
                    control,
                    jc,
                    retries: retries + 1,
                });
                return;
            }
            self.stats.given_up += 1;
        }
        self.refused_for_good(g, to, from, &control, &error);
    }

    /// Retries the control from channels' first messages that `p` keeps for group `g`.
    fn retry_waiting(&mut self, p: usize, g: usize) {
        let waiting = std::mem::take(&mut self.parties[p].model.waiting);
        let (now, later): (Vec<Waiting>, Vec<Waiting>) =
            waiting.into_iter().partition(|w| w.control.group == g);
        self.parties[p].model.waiting = later;
        for w in now {
            self.process_joined(p, w.from, w.control, w.jc, w.retries);
        }
    }

    /// Processes group control at `to` from `from`, checking the outcome against the
    /// model; then the app reacts to the events. `input` is what the party processed (for
    /// a restart).
    fn process_control(
        &mut self,
        to: usize,
        from: usize,
        control: &Rc<ControlMeta>,
        source: Source,
        tampered: bool,
        input: &Packet,
    ) -> Result<(), Error> {
        let g = control.group;
        let joined = matches!(source, Source::Joined(_));
        let context = ControlContext {
            from,
            to,
            control,
            joined,
        };
        let channel_level = match &source {
            Source::Channel { meta, .. } => self.parties[to].model.sides[&from].predict(meta),
            Source::Joined(_) => Ok(()),
        };
        let expected = (!tampered).then(|| {
            let party = &self.parties[to];
            let sides = &party.model.sides;
            let channel = |q: usize| sides.contains_key(&q);
            let mut ctx = super::group_model::Ctx {
                keys: &self.keys,
                channel: &channel,
                generations: &mut self.generations,
            };
            channel_level.and_then(|()| match &party.model.views[g] {
                Some(view) => view.plan_receive(from, control, &mut ctx),
                None => View::plan_join(to, from, control, &mut ctx),
            })
        });
        let tracing = self.tracing();
        let peer = self.keys[from];
        let party = &mut self.parties[to];
        let before = (!matches!(expected, Some(Ok(_)))).then(|| party.group_bytes(g));
        let super::party::Party {
            identity,
            channels,
            groups,
            ..
        } = &mut *party;
        let rng = &mut self.rng;
        let result = match (&mut groups[g], &source) {
            (Some(group), Source::Channel { bytes, .. }) => group
                .receive(rng, channels, &peer, bytes)
                .map(|received| (None, received)),
            (None, Source::Channel { bytes, .. }) => {
                Group::join(rng, identity, channels, &peer, bytes)
                    .map(|(group, received)| (Some(group), received))
            }
            (Some(group), Source::Joined(jc)) => group
                .receive_control(rng, channels, jc)
                .map(|received| (None, received)),
            (None, Source::Joined(jc)) => Group::join_control(rng, identity, channels, jc)
                .map(|(group, received)| (Some(group), received)),
        };
        match (result, expected) {
            (Ok((group, received)), Some(Ok(plan))) => {
                if let Some(group) = group {
                    party.groups[g] = Some(group);
                }
                party.touch(g);
                control.processed.set(true);
                self.stats.control_processed += 1;
                let events = plan.events.clone();
                let answered = events
                    .iter()
                    .any(|event| matches!(event, Event::ResyncRequested { .. }));
                if control.resync && !answered {
                    // Beyond `MAX_RESYNC_REPLIES`: the requester's key is installed, unanswered.
                    self.stats.resyncs_unanswered += 1;
                }
                let sent = !received.outgoing().is_empty();
                let received_meta = match source {
                    Source::Channel { meta, .. } => Some((from, meta)),
                    Source::Joined(_) => None,
                };
                self.apply_plan(
                    to,
                    g,
                    plan,
                    received_meta,
                    received.events(),
                    received.outgoing().to_vec(),
                    &context,
                );
                if !sent && !joined {
                    self.input_done(to, input);
                }
                self.react(to, g, &events);
                self.retry_held(to, g);
                self.retry_waiting(to, g);
                Ok(())
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
                if let Some(Err(expected)) = expected {
                    assert_eq!(error, expected, "{context}");
                }
                assert!(
                    before.as_ref() == Some(&party.group_bytes(g)),
                    "{context}: rejected ({error:?}) but the state changed"
                );
                Err(error)
            }
        }
    }

    /// What `p`'s app does about the events of control it processed in `g`: the owner
    /// removes whoever asks to leave, a member offered the group accepts it, and the old
    /// owner leaves once the new owner's roster has arrived.
    fn react(&mut self, p: usize, g: usize, events: &[Event]) {
        for event in events {
            match *event {
                Event::LeaveRequested { member } => {
                    if self.in_latest(g, member) && self.owner(g) == p {
                        self.op_remove(g, member);
                    }
                    if self.in_latest(g, member) {
                        self.lost_leaves.insert((g, member));
                    }
                }
                Event::OwnershipOffered { .. } => self.op_accept(g, p),
                Event::OwnerChanged { .. } => {
                    let old_owner = self.groups[g].transfer.is_some_and(|(from, _)| from == p);
                    let member = self.parties[p].model.views[g]
                        .as_ref()
                        .is_some_and(View::is_member);
                    if old_owner && member {
                        *self.stats.group_ops.entry("old owner leaves").or_default() += 1;
                        self.op_leave(g, p);
                    }
                }
                _ => {}
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
                    decrypted.plaintext() == &**plaintext,
                    "{context}: decrypted to other bytes"
                );
                assert_eq!(
                    decrypted.sender(),
                    self.keys[meta.sender],
                    "{context}: sender"
                );
                assert_eq!(decrypted.epoch(), meta.key.epoch, "{context}: epoch");
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
                    decrypted.plaintext() == plaintext,
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

    /// With nothing in flight: control kept from channels' first messages is tried once
    /// more; what still waits must wait for something its recipient will never get for a
    /// documented reason, and is dropped.
    pub(super) fn flush_waiting(&mut self) {
        for p in 0..self.parties.len() {
            for g in 0..self.groups.len() {
                self.retry_waiting(p, g);
            }
            for w in std::mem::take(&mut self.parties[p].model.waiting) {
                self.check_stuck(w.from, p, &w.control);
                let g = w.control.group;
                self.stats.given_up += 1;
                self.refused_for_good(g, p, w.from, &w.control, &Error::NotAGroupWelcome);
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
        // It owes every message sent from the version that added it (a welcome that
        // arrives after a later update still installs the owner's key).
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
