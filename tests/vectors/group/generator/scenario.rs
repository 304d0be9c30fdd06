//! The timeline of `group-v1.json`, with the rejected inputs at their points.

use prost::Message as _;
use ratchetkit::wire::v1;

use super::sending::control;
use super::{Generator, ALICE, BOB, CAROL, GROUP_ID, OTHER_GROUP_ID};
use crate::vectors::group::format::RejectedAction;
use crate::vectors::json::bytes;
use crate::vectors::primitives::{CONTENT_APPLICATION, CONTENT_GROUP_CONTROL};

/// Runs the scenario.
pub(super) fn run(g: &mut Generator) {
    // The channels: group control needs established channels between the members.
    g.establish(ALICE, BOB, "Hi Bob, alice here.", "Hi Alice.");
    g.establish(
        ALICE,
        CAROL,
        "Hi Carol, alice here.",
        "Hi Alice, carol here.",
    );
    g.establish(BOB, CAROL, "Hi Carol, bob here.", "Hi Bob.");
    creation(g);
    let g4 = first_messages(g);
    removal(g, g4);
    rekey(g);
}

/// A control made up by the generator, from `from` to `to` (see
/// [`Generator::reject_crafted`]).
fn reject_control(
    g: &mut Generator,
    (from, to): (usize, usize),
    control: &v1::GroupControl,
    expected: &str,
    description: &str,
) {
    let plaintext = control.encode_to_vec();
    g.reject_crafted(
        (from, to),
        (CONTENT_GROUP_CONTROL, &plaintext),
        expected,
        description,
    );
}

/// A listed channel message given again to its receiver, by `action`.
fn reject_replay(
    g: &mut Generator,
    action: RejectedAction,
    message: usize,
    (expected, description): (&str, &str),
) {
    let input = g.channel_message_bytes(message);
    g.reject_channel_message(action, message, input, expected, description);
}

/// A listed group message given again, to `party`.
fn reject_group_replay(
    g: &mut Generator,
    party: usize,
    message: usize,
    (expected, description): (&str, &str),
) {
    let input = g.group_message_bytes(message);
    g.reject_message(party, message, (input, None), expected, description);
}

/// Alice creates the group and welcomes bob and carol, who send their sender keys.
fn creation(g: &mut Generator) {
    let welcome = g.group_create(ALICE, &[BOB, CAROL]);
    reject_replay(
        g,
        RejectedAction::ChannelDecrypt,
        g.control_message(welcome[0]),
        (
            "GroupControlMessage",
            "the welcome given to the application's Channel::decrypt: group control \
             is only for the group",
        ),
    );
    let bob_keys = g.group_join(BOB, welcome[0]);
    reject_replay(
        g,
        RejectedAction::Join,
        g.control_message(bob_keys[1]),
        (
            "NotAGroupWelcome",
            "bob's sender key reaches carol before alice's welcome: not a welcome \
             (keep it for later)",
        ),
    );
    let carol_keys = g.group_join(CAROL, welcome[1]);
    g.group_receive(ALICE, bob_keys[0]);
    g.group_receive(ALICE, carol_keys[0]);
    g.group_receive(BOB, carol_keys[1]);
    let mut leave = control(1, None, None);
    leave.leave = Some(v1::LeaveRequest {
        group_id: GROUP_ID.to_vec(),
    });
    reject_control(
        g,
        (CAROL, BOB),
        &leave,
        "NotGroupOwner",
        "carol asks bob, not the owner, to let her leave",
    );
    g.group_receive(CAROL, bob_keys[1]);
    reject_replay(
        g,
        RejectedAction::Receive,
        g.control_message(bob_keys[1]),
        (
            "Duplicate",
            "bob's sender key message delivered again: the channel refuses the replay",
        ),
    );
    let bobs_roster = g.roster_signed_by(&GROUP_ID, 2, &[ALICE, BOB], BOB);
    reject_control(
        g,
        (BOB, CAROL),
        &control(1, Some(bobs_roster), None),
        "BadSignature",
        "bob sends carol a roster of version 2 without her, signed by himself: \
         only the owner signs rosters",
    );
}

/// Messages from every member, and group messages alice must refuse; returns carol's
/// message that reaches bob only after her removal.
fn first_messages(g: &mut Generator) -> usize {
    let g0 = g.encrypt(ALICE, "Welcome to the group, bob and carol!");
    let g1 = g.encrypt(ALICE, "Second message from alice.");
    g.decrypt(BOB, g0);
    g.decrypt(BOB, g1);
    g.decrypt(CAROL, g1);
    g.note("out of order: carol keeps the key of alice's iteration 0 as a skipped key");
    g.decrypt(CAROL, g0);
    g.note("the late message decrypts with the skipped key");
    reject_group_replay(
        g,
        ALICE,
        g0,
        ("OwnGroupMessage", "alice's own message, echoed back to her"),
    );
    let g2 = g.encrypt(BOB, "Hello from bob.");
    forged_messages(g, g2);
    g.decrypt(ALICE, g2);
    g.decrypt(CAROL, g2);
    reject_group_replay(g, CAROL, g2, ("Duplicate", "bob's message delivered again"));
    let g3 = g.encrypt(CAROL, "Hello from carol.");
    g.decrypt(ALICE, g3);
    g.decrypt(BOB, g3);
    let g4 = g.encrypt(
        CAROL,
        "Carol again: this one reaches bob only after her removal.",
    );
    g.decrypt(ALICE, g4);
    g4
}

/// Rejected group messages made from bob's message `g2`, given to alice before she reads it.
fn forged_messages(g: &mut Generator, g2: usize) {
    let (message, header) = g.group_message_parts(g2);
    let epoch = header.epoch;
    // The message with parts replaced, its signature kept.
    let unsigned = |m: v1::GroupMessage| (m.encode_to_vec(), None);
    // The message with `header`, its `ciphertext` signed again with `signer`'s epoch key.
    let signed = |header: &v1::GroupHeader, ciphertext: &[u8], (signer, epoch)| {
        let header = header.encode_to_vec();
        let input = g.signed_message(&header, ciphertext, signer, epoch);
        (input, Some((signer, epoch)))
    };
    let mut flipped = message.clone();
    flipped.ciphertext[0] ^= 1;
    let mut short_sender = header.clone();
    short_sender.sender.truncate(31);
    let mut short_signature = message.clone();
    short_signature.signature.truncate(63);
    let inputs = [
        (
            unsigned(flipped.clone()),
            "BadSignature",
            "a ciphertext bit flipped: the signature no longer verifies (checked \
             before anything is decrypted)",
        ),
        (
            unsigned(v1::GroupMessage {
                header: v1::GroupHeader {
                    iteration: header.iteration + 1,
                    ..header.clone()
                }
                .encode_to_vec(),
                ..message.clone()
            }),
            "BadSignature",
            "the header's iteration changed: the header is signed",
        ),
        (
            signed(&header, &message.ciphertext, (CAROL, 0)),
            "BadSignature",
            "bob's message signed with carol's epoch key: members hold only the \
             public half of each other's keys",
        ),
        (
            signed(&header, &flipped.ciphertext, (BOB, epoch)),
            "AuthenticationFailed",
            "a ciphertext bit flipped and signed again by bob's epoch key: the \
             signature verifies, the AES-GCM tag does not",
        ),
        (
            signed(
                &v1::GroupHeader {
                    iteration: 2001,
                    ..header.clone()
                },
                &message.ciphertext,
                (BOB, epoch),
            ),
            "TooFarAhead",
            "iteration 2001, signed by bob: 2001 keys to skip, more than MAX_GROUP_MESSAGE_GAP",
        ),
        (
            signed(
                &v1::GroupHeader {
                    epoch: 5,
                    ..header.clone()
                },
                &message.ciphertext,
                (BOB, epoch),
            ),
            "UnknownEpoch",
            "epoch 5, which alice holds no key of",
        ),
        (
            signed(
                &v1::GroupHeader {
                    group_id: OTHER_GROUP_ID.to_vec(),
                    ..header.clone()
                },
                &message.ciphertext,
                (BOB, epoch),
            ),
            "WrongGroup",
            "the header names another group (signed by bob)",
        ),
        (
            unsigned(v1::GroupMessage {
                version: 2,
                ..message.clone()
            }),
            "UnsupportedVersion",
            "GroupMessage.version 2",
        ),
        (
            (
                [g.group_message_bytes(g2).as_slice(), &[0x28, 0x01]].concat(),
                None,
            ),
            "Decode",
            "an unknown field (number 5, varint 1) appended: not the canonical encoding",
        ),
        (
            unsigned(v1::GroupMessage {
                header: [message.header.as_slice(), &[0x18, 0x00]].concat(),
                ..message.clone()
            }),
            "Decode",
            "the header with epoch 0 written out (a default value encoded): not the \
             canonical encoding",
        ),
        (
            unsigned(v1::GroupMessage {
                header: short_sender.encode_to_vec(),
                ..message.clone()
            }),
            "InvalidLength",
            "a 31-byte sender",
        ),
        (
            unsigned(short_signature),
            "InvalidLength",
            "a 63-byte signature",
        ),
    ];
    for (input, expected, description) in inputs {
        g.reject_message(ALICE, g2, input, expected, description);
    }
}

/// Alice removes carol: a new roster, and new epochs for alice and bob; rosters and keys
/// bob and carol must refuse, and old and new epochs read across the change.
fn removal(g: &mut Generator, g4: usize) {
    let removal = g.remove_member(ALICE, CAROL);
    let carols = g.forged_distribution(CAROL, 1);
    reject_control(
        g,
        (CAROL, ALICE),
        &control(1, None, Some(carols)),
        "NotGroupMember",
        "a new sender key from carol, after alice removed her",
    );
    let g5 = g.encrypt(ALICE, "Alice under epoch 1, after removing carol.");
    reject_group_replay(
        g,
        BOB,
        g5,
        (
            "UnknownEpoch",
            "alice's epoch 1 message before bob has her epoch 1 key (keep it, and \
             retry after the removal)",
        ),
    );
    let g6 = g.encrypt(BOB, "Bob, still under epoch 0: read after his epoch 1 key.");
    let bob_epoch1 = g.group_receive(BOB, removal[0])[0];
    g.note("bob processes carol's removal: a new epoch, sent to alice only");
    g.decrypt(BOB, g5);
    reject_group_replay(
        g,
        BOB,
        g4,
        (
            "NotGroupMember",
            "carol's message, sent before her removal, delivered to bob after it",
        ),
    );
    let current = g.signed_roster(1);
    let mut version = control(2, Some(current.clone()), None);
    version.version = 2;
    let mut mixed = control(2, Some(current), None);
    mixed.leave = Some(v1::LeaveRequest {
        group_id: OTHER_GROUP_ID.to_vec(),
    });
    let rosters = [
        (
            control(2, Some(g.signed_roster(0)), None),
            "StaleRoster",
            "the roster of version 1 again, from alice: not newer than the one held",
        ),
        (
            control(
                2,
                Some(g.roster_signed_by(&GROUP_ID, 3, &[BOB, ALICE], ALICE)),
                None,
            ),
            "NotGroupOwner",
            "a roster of version 3 signed by alice that lists bob first: the owner \
             must be the first member",
        ),
        (
            control(
                2,
                Some(g.roster_signed_by(&OTHER_GROUP_ID, 3, &[ALICE, BOB], ALICE)),
                None,
            ),
            "WrongGroup",
            "a roster of another group, signed by alice",
        ),
        (version, "UnsupportedVersion", "GroupControl.version 2"),
        (
            control(2, None, None),
            "Decode",
            "a GroupControl with no part",
        ),
        (
            mixed,
            "Decode",
            "a GroupControl whose parts name different groups",
        ),
    ];
    for (control, expected, description) in rosters {
        reject_control(g, (ALICE, BOB), &control, expected, description);
    }
    g.group_receive(CAROL, removal[1]);
    g.note("carol learns she was removed: she can no longer send");
    reject_group_replay(
        g,
        CAROL,
        g5,
        (
            "UnknownEpoch",
            "the removed carol cannot read alice's epoch 1",
        ),
    );
    let message = g.control_message(bob_epoch1);
    let mut tampered = v1::ChannelMessage::decode(g.channel_message_bytes(message).as_slice())
        .expect("ChannelMessage");
    tampered.ciphertext[0] ^= 1;
    g.reject_channel_message(
        RejectedAction::Receive,
        message,
        tampered.encode_to_vec(),
        "AuthenticationFailed",
        "bob's epoch 1 key with a ciphertext bit flipped: the channel refuses it",
    );
    g.group_receive(ALICE, bob_epoch1);
    g.decrypt(ALICE, g6);
    g.note("bob's epoch 0 message, read after his epoch 1 key: old epochs are kept");
    reject_group_replay(
        g,
        ALICE,
        g4,
        (
            "NotGroupMember",
            "carol's message given to alice after the removal",
        ),
    );

    // Messages after the removal.
    let g7 = g.encrypt(BOB, "Bob under epoch 1.");
    g.decrypt(ALICE, g7);
    let g8 = g.encrypt(ALICE, "Alice under epoch 1 again.");
    g.decrypt(BOB, g8);
}

/// Bob rekeys; messages after it, and sender keys alice must refuse.
fn rekey(g: &mut Generator) {
    let rekey = g.rekey(BOB);
    let g9 = g.encrypt(BOB, "Bob under epoch 2, after his rekey.");
    reject_group_replay(
        g,
        ALICE,
        g9,
        (
            "UnknownEpoch",
            "bob's epoch 2 message before his new key reached alice",
        ),
    );
    g.group_receive(ALICE, rekey[0]);
    g.decrypt(ALICE, g9);
    let g10 = g.encrypt(ALICE, "Alice, still under epoch 1. \u{2713}");
    g.decrypt(BOB, g10);
    let g11 = g.encrypt(BOB, "");
    g.decrypt(ALICE, g11);
    g.note("an empty plaintext: the ciphertext is the 16-byte tag alone");

    // Sender keys alice must refuse (bob's sending chain to her is open).
    reject_replay(
        g,
        RejectedAction::Receive,
        g.control_message(rekey[0]),
        (
            "Duplicate",
            "bob's rekey message delivered again: the channel refuses the replay",
        ),
    );
    let same = bytes(&g.controls[rekey[0]].bytes);
    let other_epoch1 = g.forged_distribution(BOB, 1);
    let epoch3 = g.forged_distribution(BOB, 3);
    let mut carols = g.forged_distribution(BOB, 3);
    carols.sender = g.key(CAROL).to_vec();
    let group_control =
        |control: v1::GroupControl| (CONTENT_GROUP_CONTROL, control.encode_to_vec());
    let inputs = [
        (
            (CONTENT_GROUP_CONTROL, same),
            "Duplicate",
            "bob's epoch 2 key again, in a new channel message: the key is held already",
        ),
        (
            group_control(control(2, None, Some(other_epoch1))),
            "StaleSenderKey",
            "another key for bob's epoch 1, which alice holds: epochs never change",
        ),
        (
            group_control(control(0, None, Some(epoch3.clone()))),
            "StaleSenderKey",
            "a key for bob's epoch 3 sent under roster version 0, older than the \
             version alice sees bob in the group from (1)",
        ),
        (
            group_control(control(3, None, Some(epoch3))),
            "RosterBehind",
            "a key for bob's epoch 3 sent under roster version 3, ahead of alice's \
             2 (keep it, and retry after the roster)",
        ),
        (
            group_control(control(2, None, Some(carols))),
            "SenderMismatch",
            "bob sends a sender key in carol's name",
        ),
        (
            (CONTENT_APPLICATION, b"Just chatting.".to_vec()),
            "NotGroupControl",
            "application data given to the group",
        ),
    ];
    for ((content_type, plaintext), expected, description) in inputs {
        g.reject_crafted(
            (BOB, ALICE),
            (content_type, &plaintext),
            expected,
            description,
        );
    }
}
