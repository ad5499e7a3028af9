//! `status`: the containers, the scheduler's figures and every build server (its
//! address, container state and health, and whether the scheduler counts it), as
//! text or as one JSON object for scripts.

use serde::Serialize;

use crate::docker;
use crate::lifecycle::container;
use crate::lifecycle::diagnose::{log_tail_with_advice, registration_in, REFUSED_MISMATCH};
use crate::lifecycle::records::Records;
use crate::lifecycle::tls;
use crate::lifecycle::versions;
use crate::model::remote::RemoteServer;
use crate::model::Cluster;
use crate::sccache::versions::{skew_warning, Version};
use crate::store::StateDir;

mod jobs;
mod print;
mod timing;
mod top;

pub use jobs::{JobsReport, MetricsReport};
pub use top::{frame as top_frame, top};

use print::print_text;
pub use timing::rfc3339_secs;
use timing::{all_registered_after, registered_since};

/// One container as the engine sees it.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerReport {
    /// The name.
    pub name: String,
    /// `running`, `exited`, ... or `missing`.
    pub state: String,
    /// Its healthcheck status, or `none`.
    pub health: String,
    /// Restarts under the restart policy.
    pub restarts: u64,
    /// When it last started.
    pub started_at: String,
}

/// The scheduler: where it is and what it answers.
#[derive(Debug, Clone, Serialize)]
pub struct SchedulerReport {
    /// Where clients reach it.
    pub url: String,
    /// Its container.
    pub container: ContainerReport,
    /// Build servers the scheduler counts (None: it does not answer).
    pub num_servers: Option<u64>,
    /// CPUs of the servers it counts.
    pub num_cpus: Option<u64>,
    /// Jobs running.
    pub in_progress: Option<u64>,
    /// Why it does not answer.
    pub error: Option<String>,
    /// The sccache-dist its container runs (`sccache-dist --version` in it).
    pub version: Option<String>,
}

/// One build server.
#[derive(Debug, Clone, Serialize)]
pub struct BuilderReport {
    /// The name.
    pub name: String,
    /// `IP:PORT`, its public_addr.
    pub address: String,
    /// Its cache volume or directory.
    pub cache: String,
    /// Its container.
    pub container: ContainerReport,
    /// `registered`, `not registered`, `refused (address mismatch)`,
    /// `refused (token not accepted)` or `down`.
    pub registration: String,
    /// When it first registered with the running scheduler (its log's time of
    /// "Server connected to scheduler" since the scheduler started), if it has.
    pub registered_at: Option<String>,
    /// The sccache-dist its container runs.
    pub version: Option<String>,
    /// Its jobs, from the metrics endpoint (None when it cannot be read).
    pub jobs: Option<JobsReport>,
}

/// One build server on another host that was issued a join bundle: the scheduler
/// counts servers but does not name them, and its container runs on another engine.
#[derive(Debug, Clone, Serialize)]
pub struct RemoteBuilderReport {
    /// The name (its container's on that host).
    pub name: String,
    /// `IP:PORT`, its public_addr.
    pub address: String,
    /// When its bundle was issued (seconds since the Unix epoch).
    pub issued_at: u64,
    /// `registered` (the scheduler counts every expected server), `not known`
    /// (it counts fewer) or `stale bundle`.
    pub registration: String,
    /// Why its bundle no longer works, if it does not.
    pub stale: Option<String>,
    /// Its jobs, from the metrics endpoint (None when it cannot be read).
    pub jobs: Option<JobsReport>,
}

/// Everything `status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    /// The distro whose image runs.
    pub distro: String,
    /// The image.
    pub image: String,
    /// The image's input hash.
    pub image_hash: String,
    /// `host` or `bridge`.
    pub network: String,
    /// The scheduler's address.
    pub advertised: String,
    /// Why the address is what it is.
    pub address_source: String,
    /// The scheduler.
    pub scheduler: SchedulerReport,
    /// When the scheduler's container last started (it forgets every server then).
    pub scheduler_started_at: String,
    /// Seconds from the scheduler's start until the last build server registered
    /// with it; None until the scheduler counts all of them.
    pub all_registered_after_secs: Option<f64>,
    /// How many build servers the scheduler should count: this host's and those
    /// on other hosts that were issued a join bundle.
    pub expected_servers: usize,
    /// Every build server of this host.
    pub builders: Vec<BuilderReport>,
    /// Every build server on another host that was issued a join bundle.
    pub remote_builders: Vec<RemoteBuilderReport>,
    /// The state directory.
    pub state_dir: String,
    /// `sccache --version` of the client on this host's PATH.
    pub client_version: Option<String>,
    /// The sccache-dist the image served when the cluster started.
    pub image_version: Option<String>,
    /// Why this host's client cannot use the servers, when it cannot.
    pub version_warning: Option<String>,
    /// The metrics endpoint: where, its token file, what it could not read.
    pub metrics: MetricsReport,
    /// The clients with a token of their own (None: plain HTTP, one token).
    pub clients: Option<Vec<String>>,
    /// Why the cluster is not healthy; empty when it is.
    pub problems: Vec<String>,
}

/// Prints the cluster's state (`json`: as one JSON object); fails when a container
/// is down, the scheduler does not answer, or it counts fewer servers than the
/// cluster has.
pub fn status(state: &StateDir, json: bool) -> anyhow::Result<()> {
    let c = state.record()?;
    docker::engine()?;
    let report = report(state, &c)?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_text(&report);
    }
    if report.problems.is_empty() {
        return Ok(());
    }
    let counted = report.scheduler.num_servers.unwrap_or(0) as usize;
    if counted < report.expected_servers && report.scheduler.container.state == "running" {
        eprintln!("{}", log_tail_with_advice(&c.scheduler.container));
    }
    anyhow::bail!("{}", report.problems.join("; "))
}

/// Looks at every container and asks the scheduler.
pub fn report(state: &StateDir, c: &Cluster) -> anyhow::Result<StatusReport> {
    let sched = tls::scheduler_status(state, c);
    let scheduler = SchedulerReport {
        url: c.scheduler_url(),
        container: container_report(&c.scheduler.container)?,
        num_servers: sched.as_ref().ok().map(|s| s.num_servers),
        num_cpus: sched.as_ref().ok().map(|s| s.num_cpus),
        in_progress: sched.as_ref().ok().map(|s| s.in_progress),
        error: sched.as_ref().err().map(|e| format!("{e:#}")),
        version: running_version(&c.scheduler.container),
    };
    let (metrics, snap) = jobs::read(state, c);
    let remotes = state.remote_servers()?;
    let expected = c.servers.len() + remotes.len();
    let all_counted = scheduler.num_servers.unwrap_or(0) as usize >= expected;
    let mut builders = Vec::new();
    for s in &c.servers {
        let container = container_report(&s.container)?;
        let registration = registration(&container, &s.container, all_counted);
        builders.push(BuilderReport {
            name: s.name.clone(),
            address: s.public_addr(),
            cache: s.cache.to_string(),
            container,
            registration: registration.to_owned(),
            registered_at: registered_since(&s.container, &scheduler.container.started_at),
            version: running_version(&s.container),
            jobs: jobs::of(snap.as_ref(), &s.public_addr()),
        });
    }
    let mut r = StatusReport {
        distro: c.distro.clone(),
        image: c.image.clone(),
        image_hash: c.image_hash.clone(),
        network: c.network.mode().to_owned(),
        advertised: c.scheduler.address.to_string(),
        address_source: c.address_source.clone(),
        scheduler_started_at: scheduler.container.started_at.clone(),
        all_registered_after_secs: None,
        scheduler,
        expected_servers: expected,
        builders,
        remote_builders: remote_reports(state, c, &remotes, all_counted, snap.as_ref()),
        state_dir: state.path().display().to_string(),
        client_version: versions::client_version().ok().map(|v| v.to_string()),
        image_version: c.sccache_dist_version.clone(),
        version_warning: None,
        metrics,
        clients: crate::lifecycle::clients::load(state)?
            .filter(|_| c.tls.is_on())
            .map(|l| l.names().into_iter().map(str::to_owned).collect()),
        problems: Vec::new(),
    };
    r.version_warning = version_warning(&r);
    r.problems = problems(&r);
    r.all_registered_after_secs = all_registered_after(&r);
    Ok(r)
}

/// The version a container runs, when it runs.
fn running_version(container: &str) -> Option<String> {
    versions::container_version(container).map(|v| v.to_string())
}

/// The client against the oldest server version seen.
fn version_warning(r: &StatusReport) -> Option<String> {
    let client = Version::parse(r.client_version.as_deref()?)?;
    let oldest = std::iter::once(&r.scheduler.version)
        .chain(r.builders.iter().map(|b| &b.version))
        .chain(std::iter::once(&r.image_version))
        .filter_map(|v| Version::parse(v.as_deref()?))
        .min()?;
    skew_warning(client, oldest)
}

/// The remote builders as far as this host can tell.
fn remote_reports(
    state: &StateDir,
    c: &Cluster,
    remotes: &[RemoteServer],
    all_counted: bool,
    snap: Option<&jobs::Snapshot>,
) -> Vec<RemoteBuilderReport> {
    let auth = c.runtime.settings.server_auth;
    let secret_id = state
        .existing_secrets()
        .map(|s| s.server_secret_id(auth))
        .unwrap_or_default();
    remotes
        .iter()
        .map(|r| {
            let stale = r.stale(c, &secret_id);
            let registration = match (&stale, all_counted) {
                (Some(_), _) => "stale bundle",
                (None, true) => "registered",
                (None, false) => "not known",
            };
            RemoteBuilderReport {
                name: r.name.clone(),
                address: r.public_addr(),
                issued_at: r.issued_at,
                registration: registration.into(),
                stale,
                jobs: jobs::of(snap, &r.public_addr()),
            }
        })
        .collect()
}

fn container_report(name: &str) -> anyhow::Result<ContainerReport> {
    Ok(match container::state(name)? {
        None => ContainerReport {
            name: name.to_owned(),
            state: "missing".into(),
            health: "none".into(),
            restarts: 0,
            started_at: String::new(),
        },
        Some(s) => ContainerReport {
            name: name.to_owned(),
            state: s.status,
            health: s.health,
            restarts: s.restarts,
            started_at: s.started_at,
        },
    })
}

/// Whether the scheduler counts a server, as far as its log and the total tell: a
/// refused heartbeat after its last successful registration means refused.
fn registration(c: &ContainerReport, name: &str, all_counted: bool) -> &'static str {
    if c.state != "running" {
        return "down";
    }
    registration_in(&container::log(name, 2000), all_counted)
}

fn problems(r: &StatusReport) -> Vec<String> {
    let mut out = Vec::new();
    let mut down: Vec<&str> = Vec::new();
    for c in std::iter::once(&r.scheduler.container).chain(r.builders.iter().map(|b| &b.container))
    {
        if c.state != "running" && !down.contains(&c.name.as_str()) {
            down.push(&c.name);
        }
    }
    if !down.is_empty() {
        out.push(format!("not running: {}", down.join(", ")));
    }
    match r.scheduler.num_servers {
        None => out.push("the scheduler does not answer".into()),
        Some(n) if (n as usize) < r.expected_servers => out.push(format!(
            "{n} of {} build server(s) registered",
            r.expected_servers
        )),
        Some(_) => {}
    }
    for b in r
        .builders
        .iter()
        .filter(|b| b.registration == REFUSED_MISMATCH)
    {
        out.push(format!("{}: heartbeats {REFUSED_MISMATCH}", b.name));
    }
    for r in &r.remote_builders {
        if let Some(why) = &r.stale {
            out.push(format!("remote builder {} at {}: {why}", r.name, r.address));
        }
    }
    out
}
