//! `cargo xtask kube`: the manifests are valid against the Kubernetes JSON schemas
//! (checked offline by `kubernetes-validate`, which `.ci/install` installs; the test
//! fails, never skips, without it), give the build servers only what bubblewrap
//! needs, probe both processes, and keep every secret inside the Secrets. Nothing
//! is applied to a cluster here.

mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_yaml::Value;
use support::{project_root, stderr, stdout, xtask};
use xtask::cluster::kube;
use xtask::model::run_spec::{CAPABILITIES, CONFIG_MOUNT, STOP_GRACE_SECS};
use xtask::render::kube::{init_script, POD_IP_PLACEHOLDER, RENDERED_CONFIG_DIR, STATUS_PATH};

/// The oldest and the newest Kubernetes the validator ships schemas for that have
/// every field the manifests use (`hostUsers` since 1.25, `procMount` long before).
const K8S_VERSIONS: &[&str] = &["1.30.0", "1.37.0"];
const IMAGE: &str = "registry.example:5000/sccache-dist:debian";

/// Renders with the xtask binary, as a user would, into a fresh directory.
fn render(extra: &[&str]) -> (tempfile::TempDir, PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("manifests");
    // The cluster's TLS CA and its key go to this run's own state directory.
    let state = tmp.path().join("state");
    let mut args = vec!["--state-dir", state.to_str().unwrap()];
    args.extend(["kube", "debian", "--image", IMAGE, "--output"]);
    args.push(out.to_str().unwrap());
    args.extend(extra);
    let o = xtask(&project_root(), &args);
    assert!(o.status.success(), "kube failed: {}", stderr(&o));
    let printed = format!("{}{}", stdout(&o), stderr(&o));
    (tmp, out, printed)
}

/// Every manifest file of `dir`, parsed, by file name.
fn manifests(dir: &Path) -> BTreeMap<String, (String, Value)> {
    let mut all = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let path = e.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let value: Value = serde_yaml::from_str(&text).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        all.insert(name, (text, value));
    }
    all
}

fn kind(v: &Value) -> &str {
    v["kind"].as_str().unwrap_or_default()
}

fn validator() -> String {
    std::env::var("KUBERNETES_VALIDATE").unwrap_or_else(|_| "kubernetes-validate".into())
}

/// `kubernetes-validate --strict` (unknown fields are errors) for each version.
fn validate_offline(dir: &Path) {
    let files: Vec<PathBuf> = manifests(dir).keys().map(|f| dir.join(f)).collect();
    let version = Command::new(validator()).arg("--version").output();
    let Some(version) = version.ok().filter(|o| o.status.success()) else {
        panic!(
            "{} is not installed: run `sudo bash .ci/install` (it pip-installs kubernetes-validate)",
            validator()
        );
    };
    eprintln!("kubernetes-validate {}", stdout(&version).trim());
    for v in K8S_VERSIONS {
        let o = Command::new(validator())
            .args(["--strict", "--kubernetes-version", v])
            .args(&files)
            .output()
            .unwrap();
        let report = format!("{}{}", stdout(&o), stderr(&o));
        assert!(o.status.success(), "invalid against {v}:\n{report}");
        let passed = report.matches(" passed for resource ").count();
        assert_eq!(passed, files.len(), "not every file passed:\n{report}");
    }
}

#[test]
fn statefulset_manifests_validate_against_the_kubernetes_schemas() {
    let (_tmp, dir, _) = render(&["--builders", "3"]);
    validate_offline(&dir);
    let all = manifests(&dir);
    let kinds: Vec<&str> = all.values().map(|(_, v)| kind(v)).collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "Secret",
            "Secret",
            "Secret",
            "Secret",
            "Deployment",
            "Service",
            "StatefulSet",
            "Service"
        ]
    );
    let sts = &all["30-builders.yaml"].1;
    assert_eq!(sts["spec"]["replicas"].as_u64(), Some(3));
    let scheduler = &all["20-scheduler.yaml"].1;
    assert_eq!(scheduler["spec"]["replicas"].as_u64(), Some(1));
    for (_, v) in all.values() {
        if kind(v) != "Namespace" {
            assert_eq!(v["metadata"]["namespace"].as_str(), Some("sccache-dist"));
        }
    }
}

#[test]
fn per_node_daemonset_validates_too() {
    let (_tmp, dir, _) = render(&["--per-node", "--namespace", "ci-builds"]);
    validate_offline(&dir);
    let all = manifests(&dir);
    let ds = &all["30-builders.yaml"].1;
    assert_eq!(kind(ds), "DaemonSet");
    assert_eq!(ds["metadata"]["namespace"].as_str(), Some("ci-builds"));
}

/// Every container of every pod template, with its pod spec.
fn containers(all: &BTreeMap<String, (String, Value)>) -> Vec<(Value, Value)> {
    let mut out = Vec::new();
    for (_, v) in all.values() {
        let pod = &v["spec"]["template"]["spec"];
        for list in ["initContainers", "containers"] {
            for c in pod[list].as_sequence().into_iter().flatten() {
                out.push((pod.clone(), c.clone()));
            }
        }
    }
    out
}

fn named<'a>(cs: &'a [(Value, Value)], name: &str) -> &'a (Value, Value) {
    cs.iter().find(|(_, c)| c["name"] == name).unwrap()
}

#[test]
fn builders_get_only_what_bubblewrap_needs_and_never_privileged() {
    let (_tmp, dir, _) = render(&["--builders", "3"]);
    let all = manifests(&dir);
    for (name, (text, _)) in &all {
        assert!(!text.contains("privileged: true"), "{name}");
        assert!(
            !text.contains("hostNetwork"),
            "{name}: pod IPs are advertised"
        );
    }
    let cs = containers(&all);
    assert_eq!(
        cs.len(),
        4,
        "scheduler, its TLS front, builder init, builder server"
    );
    let (pod, server) = named(&cs, "server");
    let sc = &server["securityContext"];
    let added: Vec<&str> = sc["capabilities"]["add"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    assert_eq!(added, CAPABILITIES);
    assert_eq!(sc["seccompProfile"]["type"].as_str(), Some("Unconfined"));
    assert_eq!(sc["procMount"].as_str(), Some("Unmasked"));
    assert_eq!(pod["hostUsers"].as_bool(), Some(false));
    for (_, c) in cs.iter().filter(|(_, c)| c["name"] != "server") {
        let sc = &c["securityContext"];
        assert_eq!(sc["capabilities"]["drop"][0].as_str(), Some("ALL"));
        assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
        assert_eq!(
            sc["seccompProfile"]["type"].as_str(),
            Some("RuntimeDefault")
        );
    }
    for (pod, c) in &cs {
        assert_eq!(c["image"].as_str(), Some(IMAGE));
        assert!(c["resources"]["requests"].is_mapping(), "{:?}", c["name"]);
        assert!(c["resources"]["limits"].is_mapping(), "{:?}", c["name"]);
        assert_eq!(
            pod["terminationGracePeriodSeconds"].as_u64(),
            Some(STOP_GRACE_SECS.into())
        );
    }
}

fn mount<'a>(c: &'a Value, path: &str) -> Option<&'a Value> {
    c["volumeMounts"]
        .as_sequence()?
        .iter()
        .find(|m| m["mountPath"] == path)
}

#[test]
fn probes_config_mount_and_cache_root_match_the_docker_setup() {
    let (_tmp, dir, _) = render(&["--builders", "3"]);
    let cs = containers(&manifests(&dir));
    let profile = xtask::profile::runtime::load_named(&project_root(), "default").unwrap();
    let rt = &profile.settings;
    let (_, scheduler) = named(&cs, "scheduler");
    // Behind the TLS front the scheduler has no port of the pod's: the front has
    // it, and the probes, which ask over HTTPS through it.
    assert!(scheduler.get("ports").is_none(), "{scheduler:?}");
    let (_, front) = named(&cs, "front");
    for probe in ["readinessProbe", "livenessProbe"] {
        let get = &front[probe]["httpGet"];
        assert_eq!(get["path"].as_str(), Some(STATUS_PATH));
        assert_eq!(get["port"].as_str(), Some("scheduler"));
        assert_eq!(get["scheme"].as_str(), Some("HTTPS"));
    }
    assert_eq!(
        front["ports"][0]["containerPort"].as_u64(),
        Some(rt.scheduler_port.into())
    );
    assert!(mount(front, CONFIG_MOUNT).is_some());
    let (_, server) = named(&cs, "server");
    for probe in ["readinessProbe", "livenessProbe"] {
        assert_eq!(server[probe]["tcpSocket"]["port"].as_str(), Some("server"));
    }
    assert_eq!(
        server["ports"][0]["containerPort"].as_u64(),
        Some(rt.server_port.into())
    );
    for c in [scheduler, server] {
        let m = mount(c, CONFIG_MOUNT).expect("configs at the Docker mount path");
        assert_eq!(m["readOnly"].as_bool(), Some(true));
    }
    assert!(mount(server, &rt.cache_root).is_some());
    let (_, init) = named(&cs, "config");
    assert!(mount(init, &rt.cache_root).is_some());
    assert!(mount(init, RENDERED_CONFIG_DIR).is_some());
}

/// The decoded `data` of every Secret, by key.
fn secret_files(all: &BTreeMap<String, (String, Value)>) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (_, v) in all.values().filter(|(_, v)| kind(v) == "Secret") {
        for (k, b64) in v["data"].as_mapping().unwrap() {
            let bytes = STANDARD.decode(b64.as_str().unwrap()).unwrap();
            out.insert(
                k.as_str().unwrap().to_owned(),
                String::from_utf8(bytes).unwrap(),
            );
        }
    }
    out
}

fn toml_str(text: &str, path: &[&str]) -> String {
    let t: toml::Table = text.parse().unwrap();
    let mut v = &toml::Value::Table(t);
    for p in path {
        v = &v[*p];
    }
    v.as_str().unwrap().to_owned()
}

#[test]
fn secrets_stay_in_the_secrets_which_are_private() {
    let (tmp, dir, printed) = render(&["--builders", "3"]);
    let all = manifests(&dir);
    // The CA's key stays in the state directory: in no manifest, not even a
    // Secret's data, and not printed.
    let ca_key = std::fs::read_to_string(tmp.path().join("state/kube-tls/sccache-dist/tls/ca.key"))
        .expect("the CA key in the state directory");
    let ca_lines: Vec<&str> = ca_key
        .lines()
        .filter(|l| !l.starts_with("-----") && l.len() >= 40)
        .collect();
    assert!(!ca_lines.is_empty(), "no PEM body in ca.key");
    let decoded: Vec<String> = secret_files(&all).into_values().collect();
    for line in &ca_lines {
        for (name, (text, _)) in &all {
            assert!(!text.contains(line), "{name} holds the CA key");
        }
        for text in &decoded {
            assert!(!text.contains(line), "a Secret holds the CA key");
        }
        assert!(!printed.contains(line), "the CA key was printed");
    }
    let files = secret_files(&all);
    let client = toml_str(&files["client.conf"], &["dist", "auth", "token"]);
    let server = toml_str(&files["scheduler.conf"], &["server_auth", "token"]);
    assert_eq!(
        toml_str(&files["server.conf.in"], &["scheduler_auth", "token"]),
        server
    );
    // Behind the front, the scheduler takes the front's own token; the client's
    // is checked by the front against the client list, which holds its hash.
    let scheduler_client = toml_str(&files["scheduler.conf"], &["client_auth", "token"]);
    assert!(
        files["nginx.conf"].contains(&format!(
            "proxy_set_header Authorization \"Bearer {scheduler_client}\";"
        )),
        "the front passes the scheduler's token"
    );
    assert_ne!(scheduler_client, client);
    let hash = xtask::model::clients::token_hash(&client);
    assert_eq!(
        files["clients.sha256"].lines().nth(1),
        Some(format!("default {hash}").as_str())
    );
    for f in ["nginx.conf", "scheduler.conf", "clients.sha256"] {
        assert!(!files[f].contains(&client), "the client's token in {f}");
    }
    assert_ne!(client, server);
    assert!(
        client.len() >= 40 && server.len() >= 40,
        "32 random bytes each"
    );
    for (name, (text, v)) in &all {
        let mode = std::fs::metadata(dir.join(name)).unwrap().permissions();
        let mode = std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777;
        if kind(v) == "Secret" {
            assert_eq!(mode, 0o600, "{name}");
            continue;
        }
        for secret in [&client, &server] {
            assert!(!text.contains(secret.as_str()), "{name} holds a token");
            assert!(!text.contains(&STANDARD.encode(secret)), "{name}");
        }
    }
    assert!(!printed.contains(&client) && !printed.contains(&server));
    let dir_mode = std::fs::metadata(&dir).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&dir_mode) & 0o777,
        0o700
    );
    // A second render makes new tokens (from the OS random source).
    let (_t2, dir2, _) = render(&["--builders", "3"]);
    let again = secret_files(&manifests(&dir2));
    assert_ne!(
        toml_str(&again["client.conf"], &["dist", "auth", "token"]),
        client
    );
}

#[test]
fn configs_check_out_and_point_at_the_scheduler_service() {
    let (_tmp, dir, _) = render(&["--builders", "3", "--namespace", "ci"]);
    let files = secret_files(&manifests(&dir));
    let configs = xtask::sccache::Configs {
        scheduler: files["scheduler.conf"].clone(),
        server: files["server.conf.in"].clone(),
        client: files["client.conf"].clone(),
        front: Some(files["nginx.conf"].clone()),
    };
    assert_eq!(kube::check(&configs), Vec::<String>::new());
    let url = "https://sccache-dist-scheduler.ci.svc:10600";
    assert_eq!(toml_str(&configs.server, &["scheduler_url"]), url);
    assert_eq!(toml_str(&configs.client, &["dist", "scheduler_url"]), url);
    assert_eq!(
        toml_str(&configs.server, &["public_addr"]),
        format!("{POD_IP_PLACEHOLDER}:10501")
    );
    assert_eq!(
        toml_str(&configs.scheduler, &["server_auth", "type"]),
        "token"
    );
}

/// Runs the init container's script on this machine, its absolute paths moved
/// below a temporary directory.
fn run_init_script(pod_ip: &str, template: &str) -> (std::process::Output, PathBuf) {
    let tmp = tempfile::tempdir().unwrap().keep();
    let profile = xtask::profile::runtime::load_named(&project_root(), "default").unwrap();
    let cluster = kube::model("debian", IMAGE, profile, kube::Builders::Replicas(1));
    let mut script = init_script(&cluster);
    for p in [CONFIG_MOUNT, RENDERED_CONFIG_DIR, "/var/sccache"] {
        std::fs::create_dir_all(tmp.join(&p[1..])).unwrap();
        script = script.replace(&format!("'{p}"), &format!("'{}{p}", tmp.display()));
    }
    std::fs::write(tmp.join("etc/sccache-dist/server.conf.in"), template).unwrap();
    let out = Command::new("bash")
        .args(["-c", &script])
        .env("POD_IP", pod_ip)
        .output()
        .unwrap();
    (out, tmp)
}

#[test]
fn the_init_container_writes_the_pod_ip_into_public_addr() {
    let template = format!("public_addr = \"{POD_IP_PLACEHOLDER}:10501\"\n");
    let (out, tmp) = run_init_script("10.244.1.7", &template);
    assert!(out.status.success(), "{}", stderr(&out));
    let conf = tmp.join("run/sccache-dist-config/server.conf");
    assert_eq!(
        std::fs::read_to_string(&conf).unwrap(),
        "public_addr = \"10.244.1.7:10501\"\n"
    );
    let mode = std::fs::metadata(&conf).unwrap().permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600
    );
    assert!(tmp.join("var/sccache/toolchains").is_dir());
    for bad in ["fd00::7", "", "1.2.3.4/x"] {
        let (out, _) = run_init_script(bad, &template);
        assert_eq!(out.status.code(), Some(64), "{bad:?}");
    }
    std::fs::remove_dir_all(tmp).unwrap();
}

#[test]
fn bad_values_are_refused_before_anything_is_written() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("m");
    let o = out.to_str().unwrap();
    for (args, want) in [
        (
            vec!["--builders", "3", "--namespace", "Bad_NS"],
            "--namespace",
        ),
        (
            vec!["--builders", "3", "--namespace", "a\nb: c"],
            "--namespace",
        ),
        (vec!["--builders", "3", "--image", "x y"], "--image"),
        (vec!["--builders", "0"], "--builders 0"),
        (vec!["--builders", "2", "--per-node"], "cannot be used with"),
        (vec![], "--builders"),
    ] {
        let mut all = vec!["kube", "debian", "--output", o];
        all.extend(&args);
        let r = xtask(&project_root(), &all);
        assert!(!r.status.success(), "{args:?} was accepted");
        assert!(stderr(&r).contains(want), "{args:?}: {}", stderr(&r));
        assert!(!out.exists(), "{args:?} wrote something");
    }
    let r = xtask(
        &project_root(),
        &["kube", "nodistro", "--builders", "1", "--output", o],
    );
    assert!(!r.status.success() && !out.exists());
}

#[test]
fn default_output_is_private_in_the_state_directory() {
    let state = tempfile::tempdir().unwrap();
    let s = state.path().to_str().unwrap();
    let r = xtask(
        &project_root(),
        &["--state-dir", s, "kube", "debian", "--builders", "1"],
    );
    assert!(r.status.success(), "{}", stderr(&r));
    let dir = state.path().join("kube/sccache-dist");
    assert_eq!(manifests(&dir).len(), 9);
    let mode = std::fs::metadata(state.path().join("kube"))
        .unwrap()
        .permissions();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode) & 0o077, 0);
}

#[test]
fn an_insecure_profile_is_not_rendered_for_kubernetes() {
    let tree = support::copy_tree();
    let profiles = tree.path().join("profiles");
    let default = std::fs::read_to_string(profiles.join("default.yaml")).unwrap();
    let insecure = default.replace(
        "server_auth: jwt_hs256",
        "server_auth: DANGEROUSLY_INSECURE",
    );
    assert_ne!(insecure, default);
    std::fs::write(profiles.join("insecure.yaml"), insecure).unwrap();
    let out = tree.path().join("m");
    let r = xtask(
        tree.path(),
        &[
            "kube",
            "debian",
            "--builders",
            "1",
            "--profile",
            "insecure",
            "--output",
            out.to_str().unwrap(),
        ],
    );
    assert!(!r.status.success());
    assert!(
        stderr(&r).contains("DANGEROUSLY_INSECURE"),
        "{}",
        stderr(&r)
    );
    assert!(!out.exists());
}

/// The TLS front starts as the manifest runs it (proven by tests/kube_pods_e2e.rs;
/// this is the engine-free part): a fixed non-root user, so nginx neither
/// switches user nor chowns; its temp dirs directly in the run emptyDir (nginx
/// makes only the last component); its Secret readable by the pod's fsGroup.
#[test]
fn the_front_runs_as_nobody_with_its_temp_dirs_in_the_run_volume() {
    let (_tmp, dir, _) = render(&["--builders", "1"]);
    let all = manifests(&dir);
    let cs = containers(&all);
    let (pod, front) = named(&cs, "front");
    let sc = &front["securityContext"];
    assert_eq!(sc["runAsUser"].as_u64(), Some(65534));
    assert_eq!(sc["runAsGroup"].as_u64(), Some(65534));
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(pod["securityContext"]["fsGroup"].as_u64(), Some(65534));
    let config = pod["volumes"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(config["secret"]["defaultMode"].as_u64(), Some(0o440));
    let run = mount(front, "/run/sccache-dist").expect("the run volume");
    assert_ne!(run["readOnly"].as_bool(), Some(true));
    let nginx = &secret_files(&all)["nginx.conf"];
    assert!(!nginx.contains("\nuser "), "no user directive:\n{nginx}");
    for line in nginx.lines().filter(|l| l.contains("_temp_path")) {
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap()
            .trim_end_matches(';');
        assert_eq!(
            Path::new(path).parent(),
            Some(Path::new("/run/sccache-dist")),
            "{line}: nginx makes only the last component"
        );
    }
    assert!(nginx.contains("pid /run/sccache-dist/nginx.pid;"));
}
