//! The side-by-side table `bench cluster` prints, and what its columns mean.

use std::time::Duration;

use super::cluster::ClusterBench;
use super::workload::Measured;
use super::{median, verdict};

/// One way of compiling the batch and what its rounds measured.
pub struct Row {
    /// The way, as printed.
    pub way: String,
    /// The median round's wall time; the remote and failed counts of all rounds.
    pub m: Measured,
}

impl Row {
    /// A row named `way` from its rounds (at least one).
    pub fn from_rounds(way: &str, rounds: Vec<Measured>) -> Row {
        let wall = median(rounds.iter().map(|m| m.wall).collect());
        let distributed = rounds.iter().map(|m| m.distributed).sum();
        Row {
            way: way.to_owned(),
            m: Measured {
                wall,
                distributed,
                failed: rounds.iter().map(|m| m.failed).sum(),
            },
        }
    }
}

/// What one job slot spends per compile: wall × jobs / compiles. With `jobs`
/// slots kept busy, this is the mean time from a job's start to its end.
pub fn per_job(wall: Duration, jobs: usize, compiles: usize) -> Duration {
    wall.mul_f64(jobs as f64 / compiles as f64)
}

/// `/proc/loadavg`'s 1-minute figure with the CPU count, for noting the load.
pub fn load_average() -> String {
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!(
        "load {} on {cpus} CPUs",
        load.split(' ').next().unwrap_or("?")
    )
}

/// Prints the phases' tables, the container-vs-native comparison and the targets.
pub fn print(b: &ClusterBench, ready: &[Duration], phases: &[Vec<Row>], load_before: &str) {
    println!(
        "cluster {}: {} C compiles, {} at a time, median of {} round(s) ({load_before} before, {} after)",
        b.start.distro,
        b.compiles,
        b.jobs,
        b.rounds,
        load_average()
    );
    let r = median(ready.to_vec());
    println!(
        "  start -> ready: median of {} {:.2} s (target <= 2 s): {}",
        ready.len(),
        r.as_secs_f64(),
        verdict(r <= Duration::from_secs(2))
    );
    println!(
        "  {:<48} {:>8} {:>9} {:>8} {:>8} {:>9} {:>11}",
        "way", "wall", "compile/s", "vs local", "per job", "overhead", "remote/fail"
    );
    for (i, rows) in phases.iter().enumerate() {
        if i > 0 {
            println!("  control {i} (its own rounds; vs local and overhead against this local):");
        }
        table(b, rows);
    }
    println!("  per job = wall x jobs / compiles (one job slot's time per compile); overhead = per job - local's per job; remote/fail: all rounds");
    let rows = &phases[0];
    targets(b, &rows[0].m, &rows[2].m, &rows[3].m);
}

/// The rows of one phase against its first, local.
fn table(b: &ClusterBench, rows: &[Row]) {
    let local = &rows[0].m;
    let local_job = per_job(local.wall, b.jobs, b.compiles);
    for row in rows {
        let m = &row.m;
        let job = per_job(m.wall, b.jobs, b.compiles);
        let remote = match m.distributed {
            Some(d) => format!("{d}/{}", m.failed),
            None => "-".to_owned(),
        };
        println!(
            "  {:<48} {:>6.2} s {:>9.1} {:>7.2}x {:>5.0} ms {:>+6.0} ms {:>11}",
            row.way,
            m.wall.as_secs_f64(),
            b.compiles as f64 / m.wall.as_secs_f64(),
            local.wall.as_secs_f64() / m.wall.as_secs_f64(),
            job.as_secs_f64() * 1e3,
            (job.as_secs_f64() - local_job.as_secs_f64()) * 1e3,
            remote
        );
    }
}

/// Container against native (the same setup), and the cluster's targets.
fn targets(b: &ClusterBench, local: &Measured, native: &Measured, container: &Measured) {
    let secs = |m: &Measured| m.wall.as_secs_f64();
    let pct = 100.0 * (secs(container) / secs(native) - 1.0);
    println!(
        "  container vs native: {pct:+.1} % wall (within 5 %: {})",
        if pct.abs() <= 5.0 { "yes" } else { "no" }
    );
    let ratio = secs(local) / secs(container);
    println!(
        "  container throughput: {ratio:.2}x local (target >= 0.8x): {}",
        verdict(ratio >= 0.8)
    );
    let (n, d) = (b.compiles * b.rounds, container.distributed.unwrap_or(0));
    println!(
        "  container distributed: {d}/{n} ({:.0} %), {} failed, over all rounds (target 100 %): {}",
        100.0 * d as f64 / n as f64,
        container.failed,
        verdict(d as usize == n && container.failed == 0)
    );
}
