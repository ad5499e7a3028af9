//! The cluster's certificates in its state directory: a private CA made on first
//! start (`tls/ca.pem`, and its key `tls/ca.key`, 0600, which never leaves the
//! state directory), the scheduler front's leaf (re-issued when a name it must
//! cover is missing or it nears its end; the CA is kept, so clients keep working),
//! and the bundle a client trusts (the system roots and the CA).

use std::net::{IpAddr, Ipv4Addr};

use crate::model::cluster::Tls;
use crate::model::Cluster;
use crate::sccache::tls::{self, Name, Pair, LEAF_DAYS, RENEW_WITHIN_DAYS};
use crate::store::{StateDir, TlsFiles};

const CA_CERT: &str = "tls/ca.pem";
const CA_KEY: &str = "tls/ca.key";
const LEAF_CERT: &str = "container/tls/scheduler.pem";
const LEAF_KEY: &str = "container/tls/scheduler.key";
/// The CA the build servers were given, beside the scheduler's config.
const SERVERS_CA: &str = "container/ca.pem";
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
            .map(|p| super::tls_input::read_pem("--tls-ca", p))
            .transpose(),
        _ => ca_cert(state),
    }
}

/// The CA's certificate, when the cluster has one.
pub fn ca_cert(state: &StateDir) -> anyhow::Result<Option<String>> {
    state.read_text(CA_CERT)
}

/// The front of a cluster as `start` will write it, worked out in memory first:
/// every input read and checked, a CA or leaf to make made, nothing written.
pub struct Front {
    /// The files the front and the build servers get.
    pub files: TlsFiles,
    /// A CA made for this start, stored by [`commit_front`].
    new_ca: Option<Pair>,
    /// Whether the new CA replaces one the cluster had (clients trusted that one).
    rotated: bool,
    /// The names of a leaf issued for this start.
    issued: Option<Vec<Name>>,
}

/// The front's files for `c`: the user's own (read and checked completely), or
/// the cluster CA's leaf, kept while it covers every name, verifies with the CA
/// and has more than a month left, else re-issued. The CA (kept in `ca_home`,
/// the state directory) is made in memory when there is none. Writes nothing.
pub fn plan_front(state: &StateDir, ca_home: &StateDir, c: &Cluster) -> anyhow::Result<Front> {
    if let (Tls::Own, Some(own)) = (c.tls, &c.own_cert) {
        let files = super::tls_input::own_files(own, c.scheduler.address)?;
        return Ok(Front {
            files,
            new_ca: None,
            rotated: false,
            issued: None,
        });
    }
    let stored = (ca_home.read_text(CA_CERT)?, ca_home.read_text(CA_KEY)?);
    let (ca, new_ca) = match stored {
        (Some(cert_pem), Some(key_pem)) => {
            tls::facts(&cert_pem)
                .map_err(|e| anyhow::anyhow!("{}: {e}", ca_home.path().join(CA_CERT).display()))?;
            (Pair { cert_pem, key_pem }, false)
        }
        _ => (tls::new_ca(c.base_name())?, true),
    };
    // A new CA where a client bundle or the old CA's certificate was: its clients
    // and joined hosts trusted another CA. (A leaf of one's own before is not:
    // its clients trusted it through their system store.)
    let rotated = new_ca
        && (ca_home.read_text(CA_CERT)?.is_some() || state.path().join(CLIENT_BUNDLE).exists());
    let want = names(c)?;
    let kept = match (state.read_text(LEAF_CERT)?, state.read_text(LEAF_KEY)?) {
        (Some(cert), Some(key)) if leaf_fits(&cert, &ca.cert_pem, &want) => Some((cert, key)),
        _ => None,
    };
    let (leaf_cert, leaf_key, issued) = match kept {
        Some((cert, key)) => (cert, key, None),
        None => {
            let leaf = tls::issue_leaf(&ca, &want, LEAF_DAYS)?;
            (leaf.cert_pem, leaf.key_pem, Some(want))
        }
    };
    Ok(Front {
        files: TlsFiles {
            ca_cert: Some(ca.cert_pem.clone()),
            leaf_cert,
            leaf_key,
        },
        new_ca: new_ca.then_some(ca),
        rotated,
        issued,
    })
}

/// Stores a CA `plan_front` made (in `ca_home`, key 0600) and says what changed
/// for the clients of `state`; the files for the configs.
pub fn commit_front(
    state: &StateDir,
    ca_home: &StateDir,
    front: Front,
) -> anyhow::Result<TlsFiles> {
    let bundle = state.path().join(CLIENT_BUNDLE);
    if let Some(ca) = &front.new_ca {
        ca_home.write_private(CA_KEY, ca.key_pem.as_bytes())?;
        ca_home.write_private(CA_CERT, ca.cert_pem.as_bytes())?;
        let at = ca_home.path().join(CA_CERT);
        match front.rotated {
            false => println!(
                "made the cluster's CA ({}; its key stays beside it, mode 0600)",
                at.display()
            ),
            true => println!(
                "made a NEW CA for the cluster ({}), replacing the one it had: no client or joined host trusts it yet. Every client needs the new {} (`cargo xtask client-config` says how; then `sccache --stop-server`), and every joined host a new join bundle (`cargo xtask join-bundle --address IP -o FILE` here, `cargo xtask join FILE` there)",
                at.display(),
                bundle.display()
            ),
        }
    }
    if let Some(want) = &front.issued {
        let shown: Vec<String> = want.iter().map(|n| n.to_string()).collect();
        let signed = match (&front.new_ca, front.rotated) {
            (Some(_), true) => "signed by the new CA".to_owned(),
            (Some(_), false) => format!(
                "signed by the cluster's CA; clients trust it through {}",
                bundle.display()
            ),
            (None, _) => {
                "signed by the cluster's CA, unchanged: clients keep their trust".to_owned()
            }
        };
        println!(
            "issued the scheduler's certificate for {} ({signed})",
            shown.join(", ")
        );
    }
    Ok(front.files)
}

impl Front {
    /// Whether it makes a CA (the state directory has none).
    pub fn makes_ca(&self) -> bool {
        self.new_ca.is_some()
    }

    /// Whether the CA it hands the build servers is not the one they were
    /// given (`container/ca.pem`): a new `--tls-ca` needs them restarted.
    pub fn ca_differs(&self, state: &StateDir) -> anyhow::Result<bool> {
        Ok(state.read_text(SERVERS_CA)? != self.files.ca_cert)
    }

    /// Whether its leaf or key is not the one the scheduler's container reads
    /// from `state`.
    pub fn leaf_differs(&self, state: &StateDir) -> anyhow::Result<bool> {
        Ok(
            state.read_text(LEAF_CERT)?.as_deref() != Some(self.files.leaf_cert.as_str())
                || state.read_text(LEAF_KEY)?.as_deref() != Some(self.files.leaf_key.as_str()),
        )
    }
}

/// [`write_leaf_expiry`]'s file, beside the leaf.
pub const LEAF_EXPIRY: &str = "container/tls/scheduler.not-after";

/// Writes the front's leaf and key where the scheduler's container reads them
/// (its config directory, mounted): nginx serves them once it reloads.
pub fn write_leaf(state: &StateDir, files: &TlsFiles) -> anyhow::Result<()> {
    state.write_private(LEAF_KEY, files.leaf_key.as_bytes())?;
    state.write_private(LEAF_CERT, files.leaf_cert.as_bytes())?;
    write_leaf_expiry(state, &files.leaf_cert)
}

/// The leaf's end (Unix seconds) beside it, where the metrics exporter reads
/// it for `sccache_dist_front_certificate_expiry_timestamp_seconds` (the
/// exporter parses no certificate itself).
pub fn write_leaf_expiry(state: &StateDir, leaf_pem: &str) -> anyhow::Result<()> {
    let end = tls::facts(leaf_pem)?
        .not_after
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    state.write_private(LEAF_EXPIRY, format!("{end}\n").as_bytes())?;
    Ok(())
}

/// The leaf the scheduler's container reads, when there is one.
pub fn stored_leaf(state: &StateDir) -> anyhow::Result<Option<String>> {
    state.read_text(LEAF_CERT)
}

/// [`plan_front`] then [`commit_front`], the CA kept in `state` itself.
pub fn front_files(state: &StateDir, c: &Cluster) -> anyhow::Result<TlsFiles> {
    commit_front(state, state, plan_front(state, state, c)?)
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
            Some(p) => FrontTrust::Pem(super::tls_input::read_pem("--tls-ca", p)?),
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
