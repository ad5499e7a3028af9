//! `image` and `remove-image`.

use std::path::PathBuf;

use clap::ValueEnum;

use super::Env;
use crate::image::build::{self, BuilderChoice, ImageRequest, Selection};
use crate::image::remove;
use crate::profile::DEFAULT_PROFILE;

/// The default image repository; tags are REPO:DISTRO and REPO:DISTRO-HASH12.
pub const DEFAULT_REPO: &str = "sccache-dist";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BuilderArg {
    /// BuildKit when `docker buildx` works, else the legacy builder (said which).
    Auto,
    Buildkit,
    Legacy,
}

impl From<BuilderArg> for BuilderChoice {
    fn from(b: BuilderArg) -> Self {
        match b {
            BuilderArg::Auto => BuilderChoice::Auto,
            BuilderArg::Buildkit => BuilderChoice::Buildkit,
            BuilderArg::Legacy => BuilderChoice::Legacy,
        }
    }
}

/// The network a build's RUN steps use.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum BuildNetworkArg {
    /// The engine's default (a bridge network).
    Default,
    /// The host's network: RUN steps reach servers on the host's loopback (a
    /// release mirror on 127.0.0.1), which a bridge network cannot.
    Host,
}

/// The flags that say how an image is built, shared by `image`, `up` and `bench image`.
#[derive(clap::Args, Clone, Debug)]
pub struct BuildFlags {
    /// Build even when an image with the same input hash exists.
    #[arg(long)]
    pub force: bool,
    /// Build on this base image instead of the profile's (a mirror, a local image).
    #[arg(long, value_name = "REF")]
    pub base_image: Option<String>,
    /// Target platform, always passed to docker.
    #[arg(long, default_value_t = crate::docker::host_platform())]
    pub platform: String,
    /// For `install: local`: the host's sccache-dist binary [default: the one on PATH].
    #[arg(long, value_name = "PATH", env = "SCCACHE_DIST_BIN")]
    pub sccache_dist: Option<PathBuf>,
    /// Which builder to use.
    #[arg(long, value_enum, default_value = "auto")]
    pub builder: BuilderArg,
    /// For `install: release`: fetch the tarballs from this base URL (laid out as
    /// upstream's: BASE/vVER/sccache-dist-vVER-MACHINE-unknown-linux-musl.tar.gz)
    /// instead of the profile's `release_base_url`.
    #[arg(long, value_name = "URL")]
    pub release_mirror: Option<String>,
    /// The network of the build's RUN steps; `host` to reach a mirror on this
    /// host's loopback.
    #[arg(long, value_enum, default_value = "default")]
    pub build_network: BuildNetworkArg,
}

impl BuildFlags {
    /// The same flags as a command line, for timing `image` as a whole process.
    pub fn to_args(&self) -> Vec<String> {
        let mut v = vec!["--platform".to_owned(), self.platform.clone()];
        if self.force {
            v.push("--force".into());
        }
        if let Some(b) = &self.base_image {
            v.extend(["--base-image".into(), b.clone()]);
        }
        if let Some(p) = &self.sccache_dist {
            v.extend(["--sccache-dist".into(), p.display().to_string()]);
        }
        let builder = self
            .builder
            .to_possible_value()
            .expect("no skipped variants");
        v.extend(["--builder".into(), builder.get_name().to_owned()]);
        if let Some(url) = &self.release_mirror {
            v.extend(["--release-mirror".into(), url.clone()]);
        }
        if let BuildNetworkArg::Host = self.build_network {
            v.extend(["--build-network".into(), "host".into()]);
        }
        v
    }

    /// The typed request for `distros` in `repo`, built for runtime profile `profile`.
    pub fn request(
        &self,
        distros: Selection,
        dry_run: bool,
        repo: &str,
        profile: &str,
    ) -> ImageRequest {
        ImageRequest {
            distros,
            force: self.force,
            dry_run,
            base_image: self.base_image.clone(),
            platform: self.platform.clone(),
            repo: repo.to_owned(),
            profile: profile.to_owned(),
            sccache_dist: self.sccache_dist.clone(),
            builder: self.builder.into(),
            push: false,
            pull: false,
            release_mirror: self.release_mirror.clone(),
            build_network_host: matches!(self.build_network, BuildNetworkArg::Host),
        }
    }
}

/// Build the image of one or more distros; skipped when nothing that goes into it
/// changed.
#[derive(clap::Args)]
pub struct Image {
    /// Distros to build: names of files in distros/ (without .yaml).
    #[arg(required_unless_present = "all")]
    distros: Vec<String>,
    /// Build every distro in distros/.
    #[arg(long, conflicts_with = "distros")]
    all: bool,
    /// Print the input hash and the docker commands without running any.
    #[arg(long)]
    dry_run: bool,
    /// Image repository; tags are REPO:DISTRO and REPO:DISTRO-HASH12. A registry
    /// repository (e.g. 127.0.0.1:5000/sccache-dist) is looked up in its registry
    /// first, with the credentials `docker login` stored.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
    repo: String,
    /// Runtime profile whose ports and cache root the image is built for.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    profile: String,
    /// Push REPO:DISTRO-HASH12 and REPO:DISTRO to the registry of a registry
    /// repository (first path component a host with a dot or a port, or localhost).
    #[arg(long)]
    push: bool,
    /// When the registry already has the hash tag, pull it and tag it locally as
    /// REPO:DISTRO too (without it, the build is skipped and nothing is pulled).
    #[arg(long)]
    pull: bool,
    #[command(flatten)]
    build: BuildFlags,
}

impl Image {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        let selection = if self.all {
            Selection::All
        } else {
            Selection::Named(self.distros)
        };
        let mut req = self
            .build
            .request(selection, self.dry_run, &self.repo, &self.profile);
        req.push = self.push;
        req.pull = self.pull;
        build::run(&env.root, &env.state, &req).map(drop)
    }
}

/// Remove the images of one distro, or of all distros.
#[derive(clap::Args)]
pub struct RemoveImage {
    /// The distro whose images (every tag) to remove.
    #[arg(required_unless_present = "all")]
    distro: Option<String>,
    /// Remove the images of every distro.
    #[arg(long, conflicts_with = "distro")]
    all: bool,
    /// Image repository.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
    repo: String,
}

impl RemoveImage {
    pub fn run(self, env: &Env) -> anyhow::Result<()> {
        remove::remove_images(&env.root, self.distro.as_deref(), &self.repo)
    }
}
