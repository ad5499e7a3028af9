//! Before `join` starts anything: does the scheduler answer at the bundle's URL,
//! and does the trust the server will be given (the bundle's CA, or the system
//! store when the bundle has none) verify the certificate it presents for that
//! URL's host? Asked once from this host with a 2 s timeout and no proxy, so a
//! wrong CA, a certificate for another name or a silent scheduler fails in
//! seconds with its cause, instead of a server that never registers.

use crate::model::remote::JoinBundle;
use crate::sccache::scheduler_status::{self, Trust};

/// The trust the joined server will use: the bundle's CA, or the system store
/// (none is read for a plain-HTTP scheduler).
fn trust(b: &JoinBundle) -> Trust<'_> {
    match &b.ca_cert {
        Some(ca) => Trust::Pem(ca.as_bytes()),
        None if b.scheduler_url.starts_with("http://") => Trust::WebRoots,
        None => Trust::SystemStore,
    }
}

/// Fails, naming the cause and the fix on the scheduler's host, unless the
/// scheduler answers at the bundle's URL over a connection its trust verifies.
/// Any HTTP answer will do: the handshake, not the status, is what is checked.
pub fn check(b: &JoinBundle) -> anyhow::Result<()> {
    let url = format!(
        "{}/api/v1/scheduler/status",
        b.scheduler_url.trim_end_matches('/')
    );
    let agent = scheduler_status::agent(trust(b)).map_err(|e| match b.ca_cert {
        Some(_) => anyhow::anyhow!("the bundle's field `ca_cert`: {e:#}"),
        None => anyhow::anyhow!(
            "cannot check the scheduler's certificate at {}: {e:#}",
            b.scheduler_url
        ),
    })?;
    match agent.get(&url).call() {
        Ok(_) => Ok(()),
        Err(e) => Err(anyhow::anyhow!(refusal(b, &e.to_string()))),
    }
}

/// The known causes in a client error's text, by rustls' name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The CA did not sign the certificate (UnknownIssuer, BadSignature).
    Untrusted(&'static str),
    /// The certificate does not cover the URL's host.
    NotValidForName,
    /// The certificate (or its CA) has expired.
    Expired,
    /// No TLS answer at all: refused, timed out, unresolved, reset.
    NoAnswer,
}

/// Which [`Failure`] the error text `err` shows.
pub fn classify(err: &str) -> Failure {
    if err.contains("UnknownIssuer") || err.contains("unknown issuer") {
        Failure::Untrusted("UnknownIssuer")
    } else if err.contains("BadSignature") || err.contains("bad signature") {
        Failure::Untrusted("BadSignature")
    } else if err.contains("NotValidForName") || err.contains("not valid for name") {
        Failure::NotValidForName
    } else if err.contains("Expired") || err.contains("expired") {
        Failure::Expired
    } else {
        Failure::NoAnswer
    }
}

/// The refusal of `join` for error text `err`: cause, then the fix.
fn refusal(b: &JoinBundle, err: &str) -> String {
    let url = &b.scheduler_url;
    let whose = match b.ca_cert {
        Some(_) => "the bundle's CA (its field `ca_cert`)",
        None => "this host's system store (the bundle has no `ca_cert`)",
    };
    let new_bundle = format!(
        "on the scheduler's host, make a new bundle for this host (`cargo xtask join-bundle --address {} --port {} --name {} --output FILE`: it carries the cluster's current CA and URL), then `cargo xtask join FILE` here",
        b.address, b.port, b.name
    );
    let (cause, fix) = match classify(err) {
        Failure::Untrusted(code) => (
            format!("the scheduler's certificate at {url} is not trusted: {whose} does not verify it ({code}), so the build server would never register. {}", match b.ca_cert {
                Some(_) => "The bundle carries another CA than the one that signed the scheduler's TLS certificate (a bundle from before the cluster's CA was made anew, or from another cluster)",
                None => "The certificate is signed by a CA this host does not trust (a bundle of a cluster with its own CA carries it in `ca_cert`)",
            }),
            format!("Fix: {new_bundle}"),
        ),
        Failure::NotValidForName => (
            format!("the scheduler's certificate does not cover the host of {url} (NotValidForName), so the build server would refuse it and never register"),
            format!("Fix, on the scheduler's host: `cargo xtask tls renew` re-issues the certificate for the advertised address in place (`cargo xtask start --tls-name NAME` adds a host name); if the scheduler moved, {new_bundle}"),
        ),
        Failure::Expired => (
            format!("the scheduler's certificate at {url} has expired (Expired), so the build server would refuse it and never register"),
            format!("Fix, on the scheduler's host: `cargo xtask tls renew` issues a new one in place; if the CA itself expired, {new_bundle}"),
        ),
        Failure::NoAnswer => (
            format!("the scheduler does not answer at {url} from this host, so the build server could not register"),
            format!("Fix: check that it runs (`cargo xtask status` on the scheduler's host) and that its port is open to this host; if it moved to another address, {new_bundle}"),
        ),
    };
    format!("{cause}.\n{fix}.\n(the request: {err})\nNothing was started or written.")
}

#[cfg(test)]
mod tests;
