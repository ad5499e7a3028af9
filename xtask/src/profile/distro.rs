//! Distro profiles (`distros/<name>.yaml`): which base image, which packages, and how
//! `sccache-dist` gets into the image. Adding a distro is adding one of these files.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::profile::family::Family;
use crate::profile::source::{self, ProfileError, Source};
use crate::profile::strict;
use crate::profile::validate;

/// How `sccache-dist` gets into the image.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Install {
    /// The distro's own package (Arch's `sccache` ships `sccache-dist`).
    Package,
    /// The upstream static musl tarball of a pinned version, its sha256 checked.
    Release,
    /// A builder stage compiling a pinned version with `--features dist-server`.
    Cargo,
    /// Binaries handed in from the host at build time (air-gapped builds).
    Local,
}

impl Install {
    pub fn as_str(self) -> &'static str {
        match self {
            Install::Package => "package",
            Install::Release => "release",
            Install::Cargo => "cargo",
            Install::Local => "local",
        }
    }
}

/// One distro profile, exactly as written in its YAML file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistroProfile {
    /// Base image, `name:tag`.
    #[serde(deserialize_with = "strict::string")]
    pub base_image: String,
    /// Optional pinned digest of the base image, `sha256:...`.
    #[serde(default, deserialize_with = "strict::opt_string")]
    pub base_digest: Option<String>,
    /// Package-manager family.
    pub family: Family,
    /// Runtime packages: bubblewrap, tini, CA certificates, bash, the TLS library.
    #[serde(deserialize_with = "strict::strings")]
    pub packages: Vec<String>,
    /// How `sccache-dist` gets into the image.
    pub install: Install,
    /// For `install: package`: the package that ships `sccache-dist`.
    #[serde(default, deserialize_with = "strict::opt_string")]
    pub sccache_package: Option<String>,
    /// For `release` and `cargo`: the pinned sccache version.
    #[serde(default, deserialize_with = "strict::opt_string")]
    pub sccache_version: Option<String>,
    /// For `release`: sha256 of the upstream tarball per machine (`x86_64`, `aarch64`).
    #[serde(default, deserialize_with = "strict::opt_string_map")]
    pub release_sha256: Option<BTreeMap<String, String>>,
    /// For `cargo`: the Rust image of the builder stage, `name:tag`.
    #[serde(default, deserialize_with = "strict::opt_string")]
    pub rust_image: Option<String>,
    /// For distros that do not package tini (Arch): a Debian-family image, `name:tag`,
    /// whose static tini (`tini-static`) is copied into the runtime image.
    #[serde(default, deserialize_with = "strict::opt_string")]
    pub tini_static_image: Option<String>,
}

const FIELDS: &[&str] = &[
    "base_image",
    "base_digest",
    "family",
    "packages",
    "install",
    "sccache_package",
    "sccache_version",
    "release_sha256",
    "rust_image",
    "tini_static_image",
];

/// The machines upstream publishes `sccache-dist` release tarballs for.
pub const RELEASE_MACHINES: &[&str] = &["x86_64", "aarch64"];

/// Packages every image needs at run time: the entrypoint is bash, the overlay
/// builder runs bubblewrap, and tini is PID 1 (unless `tini_static_image` brings it).
const REQUIRED_PACKAGES: &[&str] = &["bash", "bubblewrap", "ca-certificates"];

/// A validated distro profile with its name (the file stem).
#[derive(Debug, Clone)]
pub struct Distro {
    pub name: String,
    pub file: String,
    pub profile: DistroProfile,
}

impl Distro {
    pub fn load(path: &Path, root: &Path) -> anyhow::Result<Distro> {
        let src = Source::read(path, root)?;
        Ok(Self::from_source(&src)?)
    }

    pub fn from_source(src: &Source) -> Result<Distro, ProfileError> {
        let name = src.name()?;
        let profile: DistroProfile = source::parse(src, FIELDS)?;
        profile.validate(src)?;
        Ok(Distro {
            name,
            file: src.display.clone(),
            profile,
        })
    }

    /// The base image reference, digest included when pinned.
    pub fn base_ref(&self) -> String {
        match &self.profile.base_digest {
            Some(d) => format!("{}@{}", self.profile.base_image, d),
            None => self.profile.base_image.clone(),
        }
    }
}

impl DistroProfile {
    fn validate(&self, src: &Source) -> Result<(), ProfileError> {
        let at = |field: &str, msg: String| src.error(src.line_of(field), field, msg);
        validate::image_tagged(&self.base_image).map_err(|m| at("base_image", m))?;
        if let Some(d) = &self.base_digest {
            validate::digest(d).map_err(|m| at("base_digest", m))?;
        }
        if self.packages.is_empty() {
            return Err(at("packages", "the list is empty".into()));
        }
        for (i, p) in self.packages.iter().enumerate() {
            validate::package_name(p).map_err(|m| {
                src.error(
                    src.line_of_item("packages", i),
                    &format!("packages[{i}]"),
                    m,
                )
            })?;
        }
        for (i, p) in self.packages.iter().enumerate() {
            if self.packages[..i].contains(p) {
                return Err(src.error(
                    src.line_of_item("packages", i),
                    &format!("packages[{i}]"),
                    format!("{p:?} is listed twice"),
                ));
            }
        }
        if let Some(missing) = REQUIRED_PACKAGES
            .iter()
            .find(|r| !self.packages.iter().any(|p| p == *r))
        {
            return Err(at(
                "packages",
                format!(
                    "{missing:?} is missing: every image needs {}",
                    REQUIRED_PACKAGES.join(", ")
                ),
            ));
        }
        let has_tini = self.packages.iter().any(|p| p == "tini");
        match &self.tini_static_image {
            None if !has_tini => {
                return Err(at(
                    "packages",
                    "\"tini\" is missing: it runs as PID 1 (where the distro does not package it, set tini_static_image)".into(),
                ))
            }
            Some(_) if has_tini => {
                return Err(at("tini_static_image", "tini is in packages already; remove one of the two".into()))
            }
            Some(img) => validate::image_tagged(img).map_err(|m| at("tini_static_image", m))?,
            None => {}
        }

        // Each install method takes its own fields and no others, so a profile never
        // carries a pin that silently does nothing.
        let method = self.install.as_str();
        let given = [
            ("sccache_package", self.sccache_package.is_some()),
            ("sccache_version", self.sccache_version.is_some()),
            ("release_sha256", self.release_sha256.is_some()),
            ("rust_image", self.rust_image.is_some()),
        ];
        let wanted: &[&str] = match self.install {
            Install::Package => &["sccache_package"],
            Install::Release => &["sccache_version", "release_sha256"],
            Install::Cargo => &["sccache_version", "rust_image"],
            Install::Local => &[],
        };
        for (field, present) in given {
            if present && !wanted.contains(&field) {
                return Err(at(
                    field,
                    format!("not used by `install: {method}`; remove it"),
                ));
            }
            if !present && wanted.contains(&field) {
                return Err(src.error(
                    src.line_of("install"),
                    field,
                    format!("required by `install: {method}`"),
                ));
            }
        }
        if let Some(p) = &self.sccache_package {
            validate::package_name(p).map_err(|m| at("sccache_package", m))?;
        }
        if let Some(v) = &self.sccache_version {
            validate::version(v).map_err(|m| at("sccache_version", m))?;
        }
        if let Some(img) = &self.rust_image {
            validate::image_tagged(img).map_err(|m| at("rust_image", m))?;
        }
        // A mapping with a repeated key keeps the last value without a word.
        if let Some((child, line)) = src.duplicate_child("release_sha256") {
            return Err(src.error(
                Some(line),
                &format!("release_sha256.{child}"),
                "given twice",
            ));
        }
        if let Some(sums) = &self.release_sha256 {
            for (machine, sum) in sums {
                let line = src.line_of_child("release_sha256", machine);
                let field = format!("release_sha256.{machine}");
                if !RELEASE_MACHINES.contains(&machine.as_str()) {
                    return Err(src.error(
                        line,
                        &field,
                        format!(
                            "unknown machine; upstream publishes {}",
                            RELEASE_MACHINES.join(", ")
                        ),
                    ));
                }
                validate::sha256_hex(sum).map_err(|m| src.error(line, &field, m))?;
            }
            if sums.is_empty() {
                return Err(at("release_sha256", "no sums given".into()));
            }
        }
        Ok(())
    }
}

/// Every distro profile under `dir`, sorted by name; the first bad one is an error.
pub fn load_all(dir: &Path, root: &Path) -> anyhow::Result<Vec<Distro>> {
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    let mut distros = paths
        .iter()
        .map(|p| Distro::load(p, root))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // By name, not by file name: "arch-pkg.yaml" sorts before "arch.yaml".
    distros.sort_by(|a, b| a.name.cmp(&b.name));
    for w in distros.windows(2) {
        if w[0].name == w[1].name {
            anyhow::bail!("{} and {} name the same distro", w[0].file, w[1].file);
        }
    }
    if distros.is_empty() {
        anyhow::bail!("no distro profiles (*.yaml) in {}", dir.display());
    }
    Ok(distros)
}
