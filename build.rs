//! Generates the protobuf types from `proto/*.proto` with prost-build, parsing the schemas
//! with `protox` (pure Rust) so that a fresh machine needs no `protoc` binary.

/// Messages that hold secrets: their Debug is written by hand in src/wire.rs.
const SKIP_DEBUG: [&str; 3] = [
    ".ratchetkit.state.v1",
    ".ratchetkit.v1.SenderKeyDistribution",
    ".ratchetkit.v1.GroupControl",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/ratchetkit.proto", "proto/state.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    prost_build::Config::new()
        // State messages carry secrets, as do the wire messages that carry a sender key:
        // they get a redacted Debug (written in src/wire.rs) and are wiped when dropped.
        .skip_debug(SKIP_DEBUG)
        .message_attribute(
            ".ratchetkit.state.v1",
            "#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]",
        )
        .message_attribute(
            ".ratchetkit.v1.SenderKeyDistribution",
            "#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]",
        )
        .message_attribute(
            ".ratchetkit.v1.GroupControl",
            "#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]",
        )
        .message_attribute(".ratchetkit.v1.SignedRoster", "#[derive(zeroize::Zeroize)]")
        .message_attribute(".ratchetkit.v1.LeaveRequest", "#[derive(zeroize::Zeroize)]")
        .compile_fds(descriptors)?;
    Ok(())
}
