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
    get_at(&local_socket()?, path)
}

/// [`get`] on the engine socket at `socket`.
fn get_at(socket: &std::path::Path, path: &str) -> Option<(u16, String)> {
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
    image_from(get(&format!("/images/{reference}/json"))?, label)
}

/// What the engine's answer to `GET /images/REF/json` says of the image.
fn image_from(reply: (u16, String), label: &str) -> Option<Option<ImageInfo>> {
    match reply {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader};
    use std::os::unix::net::UnixListener;

    /// A one-request engine at a socket of its own that answers `reply`; returns
    /// what the client got and the request line the engine saw.
    fn ask(reply: &'static [u8], path: &str) -> (Option<(u16, String)>, String) {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("docker.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let engine = std::thread::spawn(move || {
            let (conn, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(conn);
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
                line.clear();
            }
            reader.get_mut().write_all(reply).unwrap();
            request_line
        });
        let got = get_at(&socket, path);
        (got, engine.join().unwrap())
    }

    #[test]
    fn an_image_is_read_from_the_engines_answer() {
        let reply = b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{\"RepoTags\":[\"r:debian\"],\"Config\":{\"Labels\":{\"h\":\"abc\"}}}";
        let (got, request) = ask(reply, "/images/r:debian/json");
        assert_eq!(request, "GET /images/r:debian/json HTTP/1.0\r\n");
        let info = image_from(got.unwrap(), "h").unwrap().unwrap();
        assert_eq!(info.label.as_deref(), Some("abc"));
        assert_eq!(info.tags, ["r:debian"]);
        let (got, _) = ask(reply, "/images/r:debian/json");
        assert!(image_from(got.unwrap(), "other")
            .unwrap()
            .unwrap()
            .label
            .is_none());
    }

    #[test]
    fn no_such_image_and_failures_are_told_apart() {
        let (got, _) = ask(b"HTTP/1.0 404 Not Found\r\n\r\n{}", "/images/x/json");
        assert!(matches!(image_from(got.unwrap(), "h"), Some(None)));
        // Anything else is "ask the CLI", never "no such image".
        let (got, _) = ask(b"HTTP/1.0 500 Oops\r\n\r\n{}", "/images/x/json");
        assert!(image_from(got.unwrap(), "h").is_none());
        let (got, _) = ask(b"HTTP/1.0 200 OK\r\n\r\nnot json", "/images/x/json");
        assert!(image_from(got.unwrap(), "h").is_none());
        let (got, _) = ask(b"garbage", "/images/x/json");
        assert!(got.is_none());
        let dir = tempfile::tempdir().unwrap();
        assert!(get_at(&dir.path().join("none.sock"), "/_ping").is_none());
    }
}
