use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::sync::Arc;

use super::*;
use crate::model::remote::BUNDLE_FORMAT;
use crate::sccache::tls::{self, Name, Pair};

/// A TLS server on loopback serving `leaf` to every connection and answering
/// any request with an empty 200, for as long as the test runs.
fn serve(leaf: &Pair) -> SocketAddr {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_slice_iter(leaf.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let config = Arc::new(config);
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for sock in l.incoming().flatten() {
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut tls = rustls::StreamOwned::new(conn, sock);
            let mut buf = [0u8; 4096];
            if tls.read(&mut buf).is_ok() {
                let _ = tls.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
                );
                tls.conn.send_close_notify();
                let _ = tls.flush();
            }
        }
    });
    addr
}

fn bundle(url: String, ca: Option<&Pair>) -> JoinBundle {
    JoinBundle {
        format: BUNDLE_FORMAT.into(),
        name: "c-remote-10-0-0-2".into(),
        address: Ipv4Addr::new(10, 0, 0, 2),
        port: 10501,
        scheduler_url: url,
        distro: "debian".into(),
        image: "i:debian".into(),
        image_hash: "h".into(),
        cache_root: "/var/sccache".into(),
        log_level: "info".into(),
        toolchain_cache_size: 1 << 30,
        server_conf: String::new(),
        ca_cert: ca.map(|c| c.cert_pem.clone()),
    }
}

fn loopback() -> Vec<Name> {
    vec![Name::Ip(Ipv4Addr::LOCALHOST.into())]
}

#[test]
fn the_bundles_ca_verifies_the_scheduler_or_the_join_fails_naming_why() {
    let ca = tls::new_ca("c").unwrap();
    let addr = serve(&tls::issue_leaf(&ca, &loopback(), 30).unwrap());
    let url = format!("https://{addr}");
    check(&bundle(url.clone(), Some(&ca))).expect("the cluster's own CA verifies it");

    let other = tls::new_ca("another cluster").unwrap();
    let err = check(&bundle(url.clone(), Some(&other)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("is not trusted"), "{err}");
    eprintln!("SHOW {err}");
    assert!(err.contains("UnknownIssuer"), "{err}");
    assert!(err.contains("`ca_cert`"), "{err}");
    assert!(
        err.contains("join-bundle --address 10.0.0.2 --port 10501 --name c-remote-10-0-0-2"),
        "{err}"
    );
    assert!(!err.contains("SSL_CERT_FILE"), "the client's fix: {err}");

    // The same name, another key: the CA from before a rotation.
    let rotated = tls::new_ca("c").unwrap();
    let err = check(&bundle(url, Some(&rotated))).unwrap_err().to_string();
    eprintln!("SHOW {err}");
    assert!(err.contains("is not trusted"), "{err}");

    let elsewhere = vec![Name::Ip(Ipv4Addr::new(192, 0, 2, 7).into())];
    let addr = serve(&tls::issue_leaf(&ca, &elsewhere, 30).unwrap());
    let err = check(&bundle(format!("https://{addr}"), Some(&ca)))
        .unwrap_err()
        .to_string();
    assert!(err.contains("NotValidForName"), "{err}");
    assert!(err.contains("tls renew"), "{err}");
}

#[test]
fn no_answer_and_no_ca_fail_too() {
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = closed.local_addr().unwrap();
    drop(closed);
    let err = check(&bundle(format!("https://{addr}"), None))
        .unwrap_err()
        .to_string();
    eprintln!("SHOW {err}");
    assert!(err.contains("does not answer"), "{err}");
    // No ca_cert: the system store, which holds no test CA.
    let ca = tls::new_ca("c").unwrap();
    let addr = serve(&tls::issue_leaf(&ca, &loopback(), 30).unwrap());
    if scheduler_status::SYSTEM_ROOTS
        .iter()
        .any(|p| std::path::Path::new(p).exists())
    {
        let err = check(&bundle(format!("https://{addr}"), None))
            .unwrap_err()
            .to_string();
        assert!(err.contains("system store"), "{err}");
        assert!(err.contains("UnknownIssuer"), "{err}");
    }
}

#[test]
fn a_plain_http_scheduler_needs_no_roots() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    let b = bundle(format!("http://{addr}"), None);
    assert!(matches!(trust(&b), Trust::WebRoots));
    check(&b).expect("an answering plain-HTTP scheduler passes");
}

#[test]
fn causes_by_rustls_name() {
    assert_eq!(
        classify("rustls: invalid peer certificate: BadSignature"),
        Failure::Untrusted("BadSignature")
    );
    assert_eq!(
        classify("invalid peer certificate: certificate expired: verification time"),
        Failure::Expired
    );
    assert_eq!(classify("io: Connection refused"), Failure::NoAnswer);
    assert_eq!(classify("timeout: global"), Failure::NoAnswer);
}
