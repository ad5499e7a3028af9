//! `cargo xtask image` on a real Docker engine: builds the debian image with the
//! host's sccache-dist, skips when nothing changed, rebuilds when an input changes,
//! and leaves the previous image alone when a build fails.

mod support;

use std::path::Path;

use support::{
    copy_tree, docker, docker_maybe, require_docker, stderr, stdout, test_base_image, xtask,
};

const REPO: &str = "sccache-dist-e2e-image";
/// The lock test's own repository: tests run in parallel.
const LOCK_REPO: &str = "sccache-dist-e2e-lock";
const HASH_LABEL: &str = "io.github.sccache-docker.input-hash";

fn image(root: &Path, extra: &[&str]) -> std::process::Output {
    let base = test_base_image();
    let mut args = vec!["image", "debian", "--base-image", &base, "--repo", REPO];
    args.extend_from_slice(extra);
    xtask(root, &args)
}

fn image_id(reference: &str) -> Option<String> {
    docker_maybe(&["image", "inspect", "--format", "{{.Id}}", reference])
}

fn add_package(root: &Path, package: &str) {
    let path = root.join("distros/debian.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("packages:\n", &format!("packages:\n  - {package}\n")),
    )
    .unwrap();
}

/// The input hash `--dry-run` reports.
fn dry_run_hash(root: &Path) -> String {
    let out = image(root, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let line = text
        .lines()
        .find(|l| l.starts_with("# debian: input hash "))
        .expect("hash line");
    line.split_whitespace()
        .nth(4)
        .expect("the hash after `input hash`")
        .to_owned()
}

/// Removes every image of `repo`, so a test sees its own builds only.
fn remove_repo(repo: &str) {
    let refs = docker(&["images", repo, "--format", "{{.Repository}}:{{.Tag}}"]);
    let refs: Vec<&str> = refs.lines().collect();
    if !refs.is_empty() {
        let mut args = vec!["image", "rm", "--force"];
        args.extend(refs);
        docker(&args);
    }
}

#[test]
fn build_skip_rebuild_and_failed_build() {
    require_docker();
    remove_repo(REPO);
    let tree = copy_tree();
    let root = tree.path();

    // A real build (forced: an earlier run may have left the same image behind).
    let out = image(root, &["--force"]);
    assert!(
        out.status.success(),
        "first build failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let hash = dry_run_hash(root);
    let tag = format!("{REPO}:debian");
    let hash_tag = format!("{REPO}:debian-{}", &hash[..12]);
    let first_id = image_id(&tag).expect("the distro tag exists");
    assert_eq!(image_id(&hash_tag).as_deref(), Some(first_id.as_str()));
    let label = docker(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{HASH_LABEL}\"}}}}"),
        &tag,
    ]);
    assert_eq!(label, hash);

    // sccache-dist runs inside it.
    let version = docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sccache-dist",
        &tag,
        "--version",
    ]);
    assert!(version.starts_with("sccache"), "{version}");

    // Nothing changed: no docker build, same image.
    let out = image(root, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is up to date"), "{}", stdout(&out));
    assert!(
        !stderr(&out).contains("$ docker build"),
        "a build ran:\n{}",
        stderr(&out)
    );
    assert_eq!(image_id(&tag).as_deref(), Some(first_id.as_str()));

    // A lost distro tag comes back without a build.
    docker(&["image", "rm", &tag]);
    let out = image(root, &[]);
    assert!(
        stdout(&out).contains("tagged") && !stderr(&out).contains("$ docker build"),
        "{}",
        stdout(&out)
    );
    assert_eq!(image_id(&tag).as_deref(), Some(first_id.as_str()));

    // One changed input: a rebuild with a new hash and tag; the old hash tag stays.
    add_package(root, "less");
    let new_hash = dry_run_hash(root);
    assert_ne!(new_hash, hash);
    let out = image(root, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stderr(&out).contains("$ docker build"), "no build ran");
    let second_id = image_id(&tag).unwrap();
    assert_ne!(second_id, first_id);
    assert_eq!(
        image_id(&format!("{REPO}:debian-{}", &new_hash[..12])).as_deref(),
        Some(second_id.as_str())
    );
    assert_eq!(image_id(&hash_tag).as_deref(), Some(first_id.as_str()));

    // A build that fails on purpose: the previous image and tags survive, and no
    // image carries the failed build's hash.
    add_package(root, "no-such-package-for-sccache-e2e");
    let failed_hash = dry_run_hash(root);
    let out = image(root, &[]);
    assert!(
        !out.status.success(),
        "a build with a missing package succeeded"
    );
    assert!(
        stderr(&out)
            .contains("the previous sccache-dist-e2e-image:debian and its tags are untouched"),
        "{}",
        stderr(&out)
    );
    assert_eq!(image_id(&tag).as_deref(), Some(second_id.as_str()));
    let labelled = docker(&[
        "images",
        "--quiet",
        "--filter",
        &format!("label={HASH_LABEL}={failed_hash}"),
    ]);
    assert!(
        labelled.is_empty(),
        "an image carries the failed build's hash: {labelled}"
    );
    assert!(image_id(&format!("{REPO}:debian-{}", &failed_hash[..12])).is_none());

    // remove-image takes every tag of the distro's images, and only those.
    let out = xtask(root, &["remove-image", "debian", "--repo", REPO]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        docker(&["images", REPO, "--format", "{{.Repository}}:{{.Tag}}"]),
        ""
    );
    let out = xtask(root, &["remove-image", "debian", "--repo", REPO]);
    assert!(
        out.status.success() && stdout(&out).contains("no images to remove"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn concurrent_runs_for_one_distro_build_once() {
    require_docker();
    let tree = copy_tree();
    let root = tree.path();
    // An input no earlier run has built: a scheduler port of its own (it is baked
    // into the image's EXPOSE and entrypoint), so exactly one of the runs builds.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let port = 20000 + (nanos % 20000) as u16;
    let path = root.join("profiles/default.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("scheduler_port: 10600", &format!("scheduler_port: {port}")),
    )
    .unwrap();

    let base = test_base_image();
    let spawn = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args([
                "--root",
                root.to_str().unwrap(),
                "image",
                "debian",
                "--base-image",
                &base,
                "--repo",
                LOCK_REPO,
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(
        a.status.success() && b.status.success(),
        "{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let built = [&a, &b]
        .iter()
        .filter(|o| stderr(o).contains("$ docker build"))
        .count();
    let skipped = [&a, &b]
        .iter()
        .filter(|o| stdout(o).contains("is up to date"))
        .count();
    assert_eq!(
        (built, skipped),
        (1, 1),
        "one run builds, the other waits and finds it done:\n{}\n{}",
        stderr(&a),
        stderr(&b)
    );
    let waited = [&a, &b]
        .iter()
        .filter(|o| stderr(o).contains("waiting for another `cargo xtask`"))
        .count();
    assert_eq!(
        waited, 1,
        "the second run must wait for the first one's lock"
    );
}

#[test]
fn clear_errors() {
    let root = support::project_root();
    let out = xtask(&root, &["image", "nosuchdistro", "--dry-run"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(
            "unknown distro \"nosuchdistro\": known distros are arch, arch-pkg, debian, ubuntu"
        ),
        "{}",
        stderr(&out)
    );

    let out = xtask(
        &root,
        &[
            "image",
            "debian",
            "--dry-run",
            "--sccache-dist",
            "/nonexistent/sccache-dist",
        ],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("install: local needs the host's sccache-dist, but /nonexistent/sccache-dist is not a file"), "{}", stderr(&out));

    let out = xtask(
        &root,
        &["image", "debian", "--dry-run", "--base-image", "Bad Image"],
    );
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--base-image"), "{}", stderr(&out));

    // No engine: say which socket was tried and how to start one.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["image", "debian"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("no Docker engine reachable at unix:///nonexistent/docker.sock")
            && err.contains("dockerd"),
        "{err}"
    );
}

#[test]
fn dry_run_prints_the_exact_commands() {
    let root = support::project_root();
    let out = xtask(
        &root,
        &[
            "image",
            "ubuntu",
            "--dry-run",
            "--builder",
            "legacy",
            "--base-image",
            "mirror.example:5000/ubuntu:24.04",
            "--platform",
            "linux/arm64",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("docker build --force-rm --platform linux/arm64 --build-arg BASE_IMAGE=mirror.example:5000/ubuntu:24.04"), "{text}");
    assert!(text.contains(&format!("--label {HASH_LABEL}=")), "{text}");
    assert!(text.contains("--tag sccache-dist:ubuntu-"), "{text}");
    // The host's binary cannot go into an image for another machine.
    let out = xtask(
        &root,
        &["image", "debian", "--dry-run", "--platform", "linux/arm64"],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("install: local copies this host's sccache-dist"),
        "{}",
        stderr(&out)
    );
    // The hash does not depend on the builder: a dry run predicts a real run's tags.
    let hash_of = |builder: &str| {
        let out = xtask(
            &root,
            &["image", "debian", "--dry-run", "--builder", builder],
        );
        stdout(&out).split_whitespace().nth(4).unwrap().to_owned()
    };
    assert_eq!(hash_of("legacy"), hash_of("buildkit"));
    let out = xtask(
        &root,
        &["image", "debian", "--dry-run", "--builder", "buildkit"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("docker buildx build")
            && text.contains("SOURCE_DATE_EPOCH=")
            && text.contains("rewrite-timestamp=true"),
        "{text}"
    );
}
