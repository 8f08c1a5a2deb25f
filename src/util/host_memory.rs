//! What Linux reports about host memory: the available total (the CPU backend's memory check)
//! and this process's resident size (the training metrics). None where /proc cannot be read.

/// MemAvailable of /proc/meminfo, in bytes.
pub fn available() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Resident memory of this process, in bytes.
pub fn resident() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = text.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[cfg(test)]
mod tests {
    #[test]
    fn linux_reports_both() {
        let (avail, rss) = (super::available(), super::resident());
        if std::path::Path::new("/proc/meminfo").exists() {
            assert!(avail.is_some_and(|b| b > 0) && rss.is_some_and(|b| b > 0));
        }
    }
}
