//! Talking to the Docker engine through duct: every command is logged exactly as
//! run, and the usual failures (no client, no engine) are explained.

use std::ffi::OsString;

use anyhow::Context;

/// A command line for the docker client.
pub fn cmd<I, S>(args: I) -> duct::Expression
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    duct::cmd("docker", args)
}

/// Shell-quoted, for printing a command exactly as it runs.
pub fn show(args: &[String]) -> String {
    let mut out = String::from("docker");
    for a in args {
        out.push(' ');
        out.push_str(&crate::render::escape::sh_word(a));
    }
    out
}

/// Runs `docker ARGS`, logging it, with output going to the terminal.
pub fn run_logged(args: &[String]) -> anyhow::Result<()> {
    eprintln!("$ {}", show(args));
    let out = cmd(args).unchecked().run().context("cannot run docker")?;
    if !out.status.success() {
        anyhow::bail!("`{}` failed ({})", show(args), out.status);
    }
    Ok(())
}

/// Runs `docker ARGS` with stdout and stderr captured.
fn capture(args: &[&str]) -> anyhow::Result<std::process::Output> {
    cmd(args)
        .stdout_capture()
        .stderr_capture()
        .unchecked()
        .run()
        .context("cannot run docker")
}

/// Runs `docker ARGS` quietly and returns its trimmed stdout; an error carries stderr.
pub fn output(args: &[&str]) -> anyhow::Result<String> {
    let out = capture(args)?;
    if !out.status.success() {
        anyhow::bail!(
            "`docker {}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Like [`output`], but `None` when docker exits non-zero (e.g. no such object).
pub fn try_output(args: &[&str]) -> anyhow::Result<Option<String>> {
    let out = capture(args)?;
    Ok(out
        .status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned()))
}

/// What the engine can do.
#[derive(Debug, Clone, Copy)]
pub struct Engine {
    /// `docker buildx` is available: BuildKit, SOURCE_DATE_EPOCH, rewrite-timestamp.
    pub buildkit: bool,
}

/// Checks for a docker client and a reachable engine, with advice when either is missing.
pub fn engine() -> anyhow::Result<Engine> {
    if which("docker").is_none() {
        anyhow::bail!(
            "no `docker` on PATH: install Docker (Debian/Ubuntu: `apt-get install docker.io`; elsewhere see https://docs.docker.com/engine/install/)"
        );
    }
    let out = capture(&["version", "--format", "{{.Server.Version}}"])?;
    if !out.status.success() {
        let host = std::env::var("DOCKER_HOST").unwrap_or_else(|_| {
            "unix:///var/run/docker.sock (the default; DOCKER_HOST is not set)".into()
        });
        anyhow::bail!(
            "no Docker engine reachable at {host}: {}\nstart one (`sudo systemctl start docker`, or `sudo dockerd &`), or point DOCKER_HOST at a running engine",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let buildkit = buildx_available();
    Ok(Engine { buildkit })
}

/// Whether the docker CLI has the buildx plugin, found where the CLI looks for it
/// (cheaper than running `docker buildx version`).
pub fn buildx_available() -> bool {
    let mut dirs: Vec<std::path::PathBuf> = Vec::new();
    if let Some(c) = std::env::var_os("DOCKER_CONFIG") {
        dirs.push(std::path::PathBuf::from(c).join("cli-plugins"));
    } else if let Some(h) = std::env::var_os("HOME") {
        dirs.push(std::path::PathBuf::from(h).join(".docker/cli-plugins"));
    }
    for d in [
        "/usr/local/lib/docker/cli-plugins",
        "/usr/local/libexec/docker/cli-plugins",
        "/usr/lib/docker/cli-plugins",
        "/usr/libexec/docker/cli-plugins",
    ] {
        dirs.push(d.into());
    }
    dirs.iter().any(|d| d.join("docker-buildx").is_file())
}

/// The buildx plugin's version (major, minor), from running it: `None` when there
/// is none or it does not work.
pub fn buildx_version() -> Option<(u32, u32)> {
    let out = capture(&["buildx", "version"]).ok()?;
    if !out.status.success() {
        return None;
    }
    // "github.com/docker/buildx v0.17.1 abc123"
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.split_whitespace().find_map(|w| w.strip_prefix('v'))?;
    let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
    Some((parts.next()??, parts.next()??))
}

/// The first `name` on PATH.
pub fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| std::path::Path::new(d).join(name))
        .find(|p| p.is_file())
}

/// The Docker platform of this machine, e.g. `linux/amd64`.
pub fn host_platform() -> String {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "powerpc64" => "ppc64le",
        "s390x" => "s390x",
        other => other,
    };
    format!("linux/{arch}")
}

/// The `--format` template printing one label of an inspected object; `kind` is
/// only for the reader (images and containers keep labels in the same place).
pub fn label_format(_kind: &str, label: &str) -> String {
    format!("{{{{index .Config.Labels \"{label}\"}}}}")
}

/// The value of `label` on the image `reference`: None when there is no such image.
pub fn image_label(reference: &str, label: &str) -> anyhow::Result<Option<String>> {
    try_output(&[
        "image",
        "inspect",
        "--format",
        &label_format("image", label),
        reference,
    ])
}
