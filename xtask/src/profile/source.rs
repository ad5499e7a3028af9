//! Profile sources and the errors that point into them.
//!
//! Every complaint about user-edited YAML names the file, the line and the field. The
//! loader walks the YAML once for positions ([`marks`]), types it with serde_yaml, and
//! maps a field, a list item or a nested key back to where it stands.
//!
//! [`marks`]: crate::profile::marks

use std::path::{Path, PathBuf};

pub use crate::profile::error::ProfileError;
use crate::profile::files;
use crate::profile::marks::{self, Mark, Marks, WalkError};

/// A YAML file as read from disk, kept for locating fields in error messages.
pub struct Source {
    /// Where it was read from (for a text handed in, its display name).
    pub path: PathBuf,
    /// The path as shown to the user (relative to the project root when possible).
    pub display: String,
    /// The text, without a byte-order mark.
    pub text: String,
}

impl Source {
    /// Reads the profile at `path`: a regular file (or a symlink inside `root`) of at
    /// most [`files::MAX_BYTES`].
    pub fn read(path: &Path, root: &Path) -> Result<Source, ProfileError> {
        let bytes = files::read(path, root)?;
        let mut src = Source::from_bytes(&files::display(path, root), bytes)?;
        src.path = path.to_owned();
        Ok(src)
    }

    /// A profile from bytes already in memory, shown as `display` (its file name
    /// decides the profile's name).
    pub fn from_bytes(display: &str, bytes: Vec<u8>) -> Result<Source, ProfileError> {
        let error =
            |line, message: String| ProfileError::new(display.into(), line, "(file)", message);
        if bytes.len() > files::MAX_BYTES {
            return Err(error(
                1,
                format!(
                    "larger than {} KiB, the most a profile may be",
                    files::MAX_BYTES / 1024
                ),
            ));
        }
        let text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
                let line = valid.iter().filter(|&&b| b == b'\n').count() + 1;
                return Err(error(line, "not UTF-8 text".into()));
            }
        };
        // A byte-order mark is no part of the YAML.
        let text = match text.strip_prefix('\u{feff}') {
            Some(rest) => rest.to_owned(),
            None => text,
        };
        Ok(Source {
            path: PathBuf::from(display),
            display: display.to_owned(),
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

    /// The top-level key whose block holds line `line` (1-based): where a syntax
    /// error, which has no parsed nodes to go by, is attributed.
    fn key_at_or_above(&self, line: usize) -> Option<String> {
        let lines: Vec<&str> = self.text.lines().take(line).collect();
        lines
            .iter()
            .rev()
            .find_map(|l| key_of(l))
            .map(str::to_owned)
    }

    /// An error in this file at `line` (line 1 when there is nothing to point at).
    pub fn error(
        &self,
        line: Option<usize>,
        field: &str,
        message: impl Into<String>,
    ) -> ProfileError {
        ProfileError::new(self.display.clone(), line.unwrap_or(1), field, message)
    }
}

/// A parsed profile's source with the position of every node, for errors.
pub struct Located<'a> {
    /// The file.
    pub src: &'a Source,
    /// Where each key and list item stands.
    pub marks: Marks,
}

impl Located<'_> {
    /// The line of the node at `path` (`packages`, `packages[2]`, `release_sha256.x86_64`).
    pub fn line(&self, path: &str) -> Option<usize> {
        self.marks.get(path).map(|m| m.line)
    }

    /// An error about the node at `path`, at its line; a list item or a nested key
    /// (which may share its line with others in flow style) also gets its column.
    pub fn error(&self, path: &str, message: impl Into<String>) -> ProfileError {
        self.error_at(path, path, message)
    }

    /// An error naming `field`, placed at the node `at` (a field that is missing is
    /// reported where the field that asks for it stands).
    pub fn error_at(&self, at: &str, field: &str, message: impl Into<String>) -> ProfileError {
        let mark = self.marks.get(at);
        let mut e = self.src.error(mark.map(|m| m.line), field, message);
        if at.contains(['[', '.']) {
            e.column = mark.map(|m| m.column);
        }
        e
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

/// Deserializes a flat profile after walking it for positions and repeated keys,
/// turning serde_yaml's errors into [`ProfileError`]s that point at the node.
pub fn parse<'a, T: serde::de::DeserializeOwned>(
    src: &'a Source,
    fields: &[&str],
) -> Result<(T, Located<'a>), ProfileError> {
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
    if let Some(e) = control_character(src) {
        return Err(e);
    }
    let marks = match marks::walk(&src.text) {
        Ok(marks) => marks,
        Err(WalkError::Refused {
            mark,
            path,
            message,
        }) => return Err(at_mark(src, mark, &path, message)),
        Err(WalkError::Syntax(e)) => {
            // libyaml's account of a syntax error says where a quote or bracket was
            // opened; yaml-rust2's is the fallback should the two disagree.
            let serde = serde_yaml::from_str::<T>(&src.text);
            let marks = Marks::default();
            return Err(match serde {
                Err(se) => yaml_error(src, &se, &marks),
                Ok(_) => {
                    let line = e.marker().line();
                    let field = src
                        .key_at_or_above(line)
                        .unwrap_or_else(|| "(document)".into());
                    src.error(
                        Some(line),
                        &field,
                        format!("YAML syntax error: {}", e.info()),
                    )
                }
            });
        }
    };
    let value = serde_yaml::from_str(&src.text).map_err(|e| yaml_error(src, &e, &marks))?;
    Ok((value, Located { src, marks }))
}

/// Whether YAML forbids `c` in a document: C0 and C1 control characters other than
/// tab, line feed, carriage return and NEL, and the non-characters U+FFFE and U+FFFF.
fn forbidden(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{85}'))
        || matches!(c, '\u{fffe}' | '\u{ffff}')
}

/// The first character YAML forbids (a NUL byte, an escape), reported at its own
/// line and column. Both parsers would stop on it without a line: libyaml says only
/// "at position N", and yaml-rust2 takes some of them into a scalar. The field is
/// the key or list item whose text holds it on that line; `(file)` when the line
/// tells none (a blank or comment line, or a key with the character in it).
fn control_character(src: &Source) -> Option<ProfileError> {
    let (number, line, column, c) = src.text.split('\n').enumerate().find_map(|(i, line)| {
        let (column, c) = line.chars().enumerate().find(|&(_, c)| forbidden(c))?;
        Some((i + 1, line, column + 1, c))
    })?;
    let at = Mark {
        line: number,
        column,
    };
    let field = marks::walk(&src.text)
        .ok()
        .and_then(|marks| {
            let (path, mark) = marks.on_line_before(at)?;
            // A key's own text must stand whole before the character.
            let key = path.rsplit(['.', '[']).next().unwrap_or(path);
            let from: String = line.chars().skip(mark.column - 1).collect();
            let intact = path.ends_with(']')
                || (from.trim_start_matches(['"', '\'']).starts_with(key)
                    && !path.chars().any(forbidden));
            intact.then(|| path.to_owned())
        })
        .unwrap_or_else(|| "(file)".to_owned());
    let mut e = src.error(
        Some(number),
        &field,
        format!(
            "a control character (U+{:04X}) is not allowed in a profile; remove it",
            c as u32
        ),
    );
    e.column = Some(column);
    Some(e)
}

/// An error at the node `path` starting at `mark`: its line, and its column when it
/// is a list item or a nested key.
fn at_mark(src: &Source, mark: Mark, path: &str, message: String) -> ProfileError {
    let field = if path.is_empty() { "(document)" } else { path };
    let mut e = src.error(Some(mark.line), field, message);
    if path.contains(['[', '.']) {
        e.column = Some(mark.column);
    }
    e
}

fn yaml_error(src: &Source, e: &serde_yaml::Error, marks: &Marks) -> ProfileError {
    let (message, positions) = split_positions(&e.to_string());
    let message = crate::profile::validate::clip_quoted(&message);
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
        if message.starts_with("missing field") {
            // Nowhere to point: the field is not there.
            return src.error(Some(1), &field, "required, but missing");
        }
        let line = marks.get(&field).map(|m| m.line).or(location);
        let message = message.replace(", expected one of", "; the known fields are");
        return src.error(line, &field, message);
    }

    if let Some(field) = path_field {
        let message = message
            .replace("expected u16", "expected a port number (1-65535)")
            .replace("expected u64", "expected a whole number");
        return match marks.get(&field) {
            Some(mark) => at_mark(src, mark, &field, message),
            None => src.error(location, &field, message),
        };
    }

    if message.starts_with("invalid type:") {
        let message = format!("a profile is a mapping of fields, not this: {message}");
        return src.error(Some(1), "(document)", message);
    }
    syntax_error(src, &message, &positions, location)
}

/// A syntax error is shown where it broke, except at the end of the file: then the
/// construct left open (an unclosed quote or bracket) is where to look, and "while
/// scanning X at line N" says where it began.
fn syntax_error(
    src: &Source,
    message: &str,
    positions: &[(String, usize)],
    location: Option<usize>,
) -> ProfileError {
    let opened = positions
        .iter()
        .find(|(context, _)| context.contains("while scanning"))
        .filter(|_| message.contains("end of stream"));
    // libyaml's reader errors give a byte offset only: "... at position N".
    let (message, offset) = match message.rsplit_once(" at position ") {
        Some((m, n)) => match n.parse::<usize>() {
            Ok(n) => (m, Some(n)),
            Err(_) => (message, None),
        },
        None => (message, None),
    };
    let line = opened
        .or(positions.first())
        .map(|(_, line)| *line)
        .or(location)
        .or_else(|| {
            let before = src.text.as_bytes().get(..offset?)?;
            Some(before.iter().filter(|&&b| b == b'\n').count() + 1)
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_byte_position_becomes_a_line() {
        let src = Source::from_bytes("distros/x.yaml", b"a: 1\nb: 2\n".to_vec()).unwrap();
        let e = syntax_error(&src, "something odd at position 7", &[], None);
        assert_eq!((e.line, e.field.as_str()), (2, "b"), "{e}");
        assert_eq!(e.message, "YAML syntax error: something odd");
    }

    #[test]
    fn forbidden_characters() {
        for c in ['\0', '\u{1b}', '\u{7f}', '\u{9b}', '\u{fffe}'] {
            assert!(forbidden(c), "{c:?}");
        }
        for c in ['\t', '\n', '\r', '\u{85}', 'é', '\u{a0}', '\u{feff}'] {
            assert!(!forbidden(c), "{c:?}");
        }
    }
}
