//! Where the build servers of a cluster go: their names, containers, addresses,
//! ports and caches, computed from the cluster alone (no engine involved), so
//! `start` and `scale` place server N the same way every time.
//!
//! Host network: every server advertises the host address, server N listens on
//! `server_port + N - 1`. Bridge network: every server has a fixed address of its
//! own; in the all-in-one layout the first server shares the scheduler's address
//! (`bridge_address`) and server N sits at `bridge_address + N - 1`, otherwise the
//! scheduler has `bridge_address` and server N `bridge_address + N`.

use std::net::Ipv4Addr;

use super::cluster::{Cache, Cluster, Network, Server};

/// The most build servers one cluster runs.
pub const MAX_BUILDERS: usize = 32;

/// The name of the scheduler's container: the cluster's name in the all-in-one
/// layout, `<name>-scheduler` when every server has a container of its own.
pub fn scheduler_container(base: &str, all_in_one: bool) -> String {
    if all_in_one {
        base.to_owned()
    } else {
        format!("{base}-scheduler")
    }
}

/// Build server number `index` (from 1) of `c`; `all_in_one`: the first server runs
/// in the scheduler's container.
pub fn server(c: &Cluster, index: usize, all_in_one: bool) -> anyhow::Result<Server> {
    anyhow::ensure!(
        (1..=MAX_BUILDERS).contains(&index),
        "--builders takes 1 to {MAX_BUILDERS} build servers, not {index}"
    );
    let rt = c.settings();
    let base = c.base_name();
    let shares = all_in_one && index == 1;
    let name = format!("{base}-server-{index}");
    let container = if shares {
        c.scheduler.container.clone()
    } else {
        name.clone()
    };
    let (address, port) = match &c.network {
        Network::Host => (c.scheduler.address, host_port(c, index)?),
        Network::Pod => anyhow::bail!("on Kubernetes a build server's address is its pod's"),
        Network::Bridge { subnet, .. } => {
            let offset = if all_in_one { index - 1 } else { index };
            (
                bridge_address(c.scheduler.address, offset, subnet)?,
                rt.server_port,
            )
        }
    };
    let cache = match (&c.cache_dir, shares) {
        (Some(dir), true) => Cache::HostDir(dir.clone()),
        (Some(dir), false) => Cache::HostDir(dir.join(&name)),
        (None, true) => Cache::Volume(format!("{base}-cache")),
        (None, false) => Cache::Volume(format!("{name}-cache")),
    };
    Ok(Server {
        name,
        container,
        address,
        port,
        cache,
    })
}

/// Host network: server `index` listens on `server_port + index - 1`.
fn host_port(c: &Cluster, index: usize) -> anyhow::Result<u16> {
    let rt = c.settings();
    let port = u16::try_from(usize::from(rt.server_port) + index - 1)
        .map_err(|_| anyhow::anyhow!("build server {index}: port beyond 65535"))?;
    anyhow::ensure!(
        port != rt.scheduler_port,
        "build server {index} would listen on the scheduler's port {port}: move server_port or scheduler_port in {} apart by more than the number of builders",
        c.runtime.file
    );
    anyhow::ensure!(
        !c.tls.is_on() || port != rt.scheduler_internal_port(),
        "build server {index} would listen on {port}, where the scheduler listens behind its TLS front: move server_port in {}",
        c.runtime.file
    );
    anyhow::ensure!(
        port != rt.exporter_port(),
        "build server {index} would listen on {port}, where the scheduler's metrics exporter listens: move server_port in {}",
        c.runtime.file
    );
    Ok(port)
}

/// `first + offset`, checked to be a host address inside `subnet` (`a.b.c.d/len`).
pub fn bridge_address(first: Ipv4Addr, offset: usize, subnet: &str) -> anyhow::Result<Ipv4Addr> {
    let ip = u32::from(first)
        .checked_add(offset as u32)
        .map(Ipv4Addr::from)
        .ok_or_else(|| anyhow::anyhow!("{first} + {offset} is beyond 255.255.255.255"))?;
    let (net, len) = subnet
        .split_once('/')
        .and_then(|(n, l)| Some((n.parse::<Ipv4Addr>().ok()?, l.parse::<u32>().ok()?)))
        .filter(|(_, l)| *l <= 30)
        .ok_or_else(|| anyhow::anyhow!("bridge_subnet {subnet:?} is not an IPv4 a.b.c.d/len"))?;
    let mask = u32::MAX << (32 - len);
    let host = u32::from(ip) & !mask;
    anyhow::ensure!(
        u32::from(ip) & mask == u32::from(net) & mask && host != 0 && host != !mask,
        "the build server address {ip} falls outside the bridge subnet {subnet}: fewer builders, or a lower bridge_address"
    );
    Ok(ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bridge_addresses_stay_in_the_subnet() {
        let first: Ipv4Addr = "172.31.250.10".parse().unwrap();
        let subnet = "172.31.250.0/24";
        assert_eq!(
            bridge_address(first, 3, subnet).unwrap(),
            "172.31.250.13".parse::<Ipv4Addr>().unwrap()
        );
        assert!(bridge_address(first, 245, subnet).is_err()); // .255, the broadcast
        assert!(bridge_address(first, 300, subnet).is_err());
        assert!(bridge_address(first, 1, "nonsense").is_err());
    }

    #[test]
    fn scheduler_container_names() {
        assert_eq!(scheduler_container("s", true), "s");
        assert_eq!(scheduler_container("s", false), "s-scheduler");
    }
}
