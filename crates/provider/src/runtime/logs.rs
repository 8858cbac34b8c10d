//! Replica logs: bounded, rotated files. The supervisor writes `log.0` (one line per output
//! line: `<unix ms> <stdout|stderr> <text>`); past the size limit `log.0` becomes `log.1`, and so
//! on up to the number of files kept, so a chatty workload never fills the disk. Readers follow
//! by (inode, offset) and notice rotation.

use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

pub struct LogWriter {
    dir: PathBuf,
    max_bytes: u64,
    files: u32,
    file: File,
    written: u64,
}

fn path(dir: &Path, n: u32) -> PathBuf {
    dir.join(format!("log.{n}"))
}

impl LogWriter {
    pub fn open(dir: &Path, max_bytes: u64, files: u32) -> std::io::Result<LogWriter> {
        let file = OpenOptions::new().create(true).append(true).open(path(dir, 0))?;
        let written = file.metadata()?.len();
        Ok(LogWriter { dir: dir.to_path_buf(), max_bytes: max_bytes.max(1024), files: files.max(1), file, written })
    }

    pub fn line(&mut self, time_ms: u64, stream: &str, text: &str) -> std::io::Result<()> {
        let text = text.trim_end_matches(['\n', '\r']);
        // Bound one line too: a single huge line must not defeat rotation.
        let text = if text.len() > 16 * 1024 { &text[..text.floor_char_boundary(16 * 1024)] } else { text };
        let entry = format!("{time_ms} {stream} {text}\n");
        if self.written + entry.len() as u64 > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(entry.as_bytes())?;
        self.written += entry.len() as u64;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let _ = fs::remove_file(path(&self.dir, self.files - 1));
        for n in (0..self.files - 1).rev() {
            let _ = fs::rename(path(&self.dir, n), path(&self.dir, n + 1));
        }
        self.file = OpenOptions::new().create(true).append(true).open(path(&self.dir, 0))?;
        self.written = 0;
        Ok(())
    }
}

/// One parsed log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub time_ms: u64,
    pub stream: String,
    pub text: String,
}

fn parse(line: &str) -> Option<Entry> {
    let mut parts = line.splitn(3, ' ');
    let time_ms = parts.next()?.parse().ok()?;
    let stream = parts.next()?.to_string();
    let text = parts.next().unwrap_or_default().to_string();
    Some(Entry { time_ms, stream, text })
}

fn read_from(p: &Path, offset: u64) -> (Vec<Entry>, u64) {
    let Ok(mut f) = File::open(p) else { return (Vec::new(), offset) };
    if f.seek(SeekFrom::Start(offset)).is_err() {
        return (Vec::new(), offset);
    }
    let mut buf = String::new();
    let _ = f.read_to_string(&mut buf);
    // Only whole lines; a partial last line is read next time.
    let complete = buf.rfind('\n').map_or(0, |i| i + 1);
    let entries = buf[..complete].lines().filter_map(parse).collect();
    (entries, offset + complete as u64)
}

/// The last `tail` entries, and where to continue: (inode of `log.0`, offset).
pub fn tail(dir: &Path, files: u32, tail: usize) -> (Vec<Entry>, (u64, u64)) {
    let mut all = Vec::new();
    for n in (0..files.max(1)).rev() {
        if let Ok(f) = File::open(path(dir, n)) {
            all.extend(BufReader::new(f).lines().map_while(Result::ok).filter_map(|l| parse(&l)));
        }
    }
    let (ino, len) = fs::metadata(path(dir, 0)).map(|m| (m.ino(), m.len())).unwrap_or((0, 0));
    // Only whole lines count towards the offset.
    let offset = match fs::read(path(dir, 0)) {
        Ok(bytes) => bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i as u64 + 1).min(len),
        Err(_) => 0,
    };
    let skip = all.len().saturating_sub(tail);
    (all.split_off(skip), (ino, offset))
}

/// Entries written since `cursor` (updated), following rotations.
pub fn since(dir: &Path, cursor: &mut (u64, u64)) -> Vec<Entry> {
    let ino_of = |n: u32| fs::metadata(path(dir, n)).map(|m| m.ino()).ok();
    let ino = ino_of(0).unwrap_or(0);
    let mut out = Vec::new();
    if cursor.0 == 0 {
        cursor.0 = ino;
    } else if ino != cursor.0 {
        // Rotated: the file the cursor was in is now log.k; read its rest, then the newer ones.
        let mut k = 1;
        while let Some(i) = ino_of(k) {
            if i == cursor.0 {
                break;
            }
            k += 1;
        }
        if ino_of(k).is_some() {
            out.extend(read_from(&path(dir, k), cursor.1).0);
            for n in (1..k).rev() {
                out.extend(read_from(&path(dir, n), 0).0);
            }
        }
        *cursor = (ino, 0);
    }
    let (entries, offset) = read_from(&path(dir, 0), cursor.1);
    out.extend(entries);
    cursor.1 = offset;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_rotate_within_their_bound_and_readers_follow() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::open(dir.path(), 2048, 3).unwrap();
        let (_, mut cursor) = tail(dir.path(), 3, 10);
        for i in 0..10 {
            w.line(i, "stdout", &format!("line {i}")).unwrap();
        }
        let got = since(dir.path(), &mut cursor);
        assert_eq!(got.len(), 10);
        assert_eq!(got[3], Entry { time_ms: 3, stream: "stdout".into(), text: "line 3".into() });
        // Enough to rotate several times: total size stays bounded, the newest lines survive.
        for i in 10..1000 {
            w.line(i, "stderr", &format!("line {i} {}", "x".repeat(40))).unwrap();
        }
        let total: u64 = (0..4).filter_map(|n| fs::metadata(path(dir.path(), n)).ok()).map(|m| m.len()).sum();
        assert!(total <= 3 * 2048, "{total}");
        assert!(fs::metadata(path(dir.path(), 3)).is_err(), "only 3 files are kept");
        let (last, _) = tail(dir.path(), 3, 5);
        assert_eq!(last.iter().map(|e| e.time_ms).collect::<Vec<_>>(), vec![995, 996, 997, 998, 999]);
        // A reader that was behind gets what is left of the rotated file, then the new one.
        let mut c = tail(dir.path(), 3, 0).1;
        w.line(1000, "stdout", &"y".repeat(1500)).unwrap();
        w.line(1001, "stdout", &"z".repeat(1500)).unwrap();
        let got = since(dir.path(), &mut c);
        assert_eq!(got.iter().map(|e| e.time_ms).collect::<Vec<_>>(), vec![1000, 1001]);
        assert!(since(dir.path(), &mut c).is_empty());
    }
}
