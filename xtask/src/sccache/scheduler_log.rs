//! What the scheduler's own log says about its build servers, read with the
//! exporter's parser: which servers hold jobs no client started (the clients
//! cannot reach them), the cause `doctor` names even when its own compile
//! passes. The same events feed the metrics and `status`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use sccache_dist_exporter::events::parse_line;
use sccache_dist_exporter::state::State;
use sccache_dist_exporter::time::rfc3339_secs;

pub use sccache_dist_exporter::state::UNSTARTED_AFTER_SECS;

/// A build server some clients cannot reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreached {
    /// The server.
    pub server: SocketAddr,
    /// Jobs the scheduler de-allocated as stale (in the log read).
    pub stale: u64,
    /// Jobs allocated and still not started (`UNSTARTED_AFTER_SECS` and more).
    pub unstarted: u64,
}

/// Reads a log whose lines carry times (`docker logs --timestamps`, or
/// env_logger's own) and names the servers with stale or unstarted jobs at `now`.
pub fn unreached(log: &str, now: f64) -> Vec<Unreached> {
    let mut state = State::new(0.0);
    let mut last = 0.0;
    for line in log.lines() {
        let l = parse_line(line);
        let t = l.time.and_then(rfc3339_secs).unwrap_or(last);
        last = t;
        state.apply(l.event, t);
    }
    let unstarted = state.unstarted(now, UNSTARTED_AFTER_SECS);
    let mut out: BTreeMap<SocketAddr, Unreached> = BTreeMap::new();
    for (server, s) in &state.servers {
        if s.stale > 0 {
            out.entry(*server)
                .or_insert(Unreached {
                    server: *server,
                    stale: 0,
                    unstarted: 0,
                })
                .stale = s.stale;
        }
    }
    for (server, n) in unstarted {
        out.entry(server)
            .or_insert(Unreached {
                server,
                stale: 0,
                unstarted: 0,
            })
            .unstarted = n;
    }
    out.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_and_unstarted_jobs_name_their_server() {
        let log = "\
2026-12-07T10:00:00.000Z [2026-12-07T10:00:00Z INFO  sccache_dist] Registered new server ServerId(10.0.0.2:10501)
2026-12-07T10:00:00.000Z [2026-12-07T10:00:00Z INFO  sccache_dist] Registered new server ServerId(10.0.0.3:10501)
2026-12-07T10:00:01.000Z [2026-12-07T10:00:01Z INFO  sccache_dist] Job 1 created and will be assigned to server ServerId(10.0.0.2:10501)
2026-12-07T10:00:01.000Z [2026-12-07T10:00:01Z INFO  sccache_dist] Job 2 created and will be assigned to server ServerId(10.0.0.2:10501)
2026-12-07T10:00:01.000Z [2026-12-07T10:00:01Z INFO  sccache_dist] Job 3 created and will be assigned to server ServerId(10.0.0.3:10501)
2026-12-07T10:00:02.000Z [2026-12-07T10:00:02Z INFO  sccache_dist] Job 3 updated state to Started
2026-12-07T10:00:40.000Z [2026-12-07T10:00:40Z WARN  sccache_dist] The following stale jobs will be de-allocated: [JobId(1)]
";
        let t = rfc3339_secs("2026-12-07T10:00:41Z").unwrap();
        let u = unreached(log, t);
        assert_eq!(u.len(), 1, "{u:?}");
        assert_eq!(u[0].server.to_string(), "10.0.0.2:10501");
        assert_eq!((u[0].stale, u[0].unstarted), (1, 1));
        // Seconds after an allocation, a job not started yet is no sign.
        let early = rfc3339_secs("2026-12-07T10:00:05Z").unwrap();
        assert!(unreached(&log.lines().take(6).collect::<Vec<_>>().join("\n"), early).is_empty());
    }
}
