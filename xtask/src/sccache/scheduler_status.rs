//! The scheduler's unauthenticated status endpoint, `/api/v1/scheduler/status`:
//! readiness, health and the figures `status` shows. Asked with ureq (rustls), so
//! the same call speaks plain HTTP to a scheduler on loopback and HTTPS to a TLS
//! front, trusting the roots it is given.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use ureq::tls::{Certificate, RootCerts, TlsConfig};

/// The figures the scheduler's status endpoint reports.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct SchedulerStatus {
    /// Build servers currently registered with the scheduler.
    pub num_servers: u64,
    /// Their CPUs together: how many jobs the cluster can run at once.
    pub num_cpus: u64,
    /// Jobs allocated and not finished yet.
    pub in_progress: u64,
}

/// Whom an HTTPS answer must be signed by.
#[derive(Debug, Clone, Copy)]
pub enum Trust<'a> {
    /// Mozilla's web roots (a certificate from a public CA).
    WebRoots,
    /// Only these certificates, PEM (a cluster's own CA).
    Pem(&'a [u8]),
    /// The roots of this host's system store (a user's own certificate).
    SystemStore,
}

/// Where a system keeps its roots, by distro family.
pub const SYSTEM_ROOTS: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

/// How long one status request may take, connect to last byte.
const TIMEOUT: Duration = Duration::from_secs(2);

/// One GET of `http://ADDR/...`; an error says what went wrong.
pub fn fetch(addr: SocketAddr) -> anyhow::Result<SchedulerStatus> {
    fetch_url(&format!("http://{addr}"), Trust::WebRoots)
}

/// An HTTP client for the cluster: short timeouts, no proxy, non-2xx answers
/// returned (not errors), TLS trusting `trust`.
pub fn agent(trust: Trust) -> anyhow::Result<ureq::Agent> {
    let roots = match trust {
        Trust::WebRoots => RootCerts::WebPki,
        Trust::Pem(pem) => {
            let cert = Certificate::from_pem(pem)
                .map_err(|e| anyhow::anyhow!("the CA certificate does not parse: {e}"))?;
            RootCerts::new_with_certs(&[cert])
        }
        Trust::SystemStore => {
            let bundle = SYSTEM_ROOTS
                .iter()
                .find_map(|p| std::fs::read(p).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!(
                        "no system store of roots found ({})",
                        SYSTEM_ROOTS.join(", ")
                    )
                })?;
            let certs: Vec<Certificate<'static>> = ureq::tls::parse_pem(&bundle)
                .filter_map(|item| match item {
                    Ok(ureq::tls::PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            RootCerts::new_with_certs(&certs)
        }
    };
    Ok(ureq::Agent::config_builder()
        .timeout_global(Some(TIMEOUT))
        .proxy(None)
        .http_status_as_error(false)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build()
        .into())
}

/// One GET of the status endpoint below `base` (`http[s]://HOST:PORT`), with
/// short timeouts and no proxy (the scheduler is the cluster's, never the web's).
pub fn fetch_url(base: &str, trust: Trust) -> anyhow::Result<SchedulerStatus> {
    let agent = agent(trust)?;
    let url = format!("{}/api/v1/scheduler/status", base.trim_end_matches('/'));
    let mut reply = agent
        .get(&url)
        .header("Accept", "application/json")
        .call()
        .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
    let status = reply.status();
    let body = reply
        .body_mut()
        .with_config()
        .limit(64 * 1024)
        .read_to_string()
        .map_err(|e| anyhow::anyhow!("{url}: reading the reply: {e}"))?;
    if status != 200 {
        anyhow::bail!("the scheduler answered {status} at {url}");
    }
    serde_json::from_str(body.trim())
        .map_err(|e| anyhow::anyhow!("unexpected scheduler status {:?}: {e}", clip(&body)))
}

fn clip(s: &str) -> &str {
    let end = s.char_indices().nth(200).map_or(s.len(), |(i, _)| i);
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// A one-shot HTTP server on loopback answering `reply`.
    fn serve_once(reply: &'static str) -> SocketAddr {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(reply.as_bytes());
            }
        });
        addr
    }

    #[test]
    fn the_figures_and_the_failures() {
        let body = r#"{"num_servers":2,"num_cpus":4,"in_progress":1}"#;
        let ok: &'static str = Box::leak(
            format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}", body.len())
                .into_boxed_str(),
        );
        let s = fetch(serve_once(ok)).unwrap();
        assert_eq!((s.num_servers, s.num_cpus, s.in_progress), (2, 4, 1));
        let denied = "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
        let err = fetch(serve_once(denied)).unwrap_err().to_string();
        assert!(err.contains("401"), "{err}");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        assert!(fetch(addr).is_err());
    }
}
