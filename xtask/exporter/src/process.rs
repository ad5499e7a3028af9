//! The exporter's own cost, from /proc (what `bench cluster` reports).

/// CPU seconds (user + system) and resident bytes of this process.
pub fn usage() -> (Option<f64>, Option<f64>) {
    // SAFETY: sysconf only reads configuration values.
    let (ticks, page) = unsafe {
        (
            libc::sysconf(libc::_SC_CLK_TCK),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            // The fields after the command name, which is in parentheses.
            let rest = &s[s.rfind(')')? + 2..];
            let f: Vec<&str> = rest.split(' ').collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            (ticks > 0).then_some((utime + stime) / ticks as f64)
        });
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            let pages: f64 = s.split(' ').nth(1)?.parse().ok()?;
            (page > 0).then_some(pages * page as f64)
        });
    (cpu, rss)
}
