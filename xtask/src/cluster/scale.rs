//! Changing the number of build servers of a running cluster without restarting
//! its scheduler: new servers get the next addresses, configs and containers;
//! removed ones (the highest-numbered first) are drained by `docker stop` with the
//! grace period, so their jobs finish or their clients fall back to local compiles.

use std::time::{Duration, Instant};

use super::request::Started;
use crate::docker::objects;
use crate::lifecycle::configs::write_configs;
use crate::lifecycle::launch::{clear_stopped_container, halt, run_server, server_ports};
use crate::lifecycle::readiness::wait_ready;
use crate::lifecycle::records::Records;
use crate::lifecycle::{container, ports};
use crate::model::{placement, Cluster, Network};
use crate::store::StateDir;

/// Scales the recorded cluster to `n` build servers; fails when its scheduler is
/// not running.
pub fn scale(
    root: &std::path::Path,
    state: &StateDir,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Started> {
    let c = state.record()?;
    crate::docker::engine()?;
    let up = container::state(&c.scheduler.container)?.is_some_and(|s| s.is_up());
    anyhow::ensure!(
        up,
        "the scheduler's container {} is not running: `cargo xtask start {} --builders {n}` starts the cluster",
        c.scheduler.container,
        c.distro
    );
    scale_to(root, state, c, n, timeout)
}

/// Scales the running cluster `c` to `n` build servers and waits until the
/// scheduler counts at least `n`.
pub fn scale_to(
    root: &std::path::Path,
    state: &StateDir,
    mut c: Cluster,
    n: usize,
    timeout: Duration,
) -> anyhow::Result<Started> {
    anyhow::ensure!(
        (1..=placement::MAX_BUILDERS).contains(&n),
        "--builders takes 1 to {} build servers, not {n}",
        placement::MAX_BUILDERS
    );
    let t0 = Instant::now();
    let have = c.servers.len();
    if n > have {
        grow(root, state, &mut c, n)?;
    } else if n < have {
        shrink(root, state, &mut c, n)?;
    } else {
        println!("the cluster already has {n} build server(s)");
    }
    // Only the servers this call added are stopped when they do not register.
    let added: Vec<&str> = c.servers[have.min(c.servers.len())..]
        .iter()
        .map(|s| s.container.as_str())
        .collect();
    let status = wait_ready(state, &c, n as u64, timeout).map_err(|e| halt(&added, e))?;
    Ok(Started {
        cluster: c,
        status,
        ready_after: t0.elapsed(),
    })
}

/// Adds servers `have+1..=n`: configs first, then the record, then the containers.
fn grow(root: &std::path::Path, state: &StateDir, c: &mut Cluster, n: usize) -> anyhow::Result<()> {
    let all_in_one = c.all_in_one();
    let first_new = c.servers.len();
    for i in first_new + 1..=n {
        let s = placement::server(c, i, all_in_one)?;
        c.servers.push(s);
    }
    if c.network == Network::Host {
        ports::ensure_free(&server_ports(&c.servers[first_new..]))?;
    }
    write_configs(root, state, c)?;
    state.save_record(c)?;
    for s in &c.servers[first_new..] {
        clear_stopped_container(&s.container)?;
        run_server(state, c, s)?;
        println!("added the build server {} at {}", s.name, s.public_addr());
    }
    Ok(())
}

/// Drains and removes servers `n+1..`: `docker stop` with the grace period, then
/// the container and its cache volume; then the configs and the record.
fn shrink(
    root: &std::path::Path,
    state: &StateDir,
    c: &mut Cluster,
    n: usize,
) -> anyhow::Result<()> {
    let removed = c.servers.split_off(n);
    for s in &removed {
        let t0 = Instant::now();
        if container::state(&s.container)?.is_some() {
            container::stop(&s.container)?;
            container::remove(&s.container)?;
        }
        if let Some(volume) = s.cache.volume() {
            if objects::volume_inspect(volume).try_output()?.is_some() {
                objects::volume_remove(volume).run_logged()?;
            }
        }
        println!(
            "removed the build server {} at {} (drained in {:.1}s)",
            s.name,
            s.public_addr(),
            t0.elapsed().as_secs_f64()
        );
    }
    write_configs(root, state, c)?;
    state.save_record(c)?;
    println!(
        "the scheduler forgets a removed server 90 s after its last heartbeat; until then `status` counts it"
    );
    Ok(())
}
