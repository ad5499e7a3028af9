//! The content hash that decides whether an image must be rebuilt: every byte of the
//! build context, the build arguments, the platform and the tool's version, in a
//! stable order and unambiguously framed.

use std::collections::BTreeMap;
use std::path::PathBuf;

use sha2::{Digest, Sha256};

/// One file of a build context.
#[derive(Clone)]
pub struct ContextFile {
    pub contents: Vec<u8>,
    pub executable: bool,
}

/// Relative path → file; a BTreeMap so the order never depends on the file system.
pub type Context = BTreeMap<PathBuf, ContextFile>;

pub struct HashInputs<'a> {
    pub context: &'a Context,
    pub build_args: &'a BTreeMap<String, String>,
    pub platform: &'a str,
    /// The timestamp BuildKit writes into the image; whichever builder runs, the
    /// same inputs give the same hash.
    pub source_date_epoch: &'a str,
    pub tool_version: &'a str,
}

/// Hex sha256 over the framed inputs.
pub fn hash(inputs: &HashInputs) -> String {
    let mut h = Sha256::new();
    let mut field = |tag: &str, bytes: &[u8]| {
        h.update(tag.as_bytes());
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field("format", b"sccache-docker image inputs v1");
    field("tool", inputs.tool_version.as_bytes());
    field("platform", inputs.platform.as_bytes());
    field("epoch", inputs.source_date_epoch.as_bytes());
    for (k, v) in inputs.build_args {
        field("arg", k.as_bytes());
        field("value", v.as_bytes());
    }
    for (path, file) in inputs.context {
        field("path", path.to_string_lossy().as_bytes());
        field("mode", if file.executable { b"755" } else { b"644" });
        field("data", &file.contents);
    }
    let digest = h.finalize();
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(files: &[(&str, &str, bool)]) -> Context {
        files
            .iter()
            .map(|(p, c, x)| {
                (
                    PathBuf::from(p),
                    ContextFile {
                        contents: c.as_bytes().to_vec(),
                        executable: *x,
                    },
                )
            })
            .collect()
    }

    fn h(c: &Context, args: &[(&str, &str)], platform: &str) -> String {
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
        // Framing: moving bytes between a path and its contents changes the hash.
        assert_ne!(
            h(&ctx(&[("ab", "c", false)]), &[], "p"),
            h(&ctx(&[("a", "bc", false)]), &[], "p")
        );
    }
}
