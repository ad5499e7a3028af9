//! The one query `image` makes on its no-op path, answered by the engine's API over
//! its local Unix socket: a docker CLI process costs more than the whole rest of a
//! no-op run. Anything but a plain local socket (remote DOCKER_HOST, contexts) is
//! left to the CLI: `None` means "ask the CLI".

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::time::Duration;

/// The socket the docker CLI would use, when that is a local Unix socket.
fn local_socket() -> Option<PathBuf> {
    if std::env::var_os("DOCKER_CONTEXT").is_some() {
        return None;
    }
    if let Ok(host) = std::env::var("DOCKER_HOST") {
        return host.strip_prefix("unix://").map(PathBuf::from);
    }
    // A current context other than the default points somewhere else.
    let config = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    if let Ok(bytes) = std::fs::read(config.join("config.json")) {
        let v: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        if v["currentContext"].as_str().is_some_and(|c| c != "default") {
            return None;
        }
    }
    Some(PathBuf::from("/var/run/docker.sock"))
}

/// What `image` needs to know of one image.
pub struct ImageInfo {
    /// The value of `label`, if the image carries it.
    pub label: Option<String>,
    /// Its `RepoTags`: whether the moving tag already points at it.
    pub tags: Vec<String>,
}

/// One GET on the engine's API; `None` when there is no local socket to ask or
/// it does not answer as expected (the caller asks the CLI instead).
fn get(path: &str) -> Option<(u16, String)> {
    let socket = local_socket()?;
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    // HTTP/1.0: the engine answers unchunked and closes the connection.
    write!(s, "GET {path} HTTP/1.0\r\nHost: docker\r\n\r\n").ok()?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).ok()?;
    let reply = String::from_utf8(reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    let code = head
        .lines()
        .next()?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some((code, body.to_owned()))
}

/// The image `reference` names, looked up directly (no listing of all images):
/// `Some(None)` when there is no such image, `None` when the API cannot be asked.
pub fn image(reference: &str, label: &str) -> Option<Option<ImageInfo>> {
    match get(&format!("/images/{reference}/json"))? {
        (404, _) => Some(None),
        (200, body) => {
            let v: serde_json::Value = serde_json::from_str(&body).ok()?;
            let tags = v["RepoTags"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|t| t.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            let label = v["Config"]["Labels"][label].as_str().map(str::to_owned);
            Some(Some(ImageInfo { label, tags }))
        }
        _ => None,
    }
}
