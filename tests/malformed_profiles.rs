//! Malformed profiles, as a table: each case edits one valid base profile and says
//! where the loader must point (file, line, field, and the column inside flow
//! style). The table runs in process against the loader; a few cases run through the
//! real binary to check the exit code, the one-line `file:line: field` message on
//! stderr, and that generated/ is left untouched.

mod support;

use std::path::Path;

use support::{copy_tree, snapshot, stderr, xtask};
use xtask::profile::distro::Distro;
use xtask::profile::runtime::RuntimeProfile;
use xtask::profile::source::{ProfileError, Source};

const SUM: &str = "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58";

/// The valid distro profile every distro case starts from (lines 1-4).
const DISTRO: &[&str] = &[
    "base_image: debian:bookworm-slim",
    "family: apt",
    "packages: [bash, bubblewrap, ca-certificates, tini]",
    "install: local",
];

/// profiles/default.yaml as shipped (lines 1-11), which every runtime case edits.
const RUNTIME: &[&str] = &[
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

/// One change to the base profile.
#[derive(Clone, Copy)]
enum Edit {
    /// Replace the line of a top-level key (a value starting with a newline is a block).
    Set(&'static str, &'static str),
    /// Append a line.
    Add(&'static str),
    /// Drop the line of a top-level key.
    Remove(&'static str),
    /// Ignore the base: the whole file is this text (syntax cases).
    Raw(&'static str),
    /// Save as this file instead of `distros/case.yaml` (or profiles/default.yaml).
    File(&'static str),
}

use Edit::{Add as add, File as file, Raw as raw, Remove as remove, Set as set};

/// The `install: release` lines a release case adds to the base.
const RELEASE: [Edit; 3] = [
    set("install", "release"),
    add("sccache_version: 0.12.0"),
    add("release_sha256:"),
];

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Distro,
    Runtime,
}

/// One malformed profile and where its error must point.
struct Case {
    name: &'static str,
    kind: Kind,
    edits: &'static [Edit],
    line: usize,
    field: &'static str,
    /// Checked when given: list items and nested keys, which flow style puts on
    /// one line with others.
    column: Option<usize>,
}

const fn distro(
    name: &'static str,
    edits: &'static [Edit],
    line: usize,
    field: &'static str,
) -> Case {
    Case {
        name,
        kind: Kind::Distro,
        edits,
        line,
        field,
        column: None,
    }
}

const fn runtime(
    name: &'static str,
    edits: &'static [Edit],
    line: usize,
    field: &'static str,
) -> Case {
    Case {
        kind: Kind::Runtime,
        ..distro(name, edits, line, field)
    }
}

impl Case {
    const fn col(self, column: usize) -> Case {
        Case {
            column: Some(column),
            ..self
        }
    }
}

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- distro profiles: structure and types ---
    distro("unknown key", &[add("flavour: slim")], 5, "flavour"),
    distro("string where a list belongs", &[set("packages", "bash")], 3, "packages"),
    distro("list where a string belongs", &[set("base_image", "\n  - debian:bookworm-slim")], 1, "base_image"),
    distro("number where a list belongs", &[set("packages", "7")], 3, "packages"),
    distro("number where a string belongs", &[set("install", "package"), add("sccache_package: 5")], 5, "sccache_package"),
    distro("missing required field", &[remove("family")], 1, "family"),
    distro("duplicate key", &[add("family: apk")], 5, "family"),
    distro("empty file", &[raw("")], 1, "(file)"),
    distro("only comments", &[raw("# a distro\n\n# to be written\n")], 1, "(file)"),
    distro("file name is not a distro name", &[file("distros/Bad Name.yaml")], 1, "(file name)"),
    distro("a list instead of a mapping", &[raw("- base_image: debian:bookworm-slim\n- family: apt\n")], 1, "(document)"),
    distro("byte-order mark, then a bad value on line 2", &[raw("\u{feff}base_image: debian:bookworm-slim\nfamily: yum\npackages: [bash, bubblewrap, ca-certificates, tini]\ninstall: local\n")], 2, "family"),
    // --- distro profiles: YAML syntax ---
    distro("tab-indented list item", &[set("packages", "\n  - bash\n\t- bubblewrap\n  - ca-certificates\n  - tini")], 5, "packages"),
    distro("unclosed quote", &[set("base_image", "\"debian:bookworm-slim")], 1, "base_image"),
    distro("under-indented list item", &[set("packages", "\n  - bash\n - bubblewrap\n  - ca-certificates\n  - tini")], 5, "packages"),
    // --- distro profiles: values ---
    distro("unknown package manager", &[set("family", "yum")], 2, "family"),
    distro("unknown install method", &[set("install", "pip")], 4, "install"),
    distro("package name with a shell command", &[set("packages", "\n  - bash\n  - bubblewrap\n  - ca-certificates\n  - tini; rm -rf /")], 7, "packages[3]"),
    distro("package name that is an option", &[set("packages", "\n  - bash\n  - -y\n  - bubblewrap\n  - ca-certificates\n  - tini")], 5, "packages[1]"),
    distro("package name with a command substitution", &[set("packages", "\n  - bash\n  - bubblewrap\n  - ca-certificates\n  - tini\n  - $(id)")], 8, "packages[4]"),
    distro("malformed digest", &[add("base_digest: sha256:1234")], 5, "base_digest"),
    distro("sha256 of the wrong length (second entry)", &[RELEASE[0], RELEASE[1], RELEASE[2], add(concat!("  x86_64: ", "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58")), add(concat!("  aarch64: ", "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec5"))], 8, "release_sha256.aarch64"),
    distro("uppercase sha256", &[RELEASE[0], RELEASE[1], RELEASE[2], add("  x86_64: 4C6F890434CEE3521206C2F1F5A772587E5B8F02635A85FE0ADE3E83D9B2EC58")], 7, "release_sha256.x86_64"),
    distro("non-hex sha256", &[RELEASE[0], RELEASE[1], RELEASE[2], add("  x86_64: 4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec5z")], 7, "release_sha256.x86_64"),
    distro("unknown machine in release_sha256", &[RELEASE[0], RELEASE[1], RELEASE[2], add(concat!("  x86_64: ", "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58")), add(concat!("  riscv64: ", "4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58"))], 8, "release_sha256.riscv64"),
    distro("install: release without release_sha256", &[set("install", "release"), add("sccache_version: 0.12.0")], 4, "release_sha256"),
    distro("release_base_url that is not http(s)", &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"), add("release_base_url: ftp://mirror.example/sccache")], 7, "release_base_url"),
    distro("release_base_url with a quote", &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"), add("release_base_url: 'http://mirror.example/a\"b'")], 7, "release_base_url"),
    distro("release_base_url with a command substitution", &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"), add("release_base_url: http://mirror.example/$(id)")], 7, "release_base_url"),
    distro("release_base_url with credentials", &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}"), add("release_base_url: https://user:secret@mirror.example/x")], 7, "release_base_url"),
    distro("release_base_url on a non-release install", &[add("release_base_url: https://mirror.example/sccache")], 5, "release_base_url"),
    distro("field not used by the install method", &[add("rust_image: rust:1.91-slim-bookworm")], 5, "rust_image"),
    distro("image without a tag", &[set("base_image", "debian")], 1, "base_image"),
    distro("image with uppercase", &[set("base_image", "Debian:12")], 1, "base_image"),
    distro("image with a space", &[set("family", "pacman"), set("packages", "[bash, bubblewrap, ca-certificates]"), add("tini_static_image: debian:12 slim")], 5, "tini_static_image"),
    distro("version `latest`", &[set("install", "cargo"), add("sccache_version: latest"), add("rust_image: rust:1.91-slim-bookworm")], 5, "sccache_version"),
    distro("version without a patch number", &[set("install", "cargo"), add("rust_image: rust:1.91-slim-bookworm"), add("sccache_version: 0.19")], 6, "sccache_version"),
    distro("version with leading zeros", &[RELEASE[0], add("sccache_version: 00.012.0"), add("release_sha256: {x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa}")], 5, "sccache_version"),
    distro("package listed twice", &[set("packages", "\n  - bash\n  - bubblewrap\n  - ca-certificates\n  - tini\n  - bash")], 8, "packages[4]"),
    distro("a machine given twice in release_sha256", &[RELEASE[0], RELEASE[1], RELEASE[2], add("  x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"), add("  x86_64: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb")], 8, "release_sha256.x86_64"),
    distro("image path with a run of dots", &[set("base_image", "a...b:1")], 1, "base_image"),
    distro("registry port 0", &[set("base_image", "localhost:0/debian:12")], 1, "base_image"),
    // --- hostile and careless input: flow style, repeats, aliases, sizes ---
    distro("a machine given twice in a flow mapping", &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa, x86_64: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb}")], 6, "release_sha256.x86_64").col(92),
    distro("a key given twice in a flow document", &[raw("{base_image: debian:12, family: apt, family: apk, packages: [bash], install: local}\n")], 1, "family"),
    distro("a bad package name in a flow list", &[set("packages", "[bash, \"bad name\", bubblewrap, ca-certificates, tini]")], 3, "packages[1]").col(18),
    distro("a bad package name on line 3 of a flow list", &[set("packages", "[bash,\n  bubblewrap,\n  ca-certificates, \"$(id)\",\n  tini]")], 5, "packages[3]").col(20),
    distro("a package twice in a flow list", &[set("packages", "[bash, bubblewrap, ca-certificates, tini, bash]")], 3, "packages[4]").col(53),
    distro("a mapping inside a flow list", &[set("packages", "[bash, {bubblewrap: 1}, ca-certificates, tini]")], 3, "packages[1]").col(18),
    distro("a sum that is a list, in a flow mapping", &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: [a, b]}")], 6, "release_sha256.x86_64").col(18),
    distro("an alias standing for a list", &[set("packages", "&p [bash, bubblewrap, ca-certificates, tini]"), add("flavour: *p")], 5, "flavour"),
    distro("a list as a key", &[add("? [a, b]\n: 1")], 5, "(document)"),
    distro("a huge value is quoted trimmed", &[set("family", HUGE)], 2, "family"),
    distro("a huge image reference is quoted trimmed", &[set("base_image", HUGE)], 1, "base_image"),
    // --- characters YAML forbids: at their own line and column, in the field that holds them ---
    distro("a NUL byte in a list item on line 7", &[set("packages", "\n  - bash\n  - bubblewrap\n  - ca-certificates\n  - ti\0ni")], 7, "packages[3]").col(7),
    distro("a NUL byte in a value", &[set("family", "a\0pt")], 2, "family").col(10),
    distro("a NUL byte in a key on line 7", &[add("# five"), add("# six"), add("sccache_\0package: sccache")], 7, "(file)").col(9),
    distro("a NUL byte alone on line 7", &[add("#"), add(""), add("\0")], 7, "(file)").col(1),
    distro("a NUL byte in a comment", &[set("family", "apt  # a\0b")], 2, "family").col(17),
    runtime("an escape character in a value", &[set("log_level", "in\u{1b}fo")], 11, "log_level").col(14),
    // --- cross-checks between fields ---
    distro("host glibc binary into a musl base", &[set("base_image", "alpine:3.20"), set("family", "apk")], 4, "install"),
    distro("cargo on a glibc rust_image into a musl base", &[set("base_image", "alpine:3.20"), set("family", "apk"), set("install", "cargo"), add("sccache_version: 0.19.0"), add("rust_image: rust:1.91-slim-bookworm")], 6, "rust_image"),
    distro("tini from an image that has no apt-get", &[set("family", "pacman"), set("packages", "[bash, bubblewrap, ca-certificates]"), add("tini_static_image: archlinux:base")], 5, "tini_static_image"),
    // --- runtime profiles ---
    runtime("port out of range", &[set("scheduler_port", "70000")], 1, "scheduler_port"),
    runtime("port 0", &[set("server_port", "0")], 2, "server_port"),
    runtime("the two ports equal", &[set("server_port", "10600")], 2, "server_port"),
    runtime("unknown server_auth", &[set("server_auth", "password")], 4, "server_auth"),
    runtime("unknown network mode", &[set("network", "macvlan")], 8, "network"),
    runtime("relative cache_root", &[set("cache_root", "var/sccache")], 7, "cache_root"),
    runtime("cache_root with ..", &[set("cache_root", "/var/../etc")], 7, "cache_root"),
    runtime("cache_root with a space", &[set("cache_root", "/var/my cache")], 7, "cache_root"),
    runtime("bridge subnet with host bits", &[set("network", "bridge"), set("bridge_subnet", "172.31.250.5/24")], 9, "bridge_subnet"),
    runtime("bridge subnet prefix out of range", &[set("network", "bridge"), set("bridge_subnet", "172.31.250.0/33")], 9, "bridge_subnet"),
    runtime("bridge address outside the subnet", &[set("network", "bridge"), set("bridge_address", "10.0.0.5")], 10, "bridge_address"),
    runtime("trace log level (logs tokens)", &[set("log_level", "trace")], 11, "log_level"),
    runtime("cache size beyond a TOML integer", &[set("toolchain_cache_size", "18446744073709551615")], 5, "toolchain_cache_size"),
    runtime("cache root over the config mount", &[set("cache_root", "/etc/sccache-dist")], 7, "cache_root"),
    runtime("cache root over a system directory", &[set("cache_root", "/usr")], 7, "cache_root"),
    runtime("loopback bridge subnet", &[set("bridge_subnet", "127.0.0.0/8")], 9, "bridge_subnet"),
    runtime("a port given twice", &[add("server_port: 10502")], 12, "server_port"),
];

/// A value far longer than any error may quote (the file stays under the size cap).
const HUGE: &str = concat!(
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
    "SECRET-TAIL"
);

/// The file a case is saved as, and its text: the base with the edits applied.
fn render(case: &Case) -> (String, String) {
    let (mut path, base) = match case.kind {
        Kind::Distro => ("distros/case.yaml", DISTRO),
        Kind::Runtime => ("profiles/default.yaml", RUNTIME),
    };
    let key = |l: &str| l.split(':').next().unwrap_or_default().to_owned();
    let mut lines: Vec<String> = base.iter().map(|l| l.to_string()).collect();
    for edit in case.edits {
        match *edit {
            set(k, v) => {
                let i = lines
                    .iter()
                    .position(|l| key(l) == k)
                    .expect("a key of the base");
                let sep = if v.starts_with('\n') { ":" } else { ": " };
                lines[i] = format!("{k}{sep}{v}");
            }
            add(line) => lines.push(line.to_owned()),
            remove(k) => lines.retain(|l| key(l) != k),
            raw(text) => return (path.to_owned(), text.to_owned()),
            file(name) => path = name,
        }
    }
    (path.to_owned(), lines.join("\n") + "\n")
}

/// Loads `text` as the profile `display` in process; the error, if it is refused.
fn load(kind: Kind, display: &str, text: &str) -> Result<(), ProfileError> {
    let src = Source::from_bytes(display, text.as_bytes().to_vec())?;
    match kind {
        Kind::Distro => Distro::from_source(&src).map(drop),
        Kind::Runtime => RuntimeProfile::from_source(&src).map(drop),
    }
}

/// What is wrong with how `case` was refused, if anything.
fn check(case: &Case) -> Result<(), String> {
    let (path, text) = render(case);
    let e = match load(case.kind, &path, &text) {
        Ok(()) => return Err(format!("{}: accepted", case.name)),
        Err(e) => e,
    };
    let shown = e.to_string();
    let mut problems = Vec::new();
    if (e.file.as_str(), e.line, e.field.as_str()) != (path.as_str(), case.line, case.field) {
        problems.push(format!("want {path}:{}: field `{}`", case.line, case.field));
    }
    if case.column.is_some() && e.column != case.column {
        problems.push(format!("want column {:?}, got {:?}", case.column, e.column));
    }
    if e.message.trim().is_empty() || shown.lines().count() != 1 {
        problems.push("want a one-line message".into());
    }
    // A message quotes at most the offending value, trimmed, never the file.
    if shown.len() > 600 || shown.contains("SECRET-TAIL") {
        problems.push(format!(
            "the message echoes too much ({} bytes)",
            shown.len()
        ));
    }
    match problems.is_empty() {
        true => Ok(()),
        false => Err(format!(
            "{}: {}\n    got: {shown}",
            case.name,
            problems.join("; ")
        )),
    }
}

#[test]
fn every_malformed_profile_is_rejected_at_its_line_and_field() {
    let mut names = std::collections::BTreeSet::new();
    for case in CASES {
        assert!(names.insert(case.name), "duplicate case name {}", case.name);
    }
    assert!(names.len() >= 60);
    let failures: Vec<String> = CASES.iter().filter_map(|c| check(c).err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

/// Each case fails only for its edits: the bases load, and so do edits that are fine.
#[test]
fn the_bases_and_harmless_edits_load() {
    const FINE: &[(Kind, &[Edit])] = &[
        (Kind::Distro, &[]),
        (Kind::Runtime, &[]),
        // A mirror for the release tarballs.
        (Kind::Distro, &[RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: 4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58}"), add("release_base_url: http://127.0.0.1:8080/sccache")]),
        // Static musl release tarballs run on a musl base; so does an Alpine builder.
        (Kind::Distro, &[set("base_image", "alpine:3.20"), set("family", "apk"), RELEASE[0], RELEASE[1], add("release_sha256: {x86_64: 4c6f890434cee3521206c2f1f5a772587e5b8f02635a85fe0ade3e83d9b2ec58}")]),
        (Kind::Distro, &[set("base_image", "alpine:3.20"), set("family", "apk"), set("install", "cargo"), add("sccache_version: 0.19.0"), add("rust_image: rust:1.91-alpine")]),
        (Kind::Distro, &[set("family", "pacman"), set("packages", "[bash, bubblewrap, ca-certificates]"), add("tini_static_image: ubuntu:24.04")]),
        (Kind::Distro, &[set("packages", "[bash,\n  bubblewrap, ca-certificates,\n  tini]")]),
    ];
    for (kind, edits) in FINE {
        let case = Case {
            kind: *kind,
            ..distro("fine", edits, 0, "")
        };
        let (path, text) = render(&case);
        if let Err(e) = load(*kind, &path, &text) {
            panic!("{text}\nis refused: {e}");
        }
    }
}

/// How long a load may take before the watchdog calls it hung: far above any
/// run, linear or not (speed is a benchmark's business, not a test's).
const HUNG_AFTER_SECS: u64 = 120;

#[test]
fn a_long_package_list_is_checked_to_its_last_item() {
    // 9000 items keep the file under the 64 KiB cap; the last repeats the first.
    let mut items: Vec<String> = ["bash", "bubblewrap", "ca-certificates", "tini"]
        .map(String::from)
        .into();
    items.extend((0..9000).map(|i| format!("p{i}")));
    items.push("bash".into());
    let text = format!(
        "{}\npackages: [{}]\ninstall: local\n",
        DISTRO[..2].join("\n"),
        items.join(", ")
    );
    assert!(text.len() < 64 * 1024);
    let owned = text.clone();
    let e = support::within(
        "loading a 9005-item package list",
        HUNG_AFTER_SECS,
        move || load(Kind::Distro, "distros/long.yaml", &owned),
    )
    .unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (3, "packages[9004]"), "{e}");
    let column = text.lines().nth(2).unwrap().rfind("bash").unwrap() + 1;
    assert_eq!(e.column, Some(column), "{e}");
}

#[test]
fn oversized_and_non_utf8_files_are_refused_unread() {
    let big = format!("{}\n# {}\n", DISTRO.join("\n"), "x".repeat(70 * 1024));
    let e = load(Kind::Distro, "distros/big.yaml", &big).unwrap_err();
    assert_eq!((e.line, e.field.as_str()), (1, "(file)"), "{e}");
    assert!(e.message.contains("64 KiB"), "{e}");

    let mut bytes = b"base_image: debian:12\nfamily: apt\n".to_vec();
    bytes.extend_from_slice(b"packages: [\xff]\n");
    let e = Source::from_bytes("distros/latin1.yaml", bytes)
        .err()
        .unwrap();
    assert_eq!((e.line, e.field.as_str()), (3, "(file)"), "{e}");
}

#[test]
fn a_nul_byte_names_its_line_column_and_field_and_no_other() {
    let (path, text) = render(&distro(
        "",
        &[set(
            "packages",
            "\n  - bash\n  - bubblewrap\n  - ca-certificates\n  - ti\0ni",
        )],
        0,
        "",
    ));
    assert_eq!(text.lines().nth(6), Some("  - ti\0ni"));
    let e = load(Kind::Distro, &path, &text).unwrap_err().to_string();
    assert_eq!(
        e,
        "distros/case.yaml:7: field `packages[3]`: a control character (U+0000) is not allowed in a profile; remove it (column 7)"
    );
    assert!(!e.contains("base_image"), "{e}");
}

#[test]
fn the_binary_refuses_a_nul_byte_at_its_line() {
    let text = format!(
        "{}\n# five\n# six\nsccache_package: sccache\0\n",
        DISTRO.join("\n")
    );
    refused_by_binary(
        Some(("distros/nul.yaml", &text)),
        &["generate"],
        "distros/nul.yaml:7: field `sccache_package`: a control character (U+0000)",
    );
}

#[test]
fn install_release_needs_a_sum_for_the_platform() {
    let text = format!(
        "{}\nsccache_version: 0.12.0\nrelease_sha256:\n  x86_64: {SUM}\n",
        DISTRO[..3].join("\n") + "\ninstall: release"
    );
    let src = Source::from_bytes("distros/rel.yaml", text.into_bytes()).unwrap();
    let d = Distro::from_source(&src).unwrap();
    assert!(d.check_platform("linux/amd64").is_ok());
    for platform in ["linux/arm64", "linux/arm64/v8", "linux/riscv64"] {
        let e = d.check_platform(platform).unwrap_err();
        assert_eq!(
            (e.file.as_str(), e.line, e.field.as_str()),
            ("distros/rel.yaml", 6, "release_sha256"),
            "{e}"
        );
        assert!(e.message.contains(platform), "{e}");
    }
}

/// A tree holding only distros/ and profiles/, for the listing cases.
fn profile_tree() -> tempfile::TempDir {
    let tmp = tempfile::tempdir().unwrap();
    for dir in ["distros", "profiles"] {
        std::fs::create_dir(tmp.path().join(dir)).unwrap();
        for e in std::fs::read_dir(support::project_root().join(dir)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), tmp.path().join(dir).join(e.file_name())).unwrap();
        }
    }
    tmp
}

fn distro_names(root: &Path) -> anyhow::Result<Vec<String>> {
    Ok(xtask::profile::all_distros(root)?
        .into_iter()
        .map(|d| d.name)
        .collect())
}

#[test]
fn dotfiles_and_editor_leftovers_are_not_profiles() {
    let tree = profile_tree();
    let root = tree.path();
    let before = distro_names(root).unwrap();
    let distros = root.join("distros");
    std::os::unix::fs::symlink("user@host.1234:1700000000", distros.join(".#debian.yaml")).unwrap();
    for junk in [
        ".debian.yaml.swp",
        "debian.yaml~",
        "#debian.yaml#",
        "README.md",
    ] {
        std::fs::write(distros.join(junk), "not: [a profile").unwrap();
    }
    std::fs::write(root.join("profiles/.default.yaml.swp"), "junk").unwrap();
    assert_eq!(distro_names(root).unwrap(), before);
    assert_eq!(
        xtask::profile::runtime::list_names(&root.join("profiles")),
        ["default"]
    );
    xtask::profile::runtime::load_named(root, "default").unwrap();
}

#[test]
fn only_dot_yaml_is_a_profile_and_other_spellings_are_named() {
    for (dir, name) in [
        ("distros", "debian2.yml"),
        ("distros", "debian2.YAML"),
        ("profiles", "other.yml"),
    ] {
        let tree = profile_tree();
        let root = tree.path();
        std::fs::copy(root.join("distros/debian.yaml"), root.join(dir).join(name)).unwrap();
        let e = match dir {
            "distros" => distro_names(root).unwrap_err(),
            _ => xtask::profile::runtime::load_named(root, "default").unwrap_err(),
        };
        let stem = name.split('.').next().unwrap();
        let want = format!("{dir}/{name}:1: field `(file name)`: only `.yaml` files are profiles: rename it to {stem}.yaml");
        assert_eq!(e.to_string(), want);
    }
}

/// Makes something odd at the first path (the second is a file outside the tree).
type MakeOdd = fn(&Path, &Path);

#[test]
fn only_regular_files_inside_the_project_are_read() {
    let outside = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(outside.path(), "token: SECRET-CONTENT\n").unwrap();
    let cases: [(&str, MakeOdd); 4] = [
        ("a symlink out of the project", |p, outside| {
            std::os::unix::fs::symlink(outside, p).unwrap()
        }),
        ("a symlink to a device", |p, _| {
            std::os::unix::fs::symlink("/dev/zero", p).unwrap()
        }),
        ("a FIFO", |p, _| {
            assert!(std::process::Command::new("mkfifo")
                .arg(p)
                .status()
                .unwrap()
                .success())
        }),
        ("a directory", |p, _| std::fs::create_dir(p).unwrap()),
    ];
    for (what, make) in cases {
        let tree = profile_tree();
        let root = tree.path();
        make(&root.join("distros/odd.yaml"), outside.path());
        let owned = root.to_owned();
        let e = support::within(what, HUNG_AFTER_SECS, move || {
            distro_names(&owned).map_err(|e| e.to_string())
        })
        .unwrap_err();
        assert!(
            e.starts_with("distros/odd.yaml:1: field `(file)`: "),
            "{what}: {e}"
        );
        assert!(
            !e.contains("SECRET") && !e.contains(&outside.path().display().to_string()),
            "{what}: {e}"
        );
    }
    // A link that stays inside the project is followed.
    let tree = profile_tree();
    let root = tree.path();
    std::os::unix::fs::symlink("debian.yaml", root.join("distros/debian-too.yaml")).unwrap();
    assert!(distro_names(root)
        .unwrap()
        .contains(&"debian-too".to_owned()));
}

// --- through the real binary: exit code, one stderr line, generated/ untouched ---

/// Writes `(file, text)` (if any) into a fresh tree, runs `args`, and checks the
/// refusal.
fn refused_by_binary(write: Option<(&str, &str)>, args: &[&str], want: &str) {
    let tree = copy_tree();
    let root = tree.path();
    if let Some((path, text)) = write {
        std::fs::write(root.join(path), text).unwrap();
    }
    let generated = root.join("generated");
    let before = snapshot(&generated);
    let out = xtask(root, args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{want}: exited 0");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!("error: {want}")),
        "want {want:?}, got {err}"
    );
    assert!(before == snapshot(&generated), "{want}: generated/ changed");
}

#[test]
fn the_binary_refuses_a_repeat_in_a_flow_mapping() {
    let text = format!("{}\ninstall: release\nsccache_version: 0.12.0\nrelease_sha256: {{x86_64: {SUM}, x86_64: {SUM}}}\n", DISTRO[..3].join("\n"));
    refused_by_binary(
        Some(("distros/dup.yaml", &text)),
        &["generate"],
        "distros/dup.yaml:6: field `release_sha256.x86_64`: given twice",
    );
}

#[test]
fn the_binary_refuses_a_bad_runtime_profile() {
    let (_, text) = render(&runtime("", &[set("log_level", "trace")], 0, ""));
    refused_by_binary(
        Some(("profiles/default.yaml", &text)),
        &["generate"],
        "profiles/default.yaml:11: field `log_level`: ",
    );
}

#[test]
fn the_binary_refuses_a_yml_file() {
    refused_by_binary(
        Some(("distros/extra.yml", &DISTRO.join("\n"))),
        &["generate"],
        "distros/extra.yml:1: field `(file name)`: only `.yaml`",
    );
}

#[test]
fn the_binary_refuses_a_platform_without_a_pinned_sum() {
    // No shipped profile takes `install: release` (ubuntu compiles 0.19.0): a test
    // profile pins the x86_64 sum only, on line 6.
    let text = format!(
        "{}\ninstall: release\nsccache_version: 0.12.0\nrelease_sha256:\n  x86_64: {SUM}\n",
        DISTRO[..3].join("\n")
    );
    let args = [
        "image",
        "rel",
        "--dry-run",
        "--builder",
        "legacy",
        "--platform",
        "linux/arm64",
    ];
    refused_by_binary(
        Some(("distros/rel.yaml", &text)),
        &args,
        "distros/rel.yaml:6: field `release_sha256`: --platform linux/arm64",
    );
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
        dockerfile("ubuntu-copy").contains("cargo install sccache --version 0.19.0"),
        "the copy pins the same version"
    );
    assert_eq!(
        dockerfile("ubuntu-copy").replace("ubuntu-copy", "ubuntu"),
        dockerfile("ubuntu"),
        "same profile, same Dockerfile but for the name"
    );
}
