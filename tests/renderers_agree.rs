//! `start`, `compose` and `kube` come from one typed description of the cluster
//! (issue 11, item 6): one request for a distro with 3 builders on the host network,
//! rendered in process into `docker run` lines (the `RunSpec`s `start` runs), a
//! compose.yaml and the Kubernetes manifests. Builder by builder and for the
//! scheduler, the three agree on image, capabilities, security options, mounts,
//! ports, health and restart. No Docker and no Kubernetes cluster is needed.

mod support;

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_yaml::Value;
use support::project_root;
use xtask::cluster::compose;
use xtask::cluster::kube::{self, Builders, KubeRequest};
use xtask::model::run_spec::{
    CAPABILITIES, CONFIG_MOUNT, RESTART_POLICY, SECURITY_OPTS, STOP_GRACE_SECS,
};
use xtask::model::{specs, Cluster};
use xtask::profile::runtime::NetworkMode;
use xtask::store::StateDir;

const BUILDERS: usize = 3;

/// The three forms of one cluster, rendered into a temporary directory.
struct Forms {
    _tmp: tempfile::TempDir,
    /// The compose project directory (also the state directory `start`'s lines mount).
    dir: PathBuf,
    /// The cluster model `start` and `compose` render.
    cluster: Cluster,
    /// `docker run` arguments per container, the scheduler's first.
    runs: Vec<Vec<String>>,
    /// Compose service names, in the same order.
    services: Vec<String>,
    /// compose.yaml, parsed.
    compose: Value,
    /// The cluster model `kube` rendered (pod network: each builder its pod IP).
    kube_cluster: Cluster,
    /// Every kube manifest, parsed.
    kube: Vec<Value>,
}

fn render() -> Forms {
    let root = project_root();
    let tmp = tempfile::tempdir().unwrap();
    let req = compose::ComposeRequest {
        cluster: xtask::cluster::StartRequest {
            distro: "debian".into(),
            profile: "default".into(),
            cache_dir: None,
            network: Some(NetworkMode::Host),
            advertise: Some(Ipv4Addr::new(192, 0, 2, 7)),
            name: "agree".into(),
            repo: "registry.example:5000/sccache-dist".into(),
            timeout: Duration::from_secs(1),
            builders: Some(BUILDERS),
            plain_http: false,
            tls_names: Vec::new(),
            own_cert: None,
            log_level: None,
        },
        output: tmp.path().join("project"),
        ca_dir: tmp.path().join("state/compose-tls/agree"),
    };
    let p = compose::write(&root, &req).unwrap();
    // `start`'s lines, with the configs mounted from the state directory as `start`
    // mounts them (absolute paths); compose mounts the same files relative to it.
    let sources =
        xtask::lifecycle::configs::state_sources(&StateDir::new(Some(p.dir.clone()))).unwrap();
    let runs: Vec<Vec<String>> = specs::all_from(&p.cluster, &sources)
        .iter()
        .map(|s| xtask::docker::run::run(s).argv().to_vec())
        .collect();
    let compose: Value =
        serde_yaml::from_str(&std::fs::read_to_string(p.dir.join("compose.yaml")).unwrap())
            .unwrap();
    let k = kube::render_to(
        &root,
        &KubeRequest {
            distro: p.cluster.distro.clone(),
            profile: "default".into(),
            builders: Builders::Replicas(BUILDERS as u32),
            image: p.cluster.image.clone(),
            namespace: "agree".into(),
            output: tmp.path().join("manifests"),
            plain_http: false,
            ca_dir: tmp.path().join("kube-tls"),
        },
    )
    .unwrap();
    let kube = k
        .files
        .iter()
        .map(|f| serde_yaml::from_str(&std::fs::read_to_string(f).unwrap()).unwrap())
        .collect();
    Forms {
        _tmp: tmp,
        dir: p.dir,
        cluster: p.cluster,
        runs,
        services: p.services,
        compose,
        kube_cluster: k.cluster,
        kube,
    }
}

/// A `docker run` line taken apart: `--flag value` pairs (`--detach` and the like
/// with ""), the image and the command after it.
struct RunLine {
    flags: Vec<(String, String)>,
    image: String,
}

impl RunLine {
    fn parse(args: &[String]) -> RunLine {
        assert_eq!(args[0], "run");
        let mut flags = Vec::new();
        let mut i = 1;
        while args[i].starts_with("--") {
            let a = args[i].clone();
            if ["--detach", "--privileged", "--no-healthcheck", "--rm"].contains(&a.as_str()) {
                flags.push((a, String::new()));
                i += 1;
            } else if let Some((f, v)) = a.split_once('=') {
                flags.push((f.to_owned(), v.to_owned()));
                i += 1;
            } else {
                flags.push((a, args[i + 1].clone()));
                i += 2;
            }
        }
        RunLine {
            flags,
            image: args[i].clone(),
        }
    }

    fn all(&self, flag: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(f, _)| f == flag)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn one(&self, flag: &str) -> &str {
        let v = self.all(flag);
        assert_eq!(v.len(), 1, "{flag} given {} times", v.len());
        v[0]
    }
}

/// One role of the cluster (the scheduler or one builder) in all three forms.
struct Role<'a> {
    what: String,
    builder: bool,
    run: RunLine,
    svc: &'a Value,
    /// The kube pod spec (a builder's is its StatefulSet's template).
    pod: &'a Value,
    /// The sccache-dist container in it.
    container: &'a Value,
    /// The container carrying its port and probes: the sccache-dist one, or the
    /// scheduler's TLS front.
    ports_of: &'a Value,
    /// The kube Service in front of it.
    service: &'a Value,
    /// The port the docker/compose model gives it, and the kube model.
    port: u16,
    kube_port: u16,
    /// The config file its role reads, and the key holding its port.
    conf: (&'static str, &'static str),
}

fn kube_object<'a>(f: &'a Forms, kind: &str, component: &str) -> &'a Value {
    f.kube
        .iter()
        .find(|v| {
            v["kind"].as_str() == Some(kind)
                && v["metadata"]["labels"]["app.kubernetes.io/component"].as_str()
                    == Some(component)
        })
        .unwrap_or_else(|| panic!("no {kind} of {component} in the manifests"))
}

/// The scheduler, then each builder, in all three forms.
fn roles(f: &Forms) -> Vec<Role<'_>> {
    assert!(
        !f.cluster.all_in_one(),
        "3 builders each run in their own container"
    );
    assert_eq!(f.cluster.servers.len(), BUILDERS);
    assert_eq!(f.kube_cluster.servers.len(), BUILDERS);
    assert_eq!(f.runs.len(), 1 + BUILDERS);
    assert_eq!(f.services.len(), 1 + BUILDERS);
    let deployment = kube_object(f, "Deployment", "scheduler");
    let sched_pod = &deployment["spec"]["template"]["spec"];
    let set = kube_object(f, "StatefulSet", "builder");
    assert_eq!(
        set["spec"]["replicas"].as_u64(),
        Some(BUILDERS as u64),
        "one kube pod per builder of the model"
    );
    let builder_pod = &set["spec"]["template"]["spec"];
    let names = |pod: &Value| -> Vec<String> {
        pod["containers"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(f.cluster.tls.is_on() && f.kube_cluster.tls.is_on());
    assert_eq!(
        names(sched_pod),
        ["scheduler", "front"],
        "the scheduler and its TLS front share a pod"
    );
    assert_eq!(
        names(builder_pod),
        ["server"],
        "one sccache-dist container per pod"
    );
    let mut roles = vec![Role {
        what: "scheduler".into(),
        builder: false,
        run: RunLine::parse(&f.runs[0]),
        svc: &f.compose["services"][f.services[0].as_str()],
        pod: sched_pod,
        container: &sched_pod["containers"][0],
        ports_of: &sched_pod["containers"][1],
        service: kube_object(f, "Service", "scheduler"),
        port: f.cluster.scheduler.port,
        kube_port: f.kube_cluster.scheduler.port,
        // Behind the front, the port clients use is the front's.
        conf: ("nginx.conf", "listen"),
    }];
    for (i, (s, k)) in f
        .cluster
        .servers
        .iter()
        .zip(&f.kube_cluster.servers)
        .enumerate()
    {
        roles.push(Role {
            what: format!("builder {} ({} / pod {})", i + 1, s.name, k.name),
            builder: true,
            run: RunLine::parse(&f.runs[i + 1]),
            svc: &f.compose["services"][f.services[i + 1].as_str()],
            pod: builder_pod,
            container: &builder_pod["containers"][0],
            ports_of: &builder_pod["containers"][0],
            service: kube_object(f, "Service", "builder"),
            port: s.port,
            kube_port: k.port,
            conf: ("server.conf", "bind_address"),
        });
    }
    roles
}

fn strs(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| x.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// The same image reference in the docker run line, the compose service and the
/// kube container (rendered with `--image` = the model's image).
fn check_image(f: &Forms, r: &Role) {
    assert_eq!(r.run.image, f.cluster.image, "{}: docker", r.what);
    assert_eq!(
        r.svc["image"].as_str(),
        Some(f.cluster.image.as_str()),
        "{}: compose",
        r.what
    );
    assert_eq!(
        r.container["image"].as_str(),
        Some(f.cluster.image.as_str()),
        "{}: kube",
        r.what
    );
    assert_eq!(f.kube_cluster.image, f.cluster.image);
}

/// Builders get exactly CAPABILITIES added in all three; the scheduler none (and on
/// kube every one dropped).
fn check_capabilities(r: &Role) {
    let want: BTreeSet<String> = if r.builder {
        CAPABILITIES.iter().map(|c| c.to_string()).collect()
    } else {
        BTreeSet::new()
    };
    let docker: BTreeSet<String> = r
        .run
        .all("--cap-add")
        .iter()
        .map(|c| c.to_string())
        .collect();
    let compose: BTreeSet<String> = strs(&r.svc["cap_add"]).into_iter().collect();
    let caps = &r.container["securityContext"]["capabilities"];
    let kube: BTreeSet<String> = strs(&caps["add"]).into_iter().collect();
    assert_eq!(docker, want, "{}: docker --cap-add", r.what);
    assert_eq!(compose, want, "{}: compose cap_add", r.what);
    assert_eq!(kube, want, "{}: kube capabilities.add", r.what);
    assert!(r.run.all("--cap-drop").is_empty() && r.svc.get("cap_drop").is_none());
    if !r.builder {
        assert_eq!(
            strs(&caps["drop"]),
            ["ALL"],
            "{}: kube drops every capability",
            r.what
        );
    }
}

/// What a Docker security option is in a kube container's securityContext: the
/// field (as a path) and its value. An option with no kube counterpart fails here.
fn kube_counterpart(opt: &str) -> (&'static [&'static str], &'static str) {
    match opt {
        "seccomp=unconfined" => (&["seccompProfile", "type"], "Unconfined"),
        "systempaths=unconfined" => (&["procMount"], "Unmasked"),
        other => panic!("security option {other} has no kube counterpart in this test"),
    }
}

/// Builders: docker/compose `seccomp=unconfined` + `systempaths=unconfined` ↔ kube
/// `seccompProfile: Unconfined` + `procMount: Unmasked`; the scheduler none of them;
/// nowhere privileged.
fn check_security(r: &Role) {
    let docker = r.run.all("--security-opt");
    let compose = strs(&r.svc["security_opt"]);
    let sc = &r.container["securityContext"];
    if r.builder {
        assert_eq!(
            SECURITY_OPTS,
            ["seccomp=unconfined", "systempaths=unconfined"]
        );
        assert_eq!(docker, SECURITY_OPTS, "{}: docker --security-opt", r.what);
        assert_eq!(compose, SECURITY_OPTS, "{}: compose security_opt", r.what);
        for opt in SECURITY_OPTS {
            let (path, value) = kube_counterpart(opt);
            let got = path.iter().fold(sc, |v, k| &v[*k]);
            assert_eq!(got.as_str(), Some(value), "{}: kube for {opt}", r.what);
        }
    } else {
        assert!(docker.is_empty(), "{}: docker {docker:?}", r.what);
        assert!(compose.is_empty(), "{}: compose {compose:?}", r.what);
        assert_eq!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault"),
            "{}",
            r.what
        );
        assert!(sc.get("procMount").is_none(), "{}: kube procMount", r.what);
    }
    assert!(
        r.run.all("--privileged").is_empty(),
        "{}: docker --privileged",
        r.what
    );
    assert!(
        !matches!(r.svc.get("privileged"), Some(Value::Bool(true))),
        "{}: compose privileged",
        r.what
    );
    assert_ne!(
        sc["privileged"].as_bool(),
        Some(true),
        "{}: kube privileged",
        r.what
    );
    if let Some(inits) = r.pod["initContainers"].as_sequence() {
        for c in inits {
            assert_ne!(c["securityContext"]["privileged"].as_bool(), Some(true));
        }
    }
}

/// `(source, target, read_only)` of every docker `--volume`.
fn docker_mounts(r: &Role) -> Vec<(String, String, bool)> {
    r.run
        .all("--volume")
        .iter()
        .map(|v| {
            let (rest, ro) = match v.strip_suffix(":ro") {
                Some(rest) => (rest, true),
                None => (*v, false),
            };
            let (src, dst) = rest.split_once(':').unwrap();
            (src.to_owned(), dst.to_owned(), ro)
        })
        .collect()
}

fn compose_mounts(r: &Role) -> Vec<(String, String, bool)> {
    r.svc["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["source"].as_str().unwrap().to_owned(),
                m["target"].as_str().unwrap().to_owned(),
                m["read_only"].as_bool().unwrap_or(false),
            )
        })
        .collect()
}

/// The config at CONFIG_MOUNT read-only, and (builders) the cache volume at the
/// profile's cache_root, read-write, in all three; docker and compose mount the
/// same config directory and the same named volume.
fn check_mounts(f: &Forms, r: &Role) {
    let cache_root = f.cluster.runtime.settings.cache_root.as_str();
    assert_eq!(f.kube_cluster.runtime.settings.cache_root, cache_root);
    let mut want = vec![(CONFIG_MOUNT.to_owned(), true)];
    if r.builder {
        want.push((cache_root.to_owned(), false));
    }
    let targets = |m: &[(String, String, bool)]| -> Vec<(String, bool)> {
        m.iter().map(|(_, t, ro)| (t.clone(), *ro)).collect()
    };
    let docker = docker_mounts(r);
    let compose = compose_mounts(r);
    assert_eq!(targets(&docker), want, "{}: docker --volume", r.what);
    assert_eq!(targets(&compose), want, "{}: compose volumes", r.what);
    // The same config directory (absolute for `start`, project-relative in compose)
    // and the same cache volume.
    let config_dir = |src: &str| f.dir.join(src).canonicalize().unwrap();
    assert_eq!(
        config_dir(&docker[0].0),
        config_dir(&compose[0].0),
        "{}",
        r.what
    );
    if r.builder {
        assert_eq!(docker[1].0, compose[1].0, "{}: cache volume", r.what);
        assert!(!docker[1].0.contains('/'), "{}: a named volume", r.what);
    }
    let mut kube: Vec<(String, bool)> = r.container["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["mountPath"].as_str().unwrap().to_owned(),
                m["readOnly"].as_bool().unwrap_or(false),
            )
        })
        .collect();
    // A pod's containers share /run/sccache-dist (the front's access log reaches
    // the exporter beside the scheduler there); one container has its own.
    kube.retain(|(t, _)| t != "/run/sccache-dist");
    assert_eq!(kube, want, "{}: kube volumeMounts", r.what);
    if r.builder {
        let volumes = r.pod["volumes"].as_sequence().unwrap();
        let cache = volumes.iter().find(|v| v["name"].as_str() == Some("cache"));
        assert!(
            cache.is_some_and(|v| v.get("emptyDir").is_some()),
            "{}: kube cache volume",
            r.what
        );
    }
}

/// The port in the config the container reads at CONFIG_MOUNT (its listen address).
fn config_port(r: &Role, config_dir: &Path) -> u16 {
    let (file, key) = r.conf;
    let text = std::fs::read_to_string(config_dir.join(file)).unwrap();
    if file == "nginx.conf" {
        return text
            .lines()
            .find_map(|l| {
                l.trim()
                    .strip_prefix("listen ")?
                    .strip_suffix(" ssl;")?
                    .parse()
                    .ok()
            })
            .expect("nginx.conf listens with TLS");
    }
    let conf: toml::Value = toml::from_str(&text).unwrap();
    let addr = conf[key].as_str().unwrap();
    addr.rsplit_once(':').unwrap().1.parse().unwrap()
}

/// The port a kube container's named port stands for.
fn container_port(r: &Role, name: &str) -> u16 {
    let ports = r.ports_of["ports"].as_sequence().unwrap();
    let p = ports
        .iter()
        .find(|p| p["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("{}: no container port {name}", r.what));
    p["containerPort"].as_u64().unwrap() as u16
}

/// Host network: docker and compose run on the host's network, each container
/// listening on the model's (distinct) port, as the config it mounts says; kube:
/// the container port and its Service carry the kube model's port, which is the
/// profile's (each pod has its own IP).
fn check_ports(f: &Forms, r: &Role) {
    assert_eq!(r.run.one("--network"), "host", "{}: docker", r.what);
    assert!(
        r.run.all("--publish").is_empty(),
        "{}: docker --publish",
        r.what
    );
    assert_eq!(
        r.svc["network_mode"].as_str(),
        Some("host"),
        "{}: compose",
        r.what
    );
    assert!(
        r.svc.get("ports").is_none(),
        "{}: compose ports on the host network",
        r.what
    );
    let docker_dir = f.dir.join(&docker_mounts(r)[0].0);
    let compose_dir = f.dir.join(&compose_mounts(r)[0].0);
    assert_eq!(
        config_port(r, &docker_dir),
        r.port,
        "{}: docker's config",
        r.what
    );
    assert_eq!(
        config_port(r, &compose_dir),
        r.port,
        "{}: compose's config",
        r.what
    );

    let rt = &f.cluster.runtime.settings;
    let want_kube = if r.builder {
        rt.server_port
    } else {
        rt.scheduler_port
    };
    assert_eq!(r.kube_port, want_kube, "{}: the kube model", r.what);
    let name = r.ports_of["ports"][0]["name"].as_str().unwrap();
    assert_eq!(
        container_port(r, name),
        r.kube_port,
        "{}: kube containerPort",
        r.what
    );
    let svc_ports = r.service["spec"]["ports"].as_sequence().unwrap();
    assert_eq!(svc_ports.len(), 1);
    assert_eq!(
        svc_ports[0]["port"].as_u64(),
        Some(u64::from(r.kube_port)),
        "{}: Service",
        r.what
    );
    assert_eq!(
        svc_ports[0]["targetPort"].as_str(),
        Some(name),
        "{}: Service",
        r.what
    );
}

/// The host-network ports of the model are distinct (and the scheduler's is the
/// same in both models).
fn check_distinct_ports(f: &Forms) {
    let mut ports: Vec<u16> = f.cluster.servers.iter().map(|s| s.port).collect();
    ports.push(f.cluster.scheduler.port);
    let distinct: BTreeSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), ports.len(), "host-network ports {ports:?}");
    assert_eq!(f.kube_cluster.scheduler.port, f.cluster.scheduler.port);
}

/// Docker and compose rely on the image's own HEALTHCHECK (which probes the port of
/// the mounted config, checked by `check_ports`): neither overrides nor disables it.
/// Kube has liveness and readiness probes on the container's port.
fn check_health(r: &Role) {
    for (flag, _) in &r.run.flags {
        assert!(
            !flag.starts_with("--health") && flag != "--no-healthcheck",
            "{}: docker {flag}",
            r.what
        );
    }
    assert!(
        r.svc.get("healthcheck").is_none(),
        "{}: compose healthcheck",
        r.what
    );
    for probe in ["livenessProbe", "readinessProbe"] {
        let p = &r.ports_of[probe];
        let port = p["httpGet"]["port"]
            .as_str()
            .or_else(|| p["tcpSocket"]["port"].as_str())
            .unwrap_or_else(|| panic!("{}: no kube {probe} on a named port", r.what));
        assert_eq!(
            container_port(r, port),
            r.kube_port,
            "{}: kube {probe}",
            r.what
        );
    }
}

/// Restart: docker `--restart unless-stopped` == compose `restart: unless-stopped`.
/// Kubernetes has no `unless-stopped`: a Deployment's or StatefulSet's pods restart
/// `Always` (the only policy they take, and the default), and "stopped" is scaling
/// to 0 or deleting, which is the kube form of `docker stop`. The stop grace period
/// is STOP_GRACE_SECS in all three (`--stop-timeout`, `stop_grace_period`,
/// `terminationGracePeriodSeconds`).
fn check_restart(r: &Role) {
    assert_eq!(RESTART_POLICY, "unless-stopped");
    assert_eq!(r.run.one("--restart"), RESTART_POLICY, "{}: docker", r.what);
    assert_eq!(
        r.svc["restart"].as_str(),
        Some(RESTART_POLICY),
        "{}: compose",
        r.what
    );
    let policy = r.pod["restartPolicy"].as_str().unwrap_or("Always");
    assert_eq!(policy, "Always", "{}: kube restartPolicy", r.what);

    let grace = STOP_GRACE_SECS.to_string();
    assert_eq!(r.run.one("--stop-timeout"), grace, "{}: docker", r.what);
    assert_eq!(
        r.svc["stop_grace_period"].as_str(),
        Some(format!("{grace}s").as_str()),
        "{}: compose",
        r.what
    );
    assert_eq!(
        r.pod["terminationGracePeriodSeconds"].as_u64(),
        Some(u64::from(STOP_GRACE_SECS)),
        "{}: kube",
        r.what
    );
}

/// The TLS front in all three: the scheduler's container (docker, compose) or pod
/// (kube) holds nginx.conf and the leaf and its key at the same paths below the
/// config mount, and every builder trusts the CA at the same path.
fn check_front(f: &Forms, roles: &[Role]) {
    let sched = &roles[0];
    let dir = f.dir.join(&docker_mounts(sched)[0].0);
    for file in [
        "nginx.conf",
        "tls/scheduler.pem",
        "tls/scheduler.key",
        "ca.pem",
    ] {
        assert!(
            dir.join(file).is_file(),
            "the scheduler's config dir lacks {file}"
        );
    }
    assert_eq!(
        f.dir
            .join(&compose_mounts(sched)[0].0)
            .canonicalize()
            .unwrap(),
        dir.canonicalize().unwrap()
    );
    let volumes = sched.pod["volumes"].as_sequence().unwrap();
    let config = volumes
        .iter()
        .find(|v| v["name"].as_str() == Some("config"))
        .unwrap();
    let items: Vec<(String, String)> = config["secret"]["items"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["key"].as_str().unwrap().into(),
                i["path"].as_str().unwrap().into(),
            )
        })
        .collect();
    for path in ["nginx.conf", "tls/scheduler.pem", "tls/scheduler.key"] {
        assert!(
            items.iter().any(|(_, p)| p == path),
            "kube: {path} not mounted: {items:?}"
        );
    }
    let front_mounts = sched.ports_of["volumeMounts"].as_sequence().unwrap();
    assert!(front_mounts
        .iter()
        .any(|m| m["mountPath"].as_str() == Some(CONFIG_MOUNT)));
    let want = format!("SSL_CERT_FILE={CONFIG_MOUNT}/ca.pem");
    for r in roles.iter().filter(|r| r.builder) {
        assert!(
            r.run.all("--env").contains(&want.as_str()),
            "{}: docker",
            r.what
        );
        let env = &r.svc["environment"];
        assert_eq!(
            env["SSL_CERT_FILE"].as_str(),
            Some(&want["SSL_CERT_FILE=".len()..]),
            "{}: compose {env:?}",
            r.what
        );
        let kube_env = r.container["env"].as_sequence().unwrap();
        assert!(
            kube_env
                .iter()
                .any(|e| e["name"].as_str() == Some("SSL_CERT_FILE")
                    && e["value"].as_str() == Some(&want["SSL_CERT_FILE=".len()..])),
            "{}: kube env",
            r.what
        );
        let own = f.dir.join(&docker_mounts(r)[0].0);
        assert!(
            own.join("ca.pem").is_file(),
            "{}: no ca.pem beside its server.conf",
            r.what
        );
        assert!(
            !own.join("tls").exists(),
            "{}: sees the front's key",
            r.what
        );
    }
}

#[test]
fn start_compose_and_kube_agree() {
    let f = render();
    check_distinct_ports(&f);
    let roles = roles(&f);
    assert_eq!(roles.len(), 1 + BUILDERS);
    check_front(&f, &roles);
    for r in &roles {
        check_image(&f, r);
        check_capabilities(r);
        check_security(r);
        check_mounts(&f, r);
        check_ports(&f, r);
        check_health(r);
        check_restart(r);
    }
}

/// The compose project holds what its services mount and the client's files,
/// nothing more: the cluster's CA key stays in the state directory, and the only
/// private key in the project is the front's, which the scheduler's service mounts.
#[test]
fn the_compose_project_holds_no_ca_key() {
    let f = render();
    let ca_dir = f.dir.parent().unwrap().join("state/compose-tls/agree/tls");
    let ca_key = std::fs::read_to_string(ca_dir.join("ca.key")).unwrap();
    assert!(ca_key.contains("PRIVATE KEY"), "the CA key is not kept");
    let ca_key_body = ca_key.lines().nth(1).unwrap();
    let mounted: Vec<PathBuf> = roles(&f)
        .iter()
        .flat_map(compose_mounts)
        .filter(|(src, _, _)| src.starts_with("./"))
        .map(|(src, _, _)| f.dir.join(src).canonicalize().unwrap())
        .collect();
    // Besides what the services mount: the project's state (secrets, the
    // client list `client add --state-dir PROJECT` keeps), the client's files,
    // and the metrics token a scraper names.
    let client_files = [
        "compose.yaml",
        "secrets.json",
        "clients.json",
        "metrics-token",
        "client.conf",
        "ca-bundle.pem",
    ];
    let files = support::snapshot(&f.dir);
    assert!(files.contains_key(Path::new("container/tls/scheduler.key")));
    for (path, (bytes, _)) in files {
        let text = String::from_utf8_lossy(&bytes);
        assert_ne!(path.file_name().unwrap(), "ca.key", "{path:?}");
        assert!(!text.contains(ca_key_body), "the CA key is in {path:?}");
        if text.contains("PRIVATE KEY") {
            assert_eq!(path, Path::new("container/tls/scheduler.key"));
        }
        let full = f.dir.join(&path).canonicalize().unwrap();
        assert!(
            client_files.iter().any(|c| path == Path::new(c))
                || mounted.iter().any(|m| full.starts_with(m)),
            "{path:?} is mounted by no service"
        );
    }
}
