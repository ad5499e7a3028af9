//! The cluster's metrics endpoint (`/metrics` at the scheduler's front, served
//! by the exporter beside the scheduler), read as a scraper reads it: with the
//! metrics token, trusting the cluster's CA.

use super::scheduler_status::{agent, Trust};
pub use sccache_dist_exporter::snapshot::Snapshot;

/// One GET of `url` with `token`; the exposition text.
pub fn fetch_text(url: &str, trust: Trust, token: &str) -> anyhow::Result<String> {
    let mut reply = agent(trust)?
        .get(url)
        .header("Authorization", &format!("Bearer {}", token.trim()))
        .call()
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = reply.status();
    let body = reply
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .map_err(|e| anyhow::anyhow!("{url}: reading the reply: {e}"))?;
    match status.as_u16() {
        200 => Ok(body),
        401 => anyhow::bail!(
            "{url} refused the metrics token (401): the token is the state directory's metrics-token of this cluster"
        ),
        404 => anyhow::bail!(
            "{url} answered 404: the cluster runs an image without the metrics exporter; `cargo xtask start` again with an image built by this version"
        ),
        code => anyhow::bail!("{url} answered {code}"),
    }
}

/// One GET, read back as rows.
pub fn fetch(url: &str, trust: Trust, token: &str) -> anyhow::Result<Snapshot> {
    let text = fetch_text(url, trust, token)?;
    Snapshot::parse(&text).map_err(|e| anyhow::anyhow!("{url}: not a Prometheus exposition: {e}"))
}
