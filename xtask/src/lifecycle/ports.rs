//! On the host network the cluster's containers bind host ports: a port someone
//! else holds would leave a container restarting, and a foreign scheduler on the
//! scheduler's port would even answer the readiness check. Checked before a
//! container runs.

use std::net::{Ipv4Addr, TcpListener};

/// Fails, naming the port, when any of `ports` is taken on this host.
pub fn ensure_free(ports: &[(u16, String)]) -> anyhow::Result<()> {
    for (port, what) in ports {
        if let Err(e) = TcpListener::bind((Ipv4Addr::UNSPECIFIED, *port)) {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                anyhow::bail!(
                    "port {port} ({what}) is already in use on this host, by another sccache-dist or something else (`ss -ltnp | grep :{port}` shows what): stop it, or move scheduler_port/server_port in the runtime profile"
                );
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_port_is_named() {
        let held = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = ensure_free(&[(port, "the scheduler".into())]).unwrap_err();
        assert!(err
            .to_string()
            .contains(&format!("port {port} (the scheduler)")));
        drop(held);
        ensure_free(&[(port, "the scheduler".into())]).unwrap();
    }
}
