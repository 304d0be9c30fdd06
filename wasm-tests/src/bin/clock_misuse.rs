//! Calls the conveniences that read the system clock. It builds natively; for
//! `wasm32-unknown-unknown`, where std's clock traps, it must not build, and .ci/wasm
//! checks that it fails with both functions missing: misuse is a compile error there
//! rather than a trap.

#![forbid(unsafe_code)]

use ratchetkit::Identity;

fn main() -> Result<(), ratchetkit::Error> {
    let mut rng = ratchetkit_wasm_tests::seeded(0);
    let alice = Identity::generate(&mut rng, "alice")?;
    // Made without the clock, so that the missing `rotate` is reported on its own.
    let bob = Identity::generate_at(&mut rng, "bob", ratchetkit_wasm_tests::CREATED_AT)?;
    let rotated = bob.rotate(&mut rng)?;
    println!(
        "{} {}",
        alice.card().fingerprint(),
        rotated.card().fingerprint()
    );
    Ok(())
}
