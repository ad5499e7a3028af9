//! The cluster's lifecycle: start (with secrets, configs, networking and a readiness
//! wait), stop, status, logs, and removing the container and images.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::ValueEnum;

use crate::codegen::DEFAULT_PROFILE;
use crate::docker::{self, DISTRO_LABEL, HASH_LABEL};
use crate::render::Templates;
use crate::runtime_profile::{self, NetworkMode};
use crate::scheduler_status::{self, SchedulerStatus};
use crate::state::{self, ClusterRecord, StateDir};
use crate::{network, validate};

/// Label on every container `start` made: only those are ever replaced.
const CLUSTER_LABEL: &str = "io.github.sccache-docker.cluster";

/// A host path for `--volume SRC:DST`: `:` and `,` would be read as separators.
fn mount_source(path: &Path, flag: &str) -> anyhow::Result<String> {
    let s = path
        .to_str()
        .with_context(|| format!("{flag}: {} is not UTF-8", path.display()))?;
    if s.contains([':', ',']) {
        anyhow::bail!("{flag}: {s} holds `:` or `,`, which a Docker volume mount cannot take");
    }
    Ok(s.to_owned())
}

/// Seconds `docker stop` waits after SIGTERM before it kills.
const STOP_GRACE_SECS: &str = "20";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NetworkArg {
    Host,
    Bridge,
}

#[derive(clap::Args, Clone, Debug)]
pub struct StartArgs {
    /// The distro whose image to run (build it first with `cargo xtask image`).
    pub distro: String,
    /// Runtime profile from profiles/.
    #[arg(long, default_value = DEFAULT_PROFILE)]
    pub profile: String,
    /// Keep the cache root in this host directory instead of a named volume.
    #[arg(long, value_name = "PATH")]
    pub cache_dir: Option<PathBuf>,
    /// Override the profile's network mode.
    #[arg(long, value_enum)]
    pub network: Option<NetworkArg>,
    /// Host network: the IP clients and the scheduler reach the build server at
    /// [default: the host's address on its default route].
    #[arg(long, value_name = "IP")]
    pub advertise: Option<Ipv4Addr>,
    /// Container name (also names its volume and bridge network).
    #[arg(long, env = "SCCACHE_DOCKER_CONTAINER", default_value = "sccache-dist")]
    pub name: String,
    /// Image repository the image was built into.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = "sccache-dist")]
    pub repo: String,
    /// Seconds to wait for a build server to register.
    #[arg(long, default_value_t = 60)]
    pub timeout: u64,
}

#[derive(clap::Args, Clone, Debug)]
pub struct RemoveImageArgs {
    /// The distro whose images (every tag) to remove.
    #[arg(required_unless_present = "all")]
    pub distro: Option<String>,
    /// Remove the images of every distro.
    #[arg(long, conflicts_with = "distro")]
    pub all: bool,
    /// Image repository.
    #[arg(long, env = "SCCACHE_DOCKER_REPO", default_value = "sccache-dist")]
    pub repo: String,
}

/// `docker inspect` of the container, or None when there is none.
pub struct ContainerState {
    pub status: String,
    pub health: String,
    pub restarts: u64,
    pub started_at: String,
}

pub fn container_state(name: &str) -> anyhow::Result<Option<ContainerState>> {
    let fmt = "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}|{{.RestartCount}}|{{.State.StartedAt}}";
    let Some(out) = docker::try_output(&["container", "inspect", "--format", fmt, name])? else {
        return Ok(None);
    };
    let f: Vec<&str> = out.split('|').collect();
    anyhow::ensure!(f.len() == 4, "unexpected docker inspect output {out:?}");
    Ok(Some(ContainerState {
        status: f[0].into(),
        health: f[1].into(),
        restarts: f[2].parse().unwrap_or(0),
        started_at: f[3].into(),
    }))
}

pub fn start(root: &Path, state: &StateDir, args: &StartArgs) -> anyhow::Result<()> {
    validate::docker_name(&args.name).map_err(|e| anyhow::anyhow!("--name: {e}"))?;
    let known = crate::distro::load_all(&root.join("distros"), root)?;
    if !known.iter().any(|d| d.name == args.distro) {
        let names: Vec<_> = known.iter().map(|d| d.name.as_str()).collect();
        anyhow::bail!(
            "unknown distro {:?}: known distros are {}",
            args.distro,
            names.join(", ")
        );
    }
    if let Some(ip) = args.advertise {
        if ip.is_unspecified() || ip.is_broadcast() || ip.is_multicast() {
            anyhow::bail!("--advertise {ip}: give the unicast address clients reach this host at (the server's heartbeats must come from it)");
        }
    }
    let profile = runtime_profile::load_named(root, &args.profile)?;
    let rt = &profile.profile;
    docker::engine()?;

    let image = format!("{}:{}", args.repo, args.distro);
    let Some(image_hash) = docker::try_output(&[
        "image",
        "inspect",
        "--format",
        &format!("{{{{index .Config.Labels \"{HASH_LABEL}\"}}}}"),
        &image,
    ])?
    else {
        anyhow::bail!(
            "no image {image}: build it first with `cargo xtask image {}`",
            args.distro
        );
    };

    match container_state(&args.name)? {
        Some(s) if s.status == "running" || s.status == "restarting" => anyhow::bail!(
            "the container {} is already {}: `cargo xtask stop` it first, or use `status`",
            args.name,
            s.status
        ),
        Some(_) => {
            // A stopped container of ours is replaced; anyone else's is left alone.
            let ours = docker::output(&[
                "container",
                "inspect",
                "--format",
                &format!("{{{{index .Config.Labels \"{CLUSTER_LABEL}\"}}}}"),
                &args.name,
            ])?;
            anyhow::ensure!(
                ours == "1",
                "a container named {} exists and was not started by this tool: choose another --name",
                args.name
            );
            docker::output(&["rm", &args.name]).map(drop)?
        }
        None => {}
    }

    let mode = match args.network {
        Some(NetworkArg::Host) => NetworkMode::Host,
        Some(NetworkArg::Bridge) => NetworkMode::Bridge,
        None => rt.network,
    };
    let (advertise, source, bridge_network) = match mode {
        NetworkMode::Host => match args.advertise {
            Some(ip) => (ip, "--advertise".to_owned(), None),
            None => match network::detect_host_address() {
                Some(ip) => (ip, "detected: the host's address on its default route".to_owned(), None),
                None => (
                    Ipv4Addr::LOCALHOST,
                    "no default route: only clients on this host can reach it (pass --advertise IP)".to_owned(),
                    None,
                ),
            },
        },
        NetworkMode::Bridge => {
            if args.advertise.is_some() {
                anyhow::bail!("--advertise applies to the host network; in bridge mode the container's address is bridge_address in {}", profile.file);
            }
            let net = format!("{}-net", args.name);
            let ip: Ipv4Addr = rt.bridge_address.parse()?;
            (ip, format!("the container's fixed address on the bridge network {net}"), Some(net))
        }
    };
    let advertise_s = advertise.to_string();

    // Secrets and configs live in the state directory and reach the container only
    // as a read-only mount: never in the image, the environment or the logs.
    let secrets = state.secrets(rt.server_auth)?;
    let templates = Templates::load(root)?;
    let configs = state::render_configs(&templates, &profile, &secrets, &advertise_s, "start")?;
    let problems = crate::check_configs::check(&configs);
    anyhow::ensure!(
        problems.is_empty(),
        "the rendered configs do not check out:\n{}",
        problems.join("\n")
    );
    state.write_configs(&configs)?;

    let cache = match &args.cache_dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            mount_source(&dir.canonicalize()?, "--cache-dir")?
        }
        None => format!("{}-cache", args.name),
    };
    let conf_dir = mount_source(&state.container_config_dir().canonicalize()?, "--state-dir")?;
    let mut run: Vec<String> = vec![
        "run".into(),
        "--detach".into(),
        "--name".into(),
        args.name.clone(),
        "--label".into(),
        format!("{CLUSTER_LABEL}=1"),
        // What the overlay builder's bubblewrap needs, and no more (never --privileged).
        "--cap-add".into(),
        "SYS_ADMIN".into(),
        "--security-opt".into(),
        "seccomp=unconfined".into(),
        "--security-opt".into(),
        "systempaths=unconfined".into(),
        "--restart".into(),
        "unless-stopped".into(),
        "--stop-timeout".into(),
        STOP_GRACE_SECS.into(),
        "--env".into(),
        format!("SCCACHE_LOG={}", rt.log_level.as_str()),
        "--volume".into(),
        format!("{conf_dir}:/etc/sccache-dist:ro"),
        "--volume".into(),
        format!("{cache}:{}", rt.cache_root),
    ];
    match &bridge_network {
        None => run.extend(["--network".into(), "host".into()]),
        Some(net) => run.extend([
            "--network".into(),
            net.clone(),
            "--ip".into(),
            advertise_s.clone(),
        ]),
    }
    run.push(image.clone());

    let record = ClusterRecord {
        container: args.name.clone(),
        distro: args.distro.clone(),
        image: image.clone(),
        image_hash: image_hash.clone(),
        profile: profile.clone(),
        network: match mode {
            NetworkMode::Host => "host".into(),
            NetworkMode::Bridge => "bridge".into(),
        },
        bridge_network,
        advertise: advertise_s.clone(),
        advertise_source: source.clone(),
        cache: cache.clone(),
    };

    println!("advertising {advertise_s} ({source})");
    let created_network = match &record.bridge_network {
        Some(net) => network::ensure_bridge(net, &rt.bridge_subnet)?,
        None => false,
    };
    let t0 = Instant::now();
    if let Err(e) = docker::run_logged(&run) {
        if let (true, Some(net)) = (created_network, &record.bridge_network) {
            let _ = docker::output(&["network", "rm", net]); // made for this start only
        }
        return Err(e);
    }
    // Recorded once the container exists: a failed `docker run` leaves the record
    // of the previous cluster as it was.
    state.save_record(&record)?;
    let status = wait_ready(&record, Duration::from_secs(args.timeout))?;
    println!(
        "ready in {:.2}s: {} build server(s), {} CPUs at {}",
        t0.elapsed().as_secs_f64(),
        status.num_servers,
        status.num_cpus,
        record.scheduler_url()
    );
    println!(
        "client config: {} (`cargo xtask client-config` shows how to use it)",
        state.client_config_path().display()
    );
    Ok(())
}

/// Polls the scheduler until a build server has registered, the container dies, or
/// the deadline passes; failures carry the tail of the container's log.
pub fn wait_ready(r: &ClusterRecord, timeout: Duration) -> anyhow::Result<SchedulerStatus> {
    let addr = r.scheduler_addr()?;
    let deadline = Instant::now() + timeout;
    let mut next_container_check = Instant::now();
    let mut last_error;
    loop {
        match scheduler_status::fetch(addr) {
            Ok(s) if s.num_servers > 0 => return Ok(s),
            Ok(_) => last_error = "the scheduler answers but no build server has registered".into(),
            Err(e) => last_error = format!("{e:#}"),
        }
        if Instant::now() >= next_container_check {
            if let Some(s) = container_state(&r.container)? {
                if s.status == "exited" || s.status == "dead" {
                    anyhow::bail!(
                        "the container {} {}; {}",
                        r.container,
                        s.status,
                        log_tail_with_advice(&r.container)
                    );
                }
            }
            // A refused heartbeat never heals by waiting: say so at once.
            let log = container_log(&r.container, 50);
            if log.contains("invalid_bearer_token_mismatched_address") {
                anyhow::bail!(
                    "the scheduler refuses the build server's heartbeats (advertised {}, {} network).\n{MISMATCHED_ADDRESS_ADVICE}\n{}",
                    r.advertise,
                    r.network,
                    log_tail_with_advice(&r.container)
                        .lines()
                        .take_while(|l| !l.starts_with("cause:"))
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
            next_container_check = Instant::now() + Duration::from_millis(500);
        }
        if Instant::now() >= deadline {
            anyhow::bail!(
                "no build server registered with the scheduler at {addr} within {}s ({last_error}); {}",
                timeout.as_secs(),
                log_tail_with_advice(&r.container)
            );
        }
        std::thread::sleep(Duration::from_millis(50)); // the poll interval, not a wait for a state
    }
}

/// The last lines of the container's log, with the cause named when it is a known one.
pub fn log_tail_with_advice(container: &str) -> String {
    let log = container_log(container, 40);
    let mut out = format!("the last lines of its log:\n{log}");
    for advice in diagnose(&log) {
        out.push_str("\n\n");
        out.push_str(advice);
    }
    out
}

pub fn container_log(container: &str, tail: u32) -> String {
    docker::cmd(["logs", "--tail", &tail.to_string(), container])
        .stderr_to_stdout()
        .stdout_capture()
        .unchecked()
        .run()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

pub const MISMATCHED_ADDRESS_ADVICE: &str = "cause: the scheduler refused the server's heartbeat with invalid_bearer_token_mismatched_address: it accepts a server only when the heartbeat comes from the IP in the server's public_addr. Behind NAT or published ports (-p) the source IP differs. Fix: the host network with --advertise set to the address the heartbeats leave from, or bridge mode, where public_addr is the container's own IP.";
pub const BWRAP_ADVICE: &str = "cause: bubblewrap may not create its sandbox (Operation not permitted). The container needs --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt systempaths=unconfined (`cargo xtask start` passes them; an engine or runtime policy may strip them).";
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

/// `docker stop` with the grace period: SIGTERM, then SIGKILL after it.
fn stop_container(name: &str) -> anyhow::Result<()> {
    docker::run_logged(&[
        "stop".into(),
        "--time".into(),
        STOP_GRACE_SECS.into(),
        name.to_owned(),
    ])
}

pub fn stop(state: &StateDir) -> anyhow::Result<()> {
    let r = state.record()?;
    docker::engine()?;
    match container_state(&r.container)? {
        None => anyhow::bail!("no container {} (nothing to stop)", r.container),
        Some(s) if s.status != "running" && s.status != "restarting" => {
            println!("{} is not running ({})", r.container, s.status);
            Ok(())
        }
        Some(_) => {
            let t0 = Instant::now();
            stop_container(&r.container)?;
            println!(
                "stopped {} in {:.1}s",
                r.container,
                t0.elapsed().as_secs_f64()
            );
            Ok(())
        }
    }
}

pub fn status(state: &StateDir) -> anyhow::Result<()> {
    let r = state.record()?;
    docker::engine()?;
    let Some(c) = container_state(&r.container)? else {
        anyhow::bail!(
            "no container {} (start it with `cargo xtask start {}`)",
            r.container,
            r.distro
        );
    };
    println!(
        "container  {}: {} (health: {}, restarts: {}, started {})",
        r.container, c.status, c.health, c.restarts, c.started_at
    );
    println!(
        "image      {} (input hash {})",
        r.image,
        &r.image_hash[..r.image_hash.len().min(12)]
    );
    println!(
        "network    {}: advertised {} ({})",
        r.network, r.advertise, r.advertise_source
    );
    println!("cache      {}", r.cache);
    println!(
        "server     {}:{}",
        r.advertise, r.profile.profile.server_port
    );
    let addr = r.scheduler_addr()?;
    let sched = scheduler_status::fetch(addr);
    match &sched {
        Ok(s) => println!(
            "scheduler  {}: {} server(s), {} CPUs, {} job(s) in progress",
            r.scheduler_url(),
            s.num_servers,
            s.num_cpus,
            s.in_progress
        ),
        Err(e) => println!("scheduler  {}: not answering ({e:#})", r.scheduler_url()),
    }
    println!("state      {}", state.path().display());
    if c.status != "running" {
        anyhow::bail!("the container is {}", c.status);
    }
    match sched {
        Ok(s) if s.num_servers == 0 => {
            anyhow::bail!(
                "no build server registered; {}",
                log_tail_with_advice(&r.container)
            )
        }
        Ok(_) => Ok(()),
        Err(_) => anyhow::bail!("the scheduler does not answer"),
    }
}

pub fn logs(state: &StateDir, follow: bool, tail: Option<u32>) -> anyhow::Result<()> {
    let r = state.record()?;
    let mut args = vec!["logs".to_owned()];
    if follow {
        args.push("--follow".into());
    }
    if let Some(n) = tail {
        args.extend(["--tail".into(), n.to_string()]);
    }
    args.push(r.container);
    let out = docker::cmd(&args).unchecked().run()?;
    anyhow::ensure!(out.status.success(), "`{}` failed", docker::show(&args));
    Ok(())
}

pub fn remove_container(state: &StateDir, purge: bool) -> anyhow::Result<()> {
    let r = state.record()?;
    docker::engine()?;
    if container_state(&r.container)?.is_some() {
        stop_container(&r.container)?;
        docker::run_logged(&["rm".into(), r.container.clone()])?;
        println!("removed the container {}", r.container);
    } else {
        println!("no container {}", r.container);
    }
    if purge {
        if !r.cache.starts_with('/')
            && docker::try_output(&["volume", "inspect", &r.cache])?.is_some()
        {
            docker::run_logged(&["volume".into(), "rm".into(), r.cache.clone()])?;
        }
        if let Some(net) = &r.bridge_network {
            if docker::try_output(&["network", "inspect", net])?.is_some() {
                docker::run_logged(&["network".into(), "rm".into(), net.clone()])?;
            }
        }
    } else if !r.cache.starts_with('/') {
        println!("the cache volume {} is kept (--purge removes it)", r.cache);
    }
    Ok(())
}

pub fn remove_image(root: &Path, args: &RemoveImageArgs) -> anyhow::Result<()> {
    docker::engine()?;
    let filter = match &args.distro {
        Some(d) => {
            let known = crate::distro::load_all(&root.join("distros"), root)?;
            if !known.iter().any(|k| &k.name == d) {
                let names: Vec<_> = known.iter().map(|k| k.name.as_str()).collect();
                anyhow::bail!(
                    "unknown distro {d:?}: known distros are {}",
                    names.join(", ")
                );
            }
            format!("label={DISTRO_LABEL}={d}")
        }
        None => format!("label={HASH_LABEL}"),
    };
    let refs = docker::output(&[
        "images",
        "--filter",
        &filter,
        "--filter",
        &format!("reference={}", args.repo),
        "--format",
        "{{.Repository}}:{{.Tag}}",
    ])?;
    let refs: Vec<String> = refs
        .lines()
        .filter(|l| !l.ends_with(":<none>"))
        .map(str::to_owned)
        .collect();
    if refs.is_empty() {
        println!("no images to remove in {}", args.repo);
        return Ok(());
    }
    let mut cmd = vec!["image".to_owned(), "rm".to_owned()];
    cmd.extend(refs.iter().cloned());
    docker::run_logged(&cmd).context("an image still used by a container cannot be removed: `cargo xtask remove-container` first")?;
    println!("removed {}", refs.join(", "));
    Ok(())
}
