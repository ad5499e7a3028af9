//! Which builder runs a build, and why: BuildKit through `docker buildx` when it
//! works, else the legacy builder. The choice is always printed, never silent.

use crate::docker::{self, BuildxVersion};

/// Which builder the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuilderChoice {
    /// BuildKit when `docker buildx version` works, else the legacy builder.
    Auto,
    /// BuildKit; an error when `docker buildx version` does not work.
    Buildkit,
    /// The legacy builder (`DOCKER_BUILDKIT=0 docker build`).
    Legacy,
}

/// The builder a build runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builder {
    /// `DOCKER_BUILDKIT=0 docker build`: with the buildx plugin installed, a plain
    /// `docker build` is BuildKit.
    Legacy,
    /// `docker buildx build`, with the plugin's version.
    BuildKit {
        /// The plugin's version, which decides whether exported file times can be clamped.
        buildx: BuildxVersion,
    },
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Builder::Legacy => f.write_str("legacy"),
            Builder::BuildKit { buildx } if buildx.rewrites_timestamps() => {
                write!(f, "BuildKit (buildx {buildx}, rewrite-timestamp on export)")
            }
            Builder::BuildKit { buildx } => {
                write!(
                    f,
                    "BuildKit (buildx {buildx}, no rewrite-timestamp: < 0.13)"
                )
            }
        }
    }
}

impl Builder {
    /// The environment the docker client runs with for this builder.
    pub fn env(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Builder::Legacy => &[("DOCKER_BUILDKIT", "0")],
            Builder::BuildKit { .. } => &[],
        }
    }

    /// Whether an export can clamp file times to SOURCE_DATE_EPOCH.
    pub fn rewrites_timestamps(self) -> bool {
        matches!(self, Builder::BuildKit { buildx } if buildx.rewrites_timestamps())
    }
}

/// A builder and the reason it was picked, e.g. "auto: buildx works".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Picked {
    /// The builder to use.
    pub builder: Builder,
    /// Why it was chosen, shown to the user so an unexpected pick can be explained.
    pub why: String,
}

impl std::fmt::Display for Picked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "builder: {} — {}", self.builder, self.why)
    }
}

/// Picks the builder for `choice` given what `docker buildx version` gave: its
/// version, or why it failed. `--builder buildkit` with a broken buildx is an error.
pub fn pick(
    choice: BuilderChoice,
    buildx: Result<BuildxVersion, String>,
) -> anyhow::Result<Picked> {
    let picked = |builder, why: String| Ok(Picked { builder, why });
    match (choice, buildx) {
        (BuilderChoice::Legacy, _) => picked(Builder::Legacy, "--builder legacy".into()),
        (BuilderChoice::Buildkit, Ok(v)) => {
            picked(Builder::BuildKit { buildx: v }, "--builder buildkit".into())
        }
        (BuilderChoice::Buildkit, Err(e)) => {
            anyhow::bail!("--builder buildkit: `docker buildx version` failed: {e}")
        }
        (BuilderChoice::Auto, Ok(v)) => {
            picked(Builder::BuildKit { buildx: v }, "auto: buildx works".into())
        }
        (BuilderChoice::Auto, Err(e)) => picked(
            Builder::Legacy,
            format!("auto: `docker buildx version` failed: {e}"),
        ),
    }
}

/// Picks the builder for `choice`, running `docker buildx version` unless the
/// legacy builder was asked for.
pub fn probe(choice: BuilderChoice) -> anyhow::Result<Picked> {
    if let Some(why) = docker::engine_kind().no_buildkit() {
        anyhow::ensure!(
            choice != BuilderChoice::Buildkit,
            "--builder buildkit: {why}"
        );
        let why = format!("auto: {why}");
        return pick(BuilderChoice::Legacy, Err(why.clone())).map(|p| Picked { why, ..p });
    }
    let buildx = match choice {
        BuilderChoice::Legacy => Err("not asked".into()),
        _ => docker::buildx_version(),
    };
    pick(choice, buildx)
}

#[cfg(test)]
mod tests {
    use super::*;

    const V13: BuildxVersion = BuildxVersion {
        major: 0,
        minor: 13,
        patch: 1,
    };

    #[test]
    fn auto_says_why() {
        let p = pick(BuilderChoice::Auto, Ok(V13)).unwrap();
        assert_eq!(
            p.to_string(),
            "builder: BuildKit (buildx 0.13.1, rewrite-timestamp on export) — auto: buildx works"
        );
        let p = pick(BuilderChoice::Auto, Err("unknown command".into())).unwrap();
        assert_eq!(p.builder, Builder::Legacy);
        assert_eq!(
            p.to_string(),
            "builder: legacy — auto: `docker buildx version` failed: unknown command"
        );
    }

    #[test]
    fn explicit_choices() {
        let e = pick(BuilderChoice::Buildkit, Err("exit status: 1".into())).unwrap_err();
        assert_eq!(
            e.to_string(),
            "--builder buildkit: `docker buildx version` failed: exit status: 1"
        );
        let p = pick(BuilderChoice::Legacy, Ok(V13)).unwrap();
        assert_eq!(p.builder, Builder::Legacy);
        assert_eq!(p.builder.env(), &[("DOCKER_BUILDKIT", "0")]);
        let old = BuildxVersion { minor: 12, ..V13 };
        let p = pick(BuilderChoice::Buildkit, Ok(old)).unwrap();
        assert!(!p.builder.rewrites_timestamps());
        assert!(p.to_string().contains("no rewrite-timestamp"), "{p}");
    }
}
