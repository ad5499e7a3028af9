//! The generator: the committed generated/ matches the profiles, `--check` catches
//! every kind of drift, a new distro is one YAML file, and every Dockerfile parses.

mod support;

use std::path::Path;

use support::{copy_tree, project_root, snapshot, stderr, stdout, xtask};

#[test]
fn committed_generated_matches_the_profiles() {
    let root = project_root();
    let want = xtask::render::generated::render_all(&root).unwrap();
    let problems = xtask::render::generated::drift(&root.join("generated"), &want).unwrap();
    assert!(
        problems.is_empty(),
        "run `cargo xtask generate`:\n{}",
        problems.join("\n")
    );
    for distro in ["arch", "arch-pkg", "ubuntu", "debian"] {
        assert!(
            want.keys().any(|p| p.starts_with(distro)),
            "generated/{distro} is missing"
        );
    }
    let out = xtask(&root, &["generate", "--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn check_reports_stale_missing_and_extra_files_by_name() {
    let tree = copy_tree();
    let gen = tree.path().join("generated");
    std::fs::write(gen.join("debian/Dockerfile"), "FROM scratch\n").unwrap();
    std::fs::remove_file(gen.join("ubuntu/entrypoint.sh")).unwrap();
    std::fs::write(gen.join("arch/leftover.txt"), "x").unwrap();
    let exec = gen.join("debian/entrypoint.sh");
    std::fs::set_permissions(&exec, std::os::unix::fs::PermissionsExt::from_mode(0o644)).unwrap();
    let before = snapshot(&gen);

    let out = xtask(tree.path(), &["generate", "--check"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("stale:   generated/debian/Dockerfile"),
        "{err}"
    );
    assert!(
        err.contains("missing: generated/ubuntu/entrypoint.sh"),
        "{err}"
    );
    assert!(
        err.contains("extra:   generated/arch/leftover.txt")
            && err.contains("mode:    generated/debian/entrypoint.sh (should be executable)"),
        "{err}"
    );
    assert_eq!(before, snapshot(&gen), "--check must not write");

    let out = xtask(tree.path(), &["generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(xtask(tree.path(), &["generate", "--check"])
        .status
        .success());
    assert!(!gen.join("arch/leftover.txt").exists());
    let mode = std::fs::metadata(gen.join("ubuntu/entrypoint.sh")).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o777,
        0o755
    );
}

#[test]
fn a_new_distro_is_one_yaml_file() {
    let tree = copy_tree();
    let cases = [
        (
            "alpine",
            "base_image: alpine:3.20\nfamily: apk\npackages: [bash, bubblewrap, ca-certificates, tini]\ninstall: package\nsccache_package: sccache-dist\n",
            "apk add --no-cache bash bubblewrap ca-certificates tini sccache-dist",
        ),
        (
            "fedora",
            "base_image: fedora:41\nfamily: dnf\npackages: [bash, bubblewrap, ca-certificates, tini, openssl-libs]\ninstall: cargo\nsccache_version: 0.19.0\nrust_image: rust:1.91-slim-bookworm\n",
            "dnf install -y --setopt=install_weak_deps=False bash bubblewrap ca-certificates tini openssl-libs",
        ),
        (
            "opensuse",
            "base_image: opensuse/tumbleweed:latest\nfamily: zypper\npackages: [bash, bubblewrap, ca-certificates, tini]\ninstall: local\n",
            "zypper --non-interactive install --no-recommends bash bubblewrap ca-certificates tini",
        ),
    ];
    for (name, yaml, _) in &cases {
        std::fs::write(tree.path().join(format!("distros/{name}.yaml")), yaml).unwrap();
    }
    let out = xtask(tree.path(), &["generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for (name, _, install_line) in &cases {
        let dir = tree.path().join("generated").join(name);
        let dockerfile = std::fs::read_to_string(dir.join("Dockerfile")).unwrap();
        assert!(dockerfile.contains(install_line), "{name}:\n{dockerfile}");
        parse_dockerfile(&dir.join("Dockerfile"));
        for f in [
            "entrypoint.sh",
            "scheduler.conf.example",
            "server.conf.example",
            "client.conf.example",
        ] {
            assert!(dir.join(f).is_file(), "generated/{name}/{f} missing");
        }
    }
    let matrix = stdout(&xtask(tree.path(), &["matrix"]));
    for (name, _, _) in &cases {
        assert!(
            matrix.contains(&format!("\"distro\":\"{name}\"")),
            "{matrix}"
        );
    }
}

/// Parses with a real Dockerfile parser and checks the shape every image needs.
fn parse_dockerfile(path: &Path) {
    use dockerfile_parser::{Dockerfile, Instruction};
    let text = std::fs::read_to_string(path).unwrap();
    let df = Dockerfile::parse(&text)
        .unwrap_or_else(|e| panic!("{} does not parse: {e}", path.display()));
    let stages = df.stages();
    let last = stages.stages.last().expect("at least one stage");
    let kinds: Vec<String> = last
        .instructions
        .iter()
        .map(|i| match i {
            Instruction::Misc(m) => m.instruction.content.to_uppercase(),
            Instruction::From(_) => "FROM".into(),
            Instruction::Arg(_) => "ARG".into(),
            Instruction::Label(_) => "LABEL".into(),
            Instruction::Run(_) => "RUN".into(),
            Instruction::Entrypoint(_) => "ENTRYPOINT".into(),
            Instruction::Cmd(_) => "CMD".into(),
            Instruction::Copy(_) => "COPY".into(),
            Instruction::Env(_) => "ENV".into(),
        })
        .collect();
    for needed in [
        "FROM",
        "LABEL",
        "RUN",
        "COPY",
        "VOLUME",
        "EXPOSE",
        "HEALTHCHECK",
        "ENTRYPOINT",
        "CMD",
    ] {
        assert!(
            kinds.iter().any(|k| k == needed),
            "{}: the runtime stage has no {needed}",
            path.display()
        );
    }
    assert!(text.contains(r#"ENTRYPOINT ["tini", "--", "/usr/local/bin/sccache-dist-entrypoint"]"#));
}

/// Renders one distro profile in a copy of the tree; its Dockerfile.
fn render_one(name: &str, yaml: &str) -> String {
    let tree = copy_tree();
    std::fs::write(tree.path().join(format!("distros/{name}.yaml")), yaml).unwrap();
    let out = xtask(tree.path(), &["generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let path = tree.path().join(format!("generated/{name}/Dockerfile"));
    parse_dockerfile(&path);
    std::fs::read_to_string(path).unwrap()
}

/// `install: package` cannot be built here (no Arch registry): the image's own
/// check that the package brought sccache-dist is checked in the rendering.
#[test]
fn a_package_install_checks_that_it_got_sccache_dist() {
    let df = render_one(
        "deb-pkg",
        "base_image: debian:trixie-slim\nfamily: apt\npackages: [bash, bubblewrap, ca-certificates, tini]\ninstall: package\nsccache_package: sccache\n",
    );
    assert!(
        df.contains("bubblewrap ca-certificates tini sccache"),
        "{df}"
    );
    assert!(
        df.contains("RUN if ! command -v sccache-dist >/dev/null; then")
            && df.contains("the package sccache installs no sccache-dist: Debian/Ubuntu's sccache does not ship it; use install: release or cargo (Arch: sccache; Alpine: sccache-dist)"),
        "{df}"
    );
    let shipped =
        std::fs::read_to_string(project_root().join("generated/arch-pkg/Dockerfile")).unwrap();
    assert!(shipped.contains("the package sccache installs no sccache-dist"));
    // The other methods bring their own binary and only run it.
    let local =
        std::fs::read_to_string(project_root().join("generated/debian/Dockerfile")).unwrap();
    assert!(
        !local.contains("command -v sccache-dist") && local.contains("RUN sccache-dist --version")
    );
}

/// `release_base_url` becomes the default of the fetch stage's build argument, and
/// the stage names both sums on a mismatch.
#[test]
fn a_release_base_url_is_the_fetch_stages_default() {
    let sum = "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58";
    let df = render_one(
        "mirrored",
        &format!("base_image: ubuntu:24.04\nfamily: apt\npackages: [bash, bubblewrap, ca-certificates, tini]\ninstall: release\nsccache_version: 0.12.0\nrelease_sha256: {{x86_64: {sum}}}\nrelease_base_url: https://mirror.example:8443/sccache\n"),
    );
    assert!(
        df.contains("ARG RELEASE_BASE_URL=https://mirror.example:8443/sccache\n"),
        "{df}"
    );
    assert!(
        df.contains(r#"url="${RELEASE_BASE_URL}/v0.12.0/$name.tar.gz""#),
        "{df}"
    );
    assert!(df.contains("expected $sum, actual $actual"), "{df}");
    assert!(df.contains("the tarball holds no sccache-dist"), "{df}");
    let upstream = render_one(
        "upstream",
        &format!("base_image: ubuntu:24.04\nfamily: apt\npackages: [bash, bubblewrap, ca-certificates, tini]\ninstall: release\nsccache_version: 0.12.0\nrelease_sha256: {{x86_64: {sum}}}\n"),
    );
    assert!(upstream
        .contains("ARG RELEASE_BASE_URL=https://github.com/mozilla/sccache/releases/download\n"));
}

#[test]
fn every_generated_dockerfile_parses() {
    let gen = project_root().join("generated");
    let mut count = 0;
    for entry in std::fs::read_dir(&gen).unwrap() {
        let path = entry.unwrap().path().join("Dockerfile");
        parse_dockerfile(&path);
        count += 1;
    }
    assert!(count >= 4, "only {count} Dockerfiles");
}

#[test]
fn every_generated_entrypoint_is_valid_bash() {
    for entry in std::fs::read_dir(project_root().join("generated")).unwrap() {
        let path = entry.unwrap().path().join("entrypoint.sh");
        let out = std::process::Command::new("bash")
            .arg("-n")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}: {}", path.display(), stderr(&out));
    }
}

#[test]
fn rendering_is_deterministic() {
    let root = project_root();
    let a = xtask::render::generated::render_all(&root).unwrap();
    let b = xtask::render::generated::render_all(&root).unwrap();
    assert_eq!(a, b);
    // Independent of the order the file system lists distros in: a fresh copy with
    // the files created in reverse order renders the same bytes.
    let tree = tempfile::tempdir().unwrap();
    for d in ["profiles", "generated"] {
        std::fs::create_dir_all(tree.path().join(d)).unwrap();
    }
    std::fs::copy(
        root.join("Dockerfile.j2"),
        tree.path().join("Dockerfile.j2"),
    )
    .unwrap();
    std::fs::copy(
        root.join("profiles/default.yaml"),
        tree.path().join("profiles/default.yaml"),
    )
    .unwrap();
    std::fs::create_dir_all(tree.path().join("distros")).unwrap();
    let mut names: Vec<_> = std::fs::read_dir(root.join("distros"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    names.reverse();
    for n in names {
        std::fs::copy(
            root.join("distros").join(&n),
            tree.path().join("distros").join(&n),
        )
        .unwrap();
    }
    assert_eq!(
        a,
        xtask::render::generated::render_all(tree.path()).unwrap()
    );
}

#[test]
fn generated_configs_hold_placeholders_not_secrets() {
    let want = xtask::render::generated::render_all(&project_root()).unwrap();
    for (path, (text, _)) in &want {
        if path.to_string_lossy().ends_with(".example") {
            for line in text
                .lines()
                .filter(|l| l.starts_with("token") || l.starts_with("secret_key"))
            {
                assert!(line.contains("REPLACE-WITH-"), "{}: {line}", path.display());
            }
        }
        assert!(
            text.contains("generated by `cargo xtask generate`, do not edit"),
            "{} has no header",
            path.display()
        );
    }
}

#[test]
fn check_configs_passes_on_shipped_profiles_and_fails_on_broken_ones() {
    let root = project_root();
    for name in xtask::profile::runtime::list_names(&root.join("profiles")) {
        let out = xtask(&root, &["check-configs", "--profile", &name]);
        assert!(out.status.success(), "{name}: {}", stderr(&out));
    }

    // A rendered set, then broken one way at a time.
    let profile = xtask::profile::runtime::load_named(&root, "default").unwrap();
    let secrets = xtask::sccache::Secrets::generate(profile.settings.server_auth).unwrap();
    let t = xtask::render::Templates::load(&root).unwrap();
    let inputs = secrets.config_inputs(&profile, "10.1.2.3").unwrap();
    let good = t.configs(&profile, &inputs, "test").unwrap();
    /// What is broken, how, and what the error must say.
    type Breakage = (&'static str, fn(&mut xtask::sccache::Configs), &'static str);
    let breakages: [Breakage; 8] = [
        (
            "unknown key",
            |c| c.scheduler.insert_str(0, "bind_address = \"0.0.0.0:1\"\n"),
            "scheduler.conf: `bind_address`",
        ),
        (
            "bad TOML",
            |c| c.server.push_str("cache_dir = \n"),
            "server.conf: not valid TOML",
        ),
        (
            "port mismatch",
            |c| c.client = c.client.replace(":10600", ":10601"),
            "client.conf: `dist.scheduler_url`: port 10601",
        ),
        (
            "heartbeats from loopback to a non-loopback public_addr",
            |c| {
                c.server = c.server.replace(
                    "scheduler_url = \"http://10.1.2.3:10600\"",
                    "scheduler_url = \"http://127.0.0.1:10600\"",
                )
            },
            "server.conf: `scheduler_url`: host 127.0.0.1 and public_addr's IP 10.1.2.3 are not both loopback",
        ),
        (
            "token mismatch",
            |c| c.client = c.client.replace("token = \"", "token = \"x"),
            "client.conf: `dist.auth.token`",
        ),
        (
            "auth type mismatch",
            |c| c.server = c.server.replace("type = \"jwt_token\"", "type = \"token\""),
            "server.conf: `scheduler_auth.type`",
        ),
        (
            "jwt for another address",
            |c| {
                c.server = c.server.replace(
                    "public_addr = \"10.1.2.3:10501\"",
                    "public_addr = \"10.1.2.4:10501\"",
                )
            },
            "server_id 10.1.2.3:10501 is not public_addr",
        ),
        (
            "host name in public_addr",
            |c| {
                c.server = c.server.replace(
                    "public_addr = \"10.1.2.3:10501\"",
                    "public_addr = \"build:10501\"",
                )
            },
            "not an IP:port literal",
        ),
    ];
    let dir = tempfile::tempdir().unwrap();
    for (what, breaker, expected) in breakages {
        let mut c = xtask::sccache::Configs {
            scheduler: good.scheduler.clone(),
            server: good.server.clone(),
            client: good.client.clone(),
            front: good.front.clone(),
        };
        breaker(&mut c);
        std::fs::write(dir.path().join("scheduler.conf"), &c.scheduler).unwrap();
        std::fs::write(dir.path().join("server.conf"), &c.server).unwrap();
        std::fs::write(dir.path().join("client.conf"), &c.client).unwrap();
        let out = xtask(
            &root,
            &[
                "check-configs",
                "--config-dir",
                dir.path().to_str().unwrap(),
            ],
        );
        assert!(!out.status.success(), "{what}: accepted");
        assert!(stderr(&out).contains(expected), "{what}: {}", stderr(&out));
    }
}

#[test]
fn matrix_lists_every_distro() {
    let out = xtask(&project_root(), &["matrix"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let names: Vec<&str> = v["include"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["distro"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["arch", "arch-pkg", "debian", "ubuntu"]);
}
