//! `client add|list|revoke|rotate`: one credential per client machine. A
//! client's files (client.conf with its own token, the CA bundle its daemon
//! trusts, and the lines to source) go into a directory of its own; the state
//! keeps only the hash of its token. The front's checker reads the list again
//! as it changes: no restart, no job cut, no other client touched.

use std::path::{Path, PathBuf};

use crate::base::atomic;
use crate::lifecycle::clients::{self, now};
use crate::lifecycle::records::Records;
use crate::lifecycle::{metrics, tls};
use crate::model::clients::Clients;
use crate::model::cluster::Tls;
use crate::render::{cluster_configs, Templates};
use crate::sccache::jwt;
use crate::store::StateDir;

/// The list of a cluster whose front checks client tokens.
fn list(state: &StateDir) -> anyhow::Result<Clients> {
    let c = state.record()?;
    anyhow::ensure!(
        c.tls.is_on(),
        "this cluster runs on plain HTTP (--plain-http): its scheduler takes one token, so clients cannot have their own; start it behind its TLS front (the default)"
    );
    clients::load(state)?.ok_or_else(|| {
        anyhow::anyhow!(
            "no client list in {}: `cargo xtask start` makes it (the cluster's token becomes the client `default`)",
            state.path().display()
        )
    })
}

/// The files a client with `token` gets, by name, in the order written.
fn client_files(
    root: &Path,
    state: &StateDir,
    dir: &Path,
    token: &str,
) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let c = state.record()?;
    let mut secrets = state.existing_secrets()?;
    secrets.client_token = token.to_owned();
    let conf = cluster_configs::render(&Templates::load(root)?, &c, &secrets, "client add")?.client;
    let conf_path = dir.join("client.conf");
    let mut env = format!("export SCCACHE_CONF={}\n", conf_path.display());
    let mut files = vec![(conf_path, conf)];
    if c.tls == Tls::ClusterCa {
        let ca = tls::ca_cert(state)?
            .ok_or_else(|| anyhow::anyhow!("the cluster has no CA certificate"))?;
        let bundle = dir.join(tls::CLIENT_BUNDLE);
        env.push_str(&format!("export SSL_CERT_FILE={}\n", bundle.display()));
        files.push((bundle, tls::client_bundle_text(&ca).0));
    }
    env.push_str("# Rust: export RUSTC_WRAPPER=sccache CARGO_INCREMENTAL=0; C/C++: CC=\"sccache cc\" CXX=\"sccache c++\"\n");
    files.push((dir.join("env"), env));
    Ok(files)
}

/// Refuses to replace a different file; nothing is written before all pass.
fn check_free(files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    for (path, text) in files {
        if let Ok(existing) = std::fs::read(path) {
            anyhow::ensure!(
                existing == text.as_bytes(),
                "{} exists and differs: give the client a directory of its own (nothing was written)",
                path.display()
            );
        }
    }
    Ok(())
}

fn write_files(dir: &Path, files: &[(PathBuf, String)]) -> anyhow::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)?;
    for (path, text) in files {
        atomic::write(path, text.as_bytes(), 0o600)?;
        println!("wrote {} (mode 0600)", path.display());
    }
    Ok(())
}

/// `client add NAME -o DIR`.
pub fn add(root: &Path, state: &StateDir, name: &str, dir: &Path) -> anyhow::Result<()> {
    let mut list = list(state)?;
    list.check_new(name).map_err(anyhow::Error::msg)?;
    let token = jwt::token()?;
    let files = client_files(root, state, dir, &token)?;
    check_free(&files)?;
    write_files(dir, &files)?;
    list.put(name, &token, now());
    clients::save(state, &list)?;
    println!("added the client {name}: the front accepts its token from its next request (nothing restarted)");
    println!("on that machine: `source {}/env` (copy the directory there; it holds a secret, keep it 0600)", dir.display());
    Ok(())
}

/// `client rotate NAME -o DIR`: a new token for the same name.
pub fn rotate(root: &Path, state: &StateDir, name: &str, dir: &Path) -> anyhow::Result<()> {
    let mut list = list(state)?;
    anyhow::ensure!(list.get(name).is_some(), "{}", unknown(&list, name));
    let token = jwt::token()?;
    let files = client_files(root, state, dir, &token)?;
    check_free(&files)?;
    write_files(dir, &files)?;
    list.put(name, &token, now());
    clients::save(state, &list)?;
    println!("rotated the client {name}: its old token is refused from the next request, the new one is in {}", dir.display());
    Ok(())
}

/// `client revoke NAME`.
pub fn revoke(state: &StateDir, name: &str) -> anyhow::Result<()> {
    let mut list = list(state)?;
    anyhow::ensure!(list.remove(name), "{}", unknown(&list, name));
    clients::save(state, &list)?;
    println!("revoked the client {name}: the front refuses its token from the next request (nothing restarted; jobs it already holds finish)");
    Ok(())
}

fn unknown(list: &Clients, name: &str) -> String {
    format!(
        "no client named {name:?}; the clients are: {}",
        list.names().join(", ")
    )
}

/// `client list`: names, when made, when last seen and their job requests
/// since the scheduler started (from the metrics endpoint).
pub fn print_list(state: &StateDir) -> anyhow::Result<()> {
    let list = list(state)?;
    let c = state.record()?;
    let snap = metrics::snapshot(state, &c);
    if let Err(e) = &snap {
        println!("(last seen and requests unknown: {e:#})");
    }
    let t = now() as f64;
    println!(
        "{:<34} {:>12} {:>12} {:>8} {:>8}",
        "CLIENT", "MADE", "LAST SEEN", "JOBS", "REFUSED"
    );
    for r in &list.clients {
        let row = snap
            .as_ref()
            .ok()
            .and_then(|s| s.named_clients.iter().find(|n| n.name == r.name));
        let seen = row
            .and_then(|n| n.last_seen)
            .map(|s| format!("{}s ago", (t - s).max(0.0) as u64))
            .unwrap_or_else(|| "-".into());
        let made = format!("{}s ago", (t as u64).saturating_sub(r.created_at));
        println!(
            "{:<34} {:>12} {:>12} {:>8} {:>8}",
            r.name,
            made,
            seen,
            row.map_or(0, |n| n.allocated),
            row.map_or(0, |n| n.refused)
        );
    }
    if let Some(unknown) = snap
        .as_ref()
        .ok()
        .and_then(|s| s.named_clients.iter().find(|n| n.name == "unknown"))
    {
        println!(
            "requests with an unknown or revoked token refused since the scheduler started: {}",
            unknown.refused
        );
    }
    Ok(())
}
