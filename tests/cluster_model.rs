//! The cluster's model, configs and diagnoses, without an engine: where each build
//! server is placed, that each gets a JWT of its own, and which known failures
//! `doctor` names.

mod support;

use support::project_root;
use xtask::model::{placement as plan, Cluster, Network, Scheduler};

/// A cluster of the default profile with no servers yet, its scheduler at 10.0.0.5.
fn model_cluster() -> Cluster {
    Cluster {
        name: "t".into(),
        cache_dir: None,
        distro: "debian".into(),
        image: "i".into(),
        image_hash: "h".into(),
        sccache_dist_version: None,
        network: Network::Host,
        tls: xtask::model::cluster::Tls::Plain,
        tls_names: Vec::new(),
        own_cert: None,
        address_source: "test".into(),
        scheduler: Scheduler {
            container: "t-scheduler".into(),
            address: "10.0.0.5".parse().unwrap(),
            port: 10600,
        },
        servers: Vec::new(),
        runtime: xtask::profile::runtime::load_named(&project_root(), "default").unwrap(),
    }
}

/// The model places servers apart: own container, port and cache each.
#[test]
fn every_server_has_its_own_address() {
    let mut c = model_cluster();
    for i in 1..=3 {
        let s = plan::server(&c, i, false).unwrap();
        c.servers.push(s);
    }
    let placed: Vec<_> = c
        .servers
        .iter()
        .map(|s| {
            (
                s.container.as_str(),
                s.public_addr(),
                s.cache.volume().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        placed,
        [
            (
                "t-server-1",
                "10.0.0.5:10501".to_owned(),
                "t-server-1-cache"
            ),
            (
                "t-server-2",
                "10.0.0.5:10502".to_owned(),
                "t-server-2-cache"
            ),
            (
                "t-server-3",
                "10.0.0.5:10503".to_owned(),
                "t-server-3-cache"
            ),
        ]
    );
    assert!(plan::server(&c, 33, false).is_err());
    // On a bridge, the scheduler keeps bridge_address and server N gets + N.
    c.network = Network::Bridge {
        name: "n".into(),
        subnet: "172.31.250.0/24".into(),
    };
    c.scheduler.address = "172.31.250.10".parse().unwrap();
    let second = plan::server(&c, 2, false).unwrap();
    assert_eq!(second.public_addr(), "172.31.250.12:10501");
    assert_eq!(plan::server(&c, 1, true).unwrap().container, "t-scheduler");
}

/// Each server's config checks out and its JWT is bound to its own address.
#[test]
fn every_server_has_its_own_jwt() {
    let mut c = model_cluster();
    for i in 1..=3 {
        let s = plan::server(&c, i, false).unwrap();
        c.servers.push(s);
    }
    let auth = xtask::profile::runtime::ServerAuth::JwtHs256;
    let secrets = xtask::sccache::Secrets::generate(auth).unwrap();
    let key = secrets.jwt_key.clone().unwrap();
    let t = xtask::render::Templates::load(&project_root()).unwrap();
    let configs = xtask::render::cluster_configs::render(&t, &c, &secrets, "test").unwrap();
    let triples: Vec<_> = xtask::render::cluster_configs::triples(&configs).collect();
    assert_eq!(
        triples.len(),
        c.servers.len(),
        "one config triple per server"
    );
    assert_eq!(c.servers.len(), 3);
    for ((name, triple), s) in triples.into_iter().zip(&c.servers) {
        let problems = xtask::sccache::config_check::check(&triple);
        assert!(problems.is_empty(), "{name}: {problems:?}");
        let jwt = triple
            .server
            .lines()
            .find_map(|l| l.strip_prefix("token = "))
            .unwrap()
            .trim_matches('"');
        let id = xtask::sccache::jwt::verify_server_jwt(&key, jwt).unwrap();
        assert_eq!(id, s.public_addr());
    }
}

#[test]
fn known_failures_are_named() {
    let log = "WARN sccache_dist: heartbeat failed: 401 invalid_bearer_token_mismatched_address";
    assert_eq!(
        xtask::lifecycle::diagnose::diagnose(log),
        [xtask::lifecycle::diagnose::MISMATCHED_ADDRESS_ADVICE]
    );
    let log = "bwrap: Can't mount proc on /newroot/proc: Operation not permitted";
    assert_eq!(
        xtask::lifecycle::diagnose::diagnose(log),
        [xtask::lifecycle::diagnose::BWRAP_ADVICE]
    );
    assert_eq!(
        xtask::lifecycle::diagnose::diagnose("error: Connection refused (os error 111)"),
        [xtask::lifecycle::diagnose::REFUSED_ADVICE]
    );
}

/// A `cluster.json` of an older version, without the fields added since (name,
/// cache_dir, sccache_dist_version, tls, tls_names, own_cert), still reads: a
/// plain-HTTP cluster named by its scheduler's container.
#[test]
fn an_older_record_without_the_newer_fields_reads_as_plain_http() {
    let mut c = model_cluster();
    c.servers.push(plan::server(&c, 1, false).unwrap());
    c.tls = xtask::model::cluster::Tls::ClusterCa;
    c.tls_names = vec!["builder.example".into()];
    c.sccache_dist_version = Some("0.19.0".into());
    let mut v = serde_json::to_value(&c).unwrap();
    let record = v.as_object_mut().unwrap();
    for key in [
        "name",
        "cache_dir",
        "sccache_dist_version",
        "tls",
        "tls_names",
        "own_cert",
    ] {
        record.remove(key);
    }
    assert!(!record.contains_key("tls"), "{record:?}");
    let old: Cluster = serde_json::from_value(v).unwrap();
    assert_eq!(old.name, "");
    assert_eq!(old.tls, xtask::model::cluster::Tls::Plain);
    assert!(old.tls_names.is_empty() && old.own_cert.is_none());
    assert!(old.sccache_dist_version.is_none() && old.cache_dir.is_none());
    assert_eq!(old.scheduler.container, "t-scheduler");
    assert_eq!(old.servers.len(), 1);
}
