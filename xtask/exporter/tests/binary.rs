//! The exporter binary as the entrypoint runs it: the scheduler's log passes
//! through byte for byte (a 1 MB line and a line it does not know included,
//! neither fatal), and `/metrics` answers 401 without the token and the figures
//! with it; an unknown client token is refused by `/auth/client`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// One HTTP/1.0 GET on loopback (the test's own client of the exporter).
fn get(port: u16, path: &str, auth: Option<&str>) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let auth = auth
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n{auth}\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn the_log_passes_through_and_metrics_need_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let hash: String = Sha256::digest(b"metrics-secret")
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    std::fs::write(dir.path().join("h"), format!("{hash}\n")).unwrap();
    let clients = format!(
        "alice {}\n",
        sccache_dist_exporter::clients::token_hash("alice-token")
    );
    std::fs::write(dir.path().join("clients"), clients).unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sccache-dist-exporter"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--status-url", "http://127.0.0.1:9/status"])
        .arg("--token-sha256-file")
        .arg(dir.path().join("h"))
        .arg("--clients-file")
        .arg(dir.path().join("clients"))
        .args(["--sccache-dist-version", "sccache-dist 0.19.0"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = Vec::new();
    log.extend_from_slice(b"[2026-12-07T15:56:44Z INFO  sccache_dist] Registered new server ServerId(10.0.0.2:10501)\n");
    log.extend_from_slice(b"[2026-12-07T15:56:44Z INFO  sccache_dist] Job 7 created and will be assigned to server ServerId(10.0.0.2:10501)\n");
    log.extend(std::iter::repeat_n(b'x', 1 << 20));
    log.extend_from_slice(b"\nsomething \"new\" in a later sccache\n");
    // Its stderr is read as it comes: a full pipe would stop it reading stdin.
    let mut stderr = child.stderr.take().unwrap();
    let passed = std::thread::spawn(move || {
        let mut all = Vec::new();
        stderr.read_to_end(&mut all).unwrap();
        all
    });
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(&log).unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let text = loop {
        if let Some(t) = get(port, "/metrics", Some("Bearer metrics-secret")) {
            if t.contains("sccache_dist_log_lines_total 4") {
                break t;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the exporter did not count 4 lines"
        );
        std::thread::sleep(Duration::from_millis(50)); // the poll interval
    };
    assert!(
        text.contains("sccache_dist_log_lines_unparsed_total 2"),
        "{text}"
    );
    assert!(
        text.contains("sccache_dist_server_jobs_in_progress{server=\"10.0.0.2:10501\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("sccache_dist_up 0"),
        "no scheduler answers here: {text}"
    );
    assert!(!text.contains("metrics-secret"));
    for auth in [None, Some("Bearer wrong"), Some("Bearer alice-token")] {
        let t = get(port, "/metrics", auth).unwrap();
        assert!(t.lines().next().unwrap().contains(" 401 "), "{auth:?}: {t}");
    }
    let ok = get(port, "/auth/client", Some("Bearer alice-token")).unwrap();
    assert!(
        ok.lines().next().unwrap().contains(" 200 ") && ok.contains("X-Sccache-Client: alice"),
        "{ok}"
    );
    let refused = get(port, "/auth/client", Some("Bearer metrics-secret")).unwrap();
    assert!(
        refused.lines().next().unwrap().contains(" 401 "),
        "{refused}"
    );

    // End of the log: the exporter exits, having passed every byte on.
    drop(stdin);
    let passed = passed.join().unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert!(
        passed.windows(log.len()).any(|w| w == log.as_slice()),
        "the log did not pass through unchanged"
    );
}
