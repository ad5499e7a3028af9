//! The engine's objects the tool asks about or changes (containers, their logs,
//! volumes, networks, images), each as a typed `docker` command line.

use super::command::DockerCommand;
use crate::model::run_spec::STOP_GRACE_SECS;

/// `docker container inspect --format FORMAT NAME`.
pub fn container_inspect(name: &str, format: &str) -> DockerCommand {
    DockerCommand::new(["container", "inspect", "--format", format, name])
}

/// `docker logs --tail N NAME`.
pub fn logs_tail(name: &str, tail: u32) -> DockerCommand {
    DockerCommand::new(["logs", "--tail"])
        .arg(tail.to_string())
        .arg(name)
}

/// `docker logs --timestamps --since SINCE NAME`.
pub fn logs_since(name: &str, since: &str) -> DockerCommand {
    DockerCommand::new(["logs", "--timestamps", "--since", since, name])
}

/// `docker logs [--follow] [--tail N] NAME`.
pub fn logs(name: &str, follow: bool, tail: Option<u32>) -> DockerCommand {
    let mut c = DockerCommand::new(["logs"]);
    if follow {
        c = c.arg("--follow");
    }
    if let Some(n) = tail {
        c = c.flag("--tail", n.to_string());
    }
    c.arg(name)
}

/// `docker stop` with the grace period: SIGTERM, then SIGKILL after it.
pub fn stop(name: &str) -> DockerCommand {
    DockerCommand::new(["stop", "--timeout"])
        .arg(STOP_GRACE_SECS.to_string())
        .arg(name)
}

/// `docker restart` with the grace period.
pub fn restart(name: &str) -> DockerCommand {
    DockerCommand::new(["restart", "--timeout"])
        .arg(STOP_GRACE_SECS.to_string())
        .arg(name)
}

/// `docker rm --volumes NAME`: the container and its anonymous volumes.
pub fn remove_container(name: &str) -> DockerCommand {
    DockerCommand::new(["rm", "--volumes", name])
}

/// `docker rm --force --volumes NAME`: kills it first if it runs (a container
/// that failed and must not restart again).
pub fn remove_container_forced(name: &str) -> DockerCommand {
    DockerCommand::new(["rm", "--force", "--volumes", name])
}

/// `docker volume inspect NAME`.
pub fn volume_inspect(name: &str) -> DockerCommand {
    DockerCommand::new(["volume", "inspect", name])
}

/// `docker volume rm NAME`.
pub fn volume_remove(name: &str) -> DockerCommand {
    DockerCommand::new(["volume", "rm", name])
}

/// `docker network inspect [--format FORMAT] NAME`.
pub fn network_inspect(name: &str, format: Option<&str>) -> DockerCommand {
    let c = DockerCommand::new(["network", "inspect"]);
    match format {
        Some(f) => c.flag("--format", f).arg(name),
        None => c.arg(name),
    }
}

/// `docker network create --driver bridge --subnet SUBNET NAME`.
pub fn network_create_bridge(name: &str, subnet: &str) -> DockerCommand {
    DockerCommand::new([
        "network", "create", "--driver", "bridge", "--subnet", subnet, name,
    ])
}

/// `docker network rm NAME`.
pub fn network_remove(name: &str) -> DockerCommand {
    DockerCommand::new(["network", "rm", name])
}

/// `docker image inspect --format FORMAT REFERENCE`.
pub fn image_inspect(reference: &str, format: &str) -> DockerCommand {
    DockerCommand::new(["image", "inspect", "--format", format, reference])
}

/// `docker tag SOURCE TARGET`.
pub fn tag(source: &str, target: &str) -> DockerCommand {
    DockerCommand::new(["tag", source, target])
}
