//! `cargo xtask bench ...`: benchmarks that print their figures against the targets.
//! Targets are reported, not asserted: a slow machine makes a slow run, not a bug.

pub mod child;
pub mod cluster;
pub mod distcc;
pub mod exporter;
pub mod image;
pub mod native;
pub mod report;
pub mod spec;
pub mod workload;

use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;

/// The middle of the measurements.
pub fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

/// Wall time of a command run to completion; a failure is an error.
pub fn timed(cmd: &mut Command) -> anyhow::Result<Duration> {
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

/// "met" or "NOT met", for a target.
pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "NOT met"
    }
}
