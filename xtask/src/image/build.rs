//! `cargo xtask image <distro>...`: renders a self-contained build context, hashes
//! everything that decides the image, and runs `docker build` only when no image
//! carrying that hash exists.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Context as _;

use super::{DISTRO_LABEL, HASH_LABEL};
use crate::docker;
use crate::image::builder;
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

pub use super::builder::{Builder, BuilderChoice};

/// Which distros a request is about.
#[derive(Clone, Debug)]
pub enum Selection {
    /// Every profile in distros/.
    All,
    /// These distros by name, in the order given; an unknown name is an error.
    Named(Vec<String>),
}

/// One `image` request, as the command line (or a benchmark, or `up`) makes it.
#[derive(Clone, Debug)]
pub struct ImageRequest {
    /// The distros to build.
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
    /// `--builder`: legacy, BuildKit, or auto (probe the engine).
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
    /// The distro's name (its file in distros/ without `.yaml`).
    pub distro: String,
    /// The moving tag, REPO:DISTRO, that always names the newest build.
    pub tag: String,
    /// The immutable tag REPO:DISTRO-HASH12: the same inputs always give the same tag.
    pub hash_tag: String,
    /// The full hex input hash, also stored as an image label.
    pub hash: String,
    /// False when an image with this hash already existed and nothing was built.
    pub built: bool,
}

/// Everything about one distro's build, worked out before anything runs.
pub struct Plan {
    /// The distro's name.
    pub distro: String,
    /// Every file `docker build` is given, rendered or copied, keyed by path.
    pub context: BuildContext,
    /// `--build-arg`s (base image, release mirror); hashed, since they change the image.
    pub build_args: BTreeMap<String, String>,
    /// Target platform, passed to docker and hashed.
    pub platform: String,
    /// SOURCE_DATE_EPOCH (default 0), checked to be a number of seconds.
    pub source_date_epoch: String,
    /// Hex sha256 of the context, build args, platform, epoch and tool version.
    pub hash: String,
    /// The moving tag, REPO:DISTRO.
    pub tag: String,
    /// REPO:DISTRO-HASH12, the tag looked up to skip a build whose inputs are unchanged.
    pub hash_tag: String,
    /// `docker build --network host` (see [`ImageRequest::build_network_host`]).
    pub build_network_host: bool,
}

/// Where a build's image goes.
#[derive(Clone, Copy, Debug)]
pub enum Output<'a> {
    /// Loaded into the engine's image store (classic or containerd), under the
    /// plan's tags. No rewrite-timestamp: the containerd store refuses it
    /// ("conflicts with unpack") and the classic store ignores it.
    Store,
    /// An OCI tarball at this path with file times clamped to SOURCE_DATE_EPOCH
    /// (BuildKit >= 0.13); nothing is loaded.
    OciFile(&'a Path),
    /// Loaded under this one tag only (legacy builds that `verify-repro` compares).
    Tag(&'a str),
}

/// How one `docker build` runs.
#[derive(Clone, Copy, Debug)]
pub struct BuildSpec<'a> {
    /// Which docker front end runs the build.
    pub builder: Builder,
    /// Where the built image goes.
    pub output: Output<'a>,
    /// `--no-cache`: every step runs again.
    pub no_cache: bool,
}

impl Plan {
    /// What `image` reports for this plan.
    pub fn result(&self, built: bool) -> ImageResult {
        ImageResult {
            distro: self.distro.clone(),
            tag: self.tag.clone(),
            hash_tag: self.hash_tag.clone(),
            hash: self.hash.clone(),
            built,
        }
    }

    /// The `docker build` arguments that load the image of a context written to
    /// `dir` into the image store (the environment is `builder.env()`).
    pub fn build_command(&self, dir: &Path, builder: Builder) -> Vec<String> {
        self.build_command_with(
            dir,
            BuildSpec {
                builder,
                output: Output::Store,
                no_cache: false,
            },
        )
    }

    /// The `docker build` arguments of `spec` for a context written to `dir`.
    pub fn build_command_with(&self, dir: &Path, spec: BuildSpec) -> Vec<String> {
        let mut args = builder_words(spec.builder);
        if spec.no_cache {
            args.push("--no-cache".into());
        }
        args.extend(["--platform".into(), self.platform.clone()]);
        args.extend(self.arg_words(spec.builder));
        args.extend(self.network_words());
        args.extend(output_words(spec.builder, spec.output));
        args.extend(self.label_words());
        args.extend(self.tag_words(spec.output));
        args.push(dir.display().to_string());
        args
    }

    /// `--network host` when the build must reach the host's loopback (a release
    /// mirror on 127.0.0.1).
    fn network_words(&self) -> Vec<String> {
        if self.build_network_host {
            vec!["--network".into(), "host".into()]
        } else {
            Vec::new()
        }
    }

    /// `--build-arg`s: the plan's, and SOURCE_DATE_EPOCH for BuildKit (the legacy
    /// builder does not use it).
    fn arg_words(&self, builder: Builder) -> Vec<String> {
        let mut args = Vec::new();
        for (k, v) in &self.build_args {
            args.extend(["--build-arg".into(), format!("{k}={v}")]);
        }
        if let Builder::BuildKit { .. } = builder {
            args.extend([
                "--build-arg".into(),
                format!("SOURCE_DATE_EPOCH={}", self.source_date_epoch),
            ]);
        }
        args
    }

    /// The hash and distro labels.
    fn label_words(&self) -> Vec<String> {
        vec![
            "--label".into(),
            format!("{HASH_LABEL}={}", self.hash),
            "--label".into(),
            format!("{DISTRO_LABEL}={}", self.distro),
        ]
    }

    /// The tags an output gets: the hash tag and the distro tag in the store.
    fn tag_words(&self, output: Output) -> Vec<String> {
        match output {
            Output::Store => vec![
                "--tag".into(),
                self.hash_tag.clone(),
                "--tag".into(),
                self.tag.clone(),
            ],
            Output::Tag(tag) => vec!["--tag".into(), tag.to_owned()],
            Output::OciFile(_) => Vec::new(),
        }
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

/// `docker buildx build`, or the legacy `docker build` (which removes the
/// intermediate containers of a failed build too).
fn builder_words(builder: Builder) -> Vec<String> {
    match builder {
        Builder::BuildKit { .. } => vec!["buildx".into(), "build".into()],
        Builder::Legacy => vec!["build".into(), "--force-rm".into()],
    }
}

/// The `--output` of BuildKit builds; the legacy builder always loads.
fn output_words(builder: Builder, output: Output) -> Vec<String> {
    let value = match (builder, output) {
        (Builder::Legacy, _) => return Vec::new(),
        (_, Output::Store | Output::Tag(_)) => "type=docker".to_owned(),
        (_, Output::OciFile(dest)) => {
            format!("type=oci,dest={},rewrite-timestamp=true", dest.display())
        }
    };
    vec!["--output".into(), value]
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

/// Checks the repository, base image and platform of a request.
pub fn check_args(args: &ImageRequest) -> anyhow::Result<()> {
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
        println!("{}", docker::show(&p.lookup_command()));
        let build = p.build_command(Path::new("<context>"), picked.builder);
        println!("{}", docker::show_with_env(picked.builder.env(), &build));
        for cmd in registry::dry_run_commands(&p, args) {
            println!("{}", docker::show(&cmd));
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
    docker_build(root, &plan, args.builder)?;
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
        docker::output(&["tag", &plan.hash_tag, &plan.tag])?;
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

/// Picks the builder (saying which and why), writes the context and runs the
/// build, then checks the new image carries the plan's hash.
fn docker_build(root: &Path, plan: &Plan, choice: BuilderChoice) -> anyhow::Result<()> {
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
    let build = plan.build_command(dir.path(), picked.builder);
    docker::run_logged_with_env(picked.builder.env(), &build).with_context(|| {
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
    Ok(())
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
