#![deny(missing_docs)]
//! The cluster's figures, from what sccache-dist and its TLS front already say.
//!
//! sccache-dist 0.19 has no metrics endpoint. Its scheduler logs each step of
//! each job, each registration and prune, and the stale jobs it drops; its TLS
//! front (nginx) sees every request. This crate reads both into one [`State`]
//! and serves it in Prometheus' text format. It is the lowest floor of the tool:
//! it imports nothing of the xtask, and the xtask reads the scheduler's log and
//! the endpoint through it ([`events`], [`snapshot`]).
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`clients`] | the client list the front checks tokens against (hashes only) |
//! | [`events`] | the scheduler's log lines into typed events (the one parser) |
//! | [`front`] | the front's access-log lines |
//! | [`state`] | what they add up to (plain data, time passed in) |
//! | [`names`] | every metric's name, type and help |
//! | [`exposition`] | the text format, written and read |
//! | [`render`] | a state as an exposition |
//! | [`snapshot`] | an exposition read back as rows for `status` and `top` |
//! | [`time`] | the logs' RFC 3339 times as Unix seconds |
//!
//! [`State`]: state::State

pub mod clients;
pub mod events;
pub mod exposition;
pub mod front;
pub mod names;
pub mod render;
pub mod snapshot;
pub mod state;
pub mod time;
