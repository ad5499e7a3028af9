//! The certificates of a cluster's TLS front: a private CA made on first start,
//! and a leaf for the scheduler's front signed by it, whose names cover every
//! address and name clients and builders use. Made with rcgen (keys from ring's
//! system random source), read back with x509-parser; nothing here touches a
//! file.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use time::OffsetDateTime;

/// How long a cluster CA is valid: rotating it costs every client a new bundle.
pub const CA_DAYS: i64 = 3650;
/// How long a scheduler leaf is valid; re-issued on any start that finds it
/// within [`RENEW_WITHIN_DAYS`] of its end, at no cost to clients.
pub const LEAF_DAYS: i64 = 397;
/// A leaf this close to its end is re-issued on start, and `doctor` warns.
pub const RENEW_WITHIN_DAYS: i64 = 30;

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Pair {
    /// The certificate.
    pub cert_pem: String,
    /// Its private key (PKCS#8): never in an image, a bundle, a log or a
    /// rendered file; stored 0600.
    pub key_pem: String,
}

impl std::fmt::Debug for Pair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Pair { .. }") // the key never reaches a log
    }
}

/// A name in a certificate: an IP address or a DNS name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Name {
    /// An IP address.
    Ip(IpAddr),
    /// A DNS name.
    Dns(String),
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Name::Ip(ip) => write!(f, "{ip}"),
            Name::Dns(d) => f.write_str(d),
        }
    }
}

fn rc(e: rcgen::Error) -> anyhow::Error {
    anyhow::anyhow!("making a certificate: {e}")
}

/// A new CA for the cluster `cluster` (its common name says which).
pub fn new_ca(cluster: &str) -> anyhow::Result<Pair> {
    let key = KeyPair::generate().map_err(rc)?;
    let params = ca_params(cluster, OffsetDateTime::now_utc())?;
    let cert = params.self_signed(&key).map_err(rc)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

fn ca_params(cluster: &str, now: OffsetDateTime) -> anyhow::Result<CertificateParams> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        format!("sccache-docker CA for {cluster}"),
    );
    dn.push(DnType::OrganizationName, "sccache-docker");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(CA_DAYS);
    Ok(p)
}

/// A leaf for the scheduler's front with `names`, signed by `ca`, valid from an
/// hour ago for `days` days (a test may ask for an expired one with a negative
/// `days`).
pub fn issue_leaf(ca: &Pair, names: &[Name], days: i64) -> anyhow::Result<Pair> {
    anyhow::ensure!(!names.is_empty(), "a scheduler certificate needs a name");
    let ca_key = KeyPair::from_pem(&ca.key_pem).map_err(rc)?;
    let issuer = Issuer::from_ca_cert_pem(&ca.cert_pem, ca_key).map_err(rc)?;
    let key = KeyPair::generate().map_err(rc)?;
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(rc)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, names[0].to_string());
    p.distinguished_name = dn;
    p.subject_alt_names = names
        .iter()
        .map(|n| match n {
            Name::Ip(ip) => Ok(SanType::IpAddress(*ip)),
            Name::Dns(d) => d
                .as_str()
                .try_into()
                .map(SanType::DnsName)
                .map_err(|_| anyhow::anyhow!("{d:?} is not a DNS name")),
        })
        .collect::<anyhow::Result<_>>()?;
    p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    p.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::hours(1);
    p.not_after = now + time::Duration::days(days);
    let cert = p.signed_by(&key, &issuer).map_err(rc)?;
    Ok(Pair {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// What a certificate says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// Its subject alternative names.
    pub names: Vec<Name>,
    /// When it stops being valid.
    pub not_after: SystemTime,
    /// Whether it is a CA (basic constraints CA:TRUE).
    pub is_ca: bool,
    /// Its subject, as text.
    pub subject: String,
}

impl Facts {
    /// Whether it is valid for `name`.
    pub fn covers(&self, name: &Name) -> bool {
        self.names.contains(name)
    }

    /// Time left, or None when it has expired.
    pub fn remaining(&self) -> Option<Duration> {
        self.not_after.duration_since(SystemTime::now()).ok()
    }
}

/// The facts of the first certificate in `pem`.
pub fn facts(pem: &str) -> anyhow::Result<Facts> {
    let (_, p) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("not a PEM certificate: {e}"))?;
    let cert = p
        .parse_x509()
        .map_err(|e| anyhow::anyhow!("not an X.509 certificate: {e}"))?;
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for n in &san.value.general_names {
            match n {
                x509_parser::extensions::GeneralName::DNSName(d) => {
                    names.push(Name::Dns((*d).to_owned()))
                }
                x509_parser::extensions::GeneralName::IPAddress(b) => {
                    let ip = match b.len() {
                        4 => IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()),
                        16 => IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()),
                        _ => continue,
                    };
                    names.push(Name::Ip(ip));
                }
                _ => {}
            }
        }
    }
    let secs = cert.validity().not_after.timestamp();
    let not_after = SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    let is_ca = cert
        .basic_constraints()
        .ok()
        .flatten()
        .is_some_and(|b| b.value.ca);
    Ok(Facts {
        names,
        not_after,
        is_ca,
        subject: cert.subject().to_string(),
    })
}

/// Whether `cert_pem` was signed by the CA `ca_pem` (its signature verifies with
/// the CA's key).
pub fn signed_by(cert_pem: &str, ca_pem: &str) -> anyhow::Result<bool> {
    let (_, leaf) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("not a PEM certificate: {e}"))?;
    let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes())
        .map_err(|e| anyhow::anyhow!("the CA is not a PEM certificate: {e}"))?;
    let leaf = leaf.parse_x509().map_err(|e| anyhow::anyhow!("{e}"))?;
    let ca = ca.parse_x509().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(leaf.verify_signature(Some(ca.public_key())).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_signs_a_leaf_with_the_names_asked() {
        let ca = new_ca("t").unwrap();
        let ca_facts = facts(&ca.cert_pem).unwrap();
        assert!(ca_facts.is_ca);
        assert!(ca_facts.subject.contains("sccache-docker CA for t"));
        let names = [
            Name::Ip("10.0.0.5".parse().unwrap()),
            Name::Dns("scheduler".into()),
        ];
        let leaf = issue_leaf(&ca, &names, LEAF_DAYS).unwrap();
        let f = facts(&leaf.cert_pem).unwrap();
        assert!(!f.is_ca);
        assert!(f.covers(&names[0]) && f.covers(&names[1]));
        assert!(!f.covers(&Name::Ip("10.0.0.6".parse().unwrap())));
        assert!(f.remaining().unwrap() > Duration::from_secs(300 * 86400));
        assert!(signed_by(&leaf.cert_pem, &ca.cert_pem).unwrap());
        let other = new_ca("u").unwrap();
        assert!(!signed_by(&leaf.cert_pem, &other.cert_pem).unwrap());
        assert!(leaf.key_pem.contains("PRIVATE KEY"));
        assert!(!format!("{leaf:?}").contains("PRIVATE"));
    }

    #[test]
    fn an_expired_leaf_says_so() {
        let ca = new_ca("t").unwrap();
        let leaf = issue_leaf(&ca, &[Name::Dns("x".into())], -1).unwrap();
        assert_eq!(facts(&leaf.cert_pem).unwrap().remaining(), None);
    }
}
