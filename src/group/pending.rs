//! Control that waits for a channel: a member the app has no channel to yet delays only
//! what goes to that member, and the rest of the group goes on.
//!
//! What waits is kept in the group (and its saved state) and sent, in order, by the next
//! operation that finds a channel: the owner's current roster first, then the controls
//! as they were made, so that the member can still read what was sent while it waited.

use prost::Message;
use rand::CryptoRng;
use zeroize::Zeroizing;

use super::control::{ChannelWork, Channels, ControlParts};
use super::{Group, GroupEvent, Received, MAX_PENDING_CONTROLS};
use crate::wire::{self, v1};

/// Control waiting for a channel to one member.
#[derive(Clone, Default, PartialEq, Eq)]
pub(crate) struct Pending {
    /// (Owner only.) The member needs the current roster.
    pub(crate) roster: bool,
    /// Encoded `GroupControl`s without a roster, oldest first; each holds at most one
    /// sender key, so they are zeroized when dropped.
    pub(crate) controls: Vec<Zeroizing<Vec<u8>>>,
}

impl Pending {
    /// The current roster, for a member the owner could not send an update to.
    pub(crate) fn roster() -> Self {
        Self {
            roster: true,
            controls: Vec::new(),
        }
    }

    /// One encoded control.
    pub(crate) fn control(control: Zeroizing<Vec<u8>>) -> Self {
        Self {
            roster: false,
            controls: vec![control],
        }
    }

    /// A sender key, as sent under `roster_version`: kept as it was, so that the member
    /// can read what was sent while it waited.
    pub(crate) fn key(
        group_id: &[u8],
        roster_version: u64,
        distribution: v1::SenderKeyDistribution,
    ) -> Self {
        Self::control(
            ControlParts {
                roster_version,
                sender_key: Some(distribution),
                ..ControlParts::default()
            }
            .encode(group_id),
        )
    }

    /// The same, with the current roster too.
    pub(crate) fn with_roster(mut self) -> Self {
        self.roster = true;
        self
    }

    /// The channel messages' plaintexts: the first control carries `roster`, if any (a
    /// control of its own, under `version`, when nothing else waits).
    pub(crate) fn messages(
        &self,
        roster: Option<v1::SignedRoster>,
        version: u64,
        group_id: &[u8],
    ) -> Vec<Zeroizing<Vec<u8>>> {
        let mut messages = self.controls.clone();
        let Some(roster) = roster else {
            return messages;
        };
        // The roster rides only on a bare sender key: with a request, the receiver would
        // refuse the pair (a resync request never comes with a roster).
        let first = messages
            .first()
            .and_then(|first| wire::decode_secret::<v1::GroupControl>(first, "GroupControl").ok())
            .filter(|first| {
                first.sender_key.is_some()
                    && first.leave.is_none()
                    && first.resync.is_none()
                    && first.offer.is_none()
            });
        match first {
            Some(mut control) => {
                control.roster = Some(roster);
                if let Some(slot) = messages.first_mut() {
                    *slot = Zeroizing::new(control.encode_to_vec());
                }
            }
            None => messages.insert(
                0,
                ControlParts {
                    roster_version: version,
                    roster: Some(roster),
                    ..ControlParts::default()
                }
                .encode(group_id),
            ),
        }
        messages
    }

    /// Appends `later`, keeping the newest [`MAX_PENDING_CONTROLS`] controls.
    pub(crate) fn merge(&mut self, later: Pending) {
        self.roster |= later.roster;
        self.controls.extend(later.controls);
        let excess = self.controls.len().saturating_sub(MAX_PENDING_CONTROLS);
        self.controls.drain(..excess);
    }
}

impl Group {
    /// Sends what waited for a channel ([`GroupEvent::ChannelNeeded`]) to every member the
    /// app now has a channel to. Every other operation does this too; call it after
    /// starting the channels the events asked for.
    ///
    /// Never fails: a member whose channel cannot send stays pending.
    pub fn deliver_pending<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        channels: &mut C,
    ) -> Received {
        let work = ChannelWork::new(channels);
        self.finish(rng, work, Vec::new())
    }

    /// The members that control waits for a channel to.
    pub fn pending_members(&self) -> impl Iterator<Item = &[u8; 32]> + '_ {
        self.pending.keys()
    }

    /// Ends an operation whose group changes are made: delivers what waited for a channel
    /// the app now has, commits the channels, keeps what still waits, and reports the
    /// members newly waiting for a channel.
    pub(crate) fn finish<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        mut work: ChannelWork<'_, C>,
        mut events: Vec<GroupEvent>,
    ) -> Received {
        self.deliver(rng, &mut work);
        let (outgoing, queued) = work.commit();
        for (member, pending) in queued {
            if !self.roster.contains(&member) || pending == Pending::default() {
                continue;
            }
            if !self.pending.contains_key(&member) {
                if let Some(card) = self.roster.member(&member) {
                    events.push(GroupEvent::ChannelNeeded {
                        member,
                        name: card.identity().to_owned(),
                        fingerprint: card.fingerprint(),
                    });
                }
            }
            self.pending.entry(member).or_default().merge(pending);
        }
        Received { events, outgoing }
    }

    /// Sends pending control to every pending member the app has a channel to.
    fn deliver<R: CryptoRng + ?Sized, C: Channels + ?Sized>(
        &mut self,
        rng: &mut R,
        work: &mut ChannelWork<'_, C>,
    ) {
        let owner = self.roster.owner_key() == self.me;
        let members: Vec<[u8; 32]> = self.pending.keys().copied().collect();
        for member in members {
            if !self.roster.contains(&member) {
                self.pending.remove(&member);
                continue;
            }
            if !work.has_channel(&member) {
                continue;
            }
            let Some(pending) = self.pending.remove(&member) else {
                continue;
            };
            let roster = (pending.roster && owner).then(|| self.roster.signed.clone());
            let messages = pending.messages(roster, self.roster.version, self.group_id());
            let mut sent = 0;
            for message in &messages {
                // A channel that cannot send keeps the rest waiting.
                if work.send(rng, &member, message, Pending::default).is_err() {
                    break;
                }
                sent += 1;
            }
            if sent < messages.len() {
                self.pending.insert(member, pending);
            }
        }
    }

    /// What waits for a member without a channel instead of the welcome.
    pub(crate) fn queued_welcome(&self) -> Pending {
        self.queued_key(self.roster.version).with_roster()
    }

    /// What waits for a member without a channel instead of this member's current key,
    /// as sent under `roster_version`.
    pub(crate) fn queued_key(&self, roster_version: u64) -> Pending {
        self.own_distribution()
            .map(|distribution| Pending::key(self.group_id(), roster_version, distribution))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::control::Control;

    fn leave(version: u64) -> Zeroizing<Vec<u8>> {
        ControlParts {
            roster_version: version,
            leave: true,
            ..ControlParts::default()
        }
        .encode(&[7; 32])
    }

    #[test]
    fn merging_keeps_the_newest_controls_in_order() {
        let mut pending = Pending::default();
        for version in 0..(MAX_PENDING_CONTROLS as u64 + 3) {
            pending.merge(Pending::control(leave(version)));
        }
        let versions: Vec<u64> = pending
            .controls
            .iter()
            .map(|c| Control::parse(c).expect("control").roster_version)
            .collect();
        let expected: Vec<u64> = (3..MAX_PENDING_CONTROLS as u64 + 3).collect();
        assert_eq!(versions, expected);
        assert!(!pending.roster);
        pending.merge(Pending::roster());
        assert!(pending.roster);
    }

    #[test]
    fn the_roster_rides_on_the_first_waiting_control_or_alone() {
        let roster = v1::SignedRoster {
            roster: vec![1, 2, 3],
            signature: vec![4; 64],
        };
        let alone = Pending::roster().messages(Some(roster.clone()), 9, &[7; 32]);
        let [only] = alone.as_slice() else {
            panic!("one message expected");
        };
        let only: v1::GroupControl = wire::decode_secret(only, "GroupControl").expect("control");
        assert_eq!(
            (only.roster.as_ref(), only.roster_version),
            (Some(&roster), 9)
        );

        let key = v1::SenderKeyDistribution {
            group_id: vec![7; 32],
            sender: vec![1; 32],
            epoch: 0,
            iteration: 5,
            chain_key: vec![2; 32],
            signing_key: vec![3; 32],
        };
        let waiting = Pending::key(&[7; 32], 4, key).with_roster();
        let messages = waiting.messages(Some(roster.clone()), 9, &[7; 32]);
        let [first] = messages.as_slice() else {
            panic!("one message expected");
        };
        let first: v1::GroupControl = wire::decode_secret(first, "GroupControl").expect("control");
        // The control keeps the version it was made under; the roster is the current one.
        assert_eq!(
            (first.roster.as_ref(), first.roster_version),
            (Some(&roster), 4)
        );
        assert!(first.sender_key.is_some());

        // A request never carries a roster: the roster goes first, on its own.
        let waiting = Pending::control(leave(4)).with_roster();
        let messages = waiting.messages(Some(roster.clone()), 9, &[7; 32]);
        let [alone, request] = messages.as_slice() else {
            panic!("two messages expected");
        };
        let alone: v1::GroupControl = wire::decode_secret(alone, "GroupControl").expect("control");
        assert_eq!(
            (alone.roster.as_ref(), alone.roster_version),
            (Some(&roster), 9)
        );
        let request: v1::GroupControl =
            wire::decode_secret(request, "GroupControl").expect("control");
        assert!(request.roster.is_none() && request.leave.is_some());
    }
}
