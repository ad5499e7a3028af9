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

/// A Secret named `sccache-dist-COMPONENT` holding `text` under `key`.
pub(super) fn secret(ns: &str, component: &str, key: &str, text: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(ns, &format!("{APP}-{component}"), component),
        "type": "Opaque",
        "data": { key: STANDARD.encode(text) },
    })
}
