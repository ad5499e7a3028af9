//! `bench image`: no-op `image` runs against fully cached `docker build` runs of the
//! same context, and the runtime image's size against its base image's.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use anyhow::Context;

use super::{median, timed, verdict};
use crate::base::project;
use crate::image::build;
use crate::image::builder;
use crate::image::plan::plan;
use crate::image::request::ImageRequest;
use crate::store::StateDir;
use crate::{docker, profile};

/// Runs the benchmark for the one distro of `req`; `image_args` are the `image`
/// command line that makes the same request (timed as a whole process).
pub fn run(
    root: &Path,
    state: &StateDir,
    req: &ImageRequest,
    image_args: &[String],
    runs: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(runs >= 1, "--runs must be at least 1");
    let results = build::run(root, state, req)?;
    let [result] = results.as_slice() else {
        anyhow::bail!("bench image takes one distro");
    };
    let (noop, noop_cargo) = time_noop(root, image_args, runs)?;
    let (cached, picked) = time_cached_build(root, req, &result.distro, runs)?;
    let ratio = noop.as_secs_f64() / cached.as_secs_f64();
    let ratio_cargo = noop_cargo.as_secs_f64() / cached.as_secs_f64();
    println!("image {}: {runs} runs each, {picked}", result.distro);
    println!(
        "  fully cached build (same builder):    median {:.3} s",
        cached.as_secs_f64()
    );
    println!(
        "  no-op `xtask image` (the binary):     median {:.3} s: ratio {ratio:.3} (target <= 0.333): {}",
        noop.as_secs_f64(),
        verdict(ratio <= 1.0 / 3.0)
    );
    println!(
        "  no-op `cargo xtask image` (as typed): median {:.3} s: ratio {ratio_cargo:.3}, of which cargo's own up-to-date check is {:.3} s",
        noop_cargo.as_secs_f64(),
        noop_cargo.saturating_sub(noop).as_secs_f64()
    );
    report_size(root, req, &result.distro, &result.tag)
}

/// The xtask binary itself, by the path it was started as: `cargo xtask` may
/// relink it during a benchmark, which leaves `current_exe()` pointing at the
/// replaced file.
fn xtask_cmd(root: &Path) -> anyhow::Result<Command> {
    let exe = std::env::args_os().next().context("no argv[0]")?;
    let mut c = Command::new(exe);
    c.arg("--root").arg(root);
    Ok(c)
}

/// Medians of the no-op run, as the binary and as typed (`cargo xtask` adds
/// cargo's own check that the xtask is up to date).
fn time_noop(
    root: &Path,
    image_args: &[String],
    runs: usize,
) -> anyhow::Result<(Duration, Duration)> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let as_typed = || {
        let mut c = Command::new(&cargo);
        c.current_dir(project::default_root())
            .args(["xtask", "--root"])
            .arg(root)
            .args(image_args);
        c
    };
    timed(&mut as_typed())?; // untimed: `cargo xtask` may have to relink the binary once
    let (mut noop, mut noop_cargo) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        noop.push(timed(xtask_cmd(root)?.args(image_args))?);
        noop_cargo.push(timed(&mut as_typed())?);
    }
    Ok((median(noop), median(noop_cargo)))
}

/// The median of the same context handed to docker again and again, from its
/// cache, with the builder `req` asks for; and that builder with the reason.
fn time_cached_build(
    root: &Path,
    req: &ImageRequest,
    distro: &str,
    runs: usize,
) -> anyhow::Result<(Duration, String)> {
    docker::engine()?;
    let plan = plan(root, &profile::find_distro(root, distro)?, req)?;
    let picked = builder::probe(req.builder)?;
    let dir = tempfile::Builder::new()
        .prefix("bench-context-")
        .tempdir()?;
    plan.write_context(dir.path())?;
    let cmd = plan.build_command(dir.path(), picked.builder);
    eprintln!("$ {}", cmd.shown());
    let docker_build = || cmd.std_command();
    // Untimed: the image may have come from the other builder, whose cache this
    // builder cannot use; one build fills this builder's cache.
    timed(&mut docker_build())?;
    let mut cached = Vec::new();
    for _ in 0..runs {
        cached.push(timed(&mut docker_build())?);
    }
    Ok((median(cached), picked.to_string()))
}

/// The image's size over its base's, and whether a compiler or cargo got in.
fn report_size(root: &Path, req: &ImageRequest, distro: &str, tag: &str) -> anyhow::Result<()> {
    let base = match &req.base_image {
        Some(b) => b.clone(),
        None => profile::find_distro(root, distro)?.base_ref(),
    };
    let size = |r: &str| -> anyhow::Result<f64> {
        Ok(docker::objects::image_inspect(r, "{{.Size}}")
            .output()?
            .parse::<f64>()?
            / 1e6)
    };
    let (img, base_size) = (size(tag)?, size(&base)?);
    println!(
        "  size: {tag} {img:.1} MB, base {base} {base_size:.1} MB: +{:.1} MB (target <= +40 MB): {}",
        img - base_size,
        verdict(img - base_size <= 40.0)
    );
    let tools = docker::DockerCommand::new([
        "run", "--rm", "--entrypoint", "bash", tag, "-c",
        "for t in cc gcc clang cargo rustc; do command -v $t; done; ls -d /root/.cargo /usr/local/cargo 2>/dev/null; true",
    ])
    .output()?;
    let tools = if tools.is_empty() {
        "none".to_owned()
    } else {
        tools.replace('\n', ", ")
    };
    println!("  compilers or cargo in the runtime image: {tools}");
    Ok(())
}
