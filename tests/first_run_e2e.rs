//! A new user's first run on a real engine: the old script's recipe from a machine
//! where nothing ran, then `up` from nothing to a remote compile.

mod support;

use std::sync::Mutex;

use support::{require_docker, stderr, test_base_image, Session};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-dist-e2e-first-run";

static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// A fresh private client on the cluster's own client config (the one `start`
/// and `up` write); its `--show-stats` proves where compiles ran.
fn client(s: &Session) -> PrivateClient {
    let conf = std::fs::read_to_string(s.state.path().join("client.conf")).unwrap();
    let c = PrivateClient::new(&conf)
        .unwrap()
        .with_cert_file(support::cert_file(s.state.path()));
    c.start().unwrap();
    c
}

#[test]
fn the_seed_recipe_then_up_from_nothing() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let s = Session::new("first", REPO);
    let base = test_base_image();

    // The recipe of sccache-docker-manage.sh, in its order, on a machine where nothing ran.
    s.ok(&["stop"]);
    s.ok(&["remove-container"]);
    s.ok(&["remove-image", "--all"]);
    s.ok(&["image", "debian", "--base-image", &base]);
    s.ok(&["start", "debian"]);
    assert!(s.ok(&["status"]).contains("1 server(s)"));
    let logs = s.run(&["logs", "--tail", "20"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let c = client(&s);
    assert!(c.dist_status().unwrap().contains("\"num_servers\":1"));
    let checked = s.ok(&["check-configs"]);
    assert!(
        checked.contains(&s.state.path().display().to_string()),
        "{checked}"
    );
    drop(c);

    // `up` replaces that cluster and proves a remote compile on its own.
    let up = s.ok(&["up", "debian", "--base-image", &base]);
    for step in [
        "[1/4]",
        "[2/4]",
        "[3/4]",
        "[4/4]",
        "ran remotely on",
        "export SCCACHE_CONF=",
        "export SSL_CERT_FILE=",
    ] {
        assert!(up.contains(step), "`up` did not print {step:?}:\n{up}");
    }
    let c = client(&s);
    let src = c.dir().join("after_up.c");
    std::fs::write(
        &src,
        format!(
            "int after_up_{}(void) {{ return 7; }}\n",
            std::process::id()
        ),
    )
    .unwrap();
    c.compile("cc", &[], &src, &c.dir().join("after_up.o"))
        .unwrap();
    assert_eq!(
        c.stats().unwrap().distributed(),
        1,
        "the compile after `up` ran locally"
    );
    drop(c);
    s.ok(&["remove-container", "--purge"]);
}
