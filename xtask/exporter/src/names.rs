//! Every metric the exporter serves: name, type and help, in one table that the
//! writer ([`crate::render`]) and the readers ([`crate::snapshot`], the shipped
//! dashboard and alert rules through their test) share.

use crate::exposition::Kind;

/// One metric family.
pub struct Family {
    /// Its name (units in the name: `_seconds`, `_total`, `_bytes`).
    pub name: &'static str,
    /// Counter, gauge or histogram.
    pub kind: Kind,
    /// The `# HELP` text.
    pub help: &'static str,
}

macro_rules! families {
    ($($id:ident = $name:literal, $kind:ident, $help:literal;)*) => {
        $(
            #[doc = $help]
            pub const $id: Family = Family { name: $name, kind: Kind::$kind, help: $help };
        )*
        /// All of them, in the order they are written.
        pub const ALL: &[Family] = &[$($id),*];
    };
}

families! {
    UP = "sccache_dist_up", Gauge,
        "1 when the scheduler's status API answered within the last 3 seconds.";
    SERVERS_REGISTERED = "sccache_dist_servers_registered", Gauge,
        "Build servers the scheduler has registered (its status API).";
    CPUS = "sccache_dist_cpus", Gauge,
        "CPUs of all registered build servers (the scheduler's status API).";
    JOBS_IN_PROGRESS = "sccache_dist_jobs_in_progress", Gauge,
        "Jobs allocated and not complete (the scheduler's status API).";
    START_TIME = "sccache_dist_scheduler_start_time_seconds", Gauge,
        "Unix time the scheduler and this exporter started; every counter restarts from 0 then.";
    FRONT_CERT_EXPIRY = "sccache_dist_front_certificate_expiry_timestamp_seconds", Gauge,
        "Unix time the TLS front's certificate expires (`cargo xtask tls renew` renews it in place).";
    BUILD_INFO = "sccache_dist_build_info", Gauge,
        "The sccache-dist version the scheduler runs and the input hash of its image.";
    SERVER_REGISTERED = "sccache_dist_server_registered", Gauge,
        "1 while the build server is registered, 0 once the scheduler pruned it (90 s without a heartbeat).";
    SERVER_JOBS_IN_PROGRESS = "sccache_dist_server_jobs_in_progress", Gauge,
        "Jobs the scheduler holds for this build server: created, not yet complete, stale or pruned.";
    SERVER_JOBS_UNSTARTED = "sccache_dist_server_jobs_unstarted", Gauge,
        "Jobs allocated to this build server more than 10 s ago that no client has started: clients that cannot reach it (they turn stale at its next heartbeat).";
    SERVER_SLOTS = "sccache_dist_server_slots", Gauge,
        "Jobs the scheduler gives this build server at most (cores + 1 + cores/8); cores from the status API's CPU total as servers register.";
    SERVER_CREATED = "sccache_dist_server_jobs_created_total", Counter,
        "Jobs the scheduler allocated to this build server.";
    SERVER_COMPLETED = "sccache_dist_server_jobs_completed_total", Counter,
        "Jobs this build server completed.";
    SERVER_STALE = "sccache_dist_server_jobs_stale_total", Counter,
        "Jobs de-allocated as stale: their client never started them (it could not reach this build server, or died).";
    SERVER_REGISTRATIONS = "sccache_dist_server_registrations_total", Counter,
        "Times the scheduler registered this build server (a restart registers again).";
    SERVER_PRUNES = "sccache_dist_server_prunes_total", Counter,
        "Times the scheduler pruned this build server as dead (90 s without a heartbeat).";
    TOOLCHAIN_WAIT = "sccache_dist_server_job_toolchain_wait_seconds", Histogram,
        "From a job's creation to Ready: the wait for its toolchain to reach the build server.";
    START_LATENCY = "sccache_dist_server_job_start_latency_seconds", Histogram,
        "From Ready to Started: how long the client took to start the job on the build server.";
    COMPILE = "sccache_dist_server_job_compile_seconds", Histogram,
        "From Started to Complete: the compile on the build server.";
    CLIENT_REQUESTS = "sccache_dist_client_requests_total", Counter,
        "Job allocations (POST alloc_job) through the TLS front, per client address and HTTP status.";
    HEARTBEATS = "sccache_dist_heartbeats_total", Counter,
        "Build server heartbeats through the TLS front, per source address and HTTP status (401: refused, wrong address or credential).";
    CLIENT_JOBS = "sccache_dist_client_jobs_total", Counter,
        "Job allocations through the TLS front per client name (its own token) and HTTP status; client=\"unknown\": a token the front does not know or that was revoked.";
    CLIENT_LAST_SEEN = "sccache_dist_client_last_seen_timestamp_seconds", Gauge,
        "Unix time of the last job allocation of this client (by name).";
    CLIENT_LAST_REQUEST = "sccache_dist_client_last_request_timestamp_seconds", Gauge,
        "Unix time of the last job allocation from this client address.";
    HEARTBEAT_LAST = "sccache_dist_heartbeat_last_timestamp_seconds", Gauge,
        "Unix time of the last heartbeat from this address (every build server on it).";
    FRONT_REQUESTS = "sccache_dist_front_requests_total", Counter,
        "Requests through the TLS front, per scheduler path and HTTP status.";
    LOG_LINES = "sccache_dist_log_lines_total", Counter,
        "Lines of the scheduler's log read.";
    LOG_LINES_UNPARSED = "sccache_dist_log_lines_unparsed_total", Counter,
        "Lines of the scheduler's log no known pattern matched (counted, never fatal).";
    FRONT_LOG_UNPARSED = "sccache_dist_front_log_lines_unparsed_total", Counter,
        "Access-log datagrams of the TLS front not of the expected layout (counted, never fatal).";
    PROCESS_CPU = "process_cpu_seconds_total", Counter,
        "CPU time of the exporter process (user and system).";
    PROCESS_RSS = "process_resident_memory_bytes", Gauge,
        "Resident memory of the exporter process.";
}

/// The upper bounds of every job-phase histogram, in seconds.
pub const BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
];
