//! `kube`: render Kubernetes manifests for a cluster into a directory.

use std::path::PathBuf;

use super::flags::Target;
use super::Env;
use crate::cluster::kube::{self, Builders, KubeRequest};

/// Render Kubernetes manifests (Namespace, Secrets, scheduler Deployment and
/// Service, build servers) into a directory; `kubectl apply -f DIR` applies them.
#[derive(clap::Args)]
pub struct Kube {
    /// The distro whose image the cluster runs.
    distro: String,
    /// Build servers: a StatefulSet with N replicas.
    #[arg(long, value_name = "N", required_unless_present = "per_node")]
    builders: Option<u32>,
    /// One build server per node (a DaemonSet) instead of --builders N.
    #[arg(long, conflicts_with = "builders")]
    per_node: bool,
    /// Where the manifests go [default: kube/<namespace> in the state directory,
    /// outside the tree: the Secrets hold tokens].
    #[arg(long, short, value_name = "DIR")]
    output: Option<PathBuf>,
    /// The image reference the cluster pulls [default: REPO:DISTRO].
    #[arg(long, value_name = "REF")]
    image: Option<String>,
    /// The namespace every object goes in (the manifests create it).
    #[arg(long, value_name = "NS", default_value = "sccache-dist")]
    namespace: String,
    /// Plain HTTP to the scheduler, without its TLS front: tokens cross the
    /// network in clear. Only for a network where every host is trusted.
    #[arg(long)]
    plain_http: bool,
    /// The repository of the default --image, and the runtime profile.
    #[command(flatten)]
    target: Target,
}

impl Kube {
    /// Renders and writes the manifests; prints their paths, never a secret.
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let req = KubeRequest {
            builders: match self.builders {
                Some(n) => Builders::Replicas(n),
                None => Builders::PerNode,
            },
            image: self
                .image
                .unwrap_or_else(|| format!("{}:{}", self.target.repo, self.distro)),
            output: self
                .output
                .unwrap_or_else(|| env.state.path().join("kube").join(&self.namespace)),
            ca_dir: env.state.path().join("kube-tls").join(&self.namespace),
            plain_http: self.plain_http,
            distro: self.distro,
            namespace: self.namespace,
            profile: self.target.profile,
        };
        let out = kube::render_to(&env.root, &req)?;
        if let Some(note) = &out.note {
            eprintln!("note: {note}");
        }
        for f in &out.files {
            println!("{}", f.display());
        }
        println!(
            "apply with: kubectl apply -f {}  (the Secrets hold fresh tokens: files mode 0600)",
            req.output.display()
        );
        Ok(())
    }
}
