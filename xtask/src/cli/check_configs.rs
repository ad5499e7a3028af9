//! `check-configs`: the configs of a running cluster, of a directory, or of a
//! runtime profile rendered afresh.

use std::path::PathBuf;

use super::Env;
use crate::cluster::check_configs::{self as config_check, Origin};
use crate::lifecycle::records::Records;
use crate::profile::DEFAULT_PROFILE;

/// Check sccache-dist configs as sccache-dist reads them, and that they agree.
/// With a running cluster and no flag: the configs that cluster uses.
#[derive(clap::Args)]
pub struct CheckConfigs {
    /// Render this runtime profile from profiles/ (without .yaml) and check that.
    #[arg(long)]
    profile: Option<String>,
    /// Check the configs already rendered in DIR (scheduler.conf, server.conf,
    /// client.conf).
    #[arg(long, value_name = "DIR", conflicts_with = "profile")]
    config_dir: Option<PathBuf>,
}

impl CheckConfigs {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let origin = match (&self.profile, &self.config_dir) {
            (_, Some(dir)) => Origin::Dir(dir),
            (Some(p), None) => Origin::Profile(p),
            (None, None) if env.state.has_record() => {
                println!(
                    "checking the configs of the cluster started with {}",
                    env.state.path().display()
                );
                Origin::Dir(env.state.path())
            }
            (None, None) => Origin::Profile(DEFAULT_PROFILE),
        };
        config_check::run(&env.root, origin)
    }
}
