//! `join` on another host: the build server of a join bundle in a container of
//! its own on that host's engine, and the wait until the scheduler accepts it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use super::{bundle_check, preflight, trust};
use crate::base::atomic;
use crate::docker::{self, objects};
use crate::image::HASH_LABEL;
use crate::lifecycle::container;
use crate::lifecycle::diagnose::{
    log_tail, log_tail_with_advice, registration_in, REFUSED_MISMATCH, REFUSED_TOKEN,
};
use crate::model::remote::JoinBundle;
use crate::model::run_spec::{mount_source, CA_CERT};
use crate::model::specs;
use crate::profile::validate;
use crate::store::StateDir;

/// One `join` request.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    /// The join bundle `join-bundle` wrote on the scheduler's host.
    pub bundle: PathBuf,
    /// The image to run instead of the bundle's.
    pub image: Option<String>,
    /// How long to wait for the server to register.
    pub timeout: Duration,
}

/// What a successful join reports.
pub struct Joined {
    /// The server's name (its container's).
    pub name: String,
    /// `IP:PORT`, its public_addr.
    pub public_addr: String,
    /// The scheduler it registered with.
    pub scheduler_url: String,
    /// From `docker run` to its registration.
    pub ready_after: Duration,
}

/// Starts the build server of `req`'s bundle on this host's engine (replacing a
/// container of ours under its name) and waits until the scheduler accepts it.
///
/// Nothing is started, stopped, replaced or written until every check passed:
/// the bundle's fields (`bundle_check`), the image, this host's address and port
/// (`preflight`), and the scheduler answering at the bundle's URL with a
/// certificate the bundle's trust verifies (`trust`). A server that then fails
/// to register is removed again with what the join made (its volume and joined
/// directory when new), with the cause named, so no failure leaves a container
/// restart-looping or a record of a server that does not run.
pub fn join(state: &StateDir, req: &JoinRequest) -> anyhow::Result<Joined> {
    let b = bundle_check::read(&req.bundle)?;
    let image = req.image.clone().unwrap_or_else(|| b.image.clone());
    validate::image_any(&image).map_err(|e| anyhow::anyhow!("--image: {e}"))?;
    docker::engine()?;
    check_image(&b, &image)?;
    let ours_up = our_container_is_up(&b.name)?;
    let facts = preflight::host_facts(&image, &b)?;
    // Our own running server of that name holds the port; it is replaced below.
    preflight::check(&facts, &b, !ours_up)?;
    trust::check(&b)?;
    replace_ours(&b.name)?;
    let made = Made {
        name: b.name.clone(),
        volume: (!volume_exists(&specs::remote_cache_volume(&b.name))?)
            .then(|| specs::remote_cache_volume(&b.name)),
        dir: !state.has_joined(&b.name),
    };
    let t0 = Instant::now();
    if let Err(e) = run_and_wait(state, &b, &image, req.timeout) {
        made.undo(state);
        return Err(e);
    }
    Ok(Joined {
        name: b.name.clone(),
        public_addr: b.public_addr(),
        scheduler_url: b.scheduler_url.clone(),
        ready_after: t0.elapsed(),
    })
}

/// Writes the server's config, starts it and waits until it registered.
fn run_and_wait(
    state: &StateDir,
    b: &JoinBundle,
    image: &str,
    timeout: Duration,
) -> anyhow::Result<()> {
    let dir = state.joined_dir(&b.name)?;
    atomic::write(&dir.join("server.conf"), b.server_conf.as_bytes(), 0o600)?;
    match &b.ca_cert {
        Some(ca) => atomic::write(&dir.join(CA_CERT), ca.as_bytes(), 0o600)?,
        None => remove_stale(&dir.join(CA_CERT))?,
    }
    let source = mount_source(&dir.canonicalize()?, "--state-dir")?;
    docker::run::run(&specs::remote_server(b, image, &source)).run_logged()?;
    wait_registered(&b.name, timeout)
}

/// What a join makes, undone when it fails: the container, and the cache volume
/// and the joined directory unless they were there before (a server joined
/// earlier under the name keeps them).
struct Made {
    name: String,
    volume: Option<String>,
    dir: bool,
}

impl Made {
    /// Removes what was made; a failure to is said, not hidden.
    fn undo(&self, state: &StateDir) {
        remove_failed(&self.name);
        if let Some(v) = &self.volume {
            match volume_exists(v).map(|there| there.then(|| objects::volume_remove(v).output())) {
                Ok(Some(Err(e))) | Err(e) => eprintln!("could not remove the volume {v}: {e:#}"),
                _ => {}
            }
        }
        if self.dir {
            if let Err(e) = state.remove_joined(&self.name) {
                eprintln!("{e:#}");
            }
        }
    }
}

fn volume_exists(name: &str) -> anyhow::Result<bool> {
    Ok(objects::volume_inspect(name).try_output()?.is_some())
}

/// The image must be on this engine; one built from other inputs only warns.
fn check_image(b: &JoinBundle, image: &str) -> anyhow::Result<()> {
    match docker::image_label(image, HASH_LABEL)? {
        None => anyhow::bail!(
            "no image {image} on this engine: build it here (`cargo xtask image {}` with the same repository), pull it from your registry, or copy it (`docker save {image} | ssh THIS-HOST docker load`); `--image REF` runs another",
            b.distro
        ),
        Some(h) if h != b.image_hash => eprintln!(
            "note: {image} was built from other inputs (hash {}) than the cluster's image ({}); it runs anyway",
            &h[..h.len().min(12)],
            &b.image_hash[..b.image_hash.len().min(12)]
        ),
        Some(_) => {}
    }
    Ok(())
}

/// A CA left by an earlier bundle of a cluster that had one.
fn remove_stale(path: &std::path::Path) -> anyhow::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// Whether a container of ours under `name` runs (a server this bundle replaces).
fn our_container_is_up(name: &str) -> anyhow::Result<bool> {
    Ok(container::state(name)?.is_some_and(|s| s.is_up()) && container::is_ours(name)?)
}

/// The server that did not register is removed, so its restart policy does not
/// keep it looping; a failure to remove it is said, not hidden.
fn remove_failed(name: &str) {
    let removed = container::state(name)
        .ok()
        .flatten()
        .map(|_| objects::remove_container_forced(name).output());
    match removed {
        Some(Err(e)) => eprintln!("could not remove the container {name}: {e:#}"),
        Some(Ok(_)) => eprintln!("removed the container {name}, which did not register"),
        None => {}
    }
}

/// A container under the name that this tool started is stopped (grace period)
/// and removed, so a new bundle replaces the old server; anyone else's is an error.
fn replace_ours(name: &str) -> anyhow::Result<()> {
    if container::state(name)?.is_none() {
        return Ok(());
    }
    anyhow::ensure!(
        container::is_ours(name)?,
        "a container named {name} exists and was not started by this tool: issue the bundle with another --name"
    );
    println!("replacing the build server container {name}");
    container::stop(name)?;
    container::remove(name)
}

/// Polls the server's log until it says it connected to the scheduler; a refused
/// heartbeat, an exited container or the deadline fail with the log's tail.
fn wait_registered(name: &str, timeout: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    loop {
        match registration_in(&container::log(name, 200), false) {
            "registered" => return Ok(()),
            r @ (REFUSED_MISMATCH | REFUSED_TOKEN) => anyhow::bail!(
                "the scheduler {r} the build server {name}: the bundle was revoked or issued for another address or scheduler; issue a new one\n{}",
                log_tail(name)
            ),
            _ => {}
        }
        if let Some(s) = container::state(name)? {
            anyhow::ensure!(
                s.status != "exited" && s.status != "dead",
                "the container {name} {}; {}",
                s.status,
                log_tail_with_advice(name)
            );
            // sccache-dist exits at once on a config or credential it refuses; the
            // restart policy would bring it back forever.
            anyhow::ensure!(
                s.status != "restarting" && s.restarts == 0,
                "the build server {name} exits and restarts ({} restart(s)): sccache-dist refuses to run; {}",
                s.restarts.max(1),
                log_tail_with_advice(name)
            );
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the build server {name} did not register within {}s: the scheduler never answered its heartbeat (is the scheduler's address reachable from this host?); {}",
            timeout.as_secs(),
            log_tail_with_advice(name)
        );
        std::thread::sleep(Duration::from_millis(250)); // the poll interval
    }
}
