//! Where a cluster's metrics are and how the tool reads them: `status`, `top`
//! and `doctor` read the same endpoint a scraper does.

use std::path::PathBuf;

use super::tls::front_trust;
use crate::model::Cluster;
use crate::sccache::metrics_endpoint::{self, Snapshot};
use crate::store::{StateDir, METRICS_TOKEN_FILE};

/// The endpoint: at the TLS front (`https://ADDR:PORT/metrics`); without a
/// front, the exporter's own port on the scheduler host's loopback.
pub fn url(c: &Cluster) -> String {
    if c.tls.is_on() {
        format!("{}/metrics", c.scheduler_url().trim_end_matches('/'))
    } else {
        format!("http://127.0.0.1:{}/metrics", c.settings().exporter_port())
    }
}

/// The token file a scraper names (`credentials_file`), mode 0600.
pub fn token_file(state: &StateDir) -> PathBuf {
    state.path().join(METRICS_TOKEN_FILE)
}

/// The exposition text, as a scraper gets it.
pub fn text(state: &StateDir, c: &Cluster) -> anyhow::Result<String> {
    let token = read_token(state)?;
    let trust = front_trust(state, c)?;
    metrics_endpoint::fetch_text(&url(c), trust.as_trust(), &token)
}

/// The endpoint read back as rows.
pub fn snapshot(state: &StateDir, c: &Cluster) -> anyhow::Result<Snapshot> {
    let token = read_token(state)?;
    let trust = front_trust(state, c)?;
    metrics_endpoint::fetch(&url(c), trust.as_trust(), &token)
}

fn read_token(state: &StateDir) -> anyhow::Result<String> {
    let path = token_file(state);
    std::fs::read_to_string(&path).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the metrics token {}: {e}; `cargo xtask start` makes it",
            path.display()
        )
    })
}
