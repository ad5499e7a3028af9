//! A running cluster: its typed model (one scheduler, a list of build servers),
//! starting it, waiting until it is ready, its lifecycle, status and diagnosis.

pub mod configs;
pub mod container;
pub mod diagnose;
pub mod doctor;
pub mod kube;
pub mod lifecycle;
pub mod model;
pub mod readiness;
pub mod start;
pub mod status;

pub use model::{Cluster, Network, Scheduler, Server};
