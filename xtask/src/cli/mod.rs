//! The command line: clap's flags and printing, nothing else. Each command's flags
//! struct owns its `run`, which turns the flags into a typed request for the domain
//! modules; `main` only dispatches.

mod bench;
mod check_configs;
mod clients;
mod cluster;
mod compose;
pub mod docs;
mod flags;
mod generate;
mod image;
mod join;
mod kube;
mod output;
mod repro;
mod up;

use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use crate::store::StateDir;

/// What every command is given: where the project and the state live.
pub struct Env {
    /// The project root: distros/, profiles/, Dockerfile.j2, generated/.
    pub root: PathBuf,
    /// The cluster's state directory (secrets, configs, the record).
    pub state: StateDir,
}

/// Renders, builds and runs sccache-dist (scheduler + build servers) in Docker.
#[derive(Parser)]
#[command(name = "cargo xtask", version, propagate_version = true)]
pub struct Cli {
    /// Project root holding distros/, profiles/, Dockerfile.j2 and generated/.
    #[arg(long, global = true, env = "SCCACHE_DOCKER_ROOT", value_name = "DIR")]
    root: Option<PathBuf>,
    /// Where the cluster's state lives: secrets, rendered configs, what runs
    /// [default: $XDG_STATE_HOME/sccache-docker or ~/.local/state/sccache-docker].
    #[arg(
        long,
        global = true,
        env = "SCCACHE_DOCKER_STATE_DIR",
        value_name = "DIR"
    )]
    state_dir: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Build the image if needed, start the cluster, prove a remote compile, and
    /// print the lines a client needs.
    Up(up::Up),
    Generate(generate::Generate),
    Docs(docs::Docs),
    CheckConfigs(check_configs::CheckConfigs),
    Matrix(generate::Matrix),
    Image(image::Image),
    VerifyRepro(repro::VerifyRepro),
    Start(cluster::Start),
    Stop(cluster::Stop),
    Scale(cluster::Scale),
    JoinBundle(join::JoinBundle),
    Join(join::Join),
    Revoke(join::Revoke),
    Compose(compose::Compose),
    Status(cluster::Status),
    Top(cluster::Top),
    Logs(cluster::Logs),
    RemoveContainer(cluster::RemoveContainer),
    RemoveImage(image::RemoveImage),
    ClientConfig(cluster::ClientConfig),
    /// One credential per client: add, list, revoke and rotate clients.
    #[command(subcommand)]
    Client(clients::Client),
    Doctor(cluster::Doctor),
    /// The TLS front's certificate: `tls renew` renews it in place.
    #[command(subcommand)]
    Tls(cluster::Tls),
    Kube(kube::Kube),
    /// Benchmarks printing their figures.
    #[command(subcommand)]
    Bench(bench::Bench),
}

/// The whole command line as clap defines it: what `--help` prints, what the
/// commands reference (docs/commands.md) is generated from.
pub fn command() -> clap::Command {
    Cli::command()
}

impl Cli {
    /// Runs the command the user gave.
    pub fn run(self) -> anyhow::Result<()> {
        let env = Env {
            root: self.root.unwrap_or_else(crate::base::project::default_root),
            state: StateDir::new(self.state_dir),
        };
        match self.command {
            Command::Up(c) => c.run(&env),
            Command::Generate(c) => c.run(&env),
            Command::Docs(c) => c.run(&env),
            Command::CheckConfigs(c) => c.run(&env),
            Command::Matrix(c) => c.run(&env),
            Command::Image(c) => c.run(&env),
            Command::VerifyRepro(c) => c.run(&env),
            Command::Start(c) => c.run(&env),
            Command::Stop(c) => c.run(&env),
            Command::Scale(c) => c.run(&env),
            Command::JoinBundle(c) => c.run(&env),
            Command::Join(c) => c.run(&env),
            Command::Revoke(c) => c.run(&env),
            Command::Compose(c) => c.run(&env),
            Command::Status(c) => c.run(&env),
            Command::Top(c) => c.run(&env),
            Command::Logs(c) => c.run(&env),
            Command::RemoveContainer(c) => c.run(&env),
            Command::RemoveImage(c) => c.run(&env),
            Command::ClientConfig(c) => c.run(&env),
            Command::Client(c) => c.run(&env),
            Command::Doctor(c) => c.run(&env),
            Command::Tls(c) => c.run(&env),
            Command::Kube(c) => c.run(&env),
            Command::Bench(c) => c.run(&env),
        }
    }
}
