//! Sealed messages and encrypted streams: data signed by its sender and encrypted once for
//! up to [`MAX_SEALED_RECIPIENTS`] recipient cards, the sender's own included.
//!
//! [`seal`] and [`open`] handle a message held in memory; [`seal_stream`] and
//! [`open_stream`] handle data of any size in constant memory, in chunks of
//! [`STREAM_CHUNK_SIZE`] bytes. Both sign the plaintext with the sender's identity key, then
//! encrypt it and the signature under a fresh random content key, which is wrapped for each
//! recipient with X25519, HKDF-SHA256 and AES-256-GCM. docs/PROTOCOL.md (sections 8 and 9)
//! specifies the bytes.
//!
//! Opening is the reverse: find this identity's entry, unwrap the content key, decrypt, and
//! verify the signature with the sender's card, or with several candidate cards (such as a
//! sender's cards before and after a rotation). The errors tell the cases apart:
//! [`Error::NotARecipient`], [`Error::Tampered`], [`Error::NotFromSender`].
//!
//! **Sign-then-encrypt does not bind the recipients.** The signature covers the plaintext
//! only, so any recipient can re-seal the signed plaintext to someone else, who will see a
//! valid signature by the original sender ("surreptitious forwarding"). A signature shows
//! who wrote the plaintext, not to whom it was sent: if that matters, name the recipients
//! in the plaintext itself.

mod message;
mod recipients;
mod stream;

pub use message::{
    open, seal, Opened, MAX_SEALED_MESSAGE_LEN, SEALED_MESSAGE_CONTEXT, SEALED_SIGNATURE_CONTEXT,
};
pub use recipients::{
    MAX_SEALED_HEADER_LEN, MAX_SEALED_RECIPIENTS, SEALED_VERSION, SEALED_WRAP_INFO,
};
pub use stream::{
    open_stream, read_stream_header, seal_stream, OpenedStream, StreamHeader,
    MAX_STREAM_HEADER_LEN, SEALED_STREAM_CONTEXT, STREAM_CHUNK_SIZE, STREAM_SIGNATURE_CONTEXT,
};

use crate::crypto::signature;
use crate::error::{Error, Result};
use crate::identity::{Card, Fingerprint};

/// The first of `senders` whose key verifies `signature` over `context || signed`.
fn signer(
    senders: &[Card],
    context: &[u8],
    signed: &[u8],
    signature: &[u8],
) -> Result<Fingerprint> {
    senders
        .iter()
        .find(|card| {
            signature::verify(
                card.verifying_key(),
                context,
                &[signed],
                signature,
                "sealed",
            )
            .is_ok()
        })
        .map(Card::fingerprint)
        .ok_or(Error::NotFromSender)
}
