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
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let display = path
            .strip_prefix(root)
            .unwrap_or(path)
            .display()
            .to_string();
        Ok(Source {
            path: path.to_owned(),
            display,
            text,
        })
    }

    /// The 1-based line of the top-level key `field`, if it is present.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        self.text
            .lines()
            .position(|l| key_of(l) == Some(field))
            .map(|i| i + 1)
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
    let full = e.to_string();
    // serde_yaml appends " at line L column C"; the position goes in front instead.
    let message = match full.rfind(" at line ") {
        Some(i) => full[..i].to_owned(),
        None => full.clone(),
    };
    // serde_yaml prefixes errors inside a field with its path ("packages[1]: ...").
    let (path_field, message) = match message.split_once(": ") {
        Some((p, rest)) if is_field_path(p) => (Some(p.to_owned()), rest.to_owned()),
        _ => (None, message),
    };
    let named = backticked_after(&message, "unknown field `")
        .or_else(|| backticked_after(&message, "missing field `"))
        .or_else(|| backticked_after(&message, "duplicate field `"));
    let field = named
        .clone()
        .or(path_field.clone())
        .unwrap_or_else(|| "(document)".to_owned());
    let top = field.split(['[', '.']).next().unwrap_or(&field).to_owned();
    let line = if message.starts_with("missing field") {
        Some(1)
    } else {
        e.location().map(|l| l.line()).or_else(|| src.line_of(&top))
    };
    let mut message = message;
    if message.starts_with("missing field") {
        message = "required, but missing".to_owned();
    }
    if message.contains("expected u16") {
        message = message.replace("expected u16", "expected a port number (1-65535)");
    }
    if message.starts_with("unknown field") {
        message = message.replace(", expected one of", "; the known fields are");
    }
    if let Some(loc) = e.location() {
        if named.is_none() && path_field.is_none() {
            message = format!("{message} (column {})", loc.column());
        }
    }
    src.error(line, &field, message)
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
