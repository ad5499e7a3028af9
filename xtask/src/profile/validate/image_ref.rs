//! Image references and digests as profiles and flags give them: Docker's grammar,
//! with the tag required where it pins what is built on.

use super::{quote, sha256_hex, Check};

/// An image digest, `sha256:` and 64 lowercase hex digits.
pub fn digest(s: &str) -> Check {
    let q = quote(s);
    match s.strip_prefix("sha256:") {
        Some(hex) if sha256_hex(hex).is_ok() => Ok(()),
        _ => Err(format!(
            "{q} is not an image digest (sha256: and 64 lowercase hex digits)"
        )),
    }
}

/// An image reference `[registry[:port]/]path:tag`, the tag required (it pins what is
/// built on) and no digest (digests go in their own field).
pub fn image_tagged(s: &str) -> Check {
    let q = quote(s);
    let bad = |why: &str| {
        Err(format!(
            "{q} is not an image reference of the form name:tag ({why})"
        ))
    };
    if s.contains('@') {
        return bad("put a digest in its own field, not in the reference");
    }
    let (name, tag) = match s.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => return bad("the tag is missing"),
    };
    if tag.is_empty()
        || tag.len() > 128
        || tag.starts_with(['.', '-'])
        || !tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return bad("the tag may hold letters, digits, _ . - and not start with . or -");
    }
    image_name(name).or_else(|why| bad(&why))
}

/// An image reference as given on the command line: `name[:tag][@sha256:...]`.
pub fn image_any(s: &str) -> Check {
    let q = quote(s);
    let (rest, digest_part) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest_part {
        digest(d)?;
    }
    match rest.rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => image_tagged(rest),
        _ => image_name(rest).map_err(|why| format!("{q} is not an image reference ({why})")),
    }
}

fn image_name(name: &str) -> Check {
    if name.is_empty() || name.len() > 255 {
        return Err("the name is empty or too long".into());
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // A first part with a dot or a port, or `localhost`, names a registry.
    if parts.len() > 1 && (parts[0].contains(['.', ':']) || parts[0] == "localhost") {
        let reg = parts.remove(0);
        let (host, port) = reg.split_once(':').unwrap_or((reg, "1"));
        let labels_ok = host
            .split('.')
            .all(|l| !l.is_empty() && !l.starts_with('-') && !l.ends_with('-'));
        if !labels_ok
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            || !matches!(port.parse::<u16>(), Ok(1..))
        {
            return Err(format!("{} is not a registry host[:port]", quote(reg)));
        }
    }
    for p in parts {
        if !path_component(p) {
            return Err(format!(
                "the path component {} may hold lowercase letters, digits and . _ -",
                quote(p)
            ));
        }
    }
    Ok(())
}

/// Docker's grammar for a path component: `[a-z0-9]+` runs joined by one `.`, one
/// `_`, two `__`, or any number of `-`.
fn path_component(p: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !p.starts_with(alnum) || !p.ends_with(alnum) {
        return false;
    }
    let mut sep = String::new();
    for c in p.chars() {
        if alnum(c) {
            let ok = sep.is_empty()
                || sep == "."
                || sep == "_"
                || sep == "__"
                || sep.chars().all(|s| s == '-');
            if !ok {
                return false;
            }
            sep.clear();
        } else if matches!(c, '.' | '_' | '-') {
            sep.push(c);
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references() {
        for ok in [
            "debian:bookworm-slim",
            "archlinux:base",
            "ghcr.io/a/b:1.0",
            "localhost:5000/x:y",
            "local/debian:bookworm",
        ] {
            assert!(image_tagged(ok).is_ok(), "{ok}");
        }
        for bad in [
            "debian",
            "Debian:12",
            "debian:",
            "debian:$(id)",
            "debian:12 ; rm",
            "debian@sha256:00",
            "a//b:1",
            "x:-y",
        ] {
            assert!(image_tagged(bad).is_err(), "{bad}");
        }
        assert!(image_any("debian").is_ok());
        assert!(image_any(&format!("debian:12@sha256:{}", "a".repeat(64))).is_ok());
        assert!(image_any("debian@sha256:zz").is_err());
    }
}
