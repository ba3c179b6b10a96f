//! Compiles proto/minhu/v1 with a vendored protoc, so no system protoc is needed.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../proto");
    let files = [
        "petition.proto",
        "case.proto",
        "intake.proto",
        "bus.proto",
        "ops.proto",
        "case_service.proto",
        "reception.proto",
        "reception_service.proto",
        "admin.proto",
    ]
    .map(|f| proto_root.join("minhu/v1").join(f));
    // SAFETY: build scripts are single-threaded; nothing else reads the environment concurrently.
    unsafe { std::env::set_var("PROTOC", protoc_bin_vendored::protoc_bin_path()?) };
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    tonic_prost_build::configure()
        .file_descriptor_set_path(out_dir.join("minhu_descriptor.bin"))
        .compile_protos(&files, &[proto_root])?;
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
    }
    Ok(())
}
