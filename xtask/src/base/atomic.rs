//! Writing files so that a reader never sees half of one: each file goes to a
//! temporary file beside it and is renamed into place.

use std::io::Write;
use std::path::Path;

use anyhow::Context;

/// Writes `contents` to `path` atomically with the given Unix mode.
pub fn write(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<()> {
    stage(path, contents, mode)?
        .persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Writes `contents` to a temporary file beside `path`, not yet in place: staging
/// every file of a set first means a failure leaves all of them as they were.
pub fn stage(path: &Path, contents: &[u8], mode: u32) -> anyhow::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    let dir = path
        .parent()
        .context("a file to write has no parent directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    // Set the mode before any byte is written: a secret is never readable by others.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(contents)?;
    tmp.as_file().sync_all()?;
    Ok(tmp)
}
