use super::*;
use crate::events::parse_line;

fn feed(s: &mut State, lines: &[(&str, f64)]) {
    for (l, t) in lines {
        s.log_line(l, *t);
    }
}

fn a(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

#[test]
fn a_job_goes_through_its_phases() {
    let mut s = State::new(0.0);
    feed(
        &mut s,
        &[
            ("Registered new server ServerId(10.0.0.2:10501)", 0.0),
            (
                "Job 0 created and will be assigned to server ServerId(10.0.0.2:10501)",
                1.0,
            ),
            (
                "Job 0 successfully assigned and saved with state Pending",
                1.0,
            ),
            ("Job 0 updated state to Ready", 1.5),
            ("Job 0 updated state to Started", 1.75),
            ("Job 0 updated state to Complete", 3.75),
        ],
    );
    let srv = &s.servers[&a("10.0.0.2:10501")];
    assert_eq!((srv.created, srv.completed, srv.stale), (1, 1, 0));
    assert_eq!(srv.phases[0].count, 1);
    assert_eq!(srv.phases[0].sum, 0.5);
    assert_eq!(srv.phases[1].sum, 0.25);
    assert_eq!(srv.phases[2].sum, 2.0);
    assert!(s.in_progress().is_empty());
    assert_eq!((s.lines, s.unparsed), (6, 0));
}

#[test]
fn a_job_ready_at_once_has_no_toolchain_wait_beyond_its_assignment() {
    let mut s = State::new(0.0);
    feed(
        &mut s,
        &[
            (
                "Job 4 created and will be assigned to server ServerId(10.0.0.2:10501)",
                1.0,
            ),
            (
                "Job 4 successfully assigned and saved with state Ready",
                1.25,
            ),
            ("Job 4 updated state to Started", 2.0),
        ],
    );
    let srv = &s.servers[&a("10.0.0.2:10501")];
    assert_eq!(srv.phases[0].sum, 0.25);
    assert_eq!(srv.phases[1].sum, 0.75);
    assert_eq!(s.in_progress()[&a("10.0.0.2:10501")], 1);
}

#[test]
fn stale_jobs_free_their_slots_and_count_against_their_server() {
    let mut s = State::new(0.0);
    for j in 0..3 {
        s.log_line(
            &format!("Job {j} created and will be assigned to server ServerId(10.0.0.3:10501)"),
            1.0,
        );
    }
    assert_eq!(s.in_progress()[&a("10.0.0.3:10501")], 3);
    s.log_line(
        "[2026-12-07T15:56:44Z WARN  sccache_dist] The following stale jobs will be de-allocated: [JobId(0), JobId(1), JobId(9)]",
        40.0,
    );
    assert_eq!(s.servers[&a("10.0.0.3:10501")].stale, 2);
    assert_eq!(s.stale_unattributed, 1);
    assert_eq!(s.in_progress()[&a("10.0.0.3:10501")], 1);
}

#[test]
fn a_pruned_server_drops_its_jobs_and_is_not_registered() {
    let mut s = State::new(0.0);
    feed(
        &mut s,
        &[
            ("Registered new server ServerId(10.0.0.2:10501)", 0.0),
            (
                "Job 1 created and will be assigned to server ServerId(10.0.0.2:10501)",
                1.0,
            ),
            (
                "Server 10.0.0.2:10501 appears to be dead, pruning it in the scheduler",
                99.0,
            ),
        ],
    );
    let srv = &s.servers[&a("10.0.0.2:10501")];
    assert!(!srv.registered);
    assert_eq!((srv.registrations, srv.prunes), (1, 1));
    assert!(s.in_progress().is_empty());
}

#[test]
fn cores_come_from_the_cpu_total_as_servers_register() {
    let mut s = State::new(0.0);
    s.log_line("Registered new server ServerId(10.0.0.2:10501)", 0.0);
    s.scheduler_status(
        SchedulerStatus {
            num_servers: 1,
            num_cpus: 8,
            in_progress: 0,
        },
        0.5,
    );
    s.log_line("Registered new server ServerId(10.0.0.3:10501)", 1.0);
    // An answer from before the registration was seen changes nothing.
    s.scheduler_status(
        SchedulerStatus {
            num_servers: 1,
            num_cpus: 8,
            in_progress: 0,
        },
        1.1,
    );
    s.scheduler_status(
        SchedulerStatus {
            num_servers: 2,
            num_cpus: 10,
            in_progress: 0,
        },
        1.5,
    );
    assert_eq!(s.servers[&a("10.0.0.2:10501")].cpus, Some(8));
    assert_eq!(s.servers[&a("10.0.0.3:10501")].cpus, Some(2));
    assert_eq!(slots(8), 10);
    assert_eq!(slots(2), 3);
    assert!(s.fresh_status(4.0).is_some());
    assert!(s.fresh_status(4.6).is_none());
}

#[test]
fn unknown_lines_are_counted_and_jobs_stay_bounded() {
    let mut s = State::new(0.0);
    s.log_line("something new in sccache 0.20", 0.0);
    assert_eq!((s.lines, s.unparsed), (1, 1));
    for j in 0..(MAX_JOBS as u64 + 10) {
        s.apply(
            parse_line(&format!(
                "Job {j} created and will be assigned to server ServerId(10.0.0.2:10501)"
            ))
            .event,
            j as f64,
        );
    }
    assert_eq!(s.jobs.len(), MAX_JOBS);
    s.forget_old_jobs(1e9);
    assert!(s.jobs.is_empty());
}

#[test]
fn front_requests_count_by_path_client_and_heartbeat() {
    let mut s = State::new(0.0);
    for l in [
        "10.0.0.9 200 POST /api/v1/scheduler/alloc_job",
        "10.0.0.9 200 POST /api/v1/scheduler/alloc_job",
        "10.0.0.2 401 POST /api/v1/scheduler/heartbeat_server",
    ] {
        s.front_request(&crate::front::parse(l).unwrap(), 5.0);
    }
    let ip: IpAddr = "10.0.0.9".parse().unwrap();
    assert_eq!(s.clients[&(ip, 200)], 2);
    assert_eq!(s.heartbeats[&("10.0.0.2".parse().unwrap(), 401)], 1);
    assert_eq!(s.front[&(PathKind::AllocJob, 200)], 2);
    assert_eq!(s.client_seen[&ip], 5.0);
}

#[test]
fn jobs_no_client_started_are_unstarted_after_a_while() {
    let mut s = State::new(0.0);
    feed(
        &mut s,
        &[
            ("Registered new server ServerId(10.0.0.2:10501)", 0.0),
            (
                "Job 1 created and will be assigned to server ServerId(10.0.0.2:10501)",
                1.0,
            ),
            (
                "Job 1 successfully assigned and saved with state Ready",
                1.0,
            ),
            (
                "Job 2 created and will be assigned to server ServerId(10.0.0.2:10501)",
                1.0,
            ),
            ("Job 2 updated state to Started", 2.0),
            (
                "Job 3 created and will be assigned to server ServerId(10.0.0.2:10501)",
                9.0,
            ),
        ],
    );
    let n = s.unstarted(12.0, 10.0);
    assert_eq!(n[&a("10.0.0.2:10501")], 1);
    assert!(s.unstarted(10.5, 10.0).is_empty());
}
