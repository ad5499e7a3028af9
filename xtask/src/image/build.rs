//! `cargo xtask image <distro>...`: renders a self-contained build context, hashes
//! everything that decides the image, and runs `docker build` only when no image
//! carrying that hash exists (here, or in the registry of a registry repository).

use std::path::Path;
use std::time::Instant;

use anyhow::Context as _;

use super::builder::{self, BuilderChoice};
use super::plan::{plan, Plan};
use super::pull::{self, FromImage};
use super::request::{check_args, select, ImageRequest, ImageResult};
use super::{lock, registry, HASH_LABEL};
use crate::docker;
use crate::docker::command::Failed;
use crate::profile::distro::{Distro, Install};
use crate::store::StateDir;

/// `cargo xtask image`: checks the request, then builds (or, with `dry_run`, prints) each selected distro's image under a per-distro lock, skipping those whose hash tag exists.
pub fn run(root: &Path, state: &StateDir, args: &ImageRequest) -> anyhow::Result<Vec<ImageResult>> {
    check_args(args)?;
    registry::for_request(args)?;
    let distros = select(root, args)?;
    if args.base_image.is_some() && distros.len() > 1 {
        anyhow::bail!("--base-image replaces one distro's base: give one distro with it");
    }
    let host = docker::host_platform();
    for d in distros
        .iter()
        .filter(|d| d.profile.install == Install::Local)
    {
        if args.platform != host {
            anyhow::bail!(
                "{}: install: local copies this host's sccache-dist ({host}) and cannot build for {}",
                d.name,
                args.platform
            );
        }
    }
    if args.sccache_dist.is_some() && !distros.iter().any(|d| d.profile.install == Install::Local) {
        eprintln!(
            "note: --sccache-dist (SCCACHE_DIST_BIN) is only used by distros with install: local"
        );
    }
    if args.release_mirror.is_some()
        && !distros
            .iter()
            .any(|d| d.profile.install == Install::Release)
    {
        eprintln!("note: --release-mirror is only used by distros with install: release");
    }
    if args.dry_run {
        return dry_run(root, &distros, args);
    }
    let locks = state.lock_dir()?;
    distros
        .iter()
        .map(|d| build_one(root, &locks, d, args))
        .collect()
}

/// Prints each distro's input hash, builder and the exact docker commands.
fn dry_run(
    root: &Path,
    distros: &[Distro],
    args: &ImageRequest,
) -> anyhow::Result<Vec<ImageResult>> {
    let picked = builder::probe(args.builder)?;
    println!("# {picked}");
    for d in distros {
        let p = plan(root, d, args)?;
        println!("# {}: input hash {}", d.name, p.hash);
        println!("{}", p.lookup_command().shown());
        let build = p.build_command(Path::new("<context>"), picked.builder);
        println!("{}", build.shown());
        for cmd in registry::dry_run_commands(&p, args) {
            println!("{}", cmd.shown());
        }
    }
    Ok(Vec::new())
}

fn build_one(
    root: &Path,
    locks: &Path,
    d: &Distro,
    args: &ImageRequest,
) -> anyhow::Result<ImageResult> {
    let started = Instant::now();
    let plan = plan(root, d, args)?;
    let lock_name = format!(
        "image-{}-{}.lock",
        args.repo.replace(['/', ':'], "_"),
        d.name
    );
    let _lock = lock::acquire(&locks.join(lock_name), &plan.tag)?;
    let registry = registry::for_request(args)?;
    if !args.force && reuse_existing(&plan, registry.as_deref(), args, started)? {
        return Ok(plan.result(false));
    }
    docker_build(root, &plan, &from_images(d, args), args.builder)?;
    println!(
        "{}: built {} and {} in {:.1}s",
        d.name,
        plan.tag,
        plan.hash_tag,
        started.elapsed().as_secs_f64()
    );
    registry::publish(&plan, registry.as_deref(), args)?;
    Ok(plan.result(true))
}

/// An image built from these inputs already exists (in the registry, or here):
/// true after tagging (and publishing) it as needed, so no build runs.
fn reuse_existing(
    plan: &Plan,
    registry: Option<&str>,
    args: &ImageRequest,
    started: Instant,
) -> anyhow::Result<bool> {
    let local = plan.built_image_tags()?;
    if let Some(host) = registry {
        if registry::reuse(plan, host, args, local.as_deref())? {
            return Ok(true);
        }
    }
    let Some(tags) = local else {
        return Ok(false);
    };
    if !tags.contains(&plan.tag) {
        docker::objects::tag(&plan.hash_tag, &plan.tag).output()?;
        println!("{}: tagged {} again", plan.distro, plan.tag);
    }
    println!(
        "{}: {} is up to date (input hash {}), no build needed ({:.2}s)",
        plan.distro,
        plan.tag,
        &plan.hash[..12],
        started.elapsed().as_secs_f64()
    );
    registry::publish(plan, registry, args)?;
    Ok(true)
}

/// The images the build starts `FROM`, and where each is named.
fn from_images(d: &Distro, args: &ImageRequest) -> Vec<FromImage> {
    let field = |name: &str| format!("{name} in {}", d.file);
    let base = match &args.base_image {
        Some(b) => FromImage {
            image: b.clone(),
            origin: "--base-image".into(),
            base: true,
        },
        None => FromImage {
            image: d.base_ref(),
            origin: field("base_image"),
            base: true,
        },
    };
    let others = [
        ("rust_image", &d.profile.rust_image),
        ("tini_static_image", &d.profile.tini_static_image),
    ];
    std::iter::once(base)
        .chain(others.into_iter().filter_map(|(name, image)| {
            Some(FromImage {
                image: image.clone()?,
                origin: field(name),
                base: false,
            })
        }))
        .collect()
}

/// The last lines of a failed build kept to tell why it failed.
const KEPT_LINES: usize = 200;

/// Picks the builder (saying which and why), writes the context and runs the
/// build, then checks the new image carries the plan's hash. A build that stops
/// because a `FROM` image cannot be pulled says which and what to do.
fn docker_build(
    root: &Path,
    plan: &Plan,
    froms: &[FromImage],
    choice: BuilderChoice,
) -> anyhow::Result<()> {
    docker::engine()?;
    let picked = builder::probe(choice)?;
    println!("{}: {picked}", plan.distro);
    let work = root.join("target/xtask");
    std::fs::create_dir_all(&work)?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("context-{}-", plan.distro))
        .tempdir_in(&work)
        .context("cannot create a build context directory")?;
    plan.write_context(dir.path())?;
    println!(
        "{}: building {} (input hash {})",
        plan.distro,
        plan.hash_tag,
        &plan.hash[..12]
    );
    if let builder::Builder::BuildKit { .. } = picked.builder {
        println!(
            "{}: created at SOURCE_DATE_EPOCH {}",
            plan.distro,
            plan.source_date_epoch.describe()
        );
    }
    let build = plan.build_command(dir.path(), picked.builder);
    let context = || {
        format!(
            "building {} failed; the previous {} and its tags are untouched",
            plan.hash_tag, plan.tag
        )
    };
    if let Err(e) = build.run_logged_keeping_tail(KEPT_LINES) {
        let pulled = e
            .downcast_ref::<Failed>()
            .and_then(|f| pull::recognise(&f.tail));
        return Err(match pulled {
            Some(p) => anyhow::anyhow!(pull::message(&p, froms)),
            None => e,
        }
        .context(context()));
    }
    let label = docker::image_label(&plan.hash_tag, HASH_LABEL)?.unwrap_or_default();
    anyhow::ensure!(
        label == plan.hash,
        "{} was built but carries the hash label {label:?}",
        plan.hash_tag
    );
    // A distro package's version is known only now, from the binary in the image.
    match crate::lifecycle::versions::image_version(&plan.hash_tag) {
        Some(v) => println!("{}: serves sccache-dist {v}", plan.distro),
        None => eprintln!(
            "warning: {}: `sccache-dist --version` in {} printed no version",
            plan.distro, plan.hash_tag
        ),
    }
    Ok(())
}
