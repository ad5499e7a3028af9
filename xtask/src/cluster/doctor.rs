//! `cargo xtask doctor`: checks the engine, the container, the scheduler, then a real
//! compile through a private client, and names the cause of the usual failures.

use std::path::Path;

use super::container;
use super::diagnose::{self, log_tail_with_advice, REFUSED_ADVICE};
use crate::docker;
use crate::sccache::client::PrivateClient;
use crate::sccache::{client_config, scheduler_status};
use crate::state::StateDir;

struct Report {
    failed: bool,
}

impl Report {
    fn ok(&self, what: &str, detail: impl std::fmt::Display) {
        println!("ok    {what}: {detail}");
    }
    fn fail(&mut self, what: &str, detail: impl std::fmt::Display) {
        self.failed = true;
        println!("FAIL  {what}: {detail}");
    }
}

pub fn run(root: &Path, state: &StateDir) -> anyhow::Result<()> {
    let mut rep = Report { failed: false };
    let result = checks(root, state, &mut rep);
    if let Err(e) = &result {
        rep.fail("doctor", format!("{e:#}"));
    }
    if rep.failed {
        anyhow::bail!("doctor found problems (see above)");
    }
    println!("all checks passed");
    Ok(())
}

fn checks(root: &Path, state: &StateDir, rep: &mut Report) -> anyhow::Result<()> {
    match docker::engine() {
        Ok(e) => rep.ok("engine", format!("reachable (BuildKit: {})", e.buildkit)),
        Err(e) => {
            rep.fail("engine", format!("{e:#}"));
            return Ok(());
        }
    }
    let r = state.record()?;
    match container::state(&r.scheduler.container)? {
        None => {
            rep.fail(
                "container",
                format!(
                    "no container {} (`cargo xtask start {}`)",
                    r.scheduler.container, r.distro
                ),
            );
            return Ok(());
        }
        Some(c) if c.status != "running" => {
            rep.fail(
                "container",
                format!(
                    "{} is {}; {}",
                    r.scheduler.container,
                    c.status,
                    log_tail_with_advice(&r.scheduler.container)
                ),
            );
            return Ok(());
        }
        Some(c) => rep.ok(
            "container",
            format!(
                "{} running, health {}, {} restart(s)",
                r.scheduler.container, c.health, c.restarts
            ),
        ),
    }
    check_builders(&r, rep)?;
    let addr = r.scheduler_addr();
    match scheduler_status::fetch(addr) {
        Ok(s) if s.num_servers > 0 => rep.ok(
            "scheduler",
            format!(
                "{}: {} server(s), {} CPUs",
                r.scheduler_url(),
                s.num_servers,
                s.num_cpus
            ),
        ),
        Ok(_) => {
            rep.fail(
                "scheduler",
                format!(
                    "no build server registered; {}",
                    log_tail_with_advice(&r.scheduler.container)
                ),
            );
            return Ok(());
        }
        Err(e) => {
            rep.fail(
                "scheduler",
                format!(
                    "{} does not answer ({e:#}); {}",
                    r.scheduler_url(),
                    REFUSED_ADVICE
                ),
            );
            return Ok(());
        }
    }

    let client = PrivateClient::new(&client_config::render(root, state)?)?;
    client.start()?;
    match client.dist_status() {
        Ok(s) if s.contains("SchedulerStatus") => rep.ok("sccache --dist-status", &s),
        Ok(s) => rep.fail(
            "sccache --dist-status",
            format!("{s}\n{}", advice(&client, &r.scheduler.container)),
        ),
        Err(e) => rep.fail("sccache --dist-status", format!("{e:#}")),
    }

    let src = client.dir().join("doctor.c");
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    std::fs::write(
        &src,
        format!("int doctor_{nonce}(int x) {{ return x * 2; }}\n"),
    )?;
    if let Err(e) = client.compile("cc", &[], &src, &client.dir().join("doctor.o")) {
        rep.fail("test compile", format!("{e:#}"));
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
        rep.fail(
            "test compile",
            format!(
                "compiled locally, not on the cluster ({} distributed compile(s) failed)\n{}",
                stats.failed,
                advice(&client, &r.scheduler.container)
            ),
        );
    }
    Ok(())
}

/// Each build server with a container of its own: running, and not refused.
fn check_builders(r: &super::Cluster, rep: &mut Report) -> anyhow::Result<()> {
    for s in r.own_container_servers() {
        let what = format!("builder {}", s.name);
        match container::state(&s.container)? {
            Some(st) if st.status == "running" => {
                let log = container::log(&s.container, 200);
                if log.contains("invalid_bearer_token_mismatched_address") {
                    rep.fail(
                        &what,
                        format!(
                            "{} refused; {}",
                            s.public_addr(),
                            log_tail_with_advice(&s.container)
                        ),
                    );
                } else {
                    rep.ok(
                        &what,
                        format!("{} running, health {}", s.public_addr(), st.health),
                    );
                }
            }
            Some(st) => rep.fail(
                &what,
                format!(
                    "{} is {}; {}",
                    s.container,
                    st.status,
                    log_tail_with_advice(&s.container)
                ),
            ),
            None => rep.fail(
                &what,
                format!(
                    "no container {} (`cargo xtask scale` or `start` again)",
                    s.container
                ),
            ),
        }
    }
    Ok(())
}

/// Known causes from the client's and the container's logs.
fn advice(client: &PrivateClient, container: &str) -> String {
    let logs = format!("{}\n{}", client.error_log(), container::log(container, 200));
    let causes = diagnose::diagnose(&logs);
    if causes.is_empty() {
        "no known cause found in the logs: see `cargo xtask logs` and the client's SCCACHE_ERROR_LOG".into()
    } else {
        causes.join("\n")
    }
}
