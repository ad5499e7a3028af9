//! What the exporter knows: the figures the scheduler's log events, the front's
//! requests and the scheduler's status add up to. Plain data with no I/O; the
//! caller passes the time, so every step is testable.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};

use crate::events::{Event, JobId, JobState};
use crate::front::{PathKind, Request};
use crate::names::BUCKETS;

/// A job no client started this many seconds after its allocation is one its
/// client could not start (a client starts one within a second or two).
pub const UNSTARTED_AFTER_SECS: f64 = 10.0;

/// Jobs remembered at most; the oldest go first (a job never seen to end).
const MAX_JOBS: usize = 20_000;
/// A job with no news for this long is forgotten (clients give up after 20 min).
const JOB_EXPIRY_SECS: f64 = 1800.0;

/// One histogram of a job phase.
#[derive(Debug, Clone, Default)]
pub struct Histogram {
    /// Observations at or below each of [`BUCKETS`].
    pub counts: [u64; BUCKETS.len()],
    /// All observations.
    pub count: u64,
    /// Their sum, in seconds.
    pub sum: f64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        let secs = secs.max(0.0);
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.counts[i] += 1;
            }
        }
        self.count += 1;
        self.sum += secs;
    }
}

/// What is known of one build server.
#[derive(Debug, Clone, Default)]
pub struct Server {
    /// Registered now (false once pruned).
    pub registered: bool,
    /// Its cores, when the status API's CPU total could be attributed to it.
    pub cpus: Option<u64>,
    /// Jobs created for it.
    pub created: u64,
    /// Jobs it completed.
    pub completed: u64,
    /// Jobs de-allocated as stale.
    pub stale: u64,
    /// Registrations.
    pub registrations: u64,
    /// Prunes.
    pub prunes: u64,
    /// Created to Ready, Ready to Started, Started to Complete.
    pub phases: [Histogram; 3],
}

#[derive(Debug, Clone)]
struct Job {
    server: SocketAddr,
    created: f64,
    ready: Option<f64>,
    started: Option<f64>,
    touched: f64,
}

/// The scheduler's own totals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SchedulerStatus {
    /// Registered build servers.
    pub num_servers: u64,
    /// Their CPUs.
    pub num_cpus: u64,
    /// Jobs in progress.
    pub in_progress: u64,
}

/// Everything the exporter serves.
#[derive(Debug, Default)]
pub struct State {
    /// Unix time the exporter started.
    pub start_time: f64,
    /// Log lines read, and how many matched nothing.
    pub lines: u64,
    /// Lines no pattern matched.
    pub unparsed: u64,
    /// Front access-log datagrams not of the expected layout.
    pub front_unparsed: u64,
    /// Per build server.
    pub servers: BTreeMap<SocketAddr, Server>,
    jobs: HashMap<JobId, Job>,
    /// Stale jobs whose server was not known (the exporter started after them).
    pub stale_unattributed: u64,
    /// The last status answer and when it came.
    pub status: Option<(SchedulerStatus, f64)>,
    /// Requests through the front: (path, status) -> count.
    pub front: BTreeMap<(PathKind, u16), u64>,
    /// Job allocations per (client address, status).
    pub clients: BTreeMap<(IpAddr, u16), u64>,
    /// Heartbeats per (source address, status).
    pub heartbeats: BTreeMap<(IpAddr, u16), u64>,
    /// When each client address last asked for a job.
    pub client_seen: BTreeMap<IpAddr, f64>,
    /// When each address last sent a heartbeat.
    pub heartbeat_seen: BTreeMap<IpAddr, f64>,
    /// Job allocations per (client name, status); `unknown` for a refused token.
    pub client_jobs: BTreeMap<(String, u16), u64>,
    /// When each named client last asked for a job.
    pub client_name_seen: BTreeMap<String, f64>,
}

/// The scheduler's limit of jobs on a server of `cores` cores.
pub fn slots(cores: u64) -> u64 {
    cores + 1 + cores / 8
}

impl State {
    /// A new state, started at `now`.
    pub fn new(now: f64) -> State {
        State {
            start_time: now,
            ..State::default()
        }
    }

    /// One line of the scheduler's log, read at `now`.
    pub fn log_line(&mut self, line: &str, now: f64) {
        self.lines += 1;
        let event = crate::events::parse_line(line).event;
        if event == Event::Unknown {
            self.unparsed += 1;
        }
        self.apply(event, now);
        if self.lines.is_multiple_of(1024) {
            self.forget_old_jobs(now);
        }
    }

    /// One event, seen at `now`.
    pub fn apply(&mut self, event: Event, now: f64) {
        match event {
            Event::JobCreated { job, server } => {
                self.servers.entry(server).or_default().created += 1;
                if self.jobs.len() >= MAX_JOBS {
                    self.forget_oldest_job();
                }
                self.jobs.insert(
                    job,
                    Job {
                        server,
                        created: now,
                        ready: None,
                        started: None,
                        touched: now,
                    },
                );
            }
            Event::JobAssigned { job, state } => {
                if state == JobState::Ready {
                    self.job_state(job, JobState::Ready, now);
                }
            }
            Event::JobState { job, state } => self.job_state(job, state, now),
            Event::StaleJobs { jobs } => {
                for job in jobs {
                    match self.jobs.remove(&job) {
                        Some(j) => self.servers.entry(j.server).or_default().stale += 1,
                        None => self.stale_unattributed += 1,
                    }
                }
            }
            Event::Registered { server } => {
                let s = self.servers.entry(server).or_default();
                s.registered = true;
                s.registrations += 1;
                s.cpus = None;
                // A server registering again lost its jobs (a restart).
                self.jobs.retain(|_, j| j.server != server);
            }
            Event::Pruned { server } => {
                let s = self.servers.entry(server).or_default();
                s.registered = false;
                s.prunes += 1;
                s.cpus = None;
                self.jobs.retain(|_, j| j.server != server);
            }
            Event::JobPruned { job } => {
                self.jobs.remove(&job);
            }
            Event::Listening
            | Event::CertificateAdded { .. }
            | Event::ClientAuthFailed
            | Event::Unknown => {}
        }
    }

    fn job_state(&mut self, id: JobId, state: JobState, now: f64) {
        let Some(job) = self.jobs.get_mut(&id) else {
            return;
        };
        job.touched = now;
        let server = job.server;
        let observed = match state {
            JobState::Pending => None,
            JobState::Ready if job.ready.is_none() => {
                job.ready = Some(now);
                Some((0, now - job.created))
            }
            JobState::Ready => None,
            JobState::Started => {
                job.started = Some(now);
                job.ready.map(|r| (1, now - r))
            }
            JobState::Complete => {
                let started = job.started;
                self.jobs.remove(&id);
                let s = self.servers.entry(server).or_default();
                s.completed += 1;
                started.map(|t| (2, now - t))
            }
        };
        if let Some((phase, secs)) = observed {
            self.servers.entry(server).or_default().phases[phase].observe(secs);
        }
    }

    fn forget_oldest_job(&mut self) {
        if let Some((&id, _)) = self
            .jobs
            .iter()
            .min_by(|a, b| a.1.touched.total_cmp(&b.1.touched))
        {
            self.jobs.remove(&id);
        }
    }

    fn forget_old_jobs(&mut self, now: f64) {
        self.jobs.retain(|_, j| now - j.touched < JOB_EXPIRY_SECS);
    }

    /// Jobs held per server now.
    pub fn in_progress(&self) -> BTreeMap<SocketAddr, u64> {
        let mut n: BTreeMap<SocketAddr, u64> = BTreeMap::new();
        for j in self.jobs.values() {
            *n.entry(j.server).or_default() += 1;
        }
        n
    }

    /// Per registered server, the jobs allocated more than `older_than` seconds
    /// before `now` that no client has started: clients that cannot reach the
    /// server (the scheduler calls them stale at the server's next heartbeat).
    pub fn unstarted(&self, now: f64, older_than: f64) -> BTreeMap<SocketAddr, u64> {
        let mut n: BTreeMap<SocketAddr, u64> = BTreeMap::new();
        for j in self.jobs.values() {
            let registered = self.servers.get(&j.server).is_some_and(|s| s.registered);
            if j.started.is_none() && now - j.created > older_than && registered {
                *n.entry(j.server).or_default() += 1;
            }
        }
        n
    }

    /// One request the front logged at `now`.
    pub fn front_request(&mut self, r: &Request, now: f64) {
        *self.front.entry((r.path, r.status)).or_default() += 1;
        match r.path {
            PathKind::AllocJob => {
                *self.clients.entry((r.address, r.status)).or_default() += 1;
                self.client_seen.insert(r.address, now);
                let name = r.client.clone().unwrap_or_else(|| "unknown".into());
                if r.client.is_some() {
                    self.client_name_seen.insert(name.clone(), now);
                }
                *self.client_jobs.entry((name, r.status)).or_default() += 1;
            }
            PathKind::Heartbeat => {
                *self.heartbeats.entry((r.address, r.status)).or_default() += 1;
                self.heartbeat_seen.insert(r.address, now);
            }
            _ => {}
        }
    }

    /// The scheduler's status answer at `now`. The servers whose cores are not
    /// known yet share what the CPU total has beyond the known ones: exact when
    /// servers register one at a time, an even split when several register
    /// between two answers (the status API gives totals only).
    pub fn scheduler_status(&mut self, status: SchedulerStatus, now: f64) {
        self.status = Some((status, now));
        let registered: Vec<SocketAddr> = self
            .servers
            .iter()
            .filter(|(_, s)| s.registered)
            .map(|(a, _)| *a)
            .collect();
        if registered.len() as u64 != status.num_servers {
            return;
        }
        let known: u64 = registered.iter().filter_map(|a| self.servers[a].cpus).sum();
        let unknown: Vec<SocketAddr> = registered
            .into_iter()
            .filter(|a| self.servers[a].cpus.is_none())
            .collect();
        if unknown.is_empty() || status.num_cpus <= known {
            return;
        }
        let each = (status.num_cpus - known) / unknown.len() as u64;
        for a in unknown {
            self.servers.get_mut(&a).expect("registered").cpus = Some(each);
        }
    }

    /// The last status answer, if it came within 3 s of `now`.
    pub fn fresh_status(&self, now: f64) -> Option<SchedulerStatus> {
        self.status
            .filter(|(_, at)| now - at <= 3.0)
            .map(|(s, _)| s)
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
