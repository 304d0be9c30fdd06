//! The `ratchetkit-server` binary: it starts with no arguments but a port, prints its
//! `listening on` line, makes the development app key (mode 0600) beside its SQLite
//! database, answers, and stops cleanly on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};

#[test]
fn starts_serves_and_stops() {
    let dir = std::env::temp_dir().join(format!("ratchetkit-server-bin-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_ratchetkit-server"))
        .args(["--listen", "127.0.0.1:0"])
        .current_dir(&dir)
        .env_remove("RATCHETKIT_DATABASE")
        .env_remove("RATCHETKIT_APP_KEYS")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("ratchetkit-server listening on ")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .to_owned();

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(format!("{base}/health")).call().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.body_mut().read_to_string().unwrap(),
        r#"{"status":"ok"}"#
    );

    let key_file = dir.join("ratchetkit-server.dev-app-key");
    let text = std::fs::read_to_string(&key_file).unwrap();
    assert!(text.ends_with('\n'));
    assert_eq!(common_b64_len(text.trim()), 32);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert!(dir.join("ratchetkit-server.db").exists());

    // SIGTERM: a graceful stop, exit status 0.
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    assert!(exit.success(), "exit {exit:?}; log:\n{log}");
    assert!(log.contains("DEVELOPMENT app key"), "{log}");
    assert!(log.contains("route=\"/health\""), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn common_b64_len(text: &str) -> usize {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text)
        .unwrap()
        .len()
}
