//! When the builders registered with the scheduler that runs now, from the
//! timestamps Docker keeps with every log line.

use super::StatusReport;
use crate::lifecycle::container;

/// The time of the first "Server connected to scheduler" in a server's log since
/// the scheduler started: when it registered with the scheduler that runs now.
pub(super) fn registered_since(container: &str, scheduler_started: &str) -> Option<String> {
    if scheduler_started.is_empty() {
        return None;
    }
    let log = container::log_since(container, scheduler_started);
    let line = log
        .lines()
        .find(|l| l.contains("Server connected to scheduler"))?;
    line.split_whitespace().next().map(str::to_owned)
}

/// Seconds from the scheduler's start to the last registration, once it counts
/// every build server and each of them logged its registration.
pub(super) fn all_registered_after(r: &StatusReport) -> Option<f64> {
    if (r.scheduler.num_servers? as usize) < r.expected_servers || r.builders.is_empty() {
        return None;
    }
    let start = rfc3339_secs(&r.scheduler_started_at)?;
    let mut last = start;
    for b in &r.builders {
        last = last.max(rfc3339_secs(b.registered_at.as_deref()?)?);
    }
    Some(last - start)
}

pub use sccache_dist_exporter::time::rfc3339_secs;
