//! Stopping the cluster, reading its log and removing its containers. With nothing
//! to act on, each says so in one line and succeeds: a cleanup recipe run on a clean
//! machine is not an error.

use std::time::Instant;

use crate::docker::{self, objects};
use crate::lifecycle::container;
use crate::lifecycle::records::Records;
use crate::model::{Cluster, Network};
use crate::store::StateDir;

/// The recorded cluster, or None (after saying so) when none was ever started.
fn recorded(state: &StateDir, doing: &str) -> anyhow::Result<Option<Cluster>> {
    if !state.has_record() {
        println!(
            "no cluster was started with the state directory {}: nothing to {doing}",
            state.path().display()
        );
        return Ok(None);
    }
    state.record().map(Some)
}

/// Stops every container of the cluster (SIGTERM, then the grace period), the
/// build servers before the scheduler.
pub fn stop(state: &StateDir) -> anyhow::Result<()> {
    let Some(c) = recorded(state, "stop")? else {
        return Ok(());
    };
    docker::engine()?;
    for name in c.containers().into_iter().rev() {
        match container::state(name)? {
            None => println!("no container {name}: nothing to stop"),
            Some(s) if !s.is_up() => println!("{name} is not running ({})", s.status),
            Some(_) => {
                let t0 = Instant::now();
                container::stop(name)?;
                println!("stopped {name} in {:.1}s", t0.elapsed().as_secs_f64());
            }
        }
    }
    Ok(())
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

/// Removes the cluster's containers; `purge` also removes their cache volumes and
/// the bridge network.
pub fn remove_containers(state: &StateDir, purge: bool) -> anyhow::Result<()> {
    let Some(c) = recorded(state, "remove")? else {
        return Ok(());
    };
    docker::engine()?;
    for name in c.containers() {
        if container::state(name)?.is_some() {
            container::stop(name)?;
            container::remove(name)?;
            println!("removed the container {name}");
        } else {
            println!("no container {name}: nothing to remove");
        }
    }
    for volume in c.servers.iter().filter_map(|s| s.cache.volume()) {
        if !purge {
            println!("the cache volume {volume} is kept (--purge removes it)");
        } else if objects::volume_inspect(volume).try_output()?.is_some() {
            objects::volume_remove(volume).run_logged()?;
        }
    }
    if let (true, Network::Bridge { name, .. }) = (purge, &c.network) {
        if objects::network_inspect(name, None).try_output()?.is_some() {
            objects::network_remove(name).run_logged()?;
        }
    }
    Ok(())
}
