//! The content hash that decides whether an image must be rebuilt: every byte of the
//! build context, the build arguments, the platform and the tool's version, in a
//! stable order and unambiguously framed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// One file of a build context.
#[derive(Clone)]
pub struct ContextFile {
    /// The file's bytes.
    pub data: Data,
    /// Written as mode 755 instead of 644; hashed, since it changes the image.
    pub executable: bool,
}

/// A context file's bytes: rendered in memory, or a host file read (and hashed)
/// in a stream, so a large binary is never held in memory whole.
#[derive(Clone)]
pub enum Data {
    /// Rendered content, e.g. the Dockerfile or the entrypoint.
    Bytes(Vec<u8>),
    /// A host file (e.g. a local sccache-dist) streamed when hashed or written.
    File(PathBuf),
}

/// Relative path → file; a BTreeMap so the order never depends on the file system.
pub type BuildContext = BTreeMap<PathBuf, ContextFile>;

/// Everything that goes into an image's content hash.
pub struct HashInputs<'a> {
    /// Every file of the build context, by relative path.
    pub context: &'a BuildContext,
    /// The `--build-arg`s, which change the image without being in the context.
    pub build_args: &'a BTreeMap<String, String>,
    /// Target platform: the same context builds a different image per platform.
    pub platform: &'a str,
    /// The timestamp BuildKit writes into the image, as far as it is hashed
    /// ([`Epoch::hashed`](super::epoch::Epoch::hashed)); whichever builder runs,
    /// the same inputs give the same hash.
    pub source_date_epoch: &'a str,
    /// This tool's version: a new tool may render or build differently.
    pub tool_version: &'a str,
}

/// Hex sha256 over the framed inputs.
pub fn hash(inputs: &HashInputs) -> anyhow::Result<String> {
    use anyhow::Context as _;
    use std::io::Read;
    let mut h = Sha256::new();
    let frame = |h: &mut Sha256, tag: &str, len: u64| {
        h.update(tag.as_bytes());
        h.update(len.to_le_bytes());
    };
    let field = |h: &mut Sha256, tag: &str, bytes: &[u8]| {
        frame(h, tag, bytes.len() as u64);
        h.update(bytes);
    };
    let h = &mut h;
    field(h, "format", b"sccache-docker image inputs v1");
    field(h, "tool", inputs.tool_version.as_bytes());
    field(h, "platform", inputs.platform.as_bytes());
    field(h, "epoch", inputs.source_date_epoch.as_bytes());
    for (k, v) in inputs.build_args {
        field(h, "arg", k.as_bytes());
        field(h, "value", v.as_bytes());
    }
    for (path, file) in inputs.context {
        field(h, "path", path.to_string_lossy().as_bytes());
        field(h, "mode", if file.executable { b"755" } else { b"644" });
        match &file.data {
            Data::Bytes(bytes) => field(h, "data", bytes),
            Data::File(src) => {
                let what = || format!("cannot read {}", src.display());
                let mut f = std::fs::File::open(src).with_context(what)?;
                let len = f.metadata().with_context(what)?.len();
                frame(h, "data", len);
                let mut buf = vec![0u8; 256 * 1024];
                let mut seen = 0u64;
                loop {
                    let n = f.read(&mut buf).with_context(what)?;
                    if n == 0 {
                        break;
                    }
                    h.update(&buf[..n]);
                    seen += n as u64;
                }
                anyhow::ensure!(seen == len, "{} changed while it was read", src.display());
            }
        }
    }
    let digest = std::mem::take(h).finalize();
    Ok(digest.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(files: &[(&str, &str, bool)]) -> BuildContext {
        files
            .iter()
            .map(|(p, c, x)| {
                (
                    PathBuf::from(p),
                    ContextFile {
                        data: Data::Bytes(c.as_bytes().to_vec()),
                        executable: *x,
                    },
                )
            })
            .collect()
    }

    fn h(c: &BuildContext, args: &[(&str, &str)], platform: &str) -> String {
        let args = args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        hash(&HashInputs {
            context: c,
            build_args: &args,
            platform,
            source_date_epoch: "0",
            tool_version: "1",
        })
        .unwrap()
    }

    #[test]
    fn every_input_counts() {
        let base = ctx(&[("Dockerfile", "FROM x", false), ("e.sh", "run", true)]);
        let a = h(&base, &[], "linux/amd64");
        assert_eq!(a, h(&base, &[], "linux/amd64"));
        assert_eq!(a.len(), 64);
        assert_ne!(a, h(&base, &[], "linux/arm64"));
        assert_ne!(a, h(&base, &[("BASE_IMAGE", "y")], "linux/amd64"));
        assert_ne!(
            a,
            h(
                &ctx(&[("Dockerfile", "FROM x", false), ("e.sh", "run", false)]),
                &[],
                "linux/amd64"
            )
        );
        assert_ne!(
            a,
            h(
                &ctx(&[("Dockerfile", "FROM x", false), ("e.sh", "run!", true)]),
                &[],
                "linux/amd64"
            )
        );
        // A file streamed from disk hashes like the same bytes in memory.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bin"), "run").unwrap();
        let mut streamed = base.clone();
        streamed.insert(
            "e.sh".into(),
            ContextFile {
                data: Data::File(dir.path().join("bin")),
                executable: true,
            },
        );
        assert_eq!(a, h(&streamed, &[], "linux/amd64"));
        // Framing: moving bytes between a path and its contents changes the hash.
        assert_ne!(
            h(&ctx(&[("ab", "c", false)]), &[], "p"),
            h(&ctx(&[("a", "bc", false)]), &[], "p")
        );
    }
}
