//! `verify-repro`.

use std::path::PathBuf;

use super::image::{BuilderArg, DEFAULT_REPO};
use super::Env;
use crate::image::build::{ImageRequest, Selection};
use crate::image::repro;
use crate::profile::DEFAULT_PROFILE;

/// Build one distro's image twice from scratch (no cache) and check that both
/// builds are the same: prints the reproducible digest (exit 0), or every path
/// that differs and how (exit 1).
#[derive(clap::Args)]
pub struct VerifyRepro {
    /// The distro to build: the name of a file in distros/ (without .yaml).
    distro: String,
    /// Build on this base image instead of the profile's (a mirror, a local image).
    #[arg(long, value_name = "REF")]
    base_image: Option<String>,
    /// Target platform, always passed to docker.
    #[arg(long, default_value_t = crate::docker::host_platform())]
    platform: String,
    /// For `install: local`: the host's sccache-dist binary [default: the one on PATH].
    #[arg(long, value_name = "PATH", env = "SCCACHE_DIST_BIN")]
    sccache_dist: Option<PathBuf>,
    /// Which builder to use; BuildKit >= 0.13 compares manifest digests, the
    /// legacy builder file trees.
    #[arg(long, value_enum, default_value = "auto")]
    builder: BuilderArg,
    /// Repository of the temporary tags a file-tree comparison loads (removed after).
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
    repo: String,
    /// Runtime profile whose ports and cache root the image is built for.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    profile: String,
    /// Print the two docker build commands without running them.
    #[arg(long)]
    dry_run: bool,
}

impl VerifyRepro {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let req = ImageRequest {
            distros: Selection::Named(vec![self.distro]),
            force: true,
            dry_run: self.dry_run,
            base_image: self.base_image,
            platform: self.platform,
            repo: self.repo,
            profile: self.profile,
            sccache_dist: self.sccache_dist,
            builder: self.builder.into(),
            // Reproducibility is about two local builds: no registry takes part.
            push: false,
            pull: false,
        };
        repro::run(&env.root, &req).map(drop)
    }
}
