//! The independent check of `channel-v2.json`'s rejected inputs: from the protocol document
//! alone, and what the timeline did before, each input must fail the way it is listed to.
//! The error is derived by following the document's check orders on the primitives:
//! section 5's parsing and receiving steps for `Channel::decrypt`, section 4's joining steps
//! (with the state of bob's prekey store at that point) for `Channel::join`.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;

use super::format::{Action, Event, RejectedAction, RejectedVector, Vectors};
use crate::vectors::json::{array, bytes, ChannelVector};
use crate::vectors::primitives::{
    aes_gcm_open, chain_key_at, channel_associated_data, channel_id, ed25519_verifies, kdf_ck,
    message_associated_data, mlkem_decapsulate, pqxdh_keys, salted_message_aead, unpadded,
    ResponderSecrets, CARD_CONTEXT, KEM_CIPHERTEXT_LEN, MESSAGE_INFO, MESSAGE_SALT_LEN,
    PROTOCOL_VERSION, SELF_SIGNER,
};
use crate::vectors::proto;
use crate::vectors::recompute::Start;

/// `MAX_MESSAGE_GAP`: the most keys one message may make a chain skip.
const MAX_MESSAGE_GAP: u32 = 2000;

/// `MAX_JOINS_PER_SIGNED_PREKEY`: the most channels the replay guard records per signed
/// prekey.
const MAX_JOINS_PER_SIGNED_PREKEY: usize = 10_000;

/// How long the replay guard's entries are: the first 16 bytes of a channel id.
const JOINED_ID_LEN: usize = 16;

/// What an input gets: `Ok` if it would be accepted, else the name of the error.
type Outcome = Result<(), &'static str>;

/// Bob's prekey store as the timeline leaves it (section 4's commit step after every
/// join): the one-time prekeys joins consumed, and the replay guard, per signed prekey.
pub struct Store<'a> {
    v: &'a Vectors,
}

/// What the store holds at one point of the timeline.
struct StoreAt {
    /// The ids of the one-time prekeys consumed.
    consumed: BTreeSet<u32>,
    /// Per signed prekey held (by id), its set of joined channels: the first
    /// [`JOINED_ID_LEN`] bytes of the id of every channel joined with it, with or without
    /// a one-time prekey.
    joined: BTreeMap<u32, BTreeSet<Vec<u8>>>,
}

impl<'a> Store<'a> {
    pub fn new(v: &'a Vectors) -> Self {
        Self { v }
    }

    /// After the events `happened`. Bob never rotates his signed prekey here: it is the one
    /// signed prekey held.
    fn at(&self, happened: &[Event]) -> StoreAt {
        let mut consumed = BTreeSet::new();
        let mut joined = BTreeMap::from([(self.v.prekeys.signed_prekey.id, BTreeSet::new())]);
        for e in happened.iter().filter(|e| e.action == Action::Join) {
            let c = &self.v.channels[e.channel];
            joined
                .get_mut(&c.signed_prekey_id)
                .expect("the channels name a signed prekey bob holds")
                .insert(bytes(&c.channel_id)[..JOINED_ID_LEN].to_vec());
            if let Some(id) = c.one_time_prekey_id {
                consumed.insert(id);
            }
        }
        StoreAt { consumed, joined }
    }
}

/// A channel message parsed as section 5's receiving step 0 does.
struct Parsed {
    message: proto::ChannelMessage,
    header: proto::RatchetHeader,
    ratchet_key: [u8; 32],
    salt: [u8; MESSAGE_SALT_LEN],
}

/// Decodes `bytes` as `T`, refusing anything but the canonical encoding.
fn canonical<T: Message + Default>(bytes: &[u8]) -> Result<T, &'static str> {
    let decoded = T::decode(bytes).map_err(|_| "Decode")?;
    if decoded.encode_to_vec() == bytes {
        Ok(decoded)
    } else {
        Err("Decode")
    }
}

/// Section 5, receiving step 0.
fn parse(input: &[u8]) -> Result<Parsed, &'static str> {
    let message: proto::ChannelMessage = canonical(input)?;
    if message.version != PROTOCOL_VERSION {
        return Err("UnsupportedVersion");
    }
    let header: proto::RatchetHeader = canonical(&message.header)?;
    let ratchet_key: [u8; 32] = header
        .ratchet_key
        .as_slice()
        .try_into()
        .map_err(|_| "InvalidLength")?;
    if ratchet_key[31] & 0x80 != 0 {
        return Err("InvalidPublicKey");
    }
    if header.content_type > 1 {
        return Err("Decode");
    }
    let salt = header
        .salt
        .as_slice()
        .try_into()
        .map_err(|_| "InvalidLength")?;
    Ok(Parsed {
        message,
        header,
        ratchet_key,
        salt,
    })
}

/// Opens a parsed message with the key of message `number` of the chain that starts at
/// `chain_key`, in a channel with the associated data `ad`: the tag, then the padding.
fn open(parsed: &Parsed, chain_key: &[u8; 32], number: u32, ad: &[u8]) -> Outcome {
    let (message_key, _) = kdf_ck(&chain_key_at(chain_key, number));
    let (aes_key, nonce) = salted_message_aead(&message_key, &parsed.salt, MESSAGE_INFO);
    let prekey_info = parsed.message.prekey.as_ref().map(Message::encode_to_vec);
    let aad = message_associated_data(ad, prekey_info.as_deref(), &parsed.message.header);
    let padded = aes_gcm_open(&aes_key, &nonce, &aad, &parsed.message.ciphertext)
        .ok_or("AuthenticationFailed")?;
    unpadded(&padded).ok_or("BadPadding")?;
    Ok(())
}

/// Section 2's import of the initiator card, as far as these inputs need it: canonical
/// decoding, one self-signature, which must verify. Returns its Ed25519 and X25519 keys.
fn import_card(card: &[u8]) -> Result<([u8; 32], [u8; 32]), &'static str> {
    let signed: proto::SignedCard = canonical(card)?;
    let content: proto::CardContent = canonical(&signed.content)?;
    let signing_key: [u8; 32] = content
        .signing_key
        .as_slice()
        .try_into()
        .map_err(|_| "InvalidLength")?;
    let agreement_key: [u8; 32] = content
        .agreement_key
        .as_slice()
        .try_into()
        .map_err(|_| "InvalidLength")?;
    let selves: Vec<_> = signed
        .signatures
        .iter()
        .filter(|s| s.signer == SELF_SIGNER)
        .collect();
    let [own] = selves.as_slice() else {
        panic!("these vectors' cards carry exactly one self-signature")
    };
    let input = [CARD_CONTEXT, &signed.content].concat();
    if !ed25519_verifies(&signing_key, &input, &own.signature) {
        return Err("BadSignature");
    }
    Ok((signing_key, agreement_key))
}

/// `Channel::join` by bob, section 4's steps in order, with his store as `store` leaves it.
fn join_outcome(v: &Vectors, input: &[u8], store: &StoreAt) -> Outcome {
    let parsed = parse(input)?;
    let prekey = parsed.message.prekey.as_ref().ok_or("NotAPrekeyMessage")?;
    let (signing_key, agreement_key) = import_card(&prekey.initiator_card)?;
    if prekey.kem_ciphertext.len() != KEM_CIPHERTEXT_LEN {
        return Err("InvalidLength");
    }
    let bob = v.identities.iter().find(|i| i.name == "bob").expect("bob");
    let ad = channel_associated_data(
        [&signing_key, &agreement_key],
        [&bytes(&bob.signing_public), &bytes(&bob.agreement_public)],
    );
    let id = channel_id(&ad, &parsed.ratchet_key);
    // The replay guard, at every join: the named signed prekey, then the joined sets of
    // every signed prekey held, then the named one's count.
    let named = store
        .joined
        .get(&prekey.signed_prekey_id)
        .ok_or("UnknownSignedPrekey")?;
    if store
        .joined
        .values()
        .any(|joined| joined.contains(&id[..JOINED_ID_LEN]))
    {
        return Err("ReplayedFirstMessage");
    }
    if named.len() >= MAX_JOINS_PER_SIGNED_PREKEY {
        return Err("SignedPrekeyExhausted");
    }
    // The prekeys named.
    let signed = &v.prekeys.signed_prekey;
    assert_eq!(
        prekey.signed_prekey_id, signed.id,
        "the one signed prekey held"
    );
    let one_time = match prekey.one_time_prekey_id {
        Some(id) => Some(
            v.prekeys
                .one_time_prekeys
                .iter()
                .find(|p| p.id == id && !store.consumed.contains(&id))
                .ok_or("UnknownOneTimePrekey")?,
        ),
        None => None,
    };
    let dh = ResponderSecrets {
        identity: array(&bob.agreement_secret),
        signed_prekey: array(&signed.secret),
        one_time_prekey: one_time.map(|p| array(&p.secret)),
    }
    .dh_outputs(&agreement_key, &parsed.ratchet_key);
    let kem_seed = one_time.map_or(&signed.kem_seed, |p| &p.kem_seed);
    let kem_secret = mlkem_decapsulate(&array(kem_seed), &prekey.kem_ciphertext);
    let (_, _, chain_key) = pqxdh_keys(&dh, &kem_secret);
    if parsed.header.message_number > MAX_MESSAGE_GAP {
        return Err("TooFarAhead");
    }
    open(&parsed, &chain_key, parsed.header.message_number, &ad)?;
    assert_eq!(
        parsed.header.content_type, 0,
        "these vectors carry no group control"
    );
    Ok(())
}

/// `Channel::decrypt` by `party` on `channel`, section 5's receiving steps in order, with
/// what the party received by then (`happened`).
fn decrypt_outcome(
    v: &Vectors,
    (party, channel): (&str, &ChannelVector),
    start: &Start,
    happened: &[Event],
    input: &[u8],
) -> Outcome {
    let parsed = parse(input)?;
    if party == channel.initiator && parsed.message.prekey.is_some() {
        return Err("PrekeyInfoMismatch");
    }
    let (index, chain) = channel
        .chains
        .iter()
        .enumerate()
        .find(|(_, c)| c.sender != party && bytes(&c.ratchet_public) == parsed.ratchet_key)
        .expect("these vectors' inputs name a chain of the peer");
    let number = parsed.header.message_number;
    // The messages of each chain the party received.
    let received = |chain: usize| -> BTreeSet<u32> {
        happened
            .iter()
            .filter(|e| {
                matches!(e.action, Action::Join | Action::Receive)
                    && e.party == party
                    && e.channel == channel.index
            })
            .map(|e| &v.messages[e.message.expect("a message")])
            .filter(|m| m.chain == chain)
            .map(|m| m.message_number)
            .collect()
    };
    let delivered = received(index);
    let key = match delivered.last() {
        None => {
            // A new ratchet key: the receiving half of a DH ratchet step, which needs a
            // sending chain (a message sent since the last step), then the chain is run to
            // the message.
            assert!(
                has_sending_chain(v, party, channel.index, happened),
                "these vectors' inputs on a new chain reach a side that can step"
            );
            if number > MAX_MESSAGE_GAP {
                return Err("TooFarAhead");
            }
            number
        }
        Some(&last) => {
            let position = last + 1;
            let ended = (index + 1..channel.chains.len())
                .step_by(2)
                .map(|later| later + 1)
                .any(|later| !received(later).is_empty());
            if number < position && !delivered.contains(&number) {
                // A skipped key.
                number
            } else if ended {
                // Its length is the PN of the sender's next chain.
                let length = v
                    .messages
                    .iter()
                    .find(|m| m.channel == channel.index && m.chain == index + 2)
                    .expect("the next chain's messages")
                    .previous_chain_length;
                return Err(if number < length {
                    "Duplicate"
                } else {
                    "AuthenticationFailed"
                });
            } else if number < position {
                return Err("Duplicate");
            } else if number - position > MAX_MESSAGE_GAP {
                return Err("TooFarAhead");
            } else {
                number
            }
        }
    };
    open(
        &parsed,
        &array(&chain.chain_key),
        key,
        &start.associated_data,
    )
}

/// Whether `party` has a sending chain on `channel` after the events `happened`: it sent
/// since it last received a chain new to it (the creator has one from the start).
fn has_sending_chain(v: &Vectors, party: &str, channel: usize, happened: &[Event]) -> bool {
    let mut sending = v.channels[channel].initiator == party;
    let mut seen = BTreeSet::new();
    for e in happened
        .iter()
        .filter(|e| e.party == party && e.channel == channel)
    {
        match e.action {
            Action::Send => sending = true,
            Action::Join | Action::Receive => {
                let m = &v.messages[e.message.expect("a message")];
                if seen.insert(m.chain) {
                    sending = false;
                }
            }
            Action::Create | Action::SetPadding => {}
        }
    }
    sending
}

/// Checks that the rejected input `r` must fail with its listed error.
pub fn check_rejected(v: &Vectors, r: &RejectedVector, starts: &[Start], store: &Store) {
    let what = format!("rejected {} ({})", r.index, r.description);
    let base = &v.messages[r.message];
    assert_eq!(base.channel, r.channel, "{what}: channel");
    let original = bytes(&base.message);
    let input = bytes(&r.input);
    assert!(r.after_step < v.timeline.len(), "{what}: after_step");
    let happened = &v.timeline[..=r.after_step];
    assert!(
        happened
            .iter()
            .any(|e| e.action == Action::Send && e.message == Some(r.message)),
        "{what}: made from a message sent by then"
    );
    assert_eq!(
        r.party, base.receiver,
        "{what}: given to the message's receiver"
    );
    // Only replays are the listed message itself; a replayed first message may also come
    // changed (the channel id is the identities' and the ephemeral key's alone).
    let replay_only = matches!(r.expected_error.as_str(), "Duplicate" | "NotAPrekeyMessage");
    assert!(
        if input == original {
            replay_only || r.expected_error == "ReplayedFirstMessage"
        } else {
            !replay_only
        },
        "{what}: only replays are the listed message itself"
    );
    let channel = &v.channels[r.channel];
    let outcome = match r.action {
        RejectedAction::Join => {
            assert_eq!(
                r.party, channel.responder,
                "{what}: only the responder joins"
            );
            join_outcome(v, &input, &store.at(happened))
        }
        RejectedAction::Decrypt => {
            assert!(
                r.party == channel.initiator
                    || happened
                        .iter()
                        .any(|e| e.action == Action::Join && e.channel == r.channel),
                "{what}: the responder decrypts once joined"
            );
            decrypt_outcome(v, (&r.party, channel), &starts[r.channel], happened, &input)
        }
    };
    assert_eq!(
        outcome,
        Err(r.expected_error.as_str()),
        "{what}: the error the protocol gives"
    );
}
