//! `join-bundle` on the scheduler's host: the bundle file for a build server on
//! another host (its config with a credential bound to its address), and the
//! record of it. Reading one back, on the host that joins, is `bundle_check`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::bundle_check;
use crate::base::atomic;
use crate::lifecycle::records::Records;
use crate::lifecycle::tls;
use crate::model::remote::{JoinBundle, RemoteServer, BUNDLE_FORMAT};
use crate::model::{Cache, Cluster, Network, Server};
use crate::profile::validate;
use crate::render::{cluster_configs, Templates};
use crate::sccache::{config_check, Configs, Secrets};
use crate::store::StateDir;

/// One `join-bundle` request.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    /// The IP the joining host's build server advertises and sends from.
    pub address: Ipv4Addr,
    /// Its port [default: the profile's server_port].
    pub port: Option<u16>,
    /// Its name [default: `<cluster>-remote-<a>-<b>-<c>-<d>`].
    pub name: Option<String>,
    /// Where to write the bundle.
    pub output: PathBuf,
}

/// Writes the join bundle of `req` (0600, atomically) and records the server.
pub fn issue(root: &Path, state: &StateDir, req: &BundleRequest) -> anyhow::Result<RemoteServer> {
    let c = state.record()?;
    check_reachable(&c)?;
    let port = req.port.unwrap_or(c.runtime.settings.server_port);
    let name = req
        .name
        .clone()
        .unwrap_or_else(|| default_name(&c, req.address));
    validate::docker_name(&name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let public_addr = format!("{}:{port}", req.address);
    check_address(&c, req.address, &public_addr)?;
    let mut list = state.remote_servers()?;
    if let Some(other) = list
        .iter()
        .find(|r| r.name == name && r.public_addr() != public_addr)
    {
        anyhow::bail!(
            "the remote builder {name} is at {}: choose another --name",
            other.public_addr()
        );
    }
    let auth = c.runtime.settings.server_auth;
    let secrets = state.secrets(auth)?;
    let server = Server {
        name: name.clone(),
        container: name.clone(),
        address: req.address,
        port,
        // On its own host `join` mounts the volume of this name.
        cache: Cache::Volume(format!("{name}-cache")),
    };
    let mut bundle = make_bundle(root, &c, &server, &secrets)?;
    // The CA's certificate (never its key): the remote server trusts the front with it.
    bundle.ca_cert = tls::servers_ca(state, &c)?;
    // What `join` will refuse is never written.
    bundle_check::check(&bundle)?;
    atomic::write(&req.output, &serde_json::to_vec_pretty(&bundle)?, 0o600)?;
    let entry = RemoteServer {
        name,
        address: req.address,
        port,
        scheduler_url: c.scheduler_url(),
        secret_id: secrets.server_secret_id(auth),
        issued_at: now(),
    };
    list.retain(|r| r.public_addr() != public_addr);
    list.push(entry.clone());
    state.save_remote_servers(&list)?;
    Ok(entry)
}

/// A server on another host must reach the scheduler: not over loopback, not on a
/// bridge network private to this host.
fn check_reachable(c: &Cluster) -> anyhow::Result<()> {
    anyhow::ensure!(
        c.network == Network::Host,
        "the cluster runs on a bridge network, which other hosts cannot reach: start it on the host network (`--network host --advertise IP`)"
    );
    anyhow::ensure!(
        !c.scheduler.address.is_loopback(),
        "the scheduler advertises {}, which other hosts cannot reach: start it with `--advertise IP` (an address of this host the other host reaches)",
        c.scheduler.address
    );
    Ok(())
}

/// The address must be a unicast one that no local build server already uses.
fn check_address(c: &Cluster, ip: Ipv4Addr, public_addr: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        !(ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() || ip.is_loopback()),
        "--address {ip}: give the unicast address the other host's build server sends from and clients reach it at"
    );
    if let Some(s) = c.servers.iter().find(|s| s.public_addr() == public_addr) {
        anyhow::bail!("{public_addr} is the local build server {}", s.name);
    }
    Ok(())
}

fn default_name(c: &Cluster, ip: Ipv4Addr) -> String {
    let dashed = ip.to_string().replace('.', "-");
    format!("{}-remote-{dashed}", c.base_name())
}

/// The bundle for `s`: its server.conf (checked against the scheduler's and the
/// client's config) and what its container needs.
fn make_bundle(
    root: &Path,
    c: &Cluster,
    s: &Server,
    secrets: &Secrets,
) -> anyhow::Result<JoinBundle> {
    let t = Templates::load(root)?;
    let all = cluster_configs::render(&t, c, secrets, "join-bundle")?;
    let server_conf =
        cluster_configs::server_config(&t, c, s, secrets, &cluster_configs::header("join-bundle"))?;
    let triple = Configs {
        scheduler: all.scheduler,
        server: server_conf.clone(),
        client: all.client,
        front: all.front,
    };
    // Its heartbeats leave from its own address, not the scheduler's.
    let problems = config_check::check(&triple);
    anyhow::ensure!(
        problems.is_empty(),
        "the rendered server config does not check out:\n{}",
        problems.join("\n")
    );
    let rt = &c.runtime.settings;
    Ok(JoinBundle {
        format: BUNDLE_FORMAT.into(),
        name: s.name.clone(),
        address: s.address,
        port: s.port,
        scheduler_url: c.scheduler_url(),
        distro: c.distro.clone(),
        image: c.image.clone(),
        image_hash: c.image_hash.clone(),
        cache_root: rt.cache_root.clone(),
        log_level: rt.log_level.as_str().into(),
        toolchain_cache_size: rt.toolchain_cache_size,
        server_conf,
        // Set by the caller, who holds the state directory.
        ca_cert: None,
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
