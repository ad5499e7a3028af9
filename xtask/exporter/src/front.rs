//! The TLS front's access log: one request a line, sent by nginx as a syslog
//! datagram. The line's layout is ours (`log_format sccache_front` in the
//! front's nginx.conf): `ADDRESS STATUS METHOD URI`.

use std::net::IpAddr;

/// The syslog tag the front's nginx.conf gives its access log.
pub const SYSLOG_TAG: &str = "sccache_front";

/// The nginx `log_format` line the front uses; [`parse`] reads what it writes.
/// `$sccache_client` is the client's name the front's token check found, `-`
/// where there was none.
pub const LOG_FORMAT: &str = "'$remote_addr $status $request_method $uri $sccache_client'";

/// Which of the scheduler's paths a request went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PathKind {
    /// `POST /api/v1/scheduler/alloc_job`: a client asks for a build server.
    AllocJob,
    /// `GET /api/v1/scheduler/status`.
    Status,
    /// `POST /api/v1/scheduler/heartbeat_server`: a build server's heartbeat.
    Heartbeat,
    /// `POST /api/v1/scheduler/job_state/N`: a build server reports a job.
    JobState,
    /// `GET /api/v1/scheduler/server_certificate/IP:PORT`.
    ServerCertificate,
    /// `GET /metrics`.
    Metrics,
    /// Anything else.
    Other,
}

impl PathKind {
    /// The value of the `path` label.
    pub fn label(self) -> &'static str {
        match self {
            PathKind::AllocJob => "alloc_job",
            PathKind::Status => "status",
            PathKind::Heartbeat => "heartbeat_server",
            PathKind::JobState => "job_state",
            PathKind::ServerCertificate => "server_certificate",
            PathKind::Metrics => "metrics",
            PathKind::Other => "other",
        }
    }

    fn of(uri: &str) -> PathKind {
        let Some(rest) = uri.strip_prefix("/api/v1/scheduler/") else {
            return if uri == "/metrics" {
                PathKind::Metrics
            } else {
                PathKind::Other
            };
        };
        match rest.split('/').next().unwrap_or("") {
            "alloc_job" => PathKind::AllocJob,
            "status" => PathKind::Status,
            "heartbeat_server" => PathKind::Heartbeat,
            "job_state" => PathKind::JobState,
            "server_certificate" => PathKind::ServerCertificate,
            _ => PathKind::Other,
        }
    }
}

/// One request the front passed on (or refused).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The peer's address.
    pub address: IpAddr,
    /// The HTTP status the front answered with.
    pub status: u16,
    /// Which path.
    pub path: PathKind,
    /// The client's name, when the front checked its token and knew it.
    pub client: Option<String>,
}

/// Reads one access-log line, with or without its syslog header; None for a
/// line not of our format.
pub fn parse(line: &str) -> Option<Request> {
    let line = line.trim_end_matches(['\r', '\n', '\0']);
    let tag = format!("{SYSLOG_TAG}: ");
    let message = match line.find(&tag) {
        Some(i) => &line[i + tag.len()..],
        None => line,
    };
    let mut words = message.split(' ');
    let address = words.next()?.parse().ok()?;
    let status = words.next()?.parse().ok()?;
    let _method = words.next()?;
    let uri = words.next()?;
    // `-` or empty: no client passed the token check on this request.
    let client = match words.next() {
        None | Some("-") | Some("") => None,
        Some(name) if crate::clients::valid_name(name) => Some(name.to_owned()),
        Some(_) => return None,
    };
    if words.next().is_some() {
        return None;
    }
    Some(Request {
        address,
        status,
        path: PathKind::of(uri),
        client,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_syslog_datagrams_and_plain_lines() {
        let r = parse(
            "<190>Dec  7 15:56:44 sccache_front: 172.31.250.1 200 POST /api/v1/scheduler/alloc_job",
        )
        .unwrap();
        assert_eq!(r.address.to_string(), "172.31.250.1");
        assert_eq!(r.status, 200);
        assert_eq!(r.path, PathKind::AllocJob);
        let r = parse("::1 401 POST /api/v1/scheduler/heartbeat_server").unwrap();
        assert_eq!((r.status, r.path), (401, PathKind::Heartbeat));
        let r = parse("10.0.0.1 200 POST /api/v1/scheduler/job_state/17").unwrap();
        assert_eq!(r.path, PathKind::JobState);
        let r =
            parse("10.0.0.1 200 GET /api/v1/scheduler/server_certificate/10.0.0.2:10501").unwrap();
        assert_eq!(r.path, PathKind::ServerCertificate);
        assert_eq!(
            parse("10.0.0.1 401 GET /metrics").unwrap().path,
            PathKind::Metrics
        );
        assert_eq!(parse("10.0.0.1 404 GET /x").unwrap().path, PathKind::Other);
        let r = parse("10.0.0.1 200 POST /api/v1/scheduler/alloc_job ci-7").unwrap();
        assert_eq!(r.client.as_deref(), Some("ci-7"));
        assert_eq!(
            parse("10.0.0.1 401 POST /api/v1/scheduler/alloc_job -")
                .unwrap()
                .client,
            None
        );
        assert_eq!(
            parse("10.0.0.1 401 POST /api/v1/scheduler/alloc_job Bad;Name"),
            None
        );
    }

    #[test]
    fn refuses_what_is_not_ours() {
        for l in [
            "",
            "garbage",
            "not-an-ip 200 GET /",
            "1.2.3.4 abc GET /",
            "1.2.3.4 200 GET",
            "1.2.3.4 200 GET / name extra",
        ] {
            assert_eq!(parse(l), None, "{l}");
        }
    }
}
