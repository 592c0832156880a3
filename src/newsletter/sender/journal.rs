//! The sender's journal: which recipients were handed to the SMTP server, kept in a shared mapping of a file.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

use anyhow::Context as _;

/// The journal of one run: lines `campaign person` (handed to the server) and `-campaign person` (refused after
/// all, so not handed over), stored into a shared memory mapping of the file. A store into the page cache outlives
/// the process as a `write` would, and it is not a system call: the final dot's `send` is the very next one, so a
/// SIGKILL can only fall between the two during a few instructions, not during a whole `write` (a kill that
/// arrives during a system call takes effect when it returns). Unused space is zeros; a line is read back only
/// when it is whole (ends with a newline and holds no zero byte), so a line cut by a kill counts as not written.
pub(super) struct Journal {
    pub(super) path: PathBuf,
    map: std::sync::Mutex<JournalMap>,
}

struct JournalMap {
    file: File,
    mmap: memmap2::MmapMut,
    /// Bytes used.
    len: usize,
}

/// The journal's first size; it doubles when full (a batch of 1,000 needs at most 84 KB).
pub(super) const JOURNAL_BYTES: usize = 64 * 1024;

impl JournalMap {
    /// Appends zeros up to `size` bytes with `write`, so that the disk space exists (a store into a hole that the
    /// file system cannot fill would kill the process with SIGBUS), and maps the whole file.
    fn map(file: File, len: usize, size: usize) -> anyhow::Result<JournalMap> {
        let current = file.metadata()?.len() as usize;
        if current < size {
            (&file).write_all(&vec![0; size - current])?;
        }
        // SAFETY: the file is this run's own (its name holds the pid and a random part), never truncated while
        // mapped; recovery only reads journals of runs that are over.
        let mmap = unsafe { memmap2::MmapMut::map_mut(&file)? };
        Ok(JournalMap { file, mmap, len })
    }
}

impl Journal {
    pub(super) fn create(dir: &Path, name: &str) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create the spool directory {}", dir.display()))?;
        let path = dir.join(name);
        let file = OpenOptions::new().create(true).read(true).append(true).open(&path)?;
        let map = JournalMap::map(file, 0, JOURNAL_BYTES).with_context(|| format!("journal {}", path.display()))?;
        Ok(Journal { path, map: std::sync::Mutex::new(map) })
    }

    /// Stores one line; no system call unless the journal has to grow.
    pub(super) fn mark(&self, campaign: i64, person: i64, handed: bool) {
        let mut line = [0u8; 48];
        let mut cursor = std::io::Cursor::new(&mut line[..]);
        let _ = if handed { writeln!(cursor, "{campaign} {person}") } else { writeln!(cursor, "-{campaign} {person}") };
        let n = cursor.position() as usize;
        let mut j = self.map.lock().expect("journal");
        if j.len + n > j.mmap.len() {
            let (len, size) = (j.len, j.mmap.len() * 2);
            let file = match j.file.try_clone() {
                Ok(f) => f,
                Err(e) => return tracing::error!(error = %e, "journal write failed"),
            };
            match JournalMap::map(file, len, size) {
                Ok(bigger) => *j = bigger,
                Err(e) => return tracing::error!(error = %e, "journal write failed"),
            }
        }
        let at = j.len;
        j.mmap[at..at + n].copy_from_slice(&line[..n]);
        j.len += n;
        // The line is in memory before whatever the caller does next (the dot's system call).
        std::sync::atomic::compiler_fence(Ordering::SeqCst);
    }

    /// Forgets the lines of a recorded batch: zeros over them (a line half cleared by a kill holds a zero byte).
    pub(super) fn truncate(&self) {
        let mut j = self.map.lock().expect("journal");
        let len = j.len;
        j.mmap[..len].fill(0);
        j.len = 0;
    }
}

/// The (campaign, person) pairs a journal says were handed to the server.
pub(super) fn read_journal(path: &Path) -> HashSet<(i64, i64)> {
    let bytes = std::fs::read(path).unwrap_or_default();
    let mut handed = HashSet::new();
    let mut lines: Vec<&[u8]> = bytes.split(|&b| b == b'\n').collect();
    lines.pop(); // after the last newline: nothing, zeros, or a line cut short
    for line in lines {
        let Ok(line) = std::str::from_utf8(line) else { continue };
        if line.contains('\0') {
            continue;
        }
        let (cancel, rest) = match line.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, line),
        };
        let mut parts = rest.split(' ');
        let (Some(Ok(c)), Some(Ok(p))) = (parts.next().map(str::parse), parts.next().map(str::parse)) else {
            continue;
        };
        if cancel {
            handed.remove(&(c, p));
        } else {
            handed.insert((c, p));
        }
    }
    handed
}
