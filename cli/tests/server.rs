//! `register`, `find` and `seal --to-user`: argument parsing and error paths always; the
//! round trip against a real ratchetkit-server only when its binary is built beside this
//! tool's (`cargo build -p ratchetkit-server`), else that test says so and passes.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn tool(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ratchetkit"))
        .current_dir(dir)
        .env("RATCHETKIT_PASSWORD", "correct horse")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ratchetkit-cli-server-{}-{test}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn server_arguments_are_checked() {
    let dir = scratch("args");
    // --to-user needs a server and an app key file: a parse error (exit 2).
    let output = tool(
        &dir,
        &["seal", "--key", "a.key", "--to-user", "bob", "in", "out"],
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    // seal needs some recipient.
    let output = tool(&dir, &["seal", "--key", "a.key", "in", "out"]);
    assert_eq!(output.status.code(), Some(2));
    // find and register need --server and --app-key-file.
    assert_eq!(tool(&dir, &["find", "bob"]).status.code(), Some(2));
    assert_eq!(
        tool(&dir, &["register", "--key", "a.key"]).status.code(),
        Some(2)
    );
    // A bad app key file, a bad URL, a server that is not there: one error line, exit 1.
    std::fs::write(dir.join("bad.key"), "not base64!").unwrap();
    std::fs::write(
        dir.join("app.key"),
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n",
    )
    .unwrap();
    for (server, app_key_file, error) in [
        ("http://127.0.0.1:1", "bad.key", "is not an app key file"),
        ("https://example.test", "app.key", "invalid server URL"),
        ("http://127.0.0.1:1", "app.key", "cannot reach the server"),
    ] {
        let args = [
            "find",
            "bob",
            "--server",
            server,
            "--app-key-file",
            app_key_file,
        ];
        let output = tool(&dir, &args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&output).contains(error),
            "{args:?}: {}",
            stderr(&output)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The server binary, when built in the same target directory.
fn server_binary() -> Option<PathBuf> {
    let tool = PathBuf::from(env!("CARGO_BIN_EXE_ratchetkit"));
    let binary = tool.parent()?.join("ratchetkit-server");
    binary.exists().then_some(binary)
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn register_find_and_seal_to_a_user() {
    let Some(binary) = server_binary() else {
        eprintln!("ratchetkit-server is not built beside the tool: skipping the round trip");
        return;
    };
    let dir = scratch("roundtrip");
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--database"])
        .arg(dir.join("db.sqlite"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let _server = Server(child);
    let url = line
        .trim()
        .strip_prefix("ratchetkit-server listening on ")
        .unwrap()
        .to_owned();
    let app_key = dir.join("ratchetkit-server.dev-app-key");
    let app_key = app_key.to_str().unwrap();
    let server = ["--server", url.as_str(), "--app-key-file", app_key];
    let ok = |args: &[&str]| {
        let output = tool(&dir, args);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        output
    };
    ok(&["keygen", "--name", "alice", "--out", "alice.key"]);
    ok(&["keygen", "--name", "bob", "--out", "bob.key"]);
    ok(&[&["register", "--key", "bob.key"][..], &server].concat());
    let found = ok(&[&["find", "bob"][..], &server].concat());
    let bob_card = std::fs::read_to_string(dir.join("bob.card")).unwrap();
    let stdout = String::from_utf8_lossy(&found.stdout).into_owned();
    assert!(stdout.contains(bob_card.trim()), "{stdout}");
    std::fs::write(dir.join("note.txt"), b"for bob").unwrap();
    let sealed = ok(&[
        &["seal", "--key", "alice.key", "--to-user", "bob"][..],
        &server,
        &["note.txt", "note.sealed"],
    ]
    .concat());
    assert!(stderr(&sealed).contains("recipient from the server: bob"));
    ok(&[
        "open",
        "--key",
        "bob.key",
        "--from",
        "alice.card",
        "note.sealed",
        "note.out",
    ]);
    assert_eq!(std::fs::read(dir.join("note.out")).unwrap(), b"for bob");
    // Nobody named carol.
    let output = tool(
        &dir,
        &[
            &["seal", "--key", "alice.key", "--to-user", "carol"][..],
            &server,
            &["note.txt", "x"],
        ]
        .concat(),
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr(&output).contains("no card named carol"));
    let _ = std::fs::remove_dir_all(&dir);
}
