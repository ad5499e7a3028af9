//! `cargo xtask image` and `verify-repro` on the classic image store (overlay2),
//! the other store the tool supports. The machine's engine runs the containerd
//! store and other tests use it, so this test starts a second dockerd of its own:
//! in the host's network namespace (builds reach Debian's mirror through
//! `--build-network host`), with its own socket, data root, exec root, pidfile
//! and an empty daemon.json (the classic store), a bridge of its own and
//! `--iptables=false`, so it leaves docker0 and the firewall to the main engine.
//! (Not `--bridge none`: a dockerd started that way deletes the host's docker0,
//! which the main engine's containers need.) Everything it made goes when the test
//! ends, pass or fail.

mod support;

use std::path::Path;
use std::process::Output;
use std::sync::Arc;
use std::time::Instant;

use support::engine::{Dockerd, EngineOptions};
use support::netns::Bridge;
use support::{
    add_package, copy_tree, input_hash, ran_build, require_docker, stderr, stdout, test_base_image,
    Session,
};

const BUILDKIT_REPO: &str = "sccache-dist-e2e-classic-bk";
const LEGACY_REPO: &str = "sccache-dist-e2e-classic-legacy";
const REPRO_REPO: &str = "sccache-dist-e2e-classic-repro";

/// The classic engine, owned by the session with its bridge: stopped, unmounted
/// and removed (the engine first, then the bridge) when the session is dropped.
fn classic_engine(s: &Session) -> Arc<Dockerd> {
    let bridge = s.own(Bridge::create(&format!(
        "sdc{}",
        std::process::id() % 100_000
    )));
    s.own(Dockerd::start(&EngineOptions {
        prefix: "sdc-",
        netns: None,
        bridge: &bridge.name,
        containerd_namespace: None,
    }))
}

/// The hash of the `# debian: input hash HASH` line of a dry run.
fn dry_run_hash(engine: &Dockerd, root: &Path, repo: &str) -> String {
    let out = image(engine, root, repo, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    input_hash(&stdout(&out), "debian")
}

fn image(engine: &Dockerd, root: &Path, repo: &str, extra: &[&str]) -> Output {
    let base = test_base_image();
    let mut args = vec![
        "image",
        "debian",
        "--base-image",
        &base,
        "--build-network",
        "host",
        "--repo",
        repo,
    ];
    args.extend_from_slice(extra);
    engine.xtask(root, &args)
}

/// Build, no-op and rebuild on a changed input with one builder, in a repository
/// of its own on the classic engine. `shows` is the builder line it must print.
fn build_skip_rebuild(engine: &Dockerd, builder: &str, repo: &str, shows: &str) {
    let started = Instant::now();
    let tree = copy_tree();
    let root = tree.path();
    let with = ["--builder", builder];

    let out = image(engine, root, repo, &with);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(shows), "{}", stdout(&out));
    assert!(ran_build(&out), "no build ran:\n{}", stderr(&out));
    let hash = dry_run_hash(engine, root, repo);
    let tag = format!("{repo}:debian");
    let hash_tag = format!("{repo}:debian-{}", &hash[..12]);
    let first_id = engine.image_id(&tag).expect("the distro tag exists");
    assert_eq!(
        engine.image_id(&hash_tag).as_deref(),
        Some(first_id.as_str())
    );
    // It went into the classic engine, not the machine's.
    assert!(
        support::docker_maybe(&["image", "inspect", &hash_tag]).is_none(),
        "{hash_tag} is in the main engine"
    );

    // Nothing changed: no build, the same image.
    let out = image(engine, root, repo, &with);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("is up to date") && stdout(&out).contains("no build needed"),
        "{}",
        stdout(&out)
    );
    assert!(!ran_build(&out), "a build ran:\n{}", stderr(&out));
    assert_eq!(engine.image_id(&tag).as_deref(), Some(first_id.as_str()));

    // A changed input: a new hash tag on a new image; the old hash tag stays.
    add_package(root, "less");
    let new_hash = dry_run_hash(engine, root, repo);
    assert_ne!(new_hash, hash);
    let out = image(engine, root, repo, &with);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(shows), "{}", stdout(&out));
    assert!(ran_build(&out), "no build ran:\n{}", stderr(&out));
    let second_id = engine.image_id(&tag).unwrap();
    assert_ne!(second_id, first_id);
    assert_eq!(
        engine
            .image_id(&format!("{repo}:debian-{}", &new_hash[..12]))
            .as_deref(),
        Some(second_id.as_str())
    );
    assert_eq!(
        engine.image_id(&hash_tag).as_deref(),
        Some(first_id.as_str())
    );
    eprintln!(
        "classic store, --builder {builder}: build, no-op, rebuild in {:.1}s",
        started.elapsed().as_secs_f64()
    );
}

#[test]
fn image_and_verify_repro_on_the_classic_store() {
    require_docker();
    let started = Instant::now();
    let session = Session::new("classic", BUILDKIT_REPO);
    let engine = classic_engine(&session);

    // The classic store: overlay2, no containerd snapshotter.
    let info = engine.docker(&["info", "--format", "{{.Driver}}|{{json .DriverStatus}}"]);
    assert!(
        info.starts_with("overlay2|") && !info.contains("io.containerd.snapshotter"),
        "not the classic image store: {info}"
    );

    // The base image, from the machine's engine.
    let base = test_base_image();
    engine.load_from_main(&base);
    assert!(engine.image_id(&base).is_some());
    eprintln!(
        "classic engine up, base loaded in {:.1}s",
        started.elapsed().as_secs_f64()
    );

    build_skip_rebuild(
        &engine,
        "buildkit",
        BUILDKIT_REPO,
        "debian: builder: BuildKit (buildx ",
    );
    build_skip_rebuild(
        &engine,
        "legacy",
        LEGACY_REPO,
        "debian: builder: legacy — --builder legacy",
    );

    // verify-repro with BuildKit: the docker driver cannot export OCI tarballs on
    // the classic store ("OCI exporter is not supported for the docker driver")
    // and rewrite-timestamp is ignored on a load, so it compares file trees.
    let repro_started = Instant::now();
    let tree = copy_tree();
    let out = engine.xtask(
        tree.path(),
        &[
            "verify-repro",
            "debian",
            "--base-image",
            &base,
            "--build-network",
            "host",
            "--repo",
            REPRO_REPO,
        ],
    );
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    assert!(
        text.contains("builder: BuildKit (buildx ")
            && text.contains("compare: file trees (the docker driver on the classic image store"),
        "{text}"
    );
    let line = text
        .lines()
        .find(|l| l.starts_with("debian: reproducible: tree-sha256:"))
        .unwrap_or_else(|| panic!("no digest line:\n{text}"));
    assert!(!stderr(&out).contains("type=oci"), "{}", stderr(&out));
    assert_eq!(
        engine.docker(&["images", REPRO_REPO, "--format", "{{.Tag}}"]),
        "",
        "the temporary tags are gone"
    );
    eprintln!(
        "{line} ({:.1}s)\nclassic store test: {:.1}s in all",
        repro_started.elapsed().as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
