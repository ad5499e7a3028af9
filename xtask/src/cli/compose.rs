//! `compose`: write a Docker Compose project for the cluster instead of running it.

use std::path::PathBuf;

use super::flags::{ClusterFlags, Target};
use super::Env;
use crate::cluster::compose::{self, ComposeRequest};

/// Write a Docker Compose project (compose.yaml and its configs, secrets in files
/// mode 0600) for the cluster `start` would run; `docker compose up -d` runs it.
#[derive(clap::Args)]
pub struct Compose {
    /// The distro whose image the services run (build it with `cargo xtask image`).
    distro: String,
    /// The project directory to write (made mode 0700; an existing one keeps its
    /// secrets).
    #[arg(
        long,
        short,
        value_name = "DIR",
        default_value = "sccache-dist-compose"
    )]
    output: PathBuf,
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    cluster: ClusterFlags,
}

impl Compose {
    /// Writes the project and prints how to run it.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let cluster = self.cluster.request(&self.distro, &self.target);
        let req = ComposeRequest {
            ca_dir: env.state.path().join("compose-tls").join(&cluster.name),
            cluster,
            output: self.output,
        };
        let p = compose::write(&env.root, &req)?;
        let dir = p.dir.canonicalize().unwrap_or(p.dir);
        println!(
            "wrote {}/compose.yaml: services {}",
            dir.display(),
            p.services.join(", ")
        );
        println!(
            "  docker compose --project-directory {} up -d",
            dir.display()
        );
        println!("  export SCCACHE_CONF={}/client.conf", dir.display());
        if p.cluster.tls == crate::model::cluster::Tls::ClusterCa {
            println!(
                "  export SSL_CERT_FILE={}/ca-bundle.pem   # the system roots and the cluster's CA",
                dir.display()
            );
            println!(
                "the cluster's CA and its key (mode 0600) are kept in {}, not in the project; the project holds only what its services mount, and the client's files",
                req.ca_dir.join("tls").display()
            );
        }
        Ok(())
    }
}
