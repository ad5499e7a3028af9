//! Profile files on disk: which names in `distros/` and `profiles/` are profiles, and
//! reading one without trusting what its name points to. A profile is a regular file
//! named `*.yaml`, at most [`MAX_BYTES`], and a symlink only when it stays inside the
//! project.

use std::fs::{File, Metadata};
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use crate::profile::error::ProfileError;

/// The largest profile read: real ones are under 2 KiB, and a cap keeps a stray huge
/// file (or a device) from costing memory and time.
pub const MAX_BYTES: usize = 64 * 1024;

/// What a directory entry's name says it is.
#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Profile,
    /// `.yml` or another spelling of `.yaml`: refused, so it never silently goes unused.
    Misnamed,
    /// Dotfiles, editor leftovers and anything else.
    Ignored,
}

fn kind(name: &str) -> Kind {
    // Editors leave `.#x.yaml` (often a dangling symlink), `.x.yaml.swp`, `x.yaml~`
    // and `#x.yaml#` beside the file being edited.
    if name.starts_with(['.', '#']) || name.ends_with(['~', '#']) {
        return Kind::Ignored;
    }
    if name.ends_with(".yaml") {
        return Kind::Profile;
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".yaml") || lower.ends_with(".yml") {
        Kind::Misnamed
    } else {
        Kind::Ignored
    }
}

/// The profile files in `dir`, sorted. Only `*.yaml` names a profile; a `.yml` or
/// upper-case `.YAML` file is an error asking for the rename, so it is never ignored
/// by surprise.
pub fn list(dir: &Path, root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", display(dir, root)))?
    {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match kind(name) {
            Kind::Profile => paths.push(entry.path()),
            Kind::Ignored => {}
            Kind::Misnamed => {
                let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
                return Err(ProfileError::new(
                    display(&entry.path(), root),
                    1,
                    "(file name)",
                    format!("only `.yaml` files are profiles: rename it to {stem}.yaml"),
                )
                .into());
            }
        }
    }
    paths.sort();
    Ok(paths)
}

/// `path` as shown to the user: relative to the project root when below it.
pub fn display(path: &Path, root: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The bytes of the profile at `path`, at most [`MAX_BYTES`] + 1 of them (the caller
/// refuses more). The file type is checked before opening, so a FIFO or a device is
/// never opened, and again on the open file, which is opened without following links
/// and without blocking, in case the name changed in between.
pub fn read(path: &Path, root: &Path) -> Result<Vec<u8>, ProfileError> {
    let shown = display(path, root);
    let fail = |message: String| ProfileError::new(shown.clone(), 1, "(file)", message);
    let io = |e: std::io::Error| fail(format!("cannot read it: {}", e.kind()));
    let meta = std::fs::symlink_metadata(path).map_err(io)?;
    let target = if meta.file_type().is_symlink() {
        inside_root(path, root).map_err(fail)?
    } else {
        path.to_owned()
    };
    regular(&std::fs::metadata(&target).map_err(io)?).map_err(fail)?;
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(&target)
        .map_err(io)?;
    regular(&file.metadata().map_err(io)?).map_err(fail)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(io)?;
    Ok(bytes)
}

/// The target of the symlink `path`, if it lies inside the project. The message
/// names neither the target nor anything in it.
fn inside_root(path: &Path, root: &Path) -> Result<PathBuf, String> {
    let target = std::fs::canonicalize(path)
        .map_err(|_| "a symlink whose target does not exist".to_owned())?;
    let root = std::fs::canonicalize(root).map_err(|e| format!("the project root: {e}"))?;
    if target.starts_with(&root) {
        Ok(target)
    } else {
        Err("a symlink to outside the project; only links within it are followed".into())
    }
}

fn regular(meta: &Metadata) -> Result<(), String> {
    let t = meta.file_type();
    if t.is_file() {
        return Ok(());
    }
    let what = if t.is_dir() {
        "a directory"
    } else if t.is_symlink() {
        "a symlink"
    } else {
        "a FIFO, socket or device"
    };
    Err(format!("{what}, not a regular file"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ignored in [
            ".#debian.yaml",
            ".debian.yaml.swp",
            "debian.yaml~",
            "#debian.yaml#",
            "README.md",
            ".hidden.yaml",
        ] {
            assert_eq!(kind(ignored), Kind::Ignored, "{ignored}");
        }
        for misnamed in ["debian.yml", "debian.YAML", "debian.Yml"] {
            assert_eq!(kind(misnamed), Kind::Misnamed, "{misnamed}");
        }
        assert_eq!(kind("debian.yaml"), Kind::Profile);
    }
}
