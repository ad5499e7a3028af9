//! `start`: secrets, configs, networking, the containers (a scheduler and N build
//! servers), and the wait until every build server has registered.

use std::time::Instant;

use super::request::{describe, StartRequest, Started};
use crate::docker::{self, network as docker_network};
use crate::image::HASH_LABEL;
use crate::lifecycle::configs::{state_sources, write_configs_with};
use crate::lifecycle::launch::{clear_stopped_container, halt, run_server, server_ports};
use crate::lifecycle::readiness::wait_ready;
use crate::lifecycle::records::Records;
use crate::lifecycle::tls::{self, Front};
use crate::lifecycle::{container, ports, versions};
use crate::model::cluster::Tls;
use crate::model::{specs, Cluster, Network};
use crate::profile::runtime::NetworkMode;
use crate::profile::{self, validate};
use crate::store::StateDir;

/// Starts the cluster of `req` and waits until its build servers have registered;
/// `--builders` on a running cluster of the same name scales it instead.
pub fn start(
    root: &std::path::Path,
    state: &StateDir,
    req: &StartRequest,
) -> anyhow::Result<Started> {
    check_request(root, req)?;
    if let Some(c) = running_record(state, &req.name)? {
        return on_running(root, state, req, c);
    }
    // Check first, then act: every certificate input is read and checked before
    // a file is written or the engine is asked anything.
    let (mut cluster, front) = checked(root, state, req)?;
    docker::engine()?;
    let Some(image_hash) = docker::image_label(&cluster.image, HASH_LABEL)? else {
        anyhow::bail!(
            "no image {}: build it first with `cargo xtask image {}`",
            cluster.image,
            req.distro
        );
    };
    cluster.image_hash = image_hash;
    let served = versions::image_version(&cluster.image);
    cluster.sccache_dist_version = served.map(|v| v.to_string());
    // Before anything runs: a pair known not to work is said in one line.
    versions::warn_skew(served);
    say_tls(state, &cluster);
    clear_stopped_containers(state, &cluster)?;
    if cluster.network == Network::Host {
        let mut ports = vec![(cluster.scheduler.port, "the scheduler".to_owned())];
        if cluster.tls.is_on() {
            let internal = cluster.settings().scheduler_internal_port();
            ports.push((internal, "the scheduler behind its TLS front".to_owned()));
        }
        ports.extend(server_ports(&cluster.servers));
        ports::ensure_free(&ports)?;
    }
    write_configs_with(root, state, state, &cluster, front)?;
    println!(
        "advertising {} ({})",
        cluster.scheduler.address, cluster.address_source
    );
    let t0 = Instant::now();
    launch(state, &cluster)?;
    let status = wait_ready(state, &cluster, cluster.servers.len() as u64, req.timeout)
        .map_err(|e| halt(&cluster.containers(), e))?;
    Ok(Started {
        cluster,
        status,
        ready_after: t0.elapsed(),
    })
}

/// The cluster `req` describes (its image's hash not looked up yet) and its TLS
/// front worked out in memory: the request's flags, the profile and every
/// certificate input checked, nothing written, no engine asked. `up` calls it
/// before it builds or replaces anything.
pub fn checked(
    root: &std::path::Path,
    state: &StateDir,
    req: &StartRequest,
) -> anyhow::Result<(Cluster, Option<Front>)> {
    check_request(root, req)?;
    let mut profile = crate::profile::runtime::load_named(root, &req.profile)?;
    if let Some(level) = req.log_level {
        profile.settings.log_level = level;
    }
    let image = format!("{}:{}", req.repo, req.distro);
    let cluster = describe(req, profile, image, String::new())?;
    let front = match cluster.tls.is_on() {
        true => Some(tls::plan_front(state, state, &cluster)?),
        false => None,
    };
    Ok((cluster, front))
}

/// Plain HTTP is warned about on every start; a cluster that ran plain before and
/// now gets its TLS front is told what changes for its clients.
fn say_tls(state: &StateDir, c: &Cluster) {
    if !c.tls.is_on() {
        eprintln!("warning: --plain-http: the client token, the build servers' credentials and their certificates cross the network in clear, and any host can pose as a build server; use it only where every host on the network is trusted");
        return;
    }
    let before = state.has_record().then(|| state.record().ok()).flatten();
    if before.is_some_and(|old| !old.tls.is_on()) {
        println!("note: this cluster ran plain HTTP before; it now runs behind a TLS front: its secrets and cache volumes are kept, client.conf now names {}, and clients need the cluster's CA (`cargo xtask client-config` says how)", c.scheduler_url());
    }
}

/// `start` on the running cluster `c`: its front's certificate is renewed in
/// place when it needs it (the containers keep running), then it is scaled to
/// `--builders`, or reported as it runs. A request for another image, network,
/// address or kind of front is refused: those need `stop` first.
fn on_running(
    root: &std::path::Path,
    state: &StateDir,
    req: &StartRequest,
    mut c: Cluster,
) -> anyhow::Result<Started> {
    let image = format!("{}:{}", req.repo, req.distro);
    anyhow::ensure!(
        image == c.image,
        "the container {} is already running {}: `cargo xtask stop` it first to start {image}, or use `status`",
        c.scheduler.container,
        c.image
    );
    same_placement(req, &c)?;
    let asked = match (req.plain_http, &req.own_cert) {
        (true, _) => Tls::Plain,
        (false, Some(_)) => Tls::Own,
        (false, None) => Tls::ClusterCa,
    };
    anyhow::ensure!(
        asked == c.tls,
        "the cluster runs {}; `cargo xtask stop` it first to start it with {}",
        front_kind(c.tls),
        front_kind(asked)
    );
    let before = (c.tls_names.clone(), c.own_cert.clone());
    if !req.tls_names.is_empty() {
        c.tls_names = req.tls_names.clone();
    }
    c.own_cert = req.own_cert.clone().or(c.own_cert);
    super::renew::renew(state, &c)?;
    if before != (c.tls_names.clone(), c.own_cert.clone()) {
        state.save_record(&c)?;
    }
    if let Some(n) = req.builders {
        println!(
            "the cluster {} runs: scaling it to {n} build server(s)",
            req.name
        );
        return super::scale::scale_to(root, state, c, n, req.timeout);
    }
    println!(
        "the cluster {} already runs; its containers are kept (`cargo xtask stop` first to start it anew)",
        req.name
    );
    let t0 = Instant::now();
    let status = wait_ready(state, &c, c.servers.len() as u64, req.timeout)?;
    Ok(Started {
        cluster: c,
        status,
        ready_after: t0.elapsed(),
    })
}

fn front_kind(t: Tls) -> &'static str {
    match t {
        Tls::Plain => "plain HTTP (--plain-http)",
        Tls::Own => "a certificate of its own (--tls-cert)",
        Tls::ClusterCa => "the cluster CA's certificate",
    }
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
    for n in &req.tls_names {
        crate::lifecycle::tls::parse_name(n)?;
    }
    anyhow::ensure!(
        !req.plain_http || req.tls_names.is_empty(),
        "--tls-name names the TLS front's certificate, which --plain-http turns off"
    );
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
    let sources = state_sources(state)?;
    if let Err(e) = docker::run::run(&specs::scheduler(c, &sources)).run_logged() {
        if let (true, Network::Bridge { name, .. }) = (created, &c.network) {
            let _ = docker::objects::network_remove(name).output();
        }
        return Err(e);
    }
    state.save_record(c)?;
    for s in c.own_container_servers() {
        run_server(state, c, s)?;
    }
    Ok(())
}
