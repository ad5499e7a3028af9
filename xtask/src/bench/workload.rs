//! The workload `bench cluster` times: a batch of distinct C files, compiled
//! locally and through a private sccache client on a number of threads.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::sccache::client::PrivateClient;

/// A C file with enough code that compiling it outweighs the per-job overhead a
/// little, as real translation units do.
pub fn c_source(i: usize, nonce: u128) -> String {
    let mut s =
        format!("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n/* {nonce} */\n");
    for f in 0..12 {
        s.push_str(&format!(
            "int f{i}_{f}(const char *s, int n) {{\n  int acc = {f};\n  for (int k = 0; k < n; k++) {{\n    char buf[128];\n    snprintf(buf, sizeof buf, \"%s-%d-%d\", s, k, acc);\n    acc = acc * 31 + (int)strlen(buf) + (k % 7 ? k : -k);\n    if (acc > 100000) acc %= 9973;\n  }}\n  return acc;\n}}\n"
        ));
    }
    s
}

/// What one batch measured.
pub struct BatchResult {
    pub local: Duration,
    pub remote: Duration,
    pub distributed: u64,
    pub failed: u64,
}

/// Compiles `n` fresh C files locally, then through a private client using
/// `client_conf`, `jobs` at a time.
pub fn compile_batch(client_conf: &str, n: usize, jobs: usize) -> anyhow::Result<BatchResult> {
    let work = tempfile::Builder::new().prefix("bench-c-").tempdir()?;
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_nanos();
    let sources: Vec<PathBuf> = (0..n)
        .map(|i| {
            let p = work.path().join(format!("unit{i}.c"));
            std::fs::write(&p, c_source(i, nonce)).map(|_| p)
        })
        .collect::<Result<_, _>>()?;

    let local = parallel(&sources, jobs, |src| {
        let out = Command::new("cc")
            .args(["-O2", "-c"])
            .arg(src)
            .arg("-o")
            .arg(src.with_extension("local.o"))
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "cc failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    })?;

    let client = PrivateClient::new(client_conf)?;
    client.start()?;
    // Warm-up, not timed: the first job packages and uploads the toolchain.
    let warm = work.path().join("warmup.c");
    std::fs::write(&warm, c_source(n, nonce + 1))?;
    client.compile("cc", &["-O2"], &warm, &warm.with_extension("o"))?;
    let before = client.stats()?;
    let remote = parallel(&sources, jobs, |src| {
        client.compile("cc", &["-O2"], src, &src.with_extension("dist.o"))
    })?;
    let after = client.stats()?;
    Ok(BatchResult {
        local,
        remote,
        distributed: after.distributed() - before.distributed(),
        failed: after.failed - before.failed,
    })
}

/// Runs `f` over `items` on `jobs` threads; the wall time of the whole batch.
pub fn parallel<F>(items: &[PathBuf], jobs: usize, f: F) -> anyhow::Result<Duration>
where
    F: Fn(&Path) -> anyhow::Result<()> + Sync,
{
    let next = std::sync::atomic::AtomicUsize::new(0);
    let t0 = Instant::now();
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..jobs)
            .map(|_| {
                s.spawn(|| -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(item) = items.get(i) else {
                            return Ok(());
                        };
                        f(item)?;
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .try_for_each(|w| w.join().expect("worker panicked"))
    })?;
    Ok(t0.elapsed())
}
