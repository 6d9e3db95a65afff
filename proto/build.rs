//! Compiles the protos with protox (pure Rust), so no system protoc is needed.
//!
//! Also writes `grpc_methods.rs`: every service and method the protos
//! define, the bounded label set the regions' gRPC request metrics use.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=meridian");
    let fds = protox::compile(["meridian/v1/meridian.proto"], ["."])?;
    let mut methods = String::from("pub const METHODS: &[(&str, &str)] = &[\n");
    for file in &fds.file {
        let package = file.package.as_deref().unwrap_or_default();
        for service in &file.service {
            let service_name = service.name.as_deref().unwrap_or_default();
            for method in &service.method {
                let name = method.name.as_deref().unwrap_or_default();
                methods.push_str(&format!(
                    "    (\"{package}.{service_name}\", \"{name}\"),\n"
                ));
            }
        }
    }
    methods.push_str("];\n");
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("grpc_methods.rs"), methods)?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
