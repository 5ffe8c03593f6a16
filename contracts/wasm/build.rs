//! Builds the SDK and the example contracts with scripts/build-contracts.sh
//! into OUT_DIR (the wasm32 compiler is Debian's rustc 1.63, not this
//! toolchain; the script says how to get it when it is missing).

use std::path::PathBuf;
use std::process::Command;

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.join("../..");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    for p in ["contracts/sdk", "contracts/examples", "scripts/build-contracts.sh", "scripts/env.sh"] {
        println!("cargo:rerun-if-changed={}", root.join(p).display());
    }
    println!("cargo:rerun-if-env-changed=CINDER_WASM_RUSTC");
    let status = Command::new("bash")
        .arg(root.join("scripts/build-contracts.sh"))
        .arg("--no-install")
        .arg("--out")
        .arg(&out)
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "scripts/build-contracts.sh failed ({s}): the example contracts need Debian's wasm32 toolchain \
             (apt-get install rustc libstd-rust-dev-wasm32 lld-14; scripts/deps.sh installs it) or CINDER_WASM_RUSTC"
        ),
        Err(e) => panic!("running scripts/build-contracts.sh: {e}"),
    }
}
