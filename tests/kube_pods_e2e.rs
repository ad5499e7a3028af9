//! The Kubernetes manifests of `cargo xtask kube`, started, not only validated:
//! every pod of the rendered Deployment and StatefulSet (or DaemonSet) runs on
//! the real engine as a kubelet would run it, under the manifest's own settings
//! (see kube_pods/kubelet.rs for how each setting is carried over and what is
//! not). The scheduler pod's probes must pass (its TLS front up), every build
//! server must register with the scheduler through the scheduler Service's DNS
//! name, and a client in the cluster network must compile remotely through it.
//!
//! `podman kube play` would be the nearer engine, but it runs no StatefulSet
//! (the `--builders N` form), and Podman is not installable on this machine's
//! Debian bookworm from trixie without moving libc6 and libssl3 to trixie; the
//! engine here is Docker.

mod support;

#[path = "kube_pods/kubelet.rs"]
mod kubelet;

use std::path::Path;
use std::sync::Mutex;

use kubelet::{Kubelet, Pod};
use serde_yaml::Value;
use support::{project_root, stderr, stdout, xtask};
use xtask::render::kube::{scheduler_names, STATUS_PATH};

const REPO: &str = "sccache-dist-e2e-kube";
/// One cluster at a time: the machine has 2 cores.
static TURN: Mutex<()> = Mutex::new(());

fn image() -> String {
    format!("{REPO}:debian")
}

/// The rendered manifests of `form`, in apply (file name) order.
fn render(dir: &Path, ns: &str, form: &[&str]) -> Vec<Value> {
    let out = dir.join("manifests");
    let img = image();
    let mut args = vec!["kube", "debian", "--image", &img, "--namespace", ns];
    args.extend(["--output", out.to_str().unwrap()]);
    args.extend(form);
    let o = xtask(&project_root(), &args);
    assert!(o.status.success(), "kube: {}{}", stdout(&o), stderr(&o));
    let mut files: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| serde_yaml::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect()
}

fn find<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} rendered"))
}

/// The client image: the cluster's image with a C compiler (the client packs
/// its own toolchain for the build servers).
fn client_image() -> String {
    let tag = format!("{REPO}:kube-client");
    let dockerfile = format!(
        "FROM {}\nRUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends gcc libc6-dev && apt-get clean\n",
        image()
    );
    let mut child = std::process::Command::new("docker")
        .args(["build", "-q", "-t", &tag, "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(dockerfile.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "client image: {}", stderr(&o));
    tag
}

/// The scheduler's status as the front answers it at the pod IP.
fn scheduler_status(pod: &Pod, port: u64) -> serde_json::Value {
    let url = format!("https://{}:{port}{STATUS_PATH}", pod.ip);
    let o = std::process::Command::new("curl")
        .args([
            "-k",
            "-s",
            "--max-time",
            "5",
            "-H",
            "Accept: application/json",
            &url,
        ])
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

/// A client pod on the cluster network: the rendered client Secret mounted as
/// its config (scheduler URL: the Service's name), 3 compiles; the
/// `--show-stats` JSON.
fn client_compiles(k: &Kubelet) -> serde_json::Value {
    let img = client_image();
    let spec: Value = serde_yaml::from_str(&format!(
        "containers:\n- name: client\n  image: {img}\n  command: [sleep]\n  args: [infinity]\n  \
         securityContext: {{ allowPrivilegeEscalation: false, capabilities: {{ drop: [ALL] }} }}\n  \
         volumeMounts:\n  - {{ name: client, mountPath: /etc/sccache-client, readOnly: true }}\n\
         volumes:\n- name: client\n  secret: {{ secretName: sccache-dist-client, defaultMode: 256 }}\n"
    ))
    .unwrap();
    let pod = k.start_pod("client", &spec, &img, &[]);
    let container = &pod.containers["client"];
    let sccache = support::on_path("sccache");
    let cp = std::process::Command::new("docker")
        .args([
            "cp",
            sccache.to_str().unwrap(),
            &format!("{container}:/tmp/sccache"),
        ])
        .output()
        .unwrap();
    assert!(cp.status.success(), "docker cp sccache: {}", stderr(&cp));
    let script = r#"set -e
cat /etc/ssl/certs/ca-certificates.crt /etc/sccache-client/ca.pem >/tmp/bundle.pem
export SSL_CERT_FILE=/tmp/bundle.pem SCCACHE_CONF=/etc/sccache-client/client.conf
export SCCACHE_DIR=/tmp/cache SCCACHE_LOG=error SCCACHE_ERROR_LOG=/tmp/client-error.log
/tmp/sccache --start-server >&2
/tmp/sccache --dist-status >&2
for i in 1 2 3; do
  printf 'int f%s(int x) { return x * %s; }\n' "$i" "$i" >/tmp/p$i.c
  /tmp/sccache gcc -c /tmp/p$i.c -o /tmp/p$i.o
done
/tmp/sccache --show-stats --stats-format json
"#;
    let o = std::process::Command::new("docker")
        .args(["exec", container, "bash", "-c", script])
        .output()
        .unwrap();
    assert!(o.status.success(), "client: {}{}", stdout(&o), stderr(&o));
    let out = stdout(&o);
    serde_json::from_str(out.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no stats JSON ({e}): {out}\n{}", stderr(&o)))
}

fn run_cluster(form: &[&str], tag: &str, builders: usize) {
    let _turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
    support::require_docker();
    support::build_debian_image(REPO);
    let tmp = tempfile::tempdir().unwrap();
    let ns = format!("kube-e2e-{tag}");
    let docs = render(tmp.path(), &ns, form);
    let k = Kubelet::new(
        &format!("sccache-e2e-kube-{tag}-{}", std::process::id()),
        &docs,
    );
    let img = image();

    // The scheduler's Deployment: one pod, the Service's names resolve to it.
    let deployment = find(&docs, "Deployment");
    let spec = &deployment["spec"]["template"]["spec"];
    let scheduler = k.start_pod("scheduler", spec, &img, &scheduler_names(&ns));
    k.wait_ready(&scheduler, 60);
    let port = find(&docs, "Service")["spec"]["ports"][0]["port"]
        .as_u64()
        .unwrap();

    // The build servers: StatefulSet replicas, or one DaemonSet pod (one node).
    let workload = docs
        .iter()
        .find(|d| d["kind"] == "StatefulSet" || d["kind"] == "DaemonSet")
        .unwrap();
    let name = workload["metadata"]["name"].as_str().unwrap();
    let n = match workload["kind"].as_str() {
        Some("StatefulSet") => workload["spec"]["replicas"].as_u64().unwrap() as usize,
        _ => 1,
    };
    assert_eq!(n, builders);
    let spec = &workload["spec"]["template"]["spec"];
    let pods: Vec<Pod> = (0..n)
        .map(|i| k.start_pod(&format!("{name}-{i}"), spec, &img, &[]))
        .collect();
    for p in &pods {
        k.wait_ready(p, 60);
    }
    // Each registers through the Service name (its scheduler_url).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let st = scheduler_status(&scheduler, port);
        if st["num_servers"].as_u64() == Some(n as u64) {
            break;
        }
        if std::time::Instant::now() >= deadline {
            let logs: String = pods.iter().map(|p| k.describe(p)).collect();
            panic!(
                "{n} build servers never registered: {st}\n{}{logs}",
                k.describe(&scheduler)
            );
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    for p in std::iter::once(&scheduler).chain(&pods) {
        k.probes(p, "livenessProbe").unwrap();
        k.probes(p, "readinessProbe").unwrap();
    }

    let stats = client_compiles(&k);
    let s = &stats["stats"];
    let distributed: u64 = s["dist_compiles"]
        .as_object()
        .map(|m| m.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(
        (distributed, s["dist_errors"].as_u64().unwrap_or(0)),
        (3, 0),
        "every compile remote, none failed: {stats}"
    );
    let servers: Vec<&String> = s["dist_compiles"].as_object().unwrap().keys().collect();
    for server in servers {
        assert!(
            pods.iter().any(|p| server.starts_with(&p.ip)),
            "{server} is not one of the builder pods"
        );
    }
    for p in std::iter::once(&scheduler).chain(&pods) {
        k.all_running(p).unwrap();
    }
}

#[test]
fn statefulset_pods_start_register_through_the_service_and_compile() {
    run_cluster(&["--builders", "2"], "sts", 2);
}

#[test]
fn daemonset_pods_start_register_through_the_service_and_compile() {
    run_cluster(&["--per-node"], "ds", 1);
}
