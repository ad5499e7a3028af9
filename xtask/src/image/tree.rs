//! A file tree read from a tar stream (a `docker export`, or one layer of an OCI
//! image), and what differs between two of them, path by path.

use std::collections::BTreeMap;
use std::io::Read;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

/// What a tar stream says about one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// `file`, `dir`, `symlink`, `hardlink`, `char`, `block`, `fifo` or `other`.
    pub kind: &'static str,
    /// Permission bits, as the tar header has them.
    pub mode: u32,
    /// Owner's numeric user id.
    pub uid: u64,
    /// Owner's numeric group id.
    pub gid: u64,
    /// Size in bytes, as the tar header says.
    pub size: u64,
    /// sha256 of a regular file's bytes.
    pub sha256: Option<String>,
    /// Where a symlink or hard link points.
    pub link: Option<String>,
    /// Modification time in seconds; reported apart from the other differences,
    /// since only BuildKit's rewrite-timestamp clamps it.
    pub mtime: u64,
}

/// Path (without a leading `./` or `/`) → entry.
pub type Tree = BTreeMap<String, Entry>;

/// One path that differs, and how: e.g. `content (sha256 1a2b… vs 3c4d…)`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The path, normalised as in [`Tree`].
    pub path: String,
    /// Each attribute that differs, with both values.
    pub what: Vec<String>,
}

/// Reads every entry of a tar stream; regular files are hashed, never kept.
pub fn read_tree(reader: impl Read) -> anyhow::Result<Tree> {
    let mut archive = tar::Archive::new(reader);
    let mut tree = Tree::new();
    for entry in archive.entries().context("cannot read the tar stream")? {
        let mut entry = entry.context("cannot read a tar entry")?;
        let path = entry.path().context("a tar entry has a bad path")?;
        let path = normalise(&path.to_string_lossy());
        let header = entry.header().clone();
        let kind = kind_name(header.entry_type());
        let sha256 = if kind == "file" {
            Some(hash_stream(&mut entry).with_context(|| format!("cannot read {path}"))?)
        } else {
            None
        };
        let link = entry
            .link_name()
            .ok()
            .flatten()
            .map(|l| l.to_string_lossy().into_owned());
        tree.insert(
            path,
            Entry {
                kind,
                mode: header.mode().unwrap_or(0) & 0o7777,
                uid: header.uid().unwrap_or(0),
                gid: header.gid().unwrap_or(0),
                size: header.size().unwrap_or(0),
                sha256,
                link,
                mtime: header.mtime().unwrap_or(0),
            },
        );
    }
    Ok(tree)
}

/// `./usr/bin/` and `usr/bin` name the same path.
fn normalise(path: &str) -> String {
    let p = path.trim_start_matches("./").trim_start_matches('/');
    let p = p.trim_end_matches('/');
    if p.is_empty() || p == "." {
        "/".to_owned()
    } else {
        format!("/{p}")
    }
}

fn kind_name(t: tar::EntryType) -> &'static str {
    match t {
        tar::EntryType::Regular | tar::EntryType::Continuous => "file",
        tar::EntryType::Directory => "dir",
        tar::EntryType::Symlink => "symlink",
        tar::EntryType::Link => "hardlink",
        tar::EntryType::Char => "char",
        tar::EntryType::Block => "block",
        tar::EntryType::Fifo => "fifo",
        _ => "other",
    }
}

fn hash_stream(r: &mut impl Read) -> std::io::Result<String> {
    let mut h = Sha256::new();
    std::io::copy(r, &mut h)?;
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Every path whose entries differ in anything but mtime, and separately the
/// paths that differ in mtime only.
pub fn diff(a: &Tree, b: &Tree) -> (Vec<Difference>, Vec<String>) {
    let mut differences = Vec::new();
    let mut mtime_only = Vec::new();
    let paths: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for path in paths {
        let what = match (a.get(path), b.get(path)) {
            (Some(x), Some(y)) => fields(x, y),
            (Some(_), None) => vec!["only in the first build".to_owned()],
            (None, Some(_)) => vec!["only in the second build".to_owned()],
            (None, None) => unreachable!("the path came from one of the trees"),
        };
        if !what.is_empty() {
            differences.push(Difference {
                path: path.clone(),
                what,
            });
        } else if a[path].mtime != b[path].mtime {
            mtime_only.push(path.clone());
        }
    }
    (differences, mtime_only)
}

/// What differs between two entries of one path, mtime left out.
fn fields(x: &Entry, y: &Entry) -> Vec<String> {
    let mut what = Vec::new();
    let mut check = |name: &str, a: String, b: String| {
        if a != b {
            what.push(format!("{name} ({a} vs {b})"));
        }
    };
    check("type", x.kind.into(), y.kind.into());
    check("mode", format!("{:o}", x.mode), format!("{:o}", y.mode));
    check(
        "owner",
        format!("{}:{}", x.uid, x.gid),
        format!("{}:{}", y.uid, y.gid),
    );
    check("size", x.size.to_string(), y.size.to_string());
    let short = |h: &Option<String>| h.as_deref().map_or("-".to_owned(), |h| h[..12].to_owned());
    check("content sha256", short(&x.sha256), short(&y.sha256));
    let link = |l: &Option<String>| l.clone().unwrap_or_else(|| "-".into());
    check("link target", link(&x.link), link(&y.link));
    what
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tarball(files: &[(&str, &str, u64)]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, text, mtime) in files {
            let mut h = tar::Header::new_gnu();
            h.set_size(text.len() as u64);
            h.set_mode(0o644);
            h.set_mtime(*mtime);
            h.set_cksum();
            b.append_data(&mut h, path, text.as_bytes()).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn content_counts_mtime_is_apart() {
        let a = read_tree(&tarball(&[("./etc/a", "x", 1), ("built-at", "1", 1)])[..]).unwrap();
        let b = read_tree(&tarball(&[("etc/a", "x", 2), ("built-at", "2", 1)])[..]).unwrap();
        let (differences, mtime_only) = diff(&a, &b);
        assert_eq!(mtime_only, vec!["/etc/a".to_owned()]);
        assert_eq!(differences.len(), 1);
        assert_eq!(differences[0].path, "/built-at");
        assert!(differences[0].what[0].starts_with("content sha256 ("));
        let c = read_tree(&tarball(&[("etc/a", "x", 1)])[..]).unwrap();
        let (differences, _) = diff(&a, &c);
        assert_eq!(differences[0].what, vec!["only in the first build"]);
        assert!(diff(&a, &a).0.is_empty());
    }
}
