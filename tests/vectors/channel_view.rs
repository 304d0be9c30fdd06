//! A channel as the recompute tests see it from the timeline and the protocol document alone:
//! which sending chain each message goes on, with what PN and message number, and whether it
//! carries prekey information. No ratchetkit.

use crate::vectors::proto;

/// Where a channel message goes: its chain, PN and message number, as the timeline
/// determines them ([`ChannelView::position`]).
pub struct Position {
    pub chain: usize,
    pub previous_chain_length: u32,
    pub message_number: u32,
    /// Whether the message starts its chain (and so drew the chain's ratchet key).
    pub starts_chain: bool,
}

/// One side of a channel, as the timeline determines it.
#[derive(Clone, Default)]
struct SideView {
    /// The side's current sending chain, if it has one it may still use.
    current: Option<usize>,
    /// The newest chain received from the peer.
    latest_received: Option<usize>,
    /// Whether the side has decrypted anything (the initiator stops attaching prekey
    /// information then).
    has_decrypted: bool,
}

/// A channel, as the timeline determines it: which chain each message goes on, with what
/// PN and number, and whether it carries prekey information. Parties are indices; the
/// initiator's is given, any other is the responder.
pub struct ChannelView {
    initiator: usize,
    pub associated_data: Vec<u8>,
    prekey_info: proto::PrekeyInfo,
    sides: [SideView; 2],
    /// Messages sent so far on each chain.
    sent_on_chain: Vec<u32>,
    /// Each chain's previous chain length (PN), once started.
    chain_pn: Vec<Option<u32>>,
}

impl ChannelView {
    /// The channel before `Channel::create`, with `chains` sending chains in all.
    pub fn new(
        initiator: usize,
        associated_data: Vec<u8>,
        prekey_info: proto::PrekeyInfo,
        chains: usize,
    ) -> Self {
        Self {
            initiator,
            associated_data,
            prekey_info,
            sides: Default::default(),
            sent_on_chain: vec![0; chains],
            chain_pn: vec![None; chains],
        }
    }

    /// `Channel::create` starts the initiator's first sending chain (PN 0).
    pub fn create(&mut self) {
        self.sides[0].current = Some(0);
        self.chain_pn[0] = Some(0);
    }

    fn side(&self, party: usize) -> usize {
        usize::from(party != self.initiator)
    }

    /// Whether a message `party` receives now is the responder's first, from which it joins
    /// the channel.
    pub fn joins(&self, party: usize) -> bool {
        party != self.initiator && self.sides[1].latest_received.is_none()
    }

    /// Where `party`'s next message goes; nothing is recorded. A side sends on its current
    /// chain unless it has received a chain newer than that one: then it starts the next
    /// chain, as the Double Ratchet does on its next send, with PN the length of its previous
    /// chain.
    pub fn position(&self, party: usize) -> Position {
        let side = &self.sides[self.side(party)];
        match (side.current, side.latest_received) {
            (Some(chain), received) if received.is_none_or(|r| r < chain) => Position {
                chain,
                previous_chain_length: self.chain_pn[chain].expect("a started chain"),
                message_number: self.sent_on_chain[chain],
                starts_chain: false,
            },
            (previous, Some(received)) => Position {
                chain: received + 1,
                previous_chain_length: previous.map_or(0, |p| self.sent_on_chain[p]),
                message_number: 0,
                starts_chain: true,
            },
            (_, None) => panic!("a side sends before any ratchet key is known"),
        }
    }

    /// Records that `party` sent its next message; returns its position.
    pub fn send(&mut self, party: usize) -> Position {
        let position = self.position(party);
        if position.starts_chain {
            let side = self.side(party);
            self.sides[side].current = Some(position.chain);
            self.chain_pn[position.chain] = Some(position.previous_chain_length);
        }
        self.sent_on_chain[position.chain] += 1;
        position
    }

    /// Records that `party` received a message on `chain`.
    pub fn receive(&mut self, party: usize, chain: usize) {
        let side = &mut self.sides[self.side(party)];
        side.latest_received = side.latest_received.max(Some(chain));
        side.has_decrypted = true;
    }

    /// The prekey information `party`'s next message carries: the initiator's, until it
    /// has decrypted anything.
    pub fn prekey(&self, party: usize) -> Option<proto::PrekeyInfo> {
        (party == self.initiator && !self.sides[0].has_decrypted).then(|| self.prekey_info.clone())
    }
}
