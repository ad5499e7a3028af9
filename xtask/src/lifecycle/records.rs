//! What the state directory's documents mean: the cluster record, its secrets
//! (made on first use) and the remote builders issued a bundle, read and written
//! through the store as typed values.

use anyhow::Context;

use crate::model::remote::RemoteServer;
use crate::model::Cluster;
use crate::profile::runtime::ServerAuth;
use crate::sccache::Secrets;
use crate::store::{Doc, StateDir};

/// The typed documents of a state directory.
pub trait Records {
    /// The cluster's secrets, generated (and stored, mode 0600) on first use.
    fn secrets(&self, auth: ServerAuth) -> anyhow::Result<Secrets>;
    /// Replaces the server secret (the jwt_hs256 key or the shared server token)
    /// with a new one, stored before it is returned.
    fn rotate_server_secret(&self, auth: ServerAuth) -> anyhow::Result<Secrets>;
    /// The stored secrets, without making any.
    fn existing_secrets(&self) -> anyhow::Result<Secrets>;
    /// Records what `start` started, for the commands after it (mode 0600).
    fn save_record(&self, c: &Cluster) -> anyhow::Result<()>;
    /// Whether a cluster was ever started with this state directory.
    fn has_record(&self) -> bool;
    /// The cluster `start` recorded.
    fn record(&self) -> anyhow::Result<Cluster>;
    /// The build servers on other hosts that were issued a join bundle.
    fn remote_servers(&self) -> anyhow::Result<Vec<RemoteServer>>;
    /// Stores the list of remote build servers (no secrets in it; mode 0600 still).
    fn save_remote_servers(&self, list: &[RemoteServer]) -> anyhow::Result<()>;
}

impl Records for StateDir {
    fn secrets(&self, auth: ServerAuth) -> anyhow::Result<Secrets> {
        let (secrets, changed) = match self.read::<Secrets>(Doc::Secrets)? {
            Some(s) => s.complete(auth)?,
            None => (Secrets::generate(auth)?, true),
        };
        if changed {
            self.write(Doc::Secrets, &secrets)?;
        }
        Ok(secrets)
    }

    fn rotate_server_secret(&self, auth: ServerAuth) -> anyhow::Result<Secrets> {
        let mut secrets = self.secrets(auth)?;
        secrets.rotate_server_secret(auth)?;
        self.write(Doc::Secrets, &secrets)?;
        Ok(secrets)
    }

    fn existing_secrets(&self) -> anyhow::Result<Secrets> {
        self.read(Doc::Secrets)?.with_context(|| {
            format!(
                "no secrets in {}: run `cargo xtask start` first",
                self.path().display()
            )
        })
    }

    fn save_record(&self, c: &Cluster) -> anyhow::Result<()> {
        self.write(Doc::Cluster, c)
    }

    fn has_record(&self) -> bool {
        self.has(Doc::Cluster)
    }

    fn record(&self) -> anyhow::Result<Cluster> {
        self.read(Doc::Cluster)?.with_context(|| {
            format!(
                "no cluster was started with the state directory {} (run `cargo xtask start <distro>`)",
                self.path().display()
            )
        })
    }

    fn remote_servers(&self) -> anyhow::Result<Vec<RemoteServer>> {
        Ok(self.read(Doc::RemoteServers)?.unwrap_or_default())
    }

    fn save_remote_servers(&self, list: &[RemoteServer]) -> anyhow::Result<()> {
        self.write(Doc::RemoteServers, &list)
    }
}
