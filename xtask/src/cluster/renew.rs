//! Renewing the TLS front's certificate in place (`tls renew`, and `start` on a
//! running cluster): the leaf is re-issued from the cluster's CA when a name it
//! must cover is missing or fewer than 30 days are left (a certificate of one's
//! own is taken up again from its files, checked as on start), written into the
//! scheduler's config directory, which its container mounts, and nginx reloads
//! it. The scheduler's container keeps running: nginx's old workers finish the
//! requests they hold while new ones serve the new certificate, so no job is cut.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::docker::command::DockerCommand;
use crate::lifecycle::records::Records;
use crate::lifecycle::{container, tls};
use crate::model::run_spec::CONFIG_MOUNT;
use crate::model::Cluster;
use crate::sccache::tls::facts;
use crate::sccache::tls_verify;
use crate::store::StateDir;

/// Handshakes in a row that must get the new certificate.
const SERVED_IN_A_ROW: u32 = 10;

/// How long the reloaded front may take to serve the new certificate.
const RELOAD_DEADLINE: Duration = Duration::from_secs(15);

/// The command that reloads the front of the scheduler's container `container`.
pub fn reload_command(container: &str) -> DockerCommand {
    let conf = format!("{CONFIG_MOUNT}/nginx.conf");
    DockerCommand::new([
        "exec", container, "nginx", "-e", "stderr", "-s", "reload", "-c",
    ])
    .arg(conf)
}

/// `tls renew`: renews the front of the recorded cluster, which must run.
pub fn renew_running(state: &StateDir) -> anyhow::Result<bool> {
    let c = state.record()?;
    crate::docker::engine()?;
    let up = container::state(&c.scheduler.container)?.is_some_and(|s| s.is_up());
    anyhow::ensure!(
        up,
        "the scheduler's container {} is not running: `cargo xtask start {}` issues a current certificate as it starts",
        c.scheduler.container,
        c.distro
    );
    renew(state, &c)
}

/// Renews the front of the running cluster `c` when it needs it; true when it
/// did. Said in a line either way.
pub fn renew(state: &StateDir, c: &Cluster) -> anyhow::Result<bool> {
    if !c.tls.is_on() {
        println!("the cluster runs plain HTTP (--plain-http): it has no certificate to renew");
        return Ok(false);
    }
    let front = tls::plan_front(state, state, c)?;
    anyhow::ensure!(
        !front.makes_ca(),
        "the cluster's CA is missing from {}: a new one would be trusted by no client or joined host, so it is not made on a running cluster. To rotate the CA, `cargo xtask stop` and `start` (every client then needs the new ca-bundle.pem, every joined host a new bundle)",
        tls::ca_cert_path(state).display()
    );
    anyhow::ensure!(
        !front.ca_differs(state)?,
        "the CA the build servers trust would change (another --tls-ca, or none): they keep the one they were given until they restart, so it is not changed on a running cluster. `cargo xtask stop` and `start` with the new files"
    );
    if !front.leaf_differs(state)? {
        let left = tls::stored_leaf(state)?
            .and_then(|pem| facts(&pem).ok())
            .and_then(|f| f.remaining())
            .map(|d| d.as_secs() / 86400)
            .unwrap_or_default();
        println!(
            "the scheduler's certificate covers every name and has {left} days left: nothing to renew"
        );
        return Ok(false);
    }
    let files = tls::commit_front(state, state, front)?;
    tls::write_leaf(state, &files)?;
    reload(c, &files.leaf_cert)?;
    Ok(true)
}

/// Reloads the front and waits until it serves `leaf_pem`.
fn reload(c: &Cluster, leaf_pem: &str) -> anyhow::Result<()> {
    let container = &c.scheduler.container;
    reload_command(container).output().map_err(|e| {
        anyhow::anyhow!(
            "the TLS front in {container} did not reload ({e:#}); the new certificate is in the state directory: `cargo xtask stop` and `start` serve it"
        )
    })?;
    let want = tls_verify::certificates(leaf_pem)
        .map_err(anyhow::Error::msg)?
        .remove(0)
        .to_vec();
    let addr = SocketAddr::from((c.scheduler.address, c.scheduler.port));
    let deadline = Instant::now() + RELOAD_DEADLINE;
    // An old worker may still accept a connection or two after the reload,
    // until it takes its signal: the new certificate counts as served once
    // that many handshakes in a row get it.
    let mut in_a_row = 0;
    loop {
        let served = tls_verify::served_leaf(addr, Duration::from_secs(2));
        if served.as_ref().is_ok_and(|s| *s == want) {
            in_a_row += 1;
            if in_a_row == SERVED_IN_A_ROW {
                println!("the TLS front reloaded and serves the new certificate; the scheduler's container {container} kept running");
                return Ok(());
            }
            continue;
        }
        in_a_row = 0;
        anyhow::ensure!(
            Instant::now() < deadline,
            "the TLS front in {container} reloaded but does not serve the new certificate at {addr} after {}s ({}); `cargo xtask logs` shows nginx's complaint",
            RELOAD_DEADLINE.as_secs(),
            match served {
                Ok(_) => "it serves the old one".to_owned(),
                Err(e) => format!("{e:#}"),
            }
        );
        std::thread::sleep(Duration::from_millis(200)); // the poll interval
    }
}
