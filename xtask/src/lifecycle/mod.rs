//! Floor 6, the cluster's containers on the engine: what the state directory's
//! documents mean (`records`), the configs rendered, checked and stored
//! (`configs`), running, replacing and inspecting containers, the host ports they
//! need, waiting until the scheduler counts the servers, and the known failures
//! read from their logs.

pub mod clients;
pub mod configs;
pub mod container;
pub mod diagnose;
pub mod launch;
pub mod metrics;
pub mod ports;
pub mod readiness;
pub mod records;
pub mod tls;
pub mod tls_input;
pub mod versions;
