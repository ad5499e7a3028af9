//! Profile sources and the errors that point into them.
//!
//! Every complaint about user-edited YAML names the file, the line and the field, so
//! the loaders keep the text around and map a field (or a list item) back to the line
//! it stands on. Profiles are flat mappings, which is what makes that lookup reliable.

use std::fmt;
use std::path::{Path, PathBuf};

/// A YAML file as read from disk, kept for locating fields in error messages.
pub struct Source {
    pub path: PathBuf,
    /// The path as shown to the user (relative to the project root when possible).
    pub display: String,
    pub text: String,
}

impl Source {
    pub fn read(path: &Path, root: &Path) -> anyhow::Result<Source> {
        let display = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        let bytes =
            std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {display}: {e}"))?;
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(ProfileError {
                    file: display,
                    line,
                    field: "(file)".into(),
                    message: "not UTF-8 text".into(),
                }
                .into());
            }
        };
        // A byte-order mark is no part of the YAML.
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        Ok(Source {
            path: path.to_owned(),
            display,
            text,
        })
    }

    /// The profile's name: its file name without `.yaml`, which becomes a directory,
    /// an image tag and a matrix entry, so it is validated like one.
    pub fn name(&self) -> Result<String, ProfileError> {
        let name = self
            .path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_owned();
        crate::profile::validate::distro_name(&name)
            .map_err(|m| self.error(Some(1), "(file name)", m))?;
        Ok(name)
    }

    /// The 1-based line of the top-level key `field`, if it is present.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| key_of(l) == Some(field))
            .map(|i| i + 1)
    }

    /// The 1-based line of the `n`-th (0-based) occurrence of the top-level key `field`.
    pub fn nth_line_of(&self, field: &str, n: usize) -> Option<usize> {
        self.text
            .lines()
            .enumerate()
            .filter(|(_, l)| key_of(l) == Some(field))
            .nth(n)
            .map(|(i, _)| i + 1)
    }

    /// The top-level key whose block holds line `line` (1-based).
    pub fn key_at_or_above(&self, line: usize) -> Option<String> {
        let lines: Vec<&str> = self.text.lines().collect();
        lines[..line.min(lines.len())]
            .iter()
            .rev()
            .find_map(|l| key_of(l))
            .map(str::to_owned)
    }

    /// The 1-based line of the key `child` in the mapping under the top-level `field`.
    pub fn line_of_child(&self, field: &str, child: &str) -> Option<usize> {
        let start = self.line_of(field)?;
        for (i, line) in self.text.lines().enumerate().skip(start) {
            if !line.starts_with([' ', '\t']) && !line.trim().is_empty() && !line.starts_with('#') {
                break;
            }
            let key = line
                .trim_start()
                .split(':')
                .next()
                .unwrap_or_default()
                .trim();
            if key.trim_matches(|c| c == '"' || c == '\'') == child {
                return Some(i + 1);
            }
        }
        None
    }

    /// A key given twice in the mapping under `field`, with the line of its repeat.
    pub fn duplicate_child(&self, field: &str) -> Option<(String, usize)> {
        let start = self.line_of(field)?;
        let mut seen = Vec::new();
        for (i, line) in self.text.lines().enumerate().skip(start) {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if !line.starts_with([' ', '\t']) {
                break; // the next top-level key
            }
            if let Some((key, _)) = t.split_once(':') {
                let key = key
                    .trim()
                    .trim_matches(|c| c == '"' || c == '\'')
                    .to_owned();
                if seen.contains(&key) {
                    return Some((key, i + 1));
                }
                seen.push(key);
            }
        }
        None
    }

    /// The 1-based line of the `index`-th item of the list or mapping under `field`.
    pub fn line_of_item(&self, field: &str, index: usize) -> Option<usize> {
        let start = self.line_of(field)?;
        let mut seen = 0;
        for (i, line) in self.text.lines().enumerate().skip(start) {
            let t = line.trim_start();
            if t.is_empty() || t.starts_with('#') {
                continue;
            }
            if !line.starts_with([' ', '\t', '-']) {
                break; // the next top-level key
            }
            if seen == index {
                return Some(i + 1);
            }
            seen += 1;
        }
        None
    }

    pub fn error(
        &self,
        line: Option<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> ProfileError {
        ProfileError {
            file: self.display.clone(),
            line: line.unwrap_or(1),
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The key of a top-level `key: value` line, if the line is one.
fn key_of(line: &str) -> Option<&str> {
    if line.starts_with([' ', '\t', '#', '-']) {
        return None;
    }
    let (key, _) = line.split_once(':')?;
    Some(key.trim().trim_matches(|c| c == '"' || c == '\''))
}

/// One problem in one profile: printed as `file:line: field `x`: message`.
#[derive(Debug, Clone)]
pub struct ProfileError {
    pub file: String,
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: field `{}`: {}",
            self.file, self.line, self.field, self.message
        )
    }
}

impl std::error::Error for ProfileError {}

/// Deserializes a flat profile, turning serde_yaml's errors into [`ProfileError`]s.
pub fn parse<T: serde::de::DeserializeOwned>(
    src: &Source,
    fields: &[&str],
) -> Result<T, ProfileError> {
    if src
        .text
        .lines()
        .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
    {
        return Err(src.error(
            Some(1),
            "(file)",
            format!(
                "the file is empty; expected a mapping with the fields {}",
                fields.join(", ")
            ),
        ));
    }
    serde_yaml::from_str(&src.text).map_err(|e| yaml_error(src, &e))
}

fn yaml_error(src: &Source, e: &serde_yaml::Error) -> ProfileError {
    let (message, positions) = split_positions(&e.to_string());
    // serde_yaml prefixes errors inside a field with its path ("packages[1]: ...").
    let (path_field, message) = match message.split_once(": ") {
        Some((p, rest)) if is_field_path(p) => (Some(p.to_owned()), rest.to_owned()),
        _ => (None, message),
    };
    let named = ["unknown field `", "missing field `", "duplicate field `"]
        .iter()
        .find_map(|prefix| backticked_after(&message, prefix));
    let location = e.location().map(|l| l.line());

    if let Some(field) = named {
        let line = if message.starts_with("missing field") {
            Some(1) // nowhere to point: the field is not there
        } else if message.starts_with("duplicate field") {
            src.nth_line_of(&field, 1)
        } else {
            location.or_else(|| src.line_of(&field))
        };
        let message = if message.starts_with("missing field") {
            "required, but missing".to_owned()
        } else {
            message.replace(", expected one of", "; the known fields are")
        };
        return src.error(line, &field, message);
    }

    if let Some(field) = path_field {
        // A top-level field points at its key; a list item or nested key at itself.
        let line = if field.contains(['[', '.']) {
            location
        } else {
            src.line_of(&field).or(location)
        };
        let message = message
            .replace("expected u16", "expected a port number (1-65535)")
            .replace("expected u64", "expected a whole number");
        return src.error(line, &field, message);
    }

    if message.starts_with("invalid type:") {
        let message = format!("a profile is a mapping of fields, not this: {message}");
        return src.error(Some(1), "(document)", message);
    }

    // A syntax error is shown where it broke, except at the end of the file: then the
    // construct left open (an unclosed quote or bracket) is where to look, and
    // "while scanning X at line N" says where it began.
    let opened = positions
        .iter()
        .find(|(context, _)| context.contains("while scanning"))
        .filter(|_| message.contains("end of stream"));
    let line = opened
        .or(positions.first())
        .map(|(_, line)| *line)
        .or(location);
    let field = line
        .and_then(|l| src.key_at_or_above(l))
        .unwrap_or_else(|| "(document)".to_owned());
    src.error(line, &field, format!("YAML syntax error: {message}"))
}

/// Removes every " at line N column M" from a serde_yaml message; returns the clean
/// text and each position with the text that led up to it.
fn split_positions(full: &str) -> (String, Vec<(String, usize)>) {
    let mut clean = String::new();
    let mut positions = Vec::new();
    let mut rest = full;
    while let Some(i) = rest.find(" at line ") {
        let before = &rest[..i];
        let after = &rest[i + " at line ".len()..];
        let digits: String = after.chars().take_while(|c| c.is_ascii_digit()).collect();
        let Ok(line) = digits.parse::<usize>() else {
            clean.push_str(&rest[..i + 1]);
            rest = &rest[i + 1..];
            continue;
        };
        let tail = &after[digits.len()..];
        let tail = match tail.strip_prefix(" column ") {
            Some(t) => t.trim_start_matches(|c: char| c.is_ascii_digit()),
            None => tail,
        };
        let context = before.rsplit(", ").next().unwrap_or(before).to_owned();
        clean.push_str(before);
        positions.push((context, line));
        rest = tail;
    }
    clean.push_str(rest);
    (clean, positions)
}

fn is_field_path(p: &str) -> bool {
    !p.is_empty()
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '[' | ']'))
}

fn backticked_after(s: &str, prefix: &str) -> Option<String> {
    let rest = &s[s.find(prefix)? + prefix.len()..];
    Some(rest[..rest.find('`')?].to_owned())
}
