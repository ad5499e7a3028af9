//! Validators for every value that ends up in a Dockerfile, a shell line or a TOML
//! file. Each returns a sentence saying what is wrong, for a [`ProfileError`].
//!
//! [`ProfileError`]: crate::source::ProfileError

pub type Check = Result<(), String>;

/// A distro package name: what apt, pacman, dnf, apk and zypper accept, and nothing a
/// shell would read as an option, a glob or a separator.
pub fn package_name(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a safe package name (letters, digits and + - . _, starting with a letter or digit)"
        ))
    }
}

/// A version pinned to `MAJOR.MINOR.PATCH`.
pub fn version(s: &str) -> Check {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.chars().all(|c| c.is_ascii_digit()))
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a pinned version of the form MAJOR.MINOR.PATCH"
        ))
    }
}

/// A lowercase hex sha256 sum.
pub fn sha256_hex(s: &str) -> Check {
    if s.len() == 64
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a sha256 sum (64 lowercase hex digits)"
        ))
    }
}

/// An image digest, `sha256:` and 64 lowercase hex digits.
pub fn digest(s: &str) -> Check {
    match s.strip_prefix("sha256:") {
        Some(hex) if sha256_hex(hex).is_ok() => Ok(()),
        _ => Err(format!(
            "{s:?} is not an image digest (sha256: and 64 lowercase hex digits)"
        )),
    }
}

/// An image reference `[registry[:port]/]path:tag`, the tag required (it pins what is
/// built on) and no digest (digests go in their own field).
pub fn image_tagged(s: &str) -> Check {
    let bad = |why: &str| {
        Err(format!(
            "{s:?} is not an image reference of the form name:tag ({why})"
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
    let (rest, digest_part) = match s.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (s, None),
    };
    if let Some(d) = digest_part {
        digest(d)?;
    }
    match rest.rsplit_once(':') {
        Some((_, t)) if !t.contains('/') => image_tagged(rest),
        _ => image_name(rest).map_err(|why| format!("{s:?} is not an image reference ({why})")),
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
        if host.is_empty()
            || !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
            || port.parse::<u16>().is_err()
        {
            return Err(format!("{reg:?} is not a registry host[:port]"));
        }
    }
    for p in parts {
        let ok = !p.is_empty()
            && p.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.ends_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && p.chars().all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
            });
        if !ok {
            return Err(format!(
                "the path component {p:?} may hold lowercase letters, digits and . _ -"
            ));
        }
    }
    Ok(())
}

/// A port a service can listen on.
pub fn port(p: u16) -> Check {
    if p == 0 {
        Err("0 is not a port to listen on (1-65535)".into())
    } else {
        Ok(())
    }
}

/// An absolute container path, safe to paste into TOML, a Dockerfile and a shell line.
pub fn abs_path(s: &str) -> Check {
    let ok = s.starts_with('/')
        && s.len() > 1
        && !s.ends_with('/')
        && !s.split('/').any(|c| c == "..")
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not an absolute path of letters, digits and / . _ - (no trailing slash, no ..)"
        ))
    }
}

/// A Docker object name (container, volume, network): `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn docker_name(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a Docker name (letters, digits, _ . -)"
        ))
    }
}

/// A distro name, which becomes a directory, an image tag and a matrix entry.
pub fn distro_name(s: &str) -> Check {
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{s:?} is not a usable distro name (the file name: lowercase letters, digits, - _ .)"
        ))
    }
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

    #[test]
    fn package_names() {
        for ok in [
            "libssl3",
            "ca-certificates",
            "g++",
            "python3.11",
            "NetworkManager",
        ] {
            assert!(package_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-y", "a b", "a;b", "$(x)", "a*", "pkg/x"] {
            assert!(package_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn versions_sums_paths() {
        assert!(version("0.19.0").is_ok());
        assert!(
            version("0.19").is_err() && version("latest").is_err() && version("1.2.3;x").is_err()
        );
        assert!(sha256_hex(&"0".repeat(64)).is_ok());
        assert!(sha256_hex(&"0".repeat(63)).is_err() && sha256_hex(&"G".repeat(64)).is_err());
        assert!(digest(&format!("sha256:{}", "f".repeat(64))).is_ok());
        assert!(abs_path("/var/sccache").is_ok());
        for bad in ["var", "/", "/a/../b", "/a b", "/a/", "/a\"b"] {
            assert!(abs_path(bad).is_err(), "{bad}");
        }
    }
}
