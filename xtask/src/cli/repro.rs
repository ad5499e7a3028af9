//! `verify-repro`.

use super::flags::{BuildFlags, Target};
use super::Env;
use crate::image::repro;
use crate::image::request::{ImageRequest, Selection};

/// Build one distro's image twice from scratch (no cache) and check that both
/// builds are the same: prints the reproducible digest (exit 0), or every path
/// that differs and how (exit 1). BuildKit >= 0.13 compares manifest digests, the
/// legacy builder file trees.
#[derive(clap::Args)]
pub struct VerifyRepro {
    /// The distro to build: the name of a file in distros/ (without .yaml).
    distro: String,
    #[command(flatten)]
    target: Target,
    /// Print the two docker build commands without running them.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    build: BuildFlags,
}

impl VerifyRepro {
    /// Builds twice and compares.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let selection = Selection::Named(vec![self.distro]);
        let req = ImageRequest {
            // Both builds run from scratch whatever exists already.
            force: true,
            ..self.build.request(selection, self.dry_run, &self.target)
        };
        repro::run(&env.root, &req).map(drop)
    }
}
