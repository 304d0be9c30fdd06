//! The independent checks of `group-v2.json`'s rejected inputs, at their point of the
//! timeline: what can be recomputed is recomputed, a signature is valid exactly when the
//! expected error comes after the signature check, and the error itself follows from the
//! protocol document ([`refusal`](super::refusal)).

use prost::Message;

use super::refusal::Outcome;
use super::walk::Walk;
use crate::vectors::group::format::{RejectedAction, RejectedVector};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    ed25519_sign, ed25519_verifies, group_signature_input, GROUP_VERSION,
};
use crate::vectors::proto;
use crate::vectors::recompute::{
    check, check_channel_message, listed_channel_message, Expected, Pad,
};

/// What was checked of a rejected input.
pub(super) struct Checked {
    /// The rule that a group message's signature verifies exactly when its error comes
    /// after the signature check.
    pub signature: bool,
    /// The expected error, derived independently.
    pub error_derived: bool,
}

/// Checks rejected input `r`.
pub(super) fn check_rejected(walk: &Walk, r: &RejectedVector) -> Checked {
    let what = format!("rejected {}", r.index);
    let party = walk.names.of(&r.party);
    let input = bytes(&r.input);
    if let Some(base) = r.group_message {
        assert!(
            base < walk.sent_group_messages,
            "{what}: made from a message sent by then"
        );
    }
    if let Some(base) = r.channel_message {
        assert!(
            base < walk.sent_channel_messages,
            "{what}: made from a message sent by then"
        );
        assert_eq!(
            walk.names.of(&walk.v.channel_messages[base].receiver),
            party,
            "{what}: given to the message's receiver"
        );
    }
    if matches!(
        r.action,
        RejectedAction::Receive | RejectedAction::Join | RejectedAction::ChannelDecrypt
    ) {
        assert!(r.from.is_some(), "{what}: from");
    }
    match r.action {
        RejectedAction::Join => assert!(
            walk.roster[party].is_none(),
            "{what}: join is for a party without the group"
        ),
        RejectedAction::Decrypt | RejectedAction::Receive => assert!(
            walk.roster[party].is_some(),
            "{what}: the party has the group"
        ),
        RejectedAction::ChannelDecrypt => {}
    }

    if let Some(signer) = &r.signed_by {
        // Re-signed by the generator: the signature is the signer's over the input's parts.
        let key = walk.sender_key(walk.names.of(&signer.member), signer.epoch);
        let message = proto::GroupMessage::decode(input.as_slice()).unwrap();
        let signature = ed25519_sign(
            &array(&key.signing_seed),
            &group_signature_input(&message.header, &message.ciphertext),
        );
        assert_eq!(message.signature, signature, "{what}: signed_by");
        assert_eq!(input, message.encode_to_vec(), "{what}: canonical");
    }
    let mut signature_checked = false;
    if r.action == RejectedAction::Decrypt
        && !matches!(r.expected_error.as_str(), "Decode" | "InvalidLength")
    {
        // When the receiver holds the key the header names, the signature verifies exactly
        // when the expected error comes after the signature check.
        if let Some(verifies) = signature_verifies(walk, party, &input) {
            let after_signature = matches!(
                r.expected_error.as_str(),
                "AuthenticationFailed"
                    | "BadPadding"
                    | "Duplicate"
                    | "TooFarAhead"
                    | "SentBeforeKeyReceived"
            );
            assert_eq!(
                verifies, after_signature,
                "{what}: the signature verifies exactly when the error comes after it"
            );
            signature_checked = true;
        }
    }
    if let Some(crafted) = &r.crafted {
        // A made-up channel message: the next one on the sender's open chain.
        let from = walk.names.of(r.from.as_ref().unwrap());
        let channel = walk.channel_between(from, party);
        assert_eq!(
            crafted.index, None,
            "{what}: a crafted message has no index"
        );
        assert_eq!(
            crafted.control, None,
            "{what}: a crafted message has no control"
        );
        let view = &walk.channels[channel];
        let position = view.position(from);
        assert!(!position.starts_chain, "{what}: on the sender's open chain");
        assert_eq!(
            (crafted.channel, crafted.chain),
            (channel, position.chain),
            "{what}: channel and chain"
        );
        check_channel_message(
            &what,
            &listed_channel_message!(crafted),
            &walk.v.channels[channel].chains[position.chain],
            &Expected {
                position: &position,
                content_type: crafted.content_type,
                prekey: view.prekey(from).as_ref(),
                padding: Pad::Padme,
            },
            &view.associated_data,
        );
        check!(r.input, bytes(&crafted.message), "{what}: input");
        if crafted.content_type == 1 {
            // The control inside decodes; the group must refuse it.
            proto::GroupControl::decode(bytes(&crafted.plaintext).as_slice()).unwrap();
        }
    }
    assert_eq!(
        r.signature_of.is_some(),
        r.expected_error == "BadSignature",
        "{what}: signature_of is given exactly for BadSignature"
    );
    let derived = match walk.outcome(r, party, &input) {
        Outcome::Refused(error, signature_of) => (error, signature_of),
        Outcome::Accepted => panic!("{what}: the protocol accepts it ({})", r.description),
    };
    assert_eq!(
        derived,
        (r.expected_error.as_str(), r.signature_of.as_deref()),
        "{what}: the error the protocol gives ({})",
        r.description
    );
    Checked {
        signature: signature_checked,
        error_derived: true,
    }
}

/// Whether a group message's signature verifies with the epoch key its header names, if
/// it is a group message of this group from a member of `party`'s roster whose key for
/// that epoch `party` holds.
fn signature_verifies(walk: &Walk, party: usize, input: &[u8]) -> Option<bool> {
    let message = proto::GroupMessage::decode(input).ok()?;
    let header = proto::GroupHeader::decode(message.header.as_slice()).ok()?;
    if message.version != GROUP_VERSION || header.group_id != walk.group_id {
        return None;
    }
    let sender = walk
        .v
        .identities
        .iter()
        .position(|i| bytes(&i.signing_public) == header.sender)?;
    let roster = walk.roster_members(walk.roster[party]?);
    if !roster.contains(&sender) || !walk.held.contains_key(&(party, sender, header.epoch)) {
        return None;
    }
    let public = array::<32>(&walk.sender_key(sender, header.epoch).signing_public);
    Some(ed25519_verifies(
        &public,
        &group_signature_input(&message.header, &message.ciphertext),
        &message.signature,
    ))
}
