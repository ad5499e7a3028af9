//! The TLS front's certificate as doctor sees it: signed by the cluster's CA,
//! valid for the address clients use, not expired (a warning inside 30 days);
//! and whether a client started from doctor's shell would trust it.

use super::Report;
use crate::lifecycle::tls as lifecycle_tls;
use crate::model::Cluster;
use crate::sccache::causes;
use crate::sccache::client::PrivateClient;
use crate::sccache::tls::{self, Name, RENEW_WITHIN_DAYS};
use crate::store::StateDir;

/// The leaf the scheduler's container serves.
const LEAF: &str = "container/tls/scheduler.pem";

/// Chain, names and expiry of the leaf in the state directory.
pub(super) fn check_leaf(state: &StateDir, c: &Cluster, rep: &mut Report) -> anyhow::Result<bool> {
    let what = "certificate";
    let Some(leaf) = state.read_text(LEAF)? else {
        return Ok(rep.fail(what, "the TLS front's certificate is missing from the state directory: `cargo xtask start` puts it there"));
    };
    let own = c.tls == crate::model::cluster::Tls::Own;
    let ca = lifecycle_tls::servers_ca(state, c)?;
    let facts = tls::facts(&leaf)?;
    if ca.is_none() && !own {
        return Ok(rep.fail(
            what,
            "the cluster's CA is missing from the state directory: `cargo xtask start` makes it",
        ));
    }
    if ca
        .as_deref()
        .is_some_and(|ca| !tls::signed_by(&leaf, ca).unwrap_or(false))
    {
        return Ok(rep.fail(what, format!("{} is not signed by the cluster's CA ({}): clients that trust the CA refuse it (UnknownIssuer). Fix: `cargo xtask tls renew` issues a new one in place", LEAF, lifecycle_tls::ca_cert_path(state).display())));
    }
    let address = Name::Ip(c.scheduler.address.into());
    if !facts.covers(&address) {
        let has: Vec<String> = facts.names.iter().map(|n| n.to_string()).collect();
        return Ok(rep.fail(what, format!(
            "name or address not in the certificate: the scheduler is reached at {}, the certificate covers {} (NotValidForName). Fix: {}; a name clients use goes in with `cargo xtask start --tls-name NAME`, which renews it the same way on the running cluster",
            c.scheduler.address,
            has.join(", "),
            renew_fix(c)
        )));
    }
    match facts.remaining() {
        None => Ok(rep.fail(
            what,
            format!(
                "expired: clients refuse it (CertExpired). Fix: {}",
                renew_fix(c)
            ),
        )),
        Some(left) if left.as_secs() < RENEW_WITHIN_DAYS as u64 * 86400 => {
            rep.warn(
                what,
                format!(
                    "expires in {} days: {}",
                    left.as_secs() / 86400,
                    renew_fix(c)
                ),
            );
            Ok(true)
        }
        Some(left) => Ok(rep.ok(
            what,
            format!(
                "signed by the cluster's CA, valid for {}, {} days left",
                c.scheduler.address,
                left.as_secs() / 86400
            ),
        )),
    }
}

/// What renews the front's certificate in place.
fn renew_fix(c: &Cluster) -> &'static str {
    match c.tls {
        crate::model::cluster::Tls::Own => "renew your certificate, replace the files given as --tls-cert and --tls-key, then `cargo xtask tls renew` reloads the front in place (the scheduler keeps running)",
        _ => "`cargo xtask tls renew` re-issues it from the same CA and reloads the front in place (clients keep their trust; the scheduler keeps running)",
    }
}

/// A client as doctor's shell would start one: with its `SSL_CERT_FILE`, or
/// the system store. A trust that fails (UnknownIssuer, BadSignature) fails the
/// check: every client started from that shell compiles locally. `up`, which
/// prints the line that fixes it next, asks for a warning instead (`strict`
/// false), as for a cause not known.
pub(super) fn check_shell_trust(
    client_conf: &str,
    bundle: &std::path::Path,
    strict: bool,
    rep: &mut Report,
) -> anyhow::Result<()> {
    let what = "your shell's trust";
    let env_file = std::env::var_os("SSL_CERT_FILE").map(std::path::PathBuf::from);
    let client = PrivateClient::new(client_conf)?.with_cert_file(env_file.clone());
    client.start()?;
    let status = client.dist_status().unwrap_or_default();
    if status.contains("SchedulerStatus") {
        rep.ok(
            what,
            match &env_file {
                Some(f) => format!(
                    "a client with SSL_CERT_FILE={} trusts the scheduler",
                    f.display()
                ),
                None => "the system store trusts the scheduler".into(),
            },
        );
        return Ok(());
    }
    let log = client.error_log();
    let mut why = causes::diagnose(&log).join("\n");
    if why.is_empty() {
        why = format!("`sccache --dist-status` of such a client: {status}");
    }
    let text = format!(
        "a client started from this shell ({}) would not reach the scheduler and would compile locally.\n{why}\nFix: `export SSL_CERT_FILE={}` (or add the CA to the system store), then `sccache --stop-server` so a running daemon picks it up",
        match &env_file { Some(f) => format!("SSL_CERT_FILE={}", f.display()), None => "no SSL_CERT_FILE: the system store".into() },
        bundle.display()
    );
    let names = causes::names(&log);
    let trust = ["certificate not trusted", "certificate of another CA"];
    if strict && names.iter().any(|n| trust.contains(n)) {
        rep.fail(what, text);
    } else {
        rep.warn(what, text);
    }
    Ok(())
}
