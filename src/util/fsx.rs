//! File writes that never leave a half-written file behind: temp file, fsync, rename.

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    result.map_err(|e: std::io::Error| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Refuses to write into a folder that already holds `marker`, unless `force`.
pub fn ensure_fresh_output(dir: &Path, marker: &str, force: bool) -> Result<()> {
    if dir.join(marker).exists() && !force {
        return Err(Error::file(
            dir,
            format!("already holds {marker}"),
            "choose another output folder, or pass --force to overwrite it",
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}
