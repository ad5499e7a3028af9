//! The Namespace the cluster lives in and the Secrets that carry its configs.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::{json, Value};

use super::{metadata, APP};

/// Pod Security Admission's `privileged` level is needed because the builders add
/// SYS_ADMIN and run seccomp-unconfined with an unmasked /proc (baseline forbids
/// all three); no pod sets `privileged: true`. `warn: baseline` keeps that visible.
pub(super) fn namespace(ns: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": ns,
            "labels": {
                "app.kubernetes.io/name": APP,
                "pod-security.kubernetes.io/enforce": "privileged",
                "pod-security.kubernetes.io/warn": "baseline",
                "pod-security.kubernetes.io/audit": "baseline",
            },
        },
    })
}

/// A Secret named `sccache-dist-COMPONENT` holding each text under its key.
pub(super) fn secret(ns: &str, component: &str, items: &[(&str, &str)]) -> Value {
    let data: serde_json::Map<String, Value> = items
        .iter()
        .map(|(k, t)| ((*k).to_owned(), Value::String(STANDARD.encode(t))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(ns, &format!("{APP}-{component}"), component),
        "type": "Opaque",
        "data": data,
    })
}
