//! A registry as the shared memory of `image`: with a registry repository
//! (`--repo 127.0.0.1:5000/sccache-dist`, `--repo ghcr.io/OWNER/sccache-dist`),
//! `image` looks for the hash tag there before building, skips the build when the
//! registry has it (`--pull` fetches it and tags it locally as the moving tag too),
//! and `--push` publishes both tags.
//!
//! The registry's copy counts when its image config carries the full input hash in
//! the hash label, as a local image must. A registry that is down or refuses us is
//! an error naming it, raised before any local tag is touched.

use super::plan::Plan;
use super::request::ImageRequest;
use super::HASH_LABEL;
use crate::docker::registry::{self as remote, RemoteImage};
use crate::docker::DockerCommand;

/// The registry a request talks to: `None` for a local repository. `--push` and
/// `--pull` need a registry repository.
pub fn for_request(args: &ImageRequest) -> anyhow::Result<Option<String>> {
    let host = remote::registry_host(&args.repo).map(str::to_owned);
    if host.is_none() && (args.push || args.pull) {
        anyhow::bail!(
            "--push and --pull need a registry repository, whose first path component is a host with a dot or a port, or localhost (e.g. --repo 127.0.0.1:5000/sccache-dist or ghcr.io/OWNER/sccache-dist); {:?} is a local name",
            args.repo
        );
    }
    Ok(host)
}

/// The commands a real run would run against the registry, for `--dry-run`.
pub fn dry_run_commands(plan: &Plan, args: &ImageRequest) -> Vec<DockerCommand> {
    if remote::registry_host(&args.repo).is_none() {
        return Vec::new();
    }
    let mut cmds = vec![remote::inspect_command(&plan.hash_tag)];
    if args.pull {
        cmds.push(remote::pull_command(&plan.hash_tag, &plan.platform));
        cmds.push(remote::tag_command(&plan.hash_tag, &plan.tag));
    }
    if args.push {
        cmds.push(remote::push_command(&plan.hash_tag));
        cmds.push(remote::push_command(&plan.tag));
    }
    cmds
}

/// The registry's image under the plan's hash tag, when it carries this plan's
/// hash; an error naming the registry when it cannot be asked.
fn find(plan: &Plan, registry: &str) -> anyhow::Result<Option<RemoteImage>> {
    let found = remote::lookup(&plan.hash_tag, registry, &plan.platform, HASH_LABEL)?;
    match found {
        Some(img) if img.label.as_deref() == Some(plan.hash.as_str()) => Ok(Some(img)),
        Some(img) => {
            eprintln!(
                "note: {} in {registry} carries the hash label {:?}, not {}: building",
                plan.hash_tag, img.label, plan.hash
            );
            Ok(None)
        }
        None => Ok(None),
    }
}

/// Before building: true when the registry has this plan's image, so no build is
/// needed. With `--pull` the image is pulled and tagged locally as the moving tag;
/// with `--push` the registry's moving tag is brought to it as well.
pub fn reuse(
    plan: &Plan,
    registry: &str,
    args: &ImageRequest,
    local_tags: Option<&[String]>,
) -> anyhow::Result<bool> {
    let Some(found) = find(plan, registry)? else {
        return Ok(false);
    };
    println!(
        "{}: {} is in the registry {registry} ({}), no build needed",
        plan.distro, plan.hash_tag, found.digest
    );
    let have_local = local_tags.is_some();
    if (args.pull || args.push) && !have_local {
        run(
            &remote::pull_command(&plan.hash_tag, &plan.platform),
            registry,
        )?;
        println!("{}: pulled {} from {registry}", plan.distro, plan.hash_tag);
    }
    let has_moving = local_tags.is_some_and(|t| t.contains(&plan.tag));
    if (args.pull || args.push || have_local) && !has_moving {
        remote::tag_command(&plan.hash_tag, &plan.tag).run_logged()?;
        println!("{}: tagged {}", plan.distro, plan.tag);
    }
    if !args.pull && !args.push && !have_local {
        println!(
            "{}: not pulled, local tags left as they were (--pull fetches it)",
            plan.distro
        );
    }
    if args.push {
        push_moving_tag(plan, registry, &found)?;
    }
    Ok(true)
}

/// Points the registry's moving tag at the hash tag's image, unless it already does.
fn push_moving_tag(plan: &Plan, registry: &str, found: &RemoteImage) -> anyhow::Result<()> {
    let moving = remote::lookup(&plan.tag, registry, &plan.platform, HASH_LABEL)?;
    if moving.is_some_and(|m| m.digest == found.digest) {
        println!(
            "{}: {} in {registry} already points to it",
            plan.distro, plan.tag
        );
        return Ok(());
    }
    run(&remote::push_command(&plan.tag), registry)?;
    println!("{}: pushed {} to {registry}", plan.distro, plan.tag);
    Ok(())
}

/// After a build, or with a local image that is up to date: `--push` publishes the
/// hash tag and the moving tag, and says the digest the registry now serves.
pub fn publish(plan: &Plan, registry: Option<&str>, args: &ImageRequest) -> anyhow::Result<()> {
    let (Some(registry), true) = (registry, args.push) else {
        return Ok(());
    };
    run(&remote::push_command(&plan.hash_tag), registry)?;
    run(&remote::push_command(&plan.tag), registry)?;
    let digest = remote::lookup(&plan.hash_tag, registry, &plan.platform, HASH_LABEL)?
        .map(|img| img.digest)
        .ok_or_else(|| {
            anyhow::anyhow!(
                "{} was pushed but the registry {registry} does not list it",
                plan.hash_tag
            )
        })?;
    println!(
        "{}: pushed {} and {} to {registry} ({digest})",
        plan.distro, plan.hash_tag, plan.tag
    );
    Ok(())
}

/// Runs one docker command against `registry`, naming the registry if it fails.
fn run(cmd: &DockerCommand, registry: &str) -> anyhow::Result<()> {
    cmd.run_logged()
        .map_err(|e| e.context(format!("the registry {registry} refused or is unreachable")))
}
