//! sccache versions, and the client/server pairs known not to work together. The
//! rule is data, in one place ([`KNOWN_SKEWS`]), each entry with the upstream
//! change it comes from; `start`, `up`, `client-config` and `doctor` read it
//! before any compile.

use std::fmt;

/// An sccache release, `MAJOR.MINOR.PATCH`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Version {
    /// Compared first.
    pub major: u32,
    /// Compared second.
    pub minor: u32,
    /// Compared last.
    pub patch: u32,
}

impl Version {
    /// `MAJOR.MINOR.PATCH`.
    pub const fn new(major: u32, minor: u32, patch: u32) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// The version in what `sccache --version` or `sccache-dist --version` prints
    /// (`sccache 0.19.0`), or a bare `0.19.0`; a pre-release suffix is ignored.
    pub fn parse(text: &str) -> Option<Version> {
        let word = text.split_whitespace().find(|w| {
            w.trim_start_matches('v')
                .starts_with(|c: char| c.is_ascii_digit())
        })?;
        let word = word.trim_start_matches('v');
        let core = word.split(['-', '+']).next()?;
        let mut parts = core.split('.').map(|p| p.parse::<u32>().ok());
        let (major, minor) = (parts.next()??, parts.next()??);
        let patch = parts.next().flatten().unwrap_or(0);
        Some(Version::new(major, minor, patch))
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A client/server pair that does not work together.
#[derive(Debug, Clone, Copy)]
pub struct Skew {
    /// Clients of this version or newer ...
    pub client_from: Version,
    /// ... fail with build servers older than this.
    pub server_before: Version,
    /// What happens, and why.
    pub cause: &'static str,
    /// The upstream change it comes from.
    pub upstream: &'static str,
}

/// Every pair known not to work. Measured with real binaries here, every server
/// (with its own scheduler) against every client of 0.17.0, 0.18.0 and 0.19.0:
/// only the 0.17.0 server with the 0.18.0 or 0.19.0 client falls back to local.
pub const KNOWN_SKEWS: &[Skew] = &[Skew {
    client_from: Version::new(0, 18, 0),
    server_before: Version::new(0, 18, 0),
    cause: "build servers before 0.18.0 sign their TLS certificate with SHA-1 (sha1WithRSAEncryption), which clients from 0.18.0 refuse (UnsupportedSignatureAlgorithm): every compile falls back to local",
    upstream: "mozilla/sccache PR #2715 (commit bf757277), first released in 0.18.0: reqwest 0.12 -> 0.13 (the client's rustls stack) and the server certificate signed with SHA-256 instead of SHA-1 (src/dist/http.rs)",
}];

/// The known skew of `client` with a build server of `server`, if any.
pub fn skew(client: Version, server: Version) -> Option<&'static Skew> {
    KNOWN_SKEWS
        .iter()
        .find(|s| client >= s.client_from && server < s.server_before)
}

/// One line naming the pair, the cause and the fix, when they do not work together.
pub fn skew_warning(client: Version, server: Version) -> Option<String> {
    let s = skew(client, server)?;
    Some(format!(
        "the client sccache {client} cannot use build servers of sccache-dist {server}: {}. Fix: serve sccache-dist {} or newer (a profile that installs it, or `image --sccache-dist PATH` for install: local), or use a client older than {} ({})",
        s.cause, s.server_before, s.client_from, s.upstream
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_the_binaries_print_them() {
        assert_eq!(
            Version::parse("sccache 0.19.0"),
            Some(Version::new(0, 19, 0))
        );
        assert_eq!(
            Version::parse("sccache-dist 0.17.0\n"),
            Some(Version::new(0, 17, 0))
        );
        assert_eq!(Version::parse("0.18.1-rc.1"), Some(Version::new(0, 18, 1)));
        assert_eq!(Version::parse("v0.12"), Some(Version::new(0, 12, 0)));
        assert_eq!(Version::parse("sccache"), None);
        assert_eq!(Version::parse(""), None);
    }

    #[test]
    fn the_certificate_cliff() {
        let v = |s: &str| Version::parse(s).unwrap();
        for (client, server, fails) in [
            ("0.19.0", "0.17.0", true),
            ("0.18.0", "0.17.0", true),
            ("0.19.0", "0.12.0", true),
            ("0.17.0", "0.17.0", false),
            ("0.17.0", "0.19.0", false),
            ("0.19.0", "0.18.0", false),
            ("0.19.0", "0.19.0", false),
        ] {
            assert_eq!(
                skew(v(client), v(server)).is_some(),
                fails,
                "{client} with {server}"
            );
        }
        let line = skew_warning(v("0.19.0"), v("0.17.0")).unwrap();
        assert!(line.contains("0.19.0") && line.contains("0.17.0") && line.contains("Fix:"));
        assert!(!line.contains('\n'));
    }
}
