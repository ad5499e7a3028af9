//! `remove-image`: every tag of one distro's images, or of all of them.

use std::path::Path;

use anyhow::Context;

use super::{DISTRO_LABEL, HASH_LABEL};
use crate::docker::{self, DockerCommand};
use crate::profile;

/// Removes the images of `distro` (every distro when None) in `repo`.
pub fn remove_images(root: &Path, distro: Option<&str>, repo: &str) -> anyhow::Result<()> {
    docker::engine()?;
    let filter = match distro {
        Some(d) => format!(
            "label={DISTRO_LABEL}={}",
            profile::find_distro(root, d)?.name
        ),
        None => format!("label={HASH_LABEL}"),
    };
    let reference = format!("reference={repo}");
    let format = "{{.Repository}}:{{.Tag}}";
    let listed = DockerCommand::new([
        "images", "--filter", &filter, "--filter", &reference, "--format", format,
    ])
    .output()?;
    let refs: Vec<String> = listed
        .lines()
        .filter(|l| !l.ends_with(":<none>"))
        .map(str::to_owned)
        .collect();
    if refs.is_empty() {
        println!("no images to remove in {repo}");
        return Ok(());
    }
    let cmd = DockerCommand::new(["image", "rm"]).args(&refs);
    cmd.run_logged().context("an image still used by a container cannot be removed: `cargo xtask remove-container` first")?;
    println!("removed {}", refs.join(", "));
    Ok(())
}
