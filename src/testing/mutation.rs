//! Mutations of valid bytes: byte-level damage, protobuf field edits and re-encodings of
//! the same values, inside nested messages too.

use proptest::collection::vec;
use proptest::prelude::*;

/// A protobuf field value with its wire type, for [`Mutation::ReplaceField`] and
/// [`Mutation::InsertField`].
///
/// ```
/// use ratchetkit::testing::{FieldValue, Mutation};
/// // Field 1 of a `LeaveRequest` (its group id) becomes the varint 5.
/// let mutation = Mutation::ReplaceField { field: 0, value: FieldValue::Varint(5) };
/// assert_eq!(mutation.apply(&[0x0a, 1, 7]), [0x08, 5]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FieldValue {
    /// Wire type 0.
    Varint(u64),
    /// Wire type 1.
    Fixed64(u64),
    /// Wire type 2: bytes, a string or a nested message.
    LengthDelimited(Vec<u8>),
    /// Wire type 5.
    Fixed32(u32),
}

impl FieldValue {
    fn wire_type(&self) -> u64 {
        match self {
            Self::Varint(_) => 0,
            Self::Fixed64(_) => 1,
            Self::LengthDelimited(_) => 2,
            Self::Fixed32(_) => 5,
        }
    }

    fn encode(&self, number: u64, out: &mut Vec<u8>) {
        put_varint(out, (number << 3) | self.wire_type());
        match self {
            Self::Varint(value) => put_varint(out, *value),
            Self::Fixed64(value) => out.extend_from_slice(&value.to_le_bytes()),
            Self::LengthDelimited(bytes) => {
                put_varint(out, bytes.len() as u64);
                out.extend_from_slice(bytes);
            }
            Self::Fixed32(value) => out.extend_from_slice(&value.to_le_bytes()),
        }
    }
}

impl Arbitrary for FieldValue {
    type Parameters = ();
    type Strategy = BoxedStrategy<Self>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        prop_oneof![
            3 => prop_oneof![Just(0u64), Just(1u64), any::<u64>()].prop_map(Self::Varint),
            1 => any::<u64>().prop_map(Self::Fixed64),
            4 => prop_oneof![
                Just(Vec::new()),
                vec(any::<u8>(), 32),
                vec(any::<u8>(), 0..=40),
            ]
            .prop_map(Self::LengthDelimited),
            1 => any::<u32>().prop_map(Self::Fixed32),
        ]
        .boxed()
    }
}

/// One change to a byte string, meant for valid messages: every one yields bytes that a
/// strict receiver must reject.
///
/// Positions are plain numbers taken modulo what they index (the input's bytes or bits,
/// or its top-level protobuf fields), so a mutation applies to any input and means the same
/// to every implementation. [`Mutation::apply`] always returns bytes that differ from its
/// input: when a mutation changes nothing (swapping a field with itself, say, or a field
/// edit on bytes that do not parse as protobuf), the input's last bit is flipped instead
/// (or a zero byte appended to empty input).
///
/// The field mutations read the input as a sequence of top-level protobuf fields; the
/// *re-encodings* among them ([`DuplicateField`](Mutation::DuplicateField),
/// [`SwapFields`](Mutation::SwapFields), [`PadVarint`](Mutation::PadVarint)) keep the
/// values a lenient decoder sees and change only the encoding, which the protocol's
/// canonical-encoding rule refuses. [`Within`](Mutation::Within) applies a mutation inside
/// a nested message (a header, a card, a roster) and fixes up its length.
///
/// ```
/// use ratchetkit::testing::Mutation;
/// let valid = [0x0a, 2, 7, 8]; // a `LeaveRequest` with group id [7, 8]
/// assert_eq!(Mutation::FlipBit { bit: 16 }.apply(&valid), [0x0a, 2, 6, 8]);
/// assert_eq!(Mutation::Truncate { len: 3 }.apply(&valid), [0x0a, 2, 7]);
/// assert_eq!(Mutation::PadVarint { field: 0, tag: true }.apply(&valid), [0x8a, 0, 2, 7, 8]);
/// let inner = Mutation::Extend { bytes: vec![9] };
/// let within = Mutation::Within { field: 0, mutation: Box::new(inner) };
/// assert_eq!(within.apply(&valid), [0x0a, 3, 7, 8, 9]);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mutation {
    /// Flips bit `bit` (modulo the input's bits; bit 0 is the first byte's least
    /// significant bit).
    FlipBit {
        /// The bit.
        bit: usize,
    },
    /// Sets the byte at `at` (modulo the length) to `value`.
    SetByte {
        /// The position.
        at: usize,
        /// The new byte.
        value: u8,
    },
    /// Keeps only the first `len` (modulo the length) bytes.
    Truncate {
        /// How many bytes to keep.
        len: usize,
    },
    /// Appends `bytes`.
    Extend {
        /// The bytes appended.
        bytes: Vec<u8>,
    },
    /// Inserts `bytes` before position `at` (modulo the length + 1).
    InsertBytes {
        /// The position.
        at: usize,
        /// The bytes inserted.
        bytes: Vec<u8>,
    },
    /// Removes up to `len` bytes from position `at` (modulo the length).
    RemoveBytes {
        /// The position.
        at: usize,
        /// How many bytes to remove.
        len: usize,
    },
    /// Replaces the value (and wire type) of top-level field `field` (modulo the number of
    /// fields; 0 is the first), keeping its field number.
    ReplaceField {
        /// Which field.
        field: usize,
        /// The new value.
        value: FieldValue,
    },
    /// Removes top-level field `field` (modulo the number of fields).
    RemoveField {
        /// Which field.
        field: usize,
    },
    /// Inserts a field numbered `number` before top-level field `at` (modulo the number
    /// of fields + 1): an unknown field, a second copy of a known one, or a default value
    /// written out.
    InsertField {
        /// Where, among the fields.
        at: usize,
        /// The field number (0 and numbers above 2^29 - 1 are invalid in protobuf).
        number: u32,
        /// The value.
        value: FieldValue,
    },
    /// Writes top-level field `field` (modulo the number of fields) twice in a row: a
    /// re-encoding, since a lenient decoder keeps the last (or appends to a repeated
    /// field, which then has one more element).
    DuplicateField {
        /// Which field.
        field: usize,
    },
    /// Swaps top-level fields `a` and `b` (modulo the number of fields): a re-encoding
    /// with the fields out of order.
    SwapFields {
        /// One field.
        a: usize,
        /// The other.
        b: usize,
    },
    /// Writes a varint of top-level field `field` (modulo the number of fields) with a
    /// redundant trailing zero group (`0x80 0x00` instead of `0x00`): its tag if `tag`,
    /// otherwise its value or, for a length-delimited field, its length (for a fixed-size
    /// field, its tag). A re-encoding.
    PadVarint {
        /// Which field.
        field: usize,
        /// The tag rather than the value or length.
        tag: bool,
    },
    /// Applies `mutation` to the payload of length-delimited top-level field `field`
    /// (modulo the number of such fields) and rewrites its length; to the whole input if it
    /// has no such field.
    Within {
        /// Which length-delimited field.
        field: usize,
        /// What to do inside it.
        mutation: Box<Mutation>,
    },
}

/// A top-level protobuf field as it lies in the input.
struct RawField {
    number: u64,
    wire_type: u8,
    /// The tag's first byte.
    start: usize,
    /// Just past the tag.
    tag_end: usize,
    /// The payload of a length-delimited field, the value otherwise (just past the length
    /// prefix or the tag).
    value_start: usize,
    /// Just past the field.
    end: usize,
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The top-level fields of `bytes`, or `None` if they are not a sequence of well-formed
/// fields (groups, wire types 3 and 4, are not supported).
fn parse_fields(bytes: &[u8]) -> Option<Vec<RawField>> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let start = pos;
        let tag = read_varint(bytes, &mut pos)?;
        let tag_end = pos;
        let wire_type = (tag & 7) as u8;
        let value_start;
        match wire_type {
            0 => {
                value_start = pos;
                read_varint(bytes, &mut pos)?;
            }
            1 => {
                value_start = pos;
                pos = pos.checked_add(8)?;
            }
            2 => {
                let len = usize::try_from(read_varint(bytes, &mut pos)?).ok()?;
                value_start = pos;
                pos = pos.checked_add(len)?;
            }
            5 => {
                value_start = pos;
                pos = pos.checked_add(4)?;
            }
            _ => return None,
        }
        if pos > bytes.len() {
            return None;
        }
        fields.push(RawField {
            number: tag >> 3,
            wire_type,
            start,
            tag_end,
            value_start,
            end: pos,
        });
    }
    Some(fields)
}

/// `bytes[range]`, or nothing if the range is out of bounds (it never is for the ranges
/// of [`parse_fields`]).
fn part(bytes: &[u8], range: core::ops::Range<usize>) -> &[u8] {
    bytes.get(range).unwrap_or_default()
}

/// Index `n` modulo `len`, or `None` if `len` is 0.
fn pick(n: usize, len: usize) -> Option<usize> {
    n.checked_rem(len)
}

/// A varint as in `bytes`, with a redundant zero group: its last byte gets the
/// continuation bit and a zero byte follows.
fn pad(varint: &[u8]) -> Vec<u8> {
    let mut padded = varint.to_vec();
    if let Some(last) = padded.last_mut() {
        *last |= 0x80;
    }
    padded.push(0);
    padded
}

impl Mutation {
    /// The mutated bytes, always different from `bytes`.
    ///
    /// ```
    /// use ratchetkit::testing::Mutation;
    /// // Swapping a field with itself changes nothing, so the last bit is flipped instead.
    /// assert_eq!(Mutation::SwapFields { a: 0, b: 0 }.apply(&[0x08, 1]), [0x08, 0]);
    /// assert_eq!(Mutation::Truncate { len: 0 }.apply(&[]), [0]);
    /// ```
    pub fn apply(&self, bytes: &[u8]) -> Vec<u8> {
        let mut mutated = self.apply_raw(bytes);
        if mutated == bytes {
            match mutated.last_mut() {
                Some(last) => *last ^= 1,
                None => mutated.push(0),
            }
        }
        mutated
    }

    /// The mutation as described, which may leave the bytes as they were.
    fn apply_raw(&self, bytes: &[u8]) -> Vec<u8> {
        let mut out = bytes.to_vec();
        let len = bytes.len();
        match self {
            Self::FlipBit { bit } => {
                if let Some(bit) = pick(*bit, len.saturating_mul(8)) {
                    if let Some(byte) = out.get_mut(bit / 8) {
                        *byte ^= 1 << (bit % 8);
                    }
                }
            }
            Self::SetByte { at, value } => {
                if let Some(byte) = pick(*at, len).and_then(|at| out.get_mut(at)) {
                    *byte = *value;
                }
            }
            Self::Truncate { len: keep } => {
                if let Some(keep) = pick(*keep, len) {
                    out.truncate(keep);
                }
            }
            Self::Extend { bytes: extra } => out.extend_from_slice(extra),
            Self::InsertBytes { at, bytes: extra } => {
                let at = pick(*at, len + 1).unwrap_or(0);
                out.splice(at..at, extra.iter().copied());
            }
            Self::RemoveBytes { at, len: count } => {
                if let Some(at) = pick(*at, len) {
                    let end = at.saturating_add(*count).min(len);
                    out.drain(at..end);
                }
            }
            Self::Within { field, mutation } => {
                let fields = parse_fields(bytes).unwrap_or_default();
                let delimited: Vec<&RawField> =
                    fields.iter().filter(|field| field.wire_type == 2).collect();
                return match pick(*field, delimited.len()).and_then(|i| delimited.get(i)) {
                    Some(field) => {
                        let inner = mutation.apply(part(bytes, field.value_start..field.end));
                        let mut out = part(bytes, 0..field.tag_end).to_vec();
                        put_varint(&mut out, inner.len() as u64);
                        out.extend_from_slice(&inner);
                        out.extend_from_slice(part(bytes, field.end..len));
                        out
                    }
                    None => mutation.apply(bytes),
                };
            }
            _ => return self.apply_to_fields(bytes),
        }
        out
    }

    /// The field mutations: `bytes` unchanged when they do not parse or have no field.
    fn apply_to_fields(&self, bytes: &[u8]) -> Vec<u8> {
        let Some(fields) = parse_fields(bytes) else {
            return bytes.to_vec();
        };
        // The fields' encodings, to be edited and joined again.
        let mut encoded: Vec<Vec<u8>> = fields
            .iter()
            .map(|field| part(bytes, field.start..field.end).to_vec())
            .collect();
        let count = fields.len();
        let chosen = |n: usize| pick(n, count).and_then(|i| Some((i, fields.get(i)?)));
        match self {
            Self::ReplaceField { field, value } => {
                if let Some((i, field)) = chosen(*field) {
                    let mut replacement = Vec::new();
                    value.encode(field.number, &mut replacement);
                    if let Some(slot) = encoded.get_mut(i) {
                        *slot = replacement;
                    }
                }
            }
            Self::RemoveField { field } => {
                if let Some((i, _)) = chosen(*field) {
                    encoded.remove(i);
                }
            }
            Self::InsertField { at, number, value } => {
                let at = pick(*at, count + 1).unwrap_or(0);
                let mut inserted = Vec::new();
                value.encode(u64::from(*number), &mut inserted);
                encoded.insert(at, inserted);
            }
            Self::DuplicateField { field } => {
                if let Some((i, _)) = chosen(*field) {
                    let copy = encoded.get(i).cloned().unwrap_or_default();
                    encoded.insert(i, copy);
                }
            }
            Self::SwapFields { a, b } => {
                if let (Some((a, _)), Some((b, _))) = (chosen(*a), chosen(*b)) {
                    encoded.swap(a, b);
                }
            }
            Self::PadVarint { field, tag } => {
                if let Some((i, field)) = chosen(*field) {
                    let padded = if *tag || field.wire_type == 1 || field.wire_type == 5 {
                        [
                            pad(part(bytes, field.start..field.tag_end)),
                            part(bytes, field.tag_end..field.end).to_vec(),
                        ]
                        .concat()
                    } else {
                        // The value (wire type 0) or the length prefix (wire type 2) lies
                        // between the tag and the value start, or from the tag to the end.
                        let varint_end = if field.wire_type == 0 {
                            field.end
                        } else {
                            field.value_start
                        };
                        [
                            part(bytes, field.start..field.tag_end).to_vec(),
                            pad(part(bytes, field.tag_end..varint_end)),
                            part(bytes, varint_end..field.end).to_vec(),
                        ]
                        .concat()
                    };
                    if let Some(slot) = encoded.get_mut(i) {
                        *slot = padded;
                    }
                }
            }
            _ => {}
        }
        encoded.concat()
    }
}

/// Mutations, byte-level and protobuf-aware in about equal measure; one in four applies
/// inside a nested message ([`Mutation::Within`], at most two levels deep).
///
/// ```
/// use proptest::prelude::*;
/// use ratchetkit::testing::{mutation, Mutation};
///
/// proptest!(|(mutation in mutation(), valid in proptest::collection::vec(any::<u8>(), 0..64))| {
///     prop_assert_ne!(mutation.apply(&valid), valid);
/// });
/// ```
pub fn mutation() -> impl Strategy<Value = Mutation> {
    any::<Mutation>()
}

/// A field number: one a message of the protocol defines most of the time.
fn field_number() -> BoxedStrategy<u32> {
    prop_oneof![4 => 1..=6u32, 1 => any::<u32>()].boxed()
}

impl Arbitrary for Mutation {
    type Parameters = ();
    type Strategy = BoxedStrategy<Self>;

    fn arbitrary_with((): ()) -> Self::Strategy {
        let extra = || vec(any::<u8>(), 1..=16);
        let leaf = prop_oneof![
            3 => any::<usize>().prop_map(|bit| Self::FlipBit { bit }),
            1 => (any::<usize>(), any::<u8>()).prop_map(|(at, value)| Self::SetByte { at, value }),
            2 => any::<usize>().prop_map(|len| Self::Truncate { len }),
            1 => extra().prop_map(|bytes| Self::Extend { bytes }),
            1 => (any::<usize>(), extra()).prop_map(|(at, bytes)| Self::InsertBytes { at, bytes }),
            1 => (any::<usize>(), 1..=8usize).prop_map(|(at, len)| Self::RemoveBytes { at, len }),
            2 => (any::<usize>(), any::<FieldValue>())
                .prop_map(|(field, value)| Self::ReplaceField { field, value }),
            1 => any::<usize>().prop_map(|field| Self::RemoveField { field }),
            2 => (any::<usize>(), field_number(), any::<FieldValue>())
                .prop_map(|(at, number, value)| Self::InsertField { at, number, value }),
            1 => any::<usize>().prop_map(|field| Self::DuplicateField { field }),
            1 => (any::<usize>(), any::<usize>()).prop_map(|(a, b)| Self::SwapFields { a, b }),
            1 => (any::<usize>(), any::<bool>()).prop_map(|(field, tag)| Self::PadVarint { field, tag }),
        ]
        .boxed();
        let within = |inner: BoxedStrategy<Self>| {
            (any::<usize>(), inner)
                .prop_map(|(field, mutation)| Self::Within {
                    field,
                    mutation: Box::new(mutation),
                })
                .boxed()
        };
        let nested = within(leaf.clone());
        let twice_nested = within(nested.clone());
        prop_oneof![12 => leaf, 4 => nested, 1 => twice_nested].boxed()
    }
}
