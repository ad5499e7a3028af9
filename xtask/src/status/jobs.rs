//! What the metrics endpoint adds to `status`: each build server's jobs, the
//! client addresses seen, and where the endpoint and its token are.

use serde::Serialize;

use crate::lifecycle::metrics;
use crate::model::Cluster;
pub(super) use crate::sccache::metrics_endpoint::Snapshot;
use crate::store::StateDir;

/// One build server's jobs, as the scheduler's log tells them.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct JobsReport {
    /// Held now.
    pub in_progress: u64,
    /// Held at most (cores + 1 + cores/8), when known.
    pub slots: Option<u64>,
    /// Completed since the scheduler started.
    pub done: u64,
    /// De-allocated as stale since the scheduler started: their client never
    /// started them (it could not reach this server, or died).
    pub stale: u64,
}

/// The metrics endpoint.
#[derive(Debug, Clone, Serialize)]
pub struct MetricsReport {
    /// Where it is (Prometheus text; bearer token).
    pub url: String,
    /// The token file a scraper names (mode 0600).
    pub token_file: String,
    /// Client addresses that asked for a job since the scheduler started.
    pub client_addresses: Option<usize>,
    /// Why it could not be read.
    pub error: Option<String>,
}

/// Reads the endpoint once; its report and the snapshot (None when unreadable).
pub(super) fn read(state: &StateDir, c: &Cluster) -> (MetricsReport, Option<Snapshot>) {
    let snap = metrics::snapshot(state, c);
    let report = MetricsReport {
        url: metrics::url(c),
        token_file: metrics::token_file(state).display().to_string(),
        client_addresses: snap.as_ref().ok().map(|s| s.clients.len()),
        error: snap.as_ref().err().map(|e| format!("{e:#}")),
    };
    (report, snap.ok())
}

/// The jobs of the server at `address` (`IP:PORT`).
pub(super) fn of(snap: Option<&Snapshot>, address: &str) -> Option<JobsReport> {
    let row = snap?.servers.iter().find(|r| r.server == address)?;
    Some(JobsReport {
        in_progress: row.in_progress,
        slots: row.slots,
        done: row.completed,
        stale: row.stale,
    })
}

/// `3/3 slots, 120 done, 2 stale`.
pub(super) fn describe(j: &JobsReport) -> String {
    let slots = j
        .slots
        .map(|s| format!("{}/{s} slots", j.in_progress))
        .unwrap_or_else(|| format!("{} in progress", j.in_progress));
    format!("{slots}, {} done, {} stale", j.done, j.stale)
}
