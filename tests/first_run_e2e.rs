//! A new user's first run on a real engine: the old script's recipe from a machine
//! where nothing ran, then `up` from nothing to a remote compile.

mod support;

use std::sync::Mutex;

use support::{project_root, require_docker, stderr, stdout, test_base_image};
use xtask::sccache::client::PrivateClient;

const REPO: &str = "sccache-dist-e2e-first-run";

static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// The xtask with this test's own state directory, container name and repository.
fn xt(state: &std::path::Path, name: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["--root", project_root().to_str().unwrap()])
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env("SCCACHE_DOCKER_CONTAINER", name)
        .env("SCCACHE_DOCKER_REPO", REPO)
        .output()
        .unwrap()
}

fn ok(state: &std::path::Path, name: &str, args: &[&str]) -> String {
    let out = xt(state, name, args);
    assert!(
        out.status.success(),
        "xtask {}:\n{}\n{}",
        args.join(" "),
        stdout(&out),
        stderr(&out)
    );
    stdout(&out)
}

/// A fresh private client on the cluster's client config; its `--show-stats`
/// proves where compiles ran.
fn client(state: &std::path::Path) -> PrivateClient {
    let conf = std::fs::read_to_string(state.join("client.conf")).unwrap();
    let c = PrivateClient::new(&conf).unwrap();
    c.start().unwrap();
    c
}

#[test]
fn the_seed_recipe_then_up_from_nothing() {
    require_docker();
    let _turn = support::host_network_turn(&ONE_CLUSTER_AT_A_TIME);
    let state = tempfile::tempdir().unwrap();
    let s = state.path();
    let name = format!("sccache-e2e-first-{}", std::process::id());
    let base = test_base_image();

    // The recipe of sccache-docker-manage.sh, in its order, on a machine where nothing ran.
    ok(s, &name, &["stop"]);
    ok(s, &name, &["remove-container"]);
    ok(s, &name, &["remove-image", "--all"]);
    ok(s, &name, &["image", "debian", "--base-image", &base]);
    ok(s, &name, &["start", "debian"]);
    assert!(ok(s, &name, &["status"]).contains("1 server(s)"));
    let logs = xt(s, &name, &["logs", "--tail", "20"]);
    assert!(logs.status.success(), "{}", stderr(&logs));
    let c = client(s);
    assert!(c.dist_status().unwrap().contains("\"num_servers\":1"));
    let checked = ok(s, &name, &["check-configs"]);
    assert!(checked.contains(&s.display().to_string()), "{checked}");
    drop(c);

    // `up` replaces that cluster and proves a remote compile on its own.
    let up = ok(s, &name, &["up", "debian", "--base-image", &base]);
    for step in [
        "[1/4]",
        "[2/4]",
        "[3/4]",
        "[4/4]",
        "ran remotely on",
        "export SCCACHE_CONF=",
    ] {
        assert!(up.contains(step), "`up` did not print {step:?}:\n{up}");
    }
    let c = client(s);
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
    ok(s, &name, &["remove-container", "--purge"]);
}
