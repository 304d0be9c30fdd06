//! The committed protobuf code (src/wire/generated/) is what proto/*.proto gives: a schema
//! change without regenerating, or a hand edit of a generated file, fails `cargo test`.

#[test]
fn generated_code_matches_the_schemas() {
    let root = ratchetkit_protogen::repository_root();
    let stale = ratchetkit_protogen::check(&root).unwrap_or_else(|error| {
        panic!("could not generate the protobuf code from proto/: {error}")
    });
    let report: Vec<String> = stale.iter().map(ToString::to_string).collect();
    assert!(report.is_empty(), "\n{}\n", report.join("\n\n"));
}
