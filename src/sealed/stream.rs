//! Encrypted streams: `be32(len(header)) || header || chunks`, the STREAM construction over
//! AES-256-GCM, so that data of any size is sealed and opened in constant memory.

use std::io::{Read, Write};

use rand::CryptoRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::recipients::{self, ContentKey};
use super::signer;
use crate::crypto::aead::AeadKey;
use crate::crypto::signature::{self, SIGNATURE_LEN};
use crate::error::{Error, Result};
use crate::identity::{Card, Fingerprint, Identity};
use crate::wire::fixed;

/// Plaintext bytes per chunk of an encrypted stream: 65,536 (64 KiB). Every chunk but the
/// last holds exactly this much; the last holds 0..=65,536 bytes and the signature. Large
/// enough that the 16-byte tag and the per-chunk work cost under 0.1%, small enough that
/// reading and writing need only two chunk buffers.
pub const STREAM_CHUNK_SIZE: usize = 65_536;

/// Longest `SealedHeader` a stream may start with: 131,072 bytes (128 KiB). A header for
/// [`MAX_SEALED_RECIPIENTS`](crate::sealed::MAX_SEALED_RECIPIENTS) recipients takes about 86 KB;
/// the limit keeps a hostile length prefix from making [`open_stream`] allocate more.
pub const MAX_STREAM_HEADER_LEN: usize = 131_072;

/// Signature context of a stream: Ed25519 by the sender's identity key over
/// `"ratchetkit/v2/stream-signature" || BLAKE3(plaintext)`. Version 2 since the digest
/// became BLAKE3 (it was SHA-256 under `ratchetkit/v1/stream-signature`): a stream of the
/// old format fails to verify rather than being read with the wrong digest.
pub const STREAM_SIGNATURE_CONTEXT: &[u8] = b"ratchetkit/v2/stream-signature";

/// Prefix of the associated data of every chunk: the associated data is
/// `"ratchetkit/v1/sealed-stream" || SHA-256(header)`.
pub const SEALED_STREAM_CONTEXT: &[u8] = b"ratchetkit/v1/sealed-stream";

/// Length of the random nonce prefix carried in the header.
const NONCE_PREFIX_LEN: usize = 7;
/// AES-256-GCM tag length.
const TAG_LEN: usize = 16;
/// An encrypted chunk that is not the last.
const SEALED_CHUNK_LEN: usize = STREAM_CHUNK_SIZE + TAG_LEN;
/// Bounds of the encrypted last chunk: 0..=STREAM_CHUNK_SIZE bytes, signature, tag.
const MIN_LAST_CHUNK_LEN: usize = SIGNATURE_LEN + TAG_LEN;
const MAX_LAST_CHUNK_LEN: usize = STREAM_CHUNK_SIZE + SIGNATURE_LEN + TAG_LEN;
/// Most plaintext bytes a stream holds: 2^32 chunks, numbered by a 32-bit counter.
const MAX_STREAM_LEN: u64 = (1 << 32) * STREAM_CHUNK_SIZE as u64;

/// A stream that [`open_stream`] decrypted and verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct OpenedStream {
    bytes: u64,
    sender: Fingerprint,
}

impl OpenedStream {
    /// Plaintext bytes written to the output.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The fingerprint of the sender card (among those given to [`open_stream`]) whose key
    /// signed the plaintext.
    pub fn sender(&self) -> Fingerprint {
        self.sender
    }
}

fn too_long() -> Error {
    Error::SealedTooLarge {
        what: "stream",
        max: MAX_STREAM_LEN,
    }
}

fn read_error(error: std::io::Error) -> Error {
    Error::Io {
        kind: error.kind(),
        during: "reading the input",
        message: error.to_string(),
    }
}

fn write_error(error: std::io::Error) -> Error {
    Error::Io {
        kind: error.kind(),
        during: "writing the output",
        message: error.to_string(),
    }
}

/// Reads until `buffer` is full or the input ends; returns how many bytes were read.
fn fill(input: &mut impl Read, buffer: &mut [u8]) -> Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buffer.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            // A reader that claims more than it was given cannot push `filled` past the buffer.
            Ok(read) => filled = filled.saturating_add(read).min(buffer.len()),
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(read_error(error)),
        }
    }
    Ok(filled)
}

/// The chunk keys of one stream: the content key with the STREAM nonces.
struct Chunks {
    content_key: ContentKey,
    nonce_prefix: [u8; NONCE_PREFIX_LEN],
    associated_data: Vec<u8>,
}

impl Chunks {
    fn new(content_key: ContentKey, nonce_prefix: [u8; NONCE_PREFIX_LEN], header: &[u8]) -> Self {
        // The header's digest, not the header: it is authenticated with every chunk, and a
        // header for many recipients would otherwise double the cost of each chunk.
        let associated_data = [SEALED_STREAM_CONTEXT, Sha256::digest(header).as_slice()].concat();
        Self {
            content_key,
            nonce_prefix,
            associated_data,
        }
    }

    /// nonce = prefix (7 bytes) || be32(counter) || last (0x01 for the last chunk, else 0x00).
    fn key(&self, counter: u32, last: bool) -> AeadKey {
        let mut nonce = [0u8; 12];
        let parts = self
            .nonce_prefix
            .into_iter()
            .chain(counter.to_be_bytes())
            .chain([u8::from(last)]);
        for (byte, part) in nonce.iter_mut().zip(parts) {
            *byte = part;
        }
        AeadKey::new(self.content_key.clone(), nonce)
    }

    fn seal(&self, counter: u32, last: bool, plaintext: &[u8]) -> Result<Vec<u8>> {
        self.key(counter, last)
            .encrypt(&self.associated_data, plaintext)
    }

    fn open(&self, counter: u32, last: bool, sealed: &[u8]) -> Result<Vec<u8>> {
        self.key(counter, last)
            .decrypt(&self.associated_data, sealed)
            .map_err(|_| Error::Tampered)
    }
}

/// What the start of an encrypted stream shows anyone who reads it, recipient or not:
/// for whom it was sealed, and (given the stream's length) how much it holds. Not who
/// sealed it: the signature is encrypted. Read by [`read_stream_header`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StreamHeader {
    recipients: Vec<Fingerprint>,
    header_len: u64,
}

impl StreamHeader {
    /// The recipients' card fingerprints, in the order the sender gave the cards.
    pub fn recipients(&self) -> &[Fingerprint] {
        &self.recipients
    }

    /// Bytes the header takes at the start of the stream, its 4-byte length included.
    pub fn header_len(&self) -> u64 {
        self.header_len
    }

    /// The plaintext length of a whole stream of `stream_len` bytes that starts with this
    /// header, from the chunk sizes of docs/PROTOCOL.md section 9; `None` when no stream
    /// can have that length (cut short, or with bytes added). Only opening shows whether
    /// the chunks authenticate.
    pub fn plaintext_len(&self, stream_len: u64) -> Option<u64> {
        let chunks = stream_len.checked_sub(self.header_len)?;
        let max_last = MAX_LAST_CHUNK_LEN as u64;
        // Chunks before the last are full; the last then holds at least one byte of data.
        let middle = chunks
            .saturating_sub(max_last)
            .div_ceil(SEALED_CHUNK_LEN as u64);
        let last = chunks.checked_sub(middle.checked_mul(SEALED_CHUNK_LEN as u64)?)?;
        let smallest_last = MIN_LAST_CHUNK_LEN as u64 + u64::from(middle > 0);
        if last < smallest_last
            || last > max_last
            || middle >= MAX_STREAM_LEN / STREAM_CHUNK_SIZE as u64
        {
            return None;
        }
        let data = middle.checked_mul(STREAM_CHUNK_SIZE as u64)?;
        data.checked_add(last - MIN_LAST_CHUNK_LEN as u64)
    }
}

/// Reads the length and header at the start of an encrypted stream, with the checks every
/// reader makes (section 8, opening step 2), and nothing after them: no key is needed.
///
/// ```
/// use ratchetkit::{sealed::read_stream_header, seal_stream, Identity};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// let mut encrypted = Vec::new();
/// seal_stream(&mut rng, &alice, &[bob.card().clone()], &[1u8; 100_000][..], &mut encrypted)?;
/// let header = read_stream_header(&encrypted[..])?;
/// assert_eq!(header.recipients(), [bob.card().fingerprint()]);
/// assert_eq!(header.plaintext_len(encrypted.len() as u64), Some(100_000));
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// # Errors
/// The first errors of [`open_stream`]: [`Error::Io`], [`Error::Truncated`],
/// [`Error::SealedTooLarge`], and the header's decoding errors.
pub fn read_stream_header<In: Read>(mut input: In) -> Result<StreamHeader> {
    let (header_bytes, header) = read_header(&mut input)?;
    fixed::<NONCE_PREFIX_LEN>(&header.nonce_prefix, "nonce prefix")?;
    let recipients = header
        .recipients
        .iter()
        .map(|entry| fixed::<32>(&entry.fingerprint, "recipient fingerprint"))
        .map(|bytes| bytes.map(Fingerprint::from_bytes))
        .collect::<Result<Vec<_>>>()?;
    Ok(StreamHeader {
        recipients,
        header_len: 4 + header_bytes.len() as u64,
    })
}

/// Reads `be32(len(header)) || header` and parses the header.
fn read_header(input: &mut impl Read) -> Result<(Vec<u8>, crate::wire::v1::SealedHeader)> {
    let mut length = [0u8; 4];
    if fill(input, &mut length)? < length.len() {
        return Err(Error::Truncated);
    }
    let header_len = u32::from_be_bytes(length) as usize;
    if header_len > MAX_STREAM_HEADER_LEN {
        return Err(Error::SealedTooLarge {
            what: "stream header",
            max: MAX_STREAM_HEADER_LEN as u64,
        });
    }
    let mut header_bytes = vec![0u8; header_len];
    if fill(input, &mut header_bytes)? < header_len {
        return Err(Error::Truncated);
    }
    let header = recipients::parse_header(&header_bytes)?;
    Ok((header_bytes, header))
}

/// Signs and encrypts everything `input` yields for `recipients`, writing the encrypted
/// stream to `output` in constant memory; returns the number of plaintext bytes.
///
/// The stream is sealed as by [`seal`](crate::seal), in chunks of [`STREAM_CHUNK_SIZE`]
/// bytes. The signature covers the whole plaintext and travels in the last chunk. The
/// output is flushed before returning; on error it holds an unusable partial stream.
///
/// ```
/// use ratchetkit::{open_stream, seal_stream, Identity};
/// # let mut rng = rand::rng();
/// let alice = Identity::generate(&mut rng, "alice")?;
/// let bob = Identity::generate(&mut rng, "bob")?;
///
/// let file = vec![7u8; 200_000]; // or a std::fs::File, a socket, ...
/// let mut encrypted = Vec::new();
/// let written = seal_stream(&mut rng, &alice, &[bob.card().clone()], &file[..], &mut encrypted)?;
/// assert_eq!(written, 200_000);
///
/// let mut decrypted = Vec::new();
/// let opened = open_stream(&bob, &[alice.card().clone()], &encrypted[..], &mut decrypted)?;
/// assert_eq!((opened.bytes(), opened.sender()), (200_000, alice.card().fingerprint()));
/// assert_eq!(decrypted, file);
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// # Errors
/// The recipient errors of [`seal`](crate::seal), [`Error::Io`] if reading or writing
/// fails, and [`Error::SealedTooLarge`] for input over 2^32 chunks (256 TiB).
pub fn seal_stream<R: CryptoRng + ?Sized, In: Read, Out: Write>(
    rng: &mut R,
    sender: &Identity,
    recipients: &[Card],
    mut input: In,
    mut output: Out,
) -> Result<u64> {
    let mut nonce_prefix = [0u8; NONCE_PREFIX_LEN];
    rng.fill_bytes(&mut nonce_prefix);
    let (content_key, header) = recipients::seal_header(rng, recipients, nonce_prefix.to_vec())?;
    let header_len = u32::try_from(header.len())
        .ok()
        .filter(|&len| len as usize <= MAX_STREAM_HEADER_LEN)
        .ok_or(Error::SealedTooLarge {
            what: "stream header",
            max: MAX_STREAM_HEADER_LEN as u64,
        })?;
    output
        .write_all(&header_len.to_be_bytes())
        .and_then(|()| output.write_all(&header))
        .map_err(write_error)?;
    let chunks = Chunks::new(content_key, nonce_prefix, &header);

    // BLAKE3, not SHA-256: the digest sees every plaintext byte, and BLAKE3 runs at three
    // to five times SHA-256's speed here (docs/PROTOCOL.md, section 9).
    let mut digest = blake3::Hasher::new();
    let mut total = 0u64;
    // One byte more than a chunk: a full chunk is the last exactly when nothing follows it.
    let mut buffer = vec![0u8; STREAM_CHUNK_SIZE + 1];
    let mut filled = fill(&mut input, &mut buffer)?;
    for counter in 0..=u32::MAX {
        let Some((chunk, next)) = buffer.split_at_checked(STREAM_CHUNK_SIZE) else {
            break;
        };
        if filled > STREAM_CHUNK_SIZE {
            digest.update(chunk);
            output
                .write_all(&chunks.seal(counter, false, chunk)?)
                .map_err(write_error)?;
            total += STREAM_CHUNK_SIZE as u64;
            let carried = next.len();
            buffer.copy_within(STREAM_CHUNK_SIZE.., 0);
            filled = carried + fill(&mut input, buffer.get_mut(carried..).unwrap_or_default())?;
            continue;
        }
        let data = buffer.get(..filled).unwrap_or_default();
        digest.update(data);
        total += filled as u64;
        let signed = digest.finalize();
        let signature = signature::sign(
            sender.signing_key(),
            STREAM_SIGNATURE_CONTEXT,
            &[signed.as_bytes()],
        );
        let mut last = Zeroizing::new(Vec::with_capacity(filled + SIGNATURE_LEN));
        last.extend_from_slice(data);
        last.extend_from_slice(&signature);
        output
            .write_all(&chunks.seal(counter, true, &last)?)
            .and_then(|()| output.flush())
            .map_err(write_error)?;
        return Ok(total);
    }
    Err(too_long())
}

/// Opens a stream sealed by [`seal_stream`] as `recipient`, writing the plaintext to
/// `output` as chunks authenticate, and verifies that one of `senders` signed it.
///
/// **Do not use the output until this returns `Ok`.** Chunks are written as they decrypt,
/// but only the signature at the very end shows who wrote the data and that none of it is
/// missing. On any error, delete (or truncate) what was written: it is a prefix of data
/// of unknown origin. The last chunk's data is written only after the signature verified.
///
/// ```
/// use ratchetkit::{open_stream, seal_stream, Error, Identity};
/// # let mut rng = rand::rng();
/// # let alice = Identity::generate(&mut rng, "alice")?;
/// # let bob = Identity::generate(&mut rng, "bob")?;
/// let mut encrypted = Vec::new();
/// seal_stream(&mut rng, &alice, &[bob.card().clone()], &[1u8; 100_000][..], &mut encrypted)?;
///
/// // Cut at the end of the first chunk: detected.
/// let cut = &encrypted[..encrypted.len() - 34_544];
/// let mut output = Vec::new();
/// assert_eq!(open_stream(&bob, &[alice.card().clone()], cut, &mut output), Err(Error::Truncated));
/// output.clear(); // never use what was written before an error
/// # Ok::<(), ratchetkit::Error>(())
/// ```
///
/// # Errors
/// In the order met: [`Error::Io`] if reading or writing fails; [`Error::Truncated`] if
/// the stream ends inside its header or before its last chunk;
/// [`Error::SealedTooLarge`] for a header over [`MAX_STREAM_HEADER_LEN`]; the header errors
/// of [`open`](crate::open) ([`Error::NotARecipient`] among them); [`Error::Tampered`] for a
/// chunk that does not authenticate (altered, reordered, cut inside or followed by extra
/// data); [`Error::NotFromSender`] if no card in `senders` verifies the signature.
pub fn open_stream<In: Read, Out: Write>(
    recipient: &Identity,
    senders: &[Card],
    mut input: In,
    mut output: Out,
) -> Result<OpenedStream> {
    let (header_bytes, header) = read_header(&mut input)?;
    let nonce_prefix = fixed::<NONCE_PREFIX_LEN>(&header.nonce_prefix, "nonce prefix")?;
    let content_key = recipients::open_header(recipient, &header)?;
    let chunks = Chunks::new(content_key, nonce_prefix, &header_bytes);

    // BLAKE3, not SHA-256: the digest sees every plaintext byte, and BLAKE3 runs at three
    // to five times SHA-256's speed here (docs/PROTOCOL.md, section 9).
    let mut digest = blake3::Hasher::new();
    let mut total = 0u64;
    // A last chunk is at most MAX_LAST_CHUNK_LEN bytes, and a chunk that is not the last
    // is followed by at least MIN_LAST_CHUNK_LEN more: so what remains is the last chunk
    // exactly when it is at most MAX_LAST_CHUNK_LEN bytes, which one byte more tells.
    let mut buffer = vec![0u8; MAX_LAST_CHUNK_LEN + 1];
    let mut filled = fill(&mut input, &mut buffer)?;
    for counter in 0..=u32::MAX {
        let Some((sealed, _)) = buffer.split_at_checked(SEALED_CHUNK_LEN) else {
            break;
        };
        if filled > MAX_LAST_CHUNK_LEN {
            let data = chunks.open(counter, false, sealed)?;
            digest.update(&data);
            output.write_all(&data).map_err(write_error)?;
            total += data.len() as u64;
            buffer.copy_within(SEALED_CHUNK_LEN..filled, 0);
            let carried = filled - SEALED_CHUNK_LEN;
            filled = carried + fill(&mut input, buffer.get_mut(carried..).unwrap_or_default())?;
            continue;
        }
        let sealed = buffer.get(..filled).unwrap_or_default();
        if filled < MIN_LAST_CHUNK_LEN {
            return Err(Error::Truncated);
        }
        let mut data = match chunks.open(counter, true, sealed) {
            Ok(data) => data,
            // A chunk that authenticates as not the last: the stream was cut after it.
            Err(_) if chunks.open(counter, false, sealed).is_ok() => return Err(Error::Truncated),
            Err(error) => return Err(error),
        };
        let signature_start = data.len().saturating_sub(SIGNATURE_LEN);
        let signature = data.split_off(signature_start);
        // Only an empty stream ends in a chunk without data (its only chunk): every writer
        // puts a full final chunk in the last chunk, so the encoding is unique.
        if data.is_empty() && counter != 0 {
            return Err(Error::Tampered);
        }
        digest.update(&data);
        total += data.len() as u64;
        let sender = signer(
            senders,
            STREAM_SIGNATURE_CONTEXT,
            digest.finalize().as_bytes(),
            &signature,
        )?;
        output
            .write_all(&data)
            .and_then(|()| output.flush())
            .map_err(write_error)?;
        return Ok(OpenedStream {
            bytes: total,
            sender,
        });
    }
    Err(too_long())
}
