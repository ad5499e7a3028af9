//! `cargo xtask matrix`: the CI build matrix, one entry per distro profile, so a new
//! YAML file in distros/ is built by CI without touching the workflow.

use std::path::Path;

use crate::base::project;
use crate::profile::distro;

/// `cargo xtask matrix`: prints the CI matrix JSON.
pub fn run(root: &Path) -> anyhow::Result<()> {
    println!("{}", matrix_json(root)?);
    Ok(())
}

/// The CI matrix as one line of JSON: `{"include": [{distro, install, base_image}, …]}`.
pub fn matrix_json(root: &Path) -> anyhow::Result<String> {
    let distros = distro::load_all(&project::distros_dir(root), root)?;
    let include: Vec<_> = distros
        .iter()
        .map(|d| {
            serde_json::json!({
                "distro": d.name,
                "install": d.profile.install.as_str(),
                "base_image": d.base_ref(),
            })
        })
        .collect();
    Ok(serde_json::json!({ "include": include }).to_string())
}
