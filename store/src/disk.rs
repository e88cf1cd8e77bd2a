//! Faults of the machine's disks: a write that failed because a directory
//! is full, read-only or failing (ENOSPC, EROFS, EIO, EDQUOT).
//!
//! Such a write is not a reason to stop the node: the component that made
//! it reports the directory here ([`Disk::report`]), puts its state back to
//! what is stored (nothing half-written survives: every write is one atomic
//! batch or one tantivy commit) and waits until its directory is writable
//! again ([`Disk::writable_dir`]). The node's [`supervise`] task probes
//! each faulted directory, after a second and then backing off (writing,
//! syncing and removing [`PROBE_BYTES`]); when a probe passes it
//! reopens the store if the store's directory was the one at fault (RocksDB
//! refuses every write after a failed one until it is reopened) and clears
//! the fault, and the waiting components go on by themselves. Readers are
//! not affected: the store answers reads throughout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::Store;

/// Bytes a probe writes: a directory with less room than this is not
/// writable again yet.
pub const PROBE_BYTES: usize = 1 << 20;
/// The probe file's name, in the directory probed.
pub const PROBE_FILE: &str = ".lookthrough-write-probe";
/// How long [`supervise`] waits before it first probes a faulted
/// directory.
pub const PROBE_INTERVAL: Duration = Duration::from_secs(1);
/// The longest wait between probes.
pub const PROBE_INTERVAL_MAX: Duration = Duration::from_secs(30);
/// A fault that comes back this soon after being cleared lengthens the
/// wait between probes instead of starting it over.
pub const FLAP_WINDOW: Duration = Duration::from_secs(60);

/// A directory that could not be written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskFault {
    /// The directory.
    pub dir: PathBuf,
    /// The last error seen there.
    pub error: String,
    /// When the fault was first seen (Unix milliseconds).
    pub since_ms: i64,
}

/// The node's disk faults, shared by every component that writes.
#[derive(Debug)]
pub struct Disk {
    faults: tokio::sync::watch::Sender<Vec<DiskFault>>,
}

impl Default for Disk {
    fn default() -> Self {
        Self {
            faults: tokio::sync::watch::channel(Vec::new()).0,
        }
    }
}

impl Disk {
    /// Records that a write to `dir` failed with `error`. Logged once per
    /// fault (an error naming the directory); a repeat only updates the
    /// error kept.
    pub fn report(&self, dir: &Path, error: &str) {
        let mut new = false;
        self.faults.send_modify(|faults| {
            if let Some(f) = faults.iter_mut().find(|f| f.dir == dir) {
                error.clone_into(&mut f.error);
            } else {
                new = true;
                faults.push(DiskFault {
                    dir: dir.to_path_buf(),
                    error: error.to_owned(),
                    since_ms: now_ms(),
                });
            }
        });
        if new {
            tracing::error!(
                dir = %dir.display(),
                error,
                "cannot write to {}: writing stops (ingest, index, rules, audited reads) until it has room again; reads go on",
                dir.display()
            );
        }
    }

    /// Clears the fault of `dir` (its probe passed).
    pub fn clear(&self, dir: &Path) {
        let mut cleared = None;
        self.faults.send_if_modified(|faults| {
            let before = faults.len();
            faults.retain(|f| {
                let keep = f.dir != dir;
                if !keep {
                    cleared = Some(f.since_ms);
                }
                keep
            });
            faults.len() != before
        });
        if let Some(since) = cleared {
            tracing::info!(
                dir = %dir.display(),
                stopped_ms = now_ms().saturating_sub(since),
                "{} is writable again: writing resumes",
                dir.display()
            );
        }
    }

    /// The faults now.
    pub fn faults(&self) -> Vec<DiskFault> {
        self.faults.borrow().clone()
    }

    /// The fault of `dir`, if any.
    pub fn fault(&self, dir: &Path) -> Option<DiskFault> {
        self.faults.borrow().iter().find(|f| f.dir == dir).cloned()
    }

    /// Completes when no directory is at fault.
    pub async fn writable(&self) {
        let mut rx = self.faults.subscribe();
        // The sender lives as long as `self`, so this only ends writable.
        let _ = rx.wait_for(Vec::is_empty).await;
    }

    /// Completes when `dir` is not at fault (whatever other directories
    /// are): a writer waits for its own directory only.
    pub async fn writable_dir(&self, dir: &Path) {
        let mut rx = self.faults.subscribe();
        let _ = rx.wait_for(|f| f.iter().all(|f| f.dir != dir)).await;
    }

    /// A receiver of every change of the faults.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<Vec<DiskFault>> {
        self.faults.subscribe()
    }
}

/// Whether `e` says the disk is full, read-only or failing (rather than a
/// file missing or a permission refused).
pub fn is_disk_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::StorageFull | ErrorKind::ReadOnlyFilesystem
    ) {
        return true;
    }
    // EIO and EDQUOT (Linux numbering) have no stable kind of their own.
    cfg!(target_os = "linux") && matches!(e.raw_os_error(), Some(5 | 122))
}

/// Whether `text` (an error rendered by a library that does not keep the
/// `io::Error`) reports a full, read-only or failing disk.
pub fn mentions_disk_error(text: &str) -> bool {
    const SIGNS: [&str; 4] = [
        "No space left on device",
        "Read-only file system",
        "Input/output error",
        "Disk quota exceeded",
    ];
    SIGNS.iter().any(|s| text.contains(s))
}

/// Writes, syncs and removes [`PROBE_BYTES`] in `dir`: `Ok` when the
/// directory takes writes again.
pub fn probe(dir: &Path) -> std::io::Result<()> {
    let path = dir.join(PROBE_FILE);
    let written = (|| {
        let mut f = std::fs::File::create(&path)?;
        f.write_all(&vec![0u8; PROBE_BYTES])?;
        f.sync_all()
    })();
    let removed = std::fs::remove_file(&path);
    written?;
    match removed {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Probes every faulted directory until `shutdown`: the store's through
/// [`Store::recover`] (which reopens it), any other by [`probe`]. The first
/// probe comes [`PROBE_INTERVAL`] after a fault; each that fails doubles
/// the wait (up to [`PROBE_INTERVAL_MAX`]), and so does a fault that comes
/// back within [`FLAP_WINDOW`] of being cleared (a disk with just enough
/// room for the probe but not for the writer), so a flapping disk is not
/// reopened every second.
pub async fn supervise(store: Arc<Store>, shutdown: impl std::future::Future<Output = ()>) {
    tokio::pin!(shutdown);
    let mut rx = store.disk().subscribe();
    let mut interval = PROBE_INTERVAL;
    let mut cleared_at: Option<std::time::Instant> = None;
    loop {
        let faulted = tokio::select! {
            () = &mut shutdown => return,
            r = rx.wait_for(|f| !f.is_empty()) => r.is_ok(),
        };
        if !faulted {
            return;
        }
        if cleared_at.is_none_or(|t| t.elapsed() > FLAP_WINDOW) {
            interval = PROBE_INTERVAL;
        }
        tokio::select! {
            () = &mut shutdown => return,
            () = tokio::time::sleep(interval) => {}
        }
        let s = store.clone();
        match tokio::task::spawn_blocking(move || s.recover_disks()).await {
            Ok(true) => cleared_at = Some(std::time::Instant::now()),
            Ok(false) => interval = (interval * 2).min(PROBE_INTERVAL_MAX),
            Err(e) => tracing::error!(error = %e, "the disk probe panicked"),
        }
        if cleared_at.is_some_and(|t| t.elapsed() <= FLAP_WINDOW) {
            // Cleared just now: a fault that returns soon waits longer.
            interval = (interval * 2).min(PROBE_INTERVAL_MAX);
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_is_kept_per_directory_until_cleared() {
        let disk = Disk::default();
        disk.report(Path::new("/a"), "No space left on device");
        disk.report(Path::new("/a"), "still full");
        disk.report(Path::new("/b"), "Read-only file system");
        let f = disk.faults();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].error, "still full");
        disk.clear(Path::new("/a"));
        assert!(disk.fault(Path::new("/a")).is_none());
        assert!(disk.fault(Path::new("/b")).is_some());
        disk.clear(Path::new("/b"));
        assert!(disk.faults().is_empty());
    }

    #[tokio::test]
    async fn writable_completes_when_the_last_fault_clears() {
        let disk = Arc::new(Disk::default());
        disk.report(Path::new("/a"), "full");
        let waiter = tokio::spawn({
            let d = disk.clone();
            async move { d.writable().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        disk.clear(Path::new("/a"));
        tokio::time::timeout(Duration::from_secs(10), waiter)
            .await
            .expect("writable after the clear")
            .expect("the waiter");
    }

    #[test]
    fn disk_errors_are_told_from_others() {
        use std::io::{Error, ErrorKind};
        assert!(is_disk_error(&Error::from(ErrorKind::StorageFull)));
        assert!(is_disk_error(&Error::from(ErrorKind::ReadOnlyFilesystem)));
        assert!(!is_disk_error(&Error::from(ErrorKind::NotFound)));
        assert!(!is_disk_error(&Error::from(ErrorKind::PermissionDenied)));
        assert!(mentions_disk_error(
            "IO error: No space left on device: While appending to file: x/000004.log"
        ));
        assert!(!mentions_disk_error("Corruption: bad block"));
    }

    #[test]
    fn a_probe_leaves_nothing_behind() -> std::io::Result<()> {
        let dir = tempfile::tempdir()?;
        probe(dir.path())?;
        assert_eq!(std::fs::read_dir(dir.path())?.count(), 0);
        assert!(probe(&dir.path().join("missing")).is_err());
        Ok(())
    }
}
