//! Images: what goes into one (the plan, its content hash and its creation time), the lock that keeps
//! two runs from building the same one, the build that runs only when needed, and
//! their removal.

pub mod build;
pub mod builder;
pub mod epoch;
pub mod hash;
pub mod lock;
pub mod oci;
pub mod plan;
pub mod pull;
pub mod registry;
pub mod remove;
pub mod repro;
pub mod request;
pub mod tree;

/// Label holding the full content hash of everything that went into an image.
pub const HASH_LABEL: &str = "io.github.sccache-docker.input-hash";
/// Label naming the distro an image was built from.
pub const DISTRO_LABEL: &str = "io.github.sccache-docker.distro";
