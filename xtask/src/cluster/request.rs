//! What `start` (and `compose`, which writes what `start` would run) is asked for,
//! what it reports, and the cluster model a request describes before anything
//! runs.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::docker::network as docker_network;
use crate::model::cluster::Tls;
use crate::model::run_spec::mount_source;
use crate::model::{placement, Cluster, Network, Scheduler};
use crate::profile::runtime::{LogLevel, NetworkMode};
use crate::profile::RuntimeProfile;
use crate::sccache::scheduler_status::SchedulerStatus;

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
    /// Plain HTTP to the scheduler instead of its TLS front: a trusted LAN only.
    pub plain_http: bool,
    /// DNS names (or IPs) the scheduler's certificate covers besides its address.
    pub tls_names: Vec<String>,
    /// The user's own certificate and key for the front instead of the cluster CA's.
    pub own_cert: Option<crate::model::cluster::OwnCert>,
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

/// The cluster `req` asks for: addresses, network and caches, before anything runs.
pub fn describe(
    req: &StartRequest,
    profile: RuntimeProfile,
    image: String,
    image_hash: String,
) -> anyhow::Result<Cluster> {
    let mode = req.network.unwrap_or(profile.settings.network);
    let (address, address_source, network) = choose_address(req, &profile, mode)?;
    let cache_dir = match &req.cache_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            Some(mount_source(&dir.canonicalize()?, "--cache-dir")?.into())
        }
        None => None,
    };
    let n = req.builders.unwrap_or(1);
    let all_in_one = n == 1;
    let mut c = Cluster {
        name: req.name.clone(),
        cache_dir,
        // Read from the image by `start`, which runs it.
        sccache_dist_version: None,
        tls: match (req.plain_http, &req.own_cert) {
            (true, _) => Tls::Plain,
            (false, Some(_)) => Tls::Own,
            (false, None) => Tls::ClusterCa,
        },
        tls_names: req.tls_names.clone(),
        own_cert: req.own_cert.clone(),
        distro: req.distro.clone(),
        image,
        image_hash,
        scheduler: Scheduler {
            container: placement::scheduler_container(&req.name, all_in_one),
            address,
            port: profile.settings.scheduler_port,
        },
        servers: Vec::new(),
        network,
        address_source,
        runtime: profile,
    };
    for i in 1..=n {
        let s = placement::server(&c, i, all_in_one)?;
        c.servers.push(s);
    }
    Ok(c)
}

/// The address the scheduler and server advertise, why, and the network it is on.
fn choose_address(
    req: &StartRequest,
    profile: &RuntimeProfile,
    mode: NetworkMode,
) -> anyhow::Result<(Ipv4Addr, String, Network)> {
    let rt = &profile.settings;
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
