//! Known failures, recognised in logs and named with their cause and fix.

use super::container;

/// The scheduler refused a server's heartbeat because of its source address.
pub const MISMATCHED_ADDRESS_ADVICE: &str = "cause: the scheduler refused the server's heartbeat with invalid_bearer_token_mismatched_address: it accepts a server only when the heartbeat comes from the IP in the server's public_addr. Behind NAT or published ports (-p) the source IP differs. Fix: the host network with --advertise set to the address the heartbeats leave from, or bridge mode, where public_addr is the container's own IP.";
/// bubblewrap could not build its sandbox.
pub const BWRAP_ADVICE: &str = "cause: bubblewrap may not create its sandbox (Operation not permitted). The container needs --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt systempaths=unconfined (`cargo xtask start` passes them; an engine or runtime policy may strip them).";
/// Nothing listens where a client or server connects.
pub const REFUSED_ADVICE: &str = "cause: connection refused: nothing listens at the scheduler or server address. Is the container running (`cargo xtask status`), and is the advertised address reachable from the client (firewall)?";

/// Known causes found in a log.
pub fn diagnose(log: &str) -> Vec<&'static str> {
    let mut found = Vec::new();
    if log.contains("invalid_bearer_token_mismatched_address") {
        found.push(MISMATCHED_ADDRESS_ADVICE);
    }
    if log.contains("bwrap") && log.contains("Operation not permitted") {
        found.push(BWRAP_ADVICE);
    }
    if log.contains("Connection refused") || log.contains("connection refused") {
        found.push(REFUSED_ADVICE);
    }
    found
}

/// The last lines of a container's log, with the cause named when it is a known one.
pub fn log_tail_with_advice(name: &str) -> String {
    let log = container::log(name, 40);
    let mut out = format!("the last lines of its log:\n{log}");
    for advice in diagnose(&log) {
        out.push_str("\n\n");
        out.push_str(advice);
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
