//! The generators' model of one channel's Double Ratchet, on the primitives: it computes the
//! sending chains and every message with all its keys, for the generators to check the
//! library's bytes against, and checks each receiver's DH ratchet step.

use prost::Message;
use ratchetkit::wire::v1;
use ratchetkit::PROTOCOL_VERSION;

use crate::vectors::json::{array, ChainVector};
use crate::vectors::primitives::{
    aes_gcm_seal, kdf_ck, kdf_rk, message_aead, x25519, x25519_public, MESSAGE_INFO,
};

/// One side's Double Ratchet state.
#[derive(Clone)]
struct Side {
    root_key: [u8; 32],
    /// The secret of the side's current ratchet key pair (the responder's first is its
    /// signed prekey).
    ratchet_secret: [u8; 32],
    /// The peer ratchet key the next sending chain agrees with (for the initiator at first,
    /// the responder's signed prekey).
    peer_ratchet_key: Option<[u8; 32]>,
    /// Every ratchet key received from the peer.
    received_keys: Vec<[u8; 32]>,
    /// The current sending chain: (chain index, chain key, next message number).
    sending: Option<(usize, [u8; 32], u32)>,
    previous_chain_length: u32,
}

impl Side {
    fn new(root_key: [u8; 32], ratchet_secret: [u8; 32], peer: Option<[u8; 32]>) -> Self {
        Self {
            root_key,
            ratchet_secret,
            peer_ratchet_key: peer,
            received_keys: Vec::new(),
            sending: None,
            previous_chain_length: 0,
        }
    }
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
    pub aes_key: [u8; 32],
    pub nonce: [u8; 12],
    pub header: Vec<u8>,
    /// The `PrekeyInfo` bytes the message carries, if any.
    pub prekey_info: Option<Vec<u8>>,
    pub aad: Vec<u8>,
    pub ciphertext: Vec<u8>,
    /// The `ChannelMessage` bytes.
    pub message: Vec<u8>,
}

/// The listing of a [`ModelMessage`] `$m` with the plaintext `$plaintext`, in either file:
/// `$vector { the fields only that listing has }`, with the fields every listing of a
/// channel message has (PN, number, keys, header, prekey information, AAD, plaintext,
/// ciphertext, message) taken from the model message.
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
            aes_key: hex::encode(m.aes_key),
            nonce: hex::encode(m.nonce),
            header: hex::encode(&m.header),
            prekey_info: m.prekey_info.as_ref().map(hex::encode),
            aad: hex::encode(&m.aad),
            plaintext: hex::encode($plaintext),
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
    /// The channel as X3DH leaves it with the shared secret SK: the responder's first ratchet
    /// key pair is its signed prekey, and the initiator's first sending chain, started by
    /// `Channel::create`, has the ratchet secret `first_ratchet`.
    pub fn new(
        names: [&str; 2],
        associated_data: Vec<u8>,
        prekey_info: v1::PrekeyInfo,
        shared_secret: [u8; 32],
        signed_prekey_secret: [u8; 32],
        first_ratchet: [u8; 32],
    ) -> Self {
        let signed_prekey = x25519_public(&signed_prekey_secret);
        let mut model = Self {
            names: names.map(String::from),
            associated_data,
            prekey_info,
            initiator_has_decrypted: false,
            sides: [
                Side::new(shared_secret, [0; 32], Some(signed_prekey)),
                Side::new(shared_secret, signed_prekey_secret, None),
            ],
            chains: Vec::new(),
        };
        let mut initiator = model.sides[0].clone();
        let chain = model.start_chain(&mut initiator, 0, first_ratchet);
        model.sides[0] = initiator;
        model.chains.push(chain);
        model
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
            peer_ratchet_public: hex::encode(peer),
            dh_output: hex::encode(dh_output),
            root_key_before: hex::encode(side.root_key),
            root_key: hex::encode(root_key),
            chain_key: hex::encode(chain_key),
        };
        side.root_key = root_key;
        side.ratchet_secret = secret;
        side.sending = Some((chain.index, chain_key, 0));
        chain
    }

    /// `party`'s next message, and the sending side and new chain (if one is due) it leaves.
    fn compute(
        &self,
        party: &str,
        content_type: u32,
        plaintext: &[u8],
        secret: Option<[u8; 32]>,
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
        let (aes_key, nonce) = message_aead(&message_key, MESSAGE_INFO);
        let header = v1::RatchetHeader {
            ratchet_key: x25519_public(&side.ratchet_secret).to_vec(),
            previous_chain_length: side.previous_chain_length,
            message_number: number,
            content_type,
        }
        .encode_to_vec();
        let prekey =
            (index == 0 && !self.initiator_has_decrypted).then(|| self.prekey_info.clone());
        let aad = [self.associated_data.as_slice(), &header].concat();
        let ciphertext = aes_gcm_seal(&aes_key, &nonce, &aad, plaintext);
        let message = ModelMessage {
            chain,
            previous_chain_length: side.previous_chain_length,
            message_number: number,
            chain_key,
            message_key,
            next_chain_key,
            aes_key,
            nonce,
            prekey_info: prekey.as_ref().map(Message::encode_to_vec),
            message: v1::ChannelMessage {
                version: PROTOCOL_VERSION,
                header: header.clone(),
                ciphertext: ciphertext.clone(),
                prekey,
            }
            .encode_to_vec(),
            header,
            aad,
            ciphertext,
        };
        (message, side, new_chain)
    }

    /// `party` sends its next message: on a new sending chain with the ratchet `secret` if
    /// one is due (`secret` must then be given), else on its current one.
    pub fn send(
        &mut self,
        party: &str,
        content_type: u32,
        plaintext: &[u8],
        secret: Option<[u8; 32]>,
    ) -> ModelMessage {
        let (message, side, new_chain) = self.compute(party, content_type, plaintext, secret);
        self.sides[self.side(party)] = side;
        self.chains.extend(new_chain);
        message
    }

    /// What `party` would send next on its open sending chain; the model does not move on.
    #[allow(dead_code)] // Only the group vectors make up messages.
    pub fn next_message(&self, party: &str, content_type: u32, plaintext: &[u8]) -> ModelMessage {
        self.compute(party, content_type, plaintext, None).0
    }

    /// `party` received a message on `chain`: the receiving half of a DH ratchet step for a
    /// ratchet key not seen before, which must give the keys the sender derived.
    pub fn receive(&mut self, party: &str, chain: usize) {
        let index = self.side(party);
        let listed = &self.chains[chain];
        let ratchet_key = array::<32>(&listed.ratchet_public);
        let side = &mut self.sides[index];
        if !side.received_keys.contains(&ratchet_key) {
            let dh_output = x25519(&side.ratchet_secret, &ratchet_key);
            assert_eq!(
                hex::encode(dh_output),
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
