//! Generates the protobuf types from `proto/*.proto` with prost-build, parsing the schemas
//! with `protox` (pure Rust) so that a fresh machine needs no `protoc` binary.

/// Messages that hold secrets: their Debug is written by hand in src/wire.rs.
const SKIP_DEBUG: [&str; 3] = [
    ".ratchetkit.state.v1",
    ".ratchetkit.v1.SenderKeyDistribution",
    ".ratchetkit.v1.GroupControl",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Every schema in proto/, in a fixed order; a new file is picked up without editing
    // this list, and adding one reruns the build.
    println!("cargo:rerun-if-changed=proto");
    let mut protos = Vec::new();
    for entry in std::fs::read_dir("proto")? {
        let path = entry?.path();
        if path
            .extension()
            .is_some_and(|extension| extension == "proto")
        {
            println!("cargo:rerun-if-changed={}", path.display());
            protos.push(path);
        }
    }
    protos.sort();
    let descriptors = protox::compile(&protos, ["proto"])?;
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
        .message_attribute(
            ".ratchetkit.v1.ResyncRequest",
            "#[derive(zeroize::Zeroize)]",
        )
        .message_attribute(
            ".ratchetkit.v1.OwnershipOffer",
            "#[derive(zeroize::Zeroize)]",
        )
        .message_attribute(
            ".ratchetkit.v1.OwnerTransfer",
            "#[derive(zeroize::Zeroize)]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
