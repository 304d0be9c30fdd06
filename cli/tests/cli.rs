//! The `ratchetkit` binary end to end: each test runs it in a directory of its own, with the
//! password in `RATCHETKIT_PASSWORD`.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use ratchetkit::Card;

/// A fresh directory under the system's temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(test: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "ratchetkit-cli-{test}-{}-{nanos}",
            std::process::id()
        ));
        fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// Runs `ratchetkit args...` here with `password` in the environment.
    fn run_with(&self, password: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ratchetkit"))
            .current_dir(&self.0)
            .args(args)
            .env("RATCHETKIT_PASSWORD", password)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs with each person's password, `<name>-password`, chosen from the `--key` file.
    fn run(&self, args: &[&str]) -> Output {
        let password = args
            .iter()
            .position(|arg| *arg == "--key" || *arg == "--out")
            .and_then(|at| args.get(at + 1))
            .map(|file| format!("{}-password", file.trim_end_matches(".key")))
            .unwrap_or_default();
        self.run_with(&password, args)
    }

    /// `keygen` and `card` for each name: `<name>.key` and `<name>.card`.
    fn people(&self, names: &[&str]) {
        for name in names {
            let key = format!("{name}.key");
            succeeds(self.run(&["keygen", "--name", name, "--out", &key]));
            let card = succeeds(self.run(&["card", "--key", &key]));
            fs::write(self.path(&format!("{name}.card")), card.stdout).unwrap();
        }
    }

    /// The names in the directory, sorted.
    fn listing(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(&self.0)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        names
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn succeeds(output: Output) -> Output {
    assert!(
        output.status.success(),
        "failed: {:?}\n{}",
        output.status,
        stderr(&output)
    );
    output
}

/// Asserts a failure with exit code 1 and one `error: ...` line containing `expected`.
fn fails_with(output: &Output, expected: &str) {
    let message = stderr(output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.starts_with("error: ") && message.trim_end().lines().count() == 1,
        "not one error line: {message:?}"
    );
    assert!(
        message.contains(expected),
        "{message:?} does not say {expected:?}"
    );
}

fn no_partial_files(scratch: &Scratch) {
    let listing = scratch.listing();
    assert!(
        listing.iter().all(|name| !name.ends_with(".partial")),
        "{listing:?}"
    );
}

fn contents(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn keygen_writes_a_locked_key_and_card_prints_its_card() {
    let scratch = Scratch::new("keygen");
    let output = scratch.run(&["keygen", "--name", "alice", "--out", "alice.key"]);
    assert!(stderr(&succeeds(output)).contains("fingerprint"));
    let locked = fs::read(scratch.path("alice.key")).unwrap();
    let (alice, _) = ratchetkit::Identity::unlock(&locked, b"alice-password").unwrap();

    let printed = String::from_utf8(
        succeeds(scratch.run(&["card", "--key", "alice.key"]))
            .stdout
            .clone(),
    )
    .unwrap();
    let card = Card::from_base64(printed.trim()).unwrap();
    assert_eq!(card.identity(), "alice");
    assert_eq!(&card, alice.card());
}

#[test]
fn sealed_files_open_for_every_recipient_and_the_sender() {
    let scratch = Scratch::new("round-trip");
    scratch.people(&["alice", "bob", "carol"]);
    let plaintext = contents(100_000);
    fs::write(scratch.path("letter.txt"), &plaintext).unwrap();

    succeeds(scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        "--to",
        "carol.card",
        "letter.txt",
        "letter.sealed",
    ]));
    for (who, out) in [
        ("bob", "bob.txt"),
        ("carol", "carol.txt"),
        ("alice", "alice.txt"),
    ] {
        let key = format!("{who}.key");
        let output = scratch.run(&[
            "open",
            "--key",
            &key,
            "--from",
            "alice.card",
            "letter.sealed",
            out,
        ]);
        assert!(stderr(&succeeds(output)).contains("from alice"));
        assert_eq!(fs::read(scratch.path(out)).unwrap(), plaintext, "{who}");
    }

    // With --no-self the sender cannot open its own file.
    succeeds(scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        "--no-self",
        "letter.txt",
        "only-bob",
    ]));
    let output = scratch.run(&["open", "--key", "alice.key", "only-bob", "alice-again.txt"]);
    fails_with(&output, "not a recipient");
    no_partial_files(&scratch);
}

#[test]
fn a_file_over_8_mib_goes_through_the_progress_bar() {
    let scratch = Scratch::new("large");
    scratch.people(&["alice", "bob"]);
    let plaintext = contents(9 * 1024 * 1024 + 17);
    fs::write(scratch.path("big.bin"), &plaintext).unwrap();
    // stderr is a pipe here: the bar must stay out of the way, not break the command.
    succeeds(scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        "big.bin",
        "big.sealed",
    ]));
    succeeds(scratch.run(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        "big.sealed",
        "big.out",
    ]));
    assert!(fs::read(scratch.path("big.out")).unwrap() == plaintext);
}

#[test]
fn failures_leave_no_output_and_say_why() {
    let scratch = Scratch::new("failures");
    scratch.people(&["alice", "bob", "carol", "dave"]);
    fs::write(scratch.path("in.txt"), contents(50_000)).unwrap();
    succeeds(scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        "--to",
        "carol.card",
        "in.txt",
        "in.sealed",
    ]));

    // Dave is not a recipient.
    let output = scratch.run(&[
        "open",
        "--key",
        "dave.key",
        "--from",
        "alice.card",
        "in.sealed",
        "out.txt",
    ]);
    fails_with(&output, "not a recipient");

    // Bob expects the file from Carol, but Alice signed it.
    let output = scratch.run(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "carol.card",
        "in.sealed",
        "out.txt",
    ]);
    fails_with(&output, "none of the --from cards");

    // A byte changed in the middle.
    let mut sealed = fs::read(scratch.path("in.sealed")).unwrap();
    let middle = sealed.len() / 2;
    sealed[middle] ^= 0x20;
    fs::write(scratch.path("tampered.sealed"), &sealed).unwrap();
    let output = scratch.run(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        "tampered.sealed",
        "out.txt",
    ]);
    fails_with(&output, "tampered");

    // Cut short.
    let sealed = fs::read(scratch.path("in.sealed")).unwrap();
    fs::write(scratch.path("short.sealed"), &sealed[..sealed.len() - 100]).unwrap();
    let output = scratch.run(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        "short.sealed",
        "out.txt",
    ]);
    fails_with(&output, "nothing was written");

    // A wrong password, for every command that reads a key file.
    for args in [
        &["card", "--key", "bob.key"][..],
        &[
            "open",
            "--key",
            "bob.key",
            "--from",
            "alice.card",
            "in.sealed",
            "out.txt",
        ],
        &[
            "seal",
            "--key",
            "bob.key",
            "--to",
            "alice.card",
            "in.txt",
            "out.txt",
        ],
    ] {
        fails_with(
            &scratch.run_with("not bob's password", args),
            "wrong password for bob.key",
        );
    }

    assert!(!scratch.path("out.txt").exists());
    no_partial_files(&scratch);
}

#[test]
fn missing_and_malformed_files_are_reported() {
    let scratch = Scratch::new("missing");
    scratch.people(&["alice", "bob"]);
    fs::write(scratch.path("in.txt"), b"hello").unwrap();
    fs::write(scratch.path("junk.card"), b"not a card").unwrap();

    fails_with(
        &scratch.run(&["card", "--key", "nobody.key"]),
        "nobody.key: no such file",
    );
    fails_with(
        &scratch.run(&[
            "seal",
            "--key",
            "alice.key",
            "--to",
            "bob.card",
            "absent.txt",
            "out",
        ]),
        "absent.txt: no such file",
    );
    fails_with(
        &scratch.run(&[
            "seal",
            "--key",
            "alice.key",
            "--to",
            "nobody.card",
            "in.txt",
            "out",
        ]),
        "nobody.card: no such file",
    );
    fails_with(
        &scratch.run(&[
            "seal",
            "--key",
            "alice.key",
            "--to",
            "junk.card",
            "in.txt",
            "out",
        ]),
        "junk.card is not a card",
    );
    fails_with(
        &scratch.run_with("x", &["card", "--key", "in.txt"]),
        "in.txt is not a ratchetkit key file",
    );
    fails_with(
        &scratch.run(&[
            "open",
            "--key",
            "bob.key",
            "--from",
            "alice.card",
            "in.txt",
            "out",
        ]),
        "in.txt is not a file sealed by ratchetkit",
    );
    assert!(!scratch.path("out").exists());
    no_partial_files(&scratch);
}

#[test]
fn keygen_refuses_to_overwrite_without_force() {
    let scratch = Scratch::new("overwrite");
    scratch.people(&["alice"]);
    let before = fs::read(scratch.path("alice.key")).unwrap();
    fails_with(
        &scratch.run(&["keygen", "--name", "alice", "--out", "alice.key"]),
        "alice.key already exists; pass --force",
    );
    assert_eq!(fs::read(scratch.path("alice.key")).unwrap(), before);

    succeeds(scratch.run(&["keygen", "--name", "alice", "--out", "alice.key", "--force"]));
    assert_ne!(fs::read(scratch.path("alice.key")).unwrap(), before);

    // Outputs of seal are protected the same way.
    fs::write(scratch.path("in.txt"), b"hello").unwrap();
    fs::write(scratch.path("taken"), b"keep me").unwrap();
    fails_with(
        &scratch.run(&[
            "seal",
            "--key",
            "alice.key",
            "--to",
            "alice.card",
            "in.txt",
            "taken",
        ]),
        "taken already exists",
    );
    assert_eq!(fs::read(scratch.path("taken")).unwrap(), b"keep me");
}

#[test]
fn bad_passwords_and_command_lines_are_refused() {
    let scratch = Scratch::new("usage");
    fails_with(
        &scratch.run_with("", &["keygen", "--name", "alice", "--out", "alice.key"]),
        "password is empty",
    );
    fails_with(
        &scratch.run_with("pw", &["keygen", "--name", "", "--out", "alice.key"]),
        "cannot use the name",
    );
    assert!(!scratch.path("alice.key").exists());
    // clap's usage errors exit with 2.
    let output = scratch.run(&["seal", "--key", "alice.key", "in", "out"]);
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let output = scratch.run(&["frobnicate"]);
    assert_eq!(output.status.code(), Some(2));
}

/// Asserts that `output` wrote no control character (but line ends) and no bidirectional
/// formatting character to stdout or stderr.
fn no_raw_controls(output: &Output) {
    for (stream, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        let text = String::from_utf8_lossy(bytes);
        let raw = text.chars().find(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
                || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
        });
        assert_eq!(raw, None, "{stream} holds a raw control: {text:?}");
    }
}

/// `card`'s bytes with its name replaced by `name` (and the signer of its second
/// signature entry, if `signer` is given), its signatures kept: a hand-made card file.
fn tampered_card(card: &Card, name: &str, signer: Option<&str>) -> Vec<u8> {
    use prost::Message as _;
    use ratchetkit::wire::v1;
    let mut signed = v1::SignedCard::decode(card.to_bytes().as_slice()).unwrap();
    let mut content = v1::CardContent::decode(signed.content.as_slice()).unwrap();
    content.identity = name.to_owned();
    signed.content = content.encode_to_vec();
    if let Some(signer) = signer {
        let copy = signed.signatures[0].clone();
        for _ in 0..2 {
            signed.signatures.push(v1::CardSignature {
                signer: signer.to_owned(),
                ..copy.clone()
            });
        }
    }
    signed.encode_to_vec()
}

const HOSTILE: &str = "mallory\u{1b}[8m\u{202e} (fingerprint 00)\u{1b}[0m\n\u{9b}2J";

#[test]
fn a_hostile_name_in_a_card_never_reaches_the_terminal_raw() {
    let scratch = Scratch::new("hostile-card");
    scratch.people(&["alice", "bob"]);
    let alice =
        Card::from_base64(&fs::read_to_string(scratch.path("alice.card")).unwrap()).unwrap();
    fs::write(scratch.path("letter.txt"), b"hello").unwrap();
    succeeds(scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        "letter.txt",
        "letter.sealed",
    ]));

    // A card renamed by hand is refused by the library: its name never gets printed.
    let renamed = tampered_card(&alice, HOSTILE, None);
    fs::write(scratch.path("renamed.card"), &renamed).unwrap();
    // A card whose repeated signer holds the sequence is refused with that signer quoted.
    let repeated = tampered_card(&alice, "alice", Some(HOSTILE));
    fs::write(scratch.path("repeated.card"), &repeated).unwrap();
    for (card, expected) in [
        (
            "renamed.card",
            "without control or bidirectional formatting characters",
        ),
        ("repeated.card", "more than one signature by"),
    ] {
        let output = scratch.run(&[
            "open",
            "--key",
            "bob.key",
            "--from",
            card,
            "letter.sealed",
            "out.txt",
        ]);
        fails_with(&output, expected);
        no_raw_controls(&output);
        assert!(!scratch.path("out.txt").exists());
    }

    // Names given to keygen are refused the same way, and quoted escaped.
    let output = scratch.run(&["keygen", "--name", HOSTILE, "--out", "mallory.key"]);
    fails_with(&output, "cannot use the name \"mallory\\u{1b}[8m");
    no_raw_controls(&output);
    assert!(!scratch.path("mallory.key").exists());
}

#[test]
fn hostile_file_names_are_printed_escaped() {
    let scratch = Scratch::new("hostile-paths");
    scratch.people(&["alice", "bob"]);
    let hostile = format!("{HOSTILE}.txt");
    fs::write(scratch.path(&hostile), b"hello").unwrap();
    let sealed = format!("{HOSTILE}.sealed");

    // Successes name their files...
    let output = scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        &hostile,
        &sealed,
    ]);
    no_raw_controls(&succeeds(output.clone()));
    assert!(stderr(&output).contains("mallory\\u{1b}[8m\\u{202e} (fingerprint 00)"));
    let output = scratch.run(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        &sealed,
        &hostile.replace(".txt", ".opened"),
    ]);
    no_raw_controls(&succeeds(output.clone()));
    assert!(stderr(&output).contains("from alice (fingerprint"));

    // ...and so do failures: a missing card, an existing output, a file that is no card.
    let missing = format!("{HOSTILE}.card");
    let output = scratch.run(&[
        "open", "--key", "bob.key", "--from", &missing, &sealed, "out.txt",
    ]);
    fails_with(&output, "no such file");
    no_raw_controls(&output);
    let output = scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        &hostile,
        &sealed,
    ]);
    fails_with(&output, "already exists");
    no_raw_controls(&output);
    let output = scratch.run(&[
        "open", "--key", "bob.key", "--from", &hostile, &sealed, "out.txt",
    ]);
    fails_with(&output, "is not a card");
    no_raw_controls(&output);
}
