//! Stopping the cluster, reading its log and removing its containers. With nothing
//! to act on, each says so in one line and succeeds: a cleanup recipe run on a clean
//! machine is not an error.

use std::time::Instant;

use crate::docker::{self, objects};
use crate::lifecycle::container;
use crate::lifecycle::records::Records;
use crate::model::{specs, Cluster, Network};
use crate::store::StateDir;

/// The recorded cluster, or None when none was ever started; with no build
/// server joined from the state directory either, says there is nothing to do.
fn recorded(state: &StateDir, doing: &str, joined: &[String]) -> anyhow::Result<Option<Cluster>> {
    if state.has_record() {
        return state.record().map(Some);
    }
    if joined.is_empty() {
        println!(
            "no cluster was started and no build server joined with the state directory {}: nothing to {doing}",
            state.path().display()
        );
    }
    Ok(None)
}

/// Stops every container of the cluster (SIGTERM, then the grace period), the
/// build servers before the scheduler, and the build servers this host joined
/// to another host's scheduler (`join`).
pub fn stop(state: &StateDir) -> anyhow::Result<()> {
    let joined = state.joined_names()?;
    let c = recorded(state, "stop", &joined)?;
    if c.is_none() && joined.is_empty() {
        return Ok(());
    }
    docker::engine()?;
    for name in joined.iter().filter_map(|n| ours(n).transpose()) {
        stop_one(&name?)?;
    }
    for name in c.iter().flat_map(|c| c.containers().into_iter().rev()) {
        stop_one(name)?;
    }
    Ok(())
}

fn stop_one(name: &str) -> anyhow::Result<()> {
    match container::state(name)? {
        None => println!("no container {name}: nothing to stop"),
        Some(s) if !s.is_up() => println!("{name} is not running ({})", s.status),
        Some(_) => {
            let t0 = Instant::now();
            container::stop(name)?;
            println!("stopped {name} in {:.1}s", t0.elapsed().as_secs_f64());
        }
    }
    Ok(())
}

/// The joined server `name`, unless a container of that name exists that this
/// tool did not start (said, and left alone).
fn ours(name: &str) -> anyhow::Result<Option<String>> {
    if container::state(name)?.is_some() && !container::is_ours(name)? {
        println!("the container {name} was not started by this tool: left alone");
        return Ok(None);
    }
    Ok(Some(name.to_owned()))
}

/// Prints the log of the cluster's containers, or of the one named `only` (a
/// container or build server name); `follow`: as it grows (one container).
pub fn logs(
    state: &StateDir,
    follow: bool,
    tail: Option<u32>,
    only: Option<&str>,
) -> anyhow::Result<()> {
    let c = state.record()?;
    let names: Vec<&str> = match only {
        None => c.containers(),
        Some(want) => {
            let s = c
                .servers
                .iter()
                .find(|s| s.name == want)
                .map(|s| s.container.as_str());
            let name = s.or_else(|| c.containers().into_iter().find(|n| *n == want));
            vec![name.ok_or_else(|| {
                anyhow::anyhow!(
                    "no container or build server {want}: the cluster has {}",
                    c.containers().join(", ")
                )
            })?]
        }
    };
    anyhow::ensure!(
        !follow || names.len() == 1,
        "--follow takes one container (--container NAME); the cluster has {}",
        names.join(", ")
    );
    for name in &names {
        let cmd = objects::logs(name, follow, tail);
        if names.len() > 1 {
            println!("==> {name} <==");
        }
        let out = cmd.expression().unchecked().run()?;
        anyhow::ensure!(out.status.success(), "`{}` failed", cmd.shown());
    }
    Ok(())
}

/// Removes the cluster's containers and those of the build servers this host
/// joined; `purge` also removes their cache volumes, the bridge network and the
/// joined servers' configs.
pub fn remove_containers(state: &StateDir, purge: bool) -> anyhow::Result<()> {
    let joined = state.joined_names()?;
    let c = recorded(state, "remove", &joined)?;
    if c.is_none() && joined.is_empty() {
        return Ok(());
    }
    docker::engine()?;
    for name in joined.iter().filter_map(|n| ours(n).transpose()) {
        let name = name?;
        remove_one(&name)?;
        remove_volume(&specs::remote_cache_volume(&name), purge)?;
        if purge {
            state.remove_joined(&name)?;
            println!("removed the config of the joined build server {name}");
        }
    }
    let Some(c) = c else {
        return Ok(());
    };
    for name in c.containers() {
        remove_one(name)?;
    }
    for volume in c.servers.iter().filter_map(|s| s.cache.volume()) {
        remove_volume(volume, purge)?;
    }
    if let (true, Network::Bridge { name, .. }) = (purge, &c.network) {
        if objects::network_inspect(name, None).try_output()?.is_some() {
            objects::network_remove(name).run_logged()?;
        }
    }
    Ok(())
}

fn remove_one(name: &str) -> anyhow::Result<()> {
    if container::state(name)?.is_some() {
        container::stop(name)?;
        container::remove(name)?;
        println!("removed the container {name}");
    } else {
        println!("no container {name}: nothing to remove");
    }
    Ok(())
}

fn remove_volume(volume: &str, purge: bool) -> anyhow::Result<()> {
    if !purge {
        println!("the cache volume {volume} is kept (--purge removes it)");
    } else if objects::volume_inspect(volume).try_output()?.is_some() {
        objects::volume_remove(volume).run_logged()?;
    }
    Ok(())
}
