//! The init container that writes each build server's `server.conf` with its own
//! pod IP in `public_addr` (see the module doc of kube/).

use serde_json::{json, Value};

use super::{unprivileged, POD_IP_PLACEHOLDER, RENDERED_CONFIG_DIR, SERVER_TEMPLATE_KEY};
use crate::model::run_spec::{CA_CERT, CONFIG_MOUNT};
use crate::model::Cluster;

/// The build servers' port: the model gives all of them the profile's, so the
/// first server's stands for all (the profile's if the model has none).
pub(super) fn server_port(c: &Cluster) -> u16 {
    c.servers
        .first()
        .map_or(c.settings().server_port, |s| s.port)
}

/// The shell script of the init container: `public_addr` gets the pod IP.
pub fn init_script(c: &Cluster) -> String {
    use crate::base::escape::sh_quote;
    let template = sh_quote(format!("{CONFIG_MOUNT}/{SERVER_TEMPLATE_KEY}"));
    let out = sh_quote(format!("{RENDERED_CONFIG_DIR}/server.conf"));
    let ca = sh_quote(format!("{CONFIG_MOUNT}/{CA_CERT}"));
    let ca_out = sh_quote(format!("{RENDERED_CONFIG_DIR}/{CA_CERT}"));
    let toolchains = sh_quote(c.runtime.settings.toolchain_dir());
    format!(
        r#"set -euo pipefail
umask 077
# sccache-dist's public_addr takes an IPv4 literal; anything else would also
# break the sed expression below.
case "${{POD_IP:-}}" in
  ''|*[!0-9.]*) echo "sccache-dist-config: pod IP '${{POD_IP:-}}' is not an IPv4 address" >&2; exit 64 ;;
esac
mkdir -p {toolchains}
sed "s/{POD_IP_PLACEHOLDER}/$POD_IP/g" {template} >{out}
if [ -r {ca} ]; then cp {ca} {ca_out}; fi
echo "sccache-dist-config: public_addr is $POD_IP:{port}" >&2
"#,
        port = server_port(c)
    )
}

/// The init container: renders server.conf into the in-memory `config` volume and
/// creates the toolchain dir in the cache volume.
pub(super) fn config_init_container(c: &Cluster) -> Value {
    let cache_root = &c.runtime.settings.cache_root;
    json!({
        "name": "config",
        "image": c.image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["bash", "-c", init_script(c)],
        "env": [{ "name": "POD_IP", "valueFrom": { "fieldRef": { "fieldPath": "status.podIP" } } }],
        "resources": {
            "requests": { "cpu": "10m", "memory": "16Mi" },
            "limits": { "cpu": "100m", "memory": "64Mi" },
        },
        // Writes two files: no capability, the runtime's default seccomp profile.
        "securityContext": unprivileged(),
        "volumeMounts": [
            { "name": "config-template", "mountPath": CONFIG_MOUNT, "readOnly": true },
            { "name": "config", "mountPath": RENDERED_CONFIG_DIR },
            { "name": "cache", "mountPath": cache_root },
        ],
    })
}
