//! Which sccache versions meet: the client this tool (and the user) runs, and the
//! sccache-dist an image or a running container serves, read from the binaries
//! themselves (or the image's label, where the build knew it).

use crate::docker::{self, DockerCommand};
use crate::model::labels::VERSION_LABEL;
use crate::sccache::versions::{self, Version};

/// `sccache --version` of the client on PATH (what the README installs and what
/// `doctor` runs).
pub fn client_version() -> anyhow::Result<Version> {
    let out = duct::cmd("sccache", ["--version"])
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .map_err(|e| anyhow::anyhow!("cannot run sccache (the client): {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    Version::parse(&text)
        .ok_or_else(|| anyhow::anyhow!("`sccache --version` printed no version: {:?}", text.trim()))
}

/// The sccache-dist `image` serves: its label, else what its binary says.
pub fn image_version(image: &str) -> Option<Version> {
    let label = docker::image_label(image, VERSION_LABEL).ok().flatten();
    if let Some(v) = label.as_deref().and_then(Version::parse) {
        return Some(v);
    }
    let out = DockerCommand::new([
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "sccache-dist",
        image,
        "--version",
    ])
    .try_output()
    .ok()
    .flatten()?;
    Version::parse(&out)
}

/// The sccache-dist a running container serves.
pub fn container_version(container: &str) -> Option<Version> {
    let out = DockerCommand::new(["exec", container, "sccache-dist", "--version"])
        .try_output()
        .ok()
        .flatten()?;
    Version::parse(&out)
}

/// The warning for this host's client with servers of `server`, if they do not
/// work together (a client that cannot be asked is not a skew).
pub fn skew_with_client(server: Option<Version>) -> Option<String> {
    let client = client_version().ok()?;
    versions::skew_warning(client, server?)
}

/// Prints the skew warning, if any, on stderr: `warning: ...`.
pub fn warn_skew(server: Option<Version>) {
    if let Some(w) = skew_with_client(server) {
        eprintln!("warning: {w}");
    }
}
