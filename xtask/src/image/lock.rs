//! An exclusive lock on a file, so two `image` runs for the same distro never build
//! over each other: the second waits, then finds the image up to date.

use std::fs::File;
use std::path::Path;

use anyhow::Context;

/// A held lock; dropping it closes the file and so releases the lock.
pub struct Lock {
    _file: File,
}

/// Takes the lock at `path`, saying so when it has to wait. Released on drop (and by
/// the kernel if the process dies).
pub fn acquire(path: &Path, what: &str) -> anyhow::Result<Lock> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!(
                "waiting for another `cargo xtask` working on {what} ({})",
                path.display()
            );
            file.lock()
                .with_context(|| format!("cannot lock {}", path.display()))?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
    Ok(Lock { _file: file })
}
