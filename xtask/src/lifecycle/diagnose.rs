//! Known failures in the containers' logs, named with their cause and fix (the
//! catalogue is `sccache::causes`), and whether a server's log says it registered.

use super::container;
use crate::model::engine::proc_mount_advice;

pub use crate::sccache::causes::{
    diagnose, BWRAP_ADVICE, MISMATCHED_ADDRESS_ADVICE, REFUSED_ADVICE,
};

/// Known causes in `log`, as [`diagnose`] names them, with bubblewrap failing
/// to mount /proc named with the fix for the engine in use.
pub fn diagnose_on_engine(log: &str) -> Vec<String> {
    let mut out: Vec<String> = diagnose(log).into_iter().map(str::to_owned).collect();
    if log.contains("Can't mount proc") {
        out.retain(|a| a != BWRAP_ADVICE);
        out.insert(0, proc_mount_advice(crate::docker::engine_kind()));
    }
    out
}

/// The last lines of a container's log, with the cause named when it is a known one.
pub fn log_tail_with_advice(name: &str) -> String {
    let log = container::log(name, 40);
    let mut out = format!("the last lines of its log:\n{log}");
    for advice in diagnose_on_engine(&log) {
        out.push_str("\n\n");
        out.push_str(&advice);
    }
    out
}

/// The log tail alone, without the advice paragraphs (for messages that give
/// their own).
pub fn log_tail(name: &str) -> String {
    format!("the last lines of its log:\n{}", container::log(name, 40))
}

/// Registration of a build server refused for its source address.
pub const REFUSED_MISMATCH: &str = "refused (address mismatch)";

/// Registration of a build server whose token the scheduler does not accept
/// (another cluster's scheduler on that address, or stale secrets).
pub const REFUSED_TOKEN: &str = "refused (token not accepted)";

/// Whether a running build server's log says the scheduler counts it: a refused
/// heartbeat after its last successful registration means refused;
/// `all_counted`: the scheduler's total covers every server.
pub fn registration_in(log: &str, all_counted: bool) -> &'static str {
    let refused = log.rfind("invalid_bearer_token");
    let connected = log.rfind("Server connected to scheduler");
    match (refused, connected) {
        (Some(r), c) if c.is_none_or(|c| c < r) => {
            if log[r..].starts_with("invalid_bearer_token_mismatched_address") {
                REFUSED_MISMATCH
            } else {
                REFUSED_TOKEN
            }
        }
        (_, Some(_)) => "registered",
        _ if all_counted => "registered",
        _ => "not registered",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registration_from_the_log() {
        let ok = "INFO Server connected to scheduler\n";
        let mismatch = "ERROR 401 invalid_bearer_token_mismatched_address\n";
        let token = "ERROR 401 Bearer error=\"invalid_bearer_token\"\n";
        assert_eq!(registration_in(ok, false), "registered");
        assert_eq!(
            registration_in(&format!("{ok}{mismatch}"), true),
            REFUSED_MISMATCH
        );
        assert_eq!(
            registration_in(&format!("{mismatch}{ok}"), false),
            "registered"
        );
        assert_eq!(registration_in(token, true), REFUSED_TOKEN);
        assert_eq!(registration_in("", false), "not registered");
        assert_eq!(registration_in("", true), "registered");
    }
}
