//! Handing start-up pages back to the kernel once an agent has settled.
//!
//! Most of a long-running agent's resident memory is not heap but code: argument
//! parsing, configuration, the runtime's set-up, the join, each touched once and
//! never again, yet they stay mapped for the life of the process. Once the agent
//! has joined and run a full cycle, [`release`] drops every clean file-backed page
//! from its mappings (the kernel keeps them in its page cache) and returns the
//! allocator's free memory; the code the steady state runs faults back in, a
//! minor fault a page, and stays. Go's runtime hands back idle heap the same way
//! (its scavenger); this does it for code as well.

use std::time::Duration;

/// What [`release`] handed back, in KiB of resident memory before the call.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// Resident pages of clean file-backed mappings given up.
    pub file_kib: u64,
    /// Read-only file mappings kept because some of their pages are private copies.
    pub skipped_mappings: usize,
}

/// One mapping of `/proc/self/smaps`, with what decides whether its pages can go.
#[derive(Debug, PartialEq, Eq)]
struct Mapping {
    start: usize,
    end: usize,
    writable: bool,
    /// A file (or the kernel's `[vdso]` and such) is behind it.
    path: String,
    rss_kib: u64,
    /// Pages that are private copies: dropping them would lose what was written.
    anonymous_kib: u64,
}

impl Mapping {
    /// A read-only mapping of a regular file with pages in memory.
    fn read_only_file(&self) -> bool {
        !self.writable && self.path.starts_with('/') && self.rss_kib > 0
    }

    /// Pages that the kernel can read again from the file, unchanged: a
    /// read-only file mapping with no private copies in it. One with copies
    /// (relocated data made read-only afterwards) would come back as the file's
    /// bytes, not the process's; so would a writable one.
    fn droppable(&self) -> bool {
        self.read_only_file() && self.anonymous_kib == 0
    }
}

/// The mappings listed in `smaps` text, in order.
fn mappings(smaps: &str) -> Vec<Mapping> {
    let mut out: Vec<Mapping> = Vec::new();
    for line in smaps.lines() {
        let mut words = line.split_whitespace();
        let Some(first) = words.next() else { continue };
        if let Some((start, end)) = first.split_once('-') {
            let (Ok(start), Ok(end)) = (
                usize::from_str_radix(start, 16),
                usize::from_str_radix(end, 16),
            ) else {
                continue;
            };
            let perms = words.next().unwrap_or("");
            // offset, device, inode, then the path (which may hold spaces).
            let path = words.skip(3).collect::<Vec<_>>().join(" ");
            out.push(Mapping {
                start,
                end,
                writable: perms.as_bytes().get(1) == Some(&b'w'),
                path,
                rss_kib: 0,
                anonymous_kib: 0,
            });
            continue;
        }
        let Some(last) = out.last_mut() else { continue };
        let kib = || {
            words
                .clone()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        match first {
            "Rss:" => last.rss_kib = kib(),
            "Anonymous:" => last.anonymous_kib = kib(),
            _ => {}
        }
    }
    out
}

/// Drops the process's clean file-backed pages and the allocator's free memory.
/// Safe to call at any time: only pages the kernel can restore byte for byte go.
///
/// Everything that reads and decides runs first and the `madvise` calls come last,
/// in one short loop: code run after the pages go faults straight back in, so the
/// start-up code that parses `smaps` must not run then.
pub fn release() -> std::io::Result<Released> {
    let smaps = std::fs::read_to_string("/proc/self/smaps")?;
    let mut released = Released::default();
    let mut ranges = Vec::new();
    for m in mappings(&smaps) {
        if m.droppable() {
            ranges.push((m.start, m.end - m.start, m.rss_kib));
        } else {
            released.skipped_mappings += usize::from(m.read_only_file());
        }
    }
    drop(smaps);
    trim_heap();
    for (start, len, rss_kib) in ranges {
        // SAFETY: the range is a whole mapping of this process, read-only and
        // backed by its file with no private copies, so the kernel refills any page
        // touched afterwards with the same bytes; no Rust object lives in it.
        let r = unsafe { libc::madvise(start as *mut libc::c_void, len, libc::MADV_DONTNEED) };
        if r == 0 {
            released.file_kib += rss_kib;
        }
    }
    Ok(released)
}

/// Returns glibc's free heap pages to the kernel.
#[cfg(target_env = "gnu")]
fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other C libraries keep their free heap.
#[cfg(not(target_env = "gnu"))]
fn trim_heap() {}

/// Waits `settle` (the agent's push/pull interval: by then it has joined, probed,
/// gossiped and exchanged state once), then [`release`]s, logging what went.
pub async fn release_after(settle: Duration) {
    tokio::time::sleep(settle).await;
    match release() {
        Ok(r) => tracing::debug!(
            target: "agent",
            "released {} KiB of start-up pages ({} mappings with private copies kept)",
            r.file_kib,
            r.skipped_mappings
        ),
        Err(e) => tracing::debug!(target: "agent", "start-up pages kept: /proc/self/smaps: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
55d0c0000000-55d0c0200000 r--p 00000000 08:01 1234 /usr/bin/memberlist
Size:               2048 kB
Rss:                 400 kB
Anonymous:             0 kB
55d0c0200000-55d0c0800000 r-xp 00200000 08:01 1234 /usr/bin/memberlist
Rss:                1900 kB
Anonymous:             0 kB
55d0c0800000-55d0c0900000 r--p 00800000 08:01 1234 /usr/bin/memberlist
Rss:                 100 kB
Anonymous:            96 kB
55d0c0900000-55d0c0a00000 rw-p 00900000 08:01 1234 /usr/bin/memberlist
Rss:                  64 kB
Anonymous:            64 kB
7f0000000000-7f0000001000 r--p 00000000 08:01 99 /tmp/a dir/with spaces
Rss:                   4 kB
Anonymous:             0 kB
7ffd00000000-7ffd00002000 r-xp 00000000 00:00 0 [vdso]
Rss:                   8 kB
Anonymous:             0 kB
";

    #[test]
    fn only_clean_read_only_file_pages_are_droppable() {
        let ms = mappings(SMAPS);
        assert_eq!(ms.len(), 6);
        assert_eq!(ms[1].start, 0x55d0_c020_0000);
        assert_eq!(ms[1].end, 0x55d0_c080_0000);
        assert_eq!(ms[4].path, "/tmp/a dir/with spaces");
        let droppable: Vec<bool> = ms.iter().map(Mapping::droppable).collect();
        // Text and rodata go; relocated data (copies), .data and the vdso stay.
        assert_eq!(droppable, [true, true, false, false, true, false]);
    }

    #[test]
    fn the_process_runs_on_after_its_pages_go() {
        let r = release().expect("release");
        assert!(r.file_kib > 0, "{r:?}");
        // Code, constants and the heap all still work: the pages come back.
        let words: Vec<String> = (0..1000).map(|i| format!("member-{i}")).collect();
        let joined = words.join(",");
        assert_eq!(joined.split(',').nth(999), Some("member-999"));
    }
}
