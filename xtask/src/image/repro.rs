//! `cargo xtask verify-repro <distro>`: builds one image twice from scratch
//! (`--no-cache`, nothing shared but the base image) and says whether the two are
//! the same. With BuildKit >= 0.13 where it can export OCI tarballs, both builds
//! are exported with rewrite-timestamp and their manifest digests compared;
//! otherwise both are loaded and their file trees compared, mtime reported apart.

use std::path::Path;

use anyhow::Context as _;
use sha2::{Digest, Sha256};

use super::builder::{self, Builder, Picked};
use super::oci;
use super::plan::{self as build, BuildSpec, Output, Plan};
use super::request::{check_args, ImageRequest, Selection};
use super::tree::{self, Difference, Tree};
use crate::docker::{self, DockerCommand};
use crate::profile;

/// How the two builds are compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// OCI tarballs with file times clamped: equal manifest digests.
    Oci,
    /// Images loaded into the store: equal file trees, mtime apart.
    Tree,
}

/// Checks that `req` (one distro) builds bit for bit the same twice. Returns the
/// reproducible digest; an error lists every path that differs.
pub fn run(root: &Path, req: &ImageRequest) -> anyhow::Result<Option<String>> {
    let Selection::Named(names) = &req.distros else {
        anyhow::bail!("verify-repro takes one distro");
    };
    let [name] = names.as_slice() else {
        anyhow::bail!("verify-repro takes one distro");
    };
    check_args(req)?;
    let plan = build::plan(root, &profile::find_distro(root, name)?, req)?;
    let picked = builder::probe(req.builder)?;
    let (method, why) = method(picked.builder)?;
    println!("# {picked}; compare: {why}");
    let work = root.join("target/xtask");
    std::fs::create_dir_all(&work)?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("repro-{name}-"))
        .tempdir_in(&work)
        .context("cannot create a working directory for verify-repro")?;
    let context = dir.path().join("context");
    let commands = build_commands(&plan, &picked, method, dir.path(), &req.repo);
    if req.dry_run {
        for c in &commands {
            println!("{}", c.shown());
        }
        return Ok(None);
    }
    docker::engine()?;
    plan.write_context(&context)?;
    match method {
        Method::Oci => compare_oci(&plan, &picked, &commands, dir.path()).map(Some),
        Method::Tree => compare_trees(&plan, &picked, &commands, &req.repo).map(Some),
    }
}

/// OCI export when the builder clamps times and the engine can export OCI
/// tarballs (the docker driver can on the containerd image store only).
fn method(builder: Builder) -> anyhow::Result<(Method, String)> {
    if !builder.rewrites_timestamps() {
        let why = match builder {
            Builder::Legacy => "file trees (the legacy builder cannot export OCI tarballs)",
            Builder::BuildKit { .. } => "file trees (rewrite-timestamp needs buildx >= 0.13)",
        };
        return Ok((Method::Tree, why.into()));
    }
    docker::engine()?;
    let store = DockerCommand::new(["info", "--format", "{{.DriverStatus}}"]).output()?;
    if store.contains("io.containerd.snapshotter") {
        return Ok((
            Method::Oci,
            "manifest digests of OCI exports with rewrite-timestamp (containerd image store)"
                .into(),
        ));
    }
    let driver = DockerCommand::new(["buildx", "inspect"]).output()?;
    if driver
        .lines()
        .any(|l| l.starts_with("Driver:") && !l.ends_with(" docker"))
    {
        return Ok((
            Method::Oci,
            "manifest digests of OCI exports with rewrite-timestamp (buildx builder with its own store)".into(),
        ));
    }
    Ok((
        Method::Tree,
        "file trees (the docker driver on the classic image store cannot export OCI tarballs)"
            .into(),
    ))
}

/// The two `docker build` lines: OCI tarballs in `dir`, or temporary tags.
fn build_commands(
    plan: &Plan,
    picked: &Picked,
    method: Method,
    dir: &Path,
    repo: &str,
) -> Vec<DockerCommand> {
    let context = dir.join("context");
    (1..=2)
        .map(|n| {
            let tarball = dir.join(format!("build-{n}.oci.tar"));
            let tag = repro_tag(repo, &plan.distro, n);
            let output = match method {
                Method::Oci => Output::OciFile(&tarball),
                Method::Tree => Output::Tag(&tag),
            };
            let spec = BuildSpec {
                builder: picked.builder,
                output,
                no_cache: true,
            };
            plan.build_command_with(&context, spec)
        })
        .collect()
}

/// The temporary tag of build `n` of the tree comparison.
fn repro_tag(repo: &str, distro: &str, n: u32) -> String {
    format!("{repo}:{distro}-repro-{n}")
}

fn run_builds(commands: &[DockerCommand]) -> anyhow::Result<()> {
    for (n, c) in commands.iter().enumerate() {
        c.run_logged_to_stderr()
            .with_context(|| format!("build {} of 2 failed", n + 1))?;
    }
    Ok(())
}

/// Both builds as OCI tarballs: the same manifest digest, or what differs.
fn compare_oci(
    plan: &Plan,
    picked: &Picked,
    commands: &[DockerCommand],
    dir: &Path,
) -> anyhow::Result<String> {
    run_builds(commands)?;
    let a = oci::open(&dir.join("build-1.oci.tar"))?;
    let b = oci::open(&dir.join("build-2.oci.tar"))?;
    if a.manifest_digest == b.manifest_digest {
        println!(
            "{}: reproducible: {} (manifest digest of two no-cache builds, {})",
            plan.distro, a.manifest_digest, picked.builder
        );
        return Ok(a.manifest_digest);
    }
    let mut differences = config_differences(&a, &b)?;
    let layers = a.layers.len().max(b.layers.len());
    for i in 0..layers {
        match (a.layers.get(i), b.layers.get(i)) {
            (Some(x), Some(y)) if x.0 == y.0 => {}
            (Some(x), Some(y)) => {
                let (ta, tb) = (a.layer_tree(&x.0, &x.1)?, b.layer_tree(&y.0, &y.1)?);
                differences.extend(with_mtimes(&ta, &tb, i));
            }
            _ => differences.push(Difference {
                path: format!("(layer {})", i + 1),
                what: vec!["only in one build".into()],
            }),
        }
    }
    not_reproducible(
        &plan.distro,
        &format!("manifests {} vs {}", a.manifest_digest, b.manifest_digest),
        &differences,
    )
}

/// Paths of one layer that differ, mtime included: rewrite-timestamp clamps every
/// time the build writes, so a differing mtime is a real difference.
fn with_mtimes(a: &Tree, b: &Tree, layer: usize) -> Vec<Difference> {
    let (mut differences, mtime_only) = tree::diff(a, b);
    differences.extend(mtime_only.into_iter().map(|path| Difference {
        what: vec![format!("mtime ({} vs {})", a[&path].mtime, b[&path].mtime)],
        path,
    }));
    for d in &mut differences {
        d.what.push(format!("in layer {}", layer + 1));
    }
    differences
}

/// The top-level fields of the image configs that differ, beyond the layer list
/// (`rootfs`), whose differences the layers themselves show.
fn config_differences(a: &oci::OciImage, b: &oci::OciImage) -> anyhow::Result<Vec<Difference>> {
    if a.config_digest == b.config_digest {
        return Ok(Vec::new());
    }
    let (ca, cb) = (a.config()?, b.config()?);
    let keys: std::collections::BTreeSet<&String> = ca
        .as_object()
        .into_iter()
        .chain(cb.as_object())
        .flat_map(|o| o.keys())
        .collect();
    let what: Vec<String> = keys
        .into_iter()
        .filter(|k| ca.get(*k) != cb.get(*k) && k.as_str() != "rootfs")
        .map(|k| format!("{k} differs"))
        .collect();
    if what.is_empty() {
        return Ok(Vec::new());
    }
    Ok(vec![Difference {
        path: "(image config)".into(),
        what,
    }])
}

/// Both builds loaded under temporary tags: the same file tree (mtime apart).
fn compare_trees(
    plan: &Plan,
    picked: &Picked,
    commands: &[DockerCommand],
    repo: &str,
) -> anyhow::Result<String> {
    let tags = [1, 2].map(|n| repro_tag(repo, &plan.distro, n));
    let _cleanup = RemoveTags(tags.to_vec());
    run_builds(commands)?;
    let a = exported_tree(&tags[0])?;
    let b = exported_tree(&tags[1])?;
    let (differences, mtime_only) = tree::diff(&a, &b);
    if differences.is_empty() {
        let digest = tree_digest(&a);
        println!(
            "{}: reproducible: {digest} (file tree of two no-cache builds, {}; {} paths, {} differ in mtime only)",
            plan.distro,
            picked.builder,
            a.len(),
            mtime_only.len()
        );
        return Ok(digest);
    }
    let note = format!("{} more paths differ in mtime only", mtime_only.len());
    not_reproducible(&plan.distro, &note, &differences)
}

/// The file tree of `image`, from `docker export` of a container made (not
/// started) from it.
fn exported_tree(image: &str) -> anyhow::Result<Tree> {
    let id = DockerCommand::new(["create", image]).output()?;
    let tree = DockerCommand::new(["export", id.as_str()])
        .expression()
        .reader()
        .context("cannot run docker export")
        .and_then(|r| tree::read_tree(r).with_context(|| format!("docker export of {image}")));
    DockerCommand::new(["rm", id.as_str()]).output()?;
    tree
}

/// sha256 over every path and everything compared about it (no mtime).
fn tree_digest(t: &Tree) -> String {
    let mut h = Sha256::new();
    for (path, e) in t {
        let line = format!(
            "{path}\0{}\0{:o}\0{}:{}\0{}\0{}\0{}\n",
            e.kind,
            e.mode,
            e.uid,
            e.gid,
            e.size,
            e.sha256.as_deref().unwrap_or(""),
            e.link.as_deref().unwrap_or("")
        );
        h.update(line.as_bytes());
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    format!("tree-sha256:{hex}")
}

/// Prints each differing path and what differs, and fails.
fn not_reproducible(
    distro: &str,
    note: &str,
    differences: &[Difference],
) -> anyhow::Result<String> {
    println!("{distro}: NOT reproducible ({note}):");
    for d in differences {
        println!("  {}: {}", d.path, d.what.join(", "));
    }
    anyhow::bail!(
        "{distro} is not reproducible: {} paths differ (listed above)",
        differences.len()
    )
}

/// Removes the temporary tags of the tree comparison, whatever happened.
struct RemoveTags(Vec<String>);

impl Drop for RemoveTags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = DockerCommand::new(["image", "rm", "--force", tag]).try_output();
        }
    }
}
