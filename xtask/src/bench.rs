//! `cargo xtask bench ...`: benchmarks that print their figures against the targets.
//! Targets are reported, not asserted: a slow machine makes a slow run, not a bug.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::build_docker_image::{self, ImageArgs};
use crate::sccache_client::PrivateClient;
use crate::state::StateDir;
use crate::{client_config, docker, project};

#[derive(clap::Subcommand, Clone, Debug)]
pub enum BenchCommand {
    /// No-op `image` runs against fully cached `docker build` runs of the same
    /// context, and the runtime image's size against its base image's.
    Image {
        #[command(flatten)]
        image: ImageArgs,
        /// Runs of each kind.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// `start` → ready time, and a batch of C compiles through the cluster against
    /// the same batch compiled locally.
    Cluster {
        /// The distro whose (already built) image to run.
        distro: String,
        /// Image repository.
        #[arg(long, default_value = "sccache-dist")]
        repo: String,
        /// Container name for the benchmark's own cluster.
        #[arg(long, default_value = "sccache-dist-bench")]
        name: String,
        /// Start → ready measurements.
        #[arg(long, default_value_t = 3)]
        starts: usize,
        /// C files in the batch.
        #[arg(long, default_value_t = 200)]
        compiles: usize,
        /// Compiles at once, locally and through the cluster [default: as many as the
        /// scheduler gives one server of this machine's CPUs: cores + 1 + cores/8].
        #[arg(long)]
        jobs: Option<usize>,
    },
}

pub fn run(root: &Path, state: &StateDir, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {
        BenchCommand::Image { image, runs } => bench_image(root, state, &image, runs),
        BenchCommand::Cluster {
            distro,
            repo,
            name,
            starts,
            compiles,
            jobs,
        } => {
            let jobs = jobs.unwrap_or_else(|| {
                let cores = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2);
                // sccache-dist's scheduler refuses a server more jobs than this at once
                // (load_weight in sccache-dist); a job beyond it compiles locally.
                cores + 1 + cores / 8
            });
            bench_cluster(root, &distro, &repo, &name, starts, compiles, jobs)
        }
    }
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Wall time of a command run to completion; a failure is an error.
fn timed(cmd: &mut Command) -> anyhow::Result<Duration> {
    let t0 = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    let took = t0.elapsed();
    anyhow::ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(took)
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

fn image_args_cli(a: &ImageArgs, distro: &str) -> Vec<String> {
    let mut v = vec![
        "image".to_owned(),
        distro.to_owned(),
        "--repo".into(),
        a.repo.clone(),
    ];
    v.extend([
        "--platform".into(),
        a.platform.clone(),
        "--profile".into(),
        a.profile.clone(),
    ]);
    if let Some(b) = &a.base_image {
        v.extend(["--base-image".into(), b.clone()]);
    }
    if let Some(p) = &a.sccache_dist {
        v.extend(["--sccache-dist".into(), p.display().to_string()]);
    }
    v
}

fn bench_image(root: &Path, state: &StateDir, args: &ImageArgs, runs: usize) -> anyhow::Result<()> {
    anyhow::ensure!(runs >= 1, "--runs must be at least 1");
    anyhow::ensure!(args.distros.len() == 1, "bench image takes one distro");
    let distro = &args.distros[0];
    let results = build_docker_image::run(root, state, args)?;
    let tag = &results[0].tag;

    // The no-op run, as the binary and as typed: `cargo xtask` adds cargo's own
    // check that the xtask is up to date.
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    // Untimed: `cargo xtask` may have to relink the binary once.
    timed(
        Command::new(&cargo)
            .current_dir(project::default_root())
            .args(["xtask", "--version"]),
    )?;
    let mut noop = Vec::new();
    let mut noop_cargo = Vec::new();
    for _ in 0..runs {
        noop.push(timed(xtask_cmd(root)?.args(image_args_cli(args, distro)))?);
        noop_cargo.push(timed(
            Command::new(&cargo)
                .current_dir(project::default_root())
                .args(["xtask", "--root"])
                .arg(root)
                .args(image_args_cli(args, distro)),
        )?);
    }

    // The same context docker would be handed, built again and again from its cache.
    docker::engine()?;
    let d = crate::distro::load_all(&project::distros_dir(root), root)?
        .into_iter()
        .find(|d| &d.name == distro)
        .context("unknown distro")?;
    let plan = build_docker_image::plan(root, &d, args)?;
    let builder = build_docker_image::Builder::probe(args.builder)?;
    let dir = tempfile::Builder::new()
        .prefix("bench-context-")
        .tempdir()?;
    plan.write_context(dir.path())?;
    let build = plan.build_command(dir.path(), builder);
    let mut cached = Vec::new();
    for _ in 0..runs {
        cached.push(timed(Command::new("docker").args(&build))?);
    }

    let (noop, noop_cargo, cached) = (median(noop), median(noop_cargo), median(cached));
    let ratio = noop.as_secs_f64() / cached.as_secs_f64();
    let ratio_cargo = noop_cargo.as_secs_f64() / cached.as_secs_f64();
    println!("image {distro}: {runs} runs each, {builder:?} builder");
    println!(
        "  fully cached `docker build`:          median {:.3} s",
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
        (noop_cargo.saturating_sub(noop)).as_secs_f64()
    );

    let base = match &args.base_image {
        Some(b) => b.clone(),
        None => d.base_ref(),
    };
    let size = |r: &str| -> anyhow::Result<f64> {
        Ok(
            docker::output(&["image", "inspect", "--format", "{{.Size}}", r])?.parse::<f64>()?
                / 1e6,
        )
    };
    let (img, base_size) = (size(tag)?, size(&base)?);
    println!(
        "  size: {tag} {img:.1} MB, base {base} {base_size:.1} MB: +{:.1} MB (target <= +40 MB): {}",
        img - base_size,
        verdict(img - base_size <= 40.0)
    );
    let tools = docker::output(&[
        "run", "--rm", "--entrypoint", "bash", tag, "-c",
        "for t in cc gcc clang cargo rustc; do command -v $t; done; ls -d /root/.cargo /usr/local/cargo 2>/dev/null; true",
    ])?;
    println!(
        "  compilers or cargo in the runtime image: {}",
        if tools.is_empty() {
            "none".to_owned()
        } else {
            tools.replace('\n', ", ")
        }
    );
    Ok(())
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}

fn bench_cluster(
    root: &Path,
    distro: &str,
    repo: &str,
    name: &str,
    starts: usize,
    compiles: usize,
    jobs: usize,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        starts >= 1 && compiles >= 1 && jobs >= 1,
        "counts must be at least 1"
    );
    docker::engine()?;
    let state_dir = tempfile::Builder::new().prefix("bench-state-").tempdir()?;
    let state = StateDir::new(Some(state_dir.path().to_owned()));
    let xt = |args: &[&str]| -> anyhow::Result<Command> {
        let mut c = xtask_cmd(root)?;
        c.arg("--state-dir").arg(state_dir.path()).args(args);
        c.env("SCCACHE_DOCKER_CONTAINER", name)
            .env("SCCACHE_DOCKER_REPO", repo);
        Ok(c)
    };
    let cleanup = || {
        let _ = xt(&["remove-container", "--purge"]).map(|mut c| c.output());
    };

    let mut ready = Vec::new();
    let mut whole = Vec::new();
    for i in 0..starts {
        if i > 0 {
            timed(&mut xt(&["stop"])?)?;
        }
        let t0 = Instant::now();
        let out = xt(&["start", distro])?.output()?;
        whole.push(t0.elapsed());
        if !out.status.success() {
            cleanup();
            anyhow::bail!("start failed: {}", String::from_utf8_lossy(&out.stderr));
        }
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let secs: f64 = text
            .split("ready in ")
            .nth(1)
            .and_then(|r| r.split('s').next())
            .and_then(|s| s.parse().ok())
            .context("start printed no ready time")?;
        ready.push(Duration::from_secs_f64(secs));
    }
    let result = compile_batch(root, &state, compiles, jobs);
    cleanup();
    let (local, remote, distributed, failed) = result?;

    println!("cluster {distro}: {starts} starts, {compiles} C compiles, {jobs} at a time");
    println!(
        "  start -> ready: median {:.2} s (whole `start` command {:.2} s) (target <= 2 s): {}",
        median(ready.clone()).as_secs_f64(),
        median(whole).as_secs_f64(),
        verdict(median(ready) <= Duration::from_secs(2))
    );
    let ratio = local.as_secs_f64() / remote.as_secs_f64();
    println!(
        "  local:       {:.2} s ({:.1} compiles/s)",
        local.as_secs_f64(),
        compiles as f64 / local.as_secs_f64()
    );
    println!(
        "  distributed: {:.2} s ({:.1} compiles/s)",
        remote.as_secs_f64(),
        compiles as f64 / remote.as_secs_f64()
    );
    println!(
        "  throughput: {ratio:.2}x local (target >= 0.8x): {}",
        verdict(ratio >= 0.8)
    );
    println!(
        "  distributed: {distributed}/{compiles} ({:.0} %), {failed} failed (target 100 %): {}",
        100.0 * distributed as f64 / compiles as f64,
        verdict(distributed as usize == compiles && failed == 0)
    );
    Ok(())
}

/// A C file with enough code that compiling it outweighs the per-job overhead a
/// little, as real translation units do.
fn c_source(i: usize, nonce: u128) -> String {
    let mut s =
        format!("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n/* {nonce} */\n");
    for f in 0..12 {
        s.push_str(&format!(
            "int f{i}_{f}(const char *s, int n) {{\n  int acc = {f};\n  for (int k = 0; k < n; k++) {{\n    char buf[128];\n    snprintf(buf, sizeof buf, \"%s-%d-%d\", s, k, acc);\n    acc = acc * 31 + (int)strlen(buf) + (k % 7 ? k : -k);\n    if (acc > 100000) acc %= 9973;\n  }}\n  return acc;\n}}\n"
        ));
    }
    s
}

type BatchResult = (Duration, Duration, u64, u64);

fn compile_batch(
    root: &Path,
    state: &StateDir,
    n: usize,
    jobs: usize,
) -> anyhow::Result<BatchResult> {
    let work = tempfile::Builder::new().prefix("bench-c-").tempdir()?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let sources: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p = work.path().join(format!("unit{i}.c"));
            std::fs::write(&p, c_source(i, nonce)).map(|_| p)
        })
        .collect::<Result<_, _>>()?;

    let local = parallel(&sources, jobs, |src| {
        let out = Command::new("cc")
            .args(["-O2", "-c"])
            .arg(src)
            .arg("-o")
            .arg(src.with_extension("local.o"))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })?;

    let client = PrivateClient::new(&client_config::render(root, state)?)?;
    client.start()?;
    // Warm-up, not timed: the first job packages and uploads the toolchain.
    let warm = work.path().join("warmup.c");
    std::fs::write(&warm, c_source(n, nonce + 1))?;
    client.compile("cc", &["-O2"], &warm, &warm.with_extension("o"))?;
    let before = client.stats()?;
    let remote = parallel(&sources, jobs, |src| {
        client.compile("cc", &["-O2"], src, &src.with_extension("dist.o"))
    })?;
    let after = client.stats()?;
    Ok((
        local,
        remote,
        after.distributed() - before.distributed(),
        after.failed - before.failed,
    ))
}

/// Runs `f` over `items` on `jobs` threads; the wall time of the whole batch.
fn parallel<F>(items: &[PathBuf], jobs: usize, f: F) -> anyhow::Result<Duration>
where
    F: Fn(&Path) -> anyhow::Result<()> + Sync,
{
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return Ok(());
                        };
                        f(item)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("worker panicked"))
    })?;
    Ok(t0.elapsed())
}
