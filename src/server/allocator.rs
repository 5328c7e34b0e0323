//! The server's memory allocator: mimalloc, and how long it keeps memory it has freed.

/// mimalloc for the server and everything that links it (tests, benches). Under OTLP span ingest
/// glibc's malloc and free took 14% of all CPU, 40% of the process's share (perf); mimalloc 5.5%.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` in mimalloc 2's `mi_option_t` (libmimalloc-sys names only some options).
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed memory stays with the process before mimalloc returns it to the system.
pub const PURGE_DELAY_MS: std::ffi::c_long = 1_000;

/// Keeps freed memory for [`PURGE_DELAY_MS`] instead of mimalloc's 10 ms.
///
/// mimalloc asks for transparent huge pages and, 10 ms after a page of them falls free, gives it
/// back; the next request faults a fresh 2 MiB page in, which the kernel zeroes first. Under span
/// ingest, whose requests free and take megabytes every few milliseconds, that zeroing
/// (`clear_page_erms` under `do_huge_pmd_anonymous_page`) was 6% of all CPU, the process's largest
/// single cost (perf). A second covers that churn and still returns what a burst leaves behind.
pub fn keep_freed_memory() {
    // SAFETY: setting an option is a store mimalloc reads on its next purge; any thread may do it.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the child process of the test below, which then reports the option and stops.
    const CHILD: &str = "RUNWIRE_TEST_PURGE_DELAY_CHILD";

    #[test]
    fn the_option_index_reads_mimallocs_purge_delay() {
        if std::env::var_os(CHILD).is_some() {
            // mimalloc reads MIMALLOC_PURGE_DELAY into the purge delay when it is first asked for.
            // SAFETY: reading an option has no preconditions.
            let read = unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) };
            println!("purge delay option: {read}");
            return;
        }
        // Another test of this process may already have set it, so a child process reads it: an
        // index naming any other option would not read what MIMALLOC_PURGE_DELAY says.
        let output = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "server::allocator::tests::the_option_index_reads_mimallocs_purge_delay",
            ])
            .args(["--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .env("MIMALLOC_PURGE_DELAY", "4321")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.contains("purge delay option: 4321"), "{stdout}");
    }
}
