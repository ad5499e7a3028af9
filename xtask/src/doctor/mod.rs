//! `cargo xtask doctor`: checks the engine, the containers, the scheduler, then a
//! real compile through a private client, and names the cause of the usual failures.
//! Each check stops the chain when what follows it cannot work.

use std::path::Path;

use crate::cluster::client_config;
use crate::docker;
use crate::lifecycle::container;
use crate::lifecycle::diagnose::{self, log_tail_with_advice, REFUSED_ADVICE};
use crate::lifecycle::records::Records;
use crate::lifecycle::tls;
use crate::lifecycle::versions as lifecycle_versions;
use crate::model::cluster::Tls;
use crate::model::Cluster;
use crate::sccache::causes::{FULL_ADVICE, TIMED_OUT_ADVICE};
use crate::sccache::client::PrivateClient;
use crate::sccache::versions::{skew_warning, Version};
use crate::store::StateDir;

mod builders;
mod certs;
mod user_daemon;

/// The checks' findings, printed as they come.
pub(crate) struct Report {
    failed: bool,
}

impl Report {
    pub(crate) fn ok(&self, what: &str, detail: impl std::fmt::Display) -> bool {
        println!("ok    {what}: {detail}");
        true
    }
    pub(crate) fn warn(&self, what: &str, detail: impl std::fmt::Display) {
        println!("warn  {what}: {detail}");
    }
    pub(crate) fn fail(&mut self, what: &str, detail: impl std::fmt::Display) -> bool {
        self.failed = true;
        println!("FAIL  {what}: {detail}");
        false
    }
}

/// How doctor judges a shell whose clients would not trust the scheduler.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShellTrust {
    /// `doctor`: a trust that fails (UnknownIssuer, BadSignature) is a failure.
    Fails,
    /// `up`, which prints the `SSL_CERT_FILE` line next: a warning.
    Warns,
}

/// Runs every check; fails when one did.
pub fn run(root: &Path, state: &StateDir) -> anyhow::Result<()> {
    run_with(root, state, ShellTrust::Fails, None)
}

/// [`run`], the shell's trust judged as `shell` says, the test compile with
/// `client_conf` (a client's own config) when given, else the state's.
pub fn run_with(
    root: &Path,
    state: &StateDir,
    shell: ShellTrust,
    client_conf: Option<&Path>,
) -> anyhow::Result<()> {
    let mut rep = Report { failed: false };
    if let Err(e) = checks(root, state, shell, client_conf, &mut rep) {
        rep.fail("doctor", format!("{e:#}"));
    }
    if rep.failed {
        anyhow::bail!("doctor found problems (see above)");
    }
    println!("all checks passed");
    Ok(())
}

fn checks(
    root: &Path,
    state: &StateDir,
    shell: ShellTrust,
    client_conf: Option<&Path>,
    rep: &mut Report,
) -> anyhow::Result<()> {
    if !engine(rep) {
        return Ok(());
    }
    let c = state.record()?;
    for name in c.containers() {
        if !container_running(&c, name, rep)? {
            return Ok(());
        }
    }
    versions(&c, rep);
    if c.tls.is_on() && !certs::check_leaf(state, &c, rep)? {
        return Ok(());
    }
    if !scheduler(state, &c, rep) {
        return Ok(());
    }
    builders::check(&c, rep);
    let conf = match client_conf {
        Some(p) => std::fs::read_to_string(p)
            .map_err(|e| anyhow::anyhow!("cannot read the client config {}: {e}", p.display()))?,
        None => client_config::render(root, state)?,
    };
    // The cluster's own CA comes with a bundle; a certificate of the user's own is
    // trusted as the user's shell trusts it.
    let bundle = (c.tls == Tls::ClusterCa).then(|| state.path().join(tls::CLIENT_BUNDLE));
    let trust = match c.tls {
        Tls::Own => std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from),
        _ => bundle.clone(),
    };
    let client = PrivateClient::new(&conf)?.with_cert_file(trust);
    client.start()?;
    dist_status(&client, &c, rep);
    test_compile(&client, &c, rep)?;
    if let Some(b) = &bundle {
        certs::check_shell_trust(&conf, b, shell == ShellTrust::Fails, rep)?;
    }
    user_daemon::check(&c, rep);
    Ok(())
}

/// The client on PATH against every server the cluster runs: a pair known not to
/// work is named before the test compile shows it.
fn versions(c: &Cluster, rep: &mut Report) {
    let client = match lifecycle_versions::client_version() {
        Ok(v) => v,
        Err(e) => {
            rep.fail("versions", format!("{e:#}"));
            return;
        }
    };
    let mut servers: Vec<Version> = c
        .containers()
        .into_iter()
        .filter_map(lifecycle_versions::container_version)
        .collect();
    servers.sort();
    servers.dedup();
    let shown: Vec<String> = servers.iter().map(|v| v.to_string()).collect();
    match servers
        .first()
        .and_then(|oldest| skew_warning(client, *oldest))
    {
        Some(w) => rep.fail("versions", w),
        None => rep.ok(
            "versions",
            format!(
                "client sccache {client}, servers sccache-dist {}",
                shown.join(", ")
            ),
        ),
    };
}

fn engine(rep: &mut Report) -> bool {
    match docker::engine() {
        Ok(e) => rep.ok(
            "engine",
            format!("{} reachable (BuildKit: {})", e.kind.name(), e.buildkit),
        ),
        Err(e) => rep.fail("engine", format!("{e:#}")),
    }
}

fn container_running(c: &Cluster, name: &str, rep: &mut Report) -> anyhow::Result<bool> {
    Ok(match container::state(name)? {
        None => rep.fail(
            "container",
            format!("no container {name} (`cargo xtask start {}`)", c.distro),
        ),
        Some(s) if s.status != "running" => rep.fail(
            "container",
            format!("{name} is {}; {}", s.status, log_tail_with_advice(name)),
        ),
        // A refused heartbeat leaves the container running and healthy-looking.
        Some(_)
            if container::log(name, 200).contains("invalid_bearer_token_mismatched_address") =>
        {
            rep.fail(
                "container",
                format!(
                    "{name}: the scheduler refuses its heartbeats; {}",
                    log_tail_with_advice(name)
                ),
            )
        }
        Some(s) => rep.ok(
            "container",
            format!(
                "{name} running, health {}, {} restart(s)",
                s.health, s.restarts
            ),
        ),
    })
}

fn scheduler(state: &StateDir, c: &Cluster, rep: &mut Report) -> bool {
    let want = c.servers.len() as u64;
    match tls::scheduler_status(state, c) {
        Ok(s) if s.num_servers >= want => rep.ok(
            "scheduler",
            format!(
                "{}: {} server(s), {} CPUs",
                c.scheduler_url(),
                s.num_servers,
                s.num_cpus
            ),
        ),
        Ok(s) => rep.fail(
            "scheduler",
            format!(
                "{} of {want} build server(s) registered; {}",
                s.num_servers,
                log_tail_with_advice(&c.scheduler.container)
            ),
        ),
        Err(e) => {
            let text = format!("{e:#}");
            let known = diagnose::diagnose(&text);
            let why = if known.is_empty() {
                REFUSED_ADVICE.to_owned()
            } else {
                known.join("\n")
            };
            rep.fail(
                "scheduler",
                format!("{} does not answer ({text}); {why}", c.scheduler_url()),
            )
        }
    }
}

fn dist_status(client: &PrivateClient, c: &Cluster, rep: &mut Report) {
    match client.dist_status() {
        Ok(s) if s.contains("SchedulerStatus") => rep.ok("sccache --dist-status", &s),
        Ok(s) => rep.fail(
            "sccache --dist-status",
            format!("{s}\n{}", advice(client, c, "")),
        ),
        Err(e) => rep.fail("sccache --dist-status", format!("{e:#}")),
    };
}

/// A file no cache has seen, compiled through the client: it must run remotely.
fn test_compile(client: &PrivateClient, c: &Cluster, rep: &mut Report) -> anyhow::Result<()> {
    let src = client.dir().join("doctor.c");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    std::fs::write(
        &src,
        format!("int doctor_{nonce}(int x) {{ return x * 2; }}\n"),
    )?;
    if let Err(e) = client.compile("cc", &[], &src, &client.dir().join("doctor.o")) {
        let text = format!("{e:#}");
        rep.fail(
            "test compile",
            format!("{text}\n{}", advice(client, c, &text)),
        );
        return Ok(());
    }
    let stats = client.stats()?;
    if stats.distributed() >= 1 {
        let servers: Vec<_> = stats.per_server.keys().cloned().collect();
        rep.ok(
            "test compile",
            format!("ran remotely on {}", servers.join(", ")),
        );
    } else {
        let why = format!(
            "compiled locally, not on the cluster ({} distributed compile(s) failed)\n{}",
            stats.failed,
            advice(client, c, "")
        );
        rep.fail("test compile", why);
    }
    Ok(())
}

/// Known causes from `seen` (what the compile printed), the client's and the
/// containers' logs.
fn advice(client: &PrivateClient, c: &Cluster, seen: &str) -> String {
    let mut logs = format!("{seen}\n{}", client.error_log());
    for name in c.containers() {
        logs.push('\n');
        logs.push_str(&container::log(name, 200));
    }
    let mut causes: Vec<String> = diagnose::diagnose_on_engine(&logs);
    // Slots held by jobs no client could start are not a capacity problem.
    let unreached = builders::unreached(c);
    if !unreached.is_empty() {
        causes.retain(|a| a != FULL_ADVICE);
        causes.splice(0..0, builders::advice(&unreached));
    }
    if causes.iter().any(|a| a == TIMED_OUT_ADVICE) {
        if let Some(addr) = builders::timed_out_address(&client.error_log()) {
            causes.push(format!("this client's connection timed out on {addr}"));
        }
    }
    if causes.is_empty() {
        let client_log = client.error_log();
        let tail: Vec<&str> = client_log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        format!(
            "no known cause found in the logs (`cargo xtask logs` shows the cluster's); the client's log ends:\n{}",
            if tail.is_empty() { "(empty)".into() } else { tail.join("\n") }
        )
    } else {
        causes.join("\n")
    }
}
