//! The cluster's commands: start, stop, status, logs, remove-container,
//! client-config and doctor.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use super::image::DEFAULT_REPO;
use super::Env;
use crate::cluster::start::{self, StartRequest, Started};
use crate::cluster::{doctor, lifecycle, scale, status};
use crate::profile::runtime::NetworkMode;
use crate::profile::DEFAULT_PROFILE;
use crate::sccache::client_config;

/// The default container name (it also names the volume and bridge network).
pub const DEFAULT_NAME: &str = "sccache-dist";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NetworkArg {
    Host,
    Bridge,
}

/// Where and how the cluster runs: shared by `start` and `up`.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterFlags {
    /// Keep the cache root in this host directory instead of a named volume.
    #[arg(long, value_name = "PATH")]
    pub cache_dir: Option<PathBuf>,
    /// Override the profile's network mode.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Host network: the IP clients and the scheduler reach the build server at
    /// [default: the host's address on its default route].
    #[arg(long, value_name = "IP")]
    pub advertise: Option<Ipv4Addr>,
    /// Container name (also names its volume and bridge network).
    #[arg(long, env = "SCCACHE_DOCKER_CONTAINER", default_value = DEFAULT_NAME)]
    pub name: String,
    /// Seconds to wait for the build servers to register.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Build servers, each in a container of its own beside a scheduler container
    /// [default: 1, in the scheduler's container]. On a running cluster: add or
    /// remove servers without restarting the scheduler.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=32))]
    pub builders: Option<u16>,
}

impl ClusterFlags {
    /// The typed request to start `distro` from `repo` with runtime profile `profile`.
    pub fn request(&self, distro: &str, repo: &str, profile: &str) -> StartRequest {
        StartRequest {
            distro: distro.to_owned(),
            profile: profile.to_owned(),
            cache_dir: self.cache_dir.clone(),
            network: self.network.map(|n| match n {
                NetworkArg::Host => NetworkMode::Host,
                NetworkArg::Bridge => NetworkMode::Bridge,
            }),
            advertise: self.advertise,
            name: self.name.clone(),
            repo: repo.to_owned(),
            timeout: Duration::from_secs(self.timeout),
            log_level: None,
            builders: self.builders.map(usize::from),
        }
    }
}

/// Prints what a successful start gives the user.
pub fn print_started(env: &Env, s: &Started) {
    println!(
        "ready in {:.2}s: {} build server(s), {} CPUs at {}",
        s.ready_after.as_secs_f64(),
        s.status.num_servers,
        s.status.num_cpus,
        s.cluster.scheduler_url()
    );
    println!(
        "client config: {} (`cargo xtask client-config` shows how to use it)",
        env.state.client_config_path().display()
    );
}

/// Start the cluster's containers and wait until its build servers have registered.
#[derive(clap::Args)]
pub struct Start {
    /// The distro whose image to run (build it first with `cargo xtask image`).
    distro: String,
    /// Image repository the image was built into.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
    repo: String,
    /// Runtime profile from profiles/.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    profile: String,
    #[command(flatten)]
    cluster: ClusterFlags,
}

impl Start {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let started = start::start(
            &env.root,
            &env.state,
            &self
                .cluster
                .request(&self.distro, &self.repo, &self.profile),
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
        lifecycle::stop(&env.state)
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
        lifecycle::logs(
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
        lifecycle::remove_containers(&env.state, self.purge)
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
pub struct Doctor {}

impl Doctor {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        doctor::run(&env.root, &env.state)
    }
}
