//! Prometheus' text exposition format (version 0.0.4), both ways: the exporter
//! writes it, and `status` and `top` read the same endpoint back, so the view
//! and the scrape never disagree. Writer and reader sit together and are tested
//! against each other, escaping included.

use std::fmt::Write as _;

/// The `Content-Type` of what [`Writer`] makes.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// A metric family's type.
#[derive(Debug, Clone, Copy)]
pub enum Kind {
    /// Goes up only; resets when the process restarts.
    Counter,
    /// Any value.
    Gauge,
    /// Buckets, sum and count.
    Histogram,
}

/// Builds one exposition.
#[derive(Default)]
pub struct Writer {
    out: String,
}

impl Writer {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    /// One sample of the current family.
    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let _ = write!(self.out, "{k}=\"{}\"", escape_label(v));
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {}", format_value(value));
    }

    /// The text.
    pub fn finish(self) -> String {
        self.out
    }
}

/// A label value as the format requires: backslash, double quote and line feed escaped.
pub fn escape_label(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

fn format_value(v: f64) -> String {
    if v.is_infinite() {
        return if v > 0.0 {
            "+Inf".into()
        } else {
            "-Inf".into()
        };
    }
    if v.is_nan() {
        return "NaN".into();
    }
    if v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{}", v as i64);
    }
    format!("{v}")
}

/// One sample read back.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The sample's name (`..._bucket`, `..._sum` included).
    pub name: String,
    /// Its labels, in their order.
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: f64,
}

impl Sample {
    /// The value of label `key`.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads an exposition; comment lines are skipped, a malformed line is an error
/// naming its number.
pub fn parse(text: &str) -> Result<Vec<Sample>, String> {
    let mut samples = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        samples.push(parse_sample(line).ok_or_else(|| format!("line {}: {line:?}", i + 1))?);
    }
    Ok(samples)
}

fn parse_sample(line: &str) -> Option<Sample> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_owned();
    let mut rest = &line[name_end..];
    let mut labels = Vec::new();
    if let Some(mut r) = rest.strip_prefix('{') {
        loop {
            r = r.trim_start_matches(',');
            if let Some(after) = r.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = r.split_once("=\"")?;
            let (value, after) = unescape_until_quote(after)?;
            labels.push((key.trim().to_owned(), value));
            r = after;
        }
    }
    let value = rest.split_whitespace().next()?;
    let value = match value {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Sample {
        name,
        labels,
        value,
    })
}

/// A label value up to its closing quote, unescaped; and what follows the quote.
fn unescape_until_quote(s: &str) -> Option<(String, &str)> {
    let mut out = String::new();
    let mut chars = s.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some((out, &s[i + 1..])),
            '\\' => match chars.next()?.1 {
                'n' => out.push('\n'),
                c => out.push(c),
            },
            c => out.push(c),
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_is_written_reads_back_escapes_included() {
        let mut w = Writer::default();
        w.family("sccache_dist_x_total", Kind::Counter, "A \\ help\nline.");
        let nasty = "a\"b\\c\nd}{,=";
        w.sample(
            "sccache_dist_x_total",
            &[("server", nasty), ("code", "200")],
            3.0,
        );
        w.sample("sccache_dist_y", &[], 0.25);
        w.sample("sccache_dist_z_bucket", &[("le", "+Inf")], f64::INFINITY);
        let text = w.finish();
        assert!(text.contains("# HELP sccache_dist_x_total A \\\\ help\\nline.\n"));
        assert!(text.contains(r#"server="a\"b\\c\nd}{,=""#), "{text}");
        let s = parse(&text).unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s[0].label("server"), Some(nasty));
        assert_eq!(s[0].label("code"), Some("200"));
        assert_eq!(s[0].value, 3.0);
        assert_eq!((s[1].name.as_str(), s[1].value), ("sccache_dist_y", 0.25));
        assert_eq!(s[2].value, f64::INFINITY);
    }

    #[test]
    fn a_malformed_line_is_named() {
        let err = parse("# c\nok 1\nbroken{a=\"x} 1\n").unwrap_err();
        assert!(err.starts_with("line 3"), "{err}");
        assert!(parse("x notanumber").is_err());
    }
}
