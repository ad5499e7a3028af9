//! Before `join` starts anything: is the bundle's address one of this host's, and
//! is its port free? Asked of the engine's own host (which may be another machine
//! than the one running this tool, through DOCKER_HOST), by a throwaway
//! host-network container of the image reading the kernel's tables.

use std::net::Ipv4Addr;

use crate::docker::DockerCommand;
use crate::model::remote::JoinBundle;

/// The kernel's local addresses and TCP sockets, as a host-network container sees them.
const TABLES: &[&str] = &["/proc/net/fib_trie", "/proc/net/tcp", "/proc/net/tcp6"];

/// What the engine's host says about the bundle's address and port.
#[derive(Debug, PartialEq, Eq)]
pub struct HostFacts {
    /// The host has the bundle's address on one of its interfaces.
    pub has_address: bool,
    /// Some socket listens on the bundle's port already.
    pub port_taken: bool,
    /// The host's local IPv4 addresses, loopback left out (for the message).
    pub addresses: Vec<Ipv4Addr>,
}

/// Reads the engine host's tables through `image` (a `--rm` container).
pub fn host_facts(image: &str, b: &JoinBundle) -> anyhow::Result<HostFacts> {
    let out = DockerCommand::new(["run", "--rm", "--network", "host", "--entrypoint", "cat"])
        .arg(image)
        .args(TABLES.iter().copied())
        .output()
        .map_err(|e| e.context("cannot read this host's addresses and ports through the engine"))?;
    Ok(facts(&out, b.address, b.port))
}

/// Fails, naming what is wrong and how to make the right bundle, unless the host
/// has the address and (when `check_port`) the port is free.
pub fn check(facts: &HostFacts, b: &JoinBundle, check_port: bool) -> anyhow::Result<()> {
    if !facts.has_address {
        let have: Vec<String> = facts.addresses.iter().map(|a| a.to_string()).collect();
        anyhow::bail!(
            "this host does not have the bundle's address {} (its addresses: {}): the bundle was made for another host. On the scheduler's host, make one for this host: `cargo xtask join-bundle --address IP --output FILE` with an IP of this host that the scheduler and the clients reach",
            b.address,
            if have.is_empty() { "none but loopback".into() } else { have.join(", ") }
        );
    }
    if check_port && facts.port_taken {
        anyhow::bail!(
            "port {} of the bundle is already in use on this host (`ss -ltnp | grep :{}` shows by what): stop that, or make a bundle with another port on the scheduler's host: `cargo xtask join-bundle --address {} --port PORT --output FILE`",
            b.port,
            b.port,
            b.address
        );
    }
    Ok(())
}

/// The facts in the concatenated tables `text`.
fn facts(text: &str, address: Ipv4Addr, port: u16) -> HostFacts {
    let addresses = local_addresses(text);
    HostFacts {
        has_address: addresses.contains(&address),
        port_taken: listening_ports(text).contains(&port),
        addresses: addresses.into_iter().filter(|a| !a.is_loopback()).collect(),
    }
}

/// `/proc/net/fib_trie`: an address line `|-- A.B.C.D` followed by `/32 host LOCAL`.
fn local_addresses(text: &str) -> Vec<Ipv4Addr> {
    let mut found = Vec::new();
    let mut last: Option<Ipv4Addr> = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(ip) = t.strip_prefix("|-- ") {
            last = ip.parse().ok();
        } else if t.starts_with("/32 host LOCAL") {
            if let Some(ip) = last.take() {
                if !found.contains(&ip) {
                    found.push(ip);
                }
            }
        }
    }
    found
}

/// `/proc/net/tcp` and `tcp6`: the ports of sockets in state 0A (LISTEN). Any
/// listener on the port conflicts: the server binds 0.0.0.0:PORT.
fn listening_ports(text: &str) -> Vec<u16> {
    text.lines()
        .filter_map(|line| {
            let mut cols = line.split_whitespace();
            let slot = cols.next()?;
            slot.strip_suffix(':')?.parse::<u32>().ok()?;
            let local = cols.next()?;
            let _remote = cols.next()?;
            (cols.next()? == "0A").then_some(())?;
            u16::from_str_radix(local.rsplit_once(':')?.1, 16).ok()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLES_TEXT: &str = "Main:
  +-- 0.0.0.0/0 3 0 5
     |-- 0.0.0.0
        /0 universe UNICAST
     +-- 10.251.0.0/30 2 0 2
        |-- 10.251.0.2
           /32 host LOCAL
        |-- 10.251.0.3
           /32 link BROADCAST
     +-- 127.0.0.0/8 2 0 2
        |-- 127.0.0.1
           /32 host LOCAL
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000:2904 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0
   1: 0100007F:A2B4 0100007F:2904 01 00000000:00000000 00:00000000 00000000     0        0 2 1 0 20 4 30 10 -1
  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0
";

    #[test]
    fn addresses_and_listeners_from_the_tables() {
        let f = facts(TABLES_TEXT, "10.251.0.2".parse().unwrap(), 10500);
        assert!(f.has_address);
        assert!(f.port_taken, "0x2904 = 10500 listens");
        assert_eq!(f.addresses, ["10.251.0.2".parse::<Ipv4Addr>().unwrap()]);
        let f = facts(TABLES_TEXT, "192.0.2.99".parse().unwrap(), 0xA2B4);
        assert!(!f.has_address);
        assert!(!f.port_taken, "a connected socket on a port is no listener");
        assert!(facts(TABLES_TEXT, "10.251.0.2".parse().unwrap(), 8080).port_taken);
        assert!(!facts(TABLES_TEXT, "10.251.0.3".parse().unwrap(), 1).has_address);
    }
}
