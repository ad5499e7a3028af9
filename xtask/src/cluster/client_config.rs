//! `cargo xtask client-config`: the sccache client config for the running cluster,
//! written with mode 0600, and the lines that put it to use.

use std::path::{Path, PathBuf};

use crate::base::atomic;
use crate::lifecycle::records::Records;
use crate::lifecycle::{tls, versions};
use crate::render::{cluster_configs, Templates};
use crate::sccache::versions::Version;
use crate::store::StateDir;

/// The client config text for the cluster recorded in `state`.
pub fn render(root: &Path, state: &StateDir) -> anyhow::Result<String> {
    let c = state.record()?;
    let secrets = state.existing_secrets()?;
    let t = Templates::load(root)?;
    Ok(cluster_configs::render(&t, &c, &secrets, "start")?.client)
}

/// Writes the client config to `output` (default: the state directory's), mode
/// 0600, never over a different file unless `force`; prints how to use it.
pub fn write(
    root: &Path,
    state: &StateDir,
    output: Option<PathBuf>,
    force: bool,
) -> anyhow::Result<()> {
    let text = render(root, state)?;
    let served = state.record()?.sccache_dist_version;
    versions::warn_skew(served.as_deref().and_then(Version::parse));
    let path = output.unwrap_or_else(|| state.client_config_path());
    let private = |p: &Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).is_ok_and(|m| m.permissions().mode() & 0o777 == 0o600)
    };
    match std::fs::read(&path) {
        Ok(existing) if existing == text.as_bytes() && private(&path) => {}
        Ok(existing) if existing != text.as_bytes() && !force => anyhow::bail!(
            "{} exists and differs; pass --force to replace it",
            path.display()
        ),
        _ => atomic::write(&path, text.as_bytes(), 0o600)?,
    }
    let shown = path.canonicalize().unwrap_or(path);
    println!("wrote {} (mode 0600)", shown.display());
    let bundle = write_bundle(state, &shown)?;
    println!();
    println!("Use it (sccache reads no environment variables for the scheduler or token):");
    let conf = format!("export SCCACHE_CONF={}", shown.display());
    let trust = bundle
        .as_ref()
        .map(|b| format!("export SSL_CERT_FILE={}", b.display()));
    let mut lines = vec![(conf.as_str(), "")];
    if let Some(t) = &trust {
        lines.push((t.as_str(), "trust the cluster's CA (and the system roots)"));
    }
    lines.extend([
        (
            "export RUSTC_WRAPPER=sccache CARGO_INCREMENTAL=0",
            "Rust (incremental builds are not distributed)",
        ),
        ("make CC=\"sccache cc\" CXX=\"sccache c++\"", "C and C++"),
        (
            "sccache --dist-status",
            "lists the scheduler and its servers",
        ),
    ]);
    for (cmd, why) in lines {
        if why.is_empty() {
            println!("  {cmd}");
        } else {
            println!("  {cmd:<50} # {why}");
        }
    }
    if let Some(b) = &bundle {
        print_trust_notes(&shown, b, &tls::ca_cert_path(state));
    }
    Ok(())
}

/// Beside the client config: the bundle its daemon trusts (the system roots and
/// the cluster's CA), when the scheduler has a TLS front with the cluster's CA.
fn write_bundle(state: &StateDir, conf: &Path) -> anyhow::Result<Option<PathBuf>> {
    let Some(ca) = tls::ca_cert(state)? else {
        return Ok(None);
    };
    // A certificate of the user's own is trusted through the clients' own store.
    if state.record()?.tls != crate::model::cluster::Tls::ClusterCa {
        return Ok(None);
    }
    let path = conf.with_file_name(tls::CLIENT_BUNDLE);
    let from = tls::write_client_bundle(&path, &ca)?;
    println!("wrote {} ({from} and the cluster's CA)", path.display());
    Ok(Some(path))
}

fn print_trust_notes(conf: &Path, bundle: &Path, ca: &Path) {
    println!();
    println!("SSL_CERT_FILE replaces the system store for sccache, so the bundle holds both.");
    println!(
        "A daemon that started before it was exported keeps its old trust: `sccache --stop-server` once."
    );
    println!("Or, once per machine instead of SSL_CERT_FILE, add the CA to the system store:");
    println!(
        "  sudo cp {} /usr/local/share/ca-certificates/sccache-dist.crt && sudo update-ca-certificates   # Debian/Ubuntu",
        ca.display()
    );
    println!(
        "Another client machine needs two files: {} and {}.",
        conf.display(),
        bundle.display()
    );
}
