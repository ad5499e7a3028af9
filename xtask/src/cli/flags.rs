//! The flags several commands share (how an image is built, where a cluster runs,
//! which repository and runtime profile), each turned into the domain's typed
//! request here, so no command module needs another's.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use clap::ValueEnum;

use crate::cluster::StartRequest;
use crate::image::builder::BuilderChoice;
use crate::image::request::{ImageRequest, Selection};
use crate::profile::runtime::NetworkMode;
use crate::profile::DEFAULT_PROFILE;

/// The image repository and the runtime profile a command works with.
#[derive(clap::Args, Clone, Debug)]
pub struct Target {
    /// Image repository; tags are REPO:DISTRO and REPO:DISTRO-HASH12. A registry
    /// repository (e.g. 127.0.0.1:5000/sccache-dist: its first component a host
    /// with a dot or a port, or localhost) is looked up in its registry first, with
    /// the credentials `docker login` stored.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = DEFAULT_REPO)]
    pub repo: String,
    /// Runtime profile from profiles/ (without .yaml): ports, auth, cache root.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    pub profile: String,
}

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
    pub fn request(&self, distros: Selection, dry_run: bool, target: &Target) -> ImageRequest {
        ImageRequest {
            distros,
            force: self.force,
            dry_run,
            base_image: self.base_image.clone(),
            platform: self.platform.clone(),
            repo: target.repo.clone(),
            profile: target.profile.clone(),
            sccache_dist: self.sccache_dist.clone(),
            builder: self.builder.into(),
            push: false,
            pull: false,
            release_mirror: self.release_mirror.clone(),
            build_network_host: matches!(self.build_network, BuildNetworkArg::Host),
        }
    }
}

/// The default container name (it also names the volume and bridge network).
pub const DEFAULT_NAME: &str = "sccache-dist";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum NetworkArg {
    Host,
    Bridge,
}

/// Where and how the cluster runs: shared by `start` and `up`.
#[derive(clap::Args, Clone, Debug)]
pub struct ClusterFlags {
    /// Keep the cache root in this host directory instead of a named volume.
    #[arg(long, value_name = "PATH")]
    pub cache_dir: Option<PathBuf>,
    /// Override the profile's network mode.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Host network: the IP clients and the scheduler reach the build server at
    /// [default: the host's address on its default route].
    #[arg(long, value_name = "IP")]
    pub advertise: Option<Ipv4Addr>,
    /// Container name (also names its volume and bridge network).
    #[arg(long, env = "SCCACHE_DOCKER_CONTAINER", default_value = DEFAULT_NAME)]
    pub name: String,
    /// Seconds to wait for the build servers to register.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
    /// Build servers, each in a container of its own beside a scheduler container
    /// [default: 1, in the scheduler's container]. On a running cluster: add or
    /// remove servers without restarting the scheduler.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=32))]
    pub builders: Option<u16>,
    /// Plain HTTP to the scheduler, without its TLS front: the client token and
    /// the servers' credentials then cross the network in clear. Only for a
    /// network where every host is trusted; warned about on every start.
    #[arg(long)]
    pub plain_http: bool,
    /// Another name (DNS name or IP) the scheduler's certificate covers, besides
    /// the advertised address; repeatable.
    #[arg(long = "tls-name", value_name = "NAME")]
    pub tls_names: Vec<String>,
    /// Your own certificate (PEM chain, the leaf first) for the TLS front instead
    /// of one from the cluster's CA (a corporate CA, ACME): clients then trust it
    /// through their system store. Needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "plain_http"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM; mode 0600 recommended).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// With --tls-cert: the CA that signed it, for the build servers, when their
    /// image's system store does not trust it.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_ca: Option<PathBuf>,
}

impl ClusterFlags {
    /// The typed request to start `distro` from `repo` with runtime profile `profile`.
    pub fn request(&self, distro: &str, target: &Target) -> StartRequest {
        StartRequest {
            distro: distro.to_owned(),
            profile: target.profile.clone(),
            cache_dir: self.cache_dir.clone(),
            network: self.network.map(|n| match n {
                NetworkArg::Host => NetworkMode::Host,
                NetworkArg::Bridge => NetworkMode::Bridge,
            }),
            advertise: self.advertise,
            name: self.name.clone(),
            repo: target.repo.clone(),
            timeout: Duration::from_secs(self.timeout),
            log_level: None,
            builders: self.builders.map(usize::from),
            plain_http: self.plain_http,
            tls_names: self.tls_names.clone(),
            own_cert: self
                .tls_cert
                .as_ref()
                .map(|cert| crate::model::cluster::OwnCert {
                    cert: cert.clone(),
                    key: self.tls_key.clone().unwrap_or_default(),
                    ca: self.tls_ca.clone(),
                }),
        }
    }
}
