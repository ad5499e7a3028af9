//! The configs of a cluster: rendered with its secrets, checked as sccache-dist
//! reads them, then stored in the state directory; and where the containers find
//! them.

use std::path::Path;

use super::records::Records;
use super::tls;
use crate::model::cluster::Tls;
use crate::model::run_spec::mount_source;
use crate::model::specs::ConfigSources;
use crate::model::Cluster;
use crate::render::{cluster_configs, Templates};
use crate::sccache::config_check;
use crate::store::{MetricsFiles, StateDir};

/// Secrets and configs live in the state directory and reach the containers only
/// as read-only mounts: never in the image, the environment or the logs.
pub fn write_configs(root: &Path, state: &StateDir, c: &Cluster) -> anyhow::Result<()> {
    let front = match c.tls.is_on() {
        true => Some(tls::plan_front(state, state, c)?),
        false => None,
    };
    write_configs_with(root, state, state, c, front)
}

/// [`write_configs`] with the front worked out (and checked) before, by
/// [`tls::plan_front`]; a CA it made is stored in `ca_home`.
pub fn write_configs_with(
    root: &Path,
    state: &StateDir,
    ca_home: &StateDir,
    c: &Cluster,
    front: Option<tls::Front>,
) -> anyhow::Result<()> {
    let templates = Templates::load(root)?;
    let secrets = state.secrets(c.settings().server_auth)?;
    let mut configs = cluster_configs::render(&templates, c, &secrets, "start")?;
    let (token, token_sha256) = secrets.metrics_token_and_hash()?;
    configs.metrics = Some(MetricsFiles {
        token,
        token_sha256,
    });
    let mut problems = Vec::new();
    for (name, triple) in cluster_configs::triples(&configs) {
        problems.extend(
            config_check::check(&triple)
                .into_iter()
                .map(|p| format!("{name}: {p}")),
        );
    }
    anyhow::ensure!(
        problems.is_empty(),
        "the rendered configs do not check out:\n{}",
        problems.join("\n")
    );
    if let Some(front) = front {
        configs.tls = Some(tls::commit_front(state, ca_home, front)?);
    }
    state.write_configs(&configs)?;
    if let Some(t) = &configs.tls {
        tls::write_leaf_expiry(state, &t.leaf_cert)?;
    }
    match c.tls.is_on() {
        true => drop(super::clients::ensure(state, &secrets)?),
        false => super::clients::remove_checker_copy(state)?,
    }
    // Clients of the cluster's own CA get a bundle; a certificate of the user's
    // own is trusted through the clients' system store.
    if let (Some(t), Tls::ClusterCa) = (&configs.tls, c.tls) {
        let bundle = state.path().join(tls::CLIENT_BUNDLE);
        tls::write_client_bundle(&bundle, t.ca_cert.as_deref().unwrap_or_default())?;
    }
    Ok(())
}

/// The state directory's config directories (which must exist), as `docker run`
/// mounts them.
pub fn state_sources(state: &StateDir) -> anyhow::Result<ConfigSources> {
    let dir = state.container_config_dir().canonicalize()?;
    Ok(ConfigSources {
        scheduler: mount_source(&dir, "--state-dir")?,
        servers: mount_source(&dir.join("servers"), "--state-dir")?,
    })
}
