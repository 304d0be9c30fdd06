//! The generators' checks of the long-term keys ratchetkit made against the draws they came
//! from: identities with their cards, and prekey bundles.

use prost::Message as _;
use ratchetkit::wire::v1;
use ratchetkit::{Identity, PrekeyStore};

use crate::vectors::json::IdentityVector;
use crate::vectors::primitives::{
    ed25519_public, mlkem_public, sha256, x25519_public, CARD_CONTEXT, KEM_SEED_LEN, SELF_SIGNER,
};

/// Checks an identity against the two draws of `Identity::generate_at` (the Ed25519 seed,
/// then the X25519 secret) and lists it.
pub fn identity_vector(identity: &Identity, seed: [u8; 32], agreement: [u8; 32]) -> IdentityVector {
    let card = identity.card();
    let name = card.identity();
    let signing_public = ed25519_public(&seed);
    assert_eq!(
        signing_public,
        card.signing_key(),
        "{name}: the first draw of generate_at is not the Ed25519 seed"
    );
    assert_eq!(
        x25519_public(&agreement),
        card.agreement_key(),
        "{name}: the second draw of generate_at is not the X25519 secret"
    );
    let card_bytes = card.to_bytes();
    let signed = v1::SignedCard::decode(card_bytes.as_slice()).expect("a SignedCard");
    let [signature] = signed.signatures.as_slice() else {
        panic!("{name}: a new card has exactly one signature")
    };
    assert_eq!(signature.signer, SELF_SIGNER);
    let fingerprint = sha256(&signed.content);
    assert_eq!(&fingerprint, card.fingerprint().as_bytes());
    IdentityVector {
        name: name.into(),
        created_at: card.created_at(),
        signing_seed: hex::encode(seed),
        signing_public: hex::encode(signing_public),
        agreement_secret: hex::encode(agreement),
        agreement_public: hex::encode(card.agreement_key()),
        card_content: hex::encode(&signed.content),
        card_signature_input: hex::encode([CARD_CONTEXT, &signed.content].concat()),
        card_signature: hex::encode(&signature.signature),
        card: hex::encode(&card_bytes),
        fingerprint: hex::encode(fingerprint),
    }
}

/// The bundle of `owner`'s prekey `store` (with the one-time prekey `one_time`, if any), as
/// bytes and decoded. Its signed prekey must be the public keys of `signed_prekey`, the
/// draws of `PrekeyStore::new` (the X25519 secret, then the ML-KEM seed).
pub fn bundle(
    store: &PrekeyStore,
    owner: &Identity,
    one_time: Option<u32>,
    signed_prekey: (&[u8; 32], &[u8; KEM_SEED_LEN]),
) -> (Vec<u8>, v1::PrekeyBundle) {
    let bytes = store.bundle(owner, one_time).expect("bundle").to_bytes();
    let decoded = v1::PrekeyBundle::decode(bytes.as_slice()).expect("a PrekeyBundle");
    assert_eq!(decoded.card, owner.card().to_bytes());
    assert_eq!(decoded.signed_prekey_id, store.signed_prekey_id());
    assert_eq!(
        decoded.signed_prekey,
        x25519_public(signed_prekey.0),
        "the first draw of PrekeyStore::new is not the signed prekey's X25519 secret"
    );
    assert_eq!(
        decoded.kem_prekey,
        mlkem_public(signed_prekey.1),
        "the second draw of PrekeyStore::new is not the signed prekey's ML-KEM seed"
    );
    assert_eq!(decoded.one_time_prekey_id, one_time);
    (bytes, decoded)
}
