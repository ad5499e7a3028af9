//! Where things are: the project root, its folders, and the tool's own version.

use std::path::{Path, PathBuf};

/// The project root: `--root`, or the workspace this xtask was built from.
pub fn default_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_owned()
}

/// `generated/`: the rendered Dockerfiles and entrypoints that are committed and checked for drift.
pub fn generated_dir(root: &Path) -> PathBuf {
    root.join("generated")
}

/// `distros/`: one YAML profile per distro image.
pub fn distros_dir(root: &Path) -> PathBuf {
    root.join("distros")
}

/// Part of every image's content hash: a new tool may render differently.
pub const TOOL_VERSION: &str = env!("CARGO_PKG_VERSION");
