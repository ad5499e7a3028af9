//! The metrics exporter's cost: `bench cluster` reads each container cluster's
//! endpoint before it stops it (its counters restart with the container) and
//! adds up the exporter's CPU seconds, its largest resident memory and the jobs
//! it counted; `bench parse` times the log parser alone.

use std::time::Instant;

use crate::lifecycle::metrics;
use crate::lifecycle::records::Records;
use crate::store::StateDir;

/// The exporter's cost over the runs read so far.
#[derive(Debug, Default, Clone)]
pub struct ExporterCost {
    /// Readings taken.
    pub readings: usize,
    /// The exporter's CPU seconds, summed.
    pub cpu_seconds: f64,
    /// Its largest resident memory.
    pub max_rss_bytes: f64,
    /// Jobs completed, summed.
    pub jobs: f64,
    /// Seconds the servers spent compiling those jobs (Started to Complete).
    pub compile_seconds: f64,
}

impl ExporterCost {
    /// Reads the running cluster of `state` once; a failure is only reported.
    pub fn read(&mut self, state: &StateDir) {
        let text = state.record().and_then(|c| metrics::text(state, &c));
        let samples = match text.map(|t| sccache_dist_exporter::exposition::parse(&t)) {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => return println!("metrics exporter: not readable: {e}"),
            Err(e) => return println!("metrics exporter: not readable: {e:#}"),
        };
        let sum = |name: &str| -> f64 {
            samples
                .iter()
                .filter(|s| s.name == name)
                .map(|s| s.value)
                .sum()
        };
        self.readings += 1;
        self.cpu_seconds += sum("process_cpu_seconds_total");
        self.max_rss_bytes = self.max_rss_bytes.max(sum("process_resident_memory_bytes"));
        self.jobs += sum("sccache_dist_server_jobs_completed_total");
        self.compile_seconds += sum("sccache_dist_server_job_compile_seconds_sum");
    }

    /// The report's lines, against the targets (< 1 % of the compile time, < 20 MB).
    pub fn lines(&self) -> Vec<String> {
        if self.readings == 0 || self.jobs == 0.0 {
            return vec!["metrics exporter: no reading with completed jobs".into()];
        }
        let per_1000 = self.cpu_seconds / self.jobs * 1000.0;
        let share = 100.0 * self.cpu_seconds / self.compile_seconds.max(f64::MIN_POSITIVE);
        let mb = self.max_rss_bytes / 1e6;
        vec![
            format!(
                "metrics exporter: {per_1000:.3} CPU s per 1000 jobs ({:.2} CPU s over {} jobs in {} run(s)); {share:.2} % of the servers' compile time ({:.1} s) (target < 1 %: {})",
                self.cpu_seconds,
                self.jobs,
                self.readings,
                self.compile_seconds,
                super::verdict(share < 1.0)
            ),
            format!(
                "metrics exporter: resident memory at most {mb:.1} MB (target < 20 MB: {})",
                super::verdict(mb < 20.0)
            ),
        ]
    }
}

/// `bench parse`: `lines` synthetic scheduler log lines (the mix a busy
/// scheduler writes: each job's five lines, heartbeat warnings, a line it does
/// not know) through the exporter's parser and state, on one core.
pub fn parse(lines: usize) -> anyhow::Result<()> {
    anyhow::ensure!(lines >= 1, "--lines must be at least 1");
    let mut log = Vec::with_capacity(lines);
    let mut job = 0u64;
    while log.len() < lines {
        let server = format!("ServerId(10.0.{}.{}:10501)", job % 4, job % 7 + 2);
        let h = "[2026-12-07T15:56:44Z INFO  sccache_dist]";
        log.push(format!(
            "{h} Job {job} created and will be assigned to server {server}"
        ));
        log.push(format!(
            "{h} Job {job} successfully assigned and saved with state Pending"
        ));
        log.push(format!("{h} Job {job} updated state to Ready"));
        log.push(format!("{h} Job {job} updated state to Started"));
        log.push(format!("{h} Job {job} updated state to Complete"));
        if job.is_multiple_of(50) {
            log.push(format!("{h} Registered new server {server}"));
            log.push(
                "[2026-12-07T15:56:44Z INFO  sccache::dist::http::server] something else entirely"
                    .into(),
            );
        }
        job += 1;
    }
    log.truncate(lines);
    let mut state = sccache_dist_exporter::state::State::new(0.0);
    let t0 = Instant::now();
    for (i, l) in log.iter().enumerate() {
        state.log_line(l, i as f64 * 1e-3);
    }
    let secs = t0.elapsed().as_secs_f64();
    let rate = lines as f64 / secs;
    println!(
        "parse: {lines} scheduler log lines in {secs:.3} s: {rate:.0} lines/s on one core ({} unparsed) (target >= 200000 lines/s: {})",
        state.unparsed,
        super::verdict(rate >= 200_000.0)
    );
    println!("(a debug build of the xtask measures the debug parser; the exporter in the image is a release build: `cargo run --release -p xtask -- bench parse`)");
    Ok(())
}
