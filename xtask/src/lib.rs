//! The library behind `cargo xtask`: one module per concern. The binary in main.rs
//! is the command line; the integration tests in tests/ use the modules directly.

pub mod atomic;
pub mod bench;
pub mod build_docker_image;
pub mod check_configs;
pub mod client_config;
pub mod cluster;
pub mod codegen;
pub mod content_hash;
pub mod distro;
pub mod docker;
pub mod docker_api;
pub mod doctor;
pub mod family;
pub mod lock;
pub mod matrix;
pub mod network;
pub mod project;
pub mod render;
pub mod runtime_profile;
pub mod sccache_client;
pub mod scheduler_status;
pub mod secrets;
pub mod source;
pub mod state;
pub mod strict;
pub mod validate;
