//! A cluster under disruption while clients compile: a build server killed, build
//! servers added and removed, the scheduler restarted. Every compile must still
//! succeed (a compile sccache cannot distribute runs locally and counts as a
//! distributed-compile error, a "fallback"), and the cluster must heal on its own.
//!
//! Each batch runs until its disruption is over and some compiles more have finished
//! after it, so the disruption always lands in the middle of the batch, however fast
//! or slow the machine is.

mod support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use support::{require_docker, Session, TestProfile};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-dist-e2e-resilience";

/// This test's runtime profile: the default one on its own ports and subnet, so
/// neither a cluster on the default ports nor another test's answers for it.
const PROFILE: TestProfile = TestProfile {
    name: "resilience-test",
    scheduler_port: 10790,
    server_port: SERVER_PORT,
    net: 252,
};
const SERVER_PORT: u16 = 10791;

/// Compiles that finish after a disruption before a batch stops.
const AFTER_DISRUPTION: usize = 12;

/// Host mode binds fixed ports: the cluster tests take turns.
static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Builds the image and starts a cluster of `builders` servers on the host network.
fn start(tag: &str, builders: usize) -> Session {
    support::build_debian_image(REPO);
    let c = Session::with_profile(&format!("rs-{tag}"), REPO, &PROFILE);
    c.start_on_host(&PROFILE, builders);
    c
}

/// Polls `status --json` until the scheduler counts `n` servers; returns the
/// status, or panics `deadline` after `since`.
fn wait_counted(c: &Session, n: u64, since: Instant, deadline: Duration) -> serde_json::Value {
    let what = format!("the scheduler counts {n} servers");
    let secs = deadline.saturating_sub(since.elapsed()).as_secs().max(1);
    c.wait_status(&what, secs, |s| s["scheduler"]["num_servers"] == n)
}

/// The address of build server `i` (from 1).
fn server_addr(i: usize) -> String {
    format!("127.0.0.1:{}", SERVER_PORT as usize + i - 1)
}

/// A batch in progress: compiles finished so far of all there are, and the signal
/// to stop starting more.
struct Progress {
    done: AtomicUsize,
    total: usize,
    stop: AtomicBool,
}

impl Progress {
    fn done(&self) -> usize {
        self.done.load(Ordering::SeqCst)
    }

    /// Polls until `n` compiles (or all there are) have finished, or panics after `secs`.
    fn wait_done(&self, n: usize, secs: u64) {
        let n = n.min(self.total);
        support::wait_for(&format!("{n} compiles to finish"), secs, || {
            self.done() >= n
        });
    }

    /// Polls until [`AFTER_DISRUPTION`] more compiles have finished.
    fn wait_some_more(&self) {
        self.wait_done(self.done() + AFTER_DISRUPTION, 120);
    }

    /// Polls until every compile has finished: a batch with no disruption.
    fn wait_all(&self) {
        self.wait_done(self.total, 120);
    }
}

/// What a batch did: compiles started, objects made, compile errors, and the
/// clients' distributed compiles per server and fallbacks.
struct BatchResult {
    started: usize,
    objects: usize,
    errors: Vec<String>,
    per_server: BTreeMap<String, u64>,
    fallbacks: u64,
    secs: f64,
}

impl BatchResult {
    fn distributed(&self) -> u64 {
        self.per_server.values().sum()
    }

    /// Every compile succeeded, made its object and was counted as distributed or
    /// as a fallback (never as a compile that did not try to distribute).
    fn assert_all_succeeded(&self) {
        assert!(self.errors.is_empty(), "compile errors: {:?}", self.errors);
        assert_eq!(
            self.objects, self.started,
            "objects of the compiles started"
        );
        assert_eq!(
            self.distributed() + self.fallbacks,
            self.started as u64,
            "distributed + fallbacks"
        );
    }

    fn print(&self, what: &str) {
        println!(
            "{what}: {} compiles in {:.1}s, {} objects, {} compile error(s), {} distributed {:?}, {} fallback(s) to local",
            self.started,
            self.secs,
            self.objects,
            self.errors.len(),
            self.distributed(),
            self.per_server,
            self.fallbacks
        );
    }
}

/// Compiles `files` sources through every client, `jobs` at a time each, while
/// `disrupt` runs beside them; stops starting compiles when `disrupt` returns (or
/// the sources run out), then collects what the clients did (stats zeroed first).
fn run_batch(
    clients: &[PrivateClient],
    jobs: usize,
    files: usize,
    disrupt: impl FnOnce(&Progress) + Send,
) -> BatchResult {
    let sources: Vec<Vec<PathBuf>> = clients
        .iter()
        .enumerate()
        .map(|(i, cl)| support::c_sources(cl.dir(), &format!("r{i}_"), files))
        .collect();
    for cl in clients {
        let zero = cl.cmd(["--zero-stats"]).stdout_null().stderr_null();
        zero.run().unwrap();
    }
    let progress = Progress {
        done: AtomicUsize::new(0),
        total: files * clients.len(),
        stop: AtomicBool::new(false),
    };
    let t = Instant::now();
    let (started, errors) = std::thread::scope(|s| {
        let workers: Vec<_> = clients
            .iter()
            .zip(&sources)
            .map(|(cl, src)| s.spawn(|| compile_until_stopped(cl, src, jobs, &progress)))
            .collect();
        // Stops the workers when `disrupt` returns or panics.
        let stop = StopOnDrop(&progress.stop);
        disrupt(&progress);
        drop(stop);
        let mut started = 0;
        let mut errors = Vec::new();
        for w in workers {
            let (n, e) = w.join().unwrap();
            started += n;
            errors.extend(e);
        }
        (started, errors)
    });
    let secs = t.elapsed().as_secs_f64();
    let objects = sources.iter().flatten();
    let objects = objects.filter(|s| s.with_extension("o").is_file()).count();
    let (per_server, fallbacks) = merged_stats(clients, true);
    BatchResult {
        started,
        objects,
        errors,
        per_server,
        fallbacks,
        secs,
    }
}

/// Sets its flag when dropped.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Compiles `sources` in order, `jobs` at a time, until they run out or `p.stop`;
/// returns how many compiles were started and the compile errors.
fn compile_until_stopped(
    client: &PrivateClient,
    sources: &[PathBuf],
    jobs: usize,
    p: &Progress,
) -> (usize, Vec<String>) {
    let next = AtomicUsize::new(0);
    let errors = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs {
            s.spawn(|| {
                while !p.stop.load(Ordering::SeqCst) {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some(src) = sources.get(i) else { break };
                    let obj = src.with_extension("o");
                    if let Err(e) = client.compile("cc", &["-O1"], src, &obj) {
                        errors.lock().unwrap().push(format!("{e:#}"));
                    }
                    p.done.fetch_add(1, Ordering::SeqCst);
                }
            });
        }
    });
    let started = next.load(Ordering::SeqCst).min(sources.len());
    (started, errors.into_inner().unwrap())
}

/// Every client's distributed compiles per server, summed, and the fallbacks
/// (distributed-compile errors), with the last warnings of a client that fell back.
fn merged_stats(clients: &[PrivateClient], report: bool) -> (BTreeMap<String, u64>, u64) {
    let mut per_server: BTreeMap<String, u64> = BTreeMap::new();
    let mut fallbacks = 0;
    for (i, cl) in clients.iter().enumerate() {
        let st = cl.stats().unwrap();
        fallbacks += st.failed;
        if report && st.failed > 0 {
            let log = cl.error_log();
            let lines: Vec<&str> = log.lines().filter(|l| l.contains("WARN")).collect();
            println!(
                "client {i} fell back {} time(s); its last warnings:\n{}",
                st.failed,
                lines[lines.len().saturating_sub(3)..].join("\n")
            );
        }
        for (k, v) in st.per_server {
            *per_server.entry(k).or_default() += v;
        }
    }
    (per_server, fallbacks)
}

/// Server 2 of three is killed (SIGKILL, like a crashed host) while two clients
/// compile: every compile succeeds, `status` reports it down at once, the
/// scheduler stops counting it within its 90 s heartbeat timeout, and the next
/// batch runs wholly on the two that live.
///
/// The restart policy (`unless-stopped`) is switched off first with `docker update
/// --restart=no`: the engine restarts a container whose process dies, and `docker
/// kill` then `docker stop` would race that restart. The kill stays a real SIGKILL.
#[test]
fn killed_builder_is_dropped_and_the_rest_serve() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let t0 = Instant::now();
    let c = start("kill", 3);
    let victim = format!("{}-server-2", c.name);
    let mut killed_at = None;
    // 2 clients x 2 jobs: 4 jobs within the 6 slots the two survivors have.
    let clients = c.clients(2);
    let batch = run_batch(&clients, 2, 300, |p| {
        p.wait_done(10, 120);
        support::docker(&["update", "--restart=no", &victim]);
        support::docker(&["kill", &victim]);
        killed_at = Some(Instant::now());
        p.wait_some_more();
    });
    batch.print("batch with server 2 killed");
    batch.assert_all_succeeded();
    let killed_at = killed_at.unwrap();
    let s = c.status();
    assert_eq!(s["builders"][1]["container"]["state"], "exited", "{s:#}");
    assert_eq!(s["builders"][1]["registration"], "down", "{s:#}");
    // The heartbeat timeout is 90 s from the last heartbeat or job update, which
    // came before the kill: the scheduler prunes it within 90 s of the kill.
    wait_counted(&c, 2, killed_at, Duration::from_secs(100));
    println!(
        "the scheduler counts 2 servers {:.1}s after the kill",
        killed_at.elapsed().as_secs_f64()
    );
    // The same clients, 2 x 2 jobs: within the 6 slots of the two that live.
    let after = run_batch(&clients, 2, 15, Progress::wait_all);
    after.print("batch after the scheduler dropped server 2");
    after.assert_all_succeeded();
    let live: Vec<String> = [1, 3].iter().map(|&i| server_addr(i)).collect();
    assert_eq!(after.per_server.keys().cloned().collect::<Vec<_>>(), live);
    assert_eq!((after.distributed(), after.fallbacks), (30, 0));
    println!("kill test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// A build server is added (`scale 3`) and then one removed (`scale 2`, which
/// drains the highest-numbered, the new one) while two clients compile: no
/// compile fails; what could not be distributed fell back to local. Measured: the
/// added builder serves within seconds; `sccache-dist` exits at once on the
/// SIGTERM of `docker stop`, so a job running on the removed one falls back, and so
/// does the first job the scheduler (which counts it for 90 s more) assigns to it.
#[test]
fn builders_added_and_removed_during_a_batch() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let t0 = Instant::now();
    let c = start("scale", 2);
    let clients = c.clients(2);
    let batch = run_batch(&clients, 2, 400, |p| {
        p.wait_done(10, 120);
        let t = Instant::now();
        c.ok(&["scale", "3"]);
        println!("scale 3 took {:.1}s", t.elapsed().as_secs_f64());
        p.wait_some_more();
        let third = server_addr(3);
        support::wait_for("the added builder to serve a job", 60, || {
            merged_stats(&clients, false).0.contains_key(&third)
        });
        let t = Instant::now();
        c.ok(&["scale", "2"]);
        println!("scale 2 took {:.1}s", t.elapsed().as_secs_f64());
        p.wait_some_more();
    });
    batch.print("batch with a builder added and one removed");
    batch.assert_all_succeeded();
    let s = c.status();
    assert_eq!(s["builders"].as_array().unwrap().len(), 2, "{s:#}");
    assert_eq!(s["expected_servers"], 2, "{s:#}");
    println!("scale test took {:.1}s", t0.elapsed().as_secs_f64());
}

/// The scheduler is restarted (`docker restart`) while a client compiles: every
/// compile succeeds; the build servers register with the new scheduler on their
/// own, at their next heartbeat (every 30 s, or 10 s after a failed one); `status`
/// says when the scheduler started and how long after that all had registered;
/// a batch after that runs wholly remote.
#[test]
fn scheduler_restart_and_builders_register_again() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let t0 = Instant::now();
    let c = start("restart", 2);
    let before = c.status()["scheduler_started_at"].clone();
    let scheduler = format!("{}-scheduler", c.name);
    let mut registered_after = None;
    let clients = c.clients(1);
    // Compiles that fall back while the scheduler is away are quick: enough
    // sources to keep compiling until the builders have registered again.
    let batch = run_batch(&clients, 2, 1500, |p| {
        p.wait_done(10, 120);
        let t = Instant::now();
        support::docker(&["restart", &scheduler]);
        let restarted = t.elapsed();
        wait_counted(&c, 2, t, Duration::from_secs(60));
        registered_after = Some((restarted, t.elapsed()));
        p.wait_some_more();
    });
    batch.print("batch with the scheduler restarted");
    batch.assert_all_succeeded();
    let (restarted, registered) = registered_after.unwrap();
    println!(
        "docker restart took {:.1}s; both builders registered {:.1}s after it began",
        restarted.as_secs_f64(),
        registered.as_secs_f64()
    );
    let s = c.status();
    assert_ne!(s["scheduler_started_at"], before, "{s:#}");
    let secs = s["all_registered_after_secs"]
        .as_f64()
        .expect("all registered");
    assert!((0.0..60.0).contains(&secs), "{s:#}");
    let text = c.ok(&["status"]);
    assert!(text.contains("all 2 builders registered"), "{text}");
    let sched_lines = text.lines().skip_while(|l| !l.starts_with("scheduler"));
    println!("{}", sched_lines.take(2).collect::<Vec<_>>().join("\n"));
    println!("status: all registered {secs:.1}s after the scheduler started");
    // The same client daemon distributes again, with no action on its side.
    let after = run_batch(&clients, 2, 8, Progress::wait_all);
    after.print("batch after the restart");
    after.assert_all_succeeded();
    assert_eq!((after.distributed(), after.fallbacks), (8, 0));
    println!("restart test took {:.1}s", t0.elapsed().as_secs_f64());
}
