//! Build servers on other hosts: `join-bundle` on the scheduler's host, `join` on
//! the other host, `revoke` back on the scheduler's host.

pub mod bundle;
pub mod join;
pub mod revoke;
