//! A running cluster: its typed model (one scheduler, a list of build servers),
//! where its servers go, its `docker run` specs, starting and scaling it, waiting
//! until it is ready, its lifecycle, status and diagnosis; build servers on other
//! hosts (join bundles, joining, revoking).

pub mod compose;
pub mod configs;
pub mod container;
pub mod diagnose;
pub mod doctor;
pub mod join;
pub mod kube;
pub mod lifecycle;
pub mod model;
pub mod plan;
pub mod ports;
pub mod readiness;
pub mod remote;
pub mod revoke;
pub mod scale;
pub mod specs;
pub mod start;
pub mod status;

pub use model::{Cluster, Network, Scheduler, Server};
