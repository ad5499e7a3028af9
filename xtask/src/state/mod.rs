//! The state directory: a cluster's secrets, its rendered configs and a record of
//! what was started. Outside the project tree, mode 0700, every file mode 0600.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::atomic;
use crate::cluster::configs::ClusterConfigs;
use crate::cluster::remote::RemoteServer;
use crate::cluster::Cluster;
use crate::profile::runtime::ServerAuth;

mod secrets;
pub use secrets::Secrets;

/// The directory holding one cluster's state.
pub struct StateDir {
    path: PathBuf,
}

impl StateDir {
    /// `explicit`, or `$XDG_STATE_HOME/sccache-docker`, or `~/.local/state/sccache-docker`.
    pub fn new(explicit: Option<PathBuf>) -> StateDir {
        let path = explicit.unwrap_or_else(|| {
            let base = std::env::var_os("XDG_STATE_HOME")
                .map(PathBuf::from)
                .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/state")))
                .unwrap_or_else(|| PathBuf::from("/tmp"));
            base.join("sccache-docker")
        });
        StateDir { path }
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The directory mounted read-only at /etc/sccache-dist in the container.
    pub fn container_config_dir(&self) -> PathBuf {
        self.path.join("container")
    }

    /// The client config `start` writes for this cluster (mode 0600).
    pub fn client_config_path(&self) -> PathBuf {
        self.path.join("client.conf")
    }

    /// Creates the directory mode 0700, or makes an existing one of ours private.
    /// Secrets go in it; a shared directory (someone else's, or world-writable like
    /// /tmp) is refused rather than chmod-ed under its other users.
    fn ensure(&self) -> anyhow::Result<()> {
        use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
        for dir in [self.path.clone(), self.container_config_dir()] {
            if dir.is_dir() {
                let meta = std::fs::metadata(&dir)?;
                let mode = meta.permissions().mode() & 0o7777;
                if mode & 0o077 == 0 {
                    continue;
                }
                let me = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
                if Some(meta.uid()) != me || mode & 0o1002 != 0 {
                    anyhow::bail!(
                        "the state directory {} is shared (mode {mode:o}); secrets go there: use a private directory",
                        dir.display()
                    );
                }
                std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
                eprintln!(
                    "note: made the state directory {} private (mode {mode:o} -> 700)",
                    dir.display()
                );
                continue;
            }
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
                .with_context(|| format!("cannot create the state directory {}", dir.display()))?;
        }
        Ok(())
    }

    /// Where `image` keeps its build locks: per user, not per checkout, so two
    /// trees building the same image still take turns.
    pub fn lock_dir(&self) -> anyhow::Result<PathBuf> {
        self.ensure()?;
        Ok(self.path.join("locks"))
    }

    /// The cluster's secrets, generated (and stored, mode 0600) on first use.
    pub fn secrets(&self, auth: ServerAuth) -> anyhow::Result<Secrets> {
        self.ensure()?;
        let path = self.path.join("secrets.json");
        let (secrets, changed) = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Secrets>(&bytes)
                .with_context(|| {
                    format!(
                        "{} is damaged; remove it to make new secrets",
                        path.display()
                    )
                })?
                .complete(auth)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Secrets::generate(auth)?, true),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        if changed {
            atomic::write(&path, &serde_json::to_vec_pretty(&secrets)?, 0o600)?;
        }
        Ok(secrets)
    }

    /// Replaces the server secret (the jwt_hs256 key or the shared server token)
    /// with a new one, stored before it is returned.
    pub fn rotate_server_secret(&self, auth: ServerAuth) -> anyhow::Result<Secrets> {
        let mut secrets = self.secrets(auth)?;
        secrets.rotate_server_secret(auth)?;
        let path = self.path.join("secrets.json");
        atomic::write(&path, &serde_json::to_vec_pretty(&secrets)?, 0o600)?;
        Ok(secrets)
    }

    /// The stored secrets, without making any.
    pub fn existing_secrets(&self) -> anyhow::Result<Secrets> {
        let path = self.path.join("secrets.json");
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "no secrets in {}: run `cargo xtask start` first",
                self.path.display()
            )
        })?;
        Ok(serde_json::from_slice(&bytes)?)
    }

    /// The directory mounted read-only into build server `name`'s own container:
    /// its server.conf and nothing else.
    pub fn server_config_dir(&self, name: &str) -> PathBuf {
        self.container_config_dir().join("servers").join(name)
    }

    /// The configs: the scheduler's container gets `container/` (scheduler.conf, and
    /// server.conf in the all-in-one layout), each build server with a container of
    /// its own gets `container/servers/<name>/server.conf`; the client config goes
    /// beside them. Configs of servers no longer in the cluster are removed.
    pub fn write_configs(&self, c: &ClusterConfigs) -> anyhow::Result<()> {
        self.ensure()?;
        let dir = self.container_config_dir();
        atomic::write(&dir.join("scheduler.conf"), c.scheduler.as_bytes(), 0o600)?;
        let mut shared = false;
        for s in &c.servers {
            if s.in_scheduler_container {
                shared = true;
                atomic::write(&dir.join("server.conf"), s.text.as_bytes(), 0o600)?;
            } else {
                let own = self.server_config_dir(&s.name);
                private_dir(&own)?;
                atomic::write(&own.join("server.conf"), s.text.as_bytes(), 0o600)?;
            }
        }
        if !shared {
            remove_if_present(&dir.join("server.conf"))?;
        }
        self.remove_stale_server_configs(c)?;
        atomic::write(&self.client_config_path(), c.client.as_bytes(), 0o600)?;
        Ok(())
    }

    fn remove_stale_server_configs(&self, c: &ClusterConfigs) -> anyhow::Result<()> {
        let Ok(entries) = std::fs::read_dir(self.container_config_dir().join("servers")) else {
            return Ok(());
        };
        for e in entries {
            let e = e?;
            let keep = c.servers.iter().any(|s| {
                !s.in_scheduler_container && e.file_name().to_str() == Some(s.name.as_str())
            });
            if !keep {
                std::fs::remove_dir_all(e.path())
                    .with_context(|| format!("cannot remove {}", e.path().display()))?;
            }
        }
        Ok(())
    }

    /// The build servers on other hosts that were issued a join bundle.
    pub fn remote_servers(&self) -> anyhow::Result<Vec<RemoteServer>> {
        let path = self.path.join("remote-servers.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is damaged", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Stores the list of remote build servers (no secrets in it; mode 0600 still).
    pub fn save_remote_servers(&self, list: &[RemoteServer]) -> anyhow::Result<()> {
        self.ensure()?;
        let path = self.path.join("remote-servers.json");
        atomic::write(&path, &serde_json::to_vec_pretty(list)?, 0o600)
    }

    /// On a host that joined: the directory (0700) holding the config of the build
    /// server `name`, mounted read-only into its container.
    pub fn joined_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.ensure()?;
        let dir = self.path.join("joined").join(name);
        private_dir(&dir)?;
        Ok(dir)
    }

    /// Records what `start` started, for the commands after it (mode 0600).
    pub fn save_record(&self, r: &Cluster) -> anyhow::Result<()> {
        self.ensure()?;
        atomic::write(
            &self.path.join("cluster.json"),
            &serde_json::to_vec_pretty(r)?,
            0o600,
        )
    }

    /// Whether a cluster was ever started with this state directory.
    pub fn has_record(&self) -> bool {
        self.path.join("cluster.json").is_file()
    }

    /// The cluster `start` recorded.
    pub fn record(&self) -> anyhow::Result<Cluster> {
        let path = self.path.join("cluster.json");
        let bytes = std::fs::read(&path).with_context(|| {
            format!("no cluster was started with the state directory {} (run `cargo xtask start <distro>`)", self.path.display())
        })?;
        serde_json::from_slice(&bytes).with_context(|| format!("{} is damaged", path.display()))
    }
}

/// Creates `dir` (and `servers/` above it) mode 0700.
fn private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

fn remove_if_present(path: &Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(e).with_context(|| format!("cannot remove {}", path.display()))
        }
        _ => Ok(()),
    }
}
