//! Guards for reading untrusted files, shared by the image and model loaders: regular files
//! only, of bounded size ([`read_regular_file`]); a byte budget that concurrent decodes share
//! ([`MemoryBudget`]); and a check that JPEG data is complete ([`jpeg_truncation`]).

use std::fs::{File, Metadata};
use std::io::Read;
use std::path::Path;
use std::sync::{Condvar, Mutex, PoisonError};

/// Ok for a regular file; otherwise an error saying what the path is instead.
pub fn check_regular(meta: &Metadata) -> std::io::Result<()> {
    if meta.is_file() {
        return Ok(());
    }
    let ft = meta.file_type();
    let what = if ft.is_dir() {
        "a folder"
    } else {
        special_kind(ft)
    };
    Err(std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        format!("not a regular file ({what})"),
    ))
}

#[cfg(unix)]
fn special_kind(ft: std::fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        "a named pipe"
    } else if ft.is_char_device() {
        "a character device"
    } else if ft.is_block_device() {
        "a block device"
    } else if ft.is_socket() {
        "a socket"
    } else {
        "a special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_: std::fs::FileType) -> &'static str {
    "a special file"
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    // Should the path become a FIFO between the check and the open, the open does not block.
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Read a whole file that must be a regular file (symbolic links followed) of at most
/// `max_bytes` bytes. FIFOs, devices, sockets and folders are refused without being read.
pub fn read_regular_file(path: &Path, max_bytes: u64) -> std::io::Result<Vec<u8>> {
    let too_big = |len: u64| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is {len} bytes, more than the {max_bytes} allowed"),
        )
    };
    check_regular(&std::fs::metadata(path)?)?;
    let file = open_nonblocking(path)?;
    // What was opened is what is read: check it again.
    let meta = file.metadata()?;
    check_regular(&meta)?;
    if meta.len() > max_bytes {
        return Err(too_big(meta.len()));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Memory shared by the decodes running at the same time: a counting semaphore in bytes.
#[derive(Debug)]
pub struct MemoryBudget {
    total: u64,
    used: Mutex<u64>,
    freed: Condvar,
}

/// A share of a [`MemoryBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reservation<'a> {
    budget: &'a MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub const fn new(total: u64) -> Self {
        Self {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
        }
    }

    /// Wait until `bytes` (at most the whole budget) are free and take them.
    pub fn acquire(&self, bytes: u64) -> Reservation<'_> {
        let bytes = bytes.min(self.total);
        let mut used = self.used.lock().unwrap_or_else(PoisonError::into_inner);
        while *used + bytes > self.total {
            used = self
                .freed
                .wait(used)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *used += bytes;
        Reservation {
            budget: self,
            bytes,
        }
    }

    /// Bytes taken now.
    pub fn in_use(&self) -> u64 {
        *self.used.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Reservation<'_> {
    fn drop(&mut self) {
        let mut used = self
            .budget
            .used
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        *used -= self.bytes;
        self.budget.freed.notify_all();
    }
}

/// Why JPEG data is incomplete, or `None` when its marker segments lead to an end-of-image
/// marker (`FF D9`). Segments are skipped by their length (an embedded thumbnail's own marker
/// does not count), entropy-coded data up to the next marker; bytes after the end are allowed.
pub fn jpeg_truncation(bytes: &[u8]) -> Option<String> {
    const END: &str = "the data ends before the JPEG end-of-image marker (FF D9)";
    if !bytes.starts_with(&[0xFF, 0xD8]) {
        return Some("no JPEG start-of-image marker".into());
    }
    let mut i = 2;
    loop {
        // Find the next marker: 0xFF, any fill 0xFF bytes, then the marker code.
        while i < bytes.len() && bytes[i] != 0xFF {
            i += 1;
        }
        while i < bytes.len() && bytes[i] == 0xFF {
            i += 1;
        }
        let Some(&marker) = bytes.get(i) else {
            return Some(END.into());
        };
        i += 1;
        match marker {
            0xD9 => return None,
            // Stuffed zero, restart markers, TEM, SOI: no length field.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let Some(len) = bytes
            .get(i..i + 2)
            .map(|b| usize::from(u16::from_be_bytes([b[0], b[1]])))
        else {
            return Some(END.into());
        };
        if len < 2 {
            return Some(format!("bad JPEG segment length {len}"));
        }
        i += len;
        if i > bytes.len() {
            return Some(END.into());
        }
        if marker == 0xDA {
            // Entropy-coded data: runs until a marker that is not a stuffed zero or a restart.
            loop {
                match bytes.get(i..i + 2) {
                    None => return Some(END.into()),
                    Some([0xFF, m]) if *m != 0x00 && *m != 0xFF && !(0xD0..=0xD7).contains(m) => {
                        break;
                    }
                    _ => i += 1,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_budget_never_hands_out_more_than_it_has() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let budget = MemoryBudget::new(100);
        let peak = AtomicU64::new(0);
        std::thread::scope(|s| {
            for t in 0..8u64 {
                let (budget, peak) = (&budget, &peak);
                s.spawn(move || {
                    for i in 0..50u64 {
                        let _r = budget.acquire(10 + (t * 7 + i) % 60);
                        peak.fetch_max(budget.in_use(), Ordering::Relaxed);
                        std::thread::yield_now();
                    }
                });
            }
        });
        assert!(peak.load(Ordering::Relaxed) <= 100);
        assert_eq!(budget.in_use(), 0);
        // A request larger than the whole budget takes all of it instead of waiting forever.
        drop(budget.acquire(1000));
    }

    #[test]
    fn only_regular_files_are_read() {
        let err = read_regular_file(Path::new("/dev/zero"), 1 << 20).expect_err("device");
        assert!(err.to_string().contains("character device"), "{err}");
        let dir = tempfile::tempdir().expect("tempdir");
        let err = read_regular_file(dir.path(), 1 << 20).expect_err("folder");
        assert!(err.to_string().contains("a folder"), "{err}");
        let f = dir.path().join("f.bin");
        std::fs::write(&f, [1u8; 100]).expect("write");
        assert_eq!(read_regular_file(&f, 100).expect("fits").len(), 100);
        let err = read_regular_file(&f, 99).expect_err("too big");
        assert!(
            err.to_string().contains("more than the 99 allowed"),
            "{err}"
        );
    }
}
