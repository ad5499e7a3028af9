//! `bench image` and `bench cluster`.

use std::net::Ipv4Addr;

use super::flags::{BuildFlags, ClusterFlags, Target};
use super::Env;
use crate::bench;
use crate::image::request::Selection;
use crate::profile::runtime::{self, LogLevel, NetworkMode};

#[derive(clap::Subcommand)]
pub enum Bench {
    /// No-op `image` runs against fully cached `docker build` runs of the same
    /// context, and the runtime image's size against its base image's.
    Image {
        /// The distro to build.
        distro: String,
        #[command(flatten)]
        target: Target,
        #[command(flatten)]
        build: BuildFlags,
        /// Runs of each kind.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// `start` → ready time, and the same batch of C compiles side by side: local
    /// `cc`, distcc (distccd on 127.0.0.1), sccache-dist run natively on the host,
    /// and the container cluster (one build server) on plain HTTP and behind its
    /// TLS front (`--plain-http`: plain only); with `--builders N` the plain
    /// container cluster again, scaled to 2, ..., N build servers, with the same
    /// batch and `--jobs`.
    Cluster(ClusterArgs),
    /// The metrics exporter's log parser alone: synthetic scheduler log lines
    /// through it on one core, in lines per second.
    Parse {
        /// Lines to parse.
        #[arg(long, default_value_t = 1_000_000)]
        lines: usize,
    },
}

/// `bench cluster`'s arguments.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// The distro whose (already built) image to run.
    distro: String,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    cluster: ClusterFlags,
    /// Start → ready measurements.
    #[arg(long, default_value_t = 3)]
    starts: usize,
    /// C files in the batch.
    #[arg(long, default_value_t = 200)]
    compiles: usize,
    /// Compiles at once, locally and through the cluster, the same for every
    /// number of builders [default: as many as the scheduler gives one server of
    /// this machine's CPUs: cores + 1 + cores/8; raise it to N times that to fill
    /// N builders].
    #[arg(long)]
    jobs: Option<usize>,
    /// Rounds of every way, interleaved; each row shows the median round.
    #[arg(long, default_value_t = 1)]
    rounds: usize,
    /// SCCACHE_LOG of sccache-dist, native and in the container [default: the
    /// runtime profile's].
    #[arg(long, value_enum)]
    log_level: Option<LogLevelArg>,
    /// sccache-dist's cache root (toolchains and the overlay build dir) on tmpfs
    /// (/dev/shm) instead of a disk directory (native) or the volume (container).
    #[arg(long)]
    tmpfs: bool,
    /// Also measure each deployment control flipped, one at a time (log level
    /// info <-> warn, tmpfs on <-> off), native and in the container.
    #[arg(long)]
    controls: bool,
}

/// `SCCACHE_LOG` levels as the command line spells them.
#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum LogLevelArg {
    Error,
    Warn,
    Info,
    Debug,
    Trace,
}

impl From<LogLevelArg> for LogLevel {
    fn from(l: LogLevelArg) -> LogLevel {
        match l {
            LogLevelArg::Error => LogLevel::Error,
            LogLevelArg::Warn => LogLevel::Warn,
            LogLevelArg::Info => LogLevel::Info,
            LogLevelArg::Debug => LogLevel::Debug,
            LogLevelArg::Trace => LogLevel::Trace,
        }
    }
}

impl Bench {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        match self {
            Bench::Image {
                distro,
                target,
                build,
                runs,
            } => {
                let req = build.request(Selection::Named(vec![distro.clone()]), false, &target);
                let mut args = vec!["image".to_owned(), distro, "--repo".into(), target.repo];
                args.extend(["--profile".into(), target.profile]);
                args.extend(build.to_args());
                bench::image::run(&env.root, &env.state, &req, &args, runs)
            }
            Bench::Cluster(args) => args.run(env),
            Bench::Parse { lines } => bench::exporter::parse(lines),
        }
    }
}

impl ClusterArgs {
    fn run(self, env: &Env) -> anyhow::Result<()> {
        let cores = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2);
        let mut start = self.cluster.request(&self.distro, &self.target);
        // Its own container (and volume), beside any cluster of the user's.
        start.name = format!("{}-bench", start.name);
        // `--builders N`: the container way with 1..=N build servers, starting
        // with one (like the native way) and scaling up.
        let builders = start.builders.take().unwrap_or(1);
        let slots_per_server = bench::cluster::scheduler_jobs_per_server(cores);
        let rt = runtime::load_named(&env.root, &self.target.profile)?.settings;
        // On the host network, on loopback like the native run unless told.
        if start.network.unwrap_or(rt.network) == NetworkMode::Host {
            start.advertise.get_or_insert(Ipv4Addr::LOCALHOST);
        }
        let b = bench::cluster::ClusterBench {
            start,
            builders,
            slots_per_server,
            starts: self.starts,
            compiles: self.compiles,
            // One server's capacity by default, for every N: the ways above stay
            // within their one server; the report hints at `--jobs` for N builders.
            jobs: self.jobs.unwrap_or(slots_per_server),
            rounds: self.rounds,
            setup: bench::cluster::Setup {
                log_level: self.log_level.map_or(rt.log_level, LogLevel::from),
                tmpfs: self.tmpfs,
            },
            controls: self.controls,
        };
        bench::cluster::run(&env.root, &b)
    }
}
