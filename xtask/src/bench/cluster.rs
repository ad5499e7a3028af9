//! `bench cluster`: start → ready, and the same batch of C compiles side by side
//! (local `cc`, distcc, sccache-dist native on the host, the container cluster on
//! plain HTTP and behind its TLS front), the container cluster again scaled to
//! 2..=N builders (`--builders N`), then the deployment controls of sccache-dist
//! one at a time.
//!
//! The plain and the TLS container clusters use the same host ports (the
//! profile's: an image is built for one profile, so another profile's ports would
//! need another image), so they cannot run at once. Each has a state directory
//! and a name of its own (its volume is kept between its runs) and, in the rounds,
//! is started before and stopped after each of its measurements: within a round,
//! plain and TLS run back to back, seconds apart, so a change in the machine's
//! load hits both, and both are measured on a cluster started the same way; they
//! trade places every other round, so neither always goes first.

use std::cell::Cell;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::distcc::Distccd;
use super::native::NativeDist;
use super::report::{self, Row, TLS_ROW};
pub use super::spec::{scheduler_jobs_per_server, scheduler_slots, ClusterBench, Setup};
use super::workload::{ClientSetup, Measured, Workload};
use crate::cluster::{client_config, scale, start, stop, StartRequest};
use crate::lifecycle::records::Records;
use crate::profile::runtime;
use crate::store::StateDir;

/// Runs the benchmark with clusters of its own (plain HTTP, and TLS unless
/// `b.start.plain_http`), removed afterwards (containers, volumes and network:
/// `--purge`), also on an error. It waits for its turn on the host's cluster
/// ports, the machine-wide lock the end-to-end tests take.
pub fn run(root: &Path, b: &ClusterBench) -> anyhow::Result<()> {
    anyhow::ensure!(
        b.starts >= 1 && b.compiles >= 1 && b.jobs >= 1 && b.rounds >= 1 && b.builders >= 1,
        "counts must be at least 1"
    );
    let _turn = host_ports_turn()?;
    let state_dir = |kind: &str| {
        tempfile::Builder::new()
            .prefix(&format!("bench-state-{kind}-"))
            .tempdir()
    };
    let (plain_dir, tls_dir) = (state_dir("plain")?, state_dir("tls")?);
    let states = States {
        plain: StateDir::new(Some(plain_dir.path().to_owned())),
        tls: StateDir::new(Some(tls_dir.path().to_owned())),
    };
    let load_before = report::load_average();
    let result = measure(root, &states, b);
    let _ = stop::remove_containers(&states.plain, true);
    let _ = stop::remove_containers(&states.tls, true);
    let (ready, phases) = result?;
    report::print(b, &ready, &phases, &load_before);
    Ok(())
}

/// The state directories of the two container clusters.
struct States {
    plain: StateDir,
    tls: StateDir,
}

/// The lock file the end-to-end tests hold while they use the host's fixed
/// cluster ports (tests/support: `host_network_turn`); held until dropped.
fn host_ports_turn() -> anyhow::Result<std::fs::File> {
    let path = std::env::temp_dir().join("sccache-docker-e2e-host-network.lock");
    let file = std::fs::File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    if file.try_lock().is_err() {
        println!(
            "waiting for the host's cluster ports: another run holds {}",
            path.display()
        );
        file.lock()?;
    }
    Ok(file)
}

/// The phases: the ways with `b.setup` (the container with one build server, on
/// plain HTTP and behind its TLS front), the plain container scaled to
/// 2..=`b.builders` servers, then local, native and the plain container with each
/// control flipped. Every way of a phase runs once per round, interleaved, so a
/// change in the machine's load hits them alike; a phase's first row is local, its
/// reference. A scaled container's row has its own local reference, measured in
/// its own rounds. Start → ready is measured on the TLS cluster, the default,
/// unless `b.start.plain_http`.
fn measure(
    root: &Path,
    states: &States,
    b: &ClusterBench,
) -> anyhow::Result<(Vec<Duration>, Vec<Vec<Row>>)> {
    let w = Workload::new(b.compiles)?;
    let distccd = Distccd::start(b.jobs, b.start.timeout)?;
    let native = start_native(root, b, b.setup)?;
    let with_tls = !b.start.plain_http;
    let plain_starts = if with_tls { 1 } else { b.starts };
    let container = start_container(root, &states.plain, b, b.setup, false, plain_starts)?;
    // Down between its runs: the TLS cluster takes the same ports.
    container.down()?;
    let tls = match with_tls {
        true => {
            let c = start_container(root, &states.tls, b, b.setup, true, b.starts)?;
            c.down()?;
            Some(c)
        }
        false => None,
    };
    let ready = tls.as_ref().unwrap_or(&container).ready.clone();
    let mut ways = vec![
        ("local (cc)".to_owned(), Way::Local),
        (
            "distcc (distccd, 127.0.0.1)".to_owned(),
            Way::Distcc(&distccd),
        ),
        native_way(b.setup, &native.client),
        (
            container_label(b.setup),
            Way::Container(&container, "container"),
        ),
    ];
    if let Some(tls) = &tls {
        ways.push((TLS_ROW.to_owned(), Way::Container(tls, "container-tls")));
    }
    let mut phases = vec![rounds(&w, &ways, b)?];
    drop(ways);
    let cluster = tls.as_ref().unwrap_or(&container);
    for line in cluster.cost.borrow().lines() {
        println!("{line}");
    }
    drop((tls, native, distccd));
    if b.builders > 1 {
        container.up()?;
    }
    // The same cluster, one more build server at a time: `scale` adds servers
    // beside the running scheduler (never removes one, which the scheduler would
    // count for 90 s more), so each N is ready within seconds.
    for n in 2..=b.builders {
        let scaled = scale::scale(root, &states.plain, n, b.start.timeout)?;
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
    drop(container);
    if b.controls {
        for setup in b.setup.controls() {
            let native = start_native(root, b, setup)?;
            let container = start_container(root, &states.plain, b, setup, false, 1)?;
            // Local again: the reference of this phase, measured under its load.
            let ways = [
                ("local (cc)".to_owned(), Way::Local),
                native_way(setup, &native.client),
                (
                    container_label(setup),
                    Way::Sccache(&container.client, "container"),
                ),
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
    /// A container cluster that is started for each of its rounds and stopped
    /// after it (it shares its ports with another); the tag names its objects.
    Container(&'a ContainerCluster<'a>, &'static str),
}

fn native_way(setup: Setup, conf: &ClientSetup) -> (String, Way<'_>) {
    let label = format!("sccache-dist native ({})", setup.label("disk"));
    (label, Way::Sccache(conf, "native"))
}

/// The row of the container cluster scaled to `n` build servers.
pub fn builders_label(n: usize) -> String {
    format!("sccache-dist container, {n} builders")
}

/// The row of the container cluster on plain HTTP, with one build server.
fn container_label(setup: Setup) -> String {
    format!("sccache-dist container ({})", setup.label("volume"))
}

/// `b.rounds` rounds of every way in turn (in [`round_order`]); a row per way.
fn rounds(w: &Workload, ways: &[(String, Way)], b: &ClusterBench) -> anyhow::Result<Vec<Row>> {
    let mut got: Vec<Vec<Measured>> = ways.iter().map(|_| Vec::new()).collect();
    let takes_turns: Vec<bool> = ways
        .iter()
        .map(|(_, way)| matches!(way, Way::Container(..)))
        .collect();
    for round in 1..=b.rounds {
        for i in round_order(&takes_turns, round) {
            let (label, way) = &ways[i];
            let m = match way {
                Way::Local => w.local(b.jobs)?,
                Way::Distcc(d) => d.run(w, b.jobs)?,
                Way::Sccache(conf, tag) => w.sccache(conf, b.jobs, tag)?,
                Way::Container(c, tag) => {
                    c.up()?;
                    let m = w.sccache(&c.client, b.jobs, tag)?;
                    c.down()?;
                    m
                }
            };
            let wall = m.wall.as_secs_f64();
            println!("round {round}/{}: {label}: {wall:.2} s", b.rounds);
            got[i].push(m);
        }
    }
    Ok(ways
        .iter()
        .zip(got)
        .map(|((label, _), ms)| Row::from_rounds(label, ms))
        .collect())
}

/// The order of the ways in `round` (from 1): as listed, except that the ways
/// that take turns on the same ports (`takes_turns`: the plain and the TLS
/// container) trade places every other round, so that neither always runs
/// first, right after the native way, and an effect of going first or second
/// cancels out of their pairs over the rounds.
pub fn round_order(takes_turns: &[bool], round: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..takes_turns.len()).collect();
    if round.is_multiple_of(2) {
        let slots: Vec<usize> = order.iter().copied().filter(|&i| takes_turns[i]).collect();
        for (slot, way) in slots.iter().zip(slots.iter().rev()) {
            order[*slot] = *way;
        }
    }
    order
}

/// A native scheduler and server with `setup`, registered.
fn start_native(root: &Path, b: &ClusterBench, setup: Setup) -> anyhow::Result<NativeDist> {
    let profile = runtime::load_named(root, &b.start.profile)?;
    let parent = cache_parent(setup.tmpfs, &std::env::temp_dir())?;
    NativeDist::start(root, &profile, setup.log_level, &parent, b.start.timeout)
}

/// One of the benchmark's container clusters; dropping it removes its containers
/// (and volume), then the tmpfs cache it wrote as root.
struct ContainerCluster<'a> {
    root: &'a Path,
    state: &'a StateDir,
    req: StartRequest,
    client: ClientSetup,
    /// Start → ready of its first starts.
    ready: Vec<Duration>,
    running: Cell<bool>,
    /// The exporter's cost, read before each stop.
    cost: std::cell::RefCell<super::exporter::ExporterCost>,
    _tmpfs_cache: Option<tempfile::TempDir>,
}

impl ContainerCluster<'_> {
    /// Starts it again (same state, secrets and volume) unless it runs.
    fn up(&self) -> anyhow::Result<()> {
        if !self.running.get() {
            start::start(self.root, self.state, &self.req)?;
            self.running.set(true);
        }
        Ok(())
    }

    /// Stops its containers (kept with the volume, for `up`), freeing its ports.
    fn down(&self) -> anyhow::Result<()> {
        if self.running.get() {
            self.cost.borrow_mut().read(self.state);
            stop::stop(self.state)?;
            self.running.set(false);
        }
        Ok(())
    }
}

impl Drop for ContainerCluster<'_> {
    fn drop(&mut self) {
        let _ = stop::remove_containers(self.state, true);
    }
}

/// The container cluster with `setup`, behind its TLS front (`tls`, named
/// `<name>-tls`) or on plain HTTP, started `starts` times (stopped between).
fn start_container<'a>(
    root: &'a Path,
    state: &'a StateDir,
    b: &ClusterBench,
    setup: Setup,
    tls: bool,
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
    req.plain_http = !tls;
    if tls {
        req.name = format!("{}-tls", req.name);
    } else {
        // Names for a certificate that plain HTTP does not have.
        req.tls_names.clear();
    }
    let mut c = ContainerCluster {
        root,
        state,
        req,
        client: ClientSetup::default(),
        ready: Vec::new(),
        running: Cell::new(false),
        cost: Default::default(),
        _tmpfs_cache: tmpfs_cache,
    };
    for i in 0..starts {
        if i > 0 {
            stop::stop(state)?;
        }
        c.ready.push(start::start(root, state, &c.req)?.ready_after);
        c.running.set(true);
    }
    anyhow::ensure!(
        state.record()?.tls.is_on() == tls,
        "the cluster's TLS is not as asked"
    );
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

#[cfg(test)]
mod tests {
    use super::round_order;

    #[test]
    fn the_container_ways_trade_places_every_other_round() {
        let turns = [false, false, false, true, true];
        assert_eq!(round_order(&turns, 1), [0, 1, 2, 3, 4]);
        assert_eq!(round_order(&turns, 2), [0, 1, 2, 4, 3]);
        assert_eq!(round_order(&turns, 3), [0, 1, 2, 3, 4]);
        // One container way (--plain-http): nothing to trade.
        assert_eq!(round_order(&[false, true], 2), [0, 1]);
    }
}
