//! Delivering a copy of an envelope: the first genuine copy must decrypt, with exactly the
//! events the model predicts, unless its sender was removed from its account as far as the
//! recipient knows; a duplicate, a tampered copy or one from a removed device must be
//! refused and change nothing, neither the store nor the channel.

use ratchetkit::client::{ClientError, Event};
use ratchetkit::Error;

use super::device::PeerModel;
use super::groups::{later, Attempt, OWNER};
use super::network::Packet;
use super::world::{must, Envelope, Kind, World};

/// What the model predicts a genuine channel envelope does: the events before its
/// content (a device list it carries, a channel it replaces), and the recipient's channels
/// with its sender and version of its sender's list after it.
struct Landing {
    expected: Vec<Event>,
    peer: PeerModel,
    version: u64,
    joined: bool,
    replaced: bool,
}

/// Why the model expects a copy to be refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refusal {
    /// A bit was flipped: any error.
    Tampered,
    /// The envelope was received already: refused as a replay (`Duplicate` on a chain the
    /// channel remembers, `AuthenticationFailed` on one it forgot, `ReplayedFirstMessage`
    /// for a first message joined already).
    Replay,
    /// Its sender is on no device list the recipient holds (`UnknownDevice`).
    Unlisted,
}

/// A short name for an error, to count refusals by.
pub fn error_name<E: std::error::Error>(error: &ClientError<E>) -> String {
    let debug = match error {
        ClientError::Protocol(error) => format!("{error:?}"),
        other => format!("{other:?}"),
    };
    debug
        .split([' ', '{', '('])
        .next()
        .unwrap_or_default()
        .to_owned()
}

impl World {
    pub fn deliver(&mut self, packet: Packet) {
        self.stats.deliveries += 1;
        let envelope = &self.envelopes[packet.envelope];
        if matches!(envelope.kind, Kind::GroupMessage | Kind::Forged) {
            return self.deliver_group_message(packet);
        }
        if packet.tampered {
            self.refuse(&packet, Refusal::Tampered);
        } else if !self.sender_listed(envelope) {
            // Before anything else: a replay of what it received before the removal too.
            let first = !envelope.delivered;
            self.refuse(&packet, Refusal::Unlisted);
            self.envelopes[packet.envelope].unlisted |= first;
        } else if envelope.delivered {
            self.refuse(&packet, Refusal::Replay);
        } else if envelope.kind == Kind::Message {
            self.accept(&packet);
        } else {
            let to = envelope.to;
            match self.attempt_control(&packet) {
                Attempt::Taken => drop(self.retry_pending(to)),
                Attempt::Later => self.keep_for_later(packet),
                Attempt::Dropped => {}
            }
        }
    }

    /// The version of the sender's account's list the recipient holds once it took the
    /// list the envelope carries, if newer (of its own account, only a list that names
    /// it).
    fn list_after(&self, envelope: &Envelope) -> Option<u64> {
        let receiver = &self.devices[envelope.to];
        let account = self.devices[envelope.from].account;
        let lists = &self.accounts[account].lists;
        if account == receiver.account {
            let held = receiver.own_version;
            return Some(match envelope.carries_list {
                Some(version)
                    if version > held && lists[version as usize - 1].contains(&envelope.to) =>
                {
                    version
                }
                _ => held,
            });
        }
        let held = receiver.known.get(&account).copied();
        match (held, envelope.carries_list) {
            (Some(held), Some(version)) => Some(held.max(version)),
            (held, carried) => held.or(carried),
        }
    }

    /// Whether the envelope's sender is on that list.
    fn sender_listed(&self, envelope: &Envelope) -> bool {
        let account = self.devices[envelope.from].account;
        self.list_after(envelope).is_some_and(|version| {
            self.accounts[account].lists[version as usize - 1].contains(&envelope.from)
        })
    }

    /// What the model says a genuine envelope on a channel (a message or group control),
    /// taken for the first time from a device the recipient knows, does to the channel
    /// and the device list it lands on.
    fn landing(&self, envelope: &Envelope) -> Landing {
        let (from, to) = (envelope.from, envelope.to);
        let (sender, receiver) = (&self.devices[from], &self.devices[to]);
        let (account, own) = (sender.account, receiver.account);
        let account_id = self.account_ids[account];

        // What the device list it carries changes.
        let mut expected = Vec::new();
        let held = match account == own {
            true => Some(receiver.own_version),
            false => receiver.known.get(&account).copied(),
        };
        let version = self.list_after(envelope).expect("a listed sender");
        match held {
            None => expected.push(Event::NewContact {
                account: account_id,
            }),
            Some(held) if version > held => {
                let lists = &self.accounts[account].lists;
                let (old, new) = (&lists[held as usize - 1], &lists[version as usize - 1]);
                let ids = |devices: &mut dyn Iterator<Item = &usize>| -> Vec<_> {
                    devices.map(|device| self.device_ids[*device]).collect()
                };
                expected.push(Event::DevicesChanged {
                    account: account_id,
                    added: ids(&mut new.iter().filter(|device| !old.contains(device))),
                    removed: ids(&mut old.iter().filter(|device| !new.contains(device))),
                });
            }
            Some(_) => {}
        }

        // Which channel it lands on: one the device holds, or one it joins, which becomes
        // current unless the device created its current channel and that one's id is the
        // smaller (the rule both sides of a simultaneous start apply).
        let channel = envelope.channel.expect("an envelope on a channel");
        let (mut peer, joined, replaced) = match receiver.peers.get(&from).cloned() {
            Some(peer) if peer.channels.contains(&channel) => (peer, false, false),
            Some(mut peer) => {
                peer.channels.insert(channel);
                let keep = peer.created.contains(&peer.current) && peer.current < channel;
                if !keep {
                    peer.current = channel;
                }
                (peer, true, !keep)
            }
            None => (PeerModel::joined(channel), true, false),
        };
        if peer.created.contains(&channel) {
            peer.heard.insert(channel);
        }
        if replaced {
            expected.push(Event::ChannelReplaced {
                device: self.device_ids[from],
            });
        }
        Landing {
            expected,
            peer,
            version,
            joined,
            replaced,
        }
    }

    /// The model takes what `landing` predicted, once the client took the envelope, and
    /// checks the client's current channel with the sender.
    fn land(&mut self, envelope: &Envelope, landing: Landing, events: &[Event], what: &str) {
        let (from, to) = (envelope.from, envelope.to);
        let account = self.devices[from].account;
        let name = self.devices[to].name.clone();
        let current = landing.peer.current;
        let device = &mut self.devices[to];
        device.peers.insert(from, landing.peer);
        match account == device.account {
            true => device.own_version = landing.version,
            false => drop(device.known.insert(account, landing.version)),
        }
        self.forget_removed(to, account, landing.version);
        let id = self.device_ids[from];
        let held = must(self.devices[to].client().current_channel(id), || {
            format!("{name}'s channel after {what}")
        });
        assert_eq!(
            held,
            Some(current),
            "{name}: the current channel after {what}"
        );
        self.stats.joins += u64::from(landing.joined);
        self.stats.channels_replaced += u64::from(landing.replaced);
        for event in events {
            match event {
                Event::NewContact { .. } => self.stats.new_contacts += 1,
                Event::DevicesChanged { .. } => self.stats.devices_changed += 1,
                _ => {}
            }
        }
    }

    /// A genuine envelope, delivered for the first time, from a device the recipient
    /// knows.
    fn accept(&mut self, packet: &Packet) {
        let envelope = self.envelopes[packet.envelope].clone();
        let (from, to) = (envelope.from, envelope.to);
        let (sender, receiver) = (&self.devices[from], &self.devices[to]);
        let name = receiver.name.clone();
        let what = format!(
            "envelope {} (message {} from {}, on channel {:?})",
            packet.envelope, envelope.message, sender.name, envelope.channel
        );
        let (account, own) = (sender.account, receiver.account);
        let verified = account == own || receiver.verified.contains(&account);
        let mut landing = self.landing(&envelope);
        landing.expected.push(Event::Message {
            account: self.account_ids[account],
            device: self.device_ids[from],
            verified,
            plaintext: self.messages[envelope.message].plaintext.clone(),
        });

        let before = self.devices[to].batches_saved();
        let received = self.devices[to]
            .client()
            .receive(&mut self.rng, &packet.bytes)
            .unwrap_or_else(|error| panic!("{name} refused {what}: {error:?}"));
        assert_eq!(
            received.events(),
            landing.expected,
            "{name}: the events of {what}"
        );
        assert_eq!(
            received.message(),
            Some(&self.messages[envelope.message].plaintext[..]),
            "{name}: the plaintext of {what}"
        );
        let device = &mut self.devices[to];
        assert_eq!(
            device.batches_saved(),
            before + 1,
            "{name}: saves of {what}"
        );
        assert!(
            device.received.insert(envelope.message),
            "{name} received message {} twice",
            envelope.message
        );
        self.land(&envelope, landing, received.events(), &what);
        self.envelopes[packet.envelope].delivered = true;
        self.stats.accepted += 1;
    }

    /// The first genuine copy of group control from a device the recipient knows (or a
    /// copy the app kept for later): taken, with exactly the events the model predicts
    /// for its channel and device list and only group events after them, and what it
    /// makes the device send handed to the network; or refused with an error that says
    /// "later" ([`later`]), changing nothing.
    pub fn attempt_control(&mut self, packet: &Packet) -> Attempt {
        let envelope = self.envelopes[packet.envelope].clone();
        let (from, to) = (envelope.from, envelope.to);
        let name = self.devices[to].name.clone();
        let what = format!(
            "control envelope {} from {}, on channel {:?}",
            packet.envelope, self.devices[from].name, envelope.channel
        );
        let landing = self.landing(&envelope);
        let channel = self.devices[to].peers.get(&from).map(|peer| peer.current);
        let before = self.devices[to].batches_saved();
        let received = match self.devices[to]
            .client()
            .receive(&mut self.rng, &packet.bytes)
        {
            Ok(received) => received,
            Err(error) => {
                // A roster update overtaken by a newer one is stale, to drop: only the
                // owner sends rosters.
                let stale = from == OWNER
                    && matches!(error, ClientError::Protocol(Error::StaleRoster { .. }));
                // Control its sender made before it learned of its removal: final.
                let removed = self.moot(&envelope)
                    && matches!(
                        error,
                        ClientError::Protocol(Error::RemovedGroupMember { .. })
                    );
                assert!(
                    later(&error) || stale || removed,
                    "{name} refused {what}: {error:?}"
                );
                assert_eq!(
                    self.devices[to].batches_saved(),
                    before,
                    "{name} saved on refusing {what} ({error:?})"
                );
                let id = self.device_ids[from];
                let after = must(self.devices[to].client().current_channel(id), || {
                    format!("{name}'s channel after {what}")
                });
                assert_eq!(
                    after, channel,
                    "{name}'s channel changed on refusing {what}"
                );
                *self
                    .stats
                    .kept_for_later
                    .entry(error_name(&error))
                    .or_default() += 1;
                if stale {
                    self.dropped.insert(packet.envelope);
                    return Attempt::Dropped;
                }
                return Attempt::Later;
            }
        };
        let events = received.events().to_vec();
        let prefix = landing.expected.len();
        assert!(
            events.len() >= prefix && events[..prefix] == landing.expected[..],
            "{name}: the events of {what}: {events:?}, expected to start with {:?}",
            landing.expected
        );
        assert!(
            events[prefix..]
                .iter()
                .all(|event| matches!(event, Event::Group { .. })),
            "{name}: the events of {what}: {events:?}"
        );
        assert_eq!(
            self.devices[to].batches_saved(),
            before + 1,
            "{name}: saves of {what}"
        );
        self.land(&envelope, landing, &events, &what);
        self.envelopes[packet.envelope].delivered = true;
        self.stats.controls_taken += 1;
        // What it makes the device send: to its sender on the channel it came on, to the
        // others on the current channel.
        let outgoing = received.outgoing().to_vec();
        self.hand_over(to, outgoing, Some((from, envelope.channel)));
        self.group_events(to, &events);
        Attempt::Taken
    }

    /// A copy the model says must be refused: refused, and nothing changes.
    fn refuse(&mut self, packet: &Packet, why: Refusal) {
        let envelope = &self.envelopes[packet.envelope];
        let (from, to) = (envelope.from, envelope.to);
        let sender = self.device_ids[from];
        let what = format!(
            "a {why:?} copy of envelope {} (message {} from {})",
            packet.envelope, envelope.message, self.devices[from].name
        );
        let name = self.devices[to].name.clone();
        // The channel is read after the refusal only: reading it before would load the
        // session, which the client must otherwise load from its store itself.
        let channel = self.devices[to].peers.get(&from).map(|peer| peer.current);
        let device = &mut self.devices[to];
        let (batches, records) = (device.batches_saved(), device.records());
        let error = match device.client().receive(&mut self.rng, &packet.bytes) {
            Ok(received) => panic!("{name} accepted {what}: {:?}", received.events()),
            Err(error) => error,
        };
        let expected = match why {
            Refusal::Tampered => true,
            Refusal::Replay => matches!(
                error,
                ClientError::Protocol(
                    Error::Duplicate | Error::AuthenticationFailed | Error::ReplayedFirstMessage
                )
            ),
            Refusal::Unlisted => {
                matches!(error, ClientError::UnknownDevice { device } if device == sender)
            }
        };
        assert!(expected, "{name} refused {what} with {error:?}");
        assert_eq!(
            device.batches_saved(),
            batches,
            "{name} saved on refusing {what} ({error:?})"
        );
        assert!(
            device.records() == records,
            "{name}'s store changed on refusing {what} ({error:?})"
        );
        let after = must(device.client().current_channel(sender), || {
            format!("{name}'s channel after {what}")
        });
        assert_eq!(
            after, channel,
            "{name}'s channel changed on refusing {what}"
        );
        match why {
            Refusal::Tampered => self.stats.tampered_refused += 1,
            Refusal::Replay => self.stats.duplicates_refused += 1,
            Refusal::Unlisted => self.stats.unlisted_refused += 1,
        }
        *self.stats.refusals.entry(error_name(&error)).or_default() += 1;
    }
}
