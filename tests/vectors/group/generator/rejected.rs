//! The rejected inputs: given to the library at their point of the timeline and listed, and
//! the pieces the scenario makes them from (group messages signed again, forged sender keys,
//! channel messages made up on a sender's open chain).

use prost::Message as _;
use rand::Rng;
use ratchetkit::group::GROUP_VERSION;
use ratchetkit::wire::v1;

use super::channels::channel_message_vector;
use super::{name, named, Generator};
use crate::vectors::group::format::{RejectedAction, RejectedVector, SignerVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    ed25519_public, ed25519_sign, group_signature_input, MESSAGE_SALT_LEN,
};

impl Generator {
    /// Gives `input` to `party`, which must refuse it with `expected` (`BadSignature`
    /// followed by what of, as in `BadSignature: roster`), draw nothing and change nothing;
    /// lists it.
    fn reject(
        &mut self,
        party: usize,
        action: RejectedAction,
        from: Option<usize>,
        input: Vec<u8>,
        (expected, description): (&str, &str),
    ) -> &mut RejectedVector {
        let from_key = from.map(|from| self.key(from));
        let (expected, signature_of) = match expected.split_once(": ") {
            Some((error, of)) => (error, Some(of)),
            None => (expected, None),
        };
        self.members[party].refuse(
            &mut self.rng,
            action,
            from_key,
            &input,
            (expected, signature_of),
            description,
        );
        let [] = self.rng.take(description);
        let index = self.rejected.len();
        self.rejected.push(RejectedVector {
            index,
            after_step: self.timeline.len() - 1,
            party: name(party),
            action,
            from: from.map(name),
            input: hex::encode(&input),
            expected_error: expected.into(),
            signature_of: signature_of.map(Into::into),
            description: description.into(),
            group_message: None,
            channel_message: None,
            signed_by: None,
            crafted: None,
        });
        &mut self.rejected[index]
    }

    /// A group message refused by `party`, made from group message `base`; `signed_by` the
    /// member and epoch whose key signed it again, if the generator did.
    pub(super) fn reject_message(
        &mut self,
        party: usize,
        base: usize,
        (input, signed_by): (Vec<u8>, Option<(usize, u32)>),
        expected: &str,
        description: &str,
    ) {
        let rejected = self.reject(
            party,
            RejectedAction::Decrypt,
            None,
            input,
            (expected, description),
        );
        rejected.group_message = Some(base);
        rejected.signed_by = signed_by.map(|(member, epoch)| SignerVector {
            member: name(member),
            epoch,
        });
    }

    /// A listed channel message (or one made from it) refused by its receiver.
    pub(super) fn reject_channel_message(
        &mut self,
        action: RejectedAction,
        base: usize,
        input: Vec<u8>,
        expected: &str,
        description: &str,
    ) {
        let message = &self.channel_messages[base];
        let (party, from) = (named(&message.receiver), named(&message.sender));
        let rejected = self.reject(party, action, Some(from), input, (expected, description));
        rejected.channel_message = Some(base);
    }

    /// A channel message made up by the generator: `plaintext` sent by `from` to `to` on
    /// the next position of `from`'s open sending chain, with a salt from the crafting RNG,
    /// refused by `to`'s group (`action`: receive, or join for a party without the group).
    pub(super) fn reject_crafted(
        &mut self,
        action: RejectedAction,
        (from, to): (usize, usize),
        (content_type, plaintext): (u32, &[u8]),
        expected: &str,
        description: &str,
    ) {
        let channel = self.channel_between(from, to);
        assert!(
            !self.needs_new_chain(from, to),
            "{description}: made-up messages go on an open sending chain"
        );
        let mut salt = [0; MESSAGE_SALT_LEN];
        self.craft_rng.fill_bytes(&mut salt);
        let m =
            self.channels[channel]
                .model
                .next_message(&name(from), (content_type, plaintext), salt);
        let crafted = channel_message_vector(
            channel,
            (from, to),
            content_type,
            plaintext,
            &m,
            (None, None),
        );
        let rejected = self.reject(to, action, Some(from), m.message, (expected, description));
        rejected.crafted = Some(crafted);
    }

    /// A group message of `header` and `ciphertext`, signed with `signer`'s key of `epoch`.
    pub(super) fn signed_message(
        &self,
        header: &[u8],
        ciphertext: &[u8],
        signer: usize,
        epoch: u32,
    ) -> Vec<u8> {
        let key = self
            .sender_keys
            .iter()
            .find(|key| key.member == name(signer) && key.epoch == epoch)
            .expect("a listed sender key");
        v1::GroupMessage {
            version: GROUP_VERSION,
            header: header.to_vec(),
            ciphertext: ciphertext.to_vec(),
            signature: ed25519_sign(
                &array(&key.signing_seed),
                &group_signature_input(header, ciphertext),
            )
            .to_vec(),
        }
        .encode_to_vec()
    }

    /// A forged sender key distribution for `sender` at `epoch`, from the crafting RNG.
    pub(super) fn forged_distribution(
        &mut self,
        sender: usize,
        epoch: u32,
    ) -> v1::SenderKeyDistribution {
        let mut draw = || {
            let mut value = [0; 32];
            self.craft_rng.fill_bytes(&mut value);
            value
        };
        let (chain_key, seed) = (draw(), draw());
        v1::SenderKeyDistribution {
            group_id: self.group_id(),
            sender: self.key(sender).to_vec(),
            epoch,
            iteration: 0,
            chain_key: chain_key.to_vec(),
            signing_key: ed25519_public(&seed).to_vec(),
        }
    }

    /// Group message `index`, decoded, with its header.
    pub(super) fn group_message_parts(&self, index: usize) -> (v1::GroupMessage, v1::GroupHeader) {
        let message = v1::GroupMessage::decode(self.group_message_bytes(index).as_slice())
            .expect("GroupMessage");
        let header = v1::GroupHeader::decode(message.header.as_slice()).expect("GroupHeader");
        (message, header)
    }

    pub(super) fn group_message_bytes(&self, index: usize) -> Vec<u8> {
        bytes(&self.group_messages[index].message)
    }

    pub(super) fn channel_message_bytes(&self, index: usize) -> Vec<u8> {
        bytes(&self.channel_messages[index].message)
    }

    /// The channel message that carries `control`.
    pub(super) fn control_message(&self, control: usize) -> usize {
        self.controls[control].channel_message
    }
}
