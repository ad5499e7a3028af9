//! The cluster model rendered to `docker run` specs: one for the scheduler's
//! container (role `all` or `scheduler`), one per build server with a container of
//! its own (role `server`).

use super::container::{self, RunSpec, CONFIG_MOUNT};
use super::model::{Cluster, Network, Server};
use crate::state::StateDir;

/// Every container of `c`, the scheduler's first.
pub fn all(state: &StateDir, c: &Cluster) -> anyhow::Result<Vec<RunSpec>> {
    let mut specs = vec![scheduler(state, c)?];
    for s in c.own_container_servers() {
        specs.push(server(state, c, s)?);
    }
    Ok(specs)
}

/// The scheduler's container; in the all-in-one layout it runs the first server too.
pub fn scheduler(state: &StateDir, c: &Cluster) -> anyhow::Result<RunSpec> {
    let conf_dir =
        container::mount_source(&state.container_config_dir().canonicalize()?, "--state-dir")?;
    let mut mounts = vec![(conf_dir, CONFIG_MOUNT.to_owned(), true)];
    let first = c.servers.first().filter(|_| c.all_in_one());
    if let Some(s) = first {
        mounts.push((s.cache.clone(), c.profile.profile.cache_root.clone(), false));
    }
    Ok(RunSpec {
        name: c.scheduler.container.clone(),
        image: c.image.clone(),
        mounts,
        env: log_env(c),
        bridge: bridge(c, c.scheduler.address.to_string()),
        command: vec![c.scheduler_role().to_owned()],
        sandbox: first.is_some(),
    })
}

/// Build server `s` in a container of its own: only its own config directory is
/// mounted, so it sees neither the scheduler's key nor another server's JWT.
pub fn server(state: &StateDir, c: &Cluster, s: &Server) -> anyhow::Result<RunSpec> {
    let conf_dir = container::mount_source(
        &state.server_config_dir(&s.name).canonicalize()?,
        "--state-dir",
    )?;
    Ok(RunSpec {
        name: s.container.clone(),
        image: c.image.clone(),
        mounts: vec![
            (conf_dir, CONFIG_MOUNT.to_owned(), true),
            (s.cache.clone(), c.profile.profile.cache_root.clone(), false),
        ],
        env: log_env(c),
        bridge: bridge(c, s.address.to_string()),
        command: vec!["server".to_owned()],
        sandbox: true,
    })
}

fn log_env(c: &Cluster) -> Vec<(String, String)> {
    vec![(
        "SCCACHE_LOG".into(),
        c.profile.profile.log_level.as_str().into(),
    )]
}

fn bridge(c: &Cluster, ip: String) -> Option<(String, String)> {
    match &c.network {
        Network::Host => None,
        Network::Bridge { name, .. } => Some((name.clone(), ip)),
    }
}
