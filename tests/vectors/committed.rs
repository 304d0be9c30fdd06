//! The committed vector files, as the tests read them.

use serde::de::DeserializeOwned;

/// A committed file of `tests/vectors/`, and the command that makes it.
pub struct VectorFile {
    pub name: &'static str,
    pub command: &'static str,
}

impl VectorFile {
    pub fn text(&self) -> String {
        let path = format!("{}/tests/vectors/{}", env!("CARGO_MANIFEST_DIR"), self.name);
        std::fs::read_to_string(&path).unwrap_or_else(|error| {
            panic!(
                "cannot read {path}: {error}; generate it with `{}`",
                self.command
            )
        })
    }

    pub fn parse<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(&self.text())
            .unwrap_or_else(|error| panic!("{} parses: {error}", self.name))
    }

    /// Writes `fresh` over the committed file when `RATCHETKIT_WRITE_VECTORS` is set (an
    /// intended change), then checks it as [`VectorFile::assert_is`] does.
    // The group and channel vectors are written by `examples/generate_vectors.rs` instead,
    // and their test crates include this file too.
    #[allow(dead_code)]
    pub fn write_if_asked_then_assert_is(&self, fresh: &str) {
        if std::env::var_os("RATCHETKIT_WRITE_VECTORS").is_some() {
            let path = format!("{}/tests/vectors/{}", env!("CARGO_MANIFEST_DIR"), self.name);
            std::fs::write(&path, fresh).expect("write the vectors");
        }
        self.assert_is(fresh);
    }

    /// Panics unless the committed file is `fresh`, what the generator prints today.
    pub fn assert_is(&self, fresh: &str) {
        let committed = self.text();
        if committed != fresh {
            let line = committed
                .lines()
                .zip(fresh.lines())
                .position(|(a, b)| a != b)
                .map_or_else(|| "the end".to_owned(), |i| format!("line {}", i + 1));
            panic!(
                "tests/vectors/{} differs from a fresh generation (first at {line}). If the \
                 change is intended, regenerate it with `{}`",
                self.name, self.command
            );
        }
    }
}
