#![deny(missing_docs)]
//! The library behind `cargo xtask`. The binary in main.rs only dispatches to
//! `cli/`; the integration tests in tests/ use the modules directly.
//!
//! The modules are floors, and a module imports only from floors below its own
//! (`tests/layers.rs` reads every `use` and holds the tool to it):
//!
//! | floor | modules | what they hold |
//! | --- | --- | --- |
//! | 0 | `base` | atomic writes, project paths, escaping |
//! | 1 | `profile`, `store` | distro and runtime profiles (loading, validation); the state directory's files (plain data, no other part of the tool) |
//! | 2 | `model` | the typed cluster: roles, servers, caches, run specs, mounts, capabilities, join bundles; no engine, no files |
//! | 3 | `sccache` | sccache's own parts: configs, secrets and JWTs, config checks, the scheduler's HTTP API, a private client |
//! | 4 | `render` | Dockerfiles, configs, compose and Kubernetes files: readers of the model |
//! | 5 | `docker` | the engine: one typed command builder every `docker` call goes through |
//! | 6 | `lifecycle` | the cluster's containers on the engine: records, configs in the state, readiness, known failures |
//! | 7 | `image`, `cluster`, `status`, `doctor`, `remote`, `bench` | the commands (in that order: a command may use one to its left) |
//! | 8 | `cli` | the command line (clap), one flags struct per command |

pub mod base;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod docker;
pub mod doctor;
pub mod image;
pub mod lifecycle;
pub mod model;
pub mod profile;
pub mod remote;
pub mod render;
pub mod sccache;
pub mod status;
pub mod store;
