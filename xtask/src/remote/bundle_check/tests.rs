//! Every field of a join bundle, edited one at a time.

use super::*;

const SECRET: &str = "eyJSECRETxJWT";

fn bundle() -> Value {
    let conf = format!(
        "cache_dir = \"/var/sccache/toolchains\"\ntoolchain_cache_size = 10737418240\npublic_addr = \"10.0.0.2:10501\"\nbind_address = \"0.0.0.0:10501\"\nscheduler_url = \"http://10.0.0.1:10600\"\n\n[builder]\ntype = \"overlay\"\nbuild_dir = \"/var/sccache/build\"\nbwrap_path = \"/usr/bin/bwrap\"\n\n[scheduler_auth]\ntype = \"jwt_token\"\ntoken = \"{SECRET}\"\n"
    );
    serde_json::json!({
        "format": BUNDLE_FORMAT,
        "name": "c-remote-10-0-0-2",
        "address": "10.0.0.2",
        "port": 10501,
        "scheduler_url": "http://10.0.0.1:10600",
        "distro": "debian",
        "image": "sccache-dist:debian",
        "image_hash": "a".repeat(64),
        "cache_root": "/var/sccache",
        "log_level": "info",
        "toolchain_cache_size": 10737418240u64,
        "server_conf": conf,
    })
}

fn parsed(v: &Value) -> anyhow::Result<JoinBundle> {
    parse(&serde_json::to_vec(v).unwrap())
}

#[test]
fn a_good_bundle_passes() {
    let b = parsed(&bundle()).unwrap();
    assert_eq!(b.public_addr(), "10.0.0.2:10501");
}

/// One edit per field: each fails naming that field, echoing no credential.
#[test]
fn every_field_is_checked() {
    let conf = bundle()["server_conf"].as_str().unwrap().to_owned();
    let cases: Vec<(&str, Value, &str)> = vec![
        ("format", "other/2".into(), "field `format`"),
        ("name", "a;rm -rf /".into(), "field `name`"),
        ("address", "0.0.0.0".into(), "field `address`"),
        ("address", "127.0.0.1".into(), "field `address`"),
        ("address", "224.0.0.1".into(), "field `address`"),
        ("address", "255.255.255.255".into(), "field `address`"),
        ("address", "host.example".into(), "field `address`"),
        ("port", 70000.into(), "field `port`"),
        ("port", 0.into(), "field `port`"),
        ("port", 10600.into(), "field `port`"),
        ("port", "10501".into(), "field `port`"),
        (
            "scheduler_url",
            "ftp://10.0.0.1:10600".into(),
            "field `scheduler_url`",
        ),
        (
            "scheduler_url",
            "http://10.0.0.1:10600\n".into(),
            "field `scheduler_url`",
        ),
        (
            "scheduler_url",
            "http://u:p@10.0.0.1:10600".into(),
            "field `scheduler_url`",
        ),
        ("distro", "../x".into(), "field `distro`"),
        ("image", "--privileged".into(), "field `image`"),
        ("image", "a b".into(), "field `image`"),
        ("image_hash", "x".into(), "field `image_hash`"),
        ("cache_root", "/".into(), "field `cache_root`"),
        ("cache_root", "/var/../etc".into(), "field `cache_root`"),
        ("cache_root", "relative".into(), "field `cache_root`"),
        ("cache_root", "/etc".into(), "field `cache_root`"),
        ("log_level", "trace".into(), "field `log_level`"),
        (
            "toolchain_cache_size",
            1.into(),
            "field `toolchain_cache_size`",
        ),
        (
            "toolchain_cache_size",
            (-5).into(),
            "field `toolchain_cache_size`",
        ),
        (
            "server_conf",
            format!("extra_key = 1\n{conf}").into(),
            "field `server_conf`: server.conf: `extra_key`",
        ),
        (
            "server_conf",
            conf.replace("10.0.0.2:10501", "10.0.0.3:10501").into(),
            "`public_addr`",
        ),
        (
            "server_conf",
            conf.replace("http://10.0.0.1:10600", "http://10.0.0.9:10600")
                .into(),
            "`scheduler_url`",
        ),
        (
            "server_conf",
            conf.replace("= \"/var/sccache/build\"", "= \"/srv/build\"")
                .into(),
            "`builder.build_dir`",
        ),
        (
            "server_conf",
            conf.replace("[builder]", "[builder").into(),
            "field `server_conf`",
        ),
        ("server_conf", 5.into(), "field `server_conf`"),
    ];
    for (key, value, want) in cases {
        let mut v = bundle();
        v[key] = value.clone();
        let err = format!("{:#}", parsed(&v).unwrap_err());
        assert!(err.contains(want), "{key} = {value}: {err}");
        assert!(
            !err.contains(SECRET),
            "{key}: the credential was echoed: {err}"
        );
    }
}

#[test]
fn missing_and_unknown_fields_are_named() {
    let mut v = bundle();
    v.as_object_mut().unwrap().remove("image");
    assert!(format!("{:#}", parsed(&v).unwrap_err()).contains("field `image` is missing"));
    let mut v = bundle();
    v["privileged"] = true.into();
    assert!(format!("{:#}", parsed(&v).unwrap_err()).contains("\"privileged\""));
    assert!(parse(b"{\"format\": ").is_err());
    assert!(parse(b"[1]").is_err());
}

#[test]
fn a_private_key_is_refused() {
    let mut v = bundle();
    v["ca"] = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n".into();
    assert!(format!("{:#}", parsed(&v).unwrap_err()).contains("private key"));
}

#[test]
fn a_readable_bundle_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("b.json");
    std::fs::write(&path, serde_json::to_vec(&bundle()).unwrap()).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = read(&path).unwrap_err().to_string();
    assert!(err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    read(&path).unwrap();
    assert!(read(dir.path())
        .unwrap_err()
        .to_string()
        .contains("not a regular file"));
}

#[test]
fn a_ca_certificate_must_be_a_cas() {
    let ca = crate::sccache::tls::new_ca("t").unwrap();
    let mut v = bundle();
    v["ca_cert"] = ca.cert_pem.clone().into();
    assert_eq!(
        parsed(&v).unwrap().ca_cert.as_deref(),
        Some(ca.cert_pem.as_str())
    );
    let leaf =
        crate::sccache::tls::issue_leaf(&ca, &[crate::sccache::tls::Name::Dns("s".into())], 30)
            .unwrap();
    v["ca_cert"] = leaf.cert_pem.into();
    let err = format!("{:#}", parsed(&v).unwrap_err());
    assert!(
        err.contains("field `ca_cert`") && err.contains("not a CA"),
        "{err}"
    );
    v["ca_cert"] = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n".into();
    assert!(format!("{:#}", parsed(&v).unwrap_err()).contains("field `ca_cert`"));
    v["ca_cert"] = format!("{}{}", ca.cert_pem, ca.key_pem).into();
    assert!(format!("{:#}", parsed(&v).unwrap_err()).contains("private key"));
}

#[test]
fn an_expired_ca_certificate_is_refused() {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(10);
    p.not_after = now - time::Duration::days(1);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut v = bundle();
    v["ca_cert"] = p.self_signed(&key).unwrap().pem().into();
    let err = format!("{:#}", parsed(&v).unwrap_err());
    assert!(
        err.contains("field `ca_cert`") && err.contains("expired"),
        "{err}"
    );
}
