//! The containers of a cluster as the engine sees them: their state, their log,
//! stopping them with a grace period, and the `docker run` line that starts one.

use std::path::Path;

use anyhow::Context;

use crate::docker;

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

/// `docker inspect` of one container.
pub struct ContainerState {
    /// `created`, `running`, `restarting`, `exited`, ... as the engine says.
    pub status: String,
    /// The image's healthcheck verdict, or `none` before its first run.
    pub health: String,
    /// How often the restart policy brought it back.
    pub restarts: u64,
    /// When it last started (RFC 3339, the engine's clock).
    pub started_at: String,
}

impl ContainerState {
    /// Running, or about to run again under the restart policy.
    pub fn is_up(&self) -> bool {
        self.status == "running" || self.status == "restarting"
    }
}

/// The state of container `name`, or None when there is none.
pub fn state(name: &str) -> anyhow::Result<Option<ContainerState>> {
    let fmt = "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.RestartCount}}|{{.State.StartedAt}}";
    let Some(out) = docker::try_output(&["container", "inspect", "--format", fmt, name])? else {
        return Ok(None);
    };
    let f: Vec<&str> = out.split('|').collect();
    anyhow::ensure!(f.len() == 4, "unexpected docker inspect output {out:?}");
    Ok(Some(ContainerState {
        status: f[0].into(),
        health: f[1].into(),
        restarts: f[2].parse().unwrap_or(0),
        started_at: f[3].into(),
    }))
}

/// Whether container `name` was started by this tool (carries [`CLUSTER_LABEL`]).
pub fn is_ours(name: &str) -> anyhow::Result<bool> {
    let label = docker::label_format(CLUSTER_LABEL);
    Ok(
        docker::try_output(&["container", "inspect", "--format", &label, name])?.as_deref()
            == Some("1"),
    )
}

/// The last `tail` lines of a container's log (stdout and stderr), or "".
pub fn log(container: &str, tail: u32) -> String {
    docker::cmd(["logs", "--tail", &tail.to_string(), container])
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// The log lines of a container since `since` (a time `docker logs --since`
/// takes), each prefixed with its RFC 3339 timestamp, or "".
pub fn log_since(container: &str, since: &str) -> String {
    docker::cmd(["logs", "--timestamps", "--since", since, container])
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

/// `docker rm --volumes`: the container and its anonymous volumes (named
/// volumes, the caches, stay).
pub fn remove(name: &str) -> anyhow::Result<()> {
    docker::run_logged(&["rm".into(), "--volumes".into(), name.to_owned()])
}

/// `docker stop` with the grace period: SIGTERM, then SIGKILL after it.
pub fn stop(name: &str) -> anyhow::Result<()> {
    docker::run_logged(&[
        "stop".into(),
        "--timeout".into(),
        STOP_GRACE_SECS.to_string(),
        name.to_owned(),
    ])
}

/// `docker restart` with the grace period: the entrypoint reads the configs anew.
pub fn restart(name: &str) -> anyhow::Result<()> {
    docker::run_logged(&[
        "restart".into(),
        "--timeout".into(),
        STOP_GRACE_SECS.to_string(),
        name.to_owned(),
    ])
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

/// One container to run: everything `docker run` is told, as data.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The container name (also names its cache volume).
    pub name: String,
    /// The image reference, `REPO:DISTRO`.
    pub image: String,
    /// `(source, target, read_only)`: a named volume or a host path.
    pub mounts: Vec<(String, String, bool)>,
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

impl RunSpec {
    /// The `docker run` arguments, assembled step by step.
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec!["run".into(), "--detach".into()];
        self.identity(&mut a);
        if self.sandbox {
            Self::sandbox(&mut a);
        }
        Self::lifecycle(&mut a);
        self.environment(&mut a);
        self.volumes(&mut a);
        self.networking(&mut a);
        a.push(self.image.clone());
        a.extend(self.command.iter().cloned());
        a
    }

    fn identity(&self, a: &mut Vec<String>) {
        a.extend(["--name".into(), self.name.clone()]);
        a.extend(["--label".into(), format!("{CLUSTER_LABEL}=1")]);
    }

    fn sandbox(a: &mut Vec<String>) {
        for cap in CAPABILITIES {
            a.extend(["--cap-add".into(), (*cap).into()]);
        }
        for opt in SECURITY_OPTS {
            a.extend(["--security-opt".into(), (*opt).into()]);
        }
    }

    fn lifecycle(a: &mut Vec<String>) {
        a.extend(["--restart".into(), RESTART_POLICY.into()]);
        a.extend(["--stop-timeout".into(), STOP_GRACE_SECS.to_string()]);
    }

    fn environment(&self, a: &mut Vec<String>) {
        for (k, v) in &self.env {
            a.extend(["--env".into(), format!("{k}={v}")]);
        }
    }

    fn volumes(&self, a: &mut Vec<String>) {
        for (src, dst, ro) in &self.mounts {
            let mode = if *ro { ":ro" } else { "" };
            a.extend(["--volume".into(), format!("{src}:{dst}{mode}")]);
        }
    }

    fn networking(&self, a: &mut Vec<String>) {
        match &self.bridge {
            None => a.extend(["--network".into(), "host".into()]),
            Some((net, ip)) => {
                a.extend(["--network".into(), net.clone(), "--ip".into(), ip.clone()])
            }
        }
    }
}
