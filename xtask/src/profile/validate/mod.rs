//! Validators for every value that ends up in a Dockerfile, a shell line or a TOML
//! file. Each returns a sentence saying what is wrong, for a [`ProfileError`].
//!
//! [`ProfileError`]: crate::profile::error::ProfileError

mod image_ref;

pub use image_ref::{digest, image_any, image_tagged};

/// What a validator returns: Ok, or a sentence saying what is wrong.
pub type Check = Result<(), String>;

pub use crate::profile::error::{clip, clip_quoted, quote, QUOTE_CHARS};

/// A distro package name: what apt, pacman, dnf, apk and zypper accept, and nothing a
/// shell would read as an option, a glob or a separator.
pub fn package_name(s: &str) -> Check {
    let ok = is_name(
        s,
        128,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.' | '_'),
    );
    accept(
        ok,
        s,
        "a safe package name (letters, digits and + - . _, starting with a letter or digit)",
    )
}

/// `s` is 1 to `max` characters, the first one `first` accepts, every one `each`
/// accepts: the shape of package, Docker and distro names.
fn is_name(s: &str, max: usize, first: fn(char) -> bool, each: fn(char) -> bool) -> bool {
    !s.is_empty() && s.len() <= max && s.starts_with(first) && s.chars().all(each)
}

/// `Ok` when `ok`, else the error "`s` (quoted) is not `not_a`".
fn accept(ok: bool, s: &str, not_a: &str) -> Check {
    if ok {
        Ok(())
    } else {
        Err(format!("{} is not {not_a}", quote(s)))
    }
}

/// A version pinned to `MAJOR.MINOR.PATCH`, no leading zeros.
pub fn version(s: &str) -> Check {
    let q = quote(s);
    let parts: Vec<&str> = s.split('.').collect();
    let number = |p: &&str| {
        !p.is_empty()
            && p.len() <= 6
            && p.chars().all(|c| c.is_ascii_digit())
            && (p.len() == 1 || !p.starts_with('0'))
    };
    if parts.len() == 3 && parts.iter().all(number) {
        Ok(())
    } else {
        Err(format!(
            "{q} is not a pinned version of the form MAJOR.MINOR.PATCH"
        ))
    }
}

/// A lowercase hex sha256 sum.
pub fn sha256_hex(s: &str) -> Check {
    let q = quote(s);
    if s.len() == 64
        && s.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    {
        Ok(())
    } else {
        Err(format!("{q} is not a sha256 sum (64 lowercase hex digits)"))
    }
}

/// A mount point for the cache volume: not a system directory, and not where the
/// configs are mounted.
pub fn volume_root(s: &str) -> Check {
    let q = quote(s);
    const SYSTEM: &[&str] = &[
        "/bin", "/boot", "/dev", "/etc", "/lib", "/lib64", "/proc", "/root", "/run", "/sbin",
        "/sys", "/tmp", "/usr", "/var",
    ];
    let under = |dir: &str| s == dir || s.starts_with(&format!("{dir}/"));
    if SYSTEM.contains(&s)
        || ["/etc/sccache-dist", "/proc", "/sys", "/dev"]
            .iter()
            .any(|d| under(d))
    {
        return Err(format!(
            "{q} would put the cache volume over a system or config directory"
        ));
    }
    if s.split('/').any(|c| c == ".") {
        return Err(format!("{q} has a `.` component"));
    }
    Ok(())
}

/// Bytes of toolchains a build server keeps: at least one toolchain's worth, at
/// most what a TOML integer holds.
pub fn toolchain_cache_size(n: u64) -> Check {
    if n < 64 * 1024 * 1024 {
        return Err(format!(
            "{n} bytes cannot hold a single toolchain; give at least 67108864 (64 MiB)"
        ));
    }
    if n > i64::MAX as u64 {
        return Err(format!(
            "{n} does not fit a TOML integer (at most {})",
            i64::MAX
        ));
    }
    Ok(())
}

/// A unicast address a build server can advertise and send its heartbeats from.
pub fn host_address(ip: std::net::Ipv4Addr) -> Check {
    let why = if ip.is_unspecified() {
        "the unspecified address"
    } else if ip.is_loopback() {
        "a loopback address, which no other host reaches"
    } else if ip.is_multicast() {
        "a multicast address"
    } else if ip.is_broadcast() {
        "the broadcast address"
    } else {
        return Ok(());
    };
    Err(format!(
        "{ip} is {why}: give the unicast address the build server sends from and clients reach it at"
    ))
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
    accept(
        ok,
        s,
        "an absolute path of letters, digits and / . _ - (no trailing slash, no ..)",
    )
}

/// A download base URL (`http://` or `https://`, a host, an optional path), pasted
/// into a Dockerfile `ARG` and a double-quoted shell word: no quotes, spaces, `$`,
/// backticks or other shell syntax, no credentials (they would stay in the image's
/// history), no query or fragment, and no trailing slash (paths are appended).
pub fn http_base_url(s: &str) -> Check {
    let q = quote(s);
    let Some(rest) = s
        .strip_prefix("http://")
        .or_else(|| s.strip_prefix("https://"))
    else {
        return Err(format!("{q} is not an http:// or https:// URL"));
    };
    let host = rest.split('/').next().unwrap_or_default();
    if let Some(bad) = s.chars().find(|c| {
        !(c.is_ascii_alphanumeric()
            || matches!(c, '-' | '.' | '_' | '~' | ':' | '/' | '%' | '+' | ',' | '='))
    }) {
        let why = match bad {
            '@' => "credentials do not belong in it: they would be stored in the image's history"
                .to_owned(),
            '?' | '#' => "a query or fragment cannot take a path after it".to_owned(),
            c => format!("{c:?} is not allowed (letters, digits and - . _ ~ : / % + , = only)"),
        };
        return Err(format!("{q} is not a usable base URL: {why}"));
    }
    let (name, port) = host.split_once(':').unwrap_or((host, "80"));
    if name.is_empty() || name.starts_with(['-', '.']) || !matches!(port.parse::<u16>(), Ok(1..)) {
        return Err(format!("{q} has no usable host[:port]"));
    }
    if s.ends_with('/') {
        return Err(format!(
            "{q} ends with `/`: give the base without a trailing slash"
        ));
    }
    Ok(())
}

/// A Docker object name (container, volume, network): `[a-zA-Z0-9][a-zA-Z0-9_.-]*`.
pub fn docker_name(s: &str) -> Check {
    let ok = is_name(
        s,
        128,
        |c| c.is_ascii_alphanumeric(),
        |c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'),
    );
    accept(ok, s, "a Docker name (letters, digits, _ . -)")
}

/// A distro name, which becomes a directory, an image tag and a matrix entry.
pub fn distro_name(s: &str) -> Check {
    let ok = is_name(
        s,
        64,
        |c| c.is_ascii_lowercase() || c.is_ascii_digit(),
        |c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'),
    );
    accept(
        ok,
        s,
        "a usable distro name (the file name: lowercase letters, digits, - _ .)",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_quoted_trimmed() {
        let long = "x".repeat(20 * 1024 * 1024);
        let q = quote(&long);
        assert!(q.len() < 100 && q.ends_with('…'), "{q}");
        assert_eq!(quote("ab\"c"), "\"ab\\\"c\"");
        let m = clip_quoted(&format!("unknown variant `{long}`, expected one of `apt`"));
        assert!(m.len() < 200 && m.ends_with("`apt`"), "{m}");
        assert!(package_name(&long).unwrap_err().len() < 300);
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
        assert!(version("00.012.0").is_err() && version("10.0.0").is_ok());
        assert!(volume_root("/etc/sccache-dist").is_err() && volume_root("/usr").is_err());
        assert!(volume_root("/var/sccache").is_ok() && volume_root("/srv/./x").is_err());
        assert!(image_tagged("a-----b__c.d:1").is_ok());
        for bad in ["a...b:1", "a._b:1", "localhost:0/d:1", "-a.io/d:1"] {
            assert!(image_tagged(bad).is_err(), "{bad}");
        }
        assert!(sha256_hex(&"0".repeat(64)).is_ok());
        assert!(sha256_hex(&"0".repeat(63)).is_err() && sha256_hex(&"G".repeat(64)).is_err());
        assert!(digest(&format!("sha256:{}", "f".repeat(64))).is_ok());
        assert!(abs_path("/var/sccache").is_ok());
        for bad in ["var", "/", "/a/../b", "/a b", "/a/", "/a\"b"] {
            assert!(abs_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn base_urls() {
        for ok in [
            "https://github.com/mozilla/sccache/releases/download",
            "http://127.0.0.1:8080",
            "http://mirror.example/sccache/v%2B",
        ] {
            assert!(http_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "ftp://x/y",
            "https://",
            "https://:80/x",
            "http://x:0/y",
            "http://x/a b",
            "http://x/\"a",
            "http://x/$HOME",
            "http://x/`id`",
            "http://x/a;b",
            "http://u:p@x/y",
            "http://x/?a=b",
            "http://x/y/",
            "http://x/'y'",
        ] {
            assert!(http_base_url(bad).is_err(), "{bad}");
        }
    }
}
