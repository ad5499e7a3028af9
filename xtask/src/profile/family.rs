//! Package-manager families: how each installs packages in one cached layer and
//! leaves no package index or download cache behind in the image.

use serde::Deserialize;

/// A package-manager family, as `family:` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Family {
    /// Debian, Ubuntu.
    Apt,
    /// Arch Linux.
    Pacman,
    /// Fedora, Rocky Linux, RHEL.
    Dnf,
    /// Alpine (musl).
    Apk,
    /// openSUSE.
    Zypper,
}

impl Family {
    /// A shell command installing `packages`; the names are validated before this.
    /// It also removes, in the same layer, the package index, the download cache
    /// and every file the package manager writes with the build's time in it
    /// (logs, history databases, ldconfig's aux-cache), so two builds from the same
    /// inputs give the same bytes (`cargo xtask verify-repro`).
    pub fn install_command(self, packages: &[String]) -> String {
        let list = packages.join(" ");
        match self {
            Family::Apt => format!(
                "apt-get update \\\n && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends {list} \\\n && apt-get clean \\\n && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin \\\n && rm -f /var/log/apt/history.log /var/log/apt/term.log /var/log/dpkg.log /var/log/alternatives.log /var/cache/ldconfig/aux-cache"
            ),
            Family::Pacman => format!(
                "pacman -Syu --noconfirm --needed {list} \\\n && pacman -Scc --noconfirm \\\n && rm -rf /var/cache/pacman/pkg/* /var/lib/pacman/sync /var/log/pacman.log"
            ),
            Family::Dnf => format!(
                "dnf install -y --setopt=install_weak_deps=False {list} \\\n && dnf clean all \\\n && rm -rf /var/log/dnf* /var/cache/dnf /var/lib/dnf/history*"
            ),
            Family::Apk => format!("apk add --no-cache {list} \\\n && rm -rf /var/cache/apk/*"),
            Family::Zypper => format!(
                "zypper --non-interactive install --no-recommends {list} \\\n && zypper clean --all \\\n && rm -rf /var/log/zypper.log /var/log/zypp /var/cache/zypp"
            ),
        }
    }

    /// The command of the throw-away stage that downloads and checks a release
    /// tarball. dnf gets `--allowerasing`: Rocky Linux 9 and Fedora images ship
    /// `curl-minimal`, which conflicts with `curl` and otherwise fails the install.
    pub fn fetch_command(self) -> String {
        let packages = self.fetch_packages();
        match self {
            Family::Dnf => format!(
                "dnf install -y --allowerasing --setopt=install_weak_deps=False {} \\\n && dnf clean all",
                packages.join(" ")
            ),
            _ => self.install_command(&packages),
        }
    }

    /// The packages a throw-away stage needs to download and check a release tarball.
    fn fetch_packages(self) -> Vec<String> {
        let names: &[&str] = match self {
            Family::Apt | Family::Pacman | Family::Dnf | Family::Zypper => {
                &["ca-certificates", "curl", "tar", "gzip"]
            }
            Family::Apk => &["ca-certificates", "curl", "tar"],
        };
        names.iter().map(|s| s.to_string()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dnf_fetch_stage_may_replace_curl_minimal() {
        let dnf = Family::Dnf.fetch_command();
        assert!(dnf.starts_with("dnf install -y --allowerasing "), "{dnf}");
        assert!(
            dnf.contains(" curl ") && dnf.ends_with("dnf clean all"),
            "{dnf}"
        );
        // The other families' fetch stages are their ordinary install.
        assert_eq!(
            Family::Apt.fetch_command(),
            Family::Apt.install_command(&Family::Apt.fetch_packages())
        );
    }
}
