//! Whether clients reach every build server, from the scheduler's log of the
//! last minutes: jobs allocated to a server and never started by their client
//! (stale, or waiting) mean some client cannot connect to it. Named whether or
//! not this host's own compile works, and preferred to "full" when those jobs
//! are what fills the server's slots.

use std::time::{SystemTime, UNIX_EPOCH};

use super::Report;
use crate::lifecycle::container;
use crate::model::Cluster;
use crate::sccache::causes::unreachable_builder_advice;
use crate::sccache::scheduler_log::{self, Unreached};

/// How far back the scheduler's log is read.
const WINDOW: &str = "15m";

/// The servers clients could not reach in the last minutes.
pub(super) fn unreached(c: &Cluster) -> Vec<Unreached> {
    let log = container::log_since(&c.scheduler.container, WINDOW);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    scheduler_log::unreached(&log, now)
}

/// The advice for each.
pub(super) fn advice(found: &[Unreached]) -> Vec<String> {
    found
        .iter()
        .map(|u| unreachable_builder_advice(&u.server.to_string(), u.stale, u.unstarted))
        .collect()
}

/// The check: fails naming every server some client could not reach.
pub(super) fn check(c: &Cluster, rep: &mut Report) -> Vec<Unreached> {
    let found = unreached(c);
    if found.is_empty() {
        rep.ok(
            "build servers reached",
            format!("no stale or unstarted job in the scheduler's log of the last {WINDOW}"),
        );
    } else {
        rep.fail("build servers reached", advice(&found).join("\n"));
    }
    found
}

/// The `host:port` a timed-out connection went to, from a client's log line
/// such as `error sending request for url (https://IP:PORT/api/...)`.
pub(super) fn timed_out_address(client_log: &str) -> Option<String> {
    let line = client_log
        .lines()
        .find(|l| l.contains("timed out") || l.contains("Timed out"))?;
    let start = line.find("://")? + 3;
    let rest = &line[start..];
    let end = rest.find(['/', ')', ' ', '"']).unwrap_or(rest.len());
    (end > 0).then(|| rest[..end].to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_a_connection_timed_out_on() {
        let log = "[2026 WARN sccache] Could not submit toolchain: error sending request for url (https://10.0.0.3:10501/api/v1/distserver/submit_toolchain/1): client error (Connect): tcp connect error: Connection timed out (os error 110)";
        assert_eq!(timed_out_address(log).as_deref(), Some("10.0.0.3:10501"));
        assert_eq!(timed_out_address("all fine"), None);
    }
}
