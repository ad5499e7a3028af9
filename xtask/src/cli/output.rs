//! What the commands print for the user.

use super::Env;
use crate::cluster::Started;

/// Prints what a successful start gives the user.
pub fn print_started(env: &Env, s: &Started) {
    println!(
        "ready in {:.2}s: {} build server(s), {} CPUs at {}",
        s.ready_after.as_secs_f64(),
        s.status.num_servers,
        s.status.num_cpus,
        s.cluster.scheduler_url()
    );
    println!(
        "client config: {} (`cargo xtask client-config` shows how to use it)",
        env.state.client_config_path().display()
    );
    let engine = crate::docker::engine_kind();
    if engine != crate::model::engine::EngineKind::Docker {
        println!(
            "engine: {} through its Docker API: build servers run with --security-opt {}; every build server made a job's sandbox; it runs no HEALTHCHECK (`status` shows health as it reports it)",
            engine.name(),
            engine.sandbox_security_opts().join(" --security-opt ")
        );
    }
}
