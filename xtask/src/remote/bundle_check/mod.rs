//! A join bundle is input: it travels by hand (scp, a chat message, a CI secret)
//! and may arrive damaged, edited or wrong. Every field is checked here, with the
//! validators the profiles use, before `join` calls the engine at all; each
//! failure names the file and the field, and quotes at most a clipped value,
//! never the server's config (it holds the credential).

use std::net::Ipv4Addr;
use std::path::Path;

use serde_json::{Map, Value};

use crate::model::remote::{JoinBundle, BUNDLE_FORMAT};
use crate::profile::validate::{self, quote, Check};
use crate::sccache::config_check::{self, get_str};
use crate::sccache::tls;

/// The largest bundle read: one server config and a few names.
pub const MAX_BUNDLE_BYTES: u64 = 64 * 1024;

/// The largest server config a bundle may carry.
const MAX_SERVER_CONF_BYTES: usize = 16 * 1024;

/// The log levels a bundle may set (`trace` logs whole requests, tokens included).
const LOG_LEVELS: &[&str] = &["error", "warn", "info", "debug"];

/// Reads the bundle at `path` and checks every field; an error names the file and
/// the field. Refused unread: anything but a regular file, one over
/// [`MAX_BUNDLE_BYTES`], and one that group or others may read (it holds a
/// credential; `chmod 600` fixes it).
pub fn read(path: &Path) -> anyhow::Result<JoinBundle> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
    anyhow::ensure!(meta.is_file(), "{shown} is not a regular file");
    anyhow::ensure!(
        meta.len() <= MAX_BUNDLE_BYTES,
        "{shown} is {} bytes; a join bundle is at most {MAX_BUNDLE_BYTES}",
        meta.len()
    );
    check_private(path, &meta)?;
    let bytes = std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
    parse(&bytes).map_err(|e| anyhow::anyhow!("{shown}: {e}"))
}

/// Like ssh with a private key: a credential readable by others is refused.
fn check_private(path: &Path, meta: &std::fs::Metadata) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} is readable by group or others (mode {mode:03o}) and holds a build server's credential: `chmod 600 {}`, and move it only over a private channel",
        path.display(),
        path.display()
    );
    Ok(())
}

/// The bundle in `bytes`, every field checked.
pub fn parse(bytes: &[u8]) -> anyhow::Result<JoinBundle> {
    if String::from_utf8_lossy(bytes).contains("PRIVATE KEY-----") {
        anyhow::bail!("it holds a private key, which a join bundle never carries: make a new bundle with `cargo xtask join-bundle`");
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        // serde_json's syntax errors give a position, never the text around it.
        anyhow::anyhow!("not a join bundle (not JSON: {e})")
    })?;
    let Value::Object(mut map) = value else {
        anyhow::bail!("not a join bundle (not a JSON object)");
    };
    let format = take_str(&mut map, "format")?;
    if format != BUNDLE_FORMAT {
        anyhow::bail!(
            "field `format`: {}, this tool reads {BUNDLE_FORMAT:?}",
            quote(&format)
        );
    }
    let b = JoinBundle {
        format,
        name: take_str(&mut map, "name")?,
        address: take_address(&mut map, "address")?,
        port: take_port(&mut map, "port")?,
        scheduler_url: take_str(&mut map, "scheduler_url")?,
        distro: take_str(&mut map, "distro")?,
        image: take_str(&mut map, "image")?,
        image_hash: take_str(&mut map, "image_hash")?,
        cache_root: take_str(&mut map, "cache_root")?,
        log_level: take_str(&mut map, "log_level")?,
        toolchain_cache_size: take_u64(&mut map, "toolchain_cache_size")?,
        server_conf: take_str(&mut map, "server_conf")?,
        ca_cert: match map.contains_key("ca_cert") {
            true => Some(take_str(&mut map, "ca_cert")?),
            false => None,
        },
    };
    if let Some(extra) = map.keys().next() {
        anyhow::bail!("field {}: not a field of {BUNDLE_FORMAT}", quote(extra));
    }
    check(&b)?;
    Ok(b)
}

/// Every field of `b` on its own, then the server config against them.
pub fn check(b: &JoinBundle) -> anyhow::Result<()> {
    field("name", validate::docker_name(&b.name))?;
    field("address", validate::host_address(b.address))?;
    field("scheduler_url", scheduler_url(&b.scheduler_url))?;
    let (_, _, scheduler_port) =
        config_check::parse_url(&b.scheduler_url).map_err(anyhow::Error::msg)?;
    field("port", validate::port(b.port))?;
    if b.port == scheduler_port {
        field("port", Err(format!("{} is the scheduler's port", b.port)))?;
    }
    field("distro", validate::distro_name(&b.distro))?;
    field("image", validate::image_any(&b.image))?;
    field("image_hash", validate::sha256_hex(&b.image_hash))?;
    field("cache_root", validate::abs_path(&b.cache_root))?;
    field("cache_root", validate::volume_root(&b.cache_root))?;
    field("log_level", log_level(&b.log_level))?;
    field(
        "toolchain_cache_size",
        validate::toolchain_cache_size(b.toolchain_cache_size),
    )?;
    if let Some(pem) = &b.ca_cert {
        field("ca_cert", ca_cert(pem))?;
    }
    server_conf(b)
}

/// One PEM certificate that is a CA's (the bundle never carries its key: a
/// private key anywhere in the file is refused before this).
fn ca_cert(pem: &str) -> Check {
    if pem.len() > 16 * 1024 || pem.matches("BEGIN CERTIFICATE").count() != 1 {
        return Err("not one PEM certificate".into());
    }
    match tls::facts(pem) {
        Ok(f) if f.is_ca && f.remaining().is_none() => Err(format!(
            "the CA {} has expired: the server would refuse the scheduler (CertExpired); make a new bundle on the scheduler's host (`cargo xtask join-bundle`)",
            quote(&f.subject)
        )),
        Ok(f) if f.is_ca => Ok(()),
        Ok(f) => Err(format!(
            "the certificate of {} is not a CA's (basic constraints CA:FALSE)",
            quote(&f.subject)
        )),
        Err(e) => Err(format!("{e}")),
    }
}

/// The server config as sccache-dist reads it (only the keys it accepts), and in
/// agreement with the bundle's own address, port, URL, cache root and size.
fn server_conf(b: &JoinBundle) -> anyhow::Result<()> {
    let text = &b.server_conf;
    if text.len() > MAX_SERVER_CONF_BYTES {
        field(
            "server_conf",
            Err(format!(
                "{} bytes; at most {MAX_SERVER_CONF_BYTES}",
                text.len()
            )),
        )?;
    }
    let problems = config_check::check_server(text);
    if !problems.is_empty() {
        field("server_conf", Err(problems.join("; ")))?;
    }
    let t: toml::Table = text
        .parse()
        .map_err(|_| anyhow::anyhow!("field `server_conf`: not valid TOML"))?;
    let want_addr = b.public_addr();
    let agree = [
        (
            "public_addr",
            get_str(&t, "public_addr") == Some(want_addr.as_str()),
            format!("is not the bundle's address and port {want_addr}"),
        ),
        (
            "scheduler_url",
            get_str(&t, "scheduler_url") == Some(b.scheduler_url.as_str()),
            format!(
                "is not the bundle's scheduler_url {}",
                quote(&b.scheduler_url)
            ),
        ),
        (
            "toolchain_cache_size",
            t.get("toolchain_cache_size")
                .and_then(toml::Value::as_integer)
                == i64::try_from(b.toolchain_cache_size).ok(),
            "is not the bundle's toolchain_cache_size".to_owned(),
        ),
        (
            "cache_dir",
            under(get_str(&t, "cache_dir"), &b.cache_root),
            format!(
                "is not below the bundle's cache_root {}",
                quote(&b.cache_root)
            ),
        ),
        (
            "builder.build_dir",
            under(get_str(&t, "builder.build_dir"), &b.cache_root),
            format!(
                "is not below the bundle's cache_root {}",
                quote(&b.cache_root)
            ),
        ),
    ];
    for (key, ok, why) in agree {
        if !ok {
            field("server_conf", Err(format!("`{key}` {why}")))?;
        }
    }
    Ok(())
}

fn under(path: Option<&str>, root: &str) -> bool {
    path.is_some_and(|p| p.starts_with(&format!("{root}/")))
}

/// An http(s) URL with a host and port, and nothing a config or a header could
/// misread: no whitespace, no control characters, no credentials.
fn scheduler_url(u: &str) -> Check {
    if u.chars().any(|c| c.is_whitespace() || c.is_control()) || u.contains('@') {
        return Err(format!(
            "{} holds whitespace, a control character or credentials",
            quote(u)
        ));
    }
    config_check::parse_url(u).map(drop)
}

fn log_level(s: &str) -> Check {
    if LOG_LEVELS.contains(&s) {
        Ok(())
    } else {
        Err(format!(
            "{} is not one of {}",
            quote(s),
            LOG_LEVELS.join(", ")
        ))
    }
}

fn field(name: &str, check: Check) -> anyhow::Result<()> {
    check.map_err(|m| anyhow::anyhow!("field `{name}`: {m}"))
}

fn take(map: &mut Map<String, Value>, key: &str) -> anyhow::Result<Value> {
    map.remove(key)
        .ok_or_else(|| anyhow::anyhow!("field `{key}` is missing"))
}

fn take_str(map: &mut Map<String, Value>, key: &str) -> anyhow::Result<String> {
    match take(map, key)? {
        Value::String(s) => Ok(s),
        other => anyhow::bail!("field `{key}`: a string, not {}", kind(&other)),
    }
}

fn take_u64(map: &mut Map<String, Value>, key: &str) -> anyhow::Result<u64> {
    match take(map, key)? {
        Value::Number(n) if n.is_u64() => Ok(n.as_u64().unwrap_or_default()),
        other => anyhow::bail!("field `{key}`: a whole number, not {}", kind(&other)),
    }
}

fn take_port(map: &mut Map<String, Value>, key: &str) -> anyhow::Result<u16> {
    let n = take_u64(map, key)?;
    u16::try_from(n).map_err(|_| anyhow::anyhow!("field `{key}`: {n} is not a port (1-65535)"))
}

fn take_address(map: &mut Map<String, Value>, key: &str) -> anyhow::Result<Ipv4Addr> {
    let s = take_str(map, key)?;
    s.parse()
        .map_err(|_| anyhow::anyhow!("field `{key}`: {} is not an IPv4 address", quote(&s)))
}

/// What a JSON value is, without its content.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests;
