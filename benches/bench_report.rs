//! Prints the comparison with vodozemac from the last
//! `cargo bench -p ratchetkit-benches --bench compare` run: operation, ratchetkit,
//! vodozemac, ratio, the primitives' floor, and the target.
//!
//! ```text
//! cargo bench -p ratchetkit-benches --bench compare
//! cargo run -p ratchetkit-benches --release --example bench_report
//! ```
//!
//! Times come from criterion's saved estimates (`<target>/criterion/<group>/<bench>/new/
//! estimates.json`, under `CRITERION_HOME` or `CARGO_TARGET_DIR` if set); the sizes are
//! computed here.

use std::path::{Path, PathBuf};

mod common;

/// Where criterion saved its results.
fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // This example runs from <target>/<profile>/examples/.
    std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}

/// The estimate of one benchmark, in nanoseconds per iteration: criterion's slope where
/// it has one (the figure it prints), its mean otherwise.
fn estimate(dir: &Path, group: &str, bench: &str) -> Option<f64> {
    let path = dir
        .join(group)
        .join(bench)
        .join("new")
        .join("estimates.json");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).ok()?).ok()?;
    ["slope", "mean"]
        .iter()
        .find_map(|kind| json.get(kind)?.get("point_estimate")?.as_f64())
}

fn time(ns: f64) -> String {
    let (value, unit) = if ns >= 1e6 {
        (ns / 1e6, "ms")
    } else if ns >= 1e3 {
        (ns / 1e3, "µs")
    } else {
        (ns, "ns")
    };
    let digits = if value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    format!("{value:.digits$} {unit}")
}

/// A figure: a time, or a throughput for 64 KiB operations.
#[derive(Clone, Copy)]
enum Unit {
    Time,
    /// Bytes per iteration: shown as GB/s next to the time.
    Bytes(f64),
    /// Elements per iteration: shown per element too.
    Per(f64),
}

fn show(ns: Option<f64>, unit: Unit) -> String {
    let Some(ns) = ns else {
        return "not run".into();
    };
    match unit {
        Unit::Time => time(ns),
        Unit::Bytes(bytes) => format!("{} ({:.2} GB/s)", time(ns), bytes / ns),
        Unit::Per(count) => format!("{} ({} each)", time(ns), time(ns / count)),
    }
}

enum Target {
    None,
    /// ratchetkit / vodozemac at most this.
    Ratio(f64),
    /// ratchetkit / floor at most this.
    Floor(f64),
    /// bytes / ns (GB/s) over this.
    Throughput(f64),
}

struct Row {
    what: &'static str,
    ratchetkit: Option<f64>,
    vodozemac: Option<f64>,
    unit: Unit,
    /// The primitives ratchetkit must compute, and what they add up to.
    floor: Option<(&'static str, Option<f64>)>,
    target: Target,
}

fn main() {
    let dir = criterion_dir();
    let get = |group: &str, bench: &str| estimate(&dir, group, bench);
    let p = |bench: &str| get("primitives", bench);

    let keygen = p("x25519_keygen");
    let dh = p("x25519_dh");
    let sign = p("ed25519_sign_201B");
    let verify_strict = p("ed25519_verify_strict_201B");
    // What ratchetkit's strict verification costs: the equation, plus byte comparisons.
    let verify = p("ed25519_verify_201B");
    let batch_verify = p("ed25519_verify_batch_256x201B").map(|ns| ns / 256.0);
    let encapsulate = p("mlkem768_encapsulate");
    let decapsulate = p("mlkem768_expand_decapsulate");
    let hmac = p("hmac_sha256_1B");
    let hkdf = p("hkdf_sha256_44B");
    let aes = p("aes256gcm_encrypt_100B");
    let aes_big_enc = p("aes256gcm_encrypt_64KiB");
    let aes_big_dec = p("aes256gcm_decrypt_64KiB");
    let sum = |terms: &[(f64, Option<f64>)]| -> Option<f64> {
        terms.iter().map(|(n, t)| t.map(|t| n * t)).sum()
    };
    // One message's symmetric work: the chain step (two HMACs), HKDF, AES-GCM.
    let symmetric = sum(&[(2.0, hmac), (1.0, hkdf), (1.0, aes)]);

    let big = 64.0 * 1024.0;
    let backlog = common::compare::CATCH_UP_MESSAGES as f64;
    let rows = [
        Row {
            what: "session setup (bundle to first decrypted message)",
            ratchetkit: get("compare_setup", "ratchetkit"),
            vodozemac: get("compare_setup", "vodozemac"),
            unit: Unit::Time,
            floor: Some((
                "8 DH + keygen + 4 verify + ML-KEM encaps + decaps",
                sum(&[
                    (8.0, dh),
                    (1.0, keygen),
                    (4.0, verify),
                    (1.0, encapsulate),
                    (1.0, decapsulate),
                ]),
            )),
            target: Target::Ratio(1.7),
        },
        Row {
            what: "encrypt + decrypt 100 B, established chain",
            ratchetkit: get("compare_chain_100B", "ratchetkit"),
            vodozemac: get("compare_chain_100B", "vodozemac"),
            unit: Unit::Time,
            floor: Some(("2 x (2 HMAC + HKDF + AES-GCM)", symmetric.map(|s| 2.0 * s))),
            target: Target::Ratio(0.25),
        },
        Row {
            what: "ping-pong round trip (a ratchet step each way)",
            ratchetkit: get("compare_ping_pong", "ratchetkit"),
            vodozemac: get("compare_ping_pong", "vodozemac"),
            unit: Unit::Time,
            floor: None,
            target: Target::Ratio(1.0),
        },
        Row {
            what: "ping-pong round trip, against its primitives",
            ratchetkit: get("compare_ping_pong", "ratchetkit"),
            vodozemac: None,
            unit: Unit::Time,
            floor: Some(("2 keygen + 4 DH", sum(&[(2.0, keygen), (4.0, dh)]))),
            target: Target::Floor(1.2),
        },
        Row {
            what: "group encrypt 100 B (Megolm)",
            ratchetkit: get("compare_group_encrypt_100B", "ratchetkit"),
            vodozemac: get("compare_group_encrypt_100B", "vodozemac"),
            unit: Unit::Time,
            floor: Some(("sign + symmetric", sum(&[(1.0, sign), (1.0, symmetric)]))),
            target: Target::Ratio(1.0),
        },
        Row {
            what: "group decrypt 100 B (Megolm)",
            ratchetkit: get("compare_group_decrypt_100B", "ratchetkit"),
            vodozemac: get("compare_group_decrypt_100B", "vodozemac"),
            unit: Unit::Time,
            floor: Some((
                "verify + symmetric",
                sum(&[(1.0, verify), (1.0, symmetric)]),
            )),
            target: Target::Ratio(1.0),
        },
        Row {
            what: "catch-up: 1,000 group messages, 4 senders, decrypt_batch",
            ratchetkit: get("compare_catch_up_1000", "ratchetkit_decrypt_batch"),
            vodozemac: get("compare_catch_up_1000", "vodozemac"),
            unit: Unit::Per(backlog),
            floor: Some((
                "1,000 x (batch verify + symmetric)",
                sum(&[(1.0, batch_verify), (1.0, symmetric)]).map(|each| backlog * each),
            )),
            target: Target::Ratio(0.6),
        },
        Row {
            what: "catch-up, one decrypt at a time",
            ratchetkit: get("compare_catch_up_1000", "ratchetkit_decrypt"),
            vodozemac: get("compare_catch_up_1000", "vodozemac"),
            unit: Unit::Per(backlog),
            floor: None,
            target: Target::None,
        },
        Row {
            what: "encrypt 64 KiB",
            ratchetkit: get("compare_64KiB", "ratchetkit_encrypt"),
            vodozemac: get("compare_64KiB", "vodozemac_encrypt"),
            unit: Unit::Bytes(big),
            floor: Some(("AES-256-GCM 64 KiB", aes_big_enc)),
            target: Target::Throughput(1.5),
        },
        Row {
            what: "decrypt 64 KiB",
            ratchetkit: get("compare_64KiB", "ratchetkit_decrypt"),
            vodozemac: get("compare_64KiB", "vodozemac_decrypt"),
            unit: Unit::Bytes(big),
            floor: Some(("AES-256-GCM 64 KiB", aes_big_dec)),
            target: Target::Throughput(1.5),
        },
    ];

    println!(
        "ratchetkit against vodozemac 0.11 (Olm and Megolm), from {}",
        dir.display()
    );
    println!();
    println!(
        "| operation | ratchetkit | vodozemac | ratio | primitives floor | x floor | target | |"
    );
    println!("|---|---|---|---|---|---|---|---|");
    let mut missing = false;
    for row in &rows {
        missing |= row.ratchetkit.is_none();
        let ratio = row.ratchetkit.zip(row.vodozemac).map(|(r, v)| r / v);
        let (floor_text, times_floor) = match row.floor {
            Some((what, Some(floor))) => (
                format!("{} ({what})", time(floor)),
                row.ratchetkit.map(|r| r / floor),
            ),
            Some((what, None)) => (format!("not run ({what})"), None),
            None => (String::new(), None),
        };
        let (target, met) = match row.target {
            Target::None => (String::new(), None),
            Target::Ratio(at_most) => (format!("ratio <= {at_most}"), ratio.map(|r| r <= at_most)),
            Target::Floor(at_most) => (
                format!("x floor <= {at_most}"),
                times_floor.map(|f| f <= at_most),
            ),
            Target::Throughput(over) => (
                format!("> {over} GB/s"),
                row.ratchetkit.map(|ns| big / ns > over),
            ),
        };
        println!(
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            row.what,
            show(row.ratchetkit, row.unit),
            if matches!(row.target, Target::Floor(_)) {
                String::new()
            } else {
                show(row.vodozemac, row.unit)
            },
            ratio
                .filter(|_| !matches!(row.target, Target::Floor(_)))
                .map_or(String::new(), |r| format!("{r:.2}")),
            floor_text,
            times_floor.map_or(String::new(), |f| format!("{f:.2}")),
            target,
            match met {
                Some(true) => "met",
                Some(false) => "**missed**",
                None => "",
            }
        );
    }

    println!();
    println!("| primitive | time |");
    println!("|---|---|");
    for (what, value) in [
        ("X25519 key generation", keygen),
        ("X25519 DH", dh),
        ("Ed25519 sign, 201 B", sign),
        (
            "Ed25519 verify_strict, 201 B (ed25519-dalek's)",
            verify_strict,
        ),
        ("Ed25519 verify, 201 B (the equation alone)", verify),
        ("Ed25519 batch verify, per signature in 256", batch_verify),
        ("ML-KEM-768 key check + encapsulation", encapsulate),
        ("ML-KEM-768 key expansion + decapsulation", decapsulate),
        ("HMAC-SHA256, 32 B key, 1 B", hmac),
        ("HKDF-SHA256, 44 B out", hkdf),
        ("AES-256-GCM encrypt 100 B", aes),
    ] {
        println!("| {what} | {} |", show(value, Unit::Time));
    }
    for (what, value) in [
        ("AES-256-GCM encrypt 64 KiB", aes_big_enc),
        ("AES-256-GCM decrypt 64 KiB", aes_big_dec),
    ] {
        println!("| {what} | {} |", show(value, Unit::Bytes(big)));
    }

    println!();
    println!("| serialized state | ratchetkit | vodozemac | ratio | target | |");
    println!("|---|---|---|---|---|---|");
    for row in common::compare::sizes() {
        println!(
            "| {} | {} B | {} B ({}) | {:.2} | {} | {} |",
            row.what,
            row.ratchetkit,
            row.vodozemac,
            row.vodozemac_form,
            row.ratchetkit as f64 / row.vodozemac as f64,
            row.target,
            if row.met { "met" } else { "**missed**" }
        );
    }

    if missing {
        println!();
        println!(
            "Some or all benchmarks have no saved results in {}: run \
             `cargo bench -p ratchetkit-benches --bench compare` first (with the same \
             CARGO_TARGET_DIR).",
            dir.display()
        );
        std::process::exit(1);
    }
}
