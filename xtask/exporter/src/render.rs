//! The exposition of a [`State`]: every family of [`crate::names`], in order.

use crate::exposition::Writer;
use crate::names::{self, Family, BUCKETS};
use crate::state::{slots, State, UNSTARTED_AFTER_SECS};

/// What the exporter says about its own build and process.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// `sccache-dist --version`'s version.
    pub version: String,
    /// The image's input hash.
    pub image_hash: String,
    /// The exporter's CPU seconds, when known.
    pub cpu_seconds: Option<f64>,
    /// Its resident memory, when known.
    pub rss_bytes: Option<f64>,
    /// When the front's certificate expires (Unix seconds), when known.
    pub cert_expiry: Option<f64>,
}

/// The exposition at `now`.
pub fn render(s: &State, extra: &Extra, now: f64) -> String {
    let mut w = Writer::default();
    let status = s.fresh_status(now);
    let fam = |w: &mut Writer, f: &Family| w.family(f.name, f.kind, f.help);

    fam(&mut w, &names::UP);
    w.sample(names::UP.name, &[], f64::from(u8::from(status.is_some())));
    if let Some(st) = status {
        for (f, v) in [
            (&names::SERVERS_REGISTERED, st.num_servers),
            (&names::CPUS, st.num_cpus),
            (&names::JOBS_IN_PROGRESS, st.in_progress),
        ] {
            fam(&mut w, f);
            w.sample(f.name, &[], v as f64);
        }
    }
    fam(&mut w, &names::START_TIME);
    w.sample(names::START_TIME.name, &[], s.start_time);
    if let Some(t) = extra.cert_expiry {
        fam(&mut w, &names::FRONT_CERT_EXPIRY);
        w.sample(names::FRONT_CERT_EXPIRY.name, &[], t);
    }
    fam(&mut w, &names::BUILD_INFO);
    w.sample(
        names::BUILD_INFO.name,
        &[
            ("version", &extra.version),
            ("image_hash", &extra.image_hash),
        ],
        1.0,
    );

    per_server(&mut w, s, now);

    fam(&mut w, &names::CLIENT_REQUESTS);
    for ((addr, code), n) in &s.clients {
        let (addr, code) = (addr.to_string(), code.to_string());
        w.sample(
            names::CLIENT_REQUESTS.name,
            &[("address", &addr), ("code", &code)],
            *n as f64,
        );
    }
    fam(&mut w, &names::HEARTBEATS);
    for ((addr, code), n) in &s.heartbeats {
        let (addr, code) = (addr.to_string(), code.to_string());
        w.sample(
            names::HEARTBEATS.name,
            &[("address", &addr), ("code", &code)],
            *n as f64,
        );
    }
    fam(&mut w, &names::CLIENT_JOBS);
    for ((name, code), n) in &s.client_jobs {
        let code = code.to_string();
        w.sample(
            names::CLIENT_JOBS.name,
            &[("client", name), ("code", &code)],
            *n as f64,
        );
    }
    fam(&mut w, &names::CLIENT_LAST_SEEN);
    for (name, t) in &s.client_name_seen {
        w.sample(names::CLIENT_LAST_SEEN.name, &[("client", name)], *t);
    }
    for (f, seen) in [
        (&names::CLIENT_LAST_REQUEST, &s.client_seen),
        (&names::HEARTBEAT_LAST, &s.heartbeat_seen),
    ] {
        fam(&mut w, f);
        for (addr, t) in seen {
            w.sample(f.name, &[("address", &addr.to_string())], *t);
        }
    }
    fam(&mut w, &names::FRONT_REQUESTS);
    for ((path, code), n) in &s.front {
        let code = code.to_string();
        w.sample(
            names::FRONT_REQUESTS.name,
            &[("path", path.label()), ("code", &code)],
            *n as f64,
        );
    }
    fam(&mut w, &names::LOG_LINES);
    w.sample(names::LOG_LINES.name, &[], s.lines as f64);
    fam(&mut w, &names::LOG_LINES_UNPARSED);
    w.sample(names::LOG_LINES_UNPARSED.name, &[], s.unparsed as f64);
    fam(&mut w, &names::FRONT_LOG_UNPARSED);
    w.sample(names::FRONT_LOG_UNPARSED.name, &[], s.front_unparsed as f64);
    if let Some(cpu) = extra.cpu_seconds {
        fam(&mut w, &names::PROCESS_CPU);
        w.sample(names::PROCESS_CPU.name, &[], cpu);
    }
    if let Some(rss) = extra.rss_bytes {
        fam(&mut w, &names::PROCESS_RSS);
        w.sample(names::PROCESS_RSS.name, &[], rss);
    }
    w.finish()
}

fn per_server(w: &mut Writer, s: &State, now: f64) {
    let in_progress = s.in_progress();
    let unstarted = s.unstarted(now, UNSTARTED_AFTER_SECS);
    let servers: Vec<(String, &crate::state::Server)> =
        s.servers.iter().map(|(a, v)| (a.to_string(), v)).collect();
    type Get = fn(&crate::state::Server) -> Option<f64>;
    let simple: [(&Family, Get); 6] = [
        (&names::SERVER_REGISTERED, |v| {
            Some(f64::from(u8::from(v.registered)))
        }),
        (&names::SERVER_SLOTS, |v| v.cpus.map(|c| slots(c) as f64)),
        (&names::SERVER_CREATED, |v| Some(v.created as f64)),
        (&names::SERVER_COMPLETED, |v| Some(v.completed as f64)),
        (&names::SERVER_STALE, |v| Some(v.stale as f64)),
        (&names::SERVER_REGISTRATIONS, |v| {
            Some(v.registrations as f64)
        }),
    ];
    for (f, get) in simple {
        w.family(f.name, f.kind, f.help);
        for (addr, v) in &servers {
            if let Some(x) = get(v) {
                w.sample(f.name, &[("server", addr)], x);
            }
        }
    }
    let f = &names::SERVER_PRUNES;
    w.family(f.name, f.kind, f.help);
    for (addr, v) in &servers {
        w.sample(f.name, &[("server", addr)], v.prunes as f64);
    }
    let f = &names::SERVER_JOBS_IN_PROGRESS;
    w.family(f.name, f.kind, f.help);
    for (addr, _) in &servers {
        let n = in_progress
            .get(&addr.parse().expect("written from a SocketAddr"))
            .copied()
            .unwrap_or(0);
        w.sample(f.name, &[("server", addr)], n as f64);
    }
    let f = &names::SERVER_JOBS_UNSTARTED;
    w.family(f.name, f.kind, f.help);
    for (addr, v) in &servers {
        if v.registered {
            let n = unstarted
                .get(&addr.parse().expect("written from a SocketAddr"))
                .copied()
                .unwrap_or(0);
            w.sample(f.name, &[("server", addr)], n as f64);
        }
    }
    for (i, f) in [
        &names::TOOLCHAIN_WAIT,
        &names::START_LATENCY,
        &names::COMPILE,
    ]
    .into_iter()
    .enumerate()
    {
        w.family(f.name, f.kind, f.help);
        let bucket = format!("{}_bucket", f.name);
        for (addr, v) in &servers {
            let h = &v.phases[i];
            for (le, n) in BUCKETS.iter().zip(h.counts) {
                let le = le.to_string();
                w.sample(&bucket, &[("server", addr), ("le", &le)], n as f64);
            }
            w.sample(&bucket, &[("server", addr), ("le", "+Inf")], h.count as f64);
            w.sample(&format!("{}_sum", f.name), &[("server", addr)], h.sum);
            w.sample(
                &format!("{}_count", f.name),
                &[("server", addr)],
                h.count as f64,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exposition::parse;
    use crate::state::SchedulerStatus;

    #[test]
    fn every_family_has_help_and_type_and_reads_back() {
        let mut s = State::new(100.0);
        for l in [
            "Registered new server ServerId(10.0.0.2:10501)",
            "Job 0 created and will be assigned to server ServerId(10.0.0.2:10501)",
            "Job 0 successfully assigned and saved with state Ready",
            "Job 0 updated state to Started",
            "Job 0 updated state to Complete",
            "Job 1 created and will be assigned to server ServerId(10.0.0.2:10501)",
        ] {
            s.log_line(l, 101.0);
        }
        s.scheduler_status(
            SchedulerStatus {
                num_servers: 1,
                num_cpus: 2,
                in_progress: 1,
            },
            101.0,
        );
        s.front_request(
            &crate::front::parse("10.0.0.9 200 POST /api/v1/scheduler/alloc_job").unwrap(),
            101.0,
        );
        let extra = Extra {
            version: "0.19.0".into(),
            image_hash: "abc".into(),
            cpu_seconds: Some(0.5),
            rss_bytes: Some(4096.0),
            cert_expiry: Some(2e9),
        };
        let text = render(&s, &extra, 102.0);
        for f in names::ALL {
            assert!(text.contains(&format!("# HELP {} ", f.name)), "{}", f.name);
            assert!(text.contains(&format!("# TYPE {} ", f.name)), "{}", f.name);
        }
        let samples = parse(&text).unwrap();
        let get = |name: &str| samples.iter().find(|x| x.name == name).unwrap().value;
        assert_eq!(get("sccache_dist_up"), 1.0);
        assert_eq!(get("sccache_dist_server_slots"), 3.0);
        assert_eq!(get("sccache_dist_server_jobs_in_progress"), 1.0);
        assert_eq!(get("sccache_dist_server_jobs_completed_total"), 1.0);
        assert_eq!(get("sccache_dist_server_job_compile_seconds_count"), 1.0);
        assert_eq!(get("sccache_dist_client_requests_total"), 1.0);
        // A stale status says the scheduler is not answering.
        let later = render(&s, &extra, 200.0);
        assert!(later.contains("\nsccache_dist_up 0\n"));
        assert!(!later.contains("\nsccache_dist_servers_registered "));
    }
}
