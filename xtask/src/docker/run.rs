//! `docker run` of a run spec: the model's container as the engine is told it.

use super::command::DockerCommand;
use crate::model::run_spec::{CAPABILITIES, CLUSTER_LABEL, RESTART_POLICY, STOP_GRACE_SECS};
use crate::model::RunSpec;

/// `docker run --detach ...` of `spec`, assembled step by step.
pub fn run(spec: &RunSpec) -> DockerCommand {
    let mut c = DockerCommand::new(["run", "--detach"])
        .flag("--name", &spec.name)
        .flag("--label", format!("{CLUSTER_LABEL}=1"));
    if spec.sandbox {
        c = sandbox(c);
    }
    c = c
        .flag("--restart", RESTART_POLICY)
        .flag("--stop-timeout", STOP_GRACE_SECS.to_string());
    for (k, v) in &spec.env {
        c = c.flag("--env", format!("{k}={v}"));
    }
    for m in &spec.mounts {
        let mode = if m.read_only { ":ro" } else { "" };
        c = c.flag("--volume", format!("{}:{}{mode}", m.source, m.target));
    }
    c = match &spec.bridge {
        None => c.flag("--network", "host"),
        Some((net, ip)) => c.flag("--network", net).flag("--ip", ip),
    };
    c.arg(&spec.image).args(&spec.command)
}

/// What bubblewrap needs, and no more, as the engine behind the CLI takes it.
fn sandbox(mut c: DockerCommand) -> DockerCommand {
    for cap in CAPABILITIES {
        c = c.flag("--cap-add", *cap);
    }
    for opt in super::cli::engine_kind().sandbox_security_opts() {
        c = c.flag("--security-opt", *opt);
    }
    c
}
