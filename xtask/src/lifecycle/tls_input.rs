//! A certificate of one's own (`--tls-cert`, `--tls-key`, `--tls-ca`) as input:
//! each file read with a size limit, then checked completely, before `start`,
//! `up` or `compose` writes a file or calls the engine: PEM, the names cover
//! the advertised address, nothing has expired, the key is the certificate's,
//! and the chain verifies against what the build servers will trust (`--tls-ca`,
//! or the system store). A refusal names the file, the problem and the fix.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use crate::model::cluster::OwnCert;
use crate::sccache::scheduler_status::SYSTEM_ROOTS;
use crate::sccache::tls::{self, Name};
use crate::sccache::tls_verify;
use crate::store::TlsFiles;

/// The largest certificate, chain or key file read: PEM files are a few KiB.
pub const MAX_PEM_BYTES: u64 = 1024 * 1024;

/// The text of `path`, given as `flag`: a regular file of at most
/// [`MAX_PEM_BYTES`]; more is never read.
pub fn read_pem(flag: &str, path: &Path) -> anyhow::Result<String> {
    let shown = format!("{flag} {}", path.display());
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let meta = file.metadata()?;
    anyhow::ensure!(meta.is_file(), "{shown}: not a regular file");
    let mut bytes = Vec::new();
    file.take(MAX_PEM_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    anyhow::ensure!(
        bytes.len() as u64 <= MAX_PEM_BYTES,
        "{shown}: {} bytes, over the limit of 1 MiB for a PEM file (a certificate chain or a key is a few KiB); give the file holding the PEM blocks only",
        meta.len().max(bytes.len() as u64)
    );
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{shown}: not a PEM text file"))
}

/// The front's files from `own`, checked for a scheduler advertised at `address`
/// (unspecified: no address to check). The certificates are handed on re-encoded
/// from what was parsed, so nothing else in the file travels with them.
pub fn own_files(own: &OwnCert, address: Ipv4Addr) -> anyhow::Result<TlsFiles> {
    let cert_shown = format!("--tls-cert {}", own.cert.display());
    let cert_text = read_pem("--tls-cert", &own.cert)?;
    let chain =
        tls_verify::certificates(&cert_text).map_err(|e| anyhow::anyhow!("{cert_shown}: {e}"))?;
    let leaf = pem_text(&chain[..1]);
    let facts = tls::facts(&leaf).map_err(|e| anyhow::anyhow!("{cert_shown}: {e}"))?;
    let checked = (!address.is_unspecified()).then_some(IpAddr::V4(address));
    if let Some(ip) = checked.filter(|ip| !facts.covers(&Name::Ip(*ip))) {
        let has: Vec<String> = facts.names.iter().map(|n| n.to_string()).collect();
        anyhow::bail!(
            "{cert_shown} covers {}, not the advertised address {ip}: clients would refuse it (NotValidForName). Fix: use a certificate for that address, or advertise one it covers",
            if has.is_empty() { "no name".into() } else { has.join(", ") },
        );
    }
    anyhow::ensure!(
        facts.remaining().is_some(),
        "{cert_shown} expired on {}: clients and build servers would refuse it (CertExpired). Fix: renew it and give the new file",
        day(facts.not_after)
    );
    let key = read_pem("--tls-key", &own.key)?;
    tls_verify::key_matches(&leaf, &key).map_err(|e| {
        anyhow::anyhow!(
            "--tls-key {}: {e}. Fix: give the key that belongs to {cert_shown} (`openssl x509 -noout -pubkey -in CERT` and `openssl pkey -pubout -in KEY` print the same key for a pair)",
            own.key.display()
        )
    })?;
    let ca = own.ca.as_deref().map(read_ca).transpose()?;
    let (roots, trusted_by) = match (&ca, own.ca.as_deref()) {
        (Some(pem), Some(p)) => (pem.clone(), format!("--tls-ca {}", p.display())),
        _ => system_roots()?,
    };
    if let Err(p) = tls_verify::verify_chain(&pem_text(&chain), &roots, checked) {
        let fix = match &ca {
            _ if p.code == "CaUsedAsEndEntity" => "a server certificate (CA:FALSE, extended key usage serverAuth) signed by a CA, that CA as --tls-ca",
            Some(_) => "give the CA that signed it as --tls-ca (an intermediate CA goes in the --tls-cert file, after the certificate)",
            None => "give the CA that signed it as --tls-ca FILE (the build servers then trust it; clients add it to their system store), or use a certificate from a CA the system store trusts",
        };
        anyhow::bail!(
            "{cert_shown} does not verify against {trusted_by} ({}: {}): the build servers would refuse the scheduler. Fix: {fix}",
            p.code,
            p.text
        );
    }
    Ok(TlsFiles {
        ca_cert: ca,
        leaf_cert: pem_text(&chain),
        leaf_key: key,
    })
}

/// `--tls-ca`: one CA certificate that has not expired.
fn read_ca(path: &Path) -> anyhow::Result<String> {
    let shown = format!("--tls-ca {}", path.display());
    let text = read_pem("--tls-ca", path)?;
    let certs = tls_verify::certificates(&text).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    let pem = pem_text(&certs);
    let f = tls::facts(&pem).map_err(|e| anyhow::anyhow!("{shown}: {e}"))?;
    anyhow::ensure!(
        f.is_ca,
        "{shown}: the certificate of {} is not a CA's (basic constraints CA:FALSE). Fix: give the certificate of the CA that signed --tls-cert",
        f.subject
    );
    anyhow::ensure!(
        f.remaining().is_some(),
        "{shown}: the CA {} expired on {}. Fix: a certificate from a current CA",
        f.subject,
        day(f.not_after)
    );
    Ok(pem)
}

/// The system store of this host, and its path: the roots the image's build
/// servers and the clients' system stores are taken to hold.
fn system_roots() -> anyhow::Result<(String, String)> {
    SYSTEM_ROOTS
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok().map(|t| (t, *p)))
        .map(|(t, p)| (t, format!("the system store ({p})")))
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no system store of roots on this host ({}) to check --tls-cert against: give its CA as --tls-ca FILE",
                SYSTEM_ROOTS.join(", ")
            )
        })
}

/// DER certificates as PEM text.
fn pem_text(certs: &[rustls::pki_types::CertificateDer<'_>]) -> String {
    use base64::Engine;
    let mut out = String::new();
    for c in certs {
        let b64 = base64::engine::general_purpose::STANDARD.encode(c.as_ref());
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// The day of `t`, as YYYY-MM-DD.
fn day(t: std::time::SystemTime) -> String {
    time::OffsetDateTime::from(t).date().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_certificate_is_handed_on_as_it_came_without_what_followed_it() {
        let ca = tls::new_ca("t").unwrap();
        let leaf = tls::issue_leaf(&ca, &[Name::Dns("x".into())], 30).unwrap();
        let text = format!("{}{}junk after it\n", leaf.cert_pem, ca.cert_pem);
        let certs = tls_verify::certificates(&text).unwrap();
        assert_eq!(
            pem_text(&certs),
            format!("{}{}", leaf.cert_pem, ca.cert_pem)
        );
    }
}
