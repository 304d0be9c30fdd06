//! The generators' model of one channel, on the primitives: its hybrid start ([`start`])
//! and its Double Ratchet ([`ChannelModel`]), which computes the sending chains and every
//! message with all its keys, for the generators to check the library's bytes against, and
//! checks each receiver's DH ratchet step.

use prost::Message;
use ratchetkit::wire::v1;
use ratchetkit::{channel::PROTOCOL_VERSION, Card, Channel, Padding};

use crate::vectors::json::{array, ChainVector, ChannelVector};
use crate::vectors::primitives::{
    aes_gcm_seal, channel_associated_data, channel_id, kdf_ck, kdf_rk, message_associated_data,
    mlkem_encapsulate, mlkem_public, padded, padded_minimally, pqxdh_keys, prekey_info_hash,
    salted_message_aead, x25519, x25519_public, StartSecrets, KEM_SEED_LEN, MESSAGE_INFO,
    MESSAGE_SALT_LEN,
};

/// One side of a channel's start: its name, card and X25519 agreement secret.
pub struct StartParty<'a> {
    pub name: &'a str,
    pub card: &'a Card,
    pub agreement_secret: [u8; 32],
}

/// A responder's prekey as drawn: its id, X25519 secret and ML-KEM seed.
pub type DrawnPrekey = (u32, [u8; 32], [u8; KEM_SEED_LEN]);

/// Channel `index`, which `Channel::create` made as `created` from the draws
/// `(EK_A's secret, the ML-KEM randomness m)` and a bundle with the responder's signed
/// prekey `signed` and one-time prekey `one_time`, if any: its start computed on the
/// primitives (the library's channel id must be the same), its listing (without chains: they
/// are the model's), the model of its Double Ratchet, and the prekey information its creator
/// attaches.
pub fn start(
    (index, created): (usize, &Channel),
    [initiator, responder]: [&StartParty; 2],
    (signed, one_time): (DrawnPrekey, Option<DrawnPrekey>),
    (ephemeral_secret, kem_randomness): ([u8; 32], [u8; 32]),
) -> (ChannelVector, ChannelModel, v1::PrekeyInfo) {
    let dh = StartSecrets {
        initiator_identity: initiator.agreement_secret,
        ephemeral: ephemeral_secret,
        responder_identity: responder.agreement_secret,
        signed_prekey: signed.1,
        one_time_prekey: one_time.map(|(_, secret, _)| secret),
    }
    .dh_outputs();
    let kem_seed = one_time.map_or(signed.2, |(_, _, seed)| seed);
    let (kem_ciphertext, kem_secret) = mlkem_encapsulate(&mlkem_public(&kem_seed), &kem_randomness);
    let (ikm, root_key, chain_key) = pqxdh_keys(&dh, &kem_secret);
    let (a, b) = (initiator.card, responder.card);
    let associated_data = channel_associated_data(
        [&a.signing_key(), &a.agreement_key()],
        [&b.signing_key(), &b.agreement_key()],
    );
    let ephemeral_public = x25519_public(&ephemeral_secret);
    let id = channel_id(&associated_data, &ephemeral_public);
    assert_eq!(
        created.id().as_bytes(),
        &id,
        "channel {index}: the library's channel id"
    );
    let one_time_prekey_id = one_time.map(|(id, _, _)| id);
    let prekey_info = v1::PrekeyInfo {
        initiator_card: a.to_bytes(),
        signed_prekey_id: signed.0,
        one_time_prekey_id,
        kem_ciphertext: kem_ciphertext.clone(),
    };
    let info = prekey_info.encode_to_vec();
    let vector = ChannelVector {
        index,
        initiator: initiator.name.into(),
        responder: responder.name.into(),
        signed_prekey_id: signed.0,
        one_time_prekey_id,
        ephemeral_secret: hex::encode(ephemeral_secret),
        ephemeral_public: hex::encode(ephemeral_public),
        dh1: hex::encode(dh[0]),
        dh2: hex::encode(dh[1]),
        dh3: hex::encode(dh[2]),
        dh4: dh.get(3).map(hex::encode),
        kem_randomness: hex::encode(kem_randomness),
        kem_ciphertext: hex::encode(&kem_ciphertext),
        kem_shared_secret: hex::encode(kem_secret),
        ikm: hex::encode(&ikm),
        root_key: hex::encode(root_key),
        chain_key: hex::encode(chain_key),
        associated_data: hex::encode(&associated_data),
        channel_id: hex::encode(id),
        prekey_info: hex::encode(&info),
        prekey_info_hash: hex::encode(prekey_info_hash(&info)),
        chains: Vec::new(),
    };
    let model = ChannelModel::new(
        [initiator.name, responder.name],
        associated_data,
        prekey_info.clone(),
        (root_key, chain_key),
        ephemeral_secret,
    );
    (vector, model, prekey_info)
}

/// One side's Double Ratchet state.
#[derive(Clone)]
struct Side {
    root_key: [u8; 32],
    /// The secret of the side's current ratchet key pair (the initiator's first is its
    /// ephemeral key EK_A; the responder has none before its first send).
    ratchet_secret: Option<[u8; 32]>,
    /// The peer ratchet key the next sending chain agrees with (for the responder at
    /// first, the initiator's EK_A).
    peer_ratchet_key: Option<[u8; 32]>,
    /// Every ratchet key received from the peer.
    received_keys: Vec<[u8; 32]>,
    /// The current sending chain: (chain index, chain key, next message number).
    sending: Option<(usize, [u8; 32], u32)>,
    previous_chain_length: u32,
    /// How the side pads what it sends.
    padding: Padding,
}

/// A channel message the model computed, with every key that went into it.
pub struct ModelMessage {
    /// Index into the channel's chains.
    pub chain: usize,
    pub previous_chain_length: u32,
    pub message_number: u32,
    pub chain_key: [u8; 32],
    pub message_key: [u8; 32],
    pub next_chain_key: [u8; 32],
    /// The message's random salt: the HKDF salt of its AES key and nonce.
    pub salt: [u8; MESSAGE_SALT_LEN],
    pub aes_key: [u8; 32],
    pub nonce: [u8; 12],
    pub header: Vec<u8>,
    /// The `PrekeyInfo` bytes the message carries, if any.
    pub prekey_info: Option<Vec<u8>>,
    pub aad: Vec<u8>,
    /// What is encrypted: the plaintext padded as the sender pads.
    pub padded_plaintext: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// The `ChannelMessage` bytes.
    pub message: Vec<u8>,
}

/// The listing of a [`ModelMessage`] `$m` with the plaintext `$plaintext`, in either file:
/// `$vector { the fields only that listing has }`, with the fields every listing of a
/// channel message has (PN, number, keys, salt, header, prekey information, AAD, plaintext,
/// padded plaintext, ciphertext, message) taken from the model message.
macro_rules! model_message_vector {
    ($vector:ident { $($field:ident $(: $value:expr)?),* $(,)? }, $m:expr, $plaintext:expr) => {{
        let m: &$crate::vectors::channel_model::ModelMessage = $m;
        $vector {
            $($field $(: $value)?,)*
            previous_chain_length: m.previous_chain_length,
            message_number: m.message_number,
            chain_key: hex::encode(m.chain_key),
            message_key: hex::encode(m.message_key),
            next_chain_key: hex::encode(m.next_chain_key),
            salt: hex::encode(m.salt),
            aes_key: hex::encode(m.aes_key),
            nonce: hex::encode(m.nonce),
            header: hex::encode(&m.header),
            prekey_info: m.prekey_info.as_ref().map(hex::encode),
            aad: hex::encode(&m.aad),
            plaintext: hex::encode($plaintext),
            padded_plaintext: hex::encode(&m.padded_plaintext),
            ciphertext: hex::encode(&m.ciphertext),
            message: hex::encode(&m.message),
        }
    }};
}
pub(crate) use model_message_vector;

/// One channel's Double Ratchet, both sides.
pub struct ChannelModel {
    /// The initiator's name, then the responder's: the sides, in that order.
    names: [String; 2],
    associated_data: Vec<u8>,
    prekey_info: v1::PrekeyInfo,
    initiator_has_decrypted: bool,
    sides: [Side; 2],
    /// Every sending chain, in the order started.
    pub chains: Vec<ChainVector>,
}

impl ChannelModel {
    /// The channel as the hybrid start leaves it with the first root key `root_key` and
    /// chain key `chain_key`: the initiator's first sending chain (chain 0) has the ratchet
    /// key pair EK_A (`ephemeral_secret`) and `chain_key`, with no DH ratchet step; the
    /// responder receives on it.
    pub fn new(
        names: [&str; 2],
        associated_data: Vec<u8>,
        prekey_info: v1::PrekeyInfo,
        (root_key, chain_key): ([u8; 32], [u8; 32]),
        ephemeral_secret: [u8; 32],
    ) -> Self {
        let ephemeral = x25519_public(&ephemeral_secret);
        let first = ChainVector {
            index: 0,
            sender: names[0].into(),
            ratchet_secret: hex::encode(ephemeral_secret),
            ratchet_public: hex::encode(ephemeral),
            peer_ratchet_public: None,
            dh_output: None,
            root_key_before: None,
            root_key: hex::encode(root_key),
            chain_key: hex::encode(chain_key),
        };
        Self {
            names: names.map(String::from),
            associated_data,
            prekey_info,
            initiator_has_decrypted: false,
            sides: [
                Side {
                    root_key,
                    ratchet_secret: Some(ephemeral_secret),
                    peer_ratchet_key: None,
                    received_keys: Vec::new(),
                    sending: Some((0, chain_key, 0)),
                    previous_chain_length: 0,
                    padding: Padding::default(),
                },
                Side {
                    root_key,
                    ratchet_secret: None,
                    peer_ratchet_key: Some(ephemeral),
                    received_keys: vec![ephemeral],
                    sending: None,
                    previous_chain_length: 0,
                    padding: Padding::default(),
                },
            ],
            chains: vec![first],
        }
    }

    /// The side of the party named `party`: 0 for the initiator, 1 for the responder.
    fn side(&self, party: &str) -> usize {
        self.names
            .iter()
            .position(|name| name == party)
            .unwrap_or_else(|| panic!("{party} is not a side of this channel"))
    }

    /// Whether `party`'s next message starts a new sending chain (and draws a ratchet key).
    pub fn needs_new_chain(&self, party: &str) -> bool {
        self.sides[self.side(party)].sending.is_none()
    }

    /// `party` pads what it sends from now on with `padding`.
    #[allow(dead_code)] // Only the channel vectors change a side's padding.
    pub fn set_padding(&mut self, party: &str, padding: Padding) {
        let index = self.side(party);
        self.sides[index].padding = padding;
    }

    /// A DH ratchet step on the sending side `index` with the fresh ratchet `secret`.
    fn start_chain(&self, side: &mut Side, index: usize, secret: [u8; 32]) -> ChainVector {
        let peer = side
            .peer_ratchet_key
            .expect("a side starts a sending chain only once it knows a peer ratchet key");
        let dh_output = x25519(&secret, &peer);
        let (root_key, chain_key) = kdf_rk(&side.root_key, &dh_output);
        let chain = ChainVector {
            index: self.chains.len(),
            sender: self.names[index].clone(),
            ratchet_secret: hex::encode(secret),
            ratchet_public: hex::encode(x25519_public(&secret)),
            peer_ratchet_public: Some(hex::encode(peer)),
            dh_output: Some(hex::encode(dh_output)),
            root_key_before: Some(hex::encode(side.root_key)),
            root_key: hex::encode(root_key),
            chain_key: hex::encode(chain_key),
        };
        side.root_key = root_key;
        side.ratchet_secret = Some(secret);
        side.sending = Some((chain.index, chain_key, 0));
        chain
    }

    /// `party`'s next message, with the `salt` it drew, and the sending side and new chain
    /// (if one is due) it leaves.
    fn compute(
        &self,
        party: &str,
        (content_type, plaintext): (u32, &[u8]),
        secret: Option<[u8; 32]>,
        salt: [u8; MESSAGE_SALT_LEN],
    ) -> (ModelMessage, Side, Option<ChainVector>) {
        let index = self.side(party);
        let mut side = self.sides[index].clone();
        let new_chain = if side.sending.is_none() {
            let secret = secret.expect("a new sending chain needs a ratchet secret");
            Some(self.start_chain(&mut side, index, secret))
        } else {
            assert!(secret.is_none(), "a running chain draws no ratchet key");
            None
        };
        let (chain, chain_key, number) = side.sending.expect("a sending chain");
        let (message_key, next_chain_key) = kdf_ck(&chain_key);
        side.sending = Some((chain, next_chain_key, number + 1));
        let (aes_key, nonce) = salted_message_aead(&message_key, &salt, MESSAGE_INFO);
        let ratchet_secret = side.ratchet_secret.expect("a sending chain's ratchet key");
        let header = v1::RatchetHeader {
            ratchet_key: x25519_public(&ratchet_secret).to_vec(),
            previous_chain_length: side.previous_chain_length,
            message_number: number,
            content_type,
            salt: salt.to_vec(),
        }
        .encode_to_vec();
        let prekey =
            (index == 0 && !self.initiator_has_decrypted).then(|| self.prekey_info.clone());
        let prekey_info = prekey.as_ref().map(Message::encode_to_vec);
        let aad = message_associated_data(&self.associated_data, prekey_info.as_deref(), &header);
        let padded_plaintext = match side.padding {
            Padding::Minimal => padded_minimally(plaintext),
            _ => padded(plaintext),
        };
        let ciphertext = aes_gcm_seal(&aes_key, &nonce, &aad, &padded_plaintext);
        let message = ModelMessage {
            chain,
            previous_chain_length: side.previous_chain_length,
            message_number: number,
            chain_key,
            message_key,
            next_chain_key,
            salt,
            aes_key,
            nonce,
            prekey_info,
            message: v1::ChannelMessage {
                version: PROTOCOL_VERSION,
                header: header.clone(),
                ciphertext: ciphertext.clone(),
                prekey,
            }
            .encode_to_vec(),
            header,
            aad,
            padded_plaintext,
            ciphertext,
        };
        (message, side, new_chain)
    }

    /// `party` sends its next message with the values the call drew: the ratchet `secret`
    /// of a new sending chain if one is due (`secret` must then be given), then the message's
    /// `salt`.
    pub fn send(
        &mut self,
        party: &str,
        (content_type, plaintext): (u32, &[u8]),
        secret: Option<[u8; 32]>,
        salt: [u8; MESSAGE_SALT_LEN],
    ) -> ModelMessage {
        let (message, side, new_chain) =
            self.compute(party, (content_type, plaintext), secret, salt);
        let index = self.side(party);
        self.sides[index] = side;
        self.chains.extend(new_chain);
        message
    }

    /// What `party` would send next on its open sending chain with `salt`; the model does
    /// not move on.
    #[allow(dead_code)] // Only the group vectors make up messages.
    pub fn next_message(
        &self,
        party: &str,
        (content_type, plaintext): (u32, &[u8]),
        salt: [u8; MESSAGE_SALT_LEN],
    ) -> ModelMessage {
        self.compute(party, (content_type, plaintext), None, salt).0
    }

    /// `party` received a message on `chain`: the receiving half of a DH ratchet step for a
    /// ratchet key not seen before, which must give the keys the sender derived.
    pub fn receive(&mut self, party: &str, chain: usize) {
        let index = self.side(party);
        let listed = &self.chains[chain];
        let ratchet_key = array::<32>(&listed.ratchet_public);
        let side = &mut self.sides[index];
        if !side.received_keys.contains(&ratchet_key) {
            let secret = side
                .ratchet_secret
                .expect("a side receives a new chain only after it sent");
            let dh_output = x25519(&secret, &ratchet_key);
            assert_eq!(
                Some(hex::encode(dh_output)),
                listed.dh_output,
                "chain {chain}: the receiver's DH"
            );
            let (root_key, chain_key) = kdf_rk(&side.root_key, &dh_output);
            assert_eq!(
                hex::encode(root_key),
                listed.root_key,
                "chain {chain}: the receiver's root key"
            );
            assert_eq!(
                hex::encode(chain_key),
                listed.chain_key,
                "chain {chain}: the receiver's chain key"
            );
            side.root_key = root_key;
            side.received_keys.push(ratchet_key);
            side.peer_ratchet_key = Some(ratchet_key);
            if let Some((_, _, sent)) = side.sending.take() {
                side.previous_chain_length = sent;
            }
        }
        if index == 0 {
            self.initiator_has_decrypted = true;
        }
    }
}
