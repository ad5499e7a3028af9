//! Each config file on its own: valid TOML, only the keys sccache-dist accepts, and
//! values it can parse. The agreement between the three is in `agreement.rs`.

use std::net::SocketAddr;

use toml::{Table, Value};

use crate::sccache::Configs;

/// Every problem found, each naming the file and the key.
pub fn check(c: &Configs) -> Vec<String> {
    let mut errs = Vec::new();
    let parse = |name: &str, text: &str, errs: &mut Vec<String>| match text.parse::<Table>() {
        Ok(t) => Some(t),
        Err(e) => {
            errs.push(format!("{name}: not valid TOML: {e}"));
            None
        }
    };
    let sched = parse("scheduler.conf", &c.scheduler, &mut errs);
    let server = parse("server.conf", &c.server, &mut errs);
    let client = parse("client.conf", &c.client, &mut errs);
    let mut ck = Checker { errs };
    if let Some(s) = &sched {
        ck.scheduler(s);
    }
    if let Some(s) = &server {
        ck.server(s);
    }
    if let Some(s) = &client {
        ck.client(s);
    }
    let front = c.front.as_deref().map(Front::read);
    if let (Some(a), Some(b), Some(c)) = (&sched, &server, &client) {
        ck.agreement(a, b, c, front.as_ref());
    }
    ck.errs
}

/// The problems of one server.conf on its own (a join bundle carries no
/// scheduler or client config), each naming the key.
pub fn check_server(text: &str) -> Vec<String> {
    match text.parse::<Table>() {
        Ok(t) => {
            let mut ck = Checker { errs: Vec::new() };
            ck.server(&t);
            ck.errs
        }
        // The TOML error quotes the offending line, which may hold the credential.
        Err(_) => vec!["server.conf: not valid TOML".into()],
    }
}

/// What the TLS front's nginx.conf (as `render` writes it) says: the port it
/// listens on with TLS, and the scheduler's loopback port it passes to.
pub(super) struct Front {
    pub(super) listen: Option<u16>,
    pub(super) upstream: Option<u16>,
    /// The token the front passes the scheduler for a client it accepted.
    pub(super) passes_token: Option<String>,
}

impl Front {
    fn read(text: &str) -> Front {
        let num = |prefix: &str, suffix: &str| {
            text.lines()
                .filter_map(|l| {
                    l.trim()
                        .strip_prefix(prefix)?
                        .strip_suffix(suffix)?
                        .parse()
                        .ok()
                })
                .next()
        };
        let passes_token = text
            .lines()
            .filter_map(|l| {
                l.trim()
                    .strip_prefix("proxy_set_header Authorization \"Bearer ")?
                    .strip_suffix("\";")
                    .map(str::to_owned)
            })
            .next();
        Front {
            listen: num("listen ", " ssl;"),
            upstream: num("server 127.0.0.1:", ";"),
            passes_token,
        }
    }
}

pub(super) struct Checker {
    errs: Vec<String>,
}

pub(super) fn get<'a>(t: &'a Table, path: &str) -> Option<&'a Value> {
    let mut cur = t;
    let mut parts = path.split('.').peekable();
    while let Some(p) = parts.next() {
        let v = cur.get(p)?;
        if parts.peek().is_none() {
            return Some(v);
        }
        cur = v.as_table()?;
    }
    None
}

/// The string at the dotted `path` of `t`, if it is one.
pub fn get_str<'a>(t: &'a Table, path: &str) -> Option<&'a str> {
    get(t, path).and_then(Value::as_str)
}

impl Checker {
    pub(super) fn err(&mut self, file: &str, key: &str, msg: impl std::fmt::Display) {
        self.errs.push(format!("{file}: `{key}`: {msg}"));
    }

    /// Keys sccache-dist rejects (its config structs deny unknown fields).
    fn only_keys(&mut self, file: &str, prefix: &str, t: &Table, allowed: &[&str]) {
        for k in t.keys() {
            if !allowed.contains(&k.as_str()) {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                self.err(
                    file,
                    &key,
                    format!(
                        "sccache-dist does not accept this key (allowed here: {})",
                        allowed.join(", ")
                    ),
                );
            }
        }
    }

    fn table<'a>(&mut self, file: &str, t: &'a Table, key: &str) -> Option<&'a Table> {
        match get(t, key) {
            Some(Value::Table(t)) => Some(t),
            Some(_) => {
                self.err(file, key, "must be a table");
                None
            }
            None => {
                self.err(file, key, "missing");
                None
            }
        }
    }

    fn string<'a>(&mut self, file: &str, t: &'a Table, key: &str) -> Option<&'a str> {
        match get(t, key) {
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.err(file, key, "must be a string");
                None
            }
            None => {
                self.err(file, key, "missing");
                None
            }
        }
    }

    fn socket(&mut self, file: &str, t: &Table, key: &str) -> Option<SocketAddr> {
        let s = self.string(file, t, key)?;
        match s.parse() {
            Ok(a) => Some(a),
            Err(_) => {
                self.err(
                    file,
                    key,
                    format!("{s:?} is not an IP:port literal (host names are not accepted)"),
                );
                None
            }
        }
    }

    /// An auth table: `type` one of `variants`, each with exactly its keys.
    fn auth(&mut self, file: &str, t: &Table, key: &str, variants: &[(&str, &[&str])]) {
        let Some(a) = self.table(file, t, key) else {
            return;
        };
        let Some(ty) = self.string(file, a, "type") else {
            return;
        };
        match variants.iter().find(|(name, _)| *name == ty) {
            None => {
                let names: Vec<_> = variants.iter().map(|v| v.0).collect();
                self.err(
                    file,
                    &format!("{key}.type"),
                    format!("{ty:?} is not one of {}", names.join(", ")),
                );
            }
            Some((_, fields)) => {
                let mut allowed = vec!["type"];
                allowed.extend_from_slice(fields);
                self.only_keys(file, key, a, &allowed);
                for f in *fields {
                    if let Some(v) = self.string(file, a, f) {
                        if v.chars().any(|c| c.is_control()) {
                            self.err(
                                file,
                                &format!("{key}.{f}"),
                                "holds control characters: not a valid HTTP header value",
                            );
                        }
                    }
                }
            }
        }
    }

    fn scheduler(&mut self, t: &Table) {
        let f = "scheduler.conf";
        self.only_keys(f, "", t, &["public_addr", "client_auth", "server_auth"]);
        self.socket(f, t, "public_addr");
        self.auth(
            f,
            t,
            "client_auth",
            &[
                ("token", &["token"]),
                ("jwt_validate", &["audience", "issuer", "jwks_url"]),
                ("proxy_token", &["url", "cache_secs"]),
                ("DANGEROUSLY_INSECURE", &[]),
            ],
        );
        self.auth(
            f,
            t,
            "server_auth",
            &[
                ("jwt_hs256", &["secret_key"]),
                ("token", &["token"]),
                ("DANGEROUSLY_INSECURE", &[]),
            ],
        );
    }

    fn server(&mut self, t: &Table) {
        let f = "server.conf";
        self.only_keys(
            f,
            "",
            t,
            &[
                "cache_dir",
                "toolchain_cache_size",
                "public_addr",
                "bind_address",
                "scheduler_url",
                "builder",
                "scheduler_auth",
            ],
        );
        self.abs_path(f, t, "cache_dir");
        match get(t, "toolchain_cache_size") {
            None | Some(Value::Integer(1..)) => {}
            Some(_) => self.err(
                f,
                "toolchain_cache_size",
                "must be a positive integer (bytes)",
            ),
        }
        self.socket(f, t, "public_addr");
        if get(t, "bind_address").is_some() {
            self.socket(f, t, "bind_address");
        }
        if let Some(u) = self.string(f, t, "scheduler_url") {
            if let Err(e) = parse_url(u) {
                self.err(f, "scheduler_url", e);
            }
        }
        if let Some(b) = self.table(f, t, "builder") {
            match get_str(b, "type") {
                Some("overlay") => {
                    self.only_keys(f, "builder", b, &["type", "build_dir", "bwrap_path"]);
                    self.abs_path(f, b, "build_dir");
                    self.abs_path(f, b, "bwrap_path");
                }
                Some("docker") => self.only_keys(f, "builder", b, &["type"]),
                other => self.err(
                    f,
                    "builder.type",
                    format!("{other:?} is not overlay or docker"),
                ),
            }
        }
        self.auth(
            f,
            t,
            "scheduler_auth",
            &[
                ("jwt_token", &["token"]),
                ("token", &["token"]),
                ("DANGEROUSLY_INSECURE", &[]),
            ],
        );
    }

    fn client(&mut self, t: &Table) {
        let f = "client.conf";
        self.only_keys(f, "", t, &["dist", "cache", "server_startup_timeout_ms"]);
        let Some(d) = self.table(f, t, "dist") else {
            return;
        };
        self.only_keys(
            f,
            "dist",
            d,
            &[
                "scheduler_url",
                "toolchains",
                "toolchain_cache_size",
                "cache_dir",
                "auth",
                "rewrite_includes_only",
            ],
        );
        if let Some(u) = self.string(f, d, "scheduler_url") {
            if let Err(e) = parse_url(u) {
                self.err(f, "dist.scheduler_url", e);
            }
        }
        if !matches!(get(d, "toolchains"), None | Some(Value::Array(_))) {
            self.err(f, "dist.toolchains", "must be an array");
        }
        self.auth(
            f,
            d,
            "auth",
            &[
                ("token", &["token"]),
                (
                    "oauth2_code_grant_pkce",
                    &["client_id", "auth_url", "token_url"],
                ),
                ("oauth2_implicit", &["client_id", "auth_url"]),
            ],
        );
    }

    fn abs_path(&mut self, f: &str, t: &Table, key: &str) {
        if let Some(p) = self.string(f, t, key) {
            if !p.starts_with('/') {
                self.err(f, key, format!("{p:?} is not an absolute path"));
            }
        }
    }
}

/// `http(s)://host:port[/...]` → (scheme, host, port).
pub fn parse_url(u: &str) -> Result<(String, String, u16), String> {
    let bad = || format!("{u:?} is not a URL like http://HOST:PORT");
    let (scheme, rest) = u.split_once("://").ok_or_else(bad)?;
    if scheme != "http" && scheme != "https" {
        return Err(bad());
    }
    let hostport = rest.split('/').next().unwrap_or_default();
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse::<u16>().map_err(|_| bad())?),
        None => (hostport, if scheme == "https" { 443 } else { 80 }),
    };
    if host.is_empty() {
        return Err(bad());
    }
    Ok((scheme.to_owned(), host.to_owned(), port))
}
