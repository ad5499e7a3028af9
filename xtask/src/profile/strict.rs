//! Strings in profiles must be YAML strings. serde_yaml on its own turns `5`, `0.19`
//! or `true` into text without a word; a profile that says `sccache_version: 0.19`
//! means something else than it reads as, so such values are type errors here.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Error, Visitor};

/// A string that was a string in the YAML, not a number or a boolean.
struct Text(String);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string (quote a value that reads as a number or a boolean)")
            }
            fn visit_str<E: Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(v.to_owned()))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string field that must be a YAML string.
pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Text::deserialize(d).map(|t| t.0)
}

/// An optional string field that must be a YAML string when given.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Text::deserialize(d).map(|t| Some(t.0))
}

/// A list of YAML strings.
pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Vec::<Text>::deserialize(d).map(|v| v.into_iter().map(|t| t.0).collect())
}

/// An optional mapping of names to YAML strings.
pub fn opt_string_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    BTreeMap::<String, Text>::deserialize(d)
        .map(|m| Some(m.into_iter().map(|(k, v)| (k, v.0)).collect()))
}
