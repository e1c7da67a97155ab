//! Compiles `proto/` with protox (pure Rust: no system `protoc`) into tonic services, and writes
//! the descriptor set that gRPC reflection serves.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["iam_account.proto", "social_statistic.proto"];
    for file in files {
        println!("cargo:rerun-if-changed=../proto/{file}");
    }
    let descriptors = protox::compile(files, ["../proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("descriptor.bin"), descriptors.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
