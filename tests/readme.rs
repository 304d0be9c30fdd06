//! The README is the crate's front page on GitHub, on crates.io and, through
//! `#![doc = include_str!("../README.md")]`, on docs.rs (issue 16): it stays short, and
//! every link in it works on all three, which relative links do not on docs.rs.

/// The README's size limit: a front door, with the rest in docs/.
const MAX_README_BYTES: usize = 15_000;

const README: &str = include_str!("../README.md");

#[test]
fn the_readme_stays_a_front_door() {
    assert!(
        README.len() <= MAX_README_BYTES,
        "README.md is {} bytes, over {MAX_README_BYTES}: move the detail to docs/",
        README.len()
    );
}

#[test]
fn every_readme_link_is_absolute() {
    let mut links = 0;
    for (at, _) in README.match_indices("](") {
        let target = &README[at + 2..];
        let end = target.find(')').expect("a markdown link closes");
        let target = &target[..end];
        assert!(
            target.starts_with("https://"),
            "README.md links to {target:?}, which is broken on docs.rs: use an absolute URL"
        );
        links += 1;
    }
    assert!(links > 10, "the README's links were not found ({links})");
}
