//! The cluster's clients as the front checks them: one line per client,
//! `NAME SHA256HEX`, in a file of the scheduler's config directory. Only hashes
//! are there; the tokens are in the clients' own files. The file is read again
//! whenever it changes, so adding or revoking a client takes effect at the next
//! request, with no restart of anything.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use sha2::{Digest, Sha256};

/// The header the front reads the client's name from (`auth_request_set`).
pub const NAME_HEADER: &str = "X-Sccache-Client";

/// The rule a client's name follows, said in every refusal.
pub const NAME_RULE: &str =
    "1 to 32 lower-case letters, digits and '-', starting and ending with a letter or digit";

/// Whether `name` follows [`NAME_RULE`].
pub fn valid_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 32
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// The hex SHA-256 of a token, as the list holds it.
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.trim().as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Parses the list; a malformed line is an error naming its number.
pub fn parse(text: &str) -> Result<HashMap<[u8; 32], String>, String> {
    let mut out = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (name, hex) = line
            .split_once(' ')
            .ok_or_else(|| format!("line {}: not `NAME SHA256`", i + 1))?;
        if !valid_name(name) {
            return Err(format!(
                "line {}: the name {name:?} breaks the rule: {NAME_RULE}",
                i + 1
            ));
        }
        let hash = unhex(hex.trim()).ok_or_else(|| format!("line {}: not 64 hex digits", i + 1))?;
        out.insert(hash, name.to_owned());
    }
    Ok(out)
}

fn unhex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The list file, read again when its modification time or size changes.
pub struct ClientList {
    path: PathBuf,
    seen: Option<(SystemTime, u64, u64)>,
    clients: HashMap<[u8; 32], String>,
}

impl ClientList {
    /// The list at `path` (read at the first check).
    pub fn new(path: &Path) -> ClientList {
        ClientList {
            path: path.to_owned(),
            seen: None,
            clients: HashMap::new(),
        }
    }

    /// The name of the client whose token an `Authorization` value carries, or
    /// None (no bearer token, an unknown or revoked one, or no readable list).
    pub fn check(&mut self, authorization: Option<&str>) -> Option<String> {
        self.refresh();
        let token = authorization?.strip_prefix("Bearer ")?.trim();
        let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        // Every entry compared in full: no early exit on the first differing byte.
        let mut found = None;
        for (hash, name) in &self.clients {
            if hash.iter().zip(got).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0 {
                found = Some(name.clone());
            }
        }
        found
    }

    fn refresh(&mut self) {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&self.path).ok();
        let stamp = meta.and_then(|m| Some((m.modified().ok()?, m.len(), m.ino())));
        if stamp.is_some() && stamp == self.seen {
            return;
        }
        self.seen = stamp;
        match std::fs::read_to_string(&self.path)
            .map_err(|e| e.to_string())
            .and_then(|t| parse(&t))
        {
            Ok(list) => self.clients = list,
            Err(e) => {
                // A list that cannot be read admits no one (never everyone).
                eprintln!("sccache-dist-exporter: the client list {}: {e}; refusing every client until it is fixed", self.path.display());
                self.clients.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_rule() {
        for ok in ["default", "ci-1", "a", &"x".repeat(32)] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in [
            "",
            "a;b",
            "../x",
            "A",
            "-a",
            "a-",
            "a b",
            "a_b",
            &"x".repeat(33),
            "é",
        ] {
            assert!(!valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn a_token_is_known_by_its_hash_and_a_change_is_read_at_once() {
        let dir = std::env::temp_dir().join(format!("clients-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("clients.sha256");
        std::fs::write(
            &f,
            format!("alice {}\nbob {}\n", token_hash("ta"), token_hash("tb")),
        )
        .unwrap();
        let mut l = ClientList::new(&f);
        assert_eq!(l.check(Some("Bearer ta")).as_deref(), Some("alice"));
        assert_eq!(l.check(Some("Bearer tb")).as_deref(), Some("bob"));
        assert_eq!(l.check(Some("Bearer tc")), None);
        assert_eq!(l.check(Some("ta")), None);
        assert_eq!(l.check(None), None);
        // bob revoked: a shorter file, read again at the next check.
        std::fs::write(&f, format!("alice {}\n", token_hash("ta"))).unwrap();
        assert_eq!(l.check(Some("Bearer tb")), None);
        assert_eq!(l.check(Some("Bearer ta")).as_deref(), Some("alice"));
        // A broken list admits no one.
        std::fs::write(&f, "alice nothex\n").unwrap();
        assert_eq!(l.check(Some("Bearer ta")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn malformed_lines_are_named() {
        assert!(parse("a\n").unwrap_err().starts_with("line 1"));
        assert!(parse("# c\nA 00\n").unwrap_err().starts_with("line 2"));
        assert!(parse(&format!("ok {}\nok2 zz\n", "0".repeat(64)))
            .unwrap_err()
            .starts_with("line 2"));
    }
}
