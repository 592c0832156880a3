//! Tests of the sender's journal: lines read back whole, through growth, truncation and kills.

use std::collections::HashSet;

use super::journal::JOURNAL_BYTES;
use super::*;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("terrain-journal-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn the_journal_reads_back_whole_lines_through_growth_and_truncation() {
    let dir = temp_dir("lines");
    let j = Journal::create(&dir, "j.log").unwrap();
    j.mark(7, 1, true);
    j.mark(7, 2, true);
    j.mark(7, 2, false);
    assert_eq!(read_journal(&j.path), HashSet::from([(7, 1)]));

    // A batch is recorded: its lines are gone, the next ones are read alone.
    j.truncate();
    assert!(read_journal(&j.path).is_empty());
    // Past the first size: the journal grows and keeps every line.
    let n = 5_000;
    for p in 0..n {
        j.mark(i64::MAX, p, true);
    }
    assert!(std::fs::metadata(&j.path).unwrap().len() as usize > JOURNAL_BYTES);
    let handed = read_journal(&j.path);
    assert_eq!(handed.len(), n as usize);
    assert!(handed.contains(&(i64::MAX, n - 1)));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_line_cut_short_or_half_cleared_counts_as_not_written() {
    let dir = temp_dir("cut");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("j.log");
    // "3 12" whole; "3 45" cut before its newline; a line whose start was zeroed; zeros after.
    let mut bytes = b"3 12\n\0\0\0 99\n-\x003 12\n3 45".to_vec();
    bytes.extend_from_slice(&[0; 100]);
    std::fs::write(&path, &bytes).unwrap();
    assert_eq!(read_journal(&path), HashSet::from([(3, 12)]));
    // The text journals of earlier versions read the same.
    std::fs::write(&path, b"3 12\n3 13\n-3 13\n").unwrap();
    assert_eq!(read_journal(&path), HashSet::from([(3, 12)]));
    let _ = std::fs::remove_dir_all(&dir);
}
