//! Image registries, through the docker CLI: which repositories live in one, and
//! the look-up, pull, tag and push commands `image` runs against them.
//!
//! Credentials are never handled here: `docker login` stored them in the user's
//! docker config (`DOCKER_CONFIG`, default `~/.docker`), and the docker CLI and its
//! buildx plugin read them from there. No command line carries a secret.

use super::command::DockerCommand;

/// The registry host of `repo`, when `repo` names a repository in a registry:
/// its first path component is a host with a dot (`ghcr.io`) or a port
/// (`127.0.0.1:5000`), or is `localhost`; the rule Docker uses to tell a
/// registry host from a Docker Hub namespace. `sccache-dist` and
/// `someone/sccache-dist` are local names (for Docker Hub, write `docker.io/...`).
pub fn registry_host(repo: &str) -> Option<&str> {
    let (first, rest) = repo.split_once('/')?;
    let is_host = first.contains('.') || first.contains(':') || first == "localhost";
    (is_host && !rest.is_empty()).then_some(first)
}

/// What a registry holds under one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteImage {
    /// The digest of the manifest (or index) the tag points to.
    pub digest: String,
    /// The value of the looked-up label in the image config for the platform.
    pub label: Option<String>,
}

/// The command that looks a tag up in its registry, without pulling anything.
pub fn inspect_command(reference: &str) -> DockerCommand {
    DockerCommand::new([
        "buildx",
        "imagetools",
        "inspect",
        "--format",
        "{{json .}}",
        reference,
    ])
}

/// `docker pull --platform PLATFORM REFERENCE`.
pub fn pull_command(reference: &str, platform: &str) -> DockerCommand {
    DockerCommand::new(["pull", "--platform", platform, reference])
}

/// `docker push REFERENCE`.
pub fn push_command(reference: &str) -> DockerCommand {
    DockerCommand::new(["push", reference])
}

/// `docker tag SOURCE TARGET`.
pub fn tag_command(source: &str, target: &str) -> DockerCommand {
    super::objects::tag(source, target)
}

/// Whether the CLI's error says the tag is not in the registry (as opposed to a
/// registry that is down, refuses us, or answers something else).
fn is_not_found(stderr: &str) -> bool {
    let s = stderr.to_ascii_lowercase();
    s.contains(": not found") || s.contains("manifest unknown") || s.contains("name unknown")
}

/// Looks `reference` up in its registry: `Ok(None)` when the registry answers that
/// there is no such tag; an error naming the registry when it cannot be asked.
pub fn lookup(
    reference: &str,
    registry: &str,
    platform: &str,
    label: &str,
) -> anyhow::Result<Option<RemoteImage>> {
    let cmd = inspect_command(reference);
    let out = cmd.capture()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        if is_not_found(&stderr) {
            return Ok(None);
        }
        anyhow::bail!(
            "cannot look up {reference} in the registry {registry} (`{}`): {}\n\
             check that the registry is up and that `docker login {registry}` stored credentials for it",
            cmd.shown(),
            stderr.trim()
        );
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).map_err(|e| {
        anyhow::anyhow!("the registry {registry}: unreadable answer for {reference}: {e}")
    })?;
    Ok(Some(parse_inspect(&v, platform, label)))
}

/// The digest and label out of `imagetools inspect --format '{{json .}}'`: `image`
/// is one config, or a map from platform to config for a multi-platform index.
pub fn parse_inspect(v: &serde_json::Value, platform: &str, label: &str) -> RemoteImage {
    let image = &v["image"];
    let config = if image.get("config").is_some() || image.get("rootfs").is_some() {
        image
    } else {
        &image[platform]
    };
    RemoteImage {
        digest: v["manifest"]["digest"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        label: config["config"]["Labels"][label]
            .as_str()
            .map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_repositories() {
        for (repo, host) in [
            ("127.0.0.1:5000/sccache-dist", Some("127.0.0.1:5000")),
            ("ghcr.io/owner/sccache-dist", Some("ghcr.io")),
            ("localhost/sccache-dist", Some("localhost")),
            ("localhost:5000/a/b", Some("localhost:5000")),
            ("docker.io/someone/sccache-dist", Some("docker.io")),
            ("sccache-dist", None),
            ("someone/sccache-dist", None),
        ] {
            assert_eq!(registry_host(repo), host, "{repo}");
        }
    }

    #[test]
    fn inspect_output_single_and_multi_platform() {
        let single = serde_json::json!({
            "manifest": {"digest": "sha256:aa"},
            "image": {"config": {"Labels": {"l": "h"}}, "rootfs": {}}
        });
        let got = parse_inspect(&single, "linux/amd64", "l");
        assert_eq!(got.digest, "sha256:aa");
        assert_eq!(got.label.as_deref(), Some("h"));
        let multi = serde_json::json!({
            "manifest": {"digest": "sha256:bb"},
            "image": {"linux/arm64": {"config": {"Labels": {"l": "x"}}},
                      "linux/amd64": {"config": {"Labels": {"l": "y"}}}}
        });
        assert_eq!(
            parse_inspect(&multi, "linux/amd64", "l").label.as_deref(),
            Some("y")
        );
        assert_eq!(parse_inspect(&multi, "linux/s390x", "l").label, None);
    }

    #[test]
    fn not_found_is_told_from_a_registry_that_is_down() {
        assert!(is_not_found("ERROR: 127.0.0.1:5000/x:y: not found"));
        assert!(!is_not_found(
            "ERROR: failed to do request: Head \"http://127.0.0.1:5000/v2/x/manifests/y\": dial tcp 127.0.0.1:5000: connect: connection refused"
        ));
        assert!(!is_not_found("ERROR: unexpected status: 401 Unauthorized"));
    }
}
