//! The typed description of a running cluster: one scheduler and a list of build
//! servers, each with its own container, address and cache. `start` fills it in and
//! keeps it in the state directory; every later command reads it back.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::profile::RuntimeProfile;

/// How the containers reach each other and the clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "mode")]
pub enum Network {
    /// The host's network: every address is a host address.
    Host,
    /// A user-defined bridge network with fixed container addresses.
    Bridge {
        /// The Docker network's name, `<cluster>-net`.
        name: String,
        /// Its subnet, from the runtime profile.
        subnet: String,
    },
    /// Kubernetes' pod network (`cargo xtask kube`): each build server's address is
    /// its pod IP, known only when the pod starts.
    Pod,
}

impl Network {
    /// `host` or `bridge`, as the profile and the flag spell it.
    pub fn mode(&self) -> &'static str {
        match self {
            Network::Host => "host",
            Network::Bridge { .. } => "bridge",
            Network::Pod => "pod",
        }
    }
}

/// How clients and build servers reach the scheduler.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tls {
    /// Plain HTTP on the scheduler's port: `--plain-http`, for a trusted LAN only
    /// (and what a record of an older version, which has no such field, means).
    #[default]
    Plain,
    /// A TLS front (nginx) on the scheduler's port in the scheduler's container,
    /// its leaf signed by the cluster's own CA; the scheduler itself listens on
    /// loopback only.
    ClusterCa,
    /// The same front with the user's own certificate and key (a corporate CA,
    /// ACME): clients trust it through their system store.
    Own,
}

/// The user's own certificate for the front (`--tls-cert`, `--tls-key`), and the
/// CA the build servers trust it by, when it is not in their system store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnCert {
    /// The certificate chain, PEM (the leaf first).
    pub cert: PathBuf,
    /// Its private key, PEM; copied into the scheduler's config dir only.
    pub key: PathBuf,
    /// `--tls-ca`: the CA the build servers are given (`SSL_CERT_FILE`).
    pub ca: Option<PathBuf>,
}

impl Tls {
    /// Whether the scheduler sits behind the TLS front.
    pub fn is_on(self) -> bool {
        self != Tls::Plain
    }

    /// Whether build servers get a CA certificate (`SSL_CERT_FILE`).
    pub fn gives_servers_a_ca(self, own: Option<&OwnCert>) -> bool {
        match self {
            Tls::Plain => false,
            Tls::ClusterCa => true,
            Tls::Own => own.is_some_and(|o| o.ca.is_some()),
        }
    }
}

/// The scheduler: where clients and build servers reach it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Scheduler {
    /// The container it runs in.
    pub container: String,
    /// The IP clients and build servers reach it at.
    pub address: Ipv4Addr,
    /// Where it listens (the profile's scheduler_port).
    pub port: u16,
}

/// One build server: its own name, container, address (bound into its JWT) and cache.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Server {
    /// Its name, `<cluster>-server-<n>`: its config directory and cache are named after it.
    pub name: String,
    /// The container it runs in (the scheduler's own in an all-in-one container).
    pub container: String,
    /// Its `public_addr` IP: the scheduler accepts heartbeats only from it.
    pub address: Ipv4Addr,
    /// Its port: distinct per server on the host network.
    pub port: u16,
    /// Where its cache root lives: a named volume or a host directory.
    pub cache: Cache,
}

/// Where a build server's cache root (toolchains, build dirs) lives. Stored in the
/// cluster record as one string: an absolute path is a host directory, anything
/// else a volume name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cache {
    /// A host directory (`--cache-dir`), bind-mounted.
    HostDir(PathBuf),
    /// A named Docker volume (or, on Kubernetes, the pod's volume of that name).
    Volume(String),
}

impl Cache {
    /// The cache as `docker run --volume` and compose take its source.
    pub fn mount_source(&self) -> String {
        match self {
            Cache::HostDir(dir) => dir.display().to_string(),
            Cache::Volume(name) => name.clone(),
        }
    }

    /// The volume's name, when it is one.
    pub fn volume(&self) -> Option<&str> {
        match self {
            Cache::Volume(name) => Some(name),
            Cache::HostDir(_) => None,
        }
    }

    /// The host directory, when it is one.
    pub fn host_dir(&self) -> Option<&Path> {
        match self {
            Cache::HostDir(dir) => Some(dir),
            Cache::Volume(_) => None,
        }
    }

    fn from_stored(s: String) -> Cache {
        if s.starts_with('/') {
            Cache::HostDir(PathBuf::from(s))
        } else {
            Cache::Volume(s)
        }
    }
}

impl fmt::Display for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.mount_source())
    }
}

impl Serialize for Cache {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.mount_source())
    }
}

impl<'de> Deserialize<'de> for Cache {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Cache, D::Error> {
        String::deserialize(d).map(Cache::from_stored)
    }
}

impl Server {
    /// `IP:PORT`, the server's `public_addr` and the `server_id` of its JWT.
    pub fn public_addr(&self) -> String {
        format!("{}:{}", self.address, self.port)
    }
}

/// What `start` started, for the commands that come after it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Cluster {
    /// The name `start` was given: it prefixes every container, volume and network.
    /// Empty in a record of an older version: the scheduler's container then.
    #[serde(default)]
    pub name: String,
    /// `--cache-dir`: the host directory holding the caches instead of named volumes.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// The distro whose image runs.
    pub distro: String,
    /// The image reference every container runs.
    pub image: String,
    /// The image's input-hash label when it started (`status` shows it).
    pub image_hash: String,
    /// The sccache-dist version the image serves, as read when it started (None:
    /// not known, e.g. on Kubernetes, where the cluster pulls the image).
    #[serde(default)]
    pub sccache_dist_version: Option<String>,
    /// The runtime profile as it was at start: later edits of the file do not
    /// change what the running cluster is.
    #[serde(rename = "profile")]
    pub runtime: RuntimeProfile,
    /// How its containers are networked.
    pub network: Network,
    /// Plain HTTP or a TLS front.
    #[serde(default)]
    pub tls: Tls,
    /// More names the front's certificate covers (`--tls-name`).
    #[serde(default)]
    pub tls_names: Vec<String>,
    /// The user's own certificate, with [`Tls::Own`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_cert: Option<OwnCert>,
    /// Why the advertised address is what it is (flag, detection, bridge).
    pub address_source: String,
    /// The one scheduler.
    pub scheduler: Scheduler,
    /// Every build server, in order: `scale` adds at the end and drains from it.
    pub servers: Vec<Server>,
}

impl Cluster {
    /// The runtime settings the cluster runs with.
    pub fn settings(&self) -> &crate::profile::runtime::RuntimeSettings {
        &self.runtime.settings
    }

    /// The URL clients and build servers use: `https://` to the TLS front.
    pub fn scheduler_url(&self) -> String {
        let scheme = if self.tls.is_on() { "https" } else { "http" };
        format!(
            "{scheme}://{}:{}",
            self.scheduler.address, self.scheduler.port
        )
    }

    /// The name prefix of the cluster's containers, volumes and network.
    pub fn base_name(&self) -> &str {
        if self.name.is_empty() {
            &self.scheduler.container
        } else {
            &self.name
        }
    }

    /// Whether the first build server shares the scheduler's container (role `all`).
    pub fn all_in_one(&self) -> bool {
        self.servers
            .first()
            .is_some_and(|s| s.container == self.scheduler.container)
    }

    /// Whether the server named `name` runs in the scheduler's container.
    pub fn all_in_one_server(&self, name: &str) -> bool {
        self.servers
            .iter()
            .any(|s| s.name == name && s.container == self.scheduler.container)
    }

    /// The role the scheduler's container runs: `all` or `scheduler`.
    pub fn scheduler_role(&self) -> &'static str {
        if self.all_in_one() {
            "all"
        } else {
            "scheduler"
        }
    }

    /// The build servers in containers of their own (role `server`).
    pub fn own_container_servers(&self) -> impl Iterator<Item = &Server> {
        self.servers
            .iter()
            .filter(move |s| s.container != self.scheduler.container)
    }

    /// Every container of the cluster, each once, the scheduler's first.
    pub fn containers(&self) -> Vec<&str> {
        let mut names = vec![self.scheduler.container.as_str()];
        for s in &self.servers {
            if !names.contains(&s.container.as_str()) {
                names.push(&s.container);
            }
        }
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_is_stored_as_the_string_it_was() {
        for (text, cache) in [
            (
                "\"/srv/cache/s-server-2\"",
                Cache::HostDir("/srv/cache/s-server-2".into()),
            ),
            (
                "\"s-server-2-cache\"",
                Cache::Volume("s-server-2-cache".into()),
            ),
        ] {
            assert_eq!(serde_json::from_str::<Cache>(text).unwrap(), cache);
            assert_eq!(serde_json::to_string(&cache).unwrap(), text);
        }
    }
}
