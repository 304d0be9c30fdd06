//! Sending, as an app does it: fetch the account's device list if it is new (or now and
//! then again), start sessions with the devices that have none from bundles the directory
//! hands out, encrypt, and hand the envelopes to the network. Each call is checked against
//! the model.

use std::collections::BTreeSet;

use prost::Message as _;
use rand::RngExt;
use ratchetkit::client::{peek, ClientError, EnvelopeKind};
use ratchetkit::wire::v1;
use ratchetkit::{Error, PrekeyBundle};

use super::device::PeerModel;
use super::world::{must, Envelope, Kind, Message, World, ACCOUNTS, CRASH_AFTER_SEND};

/// One-time bundles a device publishes at a time.
const BUNDLE_BATCH: usize = 3;
/// Chance that a session starts from the fallback bundle (no one-time prekey) although
/// the directory has one-time bundles left.
const FALLBACK: f64 = 0.2;
/// Chance that an app fetches a known contact's device list again before sending.
const REFETCH: f64 = 0.1;

impl World {
    /// The devices the model says a message from `from` to `account` goes to: every device
    /// on the list of `account` that `from` holds, and the other devices of its own.
    pub fn recipients(&self, from: usize, account: usize) -> BTreeSet<usize> {
        let device = &self.devices[from];
        let own = &self.accounts[device.account].lists[device.own_version as usize - 1];
        let theirs = match (account == device.account, device.known.get(&account)) {
            (false, Some(version)) => &self.accounts[account].lists[*version as usize - 1][..],
            _ => &[],
        };
        theirs
            .iter()
            .chain(own)
            .copied()
            .filter(|peer| *peer != from)
            .collect()
    }

    /// The app fetches `account`'s newest device list from the directory: a contact's, or
    /// its own account's.
    pub fn refresh(&mut self, device: usize, account: usize) {
        let newest = self.accounts[account].lists.len() as u64;
        let published = self.accounts[account].published.clone();
        let before = self.devices[device].batches_saved();
        let name = format!(
            "{} fetches {}'s list",
            self.devices[device].name, ACCOUNTS[account]
        );
        if account == self.devices[device].account {
            let held = self.devices[device].own_version;
            let accepted = self.devices[device]
                .client()
                .accept_device_list(&mut self.rng, &published);
            let listed = self.accounts[account].lists[newest as usize - 1].contains(&device);
            match (held < newest && listed, accepted) {
                (false, Err(ClientError::NotLinked)) if !listed => {}
                (true, Ok(())) => {
                    self.devices[device].own_version = newest;
                    self.forget_removed(device, account, newest);
                }
                (false, Err(ClientError::Protocol(Error::StaleDeviceList { .. }))) => {}
                (_, result) => panic!("{name}: {result:?}"),
            }
            let writes = u64::from(held < newest && listed);
            assert_eq!(
                self.devices[device].batches_saved(),
                before + writes,
                "{name}"
            );
            self.stats.refreshes += 1;
            return;
        }
        let held = self.devices[device].known.get(&account).copied();
        let id = must(
            self.devices[device]
                .client()
                .add_contact(&mut self.rng, &published),
            || name.clone(),
        );
        assert_eq!(id, self.account_ids[account], "{name}: the account");
        // Saved once if it changed anything, else not at all.
        let writes = u64::from(held < Some(newest));
        assert_eq!(
            self.devices[device].batches_saved(),
            before + writes,
            "{name}"
        );
        self.devices[device].known.insert(account, newest);
        self.forget_removed(device, account, newest);
        self.stats.refreshes += 1;
    }

    /// A bundle of `device` from the directory: a one-time bundle, or now and then the
    /// fallback. The device publishes more when the directory runs out.
    fn fetch_bundle(&mut self, device: usize) -> PrekeyBundle {
        if self.one_time[device].is_empty() {
            let now = self.now();
            let mut fresh = must(
                self.devices[device]
                    .client()
                    .bundles(&mut self.rng, BUNDLE_BATCH, now),
                || format!("{} publishes bundles", self.devices[device].name),
            );
            assert_eq!(fresh.len(), BUNDLE_BATCH + 1, "bundles and the fallback");
            self.fallback[device] = fresh.pop();
            self.one_time[device].extend(fresh);
        }
        if self.rng.random_bool(FALLBACK) {
            self.stats.fallback_starts += 1;
            return self.fallback[device].clone().expect("published");
        }
        self.one_time[device].pop_front().expect("published")
    }

    /// Starts sessions with the devices `from` has none with, in one call.
    pub fn start_sessions(&mut self, from: usize, missing: &BTreeSet<usize>) {
        let bundles: Vec<PrekeyBundle> = missing
            .iter()
            .map(|device| self.fetch_bundle(*device))
            .collect();
        let before = self.devices[from].batches_saved();
        must(
            self.devices[from]
                .client()
                .start_sessions(&mut self.rng, &bundles),
            || format!("{} starts sessions", self.devices[from].name),
        );
        assert_eq!(self.devices[from].batches_saved(), before + 1);
        for &device in missing {
            let id = self.device_ids[device];
            let channel = must(self.devices[from].client().current_channel(id), || {
                "current channel".into()
            })
            .unwrap_or_else(|| panic!("no channel with device {device} after starting one"));
            // The peer started one the other way, and has not heard from this one: both
            // sides now settle on one of the two channels.
            if self.devices[device]
                .peers
                .get(&from)
                .is_some_and(|peer| !peer.created.is_empty())
            {
                self.stats.simultaneous_starts += 1;
            }
            self.devices[from]
                .peers
                .insert(device, PeerModel::created(channel));
            self.stats.sessions_started += 1;
        }
    }

    /// Device `from` sends a new message to `account`.
    pub fn send(&mut self, from: usize, account: usize) {
        let name = self.devices[from].name.clone();
        let own = self.devices[from].account;
        if account != own
            && (!self.devices[from].known.contains_key(&account) || self.rng.random_bool(REFETCH))
        {
            self.refresh(from, account);
        }
        let to = ACCOUNTS[account];
        let account_id = self.account_ids[account];
        let recipients = self.recipients(from, account);
        let listed = must(self.devices[from].client().devices_of(account_id), || {
            format!("{name}: devices of {to}")
        });
        let listed: BTreeSet<usize> = listed.into_iter().map(|id| self.device_index(id)).collect();
        assert_eq!(listed, recipients, "{name}: the devices of {to}");
        let missing = must(
            self.devices[from].client().missing_sessions(account_id),
            || format!("{name}: missing sessions with {to}"),
        );
        let missing: BTreeSet<usize> = missing
            .into_iter()
            .map(|id| self.device_index(id))
            .collect();
        let expected: BTreeSet<usize> = recipients
            .iter()
            .copied()
            .filter(|device| !self.devices[from].peers.contains_key(device))
            .collect();
        assert_eq!(
            missing, expected,
            "{name}: the devices of {to} without a session"
        );
        if !missing.is_empty() {
            self.start_sessions(from, &missing);
        }

        let index = self.messages.len();
        let filler = "·".repeat(self.rng.random_range(0..64));
        let plaintext = format!("message {index} from {name} to {to} {filler}").into_bytes();
        let before = self.devices[from].batches_saved();
        let sent = must(
            self.devices[from]
                .client()
                .encrypt_to(&mut self.rng, account_id, &plaintext),
            || format!("{name} sends message {index} to {to}"),
        );
        // Every channel it advanced saved in one batch; none when there is nobody to send
        // to (a note to self from an account's only device).
        let writes = u64::from(!recipients.is_empty());
        assert_eq!(self.devices[from].batches_saved(), before + writes);
        let mut got = BTreeSet::new();
        for outgoing in &sent {
            let device = self.device_index(outgoing.recipient());
            assert!(
                got.insert(device),
                "{name}: two envelopes to device {device}"
            );
        }
        assert_eq!(got, recipients, "{name}: who message {index} goes to");
        self.messages.push(Message { plaintext });
        self.stats.messages += 1;

        let crash = !self.net.reliable && self.rng.random_bool(CRASH_AFTER_SEND);
        for outgoing in sent {
            let to = self.device_index(outgoing.recipient());
            let peer = &self.devices[from].peers[&to];
            let channel = peer.current;
            let first = peer.sends_first_messages(channel);
            let peeked = must(peek(outgoing.bytes()), || "peek at an envelope".into());
            assert_eq!(
                (peeked.sender, peeked.recipient),
                (self.device_ids[from], self.device_ids[to]),
                "{name}: an envelope's routing"
            );
            assert_eq!(
                peeked.kind == EnvelopeKind::FirstMessage,
                first,
                "{name}: whether the envelope to device {to} is a first message"
            );
            self.check_fresh_key(outgoing.bytes());
            let envelope = self.envelopes.len();
            let mut record = Envelope {
                kind: Kind::Message,
                message: index,
                from,
                to,
                channel: Some(channel),
                carries_list: first.then_some(self.devices[from].own_version),
                genuine: 0,
                delivered: false,
                unlisted: false,
            };
            self.stats.envelopes += 1;
            if crash {
                self.stats.lost_in_crashes += 1;
            } else {
                let now = self.stats.steps;
                let posted = self.net.post(
                    &mut self.rng,
                    now,
                    envelope,
                    outgoing.into_bytes().into(),
                    false,
                );
                record.genuine = posted.genuine;
            }
            self.envelopes.push(record);
        }
        if crash {
            let full = self.rng.random_bool(0.5);
            self.restart(from, full);
        }
    }

    /// Checks that no envelope made so far used the same message key (sender, chain
    /// ratchet key, number) or the same salt.
    pub fn check_fresh_key(&mut self, bytes: &[u8]) {
        let envelope = must(v1::Envelope::decode(bytes), || "an envelope".into());
        let message = must(
            v1::ChannelMessage::decode(envelope.payload.as_slice()),
            || "a channel message".into(),
        );
        let header = must(v1::RatchetHeader::decode(message.header.as_slice()), || {
            "a ratchet header".into()
        });
        assert!(
            self.salts.insert(header.salt.clone()),
            "two envelopes share a salt"
        );
        let key = (envelope.sender, header.ratchet_key, header.message_number);
        assert!(
            self.message_keys.insert(key),
            "two envelopes use one message key"
        );
    }
}
