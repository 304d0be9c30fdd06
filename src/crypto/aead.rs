//! AES-256-GCM, the only cipher of the protocol.

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::error::{Error, Result};

/// An AES-256-GCM key with the one nonce it may be used with.
///
/// Protocol keys are derived per message, so each key carries its own nonce and is used
/// for exactly one encryption.
#[derive(Zeroize, ZeroizeOnDrop)]
pub(crate) struct AeadKey {
    key: [u8; 32],
    nonce: [u8; 12],
}

impl AeadKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, nonce: [u8; 12]) -> Self {
        Self { key: *key, nonce }
    }

    /// The key and nonce the protocol derives with HKDF as one 44-byte output:
    /// key = okm\[0..32\], nonce = okm\[32..44\].
    pub(crate) fn from_okm(okm: &[u8; 44]) -> Self {
        let mut key = Zeroizing::new([0u8; 32]);
        let mut nonce = [0u8; 12];
        let (key_part, nonce_part) = okm.split_at(32);
        key.copy_from_slice(key_part);
        nonce.copy_from_slice(nonce_part);
        Self::new(key, nonce)
    }

    /// Encrypts `plaintext`, returning ciphertext || tag.
    pub(crate) fn encrypt(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let cipher = Aes256Gcm::new(&self.key.into());
        let nonce = Nonce::from(self.nonce);
        cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Only inputs over 64 GiB are refused; an honest caller never gets here.
            .map_err(|_| Error::AuthenticationFailed)
    }

    /// Encrypts `buffer` in place, appending the tag: with 16 bytes of spare capacity it
    /// does not reallocate, so a plaintext in a wiping buffer leaves no copy behind.
    pub(crate) fn encrypt_in_place(&self, aad: &[u8], buffer: &mut Vec<u8>) -> Result<()> {
        let cipher = Aes256Gcm::new(&self.key.into());
        let nonce = Nonce::from(self.nonce);
        cipher
            .encrypt_in_place(&nonce, aad, buffer)
            // Only inputs over 64 GiB are refused; an honest caller never gets here.
            .map_err(|_| Error::AuthenticationFailed)
    }

    /// Decrypts ciphertext || tag; any change to key, nonce, aad or ciphertext fails.
    pub(crate) fn decrypt(&self, aad: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
        let cipher = Aes256Gcm::new(&self.key.into());
        let nonce = Nonce::from(self.nonce);
        cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad,
                },
            )
            .map_err(|_| Error::AuthenticationFailed)
    }
}

impl AeadKey {
    /// [`AeadKey::decrypt`] in place: the ciphertext buffer becomes the plaintext, which
    /// saves copying a large message. On failure the buffer, still ciphertext, is dropped.
    pub(crate) fn decrypt_owned(&self, aad: &[u8], ciphertext: Vec<u8>) -> Result<Vec<u8>> {
        let cipher = Aes256Gcm::new(&self.key.into());
        let nonce = Nonce::from(self.nonce);
        let mut buffer = ciphertext;
        cipher
            .decrypt_in_place(&nonce, aad, &mut buffer)
            .map_err(|_| Error::AuthenticationFailed)?;
        Ok(buffer)
    }
}

impl core::fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("AeadKey(..)")
    }
}
