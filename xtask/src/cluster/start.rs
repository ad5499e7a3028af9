//! `start`: secrets, configs, networking, the containers (a scheduler and N build
//! servers), and the wait until every build server has registered.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::container;
use super::model::{Cluster, Network, Scheduler, Server};
use super::readiness::wait_ready;
use super::{plan, specs};
use crate::docker::{self, network as docker_network};
use crate::image::HASH_LABEL;
use crate::profile::runtime::{LogLevel, NetworkMode};
use crate::profile::{self, validate, Profile};
use crate::render::Templates;
use crate::sccache::config_check;
use crate::sccache::scheduler_status::SchedulerStatus;
use crate::state::StateDir;

/// One `start` request.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The distro whose image to run.
    pub distro: String,
    /// Runtime profile from profiles/.
    pub profile: String,
    /// Keep the cache root in this host directory instead of a named volume.
    pub cache_dir: Option<PathBuf>,
    /// Override the profile's network mode.
    pub network: Option<NetworkMode>,
    /// Host network: the IP clients and the scheduler reach the server at.
    pub advertise: Option<Ipv4Addr>,
    /// Container name (also names its volume and bridge network).
    pub name: String,
    /// Image repository the image was built into.
    pub repo: String,
    /// How long to wait for the build servers to register.
    pub timeout: Duration,
    /// Override the profile's log level (`SCCACHE_LOG` of both processes).
    pub log_level: Option<LogLevel>,
    /// How many build servers. None: 1, in the scheduler's container (role `all`).
    /// Some(n) on a cluster that runs: scale it to n without restarting the scheduler.
    pub builders: Option<usize>,
}

/// What a successful start reports.
pub struct Started {
    /// The cluster as started (and recorded).
    pub cluster: Cluster,
    /// The scheduler's figures when the last server registered.
    pub status: SchedulerStatus,
    /// From `docker run` to the server's registration.
    pub ready_after: Duration,
}

/// Starts the cluster of `req` and waits until its build servers have registered;
/// `--builders` on a running cluster of the same name scales it instead.
pub fn start(
    root: &std::path::Path,
    state: &StateDir,
    req: &StartRequest,
) -> anyhow::Result<Started> {
    check_request(root, req)?;
    if let Some(n) = req.builders {
        if let Some(c) = running_record(state, &req.name)? {
            same_placement(req, &c)?;
            println!(
                "the cluster {} runs: scaling it to {n} build server(s)",
                req.name
            );
            return super::scale::scale_to(root, state, c, n, req.timeout);
        }
    }
    let mut profile = crate::profile::runtime::load_named(root, &req.profile)?;
    if let Some(level) = req.log_level {
        profile.profile.log_level = level;
    }
    docker::engine()?;
    let image = format!("{}:{}", req.repo, req.distro);
    let Some(image_hash) = docker::image_label(&image, HASH_LABEL)? else {
        anyhow::bail!(
            "no image {image}: build it first with `cargo xtask image {}`",
            req.distro
        );
    };
    let cluster = describe(req, profile, image, image_hash)?;
    clear_stopped_containers(state, &cluster)?;
    if cluster.network == Network::Host {
        let mut ports = vec![(cluster.scheduler.port, "the scheduler".to_owned())];
        ports.extend(server_ports(&cluster.servers));
        super::ports::ensure_free(&ports)?;
    }
    write_configs(root, state, &cluster)?;
    println!(
        "advertising {} ({})",
        cluster.scheduler.address, cluster.address_source
    );
    let t0 = Instant::now();
    launch(state, &cluster)?;
    let status = wait_ready(&cluster, cluster.servers.len() as u64, req.timeout)?;
    Ok(Started {
        cluster,
        status,
        ready_after: t0.elapsed(),
    })
}

/// The recorded cluster named `name`, when its scheduler's container is up.
fn running_record(state: &StateDir, name: &str) -> anyhow::Result<Option<Cluster>> {
    if !state.has_record() {
        return Ok(None);
    }
    let c = state.record()?;
    if c.base_name() != name {
        return Ok(None);
    }
    docker::engine()?;
    let up = container::state(&c.scheduler.container)?.is_some_and(|s| s.is_up());
    Ok(up.then_some(c))
}

/// Scaling keeps the network and address the cluster runs with: flags asking for
/// others are refused rather than ignored.
fn same_placement(req: &StartRequest, c: &Cluster) -> anyhow::Result<()> {
    let running = c.network.mode();
    if let Some(mode) = req.network {
        let asked = match mode {
            NetworkMode::Host => "host",
            NetworkMode::Bridge => "bridge",
        };
        anyhow::ensure!(
            asked == running,
            "the cluster runs on the {running} network; `stop` it to start it on the {asked} network"
        );
    }
    if let Some(ip) = req.advertise {
        anyhow::ensure!(
            ip == c.scheduler.address,
            "the cluster advertises {}; `stop` it to advertise {ip}",
            c.scheduler.address
        );
    }
    Ok(())
}

fn check_request(root: &std::path::Path, req: &StartRequest) -> anyhow::Result<()> {
    validate::docker_name(&req.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    profile::find_distro(root, &req.distro)?;
    if let Some(ip) = req.advertise {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            anyhow::bail!("--advertise {ip}: give the unicast address clients reach this host at (the server's heartbeats must come from it)");
        }
    }
    Ok(())
}

/// Stopped containers of ours under the cluster's names (and those of the cluster
/// recorded before, which may have had more servers) are removed; a running one,
/// or anyone else's, is an error.
fn clear_stopped_containers(state: &StateDir, c: &Cluster) -> anyhow::Result<()> {
    let mut names: Vec<String> = c.containers().iter().map(|n| n.to_string()).collect();
    if state.has_record() {
        if let Ok(old) = state.record() {
            names.extend(old.containers().iter().map(|n| n.to_string()));
            let kept = old.servers.iter().map(|s| &s.cache);
            for cache in kept.filter(|v| !c.servers.iter().any(|s| &s.cache == *v)) {
                println!("note: the cache {cache} of the cluster started before is no longer used (kept; remove it with `docker volume rm` or rm -r)");
            }
        }
    }
    names.sort();
    names.dedup();
    for name in &names {
        clear_stopped_container(name)?;
    }
    Ok(())
}

/// A stopped container of ours under the name is replaced; a running one, or
/// anyone else's, is an error.
pub(crate) fn clear_stopped_container(name: &str) -> anyhow::Result<()> {
    match container::state(name)? {
        Some(s) if s.is_up() => anyhow::bail!(
            "the container {name} is already {}: `cargo xtask stop` it first, or use `status`",
            s.status
        ),
        Some(_) => {
            anyhow::ensure!(
                container::is_ours(name)?,
                "a container named {name} exists and was not started by this tool: choose another --name"
            );
            container::remove(name)
        }
        None => Ok(()),
    }
}

/// The cluster `req` asks for: addresses, network and caches, before anything runs.
pub(crate) fn describe(
    req: &StartRequest,
    profile: Profile,
    image: String,
    image_hash: String,
) -> anyhow::Result<Cluster> {
    let mode = req.network.unwrap_or(profile.profile.network);
    let (address, address_source, network) = choose_address(req, &profile, mode)?;
    let cache_dir = match &req.cache_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Some(container::mount_source(
                &dir.canonicalize()?,
                "--cache-dir",
            )?)
        }
        None => None,
    };
    let n = req.builders.unwrap_or(1);
    let all_in_one = n == 1;
    let mut c = Cluster {
        name: req.name.clone(),
        cache_dir,
        distro: req.distro.clone(),
        image,
        image_hash,
        scheduler: Scheduler {
            container: plan::scheduler_container(&req.name, all_in_one),
            address,
            port: profile.profile.scheduler_port,
        },
        servers: Vec::new(),
        network,
        address_source,
        profile,
    };
    for i in 1..=n {
        let s = plan::server(&c, i, all_in_one)?;
        c.servers.push(s);
    }
    Ok(c)
}

/// The address the scheduler and server advertise, why, and the network it is on.
fn choose_address(
    req: &StartRequest,
    profile: &Profile,
    mode: NetworkMode,
) -> anyhow::Result<(Ipv4Addr, String, Network)> {
    let rt = &profile.profile;
    match mode {
        NetworkMode::Host => Ok(match req.advertise {
            Some(ip) => (ip, "--advertise".to_owned(), Network::Host),
            None => match docker_network::detect_host_address() {
                Some(ip) => (ip, "detected: the host's address on its default route".to_owned(), Network::Host),
                None => (
                    Ipv4Addr::LOCALHOST,
                    "no default route: only clients on this host can reach it (pass --advertise IP)".to_owned(),
                    Network::Host,
                ),
            },
        }),
        NetworkMode::Bridge => {
            if req.advertise.is_some() {
                anyhow::bail!("--advertise applies to the host network; in bridge mode the container's address is bridge_address in {}", profile.file);
            }
            let name = format!("{}-net", req.name);
            let ip: Ipv4Addr = rt.bridge_address.parse()?;
            let why = format!("the container's fixed address on the bridge network {name}");
            Ok((ip, why, Network::Bridge { name, subnet: rt.bridge_subnet.clone() }))
        }
    }
}

/// Secrets and configs live in the state directory and reach the containers only
/// as read-only mounts: never in the image, the environment or the logs.
pub(crate) fn write_configs(
    root: &std::path::Path,
    state: &StateDir,
    c: &Cluster,
) -> anyhow::Result<()> {
    let secrets = state.secrets(c.profile.profile.server_auth)?;
    let configs = super::configs::render(&Templates::load(root)?, c, &secrets, "start")?;
    let mut problems = Vec::new();
    for (name, triple) in configs.triples() {
        problems.extend(
            config_check::check(&triple)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    anyhow::ensure!(
        problems.is_empty(),
        "the rendered configs do not check out:\n{}",
        problems.join("\n")
    );
    state.write_configs(&configs)
}

/// Creates the bridge network if needed and runs the containers, the scheduler's
/// first; a network made for this start is removed again when the scheduler's
/// container does not start. The record is saved once a container exists, so a
/// failed `docker run` leaves the previous record as it was, and a failure later
/// leaves one that `remove-container` cleans up by.
fn launch(state: &StateDir, c: &Cluster) -> anyhow::Result<()> {
    let created = match &c.network {
        Network::Bridge { name, subnet } => docker_network::ensure_bridge(name, subnet)?,
        Network::Host | Network::Pod => false,
    };
    let sources = specs::ConfigSources::state(state)?;
    if let Err(e) = docker::run_logged(&specs::scheduler(c, &sources).args()) {
        if let (true, Network::Bridge { name, .. }) = (created, &c.network) {
            let _ = docker::output(&["network", "rm", name]);
        }
        return Err(e);
    }
    state.save_record(c)?;
    for s in c.own_container_servers() {
        run_server(state, c, s)?;
    }
    Ok(())
}

/// The host ports of `servers`, each named for the message.
pub(crate) fn server_ports(servers: &[Server]) -> Vec<(u16, String)> {
    servers
        .iter()
        .map(|s| (s.port, format!("the build server {}", s.name)))
        .collect()
}

/// Runs build server `s` in its own container, its cache directory made first.
pub(crate) fn run_server(state: &StateDir, c: &Cluster, s: &Server) -> anyhow::Result<()> {
    if s.cache.starts_with('/') {
        std::fs::create_dir_all(&s.cache).with_context(|| format!("cannot create {}", s.cache))?;
    }
    let sources = specs::ConfigSources::state(state)?;
    docker::run_logged(&specs::server(c, s, &sources).args())
}
