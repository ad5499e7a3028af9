//! Floor 2, the typed cluster: one scheduler and its build servers (roles,
//! addresses, ports, caches), where server N goes, the containers they run in as
//! plain run specs (image, mounts, capabilities, security options, grace period),
//! and the records of build servers on other hosts. No engine call and no file is
//! touched here: `docker run`, compose and Kubernetes are three readers of it.

pub mod clients;
pub mod cluster;
pub mod engine;
pub mod labels;
pub mod placement;
pub mod remote;
pub mod run_spec;
pub mod specs;

pub use cluster::{Cache, Cluster, Network, Scheduler, Server};
pub use run_spec::{Mount, RunSpec};
