//! The scheduler: one Deployment replica and the ClusterIP Service clients and
//! build servers reach it at.

use serde_json::{json, Value};

use super::{
    config_secret_volume, env, labels, metadata, selector, unprivileged, APP, STATUS_PATH,
};
use crate::model::run_spec::{CONFIG_MOUNT, STOP_GRACE_SECS};
use crate::model::Cluster;

/// The scheduler container, with HTTP probes on its status endpoint.
fn scheduler_container(c: &Cluster) -> Value {
    let port = c.scheduler.port;
    let probe = |period: u32, failures: u32| {
        json!({
            // The JSON form, as `cargo xtask status` reads it; any 200 means ready.
            "httpGet": {
                "path": STATUS_PATH,
                "port": "scheduler",
                "httpHeaders": [{ "name": "Accept", "value": "application/json" }],
            },
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": failures,
        })
    };
    json!({
        "name": "scheduler",
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        // The image's entrypoint runs any other command as given (`exec "$@"`).
        "args": ["sccache-dist", "scheduler", "--config", format!("{CONFIG_MOUNT}/scheduler.conf")],
        "env": env(c),
        "ports": [{ "name": "scheduler", "containerPort": port, "protocol": "TCP" }],
        "readinessProbe": probe(5, 3),
        "livenessProbe": probe(20, 3),
        "resources": {
            "requests": { "cpu": "100m", "memory": "128Mi" },
            "limits": { "cpu": "1", "memory": "512Mi" },
        },
        // The scheduler runs no sandbox: it gets nothing beyond the runtime default.
        "securityContext": unprivileged(),
        "volumeMounts": [{ "name": "config", "mountPath": CONFIG_MOUNT, "readOnly": true }],
    })
}

/// The scheduler's Deployment.
pub(super) fn deployment(c: &Cluster, ns: &str) -> Value {
    let pod = json!({
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": STOP_GRACE_SECS,
        "containers": [scheduler_container(c)],
        "volumes": [config_secret_volume("config", &format!("{APP}-scheduler"))],
    });
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(ns, &format!("{APP}-scheduler"), "scheduler"),
        "spec": {
            // Exactly one: a second scheduler would split the build servers.
            "replicas": 1,
            "strategy": { "type": "Recreate" },
            "selector": { "matchLabels": selector("scheduler") },
            "template": { "metadata": { "labels": labels("scheduler") }, "spec": pod },
        },
    })
}

/// The scheduler's Service, at the port clients and build servers are configured with.
pub(super) fn service(c: &Cluster, ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(ns, &format!("{APP}-scheduler"), "scheduler"),
        "spec": {
            "type": "ClusterIP",
            "selector": selector("scheduler"),
            "ports": [{
                "name": "scheduler",
                "port": c.scheduler.port,
                "targetPort": "scheduler",
                "protocol": "TCP",
            }],
        },
    })
}
