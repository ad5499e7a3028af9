//! Where every node of a profile stands: one pass over the YAML's events that records
//! the line and column of each key and list item, and refuses what serde would let
//! through without a word (a repeated key, in block or flow style, at any depth).
//!
//! Why yaml-rust2: serde_yaml 0.9 (on unsafe-libyaml) keeps positions only for the
//! first error, and `serde_yaml::Value` drops them, so a value checked after typing
//! (`packages: [bash, "bad name"]`) could only be placed by scanning the text, which
//! breaks on flow style. yaml-rust2 is a pure-Rust YAML 1.2 parser whose event API
//! hands a marker (byte offset, line, column) with every event, has no unsafe code in
//! its parser, and needs no further dependency with default features off (`encoding`
//! is for byte input; profiles are UTF-8 text already). serde_yaml stays the one
//! that types the document (`deny_unknown_fields`, enums, numbers).

use std::collections::{HashMap, HashSet};

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, ScanError};

/// A position in a profile: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mark {
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub column: usize,
}

impl From<Marker> for Mark {
    fn from(m: Marker) -> Mark {
        // yaml-rust2's lines are 1-based, its columns 0-based.
        Mark {
            line: m.line(),
            column: m.col() + 1,
        }
    }
}

/// The position of every key and list item, by path: `packages`, `packages[3]`,
/// `release_sha256.x86_64` (the paths serde_yaml puts in its errors).
#[derive(Debug, Default)]
pub struct Marks {
    at: HashMap<String, Mark>,
}

impl Marks {
    /// Where the node at `path` stands: a mapping entry's key, or a list item itself.
    pub fn get(&self, path: &str) -> Option<Mark> {
        self.at.get(path).copied()
    }

    /// The node that starts last at or before `at` on the same line: the key or list
    /// item a character at `at` belongs to, as far as a line can tell.
    pub fn on_line_before(&self, at: Mark) -> Option<(&str, Mark)> {
        self.at
            .iter()
            .filter(|(_, m)| m.line == at.line && m.column <= at.column)
            .max_by_key(|(path, m)| (m.column, path.len()))
            .map(|(path, m)| (path.as_str(), *m))
    }
}

/// Why the walk stopped.
#[derive(Debug)]
pub enum WalkError {
    /// The text is not YAML; serde_yaml describes that better (see `source::parse`).
    Syntax(ScanError),
    /// YAML, but not what a profile may hold: `path` names the node.
    Refused {
        /// Where the offending node starts.
        mark: Mark,
        /// The node's path.
        path: String,
        /// What is wrong with it.
        message: String,
    },
}

/// One open mapping or list on the way down to the current node.
enum Frame {
    Map {
        path: String,
        /// Keys seen so far: hashed, so a long mapping costs linear time.
        seen: HashSet<String>,
        /// The path of the entry whose value comes next; None when a key comes next.
        value_of: Option<String>,
    },
    Seq {
        path: String,
        next: usize,
    },
}

/// Walks the first document of `text`, recording marks and refusing repeated keys,
/// keys that are not plain values, and aliases (which would let one entry stand for
/// many and hide a repeat from this check).
pub fn walk(text: &str) -> Result<Marks, WalkError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut marks = Marks::default();
    let mut documents = 0;
    loop {
        let (event, marker) = parser.next_token().map_err(WalkError::Syntax)?;
        let mark = Mark::from(marker);
        match event {
            Event::StreamEnd => break,
            // A second document is serde_yaml's error to report.
            Event::DocumentStart if documents == 1 => break,
            Event::DocumentStart => documents += 1,
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
            }
            Event::Scalar(ref value, ..) => {
                node(&mut stack, &mut marks, mark, Some(value))?;
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                let path = node(&mut stack, &mut marks, mark, None)?.unwrap_or_default();
                stack.push(match event {
                    Event::MappingStart(..) => Frame::Map {
                        path,
                        seen: HashSet::new(),
                        value_of: None,
                    },
                    _ => Frame::Seq { path, next: 0 },
                });
            }
            Event::Alias(_) => {
                let path = node(&mut stack, &mut marks, mark, None)?.unwrap_or_default();
                return Err(refused(
                    mark,
                    path,
                    "aliases (*name) are not allowed in a profile; write the value out",
                ));
            }
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
        }
    }
    Ok(marks)
}

/// Places one node that starts at `mark` (`key` holds a scalar's text) below the top
/// frame: a mapping key is recorded and checked for repeats; a value or list item gets
/// its path. Returns the path of a value or item, None for a key.
fn node(
    stack: &mut [Frame],
    marks: &mut Marks,
    mark: Mark,
    scalar: Option<&String>,
) -> Result<Option<String>, WalkError> {
    let Some(top) = stack.last_mut() else {
        return Ok(Some(String::new())); // the document itself
    };
    match top {
        Frame::Seq { path, next } => {
            let item = format!("{path}[{next}]");
            *next += 1;
            marks.at.insert(item.clone(), mark);
            Ok(Some(item))
        }
        Frame::Map { value_of, .. } if value_of.is_some() => Ok(value_of.take()),
        Frame::Map {
            path,
            seen,
            value_of,
        } => {
            let Some(key) = scalar else {
                return Err(refused(
                    mark,
                    path.clone(),
                    "a key must be a plain name, not a list or a mapping",
                ));
            };
            let child = if path.is_empty() {
                key.clone()
            } else {
                format!("{path}.{key}")
            };
            if !seen.insert(key.clone()) {
                let first = marks.get(&child).map_or(0, |m| m.line);
                return Err(refused(
                    mark,
                    child,
                    format!("given twice (first on line {first}); a repeated key would silently replace the first value"),
                ));
            }
            marks.at.insert(child.clone(), mark);
            *value_of = Some(child);
            Ok(None)
        }
    }
}

fn refused(mark: Mark, path: String, message: impl Into<String>) -> WalkError {
    WalkError::Refused {
        mark,
        path,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused_at(text: &str) -> (usize, usize, String) {
        match walk(text) {
            Err(WalkError::Refused { mark, path, .. }) => (mark.line, mark.column, path),
            other => panic!("not refused: {other:?}"),
        }
    }

    #[test]
    fn marks_block_and_flow_nodes() {
        let text = "a: 1\nlist: [x,\n  y, \"z\"]\nmap:\n  k: v\n  j: {p: 1, q: 2}\n";
        let m = walk(text).unwrap();
        assert_eq!(m.get("a"), Some(Mark { line: 1, column: 1 }));
        assert_eq!(m.get("list[0]"), Some(Mark { line: 2, column: 8 }));
        assert_eq!(m.get("list[1]"), Some(Mark { line: 3, column: 3 }));
        assert_eq!(m.get("list[2]"), Some(Mark { line: 3, column: 6 }));
        assert_eq!(m.get("map.k").map(|m| m.line), Some(5));
        assert_eq!(
            m.get("map.j.q"),
            Some(Mark {
                line: 6,
                column: 13
            })
        );
    }

    #[test]
    fn repeated_keys_are_refused_in_every_style() {
        assert_eq!(refused_at("a: 1\nb: 2\na: 3\n"), (3, 1, "a".into()));
        assert_eq!(
            refused_at("s: {x86_64: A, x86_64: B}\n"),
            (1, 16, "s.x86_64".into())
        );
        assert_eq!(refused_at("s:\n  x: 1\n  \"x\": 2\n"), (3, 3, "s.x".into()));
        assert_eq!(refused_at("l: [{a: 1, a: 2}]\n"), (1, 12, "l[0].a".into()));
        // The same key in two different mappings is no repeat.
        assert!(walk("a: {x: 1}\nb: {x: 1}\n").is_ok());
    }

    #[test]
    fn aliases_and_complex_keys_are_refused() {
        assert_eq!(refused_at("a: &x 1\nb: *x\n").2, "b");
        assert_eq!(refused_at("? [a]\n: 1\n").0, 1);
    }

    #[test]
    fn a_long_mapping_is_linear() {
        let text: String = (0..20_000).map(|i| format!("k{i}: {i}\n")).collect();
        let t = std::time::Instant::now();
        assert!(walk(&text).is_ok());
        assert!(t.elapsed().as_secs_f64() < 1.0, "{:?}", t.elapsed());
    }
}
