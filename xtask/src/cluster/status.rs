//! `status`: the containers, the scheduler's figures and every build server.

use super::container;
use super::diagnose::log_tail_with_advice;
use crate::docker;
use crate::sccache::scheduler_status;
use crate::state::StateDir;

/// Prints the cluster's state; fails when a container is down, the scheduler does
/// not answer, or fewer servers registered than the cluster has.
pub fn status(state: &StateDir) -> anyhow::Result<()> {
    let c = state.record()?;
    docker::engine()?;
    let mut down = Vec::new();
    for name in c.containers() {
        match container::state(name)? {
            None => {
                println!(
                    "container  {name}: missing (start it with `cargo xtask start {}`)",
                    c.distro
                );
                down.push(name.to_owned());
            }
            Some(s) => {
                println!(
                    "container  {name}: {} (health: {}, restarts: {}, started {})",
                    s.status, s.health, s.restarts, s.started_at
                );
                if s.status != "running" {
                    down.push(name.to_owned());
                }
            }
        }
    }
    let hash = &c.image_hash[..c.image_hash.len().min(12)];
    println!("image      {} (input hash {hash})", c.image);
    println!(
        "network    {}: advertised {} ({})",
        c.network.mode(),
        c.scheduler.address,
        c.address_source
    );
    for s in &c.servers {
        println!(
            "server     {} at {} (cache {})",
            s.name,
            s.public_addr(),
            s.cache
        );
    }
    let sched = scheduler_status::fetch(c.scheduler_addr());
    match &sched {
        Ok(s) => println!(
            "scheduler  {}: {} server(s), {} CPUs, {} job(s) in progress",
            c.scheduler_url(),
            s.num_servers,
            s.num_cpus,
            s.in_progress
        ),
        Err(e) => println!("scheduler  {}: not answering ({e:#})", c.scheduler_url()),
    }
    println!("state      {}", state.path().display());
    anyhow::ensure!(down.is_empty(), "not running: {}", down.join(", "));
    match sched {
        Ok(s) if (s.num_servers as usize) < c.servers.len() => anyhow::bail!(
            "{} of {} build server(s) registered; {}",
            s.num_servers,
            c.servers.len(),
            log_tail_with_advice(&c.scheduler.container)
        ),
        Ok(_) => Ok(()),
        Err(_) => anyhow::bail!("the scheduler does not answer"),
    }
}
