//! Text from files, cards and paths made safe to print on a terminal.
//!
//! A terminal obeys the control characters it is sent (an escape sequence can hide the rest
//! of a line, move the cursor, or retitle the window), and bidirectional formatting
//! characters reorder what follows them. A card's name, a file name or a message quoting
//! either could use them to show another sender or fingerprint than the real one, so
//! everything the tool prints that did not come from the tool itself goes through
//! [`text`] or [`path`] first.

use std::path::Path;

/// The characters that change how what follows them is shown, besides controls: the
/// bidirectional embeddings and overrides (U+202A..=U+202E), isolates (U+2066..=U+2069) and
/// marks (U+200E, U+200F, U+061C), and the line and paragraph separators (U+2028, U+2029),
/// which some terminals and viewers break lines at.
const LAYOUT_CHARACTERS: [char; 14] = [
    '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{2028}', '\u{2029}',
];

/// Whether `c` is written escaped: a control character (Unicode category Cc: C0, DEL, C1)
/// or one of [`LAYOUT_CHARACTERS`].
fn escaped(c: char) -> bool {
    c.is_control() || LAYOUT_CHARACTERS.contains(&c)
}

/// `text` with every control and layout character written as a Rust escape (`\n`, `\t`,
/// `\u{1b}`, `\u{202e}`), everything else as it is.
///
/// The result holds no such character, so escaping it again changes nothing, and whole
/// messages can be escaped where they are printed even when a part of them already was.
/// Backslashes stay as they are (Windows paths read as they should): that a name shows
/// `\u{1b}` literally cannot be told from an escaped escape character, which is harmless
/// since the library refuses such names on cards.
pub fn text(text: &str) -> String {
    let mut shown = String::with_capacity(text.len());
    for c in text.chars() {
        if escaped(c) {
            shown.extend(c.escape_debug());
        } else {
            shown.push(c);
        }
    }
    shown
}

/// [`text`] of a path as `Path::display` writes it.
pub fn path(path: &Path) -> String {
    text(&path.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn controls_and_layout_characters_are_escaped() {
        let cases = [
            ("mallory\u{1b}[8m alice", "mallory\\u{1b}[8m alice"),
            ("two\nlines\r\t", "two\\nlines\\r\\t"),
            ("nul\0 del\u{7f} csi\u{9b}", "nul\\0 del\\u{7f} csi\\u{9b}"),
            ("\u{202e}ecila", "\\u{202e}ecila"),
            ("iso\u{2066}x\u{2069}", "iso\\u{2066}x\\u{2069}"),
            (
                "marks\u{200e}\u{200f}\u{61c}",
                "marks\\u{200e}\\u{200f}\\u{61c}",
            ),
            ("line\u{2028}para\u{2029}", "line\\u{2028}para\\u{2029}"),
        ];
        for (raw, expected) in cases {
            let shown = text(raw);
            assert_eq!(shown, expected);
            assert!(!shown.chars().any(escaped), "{shown:?}");
            assert_eq!(text(&shown), shown, "escaping twice changes nothing");
        }
    }

    #[test]
    fn ordinary_text_is_left_alone() {
        for plain in [
            "alice@example.org",
            "Zoë Ölund",
            "e\u{301}mile",
            "名前 محمد",
            "\u{1f469}\u{200d}\u{1f4bb}",
            "o'brien \"quoted\" C:\\keys\\alice.key",
        ] {
            assert_eq!(text(plain), plain);
        }
    }

    #[test]
    fn paths_are_escaped_too() {
        let hostile = Path::new("dir/\u{1b}[2Jwiped.card");
        assert_eq!(path(hostile), "dir/\\u{1b}[2Jwiped.card");
    }
}
