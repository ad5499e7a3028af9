//! The library's modules are floors (see the table in xtask/src/lib.rs): a module
//! imports only from its own folder and from floors below it, so no import climbs
//! and no two modules lean on each other. Read from the source: every
//! `crate::MODULE` path in a `use` or inline, in every file under xtask/src.
//! Also: no source file grows past 400 lines.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Each top-level module's floor; a module may use strictly lower floors only.
const FLOORS: &[(&str, u32)] = &[
    ("base", 0),
    ("profile", 1),
    ("store", 1),
    ("model", 2),
    ("sccache", 3),
    ("render", 4),
    ("docker", 5),
    ("lifecycle", 6),
    ("image", 7),
    ("cluster", 8),
    ("status", 9),
    ("doctor", 10),
    ("remote", 11),
    ("bench", 12),
    ("cli", 13),
];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level module a file belongs to (`cluster` for src/cluster/start.rs,
/// `doctor` for src/doctor.rs); None for lib.rs and main.rs.
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src()).unwrap();
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    let name = first.trim_end_matches(".rs").to_owned();
    (name != "lib" && name != "main").then_some(name)
}

/// Every module named right after `crate::` in `text`, also inside `use crate::{a, b::c}`.
fn crate_paths(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let code: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut rest = code.as_str();
    while let Some(i) = rest.find("crate::") {
        rest = &rest[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for item in top_level_items(&group[..end]) {
                found.push(first_ident(item));
            }
        } else {
            found.push(first_ident(rest));
        }
    }
    found.retain(|m| !m.is_empty());
    found
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn top_level_items(s: &str) -> Vec<&str> {
    let (mut items, mut depth, mut start) = (Vec::new(), 0, 0);
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(s[start..].trim());
    items
}

fn first_ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

#[test]
fn imports_only_point_down() {
    let floors: BTreeMap<&str, u32> = FLOORS.iter().copied().collect();
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut climbs = Vec::new();
    for f in &files {
        let Some(me) = module_of(f) else { continue };
        let my_floor = *floors
            .get(me.as_str())
            .unwrap_or_else(|| panic!("{}: module {me} has no floor in FLOORS", f.display()));
        let text = std::fs::read_to_string(f).unwrap();
        for used in crate_paths(&text) {
            if used == me || used == "self" {
                continue;
            }
            let floor = *floors
                .get(used.as_str())
                .unwrap_or_else(|| panic!("{}: crate::{used} has no floor", f.display()));
            if floor >= my_floor {
                climbs.push(format!(
                    "{} (floor {my_floor}, {me}) uses crate::{used} (floor {floor})",
                    f.strip_prefix(src()).unwrap().display()
                ));
            }
        }
    }
    climbs.sort();
    climbs.dedup();
    assert!(
        climbs.is_empty(),
        "imports that climb or go sideways:\n{}",
        climbs.join("\n")
    );
}

#[test]
fn the_floor_table_knows_every_module() {
    let lib = std::fs::read_to_string(src().join("lib.rs")).unwrap();
    let declared: Vec<&str> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|l| l.trim_end_matches(';'))
        .collect();
    let known: Vec<&str> = FLOORS.iter().map(|(m, _)| *m).collect();
    for m in &declared {
        assert!(
            known.contains(m),
            "lib.rs declares {m}, FLOORS does not place it"
        );
    }
    assert_eq!(
        declared.len(),
        known.len(),
        "FLOORS places a module lib.rs lacks"
    );
}

#[test]
fn no_source_file_over_400_lines() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let n = std::fs::read_to_string(f).unwrap().lines().count();
            (n > 400).then(|| format!("{}: {n} lines", f.display()))
        })
        .collect();
    assert!(long.is_empty(), "{}", long.join("\n"));
}

#[test]
fn the_reader_sees_a_climb() {
    let text = "use crate::{base::atomic, model::{Cluster, Server}};\nlet x = crate::cli::Cli::parse();\n// crate::docker in a comment\n";
    assert_eq!(crate_paths(text), ["base", "model", "cli"]);
}
