//! Build servers on other hosts, as data: the join bundle the scheduler's host
//! issues for one (`join-bundle`), and the record of every bundle issued, which
//! `status` counts and `revoke` edits.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::Cluster;

/// What a join bundle file says it is; another value is refused.
pub const BUNDLE_FORMAT: &str = "sccache-docker-join-bundle/1";

/// A build server on another host that was issued a join bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemoteServer {
    /// Its name, which is also its container's name on that host.
    pub name: String,
    /// The IP of its `public_addr`, bound into its JWT.
    pub address: Ipv4Addr,
    /// Its port.
    pub port: u16,
    /// The scheduler URL its bundle points at.
    pub scheduler_url: String,
    /// The fingerprint of the server secret its credential was made with.
    pub secret_id: String,
    /// When the bundle was issued, in seconds since the Unix epoch.
    pub issued_at: u64,
}

impl RemoteServer {
    /// `IP:PORT`, its `public_addr`.
    pub fn public_addr(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }

    /// Why its bundle no longer works with cluster `c` whose server secret has
    /// fingerprint `secret_id`, or None while it does.
    pub fn stale(&self, c: &Cluster, secret_id: &str) -> Option<String> {
        if self.secret_id != secret_id {
            Some("its credential predates a key rotation (revoke): it needs a new bundle".into())
        } else if self.scheduler_url != c.scheduler_url() {
            Some(format!(
                "its bundle points at {}, the scheduler is at {}: it needs a new bundle",
                self.scheduler_url,
                c.scheduler_url()
            ))
        } else {
            None
        }
    }
}

/// Everything a build server on another host needs, in one file (mode 0600: it
/// holds the server's credential).
#[derive(Clone, Serialize, Deserialize)]
pub struct JoinBundle {
    /// [`BUNDLE_FORMAT`].
    pub format: String,
    /// The server's name, and its container's on the joining host.
    pub name: String,
    /// The IP the server advertises (its `public_addr`).
    pub address: Ipv4Addr,
    /// The port it listens on.
    pub port: u16,
    /// Where the server reaches the scheduler.
    pub scheduler_url: String,
    /// The distro whose image the cluster runs.
    pub distro: String,
    /// The cluster's image reference.
    pub image: String,
    /// The cluster image's input hash.
    pub image_hash: String,
    /// Where the cache volume is mounted in the container.
    pub cache_root: String,
    /// The server's `SCCACHE_LOG`.
    pub log_level: String,
    /// Bytes of toolchains the server keeps (also in `server_conf`).
    pub toolchain_cache_size: u64,
    /// The server.conf text, with the credential bound to `address:port`.
    pub server_conf: String,
    /// The CA certificate (PEM, never its key) the server trusts the scheduler's
    /// TLS front with, when the cluster's CA signed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_cert: Option<String>,
}

impl std::fmt::Debug for JoinBundle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JoinBundle {{ name: {:?}, .. }}", self.name) // the config holds a secret
    }
}

impl JoinBundle {
    /// `IP:PORT`, the server's `public_addr`.
    pub fn public_addr(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> JoinBundle {
        JoinBundle {
            format: BUNDLE_FORMAT.into(),
            name: "c-remote-10-0-0-2".into(),
            address: "10.0.0.2".parse().unwrap(),
            port: 10501,
            scheduler_url: "http://10.0.0.1:10600".into(),
            distro: "debian".into(),
            image: "i:debian".into(),
            image_hash: "h".into(),
            cache_root: "/var/sccache".into(),
            log_level: "info".into(),
            toolchain_cache_size: 1 << 30,
            server_conf: "token = \"SECRET\"\n".into(),
            ca_cert: None,
        }
    }

    #[test]
    fn a_bundle_never_shows_its_config() {
        assert!(!format!("{:?}", bundle()).contains("SECRET"));
        assert_eq!(bundle().public_addr(), "10.0.0.2:10501");
    }
}
