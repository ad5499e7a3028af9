//! One `image` request as the command line (or `up`, a benchmark, `verify-repro`)
//! makes it, what it reports, and the checks and look-ups it needs before a plan.

use std::path::{Path, PathBuf};

use super::builder::BuilderChoice;
use crate::profile::distro::Distro;
use crate::profile::{self, validate};

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

/// Resolves the distros a request names, listing the known ones if one is unknown.
pub(super) fn select(root: &Path, req: &ImageRequest) -> anyhow::Result<Vec<Distro>> {
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
