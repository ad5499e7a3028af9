//! The cluster's clients: each with a name and a token of its own, of which the
//! state keeps only the SHA-256 (the token is in the client's own files). The
//! front checks a job request's token against this list's hashes.

use serde::{Deserialize, Serialize};

pub use sccache_dist_exporter::clients::{token_hash, valid_name, NAME_RULE};

/// The name the one token of a cluster from before per-client tokens keeps.
pub const DEFAULT_CLIENT: &str = "default";

/// One client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientRecord {
    /// Its name.
    pub name: String,
    /// When it was made or last rotated (seconds since the Unix epoch).
    pub created_at: u64,
    /// The hex SHA-256 of its token.
    pub token_sha256: String,
}

/// Every client of a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Clients {
    /// The clients, in the order they were added.
    pub clients: Vec<ClientRecord>,
}

impl Clients {
    /// The client called `name`.
    pub fn get(&self, name: &str) -> Option<&ClientRecord> {
        self.clients.iter().find(|c| c.name == name)
    }

    /// Checks a new client's name: the rule, and not taken.
    pub fn check_new(&self, name: &str) -> Result<(), String> {
        if !valid_name(name) {
            return Err(format!(
                "the client name {name:?} breaks the rule: {NAME_RULE}"
            ));
        }
        if self.get(name).is_some() {
            return Err(format!(
                "a client named {name} exists: `cargo xtask client rotate {name} -o DIR` gives it a new token, `cargo xtask client revoke {name}` removes it"
            ));
        }
        Ok(())
    }

    /// Adds a client (or replaces the one of that name) holding `token`.
    pub fn put(&mut self, name: &str, token: &str, now: u64) {
        let record = ClientRecord {
            name: name.to_owned(),
            created_at: now,
            token_sha256: token_hash(token),
        };
        match self.clients.iter_mut().find(|c| c.name == name) {
            Some(c) => *c = record,
            None => self.clients.push(record),
        }
    }

    /// Removes the client called `name`; false when there is none.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.clients.len();
        self.clients.retain(|c| c.name != name);
        self.clients.len() != before
    }

    /// The list as the front's checker reads it: `NAME SHA256` per line.
    pub fn hash_lines(&self) -> String {
        let mut out = String::from(
            "# sccache-docker: the clients the front accepts (name, SHA-256 of the token)\n",
        );
        for c in &self.clients {
            out.push_str(&format!("{} {}\n", c.name, c.token_sha256));
        }
        out
    }

    /// Their names.
    pub fn names(&self) -> Vec<&str> {
        self.clients.iter().map(|c| c.name.as_str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_checked_and_the_list_reads_back_in_the_checkers_format() {
        let mut c = Clients::default();
        c.put("default", "t0", 1);
        c.put("ci-1", "t1", 2);
        for bad in ["a;b", "../x", &"x".repeat(200), "Upper"] {
            assert!(
                c.check_new(bad).unwrap_err().contains("breaks the rule"),
                "{bad}"
            );
        }
        assert!(c.check_new("ci-1").unwrap_err().contains("exists"));
        assert!(c.check_new("ci-2").is_ok());
        let parsed = sccache_dist_exporter::clients::parse(&c.hash_lines()).unwrap();
        assert_eq!(parsed.len(), 2);
        c.put("ci-1", "t2", 3);
        assert_eq!(c.get("ci-1").unwrap().token_sha256, token_hash("t2"));
        assert!(c.remove("ci-1"));
        assert!(!c.remove("ci-1"));
        assert_eq!(c.names(), ["default"]);
    }
}
