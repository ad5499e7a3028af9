//! `sccache-dist-exporter`: started by the image's entrypoint beside the
//! scheduler. It reads the scheduler's log on its standard input and passes
//! every byte on to its own standard error unchanged (so `docker logs` shows
//! what it always did), reads the TLS front's access log from a syslog datagram
//! socket, asks the scheduler's status API once a second, and serves the sum at
//! `GET /metrics` on a loopback port, to a bearer token whose SHA-256 it is
//! given. The front passes `/metrics` to it; nothing else reaches it.

use std::io::{Read, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sccache_dist_exporter::clients::{ClientList, NAME_HEADER};
use sccache_dist_exporter::exposition::CONTENT_TYPE;
use sccache_dist_exporter::render::{render, Extra};
use sccache_dist_exporter::state::{SchedulerStatus, State};
use sha2::{Digest, Sha256};

mod process;

/// A log line longer than this is still passed on whole, but only this much of
/// it is kept for parsing: memory stays bounded whatever the scheduler writes.
const MAX_LINE: usize = 64 * 1024;

struct Args {
    listen: String,
    status_url: String,
    token_sha256_file: PathBuf,
    front_log: Option<PathBuf>,
    clients_file: Option<PathBuf>,
    cert_expiry_file: Option<PathBuf>,
    extra: Extra,
}

fn usage() -> ! {
    eprintln!(
        "usage: sccache-dist-exporter --listen 127.0.0.1:PORT --status-url URL \
         --token-sha256-file FILE [--front-log SOCKET] [--clients-file FILE] [--cert-expiry-file FILE] [--sccache-dist-version V] [--image-hash H]\n\
         reads the scheduler's log on stdin and passes it on to stderr"
    );
    std::process::exit(64)
}

fn args() -> Args {
    let mut listen = None;
    let mut status_url = None;
    let mut token = None;
    let mut front_log = None;
    let mut clients_file = None;
    let mut cert_expiry_file = None;
    let mut extra = Extra::default();
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--version" {
            println!("sccache-dist-exporter {}", env!("CARGO_PKG_VERSION"));
            std::process::exit(0);
        }
        let value = it.next().unwrap_or_else(|| usage());
        match flag.as_str() {
            "--listen" => listen = Some(value),
            "--status-url" => status_url = Some(value),
            "--token-sha256-file" => token = Some(PathBuf::from(value)),
            "--front-log" => front_log = Some(PathBuf::from(value)),
            "--clients-file" => clients_file = Some(PathBuf::from(value)),
            "--cert-expiry-file" => cert_expiry_file = Some(PathBuf::from(value)),
            "--sccache-dist-version" => extra.version = version_of(&value),
            "--image-hash" => extra.image_hash = value,
            _ => usage(),
        }
    }
    match (listen, status_url, token) {
        (Some(listen), Some(status_url), Some(token_sha256_file)) => Args {
            listen,
            status_url,
            token_sha256_file,
            front_log,
            clients_file,
            cert_expiry_file,
            extra,
        },
        _ => usage(),
    }
}

/// `sccache-dist 0.19.0` -> `0.19.0`.
fn version_of(text: &str) -> String {
    text.split_whitespace().last().unwrap_or("").to_owned()
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

fn fail(msg: String) -> ! {
    eprintln!("sccache-dist-exporter: {msg}");
    std::process::exit(1)
}

fn main() {
    let args = args();
    let token = read_token_hash(&args.token_sha256_file).unwrap_or_else(|e| fail(e));
    let state = Arc::new(Mutex::new(State::new(now())));
    let server = tiny_http::Server::http(&args.listen)
        .unwrap_or_else(|e| fail(format!("cannot listen on {}: {e}", args.listen)));
    if let Some(path) = &args.front_log {
        let socket = bind_front_log(path).unwrap_or_else(|e| fail(e));
        let state = state.clone();
        std::thread::spawn(move || read_front_log(socket, &state));
    }
    {
        let state = state.clone();
        let url = args.status_url.clone();
        std::thread::spawn(move || poll_status(&url, &state));
    }
    {
        let state = state.clone();
        let extra = args.extra.clone();
        let clients = args.clients_file.as_deref().map(ClientList::new);
        let expiry = args.cert_expiry_file.clone();
        std::thread::spawn(move || serve(server, token, clients, expiry, &state, extra));
    }
    eprintln!(
        "sccache-dist-exporter: serving /metrics on {} (pid {})",
        args.listen,
        std::process::id()
    );
    pass_log_through(&state);
}

/// The token's SHA-256, 64 hex digits in `path`.
fn read_token_hash(path: &Path) -> Result<[u8; 32], String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the metrics token hash {}: {e}", path.display()))?;
    let hex = text.trim();
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!(
            "{} must hold the metrics token's SHA-256 as 64 hex digits",
            path.display()
        ));
    }
    let mut out = [0u8; 32];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("checked hex");
    }
    Ok(out)
}

/// Whether an `Authorization` value carries the token (compared as hashes, in
/// time that does not depend on where they differ).
fn authorized(header: Option<&str>, want: &[u8; 32]) -> bool {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer ")) else {
        return false;
    };
    let got = Sha256::digest(token.trim().as_bytes());
    got.iter().zip(want).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

fn serve(
    server: tiny_http::Server,
    token: [u8; 32],
    mut clients: Option<ClientList>,
    cert_expiry_file: Option<PathBuf>,
    state: &Mutex<State>,
    extra: Extra,
) {
    for request in server.incoming_requests() {
        let auth = request
            .headers()
            .iter()
            .find(|h| h.field.equiv("Authorization"))
            .map(|h| h.value.as_str().to_owned());
        let url = request.url().split('?').next().unwrap_or("").to_owned();
        // The front's token check of a client's job request (auth_request).
        if url == "/auth/client" {
            let name = clients.as_mut().and_then(|c| c.check(auth.as_deref()));
            let response = match name {
                Some(n) => {
                    tiny_http::Response::from_string("").with_header(header(NAME_HEADER, &n))
                }
                None => tiny_http::Response::from_string("").with_status_code(401),
            };
            let _ = request.respond(response);
            continue;
        }
        let response = if url != "/metrics" {
            tiny_http::Response::from_string(
                "not found: only /metrics (and the front's /auth/client) is served here\n",
            )
            .with_status_code(404)
        } else if !authorized(auth.as_deref(), &token) {
            tiny_http::Response::from_string(
                "401: missing or wrong metrics token (Authorization: Bearer TOKEN, the token in the state directory's metrics-token)\n",
            )
            .with_status_code(401)
            .with_header(header("WWW-Authenticate", "Bearer realm=\"sccache-dist metrics\""))
        } else {
            let mut extra = extra.clone();
            (extra.cpu_seconds, extra.rss_bytes) = process::usage();
            // Read at each scrape: a renewed certificate shows at once.
            extra.cert_expiry = cert_expiry_file
                .as_deref()
                .and_then(|p| std::fs::read_to_string(p).ok())
                .and_then(|t| t.trim().parse().ok());
            let text = render(&state.lock().expect("state"), &extra, now());
            tiny_http::Response::from_string(text).with_header(header("Content-Type", CONTENT_TYPE))
        };
        let _ = request.respond(response);
    }
}

fn header(k: &str, v: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).expect("a valid header")
}

/// Passes stdin to stderr byte for byte, and each line (its first MAX_LINE
/// bytes) to the state. Returns at end of input: the scheduler is gone.
fn pass_log_through(state: &Mutex<State>) {
    let mut stdin = std::io::stdin().lock();
    let mut stderr = std::io::stderr();
    let mut buf = vec![0u8; 64 * 1024];
    let mut line: Vec<u8> = Vec::with_capacity(1024);
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => fail(format!("reading the scheduler's log: {e}")),
        };
        let _ = stderr.write_all(&buf[..n]);
        for &b in &buf[..n] {
            if b == b'\n' {
                let text = String::from_utf8_lossy(&line);
                state.lock().expect("state").log_line(&text, now());
                line.clear();
            } else if line.len() < MAX_LINE {
                line.push(b);
            }
        }
    }
    if !line.is_empty() {
        let text = String::from_utf8_lossy(&line);
        state.lock().expect("state").log_line(&text, now());
    }
    eprintln!("sccache-dist-exporter: the scheduler's log ended; exiting");
}

fn bind_front_log(path: &Path) -> Result<UnixDatagram, String> {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!(
                "{} exists and is not a socket: not removing it",
                path.display()
            ));
        }
        let _ = std::fs::remove_file(path);
    }
    let socket = UnixDatagram::bind(path)
        .map_err(|e| format!("cannot bind the front's log socket {}: {e}", path.display()))?;
    // nginx's workers (user nobody) write to it; it sits in a directory of the
    // container's own, and a datagram there can only add to a counter.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .map_err(|e| format!("cannot open {} to the front's workers: {e}", path.display()))?;
    Ok(socket)
}

fn read_front_log(socket: UnixDatagram, state: &Mutex<State>) {
    let mut buf = vec![0u8; 8192];
    loop {
        let Ok(n) = socket.recv(&mut buf) else {
            continue;
        };
        let text = String::from_utf8_lossy(&buf[..n]);
        let mut s = state.lock().expect("state");
        match sccache_dist_exporter::front::parse(&text) {
            Some(r) => s.front_request(&r, now()),
            None => {
                s.front_unparsed += 1;
                // The first one is shown (the layout holds no header or token).
                if s.front_unparsed == 1 {
                    eprintln!("sccache-dist-exporter: a front access-log line not of the expected layout: {:?}", text.chars().take(300).collect::<String>());
                }
            }
        }
    }
}

#[derive(serde::Deserialize)]
struct StatusReply {
    num_servers: u64,
    num_cpus: u64,
    in_progress: u64,
}

fn poll_status(url: &str, state: &Mutex<State>) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    loop {
        let reply = agent
            .get(url)
            .header("Accept", "application/json")
            .call()
            .ok()
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .and_then(|text| serde_json::from_str::<StatusReply>(&text).ok());
        if let Some(r) = reply {
            let status = SchedulerStatus {
                num_servers: r.num_servers,
                num_cpus: r.num_cpus,
                in_progress: r.in_progress,
            };
            state.lock().expect("state").scheduler_status(status, now());
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_token_whose_hash_is_given_passes() {
        let want: [u8; 32] = Sha256::digest(b"s3cret").into();
        assert!(authorized(Some("Bearer s3cret"), &want));
        assert!(!authorized(Some("Bearer s3cre"), &want));
        assert!(!authorized(Some("Basic s3cret"), &want));
        assert!(!authorized(Some("s3cret"), &want));
        assert!(!authorized(None, &want));
    }

    #[test]
    fn the_hash_file_must_be_64_hex_digits() {
        let dir = std::env::temp_dir().join(format!("exporter-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("h");
        std::fs::write(&f, "ab\n").unwrap();
        assert!(read_token_hash(&f).unwrap_err().contains("64 hex digits"));
        std::fs::write(&f, format!("{}\n", "0f".repeat(32))).unwrap();
        assert_eq!(read_token_hash(&f).unwrap(), [0x0f; 32]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
