//! What resolving a configuration left in the file system, so that a failure undoes it.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Paths the configuration layer created: files opened with `create: true` that did not
/// exist before, and UNIX socket paths it bound. Dropping the value removes them again
/// (newest first), each only if the path still names the file that was created (same device
/// and inode); [`CreatedPaths::keep`] leaves them in place once the program runs.
///
/// ```
/// use cloudabi_run::config::CreatedPaths;
///
/// let dir = std::env::temp_dir().join(format!("created-doc-{}", std::process::id()));
/// std::fs::write(&dir, b"").unwrap();
/// let mut created = CreatedPaths::default();
/// created.record(&dir);
/// drop(created); // e.g. a later entry of the configuration failed
/// assert!(!dir.exists());
/// ```
#[derive(Debug, Default)]
pub struct CreatedPaths {
    paths: Vec<(PathBuf, u64, u64)>,
}

impl CreatedPaths {
    /// Records that `path` was just created (by this process). A path that can no longer be
    /// examined is not recorded: removing it later could hit something else.
    pub fn record(&mut self, path: &Path) {
        if let Ok(m) = std::fs::symlink_metadata(path) {
            self.paths.push((path.to_owned(), m.dev(), m.ino()));
        }
    }

    /// The recorded paths, oldest first.
    pub fn paths(&self) -> impl Iterator<Item = &Path> {
        self.paths.iter().map(|(p, ..)| p.as_path())
    }

    /// Keeps every recorded path (the program has started and owns them now).
    pub fn keep(mut self) {
        self.paths.clear();
    }
}

impl Drop for CreatedPaths {
    fn drop(&mut self) {
        for (path, dev, ino) in self.paths.drain(..).rev() {
            if matches!(std::fs::symlink_metadata(&path), Ok(m) if m.dev() == dev && m.ino() == ino)
            {
                let _ = std::fs::remove_file(&path);
            }
        }
    }
}
