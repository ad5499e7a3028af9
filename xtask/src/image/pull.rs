//! A build that stops at a `FROM` because the image cannot be pulled: its registry is
//! out of reach (no Docker Hub here), refuses, or has no such image. Recognised in the
//! build's own output after it failed, never guessed before it: the engine knows its
//! local images, its registry mirrors and its builder's cache, and the build works
//! wherever the engine can get the image. The error names the image, which field or
//! flag it came from, and the way around it: `--base-image REF`, a mirror's copy or a
//! local image, made the way the tests make theirs.

/// One image of a build's `FROM` lines that the builder could not get.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullFailure {
    /// The reference as the builder wrote it (BuildKit normalises it:
    /// `docker.io/library/ubuntu:24.04`; the legacy builder may print the `FROM`
    /// line's `${BASE_IMAGE}`).
    pub image: String,
    /// The builder's own words for why.
    pub reason: String,
}

/// The first image pull failure in a build's output, if there is one.
///
/// - BuildKit: `... failed to resolve source metadata for REF: REASON`;
/// - the legacy builder on the containerd store: `failed to resolve reference "REF": REASON`;
/// - the legacy builder on the classic store: a `Step N/M : FROM REF` line followed by
///   `Error response from daemon: REASON` (or `pull access denied ...`) before any
///   other step.
pub fn recognise(lines: &[String]) -> Option<PullFailure> {
    const METADATA: &str = "failed to resolve source metadata for ";
    const REFERENCE: &str = "failed to resolve reference \"";
    for line in lines {
        if let Some(i) = line.find(METADATA) {
            let rest = &line[i + METADATA.len()..];
            let (image, reason) = rest.split_once(": ").unwrap_or((rest, ""));
            return Some(failure(image, reason));
        }
        if let Some(i) = line.find(REFERENCE) {
            let rest = &line[i + REFERENCE.len()..];
            if let Some((image, reason)) = rest.split_once('"') {
                return Some(failure(image, reason.trim_start_matches([':', ' '])));
            }
        }
    }
    let mut from = None;
    for line in lines {
        if let Some((_, step)) = line.strip_prefix("Step ").and_then(|l| l.split_once(" : ")) {
            from = step
                .strip_prefix("FROM ")
                .and_then(|f| f.split_whitespace().next())
                .map(str::to_owned);
            continue;
        }
        let reason = line
            .strip_prefix("Error response from daemon: ")
            .or_else(|| line.contains("pull access denied").then_some(line.as_str()));
        if let (Some(image), Some(reason)) = (&from, reason) {
            return Some(failure(image, reason));
        }
    }
    None
}

fn failure(image: &str, reason: &str) -> PullFailure {
    PullFailure {
        image: image.trim().to_owned(),
        reason: reason.trim().to_owned(),
    }
}

/// Why, in a few words, from the builder's reason.
fn why(reason: &str) -> &'static str {
    let r = reason.to_ascii_lowercase();
    let has = |words: &[&str]| words.iter().any(|w| r.contains(w));
    if has(&[
        "no such host",
        "dial tcp",
        "i/o timeout",
        "connection refused",
        "network is unreachable",
        "tls handshake timeout",
        "deadline exceeded",
        "server misbehaving",
        "no route to host",
    ]) {
        "its registry cannot be reached from here"
    } else if has(&["pull access denied", "unauthorized", "denied", "forbidden"]) {
        "its registry refuses it (no such repository, or it needs `docker login`)"
    } else if has(&["not found", "manifest unknown"]) {
        "its registry has no such image"
    } else {
        "the builder could not get it"
    }
}

/// `r` as the engine reads it: `ubuntu:24.04` is `docker.io/library/ubuntu:24.04`,
/// an untagged name is `:latest`.
pub fn normalise(r: &str) -> String {
    let (name, digest) = match r.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (r, None),
    };
    let first = name.split('/').next().unwrap_or_default();
    let has_host = name.contains('/') && (first.contains(['.', ':']) || first == "localhost");
    let mut full = match (has_host, name.contains('/')) {
        (true, _) => name.to_owned(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    let last = full.rsplit('/').next().unwrap_or_default();
    if !last.contains(':') && digest.is_none() {
        full.push_str(":latest");
    }
    match digest {
        Some(d) => format!("{full}@{d}"),
        None => full,
    }
}

/// The end of `s`, at most `n` characters: the innermost cause ends a Go error chain.
fn last_chars(s: &str, n: usize) -> String {
    let count = s.chars().count();
    if count <= n {
        return s.to_owned();
    }
    let tail: String = s.chars().skip(count - n).collect();
    format!("…{tail}")
}

/// One image a build starts `FROM`: its reference and where it comes from
/// (`--base-image`, `base_image in distros/debian.yaml`).
#[derive(Debug, Clone)]
pub struct FromImage {
    /// The reference the build uses.
    pub image: String,
    /// The flag or profile field that names it.
    pub origin: String,
    /// Whether it is the base image (what `--base-image` replaces).
    pub base: bool,
}

/// How the tests make a base image without any registry.
const LOCAL_BASE: &str = "the tests make one with debootstrap and `docker import` \
(.ci/install, make_base_image; see the README's Tests section): \
`debootstrap --variant=minbase trixie DIR MIRROR && tar -C DIR -c . | docker import - local/debian:trixie`, \
then `--base-image local/debian:trixie`";

/// The error for `failure`, naming which of the build's `froms` it is.
pub fn message(failure: &PullFailure, froms: &[FromImage]) -> String {
    let wanted = normalise(&failure.image);
    let raw = failure.image.contains("BASE_IMAGE");
    let from = froms
        .iter()
        .find(|f| (raw && f.base) || normalise(&f.image) == wanted);
    let reason = last_chars(&failure.reason, 100);
    let why = why(&failure.reason);
    match from {
        Some(f) if f.base => format!(
            "the base image {} ({}) cannot be pulled: {why} ({reason}). Without access to \
             its registry, pass --base-image REF: a registry mirror's copy of it, or a local \
             image; {LOCAL_BASE}",
            f.image, f.origin
        ),
        Some(f) => format!(
            "the image {} ({}) cannot be pulled: {why} ({reason}). --base-image REF replaces \
             only the base image: point {} at a registry mirror's copy or a local image",
            f.image,
            f.origin,
            f.origin.split(' ').next().unwrap_or_default()
        ),
        None => format!(
            "the image {} cannot be pulled: {why} ({reason}). For the base image, pass \
             --base-image REF: a registry mirror's copy of it, or a local image; {LOCAL_BASE}",
            failure.image
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_owned).collect()
    }

    fn froms() -> Vec<FromImage> {
        vec![
            FromImage {
                image: "ubuntu:24.04".into(),
                origin: "base_image in distros/ubuntu.yaml".into(),
                base: true,
            },
            FromImage {
                image: "rust:1.91-slim-bookworm".into(),
                origin: "rust_image in distros/ubuntu.yaml".into(),
                base: false,
            },
        ]
    }

    // Measured here (no registry reachable), BuildKit 0.13 on the containerd store.
    const BUILDKIT: &str = r#"#2 [internal] load metadata for docker.io/library/ubuntu:24.04
#2 ERROR: failed to do request: Head "https://registry-1.docker.io/v2/library/ubuntu/manifests/24.04": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host
------
 > [internal] load metadata for docker.io/library/ubuntu:24.04:
------
ERROR: failed to solve: ubuntu:24.04: failed to resolve source metadata for docker.io/library/ubuntu:24.04: failed to do request: Head "https://registry-1.docker.io/v2/library/ubuntu/manifests/24.04": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host"#;

    // The legacy builder, same engine.
    const LEGACY: &str = r#"Step 1/20 : ARG BASE_IMAGE=ubuntu:24.04
Step 2/20 : FROM ${BASE_IMAGE} AS fetch-sccache-dist
failed to resolve reference "docker.io/library/ubuntu:24.04": failed to do request: Head "https://registry-1.docker.io/v2/library/ubuntu/manifests/24.04": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host"#;

    // The legacy builder on the classic store pulls through the daemon, whose errors
    // start `Error response from daemon:` (the daemon's wording, not measured here).
    const CLASSIC: &str = r#"Step 1/16 : ARG BASE_IMAGE=debian:trixie-slim
Step 2/16 : FROM ${BASE_IMAGE}
Error response from daemon: Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io: no such host"#;

    #[test]
    fn buildkit_and_legacy_failures_name_the_base() {
        for (text, image) in [
            (BUILDKIT, "docker.io/library/ubuntu:24.04"),
            (LEGACY, "docker.io/library/ubuntu:24.04"),
            (CLASSIC, "${BASE_IMAGE}"),
        ] {
            let f = recognise(&lines(text)).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(f.image, image);
            assert!(f.reason.ends_with("no such host"), "{}", f.reason);
            let m = message(&f, &froms());
            assert!(
                m.starts_with("the base image ubuntu:24.04 (base_image in distros/ubuntu.yaml) cannot be pulled: its registry cannot be reached from here"),
                "{m}"
            );
            for part in [
                "--base-image REF",
                "debootstrap",
                "docker import",
                "make_base_image",
            ] {
                assert!(m.contains(part), "{part}: {m}");
            }
        }
    }

    #[test]
    fn another_from_image_is_named_by_its_field() {
        let text = "ERROR: failed to solve: rust:1.91-slim-bookworm: failed to resolve source metadata for docker.io/library/rust:1.91-slim-bookworm: docker.io/library/rust:1.91-slim-bookworm: not found";
        let f = recognise(&lines(text)).unwrap();
        let m = message(&f, &froms());
        assert!(
            m.starts_with("the image rust:1.91-slim-bookworm (rust_image in distros/ubuntu.yaml) cannot be pulled: its registry has no such image"),
            "{m}"
        );
        assert!(m.contains("point rust_image at"), "{m}");
    }

    #[test]
    fn other_failures_are_not_taken_for_a_pull() {
        let apt = "Step 5/16 : RUN apt-get update\nE: Unable to locate package nope\nThe command '/bin/sh -c apt-get install nope' returned a non-zero code: 100";
        assert_eq!(recognise(&lines(apt)), None);
        let buildkit = "#7 ERROR: process \"/bin/sh -c apt-get install nope\" did not complete successfully: exit code: 100\nERROR: failed to solve: process \"/bin/sh -c apt-get install nope\" did not complete successfully: exit code: 100";
        assert_eq!(recognise(&lines(buildkit)), None);
    }

    #[test]
    fn references_as_the_engine_reads_them() {
        assert_eq!(normalise("ubuntu:24.04"), "docker.io/library/ubuntu:24.04");
        assert_eq!(
            normalise("local/debian:trixie"),
            "docker.io/local/debian:trixie"
        );
        assert_eq!(normalise("debian"), "docker.io/library/debian:latest");
        assert_eq!(
            normalise("nonexistent.invalid/x:1"),
            "nonexistent.invalid/x:1"
        );
        assert_eq!(normalise("localhost:5000/a/b"), "localhost:5000/a/b:latest");
        assert_eq!(
            normalise("debian:12@sha256:ab"),
            "docker.io/library/debian:12@sha256:ab"
        );
    }
}
