//! sccache itself: its config files and their checks, the server JWT, the
//! scheduler's status endpoint, and a private client daemon.

pub mod client;
pub mod client_config;
pub mod config_check;
pub mod jwt;
pub mod scheduler_status;
