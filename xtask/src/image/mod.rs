//! Images: what goes into one (the plan, its content hash and its creation time), the lock that keeps
//! two runs from building the same one, the build that runs only when needed, and
//! their removal.

pub mod build;
pub mod builder;
pub mod epoch;
pub mod exporter;
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

pub use crate::model::labels::{DISTRO_LABEL, HASH_LABEL, VERSION_LABEL};
