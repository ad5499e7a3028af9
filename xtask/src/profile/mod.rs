//! User-edited YAML profiles turned into validated types: distro profiles
//! (`distros/*.yaml`) and runtime profiles (`profiles/*.yaml`), read by one loader
//! whose errors name the file, the line and the field.

/// Distro profiles (`distros/*.yaml`).
pub mod distro;
/// Errors that name the file, the line and the field.
pub mod error;
/// Package-manager families and their install commands.
pub mod family;
/// Listing and reading profile files safely.
pub mod files;
/// Positions of YAML nodes, and refusal of repeated keys.
pub mod marks;
/// Runtime profiles (`profiles/*.yaml`).
pub mod runtime;
/// Sources, parsing, and errors that point into them.
pub mod source;
/// String fields that must be YAML strings.
pub mod strict;
/// Validators of values that reach Dockerfiles, shells and TOML.
pub mod validate;

use std::path::Path;

pub use distro::Distro;
pub use runtime::RuntimeProfile;

/// The runtime profile `generate`, `image` and `start` use unless told otherwise.
pub const DEFAULT_PROFILE: &str = "default";

/// Every distro profile of the project, sorted by name.
pub fn all_distros(root: &Path) -> anyhow::Result<Vec<Distro>> {
    distro::load_all(&crate::base::project::distros_dir(root), root)
}

/// The distro profile `name`; an unknown name is an error listing the known ones.
pub fn find_distro(root: &Path, name: &str) -> anyhow::Result<Distro> {
    pick(all_distros(root)?, name)
}

/// `name` out of `all`, or an error listing the known names.
pub fn pick(all: Vec<Distro>, name: &str) -> anyhow::Result<Distro> {
    let known: Vec<String> = all.iter().map(|d| d.name.clone()).collect();
    all.into_iter().find(|d| d.name == name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown distro {name:?}: known distros are {}",
            known.join(", ")
        )
    })
}
