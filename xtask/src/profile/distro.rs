//! Distro profiles (`distros/<name>.yaml`): which base image, which packages, and how
//! `sccache-dist` gets into the image. Adding a distro is adding one of these files.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde::Deserialize;

use crate::profile::family::Family;
use crate::profile::files;
use crate::profile::source::{self, Located, ProfileError, Source};
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
    /// The method's name as a profile spells it.
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
    /// For `release`: where the tarballs are, `<base>/v<ver>/<tarball>` as upstream lays
    /// them out [default: [`UPSTREAM_RELEASE_URL`]]; `image --release-mirror` overrides it.
    #[serde(default, deserialize_with = "strict::opt_string")]
    pub release_base_url: Option<String>,
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
    "release_base_url",
    "rust_image",
    "tini_static_image",
];

/// Where upstream publishes its release tarballs: the default `release_base_url`.
pub const UPSTREAM_RELEASE_URL: &str = "https://github.com/mozilla/sccache/releases/download";

/// The machines upstream publishes `sccache-dist` release tarballs for.
pub const RELEASE_MACHINES: &[&str] = &["x86_64", "aarch64"];

/// Packages every image needs at run time: the entrypoint is bash, the overlay
/// builder runs bubblewrap, and tini is PID 1 (unless `tini_static_image` brings it).
const REQUIRED_PACKAGES: &[&str] = &["bash", "bubblewrap", "ca-certificates"];

/// A validated distro profile with its name (the file stem).
#[derive(Debug, Clone)]
pub struct Distro {
    /// The distro's name: the file name without `.yaml`.
    pub name: String,
    /// The file as shown to the user.
    pub file: String,
    /// The profile's fields.
    pub profile: DistroProfile,
    /// The line of each top-level field given, for errors found after loading.
    lines: BTreeMap<String, usize>,
}

impl Distro {
    /// Reads and validates the distro profile at `path`.
    pub fn load(path: &Path, root: &Path) -> anyhow::Result<Distro> {
        let src = Source::read(path, root)?;
        Ok(Self::from_source(&src)?)
    }

    /// Validates a distro profile already read (or handed in as text by a test).
    pub fn from_source(src: &Source) -> Result<Distro, ProfileError> {
        let name = src.name()?;
        let (profile, at): (DistroProfile, _) = source::parse(src, FIELDS)?;
        profile.validate(&at)?;
        let lines = FIELDS
            .iter()
            .filter_map(|f| Some((f.to_string(), at.line(f)?)))
            .collect();
        Ok(Distro {
            name,
            file: src.display.clone(),
            profile,
            lines,
        })
    }

    /// The base image reference, digest included when pinned.
    pub fn base_ref(&self) -> String {
        match &self.profile.base_digest {
            Some(d) => format!("{}@{}", self.profile.base_image, d),
            None => self.profile.base_image.clone(),
        }
    }

    /// Whether this profile can be built for `platform` (`os/arch[/variant]`): an
    /// `install: release` image needs a pinned sum for that machine.
    pub fn check_platform(&self, platform: &str) -> Result<(), ProfileError> {
        let Some(sums) = &self.profile.release_sha256 else {
            return Ok(());
        };
        let arch = platform.split('/').nth(1).unwrap_or_default();
        let machine = match arch {
            "amd64" => "x86_64",
            "arm64" => "aarch64",
            _ => "",
        };
        if sums.contains_key(machine) {
            return Ok(());
        }
        let message = if machine.is_empty() {
            format!(
                "--platform {platform}: upstream publishes release tarballs for {} only",
                RELEASE_MACHINES.join(", ")
            )
        } else {
            format!("--platform {platform}: no pinned sum for {machine}; add `{machine}: <sha256 of the tarball>`")
        };
        Err(ProfileError::new(
            self.file.clone(),
            self.lines.get("release_sha256").copied().unwrap_or(1),
            "release_sha256",
            message,
        ))
    }
}

impl DistroProfile {
    /// The base URL release tarballs are fetched from: the profile's, else upstream's.
    pub fn release_base_url(&self) -> &str {
        self.release_base_url
            .as_deref()
            .unwrap_or(UPSTREAM_RELEASE_URL)
    }

    fn validate(&self, at: &Located) -> Result<(), ProfileError> {
        validate::image_tagged(&self.base_image).map_err(|m| at.error("base_image", m))?;
        if let Some(d) = &self.base_digest {
            validate::digest(d).map_err(|m| at.error("base_digest", m))?;
        }
        self.validate_packages(at)?;
        self.validate_tini(at)?;
        self.validate_install_fields(at)?;
        if let Some(p) = &self.sccache_package {
            validate::package_name(p).map_err(|m| at.error("sccache_package", m))?;
        }
        if let Some(v) = &self.sccache_version {
            validate::version(v).map_err(|m| at.error("sccache_version", m))?;
        }
        if let Some(img) = &self.rust_image {
            validate::image_tagged(img).map_err(|m| at.error("rust_image", m))?;
        }
        if let Some(sums) = &self.release_sha256 {
            validate_sums(sums, at)?;
        }
        if let Some(url) = &self.release_base_url {
            validate::http_base_url(url).map_err(|m| at.error("release_base_url", m))?;
        }
        self.validate_libc(at)
    }

    /// Safe names, no repeats (found with a set: lists can be long), and the
    /// packages every image needs.
    fn validate_packages(&self, at: &Located) -> Result<(), ProfileError> {
        if self.packages.is_empty() {
            return Err(at.error("packages", "the list is empty"));
        }
        let mut seen = HashSet::with_capacity(self.packages.len());
        for (i, p) in self.packages.iter().enumerate() {
            let item = format!("packages[{i}]");
            validate::package_name(p).map_err(|m| at.error(&item, m))?;
            if !seen.insert(p.as_str()) {
                let q = validate::quote(p);
                return Err(at.error(&item, format!("{q} is listed twice")));
            }
        }
        if let Some(missing) = REQUIRED_PACKAGES.iter().find(|r| !seen.contains(*r)) {
            return Err(at.error(
                "packages",
                format!(
                    "{missing:?} is missing: every image needs {}",
                    REQUIRED_PACKAGES.join(", ")
                ),
            ));
        }
        Ok(())
    }

    /// tini comes from the distro's package or from `tini_static_image`, a stage that
    /// runs `apt-get` and copies Debian's `tini-static`, so a Debian-family image.
    fn validate_tini(&self, at: &Located) -> Result<(), ProfileError> {
        let has_tini = self.packages.iter().any(|p| p == "tini");
        let img = match (&self.tini_static_image, has_tini) {
            (None, true) => return Ok(()),
            (None, false) => return Err(at.error(
                "packages",
                "\"tini\" is missing: it runs as PID 1 (where the distro does not package it, set tini_static_image)",
            )),
            (Some(_), true) => return Err(at.error(
                "tini_static_image",
                "tini is in packages already; remove one of the two",
            )),
            (Some(img), false) => img,
        };
        validate::image_tagged(img).map_err(|m| at.error("tini_static_image", m))?;
        let (name, _tag) = img.rsplit_once(':').unwrap_or((img, ""));
        let last = name.rsplit('/').next().unwrap_or(name);
        if !(last.contains("debian") || last.contains("ubuntu")) {
            return Err(at.error(
                "tini_static_image",
                format!(
                    "{} is not a Debian or Ubuntu image: its stage runs apt-get and copies /usr/bin/tini-static from Debian's tini package",
                    validate::quote(img)
                ),
            ));
        }
        Ok(())
    }

    /// Each install method takes its own fields and no others, so a profile never
    /// carries a pin that silently does nothing.
    fn validate_install_fields(&self, at: &Located) -> Result<(), ProfileError> {
        let method = self.install.as_str();
        let given = [
            ("sccache_package", self.sccache_package.is_some()),
            ("sccache_version", self.sccache_version.is_some()),
            ("release_sha256", self.release_sha256.is_some()),
            ("rust_image", self.rust_image.is_some()),
            ("release_base_url", self.release_base_url.is_some()),
        ];
        let wanted: &[&str] = match self.install {
            Install::Package => &["sccache_package"],
            Install::Release => &["sccache_version", "release_sha256"],
            Install::Cargo => &["sccache_version", "rust_image"],
            Install::Local => &[],
        };
        // Fields a method may take but need not.
        let optional: &[&str] = match self.install {
            Install::Release => &["release_base_url"],
            _ => &[],
        };
        for (field, present) in given {
            if optional.contains(&field) {
                continue;
            }
            if present && !wanted.contains(&field) {
                return Err(at.error(field, format!("not used by `install: {method}`; remove it")));
            }
            if !present && wanted.contains(&field) {
                return Err(at.error_at(
                    "install",
                    field,
                    format!("required by `install: {method}`"),
                ));
            }
        }
        Ok(())
    }

    /// A binary linked against glibc does not run on a musl base (Alpine): the host's
    /// binary (`local`) and one built on a glibc `rust_image` (`cargo`) are refused
    /// there. Release tarballs are static musl builds and run everywhere.
    fn validate_libc(&self, at: &Located) -> Result<(), ProfileError> {
        if self.family != Family::Apk {
            return Ok(());
        }
        match (self.install, &self.rust_image) {
            (Install::Local, _) => Err(at.error(
                "install",
                "`install: local` copies the host's sccache-dist, linked against glibc, which does not run on a musl base (family apk); use `install: release` (static musl) or `package`",
            )),
            (Install::Cargo, Some(img)) if !img.contains("alpine") => Err(at.error(
                "rust_image",
                format!(
                    "{} builds a glibc binary, which does not run on a musl base (family apk); use an Alpine Rust image such as rust:1.91-alpine",
                    validate::quote(img)
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Known machines and well-formed sums; a repeated machine was refused by the walk.
fn validate_sums(sums: &BTreeMap<String, String>, at: &Located) -> Result<(), ProfileError> {
    if sums.is_empty() {
        return Err(at.error("release_sha256", "no sums given"));
    }
    for (machine, sum) in sums {
        let field = format!("release_sha256.{machine}");
        if !RELEASE_MACHINES.contains(&machine.as_str()) {
            return Err(at.error(
                &field,
                format!(
                    "unknown machine; upstream publishes {}",
                    RELEASE_MACHINES.join(", ")
                ),
            ));
        }
        validate::sha256_hex(sum).map_err(|m| at.error(&field, m))?;
    }
    Ok(())
}

/// Every distro profile under `dir`, sorted by name; the first bad one is an error.
pub fn load_all(dir: &Path, root: &Path) -> anyhow::Result<Vec<Distro>> {
    let mut distros = files::list(dir, root)?
        .iter()
        .map(|p| Distro::load(p, root))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // By name, not by file name: "arch-pkg.yaml" sorts before "arch.yaml".
    distros.sort_by(|a, b| a.name.cmp(&b.name));
    if distros.is_empty() {
        anyhow::bail!("no distro profiles (*.yaml) in {}", dir.display());
    }
    Ok(distros)
}
