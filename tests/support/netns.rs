//! Network devices a test makes: another host's network (a network namespace
//! joined to this one by a veth pair, on a /30 of 10.251.0.0/16 picked from the
//! test's pid) and a bridge of a second engine's own. Dropping one deletes it, also
//! when making it failed part way.

use std::process::{Command, Stdio};

use super::{stderr, stdout};

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        stderr(&out)
    );
    stdout(&out)
}

/// `ip ARGS`, failures ignored (teardown).
fn ip_quietly(args: &[&str]) {
    let _ = Command::new("ip")
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// A network namespace with a veth pair to this host's namespace.
pub struct NetNs {
    /// The namespace (`/var/run/netns/NAME`).
    pub name: String,
    /// This host's end of the veth.
    veth: String,
    /// This host's address on the link.
    pub here: String,
    /// The namespace's address on the link.
    pub there: String,
}

impl NetNs {
    /// The namespace, the veth pair, the addresses, the links up.
    pub fn create() -> NetNs {
        let pid = std::process::id();
        let (third, fourth) = ((pid / 64) % 256, (pid % 64) * 4);
        let n = NetNs {
            name: format!("sdj{pid}"),
            veth: format!("sdja{pid}"),
            here: format!("10.251.{third}.{}", fourth + 1),
            there: format!("10.251.{third}.{}", fourth + 2),
        };
        let taken = ip(&["-4", "-o", "addr", "show"]);
        assert!(
            !taken.contains(&format!(" {}/", n.here)),
            "{} is in use",
            n.here
        );
        // From here on, a panic drops `n`, which deletes what was made.
        let peer = format!("sdjb{pid}");
        let in_ns = |args: &[&str]| ip(&[&["netns", "exec", &n.name, "ip"], args].concat());
        ip(&["netns", "add", &n.name]);
        let veth = n.veth.as_str();
        ip(&["link", "add", veth, "type", "veth", "peer", "name", &peer]);
        ip(&["link", "set", &peer, "netns", &n.name]);
        ip(&["addr", "add", &format!("{}/30", n.here), "dev", veth]);
        ip(&["link", "set", veth, "up"]);
        in_ns(&["addr", "add", &format!("{}/30", n.there), "dev", &peer]);
        in_ns(&["link", "set", &peer, "up"]);
        in_ns(&["link", "set", "lo", "up"]);
        n
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        // Deleting the namespace deletes the peer, and with it this end.
        ip_quietly(&["netns", "del", &self.name]);
        ip_quietly(&["link", "del", &self.veth]);
    }
}

/// A bridge interface (for a second engine's default network), with an address
/// from TEST-NET-2: nothing is routed there.
pub struct Bridge {
    pub name: String,
}

impl Bridge {
    /// The bridge `name`, replacing one left over by an earlier run, up.
    pub fn create(name: &str) -> Bridge {
        ip_quietly(&["link", "del", name]);
        // From here on, a panic drops the bridge, which deletes it.
        let bridge = Bridge {
            name: name.to_owned(),
        };
        ip(&["link", "add", name, "type", "bridge"]);
        ip(&["addr", "add", "198.51.100.1/24", "dev", name]);
        ip(&["link", "set", name, "up"]);
        bridge
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        ip_quietly(&["link", "del", &self.name]);
    }
}
