//! The scheduler's unauthenticated status endpoint, `/api/v1/scheduler/status`:
//! readiness, health and the figures `status` shows.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde::Deserialize;

/// The figures the scheduler's status endpoint reports.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct SchedulerStatus {
    /// Build servers currently registered with the scheduler.
    pub num_servers: u64,
    /// Their CPUs together: how many jobs the cluster can run at once.
    pub num_cpus: u64,
    /// Jobs allocated and not finished yet.
    pub in_progress: u64,
}

/// One GET with short timeouts; an error says what went wrong.
pub fn fetch(addr: SocketAddr) -> anyhow::Result<SchedulerStatus> {
    let timeout = Duration::from_secs(2);
    let mut s = TcpStream::connect_timeout(&addr, timeout)?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    write!(
        s,
        "GET /api/v1/scheduler/status HTTP/1.0\r\nHost: {addr}\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
    )?;
    let mut reply = String::new();
    s.read_to_string(&mut reply)?;
    let (head, body) = reply
        .split_once("\r\n\r\n")
        .ok_or_else(|| anyhow::anyhow!("the scheduler's reply has no body"))?;
    let status_line = head.lines().next().unwrap_or_default();
    if !status_line.contains(" 200") {
        anyhow::bail!("the scheduler answered {status_line:?}");
    }
    serde_json::from_str(body.trim())
        .map_err(|e| anyhow::anyhow!("unexpected scheduler status {body:?}: {e}"))
}
