//! The side-by-side table `bench cluster` prints, and what its columns mean.

use std::time::Duration;

use super::spec::{scheduler_slots, ClusterBench};
use super::workload::Measured;
use super::{median, verdict};

/// The row of the container cluster behind its TLS front (one build server),
/// beside the plain-HTTP container row.
pub const TLS_ROW: &str = "sccache-dist container, TLS";

/// The TLS hop's cost is reported against this: TLS wall / plain wall − 1.
pub const TLS_TARGET_PCT: f64 = 5.0;

/// One way of compiling the batch and what its rounds measured.
pub struct Row {
    /// The way, as printed.
    pub way: String,
    /// The median round's wall time; the remote and failed counts of all rounds.
    pub m: Measured,
    /// Each round's wall time, in order: paired with the same round of another way.
    pub walls: Vec<Duration>,
    /// Local's walls of this row's own rounds, when its reference is not the
    /// phase's first row (a row measured later, with a local run of its own).
    pub reference: Option<Vec<Duration>>,
}

impl Row {
    /// A row named `way` from its rounds (at least one).
    pub fn from_rounds(way: &str, rounds: Vec<Measured>) -> Row {
        let walls: Vec<Duration> = rounds.iter().map(|m| m.wall).collect();
        let wall = median(walls.clone());
        let distributed = rounds.iter().map(|m| m.distributed).sum();
        Row {
            way: way.to_owned(),
            m: Measured {
                wall,
                distributed,
                failed: rounds.iter().map(|m| m.failed).sum(),
            },
            walls,
            reference: None,
        }
    }

    /// This row with `local`'s rounds as its reference (`vs local`, `overhead`).
    pub fn against(self, local: &Row) -> Row {
        Row {
            reference: Some(local.walls.clone()),
            ..self
        }
    }
}

/// What one job slot spends per compile: wall × jobs / compiles. With `jobs`
/// slots kept busy, this is the mean time from a job's start to its end.
pub fn per_job(wall: Duration, jobs: usize, compiles: usize) -> Duration {
    wall.mul_f64(jobs as f64 / compiles as f64)
}

/// The median over rounds of `f(this round's wall of a, of b)` in seconds: a
/// paired figure, so a round the machine's load slowed counts against both.
pub fn paired(a: &Row, b: &Row, f: impl Fn(f64, f64) -> f64) -> f64 {
    paired_walls(&a.walls, &b.walls, f)
}

/// [`paired`] over two rounds' wall times.
pub fn paired_walls(a: &[Duration], b: &[Duration], f: impl Fn(f64, f64) -> f64) -> f64 {
    let mut xs: Vec<f64> = a
        .iter()
        .zip(b)
        .map(|(x, y)| f(x.as_secs_f64(), y.as_secs_f64()))
        .collect();
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
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
    let front = match b.start.plain_http {
        true => "plain HTTP",
        false => "TLS front",
    };
    println!(
        "  start -> ready ({front}): median of {} {:.2} s (target <= 2 s): {}",
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
    println!("  wall, compile/s, per job: the median round; vs local, overhead, container vs native, TLS vs plain: the median of per-round pairs");
    println!("  container rows: plain HTTP (like native) unless marked TLS; both clusters are started for each of their rounds and stopped after it (they share the ports), plain first in odd rounds, TLS first in even ones");
    println!("  per job = wall x jobs / compiles (one job slot's time per compile); overhead = per job - local's per job; remote/fail: all rounds");
    if b.builders > 1 {
        println!("  N builders rows: the same cluster scaled up after the rows above, each with local runs of its own rounds as the reference for vs local and overhead");
    }
    capacity(b);
    let rows = &phases[0];
    targets(b, &rows[0], &rows[2], &rows[3]);
    let tls = rows.iter().find(|r| r.way == TLS_ROW);
    println!("  {}", tls_line(&rows[3], tls));
}

/// The TLS hop's cost: the median over rounds of TLS wall / plain wall − 1,
/// against [`TLS_TARGET_PCT`].
pub fn tls_line(plain: &Row, tls: Option<&Row>) -> String {
    let Some(tls) = tls else {
        return "TLS vs plain: not measured (--plain-http)".to_owned();
    };
    let pct = paired(plain, tls, |p, t| 100.0 * (t / p - 1.0));
    format!(
        "TLS vs plain: {pct:+.1} % wall (target <= {TLS_TARGET_PCT:.0} %): {}",
        verdict(pct <= TLS_TARGET_PCT)
    )
}

/// The scheduler's capacity for each N against `jobs`, and the hint to raise
/// `--jobs` when the default keeps N builders from filling.
fn capacity(b: &ClusterBench) {
    for n in 1..=b.builders {
        println!("  {}", capacity_line(n, b.slots_per_server, b.jobs));
    }
    let most = scheduler_slots(b.builders, b.slots_per_server);
    if b.builders > 1 && b.jobs < most {
        println!(
            "  hint: {} jobs fill one builder's slots at most; `--jobs {most}` fills {} builders' (and overloads fewer builders: their excess compiles fall back)",
            b.jobs, b.builders
        );
    }
}

/// One N's capacity: slots = N × (cores + 1 + cores/8), and what `jobs` beyond it do.
pub fn capacity_line(n: usize, per_server: usize, jobs: usize) -> String {
    let slots = scheduler_slots(n, per_server);
    let servers = if n == 1 { "builder" } else { "builders" };
    let fit = if jobs > slots {
        format!(
            "{jobs} jobs exceed them: up to {} compiles at a time fall back to local and count as failed",
            jobs - slots
        )
    } else {
        format!("{jobs} jobs fit")
    };
    format!("{n} {servers}: scheduler slots {n} x {per_server} = {slots}; {fit}")
}

/// The rows of one phase against its first, local, round by round.
fn table(b: &ClusterBench, rows: &[Row]) {
    let slots = b.jobs as f64 / b.compiles as f64;
    for row in rows {
        let local = row.reference.as_deref().unwrap_or(&rows[0].walls);
        let m = &row.m;
        let remote = match m.distributed {
            Some(d) => format!("{d}/{}", m.failed),
            None => "-".to_owned(),
        };
        println!(
            "  {:<48} {:>6.2} s {:>9.1} {:>7.2}x {:>5.0} ms {:>+6.0} ms {:>11}",
            row.way,
            m.wall.as_secs_f64(),
            b.compiles as f64 / m.wall.as_secs_f64(),
            paired_walls(local, &row.walls, |l, w| l / w),
            per_job(m.wall, b.jobs, b.compiles).as_secs_f64() * 1e3,
            paired_walls(local, &row.walls, |l, w| (w - l) * slots * 1e3),
            remote
        );
    }
}

/// Container against native (the same setup, round by round), and the targets.
fn targets(b: &ClusterBench, local: &Row, native: &Row, container: &Row) {
    let pct = paired(native, container, |n, c| 100.0 * (c / n - 1.0));
    println!(
        "  container vs native: {pct:+.1} % wall (within 5 %: {})",
        if pct.abs() <= 5.0 { "yes" } else { "no" }
    );
    let ratio = paired(local, container, |l, c| l / c);
    println!(
        "  container throughput: {ratio:.2}x local (target >= 0.8x): {}",
        verdict(ratio >= 0.8)
    );
    let container = &container.m;
    let (n, d) = (b.compiles * b.rounds, container.distributed.unwrap_or(0));
    println!(
        "  container distributed: {d}/{n} ({:.0} %), {} failed, over all rounds (target 100 %): {}",
        100.0 * d as f64 / n as f64,
        container.failed,
        verdict(d as usize == n && container.failed == 0)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(walls: &[u64]) -> Row {
        let ms: Vec<Measured> = walls
            .iter()
            .map(|&s| Measured {
                wall: Duration::from_secs(s),
                distributed: Some(1),
                failed: 0,
            })
            .collect();
        Row::from_rounds("x", ms)
    }

    #[test]
    fn per_job_is_one_slots_time_per_compile() {
        assert_eq!(
            per_job(Duration::from_secs(10), 3, 60),
            Duration::from_millis(500)
        );
    }

    #[test]
    fn capacity_says_when_jobs_fall_back() {
        assert_eq!(
            capacity_line(1, 3, 9),
            "1 builder: scheduler slots 1 x 3 = 3; 9 jobs exceed them: up to 6 compiles at a time fall back to local and count as failed"
        );
        assert_eq!(
            capacity_line(3, 3, 9),
            "3 builders: scheduler slots 3 x 3 = 9; 9 jobs fit"
        );
    }

    #[test]
    fn a_later_row_pairs_with_its_own_local() {
        let (local, way) = (row(&[4, 4, 8]), row(&[8, 8, 4]));
        let later = row(&[8, 8, 4]).against(&row(&[8, 8, 4]));
        assert_eq!(later.reference.as_deref(), Some(&way.walls[..]));
        assert_eq!(paired(&local, &way, |l, w| l / w), 0.5);
    }

    #[test]
    fn tls_cost_is_the_median_of_round_pairs() {
        // Round 2 was slowed for TLS alone; the median pair is +4 %, within target.
        let (plain, tls) = (row(&[25, 25, 50]), row(&[26, 40, 52]));
        assert_eq!(
            tls_line(&plain, Some(&tls)),
            "TLS vs plain: +4.0 % wall (target <= 5 %): met"
        );
        let slow = row(&[27, 27, 54]);
        assert_eq!(
            tls_line(&plain, Some(&slow)),
            "TLS vs plain: +8.0 % wall (target <= 5 %): NOT met"
        );
        assert_eq!(
            tls_line(&plain, None),
            "TLS vs plain: not measured (--plain-http)"
        );
    }

    #[test]
    fn pairs_are_taken_round_by_round() {
        // The load doubled in round 3: both ways slowed alike, the ratio holds.
        let (local, way) = (row(&[4, 4, 8]), row(&[5, 5, 10]));
        assert_eq!(way.m.wall, Duration::from_secs(5));
        assert_eq!(way.m.distributed, Some(3));
        assert_eq!(paired(&local, &way, |l, w| l / w), 0.8);
    }
}
