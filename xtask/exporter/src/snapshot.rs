//! The exposition read back into what `status` and `top` show: one row per
//! build server, one per client address, the scheduler's totals.

use std::collections::BTreeMap;

use crate::exposition::{parse, Sample};
use crate::names::{self, BUCKETS};

/// One build server's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerRow {
    /// `IP:PORT`.
    pub server: String,
    /// Registered now.
    pub registered: bool,
    /// Jobs it may hold at most, when known.
    pub slots: Option<u64>,
    /// Jobs held now.
    pub in_progress: u64,
    /// Jobs created for it.
    pub created: u64,
    /// Jobs it completed.
    pub completed: u64,
    /// Jobs de-allocated as stale.
    pub stale: u64,
    /// The median compile time (Started to Complete), from the histogram.
    pub compile_median_seconds: Option<f64>,
    /// Unix time of the last heartbeat from its address.
    pub last_heartbeat: Option<f64>,
}

/// One client address's row.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientRow {
    /// The address.
    pub address: String,
    /// Job allocations answered 2xx.
    pub allocated: u64,
    /// Job allocations refused (any other status).
    pub refused: u64,
    /// Unix time of the last one.
    pub last_request: Option<f64>,
}

/// One client's row, by the name its own token carries.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NamedClientRow {
    /// Its name (`unknown`: tokens the front refused).
    pub name: String,
    /// Job allocations answered 2xx.
    pub allocated: u64,
    /// Job allocations refused.
    pub refused: u64,
    /// Unix time of its last one.
    pub last_seen: Option<f64>,
}

/// One reading of the endpoint.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    /// The scheduler answered its status API.
    pub up: bool,
    /// Registered servers, CPUs, jobs in progress (the scheduler's totals).
    pub totals: Option<(u64, u64, u64)>,
    /// Unix time the scheduler started.
    pub start_time: f64,
    /// sccache-dist's version.
    pub version: String,
    /// The build servers.
    pub servers: Vec<ServerRow>,
    /// The client addresses.
    pub clients: Vec<ClientRow>,
    /// The clients by name.
    pub named_clients: Vec<NamedClientRow>,
    /// Heartbeats refused (status >= 400), all addresses.
    pub heartbeats_refused: u64,
    /// Log lines no pattern matched.
    pub unparsed_lines: u64,
}

impl Snapshot {
    /// Reads an exposition.
    pub fn parse(text: &str) -> Result<Snapshot, String> {
        Ok(Snapshot::from_samples(&parse(text)?))
    }

    /// From samples already read.
    pub fn from_samples(samples: &[Sample]) -> Snapshot {
        let one = |name: &str| samples.iter().find(|s| s.name == name).map(|s| s.value);
        let mut snap = Snapshot {
            up: one(names::UP.name) == Some(1.0),
            start_time: one(names::START_TIME.name).unwrap_or(0.0),
            ..Snapshot::default()
        };
        if let (Some(s), Some(c), Some(j)) = (
            one(names::SERVERS_REGISTERED.name),
            one(names::CPUS.name),
            one(names::JOBS_IN_PROGRESS.name),
        ) {
            snap.totals = Some((s as u64, c as u64, j as u64));
        }
        snap.unparsed_lines = one(names::LOG_LINES_UNPARSED.name).unwrap_or(0.0) as u64;
        let mut servers: BTreeMap<String, ServerRow> = BTreeMap::new();
        let mut buckets: BTreeMap<String, Vec<(f64, f64)>> = BTreeMap::new();
        let mut clients: BTreeMap<String, ClientRow> = BTreeMap::new();
        let mut beats: BTreeMap<String, f64> = BTreeMap::new();
        let mut named: BTreeMap<String, NamedClientRow> = BTreeMap::new();
        let compile_bucket = format!("{}_bucket", names::COMPILE.name);
        for s in samples {
            if s.name == names::BUILD_INFO.name {
                snap.version = s.label("version").unwrap_or("").to_owned();
            }
            if let Some(server) = s.label("server") {
                let row = servers
                    .entry(server.to_owned())
                    .or_insert_with(|| ServerRow {
                        server: server.to_owned(),
                        ..ServerRow::default()
                    });
                let v = s.value as u64;
                match s.name.as_str() {
                    n if n == names::SERVER_REGISTERED.name => row.registered = s.value == 1.0,
                    n if n == names::SERVER_SLOTS.name => row.slots = Some(v),
                    n if n == names::SERVER_JOBS_IN_PROGRESS.name => row.in_progress = v,
                    n if n == names::SERVER_CREATED.name => row.created = v,
                    n if n == names::SERVER_COMPLETED.name => row.completed = v,
                    n if n == names::SERVER_STALE.name => row.stale = v,
                    n if n == compile_bucket => {
                        let le = match s.label("le") {
                            Some("+Inf") => f64::INFINITY,
                            Some(x) => x.parse().unwrap_or(f64::INFINITY),
                            None => f64::INFINITY,
                        };
                        buckets
                            .entry(server.to_owned())
                            .or_default()
                            .push((le, s.value));
                    }
                    _ => {}
                }
                continue;
            }
            if let Some(name) = s.label("client") {
                let row = named
                    .entry(name.to_owned())
                    .or_insert_with(|| NamedClientRow {
                        name: name.to_owned(),
                        ..NamedClientRow::default()
                    });
                if s.name == names::CLIENT_JOBS.name {
                    if s.label("code").is_some_and(|c| c.starts_with('2')) {
                        row.allocated += s.value as u64;
                    } else {
                        row.refused += s.value as u64;
                    }
                } else if s.name == names::CLIENT_LAST_SEEN.name {
                    row.last_seen = Some(s.value);
                }
                continue;
            }
            let Some(address) = s.label("address") else {
                continue;
            };
            if s.name == names::CLIENT_REQUESTS.name {
                let row = clients
                    .entry(address.to_owned())
                    .or_insert_with(|| ClientRow {
                        address: address.to_owned(),
                        ..ClientRow::default()
                    });
                if s.label("code").is_some_and(|c| c.starts_with('2')) {
                    row.allocated += s.value as u64;
                } else {
                    row.refused += s.value as u64;
                }
            } else if s.name == names::CLIENT_LAST_REQUEST.name {
                clients
                    .entry(address.to_owned())
                    .or_insert_with(|| ClientRow {
                        address: address.to_owned(),
                        ..ClientRow::default()
                    })
                    .last_request = Some(s.value);
            } else if s.name == names::HEARTBEAT_LAST.name {
                beats.insert(address.to_owned(), s.value);
            } else if s.name == names::HEARTBEATS.name
                && s.label("code").is_some_and(|c| c >= "400")
            {
                snap.heartbeats_refused += s.value as u64;
            }
        }
        for (server, row) in servers.iter_mut() {
            row.compile_median_seconds = buckets.get(server).and_then(|b| quantile(0.5, b));
            let ip = server
                .rsplit_once(':')
                .map_or(server.as_str(), |(ip, _)| ip);
            row.last_heartbeat = beats.get(ip.trim_matches(['[', ']'])).copied();
        }
        snap.servers = servers.into_values().collect();
        snap.clients = clients.into_values().collect();
        snap.named_clients = named.into_values().collect();
        snap
    }
}

/// The `q` quantile of cumulative buckets `(le, count)`, interpolated within a
/// bucket as Prometheus' histogram_quantile does; None with no observation.
pub fn quantile(q: f64, buckets: &[(f64, f64)]) -> Option<f64> {
    let mut b = buckets.to_vec();
    b.sort_by(|x, y| x.0.total_cmp(&y.0));
    let total = b.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    let mut prev: (f64, f64) = (0.0, 0.0);
    for (le, count) in b {
        if count >= rank {
            if le.is_infinite() {
                return Some(prev.0.max(*BUCKETS.last().expect("buckets")));
            }
            let within = (rank - prev.1) / (count - prev.1).max(f64::MIN_POSITIVE);
            return Some(prev.0 + (le - prev.0) * within);
        }
        prev = (le, count);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{render, Extra};
    use crate::state::{SchedulerStatus, State};

    #[test]
    fn the_rows_match_what_the_state_holds() {
        let mut s = State::new(10.0);
        for l in [
            "Registered new server ServerId(10.0.0.2:10501)",
            "Job 0 created and will be assigned to server ServerId(10.0.0.2:10501)",
            "Job 0 successfully assigned and saved with state Ready",
            "Job 0 updated state to Started",
        ] {
            s.log_line(l, 11.0);
        }
        s.log_line("Job 0 updated state to Complete", 11.3);
        s.log_line(
            "Job 1 created and will be assigned to server ServerId(10.0.0.2:10501)",
            12.0,
        );
        s.scheduler_status(
            SchedulerStatus {
                num_servers: 1,
                num_cpus: 4,
                in_progress: 1,
            },
            12.0,
        );
        for l in [
            "10.0.0.9 200 POST /api/v1/scheduler/alloc_job",
            "10.0.0.9 503 POST /api/v1/scheduler/alloc_job",
            "10.0.0.2 200 POST /api/v1/scheduler/heartbeat_server",
            "10.0.0.2 401 POST /api/v1/scheduler/heartbeat_server",
        ] {
            s.front_request(&crate::front::parse(l).unwrap(), 12.5);
        }
        let extra = Extra {
            version: "0.19.0".into(),
            ..Extra::default()
        };
        let snap = Snapshot::parse(&render(&s, &extra, 13.0)).unwrap();
        assert!(snap.up);
        assert_eq!(snap.totals, Some((1, 4, 1)));
        assert_eq!(snap.version, "0.19.0");
        assert_eq!(snap.start_time, 10.0);
        assert_eq!(snap.servers.len(), 1);
        let r = &snap.servers[0];
        assert_eq!(r.server, "10.0.0.2:10501");
        assert!(r.registered);
        assert_eq!(
            (r.slots, r.in_progress, r.created, r.completed, r.stale),
            (Some(5), 1, 2, 1, 0)
        );
        let m = r.compile_median_seconds.unwrap();
        assert!((0.25..=0.5).contains(&m), "{m}");
        assert_eq!(r.last_heartbeat, Some(12.5));
        assert_eq!(snap.clients.len(), 1);
        assert_eq!((snap.clients[0].allocated, snap.clients[0].refused), (1, 1));
        assert_eq!(snap.heartbeats_refused, 1);
    }

    #[test]
    fn quantiles_interpolate_like_prometheus() {
        assert_eq!(quantile(0.5, &[]), None);
        assert_eq!(quantile(0.5, &[(1.0, 0.0), (f64::INFINITY, 0.0)]), None);
        let q = quantile(0.5, &[(1.0, 0.0), (2.0, 4.0), (f64::INFINITY, 4.0)]).unwrap();
        assert_eq!(q, 1.5);
    }
}
