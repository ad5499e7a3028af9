//! Certificates as input, through the real binary and without an engine: every
//! `--tls-cert`/`--tls-key`/`--tls-ca` that cannot work is refused before `start`
//! writes a file or asks the engine anything (DOCKER_HOST points nowhere, so any
//! engine call would fail with an engine error instead), naming the file, the
//! problem and the fix, and the state directory is left byte for byte as it was.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;

use support::{project_root, snapshot, stderr};
use xtask::sccache::tls::{issue_leaf, new_ca, Name, Pair};

const ADDRESS: &str = "127.0.0.1";

fn local() -> Name {
    Name::Ip(ADDRESS.parse().unwrap())
}

/// A state directory with something in it already, the files a test writes
/// beside it, and `start` run against it with the engine out of reach.
struct Case {
    _tmp: tempfile::TempDir,
    state: PathBuf,
    files: PathBuf,
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let state = tmp.path().join("state");
        std::fs::create_dir_all(&state).unwrap();
        std::fs::write(state.join("notes.txt"), "kept as it is\n").unwrap();
        let files = tmp.path().join("files");
        std::fs::create_dir_all(&files).unwrap();
        Case {
            _tmp: tmp,
            state,
            files,
        }
    }

    fn write(&self, name: &str, text: &str) -> String {
        let p = self.files.join(name);
        std::fs::write(&p, text).unwrap();
        p.to_str().unwrap().to_owned()
    }

    /// `start debian --advertise 127.0.0.1 MORE...` with no engine reachable.
    fn start(&self, more: &[&str]) -> Output {
        let mut args = vec![
            "--state-dir",
            self.state.to_str().unwrap(),
            "start",
            "debian",
            "--network",
            "host",
            "--advertise",
            ADDRESS,
        ];
        args.extend_from_slice(more);
        std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(project_root())
            .args(&args)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env_remove("SCCACHE_DOCKER_ROOT")
            .env_remove("SCCACHE_DOCKER_STATE_DIR")
            .output()
            .unwrap()
    }

    /// `start` with `more` is refused with every one of `said` in its error, and
    /// leaves the state directory exactly as it was.
    fn refused(&self, more: &[&str], said: &[&str]) -> String {
        let before = snapshot(&self.state);
        let out = self.start(more);
        let err = stderr(&out);
        assert!(!out.status.success(), "accepted: {err}");
        for s in said {
            assert!(err.contains(s), "{s:?} not in: {err}");
        }
        assert_eq!(snapshot(&self.state), before, "the state changed: {err}");
        err
    }

    fn own(&self, cert: &str, key: &str) -> Vec<String> {
        vec![
            "--tls-cert".into(),
            self.write("cert.pem", cert),
            "--tls-key".into(),
            self.write("key.pem", key),
        ]
    }
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

fn corp() -> (Pair, Pair) {
    let ca = new_ca("corporate").unwrap();
    let leaf = issue_leaf(&ca, &[local()], 90).unwrap();
    (ca, leaf)
}

#[test]
fn a_key_that_is_not_the_certificates_is_refused() {
    let c = Case::new();
    let (ca, leaf) = corp();
    let other = issue_leaf(&ca, &[local()], 90).unwrap();
    let mut args = c.own(&leaf.cert_pem, &other.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &ca.cert_pem)]);
    let key = c.files.join("key.pem");
    c.refused(
        &strs(&args),
        &[
            &format!("--tls-key {}", key.display()),
            "not the key of the certificate",
            "Fix:",
        ],
    );
}

#[test]
fn an_oversized_certificate_file_is_refused_unread() {
    let c = Case::new();
    let (ca, leaf) = corp();
    let junk = "x".repeat(2 * 1024 * 1024);
    let mut args = c.own(&format!("{}{junk}\n", leaf.cert_pem), &leaf.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &ca.cert_pem)]);
    c.refused(
        &strs(&args),
        &[
            &format!("--tls-cert {}", c.files.join("cert.pem").display()),
            "1 MiB",
        ],
    );
}

#[test]
fn a_certificate_its_ca_does_not_verify_is_refused() {
    let c = Case::new();
    let (_, leaf) = corp();
    let stranger = new_ca("stranger").unwrap();
    let mut args = c.own(&leaf.cert_pem, &leaf.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &stranger.cert_pem)]);
    c.refused(
        &strs(&args),
        &["does not verify against --tls-ca", "UnknownIssuer", "Fix:"],
    );
    // Without --tls-ca the build servers trust the system store, which does not
    // hold a CA made a moment ago.
    let args = c.own(&leaf.cert_pem, &leaf.key_pem);
    let err = c.refused(&strs(&args), &["--tls-cert", "Fix:"]);
    assert!(
        err.contains("the system store") || err.contains("no system store"),
        "{err}"
    );
}

#[test]
fn an_expired_certificate_is_refused() {
    let c = Case::new();
    let ca = new_ca("corporate").unwrap();
    let old = issue_leaf(&ca, &[local()], -1).unwrap();
    let mut args = c.own(&old.cert_pem, &old.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &ca.cert_pem)]);
    c.refused(&strs(&args), &["--tls-cert", "expired on", "Fix:"]);
}

#[test]
fn a_certificate_without_the_advertised_address_is_refused() {
    let c = Case::new();
    let ca = new_ca("corporate").unwrap();
    let leaf = issue_leaf(&ca, &[Name::Dns("elsewhere.example".into())], 90).unwrap();
    let mut args = c.own(&leaf.cert_pem, &leaf.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &ca.cert_pem)]);
    c.refused(
        &strs(&args),
        &["covers elsewhere.example, not the advertised address 127.0.0.1"],
    );
}

#[test]
fn a_leaf_given_as_the_ca_is_refused() {
    let c = Case::new();
    let (_, leaf) = corp();
    let mut args = c.own(&leaf.cert_pem, &leaf.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &leaf.cert_pem)]);
    c.refused(&strs(&args), &["--tls-ca", "not a CA's"]);
}

/// A pair that works passes every check: what stops this start is the engine,
/// which is out of reach, and still nothing was written.
#[test]
fn a_good_pair_gets_as_far_as_the_engine() {
    let c = Case::new();
    let (ca, leaf) = corp();
    let mut args = c.own(&leaf.cert_pem, &leaf.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &ca.cert_pem)]);
    let before = snapshot(&c.state);
    let out = c.start(&strs(&args));
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(!err.contains("--tls-"), "{err}");
    assert_eq!(snapshot(&c.state), before);
    // The cluster's own CA is made in memory only until the engine answers.
    let out = c.start(&[]);
    assert!(!out.status.success());
    assert_eq!(snapshot(&c.state), before, "{}", stderr(&out));
    assert!(!Path::new(&c.state.join("tls")).exists());
}

/// `compose` twice keeps the CA and the leaf; after the CA is gone from the state
/// directory (a rotation), the new one is announced as new, with what every
/// client and joined host needs, never as one "clients already trust".
#[test]
fn a_new_ca_where_there_was_one_is_said_to_be_new() {
    let tmp = tempfile::tempdir().unwrap();
    let (state, project) = (tmp.path().join("state"), tmp.path().join("project"));
    let compose = || {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
            .arg("--root")
            .arg(project_root())
            .arg("--state-dir")
            .arg(&state)
            .args(["compose", "debian", "--advertise", "10.0.0.5", "-o"])
            .arg(&project)
            .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
            .env_remove("SCCACHE_DOCKER_ROOT")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        support::stdout(&out)
    };
    let first = compose();
    assert!(first.contains("made the cluster's CA"), "{first}");
    assert!(!first.contains("NEW"), "{first}");
    let again = compose();
    assert!(
        !again.contains("made") && !again.contains("issued"),
        "{again}"
    );
    std::fs::remove_dir_all(state.join("compose-tls")).unwrap();
    let rotated = compose();
    for said in [
        "made a NEW CA",
        "no client or joined host trusts it yet",
        "ca-bundle.pem",
        "new join bundle",
        "signed by the new CA",
    ] {
        assert!(rotated.contains(said), "{said:?} not in: {rotated}");
    }
    assert!(!rotated.contains("already trust"), "{rotated}");
}

/// `up` checks the same before it builds an image or replaces a cluster.
#[test]
fn up_refuses_a_bad_pair_before_it_builds() {
    let c = Case::new();
    let (ca, leaf) = corp();
    let other = issue_leaf(&ca, &[local()], 90).unwrap();
    let mut args = c.own(&leaf.cert_pem, &other.key_pem);
    args.extend(["--tls-ca".into(), c.write("ca.pem", &ca.cert_pem)]);
    let before = snapshot(&c.state);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .arg("--root")
        .arg(project_root())
        .args(["--state-dir", c.state.to_str().unwrap()])
        .args(["up", "debian", "--advertise", ADDRESS])
        .args(&args)
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .env_remove("SCCACHE_DOCKER_ROOT")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(!out.status.success(), "{err}");
    assert!(err.contains("not the key of the certificate"), "{err}");
    assert!(
        !support::stdout(&out).contains("[1/4]"),
        "it went on to build"
    );
    assert_eq!(snapshot(&c.state), before);
}
