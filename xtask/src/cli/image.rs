//! `image` and `remove-image`.

use super::flags::{BuildFlags, Target, DEFAULT_REPO};
use super::Env;
use crate::image::build;
use crate::image::remove;
use crate::image::request::Selection;

/// Build the image of one or more distros; skipped when nothing that goes into it
/// changed.
#[derive(clap::Args)]
pub struct Image {
    /// Distros to build: names of files in distros/ (without .yaml).
    #[arg(required_unless_present = "all")]
    distros: Vec<String>,
    /// Build every distro in distros/.
    #[arg(long, conflicts_with = "distros")]
    all: bool,
    /// Print the input hash and the docker commands without running any.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    target: Target,
    /// Push REPO:DISTRO-HASH12 and REPO:DISTRO to the registry of a registry
    /// repository (first path component a host with a dot or a port, or localhost).
    #[arg(long)]
    push: bool,
    /// When the registry already has the hash tag, pull it and tag it locally as
    /// REPO:DISTRO too (without it, the build is skipped and nothing is pulled).
    #[arg(long)]
    pull: bool,
    #[command(flatten)]
    build: BuildFlags,
}

impl Image {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let selection = if self.all {
            Selection::All
        } else {
            Selection::Named(self.distros)
        };
        let mut req = self.build.request(selection, self.dry_run, &self.target);
        req.push = self.push;
        req.pull = self.pull;
        build::run(&env.root, &env.state, &req).map(drop)
    }
}

/// Remove the images of one distro, or of all distros.
#[derive(clap::Args)]
pub struct RemoveImage {
    /// The distro whose images (every tag) to remove.
    #[arg(required_unless_present = "all")]
    distro: Option<String>,
    /// Remove the images of every distro.
    #[arg(long, conflicts_with = "distro")]
    all: bool,
    /// Image repository.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
    repo: String,
}

impl RemoveImage {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        remove::remove_images(&env.root, self.distro.as_deref(), &self.repo)
    }
}
