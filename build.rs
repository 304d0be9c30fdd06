//! Generates the protobuf types from `proto/*.proto` with prost-build, parsing the schemas
//! with `protox` (pure Rust) so that a fresh machine needs no `protoc` binary.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protos = ["proto/ratchetkit.proto", "proto/state.proto"];
    for proto in protos {
        println!("cargo:rerun-if-changed={proto}");
    }
    let descriptors = protox::compile(protos, ["proto"])?;
    prost_build::Config::new()
        // State messages carry secrets: they get a redacted Debug (written in src/wire.rs)
        // and are wiped when dropped.
        .skip_debug([".ratchetkit.state.v1"])
        .message_attribute(
            ".ratchetkit.state.v1",
            "#[derive(zeroize::Zeroize, zeroize::ZeroizeOnDrop)]",
        )
        .compile_fds(descriptors)?;
    Ok(())
}
