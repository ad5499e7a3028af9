//! A certificate of the user's own, checked as the front and its clients will
//! use it, before anything runs: the key is the certificate's (nginx refuses a
//! mismatched pair only once it runs), and the chain verifies for the advertised
//! address against the roots the build servers and clients will be handed
//! (rustls' own verifier, the one sccache's client and server use). Nothing here
//! touches a file.

use std::net::IpAddr;
use std::sync::Arc;

use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Every certificate of `pem`, in order (a leaf, then its intermediates).
pub fn certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("not a PEM certificate ({e})"))?;
    if certs.is_empty() {
        return Err("no PEM certificate in it (`-----BEGIN CERTIFICATE-----`)".into());
    }
    Ok(certs)
}

/// Whether `key_pem` is the private key of the first certificate of `cert_pem`:
/// their public keys are compared. An error says what is wrong, in words.
pub fn key_matches(cert_pem: &str, key_pem: &str) -> Result<(), String> {
    let certs = certificates(cert_pem)?;
    if key_pem.contains("ENCRYPTED PRIVATE KEY") {
        return Err("the key is encrypted (nginx cannot ask for its passphrase): decrypt it, e.g. `openssl pkey -in KEY -out PLAIN.key`".into());
    }
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| format!("not a PEM private key ({e})"))?;
    let signing = provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| format!("a private key of a kind this tool cannot read ({e})"))?;
    match rustls::sign::CertifiedKey::new(certs, signing).keys_match() {
        Ok(()) => Ok(()),
        Err(Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) => Err(
            "it is not the key of the certificate (their public keys differ): nginx would refuse the pair (key values mismatch)".into(),
        ),
        Err(e) => Err(format!("cannot compare it with the certificate ({e})")),
    }
}

/// What verifying a chain found wrong, with rustls' name for it (what a client's
/// log would say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    /// rustls' name: UnknownIssuer, BadSignature, Expired, NotValidForName, ...
    pub code: String,
    /// In words.
    pub text: String,
}

/// Verifies the chain in `chain_pem` (leaf first, intermediates after) for
/// `address` (None: no address to check, e.g. Kubernetes' pod IPs) against the
/// roots in `roots_pem`, as a TLS client would now.
pub fn verify_chain(
    chain_pem: &str,
    roots_pem: &str,
    address: Option<IpAddr>,
) -> Result<(), ChainProblem> {
    let problem = |code: &str, text: String| ChainProblem {
        code: code.into(),
        text,
    };
    let chain = certificates(chain_pem).map_err(|e| problem("BadEncoding", e))?;
    let mut roots = RootCertStore::empty();
    for der in CertificateDer::pem_slice_iter(roots_pem.as_bytes()).flatten() {
        let _ = roots.add(der); // a root rustls cannot read trusts nothing
    }
    if roots.is_empty() {
        return Err(problem(
            "UnknownIssuer",
            "no usable root certificate".into(),
        ));
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
        .build()
        .map_err(|e| problem("Other", e.to_string()))?;
    // The name is checked by the caller (it says which names the leaf has); a
    // chain is verified for one it covers.
    let name = match address {
        Some(ip) => ServerName::IpAddress(ip.into()),
        None => match first_name(&chain[0]) {
            Some(n) => n,
            None => return Ok(()),
        },
    };
    let (leaf, intermediates) = chain.split_first().expect("one certificate at least");
    match verifier.verify_server_cert(leaf, intermediates, &name, &[], UnixTime::now()) {
        Ok(_) => Ok(()),
        Err(Error::InvalidCertificate(e)) => Err(certificate_problem(&e)),
        Err(e) => Err(problem("Other", e.to_string())),
    }
}

/// A name of the leaf to verify its chain for, when no address is given.
fn first_name(leaf: &CertificateDer<'_>) -> Option<ServerName<'static>> {
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref()).ok()?;
    let san = cert.subject_alternative_name().ok()??;
    san.value.general_names.iter().find_map(|n| match n {
        x509_parser::extensions::GeneralName::DNSName(d) => {
            ServerName::try_from(d.to_string()).ok()
        }
        x509_parser::extensions::GeneralName::IPAddress(b) => match b.len() {
            4 => Some(ServerName::IpAddress(
                IpAddr::from(<[u8; 4]>::try_from(*b).ok()?).into(),
            )),
            16 => Some(ServerName::IpAddress(
                IpAddr::from(<[u8; 16]>::try_from(*b).ok()?).into(),
            )),
            _ => None,
        },
        _ => None,
    })
}

fn certificate_problem(e: &CertificateError) -> ChainProblem {
    let (code, text) = match e {
        CertificateError::UnknownIssuer => (
            "UnknownIssuer",
            "it is not signed by (a chain up to) the CA it will be trusted with",
        ),
        CertificateError::BadSignature => (
            "BadSignature",
            "its signature does not verify with the CA it will be trusted with",
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            ("Expired", "it, or a certificate of its chain, has expired")
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            ("NotValidYet", "it is not valid yet (check the clock)")
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            ("NotValidForName", "it does not cover the advertised address")
        }
        CertificateError::InvalidPurpose | CertificateError::InvalidPurposeContext { .. } => (
            "InvalidPurpose",
            "it is not a server certificate (extended key usage serverAuth missing)",
        ),
        other if format!("{other:?}").contains("CaUsedAsEndEntity") => (
            "CaUsedAsEndEntity",
            "it is a CA's certificate (basic constraints CA:TRUE, as `openssl req -x509` makes by default), which TLS clients refuse as a server's",
        ),
        other => {
            return ChainProblem {
                code: "InvalidCertificate".into(),
                text: format!("{other:?}"),
            }
        }
    };
    ChainProblem {
        code: code.into(),
        text: text.into(),
    }
}

/// The leaf certificate (DER) a TLS server at `addr` presents: the handshake
/// is made to see it, so any certificate is taken and nothing is sent after.
pub fn served_leaf(addr: std::net::SocketAddr, timeout: Duration) -> anyhow::Result<Vec<u8>> {
    let p = provider();
    let config = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(p)))
        .with_no_client_auth();
    let mut conn =
        rustls::ClientConnection::new(Arc::new(config), ServerName::IpAddress(addr.ip().into()))?;
    let mut sock = std::net::TcpStream::connect_timeout(&addr, timeout)?;
    sock.set_read_timeout(Some(timeout))?;
    sock.set_write_timeout(Some(timeout))?;
    while conn.is_handshaking() {
        conn.complete_io(&mut sock)?;
    }
    let leaf = conn
        .peer_certificates()
        .and_then(|c| c.first())
        .ok_or_else(|| anyhow::anyhow!("{addr} presented no certificate"))?;
    Ok(leaf.to_vec())
}

/// Takes every certificate (signatures of the handshake are still checked):
/// for looking at what a server presents, never for trusting it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sccache::tls::{issue_leaf, new_ca, Name};

    const LOCAL: Name = Name::Ip(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn a_key_matches_its_certificate_only() {
        let ca = new_ca("t").unwrap();
        let a = issue_leaf(&ca, &[LOCAL], 30).unwrap();
        let b = issue_leaf(&ca, &[LOCAL], 30).unwrap();
        assert_eq!(key_matches(&a.cert_pem, &a.key_pem), Ok(()));
        let err = key_matches(&a.cert_pem, &b.key_pem).unwrap_err();
        assert!(err.contains("not the key of the certificate"), "{err}");
        assert!(key_matches(&a.cert_pem, "junk").is_err());
        assert!(key_matches("junk", &a.key_pem).is_err());
    }

    #[test]
    fn a_chain_verifies_against_its_ca_only() {
        let ca = new_ca("t").unwrap();
        let other = new_ca("u").unwrap();
        let leaf = issue_leaf(&ca, &[LOCAL], 30).unwrap();
        let ip = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));
        assert_eq!(verify_chain(&leaf.cert_pem, &ca.cert_pem, ip), Ok(()));
        assert_eq!(verify_chain(&leaf.cert_pem, &ca.cert_pem, None), Ok(()));
        let e = verify_chain(&leaf.cert_pem, &other.cert_pem, ip).unwrap_err();
        assert_eq!(e.code, "UnknownIssuer");
        let e = verify_chain(
            &leaf.cert_pem,
            &ca.cert_pem,
            Some("10.9.9.9".parse().unwrap()),
        )
        .unwrap_err();
        assert_eq!(e.code, "NotValidForName");
        let old = issue_leaf(&ca, &[LOCAL], -1).unwrap();
        assert_eq!(
            verify_chain(&old.cert_pem, &ca.cert_pem, ip)
                .unwrap_err()
                .code,
            "Expired"
        );
    }

    #[test]
    fn the_leaf_a_server_presents_is_seen() {
        let ca = new_ca("t").unwrap();
        let leaf = issue_leaf(&ca, &[LOCAL], 30).unwrap();
        let certs = certificates(&leaf.cert_pem).unwrap();
        let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs.clone(), key)
            .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut sock, _) = listener.accept().unwrap();
            let mut conn = rustls::ServerConnection::new(Arc::new(config)).unwrap();
            while conn.is_handshaking() {
                if conn.complete_io(&mut sock).is_err() {
                    break;
                }
            }
        });
        let seen = served_leaf(addr, Duration::from_secs(5)).unwrap();
        assert_eq!(seen, certs[0].to_vec());
        server.join().unwrap();
    }
}
