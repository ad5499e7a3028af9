//! An image's plan: its build context, build arguments, content hash and tags,
//! worked out before anything runs, and the `docker build` line made from it step
//! by step.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use super::builder::Builder;
use super::epoch::{self, Epoch};
use super::hash::{self as content_hash, BuildContext, ContextFile, Data, HashInputs};
use super::request::{ImageRequest, ImageResult};
use super::{DISTRO_LABEL, HASH_LABEL, VERSION_LABEL};
use crate::base::project;
use crate::docker::{self, DockerCommand};
use crate::profile::distro::{Distro, Install};
use crate::profile::runtime as runtime_profile;
use crate::render::generated;
use crate::render::Templates;

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
    /// SOURCE_DATE_EPOCH: the environment's, else the newest input's commit time
    /// (see [`epoch`]).
    pub source_date_epoch: Epoch,
    /// Hex sha256 of the context, build args, platform, epoch and tool version.
    pub hash: String,
    /// The moving tag, REPO:DISTRO.
    pub tag: String,
    /// REPO:DISTRO-HASH12, the tag looked up to skip a build whose inputs are unchanged.
    pub hash_tag: String,
    /// `docker build --network host` (see [`ImageRequest::build_network_host`]).
    pub build_network_host: bool,
    /// The sccache-dist version the image will serve, when known before the build
    /// (a pinned version, or the host binary's); labelled [`VERSION_LABEL`].
    pub sccache_dist_version: Option<String>,
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

    /// The `docker build` that loads the image of a context written to `dir` into
    /// the image store, with the builder's environment.
    pub fn build_command(&self, dir: &Path, builder: Builder) -> DockerCommand {
        self.build_command_with(
            dir,
            BuildSpec {
                builder,
                output: Output::Store,
                no_cache: false,
            },
        )
    }

    /// The `docker build` of `spec` for a context written to `dir`, with the
    /// builder's environment.
    pub fn build_command_with(&self, dir: &Path, spec: BuildSpec) -> DockerCommand {
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
        DockerCommand::new(args).envs(spec.builder.env())
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
                format!("SOURCE_DATE_EPOCH={}", self.source_date_epoch.seconds),
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
        .into_iter()
        .chain(
            self.sccache_dist_version
                .iter()
                .flat_map(|v| ["--label".into(), format!("{VERSION_LABEL}={v}")]),
        )
        .collect()
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
    pub fn lookup_command(&self) -> DockerCommand {
        let format = format!(
            "{}|{{{{join .RepoTags \",\"}}}}",
            docker::label_format(HASH_LABEL)
        );
        docker::objects::image_inspect(&self.hash_tag, &format)
    }

    /// The image already built from these inputs: its tags, or None. Decided by the
    /// hash label, never by an image ID.
    pub(super) fn built_image_tags(&self) -> anyhow::Result<Option<Vec<String>>> {
        let (label, tags) = match crate::docker::api::image(&self.hash_tag, HASH_LABEL) {
            Some(None) => return Ok(None),
            Some(Some(info)) => (info.label, info.tags),
            None => {
                docker::engine()?;
                let Some(out) = self.lookup_command().try_output()? else {
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
    let mut sccache_dist_version = match d.profile.install {
        Install::Cargo | Install::Release => d.profile.sccache_version.clone(),
        Install::Local | Install::Package => None,
    };
    if d.profile.install == Install::Local {
        let bin = host_binary(args)?;
        sccache_dist_version = Some(binary_version(&bin)?);
        context.insert(
            "bin/sccache-dist".into(),
            ContextFile {
                data: Data::File(bin),
                executable: true,
            },
        );
    }
    context.insert(
        super::exporter::CONTEXT_PATH.into(),
        ContextFile {
            data: Data::File(super::exporter::build(&args.platform)?),
            executable: true,
        },
    );
    let mut build_args = BTreeMap::new();
    if let Some(base) = &args.base_image {
        build_args.insert("BASE_IMAGE".to_owned(), base.clone());
    }
    if let (Install::Release, Some(url)) = (d.profile.install, &args.release_mirror) {
        build_args.insert("RELEASE_BASE_URL".to_owned(), url.clone());
    }
    let mut inputs = epoch::COMMON_INPUTS.to_vec();
    inputs.extend([d.file.as_str(), profile.file.as_str()]);
    let epoch = epoch::choose(std::env::var("SOURCE_DATE_EPOCH").ok(), root, &inputs)?;
    let hash = content_hash::hash(&HashInputs {
        context: &context,
        build_args: &build_args,
        platform: &args.platform,
        source_date_epoch: epoch.hashed(),
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
        sccache_dist_version,
    })
}

/// What `BINARY --version` says, as `MAJOR.MINOR.PATCH`.
fn binary_version(bin: &Path) -> anyhow::Result<String> {
    let out = duct::cmd(bin, ["--version"])
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .with_context(|| format!("cannot run {} --version", bin.display()))?;
    let text = String::from_utf8_lossy(&out.stdout);
    crate::sccache::versions::Version::parse(&text)
        .map(|v| v.to_string())
        .with_context(|| {
            format!(
                "{} --version printed no version ({:?}): is it sccache-dist?",
                bin.display(),
                text.trim()
            )
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
