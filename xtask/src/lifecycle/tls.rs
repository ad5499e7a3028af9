//! The cluster's certificates in its state directory: a private CA made on first
//! start (`tls/ca.pem`, and its key `tls/ca.key`, 0600, which never leaves the
//! state directory), the scheduler front's leaf (re-issued when a name it must
//! cover is missing or it nears its end; the CA is kept, so clients keep working),
//! and the bundle a client trusts (the system roots and the CA).

use std::net::{IpAddr, Ipv4Addr};

use crate::model::cluster::{OwnCert, Tls};
use crate::model::Cluster;
use crate::sccache::tls::{self, Name, Pair, LEAF_DAYS, RENEW_WITHIN_DAYS};
use crate::store::{StateDir, TlsFiles};

const CA_CERT: &str = "tls/ca.pem";
const CA_KEY: &str = "tls/ca.key";
const LEAF_CERT: &str = "container/tls/scheduler.pem";
const LEAF_KEY: &str = "container/tls/scheduler.key";
/// The client's trust: the system roots and the cluster's CA.
pub const CLIENT_BUNDLE: &str = "ca-bundle.pem";

use crate::sccache::scheduler_status::SYSTEM_ROOTS;

/// The names the scheduler's leaf covers: the address clients and builders use,
/// loopback (the tool's own checks on this host), and the names asked for.
pub fn names(c: &Cluster) -> anyhow::Result<Vec<Name>> {
    let mut names = vec![
        Name::Ip(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        Name::Dns("localhost".into()),
    ];
    // On Kubernetes the address is a placeholder (pod IPs): the names carry it.
    if !c.scheduler.address.is_unspecified() {
        names.push(Name::Ip(IpAddr::V4(c.scheduler.address)));
    }
    for n in &c.tls_names {
        names.push(parse_name(n)?);
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// A `--tls-name`: an IP address or a DNS name (letters, digits, `-`, `.`).
pub fn parse_name(n: &str) -> anyhow::Result<Name> {
    if let Ok(ip) = n.parse::<IpAddr>() {
        return Ok(Name::Ip(ip));
    }
    let ok = !n.is_empty()
        && n.len() <= 253
        && n.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    anyhow::ensure!(
        ok,
        "--tls-name {}: not an IP address or a DNS name",
        crate::profile::validate::quote(n)
    );
    Ok(Name::Dns(n.to_ascii_lowercase()))
}

/// The CA, made and stored on first use.
pub fn ca(state: &StateDir, c: &Cluster) -> anyhow::Result<Pair> {
    if let (Some(cert_pem), Some(key_pem)) = (state.read_text(CA_CERT)?, state.read_text(CA_KEY)?) {
        return Ok(Pair { cert_pem, key_pem });
    }
    let ca = tls::new_ca(c.base_name())?;
    state.write_private(CA_KEY, ca.key_pem.as_bytes())?;
    state.write_private(CA_CERT, ca.cert_pem.as_bytes())?;
    println!(
        "made the cluster's CA ({}/{CA_CERT}; its key stays in the state directory, mode 0600)",
        state.path().display()
    );
    Ok(ca)
}

/// Where the CA's certificate is kept (public; its key beside it is not).
pub fn ca_cert_path(state: &StateDir) -> std::path::PathBuf {
    state.path().join(CA_CERT)
}

/// The CA certificate the build servers (and joined ones) trust the front with:
/// the cluster's, `--tls-ca`, or None (their system store trusts it).
pub fn servers_ca(state: &StateDir, c: &Cluster) -> anyhow::Result<Option<String>> {
    match (c.tls, &c.own_cert) {
        (Tls::Plain, _) => Ok(None),
        (Tls::Own, Some(own)) => own
            .ca
            .as_ref()
            .map(|p| {
                std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("--tls-ca {}: {e}", p.display()))
            })
            .transpose(),
        _ => ca_cert(state),
    }
}

/// The CA's certificate, when the cluster has one.
pub fn ca_cert(state: &StateDir) -> anyhow::Result<Option<String>> {
    state.read_text(CA_CERT)
}

/// The front's files for `c`: the user's own (checked), or the cluster CA's leaf,
/// kept while it covers every name, verifies with the CA and has more than a
/// month left, else re-issued.
pub fn front_files(state: &StateDir, c: &Cluster) -> anyhow::Result<TlsFiles> {
    if let (Tls::Own, Some(own)) = (c.tls, &c.own_cert) {
        return own_files(c, own);
    }
    let ca = ca(state, c)?;
    let want = names(c)?;
    let kept = match (state.read_text(LEAF_CERT)?, state.read_text(LEAF_KEY)?) {
        (Some(cert), Some(key)) if leaf_fits(&cert, &ca.cert_pem, &want) => Some((cert, key)),
        _ => None,
    };
    let (leaf_cert, leaf_key) = match kept {
        Some(pair) => pair,
        None => {
            let leaf = tls::issue_leaf(&ca, &want, LEAF_DAYS)?;
            let shown: Vec<String> = want.iter().map(|n| n.to_string()).collect();
            println!(
                "issued the scheduler's certificate for {} (signed by the cluster's CA, which clients already trust)",
                shown.join(", ")
            );
            (leaf.cert_pem, leaf.key_pem)
        }
    };
    Ok(TlsFiles {
        ca_cert: Some(ca.cert_pem),
        leaf_cert,
        leaf_key,
    })
}

/// `--tls-cert`, `--tls-key` and `--tls-ca`, read and checked: a certificate for
/// the advertised address that has not expired, a private key, a CA's certificate.
fn own_files(c: &Cluster, own: &OwnCert) -> anyhow::Result<TlsFiles> {
    let read = |flag: &str, p: &std::path::Path| {
        std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{flag} {}: {e}", p.display()))
    };
    let leaf_cert = read("--tls-cert", &own.cert)?;
    let leaf_key = read("--tls-key", &own.key)?;
    let facts = tls::facts(&leaf_cert)
        .map_err(|e| anyhow::anyhow!("--tls-cert {}: {e}", own.cert.display()))?;
    anyhow::ensure!(
        leaf_key.contains("PRIVATE KEY-----"),
        "--tls-key {}: not a PEM private key",
        own.key.display()
    );
    let address = Name::Ip(IpAddr::V4(c.scheduler.address));
    if !c.scheduler.address.is_unspecified() && !facts.covers(&address) {
        let has: Vec<String> = facts.names.iter().map(|n| n.to_string()).collect();
        anyhow::bail!(
            "--tls-cert {} covers {}, not the advertised address {}: clients would refuse it (NotValidForName); use a certificate for that address, or advertise one it covers",
            own.cert.display(),
            has.join(", "),
            c.scheduler.address
        );
    }
    anyhow::ensure!(
        facts.remaining().is_some(),
        "--tls-cert {} has expired",
        own.cert.display()
    );
    let ca_cert = match &own.ca {
        None => None,
        Some(p) => {
            let pem = read("--tls-ca", p)?;
            let f =
                tls::facts(&pem).map_err(|e| anyhow::anyhow!("--tls-ca {}: {e}", p.display()))?;
            anyhow::ensure!(f.is_ca, "--tls-ca {}: not a CA's certificate", p.display());
            Some(pem)
        }
    };
    Ok(TlsFiles {
        ca_cert,
        leaf_cert,
        leaf_key,
    })
}

fn leaf_fits(cert: &str, ca: &str, want: &[Name]) -> bool {
    let Ok(f) = tls::facts(cert) else {
        return false;
    };
    let month = std::time::Duration::from_secs(RENEW_WITHIN_DAYS as u64 * 86400);
    want.iter().all(|n| f.covers(n))
        && f.remaining().is_some_and(|r| r > month)
        && tls::signed_by(cert, ca).unwrap_or(false)
}

/// Writes the client's bundle (the system roots, then the cluster's CA) to
/// `path`, mode 0600 like everything in a state directory (it holds nothing
/// secret: copy it freely); says where the roots came from.
pub fn write_client_bundle(path: &std::path::Path, ca_pem: &str) -> anyhow::Result<String> {
    let (text, from) = client_bundle_text(ca_pem);
    crate::base::atomic::write(path, text.as_bytes(), 0o600)?;
    Ok(from)
}

/// The bundle's text (this host's system roots, then the cluster's CA) and
/// where the roots came from.
pub fn client_bundle_text(ca_pem: &str) -> (String, String) {
    let (roots, from) = SYSTEM_ROOTS
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|t| (t, *p)))
        .map(|(t, p)| (t, format!("the system roots of {p}")))
        .unwrap_or_else(|| (String::new(), "no system roots found".into()));
    let mut text = roots;
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str("# sccache-docker: the cluster's CA\n");
    text.push_str(ca_pem);
    (text, from)
}

/// Whom the tool trusts for the scheduler's front: the cluster's CA, the CA
/// given with a certificate of one's own, the system store, or nothing (plain HTTP).
pub enum FrontTrust {
    /// Plain HTTP, or a certificate from the web's roots.
    WebRoots,
    /// This CA (PEM).
    Pem(String),
    /// The system store (a certificate of one's own without --tls-ca).
    SystemStore,
}

impl FrontTrust {
    /// As the HTTP client takes it.
    pub fn as_trust(&self) -> crate::sccache::scheduler_status::Trust<'_> {
        use crate::sccache::scheduler_status::Trust;
        match self {
            FrontTrust::WebRoots => Trust::WebRoots,
            FrontTrust::Pem(p) => Trust::Pem(p.as_bytes()),
            FrontTrust::SystemStore => Trust::SystemStore,
        }
    }
}

/// The trust a client of this cluster needs for its front.
pub fn front_trust(state: &StateDir, c: &Cluster) -> anyhow::Result<FrontTrust> {
    if !c.tls.is_on() {
        return Ok(FrontTrust::WebRoots);
    }
    Ok(match (c.tls, &c.own_cert) {
        (Tls::Own, Some(own)) => match &own.ca {
            Some(p) => FrontTrust::Pem(std::fs::read_to_string(p)?),
            // Trusted by the system store, as the clients trust it.
            None => FrontTrust::SystemStore,
        },
        _ => FrontTrust::Pem(ca_cert(state)?.ok_or_else(|| {
            anyhow::anyhow!(
                "no CA certificate in {}: `cargo xtask start` makes it",
                state.path().display()
            )
        })?),
    })
}

/// The scheduler's status as a client sees it: over its TLS front, trusting only
/// the cluster's CA, or over plain HTTP.
pub fn scheduler_status(
    state: &StateDir,
    c: &Cluster,
) -> anyhow::Result<crate::sccache::scheduler_status::SchedulerStatus> {
    let trust = front_trust(state, c)?;
    crate::sccache::scheduler_status::fetch_url(&c.scheduler_url(), trust.as_trust())
}
