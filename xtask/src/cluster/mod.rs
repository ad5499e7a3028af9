//! Commands on one cluster: `start` (and `up`'s start), `scale`, `stop`, `logs`,
//! `remove-container`, `client-config`, `check-configs`, and the two renderings
//! of what `start` would run: `compose` and `kube`.

pub mod check_configs;
pub mod client_config;
pub mod clients;
pub mod compose;
pub mod kube;
pub mod renew;
pub mod request;
pub mod scale;
pub mod start;
pub mod stop;

pub use request::{StartRequest, Started};
