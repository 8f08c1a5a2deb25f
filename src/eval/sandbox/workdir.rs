//! Work folders: one fresh folder per program (a capped tmpfs when we may mount), written and
//! read only through `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)` so nothing the sandboxed
//! program planted (symlinks, FIFOs) can walk the harness out of it.

use std::ffi::CString;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{io_err, Result, SandboxConfig, SandboxError};

/// Largest file `read_file_beneath` returns whole.
const READ_CAP: u64 = 64 << 20;

/// The kernel's `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The sandbox's private parent of all work folders (mode 0711: run uids may pass, not list).
pub(crate) struct BaseDir {
    path: PathBuf,
}

impl BaseDir {
    pub(crate) fn create(parent: Option<&Path>) -> Result<BaseDir> {
        let parent = parent
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let path = unique_dir(&parent, "sectune-sandbox")?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o711))
            .map_err(io_err(format!("chmod {}", path.display())))?;
        Ok(BaseDir { path })
    }
}

impl Drop for BaseDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn unique_dir(parent: &Path, stem: &str) -> Result<PathBuf> {
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path = parent.join(format!("{stem}-{}-{n}-{nanos:08x}", std::process::id()));
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err(format!("mkdir {}", path.display()))(e)),
        }
    }
}

/// Kind and mode of a file in the work folder, read without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileStat {
    pub is_file: bool,
    pub is_dir: bool,
    pub is_symlink: bool,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub size: u64,
}

/// A fresh folder for one program's files; shown as `/work` inside the sandbox; removed on drop.
pub struct WorkDir {
    path: PathBuf,
    dir: OwnedFd,
    mounted: bool,
}

impl WorkDir {
    pub(crate) fn create(base: &BaseDir, config: &SandboxConfig, mount: bool) -> Result<WorkDir> {
        let path = unique_dir(&base.path, "w")?;
        let mounted = if mount {
            mount_tmpfs(&path, config.workdir_bytes, config.workdir_files)
                .map_err(io_err(format!("mount tmpfs on {}", path.display())))?;
            true
        } else {
            false
        };
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))
            .map_err(io_err(format!("chmod {}", path.display())))?;
        let dir = open_dir(&path)?;
        Ok(WorkDir { path, dir, mounted })
    }

    /// The folder's host path (for logs and for binding into the sandbox).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Creates or truncates `name` (relative, beneath the folder) with `bytes`, mode 0644.
    pub fn write_file(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write_file_mode(name, bytes, 0o644)
    }

    /// As `write_file`, with the given mode (e.g. 0755 for scripts).
    pub fn write_file_mode(&self, name: &str, bytes: &[u8], mode: u32) -> Result<()> {
        use std::io::Write;
        let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC | libc::O_NOFOLLOW;
        let fd = self.open_beneath(name, flags, mode)?;
        let mut file = std::fs::File::from(fd);
        check_regular(&file, name)?;
        file.write_all(bytes)
            .map_err(io_err(format!("write {name} in work folder")))?;
        file.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(io_err(format!("chmod {name} in work folder")))
    }

    /// Creates folder `name` and its parents beneath the work folder (no symlinks followed).
    pub fn create_dir_all(&self, name: &str) -> Result<()> {
        check_name(name)?;
        let mut so_far = String::new();
        for part in name.split('/').filter(|p| !p.is_empty()) {
            if !so_far.is_empty() {
                so_far.push('/');
            }
            so_far.push_str(part);
            match self.stat_beneath(&so_far)? {
                Some(s) if s.is_dir => continue,
                Some(_) => return Err(SandboxError::NotRegular(so_far)),
                None => {}
            }
            let (parent, leaf) = split_parent(&so_far);
            let parent_fd = match parent {
                Some(p) => self.open_beneath(p, libc::O_DIRECTORY | libc::O_RDONLY, 0)?,
                None => self.dir.try_clone().map_err(io_err("dup work folder fd"))?,
            };
            let leaf = cstring(leaf)?;
            // SAFETY: parent_fd is an open directory and leaf a NUL-terminated name.
            if unsafe { libc::mkdirat(parent_fd.as_raw_fd(), leaf.as_ptr(), 0o755) } != 0 {
                let e = std::io::Error::last_os_error();
                if e.kind() != std::io::ErrorKind::AlreadyExists {
                    return Err(io_err(format!("mkdir {so_far} in work folder"))(e));
                }
            }
        }
        Ok(())
    }

    /// Reads a regular file beneath the folder; symlinks anywhere in `name`, FIFOs, devices and
    /// files over 64 MiB are refused.
    pub fn read_file_beneath(&self, name: &str) -> Result<Vec<u8>> {
        let fd = self.open_beneath(
            name,
            libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK,
            0,
        )?;
        let file = std::fs::File::from(fd);
        check_regular(&file, name)?;
        let mut bytes = Vec::new();
        file.take(READ_CAP)
            .read_to_end(&mut bytes)
            .map_err(io_err(format!("read {name} in work folder")))?;
        Ok(bytes)
    }

    /// Kind and mode of `name`, `None` if absent; a symlink is reported, not followed.
    pub fn stat_beneath(&self, name: &str) -> Result<Option<FileStat>> {
        let (parent, leaf) = split_parent(name);
        check_name(name)?;
        let parent_fd = match parent {
            Some(p) => match self.open_beneath(p, libc::O_DIRECTORY | libc::O_RDONLY, 0) {
                Ok(fd) => fd,
                Err(SandboxError::Io { source, .. })
                    if source.raw_os_error() == Some(libc::ENOENT) =>
                {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            },
            None => self.dir.try_clone().map_err(io_err("dup work folder fd"))?,
        };
        let leaf_c = cstring(leaf)?;
        // SAFETY: stat is plain old data; fstatat writes into it.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid dir fd, NUL-terminated name, valid out pointer.
        let rc = unsafe {
            libc::fstatat(
                parent_fd.as_raw_fd(),
                leaf_c.as_ptr(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ENOENT) {
                return Ok(None);
            }
            return Err(io_err(format!("stat {name} in work folder"))(e));
        }
        let kind = st.st_mode & libc::S_IFMT;
        Ok(Some(FileStat {
            is_file: kind == libc::S_IFREG,
            is_dir: kind == libc::S_IFDIR,
            is_symlink: kind == libc::S_IFLNK,
            mode: st.st_mode & 0o7777,
            size: st.st_size as u64,
        }))
    }

    /// Names directly in the folder, sorted.
    pub fn list(&self) -> Result<Vec<String>> {
        let mut names: Vec<String> = std::fs::read_dir(&self.path)
            .map_err(io_err(format!("list {}", self.path.display())))?
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        Ok(names)
    }

    /// Gives every entry to `uid` without following symlinks (the run uid must own its files).
    pub(crate) fn chown_all(&self, uid: u32) -> Result<()> {
        chown_tree(&self.path, uid)
    }

    fn open_beneath(&self, name: &str, flags: i32, mode: u32) -> Result<OwnedFd> {
        check_name(name)?;
        let c_name = cstring(name)?;
        let how = OpenHow {
            flags: (flags | libc::O_CLOEXEC) as u64,
            mode: if flags & libc::O_CREAT != 0 {
                mode as u64
            } else {
                0
            },
            resolve: libc::RESOLVE_BENEATH
                | libc::RESOLVE_NO_SYMLINKS
                | libc::RESOLVE_NO_MAGICLINKS,
        };
        // SAFETY: openat2 with a valid dir fd, NUL-terminated path and a correctly sized open_how.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                self.dir.as_raw_fd(),
                c_name.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        if fd < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ELOOP) {
                return Err(SandboxError::NotRegular(name.to_string()));
            }
            return Err(io_err(format!("open {name} in work folder"))(e));
        }
        // SAFETY: the syscall returned a fresh descriptor we now own.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if self.mounted {
            unmount(&self.path);
            let _ = std::fs::remove_dir(&self.path);
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn check_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\0')
        || name.split('/').any(|p| p == "..");
    if bad {
        Err(SandboxError::BadName(name.to_string()))
    } else {
        Ok(())
    }
}

fn split_parent(name: &str) -> (Option<&str>, &str) {
    match name.trim_end_matches('/').rsplit_once('/') {
        Some((parent, leaf)) => (Some(parent), leaf),
        None => (None, name),
    }
}

fn cstring(s: &str) -> Result<CString> {
    CString::new(s).map_err(|_| SandboxError::BadName(s.to_string()))
}

fn check_regular(file: &std::fs::File, name: &str) -> Result<()> {
    let meta = file
        .metadata()
        .map_err(io_err(format!("stat {name} in work folder")))?;
    if meta.is_file() {
        Ok(())
    } else {
        Err(SandboxError::NotRegular(name.to_string()))
    }
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| SandboxError::BadName(path.display().to_string()))?;
    // SAFETY: NUL-terminated path; we own the returned descriptor.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_DIRECTORY | libc::O_RDONLY | libc::O_CLOEXEC | libc::O_NOFOLLOW,
        )
    };
    if fd < 0 {
        return Err(io_err(format!("open {}", path.display()))(
            std::io::Error::last_os_error(),
        ));
    }
    // SAFETY: fresh descriptor.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn chown_tree(path: &Path, uid: u32) -> Result<()> {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid))
        .map_err(io_err(format!("chown {}", path.display())))?;
    let meta =
        std::fs::symlink_metadata(path).map_err(io_err(format!("stat {}", path.display())))?;
    if meta.is_dir() {
        let entries =
            std::fs::read_dir(path).map_err(io_err(format!("list {}", path.display())))?;
        for entry in entries.flatten() {
            chown_tree(&entry.path(), uid)?;
        }
    }
    Ok(())
}

pub(crate) fn mount_tmpfs(path: &Path, bytes: u64, inodes: u64) -> std::io::Result<()> {
    let target = CString::new(path.as_os_str().as_bytes())?;
    let options = CString::new(format!("size={bytes},nr_inodes={inodes},mode=0700"))?;
    // SAFETY: all pointers are NUL-terminated strings that outlive the call.
    let rc = unsafe {
        libc::mount(
            c"tmpfs".as_ptr(),
            target.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV,
            options.as_ptr() as *const libc::c_void,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

pub(crate) fn unmount(path: &Path) {
    if let Ok(target) = CString::new(path.as_os_str().as_bytes()) {
        // SAFETY: NUL-terminated path.
        unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    }
}
