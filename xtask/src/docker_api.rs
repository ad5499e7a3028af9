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

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// `repo:tag` of every image carrying the label `key=value`; `None` when there is no
/// local socket to ask or it does not answer (the caller asks the CLI instead).
pub fn tags_with_label(key: &str, value: &str) -> Option<Vec<String>> {
    let socket = local_socket()?;
    let filters = serde_json::json!({ "label": [format!("{key}={value}")] }).to_string();
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    // HTTP/1.0: the engine answers unchunked and closes the connection.
    write!(
        s,
        "GET /images/json?filters={} HTTP/1.0\r\nHost: docker\r\n\r\n",
        percent_encode(&filters)
    )
    .ok()?;
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).ok()?;
    let reply = String::from_utf8(reply).ok()?;
    let (head, body) = reply.split_once("\r\n\r\n")?;
    if !head.lines().next()?.contains(" 200 ") {
        return None;
    }
    let images: Vec<serde_json::Value> = serde_json::from_str(body).ok()?;
    Some(
        images
            .iter()
            .flat_map(|i| i["RepoTags"].as_array().cloned().unwrap_or_default())
            .filter_map(|t| t.as_str().map(str::to_owned))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn encodes_the_filter() {
        assert_eq!(
            super::percent_encode("{\"label\":[\"a=b\"]}"),
            "%7B%22label%22%3A%5B%22a%3Db%22%5D%7D"
        );
    }
}
