//! `cargo xtask image` on a real Docker engine: builds the debian image with the
//! host's sccache-dist, skips when nothing changed, rebuilds when an input changes,
//! and leaves the previous image alone when a build fails; with BuildKit (what
//! `auto` picks here) and with the legacy builder. `verify-repro` finds debian
//! bit-for-bit reproducible and names the path of a build that is not.

mod support;

use std::path::Path;

use support::{
    add_package, copy_tree, docker, hash_label, image_id, input_hash, ran_build, require_docker,
    stderr, stdout, test_base_image, xtask, LocalImages, HASH_LABEL,
};

const REPO: &str = "sccache-dist-e2e-image";
/// The lock test's own repository: tests run in parallel.
const LOCK_REPO: &str = "sccache-dist-e2e-lock";

fn image(root: &Path, extra: &[&str]) -> std::process::Output {
    image_in(root, REPO, extra)
}

fn image_in(root: &Path, repo: &str, extra: &[&str]) -> std::process::Output {
    let base = test_base_image();
    let mut args = vec!["image", "debian", "--base-image", &base, "--repo", repo];
    args.extend_from_slice(extra);
    xtask(root, &args)
}

/// The input hash `--dry-run` reports.
fn dry_run_hash(root: &Path) -> String {
    let out = image(root, &["--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    input_hash(&stdout(&out), "debian")
}

#[test]
fn build_skip_rebuild_and_failed_build() {
    require_docker();
    let _images = LocalImages::cleared(REPO);
    let tree = copy_tree();
    let root = tree.path();

    // A real build (forced: an earlier run may have left the same image behind),
    // with BuildKit, which `auto` picks here, saying so.
    let out = image(root, &["--force"]);
    assert!(
        out.status.success(),
        "first build failed:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains("debian: builder: BuildKit (buildx ")
            && stdout(&out).contains("— auto: buildx works"),
        "{}",
        stdout(&out)
    );
    let hash = dry_run_hash(root);
    let tag = format!("{REPO}:debian");
    let hash_tag = format!("{REPO}:debian-{}", &hash[..12]);
    let first_id = image_id(&tag).expect("the distro tag exists");
    assert_eq!(image_id(&hash_tag).as_deref(), Some(first_id.as_str()));
    assert_eq!(hash_label(&tag), hash);
    // Created at the fixed epoch (the copied tree is no git checkout), not in 1970.
    let created = docker(&["image", "inspect", "--format", "{{.Created}}", &tag]);
    assert!(created.starts_with("2025-01-01T00:00:00"), "{created}");

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
    assert!(!ran_build(&out), "a build ran:\n{}", stderr(&out));
    assert_eq!(image_id(&tag).as_deref(), Some(first_id.as_str()));

    // A lost distro tag comes back without a build.
    docker(&["image", "rm", &tag]);
    let out = image(root, &[]);
    assert!(
        stdout(&out).contains("tagged") && !ran_build(&out),
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
    assert!(ran_build(&out), "no build ran");
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

/// In the project's own checkout the image is created at the commit time of its
/// newest input, which `image` says; not at 1970.
#[test]
fn the_image_is_created_at_its_newest_inputs_commit() {
    require_docker();
    let repo = "sccache-dist-e2e-created";
    let _images = LocalImages::cleared(repo);
    let root = support::project_root();
    let inputs = [
        "Dockerfile.j2",
        "xtask/templates",
        "distros/debian.yaml",
        "profiles/default.yaml",
    ];
    let git = std::process::Command::new("git")
        .arg("-C")
        .arg(&root)
        .args(["log", "-1", "--format=%ct %cd"])
        .arg("--date=format-local:%Y-%m-%dT%H:%M:%SZ")
        .arg("--")
        .args(inputs)
        .env("TZ", "UTC")
        .output()
        .unwrap();
    let text = stdout(&git);
    let (seconds, date) = text
        .trim()
        .split_once(' ')
        .filter(|_| git.status.success())
        .expect("the project is a git checkout");
    let out = image_in(&root, repo, &["--force"]);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(&format!("debian: created at SOURCE_DATE_EPOCH {seconds} ("))
            && stdout(&out).contains("the newest commit of the image's inputs)"),
        "{}",
        stdout(&out)
    );
    let created = docker(&[
        "image",
        "inspect",
        "--format",
        "{{.Created}}",
        &format!("{repo}:debian"),
    ]);
    assert_eq!(created, date, "the commit's time is {seconds}");
}

/// No registry is reachable here: a base image that must be pulled ends the build
/// in one error that names it and the way around it, with either builder, and
/// nothing is tagged.
#[test]
fn an_unreachable_base_image_is_named_with_the_way_around_it() {
    require_docker();
    let repo = "sccache-dist-e2e-nobase";
    let _images = LocalImages::cleared(repo);
    let tree = copy_tree();
    for builder in ["buildkit", "legacy"] {
        let args = [
            "image",
            "debian",
            "--base-image",
            "nonexistent.invalid/x:1",
            "--repo",
            repo,
            "--builder",
            builder,
        ];
        // A watchdog, not a speed check: a pull retried forever fails the test
        // instead of hanging it.
        let root = tree.path().to_owned();
        let args = args.map(String::from);
        let out = support::within(&format!("{builder} build"), 600, move || {
            xtask(&root, &args.each_ref().map(String::as_str))
        });
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{builder}: {err}");
        let last = err.lines().last().unwrap_or_default();
        assert!(
            last.starts_with("error: building ")
                && last.contains("the base image nonexistent.invalid/x:1 (--base-image) cannot be pulled: its registry cannot be reached from here"),
            "{builder}: {last}"
        );
        for part in [
            "pass --base-image REF: a registry mirror's copy of it, or a local image",
            "debootstrap --variant=minbase",
            "docker import - local/debian:trixie",
            "make_base_image",
        ] {
            assert!(last.contains(part), "{builder}: {part:?} in {last}");
        }
    }
    assert_eq!(
        docker(&["images", repo, "--format", "{{.Repository}}:{{.Tag}}"]),
        ""
    );
}

#[test]
fn concurrent_runs_for_one_distro_build_once() {
    require_docker();
    // Each run builds an image no other run has: removed again when the test ends.
    let _images = LocalImages::cleared(LOCK_REPO);
    // The two runs' build lock, in a state directory of this test's own.
    let state = tempfile::tempdir().unwrap();
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
                "--state-dir",
                state.path().to_str().unwrap(),
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
    let built = [&a, &b].iter().filter(|o| ran_build(o)).count();
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
        .env("SCCACHE_DOCKER_STATE_DIR", support::test_state_dir())
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
            "linux/amd64",
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("docker build --force-rm --platform linux/amd64 --build-arg BASE_IMAGE=mirror.example:5000/ubuntu:24.04"), "{text}");
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
        input_hash(&stdout(&out), "debian")
    };
    assert_eq!(hash_of("legacy"), hash_of("buildkit"));
    let out = xtask(
        &root,
        &["image", "debian", "--dry-run", "--builder", "buildkit"],
    );
    let text = stdout(&out);
    // The image is loaded as a plain image: rewrite-timestamp conflicts with the
    // containerd store's unpack and the classic store ignores it.
    let build = text
        .lines()
        .find(|l| l.starts_with("docker buildx build "))
        .unwrap_or_else(|| panic!("no build line:\n{text}"));
    assert!(
        build.contains("SOURCE_DATE_EPOCH=")
            && build.contains("--output type=docker ")
            && !build.contains("rewrite-timestamp"),
        "{text}"
    );
    // The legacy builder is asked for explicitly: a plain `docker build` is
    // BuildKit wherever the buildx plugin is installed.
    let out = xtask(
        &root,
        &["image", "debian", "--dry-run", "--builder", "legacy"],
    );
    let text = stdout(&out);
    assert!(
        text.contains("# builder: legacy — --builder legacy")
            && text.contains("DOCKER_BUILDKIT=0 docker build --force-rm "),
        "{text}"
    );
    // verify-repro: two no-cache builds, exported with clamped times or loaded
    // under temporary tags.
    let text = stdout(&xtask(&root, &["verify-repro", "debian", "--dry-run"]));
    let builds: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("docker buildx build --no-cache "))
        .collect();
    assert_eq!(builds.len(), 2, "{text}");
    assert!(
        builds.iter().all(
            |b| b.contains(",rewrite-timestamp=true ") && b.contains("--output type=oci,dest=")
        ),
        "{text}"
    );
    let text = stdout(&xtask(
        &root,
        &["verify-repro", "debian", "--dry-run", "--builder", "legacy"],
    ));
    assert!(
        text.contains("DOCKER_BUILDKIT=0 docker build --force-rm --no-cache ")
            && text.contains("--tag sccache-dist:debian-repro-2 "),
        "{text}"
    );
}

/// Build, no-op skip and rebuild on a change with one builder, in a repository of
/// its own; `shows` is the builder line the build prints, `runs` its command.
fn build_skip_rebuild(builder: &str, repo: &str, shows: &str, runs: &str) {
    require_docker();
    let _images = LocalImages::cleared(repo);
    let tree = copy_tree();
    let root = tree.path();
    let with = ["--builder", builder];

    let out = image_in(root, repo, &with);
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains(shows), "{}", stdout(&out));
    assert!(stderr(&out).contains(runs), "{}", stderr(&out));
    let tag = format!("{repo}:debian");
    let first_id = image_id(&tag).expect("the distro tag exists");

    let out = image_in(root, repo, &with);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("is up to date"), "{}", stdout(&out));
    assert!(!ran_build(&out), "a build ran:\n{}", stderr(&out));

    // A changed port: only the layers after the package install are built again.
    let path = root.join("profiles/default.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(
        &path,
        text.replace("server_port: 10501", "server_port: 10502"),
    )
    .unwrap();
    let out = image_in(root, repo, &with);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(runs),
        "no build ran:\n{}",
        stderr(&out)
    );
    let second_id = image_id(&tag).unwrap();
    assert_ne!(second_id, first_id);
    let exposed = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .Config.ExposedPorts}}",
        &tag,
    ]);
    assert!(exposed.contains("10502/tcp"), "{exposed}");
}

#[test]
fn buildkit_build_skip_rebuild() {
    build_skip_rebuild(
        "buildkit",
        "sccache-dist-e2e-buildkit",
        "debian: builder: BuildKit (buildx ",
        "$ docker buildx build --platform",
    );
}

#[test]
fn legacy_build_skip_rebuild() {
    build_skip_rebuild(
        "legacy",
        "sccache-dist-e2e-legacy",
        "debian: builder: legacy — --builder legacy",
        "$ DOCKER_BUILDKIT=0 docker build --force-rm",
    );
}

/// A `docker` on PATH whose buildx plugin is broken; everything else passes through.
fn docker_without_buildx() -> tempfile::TempDir {
    use std::os::unix::fs::PermissionsExt;
    let real = support::docker_path();
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "#!/bin/sh\nif [ \"$1\" = buildx ]; then echo \"docker: 'buildx' is not a docker command.\" >&2; exit 1; fi\nexec {} \"$@\"\n",
        real.display()
    );
    let path = dir.path().join("docker");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

#[test]
fn broken_buildx_is_said_never_silent() {
    let fake = docker_without_buildx();
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap()
    );
    let run = |builder: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .args(["image", "debian", "--dry-run", "--builder", builder])
            .env("PATH", &path)
            .env("SCCACHE_DOCKER_STATE_DIR", support::test_state_dir())
            .output()
            .unwrap()
    };
    let out = run("auto");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(
            "# builder: legacy — auto: `docker buildx version` failed: docker: 'buildx' is not a docker command."
        ),
        "{}",
        stdout(&out)
    );
    let out = run("buildkit");
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("--builder buildkit: `docker buildx version` failed: docker: 'buildx' is not a docker command."),
        "{}",
        stderr(&out)
    );
}

fn verify_repro(root: &Path, repo: &str, extra: &[&str]) -> std::process::Output {
    let base = test_base_image();
    let mut args = vec![
        "verify-repro",
        "debian",
        "--base-image",
        &base,
        "--repo",
        repo,
    ];
    args.extend_from_slice(extra);
    xtask(root, &args)
}

#[test]
fn verify_repro_debian_is_identical() {
    require_docker();
    let tree = copy_tree();
    let out = verify_repro(tree.path(), "sccache-dist-e2e-repro", &[]);
    let text = stdout(&out);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    let line = text
        .lines()
        .find(|l| l.starts_with("debian: reproducible: sha256:"))
        .unwrap_or_else(|| panic!("no digest line:\n{text}"));
    assert!(
        text.contains("compare: manifest digests of OCI exports"),
        "{text}"
    );
    println!("{line}");
}

/// A tree whose Dockerfile writes the build's time into the image.
fn non_reproducible_tree() -> tempfile::TempDir {
    let tree = copy_tree();
    let path = tree.path().join("Dockerfile.j2");
    let text = std::fs::read_to_string(&path).unwrap();
    let check = "RUN sccache-dist --version && nginx -v && sccache-dist-exporter --version\n";
    assert!(text.contains(check));
    let text = text.replace(check, &format!("{check}RUN date +%s%N > /built-at\n"));
    std::fs::write(&path, text).unwrap();
    tree
}

/// verify-repro fails naming /built-at, and only it: everything else the two
/// builds wrote is the same.
fn assert_only_built_at_differs(out: &std::process::Output) {
    let text = stdout(out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(out));
    assert!(text.contains("debian: NOT reproducible"), "{text}");
    let listed: Vec<&str> = text.lines().filter(|l| l.starts_with("  ")).collect();
    assert_eq!(listed.len(), 1, "{text}");
    assert!(
        listed[0].starts_with("  /built-at: content sha256 ("),
        "{text}"
    );
    assert!(
        stderr(out).contains("debian is not reproducible: 1 paths differ"),
        "{}",
        stderr(out)
    );
}

#[test]
fn verify_repro_names_what_differs_buildkit() {
    require_docker();
    let tree = non_reproducible_tree();
    let out = verify_repro(tree.path(), "sccache-dist-e2e-repro-bk", &[]);
    assert_only_built_at_differs(&out);
}

#[test]
fn verify_repro_names_what_differs_legacy() {
    require_docker();
    let tree = non_reproducible_tree();
    let repo = "sccache-dist-e2e-repro-legacy";
    let out = verify_repro(tree.path(), repo, &["--builder", "legacy"]);
    assert!(
        stdout(&out).contains("compare: file trees"),
        "{}",
        stdout(&out)
    );
    assert_only_built_at_differs(&out);
    // The temporary tags are gone.
    assert_eq!(docker(&["images", repo, "--format", "{{.Tag}}"]), "");
}
