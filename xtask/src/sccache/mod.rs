//! Floor 3, sccache itself: its config files (as text) and their checks, the
//! cluster's secrets and the server JWT, the scheduler's HTTP API, and a private
//! client daemon.

pub mod causes;
pub mod client;
pub mod config_check;
pub mod configs;
pub mod jwt;
pub mod metrics_endpoint;
pub mod scheduler_log;
pub mod scheduler_status;
pub mod secrets;
pub mod tls;
pub mod tls_verify;
pub mod versions;

pub use configs::{ConfigInputs, Configs};
pub use secrets::Secrets;
