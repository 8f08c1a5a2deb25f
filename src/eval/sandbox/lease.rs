//! Run uids are leased with `flock` on one lock file per uid, so two runs never share a uid —
//! not across threads and not across sectune processes (e.g. test binaries running at once):
//! after each run every process of the uid is killed, which would hit the other run.

use std::fs::{File, OpenOptions};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;
use std::time::Duration;

use super::{io_err, Result};

/// A run uid held until drop.
pub(crate) struct UidLease {
    pub uid: u32,
    _lock: File,
}

fn lock_dir() -> PathBuf {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    if euid == 0 && std::path::Path::new("/run").is_dir() {
        PathBuf::from("/run/sectune-locks")
    } else {
        std::env::temp_dir().join(format!("sectune-locks-{euid}"))
    }
}

/// Waits until one of `uids` is free and takes it.
pub(crate) fn lease(uids: &[u32]) -> Result<UidLease> {
    let dir = lock_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(io_err(format!("mkdir {}", dir.display())))?;
    let mut files = Vec::with_capacity(uids.len());
    for uid in uids {
        let path = dir.join(format!("uid-{uid}.lock"));
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_err(format!("open {}", path.display())))?;
        files.push((*uid, file));
    }
    let mut pause = Duration::from_millis(1);
    loop {
        for (uid, file) in files.iter() {
            // SAFETY: flock on a descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                let lock = file.try_clone().map_err(io_err("dup lock file"))?;
                return Ok(UidLease {
                    uid: *uid,
                    _lock: lock,
                });
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_leases_get_distinct_uids_and_release_on_drop() {
        // Numbers no real run uses, so this never waits on a live sandbox.
        let uids = [4_000_000_001, 4_000_000_002];
        let a = lease(&uids).unwrap();
        let b = lease(&uids).unwrap();
        assert_ne!(a.uid, b.uid);
        let freed = a.uid;
        drop(a);
        let c = lease(&uids).unwrap();
        assert_eq!(c.uid, freed);
    }
}
