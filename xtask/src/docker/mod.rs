//! The Docker engine: its command line (every command logged as run), the one API
//! query of the no-op path, containers and networks.

pub mod api;
pub mod cli;
pub mod network;
pub mod registry;

pub use cli::*;
