//! `generate` and `matrix`: the committed files and the CI matrix.

use super::Env;
use crate::render::{generated, matrix};

/// Render generated/<distro>/ for every distro profile (Dockerfile, entrypoint,
/// example configs).
#[derive(clap::Args)]
pub struct Generate {
    /// Render in memory and fail if generated/ differs (stale, missing or extra files).
    #[arg(long)]
    check: bool,
}

impl Generate {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        generated::run(&env.root, self.check)
    }
}

/// Print a GitHub Actions matrix (JSON) with one entry per distro profile.
#[derive(clap::Args)]
pub struct Matrix {}

impl Matrix {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        println!("{}", matrix::matrix_json(&env.root)?);
        Ok(())
    }
}
