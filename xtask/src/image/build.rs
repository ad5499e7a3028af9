//! `cargo xtask image <distro>...`: renders a self-contained build context, hashes
//! everything that decides the image, and runs `docker build` only when no image
//! carrying that hash exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::{DISTRO_LABEL, HASH_LABEL};
use crate::docker;
use crate::image::hash::{self as content_hash, BuildContext, ContextFile, Data, HashInputs};
use crate::image::lock;
use crate::image::registry;
use crate::profile;
use crate::profile::distro::{Distro, Install};
use crate::profile::{runtime as runtime_profile, validate};
use crate::project;
use crate::render::generated;
use crate::render::Templates;
use crate::state::StateDir;

/// Which builder the user asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BuilderChoice {
    /// BuildKit when `docker buildx` works, else the legacy builder.
    Auto,
    Buildkit,
    Legacy,
}

/// Which distros a request is about.
#[derive(Clone, Debug)]
pub enum Selection {
    All,
    Named(Vec<String>),
}

/// One `image` request, as the command line (or a benchmark, or `up`) makes it.
#[derive(Clone, Debug)]
pub struct ImageRequest {
    pub distros: Selection,
    /// Build even when an image with the same input hash exists.
    pub force: bool,
    /// Print the input hash and the docker commands without running any.
    pub dry_run: bool,
    /// Build on this base image instead of the profile's.
    pub base_image: Option<String>,
    /// Target platform, always passed to docker.
    pub platform: String,
    /// Image repository; tags are REPO:DISTRO and REPO:DISTRO-HASH12, with the
    /// architecture after DISTRO (`debian-arm64`) for a platform not the host's.
    pub repo: String,
    /// Runtime profile whose ports and cache root the image is built for.
    pub profile: String,
    /// For `install: local`: the host's sccache-dist [default: the one on PATH].
    pub sccache_dist: Option<PathBuf>,
    pub builder: BuilderChoice,
    /// Push the hash tag and the moving tag to the registry (registry repositories).
    pub push: bool,
    /// Pull the hash tag from the registry when it is there (registry repositories).
    pub pull: bool,
    /// For `install: release`: fetch the tarballs from this base URL instead of the
    /// profile's `release_base_url` (a build argument, so the hash covers it).
    pub release_mirror: Option<String>,
    /// Run the build's RUN steps on the host's network (`docker build --network
    /// host`), so they reach a mirror on the host's loopback. Not hashed: the
    /// network decides where bytes come from, the pinned sums what they are.
    pub build_network_host: bool,
}

/// What `image` did for one distro.
#[derive(Debug, Clone)]
pub struct ImageResult {
    pub distro: String,
    pub tag: String,
    pub hash_tag: String,
    pub hash: String,
    pub built: bool,
}

/// Everything about one distro's build, worked out before anything runs.
pub struct Plan {
    pub distro: String,
    pub context: BuildContext,
    pub build_args: BTreeMap<String, String>,
    pub platform: String,
    pub source_date_epoch: String,
    pub hash: String,
    pub tag: String,
    pub hash_tag: String,
    /// `docker build --network host` (see [`ImageRequest::build_network_host`]).
    pub build_network_host: bool,
}

/// The builder a build runs with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Builder {
    Legacy,
    /// `rewrite_timestamp`: BuildKit >= 0.13 clamps file times to SOURCE_DATE_EPOCH.
    BuildKit {
        rewrite_timestamp: bool,
    },
}

impl std::fmt::Display for Builder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Builder::Legacy => f.write_str("legacy"),
            Builder::BuildKit {
                rewrite_timestamp: true,
            } => f.write_str("BuildKit (rewrite-timestamp)"),
            Builder::BuildKit {
                rewrite_timestamp: false,
            } => f.write_str("BuildKit"),
        }
    }
}

impl Builder {
    /// What a real run would pick, worked out without running anything (dry runs):
    /// a buildx plugin is taken to be a recent one.
    pub fn assumed(choice: BuilderChoice) -> Builder {
        match choice {
            BuilderChoice::Legacy => Builder::Legacy,
            BuilderChoice::Buildkit => Builder::BuildKit {
                rewrite_timestamp: true,
            },
            BuilderChoice::Auto if docker::buildx_available() => Builder::BuildKit {
                rewrite_timestamp: true,
            },
            BuilderChoice::Auto => Builder::Legacy,
        }
    }

    /// Probes the docker CLI's buildx plugin (run when a build is due).
    pub fn probe(choice: BuilderChoice) -> anyhow::Result<Builder> {
        if choice == BuilderChoice::Legacy {
            return Ok(Builder::Legacy);
        }
        match docker::buildx_version() {
            Some(v) => Ok(Builder::BuildKit {
                rewrite_timestamp: v >= (0, 13),
            }),
            None if choice == BuilderChoice::Buildkit => {
                anyhow::bail!("--builder buildkit: `docker buildx version` does not work here")
            }
            None => Ok(Builder::Legacy),
        }
    }
}

impl Plan {
    /// The `docker build` arguments for a context written to `dir`.
    pub fn build_command(&self, dir: &Path, builder: Builder) -> Vec<String> {
        let mut args: Vec<String> = match builder {
            Builder::BuildKit { .. } => vec!["buildx".into(), "build".into()],
            Builder::Legacy => vec!["build".into(), "--force-rm".into()],
        };
        args.extend(["--platform".into(), self.platform.clone()]);
        for (k, v) in &self.build_args {
            args.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
        if self.build_network_host {
            args.extend(["--network".into(), "host".into()]);
        }
        if let Builder::BuildKit { rewrite_timestamp } = builder {
            args.extend([
                "--build-arg".into(),
                format!("SOURCE_DATE_EPOCH={}", self.source_date_epoch),
            ]);
            let output = if rewrite_timestamp {
                "type=docker,rewrite-timestamp=true"
            } else {
                "type=docker"
            };
            args.extend(["--output".into(), output.into()]);
        }
        args.extend([
            "--label".into(),
            format!("{HASH_LABEL}={}", self.hash),
            "--label".into(),
            format!("{DISTRO_LABEL}={}", self.distro),
            "--tag".into(),
            self.hash_tag.clone(),
            "--tag".into(),
            self.tag.clone(),
            dir.display().to_string(),
        ]);
        args
    }

    /// The query a no-op run makes (over the engine's API where it can): the
    /// image under this plan's hash tag, its hash label and its tags.
    pub fn lookup_command(&self) -> Vec<String> {
        vec![
            "image".into(),
            "inspect".into(),
            "--format".into(),
            format!("{{{{index .Config.Labels \"{HASH_LABEL}\"}}}}|{{{{join .RepoTags \",\"}}}}"),
            self.hash_tag.clone(),
        ]
    }

    /// The image already built from these inputs: its tags, or None. Decided by the
    /// hash label, never by an image ID.
    fn built_image_tags(&self) -> anyhow::Result<Option<Vec<String>>> {
        let (label, tags) = match crate::docker::api::image(&self.hash_tag, HASH_LABEL) {
            Some(None) => return Ok(None),
            Some(Some(info)) => (info.label, info.tags),
            None => {
                docker::engine()?;
                let lookup = self.lookup_command();
                let lookup: Vec<&str> = lookup.iter().map(String::as_str).collect();
                let Some(out) = docker::try_output(&lookup)? else {
                    return Ok(None);
                };
                let (label, tags) = out.split_once('|').unwrap_or((&out, ""));
                (
                    Some(label.to_owned()),
                    tags.split(',')
                        .filter(|t| !t.is_empty())
                        .map(str::to_owned)
                        .collect(),
                )
            }
        };
        Ok((label.as_deref() == Some(self.hash.as_str())).then_some(tags))
    }

    /// Writes the context into `dir`, modes included.
    pub fn write_context(&self, dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        for (rel, file) in &self.context {
            let path = dir.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match &file.data {
                Data::Bytes(bytes) => std::fs::write(&path, bytes).map(drop),
                Data::File(src) => std::fs::copy(src, &path).map(drop),
            }
            .with_context(|| format!("cannot write {}", path.display()))?;
            let mode = if file.executable { 0o755 } else { 0o644 };
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
        }
        Ok(())
    }
}

/// Resolves the distros a request names, listing the known ones if one is unknown.
fn select(root: &Path, req: &ImageRequest) -> anyhow::Result<Vec<Distro>> {
    let all = profile::all_distros(root)?;
    match &req.distros {
        Selection::All => Ok(all),
        Selection::Named(names) => names
            .iter()
            .map(|name| profile::pick(all.clone(), name))
            .collect(),
    }
}

fn check_args(args: &ImageRequest) -> anyhow::Result<()> {
    if args.repo.contains(['@'])
        || args
            .repo
            .rsplit('/')
            .next()
            .is_some_and(|last| last.contains(':'))
    {
        anyhow::bail!(
            "--repo {:?}: give a repository without a tag or digest",
            args.repo
        );
    }
    validate::image_any(&args.repo).map_err(|e| anyhow::anyhow!("--repo: {e}"))?;
    if let Some(url) = &args.release_mirror {
        validate::http_base_url(url).map_err(|e| anyhow::anyhow!("--release-mirror: {e}"))?;
    }
    if let Some(b) = &args.base_image {
        validate::image_any(b).map_err(|e| anyhow::anyhow!("--base-image: {e}"))?;
    }
    let ok_platform = args.platform.split('/').count() >= 2
        && args
            .platform
            .split('/')
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok_platform {
        anyhow::bail!(
            "--platform {:?} is not of the form os/arch[/variant]",
            args.platform
        );
    }
    Ok(())
}

/// Works out the context, build arguments and hash of one distro's image.
pub fn plan(root: &Path, d: &Distro, args: &ImageRequest) -> anyhow::Result<Plan> {
    d.check_platform(&args.platform)?;
    let profile = runtime_profile::load_named(root, &args.profile)?;
    let templates = Templates::load(root)?;
    let mut context: BuildContext = generated::context_files(&templates, d, &profile)?
        .into_iter()
        .map(|(rel, (text, executable))| {
            (
                rel,
                ContextFile {
                    data: Data::Bytes(text.into_bytes()),
                    executable,
                },
            )
        })
        .collect();
    if d.profile.install == Install::Local {
        let bin = host_binary(args)?;
        context.insert(
            "bin/sccache-dist".into(),
            ContextFile {
                data: Data::File(bin),
                executable: true,
            },
        );
    }
    let mut build_args = BTreeMap::new();
    if let Some(base) = &args.base_image {
        build_args.insert("BASE_IMAGE".to_owned(), base.clone());
    }
    if let (Install::Release, Some(url)) = (d.profile.install, &args.release_mirror) {
        build_args.insert("RELEASE_BASE_URL".to_owned(), url.clone());
    }
    let epoch = std::env::var("SOURCE_DATE_EPOCH").unwrap_or_else(|_| "0".into());
    if epoch.is_empty() || !epoch.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!("SOURCE_DATE_EPOCH={epoch:?} is not a number of seconds");
    }
    let hash = content_hash::hash(&HashInputs {
        context: &context,
        build_args: &build_args,
        platform: &args.platform,
        source_date_epoch: &epoch,
        tool_version: project::TOOL_VERSION,
    })?;
    let name = tag_name(&d.name, &args.platform);
    Ok(Plan {
        distro: d.name.clone(),
        tag: format!("{}:{name}", args.repo),
        hash_tag: format!("{}:{name}-{}", args.repo, &hash[..12]),
        context,
        build_args,
        platform: args.platform.clone(),
        source_date_epoch: epoch,
        hash,
        build_network_host: args.build_network_host,
    })
}

/// The tag's name part: the distro, and for a platform other than the host's its
/// architecture too (`debian-arm64`), so that image never takes the host image's tags.
fn tag_name(distro: &str, platform: &str) -> String {
    if platform == docker::host_platform() {
        return distro.to_owned();
    }
    let arch: Vec<&str> = platform.split('/').skip(1).collect();
    format!("{distro}-{}", arch.join("-"))
}

/// The host's sccache-dist for `install: local`.
fn host_binary(args: &ImageRequest) -> anyhow::Result<PathBuf> {
    let how = "install it with `cargo install sccache --locked --no-default-features --features dist-client,dist-server` or pass --sccache-dist PATH";
    match &args.sccache_dist {
        Some(p) if p.is_file() => Ok(p.clone()),
        Some(p) => anyhow::bail!(
            "install: local needs the host's sccache-dist, but {} is not a file; {how}",
            p.display()
        ),
        None => docker::which("sccache-dist").ok_or_else(|| {
            anyhow::anyhow!(
                "install: local needs the host's sccache-dist, and none is on PATH; {how}"
            )
        }),
    }
}

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
        let builder = Builder::assumed(args.builder);
        for d in &distros {
            let p = plan(root, d, args)?;
            println!("# {}: input hash {} ({builder:?} builder)", d.name, p.hash);
            println!("{}", docker::show(&p.lookup_command()));
            println!(
                "{}",
                docker::show(&p.build_command(Path::new("<context>"), builder))
            );
            for cmd in registry::dry_run_commands(&p, args) {
                println!("{}", docker::show(&cmd));
            }
        }
        return Ok(Vec::new());
    }
    let locks = state.lock_dir()?;
    distros
        .iter()
        .map(|d| build_one(root, &locks, d, args))
        .collect()
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
    let result = |built| ImageResult {
        distro: d.name.clone(),
        tag: plan.tag.clone(),
        hash_tag: plan.hash_tag.clone(),
        hash: plan.hash.clone(),
        built,
    };

    let registry = registry::for_request(args)?;
    if !args.force {
        let local = plan.built_image_tags()?;
        if let Some(host) = &registry {
            if registry::reuse(&plan, host, args, local.as_deref())? {
                return Ok(result(false));
            }
        }
        if let Some(tags) = local {
            if !tags.contains(&plan.tag) {
                docker::output(&["tag", &plan.hash_tag, &plan.tag])?;
                println!("{}: tagged {} again", d.name, plan.tag);
            }
            println!(
                "{}: {} is up to date (input hash {}), no build needed ({:.2}s)",
                d.name,
                plan.tag,
                &plan.hash[..12],
                started.elapsed().as_secs_f64()
            );
            registry::publish(&plan, registry.as_deref(), args)?;
            return Ok(result(false));
        }
    }

    docker::engine()?;
    let builder = Builder::probe(args.builder)?;
    let work = root.join("target/xtask");
    std::fs::create_dir_all(&work)?;
    let dir = tempfile::Builder::new()
        .prefix(&format!("context-{}-", d.name))
        .tempdir_in(&work)
        .context("cannot create a build context directory")?;
    plan.write_context(dir.path())?;
    println!(
        "{}: building {} (input hash {})",
        d.name,
        plan.hash_tag,
        &plan.hash[..12]
    );
    docker::run_logged(&plan.build_command(dir.path(), builder)).with_context(|| {
        format!(
            "building {} failed; the previous {} and its tags are untouched",
            plan.hash_tag, plan.tag
        )
    })?;
    let label = docker::output(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{HASH_LABEL}\"}}}}"),
        &plan.hash_tag,
    ])?;
    anyhow::ensure!(
        label == plan.hash,
        "{} was built but carries the hash label {label:?}",
        plan.hash_tag
    );
    println!(
        "{}: built {} and {} in {:.1}s",
        d.name,
        plan.tag,
        plan.hash_tag,
        started.elapsed().as_secs_f64()
    );
    registry::publish(&plan, registry.as_deref(), args)?;
    Ok(result(true))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_a_platform_that_is_not_the_hosts() {
        assert_eq!(tag_name("debian", &docker::host_platform()), "debian");
        assert_eq!(tag_name("debian", "linux/riscv64"), "debian-riscv64");
        assert_eq!(tag_name("debian", "linux/s390x/v9"), "debian-s390x-v9");
    }
}
