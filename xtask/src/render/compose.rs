//! A Docker Compose file from the same `docker run` specs `start` runs: every
//! service gets exactly the image, command, capabilities, security options, mounts,
//! restart policy, stop grace period and network of its `RunSpec`. Typed structs,
//! serialized with serde_yaml; no value is pasted into YAML text.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::model::engine::EngineKind;
use crate::model::run_spec::{CAPABILITIES, CLUSTER_LABEL, RESTART_POLICY, STOP_GRACE_SECS};
use crate::model::{Mount, RunSpec};

/// A compose.yaml.
#[derive(Debug, Serialize)]
pub struct ComposeFile {
    /// One service per container, by name.
    pub services: BTreeMap<String, Service>,
    /// The named cache volumes.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Empty>,
    /// The bridge network, in bridge mode.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, NetworkDef>,
}

/// `{}` in YAML: a volume with the defaults.
#[derive(Debug, Serialize)]
pub struct Empty {}

/// One service: one container of the cluster.
#[derive(Debug, Serialize)]
pub struct Service {
    /// The image, as `docker run` names it.
    pub image: String,
    /// The entrypoint's role argument.
    pub command: Vec<String>,
    /// What bubblewrap needs (build servers only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    /// Likewise (build servers only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_opt: Vec<String>,
    /// The restart policy.
    pub restart: String,
    /// How long `down`/`stop` waits after SIGTERM.
    pub stop_grace_period: String,
    /// Only non-secret settings (the log level): secrets come in as mounted files.
    pub environment: BTreeMap<String, String>,
    /// The label marking containers of this tool.
    pub labels: BTreeMap<String, String>,
    /// Config directory (read-only) and cache.
    pub volumes: Vec<Volume>,
    /// `host` on the host network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// The bridge network and fixed address, in bridge mode.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Attachment>,
    /// Build servers start after the scheduler.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
}

/// A long-syntax mount.
#[derive(Debug, Serialize)]
pub struct Volume {
    /// `bind` or `volume`.
    #[serde(rename = "type")]
    pub kind: String,
    /// A path relative to the project, or a volume name.
    pub source: String,
    /// The path in the container.
    pub target: String,
    /// Mounted read-only (the configs).
    pub read_only: bool,
}

/// A service's fixed address on a network.
#[derive(Debug, Serialize)]
pub struct Attachment {
    /// The service's IPv4 address in the network's subnet.
    pub ipv4_address: String,
}

/// A user-defined bridge network with its subnet.
#[derive(Debug, Serialize)]
pub struct NetworkDef {
    /// `bridge`.
    pub driver: String,
    /// Its subnet.
    pub ipam: Ipam,
}

/// The network's address plan.
#[derive(Debug, Serialize)]
pub struct Ipam {
    /// The subnets.
    pub config: Vec<Subnet>,
}

/// One subnet.
#[derive(Debug, Serialize)]
pub struct Subnet {
    /// `a.b.c.d/len`.
    pub subnet: String,
}

/// The compose service of `spec`, named `service`; `after`: services it starts
/// after; `engine`: the engine `docker compose` talks to (its sandbox options).
pub fn service(spec: &RunSpec, after: Vec<String>, engine: EngineKind) -> Service {
    let sandbox = spec.sandbox;
    Service {
        image: spec.image.clone(),
        command: spec.command.clone(),
        cap_add: sandbox_list(sandbox, CAPABILITIES),
        security_opt: sandbox_list(sandbox, engine.sandbox_security_opts()),
        restart: RESTART_POLICY.to_owned(),
        stop_grace_period: format!("{STOP_GRACE_SECS}s"),
        environment: spec.env.iter().cloned().collect(),
        labels: BTreeMap::from([(CLUSTER_LABEL.to_owned(), "1".to_owned())]),
        volumes: spec.mounts.iter().map(mount).collect(),
        network_mode: spec.bridge.is_none().then(|| "host".to_owned()),
        networks: spec
            .bridge
            .iter()
            .map(|(net, ip)| {
                (
                    net.clone(),
                    Attachment {
                        ipv4_address: ip.clone(),
                    },
                )
            })
            .collect(),
        depends_on: after,
    }
}

fn sandbox_list(sandbox: bool, items: &[&str]) -> Vec<String> {
    if sandbox {
        items.iter().map(|s| (*s).to_owned()).collect()
    } else {
        Vec::new()
    }
}

/// A host path (absolute or `./`) is a bind mount; anything else a named volume.
fn mount(m: &Mount) -> Volume {
    let bind = m.source.starts_with('/') || m.source.starts_with("./");
    Volume {
        kind: if bind { "bind" } else { "volume" }.to_owned(),
        source: m.source.clone(),
        target: m.target.clone(),
        read_only: m.read_only,
    }
}

/// The compose file of `specs` (the scheduler's first; every other service starts
/// after it), with `subnet` for their bridge network, if any, for `engine`.
pub fn compose_file(
    specs: &[(String, RunSpec)],
    subnet: Option<&str>,
    engine: EngineKind,
) -> ComposeFile {
    let mut services = BTreeMap::new();
    let mut volumes = BTreeMap::new();
    let mut networks = BTreeMap::new();
    let first = specs.first().map(|(name, _)| name.clone());
    for (i, (name, spec)) in specs.iter().enumerate() {
        let after = if i == 0 {
            Vec::new()
        } else {
            first.iter().cloned().collect()
        };
        let svc = service(spec, after, engine);
        for m in svc.volumes.iter().filter(|m| m.kind == "volume") {
            volumes.insert(m.source.clone(), Empty {});
        }
        if let (Some((net, _)), Some(subnet)) = (&spec.bridge, subnet) {
            let def = NetworkDef {
                driver: "bridge".into(),
                ipam: Ipam {
                    config: vec![Subnet {
                        subnet: subnet.to_owned(),
                    }],
                },
            };
            networks.insert(net.clone(), def);
        }
        services.insert(name.clone(), svc);
    }
    ComposeFile {
        services,
        volumes,
        networks,
    }
}

/// The YAML text of `file`, under a header comment.
pub fn to_yaml(file: &ComposeFile, header: &str) -> anyhow::Result<String> {
    Ok(format!("# {header}\n{}", serde_yaml::to_string(file)?))
}
