//! The cluster's commands: start, stop, status, logs, remove-container,
//! client-config and doctor.

use std::path::PathBuf;
use std::time::Duration;

use super::flags::{ClusterFlags, Target};
use super::output::print_started;
use super::Env;
use crate::cluster::{client_config, scale, start, stop};
use crate::{doctor, status};

/// Start the cluster's containers and wait until its build servers have registered.
/// On the running cluster: renew its TLS front's certificate in place when it
/// needs it, and scale it to --builders; its containers keep running.
#[derive(clap::Args)]
pub struct Start {
    /// The distro whose image to run (build it first with `cargo xtask image`).
    distro: String,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    cluster: ClusterFlags,
}

impl Start {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let started = start::start(
            &env.root,
            &env.state,
            &self.cluster.request(&self.distro, &self.target),
        )?;
        print_started(env, &started);
        Ok(())
    }
}

/// Stop the cluster's containers (with a grace period); nothing running is fine.
#[derive(clap::Args)]
pub struct Stop {}

impl Stop {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        stop::stop(&env.state)
    }
}

/// Change the number of build servers of the running cluster; the scheduler keeps
/// running, removed servers are drained with the stop grace period.
#[derive(clap::Args)]
pub struct Scale {
    /// How many build servers the cluster should have.
    #[arg(value_parser = clap::value_parser!(u16).range(1..=32))]
    builders: u16,
    /// Seconds to wait for new build servers to register.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
}

impl Scale {
    /// Scales the recorded cluster and prints what it has now.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let scaled = scale::scale(
            &env.root,
            &env.state,
            usize::from(self.builders),
            Duration::from_secs(self.timeout),
        )?;
        print_started(env, &scaled);
        Ok(())
    }
}

/// Show the containers, their health, the scheduler's figures and every build
/// server; fails when something is down or not registered.
#[derive(clap::Args)]
pub struct Status {
    /// Print the same as one JSON object, for scripts.
    #[arg(long)]
    json: bool,
}

impl Status {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        status::status(&env.state, self.json)
    }
}

/// The cluster live: each build server (slots used, jobs done, stale, median
/// compile time, last heartbeat), each client address (requests per second),
/// the totals and the scheduler's uptime, refreshed every second from the
/// metrics endpoint; `q` quits.
#[derive(clap::Args)]
pub struct Top {
    /// Print one frame and exit (for scripts; no terminal needed).
    #[arg(long)]
    once: bool,
}

impl Top {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        status::top(&env.state, self.once)
    }
}

/// Print the cluster's log.
#[derive(clap::Args)]
pub struct Logs {
    /// Keep printing as the log grows.
    #[arg(long, short)]
    follow: bool,
    /// Only the last N lines.
    #[arg(long, value_name = "N")]
    tail: Option<u32>,
    /// Only this container or build server (e.g. sccache-dist-server-2).
    #[arg(long, value_name = "NAME")]
    container: Option<String>,
}

impl Logs {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        stop::logs(
            &env.state,
            self.follow,
            self.tail,
            self.container.as_deref(),
        )
    }
}

/// Remove the cluster's containers; cache volumes are kept unless --purge.
#[derive(clap::Args)]
pub struct RemoveContainer {
    /// Also remove the cache volumes and the bridge network.
    #[arg(long)]
    purge: bool,
}

impl RemoveContainer {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        stop::remove_containers(&env.state, self.purge)
    }
}

/// Write an sccache client config for the running cluster.
#[derive(clap::Args)]
pub struct ClientConfig {
    /// Where to write it [default: client.conf in the state directory, which
    /// `start` keeps current].
    #[arg(long, short, value_name = "PATH")]
    output: Option<PathBuf>,
    /// Replace an existing file that differs.
    #[arg(long)]
    force: bool,
}

impl ClientConfig {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        client_config::write(&env.root, &env.state, self.output, self.force)
    }
}

/// Diagnose the engine, the containers, the scheduler and a real remote compile.
#[derive(clap::Args)]
pub struct Doctor {
    /// Check this client config (e.g. DIR/client.conf of `client add`) instead
    /// of the state directory's: its token, its scheduler URL.
    #[arg(long, value_name = "FILE")]
    client_conf: Option<std::path::PathBuf>,
}

impl Doctor {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        doctor::run_with(
            &env.root,
            &env.state,
            doctor::ShellTrust::Fails,
            self.client_conf.as_deref(),
        )
    }
}

/// The TLS front's certificate.
#[derive(clap::Subcommand)]
pub enum Tls {
    /// Re-issue the front's certificate of the running cluster when a name is
    /// missing or fewer than 30 days are left (or take up a certificate of one's
    /// own replaced on disk), and reload the front in place: the scheduler's
    /// container keeps running and no job is cut.
    Renew(TlsRenew),
}

/// `tls renew`.
#[derive(clap::Args)]
pub struct TlsRenew {}

impl Tls {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        match self {
            Tls::Renew(_) => crate::cluster::renew::renew_running(&env.state).map(drop),
        }
    }
}
