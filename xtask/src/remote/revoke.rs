//! `revoke`: refusing a build server on another host from now on. Neither
//! jwt_hs256 JWTs nor the shared token can be withdrawn one by one, so the server
//! secret is rotated: the scheduler and every local build server restart with new
//! credentials, and every other remote builder needs a new bundle.

use std::net::Ipv4Addr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::docker;
use crate::lifecycle::configs::write_configs;
use crate::lifecycle::container;
use crate::lifecycle::readiness::wait_ready;
use crate::lifecycle::records::Records;
use crate::lifecycle::tls;
use crate::model::remote::RemoteServer;
use crate::model::Cluster;
use crate::store::StateDir;

/// One `revoke` request.
#[derive(Debug, Clone)]
pub struct RevokeRequest {
    /// `ADDRESS` (every remote builder at that IP) or `ADDRESS:PORT`.
    pub target: String,
    /// How long to wait for the scheduler and the local builders to come back.
    pub timeout: Duration,
}

/// What `revoke` did.
pub struct Revoked {
    /// The remote builders refused from now on.
    pub revoked: Vec<RemoteServer>,
    /// The remote builders left, each of which needs a new bundle.
    pub need_new_bundle: Vec<RemoteServer>,
    /// None when the cluster was not running (it starts with the new secret);
    /// else how long from the first restart until the local builders registered
    /// again, and how many servers the scheduler counts then.
    pub restarted: Option<(Duration, u64)>,
}

/// Rotates the server secret, restarts the cluster's containers with new configs,
/// waits until the local builders registered again, and drops the revoked entries.
pub fn revoke(root: &Path, state: &StateDir, req: &RevokeRequest) -> anyhow::Result<Revoked> {
    let c = state.record()?;
    let mut list = state.remote_servers()?;
    let (ip, port) = parse_target(&req.target)?;
    let hit = |r: &RemoteServer| r.address == ip && port.is_none_or(|p| r.port == p);
    let revoked: Vec<RemoteServer> = list.iter().filter(|r| hit(r)).cloned().collect();
    if revoked.is_empty() {
        let issued: Vec<String> = list.iter().map(|r| r.public_addr()).collect();
        anyhow::bail!(
            "no join bundle was issued for {} (issued: {})",
            req.target,
            if issued.is_empty() {
                "none".into()
            } else {
                issued.join(", ")
            }
        );
    }
    docker::engine()?;
    let up = container::state(&c.scheduler.container)?.is_some_and(|s| s.is_up());
    state.rotate_server_secret(c.runtime.settings.server_auth)?;
    write_configs(root, state, &c)?;
    list.retain(|r| !hit(r));
    state.save_remote_servers(&list)?;
    let restarted = if up {
        let t0 = Instant::now();
        restart_all(state, &c, req.timeout)?;
        let status = wait_ready(state, &c, c.servers.len() as u64, req.timeout)?;
        Some((t0.elapsed(), status.num_servers))
    } else {
        None
    };
    Ok(Revoked {
        revoked,
        need_new_bundle: list,
        restarted,
    })
}

/// `ADDRESS` or `ADDRESS:PORT`.
fn parse_target(t: &str) -> anyhow::Result<(Ipv4Addr, Option<u16>)> {
    let bad = || anyhow::anyhow!("{t:?} is not ADDRESS or ADDRESS:PORT (an IPv4 address)");
    match t.split_once(':') {
        Some((a, p)) => Ok((
            a.parse().map_err(|_| bad())?,
            Some(p.parse().map_err(|_| bad())?),
        )),
        None => Ok((t.parse().map_err(|_| bad())?, None)),
    }
}

/// Restarts the scheduler's container and waits until it answers, then the build
/// servers in containers of their own, so each registers with its new credential
/// at once (a server that finds no scheduler retries only later).
fn restart_all(state: &StateDir, c: &Cluster, timeout: Duration) -> anyhow::Result<()> {
    container::restart(&c.scheduler.container)?;
    let deadline = Instant::now() + timeout;
    while let Err(e) = tls::scheduler_status(state, c) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the scheduler does not answer {}s after its restart: {e:#}",
            timeout.as_secs()
        );
        std::thread::sleep(Duration::from_millis(100)); // the poll interval
    }
    for s in c.own_container_servers() {
        container::restart(&s.container)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let ip: Ipv4Addr = "10.0.0.2".parse().unwrap();
        assert_eq!(parse_target("10.0.0.2").unwrap(), (ip, None));
        assert_eq!(parse_target("10.0.0.2:10501").unwrap(), (ip, Some(10501)));
        assert!(parse_target("host:1").is_err());
        assert!(parse_target("10.0.0.2:x").is_err());
    }
}
