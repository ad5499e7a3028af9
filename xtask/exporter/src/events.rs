//! The scheduler's log, one line at a time, into typed events: the one parser
//! that the exporter, `status`, `top` and `doctor`'s causes all read.
//!
//! sccache-dist 0.19 logs through env_logger: `[TIME LEVEL TARGET] MESSAGE`
//! (TIME with milliseconds when SCCACHE_LOG_MILLIS is set). `docker logs
//! --timestamps` puts its own RFC 3339 time and a space in front. The messages
//! matched here are the scheduler's `info!`/`warn!` lines of
//! `src/bin/sccache-dist/main.rs`; anything else is [`Event::Unknown`], never an
//! error, so a new sccache-dist can only make the figures poorer, not wrong.

use std::net::SocketAddr;

/// A job's number, as the scheduler counts them (from 0 at its start).
pub type JobId = u64;

/// The state a job is in, as the scheduler names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for its toolchain.
    Pending,
    /// Toolchain present; the client may start it.
    Ready,
    /// The client started it on the build server.
    Started,
    /// Done.
    Complete,
}

impl JobState {
    fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "Pending" => JobState::Pending,
            "Ready" => JobState::Ready,
            "Started" => JobState::Started,
            "Complete" => JobState::Complete,
            _ => return None,
        })
    }
}

/// What one line of the scheduler's log says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// `Job N created and will be assigned to server ServerId(IP:PORT)`.
    JobCreated {
        /// The job.
        job: JobId,
        /// The build server it goes to.
        server: SocketAddr,
    },
    /// `Job N successfully assigned and saved with state S`.
    JobAssigned {
        /// The job.
        job: JobId,
        /// Pending (the server needs the toolchain) or Ready.
        state: JobState,
    },
    /// `Job N updated state to S`.
    JobState {
        /// The job.
        job: JobId,
        /// Its new state.
        state: JobState,
    },
    /// `The following stale jobs will be de-allocated: [JobId(N), ...]`: jobs
    /// whose client never started them (it could not reach the server, or died).
    StaleJobs {
        /// The jobs dropped.
        jobs: Vec<JobId>,
    },
    /// `Registered new server ServerId(IP:PORT)`.
    Registered {
        /// The server.
        server: SocketAddr,
    },
    /// `Server IP:PORT appears to be dead, pruning it in the scheduler`.
    Pruned {
        /// The server, silent for 90 s.
        server: SocketAddr,
    },
    /// `Non-terminated job N was cleaned up in server pruning`.
    JobPruned {
        /// The job.
        job: JobId,
    },
    /// `Scheduler listening for clients on ADDR`.
    Listening,
    /// `Adding new certificate for IP:PORT to scheduler`.
    CertificateAdded {
        /// The server whose certificate the scheduler learnt.
        server: SocketAddr,
    },
    /// `Bearer auth failed: ...`: a client's token was refused.
    ClientAuthFailed,
    /// A line none of the above matched.
    Unknown,
}

/// One parsed line: env_logger's header (when it has one) and the event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    /// The time: `docker logs --timestamps`' when present, else env_logger's.
    pub time: Option<&'a str>,
    /// `INFO`, `WARN`, ... when the line has env_logger's header.
    pub level: Option<&'a str>,
    /// The message without the header.
    pub message: &'a str,
    /// What it says.
    pub event: Event,
}

/// Reads one line (without its newline).
pub fn parse_line(line: &str) -> LogLine<'_> {
    let line = line.trim_end_matches(['\r', '\n']);
    let (docker_time, rest) = split_docker_time(line);
    let (log_time, level, message) = split_header(rest);
    LogLine {
        time: docker_time.or(log_time),
        level,
        message,
        event: parse_message(message),
    }
}

/// `2026-12-07T15:56:44.123456789Z rest` (from `docker logs --timestamps`).
fn split_docker_time(line: &str) -> (Option<&str>, &str) {
    match line.split_once(' ') {
        Some((first, rest))
            if first.len() >= 20
                && first.as_bytes()[4] == b'-'
                && first.as_bytes()[10] == b'T'
                && first.ends_with('Z') =>
        {
            (Some(first), rest)
        }
        _ => (None, line),
    }
}

/// `[TIME LEVEL TARGET] message`.
fn split_header(line: &str) -> (Option<&str>, Option<&str>, &str) {
    let Some(inner) = line.strip_prefix('[') else {
        return (None, None, line);
    };
    let Some((header, message)) = inner.split_once("] ") else {
        return (None, None, line);
    };
    let mut words = header.split_whitespace();
    let time = words.next();
    let level = words.next();
    match level {
        Some("ERROR" | "WARN" | "INFO" | "DEBUG" | "TRACE") => (time, level, message),
        _ => (None, None, line),
    }
}

/// What a message (header removed) says.
pub fn parse_message(m: &str) -> Event {
    parse_known(m).unwrap_or(Event::Unknown)
}

fn parse_known(m: &str) -> Option<Event> {
    if let Some(rest) = m.strip_prefix("Job ") {
        let (job, rest) = rest.split_once(' ')?;
        let job: JobId = job.parse().ok()?;
        if let Some(server) = rest.strip_prefix("created and will be assigned to server ") {
            return Some(Event::JobCreated {
                job,
                server: server_id(server)?,
            });
        }
        if let Some(state) = rest.strip_prefix("successfully assigned and saved with state ") {
            return Some(Event::JobAssigned {
                job,
                state: JobState::parse(state)?,
            });
        }
        if let Some(state) = rest.strip_prefix("updated state to ") {
            return Some(Event::JobState {
                job,
                state: JobState::parse(state)?,
            });
        }
        return None;
    }
    if let Some(list) = m.strip_prefix("The following stale jobs will be de-allocated: ") {
        let inner = list.strip_prefix('[')?.strip_suffix(']')?;
        let jobs = inner
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(|s| s.strip_prefix("JobId(")?.strip_suffix(')')?.parse().ok())
            .collect::<Option<Vec<JobId>>>()?;
        return Some(Event::StaleJobs { jobs });
    }
    if let Some(server) = m.strip_prefix("Registered new server ") {
        return Some(Event::Registered {
            server: server_id(server)?,
        });
    }
    if let Some(rest) = m.strip_prefix("Server ") {
        let addr = rest.strip_suffix(" appears to be dead, pruning it in the scheduler")?;
        return Some(Event::Pruned {
            server: addr.parse().ok()?,
        });
    }
    if let Some(rest) = m.strip_prefix("Non-terminated job ") {
        let job = rest.strip_suffix(" was cleaned up in server pruning")?;
        return Some(Event::JobPruned {
            job: job.parse().ok()?,
        });
    }
    if m.starts_with("Scheduler listening for clients on ") {
        return Some(Event::Listening);
    }
    if let Some(rest) = m.strip_prefix("Adding new certificate for ") {
        let addr = rest.strip_suffix(" to scheduler")?;
        return Some(Event::CertificateAdded {
            server: addr.parse().ok()?,
        });
    }
    if m.starts_with("Bearer auth failed") {
        return Some(Event::ClientAuthFailed);
    }
    None
}

/// `ServerId(IP:PORT)`.
fn server_id(s: &str) -> Option<SocketAddr> {
    s.strip_prefix("ServerId(")?.strip_suffix(')')?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn reads_every_known_line() {
        let cases = [
            (
                "[2026-12-07T15:56:44Z INFO  sccache_dist] Job 12 created and will be assigned to server ServerId(172.31.250.10:10501)",
                Event::JobCreated { job: 12, server: addr("172.31.250.10:10501") },
            ),
            (
                "[2026-12-07T15:56:44Z INFO  sccache_dist] Job 12 successfully assigned and saved with state Pending",
                Event::JobAssigned { job: 12, state: JobState::Pending },
            ),
            (
                "[2026-12-07T15:56:44Z INFO  sccache_dist] Job 12 updated state to Complete",
                Event::JobState { job: 12, state: JobState::Complete },
            ),
            (
                "[2026-12-07T15:56:44Z WARN  sccache_dist] The following stale jobs will be de-allocated: [JobId(3), JobId(4)]",
                Event::StaleJobs { jobs: vec![3, 4] },
            ),
            (
                "[2026-12-07T15:56:44Z INFO  sccache_dist] Registered new server ServerId(127.0.0.1:10501)",
                Event::Registered { server: addr("127.0.0.1:10501") },
            ),
            (
                "[2026-12-07T15:56:44Z WARN  sccache_dist] Server 10.0.0.2:10502 appears to be dead, pruning it in the scheduler",
                Event::Pruned { server: addr("10.0.0.2:10502") },
            ),
            (
                "[2026-12-07T15:56:44Z WARN  sccache_dist] Non-terminated job 7 was cleaned up in server pruning",
                Event::JobPruned { job: 7 },
            ),
            (
                "[2026-12-07T15:56:44.120Z INFO  sccache::dist::http::server] Scheduler listening for clients on 127.0.0.1:11600",
                Event::Listening,
            ),
            (
                "[2026-12-07T15:56:44Z INFO  sccache::dist::http::server] Adding new certificate for 127.0.0.1:10501 to scheduler",
                Event::CertificateAdded { server: addr("127.0.0.1:10501") },
            ),
            (
                "[2026-12-07T15:56:44Z WARN  sccache::dist::http::server] Bearer auth failed: invalid_jwt",
                Event::ClientAuthFailed,
            ),
        ];
        for (line, want) in cases {
            assert_eq!(parse_line(line).event, want, "{line}");
        }
    }

    #[test]
    fn docker_timestamps_and_headers_are_split_off() {
        let l = parse_line("2026-12-07T15:56:44.123456789Z [2026-12-07T15:56:44Z WARN  sccache_dist] Job 1 updated state to Started\n");
        assert_eq!(l.time, Some("2026-12-07T15:56:44.123456789Z"));
        assert_eq!(l.level, Some("WARN"));
        assert_eq!(l.message, "Job 1 updated state to Started");
        assert_eq!(
            l.event,
            Event::JobState {
                job: 1,
                state: JobState::Started
            }
        );
    }

    #[test]
    fn anything_else_is_unknown_never_an_error() {
        for line in [
            "",
            "[",
            "[]",
            "[x y] Job 1 created",
            "Job x created and will be assigned to server ServerId(1.2.3.4:5)",
            "Job 1 created and will be assigned to server ServerId(not-an-addr)",
            "Job 1 updated state to Flying",
            "The following stale jobs will be de-allocated: [JobId(x)]",
            "The following stale jobs will be de-allocated: JobId(1)",
            "thread 'main' panicked at src/bin/sccache-dist/main.rs:1:1",
            "Server  appears to be dead, pruning it in the scheduler",
            "\u{0}\u{1}\u{7f}",
        ] {
            assert_eq!(parse_line(line).event, Event::Unknown, "{line:?}");
        }
        let long = "Job 1 ".to_owned() + &"x".repeat(1 << 20);
        assert_eq!(parse_line(&long).event, Event::Unknown);
    }
}
