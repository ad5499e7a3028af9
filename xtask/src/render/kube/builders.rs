//! The build servers: a StatefulSet or DaemonSet of sandboxed pods and their
//! headless Service.

use serde_json::{json, Value};

use super::init::{config_init_container, server_port};
use super::{config_secret_volume, env, labels, metadata, selector, KubeSpec, Workload, APP};
use crate::model::run_spec::{CAPABILITIES, CONFIG_MOUNT, STOP_GRACE_SECS};
use crate::model::Cluster;

/// Room for build directories on top of the toolchain cache in the cache volume.
const BUILD_HEADROOM_BYTES: u64 = 4 << 30;

/// Headless: it gives StatefulSet pods stable DNS names and never load-balances
/// (clients reach each build server at its own advertised pod IP).
pub(super) fn service(c: &Cluster, ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ns, &format!("{APP}-builder"), "builder"),
        "spec": {
            "clusterIP": "None",
            "selector": selector("builder"),
            "ports": [{
                "name": "server",
                "port": server_port(c),
                "targetPort": "server",
                "protocol": "TCP",
            }],
        },
    })
}

/// The builders' StatefulSet or DaemonSet, as `spec.workload` says.
pub(super) fn workload(c: &Cluster, spec: &KubeSpec) -> Value {
    let name = format!("{APP}-builder");
    let template = json!({ "metadata": { "labels": labels("builder") }, "spec": builder_pod(c) });
    let (kind, workload) = match spec.workload {
        Workload::StatefulSet => (
            "StatefulSet",
            json!({
                "replicas": c.servers.len(),
                "serviceName": name,
                // Build servers are independent: start and replace them all at once.
                "podManagementPolicy": "Parallel",
                "selector": { "matchLabels": selector("builder") },
                "template": template,
            }),
        ),
        Workload::DaemonSet => (
            "DaemonSet",
            json!({
                "selector": { "matchLabels": selector("builder") },
                "updateStrategy": { "type": "RollingUpdate", "rollingUpdate": { "maxUnavailable": 1 } },
                "template": template,
            }),
        ),
    };
    json!({
        "apiVersion": "apps/v1",
        "kind": kind,
        "metadata": metadata(&spec.namespace, &name, "builder"),
        "spec": workload,
    })
}

/// The build server's pod. `hostUsers: false` runs it in a user namespace: its
/// root and its SYS_ADMIN are root only inside it, and Kubernetes accepts
/// `procMount: Unmasked` (what bubblewrap needs to mount /proc) only there.
fn builder_pod(c: &Cluster) -> Value {
    json!({
        "hostUsers": false,
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": STOP_GRACE_SECS,
        "initContainers": [config_init_container(c)],
        "containers": [server_container(c)],
        "volumes": [
            config_secret_volume("config-template", &format!("{APP}-server")),
            // The rendered server.conf holds the token: memory, never node disk.
            { "name": "config", "emptyDir": { "medium": "Memory", "sizeLimit": "1Mi" } },
            // build_dir must not sit on the container's overlayfs; a node-local
            // volume, emptied with the pod, like the Docker setup's cache volume.
            { "name": "cache", "emptyDir": { "sizeLimit": cache_size(c) } },
        ],
    })
}

/// The cache volume's size limit: the toolchain cache plus build headroom, in Mi.
fn cache_size(c: &Cluster) -> String {
    let bytes = c.settings().toolchain_cache_size + BUILD_HEADROOM_BYTES;
    format!("{}Mi", bytes.div_ceil(1 << 20))
}

/// The build server: exactly what bubblewrap needs, as in cluster/container.rs:
/// SYS_ADMIN, seccomp unconfined, an unmasked /proc; never `privileged`.
/// `allowPrivilegeEscalation` stays true because Kubernetes rejects `false`
/// together with an added SYS_ADMIN.
fn server_container(c: &Cluster) -> Value {
    let probe = |delay: u32, period: u32| {
        json!({
            "tcpSocket": { "port": "server" },
            "initialDelaySeconds": delay,
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        })
    };
    json!({
        "name": "server",
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["sccache-dist", "server", "--config", format!("{CONFIG_MOUNT}/server.conf")],
        "env": env(c, true),
        "ports": [{ "name": "server", "containerPort": server_port(c), "protocol": "TCP" }],
        "readinessProbe": probe(2, 10),
        "livenessProbe": probe(15, 20),
        "resources": {
            "requests": { "cpu": "1", "memory": "1Gi", "ephemeral-storage": "1Gi" },
            "limits": { "cpu": "4", "memory": "8Gi" },
        },
        "securityContext": {
            "privileged": false,
            "allowPrivilegeEscalation": true,
            "capabilities": { "add": CAPABILITIES },
            "seccompProfile": { "type": "Unconfined" },
            "procMount": "Unmasked",
        },
        "volumeMounts": [
            { "name": "config", "mountPath": CONFIG_MOUNT, "readOnly": true },
            { "name": "cache", "mountPath": c.settings().cache_root },
        ],
    })
}
