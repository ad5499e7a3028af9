//! The metrics exporter every image carries beside sccache-dist
//! (`xtask/exporter`, see its lib.rs). It is part of the tool, not of a
//! profile: built on this host from the tool's own source, statically linked
//! (glibc's static build, so it runs on any base whatever its libc version),
//! and copied into the build context. Building an image so needs no registry
//! and no Rust toolchain inside the build; its bytes are hashed like any input.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

/// Where the binary sits in the build context (the Dockerfile copies it).
pub const CONTEXT_PATH: &str = "bin/sccache-dist-exporter";

/// The tool's own workspace (where xtask/exporter is), whatever tree a command
/// is pointed at.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Rust's target for a docker platform (`linux/amd64` -> x86_64-unknown-linux-gnu).
fn target_triple(platform: &str) -> anyhow::Result<&'static str> {
    Ok(match platform.trim_start_matches("linux/") {
        "amd64" => "x86_64-unknown-linux-gnu",
        "arm64" | "arm64/v8" => "aarch64-unknown-linux-gnu",
        "ppc64le" => "powerpc64le-unknown-linux-gnu",
        "s390x" => "s390x-unknown-linux-gnu",
        "riscv64" => "riscv64gc-unknown-linux-gnu",
        other => anyhow::bail!(
            "no Rust target known for the platform {platform} ({other}): the metrics exporter cannot be built for it"
        ),
    })
}

/// The cargo line that builds the exporter for `platform`, and the binary it makes.
pub fn build_command(platform: &str) -> anyhow::Result<(duct::Expression, PathBuf)> {
    let triple = target_triple(platform)?;
    let ws = workspace();
    let target_dir = ws.join("target").join("exporter");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cmd = duct::cmd(
        cargo,
        [
            "build".as_ref(),
            "--quiet".as_ref(),
            "--locked".as_ref(),
            "--release".as_ref(),
            "--package".as_ref(),
            "sccache-dist-exporter".as_ref(),
            "--target".as_ref(),
            triple.as_ref(),
            "--manifest-path".as_ref(),
            ws.join("Cargo.toml").as_os_str(),
            "--target-dir".as_ref(),
            target_dir.as_os_str(),
        ],
    )
    // Only this build: the target is named, so build scripts stay dynamic.
    .env("CARGO_ENCODED_RUSTFLAGS", "-Ctarget-feature=+crt-static")
    .env_remove("RUSTFLAGS")
    .stdout_capture()
    .stderr_capture()
    .unchecked();
    let bin = target_dir
        .join(triple)
        .join("release")
        .join("sccache-dist-exporter");
    Ok((cmd, bin))
}

/// Builds (or finds up to date) the exporter for `platform`; its path.
pub fn build(platform: &str) -> anyhow::Result<PathBuf> {
    let (cmd, bin) = build_command(platform)?;
    let out = cmd
        .run()
        .context("cannot run cargo to build the metrics exporter")?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().rev().take(15).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        let hint = if err.contains("can't find crate for `std`")
            || err.contains("target may not be installed")
        {
            format!(
                "; Rust's standard library for {} is not installed: `rustup target add {}` (and a linker for it), or build the image on a {platform} host",
                platform,
                target_triple(platform)?
            )
        } else {
            String::new()
        };
        anyhow::bail!(
            "building the metrics exporter (xtask/exporter) for {platform} failed{hint}:\n{}",
            tail.join("\n")
        );
    }
    anyhow::ensure!(
        bin.is_file(),
        "cargo built the metrics exporter but {} is missing",
        bin.display()
    );
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_map_to_rust_targets() {
        assert_eq!(
            target_triple("linux/amd64").unwrap(),
            "x86_64-unknown-linux-gnu"
        );
        assert_eq!(
            target_triple("linux/arm64").unwrap(),
            "aarch64-unknown-linux-gnu"
        );
        let err = target_triple("linux/mips").unwrap_err().to_string();
        assert!(err.contains("linux/mips"), "{err}");
    }
}
