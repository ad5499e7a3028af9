//! `up`: from nothing to a cluster that has compiled remotely, in one command.

use super::flags::{BuildFlags, ClusterFlags, Target};
use super::output::print_started;
use super::Env;
use crate::cluster::{start, stop};
use crate::doctor;
use crate::image::build;
use crate::image::request::Selection;
use crate::lifecycle::container;
use crate::lifecycle::records::Records;

/// The distro `up` runs unless told: the one that builds without a registry
/// (`install: local`).
const DEFAULT_DISTRO: &str = "debian";

#[derive(clap::Args)]
pub struct Up {
    /// The distro to run [default: debian].
    distro: Option<String>,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    build: BuildFlags,
    #[command(flatten)]
    cluster: ClusterFlags,
}

fn step(n: u32, what: &str) {
    println!("\n[{n}/4] {what}");
}

impl Up {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let distro = self
            .distro
            .clone()
            .unwrap_or_else(|| DEFAULT_DISTRO.to_owned());
        let request = self.cluster.request(&distro, &self.target);
        // Certificates and flags are checked before anything is built or replaced.
        start::checked(&env.root, &env.state, &request)?;
        step(1, &format!("image {distro}"));
        let mut req =
            self.build
                .request(Selection::Named(vec![distro.clone()]), false, &self.target);
        // `start` needs the image here: a registry's copy is pulled, not just found.
        req.pull = crate::docker::registry::registry_host(&self.target.repo).is_some();
        build::run(&env.root, &env.state, &req)?;
        step(2, "start the scheduler and the build server");
        self.replace_running(env)?;
        let started = start::start(&env.root, &env.state, &request)?;
        print_started(env, &started);
        step(3, "a real compile through the cluster");
        // The shell's trust is set up by the lines of step 4: a warning here.
        doctor::run_with(&env.root, &env.state, doctor::ShellTrust::Warns, None)?;
        step(4, "use it from a client");
        println!(
            "  export SCCACHE_CONF={}",
            env.state.client_config_path().display()
        );
        if started.cluster.tls.is_on() {
            println!(
                "  export SSL_CERT_FILE={}   # the system roots and the cluster's CA",
                env.state
                    .path()
                    .join(crate::lifecycle::tls::CLIENT_BUNDLE)
                    .display()
            );
        }
        println!("  export RUSTC_WRAPPER=sccache CARGO_INCREMENTAL=0   # or CC=\"sccache cc\" CXX=\"sccache c++\"");
        println!(
            "  (another client machine needs these files; `cargo xtask client-config` says more)"
        );
        Ok(())
    }

    /// A cluster already up under this state is stopped and removed first (its
    /// cache volume is kept), so `up` after a change runs the new image.
    fn replace_running(&self, env: &Env) -> anyhow::Result<()> {
        if !env.state.has_record() {
            return Ok(());
        }
        let c = env.state.record()?;
        let mut any = false;
        for name in c.containers() {
            any |= container::state(name)?.is_some();
        }
        if any {
            println!(
                "replacing the cluster started before ({})",
                c.containers().join(", ")
            );
            stop::remove_containers(&env.state, false)?;
        }
        Ok(())
    }
}
