//! Which address a build server advertises, and the bridge network of bridge mode.
//!
//! The scheduler accepts a server's heartbeat only from the IP in its public_addr.
//! On the host network that is the host address the heartbeats leave from; on a
//! bridge it is the container's own fixed IP.

use std::net::{Ipv4Addr, UdpSocket};

use super::objects;

/// The host's address on its default route: what other machines reach it at.
/// Connecting a UDP socket picks the source address without sending anything.
pub fn detect_host_address() -> Option<Ipv4Addr> {
    let sock = UdpSocket::bind("0.0.0.0:0").ok()?;
    sock.connect("192.0.2.1:9").ok()?; // TEST-NET-1: only the route lookup matters
    match sock.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

/// Creates the user-defined bridge network `name` with `subnet`, or checks that an
/// existing one has that subnet; true when this call created it.
pub fn ensure_bridge(name: &str, subnet: &str) -> anyhow::Result<bool> {
    let fmt = "{{range .IPAM.Config}}{{.Subnet}} {{end}}";
    match objects::network_inspect(name, Some(fmt)).try_output()? {
        Some(subnets) if subnets.split_whitespace().any(|s| s == subnet) => Ok(false),
        Some(subnets) => anyhow::bail!(
            "the Docker network {name} exists with subnet {subnets:?}, not {subnet}: remove it (`docker network rm {name}`) or change bridge_subnet in the profile"
        ),
        None => {
            objects::network_create_bridge(name, subnet).run_logged().map_err(|e| {
                e.context(format!(
                    "cannot create the bridge network {name} with subnet {subnet}: if it overlaps another network, change bridge_subnet and bridge_address in the runtime profile"
                ))
            })?;
            Ok(true)
        }
    }
}
