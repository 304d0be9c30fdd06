//! X3DH: the shared secret and associated data both sides derive when a channel starts.

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::crypto::agreement::AgreementKeyPair;
use crate::crypto::chain::RootKey;
use crate::crypto::kdf::{hkdf_sha256, ZERO_SALT};
use crate::error::Result;
use crate::identity::{Card, Identity};

/// HKDF info of the X3DH shared secret.
pub const X3DH_INFO: &[u8] = b"ratchetkit/v1/x3dh";

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
/// let to_alice = Channel::join(&bob, &mut bob_prekeys, &first)?.channel;
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

/// SK = HKDF-SHA256(salt = 32 zero bytes, ikm = 0xFF * 32 || DH1 || DH2 || DH3 [|| DH4],
/// info = "ratchetkit/v1/x3dh", 32 bytes). Each DH output has passed the contributory check.
fn shared_secret(dh_outputs: &[Zeroizing<[u8; 32]>]) -> RootKey {
    let mut ikm = Zeroizing::new(Vec::with_capacity(32 * (1 + dh_outputs.len())));
    ikm.extend_from_slice(&[0xFF; 32]);
    for dh in dh_outputs {
        ikm.extend_from_slice(dh.as_slice());
    }
    RootKey::from_bytes(*hkdf_sha256::<32>(&ZERO_SALT, &ikm, X3DH_INFO))
}

/// The creator's side: DH1 = DH(IK_A, SPK_B), DH2 = DH(EK_A, IK_B), DH3 = DH(EK_A, SPK_B),
/// DH4 = DH(EK_A, OPK_B) when the bundle has a one-time prekey.
pub(crate) fn initiate(
    identity: &Identity,
    ephemeral: &AgreementKeyPair,
    responder: &Card,
    signed_prekey: &[u8; 32],
    one_time_prekey: Option<&[u8; 32]>,
) -> Result<RootKey> {
    let mut dh = vec![
        identity.agreement().agree(signed_prekey)?,
        ephemeral.agree(&responder.agreement_key())?,
        ephemeral.agree(signed_prekey)?,
    ];
    if let Some(one_time) = one_time_prekey {
        dh.push(ephemeral.agree(one_time)?);
    }
    Ok(shared_secret(&dh))
}

/// The responder's side of the same four agreements.
pub(crate) fn respond(
    identity: &Identity,
    initiator: &Card,
    ephemeral_key: &[u8; 32],
    signed_prekey: &AgreementKeyPair,
    one_time_prekey: Option<&AgreementKeyPair>,
) -> Result<RootKey> {
    let mut dh = vec![
        signed_prekey.agree(&initiator.agreement_key())?,
        identity.agreement().agree(ephemeral_key)?,
        signed_prekey.agree(ephemeral_key)?,
    ];
    if let Some(one_time) = one_time_prekey {
        dh.push(one_time.agree(ephemeral_key)?);
    }
    Ok(shared_secret(&dh))
}
