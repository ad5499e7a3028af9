//! The cluster model rendered to `docker run` specs: one for the scheduler's
//! container (role `all` or `scheduler`), one per build server with a container of
//! its own (role `server`).

use super::container::{self, RunSpec, CONFIG_MOUNT};
use super::model::{Cluster, Network, Server};
use super::remote::JoinBundle;
use crate::state::StateDir;

/// Every container of `c`, the scheduler's first, with the configs mounted from
/// the state directory.
pub fn all(state: &StateDir, c: &Cluster) -> anyhow::Result<Vec<RunSpec>> {
    let sources = ConfigSources::state(state)?;
    Ok(all_from(c, &sources))
}

/// Where the containers' config directories come from: absolute paths in the state
/// directory for `docker run`, paths relative to the project for compose.
pub struct ConfigSources {
    /// The scheduler's container's config directory.
    pub scheduler: String,
    /// The directory holding one directory per build server, named after it.
    pub servers: String,
}

impl ConfigSources {
    /// The state directory's own (which must exist).
    pub fn state(state: &StateDir) -> anyhow::Result<ConfigSources> {
        let dir = state.container_config_dir().canonicalize()?;
        Ok(ConfigSources {
            scheduler: container::mount_source(&dir, "--state-dir")?,
            servers: container::mount_source(&dir.join("servers"), "--state-dir")?,
        })
    }
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
    let mut mounts = vec![(sources.scheduler.clone(), CONFIG_MOUNT.to_owned(), true)];
    let first = c.servers.first().filter(|_| c.all_in_one());
    if let Some(s) = first {
        mounts.push((s.cache.clone(), c.profile.profile.cache_root.clone(), false));
    }
    RunSpec {
        name: c.scheduler.container.clone(),
        image: c.image.clone(),
        mounts,
        env: log_env(c),
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
            (
                format!("{}/{}", sources.servers, s.name),
                CONFIG_MOUNT.to_owned(),
                true,
            ),
            (s.cache.clone(), c.profile.profile.cache_root.clone(), false),
        ],
        env: log_env(c),
        bridge: bridge(c, s.address.to_string()),
        command: vec!["server".to_owned()],
        sandbox: true,
    }
}

fn log_env(c: &Cluster) -> Vec<(String, String)> {
    vec![(
        "SCCACHE_LOG".into(),
        c.profile.profile.log_level.as_str().into(),
    )]
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
            (config_dir.to_owned(), CONFIG_MOUNT.to_owned(), true),
            (format!("{}-cache", b.name), b.cache_root.clone(), false),
        ],
        env: vec![("SCCACHE_LOG".into(), b.log_level.clone())],
        bridge: None,
        command: vec!["server".to_owned()],
        sandbox: true,
    }
}
