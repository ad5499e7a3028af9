//! `top`: the cluster live, like icemon or htop: every build server with its
//! slots, jobs and heartbeat, every client address with its recent requests,
//! the totals and the scheduler's uptime. It reads the metrics endpoint a
//! scraper reads, so the view and the scrape never disagree. Plain ANSI (works
//! over SSH); `q` quits; `--once` prints one frame for scripts.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::lifecycle::metrics;
use crate::lifecycle::records::Records;
use crate::sccache::metrics_endpoint::Snapshot;
use crate::store::StateDir;

mod terminal;

/// Runs the view until `q` (or prints one frame with `once`).
pub fn top(state: &StateDir, once: bool) -> anyhow::Result<()> {
    let c = state.record()?;
    let url = metrics::url(&c);
    if once {
        let snap = metrics::snapshot(state, &c)?;
        print!("{}", frame(&url, &snap, None, now()));
        return Ok(());
    }
    let term = terminal::Raw::enter()?;
    let mut previous: Option<(Snapshot, Instant)> = None;
    loop {
        let text = match metrics::snapshot(state, &c) {
            Ok(snap) => {
                let rates = previous
                    .as_ref()
                    .map(|(p, at)| (p, at.elapsed().as_secs_f64()));
                let text = frame(&url, &snap, rates, now());
                previous = Some((snap, Instant::now()));
                text
            }
            Err(e) => format!("{url}: {e:#}\n(retrying every second; q quits)\n"),
        };
        term.draw(&text)?;
        if term.quit_within(Duration::from_secs(1))? {
            return Ok(());
        }
    }
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `4s`, `3m12s`, `2h05m`.
fn span(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

/// One screen. `previous` (the last snapshot and the seconds since) gives the
/// clients' requests per second.
pub fn frame(url: &str, s: &Snapshot, previous: Option<(&Snapshot, f64)>, now: f64) -> String {
    let mut out = String::new();
    let up = if s.up { "answering" } else { "NOT answering" };
    let _ = writeln!(
        out,
        "sccache-dist top: {url}  scheduler {up}, up {}, sccache-dist {}",
        span(now - s.start_time),
        if s.version.is_empty() {
            "?"
        } else {
            &s.version
        }
    );
    match s.totals {
        Some((servers, cpus, jobs)) => {
            let slots: u64 = s
                .servers
                .iter()
                .filter(|r| r.registered)
                .filter_map(|r| r.slots)
                .sum();
            let _ = writeln!(
                out,
                "servers {servers} registered, {cpus} CPUs; jobs {jobs} in progress of {slots} slots"
            );
        }
        None => out.push_str("servers ? (the scheduler's status API does not answer)\n"),
    }
    let _ = writeln!(
        out,
        "\n{:<22} {:<14} {:>7} {:>7} {:>6} {:>8} {:>10}",
        "BUILDER", "STATE", "SLOTS", "DONE", "STALE", "MEDIAN", "HEARTBEAT"
    );
    for r in &s.servers {
        let state = if r.registered { "registered" } else { "pruned" };
        let slots = match r.slots {
            Some(n) => format!("{}/{n}", r.in_progress),
            None => format!("{}/?", r.in_progress),
        };
        let median = r
            .compile_median_seconds
            .map(|m| format!("{m:.2}s"))
            .unwrap_or_else(|| "-".into());
        let beat = r
            .last_heartbeat
            .map(|t| format!("{} ago", span(now - t)))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<22} {:<14} {:>7} {:>7} {:>6} {:>8} {:>10}",
            r.server, state, slots, r.completed, r.stale, median, beat
        );
    }
    if s.servers.is_empty() {
        out.push_str("(no build server has registered since the scheduler started)\n");
    }
    let before: BTreeMap<&str, u64> = previous
        .map(|(p, _)| {
            p.clients
                .iter()
                .map(|c| (c.address.as_str(), c.allocated + c.refused))
                .collect()
        })
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "\n{:<22} {:>8} {:>10} {:>8} {:>10}",
        "CLIENT", "JOBS/S", "ALLOCATED", "REFUSED", "LAST"
    );
    for c in &s.clients {
        let rate = match (previous, before.get(c.address.as_str())) {
            (Some((_, secs)), Some(b)) if secs > 0.0 => {
                format!(
                    "{:.1}",
                    (c.allocated + c.refused).saturating_sub(*b) as f64 / secs
                )
            }
            _ => "-".into(),
        };
        let last = c
            .last_request
            .map(|t| format!("{} ago", span(now - t)))
            .unwrap_or_else(|| "-".into());
        let _ = writeln!(
            out,
            "{:<22} {:>8} {:>10} {:>8} {:>10}",
            c.address, rate, c.allocated, c.refused, last
        );
    }
    if s.clients.is_empty() {
        out.push_str("(no client has asked for a job since the scheduler started)\n");
    }
    let stale: u64 = s.servers.iter().map(|r| r.stale).sum();
    let _ = writeln!(
        out,
        "\nstale jobs {stale}; heartbeats refused {}; log lines not understood {}",
        s.heartbeats_refused, s.unparsed_lines
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use sccache_dist_exporter::snapshot::{ClientRow, ServerRow};

    #[test]
    fn a_frame_lists_every_builder_and_client_with_rates() {
        let mut s = Snapshot {
            up: true,
            totals: Some((1, 2, 1)),
            start_time: 1000.0,
            version: "0.19.0".into(),
            ..Snapshot::default()
        };
        s.servers.push(ServerRow {
            server: "10.0.0.2:10501".into(),
            registered: true,
            slots: Some(3),
            in_progress: 1,
            created: 9,
            completed: 7,
            stale: 1,
            compile_median_seconds: Some(0.5),
            last_heartbeat: Some(1190.0),
        });
        s.clients.push(ClientRow {
            address: "10.0.0.9".into(),
            allocated: 10,
            refused: 0,
            last_request: Some(1199.0),
        });
        let mut before = s.clone();
        before.clients[0].allocated = 4;
        let text = frame("https://h:10600/metrics", &s, Some((&before, 2.0)), 1200.0);
        assert!(text.contains("up 3m20s"), "{text}");
        assert!(text.contains("jobs 1 in progress of 3 slots"), "{text}");
        let row = text
            .lines()
            .find(|l| l.starts_with("10.0.0.2:10501"))
            .unwrap();
        for want in ["registered", "1/3", "7", "1", "0.50s", "10s ago"] {
            assert!(row.contains(want), "{want} in {row}");
        }
        let client = text.lines().find(|l| l.starts_with("10.0.0.9")).unwrap();
        assert!(client.contains(" 3.0 "), "{client}");
        assert!(text.contains("stale jobs 1"), "{text}");
    }
}
