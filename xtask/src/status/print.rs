//! `status` as text.

use super::StatusReport;

pub(super) fn print_text(r: &StatusReport) {
    print_containers(r);
    let hash = &r.image_hash[..r.image_hash.len().min(12)];
    println!(
        "image      {} (input hash {hash}, sccache-dist {})",
        r.image,
        r.image_version.as_deref().unwrap_or("unknown")
    );
    println!(
        "network    {}: advertised {} ({})",
        r.network, r.advertised, r.address_source
    );
    for b in &r.builders {
        println!(
            "builder    {} at {}: container {} {} (health: {}), {} (cache {})",
            b.name,
            b.address,
            b.container.name,
            b.container.state,
            b.container.health,
            b.registration,
            b.cache
        );
        if let Some(j) = &b.jobs {
            println!("           jobs: {}", super::jobs::describe(j));
        }
    }
    for b in &r.remote_builders {
        println!(
            "remote     {} at {}: {} (bundle issued at {} s since the epoch){}",
            b.name,
            b.address,
            b.registration,
            b.issued_at,
            b.stale
                .as_deref()
                .map(|w| format!(": {w}"))
                .unwrap_or_default()
        );
        if let Some(j) = &b.jobs {
            println!("           jobs: {}", super::jobs::describe(j));
        }
    }
    match (r.scheduler.num_servers, &r.scheduler.error) {
        (Some(n), _) => println!(
            "scheduler  {}: {n} server(s) of {} expected, {} CPUs, {} job(s) in progress",
            r.scheduler.url,
            r.expected_servers,
            r.scheduler.num_cpus.unwrap_or(0),
            r.scheduler.in_progress.unwrap_or(0)
        ),
        (None, e) => println!(
            "scheduler  {}: not answering ({})",
            r.scheduler.url,
            e.as_deref().unwrap_or("")
        ),
    }
    if let Some(secs) = r.all_registered_after_secs {
        println!(
            "           started {}: all {} builders registered, the last {secs:.1}s after",
            r.scheduler_started_at, r.expected_servers
        );
    } else if !r.scheduler_started_at.is_empty() {
        println!("           started {}", r.scheduler_started_at);
    }
    if r.scheduler.num_servers.unwrap_or(0) as usize > r.expected_servers {
        println!("           (the scheduler forgets a removed build server 90 s after its last heartbeat)");
    }
    let mut running: Vec<String> = std::iter::once(&r.scheduler.version)
        .chain(r.builders.iter().map(|b| &b.version))
        .map(|v| v.clone().unwrap_or_else(|| "unknown".into()))
        .collect();
    running.sort();
    running.dedup();
    println!(
        "versions   client sccache {} (on PATH); servers sccache-dist {}",
        r.client_version.as_deref().unwrap_or("not found"),
        running.join(", ")
    );
    if let Some(clients) = &r.clients {
        println!(
            "clients    {} with a token of their own: {} (`cargo xtask client list`)",
            clients.len(),
            clients.join(", ")
        );
    }
    match &r.metrics.error {
        None => println!(
            "metrics    {} (bearer token in {}); {} client address(es) seen",
            r.metrics.url,
            r.metrics.token_file,
            r.metrics.client_addresses.unwrap_or(0)
        ),
        Some(e) => println!("metrics    {}: not readable ({e})", r.metrics.url),
    }
    if let Some(w) = &r.version_warning {
        println!("           warning: {w}");
    }
    println!("state      {}", r.state_dir);
}

/// One line per container, each once (the all-in-one container serves twice).
fn print_containers(r: &StatusReport) {
    let containers =
        std::iter::once(&r.scheduler.container).chain(r.builders.iter().map(|b| &b.container));
    let mut seen: Vec<&str> = Vec::new();
    for c in containers {
        if seen.contains(&c.name.as_str()) {
            continue;
        }
        seen.push(&c.name);
        if c.state == "missing" {
            println!(
                "container  {}: missing (start it with `cargo xtask start {}`)",
                c.name, r.distro
            );
        } else {
            println!(
                "container  {}: {} (health: {}, restarts: {}, started {})",
                c.name, c.state, c.health, c.restarts, c.started_at
            );
        }
    }
}
