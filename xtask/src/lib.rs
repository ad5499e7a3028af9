#![deny(missing_docs)]
//! The library behind `cargo xtask`, one folder per concern. The binary in main.rs
//! is the command line (`cli/`); the integration tests in tests/ use the modules
//! directly.

pub mod atomic;
pub mod bench;
pub mod cli;
pub mod cluster;
pub mod docker;
pub mod image;
pub mod profile;
pub mod project;
pub mod render;
pub mod sccache;
pub mod state;
