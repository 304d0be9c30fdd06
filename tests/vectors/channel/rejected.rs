//! The independent check of `channel-v1.json`'s rejected inputs: from the protocol document
//! alone, each input must fail the way it is listed to, at its point of the timeline.

use prost::Message;

use super::format::{Action, RejectedAction, RejectedVector, Vectors};
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{aes_gcm_open, chain_key_at, kdf_ck, message_aead, MESSAGE_INFO};
use crate::vectors::proto;

/// Checks that the rejected input `r` must fail with its listed error; `ad` and
/// `prekey_info` are the channel's associated data and initiator's prekey information.
pub fn check_rejected(v: &Vectors, r: &RejectedVector, ad: &[u8], prekey_info: &proto::PrekeyInfo) {
    let what = format!("rejected {} ({})", r.index, r.description);
    let base = &v.messages[r.message];
    let original = bytes(&base.message);
    let input = bytes(&r.input);
    assert!(r.after_step < v.timeline.len(), "{what}: after_step");
    let happened = &v.timeline[..=r.after_step];
    assert!(
        happened
            .iter()
            .any(|e| e.action == Action::Send && e.message == r.message),
        "{what}: made from a message sent by then"
    );
    assert_eq!(
        r.party, base.receiver,
        "{what}: given to the message's receiver"
    );
    let delivered = happened
        .iter()
        .any(|e| e.action != Action::Send && e.message == r.message);
    let joined = happened.iter().any(|e| e.action == Action::Join);
    if r.action == RejectedAction::Join {
        assert_eq!(r.party, "bob", "{what}: only the responder joins");
    } else {
        assert!(
            r.party == "alice" || joined,
            "{what}: bob decrypts once joined"
        );
    }
    assert_eq!(
        input == original,
        matches!(
            r.expected_error.as_str(),
            "Duplicate" | "UnknownOneTimePrekey" | "NotAPrekeyMessage"
        ),
        "{what}: only replays are the listed message itself"
    );

    let message = proto::ChannelMessage::decode(input.as_slice()).expect("decodes");
    let header = proto::RatchetHeader::decode(message.header.as_slice()).expect("decodes");
    let canonical = message.encode_to_vec() == input && header.encode_to_vec() == message.header;
    let spk_id = v.prekeys.signed_prekey.id;
    match r.expected_error.as_str() {
        "Decode" => assert!(
            !canonical || header.content_type > 1,
            "{what}: not canonical"
        ),
        "UnsupportedVersion" => assert_ne!(message.version, 1, "{what}"),
        "InvalidLength" => assert_ne!(header.ratchet_key.len(), 32, "{what}"),
        "InvalidPublicKey" => assert_ne!(header.ratchet_key[31] & 0x80, 0, "{what}: top bit"),
        "Duplicate" => assert!(delivered, "{what}: a replay of a message already received"),
        "NotAPrekeyMessage" => assert!(message.prekey.is_none(), "{what}"),
        "UnknownSignedPrekey" => {
            let id = message
                .prekey
                .as_ref()
                .expect("prekey information")
                .signed_prekey_id;
            assert_ne!(id, spk_id, "{what}: a signed prekey bob never had");
        }
        "UnknownOneTimePrekey" => {
            assert!(
                joined,
                "{what}: the one-time prekey was consumed by the join"
            );
            let prekey = message.prekey.as_ref().expect("prekey information");
            assert_eq!(prekey.one_time_prekey_id, Some(v.x3dh.one_time_prekey_id));
        }
        "PrekeyInfoMismatch" => {
            // The initiator refuses any prekey information; the responder requires the one
            // it joined with on the chain it joined, and none on any other.
            let expected = (r.party == "bob" && base.chain == 0).then_some(prekey_info);
            assert!(canonical, "{what}: canonical");
            assert_ne!(message.prekey.as_ref(), expected, "{what}");
        }
        "TooFarAhead" => {
            assert!(canonical, "{what}: canonical");
            assert!(
                header.message_number > 2000,
                "{what}: more than MAX_MESSAGE_GAP ahead"
            );
        }
        "AuthenticationFailed" => {
            // Canonical and well-formed, but the AEAD fails with the key of the message it
            // claims to be.
            assert!(canonical, "{what}: canonical");
            assert_eq!(
                (message.version, header.ratchet_key.len()),
                (1, 32),
                "{what}"
            );
            let chain_key = chain_key_at(
                &array(&v.chains[base.chain].chain_key),
                header.message_number,
            );
            let (aes_key, nonce) = message_aead(&kdf_ck(&chain_key).0, MESSAGE_INFO);
            let aad = [ad, message.header.as_slice()].concat();
            assert!(
                aes_gcm_open(&aes_key, &nonce, &aad, &message.ciphertext).is_none(),
                "{what}: the tag must fail"
            );
        }
        other => panic!("{what}: an error kind this test does not know: {other}"),
    }
}
