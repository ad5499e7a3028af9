//! The container engines the tool drives through the docker CLI, and what each
//! needs done differently: the one typed place for engine quirks.
//!
//! Podman serves a Docker-compatible API (`podman system service`); the docker
//! CLI, compose and this tool talk to it as to Docker, with these differences
//! (measured, rootful):
//! - Its Docker API drops `--security-opt systempaths=unconfined` (the container's
//!   SecurityOpt keeps only `seccomp=unconfined`), so bubblewrap in a build server
//!   cannot mount /proc (`bwrap: Can't mount proc on /proc: Operation not
//!   permitted`, measured on Podman 5.4.2 and 4.3.1) and every job fails. Its
//!   own option `unmask=/proc/*` passes through the Docker API and is enough
//!   (measured on 4.3.1 with bubblewrap's namespaces as sccache-dist asks for
//!   them; `unmask=ALL` also unmasks /sys paths, and naming only the masked
//!   /proc files is not enough).
//! - It has no BuildKit behind its Docker API: `docker buildx build` falls back to
//!   a docker-container builder that needs moby/buildkit from a registry; its
//!   legacy build endpoint (Buildah) builds the Dockerfile as it is.
//! - It runs a container's HEALTHCHECK only from systemd timers, which a bare
//!   `podman system service` never sets up: a health state it reports is never
//!   updated, so the tool checks readiness itself there.

use crate::model::run_spec::SECURITY_OPTS;

/// The engine behind the docker CLI.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineKind {
    /// Docker Engine (moby).
    Docker,
    /// Podman through its Docker-compatible API.
    Podman,
}

/// What a build server's container needs on Podman in place of [`SECURITY_OPTS`].
pub const PODMAN_SECURITY_OPTS: &[&str] = &["seccomp=unconfined", "unmask=/proc/*"];

impl EngineKind {
    /// The engine from the names of the server's components, as `docker
    /// version` lists them (`Server.Components[].Name`): Podman's API names
    /// "Podman Engine"; Docker's names "Engine", "containerd", "runc"...
    pub fn from_components<'a>(names: impl IntoIterator<Item = &'a str>) -> EngineKind {
        match names.into_iter().any(|n| n.starts_with("Podman")) {
            true => EngineKind::Podman,
            false => EngineKind::Docker,
        }
    }

    /// Its name, as users know it.
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "Docker",
            EngineKind::Podman => "Podman",
        }
    }

    /// The security options a build server's container gets for bubblewrap.
    pub fn sandbox_security_opts(self) -> &'static [&'static str] {
        match self {
            EngineKind::Docker => SECURITY_OPTS,
            EngineKind::Podman => PODMAN_SECURITY_OPTS,
        }
    }

    /// Why BuildKit cannot build on this engine, if it cannot.
    pub fn no_buildkit(self) -> Option<&'static str> {
        match self {
            EngineKind::Docker => None,
            EngineKind::Podman => Some(
                "the engine is Podman, whose Docker API has no BuildKit (buildx would start a docker-container builder pulled from a registry); its legacy build endpoint (Buildah) builds the Dockerfile",
            ),
        }
    }

    /// Whether the engine runs the image's HEALTHCHECK and reports its state.
    pub fn runs_healthchecks(self) -> bool {
        self == EngineKind::Docker
    }

    /// The fix when bubblewrap cannot mount /proc in a build server.
    pub fn proc_mount_fix(self) -> &'static str {
        match self {
            EngineKind::Docker => "the build server's container needs --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt systempaths=unconfined (`cargo xtask start` passes them; a runtime policy may strip them: check `docker inspect -f '{{.HostConfig.SecurityOpt}}' CONTAINER`)",
            EngineKind::Podman => "on Podman the build server's container needs --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt unmask=/proc/* (its Docker API drops systempaths=unconfined; `cargo xtask start` passes it when it sees Podman: start the cluster again with this version, or pass them yourself)",
        }
    }
}

/// bubblewrap could not mount /proc: the cause and the fix on `engine`.
pub fn proc_mount_advice(engine: EngineKind) -> String {
    format!(
        "cause: bubblewrap cannot mount /proc in the build server's container (Can't mount proc ... Operation not permitted), so every job fails on the server and the compile fails. Fix: {}.",
        engine.proc_mount_fix()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn podman_is_named_by_its_components() {
        let podman = ["Podman Engine", "Conmon", "OCI Runtime (runc)", "Engine"];
        assert_eq!(EngineKind::from_components(podman), EngineKind::Podman);
        let docker = ["Engine", "containerd", "runc", "docker-init"];
        assert_eq!(EngineKind::from_components(docker), EngineKind::Docker);
        assert_eq!(
            EngineKind::Podman.sandbox_security_opts(),
            ["seccomp=unconfined", "unmask=/proc/*"]
        );
        assert!(EngineKind::Docker
            .sandbox_security_opts()
            .contains(&"systempaths=unconfined"));
        assert!(proc_mount_advice(EngineKind::Podman).contains("unmask=/proc/*"));
    }
}
