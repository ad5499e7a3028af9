//! Build servers on other hosts: `join-bundle` on the scheduler's host, `join` on
//! the other host, `revoke` back on the scheduler's host.

pub mod bundle;
pub mod bundle_check;
pub mod join;
pub mod preflight;
pub mod revoke;
pub mod trust;
