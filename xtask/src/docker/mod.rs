//! Floor 5, the Docker engine: one typed command builder ([`DockerCommand`]) that
//! every `docker` call goes through, the engine's objects as typed command lines,
//! `docker run` of a run spec, the one API query of the no-op path, networks and
//! registries.

pub mod api;
pub mod cli;
pub mod command;
pub mod network;
pub mod objects;
pub mod registry;
pub mod run;

pub use cli::*;
pub use command::DockerCommand;
