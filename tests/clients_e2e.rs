//! One credential per client, on a real TLS cluster: a cluster state from
//! before per-client tokens starts with its one token as the client `default`,
//! whose old client.conf still compiles remotely; two clients with their own
//! tokens compile at once, one is revoked while both run: its next compiles run
//! locally and its doctor names the refusal, the other stays 100 % remote with
//! none failed, a client added meanwhile works on its first compile, and the
//! scheduler's container is never restarted. A packet capture of it all holds
//! none of the tokens. Bad client names are refused with nothing written.

#[path = "support/capture.rs"]
mod capture;
mod support;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use capture::Capture;
use support::{compile_all, stderr, stdout, Session, TestProfile};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-e2e-clients";

const PROFILE: TestProfile = TestProfile {
    name: "clients-test",
    scheduler_port: 10760,
    server_port: 10761,
    net: 246,
};

static TURN: Mutex<()> = Mutex::new(());

fn started_at(s: &Session) -> String {
    support::docker(&["inspect", "--format", "{{.State.StartedAt}}", &s.name])
}

/// A started private client of the files `client add` wrote in `dir`.
fn client_of(dir: &Path) -> PrivateClient {
    let conf = std::fs::read_to_string(dir.join("client.conf")).unwrap();
    let c = PrivateClient::new(&conf)
        .unwrap()
        .with_cert_file(Some(dir.join("ca-bundle.pem")));
    c.start().unwrap();
    c
}

fn token_in(conf: &Path) -> String {
    let text = std::fs::read_to_string(conf).unwrap();
    let line = text.lines().find(|l| l.starts_with("token")).unwrap();
    line.split('"').nth(1).unwrap().to_owned()
}

/// The state as a version before per-client tokens left it: no client list,
/// and no secret that version did not make.
fn make_it_an_older_state(state: &Path) {
    let path = state.join("secrets.json");
    let mut secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let o = secrets.as_object_mut().unwrap();
    o.remove("front_client_token");
    o.remove("metrics_token");
    std::fs::write(&path, serde_json::to_string(&secrets).unwrap()).unwrap();
    for f in ["clients.json", "container/clients.sha256", "metrics-token"] {
        let _ = std::fs::remove_file(state.join(f));
    }
}

#[test]
fn each_client_has_its_own_token_and_one_is_revoked_while_both_compile() {
    support::require_docker();
    let _turn = support::host_network_turn(&TURN);
    support::build_debian_image(REPO);
    let s = Session::with_profile("clients", REPO, &PROFILE);
    let out = s.start_with(&PROFILE, "127.0.0.1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    let old_conf = s.state.path().join("client.conf");
    let old_token = token_in(&old_conf);

    // An older state: its one token becomes `default`, said at start.
    s.ok(&["stop"]);
    make_it_an_older_state(s.state.path());
    let out = s.start_with(&PROFILE, "127.0.0.1", &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is the client `default`"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        token_in(&old_conf),
        old_token,
        "the old client.conf keeps working"
    );
    let old = PrivateClient::new(&std::fs::read_to_string(&old_conf).unwrap())
        .unwrap()
        .with_cert_file(support::cert_file(s.state.path()));
    old.start().unwrap();
    let errors = compile_all(&old, &support::c_sources(old.dir(), "old", 2), 1);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(old.stats().unwrap().distributed(), 2, "{}", old.error_log());

    // Bad names: refused naming the rule, nothing written.
    let scratch = tempfile::tempdir().unwrap();
    let long = "x".repeat(200);
    for bad in ["a;b", "../x", long.as_str()] {
        let dir = scratch.path().join("bad");
        let out = s.run(&["client", "add", bad, "-o", dir.to_str().unwrap()]);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("breaks the rule"), "{}", stderr(&out));
        assert!(!dir.exists(), "{bad}: nothing written");
    }
    let dirs: Vec<PathBuf> = ["alice", "bob", "carol"]
        .iter()
        .map(|n| scratch.path().join(n))
        .collect();
    for (name, dir) in [("alice", &dirs[0]), ("bob", &dirs[1])] {
        s.ok(&["client", "add", name, "-o", dir.to_str().unwrap()]);
    }
    let out = s.run(&[
        "client",
        "add",
        "alice",
        "-o",
        scratch.path().join("again").to_str().unwrap(),
    ]);
    assert!(
        !out.status.success() && stderr(&out).contains("exists"),
        "{}",
        stderr(&out)
    );
    assert!(!scratch.path().join("again").exists());
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(dirs[0].join("client.conf"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);

    let before = started_at(&s);
    let pcap = s.state.path().join("clients.pcap");
    let cap = Capture::start(&pcap, &format!("tcp port {}", PROFILE.scheduler_port));
    let (alice, bob) = (client_of(&dirs[0]), client_of(&dirs[1]));
    let revoked = AtomicBool::new(false);
    std::thread::scope(|t| {
        let a = t.spawn(|| compile_all(&alice, &support::c_sources(alice.dir(), "a", 24), 2));
        // Bob compiles until revoked, then on: those compiles must run locally.
        let b = t.spawn(|| {
            let mut errors = compile_all(&bob, &support::c_sources(bob.dir(), "b1", 4), 1);
            support::wait_for("the revoke", 120, || revoked.load(Ordering::SeqCst));
            let after = bob.stats().unwrap();
            errors.extend(compile_all(
                &bob,
                &support::c_sources(bob.dir(), "b2", 4),
                1,
            ));
            (errors, after)
        });
        support::wait_for("bob's first compiles", 120, || {
            bob.stats().map(|st| st.distributed() >= 2).unwrap_or(false)
        });
        s.ok(&["client", "revoke", "bob"]);
        revoked.store(true, Ordering::SeqCst);
        // A client added while both run works on its first compile.
        s.ok(&["client", "add", "carol", "-o", dirs[2].to_str().unwrap()]);
        let carol = client_of(&dirs[2]);
        let errors = compile_all(&carol, &support::c_sources(carol.dir(), "c", 1), 1);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            carol.stats().unwrap().distributed(),
            1,
            "{}",
            carol.error_log()
        );

        let a_errors = a.join().unwrap();
        assert!(a_errors.is_empty(), "{a_errors:?}");
        let st = alice.stats().unwrap();
        assert_eq!(
            (st.distributed(), st.failed),
            (24, 0),
            "{}",
            alice.error_log()
        );
        let (b_errors, at_revoke) = b.join().unwrap();
        assert!(
            b_errors.is_empty(),
            "bob's compiles fall back, never fail: {b_errors:?}"
        );
        let end = bob.stats().unwrap();
        assert_eq!(
            end.distributed(),
            at_revoke.distributed(),
            "no remote compile after the revoke"
        );
        assert_eq!(end.failed - at_revoke.failed, 4, "{}", bob.error_log());
    });
    assert_eq!(
        started_at(&s),
        before,
        "the scheduler's container was not restarted"
    );

    // Bob's doctor names the refusal.
    let out = s.run(&[
        "doctor",
        "--client-conf",
        dirs[1].join("client.conf").to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("cause: client token refused"),
        "{}",
        stdout(&out)
    );

    // The list says who is there; status counts them.
    let list = s.ok(&["client", "list"]);
    for name in ["default", "alice", "carol"] {
        assert!(
            list.lines().any(|l| l.starts_with(name)),
            "{name} in\n{list}"
        );
    }
    assert!(!list.lines().any(|l| l.starts_with("bob")), "{list}");
    let status = s.status();
    assert_eq!(status["clients"].as_array().unwrap().len(), 3, "{status}");

    // Nothing of any token on the wire.
    let bytes = cap.finish();
    assert!(
        bytes.len() > 10_000,
        "the capture saw the traffic ({} bytes)",
        bytes.len()
    );
    let secrets: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(s.state.path().join("secrets.json")).unwrap(),
    )
    .unwrap();
    let mut tokens: Vec<String> = dirs
        .iter()
        .map(|d| token_in(&d.join("client.conf")))
        .collect();
    tokens.push(old_token);
    tokens.push(secrets["front_client_token"].as_str().unwrap().to_owned());
    for t in &tokens {
        assert!(
            !bytes.windows(t.len()).any(|w| w == t.as_bytes()),
            "a token crossed the wire in clear"
        );
    }
}
