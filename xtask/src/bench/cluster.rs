//! `bench cluster`: start → ready, and a batch of C compiles through the cluster
//! against the same batch compiled locally.

use std::time::Duration;

use super::workload::{compile_batch, BatchResult};
use super::{median, verdict};
use crate::cluster::lifecycle;
use crate::cluster::start::{self, StartRequest};
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
    /// Compiles at once, locally and through the cluster.
    pub jobs: usize,
}

/// The scheduler gives one server at most this many jobs at once (sccache-dist's
/// load weight); a job beyond it compiles locally.
pub fn scheduler_jobs_per_server(cores: usize) -> usize {
    cores + 1 + cores / 8
}

/// Runs the benchmark on a cluster of its own, removed afterwards.
pub fn run(root: &std::path::Path, b: &ClusterBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        b.starts >= 1 && b.compiles >= 1 && b.jobs >= 1,
        "counts must be at least 1"
    );
    let state_dir = tempfile::Builder::new().prefix("bench-state-").tempdir()?;
    let state = StateDir::new(Some(state_dir.path().to_owned()));
    let result = measure(root, &state, b);
    let _ = lifecycle::remove_containers(&state, true);
    let (ready, batch) = result?;
    report(b, &ready, &batch);
    Ok(())
}

fn measure(
    root: &std::path::Path,
    state: &StateDir,
    b: &ClusterBench,
) -> anyhow::Result<(Vec<Duration>, BatchResult)> {
    let mut ready = Vec::new();
    for i in 0..b.starts {
        if i > 0 {
            lifecycle::stop(state)?;
        }
        ready.push(start::start(root, state, &b.start)?.ready_after);
    }
    let batch = compile_batch(&client_config::render(root, state)?, b.compiles, b.jobs)?;
    Ok((ready, batch))
}

fn report(b: &ClusterBench, ready: &[Duration], r: &BatchResult) {
    println!(
        "cluster {}: {} starts, {} C compiles, {} at a time",
        b.start.distro, b.starts, b.compiles, b.jobs
    );
    let ready = median(ready.to_vec());
    println!(
        "  start -> ready: median {:.2} s (target <= 2 s): {}",
        ready.as_secs_f64(),
        verdict(ready <= Duration::from_secs(2))
    );
    let n = b.compiles as f64;
    let (local, remote) = (r.local.as_secs_f64(), r.remote.as_secs_f64());
    println!("  local:       {local:.2} s ({:.1} compiles/s)", n / local);
    println!(
        "  distributed: {remote:.2} s ({:.1} compiles/s)",
        n / remote
    );
    let ratio = local / remote;
    println!(
        "  throughput: {ratio:.2}x local (target >= 0.8x): {}",
        verdict(ratio >= 0.8)
    );
    println!(
        "  distributed: {}/{} ({:.0} %), {} failed (target 100 %): {}",
        r.distributed,
        b.compiles,
        100.0 * r.distributed as f64 / n,
        r.failed,
        verdict(r.distributed as usize == b.compiles && r.failed == 0)
    );
}
