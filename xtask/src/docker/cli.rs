//! The engine itself: whether it is there (with advice when not), what its
//! builder can do, and the host's platform.

use super::command::DockerCommand;
use super::objects;
use crate::model::engine::EngineKind;

/// What the engine can do.
#[derive(Debug, Clone, Copy)]
pub struct Engine {
    /// `docker buildx version` works: BuildKit, SOURCE_DATE_EPOCH, rewrite-timestamp.
    pub buildkit: bool,
    /// Docker or Podman.
    pub kind: EngineKind,
}

/// The engine behind the docker CLI, from the server's components in `docker
/// version` (asked once per process); Docker when it cannot tell.
pub fn engine_kind() -> EngineKind {
    static KIND: std::sync::OnceLock<EngineKind> = std::sync::OnceLock::new();
    *KIND.get_or_init(|| {
        let out =
            DockerCommand::new(["version", "--format", "{{json .Server.Components}}"]).capture();
        let Ok(out) = out else {
            return EngineKind::Docker;
        };
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        let names = v.as_array().into_iter().flatten();
        EngineKind::from_components(names.filter_map(|c| c["Name"].as_str()))
    })
}

/// Checks for a docker client and a reachable engine, with advice when either is missing.
pub fn engine() -> anyhow::Result<Engine> {
    if which("docker").is_none() {
        anyhow::bail!(
            "no `docker` on PATH: install Docker (Debian/Ubuntu: `apt-get install docker.io`; elsewhere see https://docs.docker.com/engine/install/)"
        );
    }
    let out = DockerCommand::new(["version", "--format", "{{.Server.Version}}"]).capture()?;
    if !out.status.success() {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| {
            "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)".into()
        });
        anyhow::bail!(
            "no Docker engine reachable at {host}: {}\nstart one (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running engine",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let kind = engine_kind();
    let buildkit = kind.no_buildkit().is_none() && buildx_version().is_ok();
    Ok(Engine { buildkit, kind })
}

/// A buildx plugin's version, as `docker buildx version` prints it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct BuildxVersion {
    /// Compared before `minor` (the derived order) in feature checks.
    pub major: u32,
    /// With `major`, decides [`BuildxVersion::rewrites_timestamps`] (>= 0.13).
    pub minor: u32,
    /// Shown and ordered on; no feature check depends on it.
    pub patch: u32,
}

impl std::fmt::Display for BuildxVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl BuildxVersion {
    /// BuildKit >= 0.13 (shipped with buildx >= 0.13) clamps file times to
    /// SOURCE_DATE_EPOCH on export (`rewrite-timestamp=true`).
    pub fn rewrites_timestamps(self) -> bool {
        (self.major, self.minor) >= (0, 13)
    }
}

/// The version in the output of `docker buildx version`: the first word that reads
/// `[v]MAJOR.MINOR[.PATCH]`, whatever follows it (`+ds1`, `-desktop.1`, `-rc1`).
/// Upstream prints `github.com/docker/buildx v0.17.1 <commit>`, Debian
/// `github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3`.
pub fn parse_buildx_version(text: &str) -> Option<BuildxVersion> {
    text.split_whitespace().skip(1).find_map(version_word)
}

/// `[v]MAJOR.MINOR[.PATCH]` followed by anything that is not a digit or a dot.
fn version_word(word: &str) -> Option<BuildxVersion> {
    let word = word.strip_prefix('v').unwrap_or(word);
    let end = word
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(word.len());
    let mut parts = word[..end].split('.');
    let num = |p: Option<&str>| p.filter(|p| !p.is_empty())?.parse::<u32>().ok();
    let major = num(parts.next())?;
    let minor = num(parts.next())?;
    let patch = match parts.next() {
        None => 0,
        p => num(p)?,
    };
    Some(BuildxVersion {
        major,
        minor,
        patch,
    })
}

/// Runs `docker buildx version`: the plugin's version, or why it does not work.
pub fn buildx_version() -> Result<BuildxVersion, String> {
    let out = DockerCommand::new(["buildx", "version"])
        .capture()
        .map_err(|e| format!("{e:#}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{} ({})", err.trim(), out.status));
    }
    parse_buildx_version(&text).ok_or_else(|| format!("no version in its output {:?}", text.trim()))
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The Docker platform of this machine, e.g. `linux/amd64`.
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    };
    format!("linux/{arch}")
}

/// The `--format` template printing one label of an inspected image or container
/// (both keep labels in the same place).
pub fn label_format(label: &str) -> String {
    format!("{{{{index .Config.Labels \"{label}\"}}}}")
}

/// The value of `label` on the image `reference`: None when there is no such image.
pub fn image_label(reference: &str, label: &str) -> anyhow::Result<Option<String>> {
    objects::image_inspect(reference, &label_format(label)).try_output()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(major: u32, minor: u32, patch: u32) -> Option<BuildxVersion> {
        Some(BuildxVersion {
            major,
            minor,
            patch,
        })
    }

    #[test]
    fn buildx_versions_as_released() {
        let cases = [
            // Upstream release binary.
            ("github.com/docker/buildx v0.17.1 257815a", v(0, 17, 1)),
            // Debian trixie's docker-buildx package (this project's CI).
            (
                "github.com/docker/buildx 0.13.1+ds1 0.13.1+ds1-3",
                v(0, 13, 1),
            ),
            // Docker Desktop.
            (
                "github.com/docker/buildx v0.19.3-desktop.1 4c7a5ba1d0e9b51ecbb3bc9a2d4cdc4e2b0f5dc2",
                v(0, 19, 3),
            ),
            // Release candidates and old releases.
            ("github.com/docker/buildx v0.13.0-rc2 ed8b9e6", v(0, 13, 0)),
            ("github.com/docker/buildx v0.10.4 c513d34\n", v(0, 10, 4)),
            // Fedora / distro builds.
            ("github.com/docker/buildx 0.11.2 (unknown)", v(0, 11, 2)),
            // A commit that starts with digits is not a version.
            ("github.com/docker/buildx 3c5d9f2", None),
            ("", None),
            ("docker: 'buildx' is not a docker command.", None),
        ];
        for (text, want) in cases {
            assert_eq!(parse_buildx_version(text), want, "{text:?}");
        }
    }

    #[test]
    fn rewrite_timestamp_from_0_13() {
        assert!(!v(0, 12, 1).unwrap().rewrites_timestamps());
        assert!(v(0, 13, 1).unwrap().rewrites_timestamps());
        assert!(v(1, 0, 0).unwrap().rewrites_timestamps());
        assert_eq!(v(0, 13, 1).unwrap().to_string(), "0.13.1");
    }
}
