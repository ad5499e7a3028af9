//! The failures a user of sccache-dist meets, recognised in a client's error log
//! or a container's log, each with its cause and its fix in a sentence. What
//! matches none of them is left to the caller to show as it is.

/// One known failure.
pub struct Cause {
    /// A short name, for tests and reports.
    pub name: &'static str,
    /// Whether a log shows it.
    matches: fn(&str) -> bool,
    /// The cause and the fix.
    pub advice: &'static str,
}

/// The scheduler refused a server's heartbeat because of its source address.
pub const MISMATCHED_ADDRESS_ADVICE: &str = "cause: the scheduler refused the server's heartbeat with invalid_bearer_token_mismatched_address: it accepts a server only when the heartbeat comes from the IP in the server's public_addr. Behind NAT or published ports (-p) the source IP differs. Fix: the host network with --advertise set to the address the heartbeats leave from, or bridge mode, where public_addr is the container's own IP.";
/// bubblewrap could not build its sandbox.
pub const BWRAP_ADVICE: &str = "cause: bubblewrap may not create its sandbox (Operation not permitted). The container needs --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt systempaths=unconfined (`cargo xtask start` passes them; an engine or runtime policy may strip them).";
/// The front refused a client's own token.
pub const CLIENT_REFUSED_ADVICE: &str = "cause: client token refused (503 from the cluster's TLS front, with that message): this client's token is unknown or was revoked (`cargo xtask client list` on the scheduler's host lists the clients), so every compile runs locally. Fix: ask the cluster's operator for a new client bundle (`cargo xtask client add NAME -o DIR`, or `client rotate NAME -o DIR`), put its client.conf where SCCACHE_CONF points, then `sccache --stop-server` so the daemon reads it.";
/// Nothing listens where a client or server connects.
pub const REFUSED_ADVICE: &str = "cause: connection refused: nothing listens at the scheduler or server address. Is the container running (`cargo xtask status`), and is the advertised address reachable from the client (firewall)?";
/// Packets go unanswered.
pub const TIMED_OUT_ADVICE: &str = "cause: connecting timed out: the packets to the scheduler or a build server go unanswered, so a firewall drops them or the advertised address is not reachable from here. Fix: open the scheduler's port and the build servers' ports to the clients, or advertise an address they reach (`--advertise IP`).";
/// The version cliff: a 0.18+ client and a server before 0.18.
pub const CERT_SIGNATURE_ADVICE: &str = "cause: the client refused the build server's certificate signature (UnsupportedSignatureAlgorithm): build servers before sccache-dist 0.18.0 sign it with SHA-1, which clients from 0.18.0 refuse, so every compile falls back to local. Fix: serve sccache-dist 0.18.0 or newer (the image's version is in `cargo xtask status`), or use a client older than 0.18.0.";
/// The client lacks the CA that signed a certificate it was shown.
pub const UNTRUSTED_CERT_ADVICE: &str = "cause: certificate not trusted (UnknownIssuer): the client does not trust the CA that signed the certificate it was shown. Fix: point SSL_CERT_FILE of the client daemon at a bundle holding the system roots and the cluster's CA (or add the CA to the system store), then restart the daemon with `sccache --stop-server`: a running daemon keeps the trust it started with.";
/// A certificate signed by another CA of the same name: the client trusts the
/// cluster's CA from before a rotation.
pub const BAD_SIGNATURE_ADVICE: &str = "cause: the certificate's signature does not verify with the CA the client trusts (BadSignature): the client trusts another CA of the same name, such as the cluster's CA from before it was made anew. Fix: point SSL_CERT_FILE of the client daemon at the cluster's current ca-bundle.pem (`cargo xtask client-config` says where), then `sccache --stop-server`: a running daemon keeps the trust it started with.";
/// A certificate that does not name the address or name it is reached at.
pub const NOT_VALID_FOR_NAME_ADVICE: &str = "cause: name or address not in the certificate (NotValidForName): the scheduler's TLS certificate does not cover the address or name it was reached at. Fix: on the scheduler's host, `cargo xtask tls renew` re-issues it for the advertised address in place (the CA stays, so clients keep working; the scheduler keeps running); a name clients use is added with `cargo xtask start --tls-name NAME`, which renews it the same way on the running cluster.";
/// An expired certificate.
pub const EXPIRED_ADVICE: &str = "cause: the certificate has expired (Expired): clients refuse it. Fix: on the scheduler's host, `cargo xtask tls renew` issues a new one from the same CA in place (clients keep working; the scheduler keeps running); a CA that expired needs a new CA and a new bundle on every client.";
/// The build server would not take the toolchain.
pub const TOOLCHAIN_ADVICE: &str = "cause: the build server refused the toolchain upload (Could not submit toolchain / could not be cached by server): the toolchain archive does not fit the server's toolchain_cache_size, or its cache directory is not writable. Fix: raise toolchain_cache_size in the runtime profile and start the cluster again; check the server's log (`cargo xtask logs`).";
/// The scheduler had no server at all.
pub const NO_SERVER_ADVICE: &str = "cause: no build server is registered with the scheduler (Insufficient capacity across 0 available servers), so every compile falls back to local. Fix: see `cargo xtask status` for why the servers are down or refused.";
/// Every slot of every server was busy.
pub const FULL_ADVICE: &str = "cause: every build server was full (Insufficient capacity): the scheduler gives one server at most cores + 1 + cores/8 jobs, and a compile beyond that falls back to local and counts as failed. Fix: fewer parallel jobs (-j), or more builders (`cargo xtask scale N`, N the number of build servers the cluster should have).";
/// The client's dist client did not come up.
pub const DIST_CLIENT_ADVICE: &str = "cause: the client daemon's dist client failed to start (failure during dist client creation), for example several daemons racing on one toolchain cache dir (toolchain_tmp ... File exists); it compiles locally and retries only later. Fix: give each client daemon its own `[dist] cache_dir`, then `sccache --stop-server` so the next compile starts a fresh one.";

/// The name of the cause [`unreachable_builder_advice`] words.
pub const UNREACHABLE_BUILDER: &str = "clients cannot reach build server";

/// Clients cannot reach a build server: the scheduler allocated it jobs their
/// clients never started. Read from the scheduler's log, not a client's, so it
/// is named also where this host's own compile works.
pub fn unreachable_builder_advice(server: &str, stale: u64, unstarted: u64) -> String {
    let port = server.rsplit_once(':').map_or("its port", |(_, p)| p);
    let ip = server.rsplit_once(':').map_or(server, |(ip, _)| ip);
    format!(
        "cause: {UNREACHABLE_BUILDER} {server}: the scheduler allocated it jobs that their clients never started ({stale} de-allocated as stale, {unstarted} waiting now). A client that cannot connect to a build server waits 30 s, compiles locally, and the job holds one of the server's slots until its next heartbeat, so other clients are refused for capacity meanwhile. Fix: open TCP port {port} of {ip} to every client (a firewall between them drops it; opening only the scheduler's port is not enough), or advertise an address the clients reach (`--advertise IP`); `cargo xtask top` shows the stale jobs per server."
    )
}

/// Every failure recognised, in the order they are reported.
pub const CAUSES: &[Cause] = &[
    Cause {
        name: "mismatched address",
        matches: |l| l.contains("invalid_bearer_token_mismatched_address"),
        advice: MISMATCHED_ADDRESS_ADVICE,
    },
    Cause {
        name: "certificate signature",
        matches: |l| l.contains("UnsupportedSignatureAlgorithm"),
        advice: CERT_SIGNATURE_ADVICE,
    },
    Cause {
        name: "certificate not trusted",
        matches: |l| l.contains("UnknownIssuer") || l.contains("unknown issuer"),
        advice: UNTRUSTED_CERT_ADVICE,
    },
    Cause {
        name: "certificate of another CA",
        matches: |l| l.contains("BadSignature") || l.contains("bad signature"),
        advice: BAD_SIGNATURE_ADVICE,
    },
    Cause {
        name: "name not in certificate",
        matches: |l| l.contains("NotValidForName") || l.contains("not valid for name"),
        advice: NOT_VALID_FOR_NAME_ADVICE,
    },
    Cause {
        name: "certificate expired",
        matches: |l| {
            l.contains("invalid peer certificate: Expired")
                || l.contains("certificate expired")
                || l.contains("CertExpired")
        },
        advice: EXPIRED_ADVICE,
    },
    Cause {
        name: "bubblewrap",
        matches: |l| l.contains("bwrap") && l.contains("Operation not permitted"),
        advice: BWRAP_ADVICE,
    },
    Cause {
        name: "client token refused",
        matches: |l| l.contains("client token refused"),
        advice: CLIENT_REFUSED_ADVICE,
    },
    Cause {
        name: "connection refused",
        matches: |l| l.contains("Connection refused") || l.contains("connection refused"),
        advice: REFUSED_ADVICE,
    },
    Cause {
        name: "timed out",
        matches: |l| {
            l.contains("timed out") || l.contains("Timed out") || l.contains("deadline has elapsed")
        },
        advice: TIMED_OUT_ADVICE,
    },
    Cause {
        name: "toolchain refused",
        matches: |l| {
            l.contains("Could not submit toolchain") || l.contains("could not be cached by server")
        },
        advice: TOOLCHAIN_ADVICE,
    },
    Cause {
        name: "no build server",
        matches: |l| l.contains("Insufficient capacity across 0 available servers"),
        advice: NO_SERVER_ADVICE,
    },
    Cause {
        name: "builder full",
        matches: |l| {
            l.lines().any(|line| {
                line.contains("Insufficient capacity across")
                    && !line.contains("across 0 available servers")
            })
        },
        advice: FULL_ADVICE,
    },
    Cause {
        name: "dist client failed",
        matches: |l| {
            l.contains("failure during dist client creation")
                || (l.contains("toolchain_tmp") && l.contains("File exists"))
        },
        advice: DIST_CLIENT_ADVICE,
    },
];

/// The known causes `log` shows, each advice once.
pub fn diagnose(log: &str) -> Vec<&'static str> {
    CAUSES
        .iter()
        .filter(|c| (c.matches)(log))
        .map(|c| c.advice)
        .collect()
}

/// The names of the known causes `log` shows.
pub fn names(log: &str) -> Vec<&'static str> {
    CAUSES
        .iter()
        .filter(|c| (c.matches)(log))
        .map(|c| c.name)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each cause from a line as sccache 0.19 logs it.
    #[test]
    fn each_cause_from_its_log_line() {
        let cases = [
            ("WARN sccache_dist: 401 invalid_bearer_token_mismatched_address", "mismatched address"),
            ("ERROR rustls_platform_verifier: failed to verify TLS certificate: invalid peer certificate: UnsupportedSignatureAlgorithmContext { signature_algorithm_id: [6, 9] }", "certificate signature"),
            ("failed to verify TLS certificate: invalid peer certificate: UnknownIssuer", "certificate not trusted"),
            ("failed to verify TLS certificate: invalid peer certificate: BadSignature", "certificate of another CA"),
            ("invalid peer certificate: NotValidForNameContext { expected: IpAddress(10.0.0.9) }", "name not in certificate"),
            ("invalid peer certificate: certificate expired: verification time 1765000000 (UNIX), but certificate is not valid after 1764000000", "certificate expired"),
            ("bwrap: Can't mount proc on /newroot/proc: Operation not permitted", "bubblewrap"),
            ("error sending request: tcp connect error: Connection refused (os error 111)", "connection refused"),
            ("error sending request: operation timed out", "timed out"),
            ("Could not perform distributed compile, falling back to local: Could not submit toolchain: error", "toolchain refused"),
            ("Could not perform distributed compile, falling back to local: Insufficient capacity across 0 available servers: Failed to allocate job", "no build server"),
            ("Could not perform distributed compile, falling back to local: Insufficient capacity across 3 available servers: Failed to allocate job", "builder full"),
            ("ERROR failure during dist client creation: failed to create temporary toolchain creation directory: /x/toolchain_tmp: File exists (os error 17)", "dist client failed"),
        ];
        for (line, want) in cases {
            assert_eq!(names(line), [want], "{line}");
        }
        assert!(diagnose("all is well").is_empty());
    }
}
