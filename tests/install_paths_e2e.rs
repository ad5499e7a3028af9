//! Every install path that can be built here, built for real:
//! - `release` from a mirror on the host's loopback (a tarball in upstream's layout
//!   made from the host's sccache-dist), plus the two ways a download goes wrong: a
//!   wrong sum and a tarball without sccache-dist;
//! - `cargo`: the builder stage compiling sccache-dist on a locally made Rust image
//!   (the host's stable toolchain on the local Debian base);
//! - `package`: the check that the package brought sccache-dist (Debian's `sccache`
//!   does not), which fails the build naming what to use instead.
//!
//! Each test has its own distro and repository, so they run in parallel.

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};
use support::{
    copy_tree, docker, input_hash, on_path, require_docker, stderr, stdout, test_base_image, xtask,
};

const VERSION: &str = "0.19.0";

/// A tiny HTTP server on 127.0.0.1 serving fixed files; stopped and joined on drop.
struct Mirror {
    port: u16,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Mirror {
    fn serve(files: BTreeMap<String, Vec<u8>>) -> Mirror {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (h, s) = (hits.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    answer(conn, &files, &h);
                }
            }
        });
        Mirror {
            port,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

impl Drop for Mirror {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop, which then sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Answers one request: the file at its path, or 404.
fn answer(conn: TcpStream, files: &BTreeMap<String, Vec<u8>>, hits: &Mutex<Vec<String>>) {
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(10)));
    let mut reader = BufReader::new(&conn);
    let mut request = String::new();
    if reader.read_line(&mut request).is_err() {
        return;
    }
    // The headers, up to the empty line.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let path = request.split_whitespace().nth(1).unwrap_or("").to_owned();
    hits.lock().unwrap().push(path.clone());
    let mut conn = &conn;
    let _ = match files.get(&path) {
        Some(body) => write!(
            conn,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .and_then(|()| conn.write_all(body)),
        None => conn
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"),
    };
}

/// Upstream's name for the tarball of this machine, without `.tar.gz`.
fn tarball_name() -> String {
    format!(
        "sccache-dist-v{VERSION}-{}-unknown-linux-musl",
        std::env::consts::ARCH
    )
}

/// Where upstream's layout puts the tarball below the base URL.
fn tarball_path() -> String {
    format!("/v{VERSION}/{}.tar.gz", tarball_name())
}

/// A tarball in upstream's layout: `NAME/sccache-dist` (the host's), or, without
/// the binary, `NAME/README` only.
fn tarball(with_binary: bool) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join(tarball_name());
    std::fs::create_dir(&inner).unwrap();
    if with_binary {
        let host = on_path("sccache-dist");
        std::fs::copy(host, inner.join("sccache-dist")).unwrap();
    } else {
        std::fs::write(inner.join("README"), "no binary here\n").unwrap();
    }
    let out = Command::new("tar")
        .arg("-czf")
        .arg(dir.path().join("t.tar.gz"))
        .arg("-C")
        .arg(dir.path())
        .arg(tarball_name())
        .output()
        .unwrap();
    assert!(out.status.success(), "tar: {}", stderr(&out));
    std::fs::read(dir.path().join("t.tar.gz")).unwrap()
}

fn sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A distro profile on the local Debian base (glibc: the host's binary runs there),
/// with `tail` giving the install method and its fields.
fn write_distro(root: &Path, name: &str, tail: &str) {
    let text = format!(
        "base_image: {}\nfamily: apt\npackages: [bash, bubblewrap, ca-certificates, libssl3t64, tini]\n{tail}",
        test_base_image()
    );
    std::fs::write(root.join(format!("distros/{name}.yaml")), text).unwrap();
}

/// A release profile pinning `sum` for this machine, from `base_url` when given.
fn release_tail(sum: &str, base_url: Option<&str>) -> String {
    let url = base_url
        .map(|u| format!("release_base_url: {u}\n"))
        .unwrap_or_default();
    format!(
        "install: release\nsccache_version: {VERSION}\nrelease_sha256:\n  {}: {sum}\n{url}",
        std::env::consts::ARCH
    )
}

fn image(root: &Path, distro: &str, repo: &str, extra: &[&str]) -> Output {
    let mut args = vec!["image", distro, "--repo", repo, "--force"];
    args.extend_from_slice(extra);
    xtask(root, &args)
}

fn both(o: &Output) -> String {
    format!("{}\n{}", stdout(o), stderr(o))
}

/// `sccache-dist --version` in the image.
fn version_in(tag: &str) -> String {
    docker(&[
        "run",
        "--rm",
        "--entrypoint",
        "sccache-dist",
        tag,
        "--version",
    ])
}

/// The input hash a dry run reports for `distro`.
fn dry_run_hash(root: &Path, distro: &str, extra: &[&str]) -> String {
    let mut args = vec!["image", distro, "--dry-run"];
    args.extend_from_slice(extra);
    let out = xtask(root, &args);
    assert!(out.status.success(), "{}", stderr(&out));
    input_hash(&stdout(&out), distro)
}

#[test]
fn release_from_a_mirror_builds_and_runs() {
    require_docker();
    let good = tarball(true);
    let sum = sha256(&good);
    let mirror = Mirror::serve(BTreeMap::from([(format!("/m{}", tarball_path()), good)]));
    let tree = copy_tree();
    let root = tree.path();
    let base = format!("{}/m", mirror.url());
    write_distro(root, "e2e-release", &release_tail(&sum, Some(&base)));

    // The mirror is an input: --release-mirror changes the hash.
    let plain = dry_run_hash(root, "e2e-release", &[]);
    let other = dry_run_hash(
        root,
        "e2e-release",
        &["--release-mirror", "http://10.0.0.1/x"],
    );
    assert_ne!(plain, other);

    let repo = "sccache-dist-e2e-release";
    let out = image(root, "e2e-release", repo, &["--build-network", "host"]);
    assert!(out.status.success(), "build failed:\n{}", both(&out));
    assert!(
        mirror.hits().contains(&format!("/m{}", tarball_path())),
        "the build did not fetch from the mirror: {:?}",
        mirror.hits()
    );
    let version = version_in(&format!("{repo}:e2e-release"));
    assert!(version.starts_with("sccache"), "{version}");
}

#[test]
fn release_with_a_wrong_sum_fails_naming_both_sums() {
    require_docker();
    let good = tarball(true);
    let actual = sha256(&good);
    let wrong = sha256(b"not the tarball");
    let mirror = Mirror::serve(BTreeMap::from([(tarball_path(), good)]));
    let tree = copy_tree();
    let root = tree.path();
    // No release_base_url: upstream's, overridden by the flag.
    write_distro(root, "e2e-badsum", &release_tail(&wrong, None));

    let repo = "sccache-dist-e2e-badsum";
    let out = image(
        root,
        "e2e-badsum",
        repo,
        &["--build-network", "host", "--release-mirror", &mirror.url()],
    );
    assert!(!out.status.success(), "a wrong sum built:\n{}", both(&out));
    let text = both(&out);
    assert!(
        text.contains(&format!("expected {wrong}, actual {actual}")),
        "{text}"
    );
    assert!(
        mirror.hits().contains(&tarball_path()),
        "{:?}",
        mirror.hits()
    );
}

#[test]
fn release_tarball_without_sccache_dist_fails_clearly() {
    require_docker();
    let empty = tarball(false);
    let sum = sha256(&empty);
    let mirror = Mirror::serve(BTreeMap::from([(tarball_path(), empty)]));
    let tree = copy_tree();
    let root = tree.path();
    write_distro(root, "e2e-nobin", &release_tail(&sum, Some(&mirror.url())));

    let repo = "sccache-dist-e2e-nobin";
    let out = image(root, "e2e-nobin", repo, &["--build-network", "host"]);
    assert!(
        !out.status.success(),
        "built without a binary:\n{}",
        both(&out)
    );
    let text = both(&out);
    assert!(text.contains("the tarball holds no sccache-dist"), "{text}");
    assert!(
        text.contains(&format!("{}/README", tarball_name())),
        "{text}"
    );
}

/// The host's stable toolchain (bin/ and lib/ only) on the local Debian base, with
/// a C toolchain, OpenSSL's headers and the host's own CA certificates (so cargo
/// trusts what the host trusts, a TLS-intercepting proxy included): made once, then
/// found by its tag while its recipe label matches.
fn local_rust_image() -> String {
    let rustc = |arg: &str| {
        let out = Command::new("rustc")
            .args(["+stable", arg])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "rustc +stable {arg}: {}",
            stderr(&out)
        );
        stdout(&out).trim().to_owned()
    };
    let version = rustc("--version");
    let version = version.split_whitespace().nth(1).unwrap().to_owned();
    let tag = format!("local/rust:{version}-trixie");
    let dir = tempfile::tempdir().unwrap();
    let recipe = rust_image_context(dir.path());
    let label = "io.github.sccache-docker.test-recipe";
    let format = format!("{{{{index .Config.Labels \"{label}\"}}}}");
    if support::docker_maybe(&["image", "inspect", "--format", &format, &tag]).as_deref()
        == Some(recipe.as_str())
    {
        return tag;
    }
    let context = format!("toolchain={}", rustc("--print=sysroot"));
    let label = format!("{label}={recipe}");
    let dir_arg = dir.path().to_str().unwrap();
    docker(&[
        "buildx",
        "build",
        "--build-context",
        &context,
        "--label",
        &label,
        "--tag",
        &tag,
        dir_arg,
    ]);
    tag
}

/// Writes the Rust image's Dockerfile and the host's local CA certificates into
/// `dir`; the sha256 of both, which names the recipe.
fn rust_image_context(dir: &Path) -> String {
    let dockerfile = format!(
        "FROM {}\n\
         RUN apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates gcc libc6-dev pkg-config libssl-dev \\\n && rm -rf /var/lib/apt/lists/*\n\
         COPY local-ca/ /usr/local/share/ca-certificates/\n\
         RUN update-ca-certificates\n\
         COPY --from=toolchain bin /opt/rust/bin\n\
         COPY --from=toolchain lib /opt/rust/lib\n\
         ENV PATH=/opt/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n\
         RUN rustc --version && cargo --version\n",
        test_base_image()
    );
    std::fs::write(dir.join("Dockerfile"), &dockerfile).unwrap();
    let ca = dir.join("local-ca");
    std::fs::create_dir(&ca).unwrap();
    let mut recipe = dockerfile.into_bytes();
    let mut certs: Vec<_> = std::fs::read_dir("/usr/local/share/ca-certificates")
        .into_iter()
        .flatten()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "crt"))
        .collect();
    certs.sort();
    for cert in certs {
        let bytes = std::fs::read(&cert).unwrap();
        std::fs::write(ca.join(cert.file_name().unwrap()), &bytes).unwrap();
        recipe.extend(bytes);
    }
    sha256(&recipe)
}

#[test]
fn cargo_builder_stage_compiles_sccache_dist() {
    require_docker();
    let rust = local_rust_image();
    let tree = copy_tree();
    let root = tree.path();
    let tail = format!("install: cargo\nsccache_version: {VERSION}\nrust_image: {rust}\n");
    write_distro(root, "e2e-cargo", &tail);

    let repo = "sccache-dist-e2e-cargo";
    let started = std::time::Instant::now();
    let out = image(root, "e2e-cargo", repo, &[]);
    assert!(out.status.success(), "build failed:\n{}", both(&out));
    eprintln!(
        "cargo image built in {:.0}s",
        started.elapsed().as_secs_f64()
    );
    let tag = format!("{repo}:e2e-cargo");
    let version = version_in(&tag);
    assert!(version.contains(VERSION), "{version}");
    // The toolchain stayed in the builder stage.
    let found = Command::new("docker")
        .args(["run", "--rm", "--entrypoint", "sh", &tag, "-c"])
        .arg("command -v cargo || command -v rustc")
        .output()
        .unwrap();
    assert!(
        !found.status.success(),
        "the runtime image holds a Rust toolchain: {}",
        stdout(&found)
    );
}

#[test]
fn package_without_sccache_dist_fails_naming_the_fix() {
    require_docker();
    let tree = copy_tree();
    let root = tree.path();
    // Debian's sccache package ships the client only.
    write_distro(
        root,
        "e2e-pkg",
        "install: package\nsccache_package: sccache\n",
    );
    let out = image(root, "e2e-pkg", "sccache-dist-e2e-pkg", &[]);
    assert!(!out.status.success(), "built:\n{}", both(&out));
    let text = both(&out);
    assert!(
        text.contains("the package sccache installs no sccache-dist")
            && text.contains("use install: release or cargo"),
        "{text}"
    );
}
