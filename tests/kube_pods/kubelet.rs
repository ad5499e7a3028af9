//! A kubelet's part, done with `docker run`: each pod of a rendered manifest
//! started under the manifest's own settings, by their nearest Docker
//! equivalent. One network namespace per pod (a pause container; the pod's
//! containers join it with `--network container:`), init containers first and
//! to completion, Secret volumes written to a temp dir as the kubelet projects
//! them (items at their paths, `defaultMode`, owner root and the pod's
//! fsGroup), emptyDirs as fresh volumes (mode 0777, `medium: Memory` as tmpfs),
//! the securityContext as flags, the Downward API's `status.podIP`, and the
//! probes run from the host against the pod IP as the kubelet runs them from
//! the node.
//!
//! Not emulated: `hostUsers: false` (Docker maps user namespaces per daemon,
//! not per container; the builders' root is the host's root here, as on a
//! cluster without user-namespace support), the CPU limits (a limit of 4 CPUs
//! is refused on a 2-core machine: requests and limits only shape scheduling
//! and throttling), and the Services' load balancing: a Service name is a
//! network alias of its one pod's pause container.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_yaml::Value;

/// Everything one test run started: removed on drop.
pub struct Kubelet {
    pub prefix: String,
    pub network: String,
    pub dir: tempfile::TempDir,
    containers: Mutex<Vec<String>>,
    volumes: Mutex<Vec<String>>,
    /// Secret name -> key -> bytes, from the rendered Secrets.
    secrets: BTreeMap<String, BTreeMap<String, Vec<u8>>>,
}

/// One started pod.
pub struct Pod {
    pub name: String,
    pub ip: String,
    pub spec: Value,
    /// Container name in the manifest -> Docker container name.
    pub containers: BTreeMap<String, String>,
}

fn docker_out(args: &[String]) -> Output {
    Command::new("docker").args(args).output().unwrap()
}

fn docker(args: &[String]) -> String {
    let o = docker_out(args);
    assert!(
        o.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_owned()
}

fn s(v: &[&str]) -> Vec<String> {
    v.iter().map(|x| x.to_string()).collect()
}

/// A Kubernetes quantity (`16Mi`, `8Gi`) as Docker's size (`16m`, `8g`).
fn docker_size(q: &str) -> String {
    let (n, unit) = q.split_at(q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len()));
    match unit {
        "Mi" => format!("{n}m"),
        "Gi" => format!("{n}g"),
        "Ki" => format!("{n}k"),
        "" => n.to_owned(),
        u => panic!("quantity {q}: unit {u} not handled"),
    }
}

impl Kubelet {
    /// A network for the pods and the Secrets of the rendered `docs`.
    pub fn new(prefix: &str, docs: &[Value]) -> Kubelet {
        let mut secrets = BTreeMap::new();
        for d in docs.iter().filter(|d| d["kind"] == "Secret") {
            let name = d["metadata"]["name"].as_str().unwrap().to_owned();
            let data = d["data"]
                .as_mapping()
                .unwrap()
                .iter()
                .map(|(k, v)| {
                    let bytes = STANDARD.decode(v.as_str().unwrap()).unwrap();
                    (k.as_str().unwrap().to_owned(), bytes)
                })
                .collect();
            secrets.insert(name, data);
        }
        let network = format!("{prefix}-net");
        let _ = docker_out(&s(&["network", "rm", &network]));
        docker(&s(&["network", "create", &network]));
        Kubelet {
            prefix: prefix.to_owned(),
            network,
            dir: tempfile::tempdir().unwrap(),
            containers: Mutex::new(Vec::new()),
            volumes: Mutex::new(Vec::new()),
            secrets,
        }
    }

    pub fn own(&self, container: &str) {
        self.containers.lock().unwrap().push(container.to_owned());
    }

    /// A Secret volume projected into a host dir: items at their paths (parent
    /// dirs made), mode `defaultMode` (or the item's), owner root and the pod's
    /// fsGroup (root without one).
    fn secret_dir(&self, pod: &str, vol: &Value, fs_group: Option<u32>) -> PathBuf {
        let secret = &vol["secret"];
        let name = secret["secretName"].as_str().unwrap();
        let data = &self.secrets[name];
        let mode = secret["defaultMode"].as_u64().unwrap_or(0o644) as u32;
        let dir = self
            .dir
            .path()
            .join(pod)
            .join(vol["name"].as_str().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        let items: Vec<(String, String, u32)> = match secret["items"].as_sequence() {
            Some(items) => items
                .iter()
                .map(|i| {
                    let m = i["mode"].as_u64().map_or(mode, |m| m as u32);
                    (
                        i["key"].as_str().unwrap().to_owned(),
                        i["path"].as_str().unwrap().to_owned(),
                        m,
                    )
                })
                .collect(),
            None => data.keys().map(|k| (k.clone(), k.clone(), mode)).collect(),
        };
        for (key, path, m) in items {
            let file = dir.join(&path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(&file, &data[&key]).unwrap();
            std::os::unix::fs::chown(&file, Some(0), Some(fs_group.unwrap_or(0))).unwrap();
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(m)).unwrap();
        }
        // The kubelet's dirs: world-traversable, group the fsGroup.
        for d in walk_dirs(&dir) {
            std::os::unix::fs::chown(&d, Some(0), Some(fs_group.unwrap_or(0))).unwrap();
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        dir
    }

    /// An emptyDir: mode 0777 (with an fsGroup: its group, setgid), on tmpfs for
    /// `medium: Memory`, else a node dir (here, below the test's temp dir).
    fn empty_dir(&self, pod: &str, vol: &Value, fs_group: Option<u32>) -> String {
        let ed = &vol["emptyDir"];
        let vname = vol["name"].as_str().unwrap();
        let mode = if fs_group.is_some() { "2777" } else { "0777" };
        let gid = fs_group.unwrap_or(0);
        if ed["medium"] == "Memory" {
            let name = format!("{}-{pod}-{vname}", self.prefix);
            let size = ed["sizeLimit"]
                .as_str()
                .map(docker_size)
                .unwrap_or("64m".into());
            let _ = docker_out(&s(&["volume", "rm", "-f", &name]));
            docker(&s(&[
                "volume",
                "create",
                "--driver",
                "local",
                "--opt",
                "type=tmpfs",
                "--opt",
                "device=tmpfs",
                "--opt",
                &format!("o=size={size},mode={mode},uid=0,gid={gid}"),
                &name,
            ]));
            self.volumes.lock().unwrap().push(name.clone());
            name
        } else {
            let dir = self.dir.path().join(pod).join(vname);
            std::fs::create_dir_all(&dir).unwrap();
            std::os::unix::fs::chown(&dir, Some(0), Some(gid)).unwrap();
            let m = u32::from_str_radix(mode, 8).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(m)).unwrap();
            dir.display().to_string()
        }
    }

    /// Starts the pod `name` of pod template `spec`: its pause container (with
    /// `aliases` as network aliases: the Services that select it), its volumes,
    /// its init containers to completion, then its containers.
    pub fn start_pod(&self, name: &str, spec: &Value, image: &str, aliases: &[String]) -> Pod {
        let fs_group = spec["securityContext"]["fsGroup"]
            .as_u64()
            .map(|g| g as u32);
        let pause = format!("{}-{name}", self.prefix);
        let _ = docker_out(&s(&["rm", "-f", &pause]));
        let mut vols = BTreeMap::new();
        for v in spec["volumes"].as_sequence().into_iter().flatten() {
            let vname = v["name"].as_str().unwrap().to_owned();
            let source = if v["secret"].is_mapping() {
                self.secret_dir(name, v, fs_group).display().to_string()
            } else if v["emptyDir"].is_mapping() {
                self.empty_dir(name, v, fs_group)
            } else {
                panic!("pod {name}: volume {vname}: only secret and emptyDir are emulated");
            };
            vols.insert(vname, (source, v["secret"].is_mapping()));
        }
        let mut args = s(&["run", "-d", "--name", &pause, "--network", &self.network]);
        // The pause container holds the pod's volumes for the pod's life, as
        // the kubelet does: Docker unmounts a tmpfs volume (and loses its
        // files) when the last container using it stops, e.g. an init container.
        for (vname, (source, _)) in &vols {
            args.extend(s(&[
                "--volume",
                &format!("{source}:/pod-volumes/{vname}:ro"),
            ]));
        }
        args.extend(s(&["--hostname", name]));
        for a in aliases {
            args.extend(s(&["--network-alias", a]));
        }
        args.extend(s(&[
            "--cap-drop",
            "ALL",
            "--security-opt",
            "no-new-privileges",
        ]));
        args.extend(s(&[
            "--user",
            "65534:65534",
            "--entrypoint",
            "sleep",
            image,
            "infinity",
        ]));
        self.own(&pause);
        docker(&args);
        let format = format!(
            "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
            self.network
        );
        let ip = docker(&s(&["inspect", "-f", &format, &pause]));
        assert!(!ip.is_empty(), "pod {name} has no IP");
        let mut pod = Pod {
            name: name.to_owned(),
            ip,
            spec: spec.clone(),
            containers: BTreeMap::new(),
        };
        for c in spec["initContainers"].as_sequence().into_iter().flatten() {
            let cname = format!("{pause}-{}", c["name"].as_str().unwrap());
            let mut args = s(&["run", "--name", &cname]);
            args.extend(self.container_args(&pod, c, &vols, &pause, fs_group));
            self.own(&cname);
            let o = docker_out(&args);
            assert!(
                o.status.success(),
                "pod {name}: init container {} failed: {}{}",
                c["name"].as_str().unwrap(),
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
        }
        for c in spec["containers"].as_sequence().into_iter().flatten() {
            let cname = format!("{pause}-{}", c["name"].as_str().unwrap());
            let mut args = s(&["run", "-d", "--name", &cname]);
            args.extend(self.container_args(&pod, c, &vols, &pause, fs_group));
            self.own(&cname);
            docker(&args);
            pod.containers
                .insert(c["name"].as_str().unwrap().to_owned(), cname);
        }
        pod
    }

    /// `docker run` flags for container `c` of `pod`, then its image and args.
    fn container_args(
        &self,
        pod: &Pod,
        c: &Value,
        vols: &BTreeMap<String, (String, bool)>,
        pause: &str,
        fs_group: Option<u32>,
    ) -> Vec<String> {
        let cname = c["name"].as_str().unwrap();
        let mut a = s(&["--network", &format!("container:{pause}")]);
        if let Some(g) = pod.spec["terminationGracePeriodSeconds"].as_u64() {
            a.extend(s(&["--stop-timeout", &g.to_string()]));
        }
        for e in c["env"].as_sequence().into_iter().flatten() {
            let n = e["name"].as_str().unwrap();
            let v = match e["value"].as_str() {
                Some(v) => v.to_owned(),
                None => match e["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                    Some("status.podIP") => pod.ip.clone(),
                    other => panic!("{cname}: env {n}: {other:?} is not emulated"),
                },
            };
            a.extend(s(&["--env", &format!("{n}={v}")]));
        }
        a.extend(security_args(&pod.spec, c, fs_group));
        if let Some(m) = c["resources"]["limits"]["memory"].as_str() {
            a.extend(s(&["--memory", &docker_size(m)]));
        }
        for m in c["volumeMounts"].as_sequence().into_iter().flatten() {
            let (source, secret) = &vols[m["name"].as_str().unwrap()];
            // Secret volumes are read-only whatever the mount says.
            let ro = *secret || m["readOnly"].as_bool() == Some(true);
            let path = m["mountPath"].as_str().unwrap();
            let suffix = if ro { ":ro" } else { "" };
            a.extend(s(&["--volume", &format!("{source}:{path}{suffix}")]));
        }
        let mut rest: Vec<String> = Vec::new();
        if let Some(cmd) = c["command"].as_sequence() {
            let mut cmd = cmd.iter().map(|x| x.as_str().unwrap().to_owned());
            a.extend(s(&["--entrypoint", &cmd.next().unwrap()]));
            rest.extend(cmd);
        }
        a.push(c["image"].as_str().unwrap().to_owned());
        a.extend(rest);
        for x in c["args"].as_sequence().into_iter().flatten() {
            a.push(x.as_str().unwrap().to_owned());
        }
        a
    }

    /// Whether every probe of `kind` (`readinessProbe`, `livenessProbe`) of the
    /// pod's containers passes now; the failures otherwise.
    pub fn probes(&self, pod: &Pod, kind: &str) -> Result<(), String> {
        let mut failed = Vec::new();
        for c in pod.spec["containers"].as_sequence().into_iter().flatten() {
            let p = &c[kind];
            if !p.is_mapping() {
                continue;
            }
            let cname = c["name"].as_str().unwrap();
            if let Err(e) = run_probe(&pod.ip, c, p) {
                failed.push(format!("{}/{cname}: {e}", pod.name));
            }
        }
        match failed.is_empty() {
            true => Ok(()),
            false => Err(failed.join("; ")),
        }
    }

    /// Polls the readiness probes of `pod` until they pass; on the deadline,
    /// panics with each container's state and log.
    pub fn wait_ready(&self, pod: &Pod, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let r = self.probes(pod, "readinessProbe");
            if r.is_ok() {
                return;
            }
            if Instant::now() >= deadline {
                panic!(
                    "pod {} not ready after {secs}s: {}\n{}",
                    pod.name,
                    r.unwrap_err(),
                    self.describe(pod)
                );
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// Each container's state and the tail of its log.
    pub fn describe(&self, pod: &Pod) -> String {
        let mut out = String::new();
        for (name, c) in &pod.containers {
            let state = docker_out(&s(&[
                "inspect",
                "-f",
                "{{.State.Status}} exit {{.State.ExitCode}}",
                c,
            ]));
            let logs = docker_out(&s(&["logs", "--tail", "30", c]));
            out += &format!(
                "--- {}/{name}: {}\n{}{}\n",
                pod.name,
                String::from_utf8_lossy(&state.stdout).trim(),
                String::from_utf8_lossy(&logs.stdout),
                String::from_utf8_lossy(&logs.stderr)
            );
        }
        out
    }

    /// Whether every container of the pod still runs (none crashed).
    pub fn all_running(&self, pod: &Pod) -> Result<(), String> {
        for (name, c) in &pod.containers {
            let st = docker(&s(&["inspect", "-f", "{{.State.Running}}", c]));
            if st != "true" {
                return Err(format!(
                    "{}/{name} is not running\n{}",
                    pod.name,
                    self.describe(pod)
                ));
            }
        }
        Ok(())
    }
}

fn walk_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_owned()];
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_dirs(&p));
        }
    }
    out
}

/// A container's securityContext (falling back to the pod's for the fields
/// both have) as `docker run` flags.
fn security_args(pod: &Value, c: &Value, fs_group: Option<u32>) -> Vec<String> {
    let sc = &c["securityContext"];
    let psc = &pod["securityContext"];
    let field = |k: &str| -> Value {
        match &sc[k] {
            Value::Null => psc[k].clone(),
            v => v.clone(),
        }
    };
    let cname = c["name"].as_str().unwrap();
    let mut a = Vec::new();
    assert_ne!(
        sc["privileged"].as_bool(),
        Some(true),
        "{cname}: privileged"
    );
    for cap in sc["capabilities"]["drop"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        a.extend(s(&["--cap-drop", cap.as_str().unwrap()]));
    }
    for cap in sc["capabilities"]["add"]
        .as_sequence()
        .into_iter()
        .flatten()
    {
        a.extend(s(&["--cap-add", cap.as_str().unwrap()]));
    }
    // Kubernetes' default is true (no no_new_privs).
    if sc["allowPrivilegeEscalation"].as_bool() == Some(false) {
        a.extend(s(&["--security-opt", "no-new-privileges"]));
    }
    match field("seccompProfile")["type"].as_str() {
        None | Some("RuntimeDefault") => {}
        Some("Unconfined") => a.extend(s(&["--security-opt", "seccomp=unconfined"])),
        Some(t) => panic!("{cname}: seccompProfile {t} is not emulated"),
    }
    match sc["procMount"].as_str() {
        None | Some("Default") => {}
        Some("Unmasked") => a.extend(s(&["--security-opt", "systempaths=unconfined"])),
        Some(p) => panic!("{cname}: procMount {p}"),
    }
    let user = field("runAsUser").as_u64();
    let group = field("runAsGroup").as_u64();
    if field("runAsNonRoot").as_bool() == Some(true) {
        // The kubelet refuses to start it otherwise: the image's user is root.
        assert!(
            matches!(user, Some(u) if u != 0),
            "{cname}: runAsNonRoot without a non-root runAsUser: the kubelet would refuse it (the image runs as root)"
        );
    }
    match (user, group) {
        (Some(u), Some(g)) => a.extend(s(&["--user", &format!("{u}:{g}")])),
        (Some(u), None) => a.extend(s(&["--user", &u.to_string()])),
        (None, Some(g)) => a.extend(s(&["--user", &format!("0:{g}")])),
        (None, None) => {}
    }
    if let Some(g) = fs_group {
        a.extend(s(&["--group-add", &g.to_string()]));
    }
    a
}

/// One probe of container `c` against the pod IP, as the kubelet runs it.
fn run_probe(ip: &str, c: &Value, p: &Value) -> Result<(), String> {
    let port_of = |port: &Value| -> u64 {
        match port.as_u64() {
            Some(n) => n,
            None => c["ports"]
                .as_sequence()
                .unwrap()
                .iter()
                .find(|x| x["name"] == *port)
                .and_then(|x| x["containerPort"].as_u64())
                .expect("a named port of the container"),
        }
    };
    let timeout = p["timeoutSeconds"].as_u64().unwrap_or(1);
    if p["tcpSocket"].is_mapping() {
        let port = port_of(&p["tcpSocket"]["port"]);
        let addr = format!("{ip}:{port}").parse().unwrap();
        return std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(timeout))
            .map(|_| ())
            .map_err(|e| format!("tcp {addr}: {e}"));
    }
    let g = &p["httpGet"];
    assert!(
        g.is_mapping(),
        "only tcpSocket and httpGet probes are emulated"
    );
    let port = port_of(&g["port"]);
    let scheme = g["scheme"].as_str().unwrap_or("HTTP").to_lowercase();
    let url = format!(
        "{scheme}://{ip}:{port}{}",
        g["path"].as_str().unwrap_or("/")
    );
    // The kubelet does not verify an HTTPS probe's certificate.
    let mut cmd = Command::new("curl");
    cmd.args(["-k", "-s", "-o", "/dev/null", "-w", "%{http_code}"]);
    cmd.args(["--max-time", &timeout.to_string()]);
    for h in g["httpHeaders"].as_sequence().into_iter().flatten() {
        let header = format!(
            "{}: {}",
            h["name"].as_str().unwrap(),
            h["value"].as_str().unwrap()
        );
        cmd.args(["-H", &header]);
    }
    let o = cmd.arg(&url).output().unwrap();
    let code: u16 = String::from_utf8_lossy(&o.stdout)
        .trim()
        .parse()
        .unwrap_or(0);
    match (200..400).contains(&code) {
        true => Ok(()),
        false => Err(format!("GET {url}: HTTP {code}")),
    }
}

impl Drop for Kubelet {
    fn drop(&mut self) {
        let containers = std::mem::take(&mut *self.containers.lock().unwrap());
        // Pods' containers before their pause containers.
        for c in containers.iter().rev() {
            let _ = docker_out(&s(&["rm", "-f", "-v", c]));
        }
        for v in self.volumes.lock().unwrap().iter() {
            let _ = docker_out(&s(&["volume", "rm", "-f", v]));
        }
        let _ = docker_out(&s(&["network", "rm", &self.network]));
    }
}
