//! `bench cluster`: start → ready, and the same batch of C compiles four ways side
//! by side (local `cc`, distcc, sccache-dist native on the host, the container
//! cluster), the container cluster again scaled to 2..=N builders (`--builders N`),
//! then the deployment controls of sccache-dist one at a time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::distcc::Distccd;
use super::native::NativeDist;
use super::report::{self, Row};
pub use super::spec::{scheduler_jobs_per_server, scheduler_slots, ClusterBench, Setup};
use super::workload::{ClientSetup, Measured, Workload};
use crate::cluster::{client_config, scale, start, stop};
use crate::lifecycle::records::Records;
use crate::profile::runtime;
use crate::store::StateDir;

/// Runs the benchmark with a cluster of its own, removed afterwards (containers,
/// volumes and network: `--purge`), also on an error.
pub fn run(root: &Path, b: &ClusterBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        b.starts >= 1 && b.compiles >= 1 && b.jobs >= 1 && b.rounds >= 1 && b.builders >= 1,
        "counts must be at least 1"
    );
    let state_dir = tempfile::Builder::new().prefix("bench-state-").tempdir()?;
    let state = StateDir::new(Some(state_dir.path().to_owned()));
    let load_before = report::load_average();
    let result = measure(root, &state, b);
    let _ = stop::remove_containers(&state, true);
    let (ready, phases) = result?;
    report::print(b, &ready, &phases, &load_before);
    Ok(())
}

/// The phases: the four ways with `b.setup` (the container with one build
/// server), the container scaled to 2..=`b.builders` servers, then local, native
/// and container with each control flipped. Every way of a phase runs once per
/// round, interleaved, so a change in the machine's load hits them alike; a
/// phase's first row is local, its reference. A scaled container's row has its
/// own local reference, measured in its own rounds.
fn measure(
    root: &Path,
    state: &StateDir,
    b: &ClusterBench,
) -> anyhow::Result<(Vec<Duration>, Vec<Vec<Row>>)> {
    let w = Workload::new(b.compiles)?;
    let distccd = Distccd::start(b.jobs, b.start.timeout)?;
    let native = start_native(root, b, b.setup)?;
    let container = start_container(root, state, b, b.setup, b.starts)?;
    let ways = vec![
        ("local (cc)".to_owned(), Way::Local),
        (
            "distcc (distccd, 127.0.0.1)".to_owned(),
            Way::Distcc(&distccd),
        ),
        native_way(b.setup, &native.client),
        container_way(b.setup, &container.client),
    ];
    let mut phases = vec![rounds(&w, &ways, b)?];
    drop(ways);
    drop((native, distccd));
    // The same cluster, one more build server at a time: `scale` adds servers
    // beside the running scheduler (never removes one, which the scheduler would
    // count for 90 s more), so each N is ready within seconds.
    for n in 2..=b.builders {
        let scaled = scale::scale(root, state, n, b.start.timeout)?;
        println!(
            "scaled to {n} build servers: ready after {:.2} s",
            scaled.ready_after.as_secs_f64()
        );
        let ways = [
            ("local (cc)".to_owned(), Way::Local),
            (
                builders_label(n),
                Way::Sccache(&container.client, "container"),
            ),
        ];
        let mut rows = rounds(&w, &ways, b)?;
        let row = rows.pop().expect("two ways").against(&rows[0]);
        phases[0].push(row);
    }
    let ready = container.ready.clone();
    drop(container);
    if b.controls {
        for setup in b.setup.controls() {
            let native = start_native(root, b, setup)?;
            let container = start_container(root, state, b, setup, 1)?;
            // Local again: the reference of this phase, measured under its load.
            let ways = [
                ("local (cc)".to_owned(), Way::Local),
                native_way(setup, &native.client),
                container_way(setup, &container.client),
            ];
            phases.push(rounds(&w, &ways, b)?);
        }
    }
    Ok((ready, phases))
}

/// One way of compiling the batch.
enum Way<'a> {
    Local,
    Distcc(&'a Distccd),
    /// A private sccache client with this config; the tag names its objects.
    Sccache(&'a ClientSetup, &'static str),
}

fn native_way(setup: Setup, conf: &ClientSetup) -> (String, Way<'_>) {
    let label = format!("sccache-dist native ({})", setup.label("disk"));
    (label, Way::Sccache(conf, "native"))
}

/// The row of the container cluster scaled to `n` build servers.
pub fn builders_label(n: usize) -> String {
    format!("sccache-dist container, {n} builders")
}

fn container_way(setup: Setup, conf: &ClientSetup) -> (String, Way<'_>) {
    let label = format!("sccache-dist container ({})", setup.label("volume"));
    (label, Way::Sccache(conf, "container"))
}

/// `b.rounds` rounds of every way in turn; a row per way.
fn rounds(w: &Workload, ways: &[(String, Way)], b: &ClusterBench) -> anyhow::Result<Vec<Row>> {
    let mut got: Vec<Vec<Measured>> = ways.iter().map(|_| Vec::new()).collect();
    for round in 1..=b.rounds {
        for ((label, way), ms) in ways.iter().zip(&mut got) {
            let m = match way {
                Way::Local => w.local(b.jobs)?,
                Way::Distcc(d) => d.run(w, b.jobs)?,
                Way::Sccache(conf, tag) => w.sccache(conf, b.jobs, tag)?,
            };
            let wall = m.wall.as_secs_f64();
            println!("round {round}/{}: {label}: {wall:.2} s", b.rounds);
            ms.push(m);
        }
    }
    Ok(ways
        .iter()
        .zip(got)
        .map(|((label, _), ms)| Row::from_rounds(label, ms))
        .collect())
}

/// A native scheduler and server with `setup`, registered.
fn start_native(root: &Path, b: &ClusterBench, setup: Setup) -> anyhow::Result<NativeDist> {
    let profile = runtime::load_named(root, &b.start.profile)?;
    let parent = cache_parent(setup.tmpfs, &std::env::temp_dir())?;
    NativeDist::start(root, &profile, setup.log_level, &parent, b.start.timeout)
}

/// The benchmark's container cluster while it runs; dropping it removes the
/// container (and volume), then the tmpfs cache it wrote as root.
struct ContainerCluster<'a> {
    state: &'a StateDir,
    client: ClientSetup,
    ready: Vec<Duration>,
    _tmpfs_cache: Option<tempfile::TempDir>,
}

impl Drop for ContainerCluster<'_> {
    fn drop(&mut self) {
        let _ = stop::remove_containers(self.state, true);
    }
}

/// The container cluster with `setup`, started `starts` times (stopped between).
fn start_container<'a>(
    root: &Path,
    state: &'a StateDir,
    b: &ClusterBench,
    setup: Setup,
    starts: usize,
) -> anyhow::Result<ContainerCluster<'a>> {
    stop::remove_containers(state, true)?;
    let tmpfs_cache = match setup.tmpfs {
        true => Some(
            tempfile::Builder::new()
                .prefix("bench-cache-")
                .tempdir_in(cache_parent(true, Path::new("/"))?)?,
        ),
        false => None,
    };
    let mut req = b.start.clone();
    req.log_level = Some(setup.log_level);
    // One build server, in the scheduler's container, like the native run; the
    // builders sweep scales it up afterwards.
    req.builders = None;
    req.cache_dir = tmpfs_cache.as_ref().map(|d| d.path().to_owned());
    let mut c = ContainerCluster {
        state,
        client: ClientSetup::default(),
        ready: Vec::new(),
        _tmpfs_cache: tmpfs_cache,
    };
    for i in 0..starts {
        if i > 0 {
            stop::stop(state)?;
        }
        c.ready.push(start::start(root, state, &req)?.ready_after);
    }
    let tls = state.record()?.tls.is_on();
    c.client = ClientSetup {
        conf: client_config::render(root, state)?,
        cert_file: tls.then(|| state.path().join(crate::lifecycle::tls::CLIENT_BUNDLE)),
    };
    Ok(c)
}

/// Where a cache root goes: `/dev/shm` (checked to be tmpfs) or `disk`.
fn cache_parent(tmpfs: bool, disk: &Path) -> anyhow::Result<PathBuf> {
    if !tmpfs {
        return Ok(disk.to_owned());
    }
    let mounts = std::fs::read_to_string("/proc/mounts")?;
    let is_tmpfs = mounts.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.get(1) == Some(&"/dev/shm") && f.get(2) == Some(&"tmpfs")
    });
    anyhow::ensure!(is_tmpfs, "--tmpfs: /dev/shm is not a tmpfs here");
    Ok(PathBuf::from("/dev/shm"))
}
