//! A member's own client, as an attacker runs it: group control of her choosing on her
//! channels (content type 1, padded and encrypted with the channel's next message key, read
//! off her saved channel state, under the message's own salt and associated data), and a
//! look at the control sent to her. The public API alone only
//! ever sends control for groups whose id hashes the sender's own key.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use prost::Message;
use rand::rngs::ChaCha20Rng;
use ratchetkit::wire::v1;
use ratchetkit::{
    channel::MESSAGE_INFO, channel::PREKEY_INFO_CONTEXT, channel::ROOT_INFO, Channel, Padding,
};
use sha2::{Digest, Sha256};

/// The parts of a saved `ChannelState` (proto/state.proto) her client needs.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ChannelView {
    #[prost(bytes = "vec", tag = "2")]
    pub associated_data: Vec<u8>,
    #[prost(bytes = "vec", tag = "4")]
    pub root_key: Vec<u8>,
    #[prost(message, optional, tag = "5")]
    pub sending: Option<SendingView>,
    #[prost(message, optional, tag = "7")]
    pub receiving: Option<ReceivingView>,
    #[prost(message, repeated, tag = "9")]
    pub skipped: Vec<SkippedView>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SendingView {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_secret: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub chain_key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub index: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ReceivingView {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_key: Vec<u8>,
    #[prost(bytes = "vec", tag = "2")]
    pub chain_key: Vec<u8>,
    #[prost(uint32, tag = "3")]
    pub index: u32,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SkippedView {
    #[prost(bytes = "vec", tag = "1")]
    pub ratchet_key: Vec<u8>,
    #[prost(uint32, tag = "2")]
    pub index: u32,
    #[prost(bytes = "vec", tag = "3")]
    pub message_key: Vec<u8>,
}

pub fn view(channel: &Channel) -> ChannelView {
    ChannelView::decode(channel.to_bytes().as_slice()).expect("a channel state")
}

/// KDF_CK: (message key, next chain key).
pub fn chain_step(chain_key: &[u8]) -> ([u8; 32], [u8; 32]) {
    let mac = |input: u8| -> [u8; 32] {
        let mut mac =
            <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(chain_key).expect("any key length");
        mac.update(&[input]);
        mac.finalize().into_bytes().into()
    };
    (mac(0x01), mac(0x02))
}

/// The message key of message `target` of a chain whose key at `index` is `chain_key`.
pub fn message_key(chain_key: &[u8], index: u32, target: u32) -> Option<[u8; 32]> {
    if target < index || target - index > 4_000 {
        return None;
    }
    let mut key = chain_key.to_vec();
    for _ in index..target {
        key = chain_step(&key).1.to_vec();
    }
    Some(chain_step(&key).0)
}

/// The AES-256-GCM cipher and nonce of a message key under a message's 16-byte salt:
/// HKDF-SHA256(salt, message key, `info`), 44 bytes.
fn aead(message_key: &[u8], salt: &[u8], info: &[u8]) -> (Aes256Gcm, [u8; 12]) {
    let mut okm = [0u8; 44];
    Hkdf::<Sha256>::new(Some(salt), message_key)
        .expand(info, &mut okm)
        .expect("44 bytes");
    let key: [u8; 32] = okm[..32].try_into().expect("32 bytes");
    let nonce: [u8; 12] = okm[32..].try_into().expect("12 bytes");
    (Aes256Gcm::new(&key.into()), nonce)
}

/// AES-256-GCM open under a protocol message key and a message's salt, then the padding
/// stripped (`plaintext || 0x80 || 0x00 ...`).
pub fn open(
    message_key: &[u8],
    salt: &[u8],
    info: &[u8],
    aad: &[u8],
    ciphertext: &[u8],
) -> Option<Vec<u8>> {
    let (cipher, nonce) = aead(message_key, salt, info);
    let mut padded = cipher
        .decrypt(
            &Nonce::from(nonce),
            Payload {
                msg: ciphertext,
                aad,
            },
        )
        .ok()?;
    let marker = padded.iter().rposition(|&byte| byte != 0)?;
    (padded[marker] == 0x80).then(|| {
        padded.truncate(marker);
        padded
    })
}

/// A channel message's associated data: the channel's, then 0x00, or 0x01 and the hash of
/// the prekey information the message carries, then the header bytes.
pub fn message_aad(channel_ad: &[u8], message: &v1::ChannelMessage) -> Vec<u8> {
    let mut aad = channel_ad.to_vec();
    match &message.prekey {
        Some(prekey) => {
            aad.push(0x01);
            let mut hash = Sha256::new();
            hash.update(PREKEY_INFO_CONTEXT);
            hash.update(prekey.encode_to_vec());
            aad.extend_from_slice(&hash.finalize());
        }
        None => aad.push(0x00),
    }
    aad.extend_from_slice(&message.header);
    aad
}

/// Encrypts `control` (a `GroupControl` of her choosing) on her channel as group
/// control: her channel moves on exactly as for one message of its own.
pub fn encrypt_control(rng: &mut ChaCha20Rng, channel: &mut Channel, control: &[u8]) -> Vec<u8> {
    if view(channel).sending.is_none() {
        // Start a sending chain with a message that is never delivered.
        channel.encrypt(rng, b"").expect("encrypt");
    }
    let before = view(channel);
    let sending = before.sending.expect("a sending chain");
    let cover = channel.encrypt(rng, b"cover").expect("encrypt");
    let mut message = v1::ChannelMessage::decode(cover.as_slice()).expect("a message");
    let mut header = v1::RatchetHeader::decode(message.header.as_slice()).expect("a header");
    assert_eq!(header.message_number, sending.index);
    header.content_type = 1;
    message.header = header.encode_to_vec();
    let (message_key, _) = chain_step(&sending.chain_key);
    let aad = message_aad(&before.associated_data, &message);
    let (cipher, nonce) = aead(&message_key, &header.salt, MESSAGE_INFO);
    // Padded as a genuine sender pads.
    let mut padded = [control, &[0x80]].concat();
    padded.resize(Padding::Padme.padded_len(control.len()), 0);
    message.ciphertext = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: &padded,
                aad: &aad,
            },
        )
        .expect("encrypt");
    message.encode_to_vec()
}

/// The plaintext of a channel message to her, read on a copy of her channel state.
pub fn peek(channel: &Channel, message: &[u8]) -> Option<Vec<u8>> {
    let state = view(channel);
    let parsed = v1::ChannelMessage::decode(message).ok()?;
    let header = v1::RatchetHeader::decode(parsed.header.as_slice()).ok()?;
    let aad = message_aad(&state.associated_data, &parsed);
    let number = header.message_number;
    let mut keys = Vec::new();
    for skipped in &state.skipped {
        if skipped.ratchet_key == header.ratchet_key && skipped.index == number {
            keys.push(skipped.message_key.clone());
        }
    }
    if let Some(receiving) = &state.receiving {
        if receiving.ratchet_key == header.ratchet_key {
            keys.extend(message_key(&receiving.chain_key, receiving.index, number).map(Vec::from));
        }
    }
    if let (Some(sending), Ok(peer)) = (
        &state.sending,
        <[u8; 32]>::try_from(header.ratchet_key.as_slice()),
    ) {
        let secret: [u8; 32] = sending.ratchet_secret.as_slice().try_into().ok()?;
        let dh = x25519_dalek::StaticSecret::from(secret)
            .diffie_hellman(&x25519_dalek::PublicKey::from(peer));
        let mut okm = [0u8; 64];
        Hkdf::<Sha256>::new(Some(&state.root_key), dh.as_bytes())
            .expand(ROOT_INFO, &mut okm)
            .expect("64 bytes");
        keys.extend(message_key(&okm[32..], 0, number).map(Vec::from));
    }
    keys.iter()
        .find_map(|key| open(key, &header.salt, MESSAGE_INFO, &aad, &parsed.ciphertext))
}
