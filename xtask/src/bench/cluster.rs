//! `bench cluster`: start → ready, and the same batch of C compiles four ways side
//! by side (local `cc`, distcc, sccache-dist native on the host, the container
//! cluster), then the deployment controls of sccache-dist one at a time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::distcc::Distccd;
use super::native::NativeDist;
use super::report::{self, Row};
use super::workload::{Measured, Workload};
use crate::cluster::lifecycle;
use crate::cluster::start::{self, StartRequest};
use crate::profile::runtime::{self, LogLevel};
use crate::sccache::client_config;
use crate::state::StateDir;

/// What to measure.
pub struct ClusterBench {
    /// How to start the benchmark's own cluster (its own name and state).
    pub start: StartRequest,
    /// Start → ready measurements.
    pub starts: usize,
    /// C files in the batch.
    pub compiles: usize,
    /// Compiles at once, in every way.
    pub jobs: usize,
    /// sccache-dist's deployment, native and in the container.
    pub setup: Setup,
    /// Also measure each control flipped from `setup`, one at a time.
    pub controls: bool,
}

/// The deployment controls of sccache-dist the benchmark can vary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    /// `SCCACHE_LOG` of the scheduler and the server.
    pub log_level: LogLevel,
    /// The cache root (toolchains and the overlay build dir) on tmpfs (/dev/shm)
    /// instead of a disk directory (native) or the named volume (container).
    pub tmpfs: bool,
}

impl Setup {
    /// The controls flipped one at a time: the log level (info ↔ warn) and tmpfs.
    pub fn controls(self) -> Vec<Setup> {
        let other = match self.log_level {
            LogLevel::Info => LogLevel::Warn,
            _ => LogLevel::Info,
        };
        vec![
            Setup {
                log_level: other,
                ..self
            },
            Setup {
                tmpfs: !self.tmpfs,
                ..self
            },
        ]
    }

    fn label(self, disk: &str) -> String {
        let build = if self.tmpfs { "tmpfs" } else { disk };
        format!("log {}, cache {build}", self.log_level.as_str())
    }
}

/// The scheduler gives one server at most this many jobs at once (sccache-dist's
/// load weight); a job beyond it compiles locally.
pub fn scheduler_jobs_per_server(cores: usize) -> usize {
    cores + 1 + cores / 8
}

/// Runs the benchmark with a cluster of its own, removed afterwards.
pub fn run(root: &Path, b: &ClusterBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        b.starts >= 1 && b.compiles >= 1 && b.jobs >= 1,
        "counts must be at least 1"
    );
    let state_dir = tempfile::Builder::new().prefix("bench-state-").tempdir()?;
    let state = StateDir::new(Some(state_dir.path().to_owned()));
    let load_before = report::load_average();
    let result = measure(root, &state, b);
    let _ = lifecycle::remove_containers(&state, true);
    let (ready, rows) = result?;
    report::print(b, &ready, &rows, &load_before);
    Ok(())
}

fn measure(
    root: &Path,
    state: &StateDir,
    b: &ClusterBench,
) -> anyhow::Result<(Vec<Duration>, Vec<Row>)> {
    let w = Workload::new(b.compiles)?;
    println!(
        "measuring {} compiles, {} at a time ...",
        b.compiles, b.jobs
    );
    let mut rows = vec![Row::new("local (cc)", w.local(b.jobs)?)];
    let distccd = Distccd::start(b.jobs, b.start.timeout)?;
    rows.push(Row::new(
        "distcc (distccd, 127.0.0.1)",
        distccd.run(&w, b.jobs)?,
    ));
    drop(distccd);
    rows.push(native(root, b, &w, b.setup)?);
    let (ready, container_row) = container(root, state, b, &w, b.setup, b.starts)?;
    rows.push(container_row);
    if b.controls {
        for setup in b.setup.controls() {
            rows.push(native(root, b, &w, setup)?);
            rows.push(container(root, state, b, &w, setup, 1)?.1);
        }
    }
    Ok((ready, rows))
}

/// The batch through a native scheduler and server with `setup`.
fn native(root: &Path, b: &ClusterBench, w: &Workload, setup: Setup) -> anyhow::Result<Row> {
    let profile = runtime::load_named(root, &b.start.profile)?;
    let parent = cache_parent(setup.tmpfs, &std::env::temp_dir())?;
    let dist = NativeDist::start(root, &profile, setup.log_level, &parent, b.start.timeout)?;
    let m: Measured = w.sccache(&dist.client_conf, b.jobs, "native")?;
    Ok(Row::new(
        &format!("sccache-dist native ({})", setup.label("disk")),
        m,
    ))
}

/// The batch through the container cluster started `starts` times with `setup`;
/// the start → ready times of those starts.
fn container(
    root: &Path,
    state: &StateDir,
    b: &ClusterBench,
    w: &Workload,
    setup: Setup,
    starts: usize,
) -> anyhow::Result<(Vec<Duration>, Row)> {
    lifecycle::remove_containers(state, true)?;
    let shm = match setup.tmpfs {
        true => Some(
            tempfile::Builder::new()
                .prefix("bench-cache-")
                .tempdir_in(cache_parent(true, Path::new("/"))?)?,
        ),
        false => None,
    };
    let mut req = b.start.clone();
    req.log_level = Some(setup.log_level);
    req.cache_dir = shm.as_ref().map(|d| d.path().to_owned());
    let mut ready = Vec::new();
    for i in 0..starts {
        if i > 0 {
            lifecycle::stop(state)?;
        }
        ready.push(start::start(root, state, &req)?.ready_after);
    }
    let m = w.sccache(&client_config::render(root, state)?, b.jobs, "container")?;
    // The container writes the tmpfs cache as root: remove it before the directory.
    lifecycle::remove_containers(state, true)?;
    let label = format!("sccache-dist container ({})", setup.label("volume"));
    Ok((ready, Row::new(&label, m)))
}

/// Where a cache root goes: `/dev/shm` (checked to be tmpfs) or `disk`.
fn cache_parent(tmpfs: bool, disk: &Path) -> anyhow::Result<PathBuf> {
    if !tmpfs {
        return Ok(disk.to_owned());
    }
    let shm = PathBuf::from("/dev/shm");
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    anyhow::ensure!(
        mounts.lines().any(
            |l| l.split(' ').nth(1) == Some("/dev/shm") && l.split(' ').nth(2) == Some("tmpfs")
        ),
        "--tmpfs: /dev/shm is not a tmpfs here"
    );
    Ok(shm)
}
