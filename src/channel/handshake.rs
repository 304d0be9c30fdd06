//! The hybrid start (PQXDH-style): X3DH's four X25519 agreements and one ML-KEM-768
//! encapsulation, the keys both sides derive from them, and the channel's associated data.

use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::{Zeroize, Zeroizing};

use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::{ChainKey, RootKey};
use crate::crypto::kdf::{hkdf_sha256, ZERO_SALT};
use crate::crypto::kem::{self, KemCiphertext, KemKeyPair, KemSharedSecret};
use crate::error::Result;
use crate::identity::{Card, Identity, PrekeyBundle};

/// HKDF info of the hybrid start's output: the first root key and the creator's first
/// chain key.
pub const PQXDH_INFO: &[u8] = b"ratchetkit/v2/pqxdh";

/// Length of a channel's associated data: two Ed25519 and two X25519 public keys.
pub(crate) const AD_LEN: usize = 128;

/// Hash context of a channel's id: the id is SHA-256 of this, the channel's associated
/// data and the initiator's X3DH ephemeral key (see [`ChannelId`]).
pub const CHANNEL_ID_CONTEXT: &[u8] = b"ratchetkit/v2/channel-id";

/// The id of a [`Channel`](crate::Channel): 32 bytes that both sides compute when the
/// channel starts, from values both know, and keep for its life.
///
/// It is SHA-256 of `"ratchetkit/v2/channel-id"` || Ed25519 IK_A || X25519 IK_A ||
/// Ed25519 IK_B || X25519 IK_B || EK_A, where A created the channel and EK_A is the
/// ephemeral key of its X3DH. The fields have fixed lengths, so no two inputs run
/// together, and EK_A is fresh for every channel, so two channels of the same pair of
/// identities (each side creating one, or a channel started again) have different ids.
///
/// The id is not secret: anyone who saw the first message can compute it. It names the
/// channel at rest: key your store by it, and give it to
/// [`StorageKey::open`](crate::StorageKey::open), which refuses the sealed state of any other
/// channel. `Display` shows it as 64 lowercase hex digits.
///
/// ```
/// use ratchetkit::{Channel, Identity, PrekeyStore};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// let mut bob_prekeys = PrekeyStore::new(&mut rng);
/// let mut to_bob = Channel::create(&mut rng, &alice, &bob_prekeys.bundle(&bob, None)?)?;
/// let first = to_bob.encrypt(&mut rng, b"hi")?;
/// let to_alice = Channel::join(&bob, &mut bob_prekeys, &first)?.into_channel();
/// assert_eq!(to_alice.id(), to_bob.id());
/// assert_eq!(to_bob.id().to_string().len(), 64);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ChannelId([u8; 32]);

hex_name!(
    ChannelId,
    "A channel id from its 32 raw bytes, for example read back from the name your store \
     keeps a channel under."
);

/// The channel's id: SHA-256 of [`CHANNEL_ID_CONTEXT`] || AD || EK_A.
pub(crate) fn channel_id(associated_data: &[u8; AD_LEN], ephemeral_key: &[u8; 32]) -> ChannelId {
    let mut hash = Sha256::new();
    hash.update(CHANNEL_ID_CONTEXT);
    hash.update(associated_data);
    hash.update(ephemeral_key);
    ChannelId(hash.finalize().into())
}

/// AD = Ed25519 public A || X25519 public A || Ed25519 public B || X25519 public B, where
/// A created the channel.
pub(crate) fn associated_data(initiator: &Card, responder: &Card) -> [u8; AD_LEN] {
    let mut ad = [0u8; AD_LEN];
    let parts = [
        initiator.signing_key(),
        initiator.agreement_key(),
        responder.signing_key(),
        responder.agreement_key(),
    ];
    for (chunk, part) in ad.chunks_exact_mut(32).zip(parts) {
        chunk.copy_from_slice(&part);
    }
    ad
}

/// What the start gives both sides: the first root key and the key of the creator's first
/// sending chain, whose ratchet key is the creator's ephemeral key EK_A.
pub(crate) struct HandshakeKeys {
    pub(crate) root_key: RootKey,
    pub(crate) chain_key: ChainKey,
}

/// RK || CK = HKDF-SHA256(salt = 32 zero bytes, ikm = 0xFF * 32 || DH1 || DH2 || DH3
/// [|| DH4] || SS, info = "ratchetkit/v2/pqxdh", 64 bytes), SS being the ML-KEM-768
/// shared secret. Each DH output has passed the contributory check.
fn derive(dh_outputs: &[Zeroizing<[u8; 32]>], kem_secret: &KemSharedSecret) -> HandshakeKeys {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * (2 + dh_outputs.len())));
    ikm.extend_from_slice(&[0xFF; 32]);
    for dh in dh_outputs {
        ikm.extend_from_slice(dh.as_slice());
    }
    ikm.extend_from_slice(kem_secret.as_bytes());
    let okm = hkdf_sha256::<64>(&ZERO_SALT, &ikm, PQXDH_INFO);
    let mut root = [0u8; 32];
    let mut chain = [0u8; 32];
    let (root_part, chain_part) = okm.split_at(32);
    root.copy_from_slice(root_part);
    chain.copy_from_slice(chain_part);
    let keys = HandshakeKeys {
        root_key: RootKey::from_bytes(root),
        chain_key: ChainKey::from_bytes(chain),
    };
    root.zeroize();
    chain.zeroize();
    keys
}

/// The creator's side: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
/// DH4 = DH(EK_A, OPK_B) when the bundle has a one-time prekey, and an ML-KEM-768
/// encapsulation to the one-time KEM prekey if there is one, else to the signed one.
/// Returns the keys and the KEM ciphertext for the peer.
pub(crate) fn initiate<R: CryptoRng + ?Sized>(
    rng: &mut R,
    identity: &Identity,
    ephemeral: &AgreementKeyPair,
    bundle: &PrekeyBundle,
) -> Result<(HandshakeKeys, KemCiphertext)> {
    let signed_prekey = bundle.signed_prekey();
    // Room for DH4 from the start: growing the vector would free a buffer holding DH1..DH3
    // without wiping it.
    let mut dh = Vec::with_capacity(4);
    dh.push(identity.agreement().agree(signed_prekey)?);
    dh.push(ephemeral.agree(&bundle.card().agreement_key())?);
    dh.push(ephemeral.agree(signed_prekey)?);
    let kem_prekey = match bundle.one_time_prekey() {
        Some(one_time) => {
            dh.push(ephemeral.agree(&one_time.key)?);
            &one_time.kem_key
        }
        None => bundle.kem_prekey(),
    };
    let (ciphertext, kem_secret) = kem::encapsulate(rng, kem_prekey);
    Ok((derive(&dh, &kem_secret), ciphertext))
}

/// The responder's private prekeys that a first message used.
pub(crate) struct UsedPrekeys<'a> {
    pub(crate) signed: &'a AgreementKeyPair,
    pub(crate) one_time: Option<&'a AgreementKeyPair>,
    /// The KEM key pair the ciphertext was made for: the one-time one if a one-time
    /// prekey was used, else the signed prekey's.
    pub(crate) kem: &'a KemKeyPair,
}

/// The responder's side of the same agreements and the decapsulation. A changed KEM
/// ciphertext gives another (implicitly rejected) secret, so the first message then fails
/// to authenticate.
pub(crate) fn respond(
    identity: &Identity,
    initiator: &Card,
    ephemeral_key: &[u8; 32],
    prekeys: &UsedPrekeys<'_>,
    ciphertext: &KemCiphertext,
) -> Result<HandshakeKeys> {
    let mut dh = Vec::with_capacity(4);
    dh.push(prekeys.signed.agree(&initiator.agreement_key())?);
    dh.push(identity.agreement().agree(ephemeral_key)?);
    dh.push(prekeys.signed.agree(ephemeral_key)?);
    if let Some(one_time) = prekeys.one_time {
        dh.push(one_time.agree(ephemeral_key)?);
    }
    let kem_secret = prekeys.kem.decapsulate(ciphertext);
    Ok(derive(&dh, &kem_secret))
}
