//! The scheduler: one Deployment replica and the ClusterIP Service clients and
//! build servers reach it at.

use serde_json::{json, Value};

use super::{
    config_secret_volume, env, labels, metadata, selector, unprivileged, APP, FRONT_CERT_EXPIRY,
    FRONT_KEYS, FRONT_USER, STATUS_PATH,
};
use crate::model::run_spec::{
    CONFIG_MOUNT, FRONT_LOG_SOCKET, METRICS_TOKEN_HASH, RUN_DIR, STOP_GRACE_SECS,
};
use crate::model::Cluster;
use crate::store::CLIENTS_FILE;

/// A probe of the status endpoint on the pod's `scheduler` port (through the
/// TLS front when there is one: the probe then asks over HTTPS, and an answer
/// proves the front and the scheduler behind it).
fn probe(c: &Cluster, period: u32, failures: u32) -> Value {
    let scheme = if c.tls.is_on() { "HTTPS" } else { "HTTP" };
    json!({
        // The JSON form, as `cargo xtask status` reads it; any 200 means ready.
        "httpGet": {
            "path": STATUS_PATH,
            "port": "scheduler",
            "scheme": scheme,
            "httpHeaders": [{ "name": "Accept", "value": "application/json" }],
        },
        "periodSeconds": period,
        "timeoutSeconds": 5,
        "failureThreshold": failures,
    })
}

/// The scheduler container. Behind the TLS front it listens on the pod's
/// loopback only, so the front carries the port and the probes.
fn scheduler_container(c: &Cluster) -> Value {
    let port = c.scheduler.port;
    let front = c.tls.is_on();
    let mut v = json!({
        "name": "scheduler",
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        // The image's entrypoint runs any other command as given (`exec "$@"`).
        "args": ["sccache-dist", "scheduler", "--config", format!("{CONFIG_MOUNT}/scheduler.conf")],
        "env": env(c, false),
        "ports": [{ "name": "scheduler", "containerPort": port, "protocol": "TCP" }],
        "readinessProbe": probe(c, 5, 3),
        "livenessProbe": probe(c, 20, 3),
        "resources": {
            "requests": { "cpu": "100m", "memory": "128Mi" },
            "limits": { "cpu": "1", "memory": "512Mi" },
        },
        // The scheduler runs no sandbox: it gets nothing beyond the runtime default.
        "securityContext": unprivileged(),
        "volumeMounts": [{ "name": "config", "mountPath": CONFIG_MOUNT, "readOnly": true }],
    });
    if front {
        let o = v.as_object_mut().expect("an object");
        for k in ["ports", "readinessProbe", "livenessProbe"] {
            o.remove(k);
        }
        // Behind the front, its log goes through the metrics exporter (passed on
        // to the container's log unchanged), which the front's /metrics reaches on
        // the pod's loopback; the front's access log reaches it on the shared
        // run volume. One process dies, the pipe ends, the container restarts.
        o.insert("args".into(), json!(["bash", "-c", exporter_pipeline(c)]));
        o.insert(
            "volumeMounts".into(),
            json!([
                { "name": "config", "mountPath": CONFIG_MOUNT, "readOnly": true },
                { "name": "run", "mountPath": RUN_DIR },
            ]),
        );
    }
    v
}

/// `sccache-dist scheduler 2>&1 | sccache-dist-exporter ...`, as the image's
/// entrypoint runs it beside the scheduler.
fn exporter_pipeline(c: &Cluster) -> String {
    let rt = &c.runtime.settings;
    let internal = rt.scheduler_internal_port();
    format!(
        "set -o pipefail; exec 2>&1; sccache-dist scheduler --config {CONFIG_MOUNT}/scheduler.conf \
         | sccache-dist-exporter --listen 127.0.0.1:{} \
         --status-url http://127.0.0.1:{internal}/api/v1/scheduler/status \
         --token-sha256-file {CONFIG_MOUNT}/{METRICS_TOKEN_HASH} --front-log {FRONT_LOG_SOCKET} \
         --clients-file {CONFIG_MOUNT}/{CLIENTS_FILE} \\
         --cert-expiry-file {CONFIG_MOUNT}/{FRONT_CERT_EXPIRY} --sccache-dist-version \"$(sccache-dist --version)\"",
        rt.exporter_port(true)
    )
}

/// The TLS front: nginx from the same image, in the scheduler's pod (the same
/// network namespace), on the scheduler's port; it passes requests to the
/// scheduler on loopback and sets X-Real-IP to the peer's address.
fn front_container(c: &Cluster) -> Value {
    json!({
        "name": "front",
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["nginx", "-e", "stderr", "-c", format!("{CONFIG_MOUNT}/nginx.conf")],
        "ports": [{ "name": "scheduler", "containerPort": c.scheduler.port, "protocol": "TCP" }],
        "readinessProbe": probe(c, 5, 3),
        "livenessProbe": probe(c, 20, 3),
        "resources": {
            "requests": { "cpu": "50m", "memory": "32Mi" },
            "limits": { "cpu": "1", "memory": "128Mi" },
        },
        // It binds a port above 1024 and reads its files: no privilege needed.
        // It starts as nobody, so it neither switches user nor chowns its temp
        // dirs, which it makes itself in the (empty) run volume.
        "securityContext": front_security(),
        "volumeMounts": [
            { "name": "config", "mountPath": CONFIG_MOUNT, "readOnly": true },
            // Its pid file and temp files.
            { "name": "run", "mountPath": RUN_DIR },
        ],
    })
}

/// The front's securityContext: nothing privileged, and a fixed non-root user
/// (the image's `nobody`) with its group.
fn front_security() -> Value {
    let mut sc = unprivileged();
    let o = sc.as_object_mut().expect("an object");
    o.insert("runAsUser".into(), json!(FRONT_USER));
    o.insert("runAsGroup".into(), json!(FRONT_USER));
    o.insert("runAsNonRoot".into(), json!(true));
    sc
}

/// The scheduler's config volume: its Secret, with the TLS front's files at
/// their paths below the mount. Behind the front the files are also readable
/// by the pod's fsGroup (the front's group): owner root (the scheduler) and
/// that group, read-only.
fn config_volume(c: &Cluster) -> Value {
    let mut v = config_secret_volume("config", &format!("{APP}-scheduler"));
    if c.tls.is_on() {
        v["secret"]["defaultMode"] = json!(0o440);
        let mut items = vec![json!({ "key": "scheduler.conf", "path": "scheduler.conf" })];
        items.extend(
            FRONT_KEYS
                .iter()
                .map(|(k, p)| json!({ "key": k, "path": p })),
        );
        v["secret"]["items"] = Value::Array(items);
    }
    v
}

fn containers(c: &Cluster) -> Value {
    match c.tls.is_on() {
        true => json!([scheduler_container(c), front_container(c)]),
        false => json!([scheduler_container(c)]),
    }
}

fn volumes(c: &Cluster) -> Value {
    match c.tls.is_on() {
        true => json!([
            config_volume(c),
            { "name": "run", "emptyDir": { "medium": "Memory", "sizeLimit": "16Mi" } },
        ]),
        false => json!([config_volume(c)]),
    }
}

/// The scheduler's Deployment.
pub(super) fn deployment(c: &Cluster, ns: &str) -> Value {
    let mut pod = json!({
        "automountServiceAccountToken": false,
        "enableServiceLinks": false,
        "terminationGracePeriodSeconds": STOP_GRACE_SECS,
        "containers": containers(c),
        "volumes": volumes(c),
    });
    if c.tls.is_on() {
        // The Secret's files and the run volume belong to the front's group.
        pod["securityContext"] = json!({ "fsGroup": FRONT_USER });
    }
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(ns, &format!("{APP}-scheduler"), "scheduler"),
        "spec": {
            // Exactly one: a second scheduler would split the build servers.
            "replicas": 1,
            "strategy": { "type": "Recreate" },
            "selector": { "matchLabels": selector("scheduler") },
            "template": {
                "metadata": { "labels": labels("scheduler"), "annotations": scrape_annotations(c) },
                "spec": pod,
            },
        },
    })
}

/// The usual scrape annotations: the metrics at the front, over HTTPS; the
/// scraper brings the token (Secret `sccache-dist-metrics`, key `token`) and the
/// cluster's CA (Secret `sccache-dist-client`, key `ca.pem`).
fn scrape_annotations(c: &Cluster) -> Value {
    match c.tls.is_on() {
        true => json!({
            "prometheus.io/scrape": "true",
            "prometheus.io/scheme": "https",
            "prometheus.io/port": c.scheduler.port.to_string(),
            "prometheus.io/path": "/metrics",
        }),
        false => json!({}),
    }
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
