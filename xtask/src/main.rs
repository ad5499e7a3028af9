//! `cargo xtask`: renders, builds and runs sccache-dist (scheduler and build server
//! in one container) from the declarative profiles in `distros/` and `profiles/`.

use xtask::*;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Renders, builds and runs sccache-dist (scheduler + build server) in Docker.
#[derive(Parser)]
#[command(name = "cargo xtask", version, propagate_version = true)]
struct Cli {
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
    /// Render generated/<distro>/ for every distro profile (Dockerfile, entrypoint,
    /// example configs).
    Generate {
        /// Render in memory and fail if generated/ differs (stale, missing or extra files).
        #[arg(long)]
        check: bool,
    },
    /// Render a runtime profile's configs and check them as sccache-dist would.
    CheckConfigs {
        /// Runtime profile from profiles/ (without .yaml).
        #[arg(long, default_value = codegen::DEFAULT_PROFILE)]
        profile: String,
        /// Check the configs already rendered in DIR (scheduler.conf, server.conf,
        /// client.conf) instead, e.g. the state directory of a running cluster.
        #[arg(long, value_name = "DIR", conflicts_with = "profile")]
        config_dir: Option<PathBuf>,
    },
    /// Print a GitHub Actions matrix (JSON) with one entry per distro profile.
    Matrix,
    /// Build the image of one or more distros; skipped when nothing that goes into
    /// it changed.
    Image(build_docker_image::ImageArgs),
    /// Start the cluster container and wait until a build server has registered.
    Start(cluster::StartArgs),
    /// Stop the cluster container (with a grace period).
    Stop,
    /// Show the container, its health, the scheduler's figures and the addresses.
    Status,
    /// Print the container's log.
    Logs {
        /// Keep printing as the log grows.
        #[arg(long, short)]
        follow: bool,
        /// Only the last N lines.
        #[arg(long, value_name = "N")]
        tail: Option<u32>,
    },
    /// Remove the cluster container; its cache volume is kept unless --purge.
    RemoveContainer {
        /// Also remove the cache volume and the bridge network.
        #[arg(long)]
        purge: bool,
    },
    /// Remove the images of one distro, or of all distros.
    RemoveImage(cluster::RemoveImageArgs),
    /// Write an sccache client config for the running cluster.
    ClientConfig(client_config::ClientConfigArgs),
    /// Diagnose the engine, the container, the scheduler and a real remote compile.
    Doctor,
    /// Benchmarks printing their figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let root = cli.root.clone().unwrap_or_else(project::default_root);
    let state = state::StateDir::new(cli.state_dir.clone());
    let result = match cli.command {
        Command::Generate { check } => codegen::run(&root, check),
        Command::CheckConfigs {
            profile,
            config_dir,
        } => check_configs::run(&root, &profile, config_dir.as_deref()),
        Command::Matrix => matrix::run(&root),
        Command::Image(args) => build_docker_image::run(&root, &state, &args).map(|_| ()),
        Command::Start(args) => cluster::start(&root, &state, &args),
        Command::Stop => cluster::stop(&state),
        Command::Status => cluster::status(&state),
        Command::Logs { follow, tail } => cluster::logs(&state, follow, tail),
        Command::RemoveContainer { purge } => cluster::remove_container(&state, purge),
        Command::RemoveImage(args) => cluster::remove_image(&root, &args),
        Command::ClientConfig(args) => client_config::run(&root, &state, &args),
        Command::Doctor => doctor::run(&root, &state),
        Command::Bench(cmd) => bench::run(&root, &state, cmd),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
