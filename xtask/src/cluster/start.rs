//! `start`: secrets, configs, networking, the container, and the wait until a build
//! server has registered.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::container::{self, RunSpec, CONFIG_MOUNT};
use super::model::{Cluster, Network, Scheduler, Server};
use super::readiness::wait_ready;
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
    /// How long to wait for the build server to register.
    pub timeout: Duration,
    /// Override the profile's log level (`SCCACHE_LOG` of both processes).
    pub log_level: Option<LogLevel>,
}

/// What a successful start reports.
pub struct Started {
    pub cluster: Cluster,
    pub status: SchedulerStatus,
    /// From `docker run` to the server's registration.
    pub ready_after: Duration,
}

/// Starts the cluster of `req` and waits until its build server has registered.
pub fn start(
    root: &std::path::Path,
    state: &StateDir,
    req: &StartRequest,
) -> anyhow::Result<Started> {
    check_request(root, req)?;
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
    clear_stopped_container(&req.name)?;
    let cluster = describe(req, profile, image, image_hash)?;
    write_configs(root, state, &cluster)?;
    println!(
        "advertising {} ({})",
        cluster.scheduler.address, cluster.address_source
    );
    let t0 = Instant::now();
    launch(state, &cluster)?;
    // Recorded once the container exists: a failed `docker run` leaves the record
    // of the previous cluster as it was.
    state.save_record(&cluster)?;
    let status = wait_ready(&cluster, cluster.servers.len() as u64, req.timeout)?;
    Ok(Started {
        cluster,
        status,
        ready_after: t0.elapsed(),
    })
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

/// A stopped container of ours under the name is replaced; a running one, or
/// anyone else's, is an error.
fn clear_stopped_container(name: &str) -> anyhow::Result<()> {
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
            docker::output(&["rm", name]).map(drop)
        }
        None => Ok(()),
    }
}

/// The cluster `req` asks for: addresses, network and caches, before anything runs.
fn describe(
    req: &StartRequest,
    profile: Profile,
    image: String,
    image_hash: String,
) -> anyhow::Result<Cluster> {
    let rt = &profile.profile;
    let mode = req.network.unwrap_or(rt.network);
    let (address, address_source, network) = choose_address(req, &profile, mode)?;
    let cache = match &req.cache_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            container::mount_source(&dir.canonicalize()?, "--cache-dir")?
        }
        None => format!("{}-cache", req.name),
    };
    let server = Server {
        name: format!("{}-server-1", req.name),
        container: req.name.clone(),
        address,
        port: rt.server_port,
        cache,
    };
    Ok(Cluster {
        distro: req.distro.clone(),
        image,
        image_hash,
        scheduler: Scheduler {
            container: req.name.clone(),
            address,
            port: rt.scheduler_port,
        },
        servers: vec![server],
        network,
        address_source,
        profile,
    })
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

/// Secrets and configs live in the state directory and reach the container only as
/// a read-only mount: never in the image, the environment or the logs.
fn write_configs(root: &std::path::Path, state: &StateDir, c: &Cluster) -> anyhow::Result<()> {
    let secrets = state.secrets(c.profile.profile.server_auth)?;
    let configs = super::configs::render(&Templates::load(root)?, c, &secrets, "start")?;
    let problems = config_check::check(&configs);
    anyhow::ensure!(
        problems.is_empty(),
        "the rendered configs do not check out:\n{}",
        problems.join("\n")
    );
    state.write_configs(&configs)
}

/// The container that runs the scheduler and the (first) build server.
fn run_spec(state: &StateDir, c: &Cluster) -> anyhow::Result<RunSpec> {
    let rt = &c.profile.profile;
    let conf_dir =
        container::mount_source(&state.container_config_dir().canonicalize()?, "--state-dir")?;
    let server = &c.servers[0];
    Ok(RunSpec {
        name: c.scheduler.container.clone(),
        image: c.image.clone(),
        mounts: vec![
            (conf_dir, CONFIG_MOUNT.into(), true),
            (server.cache.clone(), rt.cache_root.clone(), false),
        ],
        env: vec![("SCCACHE_LOG".into(), rt.log_level.as_str().into())],
        bridge: match &c.network {
            // Pod is Kubernetes' (`kube` renders manifests, `start` never sees it).
            Network::Host | Network::Pod => None,
            Network::Bridge { name, .. } => Some((name.clone(), server.address.to_string())),
        },
        command: Vec::new(),
    })
}

/// Creates the bridge network if needed and runs the container; a network made
/// for this start is removed again when the container does not start.
fn launch(state: &StateDir, c: &Cluster) -> anyhow::Result<()> {
    let spec = run_spec(state, c)?;
    let created = match &c.network {
        Network::Bridge { name, subnet } => docker_network::ensure_bridge(name, subnet)?,
        Network::Host | Network::Pod => false,
    };
    if let Err(e) = docker::run_logged(&spec.args()) {
        if let (true, Network::Bridge { name, .. }) = (created, &c.network) {
            let _ = docker::output(&["network", "rm", name]);
        }
        return Err(e);
    }
    Ok(())
}
