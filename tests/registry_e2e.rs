//! `cargo xtask image` with a registry repository, against a real registry on
//! loopback: Debian's `docker-registry` (distribution), one private instance per
//! test on 127.0.0.1:<free port> with its own config and storage, killed at the
//! end. Docker talks plain HTTP to registries on 127.0.0.0/8 without any
//! insecure-registries setting.

mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{
    copy_tree, docker, docker_maybe, hash_label, image_id, input_hash, ran_build, require_docker,
    stderr, stdout, test_base_image, which, LocalImages, Session,
};

/// A registry of this test's own: killed, and its storage removed, on drop.
struct Registry {
    child: Mutex<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Registry {
    /// Starts `docker-registry serve` on a free loopback port; `htpasswd` (file
    /// contents) turns on basic auth. Returns once `/v2/` answers.
    fn start(htpasswd: Option<&str>) -> Registry {
        let dir = tempfile::Builder::new()
            .prefix("registry-e2e-")
            .tempdir()
            .unwrap();
        let port = free_port();
        let config = dir.path().join("config.yml");
        std::fs::write(&config, registry_config(dir.path(), port, htpasswd)).unwrap();
        let bin = which("docker-registry").expect(
            "docker-registry is not on PATH: .ci/install installs Debian's docker-registry",
        );
        let child = Command::new(bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .expect("docker-registry starts");
        let reg = Registry {
            child: Mutex::new(child),
            port,
            dir,
        };
        support::wait_for("the registry's /v2/ to answer", 30, || {
            if let Some(status) = reg.child.lock().unwrap().try_wait().unwrap() {
                let log = std::fs::read_to_string(reg.dir.path().join("registry.log"));
                panic!("docker-registry exited ({status}) before answering: {log:?}");
            }
            reg.v2_status().is_some()
        });
        reg
    }

    fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The status code of `GET /v2/` (200, or 401 with auth on); None when down.
    fn v2_status(&self) -> Option<u16> {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(s, "GET /v2/ HTTP/1.0\r\nHost: {}\r\n\r\n", self.host()).ok()?;
        let mut reply = String::new();
        s.read_to_string(&mut reply).ok()?;
        reply.split_whitespace().nth(1)?.parse().ok()
    }

    /// Kills the registry and waits until its port refuses connections.
    fn stop(&self) {
        self.kill();
        support::wait_for("the registry's port to close", 10, || {
            TcpStream::connect(("127.0.0.1", self.port)).is_err()
        });
    }
}

impl Registry {
    fn kill(&self) {
        let mut child = self.child.lock().unwrap_or_else(|e| e.into_inner());
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A session owning a registry of its own (with basic auth when `htpasswd` is
/// given) and the local images of the repository `HOST/sccache-dist-e2e` on it.
fn with_registry(tag: &str, htpasswd: Option<&str>) -> (Session, Arc<Registry>, Arc<LocalImages>) {
    let s = Session::new(tag, "sccache-dist-e2e-registry");
    let reg = s.own(Registry::start(htpasswd));
    let local = s.own(LocalImages(format!("{}/sccache-dist-e2e", reg.host())));
    (s, reg, local)
}

fn registry_config(dir: &Path, port: u16, htpasswd: Option<&str>) -> String {
    let storage = dir.join("storage");
    let mut config = format!(
        "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
        storage.display()
    );
    if let Some(contents) = htpasswd {
        let file = dir.join("htpasswd");
        std::fs::write(&file, contents).unwrap();
        config.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: registry-e2e\n    path: {}\n",
            file.display()
        ));
    }
    config
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `cargo xtask image DISTRO --base-image BASE --repo REPO EXTRA...`, with the
/// docker config directory `docker_config` when given.
fn image(
    root: &Path,
    distro: &str,
    repo: &str,
    extra: &[&str],
    docker_config: Option<&Path>,
) -> Output {
    let base = test_base_image();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_xtask"));
    cmd.arg("--root")
        .arg(root)
        .args(["image", distro, "--base-image", &base, "--repo", repo])
        .args(extra)
        .env_remove("SCCACHE_DOCKER_ROOT")
        .env_remove("SCCACHE_DOCKER_REPO")
        .env("SCCACHE_DOCKER_STATE_DIR", support::test_state_dir());
    if let Some(dir) = docker_config {
        cmd.env("DOCKER_CONFIG", dir);
    }
    cmd.output().expect("the xtask binary runs")
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "image failed:\n{}\n{}",
        stdout(out),
        stderr(out)
    );
    format!("{}\n{}", stdout(out), stderr(out))
}

/// The input hash `--dry-run` reports for `distro`.
fn hash_of(root: &Path, distro: &str, repo: &str) -> String {
    let out = image(root, distro, repo, &["--dry-run"], None);
    input_hash(&ok(&out), distro)
}

/// The manifest digest the registry serves for `reference`.
fn remote_digest(reference: &str) -> Option<String> {
    let json = docker_maybe(&[
        "buildx",
        "imagetools",
        "inspect",
        "--format",
        "{{json .Manifest}}",
        reference,
    ])?;
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    Some(v["digest"].as_str().expect("a digest").to_owned())
}

#[test]
fn push_then_skip_then_pull_with_the_same_digest() {
    require_docker();
    let (_s, reg, local) = with_registry("reg-push", None);
    let repo = local.0.clone();
    let tree = copy_tree();
    let root = tree.path();
    let hash = hash_of(root, "debian", &repo);
    let (tag, hash_tag) = (
        format!("{repo}:debian"),
        format!("{repo}:debian-{}", &hash[..12]),
    );

    // First run: nothing in the registry, so a build, and both tags pushed.
    let out = image(root, "debian", &repo, &["--push"], None);
    let text = ok(&out);
    assert!(ran_build(&out), "{text}");
    let digest = remote_digest(&hash_tag).expect("the hash tag is in the registry");
    assert_eq!(remote_digest(&tag).as_deref(), Some(digest.as_str()));
    assert!(
        text.contains(&digest),
        "the pushed digest is reported:\n{text}"
    );

    // No local images: the registry's copy is found, nothing is built or pulled.
    local.remove();
    let out = image(root, "debian", &repo, &[], None);
    let text = ok(&out);
    assert!(!ran_build(&out), "a build ran:\n{text}");
    assert!(
        text.contains(&format!("{hash_tag} is in the registry {}", reg.host())),
        "{text}"
    );
    assert_eq!(local.tags(), "", "nothing was pulled without --pull");
    assert_eq!(remote_digest(&hash_tag).as_deref(), Some(digest.as_str()));

    // --pull fetches it and tags it locally as the moving tag too.
    let out = image(root, "debian", &repo, &["--pull"], None);
    let text = ok(&out);
    assert!(!ran_build(&out), "a build ran:\n{text}");
    let id = image_id(&hash_tag).expect("the hash tag was pulled");
    assert_eq!(image_id(&tag).as_deref(), Some(id.as_str()));
    assert_eq!(hash_label(&tag), hash);
    let digests = docker(&[
        "image",
        "inspect",
        "--format",
        "{{json .RepoDigests}}",
        &tag,
    ]);
    assert!(digests.contains(&digest), "{digests} lacks {digest}");

    // Everything in place: a further --push run neither builds nor moves anything.
    let out = image(root, "debian", &repo, &["--push"], None);
    let text = ok(&out);
    assert!(!ran_build(&out), "{text}");
    assert_eq!(remote_digest(&tag).as_deref(), Some(digest.as_str()));
}

/// Adds `distros/NAME.yaml`: debian's profile with one more package.
fn add_distro(root: &Path, name: &str, package: &str) {
    let text = std::fs::read_to_string(root.join("distros/debian.yaml")).unwrap();
    let text = text.replace("packages:\n", &format!("packages:\n  - {package}\n"));
    std::fs::write(root.join(format!("distros/{name}.yaml")), text).unwrap();
}

#[test]
fn a_second_distro_builds_only_what_changed() {
    require_docker();
    let (_s, _reg, local) = with_registry("reg-second", None);
    let repo = local.0.clone();
    let first = copy_tree();
    ok(&image(first.path(), "debian", &repo, &["--push"], None));
    local.remove();

    // Another checkout, with one more distro: debian comes from the registry, and
    // only the new distro is built.
    let second = copy_tree();
    add_distro(second.path(), "debian-less", "less");
    let out = image(second.path(), "debian", &repo, &["--push"], None);
    assert!(!ran_build(&out), "debian was rebuilt:\n{}", ok(&out));
    let out = image(second.path(), "debian-less", &repo, &["--push"], None);
    assert!(
        ran_build(&out),
        "the new distro was not built:\n{}",
        ok(&out)
    );
    let hash = hash_of(second.path(), "debian-less", &repo);
    assert!(remote_digest(&format!("{repo}:debian-less-{}", &hash[..12])).is_some());
    assert!(remote_digest(&format!("{repo}:debian-less")).is_some());

    // And once pushed, a third run builds neither.
    local.remove();
    for distro in ["debian", "debian-less"] {
        let out = image(second.path(), distro, &repo, &[], None);
        assert!(!ran_build(&out), "{distro} was rebuilt:\n{}", ok(&out));
    }
}

#[test]
fn a_registry_that_is_down_is_a_clear_error_and_local_tags_stay() {
    require_docker();
    let (_s, reg, local) = with_registry("reg-down", None);
    let repo = local.0.clone();
    let tree = copy_tree();
    ok(&image(tree.path(), "debian", &repo, &["--push"], None));
    let before = local.tags();
    reg.stop();

    for extra in [&[][..], &["--pull"], &["--push"], &["--force", "--push"]] {
        let out = image(tree.path(), "debian", &repo, extra, None);
        assert!(
            !out.status.success(),
            "{extra:?} succeeded with the registry down"
        );
        let err = stderr(&out);
        assert!(
            err.contains(&format!("the registry {}", reg.host())),
            "{extra:?}: the error does not name the registry:\n{err}"
        );
        if !extra.contains(&"--force") {
            assert_eq!(local.tags(), before, "{extra:?} touched the local tags");
        }
    }
}

/// A random password of this run (never a fixed one a test could leak by chance).
fn password() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("pw-{nanos:x}-{}", std::process::id())
}

/// `htpasswd -B -i -n USER` with the password on stdin: one bcrypt line.
fn bcrypt_line(user: &str, pass: &str) -> String {
    let mut child = Command::new("htpasswd")
        .args(["-B", "-i", "-n", user])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("htpasswd is not on PATH: .ci/install installs apache2-utils");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pass.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    stdout(&out).trim().to_owned()
}

/// `docker login HOST -u USER --password-stdin` into the config dir `config`.
fn docker_login(config: &Path, host: &str, user: &str, pass: &str) {
    let mut child = Command::new("docker")
        .args(["login", host, "--username", user, "--password-stdin"])
        .env("DOCKER_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(pass.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "docker login: {}", stderr(&out));
}

#[test]
fn a_registry_with_basic_auth_uses_the_stored_login_and_never_prints_it() {
    require_docker();
    let pass = password();
    let (_s, reg, local) = with_registry("reg-auth", Some(&bcrypt_line("ci", &pass)));
    assert_eq!(
        reg.v2_status(),
        Some(401),
        "the registry asks for credentials"
    );
    let repo = local.0.clone();
    let tree = copy_tree();

    // No login: the registry refuses, and the error names it.
    let anonymous = tempfile::tempdir().unwrap();
    let out = image(
        tree.path(),
        "debian",
        &repo,
        &["--push"],
        Some(anonymous.path()),
    );
    assert!(!out.status.success(), "pushed without credentials");
    assert!(
        stderr(&out).contains(&format!("the registry {}", reg.host())),
        "{}",
        stderr(&out)
    );
    assert_eq!(local.tags(), "");

    // With `docker login` into a private config dir: pushed, found, pulled.
    let config = tempfile::tempdir().unwrap();
    docker_login(config.path(), &reg.host(), "ci", &pass);
    let runs = [
        image(
            tree.path(),
            "debian",
            &repo,
            &["--push"],
            Some(config.path()),
        ),
        image(
            tree.path(),
            "debian",
            &repo,
            &["--pull"],
            Some(config.path()),
        ),
    ];
    local.remove();
    let pulled = image(
        tree.path(),
        "debian",
        &repo,
        &["--pull"],
        Some(config.path()),
    );
    // As sent: the basic-auth value, base64 of user:password.
    let sent = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(format!("ci:{pass}"))
    };
    for out in runs.iter().chain([&pulled]) {
        let text = ok(out);
        assert!(!text.contains(&pass), "the password was printed:\n{text}");
        assert!(!text.contains(&sent), "the basic-auth value was printed");
    }
    assert!(!ran_build(&pulled), "{}", ok(&pulled));
    assert!(image_id(&format!("{repo}:debian")).is_some(), "not pulled");
}

#[test]
fn dry_run_prints_the_registry_commands_and_local_repos_refuse_push() {
    let root = support::project_root();
    let repo = "127.0.0.1:5999/sccache-dist";
    let out = support::xtask(
        &root,
        &[
            "image",
            "debian",
            "--dry-run",
            "--repo",
            repo,
            "--push",
            "--pull",
        ],
    );
    let text = ok(&out);
    let hash = text
        .lines()
        .find_map(|l| l.strip_prefix("# debian: input hash "))
        .and_then(|rest| rest.split_whitespace().next())
        .expect("hash line")
        .to_owned();
    let hash_tag = format!("{repo}:debian-{}", &hash[..12]);
    for line in [
        format!("docker buildx imagetools inspect --format '{{{{json .}}}}' {hash_tag}"),
        "docker pull --platform linux/".to_owned(),
        format!("docker tag {hash_tag} {repo}:debian"),
        format!("docker push {hash_tag}"),
        format!("docker push {repo}:debian"),
    ] {
        assert!(text.contains(&line), "missing `{line}`:\n{text}");
    }

    for flag in ["--push", "--pull"] {
        let out = support::xtask(
            &root,
            &[
                "image",
                "debian",
                "--dry-run",
                "--repo",
                "someone/sccache-dist",
                flag,
            ],
        );
        assert!(
            !out.status.success(),
            "{flag} with a local repository succeeded"
        );
        assert!(
            stderr(&out).contains("need a registry repository"),
            "{}",
            stderr(&out)
        );
    }
}
