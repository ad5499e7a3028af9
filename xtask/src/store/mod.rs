//! Floor 1, the store: the state directory of one cluster, outside the project
//! tree, mode 0700, every file in it mode 0600. It holds JSON documents (the
//! secrets, the record of what was started, the remote builders issued a bundle)
//! and the rendered config files, as plain data: what the documents mean is for
//! the floors above (`lifecycle::records`), and this module imports nothing of
//! the tool but the leaf helpers.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::base::atomic;

mod config_files;
pub use config_files::{ConfigFiles, MetricsFiles, ServerConfigFile, TlsFiles};

/// The metrics token in the state directory: what a scraper's
/// `credentials_file` names.
pub const METRICS_TOKEN_FILE: &str = "metrics-token";
/// Its hash in the scheduler's config directory.
pub const METRICS_TOKEN_HASH_FILE: &str = "metrics-token.sha256";
/// The clients' token hashes in the scheduler's config directory, which the
/// front's checker reads again whenever it changes.
pub const CLIENTS_FILE: &str = "clients.sha256";

/// The JSON documents of a state directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// `secrets.json`: the client token and the server secret.
    Secrets,
    /// `cluster.json`: the cluster `start` started.
    Cluster,
    /// `remote-servers.json`: the build servers on other hosts issued a bundle.
    RemoteServers,
    /// `clients.json`: the clients, each with the hash of its own token.
    Clients,
}

impl Doc {
    /// Its file name in the state directory.
    pub fn file_name(self) -> &'static str {
        match self {
            Doc::Secrets => "secrets.json",
            Doc::Cluster => "cluster.json",
            Doc::RemoteServers => "remote-servers.json",
            Doc::Clients => "clients.json",
        }
    }

    /// What the message about a damaged copy adds.
    fn damaged_hint(self) -> &'static str {
        match self {
            Doc::Secrets => "; remove it to make new secrets",
            Doc::Cluster | Doc::RemoteServers | Doc::Clients => "",
        }
    }
}

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

    /// Where document `doc` lives.
    pub fn doc_path(&self, doc: Doc) -> PathBuf {
        self.path.join(doc.file_name())
    }

    /// Whether document `doc` exists.
    pub fn has(&self, doc: Doc) -> bool {
        self.doc_path(doc).is_file()
    }

    /// Document `doc`, or None when there is none; a damaged one is an error
    /// naming the file.
    pub fn read<T: DeserializeOwned>(&self, doc: Doc) -> anyhow::Result<Option<T>> {
        let path = self.doc_path(doc);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .with_context(|| format!("{} is damaged{}", path.display(), doc.damaged_hint())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Stores document `doc` (pretty JSON, mode 0600, atomically), making the
    /// directory first.
    pub fn write<T: Serialize>(&self, doc: Doc, value: &T) -> anyhow::Result<()> {
        self.ensure()?;
        atomic::write(
            &self.doc_path(doc),
            &serde_json::to_vec_pretty(value)?,
            0o600,
        )
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
    pub fn write_configs(&self, c: &ConfigFiles) -> anyhow::Result<()> {
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
        self.write_front(c)?;
        match &c.metrics {
            Some(m) => {
                atomic::write(
                    &self.path.join(METRICS_TOKEN_FILE),
                    m.token.as_bytes(),
                    0o600,
                )?;
                let hash = format!("{}\n", m.token_sha256);
                atomic::write(&dir.join(METRICS_TOKEN_HASH_FILE), hash.as_bytes(), 0o600)?;
            }
            None => remove_if_present(&dir.join(METRICS_TOKEN_HASH_FILE))?,
        }
        atomic::write(&self.client_config_path(), c.client.as_bytes(), 0o600)?;
        Ok(())
    }

    /// The TLS front's nginx.conf, leaf and key in the scheduler's directory, the
    /// CA's certificate beside every server.conf; all of it removed without a front.
    fn write_front(&self, c: &ConfigFiles) -> anyhow::Result<()> {
        let dir = self.container_config_dir();
        let (Some(front), Some(tls)) = (&c.front, &c.tls) else {
            remove_if_present(&dir.join("nginx.conf"))?;
            remove_if_present(&dir.join("ca.pem"))?;
            for s in c.servers.iter().filter(|s| !s.in_scheduler_container) {
                remove_if_present(&self.server_config_dir(&s.name).join("ca.pem"))?;
            }
            return match std::fs::remove_dir_all(dir.join("tls")) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            };
        };
        atomic::write(&dir.join("nginx.conf"), front.as_bytes(), 0o600)?;
        private_dir(&dir.join("tls"))?;
        atomic::write(
            &dir.join("tls/scheduler.pem"),
            tls.leaf_cert.as_bytes(),
            0o600,
        )?;
        atomic::write(
            &dir.join("tls/scheduler.key"),
            tls.leaf_key.as_bytes(),
            0o600,
        )?;
        for s in c.servers.iter().filter(|s| !s.in_scheduler_container) {
            let own = self.server_config_dir(&s.name);
            match &tls.ca_cert {
                Some(ca) => atomic::write(&own.join("ca.pem"), ca.as_bytes(), 0o600)?,
                None => remove_if_present(&own.join("ca.pem"))?,
            }
        }
        match &tls.ca_cert {
            Some(ca) => atomic::write(&dir.join("ca.pem"), ca.as_bytes(), 0o600),
            None => remove_if_present(&dir.join("ca.pem")),
        }
    }

    /// The text of `rel` (a path below the state directory), or None when there
    /// is no such file.
    pub fn read_text(&self, rel: &str) -> anyhow::Result<Option<String>> {
        let path = self.path.join(rel);
        match std::fs::read_to_string(&path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes `rel` below the state directory, mode 0600, its directories 0700.
    pub fn write_private(&self, rel: &str, bytes: &[u8]) -> anyhow::Result<PathBuf> {
        self.ensure()?;
        let path = self.path.join(rel);
        if let Some(parent) = path.parent() {
            private_dir(parent)?;
        }
        atomic::write(&path, bytes, 0o600)?;
        Ok(path)
    }

    fn remove_stale_server_configs(&self, c: &ConfigFiles) -> anyhow::Result<()> {
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

    /// On a host that joined: the directory (0700) holding the config of the build
    /// server `name`, mounted read-only into its container.
    pub fn joined_dir(&self, name: &str) -> anyhow::Result<PathBuf> {
        self.ensure()?;
        let dir = self.path.join("joined").join(name);
        private_dir(&dir)?;
        Ok(dir)
    }

    /// On a host that joined: whether `join` left a directory for the build
    /// server `name` (made by nothing else).
    pub fn has_joined(&self, name: &str) -> bool {
        self.path.join("joined").join(name).is_dir()
    }

    /// On a host that joined: the build servers it runs, one directory under
    /// `joined/` each, sorted by name.
    pub fn joined_names(&self) -> anyhow::Result<Vec<String>> {
        let dir = self.path.join("joined");
        let entries = match std::fs::read_dir(&dir) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            r => r.with_context(|| format!("cannot read {}", dir.display()))?,
        };
        let mut names = Vec::new();
        for e in entries {
            let e = e?;
            if e.file_type()?.is_dir() {
                names.extend(e.file_name().to_str().map(str::to_owned));
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the directory of the joined build server `name` (its config and
    /// CA), if there is one.
    pub fn remove_joined(&self, name: &str) -> anyhow::Result<()> {
        let dir = self.path.join("joined").join(name);
        match std::fs::remove_dir_all(&dir) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(e).with_context(|| format!("cannot remove {}", dir.display()))
            }
            _ => Ok(()),
        }
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
