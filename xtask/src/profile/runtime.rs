//! Runtime profiles (`profiles/<name>.yaml`): ports, authentication, the overlay
//! builder's cache, networking and logging of a running cluster.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::profile::files;
use crate::profile::source::{self, Located, ProfileError, Source};
use crate::profile::strict;
use crate::profile::validate;

/// How clients authenticate to the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// A generated token.
    Token,
}

/// How build servers authenticate to the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
pub enum ServerAuth {
    /// A JWT per server, signed with a generated key.
    #[serde(rename = "jwt_hs256")]
    JwtHs256,
    /// One shared token.
    #[serde(rename = "token")]
    Token,
    /// Only when a profile asks for it by this name.
    #[serde(rename = "DANGEROUSLY_INSECURE")]
    DangerouslyInsecure,
}

/// The build server's builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Builder {
    /// sccache-dist's overlay builder (bubblewrap).
    Overlay,
}

/// Where the container's network is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkMode {
    /// The container shares the host's network: clients anywhere reach it.
    Host,
    /// A user-defined bridge with a fixed container IP: clients on this host.
    Bridge,
}

/// `SCCACHE_LOG` of both processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LogLevel {
    /// Errors only.
    Error,
    /// Errors and warnings.
    Warn,
    /// Adds the normal course of events; the default profile's level.
    Info,
    /// Adds detail, for chasing a failing distributed compile.
    Debug,
    /// Whole requests, tokens included: validation refuses it for that reason.
    Trace,
}

impl LogLevel {
    /// The level as `SCCACHE_LOG` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Error => "error",
            LogLevel::Warn => "warn",
            LogLevel::Info => "info",
            LogLevel::Debug => "debug",
            LogLevel::Trace => "trace",
        }
    }
}

/// One runtime profile, exactly as written in its YAML file.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RuntimeSettings {
    /// The scheduler's port.
    pub scheduler_port: u16,
    /// The build server's port.
    pub server_port: u16,
    /// How clients authenticate.
    pub client_auth: ClientAuth,
    /// How build servers authenticate.
    pub server_auth: ServerAuth,
    /// Bytes of toolchains the build server keeps.
    pub toolchain_cache_size: u64,
    /// The build server's builder.
    pub builder: Builder,
    /// Root of everything persistent; the volume is mounted here.
    #[serde(deserialize_with = "strict::string")]
    pub cache_root: String,
    /// Host or bridge networking.
    pub network: NetworkMode,
    /// Subnet of the user-defined bridge network (bridge mode).
    #[serde(deserialize_with = "strict::string")]
    pub bridge_subnet: String,
    /// The container's fixed address on that network (bridge mode).
    #[serde(deserialize_with = "strict::string")]
    pub bridge_address: String,
    /// Log level of both processes.
    pub log_level: LogLevel,
}

const FIELDS: &[&str] = &[
    "scheduler_port",
    "server_port",
    "client_auth",
    "server_auth",
    "toolchain_cache_size",
    "builder",
    "cache_root",
    "network",
    "bridge_subnet",
    "bridge_address",
    "log_level",
];

/// A validated runtime profile with its name (the file stem).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeProfile {
    /// The profile's name: the file name without `.yaml`.
    pub name: String,
    /// The file as shown to the user.
    pub file: String,
    /// The profile's fields. (`profile` in a stored cluster record.)
    #[serde(rename = "profile")]
    pub settings: RuntimeSettings,
}

impl RuntimeProfile {
    /// Reads and validates the runtime profile at `path`.
    pub fn load(path: &Path, root: &Path) -> anyhow::Result<RuntimeProfile> {
        let src = Source::read(path, root)?;
        Ok(Self::from_source(&src)?)
    }

    /// Validates a runtime profile already read (or handed in as text by a test).
    pub fn from_source(src: &Source) -> Result<RuntimeProfile, ProfileError> {
        let name = src.name()?;
        let (settings, at): (RuntimeSettings, _) = source::parse(src, FIELDS)?;
        settings.validate(&at)?;
        Ok(RuntimeProfile {
            name,
            file: src.display.clone(),
            settings,
        })
    }
}

impl RuntimeSettings {
    fn validate(&self, located: &Located) -> Result<(), ProfileError> {
        let at = |field: &str, msg: String| located.error(field, msg);
        validate::port(self.scheduler_port).map_err(|m| at("scheduler_port", m))?;
        validate::port(self.server_port).map_err(|m| at("server_port", m))?;
        if self.scheduler_port == self.server_port {
            return Err(at(
                "server_port",
                format!(
                    "{} is the scheduler's port too; they must differ",
                    self.server_port
                ),
            ));
        }
        validate::toolchain_cache_size(self.toolchain_cache_size)
            .map_err(|m| at("toolchain_cache_size", m))?;
        if self.log_level == LogLevel::Trace {
            return Err(at(
                "log_level",
                "trace makes sccache-dist log whole requests, tokens included; use debug at most"
                    .into(),
            ));
        }
        validate::abs_path(&self.cache_root).map_err(|m| at("cache_root", m))?;
        validate::volume_root(&self.cache_root).map_err(|m| at("cache_root", m))?;
        self.validate_bridge(located)
    }

    /// The bridge network's subnet, and a container address inside it that is
    /// neither the network, the gateway (.1) nor the broadcast address.
    fn validate_bridge(&self, located: &Located) -> Result<(), ProfileError> {
        let at = |field: &str, msg: String| located.error(field, msg);
        let (net, prefix) =
            parse_subnet(&self.bridge_subnet).map_err(|m| at("bridge_subnet", m))?;
        let addr: std::net::Ipv4Addr = self.bridge_address.parse().map_err(|_| {
            at(
                "bridge_address",
                format!(
                    "{} is not an IPv4 address",
                    validate::quote(&self.bridge_address)
                ),
            )
        })?;
        let mask = if prefix == 0 {
            0
        } else {
            u32::MAX << (32 - prefix)
        };
        let host = u32::from(addr) & !mask;
        if u32::from(addr) & mask != u32::from(net) || host <= 1 || host == !mask {
            return Err(at(
                "bridge_address",
                format!(
                    "{addr} is not a usable container address in {} (.1 is the gateway)",
                    self.bridge_subnet
                ),
            ));
        }
        Ok(())
    }

    /// Behind the TLS front, the scheduler itself listens on this port of its
    /// loopback only: 1000 above the public one (below it, near the top).
    pub fn scheduler_internal_port(&self) -> u16 {
        self.scheduler_port
            .checked_add(1000)
            .unwrap_or(self.scheduler_port - 1000)
    }

    /// The metrics exporter listens on the scheduler host's loopback one port
    /// above the scheduler's loopback port (behind the TLS front or not: never
    /// next to the public ports, where build servers sit). The scheduler's
    /// container is told it (`SCCACHE_DIST_METRICS_PORT`).
    pub fn exporter_port(&self) -> u16 {
        self.scheduler_internal_port().wrapping_add(1)
    }

    /// Where the overlay builder unpacks jobs: below the volume, never on overlayfs.
    pub fn build_dir(&self) -> String {
        format!("{}/build", self.cache_root)
    }

    /// Where the build server keeps toolchains: below the volume, so they persist.
    pub fn toolchain_dir(&self) -> String {
        format!("{}/toolchains", self.cache_root)
    }
}

/// `a.b.c.d/len` with the host bits zero and a prefix from 8 to 30.
fn parse_subnet(s: &str) -> Result<(std::net::Ipv4Addr, u32), String> {
    let q = validate::quote(s);
    let bad = || format!("{q} is not an IPv4 subnet like 172.31.250.0/24");
    let (ip, len) = s.split_once('/').ok_or_else(bad)?;
    let ip: std::net::Ipv4Addr = ip.parse().map_err(|_| bad())?;
    let len: u32 = len.parse().map_err(|_| bad())?;
    if !(8..=30).contains(&len) {
        return Err(format!("{q}: the prefix length must be between 8 and 30"));
    }
    if u32::from(ip) & !(u32::MAX << (32 - len)) != 0 {
        return Err(format!("{q} has host bits set"));
    }
    if ip.is_loopback()
        || ip.is_multicast()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_unspecified()
    {
        return Err(format!(
            "{q} is not a subnet for a Docker network (loopback, link-local or multicast)"
        ));
    }
    Ok((ip, len))
}

/// The profile named `name` from `profiles/`.
pub fn load_named(root: &Path, name: &str) -> anyhow::Result<RuntimeProfile> {
    validate::distro_name(name).map_err(|m| anyhow::anyhow!("profile name: {m}"))?;
    let dir = root.join("profiles");
    let paths = files::list(&dir, root)?;
    let wanted = dir.join(format!("{name}.yaml"));
    if !paths.contains(&wanted) {
        anyhow::bail!(
            "no runtime profile {name:?} in profiles/ (known: {})",
            names(&paths).join(", ")
        );
    }
    RuntimeProfile::load(&wanted, root)
}

/// The names of the runtime profiles in `dir` (none when it cannot be listed).
pub fn list_names(dir: &Path) -> Vec<String> {
    files::list(dir, dir).map(|p| names(&p)).unwrap_or_default()
}

fn names(paths: &[std::path::PathBuf]) -> Vec<String> {
    paths
        .iter()
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect()
}
