//! Kubernetes manifests for a cluster: a Namespace, the config Secrets, the
//! scheduler (Deployment + Service) and the build servers (StatefulSet or
//! DaemonSet + headless Service). Each manifest is built as a value in Rust and
//! serialized by serde_yaml, so every string that reaches YAML is quoted and
//! escaped by the serializer, never pasted into text.
//!
//! How a build server gets an address the scheduler accepts: it advertises its own
//! pod IP. The scheduler checks that a heartbeat's source IP is the IP in
//! `public_addr`, and pod-to-Service traffic keeps the pod's source IP, so an init
//! container writes `server.conf` from a template at pod start, with the pod IP
//! (from the Downward API) in `public_addr`. Pod IPs are not known when the
//! manifests are rendered, so servers authenticate with one shared token
//! (`server_auth: token`), not a per-address JWT.
//!
//! One file per concern: the Namespace and its config Secrets (namespace.rs), the
//! scheduler (scheduler.rs), the build servers (builders.rs) and the init
//! container that gives each one its pod IP (init.rs). This file holds the
//! document list and the pieces they share.

mod builders;
mod init;
mod namespace;
mod scheduler;

use serde_json::{json, Value};

use crate::model::clients::Clients;
use crate::model::run_spec::{CA_CERT, CONFIG_MOUNT, FRONT_CERT, FRONT_KEY, METRICS_TOKEN_HASH};
use crate::model::Cluster;
use crate::sccache::Configs;
use crate::store::{MetricsFiles, TlsFiles, CLIENTS_FILE};

pub use init::init_script;

/// Stands for the pod IP in the server config template; the init container
/// replaces it. Only `[0-9A-Z_@]`, so it needs no escaping in TOML or sed.
pub const POD_IP_PLACEHOLDER: &str = "@POD_IP@";
/// The key of the server config template in its Secret.
pub const SERVER_TEMPLATE_KEY: &str = "server.conf.in";
/// Where the init container writes the builder's `server.conf`; the server
/// container sees that volume, read-only, at [`CONFIG_MOUNT`](crate::model::run_spec::CONFIG_MOUNT).
pub const RENDERED_CONFIG_DIR: &str = "/run/sccache-dist-config";
/// The prefix of every object's name.
pub const APP: &str = "sccache-dist";
/// The user and group the TLS front (nginx) runs as: `nobody`/`nogroup` in
/// the image; the scheduler pod's fsGroup, so it reads its Secret's files.
pub const FRONT_USER: u32 = 65534;
/// The scheduler's status endpoint: answers without authentication.
pub const STATUS_PATH: &str = "/api/v1/scheduler/status";

/// How the build servers run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// A StatefulSet with one replica per server in the cluster model.
    StatefulSet,
    /// A DaemonSet: one build server on every schedulable node.
    DaemonSet,
}

/// What the manifests need beyond the cluster model.
#[derive(Debug, Clone)]
pub struct KubeSpec {
    /// A DNS-1123 label, checked by the caller.
    pub namespace: String,
    /// StatefulSet or DaemonSet for the build servers.
    pub workload: Workload,
}

/// One rendered manifest file.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The file name, e.g. `20-scheduler.yaml`; `kubectl apply -f DIR` takes them
    /// in this (name) order, the Namespace and Secrets first.
    pub file: String,
    /// The manifest: a header comment, then the YAML document.
    pub yaml: String,
    /// Holds secret values: written mode 0600, never printed.
    pub secret: bool,
}

/// The in-cluster URL of the scheduler's Service: clients and build servers use
/// it (`https://` to its TLS front).
pub fn scheduler_url(namespace: &str, port: u16, tls: bool) -> String {
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{APP}-scheduler.{namespace}.svc:{port}")
}

/// The names the scheduler's Service answers to inside the cluster.
pub fn scheduler_names(namespace: &str) -> Vec<String> {
    let svc = format!("{APP}-scheduler");
    vec![
        svc.clone(),
        format!("{svc}.{namespace}"),
        format!("{svc}.{namespace}.svc"),
        format!("{svc}.{namespace}.svc.cluster.local"),
    ]
}

/// The keys of the TLS front's files in the scheduler's Secret; mounted at
/// their paths below the config mount.
pub const FRONT_KEYS: &[(&str, &str)] = &[
    ("nginx.conf", "nginx.conf"),
    ("scheduler.pem", FRONT_CERT),
    ("scheduler.key", FRONT_KEY),
    (METRICS_TOKEN_HASH, METRICS_TOKEN_HASH),
    (CLIENTS_FILE, CLIENTS_FILE),
    (LEAF_EXPIRY_KEY, FRONT_CERT_EXPIRY),
];

/// The front's certificate's end (Unix seconds) for the metrics exporter.
const LEAF_EXPIRY_KEY: &str = "scheduler.not-after";
/// Where it is below the config mount.
pub const FRONT_CERT_EXPIRY: &str = "tls/scheduler.not-after";

/// Every manifest of `c` with its rendered `configs` (and, behind the TLS front,
/// its certificates), in apply order.
pub fn render(
    c: &Cluster,
    configs: &Configs,
    tls: Option<&TlsFiles>,
    metrics: &MetricsFiles,
    clients: &Clients,
    spec: &KubeSpec,
) -> anyhow::Result<Vec<Manifest>> {
    let ns = spec.namespace.as_str();
    let sec = |name: &str, items: &[(&str, &str)]| namespace::secret(ns, name, items);
    let mut client = vec![("client.conf", configs.client.as_str())];
    let mut scheduler = vec![("scheduler.conf", configs.scheduler.as_str())];
    let mut server = vec![(SERVER_TEMPLATE_KEY, configs.server.as_str())];
    // A change to the client list reaches the front when this Secret is
    // applied again: the kubelet updates the mounted file, which the checker
    // reads again as it changes.
    let clients = clients.hash_lines();
    let expiry = match tls {
        Some(t) => crate::sccache::tls::facts(&t.leaf_cert)?
            .not_after
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
            .to_string(),
        None => String::new(),
    };
    if let (Some(t), Some(front)) = (tls, &configs.front) {
        if let Some(ca) = &t.ca_cert {
            client.push((CA_CERT, ca));
            server.push((CA_CERT, ca));
        }
        scheduler.extend([
            ("nginx.conf", front.as_str()),
            ("scheduler.pem", t.leaf_cert.as_str()),
            ("scheduler.key", t.leaf_key.as_str()),
            (METRICS_TOKEN_HASH, metrics.token_sha256.as_str()),
            (CLIENTS_FILE, clients.as_str()),
            (LEAF_EXPIRY_KEY, expiry.as_str()),
        ]);
    }
    // The metrics token itself, for the scraper (Prometheus mounts it and names
    // it in `credentials_file`); the scheduler's pod gets only its hash.
    let metrics_secret = [("token", metrics.token.as_str())];
    let objects = [
        ("00-namespace.yaml", namespace::namespace(ns), false),
        ("10-secret-client.yaml", sec("client", &client), true),
        (
            "11-secret-scheduler.yaml",
            sec("scheduler", &scheduler),
            true,
        ),
        ("12-secret-server.yaml", sec("server", &server), true),
        (
            "13-secret-metrics.yaml",
            sec("metrics", &metrics_secret),
            true,
        ),
        ("20-scheduler.yaml", scheduler::deployment(c, ns), false),
        (
            "21-scheduler-service.yaml",
            scheduler::service(c, ns),
            false,
        ),
        ("30-builders.yaml", builders::workload(c, spec), false),
        ("31-builders-service.yaml", builders::service(c, ns), false),
    ];
    objects
        .into_iter()
        .map(|(file, value, secret)| {
            let what = if secret { ", holds secrets" } else { "" };
            let yaml = format!(
                "# generated by `cargo xtask kube`, do not edit{what}\n{}",
                serde_yaml::to_string(&value)?
            );
            Ok(Manifest {
                file: file.to_owned(),
                yaml,
                secret,
            })
        })
        .collect()
}

/// The labels of every object of `component` (`scheduler`, `builder`, …).
fn labels(component: &str) -> Value {
    json!({
        "app.kubernetes.io/name": APP,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/managed-by": "sccache-docker",
    })
}

/// The selector: only the labels that never change for a component.
fn selector(component: &str) -> Value {
    json!({ "app.kubernetes.io/name": APP, "app.kubernetes.io/component": component })
}

/// An object's `metadata`: its name in the namespace, with its component's labels.
fn metadata(ns: &str, name: &str, component: &str) -> Value {
    json!({ "name": name, "namespace": ns, "labels": labels(component) })
}

/// The environment of both sccache-dist containers; a build server behind the
/// TLS front trusts the cluster's CA (`SSL_CERT_FILE`).
fn env(c: &Cluster, server: bool) -> Value {
    let mut env = vec![
        // sccache-dist stays in the foreground, as the pod's process.
        json!({ "name": "SCCACHE_NO_DAEMON", "value": "1" }),
        json!({ "name": "SCCACHE_LOG", "value": c.runtime.settings.log_level.as_str() }),
    ];
    if server && c.tls.is_on() {
        env.push(json!({ "name": "SSL_CERT_FILE", "value": format!("{CONFIG_MOUNT}/{CA_CERT}") }));
    }
    Value::Array(env)
}

/// A volume of one config Secret, readable by the container's user only.
fn config_secret_volume(name: &str, secret: &str) -> Value {
    json!({ "name": name, "secret": { "secretName": secret, "defaultMode": 0o400 } })
}

/// The securityContext of a container that needs no privilege at all: every
/// capability dropped, the runtime's default seccomp profile.
fn unprivileged() -> Value {
    json!({
        "allowPrivilegeEscalation": false,
        "capabilities": { "drop": ["ALL"] },
        "seccompProfile": { "type": "RuntimeDefault" },
    })
}
