//! The cluster model rendered to `docker run` specs: one for the scheduler's
//! container (role `all` or `scheduler`), one per build server with a container of
//! its own (role `server`).

use super::cluster::{Cluster, Network, Server};
use super::remote::JoinBundle;
use super::run_spec::{Mount, RunSpec, CA_CERT, CONFIG_MOUNT};

/// Where the containers' config directories come from: absolute paths in the state
/// directory for `docker run`, paths relative to the project for compose.
pub struct ConfigSources {
    /// The scheduler's container's config directory.
    pub scheduler: String,
    /// The directory holding one directory per build server, named after it.
    pub servers: String,
}

/// Every container of `c`, the scheduler's first, with configs from `sources`.
pub fn all_from(c: &Cluster, sources: &ConfigSources) -> Vec<RunSpec> {
    let mut specs = vec![scheduler(c, sources)];
    for s in c.own_container_servers() {
        specs.push(server(c, s, sources));
    }
    specs
}

/// The scheduler's container; in the all-in-one layout it runs the first server too.
pub fn scheduler(c: &Cluster, sources: &ConfigSources) -> RunSpec {
    let mut mounts = vec![Mount::read_only(&sources.scheduler, CONFIG_MOUNT)];
    let first = c.servers.first().filter(|_| c.all_in_one());
    if let Some(s) = first {
        mounts.push(Mount::writable(
            s.cache.mount_source(),
            &c.settings().cache_root,
        ));
    }
    RunSpec {
        name: c.scheduler.container.clone(),
        image: c.image.clone(),
        mounts,
        env: scheduler_env(c, first.is_some()),
        bridge: bridge(c, c.scheduler.address.to_string()),
        command: vec![c.scheduler_role().to_owned()],
        sandbox: first.is_some(),
    }
}

/// Build server `s` in a container of its own: only its own config directory is
/// mounted, so it sees neither the scheduler's key nor another server's JWT.
pub fn server(c: &Cluster, s: &Server, sources: &ConfigSources) -> RunSpec {
    RunSpec {
        name: s.container.clone(),
        image: c.image.clone(),
        mounts: vec![
            Mount::read_only(format!("{}/{}", sources.servers, s.name), CONFIG_MOUNT),
            Mount::writable(s.cache.mount_source(), &c.settings().cache_root),
        ],
        env: container_env(c, true),
        bridge: bridge(c, s.address.to_string()),
        command: vec!["server".to_owned()],
        sandbox: true,
    }
}

/// The log level; and where a build server runs behind the TLS front, the CA it
/// trusts the front with (`SSL_CERT_FILE` replaces the system store for it).
fn container_env(c: &Cluster, runs_a_server: bool) -> Vec<(String, String)> {
    let mut env = vec![("SCCACHE_LOG".into(), c.settings().log_level.as_str().into())];
    if runs_a_server && c.tls.gives_servers_a_ca(c.own_cert.as_ref()) {
        env.push(("SSL_CERT_FILE".into(), format!("{CONFIG_MOUNT}/{CA_CERT}")));
    }
    env
}

/// The scheduler's container also tells its metrics exporter which image it
/// runs (`sccache_dist_build_info`): the hash is a label outside the image.
fn scheduler_env(c: &Cluster, runs_a_server: bool) -> Vec<(String, String)> {
    let mut env = container_env(c, runs_a_server);
    if !c.image_hash.is_empty() {
        env.push(("SCCACHE_DIST_IMAGE_HASH".into(), c.image_hash.clone()));
    }
    env
}

fn bridge(c: &Cluster, ip: String) -> Option<(String, String)> {
    match &c.network {
        // Pod is Kubernetes' (`kube` renders manifests, never `docker run`).
        Network::Host | Network::Pod => None,
        Network::Bridge { name, .. } => Some((name.clone(), ip)),
    }
}

/// The build server of join bundle `b` on the host that joined: role `server` on
/// the host network with the same sandbox, restart policy and grace period as a
/// local one; its config directory `config_dir` read-only, its cache in the volume
/// `<name>-cache`.
pub fn remote_server(b: &JoinBundle, image: &str, config_dir: &str) -> RunSpec {
    RunSpec {
        name: b.name.clone(),
        image: image.to_owned(),
        mounts: vec![
            Mount::read_only(config_dir, CONFIG_MOUNT),
            Mount::writable(remote_cache_volume(&b.name), &b.cache_root),
        ],
        env: remote_env(b),
        bridge: None,
        command: vec!["server".to_owned()],
        sandbox: true,
    }
}

/// The cache volume of the joined build server `name` on the host that joined.
pub fn remote_cache_volume(name: &str) -> String {
    format!("{name}-cache")
}

/// A joined server's environment: its log level, and the CA of a TLS front.
fn remote_env(b: &JoinBundle) -> Vec<(String, String)> {
    let mut env = vec![("SCCACHE_LOG".into(), b.log_level.clone())];
    if b.ca_cert.is_some() {
        env.push(("SSL_CERT_FILE".into(), format!("{CONFIG_MOUNT}/{CA_CERT}")));
    }
    env
}
