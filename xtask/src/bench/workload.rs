//! The workload `bench cluster` times: a batch of distinct C files, compiled
//! `jobs` at a time, locally and through a private sccache client (distcc's way
//! is in `distcc.rs`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use crate::sccache::client::PrivateClient;

/// What a client of one way needs: its config, and the roots it trusts
/// (`SSL_CERT_FILE`) when the scheduler sits behind a TLS front.
#[derive(Debug, Clone, Default)]
pub struct ClientSetup {
    /// The client config text.
    pub conf: String,
    /// The CA bundle, or None for the system's roots.
    pub cert_file: Option<std::path::PathBuf>,
}

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

/// What one way of compiling the batch measured.
#[derive(Debug, Clone)]
pub struct Measured {
    /// Wall time of the whole batch.
    pub wall: Duration,
    /// Compiles that ran remotely (None: the way does not distribute).
    pub distributed: Option<u64>,
    /// Compiles whose distribution failed.
    pub failed: u64,
}

/// The batch: `n` distinct C files (fresh each run, so no cache can answer) and
/// one more for the untimed warm-up of each way.
pub struct Workload {
    dir: tempfile::TempDir,
    /// The timed sources.
    pub sources: Vec<PathBuf>,
    /// Compiled once, untimed, before each way's batch.
    pub warmup: PathBuf,
}

impl Workload {
    /// Writes the `n` sources and the warm-up source to a new temporary directory.
    pub fn new(n: usize) -> anyhow::Result<Workload> {
        let dir = tempfile::Builder::new().prefix("bench-c-").tempdir()?;
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_nanos();
        let write = |i: usize, name: &str| -> std::io::Result<PathBuf> {
            let p = dir.path().join(name);
            std::fs::write(&p, c_source(i, nonce)).map(|_| p)
        };
        let sources = (0..n)
            .map(|i| write(i, &format!("unit{i}.c")))
            .collect::<Result<_, _>>()?;
        let warmup = write(n, "warmup.c")?;
        Ok(Workload {
            sources,
            warmup,
            dir,
        })
    }

    /// The directory holding the sources (and the objects).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The batch with `cc` directly, `jobs` at a time.
    pub fn local(&self, jobs: usize) -> anyhow::Result<Measured> {
        let cc = |src: &Path, obj: &Path| {
            crate::bench::timed(
                Command::new("cc")
                    .args(["-O2", "-c"])
                    .arg(src)
                    .arg("-o")
                    .arg(obj),
            )
            .map(drop)
        };
        cc(&self.warmup, &self.warmup.with_extension("local.o"))?;
        let wall = parallel(&self.sources, jobs, |src| {
            cc(src, &src.with_extension("local.o"))
        })?;
        Ok(Measured {
            wall,
            distributed: None,
            failed: 0,
        })
    }

    /// The batch through a private sccache client of `client`, `jobs` at a time;
    /// `tag` names the object files. The counts are `--show-stats`'.
    pub fn sccache(
        &self,
        client: &ClientSetup,
        jobs: usize,
        tag: &str,
    ) -> anyhow::Result<Measured> {
        let client = PrivateClient::new(&client.conf)?.with_cert_file(client.cert_file.clone());
        client.start()?;
        let obj = |src: &Path| src.with_extension(format!("{tag}.o"));
        // Warm-up, not timed: the first job packages and uploads the toolchain.
        client.compile("cc", &["-O2"], &self.warmup, &obj(&self.warmup))?;
        let before = client.stats()?;
        let wall = parallel(&self.sources, jobs, |src| {
            client.compile("cc", &["-O2"], src, &obj(src))
        })?;
        let after = client.stats()?;
        Ok(Measured {
            wall,
            distributed: Some(after.distributed() - before.distributed()),
            failed: after.failed - before.failed,
        })
    }
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
