//! Running a cluster's containers: a build server in a container of its own, and
//! replacing a stopped container of ours under a name.

use anyhow::Context;

use super::configs::state_sources;
use super::container;
use crate::docker;
use crate::model::{specs, Cluster, Server};
use crate::store::StateDir;

/// The host ports of `servers`, each named for the message.
pub fn server_ports(servers: &[Server]) -> Vec<(u16, String)> {
    servers
        .iter()
        .map(|s| (s.port, format!("the build server {}", s.name)))
        .collect()
}

/// Runs build server `s` in its own container, its cache directory made first.
pub fn run_server(state: &StateDir, c: &Cluster, s: &Server) -> anyhow::Result<()> {
    if let Some(dir) = s.cache.host_dir() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let sources = state_sources(state)?;
    docker::run::run(&specs::server(c, s, &sources)).run_logged()
}

/// After a failed start or scale: the containers `names` are stopped (their
/// restart policy would bring a failing one back forever) but kept, so their logs
/// stay readable; `error` is returned with what was done said after it.
pub fn halt(names: &[&str], error: anyhow::Error) -> anyhow::Error {
    let mut stopped = Vec::new();
    for name in names {
        let up = container::state(name)
            .ok()
            .flatten()
            .is_some_and(|s| s.is_up());
        if up && docker::objects::stop(name).output().is_ok() {
            stopped.push(*name);
        }
    }
    if stopped.is_empty() {
        return error;
    }
    anyhow::anyhow!(
        "{error:#}\nstopped {} so nothing restart-loops (their logs stay: `cargo xtask logs`; `cargo xtask remove-container` removes them)",
        stopped.join(", ")
    )
}

/// A stopped container of ours under the name is replaced; a running one, or
/// anyone else's, is an error.
pub fn clear_stopped_container(name: &str) -> anyhow::Result<()> {
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
