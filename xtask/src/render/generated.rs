//! `cargo xtask generate [--check]`: renders `generated/<distro>/` for every distro
//! profile with the default runtime profile, and checks the committed set for drift.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::base::{atomic, project};
use crate::profile::distro::Distro;
use crate::profile::runtime::{self as runtime_profile, RuntimeProfile};
use crate::render::{Templates, GENERATE_HEADER};
use crate::sccache::ConfigInputs;

/// A documentation address (TEST-NET-1) standing in for the advertised IP.
const EXAMPLE_ADDRESS: &str = "192.0.2.10";

/// Relative path under `generated/` → (contents, executable).
pub type FileSet = BTreeMap<PathBuf, (String, bool)>;

/// The files one distro's build context is made of (besides host binaries).
pub fn context_files(t: &Templates, d: &Distro, p: &RuntimeProfile) -> anyhow::Result<FileSet> {
    let mut files = FileSet::new();
    files.insert("Dockerfile".into(), (t.dockerfile(d, p)?, false));
    files.insert("entrypoint.sh".into(), (t.entrypoint(p)?, true));
    Ok(files)
}

/// Renders everything `generated/` should hold, in memory.
pub fn render_all(root: &Path) -> anyhow::Result<FileSet> {
    let distros = crate::profile::all_distros(root)?;
    let profile = runtime_profile::load_named(root, crate::profile::DEFAULT_PROFILE)?;
    let templates = Templates::load(root)?;
    let example = ConfigInputs {
        advertise: EXAMPLE_ADDRESS.into(),
        client_token: "REPLACE-WITH-CLIENT-TOKEN".into(),
        front_client_token: None,
        server_secret: "REPLACE-WITH-SECRET-KEY".into(),
        server_token: "REPLACE-WITH-SERVER-TOKEN".into(),
        server_ip: EXAMPLE_ADDRESS.into(),
        server_port: profile.settings.server_port,
        // The examples show the plain layout; `start` renders the TLS front's.
        tls: false,
    };
    let header = format!(
        "{GENERATE_HEADER}\n# An example: `cargo xtask start` renders the real one with generated secrets\n# and the advertised address ({EXAMPLE_ADDRESS} stands in for it here)."
    );
    let configs = templates.configs(&profile, &example, &header)?;
    let mut all = FileSet::new();
    for d in &distros {
        let dir = PathBuf::from(&d.name);
        for (name, file) in context_files(&templates, d, &profile)? {
            all.insert(dir.join(name), file);
        }
        all.insert(
            dir.join("scheduler.conf.example"),
            (configs.scheduler.clone(), false),
        );
        all.insert(
            dir.join("server.conf.example"),
            (configs.server.clone(), false),
        );
        all.insert(
            dir.join("client.conf.example"),
            (configs.client.clone(), false),
        );
    }
    Ok(all)
}

/// What differs between the rendered set and the files on disk, one line each.
pub fn drift(out_dir: &Path, want: &FileSet) -> anyhow::Result<Vec<String>> {
    let have = files_on_disk(out_dir)?;
    let mut problems = Vec::new();
    for (rel, (contents, exec)) in want {
        match have.get(rel) {
            None => problems.push(format!("missing: generated/{}", rel.display())),
            Some((bytes, _)) if bytes != contents.as_bytes() => {
                problems.push(format!("stale:   generated/{}", rel.display()))
            }
            Some((_, mode)) if mode != exec => problems.push(format!(
                "mode:    generated/{} (should {}be executable)",
                rel.display(),
                if *exec { "" } else { "not " }
            )),
            Some(_) => {}
        }
    }
    for rel in have.keys().filter(|r| !want.contains_key(*r)) {
        problems.push(format!("extra:   generated/{}", rel.display()));
    }
    Ok(problems)
}

/// Relative path → (bytes, executable).
fn files_on_disk(dir: &Path) -> anyhow::Result<BTreeMap<PathBuf, (Vec<u8>, bool)>> {
    use std::os::unix::fs::PermissionsExt;
    let mut files = BTreeMap::new();
    if !dir.exists() {
        return Ok(files);
    }
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() {
            let rel = entry.path().strip_prefix(dir)?.to_owned();
            let exec = entry.metadata()?.permissions().mode() & 0o111 != 0;
            files.insert(rel, (std::fs::read(entry.path())?, exec));
        }
    }
    Ok(files)
}

/// Writes the set: every file staged first, then all renamed into place, then the
/// files no profile produces any more removed.
pub fn write_all(out_dir: &Path, want: &FileSet) -> anyhow::Result<usize> {
    let have = files_on_disk(out_dir)?;
    let mut staged = Vec::new();
    for (rel, (contents, exec)) in want {
        if have.get(rel) == Some(&(contents.as_bytes().to_vec(), *exec)) {
            continue;
        }
        let path = out_dir.join(rel);
        let mode = if *exec { 0o755 } else { 0o644 };
        staged.push((atomic::stage(&path, contents.as_bytes(), mode)?, path));
    }
    let changed = staged.len();
    for (tmp, path) in staged {
        tmp.persist(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for rel in have.keys().filter(|r| !want.contains_key(*r)) {
        let path = out_dir.join(rel);
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        if let Some(parent) = path.parent() {
            // Only succeeds once the directory of a removed distro is empty.
            let _ = std::fs::remove_dir(parent);
        }
    }
    Ok(changed)
}

/// `cargo xtask generate`: writes generated/ from the profiles, or with `check` fails listing every file that differs from what would be written.
pub fn run(root: &Path, check: bool) -> anyhow::Result<()> {
    let want = render_all(root)?;
    let out_dir = project::generated_dir(root);
    if check {
        let problems = drift(&out_dir, &want)?;
        if problems.is_empty() {
            println!("generated/ is up to date ({} files)", want.len());
            return Ok(());
        }
        for p in &problems {
            eprintln!("{p}");
        }
        anyhow::bail!(
            "generated/ does not match distros/, profiles/ and the templates ({} problems): run `cargo xtask generate`",
            problems.len()
        );
    }
    let changed = write_all(&out_dir, &want)?;
    println!("generated/: {} files, {changed} written", want.len());
    Ok(())
}
