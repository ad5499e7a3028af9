//! The documents agree with the code: docs/commands.md is what the command line's
//! help says, every `cargo xtask ...` line in README.md and docs/ parses with the
//! real clap definition, every relative link and anchor resolves, and every cause
//! doctor names has its entry in docs/troubleshooting.md. Engine-free.

mod support;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use clap::Parser;
use support::{project_root, stderr, stdout, xtask};

/// README.md and every docs/*.md, the generated commands reference included.
fn documents(root: &Path) -> Vec<PathBuf> {
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    docs.insert(0, root.join("README.md"));
    docs
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines inside fenced code blocks, with their line numbers, `\` continuations
/// joined onto the line they continue.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut fence: Option<String> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        if let Some(f) = &fence {
            if trimmed.starts_with(f.as_str()) && trimmed.trim_start_matches('`').trim().is_empty()
            {
                fence = None;
                continue;
            }
            let (n, mut joined) = pending.take().unwrap_or((i + 1, String::new()));
            joined.push_str(line);
            if joined.ends_with('\\') {
                joined.pop();
                joined.push(' ');
                pending = Some((n, joined));
            } else {
                out.push((n, joined));
            }
        } else if trimmed.starts_with("```") {
            let ticks = trimmed.len() - trimmed.trim_start_matches('`').len();
            fence = Some("`".repeat(ticks));
        }
    }
    out
}

/// A shell line split into words: quotes kept together, a `#` that starts a word
/// ends the line (a comment).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None if c == '#' && !in_word => break,
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if in_word {
        words.push(word);
    }
    words
}

/// Every `cargo xtask ...` invocation of a code line: the words after
/// `cargo xtask`, up to the end of the command (`&&`, `||`, `;` or `|`).
fn invocations(line: &str) -> Vec<Vec<String>> {
    let words = shell_words(line);
    let mut found = Vec::new();
    let mut i = 0;
    while i + 1 < words.len() {
        if words[i] == "cargo" && words[i + 1] == "xtask" {
            let args: Vec<String> = words[i + 2..]
                .iter()
                .take_while(|w| !matches!(w.as_str(), "&&" | "||" | ";" | "|"))
                .cloned()
                .collect();
            i += 2 + args.len();
            found.push(args);
        } else {
            i += 1;
        }
    }
    found
}

#[test]
fn every_documented_command_parses() {
    let root = project_root();
    let mut failures = Vec::new();
    let mut checked = 0;
    // docs/commands.md is clap's own help (its usage lines hold placeholders).
    for doc in documents(&root)
        .into_iter()
        .filter(|d| !d.ends_with("docs/commands.md"))
    {
        let name = doc.strip_prefix(&root).unwrap().display().to_string();
        for (n, line) in code_lines(&read(&doc)) {
            for args in invocations(&line) {
                checked += 1;
                let argv = std::iter::once("cargo-xtask".to_owned()).chain(args.iter().cloned());
                if let Err(e) = xtask::cli::Cli::try_parse_from(argv) {
                    let first = e.to_string();
                    let first = first.lines().next().unwrap_or("").to_owned();
                    failures.push(format!(
                        "{name}:{n}: cargo xtask {}: {first}",
                        args.join(" ")
                    ));
                }
            }
        }
    }
    assert!(
        checked >= 30,
        "only {checked} `cargo xtask` lines found in code blocks"
    );
    assert!(
        failures.is_empty(),
        "documented commands the command line refuses:\n{}",
        failures.join("\n")
    );
}

#[test]
fn the_line_reader_handles_continuations_comments_and_pipes() {
    let text = "```sh\ncargo xtask image debian \\\n  --force   # build again\n$ cargo xtask status --json | jq . && cargo xtask stop\n```\ncargo xtask not-in-a-block\n";
    let lines = code_lines(text);
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[0].0, 2);
    assert_eq!(
        invocations(&lines[0].1),
        vec![vec!["image", "debian", "--force"]]
    );
    assert_eq!(
        invocations(&lines[1].1),
        vec![vec!["status", "--json"], vec!["stop"]]
    );
    // And the parse check refuses a flag the command line lacks.
    assert!(xtask::cli::Cli::try_parse_from(["x", "image", "debian", "--forse"]).is_err());
}

/// GitHub's anchor for a heading: lowercase, punctuation dropped (but `-` and `_`),
/// spaces to `-`; a repeated one gets `-1`, `-2`, ...
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_'))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every anchor a document's headings make (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut in_code = false;
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        let hashes = line.len() - line.trim_start_matches('#').len();
        if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
            let base = anchor(&line[hashes..]);
            let mut a = base.clone();
            let mut k = 0;
            while seen.contains(&a) {
                k += 1;
                a = format!("{base}-{k}");
            }
            seen.insert(a);
        }
    }
    seen
}

/// Every inline link target `[text](target)` outside code blocks and code spans.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_code = false;
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
            continue;
        }
        if in_code {
            continue;
        }
        // Drop code spans, so `a[i](x)` in code is no link.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(k, _)| k % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((i + 1, after[..end].trim().to_owned()));
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = project_root();
    let mut failures = Vec::new();
    let mut checked = 0;
    for doc in documents(&root) {
        let name = doc.strip_prefix(&root).unwrap().display().to_string();
        let text = read(&doc);
        for (n, target) in links(&text) {
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, frag) = match target.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (target.as_str(), None),
            };
            let file = if path.is_empty() {
                doc.clone()
            } else {
                doc.parent().unwrap().join(path)
            };
            if !file.exists() {
                failures.push(format!("{name}:{n}: {target}: no such file"));
                continue;
            }
            if let Some(frag) = frag {
                if file.extension().is_none_or(|e| e != "md") {
                    failures.push(format!(
                        "{name}:{n}: {target}: an anchor into a non-Markdown file"
                    ));
                } else if !anchors(&read(&file)).contains(frag) {
                    failures.push(format!("{name}:{n}: {target}: no heading makes #{frag}"));
                }
            }
        }
    }
    assert!(checked >= 20, "only {checked} relative links found");
    assert!(
        failures.is_empty(),
        "broken links:\n{}",
        failures.join("\n")
    );
}

#[test]
fn anchors_follow_githubs_rules() {
    assert_eq!(anchor("TLS and certificates"), "tls-and-certificates");
    assert_eq!(
        anchor("`cargo xtask up`: one command"),
        "cargo-xtask-up-one-command"
    );
    assert_eq!(anchor("name not in certificate"), "name-not-in-certificate");
    let a = anchors("# A\n```\n# not a heading\n```\n## A\n#nope\n");
    assert_eq!(a, BTreeSet::from(["a".to_owned(), "a-1".to_owned()]));
    assert_eq!(
        links("see [x](a.md#b) and `[y](c.md)`\n```\n[z](d.md)\n```\n"),
        vec![(1, "a.md#b".to_owned())]
    );
}

#[test]
fn every_doctor_cause_has_its_troubleshooting_entry() {
    let root = project_root();
    let page = read(&root.join("docs/troubleshooting.md"));
    let have = anchors(&page);
    let mut names: Vec<&str> = xtask::sccache::causes::CAUSES
        .iter()
        .map(|c| c.name)
        .collect();
    names.push(xtask::sccache::causes::UNREACHABLE_BUILDER);
    assert!(names.len() >= 12, "{names:?}");
    let missing: Vec<String> = names
        .iter()
        .filter(|n| !have.contains(&anchor(n)))
        .map(|n| format!("{n} (#{})", anchor(n)))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/troubleshooting.md has no heading for these doctor causes:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_commands_reference_is_current() {
    let root = project_root();
    let want = xtask::cli::docs::commands_md();
    let have = read(&root.join("docs/commands.md"));
    if have != want {
        let (n, (h, w)) = have
            .lines()
            .chain(std::iter::repeat("<end of file>"))
            .zip(want.lines().chain(std::iter::repeat("<end of file>")))
            .enumerate()
            .find(|(_, (h, w))| h != w)
            .expect("files that differ differ in a line");
        panic!(
            "docs/commands.md is stale: run `cargo xtask docs`\n  line {}: {h}\n  the help says: {w}",
            n + 1
        );
    }
    // Every command and subcommand has its section, with all its flags.
    for sub in xtask::cli::command().get_subcommands() {
        let heading = format!("\n## cargo xtask {}\n", sub.get_name());
        assert!(want.contains(&heading), "no section {heading:?}");
        for arg in sub.get_arguments().filter_map(|a| a.get_long()) {
            assert!(
                want.contains(&format!("--{arg}")),
                "--{arg} of {}",
                sub.get_name()
            );
        }
    }
    let out = xtask(&root, &["docs", "--check"]);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn docs_check_fails_on_a_stale_or_missing_reference_and_docs_writes_it() {
    let tree = tempfile::tempdir().unwrap();
    let out = xtask(tree.path(), &["docs", "--check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("missing: docs/commands.md"),
        "{}",
        stderr(&out)
    );

    std::fs::create_dir(tree.path().join("docs")).unwrap();
    let md = tree.path().join("docs/commands.md");
    std::fs::write(&md, "# Commands\n\nold\n").unwrap();
    let out = xtask(tree.path(), &["docs", "--check"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("stale:   docs/commands.md"),
        "{}",
        stderr(&out)
    );
    assert_eq!(read(&md), "# Commands\n\nold\n", "--check must not write");

    let out = xtask(tree.path(), &["docs"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("wrote docs/commands.md"));
    assert_eq!(read(&md), xtask::cli::docs::commands_md());
    assert!(xtask(tree.path(), &["docs", "--check"]).status.success());
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = read(&project_root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= 160,
        "README.md has {lines} lines; the manual is docs/"
    );
    let first_screen: String = readme.lines().take(60).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen.contains("cargo xtask up"),
        "`cargo xtask up` in the first screen"
    );
    assert!(
        first_screen.contains("cargo install sccache"),
        "the install line in the first screen"
    );
}

#[test]
fn every_metric_is_in_the_observability_page() {
    let page = read(&project_root().join("docs/observability.md"));
    let missing: Vec<&str> = sccache_dist_exporter::names::ALL
        .iter()
        .map(|f| f.name)
        .filter(|n| !page.contains(&format!("`{n}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/observability.md does not name these metrics (xtask/exporter/src/names.rs):\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_fast_tests_named_in_development_md_are_the_aliases() {
    let root = project_root();
    let config = read(&root.join(".cargo/config.toml"));
    let alias = config
        .lines()
        .find(|l| l.starts_with("test-fast"))
        .expect("a test-fast alias in .cargo/config.toml");
    let page = read(&root.join("docs/development.md"));
    let words: Vec<&str> = alias.split_whitespace().collect();
    let tests: Vec<&str> = words
        .windows(2)
        .filter(|w| w[0] == "--test")
        .map(|w| w[1].trim_matches('"'))
        .collect();
    assert!(
        tests.contains(&"docs"),
        "tests/docs.rs is in test-fast: {alias}"
    );
    let missing: Vec<&&str> = tests
        .iter()
        .filter(|t| !page.contains(&format!("`{t}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/development.md does not name these tests of `cargo test-fast`: {missing:?}"
    );
    // And CI runs what the README calls the full test command.
    let ci = read(&root.join(".ci/run"));
    let readme = read(&root.join("README.md"));
    assert!(
        ci.lines().any(|l| l.trim() == "cargo test --workspace"),
        ".ci/run"
    );
    assert!(readme.contains("\ncargo test --workspace\n"), "README.md");
}

#[test]
fn every_page_opens_with_what_it_is_for() {
    let root = project_root();
    for doc in documents(&root).into_iter().skip(1) {
        let mut text = read(&doc);
        // Comments (the generated page's notice) are not what a reader sees.
        while let Some(start) = text.find("<!--") {
            let end = text[start..]
                .find("-->")
                .map_or(text.len(), |e| start + e + 3);
            text.replace_range(start..end, "");
        }
        let opening = text
            .lines()
            .skip(1)
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("");
        assert!(
            opening.starts_with("What this page is for:"),
            "{}: the first paragraph says what the page is for, not {opening:?}",
            doc.display()
        );
    }
}

#[test]
fn the_troubleshooting_page_quotes_what_doctor_says() {
    let page = read(&project_root().join("docs/troubleshooting.md"));
    let flat = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let page = flat(&page);
    let stale: Vec<&str> = xtask::sccache::causes::CAUSES
        .iter()
        .filter(|c| !page.contains(&flat(c.advice)))
        .map(|c| c.name)
        .collect();
    assert!(
        stale.is_empty(),
        "docs/troubleshooting.md does not quote doctor's current sentence for: {stale:?} (xtask/src/sccache/causes.rs)"
    );
    // The one cause whose fix depends on the engine (xtask/src/model/engine.rs).
    use xtask::model::engine::EngineKind;
    for engine in [EngineKind::Docker, EngineKind::Podman] {
        assert!(
            page.contains(&flat(engine.proc_mount_fix())),
            "docs/troubleshooting.md does not quote the /proc fix on {engine:?}"
        );
    }
}
