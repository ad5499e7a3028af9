//! One container as data: everything `docker run`, a compose service and a
//! Kubernetes container are told, and the settings every cluster container shares.

use std::path::Path;

use anyhow::Context;

/// Label on every container `start` made: only those are ever replaced.
pub const CLUSTER_LABEL: &str = "io.github.sccache-docker.cluster";

/// Seconds `docker stop` waits after SIGTERM before it kills.
pub const STOP_GRACE_SECS: u32 = 20;

/// What bubblewrap needs inside a container, and no more (never `--privileged`).
pub const CAPABILITIES: &[&str] = &["SYS_ADMIN"];
/// Security options bubblewrap needs: its own seccomp use, and mounting /proc.
pub const SECURITY_OPTS: &[&str] = &["seccomp=unconfined", "systempaths=unconfined"];
/// The restart policy of every cluster container.
pub const RESTART_POLICY: &str = "unless-stopped";
/// Where the rendered configs are mounted, read-only.
pub const CONFIG_MOUNT: &str = "/etc/sccache-dist";
/// The TLS front's certificate (leaf, PEM), relative to [`CONFIG_MOUNT`]: only
/// in the scheduler's container.
pub const FRONT_CERT: &str = "tls/scheduler.pem";
/// The TLS front's private key, relative to [`CONFIG_MOUNT`]: only in the
/// scheduler's container.
pub const FRONT_KEY: &str = "tls/scheduler.key";
/// The SHA-256 of the metrics token, relative to [`CONFIG_MOUNT`]: the
/// exporter beside the scheduler compares a scrape's token with it; the token
/// itself stays in the state directory.
pub const METRICS_TOKEN_HASH: &str = "metrics-token.sha256";
/// The container's own run directory (pid files, the exporter's sockets).
pub const RUN_DIR: &str = "/run/sccache-dist";
/// The datagram socket the TLS front sends its access log to (the exporter's).
pub const FRONT_LOG_SOCKET: &str = "/run/sccache-dist/front-log.sock";
/// The cluster CA's certificate, relative to [`CONFIG_MOUNT`]: what a build
/// server trusts the front with (`SSL_CERT_FILE`).
pub const CA_CERT: &str = "ca.pem";

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// A named volume, or an absolute host path (or one relative to a compose
    /// project, starting with `./`).
    pub source: String,
    /// Where it appears in the container.
    pub target: String,
    /// Mounted read-only (the configs).
    pub read_only: bool,
}

impl Mount {
    /// A read-only mount of `source` at `target`.
    pub fn read_only(source: impl Into<String>, target: impl Into<String>) -> Mount {
        Mount {
            source: source.into(),
            target: target.into(),
            read_only: true,
        }
    }

    /// A writable mount of `source` at `target`.
    pub fn writable(source: impl Into<String>, target: impl Into<String>) -> Mount {
        Mount {
            source: source.into(),
            target: target.into(),
            read_only: false,
        }
    }
}

/// One container to run: everything `docker run` is told, as data.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The container name (also names its cache volume).
    pub name: String,
    /// The image reference, `REPO:DISTRO`.
    pub image: String,
    /// Its mounts: the configs read-only, the cache writable.
    pub mounts: Vec<Mount>,
    /// `--env` pairs: settings only (the log level), never a secret.
    pub env: Vec<(String, String)>,
    /// None: the host network; Some((network, ip)): a fixed address on a bridge.
    pub bridge: Option<(String, String)>,
    /// The command after the image (the entrypoint's role argument).
    pub command: Vec<String>,
    /// Runs a build server: needs what bubblewrap needs ([`CAPABILITIES`],
    /// [`SECURITY_OPTS`]); a scheduler alone runs without them.
    pub sandbox: bool,
}

/// A host path for `--volume SRC:DST`: `:` and `,` would be read as separators.
pub fn mount_source(path: &Path, flag: &str) -> anyhow::Result<String> {
    let s = path
        .to_str()
        .with_context(|| format!("{flag}: {} is not UTF-8", path.display()))?;
    if s.contains([':', ',']) {
        anyhow::bail!("{flag}: {s} holds `:` or `,`, which a Docker volume mount cannot take");
    }
    Ok(s.to_owned())
}
