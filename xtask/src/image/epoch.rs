//! An image's SOURCE_DATE_EPOCH, chosen on purpose: the time BuildKit writes as the
//! image's creation time (and, on an OCI export, clamps the files a build writes to).
//!
//! In order: `SOURCE_DATE_EPOCH` from the environment; else the commit time of the
//! newest commit that touched one of the image's inputs (`git log -1 --format=%ct --
//! INPUTS`), the same for everyone at the same commit; else, outside a git checkout,
//! [`FALLBACK`]. Epoch 0 made every image "created 56 years ago", which reads like a
//! bug in `docker images`.

use std::path::Path;
use std::process::{Command, Stdio};

/// The epoch outside a git checkout (a source tarball, a copied tree):
/// 2025-01-01T00:00:00Z, fixed so such builds stay reproducible.
pub const FALLBACK: u64 = 1_735_689_600;

/// The files, besides the distro and runtime profiles, whose commits date an image:
/// the Dockerfile template and the entrypoint and config templates.
pub const COMMON_INPUTS: &[&str] = &["Dockerfile.j2", "xtask/templates"];

/// Where an epoch came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `SOURCE_DATE_EPOCH` in the environment.
    Environment,
    /// The newest commit touching an input.
    Commit,
    /// [`FALLBACK`]: no git history for the inputs.
    Fallback,
}

/// An image's SOURCE_DATE_EPOCH and where it came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epoch {
    /// Seconds since 1970, as the build argument carries it.
    pub seconds: String,
    /// Why this value.
    pub source: Source,
}

impl Epoch {
    /// What the content hash takes of the epoch. An epoch given in the environment is
    /// hashed: another value asks for another image. One worked out from the commits
    /// is not: it changes with every commit touching an input, also when no byte of
    /// the rendered inputs changed (a comment in a profile) and when only committing
    /// what was already built; the content decides the rebuild, and the image keeps
    /// the time of the commit it was first built at.
    pub fn hashed(&self) -> &str {
        match self.source {
            Source::Environment => &self.seconds,
            Source::Commit | Source::Fallback => "inputs",
        }
    }

    /// How `image` names it: `1735689600 (2025-01-01, ...)`.
    pub fn describe(&self) -> String {
        let why = match self.source {
            Source::Environment => "SOURCE_DATE_EPOCH in the environment",
            Source::Commit => "the newest commit of the image's inputs",
            Source::Fallback => "the fixed epoch used outside git",
        };
        let date = self
            .seconds
            .parse::<u64>()
            .map(civil_date)
            .unwrap_or_default();
        format!("{} ({date}, {why})", self.seconds)
    }
}

/// The epoch for an image whose inputs are `inputs` (paths relative to `root`),
/// with `env` the environment's SOURCE_DATE_EPOCH.
pub fn choose(env: Option<String>, root: &Path, inputs: &[&str]) -> anyhow::Result<Epoch> {
    if let Some(seconds) = env {
        if seconds.is_empty() || !seconds.chars().all(|c| c.is_ascii_digit()) {
            anyhow::bail!("SOURCE_DATE_EPOCH={seconds:?} is not a number of seconds");
        }
        return Ok(Epoch {
            seconds,
            source: Source::Environment,
        });
    }
    Ok(match commit_time(root, inputs) {
        Some(t) => Epoch {
            seconds: t.to_string(),
            source: Source::Commit,
        },
        None => Epoch {
            seconds: FALLBACK.to_string(),
            source: Source::Fallback,
        },
    })
}

/// The committer time of the newest commit touching one of `inputs`, or None
/// (no git, not a checkout, inputs never committed).
fn commit_time(root: &Path, inputs: &[&str]) -> Option<u64> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["log", "-1", "--format=%ct", "--"])
        .args(inputs)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    String::from_utf8(out.stdout).ok()?.trim().parse().ok()
}

/// `YYYY-MM-DD` of a Unix time (UTC), by Howard Hinnant's days-to-civil algorithm.
fn civil_date(seconds: u64) -> String {
    let z = (seconds / 86_400) as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn git(dir: &Path, args: &[&str], date: &str) {
        let ok = Command::new("git")
            .arg("-C")
            .arg(dir)
            .args(args)
            .env("GIT_COMMITTER_DATE", date)
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .env_remove("GIT_DIR")
            .env_remove("GIT_WORK_TREE")
            .env_remove("GIT_INDEX_FILE")
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn the_environment_wins_and_must_be_a_number() {
        let dir = tempfile::tempdir().unwrap();
        let e = choose(Some("42".into()), dir.path(), &["x"]).unwrap();
        assert_eq!((e.seconds.as_str(), e.source), ("42", Source::Environment));
        assert_eq!(e.hashed(), "42");
        for bad in ["", "-1", "1e9", "now"] {
            assert!(
                choose(Some(bad.into()), dir.path(), &["x"]).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn outside_git_the_fixed_epoch() {
        let dir = tempfile::tempdir().unwrap();
        let e = choose(None, dir.path(), &["Dockerfile.j2"]).unwrap();
        assert_eq!(e.source, Source::Fallback);
        assert_eq!(e.seconds, FALLBACK.to_string());
        assert_eq!(civil_date(FALLBACK), "2025-01-01");
        assert_eq!(e.hashed(), "inputs");
    }

    #[test]
    fn in_git_the_newest_commit_of_the_inputs_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        git(root, &["init", "-q"], "2024-03-01T00:00:00Z");
        std::fs::create_dir_all(root.join("distros")).unwrap();
        std::fs::write(root.join("Dockerfile.j2"), "FROM x\n").unwrap();
        std::fs::write(root.join("distros/a.yaml"), "a\n").unwrap();
        std::fs::write(root.join("distros/b.yaml"), "b\n").unwrap();
        git(root, &["add", "."], "2024-03-01T00:00:00Z");
        git(root, &["commit", "-qm", "one"], "2024-03-01T00:00:00Z");
        std::fs::write(root.join("distros/b.yaml"), "b2\n").unwrap();
        git(root, &["commit", "-qam", "two"], "2024-06-01T00:00:00Z");
        std::fs::write(root.join("README"), "r\n").unwrap();
        git(root, &["add", "."], "2024-09-01T00:00:00Z");
        git(root, &["commit", "-qm", "three"], "2024-09-01T00:00:00Z");

        let a = choose(None, root, &["Dockerfile.j2", "distros/a.yaml"]).unwrap();
        assert_eq!(a.source, Source::Commit);
        assert_eq!(civil_date(a.seconds.parse().unwrap()), "2024-03-01");
        let b = choose(None, root, &["Dockerfile.j2", "distros/b.yaml"]).unwrap();
        assert_eq!(civil_date(b.seconds.parse().unwrap()), "2024-06-01");
        // The same commit gives the same epoch, and neither is hashed.
        assert_eq!(
            choose(None, root, &["Dockerfile.j2", "distros/b.yaml"]).unwrap(),
            b
        );
        assert_eq!(a.hashed(), b.hashed());
        // Inputs never committed: the fixed epoch.
        let none = choose(None, root, &["distros/new.yaml"]).unwrap();
        assert_eq!(none.source, Source::Fallback);
    }

    #[test]
    fn dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(951_782_400), "2000-02-29");
        assert_eq!(civil_date(1_709_251_199), "2024-02-29");
    }
}
