//! Benchmarks that print their figures.
use std::path::Path;

use crate::state::StateDir;

#[derive(clap::Subcommand, Clone, Debug)]
pub enum BenchCommand {}

pub fn run(_root: &Path, _state: &StateDir, cmd: BenchCommand) -> anyhow::Result<()> {
    match cmd {}
}
