//! The client list in the state: `clients.json` (names, times, token hashes)
//! and its copy in the checker's format in the scheduler's config directory,
//! which the front's checker reads again as it changes: adding or revoking a
//! client restarts nothing.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::base::atomic;
use crate::model::clients::{Clients, DEFAULT_CLIENT};
use crate::sccache::Secrets;
use crate::store::{Doc, StateDir, CLIENTS_FILE};

/// Seconds since the Unix epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The stored list, if there is one.
pub fn load(state: &StateDir) -> anyhow::Result<Option<Clients>> {
    state.read(Doc::Clients)
}

/// Stores the list and the checker's copy (both 0600).
pub fn save(state: &StateDir, clients: &Clients) -> anyhow::Result<()> {
    state.write(Doc::Clients, clients)?;
    let path = state.container_config_dir().join(CLIENTS_FILE);
    atomic::write(&path, clients.hash_lines().as_bytes(), 0o600)
}

/// At start behind the TLS front: the list, made when there is none with the
/// cluster's one token as the client `default` (a cluster from before
/// per-client tokens keeps working); the checker's copy written. Says so when
/// it made the list.
pub fn ensure(state: &StateDir, secrets: &Secrets) -> anyhow::Result<Clients> {
    let clients = match load(state)? {
        Some(c) => c,
        None => {
            let mut c = Clients::default();
            c.put(DEFAULT_CLIENT, &secrets.client_token, now());
            println!(
                "clients: the cluster's client token (in {}) is the client `{DEFAULT_CLIENT}`; give each machine its own with `cargo xtask client add NAME -o DIR`, then `cargo xtask client revoke {DEFAULT_CLIENT}`",
                state.client_config_path().display()
            );
            c
        }
    };
    save(state, &clients)?;
    Ok(clients)
}

/// Without a front there is no checker: its copy goes.
pub fn remove_checker_copy(state: &StateDir) -> anyhow::Result<()> {
    match std::fs::remove_file(state.container_config_dir().join(CLIENTS_FILE)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}
