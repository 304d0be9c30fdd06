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

    /// Runs `ratchetkit args...` here with no password in the environment and nothing on
    /// stdin: a command that asks for a password fails.
    fn run_without_password(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_ratchetkit"))
            .current_dir(&self.0)
            .args(args)
            .env_remove("RATCHETKIT_PASSWORD")
            .env_remove("RATCHETKIT_NEW_PASSWORD")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    /// Runs `ratchetkit args...` here with `password`, `stdin` piped in.
    fn run_piped(&self, password: &str, args: &[&str], stdin: &[u8]) -> Output {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ratchetkit"))
            .current_dir(&self.0)
            .args(args)
            .env("RATCHETKIT_PASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut input = child.stdin.take().unwrap();
        let stdin = stdin.to_vec();
        // A writer thread: the child may fill its stdout pipe before it has read stdin.
        let writer = std::thread::spawn(move || {
            use std::io::Write;
            let _ = input.write_all(&stdin);
        });
        let output = child.wait_with_output().unwrap();
        writer.join().unwrap();
        output
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
    /// Alice seals `plaintext` (as in.txt) for Bob into in.sealed.
    fn alice_seals_for_bob(&self, plaintext: &[u8]) {
        fs::write(self.path("in.txt"), plaintext).unwrap();
        succeeds(self.run(&[
            "seal",
            "--key",
            "alice.key",
            "--to",
            "bob.card",
            "in.txt",
            "in.sealed",
        ]));
    }

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
    fails_with(
        &output,
        "signed by none of the cards tried (carol (fingerprint",
    );
    fails_with(&output, "pass it with --from CARD");

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

    // A wrong password, for every command that unlocks a key file.
    for args in [
        &["passwd", "--key", "bob.key"][..],
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

#[test]
fn card_prints_the_card_file_without_a_password() {
    let scratch = Scratch::new("card-file");
    succeeds(scratch.run(&["keygen", "--name", "alice", "--out", "alice.key"]));
    // keygen wrote the card beside the key: the card is public, no password to read it.
    let written =
        Card::from_base64(&fs::read_to_string(scratch.path("alice.card")).unwrap()).unwrap();
    let output = succeeds(scratch.run_without_password(&["card", "--key", "alice.key"]));
    let printed = Card::from_base64(String::from_utf8(output.stdout).unwrap().trim()).unwrap();
    assert_eq!(printed, written);
    let locked = fs::read(scratch.path("alice.key")).unwrap();
    let (alice, _) = ratchetkit::Identity::unlock(&locked, b"alice-password").unwrap();
    assert_eq!(&printed, alice.card());

    // A key without its card file (made before keygen wrote one): unlocked, and the card
    // file written again.
    fs::remove_file(scratch.path("alice.card")).unwrap();
    fails_with(
        &scratch.run_without_password(&["card", "--key", "alice.key"]),
        "cannot ask for the password",
    );
    succeeds(scratch.run(&["card", "--key", "alice.key"]));
    assert_eq!(
        Card::from_base64(&fs::read_to_string(scratch.path("alice.card")).unwrap()).unwrap(),
        written
    );

    // A key file named otherwise gets `.card` appended, never replacing the key.
    succeeds(scratch.run_with("pw", &["keygen", "--name", "bob", "--out", "bob.secret"]));
    assert!(scratch.path("bob.secret.card").exists());
}

#[test]
fn keygen_refuses_names_and_outputs_before_asking_for_a_password() {
    let scratch = Scratch::new("keygen-order");
    // No password in the environment and no terminal: reaching the prompt would fail with
    // "cannot ask for the password"; these fail first, with their own reason.
    fails_with(
        &scratch.run_without_password(&["keygen", "--name", "", "--out", "a.key"]),
        "cannot use the name",
    );
    fails_with(
        &scratch.run_without_password(&["keygen", "--name", "a\u{1b}[2J", "--out", "a.key"]),
        "cannot use the name",
    );
    fs::write(scratch.path("taken.card"), b"someone's card").unwrap();
    fails_with(
        &scratch.run_without_password(&["keygen", "--name", "alice", "--out", "taken.key"]),
        "taken.card already exists; pass --force",
    );
    fails_with(
        &scratch.run_without_password(&["keygen", "--name", "alice", "--out", "/dev/null"]),
        "not a regular file",
    );
    fails_with(
        &scratch.run_without_password(&["keygen", "--name", "alice", "--out", "-"]),
        "a key file cannot go to stdout",
    );
    fails_with(
        &scratch.run_without_password(&["keygen", "--name", "alice", "--out", "b.key"]),
        "cannot ask for the password",
    );
    assert_eq!(scratch.listing(), ["taken.card"]);
}

#[test]
fn outputs_are_never_symlinks_devices_or_directories() {
    let scratch = Scratch::new("regular-outputs");
    scratch.people(&["alice", "bob"]);
    fs::write(scratch.path("in.txt"), b"hello").unwrap();
    fs::write(scratch.path("elsewhere"), b"keep me").unwrap();
    succeeds(scratch.run(&[
        "seal",
        "--key",
        "alice.key",
        "--to",
        "bob.card",
        "in.txt",
        "in.sealed",
    ]));
    std::os::unix::fs::symlink(scratch.path("elsewhere"), scratch.path("to-file")).unwrap();
    std::os::unix::fs::symlink("/dev/null", scratch.path("to-device")).unwrap();
    std::os::unix::fs::symlink("missing", scratch.path("dangling")).unwrap();
    fs::create_dir(scratch.path("directory")).unwrap();

    for (target, expected) in [
        ("to-file", "is a symbolic link"),
        ("to-device", "is a symbolic link"),
        ("dangling", "is a symbolic link"),
        ("/dev/null", "not a regular file"),
        ("directory", "is a directory"),
    ] {
        for force in [false, true] {
            let mut seal = vec![
                "seal",
                "--key",
                "alice.key",
                "--to",
                "bob.card",
                "in.txt",
                target,
            ];
            let mut open = vec![
                "open",
                "--key",
                "bob.key",
                "--from",
                "alice.card",
                "in.sealed",
                target,
            ];
            if force {
                seal.push("--force");
                open.push("--force");
            }
            for args in [seal, open] {
                let output = scratch.run(&args);
                fails_with(&output, expected);
                fails_with(&output, "use - for stdout");
            }
        }
    }
    assert_eq!(fs::read(scratch.path("elsewhere")).unwrap(), b"keep me");
    for link in ["to-file", "to-device", "dangling"] {
        let kind = fs::symlink_metadata(scratch.path(link))
            .unwrap()
            .file_type();
        assert!(kind.is_symlink(), "{link} was replaced");
    }
    assert!(fs::metadata("/dev/null")
        .unwrap()
        .file_type()
        .is_char_device_or_null());
    no_partial_files(&scratch);
}

/// `/dev/null` is still a character device (never replaced by a regular file).
trait CharDevice {
    fn is_char_device_or_null(&self) -> bool;
}

impl CharDevice for fs::FileType {
    fn is_char_device_or_null(&self) -> bool {
        std::os::unix::fs::FileTypeExt::is_char_device(self)
    }
}

#[test]
fn dash_is_stdin_and_stdout() {
    let scratch = Scratch::new("dash");
    scratch.people(&["alice", "bob"]);
    let plaintext = contents(200_000);

    let sealed = succeeds(scratch.run_piped(
        "alice-password",
        &["seal", "--key", "alice.key", "--to", "bob.card", "-", "-"],
        &plaintext,
    ))
    .stdout;
    let opened = succeeds(scratch.run_piped(
        "bob-password",
        &["open", "--key", "bob.key", "--from", "alice.card", "-", "-"],
        &sealed,
    ));
    assert!(opened.stdout == plaintext);
    assert!(stderr(&opened).contains("from alice (fingerprint"));

    // Files and dashes mix; inspect reads stdin too.
    fs::write(scratch.path("sealed"), &sealed).unwrap();
    let opened = succeeds(scratch.run(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        "sealed",
        "-",
    ]));
    assert!(opened.stdout == plaintext);
    let inspected = succeeds(scratch.run_piped("", &["inspect", "-"], &sealed));
    assert!(String::from_utf8(inspected.stdout)
        .unwrap()
        .contains("plaintext: 200000 bytes"));

    // A stream that fails at its end gives stdout nothing, not its verified-looking start:
    // neither with the wrong sender, nor with a changed last byte.
    let output = scratch.run_piped(
        "bob-password",
        &["open", "--key", "bob.key", "--from", "bob.card", "-", "-"],
        &sealed,
    );
    fails_with(&output, "signed by none of the cards tried");
    assert!(output.stdout.is_empty());
    let mut tampered = sealed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    let output = scratch.run_piped(
        "bob-password",
        &["open", "--key", "bob.key", "--from", "alice.card", "-", "-"],
        &tampered,
    );
    fails_with(&output, "tampered");
    assert!(output.stdout.is_empty());
    no_partial_files(&scratch);
}

#[test]
fn inspect_shows_recipients_and_sizes_without_a_key() {
    let scratch = Scratch::new("inspect");
    scratch.people(&["alice", "bob", "carol"]);
    fs::write(scratch.path("in.txt"), contents(150_000)).unwrap();
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
    let card = |name: &str| {
        Card::from_base64(&fs::read_to_string(scratch.path(&format!("{name}.card"))).unwrap())
            .unwrap()
    };
    let output = succeeds(scratch.run_without_password(&[
        "inspect",
        "--key",
        "bob.key",
        "--card",
        "alice.card",
        "in.sealed",
    ]));
    let text = String::from_utf8(output.stdout).unwrap();
    let sealed_len = fs::metadata(scratch.path("in.sealed")).unwrap().len();
    assert!(
        text.contains(&format!("encrypted stream, {sealed_len} bytes")),
        "{text}"
    );
    assert!(text.contains("plaintext: 150000 bytes"), "{text}");
    assert!(text.contains("3 recipient(s)"), "{text}");
    assert!(text.contains(&format!("{} bob (this key)", card("bob").fingerprint())));
    assert!(text.contains(&format!("{} (no card given)", card("carol").fingerprint())));
    assert!(text.contains(&format!("{} alice\n", card("alice").fingerprint())));
    assert!(text.contains("sender: not shown"), "{text}");

    // A file cut 70 bytes into its last chunk: more than a full middle chunk's 65,552
    // bytes before it would leave, fewer than the 81 of a last chunk after full ones, so no
    // whole stream has this length. The header still reads. (The last chunk holds
    // 150,000 - 2 x 65,536 = 18,928 bytes, + 80.)
    let sealed = fs::read(scratch.path("in.sealed")).unwrap();
    let cut = sealed.len() - (18_928 + 80) + 70;
    fs::write(scratch.path("cut.sealed"), &sealed[..cut]).unwrap();
    let text = String::from_utf8(
        succeeds(scratch.run_without_password(&["inspect", "cut.sealed"])).stdout,
    )
    .unwrap();
    assert!(text.contains("plaintext: unknown"), "{text}");

    fails_with(
        &scratch.run_without_password(&["inspect", "in.txt"]),
        "in.txt is not a file sealed by ratchetkit",
    );
    fails_with(
        &scratch.run_without_password(&["inspect", "absent.sealed"]),
        "absent.sealed: no such file",
    );
}

#[test]
fn passwd_changes_the_password_and_keeps_the_key() {
    let scratch = Scratch::new("passwd");
    scratch.people(&["alice", "bob"]);
    scratch.alice_seals_for_bob(b"for bob");
    let before = fs::read(scratch.path("bob.key")).unwrap();

    // A failure (an empty new password, a wrong old one) leaves the key file as it was.
    let mut empty = Command::new(env!("CARGO_BIN_EXE_ratchetkit"));
    empty
        .current_dir(&scratch.0)
        .args(["passwd", "--key", "bob.key"])
        .env("RATCHETKIT_PASSWORD", "bob-password")
        .env("RATCHETKIT_NEW_PASSWORD", "")
        .stdin(Stdio::null());
    fails_with(&empty.output().unwrap(), "the password is empty");
    fails_with(
        &scratch.run_with("wrong", &["passwd", "--key", "bob.key"]),
        "wrong password for bob.key",
    );
    assert_eq!(fs::read(scratch.path("bob.key")).unwrap(), before);

    let output = Command::new(env!("CARGO_BIN_EXE_ratchetkit"))
        .current_dir(&scratch.0)
        .args(["passwd", "--key", "bob.key"])
        .env("RATCHETKIT_PASSWORD", "bob-password")
        .env("RATCHETKIT_NEW_PASSWORD", "bob's new password")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(stderr(&succeeds(output)).contains("changed the password of bob.key"));
    let open = [
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        "in.sealed",
        "-",
    ];
    fails_with(
        &scratch.run_with("bob-password", &open),
        "wrong password for bob.key",
    );
    let opened = succeeds(scratch.run_with("bob's new password", &open));
    assert_eq!(opened.stdout, b"for bob");
    // Still owner-only, still the same identity.
    use std::os::unix::fs::PermissionsExt;
    let mode = fs::metadata(scratch.path("bob.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    no_partial_files(&scratch);
}

#[test]
fn open_without_from_names_the_cards_tried_and_how_to_pass_one() {
    let scratch = Scratch::new("no-from");
    scratch.people(&["alice", "bob"]);
    scratch.alice_seals_for_bob(b"hello");
    let bob = Card::from_base64(&fs::read_to_string(scratch.path("bob.card")).unwrap()).unwrap();
    let output = scratch.run(&["open", "--key", "bob.key", "in.sealed", "out.txt"]);
    fails_with(
        &output,
        &format!(
            "signed by none of the cards tried (bob (fingerprint {}); the last is bob.key's own)",
            bob.fingerprint()
        ),
    );
    fails_with(&output, "pass it with --from CARD; nothing was written");
    assert!(!scratch.path("out.txt").exists());
}
