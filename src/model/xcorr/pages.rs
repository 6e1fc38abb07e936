//! Large zeroed host buffers, backed by transparent huge pages where the OS offers them.
//!
//! The correlation volume of a batch is big (85 MB at B=32) and freshly allocated on every
//! call; with 4 KiB pages the first touch of each page is a page fault, which cost as much as
//! the arithmetic itself. Asking for huge pages (`madvise(MADV_HUGEPAGE)`, honoured when
//! `/sys/kernel/mm/transparent_hugepage/enabled` is `always` or `madvise`) turns ~20,000 faults
//! into ~40. It is only advice: where it is refused nothing changes but the speed.

/// A zeroed `Vec<f32>` of `len` values whose pages are not touched yet (calloc), advised to be
/// backed by huge pages when large.
pub(crate) fn zeroed(len: usize) -> Vec<f32> {
    let mut v = vec![0.0f32; len];
    advise_huge_pages(&mut v);
    v
}

#[cfg(target_os = "linux")]
fn advise_huge_pages(v: &mut [f32]) {
    const PAGE: usize = 4096;
    const HUGE: usize = 2 << 20;
    let bytes = std::mem::size_of_val(v);
    if bytes < 2 * HUGE {
        return;
    }
    let start = v.as_mut_ptr() as usize;
    let first = start.next_multiple_of(PAGE);
    let end = (start + bytes) / PAGE * PAGE;
    if end <= first {
        return;
    }
    // SAFETY: [first, end) lies inside `v`'s allocation and is page aligned; MADV_HUGEPAGE
    // changes how the kernel backs the pages, never their contents. Failure is harmless.
    unsafe {
        libc::madvise(first as *mut libc::c_void, end - first, libc::MADV_HUGEPAGE);
    }
}

#[cfg(not(target_os = "linux"))]
fn advise_huge_pages(_: &mut [f32]) {}

#[cfg(test)]
mod tests {
    #[test]
    fn zeroed_buffers_are_zero_at_every_size() {
        for len in [0, 1, 1000, 3 << 20] {
            let v = super::zeroed(len);
            assert_eq!(v.len(), len);
            assert!(v.iter().all(|x| *x == 0.0));
        }
    }
}
