//! A mutation that makes inputs large the way an attacker would: one protobuf field entry of
//! the input, at any depth, repeated until the input is up to `-max_len` bytes long, with
//! the lengths of the messages around it fixed up so that it still parses.
//!
//! libFuzzer's own mutations grow an input by a few bytes at a time, and only keep a larger
//! input when it reaches new code; a parser that allocates or compares per repeated entry
//! reaches no new code with 10,000 entries than with 10, so inputs stay a few kilobytes
//! and `-max_len`, `-malloc_limit_mb` and `-rss_limit_mb` never come into play. The targets
//! that parse protobuf install [`mutate`] (with [`hostile_input!`](crate::hostile_input)),
//! which hands most mutations to libFuzzer and one in [`ONE_IN`] to [`amplify`].
//!
//! The repeated unit is the entry itself, the entry emptied (two bytes on the wire, a whole
//! element in memory) or the entry holding only one of its fields; in half of the cases
//! each copy is made distinct by writing a counter (base-64 digits, valid UTF-8) over the
//! last bytes of the unit, so that checks for repeated values must do their work.

/// One mutation in this many is an amplification.
pub const ONE_IN: u64 = 64;

/// Inputs longer than this are not amplified again (nor parsed for it).
const MAX_INPUT: usize = 64 * 1024;
/// Inputs longer than this run but never enter the corpus (see [`corpus`]).
pub const MAX_CORPUS_INPUT: usize = 128 * 1024;
/// Field entries parsed at most.
const MAX_FIELDS: usize = 4096;
/// Nesting followed at most.
const MAX_DEPTH: usize = 8;

/// A field entry of the input: `start..end` is the whole entry (key, length, value).
#[derive(Clone, Copy, Debug)]
struct Field {
    start: usize,
    end: usize,
    /// For a length-delimited entry: the span of its length varint (the content follows).
    len_span: Option<(usize, usize)>,
    /// The entry of the message this one is a field of.
    parent: Option<usize>,
}

/// SplitMix64: a small generator seeded by libFuzzer's seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn read_varint(buf: &[u8], mut pos: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(pos)?;
        pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some((value, pos));
        }
    }
    None
}

fn write_varint(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn varint(value: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_varint(value, &mut out);
    out
}

/// Parses `buf[from..to]` as protobuf fields into `out`. A nested message is parsed when
/// its content parses whole. At the top (`partial`), the fields before the first that does
/// not parse are kept; below it, a message parses whole or not at all (`false`).
fn parse(
    buf: &[u8],
    from: usize,
    to: usize,
    parent: Option<usize>,
    depth: usize,
    partial: bool,
    out: &mut Vec<Field>,
) -> bool {
    let mark = out.len();
    let mut pos = from;
    while pos < to {
        if out.len() >= MAX_FIELDS {
            return true;
        }
        let start = pos;
        let entry = read_varint(&buf[..to], pos).and_then(|(key, after)| {
            if key >> 3 == 0 || key >> 3 > u64::from(u32::MAX >> 3) {
                return None;
            }
            match key & 7 {
                0 => read_varint(&buf[..to], after).map(|(_, end)| (end, None)),
                1 => Some((after + 8, None)).filter(|&(end, _)| end <= to),
                5 => Some((after + 4, None)).filter(|&(end, _)| end <= to),
                2 => {
                    let (len, content) = read_varint(&buf[..to], after)?;
                    let end = content.checked_add(usize::try_from(len).ok()?)?;
                    (end <= to).then_some((end, Some((after, content))))
                }
                _ => None,
            }
        });
        let Some((end, len_span)) = entry else {
            if !partial {
                out.truncate(mark);
            }
            return partial;
        };
        out.push(Field {
            start,
            end,
            len_span,
            parent,
        });
        let index = out.len() - 1;
        if let Some((_, content)) = len_span {
            if depth < MAX_DEPTH && content < end {
                parse(buf, content, end, Some(index), depth + 1, false, out);
            }
        }
        pos = end;
    }
    true
}

/// The fields of `input`, parsed from its start, or after a one-byte prefix (the choice
/// byte of several targets) when that finds more.
fn fields(input: &[u8]) -> Vec<Field> {
    let mut best = Vec::new();
    for skip in [0, 1] {
        let mut found = Vec::new();
        if skip < input.len() {
            parse(input, skip, input.len(), None, 0, true, &mut found);
        }
        if found.len() > best.len() {
            best = found;
        }
    }
    best
}

/// The key bytes of an entry (up to its length varint or value).
fn key_span(input: &[u8], field: &Field) -> usize {
    read_varint(input, field.start).map_or(field.start, |(_, after)| after)
}

/// Writes `counter` in base-64 digits over the last bytes of `unit[from..]` (at most 4).
fn stamp(unit: &mut [u8], from: usize, counter: usize) {
    const DIGITS: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let width = (unit.len() - from).min(4);
    let len = unit.len();
    for i in 0..width {
        unit[len - 1 - i] = DIGITS[(counter >> (6 * i)) & 63];
    }
}

/// `input` with one field entry repeated, up to `max_size` bytes in all; `None` when the
/// input has no field entry to repeat or no room.
pub fn amplify(input: &[u8], max_size: usize, seed: u64) -> Option<Vec<u8>> {
    if input.len() > MAX_INPUT {
        return None;
    }
    let mut rng = Rng(seed);
    let fields = fields(input);
    if fields.is_empty() {
        return None;
    }
    let chosen_index = rng.below(fields.len());
    let chosen = fields[chosen_index];
    let key_end = key_span(input, &chosen);
    // The whole entry, a counter going over its content.
    let whole = |content: usize| {
        (
            input[chosen.start..chosen.end].to_vec(),
            Some(content - chosen.start),
        )
    };

    // The unit to repeat, and where in it a counter may go (its last value's content).
    let (mut unit, stamp_from) = match chosen.len_span {
        Some((_, content)) => match rng.below(3) {
            // The entry emptied: its key and a zero length.
            0 => {
                let mut unit = input[chosen.start..key_end].to_vec();
                unit.push(0);
                (unit, None)
            }
            // The entry with only one of its fields, when it has any.
            1 => {
                let children: Vec<&Field> = fields
                    .iter()
                    .filter(|field| field.parent == Some(chosen_index))
                    .collect();
                if children.is_empty() {
                    whole(content)
                } else {
                    let child = children[rng.below(children.len())];
                    let body = &input[child.start..child.end];
                    let mut unit = input[chosen.start..key_end].to_vec();
                    write_varint(body.len() as u64, &mut unit);
                    let body_at = unit.len();
                    unit.extend_from_slice(body);
                    let stamp_from = child
                        .len_span
                        .map(|(_, child_content)| body_at + child_content - child.start);
                    (unit, stamp_from)
                }
            }
            _ => whole(content),
        },
        None => (input[chosen.start..chosen.end].to_vec(), None),
    };
    let distinct = stamp_from.filter(|&from| from < unit.len() && rng.below(2) == 0);

    // How large to make it: mostly moderate, sometimes as large as allowed.
    let room = max_size.checked_sub(input.len() + 16 * (MAX_DEPTH + 1))?;
    let target = match rng.below(4) {
        0 => room.min(16 * 1024),
        1 => room.min(256 * 1024),
        _ => room,
    };
    let copies = target / unit.len().max(1);
    if copies == 0 {
        return None;
    }
    let mut inserted = Vec::with_capacity(copies * unit.len());
    for counter in 0..copies {
        if let Some(from) = distinct {
            stamp(&mut unit, from, counter + 1);
        }
        inserted.extend_from_slice(&unit);
    }

    // The new length of every message around the entry, innermost first.
    // Signed: a parent's length may have been a non-minimal varint that the new, minimal
    // encoding makes shorter.
    let mut grown = inserted.len() as i64;
    let mut replaced = Vec::new();
    let mut parent = chosen.parent;
    while let Some(index) = parent {
        let around = fields[index];
        let (len_start, content) = around.len_span.expect("a parent is length-delimited");
        let new_len = u64::try_from((around.end - content) as i64 + grown).ok()?;
        let encoded = varint(new_len);
        grown += encoded.len() as i64 - (content - len_start) as i64;
        replaced.push((len_start, content, encoded));
        parent = around.parent;
    }
    replaced.reverse();
    let mut out = Vec::with_capacity(usize::try_from(input.len() as i64 + grown).ok()?);
    let mut cursor = 0;
    for (from, to, encoded) in replaced {
        out.extend_from_slice(&input[cursor..from]);
        out.extend_from_slice(&encoded);
        cursor = to;
    }
    out.extend_from_slice(&input[cursor..chosen.end]);
    out.extend_from_slice(&inserted);
    out.extend_from_slice(&input[chosen.end..]);
    (out.len() <= max_size).then_some(out)
}

/// A libFuzzer custom mutation: one in [`ONE_IN`] an [`amplify`], else (or when that finds
/// nothing to repeat) `mutate`, libFuzzer's own (`libfuzzer_sys::fuzzer_mutate`).
pub fn mutate(
    data: &mut [u8],
    size: usize,
    max_size: usize,
    seed: u32,
    fallback: fn(&mut [u8], usize, usize) -> usize,
) -> usize {
    let mut rng = Rng(u64::from(seed));
    if rng.next().is_multiple_of(ONE_IN) {
        if let Some(out) = amplify(&data[..size], max_size.min(data.len()), rng.next()) {
            data[..out.len()].copy_from_slice(&out);
            return out.len();
        }
    }
    fallback(data, size, max_size)
}

/// What a target returns to libFuzzer for `data`: an amplified input runs (and a crash,
/// timeout or memory limit on it is reported) but does not enter the corpus, even when it
/// reaches new code (a loop bound counted once more). Kept, it would be mutated further,
/// and every input made from it would cost as much as itself: the run would slow to a
/// crawl on megabyte inputs.
pub fn corpus(data: &[u8]) -> libfuzzer_sys::Corpus {
    if data.len() > MAX_CORPUS_INPUT {
        libfuzzer_sys::Corpus::Reject
    } else {
        libfuzzer_sys::Corpus::Keep
    }
}
