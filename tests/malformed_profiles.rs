//! Malformed profiles: every bad distro or runtime profile makes `generate` fail with
//! one line naming the file, the line and the field, and leaves generated/ untouched.

mod support;

use support::{copy_tree, snapshot, stderr, xtask};

/// One malformed profile: `yaml` (one string a line) is written to `file` in a fresh
/// copy of the tree, and `generate` must fail at `file:line` naming `field`.
struct Case {
    name: &'static str,
    /// Relative to the root: a new file in distros/, or profiles/default.yaml.
    file: &'static str,
    yaml: &'static [&'static str],
    line: usize,
    field: &'static str,
}

const SUM: &str = "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58";

const CASES: &[Case] = &[
    // --- distro profiles: structure and types ---
    Case {
        name: "unknown key",
        file: "distros/unknown-key.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
            "flavour: slim",
        ],
        line: 5,
        field: "flavour",
    },
    Case {
        name: "string where a list belongs",
        file: "distros/string-for-list.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: bash",
            "install: local",
        ],
        line: 3,
        field: "packages",
    },
    Case {
        name: "list where a string belongs",
        file: "distros/list-for-string.yaml",
        yaml: &[
            "base_image:",
            "  - debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "base_image",
    },
    Case {
        name: "number where a list belongs",
        file: "distros/number-for-list.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: 7",
            "install: local",
        ],
        line: 3,
        field: "packages",
    },
    Case {
        name: "number where a string belongs",
        file: "distros/number-for-string.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: package",
            "sccache_package: 5",
        ],
        line: 5,
        field: "sccache_package",
    },
    Case {
        name: "missing required field",
        file: "distros/no-family.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "family",
    },
    Case {
        name: "duplicate key",
        file: "distros/duplicate-key.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
            "family: apk",
        ],
        line: 5,
        field: "family",
    },
    Case {
        name: "empty file",
        file: "distros/empty.yaml",
        yaml: &[],
        line: 1,
        field: "(file)",
    },
    Case {
        name: "only comments",
        file: "distros/comments.yaml",
        yaml: &["# a distro", "", "# to be written"],
        line: 1,
        field: "(file)",
    },
    Case {
        name: "file name is not a distro name",
        file: "distros/Bad Name.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "(file name)",
    },
    // --- distro profiles: YAML syntax ---
    Case {
        name: "tab-indented list item",
        file: "distros/tab.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages:",
            "  - bash",
            "\t- bubblewrap",
            "  - ca-certificates",
            "  - tini",
            "install: local",
        ],
        line: 5,
        field: "packages",
    },
    Case {
        name: "unclosed quote",
        file: "distros/unclosed-quote.yaml",
        yaml: &[
            "base_image: \"debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "base_image",
    },
    Case {
        name: "under-indented list item",
        file: "distros/bad-indent.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages:",
            "  - bash",
            " - bubblewrap",
            "  - ca-certificates",
            "  - tini",
            "install: local",
        ],
        line: 5,
        field: "packages",
    },
    // --- distro profiles: values ---
    Case {
        name: "unknown package manager",
        file: "distros/yum.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: yum",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 2,
        field: "family",
    },
    Case {
        name: "unknown install method",
        file: "distros/pip.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: pip",
        ],
        line: 4,
        field: "install",
    },
    Case {
        name: "package name with a shell command",
        file: "distros/pkg-shell.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages:",
            "  - bash",
            "  - bubblewrap",
            "  - ca-certificates",
            "  - tini; rm -rf /",
            "install: local",
        ],
        line: 7,
        field: "packages[3]",
    },
    Case {
        name: "package name that is an option",
        file: "distros/pkg-option.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages:",
            "  - bash",
            "  - -y",
            "  - bubblewrap",
            "  - ca-certificates",
            "  - tini",
            "install: local",
        ],
        line: 5,
        field: "packages[1]",
    },
    Case {
        name: "package name with a command substitution",
        file: "distros/pkg-subst.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages:",
            "  - bash",
            "  - bubblewrap",
            "  - ca-certificates",
            "  - tini",
            "  - $(id)",
            "install: local",
        ],
        line: 8,
        field: "packages[4]",
    },
    Case {
        name: "malformed digest",
        file: "distros/digest.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "base_digest: sha256:1234",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 3,
        field: "base_digest",
    },
    Case {
        name: "sha256 of the wrong length (second entry)",
        file: "distros/sum-short.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 0.12.0",
            "release_sha256:",
            concat!(
                "  x86_64: ",
                "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58"
            ),
            concat!(
                "  aarch64: ",
                "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec5"
            ),
        ],
        line: 8,
        field: "release_sha256.aarch64",
    },
    Case {
        name: "uppercase sha256",
        file: "distros/sum-upper.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 0.12.0",
            "release_sha256:",
            concat!(
                "  x86_64: ",
                "4C6F890434CEE3521206C2F1F5A772587E5B8F02635A85FE0ADE3E83D9B2EC58"
            ),
        ],
        line: 7,
        field: "release_sha256.x86_64",
    },
    Case {
        name: "non-hex sha256",
        file: "distros/sum-nonhex.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 0.12.0",
            "release_sha256:",
            concat!(
                "  x86_64: ",
                "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec5z"
            ),
        ],
        line: 7,
        field: "release_sha256.x86_64",
    },
    Case {
        name: "unknown machine in release_sha256",
        file: "distros/sum-machine.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 0.12.0",
            "release_sha256:",
            concat!(
                "  x86_64: ",
                "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58"
            ),
            concat!(
                "  riscv64: ",
                "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58"
            ),
        ],
        line: 8,
        field: "release_sha256.riscv64",
    },
    Case {
        name: "install: release without release_sha256",
        file: "distros/no-sums.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 0.12.0",
        ],
        line: 4,
        field: "release_sha256",
    },
    Case {
        name: "field not used by the install method",
        file: "distros/unused-field.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
            "rust_image: rust:1.91-slim-bookworm",
        ],
        line: 5,
        field: "rust_image",
    },
    Case {
        name: "image without a tag",
        file: "distros/image-untagged.yaml",
        yaml: &[
            "base_image: debian",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "base_image",
    },
    Case {
        name: "image with uppercase",
        file: "distros/image-upper.yaml",
        yaml: &[
            "family: apt",
            "base_image: Debian:12",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 2,
        field: "base_image",
    },
    Case {
        name: "image with a space",
        file: "distros/image-space.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: pacman",
            "packages: [bash, bubblewrap, ca-certificates]",
            "install: local",
            "tini_static_image: debian:12 slim",
        ],
        line: 5,
        field: "tini_static_image",
    },
    Case {
        name: "version `latest`",
        file: "distros/version-latest.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: cargo",
            "sccache_version: latest",
            "rust_image: rust:1.91-slim-bookworm",
        ],
        line: 5,
        field: "sccache_version",
    },
    Case {
        name: "version without a patch number",
        file: "distros/version-short.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: cargo",
            "rust_image: rust:1.91-slim-bookworm",
            "sccache_version: 0.19",
        ],
        line: 6,
        field: "sccache_version",
    },
    // --- checks on values that parse but would break a build or leak ---
    Case {
        name: "package listed twice",
        file: "distros/dup-package.yaml",
        yaml: &[
            "base_image: debian:bookworm-slim",
            "family: apt",
            "packages:",
            "  - bash",
            "  - bubblewrap",
            "  - ca-certificates",
            "  - tini",
            "  - bash",
            "install: local",
        ],
        line: 8,
        field: "packages[4]",
    },
    Case {
        name: "a machine given twice in release_sha256",
        file: "distros/dup-sum.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 0.12.0",
            "release_sha256:",
            "  x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "  x86_64: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb",
        ],
        line: 8,
        field: "release_sha256.x86_64",
    },
    Case {
        name: "version with leading zeros",
        file: "distros/zero-version.yaml",
        yaml: &[
            "base_image: ubuntu:24.04",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: release",
            "sccache_version: 00.012.0",
            "release_sha256:",
            "  x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ],
        line: 5,
        field: "sccache_version",
    },
    Case {
        name: "image path with a run of dots",
        file: "distros/dots.yaml",
        yaml: &[
            "base_image: a...b:1",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "base_image",
    },
    Case {
        name: "registry port 0",
        file: "distros/port-zero.yaml",
        yaml: &[
            "base_image: localhost:0/debian:12",
            "family: apt",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 1,
        field: "base_image",
    },
    Case {
        name: "a list instead of a mapping",
        file: "distros/list-doc.yaml",
        yaml: &["- base_image: debian:bookworm-slim", "- family: apt"],
        line: 1,
        field: "(document)",
    },
    Case {
        name: "byte-order mark, then a bad value on line 2",
        file: "distros/bom.yaml",
        yaml: &[
            "﻿base_image: debian:bookworm-slim",
            "family: yum",
            "packages: [bash, bubblewrap, ca-certificates, tini]",
            "install: local",
        ],
        line: 2,
        field: "family",
    },
];

/// Runtime-profile cases: the shipped layout below with some lines replaced (by
/// key), and the field the error must name, at the line that field stands on.
const RUNTIME_CASES: &[(&str, &[&str], &str)] = &[
    (
        "port out of range",
        &["scheduler_port: 70000"],
        "scheduler_port",
    ),
    ("port 0", &["server_port: 0"], "server_port"),
    (
        "the two ports equal",
        &["server_port: 10600"],
        "server_port",
    ),
    (
        "unknown server_auth",
        &["server_auth: password"],
        "server_auth",
    ),
    ("unknown network mode", &["network: macvlan"], "network"),
    (
        "relative cache_root",
        &["cache_root: var/sccache"],
        "cache_root",
    ),
    (
        "cache_root with ..",
        &["cache_root: /var/../etc"],
        "cache_root",
    ),
    (
        "cache_root with a space",
        &["cache_root: /var/my cache"],
        "cache_root",
    ),
    (
        "bridge subnet with host bits",
        &["network: bridge", "bridge_subnet: 172.31.250.5/24"],
        "bridge_subnet",
    ),
    (
        "bridge subnet prefix out of range",
        &["network: bridge", "bridge_subnet: 172.31.250.0/33"],
        "bridge_subnet",
    ),
    (
        "bridge address outside the subnet",
        &["network: bridge", "bridge_address: 10.0.0.5"],
        "bridge_address",
    ),
    (
        "trace log level (logs tokens)",
        &["log_level: trace"],
        "log_level",
    ),
    (
        "cache size beyond a TOML integer",
        &["toolchain_cache_size: 18446744073709551615"],
        "toolchain_cache_size",
    ),
    (
        "cache root over the config mount",
        &["cache_root: /etc/sccache-dist"],
        "cache_root",
    ),
    (
        "cache root over a system directory",
        &["cache_root: /usr"],
        "cache_root",
    ),
    (
        "loopback bridge subnet",
        &["bridge_subnet: 127.0.0.0/8"],
        "bridge_subnet",
    ),
];

/// profiles/default.yaml as shipped, line by line.
const RUNTIME_LINES: &[&str] = &[
    "scheduler_port: 10600",
    "server_port: 10501",
    "client_auth: token",
    "server_auth: jwt_hs256",
    "toolchain_cache_size: 10737418240",
    "builder: overlay",
    "cache_root: /var/sccache",
    "network: host",
    "bridge_subnet: 172.31.250.0/24",
    "bridge_address: 172.31.250.10",
    "log_level: info",
];

/// Runs one case in its own tree; `Err` says how it went wrong.
impl Case {
    fn check(&self) -> Result<(), String> {
        let mut text = self.yaml.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        run(self.name, self.file, &text, self.line, self.field)
    }
}

/// Writes `text` to `file` in a fresh tree and checks how `generate` rejects it.
fn run(name: &str, file: &str, text: &str, line: usize, field: &str) -> Result<(), String> {
    let tree = copy_tree();
    let root = tree.path();
    let path = root.join(file);
    if file.starts_with("distros/") {
        assert!(!path.exists(), "{name}: {file} must be a new file");
    }
    std::fs::write(&path, text).unwrap();
    let generated = root.join("generated");
    let before = snapshot(&generated);

    let out = xtask(root, &["generate"]);
    let err = stderr(&out);
    let mut problems = Vec::new();
    if out.status.success() {
        problems.push("exited 0".to_owned());
    }
    if err.lines().count() != 1 {
        problems.push(format!("{} lines on stderr, not 1", err.lines().count()));
    }
    let want = format!("error: {file}:{line}: field `{field}`: ");
    match err.strip_prefix(want.as_str()) {
        Some(message) if !message.trim().is_empty() => {}
        Some(_) => problems.push("the message is empty".to_owned()),
        None => problems.push(format!("stderr does not start with {want:?}")),
    }
    if before != snapshot(&generated) {
        problems.push("generated/ changed".to_owned());
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{name}: {}\n    stderr: {}",
            problems.join("; "),
            err.trim_end()
        ))
    }
}

/// A runtime-profile case as file text, and the line its field stands on.
fn runtime_case(overrides: &[&str], field: &str) -> (String, usize) {
    let key = |l: &str| l.split(':').next().unwrap_or_default().to_owned();
    let mut text = String::new();
    for l in RUNTIME_LINES {
        let line = overrides.iter().find(|o| key(o) == key(l)).unwrap_or(l);
        text.push_str(line);
        text.push('\n');
    }
    let line = RUNTIME_LINES
        .iter()
        .position(|l| key(l) == field)
        .expect("a field of the layout")
        + 1;
    (text, line)
}

#[test]
fn every_malformed_profile_is_rejected_at_its_line_and_field() {
    let mut names = std::collections::BTreeSet::new();
    for name in CASES
        .iter()
        .map(|c| c.name)
        .chain(RUNTIME_CASES.iter().map(|c| c.0))
    {
        assert!(names.insert(name), "duplicate case name {name}");
    }
    assert!(names.len() >= 20);
    let mut failures: Vec<String> = CASES.iter().filter_map(|c| c.check().err()).collect();
    for (name, overrides, field) in RUNTIME_CASES {
        let (text, line) = runtime_case(overrides, field);
        if let Err(e) = run(name, "profiles/default.yaml", &text, line, field) {
            failures.push(e);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        names.len(),
        failures.join("\n")
    );
}

/// The runtime cases' base layout is valid: each case fails only for its override.
#[test]
fn the_runtime_layout_renders() {
    let tree = copy_tree();
    let (text, _) = runtime_case(&[], "log_level");
    std::fs::write(tree.path().join("profiles/default.yaml"), text).unwrap();
    let out = xtask(tree.path(), &["generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

/// The harness can pass: a copy of a valid profile under a new name renders.
#[test]
fn a_copy_of_a_valid_profile_renders() {
    let tree = copy_tree();
    let root = tree.path();
    let generated = root.join("generated");
    std::fs::copy(
        root.join("distros/ubuntu.yaml"),
        root.join("distros/ubuntu-copy.yaml"),
    )
    .unwrap();
    let before = snapshot(&generated);

    let out = xtask(root, &["generate"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let mut after = snapshot(&generated);
    let copy: Vec<_> = after
        .keys()
        .filter(|p| p.starts_with("ubuntu-copy"))
        .cloned()
        .collect();
    let original: Vec<_> = before.keys().filter(|p| p.starts_with("ubuntu")).collect();
    assert_eq!(copy.len(), original.len(), "{copy:?}");
    for p in &copy {
        after.remove(p);
    }
    assert_eq!(before, after, "the other distros' files are untouched");
    let dockerfile =
        |d: &str| std::fs::read_to_string(generated.join(d).join("Dockerfile")).unwrap();
    assert!(
        dockerfile("ubuntu-copy").contains(SUM),
        "the copy pins the same sum"
    );
    assert_eq!(
        dockerfile("ubuntu-copy").replace("ubuntu-copy", "ubuntu"),
        dockerfile("ubuntu"),
        "same profile, same Dockerfile but for the name"
    );
}
