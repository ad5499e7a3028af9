//! `kube`: the cluster model for Kubernetes, its secrets and configs, and the
//! manifests written into a directory (Secrets mode 0600). Nothing is applied:
//! `kubectl apply -f DIR` is the user's step.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::base::atomic;
use crate::lifecycle::tls as lifecycle_tls;
use crate::model::clients::{Clients, DEFAULT_CLIENT};
use crate::model::cluster::Tls;
use crate::model::{Cache, Cluster, Network, Scheduler, Server};
use crate::profile::runtime::{self, ServerAuth};
use crate::profile::{self, validate, RuntimeProfile};
use crate::render::kube::{self as manifests, KubeSpec, Manifest, Workload, POD_IP_PLACEHOLDER};
use crate::render::Templates;
use crate::sccache::{config_check, Configs, Secrets};
use crate::store::{MetricsFiles, StateDir};

/// The most StatefulSet replicas `--builders` takes (a guard against typos).
pub const MAX_BUILDERS: u32 = 1000;

/// How many build servers, and as what.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Builders {
    /// A StatefulSet with this many replicas.
    Replicas(u32),
    /// A DaemonSet: one per node.
    PerNode,
}

/// One `kube` request, as the command line hands it over.
#[derive(Debug, Clone)]
pub struct KubeRequest {
    /// The distro whose image runs (it must have a profile in distros/).
    pub distro: String,
    /// Runtime profile from profiles/.
    pub profile: String,
    /// How many build servers, and as what.
    pub builders: Builders,
    /// The image the cluster pulls: a registry reference it can reach.
    pub image: String,
    /// The namespace every object goes in: a DNS-1123 label.
    pub namespace: String,
    /// Where the manifests go.
    pub output: PathBuf,
    /// Plain HTTP to the scheduler instead of its TLS front (a trusted network only).
    pub plain_http: bool,
    /// Where the cluster's CA and its key are kept (mode 0700, outside the
    /// manifests: `kubectl apply` never sees the key).
    pub ca_dir: PathBuf,
}

/// What `render_to` wrote.
pub struct Rendered {
    /// The cluster model the manifests describe.
    pub cluster: Cluster,
    /// The files written, in apply order.
    pub files: Vec<PathBuf>,
    /// Why the profile's server auth was not used as is, if it was not.
    pub note: Option<String>,
}

/// A DNS-1123 label, as Kubernetes requires of a namespace name.
pub fn check_namespace(ns: &str) -> Result<(), String> {
    let ok = !ns.is_empty()
        && ns.len() <= 63
        && ns
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !ns.starts_with('-')
        && !ns.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(format!("{ns:?} is not a DNS-1123 label (a-z, 0-9 and -, at most 63, starting and ending with a letter or digit)"))
    }
}

/// Checks the request, renders every manifest with fresh secrets and writes them.
pub fn render_to(root: &Path, req: &KubeRequest) -> anyhow::Result<Rendered> {
    check_request(root, req)?;
    let (profile, note) = kube_profile(runtime::load_named(root, &req.profile)?)?;
    let mut cluster = model(&req.distro, &req.image, profile, req.builders);
    if !req.plain_http {
        cluster.tls = Tls::ClusterCa;
        cluster.tls_names = manifests::scheduler_names(&req.namespace);
    }
    let spec = KubeSpec {
        namespace: req.namespace.clone(),
        workload: match req.builders {
            Builders::Replicas(_) => Workload::StatefulSet,
            Builders::PerNode => Workload::DaemonSet,
        },
    };
    let (configs, metrics, clients) = configs(root, &cluster, &spec)?;
    let tls = match cluster.tls.is_on() {
        true => Some(lifecycle_tls::front_files(
            &StateDir::new(Some(req.ca_dir.clone())),
            &cluster,
        )?),
        false => None,
    };
    let rendered = manifests::render(&cluster, &configs, tls.as_ref(), &metrics, &clients, &spec)?;
    let files = write(&req.output, &rendered)?;
    Ok(Rendered {
        cluster,
        files,
        note,
    })
}

fn check_request(root: &Path, req: &KubeRequest) -> anyhow::Result<()> {
    profile::find_distro(root, &req.distro)?;
    check_namespace(&req.namespace).map_err(|e| anyhow::anyhow!("--namespace: {e}"))?;
    validate::image_any(&req.image).map_err(|e| anyhow::anyhow!("--image: {e}"))?;
    if let Builders::Replicas(n) = req.builders {
        anyhow::ensure!(
            (1..=MAX_BUILDERS).contains(&n),
            "--builders {n}: give 1 to {MAX_BUILDERS}"
        );
    }
    Ok(())
}

/// The profile as Kubernetes runs it: a build server's address is its pod IP,
/// unknown until the pod starts, so no JWT can be signed for it ahead of time and
/// the servers share one token instead.
fn kube_profile(mut p: RuntimeProfile) -> anyhow::Result<(RuntimeProfile, Option<String>)> {
    let note = match p.settings.server_auth {
        ServerAuth::Token => None,
        ServerAuth::JwtHs256 => Some(format!(
            "{}: server_auth jwt_hs256 becomes token on Kubernetes (pod IPs are not known ahead, a JWT binds one)",
            p.file
        )),
        ServerAuth::DangerouslyInsecure => anyhow::bail!(
            "{}: server_auth DANGEROUSLY_INSECURE is not rendered for Kubernetes, where any pod could register as a build server",
            p.file
        ),
    };
    p.settings.server_auth = ServerAuth::Token;
    Ok((p, note))
}

/// The cluster model of `builders` servers running `image`: addresses are
/// unspecified (0.0.0.0) because each is a pod IP, assigned when the pod starts.
pub fn model(distro: &str, image: &str, profile: RuntimeProfile, builders: Builders) -> Cluster {
    let rt = &profile.settings;
    let builder = format!("{}-builder", manifests::APP);
    let server = |name: String| Server {
        name,
        container: "server".into(),
        address: Ipv4Addr::UNSPECIFIED,
        port: rt.server_port,
        cache: Cache::Volume("cache".into()),
    };
    let servers = match builders {
        // StatefulSet pods are named NAME-0 .. NAME-(N-1).
        Builders::Replicas(n) => (0..n).map(|i| server(format!("{builder}-{i}"))).collect(),
        Builders::PerNode => vec![server(builder)],
    };
    Cluster {
        distro: distro.to_owned(),
        image: image.to_owned(),
        // Not built here: the cluster pulls whatever the reference names.
        image_hash: String::new(),
        sccache_dist_version: None,
        // The TLS front is not rendered for Kubernetes yet.
        tls: Tls::Plain,
        tls_names: Vec::new(),
        own_cert: None,
        network: Network::Pod,
        address_source:
            "the pod IP (Downward API status.podIP), written into server.conf by the init container"
                .into(),
        scheduler: Scheduler {
            container: "scheduler".into(),
            address: Ipv4Addr::UNSPECIFIED,
            port: rt.scheduler_port,
        },
        servers,
        name: manifests::APP.into(),
        // Caches are the pods' volumes, not host directories.
        cache_dir: None,
        runtime: profile,
    }
}

/// Fresh secrets from the OS random source, the three configs with the
/// scheduler's Service as its URL and the pod IP as a placeholder, checked as
/// sccache-dist reads them.
fn configs(
    root: &Path,
    c: &Cluster,
    spec: &KubeSpec,
) -> anyhow::Result<(Configs, MetricsFiles, Clients)> {
    let secrets = Secrets::generate(ServerAuth::Token)?;
    let (token, token_sha256) = secrets.metrics_token_and_hash()?;
    let metrics = MetricsFiles {
        token,
        token_sha256,
    };
    // client.conf's token is the client `default`.
    let mut clients = Clients::default();
    clients.put(DEFAULT_CLIENT, &secrets.client_token, 0);
    let mut inputs = secrets.config_inputs(&c.runtime, POD_IP_PLACEHOLDER)?;
    inputs.tls = c.tls.is_on();
    let url = manifests::scheduler_url(&spec.namespace, c.scheduler.port, inputs.tls);
    let header = "generated by `cargo xtask kube`, do not edit; holds secrets";
    let configs = Templates::load(root)?.configs_at(&c.runtime, &inputs, &url, "pod", header)?;
    let problems = check(&configs);
    anyhow::ensure!(
        problems.is_empty(),
        "the rendered configs do not check out:\n{}",
        problems.join("\n")
    );
    Ok((configs, metrics, clients))
}

/// `config_check` on the configs as a pod sees them (a sample pod IP in place of
/// the placeholder). Its rule that the server's scheduler URL names the server's
/// own IP is Docker's: here the URL is the Service's name, and pod-to-Service
/// traffic leaves from the pod IP, which is what the scheduler checks.
pub fn check(configs: &Configs) -> Vec<String> {
    let sample = Configs {
        scheduler: configs.scheduler.clone(),
        server: configs.server.replace(POD_IP_PLACEHOLDER, "10.0.0.1"),
        client: configs.client.clone(),
        front: configs.front.clone(),
    };
    config_check::check(&sample)
        .into_iter()
        .filter(|p| !p.starts_with("server.conf: `scheduler_url`: host "))
        .collect()
}

/// Writes every manifest atomically; the directory is made private (0700) when
/// it is new, Secrets are mode 0600 and the rest 0644.
fn write(dir: &Path, manifests: &[Manifest]) -> anyhow::Result<Vec<PathBuf>> {
    use std::os::unix::fs::DirBuilderExt;
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut files = Vec::new();
    for m in manifests {
        let path = dir.join(&m.file);
        let mode = if m.secret { 0o600 } else { 0o644 };
        atomic::write(&path, m.yaml.as_bytes(), mode)?;
        files.push(path);
    }
    Ok(files)
}
