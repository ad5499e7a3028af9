//! `bench image` and `bench cluster`.

use super::cluster::ClusterFlags;
use super::image::{BuildFlags, DEFAULT_REPO};
use super::Env;
use crate::bench;
use crate::image::build::Selection;
use crate::profile::DEFAULT_PROFILE;

#[derive(clap::Subcommand)]
pub enum Bench {
    /// No-op `image` runs against fully cached `docker build` runs of the same
    /// context, and the runtime image's size against its base image's.
    Image {
        /// The distro to build.
        distro: String,
        /// Image repository.
        #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
        repo: String,
        /// Runtime profile.
        #[arg(long, default_value = DEFAULT_PROFILE)]
        profile: String,
        #[command(flatten)]
        build: BuildFlags,
        /// Runs of each kind.
        #[arg(long, default_value_t = 10)]
        runs: usize,
    },
    /// `start` → ready time, and a batch of C compiles through the cluster against
    /// the same batch compiled locally.
    Cluster {
        /// The distro whose (already built) image to run.
        distro: String,
        /// Image repository.
        #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
        repo: String,
        /// Runtime profile.
        #[arg(long, default_value = DEFAULT_PROFILE)]
        profile: String,
        #[command(flatten)]
        cluster: ClusterFlags,
        /// Start → ready measurements.
        #[arg(long, default_value_t = 3)]
        starts: usize,
        /// C files in the batch.
        #[arg(long, default_value_t = 200)]
        compiles: usize,
        /// Compiles at once, locally and through the cluster [default: as many as the
        /// scheduler gives one server of this machine's CPUs: cores + 1 + cores/8].
        #[arg(long)]
        jobs: Option<usize>,
    },
}

impl Bench {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        match self {
            Bench::Image {
                distro,
                repo,
                profile,
                build,
                runs,
            } => {
                let req = build.request(
                    Selection::Named(vec![distro.clone()]),
                    false,
                    &repo,
                    &profile,
                );
                let mut args = vec![
                    "image".to_owned(),
                    distro,
                    "--repo".into(),
                    repo,
                    "--profile".into(),
                    profile,
                ];
                args.extend(build.to_args());
                bench::image::run(&env.root, &env.state, &req, &args, runs)
            }
            Bench::Cluster {
                distro,
                repo,
                profile,
                cluster,
                starts,
                compiles,
                jobs,
            } => {
                let cores = std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2);
                let b = bench::cluster::ClusterBench {
                    start: cluster.request(&distro, &repo, &profile),
                    starts,
                    compiles,
                    jobs: jobs.unwrap_or_else(|| bench::cluster::scheduler_jobs_per_server(cores)),
                };
                bench::cluster::run(&env.root, &b)
            }
        }
    }
}
