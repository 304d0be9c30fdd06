//! The timeline of `group-v2.json`, with the rejected inputs at their points.

use prost::Message as _;
use ratchetkit::wire::v1;

use super::sending::{control, Lineage};
use super::{Generator, ALICE, BOB, CAROL, LOOK_ALIKE_SALT, OTHER_SALT};
use crate::vectors::group::format::RejectedAction;
use crate::vectors::json::{array, bytes};
use crate::vectors::primitives::{
    aes_gcm_seal, group_id, CONTENT_APPLICATION, CONTENT_GROUP_CONTROL,
};

/// Runs the scenario.
pub(super) fn run(g: &mut Generator) {
    // The channels, established before the group (control could also ride on their
    // first messages).
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
    lost_keys_and_resync(g);
    removal(g, g4);
    rekey(g);
    transfer(g);
    leaving(g);
}

/// A control made up by the generator, from `from` to `to`, given by `action` (see
/// [`Generator::reject_crafted`]).
fn reject_control(
    g: &mut Generator,
    action: RejectedAction,
    (from, to): (usize, usize),
    control: &v1::GroupControl,
    (expected, description): (&str, &str),
) {
    let plaintext = control.encode_to_vec();
    g.reject_crafted(
        action,
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

/// The lineage of alice's other group, founded with [`OTHER_SALT`].
fn other_group(g: &Generator) -> Lineage {
    let founder = g.key(ALICE).to_vec();
    Lineage {
        group_id: group_id(&founder, &OTHER_SALT).to_vec(),
        founder,
        salt: OTHER_SALT.to_vec(),
        transfers: Vec::new(),
    }
}

/// Alice creates the group and welcomes bob and carol, who send their sender keys; carol,
/// before she joins, is given welcomes she must refuse.
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
    let mut short = g.lineage(0);
    short.group_id.truncate(31);
    let short = g.roster_signed_by(&short, 1, &g.roster_entries(0), ALICE);
    reject_control(
        g,
        RejectedAction::Join,
        (ALICE, CAROL),
        &control(1, Some(short), None),
        (
            "InvalidGroupId",
            "a welcome whose roster (signed by alice) has a 31-byte group id: a group id \
             is 32 bytes",
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
    let look_alike = Lineage {
        group_id: g.group_id(),
        founder: g.key(BOB).to_vec(),
        salt: LOOK_ALIKE_SALT.to_vec(),
        transfers: Vec::new(),
    };
    let look_alike = g.roster_signed_by(&look_alike, 1, &[(BOB, 1), (ALICE, 1), (CAROL, 1)], BOB);
    reject_control(
        g,
        RejectedAction::Join,
        (BOB, CAROL),
        &control(1, Some(look_alike), None),
        (
            "GroupIdMismatch",
            "bob welcomes carol to a look-alike group under alice's group id: a roster \
             he signed, naming himself founder (salt \"look-alike group\"); the id is not \
             SHA-256 of his key and that salt",
        ),
    );
    reject_control(
        g,
        RejectedAction::Join,
        (BOB, CAROL),
        &control(1, Some(g.signed_roster(0)), None),
        (
            "RosterNotFromOwner",
            "alice's genuine roster 1, relayed to carol by bob: a roster is taken only \
             from its owner's channel",
        ),
    );
    let carol_keys = g.group_join(CAROL, welcome[1]);
    g.group_receive(ALICE, bob_keys[0]);
    g.group_receive(ALICE, carol_keys[0]);
    g.group_receive(BOB, carol_keys[1]);
    let mut leave = control(1, None, None);
    leave.leave = Some(v1::LeaveRequest {
        group_id: g.group_id(),
    });
    reject_control(
        g,
        RejectedAction::Receive,
        (CAROL, BOB),
        &leave,
        (
            "NotGroupOwner",
            "carol asks bob, not the owner, to let her leave",
        ),
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
    let bobs_roster = g.roster_signed_by(&g.lineage(0), 2, &[(ALICE, 1), (BOB, 1)], BOB);
    reject_control(
        g,
        RejectedAction::Receive,
        (BOB, CAROL),
        &control(1, Some(bobs_roster), None),
        (
            "BadSignature: roster",
            "bob sends carol a roster of version 2 without her, signed by himself: \
             only the owner signs rosters",
        ),
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
    let other_group_id = other_group(g).group_id;
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
    let mut flipped_salt = header.clone();
    flipped_salt.salt[15] ^= 0x80;
    let mut short_salt = header.clone();
    short_salt.salt.truncate(15);
    // Bob's plaintext without its padding, under his message key and salt, signed by him.
    let listed = &g.group_messages[g2];
    let unpadded = aes_gcm_seal(
        &array(&listed.aes_key),
        &array(&listed.nonce),
        &message.header,
        listed.plaintext_utf8.as_bytes(),
    );
    let inputs = [
        (
            unsigned(flipped.clone()),
            "BadSignature: group message",
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
            "BadSignature: group message",
            "the header's iteration changed: the header is signed",
        ),
        (
            unsigned(v1::GroupMessage {
                header: flipped_salt.encode_to_vec(),
                ..message.clone()
            }),
            "BadSignature: group message",
            "a bit of the header's salt flipped: the header is signed, so the salt (and \
             the AES key and nonce derived with it) cannot be changed",
        ),
        (
            signed(&header, &message.ciphertext, (CAROL, 0)),
            "BadSignature: group message",
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
            signed(&header, &unpadded, (BOB, epoch)),
            "BadPadding",
            "bob's plaintext encrypted without padding under his message key and salt, \
             signed by bob: the signature and the AES-GCM tag verify, but the plaintext does \
             not end in 0x80 and zeros",
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
                    group_id: other_group_id,
                    ..header.clone()
                },
                &message.ciphertext,
                (BOB, epoch),
            ),
            "WrongGroup",
            "the header names another group alice founded (salt \"another group 02\"), \
             signed by bob",
        ),
        (
            unsigned(v1::GroupMessage {
                version: 1,
                ..message.clone()
            }),
            "UnsupportedVersion",
            "GroupMessage.version 1, the format before group protocol version 2",
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
            unsigned(v1::GroupMessage {
                header: short_salt.encode_to_vec(),
                ..message.clone()
            }),
            "InvalidLength",
            "a 15-byte salt",
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

/// Alice and bob rekey, and both their keys to carol are lost; carol resyncs, the owner
/// answers with its roster and key, bob with his key, and carol reads what she missed.
fn lost_keys_and_resync(g: &mut Generator) {
    let alices = g.rekey(ALICE);
    g.group_receive(BOB, alices[0]);
    g.lose(alices[1]);
    g.note("alice's epoch 1 key never reaches carol (its channel key evicted, say)");
    let bobs = g.rekey(BOB);
    g.group_receive(ALICE, bobs[0]);
    g.lose(bobs[1]);
    g.note("bob's epoch 1 key never reaches carol either");
    let missed = g.encrypt(ALICE, "Alice under epoch 1, which carol has lost.");
    g.decrypt(BOB, missed);
    reject_group_replay(
        g,
        CAROL,
        missed,
        (
            "UnknownEpoch",
            "alice's epoch 1 message: carol never got the key (keep it, and resync)",
        ),
    );
    let requests = g.resync(CAROL);
    let from_alice = g.group_receive(ALICE, requests[0]);
    g.note("the owner answers with its roster and its current key");
    let from_bob = g.group_receive(BOB, requests[1]);
    g.note("a member answers with its current key");
    g.group_receive(CAROL, from_alice[0]);
    g.note("the roster is the one carol holds: skipped; alice's epoch 1 key installs");
    let answer = bytes(&g.controls[from_alice[0]].bytes);
    g.reject_crafted(
        RejectedAction::Receive,
        (ALICE, CAROL),
        (CONTENT_GROUP_CONTROL, &answer),
        "Duplicate",
        "alice's answer again, in a new channel message: its roster is the one carol \
         holds and its key too; with nothing new in it, the control fails with the key's \
         Duplicate",
    );
    g.group_receive(CAROL, from_bob[0]);
    reject_group_replay(
        g,
        CAROL,
        missed,
        (
            "SentBeforeKeyReceived",
            "alice's epoch 1 message again: the key her answer gave carol starts at the \
             next iteration, so what was sent before it stays unreadable",
        ),
    );
    let again = g.encrypt(ALICE, "Alice under epoch 1 again: carol reads this one.");
    g.decrypt(BOB, again);
    g.decrypt(CAROL, again);
    let after = g.encrypt(BOB, "Bob under epoch 1: carol reads it too.");
    g.decrypt(ALICE, after);
    g.decrypt(CAROL, after);
    let carols = g.encrypt(CAROL, "Carol under the epoch her resync started.");
    g.decrypt(ALICE, carols);
    g.decrypt(BOB, carols);
    let thanks = g.channel_send(CAROL, ALICE, "Thanks, I have your keys again.");
    g.channel_deliver(thanks);
}

/// Alice removes carol: a new roster, and new epochs for alice and bob; rosters and keys
/// bob and carol must refuse, and old and new epochs read across the change.
fn removal(g: &mut Generator, g4: usize) {
    let removal = g.remove_member(ALICE, CAROL);
    let carols = g.forged_distribution(CAROL, 1);
    reject_control(
        g,
        RejectedAction::Receive,
        (CAROL, ALICE),
        &control(1, None, Some(carols)),
        (
            "RemovedGroupMember",
            "a new sender key from carol, after alice removed her",
        ),
    );
    let mut resync = control(1, None, None);
    resync.resync = Some(v1::ResyncRequest {
        group_id: g.group_id(),
    });
    reject_control(
        g,
        RejectedAction::Receive,
        (CAROL, ALICE),
        &resync,
        (
            "NotGroupMember",
            "a resync request from carol, after alice removed her: only members are \
             answered",
        ),
    );
    let g5 = g.encrypt(ALICE, "Alice under epoch 2, after removing carol.");
    reject_group_replay(
        g,
        BOB,
        g5,
        (
            "UnknownEpoch",
            "alice's epoch 2 message before bob has her epoch 2 key (keep it, and \
             retry after the removal)",
        ),
    );
    let g6 = g.encrypt(BOB, "Bob, still under epoch 1: read after his epoch 2 key.");
    let bob_epoch2 = g.group_receive(BOB, removal[0])[0];
    g.note("bob processes carol's removal: a new epoch, sent to alice only");
    g.decrypt(BOB, g5);
    reject_group_replay(
        g,
        BOB,
        g4,
        (
            "RemovedGroupMember",
            "carol's message, sent before her removal, delivered to bob after it: signed \
             with the key of an epoch bob kept of her",
        ),
    );
    let current = g.signed_roster(1);
    let mut version = control(2, Some(current.clone()), None);
    version.version = 1;
    let mut mixed = control(2, Some(current), None);
    mixed.leave = Some(v1::LeaveRequest {
        group_id: other_group(g).group_id,
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
                Some(g.roster_signed_by(&g.lineage(1), 3, &[(BOB, 1), (ALICE, 1)], ALICE)),
                None,
            ),
            "NotGroupOwner",
            "a roster of version 3 signed by alice that lists bob first: the owner \
             must be the first member",
        ),
        (
            control(
                2,
                Some(g.roster_signed_by(&other_group(g), 3, &[(ALICE, 1), (BOB, 1)], ALICE)),
                None,
            ),
            "WrongGroup",
            "a roster of another group alice founded (salt \"another group 02\"), signed \
             by her",
        ),
        (
            version,
            "UnsupportedVersion",
            "GroupControl.version 1, the format before group protocol version 2",
        ),
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
        reject_control(
            g,
            RejectedAction::Receive,
            (ALICE, BOB),
            &control,
            (expected, description),
        );
    }
    reject_control(
        g,
        RejectedAction::Receive,
        (BOB, CAROL),
        &control(2, Some(g.signed_roster(1)), None),
        (
            "RosterNotFromOwner",
            "alice's genuine roster 2, relayed to carol by bob: a roster is taken only \
             from its owner's channel",
        ),
    );
    g.group_receive(CAROL, removal[1]);
    g.note("carol learns she was removed: she can no longer send");
    reject_group_replay(
        g,
        CAROL,
        g5,
        (
            "UnknownEpoch",
            "the removed carol cannot read alice's epoch 2",
        ),
    );
    let message = g.control_message(bob_epoch2);
    let mut tampered = v1::ChannelMessage::decode(g.channel_message_bytes(message).as_slice())
        .expect("ChannelMessage");
    tampered.ciphertext[0] ^= 1;
    g.reject_channel_message(
        RejectedAction::Receive,
        message,
        tampered.encode_to_vec(),
        "AuthenticationFailed",
        "bob's epoch 2 key with a ciphertext bit flipped: the channel refuses it",
    );
    g.group_receive(ALICE, bob_epoch2);
    g.decrypt(ALICE, g6);
    g.note("bob's epoch 1 message, read after his epoch 2 key: old epochs are kept");
    reject_group_replay(
        g,
        ALICE,
        g4,
        (
            "RemovedGroupMember",
            "carol's message given to alice after the removal",
        ),
    );

    // Messages after the removal.
    let g7 = g.encrypt(BOB, "Bob under epoch 2.");
    g.decrypt(ALICE, g7);
    let g8 = g.encrypt(ALICE, "Alice under epoch 2 again.");
    g.decrypt(BOB, g8);
}

/// Bob rekeys; messages after it, and sender keys alice must refuse.
fn rekey(g: &mut Generator) {
    let rekey = g.rekey(BOB);
    let g9 = g.encrypt(BOB, "Bob under epoch 3, after his rekey.");
    reject_group_replay(
        g,
        ALICE,
        g9,
        (
            "UnknownEpoch",
            "bob's epoch 3 message before his new key reached alice",
        ),
    );
    g.group_receive(ALICE, rekey[0]);
    g.decrypt(ALICE, g9);
    let g10 = g.encrypt(ALICE, "Alice, still under epoch 2. \u{2713}");
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
    let other_epoch2 = g.forged_distribution(BOB, 2);
    let epoch0 = g.forged_distribution(BOB, 0);
    let epoch4 = g.forged_distribution(BOB, 4);
    let mut carols = g.forged_distribution(BOB, 4);
    carols.sender = g.key(CAROL).to_vec();
    let group_control =
        |control: v1::GroupControl| (CONTENT_GROUP_CONTROL, control.encode_to_vec());
    let inputs = [
        (
            (CONTENT_GROUP_CONTROL, same),
            "Duplicate",
            "bob's epoch 3 key again, in a new channel message: the key is held already",
        ),
        (
            group_control(control(2, None, Some(other_epoch2))),
            "StaleSenderKey",
            "another key for bob's epoch 2, which alice holds: epochs never change",
        ),
        (
            group_control(control(2, None, Some(epoch0))),
            "StaleSenderKey",
            "a new key for bob's epoch 0, older than the three epochs of his alice keeps \
             (1, 2, 3)",
        ),
        (
            group_control(control(0, None, Some(epoch4.clone()))),
            "StaleSenderKey",
            "a key for bob's epoch 4 sent under roster version 0, older than the \
             version alice sees bob in the group from (1)",
        ),
        (
            group_control(control(3, None, Some(epoch4))),
            "RosterBehind",
            "a key for bob's epoch 4 sent under roster version 3, ahead of alice's \
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
            RejectedAction::Receive,
            (BOB, ALICE),
            (content_type, &plaintext),
            expected,
            description,
        );
    }
}

/// Alice hands the group over to bob: her signed offer, bob's roster 3 carrying it; a
/// forged hand-over, and a roster from the former owner, refused.
fn transfer(g: &mut Generator) {
    let group_id = g.group_id();
    let mut forged = g.lineage(1);
    forged
        .transfers
        .push(g.transfer_signed_by(&group_id, 3, BOB, BOB));
    let forged = g.roster_signed_by(&forged, 3, &[(BOB, 1), (ALICE, 1)], BOB);
    reject_control(
        g,
        RejectedAction::Receive,
        (BOB, ALICE),
        &control(3, Some(forged), None),
        (
            "BadSignature: owner transfer",
            "bob takes the group for himself: a roster of version 3 he signed, listing him \
             first, with a transfer to him that he signed instead of alice",
        ),
    );
    let offer = g.offer_ownership(ALICE, BOB);
    g.group_receive(BOB, offer[0]);
    let accepted = g.accept_ownership(BOB);
    g.note("bob signs roster 3: himself first, alice's transfer appended");
    let former = g.roster_signed_by(&g.lineage(1), 4, &[(ALICE, 1), (BOB, 1)], ALICE);
    reject_control(
        g,
        RejectedAction::Receive,
        (ALICE, BOB),
        &control(3, Some(former), None),
        (
            "InvalidOwnerChain",
            "alice, who handed the group over, signs a roster of version 4 as its owner: \
             its chain of owners does not extend the one bob holds",
        ),
    );
    g.group_receive(ALICE, accepted[0]);
    g.note("alice takes bob's roster: the chain of owners from her, the founder, to bob");
    let g12 = g.encrypt(BOB, "Bob, the owner now.");
    g.decrypt(ALICE, g12);
    let g13 = g.encrypt(ALICE, "Alice, a member like any other.");
    g.decrypt(BOB, g13);
}

/// Alice, an ordinary member now, leaves; bob removes her with roster 4.
fn leaving(g: &mut Generator) {
    let leave = g.leave(ALICE);
    g.group_receive(BOB, leave[0]);
    let removal = g.remove_member(BOB, ALICE);
    g.note("roster 4, signed by bob, still carries alice's transfer");
    g.group_receive(ALICE, removal[0]);
}
