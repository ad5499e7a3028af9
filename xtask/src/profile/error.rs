//! The error of a user-edited profile: the file, the line (and column) and the
//! field at fault, with a message of bounded length.

use std::fmt;

/// The most characters of one value an error message quotes.
pub const QUOTE_CHARS: usize = 80;

/// `s` as an error message quotes it: Rust-escaped, in double quotes, and cut to
/// [`QUOTE_CHARS`] characters with an ellipsis, so a huge value is never echoed whole.
pub fn quote(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{:?}…", &s[..i]),
        None => format!("{s:?}"),
    }
}

/// `s` cut to [`QUOTE_CHARS`] characters with an ellipsis, unquoted (field paths).
pub fn clip(s: &str) -> String {
    match s.char_indices().nth(QUOTE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

/// A message from serde_yaml with every run between backticks or double quotes (the
/// values it echoes) cut to [`QUOTE_CHARS`] characters.
pub fn clip_quoted(message: &str) -> String {
    let mut out = message.to_owned();
    for delimiter in ['`', '"'] {
        out = out
            .split(delimiter)
            .enumerate()
            .map(|(i, part)| {
                if i % 2 == 1 {
                    clip(part)
                } else {
                    part.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(&delimiter.to_string());
    }
    out
}

/// The longest message an error carries: a message quotes one value, trimmed (see
/// `crate::profile::validate::quote`), and never echoes a file whole.
const MAX_MESSAGE: usize = 400;

/// One problem in one profile: printed as `file:line: field `x`: message`, with
/// ` (column N)` when the line may hold several values.
#[derive(Debug, Clone)]
pub struct ProfileError {
    /// The file as shown to the user.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters), for list items, nested keys and a character
    /// that is not allowed.
    pub column: Option<usize>,
    /// The field (path) at fault, or `(file)`, `(file name)`, `(document)`.
    pub field: String,
    /// What is wrong, at most [`MAX_MESSAGE`] characters.
    pub message: String,
}

impl ProfileError {
    /// An error at `line` of `file`; the message is clipped to a bounded length.
    pub fn new(file: String, line: usize, field: &str, message: impl Into<String>) -> ProfileError {
        let message = message.into();
        let message = match message.char_indices().nth(MAX_MESSAGE) {
            Some((i, _)) => format!("{}…", &message[..i]),
            None => message,
        };
        ProfileError {
            file,
            line,
            column: None,
            field: clip(field),
            message,
        }
    }
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}: field `{}`: {}",
            self.file, self.line, self.field, self.message
        )?;
        match self.column {
            Some(c) => write!(f, " (column {c})"),
            None => Ok(()),
        }
    }
}

impl std::error::Error for ProfileError {}
