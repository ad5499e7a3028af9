//! Escaping values for where they land: a TOML basic string, a shell word. Every
//! value is validated before it gets here; escaping is the second fence.

/// A TOML basic string, quoted and escaped (always this one form, on one line).
pub fn toml_string(value: String) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A single-quoted shell word (always quoted: for templates).
pub fn sh_quote(value: String) -> String {
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// A shell word quoted only when it needs to be (for printing commands).
pub fn sh_word(value: &str) -> String {
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=@,+%".contains(c));
    if plain {
        value.to_owned()
    } else {
        sh_quote(value.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping() {
        assert_eq!(toml_string("a\"b\\c\n\u{1}".into()), r#""a\"b\\c\n\u0001""#);
        let parsed: toml::Table = format!("k = {}", toml_string("x\"y\\z\n".into()))
            .parse()
            .unwrap();
        assert_eq!(parsed["k"].as_str(), Some("x\"y\\z\n"));
        assert_eq!(sh_quote("it's".into()), r"'it'\''s'");
        assert_eq!(sh_word("a=b"), "a=b");
        assert_eq!(sh_word("a b"), "'a b'");
        assert_eq!(sh_word(""), "''");
    }
}
